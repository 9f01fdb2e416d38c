#!/usr/bin/env bats
# Who listens: send --listen waits for receivers that dial in with recv
# --connect (the listening side is the TLS server and prints the token);
# and a one-shot listener is not used up by connections that fail.

load helpers

teardown() {
	if [ -n "${SEND_PID:-}" ] && kill -0 "$SEND_PID" 2>/dev/null; then
		kill "$SEND_PID" 2>/dev/null || true
		wait "$SEND_PID" 2>/dev/null || true
	fi
	common_teardown
}

# start_listen [OPTIONS...] PATH...: "send --listen" on a free loopback
# port in the background; sets SEND_PID, SEND_PORT and SEND_TOKEN (when it
# printed one).  Its stderr goes to send.err.
start_listen() {
	: >"$BATS_TEST_TMPDIR/send.err"
	"$KTLSCP" send --listen --bind 127.0.0.1 --port 0 "$@" \
		>"$BATS_TEST_TMPDIR/send.out" 2>"$BATS_TEST_TMPDIR/send.err" 3>&- &
	SEND_PID=$!
	wait_port "$BATS_TEST_TMPDIR/send.err"
	SEND_PORT=$RECV_PORT
	if [ -z "$SEND_PORT" ]; then
		echo "send --listen did not start:" >&2
		cat "$BATS_TEST_TMPDIR/send.err" >&2
		return 1
	fi
	SEND_TOKEN=$(sed -n 's/.*\(one-time\|session\) token: \([a-z0-9-]*\).*/\2/p' "$BATS_TEST_TMPDIR/send.err")
}

# wait_listen RC: wait for the listening sender to exit RC.
wait_listen() {
	local rc=0 i
	for i in $(seq 1 300); do
		kill -0 "$SEND_PID" 2>/dev/null || break
		sleep 0.1
	done
	wait "$SEND_PID" || rc=$?
	SEND_PID=
	if [ "$rc" -ne "$1" ]; then
		echo "send --listen exited $rc, expected $1; its stderr:" >&2
		cat "$BATS_TEST_TMPDIR/send.err" >&2
		return 1
	fi
}

# wait_line FILE TEXT: wait until FILE has a line containing TEXT.
wait_line() {
	local i
	for i in $(seq 1 200); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "no line with '$2' in $1:" >&2
	cat "$1" >&2
	return 1
}

make_tree() {
	mkdir -p "$SRC/tree/a/b" "$SRC/tree/c"
	head -c 300000 /dev/urandom >"$SRC/tree/a/b/big"
	echo one >"$SRC/tree/c/one"
	: >"$SRC/tree/empty"
	head -c 70000 /dev/urandom >"$SRC/f"
}

@test "send --listen prints a one-time token; recv --connect with it gets a file and a -r tree" {
	unset KTLSCP_TOKEN
	make_tree
	start_listen -r "$SRC/f" "$SRC/tree"
	[ -n "$SEND_TOKEN" ]
	grep -q "on the receiver: KTLSCP_TOKEN=$SEND_TOKEN ktlscp recv --connect THIS-HOST:$SEND_PORT" \
		"$BATS_TEST_TMPDIR/send.err"
	KTLSCP_TOKEN=$SEND_TOKEN run_ktlscp 0 recv --connect "127.0.0.1:$SEND_PORT" --json "$DST"
	[ "$(json_field "$output" auth)" = psk ]
	[ "$(json_field "$output" files)" = 4 ]
	wait_listen 0
	assert_same_file "$SRC/f" "$DST/f"
	assert_same_tree "$SRC/tree" "$DST/tree"
}

@test "send --listen -k serves three receivers the same bytes, until SIGTERM" {
	make_tree
	start_listen -k -r "$SRC/tree"
	for i in 1 2 3; do
		mkdir -p "$BATS_TEST_TMPDIR/d$i"
		timeout 60 "$KTLSCP" recv -q --connect "127.0.0.1:$SEND_PORT" "$BATS_TEST_TMPDIR/d$i" 3>&- &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p"
	done
	for i in 1 2 3; do
		assert_same_tree "$SRC/tree" "$BATS_TEST_TMPDIR/d$i/tree"
	done
	kill -0 "$SEND_PID"
	kill -TERM "$SEND_PID"
	wait_listen 0
}

@test "recv --connect -P names the port, and --stdout works when dialing" {
	head -c 5000 /dev/urandom >"$SRC/f"
	start_listen "$SRC/f"
	timeout 60 "$KTLSCP" recv --connect 127.0.0.1 -P "$SEND_PORT" --stdout >"$BATS_TEST_TMPDIR/out" 3>&-
	wait_listen 0
	assert_same_file "$SRC/f" "$BATS_TEST_TMPDIR/out"
}

@test "keys both ways: the listening sender pins the receiver, the receiver pins the sender" {
	unset KTLSCP_TOKEN
	rhome=$BATS_TEST_TMPDIR/rhome
	shome=$BATS_TEST_TMPDIR/shome
	rfp=$(XDG_CONFIG_HOME=$rhome "$KTLSCP" id)
	sfp=$(XDG_CONFIG_HOME=$shome "$KTLSCP" id)
	head -c 100000 /dev/urandom >"$SRC/f"
	XDG_CONFIG_HOME=$shome start_listen --pin "$rfp" "$SRC/f"
	[ -z "$SEND_TOKEN" ]
	XDG_CONFIG_HOME=$rhome run_ktlscp 0 recv --connect "127.0.0.1:$SEND_PORT" --pin "$sfp" --json "$DST"
	[ "$(json_field "$output" auth)" = pin ]
	wait_listen 0
	assert_same_file "$SRC/f" "$DST/f"
}

@test "recv --connect checks the sender against known_hosts: refused unknown, --accept-new records it" {
	unset KTLSCP_TOKEN
	rhome=$BATS_TEST_TMPDIR/rhome
	shome=$BATS_TEST_TMPDIR/shome
	rfp=$(XDG_CONFIG_HOME=$rhome "$KTLSCP" id)
	sfp=$(XDG_CONFIG_HOME=$shome "$KTLSCP" id)
	kh=$rhome/ktlscp/known_hosts
	echo data >"$SRC/f"
	XDG_CONFIG_HOME=$shome start_listen --pin "$rfp" "$SRC/f"
	# No trust option, not in known_hosts, no terminal: refused, nothing written.
	XDG_CONFIG_HOME=$rhome run_ktlscp 4 recv --connect "127.0.0.1:$SEND_PORT" "$DST"
	[[ "$output" == *"its key $sfp is not in $kh"* ]]
	[ -z "$(ls -A "$DST")" ]
	# The one-shot sender was not used up by that.
	wait_line "$BATS_TEST_TMPDIR/send.err" "still waiting for a receiver"
	kill -0 "$SEND_PID"
	XDG_CONFIG_HOME=$rhome run_ktlscp 0 recv --connect "127.0.0.1:$SEND_PORT" --accept-new "$DST"
	grep -qF "[127.0.0.1]:$SEND_PORT $sfp" "$kh"
	wait_listen 0
	assert_same_file "$SRC/f" "$DST/f"
}

@test "a receiver with a wrong token is refused; the one-shot sender then serves the right one" {
	unset KTLSCP_TOKEN
	head -c 100000 /dev/urandom >"$SRC/f"
	start_listen "$SRC/f"
	run_ktlscp 4 recv --connect "127.0.0.1:$SEND_PORT" --token abcd-abcd-abcd-abcd-abcd-abcd-abcd-abcd "$DST"
	[ -z "$(ls -A "$DST")" ]
	wait_line "$BATS_TEST_TMPDIR/send.err" "127.0.0.1:"
	wait_line "$BATS_TEST_TMPDIR/send.err" "still waiting for a receiver"
	KTLSCP_TOKEN=$SEND_TOKEN run_ktlscp 0 recv --connect "127.0.0.1:$SEND_PORT" "$DST"
	wait_listen 0
	assert_same_file "$SRC/f" "$DST/f"
}

@test "usage: send --listen takes no HOST; listening options need --listen; recv --connect limits" {
	echo x >"$SRC/f"
	run_ktlscp 2 send --listen 127.0.0.1:7433 "$SRC/f"
	[[ "$output" == *"127.0.0.1:7433: --listen takes no HOST, only PATHs"* ]]
	run_ktlscp 2 send --listen "[::1]:7433" "$SRC/f"
	[[ "$output" == *"--listen takes no HOST"* ]]
	run_ktlscp 2 send -k 127.0.0.1:1 "$SRC/f"
	[[ "$output" == *"-k, --bind and --token-ttl go with --listen"* ]]
	run_ktlscp 2 send --bind 127.0.0.1 127.0.0.1:1 "$SRC/f"
	run_ktlscp 2 send "$SRC/f"
	[[ "$output" == *"missing arguments"* ]]
	run_ktlscp 2 send --listen -k -
	[[ "$output" == *"not standard input"* ]]
	run_ktlscp 2 send --listen --accept-new "$SRC/f"
	run_ktlscp 2 recv --connect 127.0.0.1 -k "$DST"
	[[ "$output" == *"--connect dials one sender: not with -k or --listen"* ]]
	run_ktlscp 2 recv --connect "127.0.0.1:99999" "$DST"
	[[ "$output" == *"expected HOST, HOST:PORT or [IPV6]:PORT"* ]]
	run_ktlscp 2 recv --accept-new "$DST"
	[[ "$output" == *"--accept-new goes with --connect"* ]]
	run_ktlscp 0 send --help
	[[ "$output" == *"--listen"* && "$output" == *"--bind"* ]]
	run_ktlscp 0 recv --help
	[[ "$output" == *"--connect"* ]]
}

@test "recv --connect to a port where no sender listens fails with exit 3" {
	port=$(unused_port)
	run_ktlscp 3 recv --connect "127.0.0.1:$port" "$DST"
	[[ "$output" == *"127.0.0.1:$port: cannot connect: Connection refused"* ]]
}

@test "send --listen --raw: one plain TLS byte stream to recv --connect --raw" {
	head -c 200000 /dev/urandom >"$SRC/f"
	start_listen --raw "$SRC/f"
	timeout 60 "$KTLSCP" recv --connect "127.0.0.1:$SEND_PORT" --raw >"$BATS_TEST_TMPDIR/out" 3>&-
	wait_listen 0
	assert_same_file "$SRC/f" "$BATS_TEST_TMPDIR/out"
}

@test "send --listen --json: refused receivers print no JSON; one summary for the one served" {
	head -c 1000 /dev/urandom >"$SRC/f"
	: >"$BATS_TEST_TMPDIR/send.err"
	"$KTLSCP" send --listen --bind 127.0.0.1 --port 0 --json "$SRC/f" \
		>"$BATS_TEST_TMPDIR/send.out" 2>"$BATS_TEST_TMPDIR/send.err" 3>&- &
	SEND_PID=$!
	wait_port "$BATS_TEST_TMPDIR/send.err"
	SEND_PORT=$RECV_PORT
	run_ktlscp 4 recv --connect "127.0.0.1:$SEND_PORT" --token abcd-abcd-abcd-abcd-abcd-abcd-abcd-abcd "$DST"
	run_ktlscp 0 recv --connect "127.0.0.1:$SEND_PORT" "$DST"
	wait_listen 0
	[ "$(jq -s length "$BATS_TEST_TMPDIR/send.out")" = 1 ]
	[ "$(jq -r .files "$BATS_TEST_TMPDIR/send.out")" = 1 ]
	[ "$(jq -r .peer "$BATS_TEST_TMPDIR/send.out")" != "" ]
	grep -q "still waiting for a receiver" "$BATS_TEST_TMPDIR/send.err"
	assert_same_file "$SRC/f" "$DST/f"
}
