#!/usr/bin/env bash
# ./check.sh: set up this machine (Debian 12) and pass every test lane.
#
#   1. native: make check (unit tests and the bats suite, in whatever mode
#      this kernel allows: kTLS where it has it, else the user-space path);
#   2. kTLS VM lane: make check-vm (the same suite inside a VM booting
#      Debian's kernel, which has kTLS), run when this kernel has no kTLS.
#
# Idempotent; installs missing Debian packages (as root, or through sudo).
# KTLSCP_SKIP_VM=1 skips lane 2 (for quick local runs; CI never sets it).
set -euo pipefail
cd "$(dirname "$0")"
top=$(pwd -P)

packages=(build-essential autoconf automake pkg-config libgnutls28-dev libpopt-dev
	bats jq gnutls-bin socat openssl groff-base python3 util-linux)

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_missing() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "check.sh: installing ${missing[*]}"
		as_root apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >/dev/null
	fi
}

build() {
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
		autoreconf -fi
	fi
	if [ ! -f Makefile ] || [ configure -nt config.status ]; then
		./configure --enable-werror -q
	fi
	make -j"$(nproc)" >/dev/null
}

install_missing "${packages[@]}"
build

summary=()
total_pass=0
total_fail=0

# Lane 1: native.
set +e
make -j"$(nproc)" check
native_rc=$?
set -e
if [ -f test-suite.log ]; then
	p=$(sed -n 's/^# PASS: *//p' test-suite.log | head -1)
	f=$(sed -n 's/^# FAIL: *//p' test-suite.log | head -1)
	e=$(sed -n 's/^# ERROR: *//p' test-suite.log | head -1)
	s=$(sed -n 's/^# SKIP: *//p' test-suite.log | head -1)
	total_pass=$((total_pass + ${p:-0}))
	total_fail=$((total_fail + ${f:-0} + ${e:-0}))
	summary+=("native: ${p:-0} passed, $((${f:-0} + ${e:-0})) failed, ${s:-0} skipped")
fi
[ $native_rc -eq 0 ] || { cat test-suite.log | grep -A20 '^FAIL\|^ERROR' | head -100; }

# Lane 2: kTLS in a VM, when this kernel cannot do it natively.
vm_rc=0
if [ "$(./ktlscp info --json | jq -r .ktls)" = true ]; then
	summary+=("kTLS VM lane: not needed, this kernel has kTLS (lane 1 ran on it)")
elif [ "${KTLSCP_SKIP_VM:-0}" = 1 ]; then
	summary+=("kTLS VM lane: skipped (KTLSCP_SKIP_VM=1)")
else
	set +e
	make check-vm 2>&1 | tee vm-lane.log
	vm_rc=${PIPESTATUS[0]}
	set -e
	line=$(grep '^kTLS VM lane: [0-9]' vm-lane.log | tail -1)
	vp=$(echo "$line" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p')
	vf=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
	total_pass=$((total_pass + ${vp:-0}))
	total_fail=$((total_fail + ${vf:-0}))
	[ $vm_rc -ne 0 ] && [ "${vf:-0}" -eq 0 ] && total_fail=$((total_fail + 1))
	summary+=("${line:-kTLS VM lane: did not report}")
fi

echo
printf '%s\n' "${summary[@]}"
echo "$total_pass passed, $total_fail failed"
[ $native_rc -eq 0 ] && [ $vm_rc -eq 0 ]
