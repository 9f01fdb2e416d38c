#!/usr/bin/env bats
# Standard input as a source (PATH -) and recv --stdout: the tar pipe.

load helpers

@test "tar c | ktlscp send - and ktlscp recv --stdout | tar x rebuild the tree byte-exact" {
	mkdir -p "$SRC/tree/sub dir" "$BATS_TEST_TMPDIR/out"
	head -c 3000000 /dev/urandom >"$SRC/tree/big"
	echo hello >"$SRC/tree/sub dir/hi"
	(cd "$BATS_TEST_TMPDIR/out" && exec "$KTLSCP" recv --port 0 --listen 127.0.0.1 --stdout 2>"$BATS_TEST_TMPDIR/recv.err" | tar x) &
	RECV_PID=$!
	wait_port "$BATS_TEST_TMPDIR/recv.err"
	run_send 0 --json - < <(tar c -C "$SRC" tree)
	echo "$output" | grep '^{' | jq -e '.files == 1 and .status == "ok"' >/dev/null
	wait_recv 0
	assert_same_tree "$SRC/tree" "$BATS_TEST_TMPDIR/out/tree"
}

@test "standard input arrives as a file, named stdin or --name" {
	head -c 5000000 /dev/urandom >"$SRC/data"
	start_recv
	run_send 0 --name data.bin - < <(cat "$SRC/data")
	wait_recv
	assert_same_file "$SRC/data" "$DST/data.bin"
	start_recv
	run_send 0 - < <(printf 'abc')
	wait_recv
	[ "$(cat "$DST/stdin")" = abc ]
}

@test "empty standard input arrives as an empty file, next to files of the same run" {
	echo f >"$SRC/f"
	start_recv
	run_send 0 "$SRC/f" - </dev/null
	wait_recv
	[ -f "$DST/stdin" ] && [ ! -s "$DST/stdin" ]
	assert_same_file "$SRC/f" "$DST/f"
}

@test "recv --stdout writes several files in order, nothing into a directory" {
	printf 'one\n' >"$SRC/a"
	printf 'two\n' >"$SRC/b"
	start_recv --stdout
	run_send 0 "$SRC/a" "$SRC/b"
	wait_recv 0
	[ "$(cat "$BATS_TEST_TMPDIR/recv.out")" = "$(printf 'one\ntwo')" ]
	[ -z "$(ls -A "$DST")" ]
}

@test "usage: - twice, --name without -, --name with a slash, --stdout with DIR or --json" {
	run_ktlscp 2 send 127.0.0.1:1 - -
	run_ktlscp 2 send --name x 127.0.0.1:1 /etc/hostname
	run_ktlscp 2 send --name a/b 127.0.0.1:1 -
	run_ktlscp 2 recv --stdout "$DST"
	run_ktlscp 2 recv --stdout --json
}

# stdin_path: the tx_path a lone standard-input stream should report.
stdin_path() {
	if have_ktls; then echo splice; else echo copy; fi
}

@test "piped standard input moves by splice on the kernel path (copy in user space), byte-exact" {
	head -c 6000000 /dev/urandom >"$SRC/data"
	start_recv
	run_send 0 --json --name data - < <(cat "$SRC/data")
	wait_recv 0
	assert_same_file "$SRC/data" "$DST/data"
	echo "$output" | grep '^{' | jq -e --arg p "$(stdin_path)" --arg m "$(expected_mode)" \
		'.tx_path == $p and .ktls_tx == $m and .bytes == 6000000' >/dev/null
}

# trickle_send COMMAND...: run COMMAND (a sender to the receiver started
# with "start_recv --stdout") on a standard input that a FIFO feeds line by
# line.  Each line must reach the receiver's stdout while the writer still
# holds the FIFO open: a part-filled record may not wait for more input.
trickle_send() {
	mkfifo "$BATS_TEST_TMPDIR/in"
	"$@" <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/send.out" 2>&1 &
	send_pid=$!
	exec 4>"$BATS_TEST_TMPDIR/in"
	for line in first second; do
		echo "$line" >&4
		for _ in $(seq 1 300); do
			grep -q "^$line\$" "$BATS_TEST_TMPDIR/recv.out" && break
			sleep 0.1
		done
		grep -q "^$line\$" "$BATS_TEST_TMPDIR/recv.out" || {
			echo "'$line' did not arrive while the input stayed open" >&2
			exec 4>&-
			return 1
		}
	done
	exec 4>&-
	wait "$send_pid"
	wait_recv 0
	[ "$(cat "$BATS_TEST_TMPDIR/recv.out")" = "$(printf 'first\nsecond')" ]
}

@test "a trickling standard input is passed on as it comes, not held in an open record" {
	start_recv --stdout
	trickle_send timeout 120 "$KTLSCP" send "127.0.0.1:$RECV_PORT" -
}

@test "a non-blocking standard input is waited for, not an error" {
	start_recv --stdout
	# The FIFO is opened non-blocking by a wrapper that then runs ktlscp.
	trickle_send timeout 120 python3 -c '
import fcntl, os, sys
fcntl.fcntl(0, fcntl.F_SETFL, fcntl.fcntl(0, fcntl.F_GETFL) | os.O_NONBLOCK)
os.execvp(sys.argv[1], sys.argv[1:])' "$KTLSCP" send "127.0.0.1:$RECV_PORT" -
}

@test "kTLS: a standard-input stream also goes on past the AES key-use limit (follow-up connections)" {
	skip_unless_ktls
	head -c 3000000 /dev/urandom >"$SRC/data"
	start_recv
	# TLS 1.2 has no key update on any kernel.
	KTLSCP_KEY_RECORD_LIMIT=50 run_send --separate-stderr 0 --json --tls 1.2 --cipher aes-128-gcm - < <(cat "$SRC/data")
	wait_recv 0
	assert_same_file "$SRC/data" "$DST/stdin"
	[ "$(jq -r .reconnects <<<"$output")" -ge 1 ]
}

@test "standard input redirected from a file moves the same way, byte-exact" {
	head -c 3000000 /dev/urandom >"$SRC/data"
	start_recv
	run_send 0 --json --name data - <"$SRC/data"
	wait_recv
	assert_same_file "$SRC/data" "$DST/data"
	echo "$output" | grep '^{' | jq -e --arg p "$(stdin_path)" '.tx_path == $p' >/dev/null
}

@test "on the kernel path no byte of a piped standard input is read into the process (strace)" {
	skip_unless_ktls
	command -v strace >/dev/null || skip "no strace"
	head -c 4000000 /dev/urandom >"$SRC/data"
	start_recv
	run bash -c "cat '$SRC/data' | timeout 300 strace -f -qq -e trace=read,splice \
		-o '$BATS_TEST_TMPDIR/trace' '$KTLSCP' send --name data 127.0.0.1:$RECV_PORT -"
	assert_exit 0
	wait_recv
	assert_same_file "$SRC/data" "$DST/data"
	# splice(0, ...) moves the data; read(0, ...) never happens.
	grep -Eq '^([0-9]+ +)?splice\(0,' "$BATS_TEST_TMPDIR/trace"
	! grep -Eq '^([0-9]+ +)?read\(0,' "$BATS_TEST_TMPDIR/trace"
}

@test "a terminal on standard input falls back to the copy path" {
	command -v script >/dev/null || skip "no script(1) for a pseudo-terminal"
	start_recv
	# script(1) puts the sender's standard input on a pseudo-terminal; the
	# line and then ^D reach it as input and end of file.
	run bash -c "{ sleep $(settle); printf 'typed line\n'; sleep $(settle); printf '\004'; } |
		timeout 120 script -qec \"'$KTLSCP' send --json --name typed 127.0.0.1:$RECV_PORT - 2>&1\" /dev/null"
	assert_exit 0
	wait_recv 0
	[ "$(cat "$DST/typed")" = "typed line" ]
	echo "$output" | tr -d '\r' | grep '^{' | jq -e '.tx_path == "copy"' >/dev/null
}

@test "--verify on standard input takes the copy path and verifies the stream" {
	head -c 2000000 /dev/urandom >"$SRC/data"
	start_recv
	run_send 0 --verify --json --name data - < <(cat "$SRC/data")
	wait_recv
	assert_same_file "$SRC/data" "$DST/data"
	echo "$output" | grep '^{' | jq -e '.tx_path == "copy" and .verified == 1' >/dev/null
}
