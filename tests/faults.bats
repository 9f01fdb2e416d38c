#!/usr/bin/env bats
# Faults: the sender or the receiver killed with SIGKILL at a random moment
# of a transfer, trial after trial.  After each kill nothing in DIR is under
# a final name unless it is byte-identical to its source, partials hold a
# prefix of their source, nothing is outside DIR, the survivor exits with a
# documented code naming its peer; then send --resume to a fresh receiver
# on the same DIR delivers the whole tree byte-exact and leaves no partial.
#
# The trials are seeded: KTLSCP_FAULT_SEED (default 20261201) and
# KTLSCP_FAULT_TRIALS (default 20).  The seed and each trial's choices are
# printed, so that a failing trial can be replayed with the same seed.

load helpers

# Transfers are paced (--limit-rate) so that a kill lands before, inside or
# after them; the kill comes after 0 to SPAN ms.  Under emulation in the VM
# every process and every byte costs some 30 times more: a smaller tree, a
# lower rate and a longer span there.
if [ -n "${KTLSCP_IN_VM:-}" ]; then
	SIZES="1572864 786432 524288" RATE=1500K SPAN=2500
else
	SIZES="5242880 2097152 1048576" RATE=12M SPAN=900
fi

setup_file() {
	# A few files, some of several MiB, in a tree; with the source sums
	# and, per file, where its partial would be (.ktlscp- + 16 hex digits
	# of SHA-256 of its path + .part, in its directory).
	local t=$BATS_FILE_TMPDIR/src/tree f dir
	mkdir -p "$t/sub/deep"
	set -- $SIZES
	head -c "$1" /dev/urandom >"$t/big1"
	head -c "$2" /dev/urandom >"$t/big2"
	head -c "$3" /dev/urandom >"$t/sub/mid"
	head -c 10000 /dev/urandom >"$t/sub/deep/small"
	printf x >"$t/sub/tiny"
	: >"$t/sub/deep/empty"
	sums_of "$BATS_FILE_TMPDIR/src" >"$BATS_FILE_TMPDIR/sums"
	(cd "$BATS_FILE_TMPDIR/src" && find tree -type f) | while read -r f; do
		dir=${f%/*}
		printf '%s/.ktlscp-%s.part %s\n' "$dir" "$(printf '%s' "$f" | sha256sum | cut -c1-16)" "$f"
	done >"$BATS_FILE_TMPDIR/parts"
}

# sums_of DIR: sorted "sha256  path" lines of the files of DIR, partials
# left out.
sums_of() {
	(cd "$1" && find . -type f ! -name '.ktlscp-*' -printf '%P\0' | xargs -0 -r sha256sum | LC_ALL=C sort)
}

# wait_for PID SECONDS: wait up to SECONDS for a background process to end;
# then sets WAIT_RC and returns 0, or returns 1 while it still runs.
wait_for() {
	local i
	for i in $(seq 1 $(($2 * 10))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$1" 2>/dev/null || return 1
	WAIT_RC=0
	wait "$1" || WAIT_RC=$?
}

# listening PORT: a socket still listens on 127.0.0.1:PORT (a one-shot
# receiver closes its listening socket once it has accepted a sender).
listening() {
	awk -v a="$(printf '0100007F:%04X' "$1")" '$2 == a && $4 == "0A" { f = 1 } END { exit !f }' /proc/net/tcp
}

# hung WHO PID: report a process that did not end, and end it.
hung() {
	echo "trial $t: the $1 did not exit (seed $seed)" >&2
	cat "$BATS_TEST_TMPDIR"/*.err >&2
	kill -9 "$2" 2>/dev/null || true
	return 1
}

# check_after_kill BOX: DIR is BOX/dst and nothing else is in BOX; every file
# under a final name equals its source (sha256); every partial is a prefix
# of its source; no other temporary file.
check_after_kill() {
	local box=$1 part src out bad
	[ "$(ls -A "$box")" = dst ] || { echo "outside DIR: $(ls -A "$box")" >&2; return 1; }
	[ -z "$(find "$box/dst" ! -type f ! -type d)" ] || { echo "not a file or directory in DIR" >&2; return 1; }
	bad=$(sums_of "$box/dst" | LC_ALL=C comm -23 - "$BATS_FILE_TMPDIR/sums")
	[ -z "$bad" ] || { echo "under a final name but not its source: $bad" >&2; return 1; }
	while read -r part src; do
		[ -e "$box/dst/$part" ] || continue
		# Equal, or cmp reaches the end of the partial first.
		out=$(cmp "$box/dst/$part" "$BATS_FILE_TMPDIR/src/$src" 2>&1) ||
			[[ "$out" == *"EOF on $box/dst/$part"* ]] ||
			{ echo "the partial of $src is not a prefix of it: $out" >&2; return 1; }
	done <"$BATS_FILE_TMPDIR/parts"
	[ -z "$(find "$box/dst" -name '.ktlscp-*' | grep -vxFf <(sed "s|^|$box/dst/|; s| .*||" "$BATS_FILE_TMPDIR/parts"))" ] ||
		{ echo "a stray temporary file" >&2; return 1; }
}

@test "seeded kill -9 trials: nothing wrong under a final name, and --resume completes the tree" {
	local seed=${KTLSCP_FAULT_SEED:-20261201} trials=${KTLSCP_FAULT_TRIALS:-20}
	local t victim delay box send_rc recv_rc was_running nosender how survivor_rc survivor_err cut=0 partials=0
	local start=$SECONDS
	echo "# KTLSCP_FAULT_SEED=$seed KTLSCP_FAULT_TRIALS=$trials rate $RATE, kills within $SPAN ms" >&3
	RANDOM=$seed
	for t in $(seq 1 "$trials"); do
		# Alternate the victim (both are always covered); the delay
		# comes from the seeded generator.
		if [ $((t % 2)) -eq 1 ]; then victim=receiver; else victim=sender; fi
		delay=$((RANDOM % SPAN))
		box=$BATS_TEST_TMPDIR/box$t
		DST=$box/dst
		mkdir -p "$DST"
		start_recv "$DST"
		"$KTLSCP" send -r --limit-rate "$RATE" "127.0.0.1:$RECV_PORT" "$BATS_FILE_TMPDIR/src/tree" \
			>/dev/null 2>"$BATS_TEST_TMPDIR/send.err" &
		SEND_PID=$!
		sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
		nosender=0
		if [ "$victim" = receiver ]; then
			kill -9 "$RECV_PID" 2>/dev/null && was_running=1 || was_running=0
			wait_for "$SEND_PID" 120 || hung sender "$SEND_PID"
			send_rc=$WAIT_RC
			wait_for "$RECV_PID" 10 || hung receiver "$RECV_PID"
			recv_rc=$WAIT_RC
			survivor_rc=$send_rc
			survivor_err=$BATS_TEST_TMPDIR/send.err
		else
			kill -9 "$SEND_PID" 2>/dev/null && was_running=1 || was_running=0
			wait_for "$SEND_PID" 10 || hung sender "$SEND_PID"
			send_rc=$WAIT_RC
			if ! wait_for "$RECV_PID" 5 && listening "$RECV_PORT"; then
				# Killed before it connected: the receiver rightly
				# waits for a sender still.
				nosender=1
				kill -TERM "$RECV_PID"
			fi
			wait_for "$RECV_PID" 120 || hung receiver "$RECV_PID"
			recv_rc=$WAIT_RC
			survivor_rc=$recv_rc
			survivor_err=$BATS_TEST_TMPDIR/recv.err
		fi
		RECV_PID=
		how=killed
		[ "$was_running" = 1 ] || how="had exited"
		[ "$nosender" = 0 ] || how="killed before it connected (the receiver got SIGTERM)"
		echo "# trial $t: kill -9 the $victim after $delay ms: $how," \
			"sender exit $send_rc, receiver exit $recv_rc," \
			"$(find "$DST" -name '.ktlscp-*.part' | wc -l) partial(s)" >&3
		[ "$survivor_rc" -eq 0 ] || echo "#   the $([ $victim = sender ] && echo receiver || echo sender) said: $(tail -n 1 "$survivor_err")" >&3
		# The survivor: done (0), or a documented failure naming its
		# peer, never a hang or a crash.
		if [ "$nosender" = 1 ]; then
			[ -z "$(ls -A "$DST")" ]
		elif [ "$survivor_rc" -eq 0 ]; then
			[ "$(sums_of "$DST")" = "$(cat "$BATS_FILE_TMPDIR/sums")" ] ||
				{ echo "trial $t (seed $seed): a successful run did not deliver the tree" >&2; false; }
		elif [ "$survivor_rc" -eq 3 ] || [ "$survivor_rc" -eq 5 ]; then
			grep -q "^ktlscp: 127\.0\.0\.1:[0-9]*: " "$survivor_err" ||
				{ echo "trial $t: the $victim's peer did not name it:" >&2; cat "$survivor_err" >&2; false; }
			cut=$((cut + 1))
		else
			echo "trial $t: survivor exit $survivor_rc (seed $seed)" >&2
			cat "$survivor_err" >&2
			false
		fi
		if [ "$was_running" = 0 ]; then
			# Killed nothing: the victim had finished, successfully.
			[ "$([ $victim = sender ] && echo "$send_rc" || echo "$recv_rc")" -eq 0 ]
		fi
		check_after_kill "$box" || { echo "trial $t (seed $seed) failed after the kill" >&2; false; }
		partials=$((partials + $(find "$DST" -name '.ktlscp-*.part' | wc -l)))

		start_recv "$DST"
		run_send 0 -r --resume --json "$BATS_FILE_TMPDIR/src/tree"
		wait_recv 0
		[ "$(sums_of "$DST")" = "$(cat "$BATS_FILE_TMPDIR/sums")" ] ||
			{ echo "trial $t (seed $seed): --resume did not deliver the tree" >&2; false; }
		no_temp_files "$DST"
		[ "$(ls -A "$box")" = dst ]
		echo "# trial $t: --resume: $(echo "$output" | jq -r '"\(.resumed) bytes kept, \(.bytes) sent"')" >&3
		rm -rf "$box"
	done
	echo "# $trials trials in $((SECONDS - start)) s, $cut cut mid-transfer," \
		"$partials partial(s) resumed or replaced (seed $seed)" >&3
	# The span is meant to land most kills inside the transfer.
	[ "$cut" -ge $((trials / 4)) ]
}

# mid_file_kill WHO: start a paced transfer of one large file and kill -9 WHO
# (sender or receiver) once its partial has data: surely in mid-file.
mid_file_kill() {
	local part=$DST/$(partial_of big)
	truncate -s 256M "$SRC/big"
	start_recv
	"$KTLSCP" send --limit-rate 8M "127.0.0.1:$RECV_PORT" "$SRC/big" \
		>/dev/null 2>"$BATS_TEST_TMPDIR/send.err" &
	SEND_PID=$!
	wait_file "$part" || { echo "the transfer never started" >&2; cat "$BATS_TEST_TMPDIR"/*.err >&2; return 1; }
	if [ "$1" = receiver ]; then kill -9 "$RECV_PID"; else kill -9 "$SEND_PID"; fi
	wait_for "$SEND_PID" 120 || { kill -9 "$SEND_PID"; echo "the sender hangs" >&2; return 1; }
	SEND_RC=$WAIT_RC
	wait_for "$RECV_PID" 120 || { echo "the receiver hangs" >&2; return 1; }
	RECV_RC=$WAIT_RC
	RECV_PID=
}

@test "peer reset mid-file: the sender exits 3 or 5 naming the receiver and the file" {
	mid_file_kill receiver
	[ "$SEND_RC" -eq 3 ] || [ "$SEND_RC" -eq 5 ] || { cat "$BATS_TEST_TMPDIR/send.err"; false; }
	[ "$(wc -l <"$BATS_TEST_TMPDIR/send.err")" -eq 1 ]
	grep -q "^ktlscp: 127\.0\.0\.1:$RECV_PORT: .*(cut off in big)$" "$BATS_TEST_TMPDIR/send.err" ||
		{ cat "$BATS_TEST_TMPDIR/send.err"; false; }
	[ ! -e "$DST/big" ]
}

@test "peer reset mid-file: the receiver exits 3 or 5 naming the sender and the file, and keeps the partial" {
	mid_file_kill sender
	[ "$RECV_RC" -eq 3 ] || [ "$RECV_RC" -eq 5 ] || { cat "$BATS_TEST_TMPDIR/recv.err"; false; }
	grep -q "^ktlscp: 127\.0\.0\.1:[0-9]*: .*(cut off in big; its partial is kept for --resume)$" \
		"$BATS_TEST_TMPDIR/recv.err" || { cat "$BATS_TEST_TMPDIR/recv.err"; false; }
	[ ! -e "$DST/big" ]
	[ -s "$DST/$(partial_of big)" ]
}
