#!/usr/bin/env bats
# recv -k under load: 64 concurrent senders while 200 idle connections are
# held open against the same receiver the whole time.

load helpers
load hold

teardown() {
	stop_hold
	common_teardown
}

# Under emulation (the VM lane) 64 handshakes take a while: let no
# connection, sender or receiver, give up because the machine is slow.
recv_slow_opts() {
	if [ -n "${KTLSCP_IN_VM:-}" ]; then echo "--handshake-timeout 300 --timeout 600"; fi
}
send_slow_opts() {
	if [ -n "${KTLSCP_IN_VM:-}" ]; then echo "--timeout 600"; fi
}

run_load() {
	local i t0 t1 fails=0 pids=()
	for i in $(seq 1 64); do
		head -c $((4096 + i * 97)) /dev/urandom >"$SRC/s$i"
	done
	# shellcheck disable=SC2046
	start_recv -k $(recv_slow_opts) "$@"
	start_hold idle 200
	[ "$(established "$RECV_PORT")" -ge 200 ]
	t0=$(date +%s.%N)
	for i in $(seq 1 64); do
		# shellcheck disable=SC2046
		timeout 900 "$KTLSCP" send -q $(send_slow_opts) "127.0.0.1:$RECV_PORT" "$SRC/s$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || fails=$((fails + 1))
	done
	t1=$(date +%s.%N)
	echo "# 64 senders with 200 idle connections held: $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s" >&3
	[ "$fails" -eq 0 ]
	assert_same_tree "$SRC" "$DST"
	no_temp_files "$DST"
	[ "$(grep -c ': connection: .*; 1 file, .*: ok$' "$BATS_TEST_TMPDIR/recv.err")" -eq 64 ]
	# The idle connections were held all along (the helper reopens any
	# the receiver closes) and still are; the receiver is still serving.
	[ "$(established "$RECV_PORT")" -ge 200 ]
	kill -0 "$HOLD_PID"
	kill -0 "$RECV_PID"
	stop_hold
	echo "# idle connections the receiver closed meanwhile: $HOLD_RECONNECTS" >&3
	kill -TERM "$RECV_PID"
	wait_recv 0
}

@test "recv -k serves 64 concurrent senders byte-exact while 200 idle connections are held open" {
	run_load
}

@test "recv -k --workers 4 serves 64 concurrent senders byte-exact while 200 idle connections are held open" {
	run_load --workers 4
}
