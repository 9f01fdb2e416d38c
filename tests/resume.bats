#!/usr/bin/env bats
# --resume: an interrupted transfer continues where it stopped, after the
# sender checked the receiver's partial prefix against its own file.

load helpers

@test "a transfer killed at several points resumes from the partial, byte-exact" {
	if have_ktls; then size=40000000; cuts="1.2 2.5"; else size=209715200; cuts="0.15 0.3 0.5"; fi
	head -c "$size" /dev/urandom >"$SRC/big"
	part=$DST/$(partial_of big)
	partials=0
	for t in $cuts; do
		start_recv
		timeout -s KILL "$t" "$KTLSCP" send "127.0.0.1:$RECV_PORT" "$SRC/big" 2>/dev/null || true
		wait_recv_or_refused
		[ ! -e "$DST/big" ] || { rm -f "$DST/big"; continue; }
		[ -f "$part" ] || continue
		have=$(stat -c %s "$part")
		partials=$((partials + 1))
		start_recv
		run_send 0 --resume --json "$SRC/big"
		wait_recv
		assert_same_file "$SRC/big" "$DST/big"
		[ "$(json_field "$output" resumed)" -eq "$have" ]
		[ $(( $(json_field "$output" resumed) + $(json_field "$output" bytes) )) -eq "$size" ]
		rm -f "$DST/big"
	done
	[ "$partials" -gt 0 ] || skip "no cut landed mid-file on this machine"
	no_temp_files "$DST"
}

@test "--resume continues from a partial whose prefix matches" {
	head -c 3000000 /dev/urandom >"$SRC/f"
	head -c 1234567 "$SRC/f" >"$DST/$(partial_of f)"
	start_recv
	run_send 0 --resume --json "$SRC/f"
	[ "$(json_field "$output" resumed)" = 1234567 ]
	[ "$(json_field "$output" bytes)" = $((3000000 - 1234567)) ]
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
	no_temp_files "$DST"
}

@test "a partial that differs from the source (a changed file) is sent whole" {
	head -c 3000000 /dev/urandom >"$SRC/f"
	head -c 1000000 /dev/urandom >"$DST/$(partial_of f)"
	start_recv
	run_send 0 --resume --json "$SRC/f"
	[[ "$output" == *"f: the receiver's partial copy differs from this file; sending it whole"* ]]
	[ "$(json_field "$(echo "$output" | grep '^{')" resumed)" = 0 ]
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
}

@test "a partial longer than the file, or a symlink in its place, is not trusted" {
	head -c 100000 /dev/urandom >"$SRC/f"
	head -c 200000 /dev/urandom >"$DST/$(partial_of f)"
	start_recv
	run_send 0 --resume --json "$SRC/f"
	[ "$(json_field "$output" resumed)" = 0 ]
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
	echo secret >"$BATS_TEST_TMPDIR/outside"
	ln -s "$BATS_TEST_TMPDIR/outside" "$DST/$(partial_of g)"
	echo g >"$SRC/g"
	start_recv
	run_send 5 --resume "$SRC/g"
	wait_recv
	[ "$(cat "$BATS_TEST_TMPDIR/outside")" = secret ]
}

@test "a hard link planted as the partial is never written through" {
	echo precious >"$BATS_TEST_TMPDIR/victim"
	ln "$BATS_TEST_TMPDIR/victim" "$DST/$(partial_of h)"
	head -c 1000 /dev/urandom >"$SRC/h"
	start_recv
	run_send 5 --resume "$SRC/h"
	wait_recv
	[ "$(cat "$BATS_TEST_TMPDIR/victim")" = precious ]
	[ ! -e "$DST/h" ]
}

@test "without --resume a partial is overwritten from the start" {
	head -c 3000000 /dev/urandom >"$SRC/f"
	head -c 1000000 "$SRC/f" >"$DST/$(partial_of f)"
	start_recv
	run_send 0 --json "$SRC/f"
	[ "$(json_field "$output" resumed)" = 0 ]
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
	no_temp_files "$DST"
}
