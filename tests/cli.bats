#!/usr/bin/env bats
# The command line itself: help, version, info, and the man page covering
# every option that --help shows.

load helpers

MAN=${KTLSCP_SRCDIR:-$BATS_TEST_DIRNAME/..}/man/ktlscp.1

@test "ktlscp --help lists every command" {
	run_ktlscp 0 --help
	for c in send recv info id; do
		[[ "$output" == *"  $c "* ]]
	done
}

@test "each subcommand's --help shows its usage and options" {
	run_ktlscp 0 send --help
	[[ "$output" == *"HOST[:PORT] PATH..."* ]]
	[[ "$output" == *"--recursive"* && "$output" == *"--psk-file"* && "$output" == *"--json"* ]]
	run_ktlscp 0 recv --help
	[[ "$output" == *"[DIR]"* && "$output" == *"--listen"* && "$output" == *"--pin"* ]]
	run_ktlscp 0 info --help
	[[ "$output" == *"--json"* ]]
	run_ktlscp 0 id --help
}

@test "--version names GnuTLS and whether this kernel offers kTLS" {
	run_ktlscp 0 --version
	[[ "$output" == "ktlscp "* ]]
	[[ "$output" == *"GnuTLS 3."* ]]
	[[ "$output" == *"kernel TLS: "*"available"* ]]
}

@test "--version says what this build and this kernel offer, in text and JSON, each asked of the kernel" {
	run_ktlscp --separate-stderr 0 --version --json
	local v=$output
	echo "$v" | jq -e '(.version | type == "string") and (.openat2 | type == "boolean")' >/dev/null
	run_ktlscp --separate-stderr 0 info --json
	[ "$(echo "$v" | jq .ktls)" = "$(echo "$output" | jq .ktls)" ]
	run_ktlscp 0 --version
	[[ "${lines[0]}" == "ktlscp $(echo "$v" | jq -r .version)" ]]
	if have_ktls; then
		echo "$v" | jq -e '.ktls_ciphers | index("aes-128-gcm") != null' >/dev/null
		[[ "$output" == *"TLS 1.3 ciphers: "*"aes-128-gcm"* ]]
		if [ -n "${KTLSCP_EXPECT_REKEY:-}" ]; then
			[ "$(echo "$v" | jq .ktls_rekey)" = "$([ "$KTLSCP_EXPECT_REKEY" = yes ] && echo true || echo false)" ]
		fi
		# As root sock_diag tells the offload mode on every kernel with kTLS.
		if [ "$(id -u)" -eq 0 ]; then
			[ "$(echo "$v" | jq .ktls_sock_diag)" = true ]
			[[ "$output" == *"kTLS offload modes from sock_diag: yes"* ]]
		fi
	else
		echo "$v" | jq -e '.ktls_ciphers == [] and .ktls_rekey == null and .ktls_sock_diag == null' >/dev/null
		[[ "$output" == *"kTLS key updates (TLS 1.3 rekey): not asked (no kernel TLS)"* ]]
	fi
	[[ "$output" == *"openat2 (paths resolved beneath DIR in one call): "* ]]
	run_ktlscp 2 --version --verbose
	[[ "$output" == *"--version takes only --json, not '--verbose'"* ]]
}

@test "info says honestly whether kTLS is available, in text and JSON" {
	run_ktlscp 0 info
	[[ "$output" == *"kernel TLS: "* ]]
	run_ktlscp --separate-stderr 0 info --json
	echo "$output" | jq -e '.ktls | type == "boolean"' >/dev/null
	# Every interface's TLS offload features; lo never offloads.
	[ "$(echo "$output" | jq -r '.interfaces[] | select(.name == "lo") | ."tls-hw-tx-offload"')" = false ]
	[ "$(echo "$output" | jq -r '.interfaces[] | select(.name == "lo") | ."tls-hw-record"')" = false ]
	if have_ktls; then
		[ "$(json_field "$output" ktls)" = true ]
		[ "$(echo "$output" | jq '[.ciphers[] | select(.tx and .rx)] | length')" -ge 1 ]
		[ "$(echo "$output" | jq -r '.tls_stat | type')" = object ]
	else
		[ "$(json_field "$output" ktls)" = false ]
		[[ "$(json_field "$output" ktls_reason)" == *"tls module"* ]]
	fi
}

@test "every long option in --help is documented in the man page" {
	[ -z "${KTLSCP_IN_VM:-}" ] || skip "kernel-independent and slow under emulation; the native lanes run it"
	[ -f "$MAN" ]
	missing=
	for cmd in "" send recv cp info id; do
		for opt in $("$KTLSCP" $cmd --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
			case $opt in --help|--usage|--version) continue ;; esac
			esc=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
			grep -q -- "$esc" "$MAN" || missing="$missing $opt"
		done
	done
	[ -z "$missing" ] || { echo "not in the man page:$missing"; false; }
}

@test "every long option in --help has an example in the man page's EXAMPLES" {
	[ -z "${KTLSCP_IN_VM:-}" ] || skip "kernel-independent and slow under emulation; the native lanes run it"
	examples=$(sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$MAN")
	[ -n "$examples" ]
	missing=
	for cmd in send recv; do
		for opt in $("$KTLSCP" $cmd --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
			case $opt in --help|--usage|--version) continue ;; esac
			esc=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
			grep -q -- "$esc" <<<"$examples" || missing="$missing $opt"
		done
	done
	[ -z "$missing" ] || { echo "no example for:$missing"; false; }
}

@test "every exit status is documented in the man page" {
	for n in 0 1 2 3 4 5 6 7; do
		grep -q "^\.IP $n\$" "$MAN" || { echo "exit $n missing"; false; }
	done
}

@test "the man page renders without warnings" {
	command -v groff >/dev/null || skip "no groff"
	run groff -man -ww -z "$MAN"
	assert_exit 0
	[ -z "$output" ]
}

@test "popt alias files cannot change options (no ~/.popt read)" {
	echo 'ktlscp alias --evil --ktls=off' >"$HOME/.popt"
	run_ktlscp 2 send --evil 127.0.0.1 /etc/hostname
}

@test "id creates the configuration directory, never a missing home" {
	local gone=$BATS_TEST_TMPDIR/no-such-home
	HOME=$gone XDG_CONFIG_HOME='' run_ktlscp 6 id
	[[ "$output" == *"$gone"* ]]
	[[ "$output" == *"does not exist"* ]]
	[ ! -e "$gone" ]
	# Under an existing home, ~/.config/ktlscp is made, parents included.
	mkdir "$gone"
	HOME=$gone XDG_CONFIG_HOME='' run_ktlscp 0 id
	[ -f "$gone/.config/ktlscp/id.key" ]
	[ "$(stat -c %a "$gone/.config/ktlscp")" = 700 ]
}

@test "a receiver is not dumpable: another process of its user cannot read its memory" {
	local d=$BATS_TEST_TMPDIR/u pid owner i wrap=()
	if [ "$(id -u)" -eq 0 ]; then
		# As root, run it as nobody, in a directory nobody can reach
		# (the bats temporary directory is root's, mode 0700).
		command -v setpriv >/dev/null || skip "no setpriv"
		d=$(mktemp -d "${TMPDIR:-/tmp}/ktlscp-dump.XXXXXX")
		mkdir -p "$d/dst"
		chown -R 65534:65534 "$d"
		wrap=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	fi
	mkdir -p "$d/dst"
	HOME=$d XDG_CONFIG_HOME=$d/.config "${wrap[@]}" "$KTLSCP" recv --port 0 --listen 127.0.0.1 "$d/dst" \
		>"$BATS_TEST_TMPDIR/recv.out" 2>"$BATS_TEST_TMPDIR/recv.err" 3>&- &
	pid=$!
	for i in $(seq 1 100); do
		grep -q 'listening on' "$BATS_TEST_TMPDIR/recv.err" && break
		sleep 0.1
	done
	owner=$(stat -c %u "/proc/$pid/mem" || echo gone)
	kill "$pid"
	wait "$pid" || true
	[ "$d" = "$BATS_TEST_TMPDIR/u" ] || rm -rf "$d"
	grep -q 'listening on' "$BATS_TEST_TMPDIR/recv.err" || { cat "$BATS_TEST_TMPDIR/recv.err"; false; }
	# The kernel gives a non-dumpable process's /proc files to root.
	[ "$owner" -eq 0 ]
}

@test "recv into a directory it cannot write fails at once (exit 6), before listening" {
	local ro=$BATS_TEST_TMPDIR/ro wrap=()
	mkdir -p "$ro"
	if [ "$(id -u)" -eq 0 ]; then
		# Root writes anywhere: be nobody, for whom root's 0755 is read-only.
		command -v setpriv >/dev/null || skip "no setpriv"
		ro=$(mktemp -d "${TMPDIR:-/tmp}/ktlscp-ro.XXXXXX")
		chmod 0755 "$ro"
		wrap=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	else
		chmod 0555 "$ro"
	fi
	run timeout 10 "${wrap[@]}" "$KTLSCP" recv --port 0 --listen 127.0.0.1 "$ro" 3>&-
	[ "$ro" = "$BATS_TEST_TMPDIR/ro" ] || rm -rf "$ro"
	echo "$output"
	[ "$status" -eq 6 ]
	[[ "$output" == *"$ro: cannot receive into it: Permission denied"* ]]
	[[ "$output" != *"listening on"* ]]
	[ "${#lines[@]}" -eq 1 ]
}

@test "recv -q prints no listening line, but still the token the sender needs" {
	local err=$BATS_TEST_TMPDIR/recv.err pid i
	env -u KTLSCP_TOKEN "$KTLSCP" recv -q --port 0 --listen 127.0.0.1 "$DST" >/dev/null 2>"$err" 3>&- &
	pid=$!
	for i in $(seq 1 100); do
		grep -q 'on the sender:' "$err" && break
		sleep 0.1
	done
	kill "$pid"
	wait "$pid" || true
	cat "$err"
	grep -q 'one-time token: [a-z0-9-]* (valid for' "$err"
	grep -q 'on the sender: KTLSCP_TOKEN=[a-z0-9-]* ktlscp send THIS-HOST:[0-9]* FILE' "$err"
	! grep -q 'listening on' "$err"
}

@test "-q and SIGINT: exit 1 with one line saying what was interrupted, on either end" {
	local err=$BATS_TEST_TMPDIR/recv.err port rc i spid
	head -c 4000000 /dev/urandom >"$SRC/f"
	port=$(unused_port)
	# A receiver still waiting for a sender (KTLSCP_TOKEN: -q prints nothing).
	timeout --preserve-status -s INT "$(settle)" "$KTLSCP" recv -q --port "$port" --listen 127.0.0.1 "$DST" \
		2>"$err" 3>&- && rc=0 || rc=$?
	[ "$rc" -eq 1 ] || { echo "recv exited $rc"; cat "$err"; false; }
	[ "$(cat "$err")" = "ktlscp: interrupted while waiting for a sender" ] || { cat "$err"; false; }
	# A receiver mid-file (the sender paced to take about 8 s).
	"$KTLSCP" recv -q --port "$port" --listen 127.0.0.1 "$DST" 2>"$err" 3>&- &
	RECV_PID=$!
	for i in $(seq 1 100); do
		grep -q ":$(printf '%04X' "$port") 00000000:0000 0A" /proc/net/tcp && break
		sleep 0.1
	done
	timeout "$KTLSCP_TEST_TIMEOUT" "$KTLSCP" send -q --limit-rate 500k "127.0.0.1:$port" "$SRC/f" \
		2>"$BATS_TEST_TMPDIR/send.err" 3>&- &
	spid=$!
	wait_file "$DST/$(partial_of f)" 60
	kill -INT "$RECV_PID"
	wait_recv 1
	[ "$(grep -c . "$err")" -eq 1 ] || { cat "$err"; false; }
	grep -q '^ktlscp: 127\.0\.0\.1:[0-9]*: interrupted while receiving (cut off in f; its partial is kept for --resume)$' "$err" ||
		{ cat "$err"; false; }
	wait "$spid" || true
	# A sender mid-file.
	rm -f "$DST/$(partial_of f)"
	start_recv
	timeout --preserve-status -s INT "$(settle)" "$KTLSCP" send -q --limit-rate 500k "127.0.0.1:$RECV_PORT" "$SRC/f" \
		2>"$BATS_TEST_TMPDIR/send.err" 3>&- && rc=0 || rc=$?
	[ "$rc" -eq 1 ] || { echo "send exited $rc"; cat "$BATS_TEST_TMPDIR/send.err"; false; }
	[ "$(cat "$BATS_TEST_TMPDIR/send.err")" = "ktlscp: 127.0.0.1:$RECV_PORT: interrupted while sending (cut off in f)" ] ||
		{ cat "$BATS_TEST_TMPDIR/send.err"; false; }
	wait_recv
	[ ! -e "$DST/f" ]
}

@test "success prints one summary line, singular for one file; -v adds the kTLS line, JSON always has it" {
	echo hi >"$SRC/hi"
	start_recv -k
	run_send --separate-stderr 0 "$SRC/hi"
	[ "${#stderr_lines[@]}" -eq 1 ] || { echo "$stderr"; false; }
	[[ "${stderr_lines[0]}" == "ktlscp: sent 1 file (3 B) to 127.0.0.1:$RECV_PORT in "*" s, "*"/s" ]]
	run_send --separate-stderr 0 -v "$SRC/hi"
	[[ "$stderr" == *"auth psk; kTLS tx=$(expected_mode) rx=$(expected_mode)"* ]]
	run_send --separate-stderr 0 --json "$SRC/hi"
	[ "$(json_field "$output" ktls_tx)" = "$(expected_mode)" ]
	[ -z "$stderr" ]
	assert_same_file "$SRC/hi" "$DST/hi"
	# recv -k logs one line per file and one per connection (oplog.bats),
	# with or without -v.
	[ "$(grep -c ': connection: sender token; 1 file, 3 bytes, ' "$BATS_TEST_TMPDIR/recv.err")" -eq 3 ]
	[ "$(grep -c ': file ' "$BATS_TEST_TMPDIR/recv.err")" -eq 3 ]
}

@test "the throughput does not count the time spent at the yes/no prompt, on either end" {
	command -v script >/dev/null || skip "no script(1)"
	unset KTLSCP_TOKEN
	echo hi >"$SRC/hi"
	fp=$("$KTLSCP" id 2>/dev/null | grep -o 'SHA256:[A-Za-z0-9+/]*' | head -1)
	start_recv --allow "$fp"
	# Answer yes after 3 seconds, as a slow person would.
	printf -v cmd '%q ' "$KTLSCP" send "127.0.0.1:$RECV_PORT" "$SRC/hi"
	(sleep 3; echo yes) | script -qec "$cmd" /dev/null >"$BATS_TEST_TMPDIR/pty.out"
	wait_recv 0
	assert_same_file "$SRC/hi" "$DST/hi"
	secs=$(sed -n 's/.*sent 1 file (3 B) to .* in \([0-9.]*\) s.*/\1/p' "$BATS_TEST_TMPDIR/pty.out")
	[ -n "$secs" ] || { cat "$BATS_TEST_TMPDIR/pty.out"; false; }
	awk -v s="$secs" 'BEGIN { exit !(s < 2) }' || { echo "took $secs s: the prompt counted"; false; }
	# The receiver's own summary: it waited for the sender's first message.
	secs=$(sed -n 's/.*received 1 file (3 B) from .* in \([0-9.]*\) s.*/\1/p' "$BATS_TEST_TMPDIR/recv.err")
	[ -n "$secs" ] || { cat "$BATS_TEST_TMPDIR/recv.err"; false; }
	awk -v s="$secs" 'BEGIN { exit !(s < 2) }' || { echo "the receiver took $secs s: the prompt counted"; false; }
}

@test "every key of the JSON summary is described in the man page's JSON SUMMARY" {
	echo hi >"$SRC/hi"
	start_recv
	run_send --separate-stderr 0 --json "$SRC/hi"
	wait_recv 0
	section=$(sed -n '/^\.SH JSON SUMMARY/,/^\.SH /p' "$MAN")
	missing=
	for key in $(echo "$output" | jq -r 'keys[]'); do
		grep -qwF -- "$key" <<<"$section" || missing="$missing $key"
	done
	[ -z "$missing" ] || { echo "not in JSON SUMMARY:$missing"; false; }
}
