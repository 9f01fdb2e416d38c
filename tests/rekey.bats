#!/usr/bin/env bats
# TLS 1.3 key updates: whether this kernel can take new keys on a kTLS
# socket (ktlscp info, probed), and transfers that cross the key's record
# budget (KTLSCP_KEY_RECORD_LIMIT lowered) byte-exact on each path.  The
# VM lanes say what their kernel can do with KTLSCP_EXPECT_REKEY (yes on
# the newest kernel's lane, no on 6.1's); natively there is no kTLS.

load helpers

# expected_rekey: "yes" or "no" for this kernel, or "" when unknown (a
# native kernel with kTLS that no lane described).
expected_rekey() {
	if [ -n "${KTLSCP_EXPECT_REKEY:-}" ]; then
		echo "$KTLSCP_EXPECT_REKEY"
	elif ! have_ktls; then
		echo no
	fi
}

@test "info reports whether the kernel can rekey a kTLS socket, by asking it" {
	local want
	want=$(expected_rekey)
	[ -n "$want" ] || skip "this kernel has kTLS but no lane says whether it can rekey (KTLSCP_EXPECT_REKEY)"
	run_ktlscp --separate-stderr 0 info --json
	local got
	got=$(echo "$output" | jq -r '.ktls_rekey')
	if [ "$want" = yes ]; then [ "$got" = true ]; else [ "$got" = false ]; fi
	run_ktlscp 0 info
	if ! have_ktls; then
		# Nothing to ask: the text says nothing about key updates.
		[[ "$output" != *"key update"* ]]
	elif [ "$want" = yes ]; then
		[[ "$output" == *"key update (TLS 1.3 rekey on a kTLS socket): yes"* ]]
	else
		[[ "$output" == *"key update (TLS 1.3 rekey on a kTLS socket): no (the kernel takes keys once: EBUSY)"* ]]
	fi
}

# tls_stat NAME: the kernel's counter NAME (0 when it has none).
tls_stat() {
	awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }' /proc/net/tls_stat 2>/dev/null || echo 0
}

skip_unless_rekey() {
	have_ktls || skip "this kernel has no kTLS"
	[ "$(expected_rekey)" = yes ] || skip "this kernel cannot rekey a kTLS socket (before Linux 6.14)"
}

# rekeyed_transfer HOW: a 64 MiB file (or stream) across many forced key
# updates (a budget of 50 records), byte-exact, each key update counted by
# the kernel at both ends and none refused.
rekeyed_transfer() {
	local tx0 rx0 err0 tx rx
	head -c 67108864 /dev/urandom >"$SRC/f"
	tx0=$(tls_stat TlsTxRekeyOk) rx0=$(tls_stat TlsRxRekeyOk) err0=$(tls_stat TlsRxRekeyError)
	case $1 in
	file)
		KTLSCP_KEY_RECORD_LIMIT=50 start_recv --json
		KTLSCP_KEY_RECORD_LIMIT=50 run_send --separate-stderr 0 -v --cipher aes-128-gcm "$SRC/f"
		wait_recv 0
		assert_same_file "$SRC/f" "$DST/f" ;;
	splice-rx)
		KTLSCP_RX_PATH=splice start_recv --json
		KTLSCP_KEY_RECORD_LIMIT=50 run_send --separate-stderr 0 -v --cipher aes-128-gcm "$SRC/f"
		wait_recv 0
		assert_same_file "$SRC/f" "$DST/f" ;;
	stdin)
		start_recv --stdout
		KTLSCP_KEY_RECORD_LIMIT=50 run_send --separate-stderr 0 -v --cipher aes-128-gcm - < <(cat "$SRC/f")
		wait_recv 0
		assert_same_file "$SRC/f" "$BATS_TEST_TMPDIR/recv.out" ;;
	esac
	tx=$(($(tls_stat TlsTxRekeyOk) - tx0)) rx=$(($(tls_stat TlsRxRekeyOk) - rx0))
	echo "key updates: TlsTxRekeyOk +$tx, TlsRxRekeyOk +$rx"
	# 64 MiB is 4096 full records: at least 4096 / 50 updates each way.
	[ "$tx" -ge 80 ] && [ "$rx" -ge 80 ]
	[ "$(tls_stat TlsRxRekeyError)" -eq "$err0" ]
	[[ "$stderr" == *"TLS key update sent"* ]]
}

@test "kTLS rekey: a 64 MiB file crosses a lowered key budget many times, byte-exact" {
	skip_unless_rekey
	rekeyed_transfer file
}

@test "kTLS rekey: the splice receive path follows the peer's key updates" {
	skip_unless_rekey
	rekeyed_transfer splice-rx
}

@test "kTLS rekey: a piped standard input (spliced chunks) crosses key updates" {
	skip_unless_rekey
	rekeyed_transfer stdin
}

# OpenSSL as the user-space oracle for the keys ktlscp derives on the
# kernel path, both directions.
pki() {
	PKI=$BATS_TEST_TMPDIR/pki
	make_pki_in "$PKI"
}

@test "kTLS rekey interop: ktlscp --raw sends across key updates, openssl s_server follows, byte-exact" {
	skip_unless_rekey
	local port out=$BATS_TEST_TMPDIR/ossl.out c tx0
	pki
	head -c 8388608 /dev/urandom >"$SRC/payload"
	for c in TLS_AES_128_GCM_SHA256/aes-128-gcm TLS_AES_256_GCM_SHA384/aes-256-gcm \
		TLS_AES_128_CCM_SHA256/aes-128-ccm; do
		port=$(unused_port)
		(sleep 60 | timeout 90 openssl s_server -quiet -naccept 1 -accept "127.0.0.1:$port" \
			-cert "$PKI/server.crt" -key "$PKI/server.key" -tls1_3 -ciphersuites "${c%/*}" \
			>"$out" 2>"$out.err") 3>&- &
		local spid=$!
		for _ in $(seq 1 100); do ss -ltn | grep -q ":$port " && break; sleep 0.05; done
		tx0=$(tls_stat TlsTxRekeyOk)
		KTLSCP_KEY_RECORD_LIMIT=50 run_ktlscp --separate-stderr 0 send --raw --ca "$PKI/ca.crt" \
			--cert "$PKI/client.crt" --key "$PKI/client.key" --cipher "${c#*/}" \
			"127.0.0.1:$port" "$SRC/payload"
		for _ in $(seq 1 100); do
			[ "$(stat -c %s "$out")" = 8388608 ] && break
			sleep 0.1
		done
		pkill -P "$spid" 2>/dev/null || true
		kill "$spid" 2>/dev/null || true
		wait "$spid" 2>/dev/null || true
		assert_same_file "$SRC/payload" "$out"
		# 512 records at 50 a key.
		[ $(($(tls_stat TlsTxRekeyOk) - tx0)) -ge 10 ]
	done
}

# arrived LINE: wait until the raw receiver wrote LINE.
arrived() {
	for _ in $(seq 1 300); do
		grep -qx "$1" "$BATS_TEST_TMPDIR/recv.out" 2>/dev/null && return 0
		sleep 0.1
	done
}

@test "kTLS rekey interop: openssl s_client's KeyUpdates (k, and K asking for ours) are followed by ktlscp recv --raw" {
	skip_unless_rekey
	local cmd rx0 tx0
	pki
	for cmd in k K; do
		rx0=$(tls_stat TlsRxRekeyOk) tx0=$(tls_stat TlsTxRekeyOk)
		start_recv --raw -v --ca "$PKI/ca.crt" --cert "$PKI/server.crt" --key "$PKI/server.key" --tls 1.3
		# Without -nocommands, a line "k" or "K" makes s_client send a
		# KeyUpdate, when it is all that one read of its input gets: each
		# goes only after the line before it arrived.
		(printf 'before\n'; arrived before; printf '%s\n' "$cmd"; sleep 1; printf 'middle\n'
		 arrived middle; printf '%s\n' "$cmd"; sleep 1; printf 'after\n'; sleep 1) |
			timeout 60 openssl s_client -quiet -no_ign_eof -connect "127.0.0.1:$RECV_PORT" \
			-CAfile "$PKI/ca.crt" -cert "$PKI/client.crt" -key "$PKI/client.key" -tls1_3 \
			>/dev/null 2>"$BATS_TEST_TMPDIR/client.err" || true
		wait_recv 0
		[ "$(printf 'before\nmiddle\nafter')" = "$(cat "$BATS_TEST_TMPDIR/recv.out")" ] || {
			echo "with $cmd, received:"; cat "$BATS_TEST_TMPDIR/recv.out"
			echo "receiver:"; cat "$BATS_TEST_TMPDIR/recv.err"
			echo "s_client:"; cat "$BATS_TEST_TMPDIR/client.err"
			false
		}
		[ $(($(tls_stat TlsRxRekeyOk) - rx0)) -eq 2 ]
		# TlsTxRekeyOk counts ktlscp's probe (a second TLS_TX on a
		# loopback socket) once, and with update_requested (K) the
		# KeyUpdate ktlscp answered each with.
		if [ "$cmd" = K ]; then
			[ $(($(tls_stat TlsTxRekeyOk) - tx0)) -eq 3 ]
			[ "$(grep -c "update requested" "$BATS_TEST_TMPDIR/recv.err")" -eq 2 ]
		else
			[ $(($(tls_stat TlsTxRekeyOk) - tx0)) -eq 1 ]
		fi
	done
}

# gnutls-cli as the other GnuTLS oracle.  GnuTLS follows at most a few
# KeyUpdates a second, so these cross the budget a few times only.
@test "kTLS rekey interop: gnutls-cli follows the key updates of ktlscp send --listen --raw, byte-exact" {
	have_ktls && [ "$(expected_rekey)" != yes ] &&
		skip "this kernel cannot rekey a kTLS socket: the limit stops the connection (exit 5)"
	local tx0 port
	pki
	head -c 3145728 /dev/urandom >"$SRC/payload"
	tx0=$(tls_stat TlsTxRekeyOk)
	KTLSCP_KEY_RECORD_LIMIT=50 "$KTLSCP" send --listen --raw --port 0 -v --cipher aes-128-gcm \
		--ca "$PKI/ca.crt" --cert "$PKI/server.crt" --key "$PKI/server.key" "$SRC/payload" \
		2>"$BATS_TEST_TMPDIR/send.err" &
	local send=$!
	wait_port "$BATS_TEST_TMPDIR/send.err"
	port=$RECV_PORT
	grep -q "sending $SRC/payload as a raw stream; listening on all addresses port $port" "$BATS_TEST_TMPDIR/send.err"
	timeout 60 gnutls-cli --logfile=/dev/null --x509cafile "$PKI/ca.crt" --x509certfile "$PKI/client.crt" \
		--x509keyfile "$PKI/client.key" --priority NORMAL:-VERS-ALL:+VERS-TLS1.3 -p "$port" 127.0.0.1 \
		</dev/null >"$BATS_TEST_TMPDIR/got" 2>"$BATS_TEST_TMPDIR/cli.err" || true
	local rc=0
	wait "$send" || rc=$?
	[ "$rc" -eq 0 ] || { cat "$BATS_TEST_TMPDIR/send.err" "$BATS_TEST_TMPDIR/cli.err"; false; }
	assert_same_file "$SRC/payload" "$BATS_TEST_TMPDIR/got"
	# 192 records at 50 a key: three updates, by the kernel or by GnuTLS.
	[ "$(grep -c "TLS key update sent" "$BATS_TEST_TMPDIR/send.err")" -ge 3 ]
	if have_ktls; then
		[ $(($(tls_stat TlsTxRekeyOk) - tx0)) -ge 3 ]
	fi
}

@test "kTLS rekey interop: gnutls-cli's KeyUpdates (rekey1, and rekey asking for ours) are followed by ktlscp recv --raw" {
	have_ktls && [ "$(expected_rekey)" != yes ] &&
		skip "this kernel cannot rekey a kTLS socket: a peer's KeyUpdate ends the transfer (exit 5)"
	local cmd rx0
	pki
	for cmd in rekey1 rekey; do
		rx0=$(tls_stat TlsRxRekeyOk)
		start_recv --raw -v --ca "$PKI/ca.crt" --cert "$PKI/server.crt" --key "$PKI/server.key" --tls 1.3
		# An inline command is a line by itself; each goes only after the
		# line before it arrived.
		(printf 'before\n'; arrived before; printf '^%s^\n' "$cmd"; sleep 1; printf 'middle\n'
		 arrived middle; printf '^%s^\n' "$cmd"; sleep 1; printf 'after\n'; sleep 1) |
			timeout 60 gnutls-cli --logfile=/dev/null --inline-commands --x509cafile "$PKI/ca.crt" \
			--x509certfile "$PKI/client.crt" --x509keyfile "$PKI/client.key" -p "$RECV_PORT" 127.0.0.1 \
			>/dev/null 2>"$BATS_TEST_TMPDIR/client.err" || true
		wait_recv 0
		[ "$(printf 'before\nmiddle\nafter')" = "$(cat "$BATS_TEST_TMPDIR/recv.out")" ] || {
			echo "with $cmd, received:"; cat "$BATS_TEST_TMPDIR/recv.out"
			echo "receiver:"; cat "$BATS_TEST_TMPDIR/recv.err"
			echo "gnutls-cli:"; cat "$BATS_TEST_TMPDIR/client.err"
			false
		}
		# On the kernel path ktlscp follows them itself (in user space
		# GnuTLS does, and says nothing).
		if have_ktls; then
			[ $(($(tls_stat TlsRxRekeyOk) - rx0)) -eq 2 ]
			if [ "$cmd" = rekey ]; then
				[ "$(grep -c "update requested" "$BATS_TEST_TMPDIR/recv.err")" -eq 2 ]
			fi
		fi
	done
}

@test "user space: a lowered key budget is kept too (TLS 1.3 updates its key through GnuTLS, TLS 1.2 reconnects)" {
	have_ktls && skip "this kernel has kTLS: the user-space path runs in the native lane"
	head -c 67108864 /dev/urandom >"$SRC/f"
	start_recv --json
	# 4096 records at 2000 a key: two key updates (GnuTLS follows no more
	# than a few within a second).
	KTLSCP_KEY_RECORD_LIMIT=2000 run_send --separate-stderr 0 -v "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
	[ "$(grep -c "TLS key update sent" <<<"$stderr")" -ge 2 ]
	rm "$DST/f"
	# TLS 1.2 has no key update: follow-up connections (reconnect.bats).
	start_recv
	KTLSCP_KEY_RECORD_LIMIT=2000 run_send --separate-stderr 0 --json --tls 1.2 --cipher aes-128-gcm "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
	[ "$(jq -r .reconnects <<<"$output")" -ge 1 ]
}
