#!/usr/bin/env bats
# check.sh itself: every lane is judged by the same rules, and a lane that
# fails in any way (a non-zero exit, a failed count, no test at all) fails
# check.sh.  The lanes are stand-ins (tests/checksh/lane) put in through
# check.sh's KTLSCP_CHECK_* seam: nothing is installed, built or tested, the
# logs go to $BATS_TEST_TMPDIR, and each run of check.sh takes a fraction of
# a second.

bats_require_minimum_version 1.5.0

CHECKSH=${KTLSCP_SRCDIR:-$BATS_TEST_DIRNAME/..}/check.sh
LANE=$BATS_TEST_DIRNAME/checksh/lane

setup() {
	[ -z "${KTLSCP_IN_VM:-}" ] ||
		skip "check.sh drives the VM from the host and never runs inside it; this kernel-independent test runs in the native lane"
	LOGS=$BATS_TEST_TMPDIR/logs
}

# lane_name LANE: the lane as check.sh names it in its summary.
lane_name() {
	case $1 in
	NATIVE) echo native ;;
	ASAN) echo "sanitizers (ASan+UBSan)" ;;
	FUZZ) echo fuzzing ;;
	VM) echo "kTLS VM lane" ;;
	VM_NEXT) echo "kTLS VM lane (7.3)" ;;
	PKG) echo "Debian package" ;;
	esac
}

# standin LANE OUTCOME [MARKER]: the command line of a stand-in for LANE
# (NATIVE, ASAN, FUZZ, VM, VM_NEXT or PKG) that reports in that lane's format.
standin() {
	local format
	case $1 in
	NATIVE | ASAN) format=automake ;;
	FUZZ) format=fuzz ;;
	VM | VM_NEXT | PKG) format=summary ;;
	esac
	printf 'bash %q %s %s' "$LANE" "$format" "$2"
	if [ -n "${3:-}" ]; then printf ' %q' "$3"; fi
}

# checksh [VAR=VALUE...]: run check.sh with stand-in lanes that all pass,
# changed by the assignments, in an environment cleared of what CI or the
# check.sh running this suite may have set.  Sets status, output (stdout,
# as lines) and stderr.
checksh() {
	run --separate-stderr env -u CI -u KTLSCP_FUZZ_SECONDS \
		-u KTLSCP_SKIP_VM -u KTLSCP_SKIP_VM_NEXT -u KTLSCP_SKIP_ASAN -u KTLSCP_SKIP_FUZZ \
		-u KTLSCP_SKIP_PKG \
		KTLSCP_CHECK_STANDIN=1 KTLSCP_CHECK_LOGS="$LOGS" \
		KTLSCP_CHECK_NATIVE="$(standin NATIVE pass)" \
		KTLSCP_CHECK_ASAN="$(standin ASAN pass)" \
		KTLSCP_CHECK_FUZZ="$(standin FUZZ pass)" \
		KTLSCP_CHECK_VM="$(standin VM pass)" \
		KTLSCP_CHECK_VM_NEXT="$(standin VM_NEXT pass)" \
		KTLSCP_CHECK_PKG="$(standin PKG pass)" \
		"$@" timeout 60 bash "$CHECKSH"
}

# shellcheck disable=SC2154 # stderr is set by run --separate-stderr
show() {
	echo "status $status; stdout:"
	printf '%s\n' "${lines[@]}"
	echo "stderr:"
	echo "$stderr"
}

# fails_with OUTCOME: for each lane in turn, a stand-in doing OUTCOME while
# the others pass must fail check.sh: a non-zero exit, a last line counting
# failures, the lane marked FAILED and named on stderr.
fails_with() {
	local lane name
	for lane in NATIVE ASAN FUZZ VM VM_NEXT PKG; do
		name=$(lane_name "$lane")
		checksh "KTLSCP_CHECK_$lane=$(standin "$lane" "$1")"
		if [ "$status" -eq 0 ]; then
			echo "check.sh exited 0 with the $name lane '$1'"
			show
			return 1
		fi
		if ! [[ "${lines[-1]}" =~ ^[0-9]+\ passed,\ [1-9][0-9]*\ failed$ ]]; then
			echo "with the $name lane '$1', the last line counts no failure"
			show
			return 1
		fi
		if ! printf '%s\n' "${lines[@]}" | grep -qF "$name: " ||
			! printf '%s\n' "${lines[@]}" | grep "^$name: " | grep -q "FAILED" ||
			[[ "$stderr" != *"failed lanes: $name"* ]]; then
			echo "with the $name lane '$1', check.sh does not say that lane failed"
			show
			return 1
		fi
	done
}

@test "check.sh passes when every lane passes, and counts every lane's tests" {
	checksh
	[ "$status" -eq 0 ] || { show; false; }
	[ "${lines[-1]}" = "17 passed, 0 failed" ] || { show; false; }
	printf '%s\n' "${lines[@]}" | grep -qx "native: 3 passed, 0 failed, 1 skipped"
	printf '%s\n' "${lines[@]}" | grep -qx "sanitizers (ASan+UBSan): 3 passed, 0 failed, 1 skipped"
	printf '%s\n' "${lines[@]}" | grep -qx "fuzzing: 2 passed, 0 failed, 0 skipped (3000 executions)"
	printf '%s\n' "${lines[@]}" | grep -qx "kTLS VM lane: 3 passed, 0 failed, 1 skipped"
	printf '%s\n' "${lines[@]}" | grep -qx "kTLS VM lane (7.3): 3 passed, 0 failed, 1 skipped"
	printf '%s\n' "${lines[@]}" | grep -qx "Debian package: 3 passed, 0 failed, 1 skipped"
	[[ "$stderr" != *"failed lanes"* ]]
	# Each lane's output is kept where KTLSCP_CHECK_LOGS says.
	for log in native-lane asan-lane fuzz vm-lane vm-next-lane package-lane; do
		grep -q "stand-in lane" "$LOGS/$log.log"
	done
}

@test "check.sh fails when a lane exits non-zero after a clean report" {
	fails_with exit
}

@test "check.sh fails when a lane exits 0 but its report counts a failed test" {
	fails_with failed
}

@test "check.sh fails when a lane reports no test at all" {
	fails_with silent
}

@test "check.sh fails when a lane's tests were all skipped" {
	fails_with skipped
}

@test "check.sh counts automake's ERROR results as failures" {
	checksh KTLSCP_CHECK_NATIVE="$(standin NATIVE error)"
	[ "$status" -ne 0 ] || { show; false; }
	[ "${lines[-1]}" = "17 passed, 1 failed" ] || { show; false; }
}

@test "check.sh reports a skipped lane as skipped, not passed or failed" {
	checksh KTLSCP_SKIP_ASAN=1 KTLSCP_SKIP_FUZZ=1 KTLSCP_SKIP_VM=1 KTLSCP_SKIP_PKG=1 \
		KTLSCP_CHECK_ASAN= KTLSCP_CHECK_FUZZ= KTLSCP_CHECK_VM= KTLSCP_CHECK_VM_NEXT= KTLSCP_CHECK_PKG=
	[ "$status" -eq 0 ] || { show; false; }
	[ "${lines[-1]}" = "3 passed, 0 failed" ] || { show; false; }
	printf '%s\n' "${lines[@]}" | grep -qx "sanitizers: skipped (KTLSCP_SKIP_ASAN=1)"
	printf '%s\n' "${lines[@]}" | grep -qx "fuzzing: skipped (KTLSCP_SKIP_FUZZ=1)"
	printf '%s\n' "${lines[@]}" | grep -qx "kTLS VM lane: skipped (KTLSCP_SKIP_VM=1)"
	printf '%s\n' "${lines[@]}" | grep -qx "kTLS VM lane (7.3): skipped (KTLSCP_SKIP_VM=1)"
	printf '%s\n' "${lines[@]}" | grep -qx "Debian package: skipped (KTLSCP_SKIP_PKG=1)"
}

@test "check.sh skips only the 7.3 VM lane with KTLSCP_SKIP_VM_NEXT=1" {
	checksh KTLSCP_SKIP_VM_NEXT=1 KTLSCP_CHECK_VM_NEXT=
	[ "$status" -eq 0 ] || { show; false; }
	[ "${lines[-1]}" = "14 passed, 0 failed" ] || { show; false; }
	printf '%s\n' "${lines[@]}" | grep -qx "kTLS VM lane: 3 passed, 0 failed, 1 skipped"
	printf '%s\n' "${lines[@]}" | grep -qx "kTLS VM lane (7.3): skipped (KTLSCP_SKIP_VM_NEXT=1)"
}

@test "check.sh refuses stand-in lanes when the 7.3 VM lane's command is missing" {
	checksh KTLSCP_CHECK_VM_NEXT= KTLSCP_CHECK_NATIVE="$(standin NATIVE pass "$BATS_TEST_TMPDIR/ran")"
	[ "$status" -eq 2 ] || { show; false; }
	[[ "$stderr" == *"need KTLSCP_CHECK_VM_NEXT"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/ran" ]
}

@test "check.sh refuses stand-in lanes when one lane's command is missing" {
	checksh KTLSCP_CHECK_VM= KTLSCP_CHECK_NATIVE="$(standin NATIVE pass "$BATS_TEST_TMPDIR/ran")"
	[ "$status" -eq 2 ] || { show; false; }
	[[ "$stderr" == *"need KTLSCP_CHECK_VM"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/ran" ]
}

@test "check.sh refuses stand-in lanes under CI" {
	checksh CI=true KTLSCP_CHECK_NATIVE="$(standin NATIVE pass "$BATS_TEST_TMPDIR/ran")"
	[ "$status" -eq 2 ] || { show; false; }
	[[ "$stderr" == *"refused under CI"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/ran" ]
	[ ! -e "$LOGS" ]
}

@test "check.sh refuses a stand-in lane's command without KTLSCP_CHECK_STANDIN=1" {
	checksh KTLSCP_CHECK_STANDIN=0 KTLSCP_CHECK_NATIVE="$(standin NATIVE pass "$BATS_TEST_TMPDIR/ran")"
	[ "$status" -eq 2 ] || { show; false; }
	[[ "$stderr" == *"KTLSCP_CHECK_NATIVE is only read with KTLSCP_CHECK_STANDIN=1"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/ran" ]
	[ ! -e "$LOGS" ]
}
