# shellcheck shell=bash
# bench/report.bash: turns $RESULTS (one line per measured copy, see
# bench_record) into the results: medians over the valid runs of each tool,
# a Markdown file with one table per scenario and the issue's targets
# checked against the ratios, a gnuplot picture (one panel per scenario),
# and the raw lines.  Units: MB = 1e6 bytes, GB = 1e9 bytes, MiB = 2^20.
#
# Sourced by bench/bench.sh, never run.

declare -A M

# metric SCEN TOOL EXPR: median over the valid runs of an awk expression of
# the columns: 5 wall, 6 bytes, 7 files, 8-10 sender usr sys rss(KB),
# 11-13 receiver usr sys rss(KB).
metric() {
	awk -v s="$1" -v t="$2" '$1 == s && $2 == t && $4 == 1 { print '"$3"' }' "$RESULTS" | median
}

# report_medians SCEN TOOL...: fill M[SCEN/TOOL,...].
report_medians() {
	local s=$1 t k
	shift
	for t in "$@"; do
		k=$s/$t
		M[$k,n]=$(awk -v s="$s" -v t="$t" '$1 == s && $2 == t && $4 == 1' "$RESULTS" | wc -l)
		[ "${M[$k,n]}" -gt 0 ] || continue
		M[$k,wall]=$(metric "$s" "$t" '$5')
		M[$k,mbps]=$(metric "$s" "$t" '$6 / 1e6 / $5')
		M[$k,fps]=$(metric "$s" "$t" '$7 / $5')
		M[$k,scpu]=$(metric "$s" "$t" '($8 + $9) / ($6 / 1e9)')
		M[$k,rcpu]=$(metric "$s" "$t" '($11 + $12) / ($6 / 1e9)')
		M[$k,srss]=$(metric "$s" "$t" '$10 / 1024')
		M[$k,rrss]=$(metric "$s" "$t" '$13 / 1024')
	done
}

# fps_cell SCEN FPS: files per second, but not for the one file of a.
fps_cell() { if [ "$1" = a ]; then echo "-"; else printf '%.0f' "$2"; fi; }

# md_label SCEN/TOOL: the tool's name for a Markdown table cell.
md_label() { tool_label "$1" | sed 's/|/\\|/g'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
has() { [ "${M[$1,n]:-0}" -gt 0 ]; }

# report_table SCEN BASE BASENAME TOOL...: the Markdown table of one
# scenario; one column is each tool's wall time over BASE's (above 1: BASE
# is faster).
report_table() {
	local s=$1 base=$2 t k
	echo "| tool | valid runs | wall s | MB/s | files/s | wall / $3's | send CPU s/GB | recv CPU s/GB | send peak RSS MiB | recv peak RSS MiB |"
	shift 3
	echo "|---|---|---|---|---|---|---|---|---|---|"
	for t in "$@"; do
		k=$s/$t
		if [ -n "${SKIP[$k]:-}" ]; then
			echo "| $(md_label "$k") | skipped: ${SKIP[$k]} | | | | | | | | |"
		elif has "$k"; then
			printf '| %s | %d/%d | %.3f | %.1f | %s | %s | %.2f | %.2f | %.1f | %.1f |\n' \
				"$(md_label "$k")" "${M[$k,n]}" "$RUNS" "${M[$k,wall]}" "${M[$k,mbps]}" \
				"$(fps_cell "$s" "${M[$k,fps]}")" "$(ratio "${M[$k,wall]}" "${M[$s/$base,wall]:-}")" \
				"${M[$k,scpu]}" "${M[$k,rcpu]}" "${M[$k,srss]}" "${M[$k,rrss]}"
		else
			echo "| $(md_label "$k") | 0/$RUNS (no valid run) | | | | | | | | |"
		fi
	done
}

# target TEXT MEASURED GOAL OP: one row of the targets table (OP ge or lt).
target() {
	local met
	met=$(awk -v m="$2" -v g="$3" -v op="$4" 'BEGIN { if (m == "n/a") print "not measured";
		else if (op == "ge") print (m + 0 >= g + 0) ? "met" : "NOT met";
		else print (m + 0 < g + 0) ? "met" : "NOT met" }')
	echo "| $1 | $2 | $met |"
}

report_targets() {
	local k rss
	echo "| target (issue 12) | measured | |"
	echo "|---|---|---|"
	if ran a; then
		target "1 large file: ktlscp MB/s / socat OPENSSL MB/s >= 1.2" \
			"$(ratio "${M[a/ktlscp,mbps]:-}" "${M[a/socat_tls,mbps]:-}")" 1.2 ge
		target "1 large file: ktlscp MB/s / plain TCP MB/s >= 0.8" \
			"$(ratio "${M[a/ktlscp,mbps]:-}" "${M[a/tcp,mbps]:-}")" 0.8 ge
	fi
	if ran b; then
		target "small files: rsync -a -e ssh wall / ktlscp wall >= 2" \
			"$(ratio "${M[b/rsync,wall]:-}" "${M[b/ktlscp,wall]:-}")" 2 ge
		target "small files: scp -r wall / ktlscp wall >= 5" \
			"$(ratio "${M[b/scp,wall]:-}" "${M[b/ktlscp,wall]:-}")" 5 ge
	fi
	if ran c; then
		target "$SENDERS concurrent senders: aggregate MB/s / 1 sender MB/s >= 1" \
			"$(ratio "${M[c/many,mbps]:-}" "${M[c/one,mbps]:-}")" 1 ge
	fi
	for k in a/ktlscp b/ktlscp c/one c/many; do
		has "$k" || continue
		rss=$(awk -v a="${M[$k,srss]}" -v b="${M[$k,rrss]}" 'BEGIN { printf "%.1f", (a > b) ? a : b }')
		target "$(md_label "$k"): peak RSS of either end < 16 MiB" "$rss" 16 lt
	done
}

# report_md: the whole Markdown report on stdout.
report_md() {
	echo "# ktlscp bench results"
	echo
	echo "Command (from the top of the source tree, after configure):"
	echo
	echo '```'
	echo "$BENCH_COMMAND"
	echo '```'
	echo
	echo "- when: $STARTED .. $(date -u '+%Y-%m-%d %H:%M UTC'); source: ${SRC_REV:-unknown}"
	echo "- host: $(uname -srm), $(nproc) CPU(s), $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "- load average (1/5/15 min) before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg) (other load skews every number)"
	echo "- versions: $VERSIONS"
	echo "- files on $(df -PT "$TMP" | awk 'NR == 2 { print $2 }'), page cache warm; loopback 127.0.0.1"
	[ -f "$TMP/ktlscp.json" ] && echo "- ktlscp data path (last run's --json): $(ktlscp_path)"
	echo "- median of $RUNS round(s) after $WARMUP discarded warm-up round(s); in each round every tool"
	echo "  runs once, the first tool rotated from round to round"
	echo "- wall = sender start .. receiver done, including the receiver's fsync (ktlscp: its own;"
	echo "  others: sync FILE DIR for one file, sync -f DIR for a tree, counted on the receiving end);"
	echo "  CPU = user+sys of each end's process tree (GNU time, 10 ms steps) per GB copied; peak RSS = the largest process"
	echo "  of that end (ru_maxrss); MB = 1e6 bytes, GB = 1e9 bytes, MiB = 2^20 bytes"
	echo "- TLS: 1.3 with AES-128-GCM for ktlscp, socat and openssl; ssh: aes128-gcm@openssh.com through"
	echo "  a loopback sshd started by the bench (one sshd -i per copy, throwaway keys)"
	if ran a; then
		echo
		echo "## a. One $SIZE_H random file to a new file"
		echo
		report_table a ktlscp ktlscp "${TOOLS_A[@]}"
		echo
		echo "openssl s_client reads its stdin 8 KiB at a time, so it sends 8 KiB records."
	fi
	if ran b; then
		echo
		echo "## b. $FILES files of 1-8 KiB in $DIRS directories ($(awk -v b="$TREE_BYTES" 'BEGIN { printf "%.1f", b / 1e6 }') MB)"
		echo
		report_table b ktlscp ktlscp "${TOOLS_B[@]}"
		echo
		echo "Permission bits and times: rsync -a and tar x keep them, scp -r and ktlscp send -r (no -p) do not."
	fi
	if ran c; then
		echo
		echo "## c. $SENDERS concurrent senders into one recv -k ($SENDERS files of $C_EACH_H, aggregate)"
		echo
		report_table c one "1 sender" "${TOOLS_C[@]}"
		echo
		echo "Both rows copy the same $SENDERS files into one \`recv -k\` (default --max-conns 64, --max-startups 10):"
		echo "one sender sends them all in one connection, or $SENDERS senders one each, all at once;"
		echo "wall ends when the last sender exits (every file durable). The receiver's CPU covers its whole life."
	fi
	if ran d; then
		echo
		echo "## d. --streams 1/4/8 over an emulated long fat pipe"
		echo
		echo "SKIPPED: $D_WHY"
	fi
	echo
	echo "## Targets"
	echo
	report_targets
	if [ -n "$PLOT" ]; then
		echo
		echo "![medians]($PLOT)"
	fi
	if awk '$4 != 1 { f = 1 } END { exit !f }' "$RESULTS"; then
		echo
		echo "## Invalid runs (not in the medians)"
		echo
		awk '$4 != 1 { gsub("_", " ", $14); printf "- %s %s run %s: %s\n", $1, $2, $3, $14 }' "$RESULTS"
	fi
	echo
	echo "Every run: \`${RAW##*/}\` (scen tool run valid wall_s bytes files send_usr send_sys send_rssKB recv_usr recv_sys recv_rssKB note)."
}

ktlscp_path() {
	perl -ne 'for my $k (qw(tls_version cipher ktls_tx ktls_rx tx_path rx_path)) {
		push @o, "$k=$1" if /"$k":"?([^",}]*)/ } END { print join(", ", @o), "\n" }' "$TMP/ktlscp.json"
}

plot_colour() { case $1 in */ktlscp|c/*) echo 7;; *) echo 3;; esac; }

# plot_label SCEN/TOOL: a short name under a bar.
plot_label() {
	case $1 in
	a/socat_tls) echo "socat TLS 128K";;
	a/openssl) echo "openssl s_server";;
	a/tcp) echo "TCP (socat 128K)";;
	b/ktlscp) echo "ktlscp send -r";;
	b/rsync) echo "rsync -a";;
	b/tar) echo "tar | ssh tar";;
	c/one) echo "1 sender";;
	c/many) echo "$SENDERS senders";;
	*) echo "${1#*/}";;
	esac
}

# report_plot FILE: one PNG (SVG without cairo) with a panel per scenario.
report_plot() {
	local out=$1 s t k n=0 term dat gp=$TMP/plot.gp tl=()
	command -v gnuplot >/dev/null || { note "gnuplot not installed: no picture"; return 1; }
	for s in a b c; do ran "$s" && n=$((n + 1)); done
	[ "$n" -gt 0 ] || return 1
	if gnuplot -e 'set terminal pngcairo' 2>/dev/null; then
		term="pngcairo size $((n * 560)),480 font 'sans,9'"
	else
		term="svg size $((n * 560)),480"; out=${out%.png}.svg
	fi
	{
		echo "set terminal $term"
		echo "set output '$out'"
		echo "set multiplot layout 1,$n title 'ktlscp bench, medians of $RUNS (loopback, $(nproc) CPUs)'"
		echo "set style fill solid 0.6; set boxwidth 0.6; set yrange [0:*]; set grid y"
		echo "set termoption noenhanced"
		echo "set xtics rotate by -25 left; set bmargin 6; unset key"
	} > "$gp"
	for s in a b c; do
		ran "$s" || continue
		dat=$TMP/plot_$s.dat
		: > "$dat"
		case $s in
		a) tl=("${TOOLS_A[@]}");; b) tl=("${TOOLS_B[@]}");; c) tl=("${TOOLS_C[@]}");;
		esac
		for t in "${tl[@]}"; do
			k=$s/$t
			has "$k" || continue
			# third column: the bar's colour, ktlscp's own rows apart
			if [ "$s" = b ]; then echo "\"$(plot_label "$k")\" ${M[$k,fps]} $(plot_colour "$k")"
			else echo "\"$(plot_label "$k")\" ${M[$k,mbps]} $(plot_colour "$k")"; fi >> "$dat"
		done
		case $s in
		a) echo "set title 'a. one $SIZE_H file'; set ylabel 'MB/s'";;
		b) echo "set title 'b. $FILES small files'; set ylabel 'files/s'";;
		c) echo "set title 'c. $SENDERS senders, one recv -k'; set ylabel 'aggregate MB/s'";;
		esac >> "$gp"
		echo "plot '$dat' using 0:2:3:xtic(1) with boxes lc variable, '' using 0:2:(sprintf('%.0f', \$2)) with labels offset 0,0.7" >> "$gp"
	done
	echo "unset multiplot" >> "$gp"
	gnuplot "$gp" 2> "$TMP/plot.err" || { note "gnuplot failed: $(head -c 300 "$TMP/plot.err")"; return 1; }
	PLOT=${out##*/}
}

# report_write: the picture, the Markdown and the raw runs into $OUTDIR; the
# Markdown also on stdout.
report_write() {
	local md=$OUTDIR/bench.md
	RAW=$OUTDIR/bench-runs.txt
	report_medians a "${TOOLS_A[@]}"
	report_medians b "${TOOLS_B[@]}"
	report_medians c "${TOOLS_C[@]}"
	mkdir -p "$OUTDIR"
	PLOT=""
	rm -f "$OUTDIR/bench.png" "$OUTDIR/bench.svg"
	report_plot "$OUTDIR/bench.png"
	cp "$RESULTS" "$RAW"
	report_md > "$md"
	cat "$md"
	note "written: $md, $RAW${PLOT:+, $OUTDIR/$PLOT}"
}
