#!/usr/bin/env bats
# The bash completion (contrib/bash-completion/ktlscp), sourced into bash
# and called as bash calls it: commands, every option each command's
# --help shows, files, send's known receivers, cp's HOST:.

load helpers

COMPLETION=${KTLSCP_SRCDIR:-$BATS_TEST_DIRNAME/..}/contrib/bash-completion/ktlscp

setup() {
	[ -z "${KTLSCP_IN_VM:-}" ] || skip "the completion never reaches the kernel; the native lanes run it"
	common_setup
}

# complete WORDS...: complete the last word of "ktlscp WORDS..." (an empty
# last word completes a new one); prints COMPREPLY, one per line.
complete_words() {
	bash -c '
		. "$1"
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		_ktlscp
		printf "%s\n" "${COMPREPLY[@]}"
	' completion "$COMPLETION" "$KTLSCP" "$@"
}

@test "completion: the commands, from ktlscp --help" {
	run complete_words ""
	[ "$status" -eq 0 ]
	for c in send recv cp info id --help --version; do
		printf '%s\n' "${lines[@]}" | grep -qx -- "$c"
	done
	run complete_words r
	[ "$output" = recv ]
}

@test "completion: every option each command's --help shows, and only those" {
	local cmd help want got
	for cmd in send recv cp info id; do
		help=$("$KTLSCP" "$cmd" --help)
		# What --help shows in its option column: -X and --long.
		want=$(printf '%s\n' "$help" | grep -E '^ {2,8}-' | sed -E 's/^ +//; s/  .*//' |
			tr ',' '\n' | sed -E 's/^ +//; s/[ =[].*//' | sort -u)
		got=$(complete_words "$cmd" - | sed 's/=$//' | sort -u)
		[ -n "$want" ]
		if [ "$want" != "$got" ]; then
			echo "$cmd: --help shows and completion offers differ:"
			diff <(echo "$want") <(echo "$got") || true
			false
		fi
	done
	# A long option that takes a value is offered with its "=".
	run complete_words send --limit-r
	[ "$output" = "--limit-rate=" ]
	run complete_words recv --max-s
	printf '%s\n' "${lines[@]}" | grep -qx -- "--max-size="
	printf '%s\n' "${lines[@]}" | grep -qx -- "--max-startups="
	# --progress[=MODE] is offered bare and with its "=".
	run complete_words send --progr
	[ "$(printf '%s\n' "${lines[@]}" | sort | tr '\n' ' ')" = "--progress --progress= " ]
}

@test "completion: send's HOST from known_hosts, then files; an option's value is not an operand" {
	mkdir -p "$XDG_CONFIG_HOME/ktlscp"
	printf '%s\n' "# comment" "far.example SHA256:x" "alpha,10.0.0.7 SHA256:y" "[beta]:9000 SHA256:z" \
		"[fe80::1]:7000 SHA256:w" >"$XDG_CONFIG_HOME/ktlscp/known_hosts"
	run complete_words send ""
	for h in far.example alpha 10.0.0.7 beta:9000 "[fe80::1]:7000"; do
		printf '%s\n' "${lines[@]}" | grep -qxF -- "$h"
	done
	! printf '%s\n' "${lines[@]}" | grep -q "comment\|SHA256"
	run complete_words send --limit-rate 1M al
	[ "$output" = alpha ]
	# A bare --progress takes no value: the next word is the HOST.
	run complete_words send --progress al
	[ "$output" = alpha ]
	touch "$SRC/report.pdf"
	cd "$SRC"
	run complete_words send alpha rep
	[ "$output" = report.pdf ]
	run complete_words send --listen rep
	[ "$output" = report.pdf ]
}

@test "completion: recv's DIR is a directory; cp offers files and ssh's hosts as HOST:" {
	mkdir "$SRC/incoming"
	touch "$SRC/inbox.txt"
	cd "$SRC"
	run complete_words recv -k in
	[ "$output" = incoming ]
	mkdir -p "$HOME/.ssh"
	printf '%s\n' "Host backup *.lan" "  HostName 10.1.1.1" "Host inner" >"$HOME/.ssh/config"
	run complete_words cp in
	printf '%s\n' "${lines[@]}" | grep -qx "inbox.txt"
	printf '%s\n' "${lines[@]}" | grep -qx "incoming"
	printf '%s\n' "${lines[@]}" | grep -qx "inner:"
	run complete_words cp inbox.txt ba
	[ "$output" = "backup:" ]
	# A remote path is not completed (that would need a login).
	run complete_words cp backup:/s
	[ -z "$output" ]
}
