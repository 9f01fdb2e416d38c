#!/usr/bin/env bats
# Output for logs and machines: --progress=lines (a line per entry and
# total lines, no carriage return or escape) and --json-progress
# (newline-delimited JSON events, the --json summary last), on both ends.
# (cp's are in cp.bats, where an sshd runs.)

load helpers

# A small tree: three files (one empty) in two directories.
make_tree() {
	mkdir -p "$SRC/tree/sub"
	head -c 1500000 /dev/urandom >"$SRC/tree/big"
	echo small >"$SRC/tree/sub/small"
	: >"$SRC/tree/empty"
}

# assert_ndjson TEXT: every line of TEXT is one JSON object.
assert_ndjson() {
	local l n=0
	while IFS= read -r l; do
		n=$((n + 1))
		jq -e 'type == "object"' >/dev/null 2>&1 <<<"$l" || { echo "line $n is not a JSON object: $l"; return 1; }
	done <<<"$1"
	[ "$n" -gt 0 ]
}

@test "--progress=lines: a line per file and a total line on both ends, no carriage return or escape" {
	make_tree
	start_recv --progress=lines
	run_send --separate-stderr 0 -r --progress=lines "$SRC/tree"
	wait_recv 0
	assert_same_tree "$SRC/tree" "$DST/tree"
	[ -z "$output" ]	# stdout carries nothing
	recv_err=$(cat "$BATS_TEST_TMPDIR/recv.err")
	for err in "$stderr" "$recv_err"; do
		grep -qx 'ktlscp: tree/big: ok, 1500000 bytes' <<<"$err" || { echo "$err"; false; }
		grep -qx 'ktlscp: tree/sub/small: ok, 6 bytes' <<<"$err"
		grep -qx 'ktlscp: tree/empty: ok, 0 bytes' <<<"$err"
		grep -Eqx 'ktlscp: total: 3 files, 1500006 bytes in [0-9.]+ s, .+/s' <<<"$err"
		[[ "$err" != *$'\r'* && "$err" != *$'\e'* ]] || { cat -A <<<"$err"; false; }
	done
	# The one-line summary still ends the run.
	[[ "${stderr_lines[-1]}" == "ktlscp: sent 3 files "* ]]
}

@test "--progress=lines on a terminal: lines still, no meter" {
	command -v script >/dev/null || skip "no script(1)"
	make_tree
	start_recv
	script -qec "$(printf '%q ' "$KTLSCP" send -r --progress=lines "127.0.0.1:$RECV_PORT" "$SRC/tree")" /dev/null \
		>"$BATS_TEST_TMPDIR/pty.out"
	wait_recv 0
	assert_same_tree "$SRC/tree" "$DST/tree"
	# The terminal ends each line with \r\n; there is no other \r.
	sed 's/\r$//' "$BATS_TEST_TMPDIR/pty.out" >"$BATS_TEST_TMPDIR/pty.txt"
	grep -qx 'ktlscp: tree/big: ok, 1500000 bytes' "$BATS_TEST_TMPDIR/pty.txt"
	grep -q '^ktlscp: total: 3 files' "$BATS_TEST_TMPDIR/pty.txt"
	! grep -q $'[\r\e]' "$BATS_TEST_TMPDIR/pty.txt" || { cat -A "$BATS_TEST_TMPDIR/pty.out"; false; }
}

@test "--progress=lines: a skipped or refused entry's line says why, once; a missing source keeps its line" {
	make_tree
	mkfifo "$SRC/tree/fifo"
	start_recv --max-size 1M
	run_send --separate-stderr 5 -r --progress=lines "$SRC/tree" "$SRC/missing"
	wait_recv
	assert_same_file "$SRC/tree/sub/small" "$DST/tree/sub/small"
	[ ! -e "$DST/tree/big" ]
	grep -qx 'ktlscp: tree/fifo: skipped (FIFO)' <<<"$stderr" || { echo "$stderr"; false; }
	grep -Eqx 'ktlscp: tree/big: failed \(rejected by the receiver: .+\)' <<<"$stderr"
	grep -qx "ktlscp: $SRC/missing: No such file or directory" <<<"$stderr"
	grep -qx 'ktlscp: tree/sub/small: ok, 6 bytes' <<<"$stderr"
	# One line per entry: the record replaces the usual message.
	[ "$(grep -c 'tree/fifo' <<<"$stderr")" -eq 1 ]
	[ "$(grep -c 'tree/big:' <<<"$stderr")" -eq 1 ]
	[ "$(grep -c "^ktlscp: $SRC/missing:" <<<"$stderr")" -eq 1 ]
	grep -Eqx 'ktlscp: total: 2 files, 6 bytes in [0-9.]+ s, .+/s' <<<"$stderr"
}

@test "--json-progress: NDJSON on both ends, a file event per file with its bytes, the --json summary last" {
	make_tree
	start_recv --json-progress
	run_send --separate-stderr 0 -r --json-progress "$SRC/tree"
	wait_recv 0
	assert_same_tree "$SRC/tree" "$DST/tree"
	send_out=$output
	recv_out=$(cat "$BATS_TEST_TMPDIR/recv.out")
	for out in "$send_out" "$recv_out"; do
		assert_ndjson "$out"
		head -n1 <<<"$out" | jq -e --arg m "$(expected_mode)" \
			'.event == "start" and (.peer | test("^127\\.0\\.0\\.1:")) and .tls_version != null
			 and .ktls_tx == $m and .ktls_rx == $m' >/dev/null
		[ "$(jq -c 'select(.event == "file")' <<<"$out" | wc -l)" -eq 3 ]
		jq -s -e 'map(select(.event == "file")) | map({(.name): [.bytes, .result]}) | add ==
			{"tree/big": [1500000, "ok"], "tree/sub/small": [6, "ok"], "tree/empty": [0, "ok"]}' \
			<<<"$out" >/dev/null || { echo "$out"; false; }
		tail -n1 <<<"$out" | jq -e 'has("event") | not' >/dev/null
		tail -n1 <<<"$out" | jq -e '.status == "ok" and .files == 3 and .bytes == 1500006' >/dev/null
		# Only the last line is the summary.
		[ "$(jq -c 'select(has("event") | not)' <<<"$out" | wc -l)" -eq 1 ]
	done
	jq -e '.role == "send"' <<<"$(tail -n1 <<<"$send_out")" >/dev/null
	jq -e '.role == "recv"' <<<"$(tail -n1 <<<"$recv_out")" >/dev/null

	# The last line has what --json prints for the same transfer: the same
	# keys in the same order.
	rm -rf "$DST/tree"
	start_recv --json
	run_send --separate-stderr 0 -r --json "$SRC/tree"
	wait_recv 0
	assert_same_tree "$SRC/tree" "$DST/tree"
	[ "$(tail -n1 <<<"$send_out" | jq -c keys_unsorted)" = "$(jq -c keys_unsorted <<<"$output")" ]
	[ "$(tail -n1 <<<"$recv_out" | jq -c keys_unsorted)" = \
		"$(jq -c keys_unsorted "$BATS_TEST_TMPDIR/recv.out")" ]
}

@test "--json-progress: skipped, refused and unreadable entries are file events with their cause" {
	make_tree
	mkfifo "$SRC/tree/fifo"
	start_recv --max-size 1M
	run_send --separate-stderr 5 -r --json-progress "$SRC/tree" "$SRC/missing"
	wait_recv
	assert_same_file "$SRC/tree/sub/small" "$DST/tree/sub/small"
	assert_ndjson "$output"
	# The start comes first, even before the source that failed before
	# connecting.
	head -n1 <<<"$output" | jq -e '.event == "start"' >/dev/null
	jq -s -e --arg miss "$SRC/missing" 'map(select(.event == "file")) | map({(.name): .}) | add |
		.["tree/fifo"].result == "skipped" and .["tree/fifo"].reason == "FIFO" and
		.["tree/big"].result == "failed" and (.["tree/big"].error | test("rejected by the receiver")) and
		.[$miss].result == "failed" and .["tree/sub/small"].result == "ok" and .["tree/sub/small"].bytes == 6' \
		<<<"$output" >/dev/null || { echo "$output"; false; }
	[ "$(jq -c 'select(.event == "file")' <<<"$output" | wc -l)" -eq 5 ]
	tail -n1 <<<"$output" | jq -e '.status == "error" and .exit_code == 5 and .failed == 2 and .skipped == 1' \
		>/dev/null || { echo "$output"; false; }
}

@test "standard input: the line, the event and the total count every byte, on both ends" {
	head -c 123456 /dev/urandom >"$SRC/part"
	start_recv --progress=lines
	run_ktlscp --separate-stderr 0 send --progress=lines --json-progress --name piped "127.0.0.1:$RECV_PORT" - \
		<"$SRC/part"
	wait_recv 0
	assert_same_file "$SRC/part" "$DST/piped"
	for err in "$stderr" "$(cat "$BATS_TEST_TMPDIR/recv.err")"; do
		grep -qx 'ktlscp: piped: ok, 123456 bytes' <<<"$err" || { echo "$err"; false; }
		grep -Eqx 'ktlscp: total: 1 file, 123456 bytes in [0-9.]+ s, .+/s' <<<"$err" || { echo "$err"; false; }
	done
	jq -s -e 'map(select(.event == "file")) == [{"event": "file", "name": "piped", "bytes": 123456, "result": "ok"}]' \
		<<<"$output" >/dev/null
}

@test "a paced transfer: a total line every 10 s with lines, progress events every second with JSON" {
	head -c 4500000 /dev/urandom >"$SRC/paced"
	start_recv
	run_send --separate-stderr 0 --progress=lines --json-progress --limit-rate 300k "$SRC/paced"
	wait_recv 0
	assert_same_file "$SRC/paced" "$DST/paced"
	assert_ndjson "$output"
	grep -Eq '^ktlscp: total so far: 0 files, [0-9]+ bytes in 1[0-9]\.[0-9] s, ' <<<"$stderr" || { echo "$stderr"; false; }
	grep -qx 'ktlscp: paced: ok, 4500000 bytes' <<<"$stderr"
	grep -Eqx 'ktlscp: total: 1 file, 4500000 bytes in [0-9.]+ s, .+/s' <<<"$stderr"
	[[ "$stderr" != *$'\r'* ]]
	# Progress while the file was in flight: several events, bytes (what
	# the receiver acknowledged) and elapsed growing, never past the file.
	# On the kernel path a paced file goes in 8 MiB sendfile() steps, each
	# blocking longer than a second at this rate, so there the events are
	# fewer (known gap, see the session-6 note); at least one must come.
	local min=4
	[ -z "${KTLSCP_IN_VM:-}" ] || min=1
	jq -s -e --argjson min "$min" 'map(select(.event == "progress")) | length >= $min and
		(map(.bytes) | . == sort and all(. <= 4500000)) and (map(.elapsed) | . == sort) and
		(.[0].files == 0 and .[0].bytes < 4500000)' <<<"$output" >/dev/null || { echo "$output"; false; }
}

@test "--progress: an unknown mode is a usage error; a bare --progress takes no value; --json-progress not with -k, --raw or --stdout" {
	echo hi >"$SRC/hi"
	run_ktlscp --separate-stderr 2 send --progress=fancy 127.0.0.1:1 "$SRC/hi"
	[[ "$stderr" == *"--progress=fancy: expected bar, lines or none"* ]]
	[ -z "$output" ]
	run_ktlscp --separate-stderr 2 recv --json-progress -k "$DST"
	[[ "$stderr" == *"--json-progress"*"-k"* ]]
	[ -z "$output" ]
	run_ktlscp 2 recv --json-progress --stdout
	run_ktlscp 2 send --json-progress --raw 127.0.0.1:1 "$SRC/hi"
	run_ktlscp 2 send --listen -k --json-progress "$SRC/hi"
	# "--progress HOST PATH": HOST is the receiver, not --progress's value.
	start_recv
	run_send 0 --progress "$SRC/hi"
	wait_recv 0
	assert_same_file "$SRC/hi" "$DST/hi"
}

@test "the config file's Progress sets the mode; the command line wins" {
	mkdir -p "$XDG_CONFIG_HOME/ktlscp"
	chmod 700 "$XDG_CONFIG_HOME" "$XDG_CONFIG_HOME/ktlscp"
	printf 'Progress lines\n' >"$XDG_CONFIG_HOME/ktlscp/config"
	chmod 600 "$XDG_CONFIG_HOME/ktlscp/config"
	echo hi >"$SRC/hi"
	start_recv
	run_send --separate-stderr 0 "$SRC/hi"
	wait_recv 0
	assert_same_file "$SRC/hi" "$DST/hi"
	grep -qx 'ktlscp: hi: ok, 3 bytes' <<<"$stderr"
	grep -qx 'ktlscp: hi: ok, 3 bytes' "$BATS_TEST_TMPDIR/recv.err"
	rm "$DST/hi"
	start_recv
	run_send --separate-stderr 0 --progress=none "$SRC/hi"
	wait_recv 0
	assert_same_file "$SRC/hi" "$DST/hi"
	! grep -q 'ok, 3 bytes' <<<"$stderr"
	printf 'Progress fancy\n' >"$XDG_CONFIG_HOME/ktlscp/config"
	run_ktlscp --separate-stderr 2 send 127.0.0.1:1 "$SRC/hi"
	[[ "$stderr" == *"config:1: Progress fancy: expected bar, lines or none"* ]]
}

@test "every key of the progress events is described in the man page's JSON SUMMARY" {
	[ -z "${KTLSCP_IN_VM:-}" ] || skip "kernel-independent; the native lanes run it"
	local man=${KTLSCP_SRCDIR:-$BATS_TEST_DIRNAME/..}/man/ktlscp.1 section key missing=
	mkdir "$SRC/d"
	head -c 3000000 /dev/urandom >"$SRC/d/f"
	mkfifo "$SRC/d/fifo"
	start_recv
	run_send --separate-stderr 6 -r --json-progress --limit-rate 2M "$SRC/d" "$SRC/missing"
	wait_recv
	section=$(sed -n '/^\.SS Progress events/,/^\.SH /p' "$man")
	[ -n "$section" ]
	for ev in start file progress; do
		jq -s -e --arg e "$ev" 'any(.[]; .event == $e)' <<<"$output" >/dev/null || { echo "no $ev event: $output"; false; }
	done
	for key in $(jq -r 'select(has("event")) | keys[]' <<<"$output" | sort -u); do
		grep -qwF -- "$key" <<<"$section" || missing="$missing $key"
	done
	[ -z "$missing" ] || { echo "not in Progress events:$missing"; false; }
}
