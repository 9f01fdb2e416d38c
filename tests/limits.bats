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
	stop_test_recv
	umount "$BATS_TEST_TMPDIR/small" 2>/dev/null || true
	clean_test_tmpdir
}

@test "--max-size: files beyond the total are refused (exit 5), earlier ones kept" {
	head -c 600000 /dev/urandom >"$SRC/a"
	head -c 600000 /dev/urandom >"$SRC/b"
	start_recv --max-size 1M
	run_send 5 "$SRC/a" "$SRC/b"
	[[ "$output" == *"b: rejected by the receiver: too large"* ]]
	wait_recv
	assert_same_file "$SRC/a" "$DST/a"
	[ ! -e "$DST/b" ]
}

@test "--max-files: a manifest over the limit is refused as a whole" {
	for i in 1 2 3; do echo $i >"$SRC/f$i"; done
	start_recv --max-files 2
	run_send 5 "$SRC/f1" "$SRC/f2" "$SRC/f3"
	[[ "$output" == *"exceeds 2 entries"* ]]
	wait_recv 5
	[ -z "$(ls -A "$DST")" ]
}

@test "free space: a file that cannot fit is refused before a byte is written" {
	small_fs
	truncate -s 100M "$SRC/huge"
	echo ok >"$SRC/ok"
	start_recv "$DST"
	run_send 5 "$SRC/huge" "$SRC/ok"
	[[ "$output" == *"huge: rejected by the receiver: no space left on the receiver"* ]]
	wait_recv
	[ ! -e "$DST/huge" ]
	no_temp_files "$DST"
	assert_same_file "$SRC/ok" "$DST/ok"
}

@test "disk full mid-stream: exit 6 on the receiver, 5 on the sender, nothing half-written" {
	small_fs
	start_recv "$DST"
	run_send 5 --name big - < <(head -c 120000000 /dev/zero)
	[[ "$output" == *"no space left"* ]]
	wait_recv 6
	[ ! -e "$DST/big" ]
	no_temp_files "$DST"
}

@test "usage: bad --max-size and --max-files" {
	run_ktlscp 2 recv --max-size lots --port 0 "$DST"
	run_ktlscp 2 recv --max-files -3 --port 0 "$DST"
}

@test "file sizes that add up to 2^64 do not wrap past the free-space check" {
	# Four entries of 2^62 bytes (the largest a file may declare).
	start_recv
	forge entries plain f:c:4611686018427387904 f:d:4611686018427387904 \
		f:e:4611686018427387904 f:f:4611686018427387904
	[[ "$output" == "ACK reject reject reject reject"* ]] || { echo "forge saw: $output"; false; }
	wait_recv
	grep -q "c: refused: 4611686018427387904 bytes do not fit" "$BATS_TEST_TMPDIR/recv.err"
	[ -z "$(ls -A "$DST")" ]
}

@test "--max-size stops a stream as soon as it passes the limit: exit 5 on both ends, nothing kept" {
	# An 80 MB file system and a 120 MB stream: checked only at the end,
	# the stream would fill it (exit 6).
	small_fs
	start_recv --max-size 1M "$DST"
	run_send 5 --name big - < <(head -c 120000000 /dev/zero)
	[[ "$output" == *"exceeds --max-size"* ]]
	wait_recv 5
	grep -q "big: the stream exceeds --max-size (1000000 bytes); transfer refused" "$BATS_TEST_TMPDIR/recv.err"
	[ ! -e "$DST/big" ]
	[ -z "$(ls -A "$DST")" ]
}
