#!/usr/bin/env bats
# The serving receiver's log (recv -k, --syslog): one line per entry and
# one per connection, naming the peer and the sender's identity.

load helpers

teardown() {
	if [ -n "${LOG_PID:-}" ]; then
		kill "$LOG_PID" 2>/dev/null || true
		wait "$LOG_PID" 2>/dev/null || true
	fi
	common_teardown
}

# keys_setup: identities for a receiver and a sender (sfp: the
# fingerprint the sender's "ktlscp id" prints); no token.
keys_setup() {
	unset KTLSCP_TOKEN
	rhome=$BATS_TEST_TMPDIR/rhome
	shome=$BATS_TEST_TMPDIR/shome
	XDG_CONFIG_HOME=$rhome "$KTLSCP" id >/dev/null
	sfp=$(XDG_CONFIG_HOME=$shome "$KTLSCP" id)
	[[ "$sfp" == SHA256:* ]]
}

# A log line's time stamp, as the receiver writes it on stderr.
STAMP='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[-+][0-9]{4}'

@test "recv -k logs each file (path, bytes, result) and each connection (peer, sender's key, totals)" {
	keys_setup
	head -c 3000 /dev/urandom >"$SRC/a"
	head -c 5000 /dev/urandom >"$SRC/b"
	head -c 200000 /dev/urandom >"$SRC/big"
	XDG_CONFIG_HOME=$rhome start_recv -k --allow "$sfp" --max-size 100000
	XDG_CONFIG_HOME=$shome run_send 0 --accept-new "$SRC/a" "$SRC/b"
	XDG_CONFIG_HOME=$shome run_send 5 "$SRC/big"
	assert_same_file "$SRC/a" "$DST/a"
	assert_same_file "$SRC/b" "$DST/b"
	[ ! -e "$DST/big" ]
	stop_test_recv
	err=$BATS_TEST_TMPDIR/recv.err
	cat "$err"
	peer='127\.0\.0\.1:[0-9]+'
	grep -Eq "^ktlscp: $STAMP $peer: file $DST/a: 3000 bytes: ok\$" "$err"
	grep -Eq "^ktlscp: $STAMP $peer: file $DST/b: 5000 bytes: ok\$" "$err"
	grep -Eq "^ktlscp: $STAMP $peer: file $DST/big: 200000 bytes: failed: refused: over --max-size\$" "$err"
	# The refusal is told once, in the file's line.
	[ "$(grep -c 'over --max-size' "$err")" -eq 1 ]
	# One line per connection: the same peer as its files, the sender's key
	# as "ktlscp id" prints it.
	# (A fingerprint has + and /: matched as a fixed string.)
	ok=$(grep -F ": connection: sender key $sfp; 2 files, 8000 bytes, 0 failed, 0 skipped in " "$err" |
		grep -E " s; TLS1\.[23] [A-Z0-9-]+, kTLS tx=[a-z_]+ rx=[a-z_]+: ok\$")
	[ "$(echo "$ok" | wc -l)" -eq 1 ]
	p1=$(echo "$ok" | grep -Eo "$peer")
	[ "$(grep -c "$p1: file " "$err")" -eq 2 ]
	bad=$(grep -F ": connection: sender key $sfp; 0 files, 0 bytes, 1 failed, 0 skipped in " "$err" |
		grep -F ": failed: 1 entry could not be stored")
	[ "$(echo "$bad" | wc -l)" -eq 1 ]
	p2=$(echo "$bad" | grep -Eo "$peer")
	grep -q "$p2: file $DST/big" "$err"
	# The log replaces the summary line of a one-shot receiver.
	! grep -q "received .* from" "$err"
	[ "$(grep -c ': connection: ' "$err")" -eq 2 ]
}

@test "recv -k logs a sender it refused as not authenticated, with the cause" {
	echo x >"$SRC/f"
	start_recv -k
	run_send 4 --token 2222-2222-2222-2222-2222-2222-2222-2222 "$SRC/f"
	run_send 0 "$SRC/f"
	assert_same_file "$SRC/f" "$DST/f"
	stop_test_recv
	cat "$BATS_TEST_TMPDIR/recv.err"
	grep -Eq "^ktlscp: $STAMP 127\.0\.0\.1:[0-9]+: connection: sender not authenticated: failed: .*token or PSK is wrong" "$BATS_TEST_TMPDIR/recv.err"
	grep -Eq ": connection: sender token; 1 file, 2 bytes, .*: ok\$" "$BATS_TEST_TMPDIR/recv.err"
}

@test "the log names a PSK sender by its identity, a skipped file, and escapes what the peer named" {
	hex=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	echo "backup-host:$hex" >"$BATS_TEST_TMPDIR/psk"
	chmod 600 "$BATS_TEST_TMPDIR/psk"
	echo same >"$SRC/s"
	printf 'x' >"$SRC/$(printf 'n\033[31ml')"
	start_recv -k --psk-file "$BATS_TEST_TMPDIR/psk"
	run_send 0 --psk-file "$BATS_TEST_TMPDIR/psk" -p "$SRC/s"
	run_send 0 --psk-file "$BATS_TEST_TMPDIR/psk" -p --sync "$SRC/s" "$SRC/$(printf 'n\033[31ml')"
	assert_same_file "$SRC/s" "$DST/s"
	assert_same_file "$SRC/$(printf 'n\033[31ml')" "$DST/$(printf 'n\033[31ml')"
	stop_test_recv
	err=$BATS_TEST_TMPDIR/recv.err
	cat "$err"
	grep -Eq ": file $DST/s: 5 bytes: skipped: unchanged \(--sync: same size and modification time\)\$" "$err"
	grep -Fq ": file $DST/n\\x1b[31ml: 1 bytes: ok" "$err"
	! grep -q $'\e' "$err"
	[ "$(grep -c ': connection: sender psk "backup-host"; ' "$err")" -eq 2 ]
	grep -Eq ': connection: sender psk "backup-host"; 1 file, 1 bytes, 0 failed, 1 skipped in' "$err"
}

@test "the log names an X.509 sender by its certificate's subject and key" {
	unset KTLSCP_TOKEN
	pki=$BATS_TEST_TMPDIR/pki
	make_pki_in "$pki"
	echo data >"$SRC/f"
	start_recv -k --cert "$pki/server.crt" --key "$pki/server.key" --ca "$pki/ca.crt"
	run_send 0 --cert "$pki/client.crt" --key "$pki/client.key" --ca "$pki/ca.crt" "$SRC/f"
	assert_same_file "$SRC/f" "$DST/f"
	stop_test_recv
	cat "$BATS_TEST_TMPDIR/recv.err"
	grep -Eq ': connection: sender x509 "CN=client" key SHA256:[A-Za-z0-9+/]{43}; 1 file, 5 bytes, .*: ok$' \
		"$BATS_TEST_TMPDIR/recv.err"
}

@test "a sender cut off mid-file: no file line, the connection's line names the file and its partial" {
	head -c 20000000 /dev/urandom >"$SRC/big"
	start_recv -k
	"$KTLSCP" send -q --limit-rate 2M "127.0.0.1:$RECV_PORT" "$SRC/big" 3>&- &
	spid=$!
	wait_file "$DST/$(partial_of big)"
	kill -9 "$spid"
	wait "$spid" || true
	for _ in $(seq 1 200); do
		grep -q ': connection: ' "$BATS_TEST_TMPDIR/recv.err" && break
		sleep 0.05
	done
	stop_test_recv
	cat "$BATS_TEST_TMPDIR/recv.err"
	[ ! -e "$DST/big" ]
	! grep -q ": file " "$BATS_TEST_TMPDIR/recv.err"
	grep -Eq ': connection: sender token; 0 files, 0 bytes, .*: failed: .*cut off in big; its partial is kept for --resume' \
		"$BATS_TEST_TMPDIR/recv.err"
}

@test "a resumed file's line says how many of its bytes were there already" {
	head -c 300000 /dev/urandom >"$SRC/f"
	head -c 123456 "$SRC/f" >"$DST/$(partial_of f)"
	start_recv -k
	run_send 0 --resume "$SRC/f"
	assert_same_file "$SRC/f" "$DST/f"
	stop_test_recv
	cat "$BATS_TEST_TMPDIR/recv.err"
	grep -Eq ": file $DST/f: 300000 bytes \(123456 resumed\): ok\$" "$BATS_TEST_TMPDIR/recv.err"
}

@test "on the journal (JOURNAL_STREAM names stderr) the lines carry their priority, no time stamp" {
	echo ok >"$SRC/ok"
	head -c 5000 /dev/urandom >"$SRC/big"
	err=$BATS_TEST_TMPDIR/recv.err
	: >"$err"
	# stderr is "the journal": JOURNAL_STREAM names its device and inode.
	JOURNAL_STREAM=$(stat -c '%d:%i' "$err") start_recv -k --max-size 1000
	run_send 0 "$SRC/ok"
	run_send 5 "$SRC/big"
	assert_same_file "$SRC/ok" "$DST/ok"
	stop_test_recv
	cat "$err"
	grep -Eq "^<6>ktlscp: 127\.0\.0\.1:[0-9]+: file $DST/ok: 3 bytes: ok\$" "$err"
	grep -Eq "^<6>ktlscp: 127\.0\.0\.1:[0-9]+: connection: sender token; 1 file, 3 bytes, .*: ok\$" "$err"
	grep -Eq "^<4>ktlscp: 127\.0\.0\.1:[0-9]+: file $DST/big: 5000 bytes: failed: refused: over --max-size\$" "$err"
	grep -Eq "^<3>ktlscp: 127\.0\.0\.1:[0-9]+: connection: sender token; 0 files, .*: failed: " "$err"
	! grep -Eq "$STAMP" "$err"
	# Elsewhere (another file) no priorities.
	: >"$BATS_TEST_TMPDIR/other"
	JOURNAL_STREAM=$(stat -c '%d:%i' "$BATS_TEST_TMPDIR/other") start_recv -k
	run_send 0 "$SRC/ok"
	stop_test_recv
	! grep -q '^<' "$err"
}

@test "recv -k -q logs only what failed" {
	echo ok >"$SRC/ok"
	head -c 5000 /dev/urandom >"$SRC/big"
	RECV_PORT=$(unused_port)
	"$KTLSCP" recv -k -q --port "$RECV_PORT" --listen 127.0.0.1 --max-size 1000 "$DST" \
		2>"$BATS_TEST_TMPDIR/recv.err" 3>&- &
	RECV_PID=$!
	for _ in $(seq 1 100); do
		[ -n "$(ss -Hltn "sport = :$RECV_PORT")" ] && break
		sleep 0.05
	done
	run_send 0 "$SRC/ok"
	run_send 5 "$SRC/big"
	assert_same_file "$SRC/ok" "$DST/ok"
	stop_test_recv
	err=$BATS_TEST_TMPDIR/recv.err
	cat "$err"
	! grep -q ": file $DST/ok\|: ok\$" "$err"
	grep -Eq "^ktlscp: $STAMP 127\.0\.0\.1:[0-9]+: file $DST/big: 5000 bytes: failed: refused: over --max-size\$" "$err"
	[ "$(grep -c ': connection: ' "$err")" -eq 1 ]
}

@test "one-shot recv keeps its summary line and logs nothing per file" {
	echo hi >"$SRC/hi"
	start_recv
	run_send 0 "$SRC/hi"
	wait_recv 0
	assert_same_file "$SRC/hi" "$DST/hi"
	grep -q "^ktlscp: received 1 file (3 B) from 127.0.0.1:" "$BATS_TEST_TMPDIR/recv.err"
	! grep -q ": file \|: connection: " "$BATS_TEST_TMPDIR/recv.err"
}

# A private /dev/log: in a mount namespace of its own, /dev is a tmpfs
# holding the few devices ktlscp may open and "log", a link to a datagram
# socket of the test's (the machine's /dev is not touched).  Runs
# ktlscp recv ARGS there, like start_recv; what arrives at the socket goes
# to $BATS_TEST_TMPDIR/syslog, one message a line.
start_recv_private_log() {
	[ -z "${KTLSCP_IN_VM:-}" ] || skip "a private /dev/log needs mount namespaces; the native lanes run it"
	command -v unshare >/dev/null && command -v python3 >/dev/null || skip "needs unshare and python3"
	unshare -m true 2>/dev/null || skip "unshare -m is not permitted here"
	local sock=$BATS_TEST_TMPDIR/log.sock out=$BATS_TEST_TMPDIR/syslog i
	: >"$out"
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).replace(b"\n", b" ") + b"\n")
' "$sock" "$out" 3>&- &
	LOG_PID=$!
	for i in $(seq 1 100); do
		[ -S "$sock" ] && break
		sleep 0.05
	done
	[ -S "$sock" ]
	mkdir -p "$BATS_TEST_TMPDIR/dev"
	: >"$BATS_TEST_TMPDIR/recv.err"
	# shellcheck disable=SC2016
	unshare -m sh -c '
		set -e
		mount --make-rprivate /
		mount --rbind /dev "$1"
		mount -t tmpfs -o size=64k,mode=0755 ktlscp-test-dev /dev
		for n in null zero random urandom; do
			: >"/dev/$n"
			mount --bind "$1/$n" "/dev/$n"
		done
		ln -s /proc/self/fd /dev/fd
		ln -s "$2" /dev/log
		shift 2
		exec "$@"' sh "$BATS_TEST_TMPDIR/dev" "$sock" \
		"$KTLSCP" recv --port 0 --listen 127.0.0.1 "$@" "$DST" \
		>"$BATS_TEST_TMPDIR/recv.out" 2>"$BATS_TEST_TMPDIR/recv.err" 3>&- &
	RECV_PID=$!
	wait_port "$BATS_TEST_TMPDIR/recv.err" || { cat "$BATS_TEST_TMPDIR/recv.err"; false; }
}

@test "recv -k --syslog: the log goes to syslog (daemon facility, info and warning), not stderr" {
	echo one >"$SRC/one"
	head -c 5000 /dev/urandom >"$SRC/big"
	start_recv_private_log -k --syslog --max-size 1000
	run_send 0 "$SRC/one"
	run_send 5 "$SRC/big"
	assert_same_file "$SRC/one" "$DST/one"
	stop_test_recv
	log=$BATS_TEST_TMPDIR/syslog
	cat "$log"
	cat "$BATS_TEST_TMPDIR/recv.err"
	# <30>: daemon.info, <28>: daemon.warning, <27>: daemon.err; the tag
	# names the process that served the sender; syslog stamps the time.
	grep -Eq "^<30>.* ktlscp\[[0-9]+\]: 127\.0\.0\.1:[0-9]+: file $DST/one: 4 bytes: ok\$" "$log"
	grep -Eq "^<30>.* ktlscp\[[0-9]+\]: 127\.0\.0\.1:[0-9]+: connection: sender token; 1 file, 4 bytes, .*: ok\$" "$log"
	grep -Eq "^<28>.* ktlscp\[[0-9]+\]: 127\.0\.0\.1:[0-9]+: file $DST/big: 5000 bytes: failed: refused: over --max-size\$" "$log"
	grep -Eq "^<27>.* ktlscp\[[0-9]+\]: 127\.0\.0\.1:[0-9]+: connection: sender token; 0 files, .*: failed: " "$log"
	! grep -Eq "$STAMP" "$log"
	# stderr has what came before serving (where it listens), not the log.
	grep -q "listening on" "$BATS_TEST_TMPDIR/recv.err"
	! grep -q ": file \|: connection: " "$BATS_TEST_TMPDIR/recv.err"
}
