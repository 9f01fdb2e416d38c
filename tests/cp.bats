#!/usr/bin/env bats
# ktlscp cp: push and pull through a real sshd on a loopback port
# (tests/sshd.bash), the far end started by ssh, the bytes over a direct
# TLS connection.  Remote paths that are not absolute resolve in
# $REMOTE_HOME (the --remote-ktlscp wrapper's working directory).

load helpers
load sshd

setup() {
	common_setup
	# A test marked cp_host_only is skipped in the VM before an sshd starts
	# (which costs most of the test there).
	if [ -n "${KTLSCP_IN_VM:-}" ] && declare -f "$BATS_TEST_NAME" | grep -qw cp_host_only; then
		cp_host_only
	fi
	skip_unless_sshd
	sshd_start
	H="$SSH_USER@127.0.0.1"
}

teardown() {
	sshd_stop
	common_teardown
}

# run_cp [--separate-stderr] RC ARGS...: ktlscp cp through the test's sshd.
run_cp() {
	local flags=()
	if [ "$1" = --separate-stderr ]; then
		flags=("$1")
		shift
	fi
	run_ktlscp "${flags[@]}" "$1" cp -e "$RSH" --remote-ktlscp "$FAR" "${@:2}"
}

# far_script BODY: a --remote-ktlscp stand-in running the shell text BODY
# (with $KTLSCP the real binary); sets FAR.
far_script() {
	FAR=$BATS_TEST_TMPDIR/far-fake
	printf '#!/bin/sh\nKTLSCP=%q\ncd %q || exit 1\n%s\n' "$KTLSCP" "$REMOTE_HOME" "$1" >"$FAR"
	chmod 755 "$FAR"
}

@test "cp pushes a file byte-exact; auth ssh and both ends' kTLS modes in the JSON" {
	head -c 3000000 /dev/urandom >"$SRC/f"
	run_cp --separate-stderr 0 --json "$SRC/f" "$H:$DST"
	assert_same_file "$SRC/f" "$DST/f"
	echo "$output" | jq -e --arg m "$(expected_mode)" \
		'.role == "send" and .auth == "ssh" and .files == 1 and .bytes == 3000000 and .status == "ok"
		 and .ktls_tx == $m and .far_ktls_rx == $m and .far_ktls_tx == $m' >/dev/null
	no_temp_files "$DST"
}

@test "cp --json-progress pushes with NDJSON events, the --json summary last; cp --progress=lines pulls" {
	cp_host_only
	head -c 1000000 /dev/urandom >"$SRC/f"
	echo g >"$SRC/g"
	run_cp --separate-stderr 0 --json-progress "$SRC/f" "$SRC/g" "$H:$DST"
	assert_same_file "$SRC/f" "$DST/f"
	assert_same_file "$SRC/g" "$DST/g"
	while IFS= read -r l; do
		jq -e 'type == "object"' >/dev/null <<<"$l" || { echo "not JSON: $l"; false; }
	done <<<"$output"
	head -n1 <<<"$output" | jq -e '.event == "start" and .role == "send" and .auth == "ssh"' >/dev/null
	jq -s -e 'map(select(.event == "file")) | map({(.name): [.bytes, .result]}) | add ==
		{"f": [1000000, "ok"], "g": [2, "ok"]}' <<<"$output" >/dev/null || { echo "$output"; false; }
	tail -n1 <<<"$output" | jq -e --arg m "$(expected_mode)" \
		'(has("event") | not) and .status == "ok" and .files == 2 and .far_ktls_rx == $m' >/dev/null
	rm -rf "$DST"/*
	run_cp --separate-stderr 0 --progress=lines "$H:$SRC/f" "$DST"
	assert_same_file "$SRC/f" "$DST/f"
	grep -qx 'ktlscp: f: ok, 1000000 bytes' <<<"$stderr" || { echo "$stderr"; false; }
	grep -Eq '^ktlscp: total: 1 file, 1000000 bytes in ' <<<"$stderr"
	[[ "$stderr" != *$'\r'* ]]
}

@test "cp pulls a file byte-exact into DEST" {
	head -c 2000000 /dev/urandom >"$SRC/f"
	run_cp --separate-stderr 0 --json "$H:$SRC/f" "$DST"
	assert_same_file "$SRC/f" "$DST/f"
	echo "$output" | jq -e --arg m "$(expected_mode)" \
		'.role == "recv" and .auth == "ssh" and .files == 1 and .ktls_rx == $m and .far_ktls_tx == $m' >/dev/null
	[[ "$stderr" != *"received"* ]]
}

@test "cp -r pushes and pulls a tree; a directory without -r is refused" {
	cp_host_only
	mkdir -p "$SRC/tree/sub/deeper" "$SRC/tree/empty"
	head -c 100000 /dev/urandom >"$SRC/tree/a"
	head -c 5000 /dev/urandom >"$SRC/tree/sub/b"
	: >"$SRC/tree/sub/deeper/zero"
	run_cp 0 -r "$SRC/tree" "$H:$DST"
	assert_same_tree "$SRC/tree" "$DST/tree"
	[ -d "$DST/tree/empty" ]
	mkdir "$BATS_TEST_TMPDIR/back"
	run_cp 0 -r "$H:$DST/tree" "$BATS_TEST_TMPDIR/back"
	assert_same_tree "$SRC/tree" "$BATS_TEST_TMPDIR/back/tree"
	run_cp 6 "$H:$SRC/tree" "$BATS_TEST_TMPDIR/back"
	[[ "$output" == *"127.0.0.1: "*"tree: is a directory (use -r to copy it)"* ]]
}

@test "cp -r -l -H: links and hard links carry over, push and pull; unsafe links stay out" {
	cp_host_only
	mkdir -p "$SRC/t/sub"
	head -c 50000 /dev/urandom >"$SRC/t/f"
	ln "$SRC/t/f" "$SRC/t/sub/f2"
	ln -s ../f "$SRC/t/sub/l"
	ln -s /etc/passwd "$SRC/t/abs"
	run_cp --separate-stderr 0 --json -r -l -H "$SRC/t" "$H:$DST"
	assert_same_tree "$SRC" "$DST"
	[ "$(readlink "$DST/t/sub/l")" = ../f ] && [ ! -L "$DST/t/abs" ]
	[ "$(stat -c %i "$DST/t/f")" = "$(stat -c %i "$DST/t/sub/f2")" ]
	echo "$output" | jq -e '.skipped_entries | map(.path) == ["t/abs"]'
	mkdir "$BATS_TEST_TMPDIR/back"
	run_cp 0 -r -l -H "$H:$DST/t" "$BATS_TEST_TMPDIR/back"
	assert_same_tree "$SRC/t" "$BATS_TEST_TMPDIR/back/t"
	[ "$(readlink "$BATS_TEST_TMPDIR/back/t/sub/l")" = ../f ]
	[ "$(stat -c %h "$BATS_TEST_TMPDIR/back/t/f")" = 2 ]
}

@test "cp -r: a trailing slash or /. copies the directory itself, as scp does" {
	cp_host_only
	mkdir -p "$SRC/d"
	echo one >"$SRC/d/x"
	run_cp 0 -r "$H:$SRC/d/" "$DST"
	assert_same_file "$SRC/d/x" "$DST/d/x"
	rm -r "$DST/d"
	run_cp 0 -r "$H:$SRC/d/." "$DST"
	assert_same_file "$SRC/d/x" "$DST/d/x"
}

@test "cp -p keeps mode and mtime, both ways" {
	cp_host_only
	echo data >"$SRC/f"
	chmod 0640 "$SRC/f"
	touch -d '2001-02-03 04:05:06' "$SRC/f"
	run_cp 0 -p "$SRC/f" "$H:$DST"
	assert_same_file "$SRC/f" "$DST/f"
	[ "$(stat -c '%a %Y' "$DST/f")" = "$(stat -c '%a %Y' "$SRC/f")" ]
	mkdir "$BATS_TEST_TMPDIR/back"
	run_cp 0 -p "$H:$DST/f" "$BATS_TEST_TMPDIR/back"
	[ "$(stat -c '%a %Y' "$BATS_TEST_TMPDIR/back/f")" = "$(stat -c '%a %Y' "$SRC/f")" ]
}

@test "cp --verify checks every file end to end, both ways" {
	cp_host_only
	mkdir -p "$SRC/t"
	head -c 700000 /dev/urandom >"$SRC/t/a"
	head -c 300 /dev/urandom >"$SRC/t/b"
	run_cp --separate-stderr 0 -r --verify --json "$SRC/t" "$H:$DST"
	assert_same_tree "$SRC/t" "$DST/t"
	echo "$output" | jq -e '.verified == 2' >/dev/null
	mkdir "$BATS_TEST_TMPDIR/back"
	run_cp --separate-stderr 0 -r --verify --json "$H:$DST/t" "$BATS_TEST_TMPDIR/back"
	assert_same_tree "$SRC/t" "$BATS_TEST_TMPDIR/back/t"
	echo "$output" | jq -e '.verified == 2' >/dev/null
}

@test "cp: spaces, quotes, \$, * and newlines in remote names reach no shell" {
	cp_host_only
	local n1="sp ace 'q' \"dq\" \$HOME *" n2=$'new\nline'
	mkdir -p "$SRC/$n1"
	echo a >"$SRC/$n1/$n2"
	echo b >"$SRC/*"
	run_cp 0 -r "$SRC/$n1" "$H:$DST"
	assert_same_tree "$SRC/$n1" "$DST/$n1"
	mkdir "$BATS_TEST_TMPDIR/back"
	run_cp 0 -r "$H:$DST/$n1/$n2" "$H:$SRC/*" "$BATS_TEST_TMPDIR/back"
	assert_same_file "$SRC/$n1/$n2" "$BATS_TEST_TMPDIR/back/$n2"
	assert_same_file "$SRC/*" "$BATS_TEST_TMPDIR/back/*"
	[ "$(find "$BATS_TEST_TMPDIR/back" -type f -printf x | wc -c)" -eq 2 ]
	mkdir -p "$DST/$n1 dir"
	run_cp 0 "$SRC/*" "$H:$DST/$n1 dir"
	assert_same_file "$SRC/*" "$DST/$n1 dir/*"
}

@test "cp: relative remote paths are the far home's; HOST: alone is the home" {
	cp_host_only
	echo rel >"$REMOTE_HOME/r.txt"
	run_cp 0 "$H:r.txt" "$DST"
	assert_same_file "$REMOTE_HOME/r.txt" "$DST/r.txt"
	echo up >"$SRC/up"
	run_cp 0 "$SRC/up" "$H:"
	assert_same_file "$SRC/up" "$REMOTE_HOME/up"
}

@test "cp: a local name with a colon is written ./a:b; two local names are a usage error" {
	cp_host_only
	echo c >"$SRC/a:b"
	cd "$SRC"
	run_cp 0 ./a:b "$H:$DST"
	assert_same_file "$SRC/a:b" "$DST/a:b"
	run_cp 2 ./a:b "$DST"
	[[ "$output" == *"both local"* ]]
	run_cp 2 "$H:$SRC/a:b" "$H:$DST"
	[[ "$output" == *"one remote host to another are not supported"* ]]
}

@test "cp: IPv6 [::1]:path, both ways" {
	cp_host_only
	python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null || skip "no IPv6 loopback"
	head -c 100000 /dev/urandom >"$SRC/f6"
	run_cp --separate-stderr 0 --json "$SRC/f6" "$SSH_USER@[::1]:$DST"
	assert_same_file "$SRC/f6" "$DST/f6"
	echo "$output" | jq -e '.peer == "[::1]"' >/dev/null
	mkdir "$BATS_TEST_TMPDIR/back"
	run_cp 0 "[::1]:$DST/f6" "$BATS_TEST_TMPDIR/back"
	assert_same_file "$SRC/f6" "$BATS_TEST_TMPDIR/back/f6"
}

@test "cp: text from a noisy shell startup file before the banner is reported, not parsed" {
	cp_host_only
	echo x >"$SRC/f"
	far_script 'echo "Welcome to the far host!"; exec "$KTLSCP" "$@"'
	run_cp 1 "$SRC/f" "$H:$DST"
	[[ "$output" == *"127.0.0.1: remote shell printed text before ktlscp started: \"Welcome to the far host!\"; fix your shell startup files"* ]]
	[ ! -e "$DST/f" ]
}

@test "cp: ktlscp missing on the far host names --remote-ktlscp (exit 127 there)" {
	cp_host_only
	echo x >"$SRC/f"
	FAR=$BATS_TEST_TMPDIR/no-such-ktlscp
	run_cp 1 "$SRC/f" "$H:$DST"
	[[ "$output" == *"127.0.0.1: $FAR not found on the far host (exit 127): install ktlscp there, or name it with --remote-ktlscp PATH"* ]]
	[ "$(echo "$output" | grep -c 'not found on the far host')" -eq 1 ]
}

@test "cp: an incompatible far-end version is named" {
	cp_host_only
	echo x >"$SRC/f"
	far_script 'echo "KTLSCP-FAR 99 1234 -"; cat >/dev/null'
	run_cp 1 "$SRC/f" "$H:$DST"
	[[ "$output" == *"127.0.0.1: incompatible ktlscp on the far host (bootstrap version 99, this one speaks 1)"* ]]
}

@test "cp: ssh that cannot connect gives ssh's message and the network exit code" {
	cp_host_only
	echo x >"$SRC/f"
	run_ktlscp 3 cp -e "${RSH/-p $SSHD_PORT/-p $(unused_port)}" --remote-ktlscp "$FAR" "$SRC/f" "$H:$DST"
	[[ "$output" == *"127.0.0.1: ssh could not connect or log in (ssh exit 255; its message is above)"* ]]
	[[ "$output" == *"ktlscp: 127.0.0.1: ssh: connect to host 127.0.0.1 port"* ]]
}

@test "cp: an unreachable data port names host and port and suggests --data-port" {
	cp_host_only
	local port
	port=$(unused_port)
	echo x >"$SRC/f"
	far_script "echo 'KTLSCP-FAR 1 $port 127.0.0.1'; cat >/dev/null"
	run_cp 3 "$SRC/f" "$H:$DST"
	[[ "$output" == *"127.0.0.1: cannot reach the far end's data port 127.0.0.1:$port ("*"choose an open range with --data-port LOW-HIGH"* ]]
}

@test "cp --data-port puts the far end on that port; a malformed range is a usage error" {
	cp_host_only
	local port
	port=$(unused_port)
	echo x >"$SRC/f"
	far_script "\"\$KTLSCP\" \"\$@\" | tee '$BATS_TEST_TMPDIR/banner'"
	run_cp 0 --data-port "$port-$port" "$SRC/f" "$H:$DST"
	assert_same_file "$SRC/f" "$DST/f"
	grep -q "^KTLSCP-FAR 1 $port 127.0.0.1\$" "$BATS_TEST_TMPDIR/banner"
	run_cp 2 --data-port 9-2 "$SRC/f" "$H:$DST"
	[[ "$output" == *"--data-port 9-2: expected N or LOW-HIGH"* ]]
}

@test "cp: a missing remote path is reported with the host, exit 6, nothing written" {
	cp_host_only
	run_cp 6 "$H:$SRC/absent" "$DST"
	[[ "$output" == *"127.0.0.1: "*"absent: No such file or directory"* ]]
	[ -z "$(ls -A "$DST")" ]
}

@test "cp: a far end that sends names it was not asked for is refused, nothing written" {
	cp_host_only
	echo secret >"$SRC/f"
	far_script 'KTLSCP_TEST_FAR_TARGET=evil; export KTLSCP_TEST_FAR_TARGET; exec "$KTLSCP" "$@"'
	run_cp 5 "$H:$SRC/f" "$DST"
	[[ "$output" == *'127.0.0.1: sent "evil/f", which was not asked for; transfer refused'* ]]
	[ -z "$(ls -A "$DST")" ]
	far_script 'KTLSCP_TEST_FAR_TARGET=f; export KTLSCP_TEST_FAR_TARGET; exec "$KTLSCP" "$@"'
	mkdir -p "$SRC/g"
	run_cp 5 -r "$H:$SRC/g" "$DST"
	[[ "$output" == *'sent "f/g", which was not asked for'* ]]
	[ -z "$(ls -A "$DST")" ]
}

@test "cp: the key is on no command line and in no environment, on either end" {
	cp_host_only
	head -c 4000000 /dev/urandom >"$SRC/f"
	# The stand-in keeps a copy of the key line so that the test knows
	# what to look for, then hands the line on to the real far end.
	far_script "IFS= read -r line; printf '%s\n' \"\$line\" >'$BATS_TEST_TMPDIR/keyline'
{ printf '%s\n' \"\$line\"; cat; } | exec \"\$KTLSCP\" \"\$@\""
	timeout 120 "$KTLSCP" cp -q -e "$RSH" --remote-ktlscp "$FAR" --limit-rate 1M "$SRC/f" "$H:$DST" 3>&- &
	local pid=$! key found=0 p
	wait_file "$BATS_TEST_TMPDIR/keyline"
	key=$(cut -d' ' -f3 "$BATS_TEST_TMPDIR/keyline")
	[ "${#key}" -eq 64 ]
	sleep 1
	for p in /proc/[0-9]*; do
		if grep -qa "$key" "$p/cmdline" "$p/environ" 2>/dev/null; then
			echo "key found in $p: $(tr '\0' ' ' <"$p/cmdline")" >&2
			found=1
		fi
	done
	wait "$pid"
	[ "$found" -eq 0 ]
	assert_same_file "$SRC/f" "$DST/f"
}

@test "cp: the far end does not outlive the ssh session" {
	cp_host_only
	head -c 8000000 /dev/urandom >"$SRC/f"
	far_script "echo \$\$ >'$BATS_TEST_TMPDIR/far.pid'; exec \"\$KTLSCP\" \"\$@\""
	"$KTLSCP" cp -q -e "$RSH" --remote-ktlscp "$FAR" --limit-rate 1M "$SRC/f" "$H:$DST" 3>&- &
	local pid=$! far i
	wait_file "$BATS_TEST_TMPDIR/far.pid"
	far=$(cat "$BATS_TEST_TMPDIR/far.pid")
	sleep 1
	kill -0 "$far"
	kill -KILL "$pid"
	wait "$pid" || true
	for i in $(seq 1 100); do
		kill -0 "$far" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$far" 2>/dev/null
	[ ! -e "$DST/f" ]
}

@test "cp --help: every long option is in the man page and in an example" {
	cp_host_only
	local man=${KTLSCP_SRCDIR:-$BATS_TEST_DIRNAME/..}/man/ktlscp.1 examples opt esc missing=
	run_ktlscp 0 cp --help
	[[ "$output" == *"[USER@]HOST:[DIR]"* && "$output" == *"--rsh"* && "$output" != *"--far"* ]]
	examples=$(sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$man")
	for opt in $(echo "$output" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
		case $opt in --help|--usage) continue ;; esac
		esc=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
		grep -q -- "$esc" "$man" || missing="$missing $opt(man)"
		grep -q -- "$esc" <<<"$examples" || missing="$missing $opt(example)"
	done
	[ -z "$missing" ] || { echo "missing:$missing"; false; }
	run_ktlscp 0 --help
	[[ "$output" == *"  cp "* ]]
}

@test "cp needs no ktlscp identity: HOME naming no directory is fine" {
	cp_host_only
	echo x >"$SRC/f"
	HOME=$BATS_TEST_TMPDIR/nowhere XDG_CONFIG_HOME= run_cp 0 "$SRC/f" "$H:$DST"
	assert_same_file "$SRC/f" "$DST/f"
	[ ! -e "$BATS_TEST_TMPDIR/nowhere" ]
}

@test "cp --resume continues a push that was killed" {
	cp_host_only
	head -c 6000000 /dev/urandom >"$SRC/f"
	"$KTLSCP" cp -q -e "$RSH" --remote-ktlscp "$FAR" --limit-rate 1M "$SRC/f" "$H:$DST" 3>&- &
	local pid=$! part
	part=$DST/$(partial_of f)
	wait_file "$part"
	sleep 2
	kill -KILL "$pid"
	wait "$pid" || true
	sleep 0.5
	[ -s "$part" ] && [ ! -e "$DST/f" ]
	run_cp --separate-stderr 0 --resume --json "$SRC/f" "$H:$DST"
	assert_same_file "$SRC/f" "$DST/f"
	echo "$output" | jq -e '.resumed > 0' >/dev/null
	no_temp_files "$DST"
}

@test "cp --reverse: the far end connects back, push and pull" {
	head -c 500000 /dev/urandom >"$SRC/f"
	far_script "\"\$KTLSCP\" \"\$@\" | tee '$BATS_TEST_TMPDIR/banner'"
	run_cp --separate-stderr 0 --reverse --json "$SRC/f" "$H:$DST"
	assert_same_file "$SRC/f" "$DST/f"
	echo "$output" | jq -e --arg m "$(expected_mode)" '.auth == "ssh" and .far_ktls_rx == $m' >/dev/null
	grep -q '^KTLSCP-FAR 1 [0-9]* 127.0.0.1$' "$BATS_TEST_TMPDIR/banner"
	mkdir "$BATS_TEST_TMPDIR/back"
	run_cp 0 --reverse "$H:$DST/f" "$BATS_TEST_TMPDIR/back"
	assert_same_file "$SRC/f" "$BATS_TEST_TMPDIR/back/f"
}

@test "cp --reverse -6: this side listens on IPv6 only, so a far end reached over IPv4 cannot connect back" {
	cp_host_only
	echo x >"$SRC/f"
	run_cp 3 --reverse -6 "$SRC/f" "$H:$DST"
	[[ "$output" == *"cannot connect back to 127.0.0.1 port "*"(--reverse)"* ]]
	[ ! -e "$DST/f" ]
	run_cp 0 --reverse -4 "$SRC/f" "$H:$DST"
	assert_same_file "$SRC/f" "$DST/f"
}

@test "cp --reverse: a far end that cannot connect back names our port and suggests --data-port" {
	cp_host_only
	local port
	port=$(unused_port)
	echo x >"$SRC/f"
	# The real far end, told a port where nothing listens.
	far_script "exec \"\$KTLSCP\" cp --far --reverse --data-port $port"
	run_cp 3 --reverse "$SRC/f" "$H:$DST"
	[[ "$output" == *"ktlscp: 127.0.0.1: cannot connect back to 127.0.0.1 port $port (--reverse): "*"Connection refused"* ]]
	[[ "$output" == *"127.0.0.1: the far end could not connect back to port "*" here (--reverse; exit 3, its message is above); a firewall on this side? open a range with --data-port LOW-HIGH"* ]]
	[ ! -e "$DST/f" ]
}
