#!/usr/bin/env bats
# recv -k: a receiver that serves many senders, several at once.

load helpers
load hold

teardown() {
	stop_hold
	common_teardown
}

@test "recv -k serves 16 concurrent senders, all byte-exact, and keeps running" {
	for i in $(seq 1 16); do
		head -c $((200000 + i * 1000)) /dev/urandom >"$SRC/f$i"
	done
	start_recv -k
	send_each "$SRC"/f*
	kill -0 "$RECV_PID"
	assert_same_tree "$SRC" "$DST"
	# And once more after the burst.
	echo late >"$SRC/late"
	run_send 0 "$SRC/late"
	assert_same_file "$SRC/late" "$DST/late"
	kill -TERM "$RECV_PID"
	wait_recv 0
}

@test "recv -k --max-conns 2: more senders wait in the backlog and still arrive" {
	for i in $(seq 1 6); do
		head -c 300000 /dev/urandom >"$SRC/g$i"
	done
	start_recv -k --max-conns 2
	send_each "$SRC"/g*
	assert_same_tree "$SRC" "$DST"
}

# sigterm_in_flight [OPTIONS...]: start recv -k OPTIONS and a sender of one
# large file, and SIGTERM the receiver once the file's partial has data: the
# transfer still completes byte-exact, and the receiver says it waited for
# the sender and exits 0.
sigterm_in_flight() {
	if have_ktls; then size=30000000; else size=400000000; fi
	head -c "$size" /dev/urandom >"$SRC/big"
	start_recv -k "$@"
	timeout 300 "$KTLSCP" send -q "127.0.0.1:$RECV_PORT" "$SRC/big" &
	spid=$!
	for _ in $(seq 1 200); do
		[ -n "$(find "$DST" -name '.ktlscp-*.part' -size +0)" ] && break
		sleep 0.05
	done
	kill -TERM "$RECV_PID"
	wait "$spid"
	wait_recv 0
	assert_same_file "$SRC/big" "$DST/big"
	grep -q "waiting for 1 sender to finish" "$BATS_TEST_TMPDIR/recv.err"
}

@test "SIGTERM stops recv -k accepting, and a transfer in flight still completes" {
	sigterm_in_flight
}

@test "a bad handshake on recv -k does not stop the receiver" {
	echo ok >"$SRC/f"
	start_recv -k
	run_send 4 --token 2222-2222-2222-2222-2222-2222-2222-2222 "$SRC/f"
	run_send 0 "$SRC/f"
	assert_same_file "$SRC/f" "$DST/f"
}

@test "usage: --max-conns without -k, -k with --stdout" {
	run_ktlscp 2 recv --max-conns 3 --port 0 "$DST"
	run_ktlscp 2 recv -k --stdout --port 0
}

@test "usage: --workers, --max-startups need -k and fit within --max-conns" {
	run_ktlscp 2 recv --workers 2 --port 0 "$DST"
	run_ktlscp 2 recv --max-startups 2 --port 0 "$DST"
	run_ktlscp 2 recv -k --workers 4 --max-conns 3 --port 0 "$DST"
	run_ktlscp 2 recv -k --max-startups 8 --max-conns 4 --port 0 "$DST"
	run_ktlscp 2 recv -k --workers 0 --port 0 "$DST"
	run_ktlscp 2 recv --handshake-timeout -5 --port 0 "$DST"
}

@test "recv -k drops a connection that sends nothing at --handshake-timeout and serves others meanwhile" {
	echo ok >"$SRC/f"
	start_recv -k --handshake-timeout 2
	start_hold idle 5
	# Idle connections hold no process, and a sender passes them by.
	[ "$(kids "$RECV_PID")" -eq 0 ]
	run_send 0 "$SRC/f"
	assert_same_file "$SRC/f" "$DST/f"
	for _ in $(seq 1 300); do
		[ "$(grep -c 'TLS handshake not done within 2 s' "$BATS_TEST_TMPDIR/recv.err")" -ge 5 ] && break
		sleep 0.1
	done
	[ "$(grep -c 'TLS handshake not done within 2 s (--handshake-timeout); connection dropped' "$BATS_TEST_TMPDIR/recv.err")" -ge 5 ]
	stop_hold
	[ "$HOLD_RECONNECTS" -ge 5 ]
	kill -0 "$RECV_PID"
}

@test "recv -k: a ClientHello trickled in byte by byte gets no process and is dropped at the deadline" {
	echo ok >"$SRC/f"
	start_recv -k --handshake-timeout 3 --max-startups 1
	start_hold trickle 20
	sleep 1
	[ "$(kids "$RECV_PID")" -eq 0 ]
	run_send 0 "$SRC/f"
	assert_same_file "$SRC/f" "$DST/f"
	for _ in $(seq 1 300); do
		grep -q 'TLS handshake not done within 3 s' "$BATS_TEST_TMPDIR/recv.err" && break
		sleep 0.1
	done
	grep -q 'TLS handshake not done within 3 s (--handshake-timeout); connection dropped' "$BATS_TEST_TMPDIR/recv.err"
}

@test "recv -k --max-startups 2: stalled handshakes hold at most 2 processes, each until its deadline" {
	unset KTLSCP_TOKEN
	fp=$("$KTLSCP" id)
	echo ok >"$SRC/f"
	start_recv -k --pin "$fp" --handshake-timeout 4 --max-startups 2
	start_hold hello 6
	most=0
	for _ in $(seq 1 40); do
		n=$(kids "$RECV_PID")
		[ "$n" -gt "$most" ] && most=$n
		sleep 0.1
	done
	[ "$most" -ge 1 ]
	[ "$most" -le 2 ]
	for _ in $(seq 1 300); do
		grep -q 'TLS handshake not done within 4 s' "$BATS_TEST_TMPDIR/recv.err" && break
		sleep 0.1
	done
	grep -q "TLS handshake not done within 4 s (--handshake-timeout); connection dropped" "$BATS_TEST_TMPDIR/recv.err"
	! grep -q "process killed" "$BATS_TEST_TMPDIR/recv.err"
	# While they keep coming, an authenticated sender may wait for a slot
	# as long as its own deadline (a limit the man page states); once they
	# stop, the receiver serves as before.
	stop_hold
	[ "$HOLD_RECONNECTS" -ge 2 ]
	run_send 0 --pin "$fp" "$SRC/f"
	assert_same_file "$SRC/f" "$DST/f"
}

@test "one-shot recv: an idle connection is dropped at --handshake-timeout, then a sender is served" {
	echo ok >"$SRC/f"
	start_recv --handshake-timeout 2
	start_hold idle 1
	for i in $(seq 1 100); do
		grep -q "connection dropped; still waiting for a sender" "$BATS_TEST_TMPDIR/recv.err" && break
		sleep 0.1
	done
	grep -q "TLS handshake not done within 2 s (--handshake-timeout); connection dropped" "$BATS_TEST_TMPDIR/recv.err"
	stop_hold
	run_send 0 "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
}

@test "recv -k --workers 4: four workers listen on one port, 32 senders arrive byte-exact, SIGTERM stops all" {
	for i in $(seq 1 32); do
		head -c $((50000 + i * 100)) /dev/urandom >"$SRC/w$i"
	done
	start_recv -k --workers 4
	for _ in $(seq 1 100); do
		[ "$(kids "$RECV_PID")" -eq 4 ] && break
		sleep 0.05
	done
	[ "$(kids "$RECV_PID")" -eq 4 ]
	[ "$(ss -Hltn "sport = :$RECV_PORT" | wc -l)" -eq 4 ]
	send_each "$SRC"/w*
	assert_same_tree "$SRC" "$DST"
	# The connections went to more than one worker.
	[ "$(grep -c ': connection: .*; 1 file, .*: ok$' "$BATS_TEST_TMPDIR/recv.err")" -eq 32 ]
	workers=$(pgrep -P "$RECV_PID" | tr '\n' ' ')
	kill -TERM "$RECV_PID"
	wait_recv 0
	for w in $workers; do
		! kill -0 "$w" 2>/dev/null
	done
	[ "$(ss -Hltn "sport = :$RECV_PORT" | wc -l)" -eq 0 ]
}

@test "recv -k --workers 2: SIGTERM lets a transfer in flight finish" {
	sigterm_in_flight --workers 2
}

# One-shot recv: connections refused before authentication do not use it up.

@test "one-shot recv survives a connect-and-close, an HTTP request and a wrong token, then receives" {
	unset KTLSCP_TOKEN
	head -c 100000 /dev/urandom >"$SRC/f"
	start_recv
	python3 - "$RECV_PORT" <<-'PY'
		import socket, sys
		port = int(sys.argv[1])
		socket.create_connection(("127.0.0.1", port)).close()
		s = socket.create_connection(("127.0.0.1", port))
		s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		s.settimeout(20)
		try:
		    s.recv(100)
		except OSError:
		    pass
		s.close()
	PY
	run_send 4 --token abcd-abcd-abcd-abcd-abcd-abcd-abcd-abcd "$SRC/f"
	for i in $(seq 1 100); do
		[ "$(grep -c 'still waiting for a sender$' "$BATS_TEST_TMPDIR/recv.err")" -ge 3 ] && break
		sleep 0.05
	done
	cat "$BATS_TEST_TMPDIR/recv.err"
	# One line each, naming the peer.
	[ "$(grep -c '^ktlscp: 127\.0\.0\.1:[0-9]*: .*; still waiting for a sender$' "$BATS_TEST_TMPDIR/recv.err")" -eq 3 ]
	KTLSCP_TOKEN=$RECV_TOKEN run_send 0 "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
}

@test "one-shot recv whose token expires after refusals exits 4 and says so" {
	unset KTLSCP_TOKEN
	echo x >"$SRC/f"
	start_recv --token-ttl 2
	run_send 4 --token abcd-abcd-abcd-abcd-abcd-abcd-abcd-abcd "$SRC/f"
	wait_recv 4
	grep -q "no sender authenticated before the one-time token expired (--token-ttl) (1 refused, see above)" \
		"$BATS_TEST_TMPDIR/recv.err"
	[ ! -e "$DST/f" ]
}

# paced_sender RATE FILE: send FILE at RATE to the test's receiver in the
# background (SPID) and wait until its partial has data.
paced_sender() {
	# Not under timeout(1): the test kills this very process.
	"$KTLSCP" send -q --limit-rate "$1" "127.0.0.1:$RECV_PORT" "$2" 3>&- &
	SPID=$!
	wait_file "$DST/$(partial_of "${2##*/}")"
}

@test "recv -k: a second sender of a file in flight is told busy, and the receiver's lines name each peer" {
	head -c 20000000 /dev/urandom >"$SRC/big"
	start_recv -k
	paced_sender 1M "$SRC/big"
	run_send --separate-stderr 5 "$SRC/big"
	kill -9 "$SPID"
	wait "$SPID" || true
	[[ "$stderr" == *"big: not stored by the receiver: busy: another transfer of this file is in progress"* ]]
	[[ "$stderr" != *"Device or resource busy"* ]]
	# Every line of a serving child names its peer (the log's after the
	# time stamp).
	grep -Eq "^ktlscp: [-0-9T:+]+ 127\.0\.0\.1:[0-9]+: file $DST/big: 20000000 bytes: failed: busy: another transfer of this file is in progress\$" \
		"$BATS_TEST_TMPDIR/recv.err"
	grep -Eq '^ktlscp: [-0-9T:+]+ 127\.0\.0\.1:[0-9]+: connection: .*: failed: 1 entry could not be stored' "$BATS_TEST_TMPDIR/recv.err"
	! grep -q 'Device or resource busy' "$BATS_TEST_TMPDIR/recv.err"
}

@test "recv -k: --resume right after the sender was killed resumes (the lock is waited for briefly)" {
	# Fast enough that what the killed sender's socket still holds arrives
	# at once (at 1M it would take seconds, and busy would be right).
	truncate -s 100M "$SRC/big"
	start_recv -k
	paced_sender 20M "$SRC/big"
	kill -9 "$SPID"
	wait "$SPID" || true
	run_send 0 --resume "$SRC/big"
	assert_same_file "$SRC/big" "$DST/big"
	no_temp_files "$DST"
	kill -0 "$RECV_PID"
}
