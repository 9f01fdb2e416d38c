#!/usr/bin/env bats
# --sync: the quick check.  A file whose copy on the receiver has the same
# size and modification time is not sent (listed in skipped_entries as
# "unchanged"); the receiver's copy is left untouched (inode, mtime and
# ctime); whatever differs in size or mtime is sent again; files stored
# keep the sender's mtime, so that the next run can compare.  --checksum
# compares size and SHA-256 instead.  What arrives is compared by sha256.

load helpers
load sshd

teardown() {
	sshd_stop
	common_teardown
}

make_sync_tree() {
	mkdir -p "$SRC/t/sub/deep"
	head -c 300000 /dev/urandom >"$SRC/t/a"
	head -c 5000 /dev/urandom >"$SRC/t/sub/b"
	head -c 7000 /dev/urandom >"$SRC/t/sub/deep/c"
	: >"$SRC/t/empty"
}

# stamp DIR: "path inode mtime(ns) ctime(ns)" of every file below DIR.
stamp() {
	(cd "$1" && find . -type f -printf '%p %i %T@ %C@\n' | LC_ALL=C sort)
}

@test "--sync: a second run sends no body and leaves the receiver's files untouched" {
	make_sync_tree
	start_recv -k
	run_send --separate-stderr 0 --json -r --sync "$SRC/t"
	assert_same_tree "$SRC/t" "$DST/t"
	[ "$(json_field "$output" files)" = 4 ]
	# Without -p, --sync still keeps the modification time (to the
	# nanosecond here), not the access time or the exact mode.
	[ "$(stat -c %y "$DST/t/sub/b")" = "$(stat -c %y "$SRC/t/sub/b")" ]
	before=$(stamp "$DST")
	sleep 0.05
	run_send --separate-stderr 0 --json -r --sync "$SRC/t"
	echo "$output" | jq -e '.files == 0 and .bytes == 0 and .skipped == 4' >/dev/null
	echo "$output" | jq -e '[.skipped_entries[] | select(.reason == "unchanged")] | length == 4' >/dev/null
	[ "$(stamp "$DST")" = "$before" ]
	assert_same_tree "$SRC/t" "$DST/t"
	no_temp_files "$DST"
}

@test "--sync: a changed size or mtime is sent; same size and mtime with other bytes is not (the quick check)" {
	make_sync_tree
	start_recv -k
	run_send 0 -r --sync "$SRC/t"
	# a: one byte more.  b: the same bytes, a new mtime.  c: other bytes
	# of the same size, its old mtime put back.
	echo x >>"$SRC/t/a"
	touch -d '2020-01-02 03:04:05.123456789' "$SRC/t/sub/b"
	touch -r "$SRC/t/sub/deep/c" "$BATS_TEST_TMPDIR/ref"
	head -c 7000 /dev/urandom >"$SRC/t/sub/deep/c"
	touch -r "$BATS_TEST_TMPDIR/ref" "$SRC/t/sub/deep/c"
	cino=$(stat -c %i "$DST/t/sub/deep/c")
	run_send --separate-stderr 0 --json -r --sync "$SRC/t"
	echo "$output" | jq -e '.files == 2 and .skipped == 2' >/dev/null
	echo "$output" | jq -e '[.skipped_entries[].path] | sort == ["t/empty", "t/sub/deep/c"]' >/dev/null
	assert_same_file "$SRC/t/a" "$DST/t/a"
	assert_same_file "$SRC/t/sub/b" "$DST/t/sub/b"
	[ "$(stat -c %y "$DST/t/sub/b")" = "$(stat -c %y "$SRC/t/sub/b")" ]
	[ "$(stat -c %i "$DST/t/sub/deep/c")" = "$cino" ]
	# An older copy is replaced too (--sync is not --update).
	touch -d '2001-01-01' "$SRC/t/sub/b"
	run_send --separate-stderr 0 --json -r --sync "$SRC/t"
	[ "$(json_field "$output" files)" = 1 ]
	[ "$(stat -c %Y "$DST/t/sub/b")" = "$(stat -c %Y "$SRC/t/sub/b")" ]
	no_temp_files "$DST"
}

@test "--sync with --target and -p: modes and times kept, the second run sends nothing" {
	make_sync_tree
	chmod 640 "$SRC/t/sub/b"
	start_recv -k
	run_send 0 -r -p --sync -t into/here "$SRC/t"
	assert_same_tree "$SRC/t" "$DST/into/here/t"
	[ "$(stat -c %a "$DST/into/here/t/sub/b")" = 640 ]
	before=$(stamp "$DST")
	run_send --separate-stderr 0 --json -r -p --sync -t into/here "$SRC/t"
	echo "$output" | jq -e '.files == 0 and .bytes == 0 and .skipped == 4' >/dev/null
	echo "$output" | jq -e '[.skipped_entries[] | select(.reason == "unchanged" and (.path | startswith("into/here/t/")))] | length == 4' >/dev/null
	[ "$(stamp "$DST")" = "$before" ]
	# A name in the way that is not a regular file is not "unchanged".
	rm "$DST/into/here/t/empty"
	mkdir "$DST/into/here/t/empty"
	touch -r "$SRC/t/empty" "$DST/into/here/t/empty"
	run_send '?' --json -r -p --sync -t into/here "$SRC/t"
	[ "$status" -ne 0 ]
	[ -d "$DST/into/here/t/empty" ]
}

@test "--sync: a receiver's skip other than \"unchanged\" is still a protocol error" {
	echo small >"$SRC/a"
	: >"$BATS_TEST_TMPDIR/forge.err"
	"$KTLSCP_FORGE" recv "$TEST_TOKEN" ack-skip >"$BATS_TEST_TMPDIR/forge.out" 2>"$BATS_TEST_TMPDIR/forge.err" &
	RECV_PID=$!
	wait_port "$BATS_TEST_TMPDIR/forge.err"
	run_send --separate-stderr 5 --timeout 20 --sync "$SRC/a"
	[[ "$stderr" == *"protocol error: a skip the sender did not ask for"* ]]
	wait_recv
}

@test "--sync with -n: -n wins, an existing file is kept whatever its size" {
	echo one >"$SRC/f"
	echo longer-here >"$DST/f"
	start_recv
	run_send --separate-stderr 0 --json -n --sync "$SRC/f"
	wait_recv 0
	[ "$(cat "$DST/f")" = longer-here ]
	echo "$output" | jq -e '.skipped_entries[0].reason == "it exists on the receiver (-n)"' >/dev/null
}

@test "cp --sync and -c: pushed and pulled trees, the second run of each copies nothing" {
	skip_unless_sshd
	sshd_start
	H="$SSH_USER@127.0.0.1"
	make_sync_tree
	run_ktlscp 0 cp -e "$RSH" --remote-ktlscp "$FAR" -r --sync "$SRC/t" "$H:$DST"
	assert_same_tree "$SRC/t" "$DST/t"
	before=$(stamp "$DST")
	run_ktlscp --separate-stderr 0 cp -e "$RSH" --remote-ktlscp "$FAR" --json -r --sync "$SRC/t" "$H:$DST"
	[ "$(stamp "$DST")" = "$before" ]
	mkdir "$BATS_TEST_TMPDIR/back"
	run_ktlscp 0 cp -e "$RSH" --remote-ktlscp "$FAR" -r --sync "$H:$DST/t" "$BATS_TEST_TMPDIR/back"
	assert_same_tree "$SRC/t" "$BATS_TEST_TMPDIR/back/t"
	before=$(stamp "$BATS_TEST_TMPDIR/back")
	run_ktlscp --separate-stderr 0 cp -e "$RSH" --remote-ktlscp "$FAR" --json -r --sync "$H:$DST/t" "$BATS_TEST_TMPDIR/back"
	echo "$output" | jq -e '.files == 0 and .skipped == 4' >/dev/null
	[ "$(stamp "$BATS_TEST_TMPDIR/back")" = "$before" ]
	# -c goes to the far sender too: a pull by content copies nothing.
	run_ktlscp --separate-stderr 0 cp -e "$RSH" --remote-ktlscp "$FAR" --json -r -c "$H:$DST/t" "$BATS_TEST_TMPDIR/back"
	echo "$output" | jq -e '.files == 0 and .skipped == 4' >/dev/null
	[ "$(stamp "$BATS_TEST_TMPDIR/back")" = "$before" ]
}

@test "--checksum: same size and mtime with other bytes is sent; same bytes with another mtime is not" {
	make_sync_tree
	start_recv -k
	run_send 0 -r --sync "$SRC/t"
	# c: other bytes, same size and mtime (the quick check misses it).
	touch -r "$SRC/t/sub/deep/c" "$BATS_TEST_TMPDIR/ref"
	head -c 7000 /dev/urandom >"$SRC/t/sub/deep/c"
	touch -r "$BATS_TEST_TMPDIR/ref" "$SRC/t/sub/deep/c"
	# b: the same bytes, another mtime (the quick check would send it).
	touch -d '2020-01-02 03:04:05' "$SRC/t/sub/b"
	binode=$(stat -c %i "$DST/t/sub/b")
	run_send --separate-stderr 0 --json -r --sync "$SRC/t"
	[ "$(json_field "$output" files)" = 1 ]
	! assert_same_file "$SRC/t/sub/deep/c" "$DST/t/sub/deep/c" 2>/dev/null
	touch -r "$BATS_TEST_TMPDIR/ref" "$DST/t/sub/b"
	binode=$(stat -c %i "$DST/t/sub/b")
	run_send --separate-stderr 0 --json -r -c "$SRC/t"
	echo "$output" | jq -e '.files == 1 and .skipped == 3' >/dev/null
	echo "$output" | jq -e '[.skipped_entries[] | select(.reason == "unchanged (same SHA-256)")] | length == 3' >/dev/null
	assert_same_tree "$SRC/t" "$DST/t"
	[ "$(stat -c %i "$DST/t/sub/b")" = "$binode" ]
	# And again: nothing is sent.
	run_send --separate-stderr 0 --json -r --checksum --verify "$SRC/t"
	echo "$output" | jq -e '.files == 0 and .bytes == 0 and .skipped == 4' >/dev/null
	no_temp_files "$DST"
}
