#!/usr/bin/env bats
# The progress meter: on a terminal in the foreground, never in pipes or
# with --json, forced by --progress, silenced by --no-progress and -q.

load helpers

METER='files, '

# in_pty CMD...: run CMD under a pseudo-terminal (util-linux script);
# the terminal's output lands in $BATS_TEST_TMPDIR/pty.out.
in_pty() {
	local cmd
	printf -v cmd '%q ' "$@"
	script -qec "$cmd" /dev/null >"$BATS_TEST_TMPDIR/pty.out"
}

setup() {
	common_setup
	command -v script >/dev/null || skip "no script(1)"
	head -c 20000000 /dev/urandom >"$SRC/big"
	echo small >"$SRC/small"
}

@test "on a terminal, send shows a meter with the file name, percent and totals" {
	start_recv
	in_pty "$KTLSCP" send "127.0.0.1:$RECV_PORT" "$SRC/big" "$SRC/small"
	wait_recv
	assert_same_file "$SRC/big" "$DST/big"
	# (A percentage of what the receiver acknowledged: the last draw of a
	# file may be below 100% while its tail is in flight.)
	grep -q "big .*[0-9]%" "$BATS_TEST_TMPDIR/pty.out"
	grep -q "$METER" "$BATS_TEST_TMPDIR/pty.out"
	# The summary starts on a fresh line after the meter is cleared.
	grep -q $'\r\e\\[Kktlscp: sent 2 files' "$BATS_TEST_TMPDIR/pty.out"
}

@test "in a pipe there is no meter" {
	start_recv
	run_send 0 "$SRC/big"
	[[ "$output" != *"$METER"* ]]
	[[ "$output" != *$'\r'* ]]
	wait_recv
	! grep -q "$METER" "$BATS_TEST_TMPDIR/recv.err"
}

@test "--json, -q and --no-progress silence the meter even on a terminal" {
	for opt in --json -q --no-progress; do
		start_recv
		in_pty "$KTLSCP" send "$opt" "127.0.0.1:$RECV_PORT" "$SRC/big"
		wait_recv
		assert_same_file "$SRC/big" "$DST/big"
		! grep -q "$METER" "$BATS_TEST_TMPDIR/pty.out"
		rm -f "$DST/big"
	done
}

@test "--progress forces the meter into a pipe, on both ends" {
	start_recv --progress
	run_send 0 --progress "$SRC/big"
	[[ "$output" == *"$METER"* ]]
	wait_recv
	grep -q "$METER" "$BATS_TEST_TMPDIR/recv.err"
	assert_same_file "$SRC/big" "$DST/big"
}

@test "an error while the meter shows starts on a fresh line" {
	big_sparse "$SRC/huge"
	start_recv
	( sleep "$(settle)"; kill -9 "$RECV_PID" ) &
	run_send '?' --progress "$SRC/huge"
	[ "$status" -eq 3 ] || [ "$status" -eq 5 ]
	# As a terminal shows it (the last \r wins): the error line is a line of
	# its own, not glued to the meter.
	echo "$output" | sed $'s/.*\r//; s/\e\\[K//g' | grep -q "^ktlscp: 127.0.0.1:$RECV_PORT: "
}

@test "the meter says 1 file, not 1 files; standard input shows bytes and rate, no percentage" {
	start_recv -k
	cp "$SRC/big" "$SRC/big2"
	run_send 0 --progress --limit-rate 20M "$SRC/big" "$SRC/big2"
	[[ "$output" == *"| 1 file, "* ]]
	[[ "$output" != *"| 1 files"* ]]
	head -c 3000000 "$SRC/big" >"$SRC/part"
	run_ktlscp 0 send --progress --name piped "127.0.0.1:$RECV_PORT" - <"$SRC/part"
	meter=$(tr '\r' '\n' <<<"$output" | grep '^piped ')
	[ -n "$meter" ]
	! grep -q '%' <<<"$meter" || { echo "$meter"; false; }
	assert_same_file "$SRC/part" "$DST/piped"
	assert_same_file "$SRC/big" "$DST/big"
}

@test "the meter counts what the receiver acknowledged: a paced file is not at 100% while it is sent" {
	start_recv
	head -c 3000000 "$SRC/big" >"$SRC/paced"
	run_send 0 --progress --limit-rate 1M "$SRC/paced"
	wait_recv
	assert_same_file "$SRC/paced" "$DST/paced"
	# Before the file's end, the meter showed it below 100% for more than
	# the first draws: the socket's buffer is not counted as delivered.
	n=$(tr '\r' '\n' <<<"$output" | grep -c '^paced .* [1-9][0-9]\?% ' || true)
	[ "$n" -ge 1 ] || { tr '\r' '\n' <<<"$output"; false; }
}
