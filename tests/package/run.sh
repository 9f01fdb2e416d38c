#!/usr/bin/env bash
# The Debian package lane: build the .deb from a copy of this tree with
# dpkg-buildpackage, check it with lintian (no error, no warning; overrides,
# each with its reason, are in debian/), unpack it into a throwaway root
# (dpkg -x) and run tests/package/installed.bats against what it installed:
# the binary, the man page, the systemd units and one transfer.
#
#   tests/package/run.sh [WORKDIR]     (default: a new temporary directory)
#
# Nothing is installed on this machine.  Ends with
# "package: N passed, M failed, K skipped" (scripts/lib.sh, format summary).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
top=$(cd "$here/../.." && pwd -P)
work=${1:-}
if [ -z "$work" ]; then
	work=$(mktemp -d /tmp/ktlscp-pkg.XXXXXX)
	trap 'rm -rf "$work"' EXIT
fi
pass=0 fail=0 skip=0
step() { # step NAME: count the last command's status as a test, TAP-like
	local rc=$1 name=$2
	if [ "$rc" -eq 0 ]; then
		pass=$((pass + 1)); echo "ok - $name"
	else
		fail=$((fail + 1)); echo "not ok - $name"
	fi
}
summary() {
	echo "package: $pass passed, $fail failed, $skip skipped"
	[ "$fail" -eq 0 ]
}

version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
src=$work/ktlscp-$version
rm -rf "$src"
mkdir -p "$src"
# The tree as committed plus files not yet committed, never build output.
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$src")
else
	(cd "$top" && tar -c --exclude=./build --exclude=./build-asan --exclude=./build-demo . | tar -x -C "$src")
fi

rc=0
(cd "$src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || tail -40 "$work/build.log"
step "$rc" "dpkg-buildpackage -us -uc -b builds ktlscp_${version}"
deb=$(ls "$work"/ktlscp_"$version"_*.deb 2>/dev/null | head -1 || true)
if [ -z "$deb" ]; then
	summary
	exit 1
fi
changes=$(ls "$work"/ktlscp_"$version"_*.changes | head -1)

rc=0
lintian --fail-on error,warning --display-info "$changes" >"$work/lintian.log" 2>&1 || rc=$?
cat "$work/lintian.log"
step "$rc" "lintian: no error or warning on $(basename "$changes")"

root=$work/root
rm -rf "$root"
dpkg -x "$deb" "$root"
rc=0
KTLSCP_PKG_ROOT=$root KTLSCP_PKG_DEB=$deb KTLSCP=$root/usr/bin/ktlscp \
	bats --tap "$here/installed.bats" >"$work/bats.log" 2>&1 || rc=$?
cat "$work/bats.log"
ok=$(grep -c '^ok ' "$work/bats.log" || true)
skipped=$(grep -c '^ok .* # skip' "$work/bats.log" || true)
failed=$(grep -c '^not ok ' "$work/bats.log" || true)
pass=$((pass + ok - skipped)) skip=$((skip + skipped)) fail=$((fail + failed))
[ "$rc" -eq 0 ] || grep -q '^not ok ' "$work/bats.log" || fail=$((fail + 1))
summary
