#!/usr/bin/env bats
# Peers that authenticate but speak the protocol wrongly on purpose
# (tests/forge).  Against a hostile sender: nothing may appear outside DIR,
# nothing half-written under a final name, and the receiver exits 5 naming
# the peer.  Against a hostile receiver: the sender exits 5 (the peer broke
# the protocol or refused) or 3 (the connection was lost), with one line
# naming the peer, does not hang, and leaves its sources as they were.

load helpers

outside_listing() {
	ls -A "$BATS_TEST_TMPDIR"
}

expect_refused() {
	start_recv
	before=$(outside_listing)
	forge "$@"
	wait_recv 5
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

@test "recv refuses a 64 KiB name (the largest the length field holds)" {
	expect_refused longpath 65535
	grep -q "length limit" "$BATS_TEST_TMPDIR/recv.err"
}

@test "recv refuses a batch announcing 60000 entries, without crashing" {
	expect_refused announce
	grep -q "127.0.0.1:[0-9]*: protocol error: malformed manifest batch" "$BATS_TEST_TMPDIR/recv.err"
}

@test "recv escapes control characters of a hostile name when it prints it" {
	expect_refused path $'../\e[31mred\nline'
	grep -q 'x1b\[31mred\\x0aline' "$BATS_TEST_TMPDIR/recv.err"
	! grep -q $'\e' "$BATS_TEST_TMPDIR/recv.err"
}

@test "a sender that cuts the connection mid-file leaves nothing under the final name" {
	start_recv
	forge short
	wait_recv 5
	[ ! -e "$DST/short.bin" ]
	# Only the partial, for --resume, under its hidden name.
	[ -z "$(ls -A "$DST" | grep -v '^\.ktlscp-[0-9a-f]*\.part$')" ]
	grep -q "close_notify\|mid" "$BATS_TEST_TMPDIR/recv.err"
}

@test "garbage right after the handshake is a protocol error (exit 5)" {
	start_recv
	forge garbage
	wait_recv 5
	[ -z "$(ls -A "$DST")" ]
}

@test "a sender that sends more body bytes than it declared: exit 5, nothing under the final name" {
	start_recv
	before=$(outside_listing)
	forge extra
	wait_recv 5
	grep -q "127.0.0.1:[0-9]*: protocol error" "$BATS_TEST_TMPDIR/recv.err"
	[ ! -e "$DST/extra.bin" ]
	# At most the partial, holding no more than the 10 declared bytes.
	[ -z "$(ls -A "$DST" | grep -v '^\.ktlscp-[0-9a-f]*\.part$')" ]
	[ -z "$(find "$DST" -name '.ktlscp-*.part' -size +10c)" ]
	[ "$(outside_listing)" = "$before" ]
}

@test "a sender streaming 30000 entries past --max-files 1000 is cut off; what was stored is whole" {
	start_recv --max-files 1000
	before=$(outside_listing)
	forge flood 30000
	wait_recv 5
	grep -q "127.0.0.1:[0-9]*: the manifest exceeds 1000 entries; transfer refused" "$BATS_TEST_TMPDIR/recv.err"
	[[ "$output" == *"ERROR limit exceeded"* ]]
	[ "$(find "$DST" -type f | wc -l)" -le 1000 ]
	# Every file under a final name is the one byte "x" it was declared as.
	[ -z "$(find "$DST" -type f ! -size 1c)" ]
	[ -z "$(find "$DST" -type f -exec cat {} + | tr -d x)" ]
	no_temp_files "$DST"
	[ "$(outside_listing)" = "$before" ]
}

@test "a PLAN starting a body where no partial was offered is refused (exit 5)" {
	expect_refused plan-start 50
	grep -q "PLAN starts a body where no partial was offered" "$BATS_TEST_TMPDIR/recv.err"
}

@test "a PLAN starting past the receiver's partial is refused; the partial stays as it was" {
	part=$DST/$(partial_of f)
	head -c 30 /dev/urandom >"$part"
	sum=$(sha256sum <"$part")
	start_recv
	forge plan-start 60
	wait_recv 5
	grep -q "PLAN starts a body where no partial was offered" "$BATS_TEST_TMPDIR/recv.err"
	[ "$(sha256sum <"$part")" = "$sum" ]
	[ "$(ls -A "$DST")" = "$(basename "$part")" ]
}

@test "a PLAN for more entries than the batch has is refused (exit 5)" {
	expect_refused plan-count
	grep -q "protocol error: malformed PLAN" "$BATS_TEST_TMPDIR/recv.err"
}

@test "a symlink planted in DIR is never followed" {
	mkdir -p "$BATS_TEST_TMPDIR/outside"
	ln -s "$BATS_TEST_TMPDIR/outside" "$DST/link"
	mkdir -p "$SRC/link"
	echo payload >"$SRC/link/file"
	start_recv
	run_send 5 -r "$SRC/link"
	wait_recv
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/outside")" ]
	[ -L "$DST/link" ]
}

@test "a file sent over a planted symlink replaces the link, not its target" {
	echo precious >"$BATS_TEST_TMPDIR/target"
	ln -s "$BATS_TEST_TMPDIR/target" "$DST/name"
	echo new >"$SRC/name"
	start_recv
	run_send 0 "$SRC/name"
	wait_recv
	[ "$(cat "$BATS_TEST_TMPDIR/target")" = precious ]
	[ ! -L "$DST/name" ]
	assert_same_file "$SRC/name" "$DST/name"
}

# ---- a hostile receiver ---------------------------------------------------

# start_liar CASE: tests/forge as a receiver misbehaving as CASE says, in the
# background; sets RECV_PID and RECV_PORT.  What the sender told it is in
# forge.out.
start_liar() {
	: >"$BATS_TEST_TMPDIR/forge.err"
	"$KTLSCP_FORGE" recv "$TEST_TOKEN" "$1" >"$BATS_TEST_TMPDIR/forge.out" 2>"$BATS_TEST_TMPDIR/forge.err" &
	RECV_PID=$!
	wait_port "$BATS_TEST_TMPDIR/forge.err" || { cat "$BATS_TEST_TMPDIR/forge.err"; return 1; }
}

# send_to_liar CASE EXIT LINES [SEND-ARGS...]: send to the hostile receiver
# CASE (default: the files a and b of $SRC); the sender must exit EXIT well
# within the time limit, print LINES lines on stderr, the last naming the
# receiver, and leave $SRC unchanged (sha256).
send_to_liar() {
	# Not "lines": run sets that (to standard output's lines).
	local cs=$1 want=$2 nlines=$3 before
	shift 3
	[ $# -gt 0 ] || set -- "$SRC/a" "$SRC/b"
	before=$(tree_sums "$SRC")
	start_liar "$cs"
	run_send --separate-stderr "$want" --timeout 20 "$@"
	if [ "${#stderr_lines[@]}" -ne "$nlines" ] ||
		[[ "${stderr_lines[-1]}" != "ktlscp: 127.0.0.1:$RECV_PORT: "* ]]; then
		echo "case $cs: expected $nlines line(s) naming the receiver:" >&2
		printf '%s\n' "$stderr" >&2
		return 1
	fi
	wait_recv
	[ "$(tree_sums "$SRC")" = "$before" ] || { echo "case $cs: the sources changed" >&2; return 1; }
}

liar_sources() {
	head -c 300000 /dev/urandom >"$SRC/a"
	echo small >"$SRC/b"
	mkdir -p "$SRC/d"
	echo c >"$SRC/d/c"
}

@test "a receiver that closes right after the handshake: exit 5, not a hang" {
	liar_sources
	send_to_liar close 5 1
	[[ "$stderr" == *"peer closed the session early"* ]]
}

@test "a receiver that closes before answering: JSON counts and names each entry it never answered for" {
	liar_sources
	send_to_liar close 5 1 --json "$SRC/a" "$SRC/b"
	[ "$(json_field "$output" failed)" = 2 ] || { echo "$output"; false; }
	echo "$output" | jq -e '[.failures[] | .path + ": " + .error] ==
		["a: the transfer stopped before the receiver answered for it",
		 "b: the transfer stopped before the receiver answered for it"]'
}

@test "a receiver that resets the connection right after the handshake: exit 3" {
	liar_sources
	send_to_liar reset 3 1
	[[ "$stderr" == *"connection lost"* ]]
}

@test "a receiver that hangs up without close_notify: exit 5, cut short" {
	liar_sources
	send_to_liar fin 5 1
	[[ "$stderr" == *"without TLS close_notify"* ]]
}

@test "a receiver that answers garbage after the handshake: exit 5" {
	liar_sources
	send_to_liar garbage 5 1
	[[ "$stderr" == *"protocol error"* ]]
}

@test "a receiver that announces a 4 GiB message: exit 5 at once" {
	liar_sources
	send_to_liar huge 5 1
	[[ "$stderr" == *"bad message header (type 3)"* ]]
}

@test "a receiver that stalls after HELLO hits --timeout once: exit 3" {
	liar_sources
	before=$(tree_sums "$SRC")
	start_liar stall
	t0=$SECONDS
	run_send --separate-stderr 3 --timeout 5 "$SRC/a"
	# Once --timeout, not twice (the user-space path once waited in
	# recv() and then again in poll()).
	[ $((SECONDS - t0)) -lt 9 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == *"127.0.0.1:$RECV_PORT: timed out"* ]]
	wait_recv
	[ "$(tree_sums "$SRC")" = "$before" ]
}

@test "a receiver of another protocol version: exit 5, and it is told why" {
	liar_sources
	send_to_liar hello-version 5 1
	[[ "$stderr" == *"protocol version 2 is not supported"* ]]
	grep -q "^ERROR protocol violation: protocol version 2" "$BATS_TEST_TMPDIR/forge.out"
}

@test "a receiver's ERROR text is printed on one line with its control characters escaped" {
	liar_sources
	send_to_liar error-ctrl 5 1
	[[ "$stderr" == *'peer aborted: disk on fire\x1b[2J\x1b]0;owned\x07\x0d\x0aktlscp: all files stored\x08' ]]
	! printf '%s' "$stderr" | grep -q $'[\x01-\x09\x0b-\x1f\x7f]'
}

@test "an ACK resuming a file past its end is a protocol error (exit 5)" {
	liar_sources
	send_to_liar ack-beyond 5 1 --resume "$SRC/a" "$SRC/b"
	[[ "$stderr" == *"protocol error: a resume offset the sender did not ask for"* ]]
	grep -q "^ERROR protocol violation" "$BATS_TEST_TMPDIR/forge.out"
}

@test "an ACK resuming when the sender did not ask to: exit 5" {
	liar_sources
	send_to_liar ack-beyond 5 1
	[[ "$stderr" == *"a resume offset the sender did not ask for"* ]]
}

@test "an ACK resuming a directory entry: exit 5" {
	liar_sources
	send_to_liar ack-dir 5 1 --resume -r "$SRC/d"
	[[ "$stderr" == *"a resume offset the sender did not ask for"* ]]
}

@test "an ACK with an entry the batch does not have, or one too few: exit 5" {
	liar_sources
	send_to_liar ack-extra 5 1
	[[ "$stderr" == *"protocol error: malformed ACK"* ]]
	send_to_liar ack-fewer 5 1
	[[ "$stderr" == *"protocol error: malformed ACK"* ]]
}

@test "an ACK with a 16-byte prefix hash: exit 5" {
	liar_sources
	send_to_liar ack-hashlen 5 1 --resume "$SRC/a" "$SRC/b"
	[[ "$stderr" == *"protocol error: malformed ACK"* ]]
}

@test "an ACK for another batch: exit 5" {
	liar_sources
	send_to_liar ack-seq 5 1
	[[ "$stderr" == *"protocol error: malformed ACK"* ]]
}

@test "a DONE claiming files the receiver rejected: still exit 5, each file named" {
	liar_sources
	send_to_liar done-rejected 5 3
	[ "${stderr_lines[0]}" = "ktlscp: a: rejected by the receiver: permission denied on the receiver" ]
	[[ "${stderr_lines[1]}" == *"b: rejected by the receiver"* ]]
	[[ "${stderr_lines[2]}" == *"2 entries were not transferred"* ]]
}

@test "a DONE before the bodies were sent (a batch early): exit 5" {
	mkdir -p "$SRC/many"
	for i in $(seq 1 300); do echo "$i" >"$SRC/many/f$i"; done
	send_to_liar done-early 5 1 -r "$SRC/many"
	[[ "$stderr" == *"protocol error: unexpected message"* ]]
}

@test "a DONE with an entry too many, or for another batch: exit 5" {
	liar_sources
	send_to_liar done-extra 5 1
	[[ "$stderr" == *"protocol error: malformed DONE"* ]]
	send_to_liar done-seq 5 1
	[[ "$stderr" == *"protocol error: malformed DONE"* ]]
}

@test "a DONE failing one file names it: exit 5" {
	liar_sources
	# The file's line, how much got through, then the outcome.
	send_to_liar done-fail 5 3
	[ "${stderr_lines[0]}" = "ktlscp: a: not stored by the receiver: I/O error on the receiver" ]
	[[ "${stderr_lines[1]}" == "ktlscp: sent 1 of 2 files (6 B) to 127.0.0.1:$RECV_PORT in "* ]]
	[[ "${stderr_lines[-1]}" == *": 1 entry was not transferred: a: not stored by the receiver: I/O error on the receiver" ]]
}

@test "an ACK skipping files without -n or --update is a protocol error, not a success" {
	liar_sources
	send_to_liar ack-skip 5 1
	[[ "$stderr" == *"protocol error: a skip the sender did not ask for"* ]]
	grep -q "^ERROR protocol violation" "$BATS_TEST_TMPDIR/forge.out"
}

@test "a batch naming one path twice is refused before anything is done for it" {
	expect_refused entries plain d:sub f:a:4 f:sub:4
	grep -q 'protocol error: the path "sub" is twice in one batch; transfer refused' "$BATS_TEST_TMPDIR/recv.err"
	[[ "$output" == *"ERROR protocol violation"* ]]
	# --resume: a partial named 200 times is refused, not hashed 200 times.
	part=$DST/$(partial_of f)
	head -c 100000 /dev/urandom >"$part"
	sum=$(sha256sum <"$part")
	start_recv
	forge entries resume $(for i in $(seq 200); do echo f:f:200000; done)
	wait_recv 5
	grep -q 'the path "f" is twice in one batch' "$BATS_TEST_TMPDIR/recv.err"
	[ "$(sha256sum <"$part")" = "$sum" ]
}

# timed_recv OPTIONS...: a receiver into $DST whose CPU seconds (user and
# system, as bash's times prints them) go to recv.cpu when it exits.
timed_recv() {
	: >"$BATS_TEST_TMPDIR/recv.err"
	(
		"$KTLSCP" recv --port 0 --listen 127.0.0.1 "$@" "$DST" \
			>"$BATS_TEST_TMPDIR/recv.out" 2>"$BATS_TEST_TMPDIR/recv.err"
		rc=$?
		times | tail -1 >"$BATS_TEST_TMPDIR/recv.cpu"
		exit $rc
	) 3>&- &
	RECV_PID=$!
	wait_port "$BATS_TEST_TMPDIR/recv.err"
}

# cpu_user: the timed receiver's user CPU in whole seconds.
cpu_user() {
	sed 's/^\([0-9]*\)m\([0-9]*\)\..*/\1 \2/' "$BATS_TEST_TMPDIR/recv.cpu" | awk '{ print $1 * 60 + $2 }'
}

@test "a batch of 256 directories 128 deep costs the receiver little CPU (no quadratic sync)" {
	# A bound on our own bookkeeping, the same on any kernel, and minutes
	# under emulation: the native and ASan lanes run it.
	[ -z "${KTLSCP_IN_VM:-}" ] || skip "kernel-independent and slow under emulation; the native lanes run it"
	specs=()
	for k in $(seq 100 355); do
		p=$(printf 'x%.0s' $(seq 200))$k
		for j in $(seq 126); do p=$p/a; done
		specs+=("d:$p/z")
	done
	timed_recv
	# 32768 new directories are synced before DONE: on a busy machine that
	# takes longer than forge's usual 10 s wait (it is not CPU we spend).
	KTLSCP_FORGE_IDLE=120 FORGE_TIMEOUT=300 forge entries plain "${specs[@]}"
	[[ "$output" == *"DONE 0 failed"* ]] || { echo "forge saw: ...${output: -300}"; false; }
	wait_recv 0
	cat "$BATS_TEST_TMPDIR/recv.cpu"
	[ "$(cpu_user)" -lt 2 ]
}

@test "-p keeps each directory once: 60000 repeats of 256 long directories, little memory" {
	# A bound on our own bookkeeping, the same on any kernel, and minutes
	# under emulation: the native and ASan lanes run it.
	[ -z "${KTLSCP_IN_VM:-}" ] || skip "kernel-independent and slow under emulation; the native lanes run it"
	: >"$BATS_TEST_TMPDIR/recv.err"
	# The receiver's peak RSS in KiB, as getrusage(2) gives it for a child.
	python3 -c 'import resource, subprocess, sys
subprocess.call(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' \
		"$KTLSCP" recv --port 0 --listen 127.0.0.1 "$DST" \
		>"$BATS_TEST_TMPDIR/recv.rss" 2>"$BATS_TEST_TMPDIR/recv.err" 3>&- &
	RECV_PID=$!
	wait_port "$BATS_TEST_TMPDIR/recv.err"
	# Under load (ASan, the VM, a busy machine) the syncs take minutes.
	KTLSCP_FORGE_IDLE=120 FORGE_TIMEOUT=300 forge dirflood 60000
	[[ "$output" == *"SENT 60000"* ]] || { echo "forge saw: $output"; false; }
	wait_recv 0
	rss=$(tail -1 "$BATS_TEST_TMPDIR/recv.rss")
	echo "peak RSS $rss KiB"
	# ASan's quarantine alone holds hundreds of MB: the bound is checked
	# in the native and VM lanes.
	sanitized_build || [ "$rss" -lt 50000 ]
	[ "$(find "$DST" -mindepth 13 -maxdepth 13 -type d | wc -l)" -eq 256 ]
}
