#!/usr/bin/env bats
# --raw against real TLS tools, byte-exact, TLS 1.2 and 1.3 x the four
# ciphers: ktlscp sending to openssl s_server (which also sends TLS 1.3
# session tickets, as OpenSSL does by default), and openssl s_client and
# gnutls-cli sending to ktlscp.  In the kTLS lane the ktlscp side runs on
# the kernel path, so a user-space peer is the oracle for the key mapping.

load helpers

setup_file() {
	export PKI=$BATS_FILE_TMPDIR/pki
	make_pki_in "$PKI"
	head -c 1048576 /dev/urandom >"$BATS_FILE_TMPDIR/payload"
}

# OpenSSL's names for our ciphers (TLS 1.3 suites; TLS 1.2 ECDSA suites).
ossl13() {
	case $1 in
	aes-128-gcm) echo TLS_AES_128_GCM_SHA256 ;;
	aes-256-gcm) echo TLS_AES_256_GCM_SHA384 ;;
	chacha20-poly1305) echo TLS_CHACHA20_POLY1305_SHA256 ;;
	aes-128-ccm) echo TLS_AES_128_CCM_SHA256 ;;
	esac
}
ossl12() {
	case $1 in
	aes-128-gcm) echo ECDHE-ECDSA-AES128-GCM-SHA256 ;;
	aes-256-gcm) echo ECDHE-ECDSA-AES256-GCM-SHA384 ;;
	chacha20-poly1305) echo ECDHE-ECDSA-CHACHA20-POLY1305 ;;
	aes-128-ccm) echo ECDHE-ECDSA-AES128-CCM ;;
	esac
}
gnutls_prio() {
	local v=$1 c
	c=$(echo "$2" | tr a-z A-Z)
	echo "NORMAL:-VERS-ALL:+VERS-TLS$v:-CIPHER-ALL:+$c"
}

# start_s_server PORT OUT [FLAGS...]: openssl s_server in the background,
# writing what it receives to OUT; sets SPID once it listens.  s_server ends
# at EOF of its stdin, so a sleeping pipe keeps that open (fd 3 closed: bats
# would otherwise wait for the pipeline to exit).
start_s_server() {
	local port=$1 out=$2
	shift 2
	(sleep 60 | timeout 90 openssl s_server -quiet -naccept 1 -accept "127.0.0.1:$port" \
		-cert "$PKI/server.crt" -key "$PKI/server.key" "$@" >"$out" 2>"$out.err") 3>&- &
	SPID=$!
	for _ in $(seq 1 100); do
		ss -ltn 2>/dev/null | grep -q ":$port " && break
		sleep 0.05
	done
}

# finish_s_server OUT: wait for the whole payload, stop the server, compare.
finish_s_server() {
	for _ in $(seq 1 100); do
		[ "$(stat -c %s "$1" 2>/dev/null)" = 1048576 ] && break
		sleep 0.1
	done
	stop_server "$SPID"
	assert_same_file "$BATS_FILE_TMPDIR/payload" "$1"
}

# stop_server PID: end the sleep | s_server pipeline started in the background.
stop_server() {
	pkill -P "$1" 2>/dev/null || true
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# ktlscp send --raw -> openssl s_server, for one version and cipher.
to_openssl() {
	local v=$1 c=$2 port out=$BATS_TEST_TMPDIR/ossl.out flags
	port=$(unused_port)
	if [ "$v" = 1.3 ]; then
		flags=(-tls1_3 -ciphersuites "$(ossl13 "$c")")
	else
		flags=(-tls1_2 -cipher "$(ossl12 "$c")")
	fi
	start_s_server "$port" "$out" "${flags[@]}"
	run_ktlscp --separate-stderr 0 send --raw --json --ca "$PKI/ca.crt" \
		--cert "$PKI/client.crt" --key "$PKI/client.key" --tls "$v" --cipher "$c" \
		"127.0.0.1:$port" "$BATS_FILE_TMPDIR/payload"
	finish_s_server "$out"
	[ "$(json_field "$output" tls_version)" = "TLS$v" ]
	[ "$(json_field "$output" cipher)" = "$(echo "$c" | tr a-z A-Z)" ]
	[ "$(json_field "$output" ktls_tx)" = "$(expected_mode)" ]
	[ "$(json_field "$output" ktls_rx)" = "$(expected_mode)" ]
}

# CLIENT (openssl|gnutls) -> ktlscp recv --raw.
from_client() {
	local tool=$1 v=$2 c=$3 mode
	mode=$(expected_mode)
	start_recv --raw -v --ca "$PKI/ca.crt" --cert "$PKI/server.crt" --key "$PKI/server.key" \
		--tls "$v" --cipher "$c"
	if [ "$tool" = openssl ]; then
		if [ "$v" = 1.3 ]; then flags=(-tls1_3 -ciphersuites "$(ossl13 "$c")"); else flags=(-tls1_2 -cipher "$(ossl12 "$c")"); fi
		timeout 120 openssl s_client -quiet -no_ign_eof -nocommands -connect "127.0.0.1:$RECV_PORT" \
			-CAfile "$PKI/ca.crt" -cert "$PKI/client.crt" -key "$PKI/client.key" "${flags[@]}" \
			<"$BATS_FILE_TMPDIR/payload" >/dev/null 2>"$BATS_TEST_TMPDIR/client.err" || true
	else
		timeout 120 gnutls-cli --logfile=/dev/null -p "$RECV_PORT" --x509cafile "$PKI/ca.crt" \
			--x509certfile "$PKI/client.crt" --x509keyfile "$PKI/client.key" \
			--priority "$(gnutls_prio "$v" "$c")" 127.0.0.1 \
			<"$BATS_FILE_TMPDIR/payload" >/dev/null 2>"$BATS_TEST_TMPDIR/client.err" || true
	fi
	wait_recv
	[ "$RECV_RC" -eq 0 ] || { cat "$BATS_TEST_TMPDIR/recv.err" "$BATS_TEST_TMPDIR/client.err"; false; }
	assert_same_file "$BATS_FILE_TMPDIR/payload" "$BATS_TEST_TMPDIR/recv.out"
	grep -q "TLS$v $(echo "$c" | tr a-z A-Z), auth x509; kTLS tx=$mode rx=$mode" "$BATS_TEST_TMPDIR/recv.err"
}

@test "interop: ktlscp --raw -> openssl s_server, TLS 1.3, all four ciphers" {
	for c in aes-128-gcm aes-256-gcm chacha20-poly1305 aes-128-ccm; do
		to_openssl 1.3 "$c"
	done
}

@test "interop: ktlscp --raw -> openssl s_server, TLS 1.2, all four ciphers" {
	for c in aes-128-gcm aes-256-gcm chacha20-poly1305 aes-128-ccm; do
		to_openssl 1.2 "$c"
	done
}

# all_from CLIENT: every version x cipher from CLIENT to ktlscp recv --raw.
all_from() {
	for v in 1.3 1.2; do
		for c in aes-128-gcm aes-256-gcm chacha20-poly1305 aes-128-ccm; do
			from_client "$1" "$v" "$c"
		done
	done
}

@test "interop: openssl s_client -> ktlscp recv --raw, TLS 1.3 and 1.2, all four ciphers" {
	all_from openssl
}

@test "interop: gnutls-cli -> ktlscp recv --raw, TLS 1.3 and 1.2, all four ciphers" {
	all_from gnutls
}

@test "interop: standard input through a pipe -> openssl s_server (splice on the kernel path)" {
	port=$(unused_port)
	out=$BATS_TEST_TMPDIR/ossl.out
	start_s_server "$port" "$out"
	run_ktlscp --separate-stderr 0 send --raw --json --ca "$PKI/ca.crt" "127.0.0.1:$port" - \
		< <(cat "$BATS_FILE_TMPDIR/payload")
	finish_s_server "$out"
	if have_ktls; then
		[ "$(json_field "$output" tx_path)" = splice ]
	else
		[ "$(json_field "$output" tx_path)" = copy ]
	fi
}

@test "a TLS 1.3 KeyUpdate from the peer: followed in user space, a clear error on a kernel path that cannot rekey" {
	start_recv --raw -v --ca "$PKI/ca.crt" --cert "$PKI/server.crt" --key "$PKI/server.key" --tls 1.3
	# Without -nocommands, a line "k" makes s_client send a KeyUpdate (when
	# one read gets it alone: it goes once "before" arrived).
	(printf 'before\n'
	 for _ in $(seq 1 300); do grep -qx before "$BATS_TEST_TMPDIR/recv.out" 2>/dev/null && break; sleep 0.1; done
	 printf 'k\n'; sleep 1; printf 'after\n'; sleep 1) |
		timeout 60 openssl s_client -quiet -no_ign_eof -connect "127.0.0.1:$RECV_PORT" \
		-CAfile "$PKI/ca.crt" -cert "$PKI/client.crt" -key "$PKI/client.key" -tls1_3 \
		>/dev/null 2>"$BATS_TEST_TMPDIR/client.err" || true
	wait_recv
	if have_ktls && [ "$("$KTLSCP" info --json | jq -r .ktls_rekey)" != true ]; then
		# No kernel before 6.14 can install the new key; we must not
		# wait for an opaque EBADMSG.
		[ "$RECV_RC" -eq 5 ]
		grep -q "key update" "$BATS_TEST_TMPDIR/recv.err"
		[ "$(cat "$BATS_TEST_TMPDIR/recv.out")" = before ]
	else
		[ "$RECV_RC" -eq 0 ]
		[ "$(printf 'before\nafter')" = "$(cat "$BATS_TEST_TMPDIR/recv.out")" ]
	fi
}

@test "recv --raw refuses DIR and --json; send --raw takes exactly one PATH" {
	run_ktlscp 2 recv --raw "$DST"
	run_ktlscp 2 recv --raw --json
	run_ktlscp 2 send --raw 127.0.0.1:1 a b
}
