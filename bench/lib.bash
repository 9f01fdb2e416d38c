# shellcheck shell=bash
# bench/lib.bash: how the bench runs one measured copy and keeps its numbers.
# A copy has two ends, each a process tree started here under GNU time, so
# the CPU (user+sys) and peak RSS of an end are those of its tree: wait4's
# rusage of the started process includes every descendant it waited for.
# bench_one starts the receiving end, waits until it listens on a port of
# our choosing, times the sending end and an optional post step (the peers'
# fsync), then checks what arrived by sha256 and appends one line to
# $RESULTS.  Also: ports, killing what we started (by pid), medians.
#
# Sourced by bench/bench.sh, never run.

GNUTIME=/usr/bin/time
TIMEFMT='%e %U %S %M'
BGPIDS=()

note() { echo "bench: $*" >&2; }
die() { echo "bench: $*" >&2; exit 2; }

# ---- processes we started -------------------------------------------------

# tree_pids PID: PID and its descendants, parents first.
tree_pids() {
	local c
	echo "$1"
	for c in $(pgrep -P "$1" 2>/dev/null); do tree_pids "$c"; done
}

# kill_tree PID: TERM a process we started and its descendants, by pid; KILL
# what is left after about 5 s.
kill_tree() {
	local pids p i alive
	pids=$(tree_pids "$1")
	for p in $pids; do kill "$p" 2>/dev/null; done
	for (( i = 0; i < 100; i++ )); do
		alive=""
		for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
		[ -n "$alive" ] || return 0
		sleep 0.05
	done
	for p in $alive; do kill -KILL "$p" 2>/dev/null; done
}

# reap PID: wait for a background process we started; returns its status.
reap() {
	local p=$1 rc q keep=()
	wait "$p"; rc=$?
	for q in "${BGPIDS[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
	BGPIDS=("${keep[@]}")
	return "$rc"
}

# bench_cleanup: end whatever we started that still runs.
bench_cleanup() {
	local p
	for p in "${BGPIDS[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill_tree "$p"
			wait "$p" 2>/dev/null
		fi
	done
}

# ---- ports ------------------------------------------------------------------

# free_port: a loopback port free just now (perl: every Debian has it).
free_port() {
	perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
		LocalPort => 0, Listen => 1) or die "$!\n"; print $s->sockport, "\n"'
}

# is_listening PORT: something LISTENs on PORT (IPv4 or IPv6).
is_listening() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v h="$hex" 'NR > 1 && $4 == "0A" { split($2, a, ":"); if (a[2] == h) f = 1 }
		END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# wait_listen PID PORT: until PID's end listens on PORT (10 s); fails if PID
# dies first.
wait_listen() {
	local i
	for (( i = 0; i < 500; i++ )); do
		is_listening "$2" && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}

# ---- checking what arrived ---------------------------------------------------

sha256() { sha256sum -- "$1" | awk '{ print $1 }'; }

# tree_sum DIR: one sha256 over the relative name and sha256 of every
# regular file beneath DIR, in name order.
tree_sum() {
	(cd "$1" && find . -type f -printf '%P\0' | LC_ALL=C sort -z |
		xargs -0 -r sha256sum -- | sha256sum | awk '{ print $1 }')
}

# bench_verify: empty when $OUT matches the source, else why not.
# CHECK=file compares $OUT with $SRC_BYTES/$SRC_SHA; CHECK=tree compares the
# tree $OUT with $SRC_TREE_SUM.
bench_verify() {
	local n
	case $CHECK in
	file)
		[ -f "$OUT" ] || { echo "no output file"; return; }
		n=$(stat -c %s -- "$OUT")
		[ "$n" = "$SRC_BYTES" ] || { echo "got $n of $SRC_BYTES bytes"; return; }
		[ "$(sha256 "$OUT")" = "$SRC_SHA" ] || echo "sha256 mismatch"
		;;
	tree)
		[ -d "$OUT" ] || { echo "no output directory"; return; }
		[ "$(tree_sum "$OUT")" = "$SRC_TREE_SUM" ] ||
			echo "tree differs ($(find "$OUT" -type f | wc -l) of $SRC_FILES files)"
		;;
	esac
}

# ---- one measured copy --------------------------------------------------------

# bench_one SCENARIO TOOL RUN: one copy with TOOL.  The function
# tool_SCENARIO_TOOL PORT sets, for that port:
#   R_CMD   the receiving end (array); R_IN, R_OUTF its stdin/stdout files
#   R_KEEP  1: the receiving end serves until TERM, sent after the sender ends
#   R_ANYRC 1: the receiving end's exit status says nothing (sshd -i)
#   S_CMD   the sending end (array); S_IN its stdin file
#   P_CMD   a step after both ends (the peers' fsync; array, may be empty),
#           timed with the copy and counted on the receiving end
#   OUT     what to check (CHECK file or tree, against the source)
#   T_CHECK a function that says why the run does not count (TLS version
#           and cipher not the ones asked for), or empty
bench_one() {
	local scen=$1 tool=$2 run=$3 w=$TMP/run port rpid spid src rrc why="" t0 t1 try
	reset_dst
	rm -rf "$w"; mkdir -p "$w"
	for (( try = 0; try < 5; try++ )); do
		port=$(free_port)
		R_IN=/dev/null R_OUTF=$w/r.out R_KEEP=0 R_ANYRC=0 S_IN=/dev/null T_CHECK=""
		R_CMD=() S_CMD=() P_CMD=()
		"tool_${scen}_$tool" "$port"
		"$GNUTIME" -f "$TIMEFMT" -o "$w/r.time" timeout -k 5 "$TO" "${R_CMD[@]}" \
			< "$R_IN" > "$R_OUTF" 2> "$w/r.err" &
		rpid=$!; BGPIDS+=("$rpid")
		wait_listen "$rpid" "$port" && break
		kill_tree "$rpid"; reap "$rpid" 2>/dev/null; rpid=""
	done
	if [ -z "$rpid" ]; then
		bench_record "$scen" "$tool" "$run" 0 "" "receiving end did not listen: $(head -c 200 "$w/r.err")"
		return
	fi
	t0=$EPOCHREALTIME
	"$GNUTIME" -f "$TIMEFMT" -o "$w/s.time" timeout -k 5 "$TO" "${S_CMD[@]}" \
		< "$S_IN" > "$w/s.out" 2> "$w/s.err" &
	spid=$!; BGPIDS+=("$spid")
	reap "$spid"; src=$?
	if [ "$R_KEEP" = 1 ]; then
		t1=$EPOCHREALTIME
		kill -TERM "$(pgrep -P "$rpid")" 2>/dev/null	# timeout passes it on
	elif [ "$src" != 0 ]; then	# the run is lost: do not wait for $TO
		sleep 2
		kill -0 "$rpid" 2>/dev/null && kill_tree "$rpid"
	fi
	reap "$rpid"; rrc=$?
	if [ ${#P_CMD[@]} -gt 0 ]; then
		"$GNUTIME" -f "$TIMEFMT" -o "$w/p.time" "${P_CMD[@]}" 2> "$w/p.err" ||
			why="post step failed: $(head -c 200 "$w/p.err")"
	fi
	[ "$R_KEEP" = 1 ] || t1=$EPOCHREALTIME
	[ "$src" = 0 ] || why="${why:+$why; }sender exit $src: $(tail -c 200 "$w/s.err" | tr '\n' ' ')"
	[ "$rrc" = 0 ] || [ "$R_ANYRC" = 1 ] ||
		why="${why:+$why; }receiver exit $rrc: $(tail -c 200 "$w/r.err" | tr '\n' ' ')"
	[ -z "$T_CHECK" ] || because "$("$T_CHECK" "$w")"
	because "$(bench_verify)"
	bench_record "$scen" "$tool" "$run" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')" \
		"$w" "$why"
}

# because TEXT: add TEXT, if any, to bench_one's reasons why a run fails.
because() { [ -z "$1" ] || why="${why:+$why; }$1"; }

# lasttime FILE: "wall user sys maxrss" from GNU time's output (it may put
# "Command exited with non-zero status" first).
lasttime() { tail -n 1 "$1" 2>/dev/null; }

# bench_record SCEN TOOL RUN WALL RUNDIR WHY: one line of $RESULTS:
#   scen tool run valid wall bytes files s_usr s_sys s_rss r_usr r_sys r_rss note
# The post step's CPU counts on the receiving end, its RSS as a process there.
bench_record() {
	local scen=$1 tool=$2 run=$3 wall=$4 w=$5 why=$6 valid=1 su ss sr ru rs rr pu ps pr
	read -r _ su ss sr <<< "$(lasttime "$w/s.time")"
	read -r _ ru rs rr <<< "$(lasttime "$w/r.time")"
	read -r _ pu ps pr <<< "$(lasttime "$w/p.time")"
	[ -n "$w" ] && { [ -n "${su:-}" ] && [ -n "${ru:-}" ] || why="${why:+$why; }no rusage"; }
	[ -z "$why" ] || valid=0
	ru=$(awk -v a="${ru:-0}" -v b="${pu:-0}" 'BEGIN { print a + b }')
	rs=$(awk -v a="${rs:-0}" -v b="${ps:-0}" 'BEGIN { print a + b }')
	[ "${pr:-0}" -le "${rr:-0}" ] || rr=$pr
	echo "$scen $tool $run $valid ${wall:-0} $SRC_BYTES $SRC_FILES ${su:-0} ${ss:-0} ${sr:-0}" \
		"$ru $rs ${rr:-0} $(printf '%s' "${why:--}" | tr -s ' \t\n' '___')" >> "$RESULTS"
	if [ "$valid" = 1 ]; then
		printf '  %s %-12s run %-3s %8.3f s %9.1f MB/s\n' "$scen" "$tool" "$run" "$wall" \
			"$(awk -v b="$SRC_BYTES" -v w="$wall" 'BEGIN { print b / 1e6 / w }')" >&2
	else
		printf '  %s %-12s run %-3s INVALID: %s\n' "$scen" "$tool" "$run" "$why" >&2
	fi
}

# reset_dst: an empty $DST, the last run's deletion already on disk, so that
# no run pays for the one before.
reset_dst() {
	rm -rf -- "$DST"
	mkdir -p "$DST"
	sync -f "$TMP"
}

# bench_scenario SCEN TOOL...: WARMUP discarded rounds, then RUNS rounds of
# every TOOL in turn, the first tool of each round rotated.
bench_scenario() {
	local scen=$1 r k n saved=$RESULTS
	shift
	n=$#
	local tools=("$@")
	if [ "$WARMUP" -gt 0 ]; then
		note "scenario $scen: $WARMUP warm-up round(s), discarded"
		RESULTS=$TMP/warmup.results
		for (( r = 1; r <= WARMUP; r++ )); do
			for (( k = 0; k < n; k++ )); do bench_one "$scen" "${tools[k]}" "w$r"; done
		done
		RESULTS=$saved
	fi
	note "scenario $scen: $RUNS round(s), interleaved: ${tools[*]}"
	for (( r = 1; r <= RUNS; r++ )); do
		for (( k = 0; k < n; k++ )); do
			bench_one "$scen" "${tools[(r - 1 + k) % n]}" "$r"
		done
	done
}

# median: of the numbers on stdin, one a line ("nan" for none).
median() {
	sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
		if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
