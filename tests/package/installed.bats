#!/usr/bin/env bats
# What the Debian package installs works (tests/package/run.sh unpacks it
# into KTLSCP_PKG_ROOT and points KTLSCP at its binary).

load ../helpers

setup() {
	[ -n "${KTLSCP_PKG_ROOT:-}" ] || skip "run by tests/package/run.sh"
	common_setup
}

@test "the package's binary runs and names its version and GnuTLS" {
	run "$KTLSCP" --version
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "ktlscp $(dpkg-deb -f "$KTLSCP_PKG_DEB" Version)" ]]
	[[ "$output" == *"GnuTLS 3."* ]]
}

@test "the installed man page formats without warnings" {
	page=$KTLSCP_PKG_ROOT/usr/share/man/man1/ktlscp.1.gz
	[ -f "$page" ]
	run --separate-stderr env MANWIDTH=80 LC_ALL=C.UTF-8 MANROFFSEQ='' man --warnings -l "$page"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "$output" == *"ktlscp cp"* ]]
}

@test "the systemd units are installed, the service pointing at the installed binary, neither enabled" {
	units=$KTLSCP_PKG_ROOT/lib/systemd/system
	[ -f "$units/ktlscp-recv.socket" ]
	grep -q '^ExecStart=/usr/bin/ktlscp recv -k ' "$units/ktlscp-recv.service"
	# Installed disabled: the maintainer scripts start nothing, and enable
	# a unit only where the administrator had enabled it before (upgrades).
	tmp=$BATS_TEST_TMPDIR/ctl
	mkdir "$tmp"
	dpkg-deb -e "$KTLSCP_PKG_DEB" "$tmp"
	[ -f "$tmp/postinst" ]
	! grep -q 'deb-systemd-invoke' "$tmp/postinst"
	[ "$(grep -c "deb-systemd-helper enable" "$tmp/postinst")" -eq \
		"$(grep -A2 "was-enabled" "$tmp/postinst" | grep -c "deb-systemd-helper enable")" ]
}

@test "the installed binary copies a file to the installed binary, byte-exact" {
	head -c 3000000 /dev/urandom >"$SRC/f"
	start_recv
	run_send 0 --json "$SRC/f"
	wait_recv 0
	assert_same_file "$SRC/f" "$DST/f"
}

@test "the bash completion is installed and completes the installed binary's commands" {
	comp=$KTLSCP_PKG_ROOT/usr/share/bash-completion/completions/ktlscp
	[ -f "$comp" ]
	run bash -c '. "$1"; COMP_WORDS=("$2" se); COMP_CWORD=1; _ktlscp; printf "%s\n" "${COMPREPLY[@]}"' \
		x "$comp" "$KTLSCP"
	[ "$output" = send ]
}
