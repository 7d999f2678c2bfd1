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
echo "== install: header, libraries, pkg-config and CMake package =="
rm -rf build/install
cmake --install build/release --prefix "$PWD/build/install" >/dev/null
PKG_CONFIG_PATH="$PWD/build/install/lib/pkgconfig" \
  cc -std=c11 -Wall -Werror samples/generate.c $(PKG_CONFIG_PATH="$PWD/build/install/lib/pkgconfig" pkg-config --cflags --libs mmrt) \
  -Wl,-rpath,"$PWD/build/install/lib" -o build/install/sample-pkgconfig
build/install/sample-pkgconfig tests/fixtures/llama/odd-sizes "hello" 4 >/dev/null
cc -std=c11 -Wall -Werror samples/caption.c $(PKG_CONFIG_PATH="$PWD/build/install/lib/pkgconfig" pkg-config --cflags --libs mmrt) \
  -Wl,-rpath,"$PWD/build/install/lib" -o build/install/sample-caption
build/install/sample-caption tests/fixtures/smolvlm/split samples/images/chelsea.png >/dev/null 2>&1
cmake -S tools/install-check -B build/install-check -DCMAKE_PREFIX_PATH="$PWD/build/install" >/dev/null
cmake --build build/install-check >/dev/null
build/install-check/sample-cmake tests/fixtures/llama/odd-sizes "hello" 4 >/dev/null
echo "installed library links through pkg-config and find_package(mmrt)"

echo "== ASan + UBSan build =="
# Criterion's worker processes report their own status before exiting, so a leak found at exit
# would not fail the test: every sanitizer report goes to a file instead, and any file fails the run.
reports="$PWD/build/asan/sanitizer-reports"
rm -rf "$reports" && mkdir -p "$reports"
ASAN_OPTIONS="detect_leaks=1:log_path=$reports/asan" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan" \
  run_suite build/asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMRT_SANITIZE=address,undefined
if compgen -G "$reports/*" >/dev/null; then
  echo "sanitizer reports:"
  cat "$reports"/*
  exit 1
fi
echo "== CUDA emulator (cuda/emu): Release, ASan+UBSan, TSan =="
# The emulator compiles against the CUDA toolkit's own headers (cuda_runtime_api.h, cuda_bf16.h).
if [ -e "${CUDA_HOME:-/usr/local/cuda}/include/cuda_bf16.h" ]; then
  emu_suite() { # build-dir, extra cmake args...
    local dir=$1; shift
    cmake -S cuda/emu -B "$dir" -DMMRT_FATAL_WARNINGS=ON "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
    ctest --test-dir "$dir" --output-on-failure -j 1
  }
  emu_suite build/emu -DCMAKE_BUILD_TYPE=Release
  reports="$PWD/build/emu-asan/sanitizer-reports"
  rm -rf "$reports" && mkdir -p "$reports"
  ASAN_OPTIONS="detect_leaks=1:log_path=$reports/asan" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan" \
    emu_suite build/emu-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMRT_SANITIZE=address,undefined
  if compgen -G "$reports/*" >/dev/null; then
    echo "sanitizer reports:"
    cat "$reports"/*
    exit 1
  fi
  # Criterion cannot start under TSan: that variant runs the same tests through a plain runner
  # whose exit status (66) fails on any report.
  emu_suite build/emu-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMRT_SANITIZE=thread

  echo "== the CUDA backend's kernels on the emulator (-DMMRT_CUDA_EMU=ON): Release, ASan+UBSan =="
  cuda_emu_suite() { # build-dir, extra cmake args...
    local dir=$1; shift
    cmake -S . -B "$dir" -DMMRT_FATAL_WARNINGS=ON -DMMRT_CUDA_EMU=ON -DMMRT_EMU_NVCC_CHECK=OFF \
      -DMMRT_BUILD_SAMPLES=OFF -DMMRT_BUILD_BENCH=OFF "$@" >/dev/null
    cmake --build "$dir" -j "$jobs" --target test_cuda_ops
    ctest --test-dir "$dir" --output-on-failure -j 1 -R test_cuda_ops
  }
  cuda_emu_suite build/cuda-emu -DCMAKE_BUILD_TYPE=Release
  reports="$PWD/build/cuda-emu-asan/sanitizer-reports"
  rm -rf "$reports" && mkdir -p "$reports"
  ASAN_OPTIONS="detect_leaks=1:log_path=$reports/asan" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan" \
    cuda_emu_suite build/cuda-emu-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMRT_SANITIZE=address,undefined
  if compgen -G "$reports/*" >/dev/null; then
    echo "sanitizer reports:"
    cat "$reports"/*
    exit 1
  fi
else
  echo "skipped: no CUDA toolkit headers under ${CUDA_HOME:-/usr/local/cuda}/include"
fi
echo "== libFuzzer smoke (clang) =="
bash tools/fuzz-smoke.sh
echo "all test suites passed"
