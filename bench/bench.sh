#!/usr/bin/env bash
# bench/bench.sh [KTLSCP_BINARY]
#
# Loopback (127.0.0.1) throughput/CPU benchmark of ktlscp against
#   - openssl s_server/s_client (TLS 1.3, TLS_AES_128_GCM_SHA256), and
#   - socat plain TCP (no crypto: the ceiling),
# all copying the same random file, measured side by side in one run.
#
# Called by `make bench` as: bench/bench.sh /abs/path/ktlscp
# It only reports; it asserts nothing about timings and is not part of
# `make check`.
#
# Environment:
#   BENCH_SIZE_MB     size of the test file in MiB (default 1024 = 1 GiB)
#   BENCH_RUNS        runs per tool; the median is reported (default 3)
#   BENCH_TMPDIR      where to create the temp dir (default $TMPDIR or /tmp);
#                     source and destination live on this filesystem
#   BENCH_TOOLS       subset/order of tools (default "ktlscp openssl socat")
#   BENCH_PEER_FSYNC  1 (default): the openssl/socat receiver timing includes
#                     `sync FILE DIR` (fsync) like ktlscp's built-in fsync;
#                     0: no fsync for the peers (unfair to ktlscp)
#   BENCH_WARMUP      untimed warm-up runs of each tool first (default 1)
#   BENCH_TIMEOUT     per-process time limit in seconds (default 600)
#   KTLSCP_TOKEN      token for ktlscp (default: a fixed throwaway token)
#
# Units: MB = 10^6 bytes, GB = 10^9 bytes. CPU = user+sys seconds of the
# process (and any children it waited for), from GNU time (wait4 rusage).
# Peak RSS = ru_maxrss in KB.

# `make bench` runs this with $(SHELL), which may be a POSIX sh: re-exec bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi

set -u -o pipefail

BIN=${1:-$(cd "$(dirname "$0")/.." && pwd)/ktlscp}
SIZE_MB=${BENCH_SIZE_MB:-1024}
RUNS=${BENCH_RUNS:-3}
TOOLS=${BENCH_TOOLS:-"ktlscp openssl socat"}
PEER_FSYNC=${BENCH_PEER_FSYNC:-1}
TO=${BENCH_TIMEOUT:-600}
WARMUP=${BENCH_WARMUP:-1}
TOKEN=${KTLSCP_TOKEN:-abcd-efgh-ijkm-npqr-stuv-wxyz-2345-6789}
GNUTIME=/usr/bin/time
OSSL_SUITE=TLS_AES_128_GCM_SHA256

die() { echo "bench.sh: $*" >&2; exit 2; }
note() { echo "bench.sh: $*" >&2; }

case $SIZE_MB in ''|*[!0-9]*) die "BENCH_SIZE_MB must be a positive integer";; esac
case $RUNS in ''|*[!0-9]*) die "BENCH_RUNS must be a positive integer";; esac
case $WARMUP in ''|*[!0-9]*) die "BENCH_WARMUP must be a non-negative integer";; esac
[ "$SIZE_MB" -gt 0 ] && [ "$RUNS" -gt 0 ] || die "BENCH_SIZE_MB and BENCH_RUNS must be > 0"
[ -x "$BIN" ] || die "ktlscp binary not found or not executable: $BIN"
case $BIN in /*) ;; *) BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN");; esac
[ -x "$GNUTIME" ] && "$GNUTIME" -f '%e' -o /dev/null true 2>/dev/null ||
	die "GNU time is required at $GNUTIME (Debian/Ubuntu: apt-get install time)"
for t in timeout pgrep awk sort; do
	command -v "$t" >/dev/null || die "'$t' is required"
done
[ -n "${EPOCHREALTIME:-}" ] || die "bash >= 5 is required (EPOCHREALTIME)"

# Tools that are missing are skipped with a note, not fatal.
want=""
for t in $TOOLS; do
	case $t in
	ktlscp) want="$want $t";;
	openssl) if command -v openssl >/dev/null; then want="$want $t"
		 else note "openssl not found: skipping the openssl pair"; fi;;
	socat) if command -v socat >/dev/null; then want="$want $t"
	       else note "socat not found: skipping the plain TCP run"; fi;;
	*) die "unknown tool in BENCH_TOOLS: $t";;
	esac
done
TOOLS=$want
[ -n "$TOOLS" ] || die "nothing to run"

if command -v openssl >/dev/null; then
	sha256() { openssl dgst -sha256 -r "$1" | awk '{print $1}'; }
elif command -v sha256sum >/dev/null; then
	sha256() { sha256sum "$1" | awk '{print $1}'; }
else
	die "need openssl or sha256sum to verify the copies"
fi

# ---------------------------------------------------------------- cleanup
BGPIDS=()
TMP=""
FIFO_FD=""

tree_pids() {	# pid and its descendants, by pid (parents first)
	local c
	echo "$1"
	for c in $(pgrep -P "$1" 2>/dev/null); do tree_pids "$c"; done
}

kill_tree() {	# end a process we started and its descendants, by pid:
		# TERM, up to ~5 s grace (ktlscp handles TERM), then KILL
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

reap() {	# pid: wait for a background process we started; its exit status
	local p=$1 rc q keep=()
	wait "$p"; rc=$?
	for q in "${BGPIDS[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
	BGPIDS=("${keep[@]}")
	return "$rc"
}

cleanup() {
	local p
	for p in "${BGPIDS[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill_tree "$p"
			wait "$p" 2>/dev/null
		fi
	done
	[ -n "$FIFO_FD" ] && eval "exec $FIFO_FD>&-"
	[ -n "$TMP" ] && [ -d "$TMP" ] && rm -rf -- "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

base=${BENCH_TMPDIR:-${TMPDIR:-/tmp}}
TMP=$(mktemp -d "$base/ktlscp-bench.XXXXXX") || die "mktemp failed in $base"
SRC=$TMP/src.bin
DST=$TMP/dst
mkdir -p "$DST" "$TMP/cfg" || die "mkdir failed"
export XDG_CONFIG_HOME=$TMP/cfg	# keep ktlscp away from the user's config

need_kb=$(( SIZE_MB * 1024 * 2 + 65536 ))
avail_kb=$(df -Pk "$TMP" | awk 'NR==2 {print $4}')
[ -n "$avail_kb" ] && [ "$avail_kb" -lt "$need_kb" ] &&
	die "not enough space in $base: need ~$((need_kb / 1024)) MiB, have $((avail_kb / 1024)) MiB"

# ---------------------------------------------------------------- helpers
free_port() {
	if command -v python3 >/dev/null; then
		python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
	else	# fallback: a random high port that nothing listens on
		local p hex
		while :; do
			p=$(( 20000 + RANDOM % 40000 ))
			hex=$(printf ':%04X ' "$p")
			grep -q "$hex" /proc/net/tcp /proc/net/tcp6 2>/dev/null || { echo "$p"; return; }
		done
	fi
}

is_listening() {	# port: is something LISTENing on 127.0.0.1/any:port?
	local hex
	hex=$(printf '%04X' "$1")
	awk -v h="$hex" 'NR > 1 && $4 == "0A" { split($2, a, ":"); if (a[2] == h) f = 1 }
		END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

wait_listen() {	# pid port: wait until pid listens on port; fails if pid dies
	local i
	for (( i = 0; i < 500; i++ )); do
		is_listening "$2" && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}

timefmt='%e %U %S %M'
lasttime() { tail -n 1 "$1" 2>/dev/null; }	# GNU time may prepend "Command exited..."

fsync_out() {	# the peers' equivalent of ktlscp's fsync before rename
	if [ "$PEER_FSYNC" = 1 ]; then echo 'sync -- "$1" "$2" || exit 9'; else echo ':'; fi
}

# Result record, one line per run:
#   tool run valid wall bytes s_usr s_sys s_rss r_usr r_sys r_rss note
RESULTS=$TMP/results
: > "$RESULTS"

record() {	# tool run wall sendtimefile recvtimefile recvfile note
	local tool=$1 run=$2 wall=$3 stf=$4 rtf=$5 f=$6 why=$7
	local st rt bytes=0 valid=1 h su ss sr ru rs rr
	st=$(lasttime "$stf"); rt=$(lasttime "$rtf")
	read -r _ su ss sr <<< "$st"
	read -r _ ru rs rr <<< "$rt"
	if [ -z "$st" ] || [ -z "$rt" ]; then
		valid=0; why="${why:+$why; }no rusage"
	fi
	if [ -f "$f" ]; then
		bytes=$(stat -c %s -- "$f")
		if [ "$bytes" != "$SRC_BYTES" ]; then
			valid=0; why="${why:+$why; }got $bytes of $SRC_BYTES bytes"
		else
			h=$(sha256 "$f")
			[ "$h" = "$SRC_SHA" ] || { valid=0; why="${why:+$why; }sha256 mismatch"; }
		fi
	else
		valid=0; why="${why:+$why; }no output file"
	fi
	[ "$valid" = 1 ] || [ -n "$why" ] || why="failed"
	echo "$tool $run $valid $wall $bytes ${su:-0} ${ss:-0} ${sr:-0} ${ru:-0} ${rs:-0} ${rr:-0}" \
		"$(printf '%s' "${why:--}" | tr -s ' \t\n' '___')" >> "$RESULTS"
	if [ "$valid" = 1 ]; then
		printf '  %-8s run %s: %7.3f s  %8.1f MB/s  ok\n' "$tool" "$run" "$wall" \
			"$(awk -v b="$bytes" -v w="$wall" 'BEGIN { print b / 1e6 / w }')" >&2
	else
		printf '  %-8s run %s: INVALID (%s)\n' "$tool" "$run" "$why" >&2
	fi
}

reset_dst() { rm -rf -- "$DST"; mkdir -p "$DST"; sync -f "$TMP" 2>/dev/null || sync; }

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

# ---------------------------------------------------------------- runs
KT_SEND_JSON=""; KT_RECV_JSON=""

run_ktlscp() {
	local run=$1 rpid spid port="" i t0 t1 src rrc why=""
	reset_dst
	rm -f "$TMP"/k.*
	KTLSCP_TOKEN=$TOKEN "$GNUTIME" -f "$timefmt" -o "$TMP/k.rtime" \
		timeout -k 5 "$TO" "$BIN" recv --port 0 --listen 127.0.0.1 --json "$DST" \
		> "$TMP/k.rjson" 2> "$TMP/k.rerr" < /dev/null &
	rpid=$!; BGPIDS+=("$rpid")
	for (( i = 0; i < 500; i++ )); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1 port \([0-9][0-9]*\).*/\1/p' "$TMP/k.rerr" | head -n 1)
		[ -n "$port" ] && break
		kill -0 "$rpid" 2>/dev/null || break
		sleep 0.02
	done
	if [ -z "$port" ]; then
		kill_tree "$rpid"; reap "$rpid" 2>/dev/null
		record ktlscp "$run" 0 /dev/null /dev/null /nonexistent "receiver did not start: $(head -c 200 "$TMP/k.rerr")"
		return
	fi
	t0=$EPOCHREALTIME
	KTLSCP_TOKEN=$TOKEN "$GNUTIME" -f "$timefmt" -o "$TMP/k.stime" \
		timeout -k 5 "$TO" "$BIN" send --json --tls 1.3 --cipher aes-128-gcm \
		"127.0.0.1:$port" "$SRC" > "$TMP/k.sjson" 2> "$TMP/k.serr" < /dev/null &
	spid=$!; BGPIDS+=("$spid")
	reap "$spid"; src=$?
	reap "$rpid"; rrc=$?
	t1=$EPOCHREALTIME
	[ "$src" = 0 ] || why="sender exit $src: $(head -c 200 "$TMP/k.serr" | tr '\n' ' ')"
	[ "$rrc" = 0 ] || why="${why:+$why; }receiver exit $rrc: $(head -c 200 "$TMP/k.rerr" | tr '\n' ' ')"
	KT_SEND_JSON=$(cat "$TMP/k.sjson"); KT_RECV_JSON=$(cat "$TMP/k.rjson")
	case $KT_SEND_JSON in
	*'"tls_version":"TLS1.3"'*'"cipher":"AES-128-GCM"'*) ;;
	*) why="${why:+$why; }not TLS1.3/AES-128-GCM";;
	esac
	record ktlscp "$run" "$(elapsed "$t0" "$t1")" "$TMP/k.stime" "$TMP/k.rtime" \
		"$DST/$(basename "$SRC")" "$why"
}

run_openssl() {
	local run=$1 rpid spid port t0 t1 src rrc why="" out=$DST/openssl.out
	reset_dst
	rm -f "$TMP"/o.*
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		# s_server exits on stdin EOF, so its stdin is a FIFO held open
		# read-write by us (never readable, never EOF). With -naccept 1 it
		# exits after the one connection, when the client's close_notify
		# arrives.
		"$GNUTIME" -f "$timefmt" -o "$TMP/o.rtime" \
			timeout -k 5 "$TO" sh -c 'openssl s_server -accept "127.0.0.1:$3" \
				-cert "$4/cert.pem" -key "$4/key.pem" -tls1_3 \
				-ciphersuites "$5" -quiet -naccept 1 > "$1" || exit $?
				'"$(fsync_out)" sh "$out" "$DST" "$port" "$TMP" "$OSSL_SUITE" \
			<&"$FIFO_FD" 2> "$TMP/o.rerr" &
		rpid=$!; BGPIDS+=("$rpid")
		wait_listen "$rpid" "$port" && break
		kill_tree "$rpid"; reap "$rpid" 2>/dev/null; rpid=""
	done
	if [ -z "$rpid" ]; then
		record openssl "$run" 0 /dev/null /dev/null /nonexistent "s_server did not start: $(head -c 200 "$TMP/o.rerr")"
		return
	fi
	t0=$EPOCHREALTIME
	# -quiet implies -ign_eof; -no_ign_eof (after it) makes s_client send
	# close_notify and exit at EOF of the file; -nocommands stops it from
	# treating a chunk starting with Q/R/K/k as a command.
	"$GNUTIME" -f "$timefmt" -o "$TMP/o.stime" \
		timeout -k 5 "$TO" openssl s_client -connect "127.0.0.1:$port" -tls1_3 \
		-ciphersuites "$OSSL_SUITE" -quiet -no_ign_eof -nocommands \
		< "$SRC" > "$TMP/o.sout" 2> "$TMP/o.serr" &
	spid=$!; BGPIDS+=("$spid")
	reap "$spid"; src=$?
	reap "$rpid"; rrc=$?
	t1=$EPOCHREALTIME
	[ "$src" = 0 ] || why="s_client exit $src: $(grep -v -e '^depth=' -e '^verify' "$TMP/o.serr" | head -c 200 | tr '\n' ' ')"
	[ "$rrc" = 0 ] || why="${why:+$why; }s_server exit $rrc: $(head -c 200 "$TMP/o.rerr" | tr '\n' ' ')"
	record openssl "$run" "$(elapsed "$t0" "$t1")" "$TMP/o.stime" "$TMP/o.rtime" "$out" "$why"
}

run_socat() {
	local run=$1 rpid spid port t0 t1 src rrc why="" out=$DST/socat.out
	reset_dst
	rm -f "$TMP"/s.*
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		"$GNUTIME" -f "$timefmt" -o "$TMP/s.rtime" \
			timeout -k 5 "$TO" sh -c 'socat -u "TCP-LISTEN:$3,reuseaddr,bind=127.0.0.1" \
				"OPEN:$1,creat,trunc" || exit $?
				'"$(fsync_out)" sh "$out" "$DST" "$port" \
			< /dev/null 2> "$TMP/s.rerr" &
		rpid=$!; BGPIDS+=("$rpid")
		wait_listen "$rpid" "$port" && break
		kill_tree "$rpid"; reap "$rpid" 2>/dev/null; rpid=""
	done
	if [ -z "$rpid" ]; then
		record socat "$run" 0 /dev/null /dev/null /nonexistent "socat listener did not start: $(head -c 200 "$TMP/s.rerr")"
		return
	fi
	t0=$EPOCHREALTIME
	"$GNUTIME" -f "$timefmt" -o "$TMP/s.stime" \
		timeout -k 5 "$TO" socat -u "$SRC" "TCP:127.0.0.1:$port" \
		< /dev/null 2> "$TMP/s.serr" &
	spid=$!; BGPIDS+=("$spid")
	reap "$spid"; src=$?
	reap "$rpid"; rrc=$?
	t1=$EPOCHREALTIME
	[ "$src" = 0 ] || why="socat sender exit $src: $(head -c 200 "$TMP/s.serr" | tr '\n' ' ')"
	[ "$rrc" = 0 ] || why="${why:+$why; }socat receiver exit $rrc: $(head -c 200 "$TMP/s.rerr" | tr '\n' ' ')"
	record socat "$run" "$(elapsed "$t0" "$t1")" "$TMP/s.stime" "$TMP/s.rtime" "$out" "$why"
}

# ---------------------------------------------------------------- setup
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
note "temp dir $TMP ($(df -PT "$TMP" | awk 'NR==2 {print $2}') on $(df -P "$TMP" | awk 'NR==2 {print $1}'))"
note "creating a ${SIZE_MB} MiB random file..."
head -c "$(( SIZE_MB * 1048576 ))" /dev/urandom > "$SRC" || die "cannot create $SRC"
SRC_BYTES=$(stat -c %s -- "$SRC")
[ "$SRC_BYTES" = $(( SIZE_MB * 1048576 )) ] || die "short test file ($SRC_BYTES bytes)"
cat -- "$SRC" > /dev/null	# warm the page cache
SRC_SHA=$(sha256 "$SRC")

case " $TOOLS " in *" openssl "*)
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TMP/key.pem" -out "$TMP/cert.pem" -days 1 -subj /CN=localhost \
		> /dev/null 2>&1 || die "cannot create a self-signed certificate with openssl"
	mkfifo "$TMP/stdin.fifo" || die "mkfifo failed"
	exec {FIFO_FD}<>"$TMP/stdin.fifo" || die "cannot open the FIFO"
	;;
esac

read -r -a TOOLV <<< "$TOOLS"
NT=${#TOOLV[@]}
if [ "$WARMUP" -gt 0 ]; then
	# The first large write into fresh memory is much slower (page
	# allocation; in a VM, first touch of guest memory), which would
	# penalise whichever tool runs first. Warm up untimed, discard.
	note "warm-up: $WARMUP untimed run(s) of each tool (discarded)"
	MAIN_RESULTS=$RESULTS; RESULTS=$TMP/warmup.results
	for (( r = 1; r <= WARMUP; r++ )); do
		for t in "${TOOLV[@]}"; do "run_$t" "w$r"; done
	done
	RESULTS=$MAIN_RESULTS
fi
note "$RUNS measured run(s) per tool, interleaved, start rotated each round: $TOOLS"
for (( r = 1; r <= RUNS; r++ )); do
	for (( k = 0; k < NT; k++ )); do
		t=${TOOLV[(r - 1 + k) % NT]}
		"run_$t" "$r"
	done
done

# ---------------------------------------------------------------- report
median() {	# stdin: numbers, one per line -> median
	sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
		if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# col: 4 wall, 5 bytes, 6 s_usr, 7 s_sys, 8 s_rss, 9 r_usr, 10 r_sys, 11 r_rss
metric() {	# tool expr -> median over valid runs of awk expression
	awk -v t="$1" '$1 == t && $3 == 1 { print '"$2"' }' "$RESULTS" | median
}

declare -A M
for t in $TOOLS; do
	M[$t,n]=$(awk -v t="$t" '$1 == t && $3 == 1' "$RESULTS" | wc -l)
	M[$t,bad]=$(awk -v t="$t" '$1 == t && $3 != 1' "$RESULTS" | wc -l)
	[ "${M[$t,n]}" -gt 0 ] || continue
	M[$t,wall]=$(metric "$t" '$4')
	M[$t,mbps]=$(metric "$t" '$5 / 1e6 / $4')
	M[$t,scpu]=$(metric "$t" '($6 + $7) / ($5 / 1e9)')
	M[$t,rcpu]=$(metric "$t" '($9 + $10) / ($5 / 1e9)')
	M[$t,susr]=$(metric "$t" '$6 / ($5 / 1e9)')
	M[$t,ssys]=$(metric "$t" '$7 / ($5 / 1e9)')
	M[$t,rusr]=$(metric "$t" '$9 / ($5 / 1e9)')
	M[$t,rsys]=$(metric "$t" '$10 / ($5 / 1e9)')
	M[$t,sutil]=$(metric "$t" '100 * ($6 + $7) / $4')
	M[$t,rutil]=$(metric "$t" '100 * ($9 + $10) / $4')
	M[$t,srss]=$(metric "$t" '$8')
	M[$t,rrss]=$(metric "$t" '$11')
done

label() {
	case $1 in
	ktlscp) echo "ktlscp";;
	openssl) echo "openssl s_*";;
	socat) echo "socat (TCP)";;
	esac
}
fsync_label() {
	case $1 in
	ktlscp) echo "fsync (built in)";;
	*) if [ "$PEER_FSYNC" = 1 ]; then echo "sync FILE DIR"; else echo "NONE"; fi;;
	esac
}

echo
echo "ktlscp bench: loopback 127.0.0.1, $SRC_BYTES-byte random file (${SIZE_MB} MiB), page cache warm"
echo "host: $(uname -srm), $(nproc 2>/dev/null || echo '?') CPU(s); $("$BIN" --version 2>/dev/null | head -n 1); $(openssl version 2>/dev/null | awk '{print "OpenSSL", $2}'); $(socat -V 2>/dev/null | awk '/socat version/ {print "socat", $3; exit}')"
echo "load average (1/5/15 min) before: ${LOAD0:-?}, after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null) (other load skews the numbers)"
echo "TLS: TLS 1.3 + AES-128-GCM (ktlscp --tls 1.3 --cipher aes-128-gcm; openssl -tls1_3 -ciphersuites $OSSL_SUITE)"
echo "median of $RUNS run(s) per tool (after $WARMUP discarded warm-up run(s) each); MB = 1e6 B, GB = 1e9 B"
echo "wall = sender start .. receiver exit, incl. the receiver's fsync; CPU = user+sys of that side's"
echo "processes (per GB copied); RSS = that side's peak resident set (KB)"
echo
printf '%-12s %5s %8s %8s %11s %11s %10s %10s  %s\n' \
	tool valid "wall s" "MB/s" "send CPU" "recv CPU" "send RSS" "recv RSS" "receiver durability"
printf '%-12s %5s %8s %8s %11s %11s %10s %10s  %s\n' \
	"" "" "" "" "s/GB" "s/GB" "KB" "KB" ""
printf '%s\n' "------------------------------------------------------------------------------------------------"
for t in $TOOLS; do
	if [ "${M[$t,n]}" -gt 0 ]; then
		printf '%-12s %2d/%-2d %8.3f %8.1f %11.3f %11.3f %10.0f %10.0f  %s\n' "$(label "$t")" \
			"${M[$t,n]}" "$RUNS" "${M[$t,wall]}" "${M[$t,mbps]}" "${M[$t,scpu]}" "${M[$t,rcpu]}" \
			"${M[$t,srss]}" "${M[$t,rrss]}" "$(fsync_label "$t")"
	else
		printf '%-12s %2d/%-2d %s\n' "$(label "$t")" 0 "$RUNS" "INVALID: no valid run"
	fi
done
echo
echo "CPU split (median s/GB user / sys) and CPU utilisation (% of one core over the wall time):"
printf '%-12s %19s %19s %8s %8s\n' tool "send usr / sys" "recv usr / sys" "send %" "recv %"
for t in $TOOLS; do
	[ "${M[$t,n]}" -gt 0 ] || continue
	printf '%-12s %8.3f / %-8.3f %8.3f / %-8.3f %7.0f%% %7.0f%%\n' "$(label "$t")" \
		"${M[$t,susr]}" "${M[$t,ssys]}" "${M[$t,rusr]}" "${M[$t,rsys]}" "${M[$t,sutil]}" "${M[$t,rutil]}"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
has() { case " $TOOLS " in *" $1 "*) [ "${M[$1,n]}" -gt 0 ];; *) false;; esac; }

echo
if has ktlscp && has openssl; then
	echo "ktlscp vs openssl s_server/s_client (same TLS 1.3 AES-128-GCM):"
	echo "  throughput ratio  (ktlscp MB/s / openssl MB/s, >1 = ktlscp faster):  $(ratio "${M[ktlscp,mbps]}" "${M[openssl,mbps]}")"
	echo "  send CPU/GB ratio (ktlscp / openssl, <1 = ktlscp cheaper):           $(ratio "${M[ktlscp,scpu]}" "${M[openssl,scpu]}")"
	echo "  recv CPU/GB ratio (ktlscp / openssl, <1 = ktlscp cheaper):           $(ratio "${M[ktlscp,rcpu]}" "${M[openssl,rcpu]}")"
	echo "  send peak RSS ratio / recv peak RSS ratio:                           $(ratio "${M[ktlscp,srss]}" "${M[openssl,srss]}") / $(ratio "${M[ktlscp,rrss]}" "${M[openssl,rrss]}")"
fi
if has ktlscp && has socat; then
	echo "ktlscp vs plain TCP (socat, no crypto):"
	echo "  throughput ratio  (ktlscp / socat):                                  $(ratio "${M[ktlscp,mbps]}" "${M[socat,mbps]}")"
fi
if has openssl && [ "$PEER_FSYNC" != 1 ]; then
	echo "NOTE: BENCH_PEER_FSYNC=0: openssl/socat receivers do NOT fsync; ktlscp does (fsync before"
	echo "      rename, before it reports), so ktlscp's wall time and receiver CPU include work the"
	echo "      peers skip."
elif has openssl || has socat; then
	echo "note: ktlscp fsyncs the file before rename; to match, the openssl/socat receivers run"
	echo "      'sync FILE DIR' (fsync) after the transfer, inside their receiver timing and CPU."
fi
if has openssl; then
	echo "note: openssl s_client reads stdin in 8 KiB chunks, so it sends 8 KiB TLS records."
fi

echo
if [ -n "$KT_SEND_JSON" ]; then
	echo "ktlscp path measured (last run's --json):"
	for side in send recv; do
		if [ "$side" = send ]; then j=$KT_SEND_JSON; else j=$KT_RECV_JSON; fi
		if command -v python3 >/dev/null; then
			printf '  %s: ' "$side"
			printf '%s' "$j" | python3 -c 'import json, sys
try:
    d = json.loads(sys.stdin.read())
except Exception as e:
    print("(unparsable JSON: %s)" % e); sys.exit(0)
keys = ("tls_version", "cipher", "ktls_tx", "ktls_rx", "tx_path", "rx_path", "ktls_reason")
print(", ".join("%s=%s" % (k, d.get(k)) for k in keys))'
		else
			printf '  %s: %s\n' "$side" "$j"
		fi
	done
fi

bad=$(awk '$3 != 1' "$RESULTS" | wc -l)
if [ "$bad" -gt 0 ]; then
	echo
	echo "INVALID runs (excluded from the medians):"
	awk '$3 != 1 { gsub("_", " ", $12); printf "  %s run %s: %s\n", $1, $2, $12 }' "$RESULTS"
fi
echo
echo "per-run raw data (tool run valid wall_s bytes send_usr send_sys send_rssKB recv_usr recv_sys recv_rssKB):"
awk '{ printf "  %s %s %s %s %s %s %s %s %s %s %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 }' "$RESULTS"
exit 0
