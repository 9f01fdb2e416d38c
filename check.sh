#!/usr/bin/env bash
# ./check.sh: set up this machine (Debian 12) and pass every test lane.
#
#   1. native       make check in build/ (unit tests and the bats suite, in
#                   whatever mode this kernel allows: kTLS where it has it,
#                   else the user-space path);
#   2. sanitizers   the same suite built with ASan + UBSan (build-asan/);
#   3. fuzzing      libFuzzer on the wire decoder and the path checker, for
#                   a bounded time (KTLSCP_FUZZ_SECONDS, default 30 each);
#   4. kTLS VM      make check-vm: the bats suite inside a VM booting
#                   Debian's kernel, which has kTLS; run when this kernel
#                   has none (it would be lane 1 again otherwise).
#
# Idempotent; installs missing Debian packages (as root, or through sudo).
# KTLSCP_SKIP_VM=1, KTLSCP_SKIP_ASAN=1, KTLSCP_SKIP_FUZZ=1 skip a lane for
# quick local runs; CI sets none of them.
set -euo pipefail
cd "$(dirname "$0")"
top=$(pwd -P)
jobs=$(nproc)

packages=(build-essential autoconf automake pkg-config libgnutls28-dev libpopt-dev
	bats jq gnutls-bin socat openssl groff-base python3 util-linux iproute2
	clang libclang-rt-14-dev)

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

# configure_in DIR [CONFIGURE-ARGS...]: an out-of-tree build in DIR.
configure_in() {
	local dir=$1
	shift
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ] || [ configure -nt "$dir/config.status" ]; then
		(cd "$dir" && "$top/configure" -q "$@")
	fi
	make -C "$dir" -j"$jobs" >/dev/null
}

summary=()
total_pass=0
total_fail=0
failed_lanes=()

# count_log NAME LOG: add automake's test-suite.log totals.
count_log() {
	local name=$1 log=$2 p f e s
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
	f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
	e=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
	s=$(sed -n 's/^# SKIP: *//p' "$log" | head -1)
	total_pass=$((total_pass + ${p:-0}))
	total_fail=$((total_fail + ${f:-0} + ${e:-0}))
	summary+=("$name: ${p:-0} passed, $((${f:-0} + ${e:-0})) failed, ${s:-0} skipped")
}

# run_check NAME DIR: make check in DIR, counted.
run_check() {
	local name=$1 dir=$2 rc=0
	make -C "$dir" -j"$jobs" check || rc=$?
	if [ -f "$dir/test-suite.log" ]; then
		count_log "$name" "$dir/test-suite.log"
	else
		summary+=("$name: no test-suite.log")
		total_fail=$((total_fail + 1))
	fi
	if [ $rc -ne 0 ]; then
		failed_lanes+=("$name")
		grep -A25 '^FAIL\|^ERROR' "$dir/test-suite.log" | head -120 || true
	fi
}

install_missing "${packages[@]}"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
	autoreconf -fi
fi
if [ -f config.status ]; then
	echo "check.sh: this tree was configured in place; run 'make distclean' first" >&2
	exit 1
fi

# Lane 1: native.
configure_in build --enable-werror
run_check native build

# Lane 2: ASan + UBSan.
if [ "${KTLSCP_SKIP_ASAN:-0}" = 1 ]; then
	summary+=("sanitizers: skipped (KTLSCP_SKIP_ASAN=1)")
else
	configure_in build-asan --enable-werror --enable-sanitizers
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	LSAN_OPTIONS=suppressions=$top/tests/lsan.supp:print_suppressions=0 \
		run_check "sanitizers (ASan+UBSan)" build-asan
fi

# Lane 3: fuzzing.
if [ "${KTLSCP_SKIP_FUZZ:-0}" = 1 ]; then
	summary+=("fuzzing: skipped (KTLSCP_SKIP_FUZZ=1)")
elif tests/fuzz/run.sh "${KTLSCP_FUZZ_SECONDS:-30}" | tee fuzz.log; then
	total_pass=$((total_pass + 2))
	summary+=("fuzzing: 2 passed, 0 failed ($(grep -c Done fuzz.log) targets, $(sed -n 's/.*Done \([0-9]*\) runs.*/\1/p' fuzz.log | awk '{s += $1} END {print s}') executions)")
else
	total_fail=$((total_fail + 1))
	failed_lanes+=(fuzzing)
	summary+=("fuzzing: failed")
fi

# Lane 4: kTLS in a VM, when this kernel cannot do it natively.
if [ "$(build/ktlscp info --json | jq -r .ktls)" = true ]; then
	summary+=("kTLS VM lane: not needed, this kernel has kTLS (lane 1 ran on it)")
elif [ "${KTLSCP_SKIP_VM:-0}" = 1 ]; then
	summary+=("kTLS VM lane: skipped (KTLSCP_SKIP_VM=1)")
else
	vm_rc=0
	make -C build check-vm 2>&1 | tee vm-lane.log || vm_rc=$?
	vm_rc=${PIPESTATUS[0]}
	line=$(grep '^kTLS VM lane: [0-9]' vm-lane.log | tail -1 || true)
	vp=$(echo "$line" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p')
	vf=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
	total_pass=$((total_pass + ${vp:-0}))
	total_fail=$((total_fail + ${vf:-0}))
	if [ "$vm_rc" -ne 0 ]; then
		failed_lanes+=("kTLS VM")
		[ "${vf:-0}" -eq 0 ] && total_fail=$((total_fail + 1))
	fi
	summary+=("${line:-kTLS VM lane: did not report}")
fi

echo
printf '%s\n' "${summary[@]}"
echo "$total_pass passed, $total_fail failed"
if [ ${#failed_lanes[@]} -gt 0 ]; then
	echo "failed lanes: ${failed_lanes[*]}" >&2
	exit 1
fi
