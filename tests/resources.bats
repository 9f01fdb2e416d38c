#!/usr/bin/env bats
# Resources: a whole transfer under valgrind leaks no memory and no file
# descriptor on either end (the sanitizer lane checks the rest of the suite).

load helpers

vg() {
	# Close what bats left open so that only our own descriptors count.
	bash -c 'for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done; exec "$@"' vg \
		valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
		--track-fds=yes "$@"
}

@test "send and recv under valgrind: no leaks, no descriptor left open" {
	command -v valgrind >/dev/null || skip "no valgrind"
	[ -z "${KTLSCP_IN_VM:-}" ] || skip "valgrind under emulation is too slow; the native lane runs this"
	! sanitized_build || skip "valgrind cannot run an ASan build; the native lane runs this"
	mkdir -p "$SRC/t/sub"
	head -c 300000 /dev/urandom >"$SRC/t/a"
	echo b >"$SRC/t/sub/b"
	vg "$KTLSCP" recv --port 0 --listen 127.0.0.1 "$DST" 2>"$BATS_TEST_TMPDIR/recv.err" &
	RECV_PID=$!
	wait_port "$BATS_TEST_TMPDIR/recv.err"
	run vg "$KTLSCP" send -r "127.0.0.1:$RECV_PORT" "$SRC/t"
	assert_exit 0
	[[ "$output" == *"FILE DESCRIPTORS: 3 open (3 std) at exit"* ]] || { echo "$output"; false; }
	wait_recv 0
	grep -q "FILE DESCRIPTORS: 3 open (3 std) at exit" "$BATS_TEST_TMPDIR/recv.err"
	assert_same_tree "$SRC/t" "$DST/t"
}
