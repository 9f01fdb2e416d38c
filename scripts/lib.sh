# shellcheck shell=bash
# scripts/lib.sh: what ./check.sh and ./demo.sh share.  Setting up a Debian
# machine (install_missing, as_root), building out of tree
# (autoreconf_if_stale, configure_in), waiting for a receiver
# (wait_listening), and for check.sh the test lanes: lane_run runs one and
# judges its report, lane_skip records one not run, lane_verdict prints the
# summary and says whether every lane passed.  Every lane is judged by the
# same rules, written once, here.
#
# Sourced by bash scripts, never run.  The sourcing script may set lib_prog,
# the name its messages start with (default: its file name).

lib_prog=${lib_prog:-${0##*/}}
lib_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
lib_jobs=$(nproc)

# ---- the machine ---------------------------------------------------------

# as_root CMD [ARGS...]: run CMD as root, through sudo unless we are root.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# install_missing PACKAGE...: install the Debian packages not installed yet.
install_missing() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "$lib_prog: installing ${missing[*]}"
		as_root apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >/dev/null
	fi
}

# ---- building ------------------------------------------------------------

# autoreconf_if_stale: regenerate configure and Makefile.in in the source tree
# when they are missing or older than configure.ac or Makefile.am.
autoreconf_if_stale() {
	if [ ! -x "$lib_top/configure" ] || [ "$lib_top/configure.ac" -nt "$lib_top/configure" ] ||
		[ "$lib_top/Makefile.am" -nt "$lib_top/Makefile.in" ]; then
		(cd "$lib_top" && autoreconf -fi)
	fi
}

# configure_args_are DIR ARGS...: true when DIR was configured with exactly
# ARGS (-q aside, which configure does not record).
configure_args_are() {
	local dir=$1 recorded a
	shift
	recorded=$("$dir/config.status" --config 2>/dev/null) || return 1
	local -a have want=()
	# config.status quotes its arguments for the shell.
	eval "have=($recorded)"
	for a in "$@"; do
		[ "$a" = -q ] || want+=("$a")
	done
	[ "$(printf '%s\n' "${have[@]}")" = "$(printf '%s\n' "${want[@]}")" ]
}

# configure_in DIR [CONFIGURE-ARGS...]: an out-of-tree build in DIR, built.
# DIR is configured when it has no Makefile, when configure is newer than its
# last run, or when it was configured with other arguments (by hand, say); in
# that last case it is also cleaned, since a changed flag (-Werror) does not
# by itself make the objects out of date.
configure_in() {
	local dir=$1
	shift
	mkdir -p "$dir"
	if [ -f "$dir/Makefile" ] && ! configure_args_are "$dir" "$@"; then
		echo "$lib_prog: $dir was configured with other arguments; reconfiguring it with ${*:-no arguments}"
		(cd "$dir" && "$lib_top/configure" -q "$@")
		make -C "$dir" clean >/dev/null
	elif [ ! -f "$dir/Makefile" ] || [ "$lib_top/configure" -nt "$dir/config.status" ]; then
		(cd "$dir" && "$lib_top/configure" -q "$@")
	fi
	make -C "$dir" -j"$lib_jobs" >/dev/null
}

# ---- receivers -----------------------------------------------------------

# wait_listening ERRFILE [PATTERN]: wait up to 5 s until the receiver writing
# its stderr to ERRFILE has printed PATTERN (default: "port", from its
# "listening on ... port N" line), then print the port it listens on.
# Returns 1 if PATTERN never came.
wait_listening() {
	local file=$1 pattern=${2:-port} _
	for _ in $(seq 1 100); do
		if grep -q "$pattern" "$file" 2>/dev/null; then
			sed -n '/.*port \([0-9]*\).*/{s//\1/p;q;}' "$file"
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# ---- test lanes ----------------------------------------------------------
#
# A lane is one command.  Its stdout and stderr are shown as it runs and kept
# in a log, which the parser for the lane's report FORMAT reads:
#   automake  make check's summary: the "# PASS: N", "# FAIL: N", "# ERROR: N",
#             "# XPASS: N" and "# SKIP: N" lines (ERROR and XPASS are failures);
#   summary   the last "LABEL: N passed, M failed[, K skipped]" line;
#   fuzz      one "Done N runs" line per target that ran clean, one
#             "fuzz_NAME: FAILED" line per target that did not.
# The rules, the same for every lane: a lane failed when its command exited
# non-zero, when its log could not be written, when its report counts a
# failure, when it printed no report, or when its report counts no test that
# passed or failed (only skips, or nothing at all).  The total "M failed"
# counts failed tests, plus one for each failed lane that counted none, so it
# is above 0 exactly when a lane failed.

lane_lines=()
lane_failed=()
lane_pass_total=0
lane_fail_total=0

# lane_count_FORMAT LOG: set lane_p, lane_f, lane_s (passed, failed, skipped)
# and lane_note from LOG; return 1 when LOG holds no report in FORMAT.
lane_count_automake() {
	local counts
	counts=$(sed 's/\x1b\[[0-9;]*m//g' "$1" 2>/dev/null | tr -d '\r' | awk '
		/^# (PASS|SKIP|XFAIL|FAIL|XPASS|ERROR): *[0-9]+ *$/ { n[$2] = $3; seen = 1 }
		END {
			if (!seen) exit 1
			print n["PASS:"] + 0, n["FAIL:"] + n["ERROR:"] + n["XPASS:"], n["SKIP:"] + 0
		}') || return 1
	read -r lane_p lane_f lane_s <<<"$counts"
	lane_note=
}

lane_count_summary() {
	local line re='^[^:]+: ([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$'
	line=$(tr -d '\r' <"$1" 2>/dev/null | grep -E "$re" | tail -1) || true
	[[ $line =~ $re ]] || return 1
	lane_p=${BASH_REMATCH[1]} lane_f=${BASH_REMATCH[2]} lane_s=${BASH_REMATCH[4]:-0}
	lane_note=
}

lane_count_fuzz() {
	local runs
	lane_p=$(grep -cE 'Done [0-9]+ runs' "$1" 2>/dev/null) || true
	lane_f=$(grep -cE '^fuzz_[A-Za-z0-9_]+: FAILED' "$1" 2>/dev/null) || true
	lane_p=${lane_p:-0} lane_f=${lane_f:-0} lane_s=0
	[ $((lane_p + lane_f)) -gt 0 ] || return 1
	runs=$(sed -n 's/.*Done \([0-9]*\) runs.*/\1/p' "$1" | awk '{ s += $1 } END { print s + 0 }')
	lane_note="$runs executions"
}

# lane_run NAME LOG FORMAT -- CMD [ARGS...]: run CMD (a command or a shell
# function, in a subshell with errexit on) as the lane NAME, its output shown
# and kept in LOG, and judge it by the rules above.  Returns 0 whatever the
# verdict; lane_verdict reports it.
lane_run() {
	local name=$1 log=$2 format=$3 rc tee_rc why=() counted=1 line
	if [ $# -lt 5 ] || [ "$4" != -- ] || ! declare -F "lane_count_$format" >/dev/null; then
		echo "$lib_prog: usage: lane_run NAME LOG automake|summary|fuzz -- CMD [ARGS...]" >&2
		exit 2
	fi
	shift 4
	echo "== lane: $name"
	# Not "CMD | tee || rc=$?": the status is taken from PIPESTATUS, and
	# errexit is off here only (local -), on again inside the subshell.
	local -
	set +e
	(
		set -e
		"$@"
	) 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]} tee_rc=${PIPESTATUS[1]}

	lane_p=0 lane_f=0 lane_s=0 lane_note=
	lane_count_"$format" "$log" || counted=0
	[ "$rc" -eq 0 ] || why+=("exit status $rc")
	[ "$tee_rc" -eq 0 ] || why+=("log $log not written")
	if [ $counted -eq 0 ]; then
		why+=("no test report")
		line="$name: no test report"
	else
		line="$name: $lane_p passed, $lane_f failed, $lane_s skipped${lane_note:+ ($lane_note)}"
		[ "$lane_f" -eq 0 ] || why+=("$lane_f failed")
		[ $((lane_p + lane_f)) -gt 0 ] || why+=("no test ran")
		lane_pass_total=$((lane_pass_total + lane_p))
		lane_fail_total=$((lane_fail_total + lane_f))
	fi
	if [ ${#why[@]} -gt 0 ]; then
		if [ $counted -eq 0 ] || [ "$lane_f" -eq 0 ]; then
			lane_fail_total=$((lane_fail_total + 1))
		fi
		lane_failed+=("$name")
		line="$line; FAILED ($(lane_join "${why[@]}"))"
	fi
	lane_lines+=("$line")
}

# lane_join WORD...: print the words separated by ", ".
lane_join() {
	local out=$1 w
	shift
	for w in "$@"; do
		out+=", $w"
	done
	printf '%s\n' "$out"
}

# lane_skip NAME REASON: record the lane NAME as not run, and why.
lane_skip() {
	lane_lines+=("$1: skipped ($2)")
}

# lane_remark TEXT: add a line to the summary that is not a lane.
lane_remark() {
	lane_lines+=("$1")
}

# lane_verdict: print one line per lane, then "N passed, M failed" last on
# stdout, and the failed lanes on stderr.  Returns 1 when a lane failed.
lane_verdict() {
	echo
	printf '%s\n' "${lane_lines[@]}"
	echo "$lane_pass_total passed, $lane_fail_total failed"
	if [ ${#lane_failed[@]} -gt 0 ]; then
		echo "failed lanes: $(lane_join "${lane_failed[@]}")" >&2
		return 1
	fi
	return 0
}
