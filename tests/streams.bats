#!/usr/bin/env bats
# Standard input as a source (PATH -) and recv --stdout: the tar pipe.

bats_require_minimum_version 1.5.0
load helpers

@test "tar c | ktlscp send - and ktlscp recv --stdout | tar x rebuild the tree byte-exact" {
	mkdir -p "$SRC/tree/sub dir" "$BATS_TEST_TMPDIR/out"
	head -c 3000000 /dev/urandom >"$SRC/tree/big"
	echo hello >"$SRC/tree/sub dir/hi"
	(cd "$BATS_TEST_TMPDIR/out" && exec "$KTLSCP" recv --port 0 --listen 127.0.0.1 --stdout 2>"$BATS_TEST_TMPDIR/recv.err" | tar x) &
	RECV_PID=$!
	wait_port "$BATS_TEST_TMPDIR/recv.err"
	run bash -c "tar c -C '$SRC' tree | timeout 120 '$KTLSCP' send --json 127.0.0.1:$RECV_PORT -"
	assert_exit 0
	echo "$output" | grep '^{' | jq -e '.files == 1 and .status == "ok"' >/dev/null
	wait_recv
	[ "$RECV_RC" -eq 0 ]
	assert_same_tree "$SRC/tree" "$BATS_TEST_TMPDIR/out/tree"
}

@test "standard input arrives as a file, named stdin or --name" {
	head -c 5000000 /dev/urandom >"$SRC/data"
	start_recv
	run bash -c "cat '$SRC/data' | timeout 120 '$KTLSCP' send --name data.bin 127.0.0.1:$RECV_PORT -"
	assert_exit 0
	wait_recv
	assert_same_file "$SRC/data" "$DST/data.bin"
	start_recv
	run bash -c "printf 'abc' | timeout 120 '$KTLSCP' send 127.0.0.1:$RECV_PORT -"
	assert_exit 0
	wait_recv
	[ "$(cat "$DST/stdin")" = abc ]
}

@test "empty standard input arrives as an empty file, next to files of the same run" {
	echo f >"$SRC/f"
	start_recv
	run bash -c "timeout 120 '$KTLSCP' send 127.0.0.1:$RECV_PORT '$SRC/f' - </dev/null"
	assert_exit 0
	wait_recv
	[ -f "$DST/stdin" ] && [ ! -s "$DST/stdin" ]
	assert_same_file "$SRC/f" "$DST/f"
}

@test "recv --stdout writes several files in order, nothing into a directory" {
	printf 'one\n' >"$SRC/a"
	printf 'two\n' >"$SRC/b"
	start_recv --stdout
	ktlscp_send "$SRC/a" "$SRC/b"
	assert_exit 0
	wait_recv
	[ "$RECV_RC" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/recv.out")" = "$(printf 'one\ntwo')" ]
	[ -z "$(ls -A "$DST")" ]
}

@test "usage: - twice, --name without -, --name with a slash, --stdout with DIR or --json" {
	run "$KTLSCP" send 127.0.0.1:1 - -
	assert_exit 2
	run "$KTLSCP" send --name x 127.0.0.1:1 /etc/hostname
	assert_exit 2
	run "$KTLSCP" send --name a/b 127.0.0.1:1 -
	assert_exit 2
	run "$KTLSCP" recv --stdout "$DST"
	assert_exit 2
	run "$KTLSCP" recv --stdout --json
	assert_exit 2
}

# stdin_path: the tx_path a lone standard-input stream should report.
stdin_path() {
	if have_ktls; then echo splice; else echo copy; fi
}

@test "piped standard input moves by splice on the kernel path (copy in user space), byte-exact" {
	head -c 6000000 /dev/urandom >"$SRC/data"
	start_recv
	run bash -c "cat '$SRC/data' | timeout 120 '$KTLSCP' send --json --name data 127.0.0.1:$RECV_PORT -"
	assert_exit 0
	wait_recv
	[ "$RECV_RC" -eq 0 ]
	assert_same_file "$SRC/data" "$DST/data"
	echo "$output" | grep '^{' | jq -e --arg p "$(stdin_path)" --arg m "$(expected_mode)" \
		'.tx_path == $p and .ktls_tx == $m and .bytes == 6000000' >/dev/null
}

@test "standard input redirected from a file moves the same way, byte-exact" {
	head -c 3000000 /dev/urandom >"$SRC/data"
	start_recv
	run bash -c "timeout 120 '$KTLSCP' send --json --name data 127.0.0.1:$RECV_PORT - <'$SRC/data'"
	assert_exit 0
	wait_recv
	assert_same_file "$SRC/data" "$DST/data"
	echo "$output" | grep '^{' | jq -e --arg p "$(stdin_path)" '.tx_path == $p' >/dev/null
}

@test "on the kernel path no byte of a piped standard input is read into the process (strace)" {
	skip_unless_ktls
	command -v strace >/dev/null || skip "no strace"
	head -c 4000000 /dev/urandom >"$SRC/data"
	start_recv
	run bash -c "cat '$SRC/data' | timeout 300 strace -f -qq -e trace=read,splice \
		-o '$BATS_TEST_TMPDIR/trace' '$KTLSCP' send --name data 127.0.0.1:$RECV_PORT -"
	assert_exit 0
	wait_recv
	assert_same_file "$SRC/data" "$DST/data"
	# splice(0, ...) moves the data; read(0, ...) never happens.
	grep -Eq '^([0-9]+ +)?splice\(0,' "$BATS_TEST_TMPDIR/trace"
	! grep -Eq '^([0-9]+ +)?read\(0,' "$BATS_TEST_TMPDIR/trace"
}

@test "a terminal on standard input falls back to the copy path" {
	command -v script >/dev/null || skip "no script(1) for a pseudo-terminal"
	start_recv
	# script(1) puts the sender's standard input on a pseudo-terminal; the
	# line and then ^D reach it as input and end of file.
	run bash -c "{ sleep $(settle); printf 'typed line\n'; sleep $(settle); printf '\004'; } |
		timeout 120 script -qec \"'$KTLSCP' send --json --name typed 127.0.0.1:$RECV_PORT - 2>&1\" /dev/null"
	assert_exit 0
	wait_recv
	[ "$RECV_RC" -eq 0 ]
	[ "$(cat "$DST/typed")" = "typed line" ]
	echo "$output" | tr -d '\r' | grep '^{' | jq -e '.tx_path == "copy"' >/dev/null
}

@test "--verify on standard input takes the copy path and verifies the stream" {
	head -c 2000000 /dev/urandom >"$SRC/data"
	start_recv
	run bash -c "cat '$SRC/data' | timeout 120 '$KTLSCP' send --verify --json --name data 127.0.0.1:$RECV_PORT -"
	assert_exit 0
	wait_recv
	assert_same_file "$SRC/data" "$DST/data"
	echo "$output" | grep '^{' | jq -e '.tx_path == "copy" and .verified == 1' >/dev/null
}
