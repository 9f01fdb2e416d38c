#!/usr/bin/env bash
# The kTLS lane (make check-vm): run the whole bats suite inside a VM whose
# kernel has kTLS (Debian's linux-image-amd64 under qemu, see run.sh), where
# every transfer must report ktls_tx = ktls_rx = sw.  Fails loudly if the VM
# did not boot or ran no test.
#
#   tests/vm/check-vm.sh [--suite SUITE --list FILE] BUILDDIR SRCDIR [BATS-FILES...]
#
# --suite boots that Debian suite's kernel (KTLSCP_VM_SUITE, see setup.sh);
# KTLSCP_EXPECT_REKEY (yes|no, default no) tells the tests whether that
# kernel can rekey a kTLS socket, KTLSCP_EXPECT_UNPRIV_DIAG (yes|no,
# default no) whether it shares kTLS sock_diag info without CAP_NET_ADMIN;
# --list names a file of bats files (one per line, relative to tests/, "#"
# starts a comment) to run instead of the whole suite.
set -euo pipefail

list=
while [ $# -gt 0 ]; do
	case $1 in
	--suite) export KTLSCP_VM_SUITE=${2:?suite}; shift 2 ;;
	--list) list=${2:?list file}; shift 2 ;;
	*) break ;;
	esac
done
builddir=$(cd "${1:?builddir}" && pwd -P)
srcdir=$(cd "${2:?srcdir}" && pwd -P)
shift 2
files=("$@")
shopt -s nullglob
if [ -n "$list" ]; then
	while read -r f _; do
		case $f in "" | "#"*) continue ;; esac
		[ -f "$srcdir/tests/$f" ] || { echo "check-vm: $list names a missing tests/$f" >&2; exit 2; }
		files+=("$srcdir/tests/$f")
	done <"$list"
fi
if [ ${#files[@]} -eq 0 ]; then
	files=("$srcdir"/tests/*.bats "$srcdir"/tests/vm/*.bats)
fi

out=$(mktemp -d /tmp/ktlscp-vm-out.XXXXXX)
trap 'rm -rf "$out"' EXIT
log=$out/tap.log

# The smoke test first: if the kernel cannot do kTLS at all, say that.
"$srcdir"/tests/vm/smoke.sh

cd "$builddir"
set +e
KTLSCP="$builddir/ktlscp" KTLSCP_FORGE="$builddir/tests/forge" KTLSCP_SRCDIR="$srcdir" \
KTLSCP_EXPECT_KTLS=sw KTLSCP_EXPECT_REKEY="${KTLSCP_EXPECT_REKEY:-no}" \
KTLSCP_EXPECT_UNPRIV_DIAG="${KTLSCP_EXPECT_UNPRIV_DIAG:-no}" \
	"$srcdir"/tests/vm/run.sh --timeout "${KTLSCP_VM_TIMEOUT:-3600}" --out "$out" -- \
	bats --tap --timing "${files[@]}" | tee "$log"
rc=${PIPESTATUS[0]}
set -e

passed=$(grep -c '^ok ' "$log" || true)
failed=$(grep -c '^not ok ' "$log" || true)
skipped=$(grep -c '^ok .* # skip' "$log" || true)
echo "kTLS VM lane: $((passed - skipped)) passed, $failed failed, $skipped skipped"
if [ "$passed" -eq 0 ]; then
	echo "kTLS VM lane: no test ran" >&2
	exit 1
fi
exit "$rc"
