#!/usr/bin/env bats
# Symbolic links (-l, --safe-links, recv --unsafe-links) and hard links
# (-H): what arrives is compared by sha256 for regular files, readlink for
# links and inode numbers for hard links; what is not sent is in the JSON
# skipped_entries list; a link never redirects anything written after it.

load helpers

# tree_links DIR: sorted "path -> target" of every symlink below DIR.
tree_links() {
	(cd "$1" && find . -type l -printf '%p -> %l\n' | LC_ALL=C sort)
}

# assert_same_links A B: the same symlinks with the same target bytes.
assert_same_links() {
	assert_same_by tree_links links "$1" "$2"
}

# A tree with links of every sort: in the tree, dangling, up and out of it,
# absolute; and two hard links.
make_link_tree() {
	mkdir -p "$SRC/t/sub/deep"
	head -c 100000 /dev/urandom >"$SRC/t/a"
	echo b >"$SRC/t/sub/b"
	ln -s a "$SRC/t/rel"
	ln -s nowhere "$SRC/t/dangling"
	ln -s ../a "$SRC/t/sub/up"
	ln -s ../../outside "$SRC/t/sub/out"
	ln -s "../../../..$BATS_TEST_TMPDIR" "$SRC/t/sub/deep/far"
	ln -s /etc/passwd "$SRC/t/abs"
	ln -s 'odd name
with newline' "$SRC/t/odd"
	ln "$SRC/t/a" "$SRC/t/sub/a2"
	ln "$SRC/t/a" "$SRC/t/sub/deep/a3"
}

# skipped_paths JSON: the sorted paths of its skipped_entries.
skipped_paths() {
	echo "$1" | jq -r '.skipped_entries[].path' | LC_ALL=C sort | tr '\n' ' '
}

@test "without -l symbolic links are skipped and listed in skipped_entries; exit 0" {
	make_link_tree
	start_recv --json
	run_send --separate-stderr 0 --json -r "$SRC/t"
	wait_recv 0
	[ "$(skipped_paths "$output")" = "t/abs t/dangling t/odd t/rel t/sub/deep/far t/sub/out t/sub/up " ]
	[ "$(echo "$output" | jq -r '.skipped_entries[0].reason')" = "symbolic link" ]
	[ -z "$(find "$DST" -type l)" ]
	assert_same_tree "$SRC" "$DST"
	# Without -H, the three names of one file arrive as three files.
	[ "$(stat -c %h "$DST/t/a")" = 1 ]
}

@test "-l sends links verbatim; recv skips the unsafe ones by default and lists them on both ends" {
	make_link_tree
	start_recv --json
	run_send --separate-stderr 0 --json -r -l "$SRC/t"
	wait_recv 0
	assert_same_tree "$SRC" "$DST"
	# t/sub/out leaves t but not DIR: the receiver's tree is DIR.
	[ "$(readlink "$DST/t/rel")" = a ]
	[ "$(readlink "$DST/t/dangling")" = nowhere ]
	[ "$(readlink "$DST/t/sub/up")" = ../a ]
	[ "$(readlink "$DST/t/sub/out")" = ../../outside ]
	[ "$(readlink "$DST/t/odd")" = "$(readlink "$SRC/t/odd")" ]
	[ ! -e "$DST/t/abs" ] && [ ! -L "$DST/t/abs" ]
	[ ! -L "$DST/t/sub/deep/far" ]
	[ "$(skipped_paths "$output")" = "t/abs t/sub/deep/far " ]
	[[ "$(echo "$output" | jq -r '.skipped_entries[0].reason')" == *"unsafe symbolic link"* ]]
	recv_json=$(cat "$BATS_TEST_TMPDIR/recv.out")
	[ "$(skipped_paths "$recv_json")" = "t/abs t/sub/deep/far " ]
	[ "$(json_field "$recv_json" skipped)" = 2 ]
	no_temp_files "$DST"
}

@test "recv --unsafe-links keeps every link, byte for byte" {
	make_link_tree
	start_recv --unsafe-links
	run_send 0 -r -l "$SRC/t"
	wait_recv 0
	assert_same_tree "$SRC" "$DST"
	assert_same_links "$SRC" "$DST"
}

@test "--safe-links: the sender drops links that are absolute or leave the PATH's tree" {
	make_link_tree
	start_recv --unsafe-links
	run_send --separate-stderr 0 --json -r -l --safe-links "$SRC/t"
	wait_recv 0
	[ "$(skipped_paths "$output")" = "t/abs t/sub/deep/far t/sub/out " ]
	[ "$(echo "$output" | jq -r '.skipped_entries[0].reason')" = "unsafe symbolic link (--safe-links)" ]
	[ "$(readlink "$DST/t/sub/up")" = ../a ]
	[ ! -L "$DST/t/sub/out" ] && [ ! -L "$DST/t/abs" ]
	assert_same_tree "$SRC" "$DST"
}

@test "--safe-links without -l is a usage error" {
	run_ktlscp 2 send 127.0.0.1:1 --safe-links "$SRC"
	[[ "$output" == *"--safe-links needs -l"* ]]
}

@test "-H: several names of one file arrive as one inode, across batches too" {
	make_link_tree
	# 300 files between the first name and the last: another batch.
	mkdir "$SRC/t/many"
	for i in $(seq 1 300); do echo "$i" >"$SRC/t/many/f$i"; done
	ln "$SRC/t/a" "$SRC/t/many/zz-last"
	start_recv --json
	run_send --separate-stderr 0 --json -r -H "$SRC/t"
	wait_recv 0
	assert_same_tree "$SRC" "$DST"
	ino=$(stat -c %i "$DST/t/a")
	[ "$(stat -c %h "$DST/t/a")" = 4 ]
	for n in t/sub/a2 t/sub/deep/a3 t/many/zz-last; do
		[ "$(stat -c %i "$DST/$n")" = "$ino" ]
	done
	[ "$(stat -c %h "$DST/t/many/f1")" = 1 ]
	no_temp_files "$DST"
}

@test "-l -H with --target, --verify and -p; then -n and --update --resume skip links as files, list them, remake a changed one" {
	make_link_tree
	touch -h -d '2001-02-03 04:05:06' "$SRC/t/rel"
	start_recv -k
	run_send 0 -r -l -H -p --verify -t into "$SRC/t"
	assert_same_tree "$SRC/t" "$DST/into/t"
	[ "$(readlink "$DST/into/t/rel")" = a ]
	[ "$(stat -c %Y "$DST/into/t/rel")" = "$(stat -c %Y "$SRC/t/rel")" ]
	[ "$(stat -c %i "$DST/into/t/a")" = "$(stat -c %i "$DST/into/t/sub/a2")" ]
	run_send --separate-stderr 0 --json -r -l -H -n -t into "$SRC/t"
	echo "$output" | jq -e '.skipped_entries | map(select(.path == "into/t/rel" and .reason == "it exists on the receiver (-n)")) | length == 1'
	echo "$output" | jq -e '.skipped_entries | map(select(.path == "into/t/sub/a2")) | length == 1'
	[ "$(json_field "$output" files)" = 0 ]
	assert_same_tree "$SRC/t" "$DST/into/t"
	# --update with --resume: nothing is older, links included (by their
	# own times); a link replaced by a newer one is made again.
	run_send --separate-stderr 0 --json -r -l -H -p --update --resume -t into "$SRC/t"
	[ "$(json_field "$output" files)" = 0 ]
	echo "$output" | jq -e '.skipped_entries | map(select(.path == "into/t/rel")) | length == 1'
	rm "$SRC/t/rel"
	ln -s sub/b "$SRC/t/rel"
	run_send 0 -r -l -H -p --update --resume -t into "$SRC/t"
	[ "$(readlink "$DST/into/t/rel")" = sub/b ]
	assert_same_tree "$SRC/t" "$DST/into/t"
	no_temp_files "$DST"
}

@test "recv --stdout: links are skipped (listed), file bodies still arrive" {
	mkdir -p "$SRC/t"
	echo one >"$SRC/t/f"
	ln -s f "$SRC/t/l"
	ln "$SRC/t/f" "$SRC/t/h"
	start_recv --stdout
	run_send --separate-stderr 0 --json -r -l -H "$SRC/t"
	wait_recv 0
	[ "$(cat "$BATS_TEST_TMPDIR/recv.out")" = one ]
	# Which of f and h is the file and which the link is readdir's order.
	[[ "$(skipped_paths "$output")" == @("t/f t/l "|"t/h t/l ") ]]
}

@test "special files are listed in skipped_entries; exit 0 for skips, 6 when a source is missing" {
	mkdir -p "$SRC/t"
	echo x >"$SRC/t/f"
	mkfifo "$SRC/t/fifo"
	start_recv
	run_send --separate-stderr 6 --json -r -l "$SRC/t" "$SRC/missing"
	wait_recv 0
	echo "$output" | jq -e '.skipped_entries == [{"path":"t/fifo","reason":"FIFO"}]'
	echo "$output" | jq -e '.failures | length == 1'
	[ "$(json_field "$output" exit_code)" = 6 ]
	assert_same_file "$SRC/t/f" "$DST/t/f"
}

@test "a link sent earlier never redirects a file or directory sent later (ktlscp's own sender)" {
	mkdir -p "$BATS_TEST_TMPDIR/outside" "$SRC/one" "$SRC/two/esc/sub"
	ln -s "$BATS_TEST_TMPDIR/outside" "$SRC/one/esc"
	ln -s .. "$SRC/one/up"
	echo pwn >"$SRC/two/esc/f"
	echo pwn >"$SRC/two/esc/sub/g"
	start_recv -k --unsafe-links
	run_send 0 -r -l -t x "$SRC/one"
	[ -L "$DST/x/one/esc" ]
	# The same names, now as a directory with files: refused, not followed.
	mkdir -p "$SRC/three/one"
	cp -r "$SRC/two/esc" "$SRC/three/one/"
	mkdir -p "$SRC/three/one/up"
	echo pwn >"$SRC/three/one/up/h"
	run_send 5 -r -t x "$SRC/three/one"
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/outside")" ]
	[ ! -e "$DST/x/h" ] && [ ! -e "$DST/h" ]
	[ -L "$DST/x/one/esc" ] && [ -L "$DST/x/one/up" ]
	no_temp_files "$DST"
}

@test "hostile sender: link entries without -l/-H in HELLO are a protocol error" {
	start_recv
	forge entries plain "l:a=b"
	wait_recv 5
	[[ "$output" == *ERROR* ]]
	[ -z "$(ls -A "$DST")" ]
}

@test "hostile sender: a hard link to a path outside DIR, or to a file it did not send, is refused" {
	echo secret >"$DST/mine"
	start_recv
	forge entries links "h:x=../etc/passwd"
	wait_recv 5
	[[ "$output" == *ERROR* ]]
	start_recv
	forge entries links "h:x=mine" "h:y=mine/../mine"
	wait_recv 5
	start_recv
	forge entries links "h:x=mine"
	wait_recv 5
	[[ "$output" == *"DONE 1 failed"* ]]
	[ ! -e "$DST/x" ]
	[ "$(stat -c %h "$DST/mine")" = 1 ]
}

@test "hostile sender: links first, then files and directories through them, in one batch and in the next transfer" {
	outside=$BATS_TEST_TMPDIR/outside
	mkdir -p "$outside"
	start_recv -k --unsafe-links
	# One batch: the link comes first in the manifest, the file under
	# its name after it.
	forge entries links "l:esc=$outside" "f:esc/pwn:4" "h:esc/h=esc/pwn"
	[[ "$output" == *DONE* ]] || { echo "forge saw: $output"; false; }
	[ ! -L "$DST/esc" ]
	# Links alone; then, in the next transfer, everything through them.
	forge entries links "l:out=$outside" "l:up=.." "l:deep=../../.."
	[[ "$output" == *"ACK accept accept accept"*"DONE 0 failed"* ]] || { echo "forge saw: $output"; false; }
	[ "$(readlink "$DST/out")" = "$outside" ]
	forge entries links "f:out/pwn:4" "d:out/d" "f:up/pwn:4" "d:up/d" "f:deep/x/pwn:4" "h:out/h=esc/pwn"
	[[ "$output" == *"DONE 6 failed"* ]] || { echo "forge saw: $output"; false; }
	kill "$RECV_PID"
	[ -z "$(ls -A "$outside")" ]
	[ ! -e "$BATS_TEST_TMPDIR/pwn" ] && [ ! -e "$BATS_TEST_TMPDIR/d" ] && [ ! -e "$BATS_TEST_TMPDIR/x" ]
	[ -L "$DST/out" ] && [ -L "$DST/up" ] && [ -L "$DST/deep" ]
	# Whatever was stored is beneath DIR, as a real file.
	for f in $(cd "$DST" && find . -type f); do
		[ "$(cat "$DST/$f")" = xxxx ]
	done
	[ "$(cd "$DST" && find . -type f | sort | tr '\n' ' ')" = "./esc/h ./esc/pwn " ]
	no_temp_files "$DST"
}

@test "hostile sender: an unsafe link is skipped by default, a NUL or empty target is malformed" {
	start_recv --json
	forge entries links "l:a=/etc" "l:b=../x" "l:c=ok"
	wait_recv 0
	[[ "$output" == *"ACK skip skip accept"* ]]
	[ ! -L "$DST/a" ] && [ ! -L "$DST/b" ] && [ "$(readlink "$DST/c")" = ok ]
	start_recv
	forge entries links "l:e="
	wait_recv 5
}
