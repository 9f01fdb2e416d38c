#!/usr/bin/env bats
# Usage errors follow one rule (ktlscp(1) EXIT STATUS): exit 2, nothing on
# standard output (no JSON object even with --json), and on standard error
# one line "ktlscp CMD: ..." and one "Try 'ktlscp CMD --help' ..." line.
# A run that passes option checking prints exactly one JSON object with
# --json.  CMD -h shows the command's help.

load helpers

# usage_error CMD ARGS...: ktlscp CMD ARGS... is a usage error by the rule.
usage_error() {
	local cmd=$1
	shift
	run_ktlscp --separate-stderr 2 "$cmd" "$@"
	if [ -n "$output" ] || [ "${#stderr_lines[@]}" -ne 2 ] ||
		[[ "${stderr_lines[0]}" != "ktlscp $cmd: "* ]] ||
		[ "${stderr_lines[1]}" != "Try 'ktlscp $cmd --help' for more information." ]; then
		echo "ktlscp $cmd $*: exit $status" >&2
		echo "stdout: $output" >&2
		echo "stderr: $stderr" >&2
		return 1
	fi
}

# usage_error_json CMD ARGS...: the same, without and with --json.
usage_error_json() {
	local cmd=$1
	shift
	usage_error "$cmd" "$@"
	usage_error "$cmd" --json "$@"
}

@test "send: an unknown option, a bad value, too few arguments: exit 2, no JSON, one error and the Try line" {
	usage_error_json send --no-such-option 127.0.0.1:1 /etc/hostname
	usage_error_json send --port 99999 127.0.0.1:1 /etc/hostname
	usage_error_json send --limit-rate fast 127.0.0.1:1 /etc/hostname
	usage_error_json send 127.0.0.1:1
	usage_error_json send
}

@test "recv: an unknown option, a bad value, too many arguments: exit 2, no JSON, one error and the Try line" {
	usage_error_json recv --no-such-option --port 0 "$DST"
	usage_error_json recv --port 99999 "$DST"
	usage_error_json recv --max-conns 3 --port 0 "$DST"
	usage_error_json recv --port 0 "$DST" "$DST"
}

@test "info: an unknown option, a bad value, any argument: exit 2, no JSON, one error and the Try line" {
	usage_error_json info --no-such-option
	usage_error info --json=yes
	usage_error_json info foo
}

@test "id: an unknown option, any argument: exit 2, one error and the Try line" {
	usage_error_json id --no-such-option
	usage_error_json id foo
	[ ! -e "$HOME/.config/ktlscp" ]
}

@test "a usage error found with the trust options is one too (malformed token)" {
	usage_error_json send --token nope 127.0.0.1:1 /etc/hostname
}

@test "a --pin that is not SHA256: and 43 base64 characters is a usage error, whatever its length" {
	usage_error_json send --pin SHA256:short 127.0.0.1:1 /etc/hostname
	# The right length, but '!' and '-' are not base64: it could never match.
	usage_error_json send --pin "SHA256:$(printf '!%.0s' {1..21})$(printf -- '-%.0s' {1..22})" 127.0.0.1:1 /etc/hostname
	[[ "${stderr_lines[0]}" == *"expected SHA256: and 43 base64 characters"* ]]
	usage_error_json recv --pin SHA256:short --port 0 "$DST"
}

@test "a run past option checking prints exactly one JSON object with --json" {
	run_ktlscp --separate-stderr 6 send --json 127.0.0.1:1 "$SRC/missing"
	[ "${#lines[@]}" -eq 1 ]
	[ "$(echo "$output" | jq -r .exit_code)" = 6 ]
	run_ktlscp --separate-stderr 0 info --json
	[ "${#lines[@]}" -eq 1 ]
	echo "$output" | jq -e 'type == "object"' >/dev/null
}

@test "CMD -h and CMD --help show the command's help on stdout, exit 0" {
	for cmd in send recv info id; do
		for h in -h --help; do
			run_ktlscp --separate-stderr 0 "$cmd" "$h"
			[[ "${lines[0]}" == "Usage: ktlscp $cmd"* ]]
			[[ "$output" == *"--help"* ]]
			[ -z "$stderr" ]
		done
	done
	run_ktlscp --separate-stderr 0 send -h
	[[ "$output" == *"--recursive"* && "$output" == *"--psk-file"* ]]
}

@test "an unknown command follows the rule too" {
	run_ktlscp --separate-stderr 2 frobnicate --json
	[ -z "$output" ]
	[ "${#stderr_lines[@]}" -eq 2 ]
	[ "${stderr_lines[0]}" = "ktlscp: unknown command 'frobnicate'" ]
	[ "${stderr_lines[1]}" = "Try 'ktlscp --help' for more information." ]
}

@test "no command at all is a usage error by the same rule" {
	run_ktlscp --separate-stderr 2
	[ -z "$output" ]
	[ "${#stderr_lines[@]}" -eq 2 ]
	[[ "${stderr_lines[0]}" == "ktlscp: "* ]]
	[ "${stderr_lines[1]}" = "Try 'ktlscp --help' for more information." ]
}

# ---- scp habits and names (ktlscp(1) send) ----

@test "two sources of one name are a usage error naming both (a a, a/x b/x, -r t t/)" {
	mkdir -p "$SRC/a" "$SRC/b" "$SRC/t"
	echo 1 >"$SRC/a/x.txt"
	echo 2 >"$SRC/b/x.txt"
	echo 3 >"$SRC/f"
	usage_error send 127.0.0.1:1 "$SRC/f" "$SRC/f"
	[[ "$stderr" == *"$SRC/f is named twice"* ]]
	usage_error send 127.0.0.1:1 "$SRC/a/x.txt" "$SRC/b/x.txt"
	[[ "$stderr" == *"$SRC/a/x.txt and $SRC/b/x.txt would both arrive as x.txt"* ]]
	usage_error send -r 127.0.0.1:1 "$SRC/t" "$SRC/t/"
	[[ "$stderr" == *"would both arrive as t"* ]]
	# Standard input arrives under its --name.
	usage_error send 127.0.0.1:1 --name f - "$SRC/f"
}

@test "scp's address habits are usage errors with the ktlscp way: swapped, HOST:PORT:DIR, bare IPv6 with a port" {
	echo x >"$SRC/f"
	usage_error send "$SRC/f" 127.0.0.1:7433
	[[ "$stderr" == *"the receiver comes first"* ]]
	usage_error send 127.0.0.1:7433:sub "$SRC/f"
	[[ "$stderr" == *"-t SUBDIR"*"-t sub"* ]]
	usage_error send host:sub "$SRC/f"
	[[ "$stderr" == *"-t SUBDIR"* ]]
	usage_error send ::1:36661 "$SRC/f"
	[[ "$stderr" == *"[::1]:36661"* ]]
}

@test "--limit-rate takes what the man page documents, and states its minimum" {
	local port r
	port=$(unused_port)
	echo x >"$SRC/f"
	for r in 1000 1k 1K 1m 1M 1Mi 2.5M 1000B; do
		# Past option checking: nobody listens (exit 3), not a usage error.
		run_ktlscp 3 send --limit-rate "$r" "127.0.0.1:$port" "$SRC/f"
	done
	usage_error send --limit-rate 999 "127.0.0.1:$port" "$SRC/f"
	[[ "$stderr" == *"below the minimum, 1k (1000 bytes per second)"* ]]
	usage_error send --limit-rate 1x "127.0.0.1:$port" "$SRC/f"
	[[ "$stderr" == *"at least 1k"* ]]
}
