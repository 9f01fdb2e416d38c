#!/usr/bin/env bats
# The config file ($XDG_CONFIG_HOME/ktlscp/config): Host sections for send
# and cp, a Recv section, the command line over the file, trust options as
# a group, refused when others may write it, errors naming file and line.

load helpers

CONF_DIR=
setup() {
	common_setup
	unset KTLSCP_TOKEN
	CONF_DIR=$XDG_CONFIG_HOME/ktlscp
	mkdir -p "$CONF_DIR"
	chmod 700 "$CONF_DIR"
	echo "$TEST_TOKEN" >"$CONF_DIR/token"
	chmod 600 "$CONF_DIR/token"
	head -c 300000 /dev/urandom >"$SRC/f"
}

conf() {
	cat >"$CONF_DIR/config"
	chmod 644 "$CONF_DIR/config"
}

@test "config: a Host section gives send its HostName, port and trust; the rest of the file stays out" {
	start_recv --token "$TEST_TOKEN"
	conf <<-EOF
	# the receiver of this test
	Host other
	    TokenFile /nonexistent
	Host nas *.test
	    HostName 127.0.0.1
	    Port $RECV_PORT
	    TokenFile token
	    Tls 1.2
	EOF
	run_ktlscp --separate-stderr 0 send --json nas "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
	[ "$(json_field "$output" tls_version)" = TLS1.2 ]
	[ "$(json_field "$output" peer)" = "127.0.0.1:$RECV_PORT" ]
	# A host no section names gets none of it: its own name, no token file.
	run_ktlscp 3 send elsewhere.invalid "$SRC/f"
	[[ "$output" == *"elsewhere.invalid: cannot resolve"* ]]
	[[ "$output" != *"/nonexistent"* ]]
}

@test "config: the command line wins over the file, and its trust options replace the file's" {
	start_recv --token "$TEST_TOKEN"
	conf <<-EOF
	Tls 1.2
	Host 127.0.0.1
	    TokenFile wrong
	EOF
	echo aaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa >"$CONF_DIR/wrong"
	chmod 600 "$CONF_DIR/wrong"
	run_send --separate-stderr 0 --json --tls 1.3 --token "$TEST_TOKEN" "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
	[ "$(json_field "$output" tls_version)" = TLS1.3 ]
	# Without a trust option of its own, the file's (wrong) token is used.
	start_recv --token "$TEST_TOKEN"
	run_send 4 "$SRC/f"
}

@test "config: a Recv section gives recv its defaults (MaxSize), and names what does not apply" {
	conf <<-EOF
	Recv
	    TokenFile token
	    MaxSize 100k
	EOF
	start_recv
	! grep -q "one-time token" "$BATS_TEST_TMPDIR/recv.err"
	run_send 5 --token "$TEST_TOKEN" "$SRC/f"
	wait_recv
	[ ! -e "$DST/f" ]
	grep -q "max-size" "$BATS_TEST_TMPDIR/recv.err"
	conf <<-EOF
	Recv
	    LimitRate 1M
	EOF
	run_ktlscp 2 recv "$DST"
	[[ "$output" == *"$CONF_DIR/config:2: LimitRate does not apply to recv"* ]]
}

@test "config: a bad line is a usage error naming the file and the line; nothing is sent" {
	start_recv --token "$TEST_TOKEN"
	printf 'Timeout 10\nLimtRate 1M\n' | conf
	run_send 2 --token "$TEST_TOKEN" "$SRC/f"
	[[ "$output" == *"ktlscp send: $CONF_DIR/config:2: unknown keyword 'LimtRate'"* ]]
	printf 'Host x\n  Tls 1.4\n' | conf
	run_send 2 --token "$TEST_TOKEN" "$SRC/f"
	[[ "$output" == *"$CONF_DIR/config:2: Tls 1.4: expected 1.2 or 1.3"* ]]
	printf 'Verify maybe\n' | conf
	run_send 2 --token "$TEST_TOKEN" "$SRC/f"
	[[ "$output" == *"$CONF_DIR/config:1: Verify maybe: expected yes or no"* ]]
	[ -z "$(ls "$DST")" ]
}

@test "config: a file others may write is refused (exit 6), as the trust files are" {
	printf 'Timeout 10\n' | conf
	chmod 664 "$CONF_DIR/config"
	run_ktlscp 6 send 127.0.0.1:1 "$SRC/f"
	[[ "$output" == *"$CONF_DIR/config: writable by group or others (mode 664)"* ]]
	chmod 644 "$CONF_DIR/config"
	chmod 770 "$CONF_DIR"
	run_ktlscp 6 recv "$DST"
	[[ "$output" == *"$CONF_DIR: writable by group or others"* ]]
}

@test "config: KTLSCP_CONFIG names another file, or none" {
	start_recv --token "$TEST_TOKEN"
	printf 'Verify maybe\n' | conf
	KTLSCP_CONFIG=none run_send 0 --token "$TEST_TOKEN" "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
	rm "$DST/f"
	start_recv --token "$TEST_TOKEN"
	printf 'Host 127.0.0.1\n  TokenFile %s\n' "$CONF_DIR/token" >"$BATS_TEST_TMPDIR/alt.conf"
	KTLSCP_CONFIG=$BATS_TEST_TMPDIR/alt.conf run_send 0 "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
	KTLSCP_CONFIG=$BATS_TEST_TMPDIR/missing run_ktlscp 6 send 127.0.0.1:1 "$SRC/f"
	[[ "$output" == *"missing (KTLSCP_CONFIG): No such file or directory"* ]]
	run_ktlscp 0 --help
	[[ "$output" == *"ktlscp/config (KTLSCP_CONFIG=none: none)"* ]]
}

@test "config: without a file, a directory others may write changes nothing for recv" {
	chmod 777 "$CONF_DIR"
	start_recv --token "$TEST_TOKEN"
	run_send 0 --token "$TEST_TOKEN" "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
}

@test "config: host patterns match as ssh's do (wildcards, a ! pattern excludes)" {
	start_recv --token "$TEST_TOKEN"
	conf <<-EOF
	Host *.lan !bad.lan
	    HostName 127.0.0.1
	    Port $RECV_PORT
	    TokenFile token
	EOF
	run_ktlscp 0 send good.lan "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
	# bad.lan gets nothing: it is looked up as itself.
	run_ktlscp 3 send bad.lan "$SRC/f"
	[[ "$output" == *"bad.lan: cannot resolve"* ]]
}
