#!/usr/bin/env bats
# send --verify: each file's SHA-256, read from the source by the sender and
# taken from the bytes the receiver wrote, must agree before the file gets
# its final name.

load helpers

# json_line: the JSON object among the output lines of the last run_send.
json_line() {
	echo "$output" | grep '^{'
}

@test "--verify: files and a tree arrive byte-exact and both ends count them verified" {
	mkdir -p "$SRC/tree/sub" "$SRC/tree/empty dir"
	head -c 12000000 /dev/urandom >"$SRC/tree/big"
	head -c 70000 /dev/urandom >"$SRC/tree/sub/small"
	: >"$SRC/tree/sub/zero"
	start_recv --json
	run_send 0 -r --verify --json "$SRC/tree"
	wait_recv 0
	assert_same_tree "$SRC/tree" "$DST/tree"
	json_line | jq -e --arg m "$(expected_mode)" \
		'.verified == 3 and .files == 3 and .status == "ok" and .ktls_tx == $m' >/dev/null
	jq -e --arg m "$(expected_mode)" '.verified == 3 and .files == 3 and .ktls_rx == $m' \
		"$BATS_TEST_TMPDIR/recv.out" >/dev/null
	no_temp_files "$DST"
}

@test "--verify on the receiver's splice path hashes what it reads back from the file" {
	skip_unless_ktls "the receiver's splice path needs kTLS"
	head -c 5000000 /dev/urandom >"$SRC/f"
	head -c 3000000 /dev/urandom >"$SRC/g"
	head -c 1000000 "$SRC/g" >"$DST/$(partial_of g)"
	KTLSCP_RX_PATH=splice start_recv --json
	run_send 0 --verify --resume --json "$SRC/f" "$SRC/g"
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
	assert_same_file "$SRC/g" "$DST/g"
	jq -e '.rx_path == "splice" and .verified == 2' "$BATS_TEST_TMPDIR/recv.out" >/dev/null
	json_line | jq -e '.resumed == 1000000 and .verified == 2' >/dev/null
}

@test "without --verify the JSON says verified 0" {
	echo data >"$SRC/f"
	start_recv
	run_send 0 --json "$SRC/f"
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
	[ "$(json_field "$(json_line)" verified)" = 0 ]
}

@test "--verify with --resume checks the whole file, the kept prefix included" {
	head -c 3000000 /dev/urandom >"$SRC/f"
	head -c 1234567 "$SRC/f" >"$DST/$(partial_of f)"
	start_recv
	run_send 0 --resume --verify --json "$SRC/f"
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
	json_line | jq -e '.resumed == 1234567 and .verified == 1' >/dev/null
	no_temp_files "$DST"
}

@test "--verify with -p, -n and --update: skipped files need no hash" {
	head -c 500000 /dev/urandom >"$SRC/new"
	echo old >"$SRC/kept"
	echo theirs >"$DST/kept"
	chmod 640 "$SRC/new"
	touch -d '2001-02-03 04:05:06' "$SRC/new"
	start_recv
	run_send 0 -p -n --verify --json "$SRC/new" "$SRC/kept"
	wait_recv
	assert_same_file "$SRC/new" "$DST/new"
	[ "$(cat "$DST/kept")" = theirs ]
	[ "$(stat -c %a.%Y "$DST/new")" = "$(stat -c %a.%Y "$SRC/new")" ]
	json_line | jq -e '.verified == 1 and .skipped == 1 and .files == 1' >/dev/null
	start_recv
	run_send 0 --update --verify --json "$SRC/new" "$SRC/kept"
	wait_recv
	json_line | jq -e '.verified == 0 and .skipped == 2' >/dev/null
}

@test "--verify on standard input and into recv --stdout" {
	head -c 3000000 /dev/urandom >"$SRC/data"
	start_recv --json
	run_send 0 --verify --json --name data - < <(cat "$SRC/data")
	wait_recv
	assert_same_file "$SRC/data" "$DST/data"
	json_line | jq -e '.verified == 1' >/dev/null
	jq -e '.verified == 1' "$BATS_TEST_TMPDIR/recv.out" >/dev/null
	start_recv --stdout
	run_send 0 --verify --json - "$SRC/data" < <(cat "$SRC/data")
	wait_recv 0
	cat "$SRC/data" "$SRC/data" >"$BATS_TEST_TMPDIR/twice"
	assert_same_file "$BATS_TEST_TMPDIR/twice" "$BATS_TEST_TMPDIR/recv.out"
	json_line | jq -e '.verified == 2' >/dev/null
}

# A partial kept for --resume is offered (with its prefix hash) when the
# batch is acknowledged, but read back only when its body starts.  Another
# process on the receiver that changes it in between -- here while a slow
# first file is still arriving -- corrupts the result in a way nothing but
# an end-to-end check can see.
corrupt_partial_during_transfer() {
	head -c 8000000 /dev/urandom >"$SRC/slow"
	head -c 2000000 /dev/urandom >"$SRC/x"
	head -c 1000000 "$SRC/x" >"$DST/$(partial_of x)"
	start_recv
	"$KTLSCP" send --resume --limit-rate 1M "$@" "127.0.0.1:$RECV_PORT" "$SRC/slow" "$SRC/x" \
		>"$BATS_TEST_TMPDIR/send.out" 2>"$BATS_TEST_TMPDIR/send.err" &
	SEND_PID=$!
	wait_file "$DST/$(partial_of slow)"
	# Byte 10 of the kept prefix, changed in place (different from before).
	old=$(od -An -tu1 -j10 -N1 "$DST/$(partial_of x)" | tr -d ' ')
	printf "\\$(printf %o $(( (old + 1) % 256 )))" |
		dd of="$DST/$(partial_of x)" bs=1 seek=10 conv=notrunc 2>/dev/null
	SEND_RC=0
	wait "$SEND_PID" || SEND_RC=$?
	wait_recv
}

@test "--verify catches a kept prefix changed on the receiver mid-transfer: exit 5 both ends, nothing under the name" {
	corrupt_partial_during_transfer --verify
	cat "$BATS_TEST_TMPDIR/send.err" "$BATS_TEST_TMPDIR/recv.err"
	[ "$SEND_RC" -eq 5 ]
	[ "$RECV_RC" -eq 5 ]
	grep -q "^ktlscp: x: not stored by the receiver: content differs from the sender's file (SHA-256 mismatch)" \
		"$BATS_TEST_TMPDIR/send.err"
	grep -q "^ktlscp: x: SHA-256 of the received bytes differs from the sender's file; not stored" \
		"$BATS_TEST_TMPDIR/recv.err"
	[ ! -e "$DST/x" ]
	[ ! -e "$DST/$(partial_of x)" ]
	assert_same_file "$SRC/slow" "$DST/slow"
}

@test "control: without --verify the same corruption lands under the final name" {
	corrupt_partial_during_transfer
	[ "$SEND_RC" -eq 0 ]
	[ "$RECV_RC" -eq 0 ]
	[ -f "$DST/x" ]
	! cmp -s "$SRC/x" "$DST/x"
}

@test "--verify with --raw is a usage error" {
	echo x >"$SRC/f"
	run_ktlscp 2 send --raw --verify 127.0.0.1:1 "$SRC/f"
	[[ "$output" == *"--verify"*"--raw"* ]]
}

@test "control: a sender whose SUMS are true gets its file stored (tests/forge speaks the wire)" {
	start_recv --json
	forge sums file good
	[ "$status" -eq 0 ] && [ "$output" = "DONE ok" ] || { echo "forge saw: $output"; false; }
	wait_recv 0
	[ "$(stat -c %s "$DST/lie.bin")" = 100000 ]
	jq -e '.verified == 1' "$BATS_TEST_TMPDIR/recv.out" >/dev/null
}

@test "a file whose bytes do not hash to the sender's SUMS is not stored, exit 5 naming it" {
	start_recv
	forge sums file bad
	[ "$output" = "DONE failed: content differs from the sender's file (SHA-256 mismatch)" ] ||
		{ echo "forge saw: $output"; false; }
	wait_recv 5
	grep -q "^ktlscp: lie.bin: SHA-256 of the received bytes differs from the sender's file; not stored" \
		"$BATS_TEST_TMPDIR/recv.err"
	[ -z "$(ls -A "$DST")" ]
}

@test "a stream whose SUMS lie is not stored either" {
	start_recv
	forge sums stream bad
	[[ "$output" == "DONE failed: content differs"* ]] || { echo "forge saw: $output"; false; }
	wait_recv 5
	[ -z "$(ls -A "$DST")" ]
}

@test "recv --stdout: a mismatch is reported with exit 5 although the bytes are out" {
	start_recv --stdout
	forge sums stream bad
	[[ "$output" == "DONE failed: content differs"* ]] || { echo "forge saw: $output"; false; }
	wait_recv 5
	grep -q "^ktlscp: lie.bin: SHA-256 of the received bytes differs from the sender's file; what went to standard output is wrong" \
		"$BATS_TEST_TMPDIR/recv.err"
}

@test "SUMS without the hash of a file sent whole is a protocol error" {
	start_recv
	forge sums file nosum
	[[ "$output" == "ERROR protocol violation: protocol error: SUMS lacks the hash"* ]] ||
		{ echo "forge saw: $output"; false; }
	wait_recv 5
	[ ! -e "$DST/lie.bin" ]
}

@test "recv refuses a HELLO option bit it does not know, naming the bits" {
	start_recv
	forge unknownbit
	[[ "$output" == "ERROR protocol violation: the sender asked for options this receiver does not know (HELLO option bits 0x80000000)"* ]] ||
		{ echo "forge saw: $output"; false; }
	wait_recv 5
	[ -z "$(ls -A "$DST")" ]
}
