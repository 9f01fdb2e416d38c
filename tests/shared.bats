#!/usr/bin/env bats
# A DIR that other local users can write into: what they plant at a
# partial's name (a file of theirs, a writable file, a FIFO, a symbolic
# link) is never written through, read into a final name, or waited on; a
# sender cannot name the receiver's own temporary files; a temporary file
# swapped under the receiver is not renamed into place.  Every transfer
# that succeeds compares sha256.

load helpers

@test "a partial owned by another user is neither resumed nor written, with or without --resume" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to plant a file owned by another user"
	local part opt
	head -c 300000 /dev/urandom >"$SRC/f"
	part=$DST/$(partial_of f)
	for opt in --resume ""; do
		head -c 1000 "$SRC/f" >"$part"
		chown nobody "$part"
		chmod 600 "$part"
		before=$(sha256sum <"$part")
		start_recv
		run_send 5 $opt --json "$SRC/f"
		wait_recv
		grep -q "not this receiver's own partial" "$BATS_TEST_TMPDIR/recv.err"
		[ "$(sha256sum <"$part")" = "$before" ]
		[ "$(stat -c %U "$part")" = nobody ]
		[ ! -e "$DST/f" ]
		rm -f "$part"
	done
	# The same partial, ours again, is resumed.
	head -c 1000 "$SRC/f" >"$part"
	chmod 600 "$part"
	start_recv
	run_send 0 --resume --json "$SRC/f"
	wait_recv 0
	[ "$(json_field "$output" resumed)" = 1000 ]
	assert_same_file "$SRC/f" "$DST/f"
	no_temp_files "$DST"
}

@test "a receiver running as another user refuses a partial that is not its own" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to run a receiver as another user"
	local part dst
	# Somewhere the other user can reach (the test's own directory may sit
	# below directories only root may enter).
	dst=$(mktemp -d "${TMPDIR:-/tmp}/ktlscp-shared.XXXXXX")
	chmod 1777 "$dst"
	head -c 100000 /dev/urandom >"$SRC/f"
	part=$dst/$(partial_of f)
	head -c 500 "$SRC/f" >"$part"	# root's, mode 0644
	before=$(sha256sum <"$part")
	: >"$BATS_TEST_TMPDIR/recv.err"
	setpriv --reuid nobody --regid nogroup --clear-groups env HOME="$HOME" XDG_CONFIG_HOME="$XDG_CONFIG_HOME" \
		"$KTLSCP" recv --port 0 --listen 127.0.0.1 "$dst" >/dev/null 2>"$BATS_TEST_TMPDIR/recv.err" &
	RECV_PID=$!
	wait_port "$BATS_TEST_TMPDIR/recv.err"
	run_send 5 --resume --json "$SRC/f"
	wait_recv
	[ "$(sha256sum <"$part")" = "$before" ]
	[ ! -e "$dst/f" ]
	# Offered it is not (it is not ours); opened for writing it cannot be.
	grep -Eq "f: (Permission denied|a file that is not this receiver's own partial)" "$BATS_TEST_TMPDIR/recv.err"
	grep -q '"resumed":0' <<<"$output"
	rm -rf "$dst"
}

@test "a partial of ours that group or others may write is not trusted" {
	local part opt
	head -c 200000 /dev/urandom >"$SRC/f"
	part=$DST/$(partial_of f)
	for opt in --resume ""; do
		head -c 1000 "$SRC/f" >"$part"
		chmod 666 "$part"
		start_recv
		run_send 5 $opt --json "$SRC/f"
		wait_recv
		[ "$(stat -c %s "$part")" = 1000 ]
		[ ! -e "$DST/f" ]
	done
	grep -q "not this receiver's own partial" "$BATS_TEST_TMPDIR/recv.err"
}

@test "a FIFO planted at the partial's name does not hang the receiver" {
	local part opt
	echo data >"$SRC/f"
	part=$DST/$(partial_of f)
	mkfifo "$part"
	for opt in --resume ""; do
		start_recv --timeout 60
		SECONDS=0
		KTLSCP_TEST_TIMEOUT=30 run_send 5 $opt "$SRC/f"
		wait_recv
		[ "$SECONDS" -lt 20 ]
		[ -p "$part" ]
		[ ! -e "$DST/f" ]
	done
}

@test "a symbolic link planted at the partial's name is not followed" {
	local part opt
	echo secret >"$BATS_TEST_TMPDIR/outside"
	head -c 5000 /dev/urandom >"$SRC/f"
	part=$DST/$(partial_of f)
	ln -s "$BATS_TEST_TMPDIR/outside" "$part"
	for opt in --resume ""; do
		start_recv
		run_send 5 $opt "$SRC/f"
		wait_recv
		[ "$(cat "$BATS_TEST_TMPDIR/outside")" = secret ]
		[ -L "$part" ]
		[ ! -e "$DST/f" ]
	done
	# Gone, the file arrives.
	rm "$part"
	start_recv
	run_send 0 "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
}

@test "a path in the form of the receiver's temporary files is refused as a protocol error" {
	local name
	for name in ".ktlscp-0123456789abcdef.part" ".ktlscp-x.part"; do
		echo planted >"$SRC/$name"
		start_recv
		run_send 5 "$SRC/$name"
		wait_recv 5
		grep -q 'protocol error: the path ".ktlscp-.*\.part" has the form of the receiver' "$BATS_TEST_TMPDIR/recv.err"
		[ -z "$(ls -A "$DST")" ]
		rm "$SRC/$name"
	done
	# As a directory in a tree, too; a name that only looks alike is fine.
	mkdir -p "$SRC/t/.ktlscp-d.part" "$SRC/u"
	echo x >"$SRC/t/.ktlscp-d.part/f"
	echo y >"$SRC/u/.ktlscp-y.partial"
	echo z >"$SRC/u/ktlscp-z.part"
	start_recv
	run_send 5 -r "$SRC/t"
	wait_recv 5
	[ ! -e "$DST/t/.ktlscp-d.part" ]
	start_recv
	run_send 0 -r "$SRC/u"
	wait_recv 0
	assert_same_tree "$SRC/u" "$DST/u"
}

@test "a temporary file swapped during the transfer is not renamed into place" {
	local part
	head -c 3000000 /dev/urandom >"$SRC/f"
	part=$DST/$(partial_of f)
	start_recv
	"$KTLSCP" send --limit-rate 1M "127.0.0.1:$RECV_PORT" "$SRC/f" >/dev/null 2>"$BATS_TEST_TMPDIR/send.err" &
	spid=$!
	wait_file "$part"
	# Another file of ours, with other content, under the partial's name.
	echo impostor >"$DST/impostor"
	mv -f "$DST/impostor" "$part"
	rc=0
	wait "$spid" || rc=$?
	wait_recv
	[ "$rc" -eq 5 ] || { cat "$BATS_TEST_TMPDIR/send.err"; false; }
	[ ! -e "$DST/f" ]
	grep -q "replaced or changed by someone else" "$BATS_TEST_TMPDIR/recv.err"
	# What was swapped in is left alone: not ours to remove.
	[ "$(cat "$part")" = impostor ]
}

# -p and what was there before.

@test "-p leaves the mode and times of directories that were there before alone" {
	mkdir -p "$SRC/tree/old/deeper" "$SRC/tree/new"
	head -c 3000 /dev/urandom >"$SRC/tree/old/f"
	head -c 3000 /dev/urandom >"$SRC/tree/new/g"
	chmod 777 "$SRC/tree"
	chmod 755 "$SRC/tree/old"
	chmod 750 "$SRC/tree/new"
	touch -d 1999-01-01 "$SRC/tree" "$SRC/tree/old" "$SRC/tree/new" "$SRC/tree/old/deeper"
	mkdir -p "$DST/tree/old"
	chmod 700 "$DST/tree"
	chmod 000 "$DST/tree/old"
	touch -d 2010-06-01 "$DST/tree" "$DST/tree/old"
	start_recv
	run_send 0 -p -r "$SRC/tree"
	wait_recv 0
	assert_same_file "$SRC/tree/old/f" "$DST/tree/old/f"
	assert_same_file "$SRC/tree/new/g" "$DST/tree/new/g"
	[ "$(stat -c %a "$DST/tree")" = 700 ]
	[ "$(stat -c %a "$DST/tree/old")" = 0 ]
	# Not dated from the sender (adding entries dates them now, as ever).
	[ "$(stat -c %Y "$DST/tree")" != "$(stat -c %Y "$SRC/tree")" ]
	[ "$(stat -c %Y "$DST/tree/old")" != "$(stat -c %Y "$SRC/tree/old")" ]
	# The directories this transfer created get the sender's.
	[ "$(stat -c '%a %Y' "$DST/tree/new")" = "$(stat -c '%a %Y' "$SRC/tree/new")" ]
	[ "$(stat -c '%a %Y' "$DST/tree/old/deeper")" = "$(stat -c '%a %Y' "$SRC/tree/old/deeper")" ]
	chmod 755 "$DST/tree/old"
}

@test "modes: the umask applies without -p, exact bits with -p, never writable by others unless sticky" {
	mkdir -p "$SRC/m/ww" "$SRC/m/sticky" "$SRC/m/plain"
	head -c 100 /dev/urandom >"$SRC/m/f666"
	head -c 100 /dev/urandom >"$SRC/m/f644"
	chmod 666 "$SRC/m/f666"
	chmod 644 "$SRC/m/f644"
	chmod 777 "$SRC/m/ww"
	chmod 1777 "$SRC/m/sticky"
	chmod 755 "$SRC/m/plain"
	# A receiver with umask 027.
	umask 027
	start_recv
	umask 022
	run_send 0 -r "$SRC/m"
	wait_recv 0
	assert_same_tree "$SRC/m" "$DST/m"
	[ "$(stat -c %a "$DST/m/f666")" = 640 ]
	[ "$(stat -c %a "$DST/m/f644")" = 640 ]
	[ "$(stat -c %a "$DST/m/ww")" = 750 ]
	[ "$(stat -c %a "$DST/m/sticky")" = 750 ]
	rm -rf "$DST/m"
	umask 027
	start_recv
	umask 022
	run_send 0 -p -r "$SRC/m"
	wait_recv 0
	assert_same_tree "$SRC/m" "$DST/m"
	[ "$(stat -c %a "$DST/m/f666")" = 664 ]
	[ "$(stat -c %a "$DST/m/f644")" = 644 ]
	[ "$(stat -c %a "$DST/m/ww")" = 775 ]
	[ "$(stat -c %a "$DST/m/sticky")" = 1777 ]
	[ "$(stat -c %a "$DST/m/plain")" = 755 ]
}
