#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Runs every test suite: cmocka units (plain and ASan+UBSan), the BPF program tests, the
# fuzzers, the formatting check and the integration tests, and ends with one line:
# "N passed, N failed" (", N skipped").
# Exits non-zero on any failure. Called by `make test`, which builds everything first.
set -u
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
export SHARED_DIR=${SHARED_DIR:-$(cd .. && pwd)/shared}
export FLOWAGENT=${FLOWAGENT:-$PWD/$BUILD/flowagent}
export FLOWAGENT_TEST_ASAN=${FLOWAGENT_TEST_ASAN:-$PWD/$BUILD/asan/flowagent}
export TRACEGEN=${TRACEGEN:-$PWD/$BUILD/tracegen}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
results=$BUILD/test-results
mkdir -p "$results"

passed=0
failed=0
skipped=0

# Adds one suite's counts to the totals and prints its line; returns 1 if it failed. A
# non-zero exit, or a suite that ran no test at all, is a failure even without failed tests.
tally() {
	local name=$1 p=$2 f=$3 s=$4 rc=$5
	if { [ "$rc" -ne 0 ] || [ $((p + s)) -eq 0 ]; } && [ "$f" -eq 0 ]; then
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	if [ "$f" -gt 0 ]; then
		printf '  FAIL  %-28s %d passed, %d failed (exit %d)\n' "$name" "$p" "$f" "$rc"
		return 1
	fi
	printf '  ok    %-28s %d passed%s\n' "$name" "$p" "$([ "$s" -gt 0 ] && echo ", $s skipped")"
}

# A cmocka binary, read through its TAP output.
run_cmocka() {
	local name=$1 binary=$2 log="$results/${1//\//-}.tap" p f s rc
	CMOCKA_MESSAGE_OUTPUT=TAP "$binary" >"$log" 2>&1
	rc=$?
	p=$(grep -c '^ok .*' "$log" | tr -d ' ')
	s=$(grep -c '^ok .*# SKIP' "$log" | tr -d ' ')
	f=$(grep -c '^not ok' "$log" | tr -d ' ')
	tally "$name" $((p - s)) "$f" "$s" "$rc" ||
		grep -E '^not ok|ERROR|error|Assertion|runtime error|Sanitizer' "$log" | head -20 | sed 's/^/        /'
}

echo "unit tests (cmocka):"
for t in "$BUILD"/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *test_flow_bpf) continue ;; esac
	run_cmocka "$(basename "$t")" "$t"
done
echo "unit tests under ASan+UBSan:"
for t in "$BUILD"/asan/test_*; do
	[ -x "$t" ] || continue
	run_cmocka "asan/$(basename "$t")" "$t"
done
echo "BPF program tests (BPF_PROG_TEST_RUN):"
run_cmocka test_flow_bpf "$BUILD/test_flow_bpf"

# One libFuzzer target for a bounded, seeded run; a crash or sanitizer report fails it.
run_fuzz() {
	local name=$1 runs=$2 max_len=$3 rc corpus
	shift 3
	corpus=$(mktemp -d)
	"$BUILD/$name" -seed=1 -runs="$runs" -max_len="$max_len" "$corpus" "$@" \
		>"$results/$name.log" 2>&1
	rc=$?
	rm -rf "$corpus"
	if [ "$rc" -eq 0 ]; then
		tally "$name" 1 0 0 0
	else
		tally "$name" 0 1 0 "$rc"
		grep -E 'ERROR|SUMMARY|runtime error|crash-' "$results/$name.log" | head -10 | sed 's/^/        /'
	fi
}

echo "fuzzing (libFuzzer, fixed seed and run count):"
seeds=
[ -d "$SHARED_DIR/pcaps/edge" ] && seeds="$SHARED_DIR/pcaps/edge"
run_fuzz fuzz_replay 200000 65536 $seeds
wire_seeds=$(mktemp -d)
python3 tests/fuzz/make_wire_seeds.py "$wire_seeds"
run_fuzz fuzz_wire 500000 4096 "$wire_seeds"
rm -rf "$wire_seeds"

echo "formatting (clang-format):"
tests/format-check.sh >"$results/format.log" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
	tally format-check 1 0 0 0
else
	tally format-check 0 1 0 "$rc"
	head -30 "$results/format.log" | sed 's/^/        /'
fi

echo "integration tests (pytest):"
junit="$results/integration.xml"
rm -f "$junit"
python3 -m pytest -q -p no:cacheprovider --junitxml="$junit" tests/integration \
	>"$results/integration.log" 2>&1
rc=$?
if [ -f "$junit" ]; then
	read -r p f s < <(python3 - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = sum(int(x.get("tests", 0)) for x in suites)
f = sum(int(x.get("failures", 0)) + int(x.get("errors", 0)) for x in suites)
s = sum(int(x.get("skipped", 0)) for x in suites)
print(t - f - s, f, s)
PY
	)
else
	p=0 f=1 s=0
fi
if ! tally integration "$p" "$f" "$s" "$rc"; then
	echo "        see $results/integration.log"
	grep -E '^(FAILED|ERROR)' "$results/integration.log" | head -30 | sed 's/^/        /'
	tail -40 "$results/integration.log" | sed 's/^/        /'
fi

if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
