#!/usr/bin/env bats
# Offload modes seen without privileges: since Linux 6.15 sock_diag shares
# a socket's kTLS ULP information without CAP_NET_ADMIN, so an
# unprivileged ktlscp reads its modes from the socket itself; before, it
# falls back to the tls_stat counters (ktlscp.1 OFFLOAD MODES).  The VM
# lanes say which to expect with KTLSCP_EXPECT_UNPRIV_DIAG (yes on the
# newest kernel's lane); natively there is no kTLS.

load ../helpers

@test "without capabilities the offload mode comes from sock_diag where the kernel shares it, else from tls_stat" {
	have_ktls || skip "this kernel has no kTLS"
	[ -n "${KTLSCP_EXPECT_UNPRIV_DIAG:-}" ] ||
		skip "no lane says whether this kernel shares kTLS diag without CAP_NET_ADMIN"
	local nocaps=(setpriv --bounding-set=-all --inh-caps=-all --)
	# The drop is real: no effective capability left after exec.
	[ "$("${nocaps[@]}" awk '/^CapEff/ { print $2 }' /proc/self/status)" = 0000000000000000 ]
	head -c 1000000 /dev/urandom >"$SRC/f"
	start_recv
	run --separate-stderr "${nocaps[@]}" timeout 120 "$KTLSCP" send --json "127.0.0.1:$RECV_PORT" "$SRC/f"
	[ "$status" -eq 0 ] || { echo "$stderr"; false; }
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
	[ "$(json_field "$output" ktls_tx)" != userspace ]
	if [ "$KTLSCP_EXPECT_UNPRIV_DIAG" = yes ]; then
		[ "$(json_field "$output" ktls_mode_source)" = sock_diag ]
		[ "$(json_field "$output" ktls_tx)" = sw ]
	else
		[ "$(json_field "$output" ktls_mode_source)" = tls_stat ]
	fi
}
