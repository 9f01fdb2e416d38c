#!/usr/bin/env bats
# TLS 1.3 key updates: whether this kernel can take new keys on a kTLS
# socket (ktlscp info, probed).  The
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

