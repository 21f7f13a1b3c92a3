#!/usr/bin/env bash
# Runs one cmocka test executable on Oclgrind's simulated device (ctest label `oclgrind`).
# usage: oclgrind_run.sh [--uninitialized | --no-uninitialized WHY] [--allow-api FUNCTION=N]...
#                        TEST_EXECUTABLE
# The `oclgrind` wrapper interposes the simulator in place of the ICD loader, so the test sees
# one device. Checks: data races (--data-races), OpenCL API errors (--check-api), and always
# invalid memory accesses and work-group divergence at barriers; --uninitialized adds
# uninitialised values where Oclgrind 21.10's plugin can run (README: where it cannot and why).
# Passes only when the test exits 0, cmocka reports every test passed, Oclgrind's log of
# kernel diagnostics is empty and the API errors are exactly those allowed (tests that
# provoke errors on purpose declare them: FUNCTION=N, N reports from FUNCTION).
set -uo pipefail

flags=(--data-races --check-api)
declare -A allowed=()
while (($# > 1)); do
  case $1 in
  --uninitialized) flags+=(--uninitialized); shift ;;
  --no-uninitialized) echo "note: uninitialised-value check off for this test: $2"; shift 2 ;;
  --allow-api) allowed[${2%%=*}]=${2#*=}; shift 2 ;;
  *) echo "oclgrind_run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
test_exe=$1
command -v oclgrind >/dev/null || { echo "oclgrind not installed (apt-get install oclgrind)"; exit 77; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log=$work/oclgrind.log
echo "oclgrind ${flags[*]} $test_exe"
oclgrind "${flags[@]}" --log "$log" "$test_exe" >"$work/out" 2>&1
rc=$?
cat "$work/out"

fail=0
if ((rc != 0)); then
  echo "FAIL: exit status $rc"
  fail=1
fi
ran=$(sed -n 's/^\[==========\] \([0-9]*\) test(s) run\./\1/p' "$work/out")
passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$work/out")
if [ -z "$ran" ] || [ "$ran" != "$passed" ]; then
  echo "FAIL: cmocka ran ${ran:-?} tests, ${passed:-0} passed"
  fail=1
fi
if [ -s "$log" ]; then
  echo "FAIL: Oclgrind reported $(grep -c -E '^[A-Z]' "$log") diagnostics (first 60 lines):"
  head -n 60 "$log"
  fail=1
fi
# API errors: "Oclgrind - OpenCL runtime error detected" then "Function: NAME".
declare -A seen=()
while read -r fn; do
  seen[$fn]=$((${seen[$fn]:-0} + 1))
done < <(grep -A1 'Oclgrind - OpenCL runtime error detected' "$work/out" |
  sed -n 's/^[[:space:]]*Function: *//p')
for fn in "${!seen[@]}" "${!allowed[@]}"; do
  if [ "${seen[$fn]:-0}" != "${allowed[$fn]:-0}" ]; then
    echo "FAIL: ${seen[$fn]:-0} OpenCL API errors from $fn, ${allowed[$fn]:-0} expected"
    fail=1
  fi
done
if grep -q 'OCLGRIND FATAL ERROR' "$work/out"; then
  echo "FAIL: Oclgrind fatal error"
  fail=1
fi
((fail == 0)) && echo "oclgrind: no diagnostics"
exit "$fail"
