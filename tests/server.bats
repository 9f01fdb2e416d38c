#!/usr/bin/env bats
# recv -k: a receiver that serves many senders, several at once.

load helpers

@test "recv -k serves 16 concurrent senders, all byte-exact, and keeps running" {
	for i in $(seq 1 16); do
		head -c $((200000 + i * 1000)) /dev/urandom >"$SRC/f$i"
	done
	start_recv -k
	pids=()
	for i in $(seq 1 16); do
		timeout 120 "$KTLSCP" send -q "127.0.0.1:$RECV_PORT" "$SRC/f$i" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p"
	done
	kill -0 "$RECV_PID"
	assert_same_tree "$SRC" "$DST"
	# And once more after the burst.
	echo late >"$SRC/late"
	ktlscp_send "$SRC/late"
	assert_exit 0
	assert_same_file "$SRC/late" "$DST/late"
	kill -TERM "$RECV_PID"
	wait_recv
	[ "$RECV_RC" -eq 0 ]
}

@test "recv -k --max-conns 2: more senders wait in the backlog and still arrive" {
	for i in $(seq 1 6); do
		head -c 300000 /dev/urandom >"$SRC/g$i"
	done
	start_recv -k --max-conns 2
	pids=()
	for i in $(seq 1 6); do
		timeout 120 "$KTLSCP" send -q "127.0.0.1:$RECV_PORT" "$SRC/g$i" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p"
	done
	assert_same_tree "$SRC" "$DST"
}

@test "SIGTERM stops recv -k accepting, and a transfer in flight still completes" {
	if have_ktls; then size=30000000; else size=400000000; fi
	head -c "$size" /dev/urandom >"$SRC/big"
	start_recv -k
	timeout 300 "$KTLSCP" send -q "127.0.0.1:$RECV_PORT" "$SRC/big" &
	spid=$!
	for _ in $(seq 1 100); do
		[ -n "$(find "$DST" -name '.ktlscp-*.part' -size +0)" ] && break
		sleep 0.05
	done
	kill -TERM "$RECV_PID"
	wait "$spid"
	wait_recv
	[ "$RECV_RC" -eq 0 ]
	assert_same_file "$SRC/big" "$DST/big"
	grep -q "waiting for 1 sender to finish" "$BATS_TEST_TMPDIR/recv.err"
}

@test "a bad handshake on recv -k does not stop the receiver" {
	echo ok >"$SRC/f"
	start_recv -k
	run timeout 60 "$KTLSCP" send --token 2222-2222-2222-2222-2222-2222-2222-2222 "127.0.0.1:$RECV_PORT" "$SRC/f"
	assert_exit 4
	ktlscp_send "$SRC/f"
	assert_exit 0
	assert_same_file "$SRC/f" "$DST/f"
}

@test "usage: --max-conns without -k, -k with --stdout" {
	run "$KTLSCP" recv --max-conns 3 --port 0 "$DST"
	assert_exit 2
	run "$KTLSCP" recv -k --stdout --port 0
	assert_exit 2
}
