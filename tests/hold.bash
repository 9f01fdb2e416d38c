# Helpers for the server tests: hold connections open against a receiver
# (tests/connhold.py) and count what the receiver runs.

# start_hold MODE N [PORT]: hold N connections of MODE (idle, trickle, hello;
# see connhold.py) to the receiver; waits until all are open.  Sets
# HOLD_PID; status in $BATS_TEST_TMPDIR/hold.st.
start_hold() {
	local i
	: >"$BATS_TEST_TMPDIR/hold.st"
	python3 "$BATS_TEST_DIRNAME/connhold.py" --mode "$1" --status "$BATS_TEST_TMPDIR/hold.st" \
		127.0.0.1 "${3:-$RECV_PORT}" "$2" 3>&- &
	HOLD_PID=$!
	for i in $(seq 1 1200); do
		grep -q ready "$BATS_TEST_TMPDIR/hold.st" && return 0
		kill -0 "$HOLD_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "connhold did not get its connections open" >&2
	return 1
}

# stop_hold: stop the helper; sets HOLD_RECONNECTS (connections the
# receiver closed on it).
stop_hold() {
	HOLD_RECONNECTS=
	[ -n "${HOLD_PID:-}" ] || return 0
	kill -TERM "$HOLD_PID" 2>/dev/null || true
	wait "$HOLD_PID" 2>/dev/null || true
	HOLD_PID=
	HOLD_RECONNECTS=$(sed -n 's/^reconnects=//p' "$BATS_TEST_TMPDIR/hold.st")
}

# established PORT: connections to PORT on this host in state ESTABLISHED,
# as the clients see them.
established() {
	ss -Htn state established "dport = :$1" | wc -l
}

# kids PID: number of child processes of PID.
kids() {
	local n
	n=$(pgrep -c -P "$1" || true)
	echo "${n:-0}"
}
