#!/usr/bin/env bash
# ./check.sh: set up this machine (Debian 12) and pass every test lane.
#
#   1. native       make check in build/, configured with --enable-werror
#                   (unit tests and the bats suite, in whatever mode this
#                   kernel allows: kTLS where it has it, else the user-space
#                   path);
#   2. sanitizers   the same suite built with ASan + UBSan (build-asan/);
#   3. fuzzing      libFuzzer on the wire decoder and the path checker, for
#                   a bounded time (KTLSCP_FUZZ_SECONDS, default 30 each);
#   4. kTLS VM      make check-vm: the bats files in tests/vm/lane.list
#                   (all that reach the data path) inside a VM booting
#                   Debian's kernel, which has kTLS; run when this kernel
#                   has none (it would be lane 1 again otherwise);
#   5. kTLS VM lane (7.3)  make check-vm-next: the bats files listed in
#                   tests/vm/lane-next.list inside a VM booting the newest
#                   Debian kernel (trixie-backports), which can rekey.
#                   Budget: the two VM lanes take most of .ci/run's 60
#                   minutes; the 6.1 lane runs every file that reaches the
#                   data path (about 30 minutes), this one the kernel-path
#                   files that fit in about 10.
#   6. package      tests/package/run.sh: the Debian package built with
#                   dpkg-buildpackage from a copy of this tree, lintian
#                   clean, unpacked into a throwaway root and its binary,
#                   man page, units and one transfer tested (under a minute).
#
# Every lane is judged by the same rules (scripts/lib.sh, lane_run): it
# fails when its command exits non-zero, when its report counts a failure,
# or when it reports no test at all.  Any failed lane fails check.sh; the
# last line is "N passed, M failed", with M above 0 exactly then.  Each
# lane's output is also kept in a log (native-lane.log, asan-lane.log,
# fuzz.log, vm-lane.log, vm-next-lane.log, package-lane.log) in
# KTLSCP_CHECK_LOGS, default
# this folder.
#
# Idempotent; installs missing Debian packages (as root, or through sudo).
# KTLSCP_SKIP_VM=1 (both VM lanes), KTLSCP_SKIP_VM_NEXT=1 (lane 5 only),
# KTLSCP_SKIP_ASAN=1, KTLSCP_SKIP_FUZZ=1, KTLSCP_SKIP_PKG=1 skip lanes for
# quick local runs;
# CI sets none of them.
#
# Stand-in lanes, for tests/checksh.bats only: with KTLSCP_CHECK_STANDIN=1,
# check.sh installs nothing, runs no autoreconf, builds nothing and does not
# ask this kernel about kTLS.  Each lane not skipped runs instead the shell
# command line in KTLSCP_CHECK_NATIVE, KTLSCP_CHECK_ASAN, KTLSCP_CHECK_FUZZ
# or KTLSCP_CHECK_VM (all required), whose output is judged exactly as the
# real lane's, and KTLSCP_CHECK_LOGS is required too, so nothing is written
# here.  The seam cannot be met by accident: without KTLSCP_CHECK_STANDIN=1
# the lane variables are an error, under CI (CI set, and not false or 0)
# KTLSCP_CHECK_STANDIN=1 is refused, and .ci/run clears them all.
# Lane 5's stand-in is KTLSCP_CHECK_VM_NEXT, lane 6's KTLSCP_CHECK_PKG,
# required like the others.
set -euo pipefail
cd "$(dirname "$0")"
top=$(pwd -P)
lib_prog=check.sh
# shellcheck source=scripts/lib.sh
. "$top/scripts/lib.sh"

die() {
	echo "check.sh: $*" >&2
	exit 2
}

packages=(build-essential autoconf automake pkg-config libgnutls28-dev libpopt-dev
	bats jq gnutls-bin socat openssl groff-base python3 util-linux iproute2
	clang libclang-rt-14-dev)
packages+=(openssh-server openssh-client rsync)
packages+=(debhelper lintian man-db)

standin=${KTLSCP_CHECK_STANDIN:-0}
standin_vars=(KTLSCP_CHECK_NATIVE KTLSCP_CHECK_ASAN KTLSCP_CHECK_FUZZ KTLSCP_CHECK_VM
	KTLSCP_CHECK_VM_NEXT KTLSCP_CHECK_PKG)
case $standin in
0) for v in "${standin_vars[@]}"; do
	[ -z "${!v:-}" ] || die "$v is only read with KTLSCP_CHECK_STANDIN=1 (tests/checksh.bats)"
done ;;
1) case ${CI:-} in
	"" | false | 0) ;;
	*) die "stand-in lanes (KTLSCP_CHECK_STANDIN=1) are refused under CI" ;;
	esac
	[ -n "${KTLSCP_CHECK_LOGS:-}" ] || die "stand-in lanes need KTLSCP_CHECK_LOGS" ;;
*) die "KTLSCP_CHECK_STANDIN must be 0 or 1" ;;
esac
logs=${KTLSCP_CHECK_LOGS:-$top}
mkdir -p "$logs"

# check_in DIR CONFIGURE-ARGS...: configure and build DIR, make check there,
# and on failure show the failing tests' logs from its test-suite.log.
check_in() {
	local dir=$1 rc=0
	configure_in "$@"
	make -C "$dir" -j"$lib_jobs" check || rc=$?
	if [ $rc -ne 0 ] && [ -f "$dir/test-suite.log" ]; then
		grep -A25 '^FAIL\|^ERROR' "$dir/test-suite.log" | head -120 || true
	fi
	return $rc
}

check_asan() {
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	export LSAN_OPTIONS=suppressions=$top/tests/lsan.supp:print_suppressions=0
	check_in build-asan --enable-werror --enable-sanitizers
}

# The command of each lane: the real one, or the stand-in's (see above).
if [ "$standin" = 1 ]; then
	lane_remark "stand-in lanes (KTLSCP_CHECK_STANDIN=1): nothing here was built or tested"
	echo "check.sh: stand-in lanes (KTLSCP_CHECK_STANDIN=1): nothing is installed, built or tested" >&2
	for v in "${standin_vars[@]}"; do
		case $v in
		*ASAN) skip=${KTLSCP_SKIP_ASAN:-0} ;;
		*FUZZ) skip=${KTLSCP_SKIP_FUZZ:-0} ;;
		*VM) skip=${KTLSCP_SKIP_VM:-0} ;;
		*VM_NEXT) skip=${KTLSCP_SKIP_VM:-0}; [ "${KTLSCP_SKIP_VM_NEXT:-0}" != 1 ] || skip=1 ;;
		*PKG) skip=${KTLSCP_SKIP_PKG:-0} ;;
		*) skip=0 ;;
		esac
		[ "$skip" = 1 ] || [ -n "${!v:-}" ] || die "stand-in lanes need $v"
	done
	native=(bash -c "${KTLSCP_CHECK_NATIVE:-}")
	asan=(bash -c "${KTLSCP_CHECK_ASAN:-}")
	fuzz=(bash -c "${KTLSCP_CHECK_FUZZ:-}")
	vm=(bash -c "${KTLSCP_CHECK_VM:-}")
	vm_next=(bash -c "${KTLSCP_CHECK_VM_NEXT:-}")
	pkg=(bash -c "${KTLSCP_CHECK_PKG:-}")
else
	install_missing "${packages[@]}"
	autoreconf_if_stale
	if [ -f config.status ]; then
		echo "check.sh: this tree was configured in place; run 'make distclean' first" >&2
		exit 1
	fi
	native=(check_in build --enable-werror)
	asan=(check_asan)
	fuzz=(tests/fuzz/run.sh "${KTLSCP_FUZZ_SECONDS:-30}")
	vm=(make -C build check-vm)
	vm_next=(make -C build check-vm-next)
	pkg=(tests/package/run.sh)
fi

# Lane 1: native.
lane_run native "$logs/native-lane.log" automake -- "${native[@]}"

# Lane 2: ASan + UBSan.
if [ "${KTLSCP_SKIP_ASAN:-0}" = 1 ]; then
	lane_skip sanitizers "KTLSCP_SKIP_ASAN=1"
else
	lane_run "sanitizers (ASan+UBSan)" "$logs/asan-lane.log" automake -- "${asan[@]}"
fi

# Lane 3: fuzzing.
if [ "${KTLSCP_SKIP_FUZZ:-0}" = 1 ]; then
	lane_skip fuzzing "KTLSCP_SKIP_FUZZ=1"
else
	lane_run fuzzing "$logs/fuzz.log" fuzz -- "${fuzz[@]}"
fi

# Lane 4: kTLS in a VM, when this kernel cannot do it natively (stand-ins
# are taken to run on a kernel without it).
if [ "$standin" = 0 ] && [ "$(build/ktlscp info --json | jq -r .ktls)" = true ]; then
	lane_remark "kTLS VM lane: not needed, this kernel has kTLS (lane 1 ran on it)"
elif [ "${KTLSCP_SKIP_VM:-0}" = 1 ]; then
	lane_skip "kTLS VM lane" "KTLSCP_SKIP_VM=1"
else
	lane_run "kTLS VM lane" "$logs/vm-lane.log" summary -- "${vm[@]}"
fi

# Lane 5: kTLS in a VM on the newest Debian kernel, whatever this one is.
if [ "${KTLSCP_SKIP_VM:-0}" = 1 ]; then
	lane_skip "kTLS VM lane (7.3)" "KTLSCP_SKIP_VM=1"
elif [ "${KTLSCP_SKIP_VM_NEXT:-0}" = 1 ]; then
	lane_skip "kTLS VM lane (7.3)" "KTLSCP_SKIP_VM_NEXT=1"
else
	lane_run "kTLS VM lane (7.3)" "$logs/vm-next-lane.log" summary -- "${vm_next[@]}"
fi

# Lane 6: the Debian package.
if [ "${KTLSCP_SKIP_PKG:-0}" = 1 ]; then
	lane_skip "Debian package" "KTLSCP_SKIP_PKG=1"
else
	lane_run "Debian package" "$logs/package-lane.log" summary -- "${pkg[@]}"
fi

lane_verdict
