#!/usr/bin/env bats
# recv under systemd socket activation (LISTEN_PID/LISTEN_FDS, fd 3), with
# tests/sockact.py doing what systemd does; and the contrib units.

load helpers

# activate [--connected] ARGS...: start "ktlscp recv ARGS" through sockact.py
# in the background; sets RECV_PID and RECV_PORT.
activate() {
	local pf=$BATS_TEST_TMPDIR/port conn=()
	if [ "$1" = --connected ]; then
		conn=(--connected)
		shift
	fi
	rm -f "$pf"
	: >"$BATS_TEST_TMPDIR/recv.err"
	python3 "$BATS_TEST_DIRNAME/sockact.py" "${conn[@]}" "$pf" "$KTLSCP" recv "$@" \
		>"$BATS_TEST_TMPDIR/recv.out" 2>"$BATS_TEST_TMPDIR/recv.err" &
	RECV_PID=$!
	wait_file "$pf" 20
	RECV_PORT=$(cat "$pf")
	[ -n "$RECV_PORT" ]
}

@test "socket activation, listening socket: one-shot recv serves on fd 3 instead of binding" {
	echo one >"$SRC/f"
	activate --port 1 "$DST"
	wait_port "$BATS_TEST_TMPDIR/recv.err"
	grep -q "listening on the socket passed in (127.0.0.1:$RECV_PORT), port $RECV_PORT" "$BATS_TEST_TMPDIR/recv.err"
	run_send 0 "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
}

@test "socket activation, listening socket: recv -k --workers 2 shares it and serves many senders" {
	for i in $(seq 1 12); do
		head -c $((20000 + i)) /dev/urandom >"$SRC/a$i"
	done
	activate -k --workers 2 "$DST"
	wait_port "$BATS_TEST_TMPDIR/recv.err"
	for _ in $(seq 1 100); do
		[ "$(pgrep -c -P "$RECV_PID")" -eq 2 ] && break
		sleep 0.05
	done
	[ "$(pgrep -c -P "$RECV_PID")" -eq 2 ]
	send_each "$SRC"/a*
	assert_same_tree "$SRC" "$DST"
	# No LISTEN_* left for anything the receiver starts.
	for w in $(pgrep -P "$RECV_PID"); do
		! tr '\0' '\n' <"/proc/$w/environ" | grep -q '^LISTEN_'
	done
	kill -TERM "$RECV_PID"
	wait_recv 0
}

@test "socket activation, connected socket (Accept=yes): recv serves that one sender and exits" {
	head -c 100000 /dev/urandom >"$SRC/c"
	activate --connected --json "$DST"
	run_send 0 "$SRC/c"
	wait_recv 0
	assert_same_file "$SRC/c" "$DST/c"
	grep -q "serving 127.0.0.1:[0-9]*, on the connection passed in" "$BATS_TEST_TMPDIR/recv.err"
	[ "$(jq -r .status "$BATS_TEST_TMPDIR/recv.out")" = ok ]
}

@test "LISTEN_PID of another process: recv binds its own socket as usual" {
	echo x >"$SRC/f"
	LISTEN_PID=1 LISTEN_FDS=1 start_recv
	! grep -q "passed in" "$BATS_TEST_TMPDIR/recv.err"
	run_send 0 "$SRC/f"
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
}

@test "socket activation with fd 3 not a socket is a usage error (exit 2)" {
	run env LISTEN_FDS=1 bash -c 'export LISTEN_PID=$$; exec "$0" recv "$1" 3</dev/null' "$KTLSCP" "$DST"
	assert_exit 2
	[[ "$output" == *"descriptor 3 is not a stream socket"* ]]
}

@test "the contrib systemd units pass systemd-analyze verify" {
	command -v systemd-analyze >/dev/null || skip "no systemd-analyze"
	d=$BATS_TEST_TMPDIR/units
	mkdir -p "$d"
	cp "$KTLSCP_SRCDIR/contrib/ktlscp-recv.socket" "$d/"
	sed "s|@bindir@|$(dirname "$KTLSCP")|" "$KTLSCP_SRCDIR/contrib/ktlscp-recv.service.in" \
		>"$d/ktlscp-recv.service"
	run systemd-analyze verify --man=no "$d/ktlscp-recv.socket" "$d/ktlscp-recv.service"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	grep -q '^ExecStart=.*/ktlscp recv -k --psk-file %d/psk /srv/ktlscp$' "$d/ktlscp-recv.service"
}

@test "the contrib service unit has a careful distribution's hardening" {
	local u=$KTLSCP_SRCDIR/contrib/ktlscp-recv.service.in k
	for k in LimitCORE=0 ProtectProc=invisible ProcSubset=pid RemoveIPC=yes NoNewPrivileges=yes \
		SystemCallFilter=@system-service SystemCallFilter=~@privileged ProtectSystem=strict \
		ReadWritePaths=/srv/ktlscp PrivateTmp=yes ProtectHome=yes; do
		grep -qx "$k" "$u" || { echo "missing: $k"; false; }
	done
	grep -q '^MemoryMax=[0-9]' "$u"
	grep -q '^TasksMax=[0-9]' "$u"
}
