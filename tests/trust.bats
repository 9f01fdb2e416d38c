#!/usr/bin/env bats
# Every trust mode works, and every wrong key, token, pin or certificate is
# refused with exit 4 and no file written.

load helpers

@test "recv with no trust configured prints a one-time token that send accepts" {
	unset KTLSCP_TOKEN
	echo data >"$SRC/f"
	start_recv
	[ -n "$RECV_TOKEN" ]
	[ ${#RECV_TOKEN} -eq 39 ]
	run_send 0 --token "$RECV_TOKEN" "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
}

@test "two receivers print different tokens" {
	unset KTLSCP_TOKEN
	start_recv
	t1=$RECV_TOKEN
	stop_test_recv
	start_recv
	[ "$t1" != "$RECV_TOKEN" ]
}

@test "a wrong token is refused with exit 4 and nothing is written" {
	unset KTLSCP_TOKEN
	echo data >"$SRC/f"
	start_recv
	run_send 4 --token abcd-abcd-abcd-abcd-abcd-abcd-abcd-abcd "$SRC/f"
	[[ "$output" == *"127.0.0.1:$RECV_PORT"* ]]
	wait_refused
	[ -z "$(ls -A "$DST")" ]
}

@test "the token can come from --token-file (mode 0600 only)" {
	echo data >"$SRC/f"
	echo "$TEST_TOKEN" >"$BATS_TEST_TMPDIR/tok"
	chmod 644 "$BATS_TEST_TMPDIR/tok"
	start_recv
	# The receiver has the token; the sender only its file.
	unset KTLSCP_TOKEN
	run_send 6 --token-file "$BATS_TEST_TMPDIR/tok" "$SRC/f"
	[[ "$output" == *"readable by group or others"* ]]
	chmod 600 "$BATS_TEST_TMPDIR/tok"
	run_send 0 --token-file "$BATS_TEST_TMPDIR/tok" "$SRC/f"
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
}

@test "secrets can come from a file descriptor: neither argv nor disk" {
	unset KTLSCP_TOKEN
	echo data >"$SRC/f"
	start_recv --token-file /dev/fd/3 3< <(echo "$TEST_TOKEN")
	# (Descriptor 4 for the sender: run_ktlscp closes 3, bats' own.)
	run_send 0 --token-file /dev/fd/4 "$SRC/f" 4< <(echo "$TEST_TOKEN")
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
	hex=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	rm "$DST/f"
	start_recv --psk-file /dev/fd/3 3< <(echo "k:$hex")
	run_send 0 --psk-file /dev/fd/4 "$SRC/f" 4< <(echo "k:$hex")
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
}

@test "a malformed token is a usage error" {
	run_ktlscp 2 send --token nope 127.0.0.1:1 /etc/hostname
	[[ "$output" == *"token is not valid"* ]]
}

# keys_setup: identities for a receiver (rhome, rfp) and a sender (shome,
# sfp); the receiver accepts the sender through authorized_senders.
keys_setup() {
	unset KTLSCP_TOKEN
	rhome=$BATS_TEST_TMPDIR/rhome
	shome=$BATS_TEST_TMPDIR/shome
	rfp=$(XDG_CONFIG_HOME=$rhome "$KTLSCP" id)
	sfp=$(XDG_CONFIG_HOME=$shome "$KTLSCP" id)
	echo "$sfp the sender" >"$rhome/ktlscp/authorized_senders"
	kh=$shome/ktlscp/known_hosts
	echo data >"$SRC/f"
}

@test "send with no trust option refuses a receiver not in known_hosts, in a script (exit 4)" {
	keys_setup
	XDG_CONFIG_HOME=$rhome start_recv
	grep -q "accepting the 1 sender key in $rhome/ktlscp/authorized_senders" "$BATS_TEST_TMPDIR/recv.err"
	XDG_CONFIG_HOME=$shome run_send 4 "$SRC/f"
	[[ "$output" == *"unknown receiver: its key $rfp is not in $kh"* ]]
	[[ "$output" == *"--accept-new"* ]]
	[ ! -e "$kh" ]
	wait_refused
	[ -z "$(ls -A "$DST")" ]
}

@test "--accept-new records a new receiver in known_hosts; later runs need no option" {
	keys_setup
	XDG_CONFIG_HOME=$rhome start_recv
	XDG_CONFIG_HOME=$shome run_send 0 --accept-new --json "$SRC/f"
	[[ "$output" == *"added the receiver's key $rfp to $kh"* ]]
	[ "$(json_field "${lines[-1]}" auth)" = pin ]
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
	[ "$(cat "$kh")" = "[127.0.0.1]:$RECV_PORT $rfp" ]
	[ "$(stat -c %a "$kh")" = 600 ]
	rm "$DST/f"
	XDG_CONFIG_HOME=$rhome start_recv --port "$RECV_PORT"
	XDG_CONFIG_HOME=$shome run_send 0 "$SRC/f"
	[[ "$output" != *"added the receiver"* ]]
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
	[ "$(wc -l <"$kh")" -eq 1 ]
}

@test "a receiver whose key changed is refused loudly with exit 4, known_hosts untouched" {
	keys_setup
	ofp=$(XDG_CONFIG_HOME=$BATS_TEST_TMPDIR/other "$KTLSCP" id)
	XDG_CONFIG_HOME=$rhome start_recv
	printf '# mine\n[127.0.0.1]:%s %s\n' "$RECV_PORT" "$ofp" >"$kh"
	before=$(sha256sum "$kh")
	XDG_CONFIG_HOME=$shome run_send 4 --accept-new "$SRC/f"
	[[ "$output" == *"THE RECEIVER'S KEY HAS CHANGED: it presented $rfp, but $kh line 2 has $ofp"* ]]
	[ "$(echo "$output" | grep -c .)" -eq 1 ]
	[ "$(sha256sum "$kh")" = "$before" ]
	wait_refused
	[ -z "$(ls -A "$DST")" ]
}

@test "on a terminal, a new receiver's fingerprint is shown and asked about" {
	command -v script >/dev/null || skip "no script(1)"
	keys_setup
	XDG_CONFIG_HOME=$rhome start_recv
	# "no": refused, nothing recorded or written.
	printf 'no\n' | XDG_CONFIG_HOME=$shome script -qec \
		"$KTLSCP send 127.0.0.1:$RECV_PORT $SRC/f; echo rc=\$?" /dev/null >"$BATS_TEST_TMPDIR/pty.out"
	cat "$BATS_TEST_TMPDIR/pty.out"
	grep -q "its key fingerprint is" "$BATS_TEST_TMPDIR/pty.out"
	grep -qF "$rfp" "$BATS_TEST_TMPDIR/pty.out"
	grep -q "(yes/no)?" "$BATS_TEST_TMPDIR/pty.out"
	grep -q "not accepted" "$BATS_TEST_TMPDIR/pty.out"
	grep -q "rc=4" "$BATS_TEST_TMPDIR/pty.out"
	[ ! -e "$kh" ]
	wait_refused
	[ -z "$(ls -A "$DST")" ]
	# Anything but yes or no asks again; "yes" records the key and sends.
	XDG_CONFIG_HOME=$rhome start_recv --port "$RECV_PORT"
	printf 'sure\nyes\n' | XDG_CONFIG_HOME=$shome script -qec \
		"$KTLSCP send 127.0.0.1:$RECV_PORT $SRC/f; echo rc=\$?" /dev/null >"$BATS_TEST_TMPDIR/pty.out"
	cat "$BATS_TEST_TMPDIR/pty.out"
	grep -q "Please type 'yes' or 'no'" "$BATS_TEST_TMPDIR/pty.out"
	grep -q "rc=0" "$BATS_TEST_TMPDIR/pty.out"
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
	grep -qF "[127.0.0.1]:$RECV_PORT $rfp" "$kh"
}

@test "authorized_senders decides who may write: another sender is refused with exit 4" {
	keys_setup
	ohome=$BATS_TEST_TMPDIR/other
	XDG_CONFIG_HOME=$ohome "$KTLSCP" id >/dev/null
	XDG_CONFIG_HOME=$rhome start_recv
	XDG_CONFIG_HOME=$ohome run_send 4 --pin "$rfp" "$SRC/f"
	wait_refused
	grep -q "is not allowed by $rhome/ktlscp/authorized_senders" "$BATS_TEST_TMPDIR/recv.err"
	[ -z "$(ls -A "$DST")" ]
}

@test "recv --allow names the senders instead of authorized_senders" {
	keys_setup
	ofp=$(XDG_CONFIG_HOME=$BATS_TEST_TMPDIR/other "$KTLSCP" id)
	XDG_CONFIG_HOME=$rhome start_recv --allow "$ofp"
	XDG_CONFIG_HOME=$shome run_send 4 --pin "$rfp" "$SRC/f"
	wait_refused
	grep -q "sender key $sfp is not allowed by --allow" "$BATS_TEST_TMPDIR/recv.err"
	XDG_CONFIG_HOME=$rhome start_recv --allow "$ofp" --allow "$sfp"
	XDG_CONFIG_HOME=$shome run_send 0 --pin "$rfp" "$SRC/f"
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
}

@test "an authorized_senders file others can write, or a malformed one, is refused (exit 6)" {
	keys_setup
	as=$rhome/ktlscp/authorized_senders
	chmod 666 "$as"
	XDG_CONFIG_HOME=$rhome run_ktlscp 6 recv --port 0 "$DST"
	[[ "$output" == *"$as: writable by group or others"* ]]
	chmod 644 "$as"
	echo "ssh-ed25519 AAAA" >>"$as"
	XDG_CONFIG_HOME=$rhome run_ktlscp 6 recv --port 0 "$DST"
	[[ "$output" == *"$as: line 2: expected SHA256:"* ]]
	# Whoever may write the directory may replace the file.
	sed -i '$d' "$as"
	chmod 777 "$rhome/ktlscp"
	XDG_CONFIG_HOME=$rhome run_ktlscp 6 recv --port 0 "$DST"
	[[ "$output" == *"$rhome/ktlscp: writable by group or others"* ]]
	# The same for the sender's known_hosts, before it connects.
	mkdir -p "$shome/ktlscp" && chmod 775 "$shome/ktlscp"
	XDG_CONFIG_HOME=$shome run_ktlscp 6 send --accept-new 127.0.0.1:1 "$SRC/f"
	[[ "$output" == *"$shome/ktlscp: writable by group or others"* ]]
}

@test "--accept-new goes with known_hosts only: with a token it is a usage error" {
	run_ktlscp 2 send --accept-new --token "$TEST_TOKEN" 127.0.0.1:1 /etc/hostname
	[[ "$output" == *"--accept-new"* ]]
}

@test "a PSK file (IDENTITY:HEXKEY) authenticates both ends" {
	unset KTLSCP_TOKEN
	psk=$BATS_TEST_TMPDIR/psk
	echo "alice:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$psk"
	chmod 600 "$psk"
	echo data >"$SRC/f"
	start_recv --psk-file "$psk"
	[ -z "$RECV_TOKEN" ]
	run_send 0 --psk-file "$psk" --json "$SRC/f"
	[ "$(json_field "$output" auth)" = psk ]
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
}

@test "a PSK file with a bare HEXKEY works, a wrong key fails with exit 4" {
	unset KTLSCP_TOKEN
	head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$BATS_TEST_TMPDIR/psk1"
	head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$BATS_TEST_TMPDIR/psk2"
	chmod 600 "$BATS_TEST_TMPDIR"/psk?
	echo data >"$SRC/f"
	start_recv --psk-file "$BATS_TEST_TMPDIR/psk1"
	run_send 4 --psk-file "$BATS_TEST_TMPDIR/psk2" "$SRC/f"
	wait_refused
	[ ! -e "$DST/f" ]
	start_recv --psk-file "$BATS_TEST_TMPDIR/psk1"
	run_send 0 --psk-file "$BATS_TEST_TMPDIR/psk1" "$SRC/f"
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
}

@test "a short or malformed PSK file is a usage error" {
	echo "abcd" >"$BATS_TEST_TMPDIR/psk"
	chmod 600 "$BATS_TEST_TMPDIR/psk"
	run_ktlscp 2 send --psk-file "$BATS_TEST_TMPDIR/psk" 127.0.0.1:1 /etc/hostname
	[[ "$output" == *"16 to 64 bytes"* ]]
}

@test "ktlscp id creates a 0600 key once and prints a stable SHA256 fingerprint" {
	run_ktlscp 0 id
	fp1=$(echo "$output" | grep '^SHA256:')
	[[ "$fp1" =~ ^SHA256:[A-Za-z0-9+/]{43}$ ]]
	[ "$(stat -c %a "$XDG_CONFIG_HOME/ktlscp/id.key")" = 600 ]
	run_ktlscp '?' id
	[ "$output" = "$fp1" ]
}

@test "pinned keys: both ends present their identity and check the other's" {
	unset KTLSCP_TOKEN
	rhome=$BATS_TEST_TMPDIR/rhome
	shome=$BATS_TEST_TMPDIR/shome
	rfp=$(XDG_CONFIG_HOME=$rhome "$KTLSCP" id)
	sfp=$(XDG_CONFIG_HOME=$shome "$KTLSCP" id)
	echo data >"$SRC/f"
	XDG_CONFIG_HOME=$rhome start_recv --pin "$sfp"
	XDG_CONFIG_HOME=$shome run_send 0 --pin "$rfp" --json "$SRC/f"
	[ "$(json_field "$output" auth)" = pin ]
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
}

@test "a receiver whose key does not match --pin is refused with exit 4" {
	unset KTLSCP_TOKEN
	rhome=$BATS_TEST_TMPDIR/rhome
	shome=$BATS_TEST_TMPDIR/shome
	ohome=$BATS_TEST_TMPDIR/other
	XDG_CONFIG_HOME=$rhome "$KTLSCP" id >/dev/null
	sfp=$(XDG_CONFIG_HOME=$shome "$KTLSCP" id)
	ofp=$(XDG_CONFIG_HOME=$ohome "$KTLSCP" id)
	echo data >"$SRC/f"
	XDG_CONFIG_HOME=$rhome start_recv --pin "$sfp"
	XDG_CONFIG_HOME=$shome run_send 4 --pin "$ofp" "$SRC/f"
	[[ "$output" == *"does not match --pin"* ]]
	wait_refused
	[ ! -e "$DST/f" ]
}

@test "a sender whose key the receiver did not pin is refused with exit 4" {
	unset KTLSCP_TOKEN
	rhome=$BATS_TEST_TMPDIR/rhome
	shome=$BATS_TEST_TMPDIR/shome
	ohome=$BATS_TEST_TMPDIR/other
	rfp=$(XDG_CONFIG_HOME=$rhome "$KTLSCP" id)
	XDG_CONFIG_HOME=$shome "$KTLSCP" id >/dev/null
	ofp=$(XDG_CONFIG_HOME=$ohome "$KTLSCP" id)
	echo data >"$SRC/f"
	XDG_CONFIG_HOME=$rhome start_recv --pin "$ofp"
	XDG_CONFIG_HOME=$shome run_send 4 --pin "$rfp" "$SRC/f"
	wait_refused
	grep -q "sender key .* is not allowed by --pin" "$BATS_TEST_TMPDIR/recv.err"
	[ ! -e "$DST/f" ]
}

make_pki() {
	pki=$BATS_TEST_TMPDIR/pki
	make_pki_in "$pki"
}

@test "X.509: CA-signed certificates on both ends, checked against the address" {
	unset KTLSCP_TOKEN
	make_pki
	echo data >"$SRC/f"
	start_recv --cert "$pki/server.crt" --key "$pki/server.key" --ca "$pki/ca.crt"
	run_send 0 --cert "$pki/client.crt" --key "$pki/client.key" --ca "$pki/ca.crt" --json "$SRC/f"
	[ "$(json_field "$output" auth)" = x509 ]
	wait_recv
	assert_same_file "$SRC/f" "$DST/f"
}

@test "X.509: a receiver certificate from another CA is refused with exit 4, in words" {
	unset KTLSCP_TOKEN
	make_pki
	echo data >"$SRC/f"
	start_recv --cert "$pki/server.crt" --key "$pki/server.key" --ca "$pki/ca.crt"
	run_send 4 --cert "$pki/client.crt" --key "$pki/client.key" --ca "$pki/other-ca.crt" "$SRC/f"
	[[ "$output" == *"NOT trusted"*"issuer is unknown"* ]]
	wait_refused
	[ ! -e "$DST/f" ]
}

@test "X.509: a certificate for another host name is refused with exit 4" {
	unset KTLSCP_TOKEN
	make_pki
	echo data >"$SRC/f"
	start_recv --cert "$pki/server.crt" --key "$pki/server.key" --ca "$pki/ca.crt"
	run_ktlscp '?' send --cert "$pki/client.crt" --key "$pki/client.key" --ca "$pki/ca.crt" \
		"127.0.0.2:$RECV_PORT" "$SRC/f"
	# 127.0.0.2 is not in the certificate (and nothing listens there): 3 or 4, never 0.
	[ "$status" -eq 3 ] || [ "$status" -eq 4 ]
	stop_test_recv
	start_recv --cert "$pki/server.crt" --key "$pki/server.key" --ca "$pki/ca.crt"
	run_ktlscp '?' send --cert "$pki/client.crt" --key "$pki/client.key" --ca "$pki/ca.crt" \
		"localhost.localdomain.invalid:$RECV_PORT" "$SRC/f"
	[ "$status" -ne 0 ]
}

@test "a private key readable by others is refused" {
	unset KTLSCP_TOKEN
	make_pki
	chmod 644 "$pki/client.key"
	run_ktlscp 6 send --cert "$pki/client.crt" --key "$pki/client.key" --ca "$pki/ca.crt" 127.0.0.1:1 /etc/hostname
	[[ "$output" == *"client.key"* ]]
}

@test "a printed token expires: the one-shot receiver gives up (exit 3)" {
	unset KTLSCP_TOKEN
	start_recv --token-ttl 1
	[ -n "$RECV_TOKEN" ]
	grep -q "valid for 1 s" "$BATS_TEST_TMPDIR/recv.err"
	wait_recv 3
	grep -q "token expired" "$BATS_TEST_TMPDIR/recv.err"
}

@test "recv -k stops accepting when its session token expires, after serving in time" {
	unset KTLSCP_TOKEN
	echo x >"$SRC/f"
	start_recv -k --token-ttl 3
	run_send 0 --token "$RECV_TOKEN" "$SRC/f"
	wait_recv 0
	grep -q "no longer accepting" "$BATS_TEST_TMPDIR/recv.err"
	assert_same_file "$SRC/f" "$DST/f"
}

# ---- trust edges ----

# purpose_cert NAME PURPOSE [DNS]: a certificate NAME.{crt,key} in $pki signed by
# its CA, for the one key purpose PURPOSE (tls_www_server or tls_www_client),
# valid for DNS (default localhost) and, unless DNS is given, 127.0.0.1.
purpose_cert() {
	local ip='ip_address = 127.0.0.1\n'
	[ -z "${3:-}" ] || ip=
	(
		cd "$pki"
		certtool --generate-privkey --key-type ecdsa --outfile "$1.key" 2>/dev/null
		chmod 600 "$1.key"
		printf "cn = $1\\ndns_name = ${3:-localhost}\\n${ip}signing_key\\n$2\\nexpiration_days = 2\\n" >"$1.tmpl"
		certtool --generate-certificate --load-privkey "$1.key" --load-ca-certificate ca.crt \
			--load-ca-privkey ca.key --template "$1.tmpl" --outfile "$1.crt" 2>/dev/null
	)
}

@test "KTLSCP_TOKEN on recv is announced, replaces authorized_senders, and expires with --token-ttl" {
	export KTLSCP_TOKEN=$TEST_TOKEN
	start_recv --token-ttl 1
	grep -q "accepting senders with the token from KTLSCP_TOKEN (valid for 1 s), not authorized_senders" \
		"$BATS_TEST_TMPDIR/recv.err"
	wait_recv 3
	grep -q "token expired after 1 s" "$BATS_TEST_TMPDIR/recv.err"
}

@test "the token is wiped from the environment a receiver and a sender run with" {
	export KTLSCP_TOKEN=$TEST_TOKEN
	start_recv
	[ "$(tr '\0' '\n' <"/proc/$RECV_PID/environ" | grep -c "$TEST_TOKEN")" -eq 0 ]
	kill "$RECV_PID"
	wait "$RECV_PID" || true
	RECV_PID=
	# The sender, held mid-handshake by a peer that accepts and says
	# nothing, so it is surely alive, past reading its environment.
	python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1])); __import__("os").rename(sys.argv[1] + ".tmp", sys.argv[1])
c, _ = s.accept(); open(sys.argv[2], "w").close(); time.sleep(60)' "$BATS_TEST_TMPDIR/port" "$BATS_TEST_TMPDIR/accepted" &
	local hold=$! i
	for i in $(seq 1 100); do [ -s "$BATS_TEST_TMPDIR/port" ] && break; sleep 0.1; done
	echo x >"$SRC/f"
	"$KTLSCP" send --timeout 60 "127.0.0.1:$(cat "$BATS_TEST_TMPDIR/port")" "$SRC/f" 2>"$BATS_TEST_TMPDIR/send.err" &
	send=$!
	for i in $(seq 1 200); do [ -e "$BATS_TEST_TMPDIR/accepted" ] && break; sleep 0.1; done
	[ -e "$BATS_TEST_TMPDIR/accepted" ] || { cat "$BATS_TEST_TMPDIR/send.err"; false; }
	[ "$(tr '\0' '\n' <"/proc/$send/environ" | grep -c "$TEST_TOKEN")" -eq 0 ]
	kill "$send" "$hold"
	wait "$send" || true
	wait "$hold" || true
}

@test "a wrong PSK with a known and with an unknown identity look the same to the sender" {
	unset KTLSCP_TOKEN
	echo x >"$SRC/f"
	printf 'alice:%s\n' 00112233445566778899aabbccddeeff >"$BATS_TEST_TMPDIR/recv.psk"
	printf 'alice:%s\n' ffeeddccbbaa99887766554433221100 >"$BATS_TEST_TMPDIR/known.psk"
	printf 'mallory:%s\n' ffeeddccbbaa99887766554433221100 >"$BATS_TEST_TMPDIR/unknown.psk"
	chmod 600 "$BATS_TEST_TMPDIR"/*.psk
	for v in 1.3 1.2; do
		start_recv -k --psk-file "$BATS_TEST_TMPDIR/recv.psk"
		run_send 4 --tls "$v" --psk-file "$BATS_TEST_TMPDIR/known.psk" "$SRC/f"
		known=$output
		run_send 4 --tls "$v" --psk-file "$BATS_TEST_TMPDIR/unknown.psk" "$SRC/f"
		[ "$output" = "$known" ] || { echo "TLS $v: known: $known; unknown: $output"; false; }
		[[ "$known" == *"the receiver refused the token or PSK"* ]]
		# The receiver itself knows which it was.
		grep -q "PSK identity is not in --psk-file" "$BATS_TEST_TMPDIR/recv.err"
		stop_test_recv
	done
	[ ! -e "$DST/f" ]
}

@test "authentication failures are told in words on both ends, with the key to authorize" {
	unset KTLSCP_TOKEN
	echo x >"$SRC/f"
	# A sender with no token, to a receiver that wants one.
	start_recv --token "$TEST_TOKEN"
	run_send 4 --accept-new "$SRC/f"
	[[ "$output" == *"the receiver wants a token or PSK: pass --token, KTLSCP_TOKEN or --psk-file"* ]]
	wait_refused
	grep -q "the sender offered no token or PSK" "$BATS_TEST_TMPDIR/recv.err"
	[ "$(grep -c "Insufficient credentials\|(-[0-9]*)" "$BATS_TEST_TMPDIR/recv.err")" -eq 0 ]
	# A sender whose key the receiver does not list: told which key to add.
	fp=$("$KTLSCP" id 2>/dev/null | grep -o 'SHA256:[A-Za-z0-9+/]*' | head -1)
	[ -n "$fp" ]
	for v in 1.2 1.3; do
		start_recv --allow SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
		run_send 4 --tls "$v" --accept-new "$SRC/f"
		[[ "$output" == *"the receiver does not accept this host's key $fp: on the receiver, add it to authorized_senders or --allow"* ]] ||
			{ echo "TLS $v: $output"; false; }
		wait_refused
		grep -q "sender key $fp is not allowed by --allow" "$BATS_TEST_TMPDIR/recv.err"
	done
	# A wrong token: no raw GnuTLS text on either end.
	start_recv --token "$TEST_TOKEN"
	run_send 4 --token 2222-2222-2222-2222-2222-2222-2222-2222 "$SRC/f"
	[[ "$output" == *"the receiver refused the token or PSK"* ]]
	wait_refused
	grep -q "the sender's token or PSK is wrong" "$BATS_TEST_TMPDIR/recv.err"
	[ "$(grep -c "(-[0-9]*)" "$BATS_TEST_TMPDIR/recv.err")" -eq 0 ]
	[ ! -e "$DST/f" ]
}

@test "X.509: a client-only certificate cannot serve as the receiver, nor a server-only one send" {
	unset KTLSCP_TOKEN
	make_pki
	purpose_cert srvonly tls_www_server
	purpose_cert cltonly tls_www_client
	echo data >"$SRC/f"
	start_recv --cert "$pki/cltonly.crt" --key "$pki/cltonly.key" --ca "$pki/ca.crt"
	run_send 4 --cert "$pki/client.crt" --key "$pki/client.key" --ca "$pki/ca.crt" "$SRC/f"
	[[ "$output" == *"the receiver's certificate (for localhost, 127.0.0.1) is not meant for a TLS server"* ]]
	wait_refused
	start_recv --cert "$pki/server.crt" --key "$pki/server.key" --ca "$pki/ca.crt"
	run_send 4 --cert "$pki/srvonly.crt" --key "$pki/srvonly.key" --ca "$pki/ca.crt" "$SRC/f"
	wait_refused
	grep -q "the sender's certificate (for localhost, 127.0.0.1) is not meant for a TLS client" \
		"$BATS_TEST_TMPDIR/recv.err"
	[ ! -e "$DST/f" ]
	# Each in its own role is fine.
	start_recv --cert "$pki/srvonly.crt" --key "$pki/srvonly.key" --ca "$pki/ca.crt"
	run_send 0 --cert "$pki/cltonly.crt" --key "$pki/cltonly.key" --ca "$pki/ca.crt" "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
}

@test "X.509: --allow-subject restricts which certificates of the CA may send" {
	unset KTLSCP_TOKEN
	make_pki
	echo data >"$SRC/f"
	start_recv --cert "$pki/server.crt" --key "$pki/server.key" --ca "$pki/ca.crt" --allow-subject CN=somebody-else
	run_send 4 --cert "$pki/client.crt" --key "$pki/client.key" --ca "$pki/ca.crt" "$SRC/f"
	wait_refused
	grep -q 'subject "CN=client" (for localhost, 127.0.0.1) is not allowed by --allow-subject' \
		"$BATS_TEST_TMPDIR/recv.err"
	[ ! -e "$DST/f" ]
	for subj in CN=client localhost; do
		start_recv --cert "$pki/server.crt" --key "$pki/server.key" --ca "$pki/ca.crt" \
			--allow-subject CN=somebody-else --allow-subject "$subj"
		run_send 0 --cert "$pki/client.crt" --key "$pki/client.key" --ca "$pki/ca.crt" "$SRC/f"
		wait_recv 0
		assert_same_file "$SRC/f" "$DST/f"
		rm "$DST/f"
	done
	run_ktlscp 2 recv --port 0 --allow-subject CN=x "$DST"
	[[ "$output" == *"--allow-subject goes with --ca"* ]]
}

@test "X.509: a receiver certificate for another name names both names" {
	unset KTLSCP_TOKEN
	make_pki
	purpose_cert elsewhere tls_www_server elsewhere.invalid
	echo data >"$SRC/f"
	start_recv --cert "$pki/elsewhere.crt" --key "$pki/elsewhere.key" --ca "$pki/ca.crt"
	run_send 4 --cert "$pki/client.crt" --key "$pki/client.key" --ca "$pki/ca.crt" "$SRC/f"
	[[ "$output" == *"the receiver's certificate is for elsewhere.invalid, not for 127.0.0.1"* ]]
	wait_refused
	[ ! -e "$DST/f" ]
}

@test "the man page's authorized_senders example works on a fresh receiver (no configuration directory yet)" {
	echo data >"$SRC/f"
	unset KTLSCP_TOKEN
	shome=$BATS_TEST_TMPDIR/s
	sfp=$(XDG_CONFIG_HOME=$shome "$KTLSCP" id)
	# A fresh receiver's home: no ~/.config at all.
	rh=$BATS_TEST_TMPDIR/fresh
	mkdir -p "$rh"
	ex=$(grep -c "^receiver\$ mkdir .*-p .*-m 700 ~/.config/ktlscp" "$KTLSCP_SRCDIR/man/ktlscp.1" || true)
	[ "$ex" -eq 1 ] || { echo "the example no longer makes the directory first"; false; }
	(
		export HOME=$rh
		unset XDG_CONFIG_HOME
		mkdir -p -m 700 ~/.config/ktlscp
		echo "$sfp laptop" >>~/.config/ktlscp/authorized_senders
	)
	HOME=$rh XDG_CONFIG_HOME=$rh/.config start_recv
	grep -q "accepting the 1 sender key in $rh/.config/ktlscp/authorized_senders" "$BATS_TEST_TMPDIR/recv.err"
	XDG_CONFIG_HOME=$shome run_send 0 --accept-new "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
}
