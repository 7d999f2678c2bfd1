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
run_suite build/release -DCMAKE_BUILD_TYPE=Release -DMMRT_CUDA=OFF  # the CUDA module: build/nvcc below
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
echo "== ABI: libmmrt.so against the committed baseline (abidiff) =="
bash tools/abi-check.sh

echo "== ASan + UBSan build =="
# Criterion's worker processes report their own status before exiting, so a leak found at exit
# would not fail the test: every sanitizer report goes to a file instead, and any file fails the run.
reports="$PWD/build/asan/sanitizer-reports"
rm -rf "$reports" && mkdir -p "$reports"
ASAN_OPTIONS="detect_leaks=1:log_path=$reports/asan" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan" \
  run_suite build/asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMRT_SANITIZE=address,undefined -DMMRT_CUDA=OFF
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

  echo "== the CUDA backend on the emulator (-DMMRT_CUDA_EMU=ON), kernels and models end to end: Release, ASan+UBSan =="
  cuda_emu_suite() { # build-dir, extra cmake args...
    local dir=$1; shift
    cmake -S . -B "$dir" -DMMRT_FATAL_WARNINGS=ON -DMMRT_CUDA_EMU=ON -DMMRT_EMU_NVCC_CHECK=OFF \
      -DMMRT_BUILD_SAMPLES=OFF -DMMRT_BUILD_BENCH=ON "$@" >/dev/null
    # test_llama and test_smolvlm run again as test_cuda_llama / test_cuda_smolvlm: the fixtures
    # end to end on the CUDA backend, zero ops falling back to the CPU; gpu_bench_smoke checks the
    # GPU benchmark's harness (bench/gpu) against a host reference
    cmake --build "$dir" -j "$jobs" --target test_cuda_ops test_cuda_attention test_cuda_quant test_cuda_convert test_llama test_smolvlm test_chat_session test_granite test_granite_speech test_bf16_parity test_gguf_model mmrt-gpu-bench
    ctest --test-dir "$dir" --output-on-failure -j 1 -R 'test_cuda_|gpu_bench_smoke'
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

  echo "== the CUDA backend's ops on the emulator under TSan =="
  # Criterion cannot start under TSan: test_cuda_ops and test_cuda_attention are built against its
  # shim (tests/tsan) and run once, in shuffled order, each test in a child process; ctest sets
  # TSAN_OPTIONS=halt_on_error=1:exitcode=66, so any report fails its test (tests/CMakeLists.txt).
  t0=$SECONDS
  cmake -S . -B build/cuda-emu-tsan -DMMRT_FATAL_WARNINGS=ON -DMMRT_CUDA_EMU=ON -DMMRT_EMU_NVCC_CHECK=OFF \
    -DMMRT_BUILD_SAMPLES=OFF -DMMRT_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMMRT_SANITIZE=thread >/dev/null
  cmake --build build/cuda-emu-tsan -j "$jobs" --target test_cuda_ops test_cuda_attention test_cuda_quant test_cuda_convert
  ctest --test-dir build/cuda-emu-tsan --output-on-failure -j 1 -R '^test_cuda_.*_tsan$'
  echo "TSan build and run: $((SECONDS - t0)) s"
else
  echo "skipped: no CUDA toolkit headers under ${CUDA_HOME:-/usr/local/cuda}/include"
fi
echo "== nvcc: the CUDA backend module (-DMMRT_CUDA=ON) for sm_80 and sm_90, its PTX, and a CUDA-enabled libmmrt on this host =="
nvcc_bin=$(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")
if [ -x "$nvcc_bin" ]; then
  cmake -S . -B build/nvcc -DMMRT_FATAL_WARNINGS=ON -DMMRT_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc_bin" \
    -DCMAKE_BUILD_TYPE=Release -DMMRT_BUILD_TESTS=OFF -DMMRT_BUILD_SAMPLES=OFF -DMMRT_BUILD_BENCH=ON >/dev/null
  # ptxas runs with -v,-warn-spills,-Werror: a spill fails here, after the table shows which kernel.
  t0=$SECONDS
  if ! cmake --build build/nvcc -j "$jobs" --target mmrt_cuda mmrt_cli mmrt-gpu-bench; then
    tools/ptxas-summary.sh build/nvcc || true
    exit 1
  fi
  echo "module, CLI and GPU benchmark built in $((SECONDS - t0)) s; ptxas report: build/nvcc/mmrt-cuda-ptxas.txt"
  tools/ptxas-summary.sh build/nvcc
  tools/check-ptx.sh build/nvcc/ptx-check build/nvcc/CMakeFiles/mmrt_cuda.dir/cuda

  # libmmrt itself must not need any CUDA library: the module is dlopen()ed on request.
  if readelf -d build/nvcc/libmmrt.so | grep NEEDED | grep -i -E 'cuda|cublas'; then
    echo "libmmrt.so links a CUDA library (it must only dlopen libmmrt-cuda.so)"
    exit 1
  fi
  readelf -d build/nvcc/libmmrt-cuda.so | grep -q 'NEEDED.*libcudart' ||
    { echo "libmmrt-cuda.so does not link the CUDA runtime"; exit 1; }
  nvcc_gen() { # device, extra env... ; greedy text of a fixture, stderr in build/nvcc/gen.err
    local dev=$1; shift
    env "$@" build/nvcc/mmrt generate -m tests/fixtures/llama/odd-sizes --offline --raw -p "hello" \
      -n 4 --device "$dev" 2>build/nvcc/gen.err
  }
  build/nvcc/mmrt info -m tests/fixtures/llama/odd-sizes --offline >/dev/null
  cpu_text=$(nvcc_gen cpu)
  if cuda_text=$(nvcc_gen cuda); then
    # a host with a usable GPU: cuda and auto both run on it
    echo "a CUDA device is present: $(head -c 300 build/nvcc/gen.err)"
    auto_text=$(nvcc_gen auto)
    [ "$cuda_text" = "$cpu_text" ] || echo "note: greedy text on CUDA differs from the CPU's: '$cuda_text' vs '$cpu_text'"
  else
    # no usable GPU here: cuda is an error naming the cause, auto falls back saying so once
    grep -q 'CUDA' build/nvcc/gen.err || { echo "--device cuda failed without naming CUDA:"; cat build/nvcc/gen.err; exit 1; }
    echo "--device cuda: $(cat build/nvcc/gen.err)"
    auto_text=$(nvcc_gen auto)
    [ "$(grep -c 'device auto: running on the CPU' build/nvcc/gen.err)" = 1 ] ||
      { echo "--device auto did not say once that it fell back to the CPU:"; cat build/nvcc/gen.err; exit 1; }
    echo "--device auto: $(cat build/nvcc/gen.err)"
    [ "$auto_text" = "$cpu_text" ] || { echo "auto fallback text '$auto_text' != CPU text '$cpu_text'"; exit 1; }
  fi
  # a CUDA-enabled libmmrt whose module is missing still runs on the CPU
  if nvcc_gen cuda MMRT_CUDA_MODULE=/nonexistent/libmmrt-cuda.so >/dev/null; then
    echo "--device cuda succeeded without its module"; exit 1
  fi
  grep -q 'not found' build/nvcc/gen.err || { cat build/nvcc/gen.err; exit 1; }
  [ "$(nvcc_gen auto MMRT_CUDA_MODULE=/nonexistent/libmmrt-cuda.so)" = "$cpu_text" ] ||
    { echo "--device auto without the module did not run on the CPU:"; cat build/nvcc/gen.err; exit 1; }
  echo "a CUDA-enabled libmmrt runs on the CPU here (auto falls back, cuda is a clear error)"
  echo "== the GPU check bundle (tools/gpu-check.sh): from build/nvcc, its size and libraries, and its run here =="
  # tools/gpu-bundle.sh fails if the bundle is 64 MiB or more or a program needs a library it lacks.
  t0=$SECONDS
  tools/gpu-check.sh --bundle build/gpu-bundle build/nvcc
  # Moved elsewhere and run with an empty environment, it must stop at its GPU step: status 3 and
  # NO GPU without one (0 on a host with a GPU where everything passes).
  moved=$PWD/build/gpu-bundle-moved
  rm -rf "$moved" && cp -r build/gpu-bundle "$moved"
  rc=0
  (cd / && env -i PATH=/usr/bin:/bin "$moved/gpu-check.sh") >build/gpu-bundle-run.log 2>&1 || rc=$?
  tail -6 build/gpu-bundle-run.log
  if ! { [ $rc = 3 ] && grep -q '^NO GPU' build/gpu-bundle-run.log; } && [ $rc != 0 ]; then
    echo "the bundle's gpu-check.sh: exit status $rc (expected 3, no GPU):"; cat build/gpu-bundle-run.log; exit 1
  fi
  rm -rf "$moved"
  echo "GPU check bundle built and run: $((SECONDS - t0)) s"
else
  echo "skipped: no nvcc (set CUDA_HOME or PATH)"
fi
echo "== libFuzzer smoke (clang) =="
bash tools/fuzz-smoke.sh
echo "all test suites passed"
