#!/usr/bin/env bash
# The kTLS lane (make check-vm): run the whole bats suite inside a VM whose
# kernel has kTLS (Debian's linux-image-amd64 under qemu, see run.sh), where
# every transfer must report ktls_tx = ktls_rx = sw.  Fails loudly if the VM
# did not boot or ran no test.
#
#   tests/vm/check-vm.sh BUILDDIR SRCDIR [BATS-FILES...]
set -euo pipefail

builddir=$(cd "${1:?builddir}" && pwd -P)
srcdir=$(cd "${2:?srcdir}" && pwd -P)
shift 2
files=("$@")
shopt -s nullglob
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
KTLSCP_EXPECT_KTLS=sw \
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
