#!/usr/bin/env bash
# Build the libFuzzer targets with clang (ASan + UBSan) and run each for a
# bounded time over the committed seed corpus.  A crash is a failure; its
# input is kept in tests/fuzz/crashes/ to become a regression test.
#
#   tests/fuzz/run.sh [SECONDS-PER-TARGET]      (default 30; KTLSCP_FUZZ_SECONDS)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
top=$(cd "$here/../.." && pwd -P)
secs=${1:-${KTLSCP_FUZZ_SECONDS:-30}}
work=$(mktemp -d /tmp/ktlscp-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc=${CLANG:-clang}
command -v "$cc" >/dev/null || { echo "fuzz: clang not found" >&2; exit 1; }

flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-I"$top/common" -I"$here")
rc=0
for t in proto path; do
	"$cc" "${flags[@]}" -o "$work/fuzz_$t" "$here/fuzz_$t.c" "$top/common/proto.c"
	mkdir -p "$work/corpus_$t" "$here/crashes"
	cp "$here/corpus/$t"/* "$work/corpus_$t/" 2>/dev/null || true
	echo "fuzz_$t: ${secs}s"
	if ! "$work/fuzz_$t" -max_total_time="$secs" -max_len=70000 -timeout=10 \
		-artifact_prefix="$here/crashes/${t}-" "$work/corpus_$t" "$here/corpus/$t" \
		>"$work/fuzz_$t.log" 2>&1; then
		tail -40 "$work/fuzz_$t.log" >&2
		echo "fuzz_$t: FAILED (input kept in tests/fuzz/crashes/)" >&2
		rc=1
	fi
	grep -E "^#[0-9]+ +DONE|Done [0-9]+ runs" "$work/fuzz_$t.log" | tail -1 || true
done
exit $rc
