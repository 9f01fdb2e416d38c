#!/usr/bin/env bats
# A sender that authenticates but speaks the protocol wrongly on purpose
# (tests/forge): nothing may appear outside DIR, nothing half-written under
# a final name, and the receiver exits 5 naming the peer.

load helpers

outside_listing() {
	ls -A "$BATS_TEST_TMPDIR"
}

forge() {
	run timeout 60 "$KTLSCP_FORGE" 127.0.0.1 "$RECV_PORT" "$TEST_TOKEN" "$@"
}

expect_refused() {
	start_recv
	before=$(outside_listing)
	forge "$@"
	wait_recv
	[ "$RECV_RC" -eq 5 ] || { cat "$BATS_TEST_TMPDIR/recv.err"; false; }
	[[ "$output" == *ERROR* ]] || { echo "forge saw: $output"; false; }
	[ -z "$(ls -A "$DST")" ]
	[ "$(outside_listing)" = "$before" ]
	[ ! -e /tmp/ktlscp-escape ]
}

@test "recv refuses a manifest path containing .." {
	expect_refused path "../escape"
	grep -q '"\.\." path component' "$BATS_TEST_TMPDIR/recv.err"
}

@test "recv refuses .. deeper in the path" {
	expect_refused path "a/../../escape"
}

@test "recv refuses an absolute path" {
	expect_refused path "/tmp/ktlscp-escape"
	grep -q "absolute path" "$BATS_TEST_TMPDIR/recv.err"
}

@test "recv refuses empty components (//) and a trailing slash" {
	expect_refused path "a//b"
	expect_refused path "a/"
}

@test "recv refuses a . component" {
	expect_refused path "./x"
}

@test "recv refuses a NUL byte in a path" {
	expect_refused nulpath
}

@test "recv refuses a path longer than the protocol allows" {
	expect_refused longpath 5000
	grep -q "length limit" "$BATS_TEST_TMPDIR/recv.err"
}

@test "recv refuses a 256-byte file name" {
	expect_refused longpath 256
}

@test "recv escapes control characters of a hostile name when it prints it" {
	expect_refused path $'../\e[31mred\nline'
	grep -q 'x1b\[31mred\\x0aline' "$BATS_TEST_TMPDIR/recv.err"
	! grep -q $'\e' "$BATS_TEST_TMPDIR/recv.err"
}

@test "a sender that cuts the connection mid-file leaves nothing under the final name" {
	start_recv
	forge short
	wait_recv
	[ "$RECV_RC" -eq 5 ]
	[ ! -e "$DST/short.bin" ]
	# Only the partial, for --resume, under its hidden name.
	[ -z "$(ls -A "$DST" | grep -v '^\.ktlscp-[0-9a-f]*\.part$')" ]
	grep -q "close_notify\|mid" "$BATS_TEST_TMPDIR/recv.err"
}

@test "garbage right after the handshake is a protocol error (exit 5)" {
	start_recv
	forge garbage
	wait_recv
	[ "$RECV_RC" -eq 5 ]
	[ -z "$(ls -A "$DST")" ]
}

@test "a symlink planted in DIR is never followed" {
	mkdir -p "$BATS_TEST_TMPDIR/outside"
	ln -s "$BATS_TEST_TMPDIR/outside" "$DST/link"
	mkdir -p "$SRC/link"
	echo payload >"$SRC/link/file"
	start_recv
	ktlscp_send -r "$SRC/link"
	assert_exit 5
	wait_recv
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/outside")" ]
	[ -L "$DST/link" ]
}

@test "a file sent over a planted symlink replaces the link, not its target" {
	echo precious >"$BATS_TEST_TMPDIR/target"
	ln -s "$BATS_TEST_TMPDIR/target" "$DST/name"
	echo new >"$SRC/name"
	start_recv
	ktlscp_send "$SRC/name"
	assert_exit 0
	wait_recv
	[ "$(cat "$BATS_TEST_TMPDIR/target")" = precious ]
	[ ! -L "$DST/name" ]
	assert_same_file "$SRC/name" "$DST/name"
}
