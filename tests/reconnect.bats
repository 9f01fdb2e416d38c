#!/usr/bin/env bats
# Past the AES key-use limit where the key cannot be updated (TLS 1.2 on
# any path; the kernel path on a kernel that cannot rekey), the sender
# continues on follow-up connections to the same receiver, from the byte
# where the last one stopped (man page: "Key updates and the key-use
# limit").  KTLSCP_KEY_RECORD_LIMIT lowers the limit; TLS 1.2 makes the
# same tests run natively (user space) and in the VM lanes (kernel).

load helpers
load sshd

teardown() {
	sshd_stop
	common_teardown
}

# The lowered budget: 300 records a connection in user space (GnuTLS
# counts; ktlscp keeps a floor of 36), 50 on the kernel path.
LIMIT=300
TLS12=(--tls 1.2 --cipher aes-128-gcm)

# host_only: a test whose subject is the handshake or the bootstrap, not
# the data path: the native lanes run it, the VM lanes (slow emulation,
# a budget) skip it.
host_only() {
	[ -z "${KTLSCP_IN_VM:-}" ] || skip "kernel-independent and slow under emulation; the native lanes run it"
}

# follow_up_port: the receiver's follow-up port, from its -v line (recv.err),
# into FPORT.
follow_up_port() {
	local i
	FPORT=
	for i in $(seq 1 100); do
		FPORT=$(sed -n 's/.*follow-up connections on port \([0-9]*\).*/\1/p' "$BATS_TEST_TMPDIR/recv.err")
		[ -n "$FPORT" ] && return 0
		sleep 0.1
	done
	false
}

@test "one file crosses the limit many times: byte-exact, reconnects counted at both ends, one -v line each" {
	head -c 50000000 /dev/urandom >"$SRC/f"
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT start_recv --json -v
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT run_send --separate-stderr 0 --json -v "${TLS12[@]}" "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
	local n
	n=$(jq -r .reconnects <<<"$output")
	[ "$n" -ge 8 ]
	[ "$(jq -r .reconnects "$BATS_TEST_TMPDIR/recv.out")" -eq "$n" ]
	[ "$(jq -r .status "$BATS_TEST_TMPDIR/recv.out")" = ok ]
	[ "$(grep -c "key-use limit reached: continued on follow-up connection" <<<"$stderr")" -eq "$n" ]
	[ "$(grep -c "continued on follow-up connection" "$BATS_TEST_TMPDIR/recv.err")" -eq "$n" ]
	no_temp_files "$DST"
}

@test "a tree crosses the limit inside files and between them, byte-exact" {
	mkdir -p "$SRC/t/a/b" "$SRC/t/c"
	local i
	for i in $(seq 1 12); do
		head -c $((i * 377777)) /dev/urandom >"$SRC/t/a/f$i"
	done
	for i in $(seq 1 300); do
		echo "small $i" >"$SRC/t/a/b/s$i"
	done
	head -c 9000000 /dev/urandom >"$SRC/t/c/big"
	: >"$SRC/t/c/empty"
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT start_recv
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT run_send --separate-stderr 0 --json "${TLS12[@]}" -r "$SRC/t"
	wait_recv 0
	assert_same_tree "$SRC/t" "$DST/t"
	[ "$(jq -r .reconnects <<<"$output")" -ge 5 ]
	[ "$(jq -r .files <<<"$output")" -eq 314 ]
}

@test "a standard-input stream crosses the limit, byte-exact" {
	head -c 15000000 /dev/urandom >"$SRC/data"
	start_recv
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT run_send --separate-stderr 0 --json "${TLS12[@]}" - < <(cat "$SRC/data")
	wait_recv 0
	assert_same_file "$SRC/data" "$DST/stdin"
	[ "$(jq -r .reconnects <<<"$output")" -ge 2 ]
}

@test "cp push continues on follow-up connections to the far end" {
	host_only
	skip_unless_sshd
	sshd_start
	head -c 15000000 /dev/urandom >"$SRC/f"
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT run_ktlscp --separate-stderr 0 cp --json "${TLS12[@]}" -e "$RSH" \
		--remote-ktlscp "$FAR" "$SRC/f" "$SSH_USER@127.0.0.1:$DST"
	assert_same_file "$SRC/f" "$DST/f"
	[ "$(jq -r .reconnects <<<"$output")" -ge 2 ]
	no_temp_files "$DST"
}

@test "recv -k: each sender continues on its own follow-up connections" {
	head -c 20000000 /dev/urandom >"$SRC/one"
	head -c 16000000 /dev/urandom >"$SRC/two"
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT start_recv -k
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT run_send --separate-stderr 0 --json "${TLS12[@]}" "$SRC/one"
	[ "$(jq -r .reconnects <<<"$output")" -ge 2 ]
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT run_send --separate-stderr 0 --json "${TLS12[@]}" "$SRC/two"
	[ "$(jq -r .reconnects <<<"$output")" -ge 2 ]
	assert_same_file "$SRC/one" "$DST/one"
	assert_same_file "$SRC/two" "$DST/two"
	# Both transfers over, the receiver still serves senders.
	echo x >"$SRC/three"
	run_send 0 "$SRC/three"
	assert_same_file "$SRC/three" "$DST/three"
}

@test "a follow-up that does not prove the binding is refused; the one-time token stays single-use" {
	host_only
	head -c 15000000 /dev/urandom >"$SRC/f"
	echo other >"$SRC/other"
	unset KTLSCP_TOKEN
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT start_recv -v
	[ -n "$RECV_TOKEN" ]
	# A slow sender (2 MB/s): about 8 s, with a follow-up every 2.4 s or
	# so; each forger below waits in the listener's queue until the next.
	KTLSCP_TOKEN=$RECV_TOKEN KTLSCP_KEY_RECORD_LIMIT=$LIMIT \
		timeout 120 "$KTLSCP" send --json --limit-rate 2M "${TLS12[@]}" "127.0.0.1:$RECV_PORT" "$SRC/f" \
		>"$BATS_TEST_TMPDIR/send.out" 2>"$BATS_TEST_TMPDIR/send.err" 3>&- &
	local spid=$! fport="" i
	for i in $(seq 1 100); do
		fport=$(sed -n 's/.*follow-up connections on port \([0-9]*\).*/\1/p' "$BATS_TEST_TMPDIR/recv.err")
		[ -n "$fport" ] && break
		sleep 0.1
	done
	[ -n "$fport" ]
	# The token of the first session is not the binding: the follow-up
	# port refuses it (exit 4), and no file arrives under its name.
	KTLSCP_TOKEN=$RECV_TOKEN run_ktlscp 4 send "127.0.0.1:$fport" "$SRC/other"
	[[ "$output" == *"follow-up connection refused"* || "$output" == *"handshake"* ]]
	# Nor a forged binding: the right PSK identity, a guessed key.
	printf 'ktlscp-reconnect:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
		>"$BATS_TEST_TMPDIR/forged.psk"
	chmod 600 "$BATS_TEST_TMPDIR/forged.psk"
	run_ktlscp 4 send --psk-file "$BATS_TEST_TMPDIR/forged.psk" "${TLS12[@]}" "127.0.0.1:$fport" "$SRC/other"
	# Nor does the main port take the one-time token a second time.
	KTLSCP_TOKEN=$RECV_TOKEN run_ktlscp '?' send --timeout 5 "127.0.0.1:$RECV_PORT" "$SRC/other"
	[ "$status" -ne 0 ]
	local src=0
	wait "$spid" || src=$?
	[ "$src" -eq 0 ] || { cat "$BATS_TEST_TMPDIR/send.err" >&2; false; }
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
	[ "$(jq -r .reconnects "$BATS_TEST_TMPDIR/send.out")" -ge 2 ]
	[ "$(grep -c "follow-up connection refused" "$BATS_TEST_TMPDIR/recv.err")" -eq 2 ]
	[ ! -e "$DST/other" ]
	no_temp_files "$DST"
	# After the transfer neither port takes anyone: the follow-up
	# listener is closed with the transfer.
	KTLSCP_TOKEN=$RECV_TOKEN run_ktlscp '?' send --timeout 5 "127.0.0.1:$fport" "$SRC/other"
	[ "$status" -ne 0 ]
	[ ! -e "$DST/other" ]
}

@test "a receiver that offers no follow-up (recv --connect) still stops clearly at the limit" {
	host_only
	head -c 6000000 /dev/urandom >"$SRC/f"
	local port
	port=$(unused_port)
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT timeout 60 "$KTLSCP" send --listen --bind 127.0.0.1 --port "$port" "${TLS12[@]}" \
		"$SRC/f" >"$BATS_TEST_TMPDIR/send.out" 2>"$BATS_TEST_TMPDIR/send.err" 3>&- &
	local spid=$!
	sleep 0.5
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT run_ktlscp 5 recv --connect "127.0.0.1:$port" "$DST"
	local src=0
	wait "$spid" || src=$?
	[ "$src" -eq 5 ]
	grep -q "only the end that connected can continue on a new connection" "$BATS_TEST_TMPDIR/send.err"
	[ ! -e "$DST/f" ]
}

@test "kernel path: 64 MiB at 50 records a key, many follow-up connections, byte-exact" {
	skip_unless_ktls
	head -c 67108864 /dev/urandom >"$SRC/f"
	# TLS 1.3 where the kernel cannot rekey (6.1); where it can, TLS 1.3
	# updates its key instead (rekey.bats) and TLS 1.2 reconnects.
	local tls=()
	[ "$("$KTLSCP" info --json | jq -r .ktls_rekey)" = true ] && tls=("${TLS12[@]}")
	start_recv --json
	KTLSCP_KEY_RECORD_LIMIT=50 run_send --separate-stderr 0 --json "${tls[@]}" --cipher aes-128-gcm "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
	[ "$(jq -r .ktls_tx <<<"$output")" = sw ]
	[ "$(jq -r .reconnects <<<"$output")" -ge 50 ]
	[ "$(jq -r .reconnects "$BATS_TEST_TMPDIR/recv.out")" -eq "$(jq -r .reconnects <<<"$output")" ]
}

@test "stray connections to the follow-up port (silent, garbage) do not stall the transfer" {
	host_only
	head -c 15000000 /dev/urandom >"$SRC/f"
	unset KTLSCP_TOKEN
	# A 10 s limit: a silent peer taken for the sender would use it up.
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT start_recv -v --timeout 10
	local t0=$SECONDS
	KTLSCP_TOKEN=$RECV_TOKEN KTLSCP_KEY_RECORD_LIMIT=$LIMIT \
		timeout 120 "$KTLSCP" send --json --limit-rate 4M "${TLS12[@]}" "127.0.0.1:$RECV_PORT" "$SRC/f" \
		>"$BATS_TEST_TMPDIR/send.out" 2>"$BATS_TEST_TMPDIR/send.err" 3>&- &
	local spid=$!
	follow_up_port
	# Before the first switch: three that connect and say nothing, one
	# that sends something other than TLS; they wait in the listener's
	# queue.
	local q1 q2 q3 g
	exec {q1}<>"/dev/tcp/127.0.0.1/$FPORT" {q2}<>"/dev/tcp/127.0.0.1/$FPORT" {q3}<>"/dev/tcp/127.0.0.1/$FPORT"
	exec {g}<>"/dev/tcp/127.0.0.1/$FPORT"
	# Not random bytes: those can read as the header of a record longer
	# than what follows (SSLv2's among them), a stall rather than garbage.
	printf 'GET / HTTP/1.0\r\n\r\n' >&"$g"
	local src=0
	wait "$spid" || src=$?
	exec {q1}>&- {q2}>&- {q3}>&- {g}>&-
	[ "$src" -eq 0 ] || { cat "$BATS_TEST_TMPDIR/send.err" "$BATS_TEST_TMPDIR/recv.err" >&2; false; }
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
	[ "$(jq -r .reconnects "$BATS_TEST_TMPDIR/send.out")" -ge 2 ]
	# About 4 s at 4 MB/s; well under the 10 s any stall would cost.
	[ $((SECONDS - t0)) -lt 10 ]
	# The non-TLS one is refused in words; the silent ones are closed.
	grep -q "follow-up connection refused" "$BATS_TEST_TMPDIR/recv.err" || { cat "$BATS_TEST_TMPDIR/recv.err" >&2; false; }
	no_temp_files "$DST"
}

@test "a replayed follow-up secret and a wrong one are refused in words; the real sender completes" {
	host_only
	head -c 15000000 /dev/urandom >"$SRC/f"
	unset KTLSCP_TOKEN
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT start_recv -v --json
	# The forge sends like ktlscp send and, at each switch, first tries a
	# follow-up with a random secret (the first switch) or with the secret
	# the switch before used (the later ones).
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT run timeout 120 "$KTLSCP_FORGE" 127.0.0.1 "$RECV_PORT" "$RECV_TOKEN" \
		replay "$SRC/f"
	[ "$status" -eq 0 ] || { echo "$output"; cat "$BATS_TEST_TMPDIR/recv.err"; false; } >&2
	[[ "$output" == *"DONE ok"* ]]
	[[ "$output" != *ACCEPTED* ]]
	[ "$(grep -c '^REFUSED wrong$' <<<"$output")" -eq 1 ]
	local n
	n=$(sed -n 's/^SWITCHES //p' <<<"$output")
	[ "$n" -ge 2 ]
	[ "$(grep -c '^REFUSED replay$' <<<"$output")" -eq $((n - 1)) ]
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
	[ "$(jq -r .reconnects "$BATS_TEST_TMPDIR/recv.out")" -eq "$n" ]
	[ "$(grep -c "follow-up connection refused: it does not prove this transfer's one-time binding" \
		"$BATS_TEST_TMPDIR/recv.err")" -eq "$n" ]
	no_temp_files "$DST"
}

@test "a follow-up candidate that stops after its ClientHello does not hold up the sender's" {
	host_only
	head -c 15000000 /dev/urandom >"$SRC/f"
	unset KTLSCP_TOKEN
	# A 10 s limit: a stalled handshake taken alone would use it up.
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT start_recv -v --json --timeout 10
	local t0=$SECONDS
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT run timeout 120 "$KTLSCP_FORGE" 127.0.0.1 "$RECV_PORT" "$RECV_TOKEN" \
		replay "$SRC/f" stall
	[ "$status" -eq 0 ] || { echo "$output"; cat "$BATS_TEST_TMPDIR/recv.err"; false; } >&2
	[[ "$output" == *"DONE ok"* ]]
	[[ "$output" != *ACCEPTED* ]]
	local n
	n=$(sed -n 's/^SWITCHES //p' <<<"$output")
	[ "$n" -ge 2 ]
	[ "$(grep -c '^REFUSED ' <<<"$output")" -eq "$n" ]
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
	[ "$(jq -r .reconnects "$BATS_TEST_TMPDIR/recv.out")" -eq "$n" ]
	[ $((SECONDS - t0)) -lt 10 ]
	no_temp_files "$DST"
}

@test "cp --data-port N: the follow-up connections come to N too" {
	host_only
	skip_unless_sshd
	sshd_start
	head -c 15000000 /dev/urandom >"$SRC/f"
	local port
	port=$(unused_port)
	KTLSCP_KEY_RECORD_LIMIT=$LIMIT run_ktlscp --separate-stderr 0 cp -v --json "${TLS12[@]}" -e "$RSH" \
		--remote-ktlscp "$FAR" --data-port "$port" "$SRC/f" "$SSH_USER@127.0.0.1:$DST"
	assert_same_file "$SRC/f" "$DST/f"
	[ "$(jq -r .reconnects <<<"$output")" -ge 2 ]
	# The far end's -v line names its follow-up port.
	grep -q "follow-up connections on port $port\$" <<<"$stderr" || { echo "$stderr" >&2; false; }
	no_temp_files "$DST"
}
