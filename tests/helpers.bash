# Shared helpers for the ktlscp bats suite.  Every test gets its own source
# and destination directories; receivers listen on a free loopback port
# (--port 0) and are stopped in teardown.  A test runs ktlscp through
# run_ktlscp or run_send, which check its exit code, and waits for its
# receiver with wait_recv.

# Every file may use run's flags (--separate-stderr), new in bats 1.5.
bats_require_minimum_version 1.5.0

KTLSCP=${KTLSCP:-$BATS_TEST_DIRNAME/../ktlscp}
KTLSCP_FORGE=${KTLSCP_FORGE:-$BATS_TEST_DIRNAME/forge}
# Seconds one run of ktlscp (run_ktlscp) may take before timeout(1) ends
# it with exit 124.
KTLSCP_TEST_TIMEOUT=${KTLSCP_TEST_TIMEOUT:-300}
# A fixed token for tests that are not about trust (the format recv prints).
TEST_TOKEN=abcd-efgh-ijkm-npqr-stuv-wxyz-2345-6789

common_setup() {
	SRC=$BATS_TEST_TMPDIR/src
	DST=$BATS_TEST_TMPDIR/dst
	mkdir -p "$SRC" "$DST"
	export HOME=$BATS_TEST_TMPDIR/home
	export XDG_CONFIG_HOME=$HOME/.config
	mkdir -p "$HOME"
	export KTLSCP_TOKEN=$TEST_TOKEN
	RECV_PID=
}

# common_teardown: after the test (never within it: stop_test_recv stops
# the receiver and keeps the test's files).
common_teardown() {
	stop_test_recv
	clean_test_tmpdir
}

# stop_test_recv: stop the test's receiver, if it still runs.
stop_test_recv() {
	if [ -n "${RECV_PID:-}" ] && kill -0 "$RECV_PID" 2>/dev/null; then
		kill "$RECV_PID" 2>/dev/null || true
		wait "$RECV_PID" 2>/dev/null || true
	fi
}

# clean_test_tmpdir: empty the test's BATS_TEST_TMPDIR.
clean_test_tmpdir() {
	# bats (1.8) keeps every test's BATS_TEST_TMPDIR until the whole run
	# ends: free what this test wrote now, or a lane's files add up (the
	# VM lanes' /tmp is a tmpfs of half the guest's memory).
	if [ -n "${BATS_TEST_TMPDIR:-}" ] && [ -d "$BATS_TEST_TMPDIR" ]; then
		find "$BATS_TEST_TMPDIR" -mindepth 1 -maxdepth 1 -exec rm -rf {} + 2>/dev/null || true
	fi
}

setup() { common_setup; }
teardown() { common_teardown; }

# wait_port ERRFILE: wait until the receiver writing ERRFILE says where it
# listens; sets RECV_PORT (empty if it never did).
wait_port() {
	local i
	RECV_PORT=
	for i in $(seq 1 200); do
		# The file may not exist yet: a background job opens its own
		# redirections (and errexit must not end the wait).
		RECV_PORT=$(sed -n 's/.*listening on .* port \([0-9]*\).*/\1/p' "$1" 2>/dev/null || true)
		[ -n "$RECV_PORT" ] && return 0
		sleep 0.05
	done
	return 1
}

# start_recv [OPTIONS...] [DIR]: start a receiver in the background (default
# DIR: $DST, none with --raw).  Sets RECV_PID, RECV_PORT and RECV_TOKEN (when it printed one).
# Its stdout goes to $BATS_TEST_TMPDIR/recv.out, stderr to recv.err.
start_recv() {
	local args=("$@") i
	if [[ " ${args[*]} " != *" --raw "* && " ${args[*]} " != *" --stdout "* ]] &&
		{ [ ${#args[@]} -eq 0 ] || [[ "${args[-1]}" == -* ]] || [ ! -d "${args[-1]}" ]; }; then
		args+=("$DST")
	fi
	: >"$BATS_TEST_TMPDIR/recv.err"
	"$KTLSCP" recv --port 0 --listen 127.0.0.1 "${args[@]}" \
		>"$BATS_TEST_TMPDIR/recv.out" 2>"$BATS_TEST_TMPDIR/recv.err" &
	RECV_PID=$!
	wait_port "$BATS_TEST_TMPDIR/recv.err"
	if [ -z "$RECV_PORT" ]; then
		echo "receiver did not start:" >&2
		cat "$BATS_TEST_TMPDIR/recv.err" >&2
		return 1
	fi
	RECV_TOKEN=$(sed -n 's/.*\(one-time\|session\) token: \([a-z0-9-]*\).*/\2/p' "$BATS_TEST_TMPDIR/recv.err")
}

# wait_recv [RC]: wait for the receiver to exit; sets RECV_RC.  With RC,
# also fails the test unless the receiver exited RC, showing its stderr.
wait_recv() {
	local i
	for i in $(seq 1 600); do
		kill -0 "$RECV_PID" 2>/dev/null || break
		sleep 0.1
	done
	RECV_RC=0
	wait "$RECV_PID" || RECV_RC=$?
	RECV_PID=
	if [ $# -gt 0 ] && [ "$RECV_RC" -ne "$1" ]; then
		echo "the receiver exited $RECV_RC, expected $1; its stderr:" >&2
		cat "$BATS_TEST_TMPDIR/recv.err" >&2 2>/dev/null || true
		return 1
	fi
}

# run_ktlscp [--separate-stderr] RC ARGS...: "run" ktlscp ARGS (setting
# $status, $output and $lines, and with --separate-stderr $stderr and
# $stderr_lines, as bats' run does) under timeout(1) of
# KTLSCP_TEST_TIMEOUT seconds, with bats' FD 3 closed so that nothing ktlscp
# leaves behind keeps bats waiting.  Fails the test, naming the command,
# its output and both exit codes, unless ktlscp exited RC ('?': any code).
run_ktlscp() {
	local flags=() want
	if [ "$1" = --separate-stderr ]; then
		flags=("$1")
		shift
	fi
	want=$1
	shift
	run "${flags[@]}" timeout "$KTLSCP_TEST_TIMEOUT" "$KTLSCP" "$@" 3>&-
	if [ "$want" = '?' ] || [ "$status" -eq "$want" ]; then
		return 0
	fi
	{
		printf 'ktlscp exited %s, expected %s' "$status" "$want"
		[ "$status" -ne 124 ] || printf ' (timed out after %s s)' "$KTLSCP_TEST_TIMEOUT"
		printf ':\n  %s' "$KTLSCP"
		printf ' %q' "$@"
		printf '\n'
		if [ ${#flags[@]} -gt 0 ]; then
			printf 'stdout:\n%s\nstderr:\n%s\n' "$output" "$stderr"
		else
			printf 'output:\n%s\n' "$output"
		fi
	} >&2
	return 1
}

# run_send [--separate-stderr] RC ARGS...: run_ktlscp RC send to the test's
# receiver, 127.0.0.1:$RECV_PORT (that address first, then ARGS).
run_send() {
	local flags=()
	if [ "$1" = --separate-stderr ]; then
		flags=("$1")
		shift
	fi
	run_ktlscp "${flags[@]}" "$1" send "127.0.0.1:$RECV_PORT" "${@:2}"
}

# send_each FILE...: one sender per FILE, all at once ("send -q", in the
# background, under the timeout of run_ktlscp, bats' FD 3 closed), to the
# test's receiver.  Waits for them all; fails, saying how many, unless
# every one exited 0.
send_each() {
	local f p fails=0 pids=()
	for f in "$@"; do
		timeout "$KTLSCP_TEST_TIMEOUT" "$KTLSCP" send -q "127.0.0.1:$RECV_PORT" "$f" 3>&- &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || fails=$((fails + 1))
	done
	[ "$fails" -eq 0 ] || { echo "$fails of $# senders failed" >&2; return 1; }
}

# forge ARGS...: "run" tests/forge as a sender to the test's receiver (ARGS:
# a case, see forge.c); $output is what the receiver answered.  At most
# FORGE_TIMEOUT seconds (default 60).
forge() {
	run timeout "${FORGE_TIMEOUT:-60}" "$KTLSCP_FORGE" 127.0.0.1 "$RECV_PORT" "$TEST_TOKEN" "$@" 3>&-
}

# tree_sums DIR: sorted "sha256  relative-path" lines of every file.
tree_sums() {
	(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

# assert_same_by LIST WHAT A B: LIST (a function printing a line per entry
# of the tree it is given) prints the same for A and B; else "WHAT differ:"
# and the difference.
assert_same_by() {
	local a b
	a=$("$1" "$3")
	b=$("$1" "$4")
	if [ "$a" != "$b" ]; then
		echo "$2 differ:" >&2
		diff <(echo "$a") <(echo "$b") >&2 || true
		return 1
	fi
}

# assert_same_tree A B: same files with the same content.
assert_same_tree() {
	assert_same_by tree_sums trees "$1" "$2"
}

# assert_same_file A B: same sha256.
assert_same_file() {
	local a b
	a=$(sha256sum <"$1" | cut -d' ' -f1)
	b=$(sha256sum <"$2" | cut -d' ' -f1)
	[ "$a" = "$b" ] || { echo "sha256 differs: $1 $a, $2 $b" >&2; return 1; }
}

# expected_mode: "sw" where this kernel has kTLS (or the lane says so via
# KTLSCP_EXPECT_KTLS), else "userspace".
expected_mode() {
	if [ -n "${KTLSCP_EXPECT_KTLS:-}" ]; then
		echo "$KTLSCP_EXPECT_KTLS"
	elif [ "$("$KTLSCP" info --json | jq -r .ktls)" = true ]; then
		echo sw
	else
		echo userspace
	fi
}

have_ktls() {
	[ "$(expected_mode)" != userspace ]
}

skip_if_ktls() {
	if have_ktls; then skip "${1:-this kernel has kTLS}"; fi
}

skip_unless_ktls() {
	if ! have_ktls; then skip "${1:-this kernel has no kTLS}"; fi
}

# sanitized_build: ktlscp is the ASan+UBSan build, whose shadow memory and
# quarantine make its RSS say nothing about ours.
sanitized_build() {
	ldd "$KTLSCP" 2>/dev/null | grep -q libasan
}

# json_field JSON KEY
json_field() {
	echo "$1" | jq -r ".$2"
}

# assert_exit N: after "run", check the status with output on failure.
assert_exit() {
	if [ "$status" -ne "$1" ]; then
		echo "expected exit $1, got $status; output:" >&2
		echo "$output" >&2
		return 1
	fi
}

# partial_of RELPATH: where, relative to DIR, the receiver keeps the partial
# of RELPATH: in its directory, ".ktlscp-" + the first 16 hex digits of
# SHA-256(RELPATH) + ".part".
partial_of() {
	local dir=${1%/*}/
	[ "$dir" != "$1/" ] || dir=
	echo "$dir.ktlscp-$(printf '%s' "$1" | sha256sum | cut -c1-16).part"
}

# wait_file FILE [SECONDS]: wait until FILE exists and is not empty, at most
# SECONDS (default 30); fails if it never was.
wait_file() {
	local i
	for i in $(seq 1 $((${2:-30} * 20))); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	echo "$1 stayed empty or absent for ${2:-30} s" >&2
	return 1
}

# no_temp_files DIR: nothing half-written is left behind.
no_temp_files() {
	local left
	left=$(find "$1" -name '.ktlscp-*.part')
	[ -z "$left" ] || { echo "temp files left: $left" >&2; return 1; }
}

# A free port with nothing listening (bound and released).
unused_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# make_pki_in DIR: a test CA (ca.crt), another unrelated CA (other-ca.crt),
# and server.{crt,key} and client.{crt,key} signed by the first, valid for
# localhost and 127.0.0.1 (keys mode 0600).
make_pki_in() {
	mkdir -p "$1"
	(
		cd "$1"
		printf 'cn = Test CA\nca\ncert_signing_key\nexpiration_days = 2\n' >ca.tmpl
		for ca in ca other-ca; do
			certtool --generate-privkey --key-type ecdsa --outfile $ca.key 2>/dev/null
			certtool --generate-self-signed --load-privkey $ca.key --template ca.tmpl \
				--outfile $ca.crt 2>/dev/null
		done
		for who in server client; do
			certtool --generate-privkey --key-type ecdsa --outfile $who.key 2>/dev/null
			chmod 600 $who.key
			printf 'cn = %s\ndns_name = localhost\nip_address = 127.0.0.1\nsigning_key\ntls_www_server\ntls_www_client\nexpiration_days = 2\n' $who >$who.tmpl
			certtool --generate-certificate --load-privkey $who.key --load-ca-certificate ca.crt \
				--load-ca-privkey ca.key --template $who.tmpl --outfile $who.crt 2>/dev/null
		done
	)
}

# big_sparse FILE: a sparse file large enough that a transfer of it is still
# running a moment later (4 GiB; 300 MB in the VM, whose /tmp is a small
# tmpfs and whose transfers are slow anyway).
big_sparse() {
	if [ -n "${KTLSCP_IN_VM:-}" ]; then
		truncate -s 300M "$1"
	else
		truncate -s 4G "$1"
	fi
}

# settle: seconds after which a transfer started now is surely under way
# (programs start slowly under emulation).
settle() {
	if [ -n "${KTLSCP_IN_VM:-}" ]; then echo 2; else echo 0.5; fi
}

# wait_refused [N]: wait until the test's one-shot receiver has refused N
# connections (default 1; each "...; still waiting for a sender" in
# recv.err), check that it is still waiting, then stop it.  Fails the test,
# showing its stderr, otherwise.
wait_refused() {
	local n=${1:-1} i got=0
	for i in $(seq 1 300); do
		got=$(grep -c 'still waiting for a sender$' "$BATS_TEST_TMPDIR/recv.err" || true)
		[ "$got" -ge "$n" ] && break
		sleep 0.05
	done
	if [ "$got" -lt "$n" ] || ! kill -0 "$RECV_PID" 2>/dev/null; then
		echo "the receiver did not refuse $n connection(s) and keep waiting; its stderr:" >&2
		cat "$BATS_TEST_TMPDIR/recv.err" >&2
		return 1
	fi
	stop_test_recv
	RECV_PID=
}

# wait_recv_or_refused: wait for the test's receiver to exit (sets RECV_RC,
# as wait_recv does) or, when its sender was killed before the handshake
# was done, for it to say it still waits for a sender (a one-shot receiver
# is not used up by that): then stop it and set RECV_RC=refused.
wait_recv_or_refused() {
	local i
	for i in $(seq 1 600); do
		kill -0 "$RECV_PID" 2>/dev/null || break
		if grep -q 'still waiting for a sender$' "$BATS_TEST_TMPDIR/recv.err"; then
			stop_test_recv
			RECV_PID=
			RECV_RC=refused
			return 0
		fi
		sleep 0.1
	done
	wait_recv
}
