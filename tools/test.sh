#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs dependencies, then builds and tests twice —
# a Release build with warnings as errors, and an ASan+UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
jobs=$(nproc)

run_suite() { # build-dir, extra cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -DMMRT_FATAL_WARNINGS=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  ctest --test-dir "$dir" --output-on-failure -j 1
}

echo "== Release build =="
run_suite build/release -DCMAKE_BUILD_TYPE=Release
echo "== ASan + UBSan build =="
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run_suite build/asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMRT_SANITIZE=address,undefined
echo "all test suites passed"
