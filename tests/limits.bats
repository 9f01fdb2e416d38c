#!/usr/bin/env bats
# Receiver limits: --max-size, --max-files, the free-space check, and a
# disk that fills up mid-transfer.

load helpers

small_fs() {
	mkdir -p "$BATS_TEST_TMPDIR/small"
	mount -t tmpfs -o size=80M tmpfs "$BATS_TEST_TMPDIR/small" 2>/dev/null || skip "cannot mount a tmpfs"
	DST=$BATS_TEST_TMPDIR/small
}

teardown() {
	common_teardown
	umount "$BATS_TEST_TMPDIR/small" 2>/dev/null || true
}

@test "--max-size: files beyond the total are refused (exit 5), earlier ones kept" {
	head -c 600000 /dev/urandom >"$SRC/a"
	head -c 600000 /dev/urandom >"$SRC/b"
	start_recv --max-size 1M
	ktlscp_send "$SRC/a" "$SRC/b"
	assert_exit 5
	[[ "$output" == *"b: rejected by the receiver: too large"* ]]
	wait_recv
	assert_same_file "$SRC/a" "$DST/a"
	[ ! -e "$DST/b" ]
}

@test "--max-files: a manifest over the limit is refused as a whole" {
	for i in 1 2 3; do echo $i >"$SRC/f$i"; done
	start_recv --max-files 2
	ktlscp_send "$SRC/f1" "$SRC/f2" "$SRC/f3"
	assert_exit 5
	[[ "$output" == *"exceeds 2 entries"* ]]
	wait_recv
	[ "$RECV_RC" -eq 5 ]
	[ -z "$(ls -A "$DST")" ]
}

@test "free space: a file that cannot fit is refused before a byte is written" {
	small_fs
	truncate -s 100M "$SRC/huge"
	echo ok >"$SRC/ok"
	start_recv "$DST"
	ktlscp_send "$SRC/huge" "$SRC/ok"
	assert_exit 5
	[[ "$output" == *"huge: rejected by the receiver: no space left on the receiver"* ]]
	wait_recv
	[ ! -e "$DST/huge" ]
	no_temp_files "$DST"
	assert_same_file "$SRC/ok" "$DST/ok"
}

@test "disk full mid-stream: exit 6 on the receiver, 5 on the sender, nothing half-written" {
	small_fs
	start_recv "$DST"
	run bash -c "head -c 120000000 /dev/zero | timeout 120 '$KTLSCP' send --name big 127.0.0.1:$RECV_PORT -"
	assert_exit 5
	[[ "$output" == *"no space left"* ]]
	wait_recv
	[ "$RECV_RC" -eq 6 ]
	[ ! -e "$DST/big" ]
	no_temp_files "$DST"
}

@test "usage: bad --max-size and --max-files" {
	run "$KTLSCP" recv --max-size lots --port 0 "$DST"
	assert_exit 2
	run "$KTLSCP" recv --max-files -3 --port 0 "$DST"
	assert_exit 2
}
