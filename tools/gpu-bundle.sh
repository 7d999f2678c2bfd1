#!/usr/bin/env bash
# Builds the self-contained GPU check bundle that tools/gpu-check.sh runs on a lent GPU machine
# (bench/GPU.md "Running it"). No GPU is needed here; nvcc is.
#
#   tools/gpu-bundle.sh OUT [BUILD_DIR]        (BUILD_DIR default build/gpu-bundle)
#
# BUILD_DIR is configured as a CUDA-enabled Release build (-DMMRT_CUDA=ON) with the real-CUDA test
# suites (tests/CMakeLists.txt, MMRT_GPU_TEST_ROOT=$test_root below): CI passes its build/nvcc so
# that nothing is compiled twice. The bundle's tree (BUILD_DIR/gpu-bundle-tree) mirrors the source tree:
#   bin/    mmrt, mmrt-bench, mmrt-gpu-bench, test_cuda_* (the real backend against the CPU oracle)
#   lib/    libmmrt, libmmrt-cuda.so and every shared library they need (resolved with ldd: OpenBLAS,
#           oneDNN, curl and its TLS stack, criterion's, the codecs, libstdc++, the CUDA runtime) but
#           glibc's (libc, libm, libdl, libpthread, librt, libresolv, ld-linux), the driver's
#           libcuda, and cuBLAS (libcublas + libcublasLt are ~600 MB: the GPU machine must have
#           CUDA 13's cuBLAS; gpu-check.sh looks for it and names it when missing)
#   tests/fixtures/..., samples/images/  the fixtures those programs read (paths as in the tree)
#   bench/  the SmolVLM-256M checkpoint generator for mmrt-bench, and gpu_estimates.py's tables
# OUT gets gpu-check.sh (a copy of tools/gpu-check.sh) and payload.tar.xz of the tree, which
# gpu-check.sh unpacks on first use. Fails if OUT is 64 MiB or more, or if a program of the tree
# needs a library that is neither in lib/ nor one of the allowed system libraries.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: tools/gpu-bundle.sh OUT [BUILD_DIR]" >&2; exit 2; }
out=$(realpath -m "$1")
build=$(realpath -m "${2:-$(dirname "$0")/../build/gpu-bundle}")
cd "$(dirname "$0")/.."
max_bytes=$((64 * 1024 * 1024))
# Where the test suites find the bundle (tests/CMakeLists.txt): gpu-check.sh links it to the tree.
test_root=/tmp/mmrt-gpu-check-root
cuda_lib=${CUDA_HOME:-/usr/local/cuda}/lib64
nvcc_bin=$(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")
# Libraries the GPU machine provides: glibc, the driver's libcuda, and the toolkit's cuBLAS.
system_libs='^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libresolv\.so\.2|ld-linux-x86-64\.so\.2|linux-vdso\.so\.1|libcuda\.so\.1|libcublas\.so\.[0-9]+|libcublasLt\.so\.[0-9]+)$'
programs=(mmrt bench/mmrt-bench bench/mmrt-gpu-bench tests/test_cuda_ops tests/test_cuda_attention tests/test_cuda_quant tests/test_cuda_convert
  tests/test_cuda_llama tests/test_cuda_smolvlm tests/test_cuda_chat_session tests/test_cuda_granite
  tests/test_cuda_granite_speech tests/test_cuda_bf16_parity tests/test_cuda_gguf_model)
# What the test suites, the caption and the benchmark model generator read (see tests/*.c).
data=(tests/fixtures/llama tests/fixtures/smolvlm tests/fixtures/chat_session tests/fixtures/granite
  tests/fixtures/granite_speech tests/fixtures/audio tests/fixtures/images tests/fixtures/chat_templates/templates
  tests/fixtures/bf16 tests/fixtures/gguf_llama
  samples/images bench/make_smolvlm_256m.py bench/make_smollm2_135m.py bench/gpu_estimates.py
  bench/GPU.md)

configure_and_build() {
  local t0=$SECONDS
  cmake -S . -B "$build" -DMMRT_FATAL_WARNINGS=ON -DMMRT_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc_bin" \
    -DCMAKE_BUILD_TYPE=Release -DMMRT_BUILD_TESTS=ON -DMMRT_BUILD_SAMPLES=OFF -DMMRT_BUILD_BENCH=ON \
    -DMMRT_GPU_TEST_ROOT="$test_root" >/dev/null
  cmake --build "$build" -j "$(nproc)" --target mmrt_cuda mmrt_cli mmrt-bench mmrt-gpu-bench mmrt_gpu_tests
  echo "gpu-bundle: built in $((SECONDS - t0)) s ($build)"
}

# Copies the programs and the module, drops their build-tree RPATH (the run script sets
# LD_LIBRARY_PATH to lib/), and copies every library ldd resolves that the target does not provide.
collect_binaries() {
  local tree=$1 p f lib
  mkdir -p "$tree/bin" "$tree/lib"
  for p in "${programs[@]}"; do cp "$build/$p" "$tree/bin/"; done
  cp -L "$build/libmmrt.so" "$tree/lib/$(readlink "$build/libmmrt.so")"
  cp "$build/libmmrt-cuda.so" "$tree/lib/"
  echo 'file(RPATH_REMOVE FILE "${F}")' >"$build/rpath-remove.cmake"
  for f in "$tree"/bin/* "$tree"/lib/libmmrt*; do cmake -DF="$f" -P "$build/rpath-remove.cmake" >/dev/null; done
  for f in "$tree"/bin/* "$tree"/lib/libmmrt*; do
    LD_LIBRARY_PATH="$tree/lib:$cuda_lib" ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}'
  done | sort -u | while read -r name lib; do
    grep -qE "$system_libs" <<<"$name" || [ -e "$tree/lib/$name" ] || cp -L "$lib" "$tree/lib/$name"
  done
}

# Every NEEDED entry of every ELF file in the tree is a file of lib/ or an allowed system library.
check_closure() {
  local tree=$1 f n bad=0
  for f in "$tree"/bin/* "$tree"/lib/*; do
    for n in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      if ! [ -e "$tree/lib/$n" ] && ! grep -qE "$system_libs" <<<"$n"; then
        echo "gpu-bundle: ${f#"$tree"/} needs $n, which is not in the bundle" >&2
        bad=1
      fi
    done
  done
  return $bad
}

# The predictions that gpu-check.sh's report compares with, H100 (the default bound) and H200,
# from this build's ptxas report and the attention launcher's PTX (bench/GPU.md "Commands").
write_predictions() {
  local tree=$1 ptx=$build/attention-sm90.ptx est
  "$nvcc_bin" -std=c++20 -O3 -arch=sm_90 -I. -Iinclude -Icuda -ptx cuda/attention.cu -o "$ptx"
  est=(python3 bench/gpu_estimates.py --ptxas "$build/mmrt-cuda-ptxas.txt" --ptx "$ptx")
  "${est[@]}" >"$tree/bench/predictions-h100.md"
  "${est[@]}" --tflops 990 --tbps 4.8 >"$tree/bench/predictions-h200.md"
}

write_manifest() {
  local tree=$1
  {
    echo "mmrt GPU check bundle: $(git describe --always --dirty 2>/dev/null || echo unknown), built $(date -u +%FT%TZ)"
    echo "test root: $test_root (the test suites' fixtures and bin/mmrt; gpu-check.sh links it here)"
    "$nvcc_bin" --version | tail -1
    echo "glibc needed: $(objdump -T "$tree"/bin/* "$tree"/lib/* 2>/dev/null |
      grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1) or newer"
    echo "CUDA runtime shipped: $(ls "$tree/lib" | grep libcudart || echo none) (driver r580 or newer for CUDA 13)"
    echo "needed on the GPU machine: the NVIDIA driver (libcuda.so.1) and cuBLAS ($(readelf -d "$tree/lib/libmmrt-cuda.so" |
      sed -n 's/.*(NEEDED).*\[\(libcublas\.so\.[0-9]*\)\]/\1/p') and its libcublasLt)"
    (cd "$tree" && find . -type f | sort)
  } >"$tree/MANIFEST"
}

configure_and_build
tree=$build/gpu-bundle-tree
rm -rf "$tree" && mkdir -p "$tree/bench"
collect_binaries "$tree"
tar -cf - "${data[@]}" | tar -xf - -C "$tree"
write_predictions "$tree"
check_closure "$tree" || { echo "gpu-bundle: the bundle is not self-contained" >&2; exit 1; }
write_manifest "$tree"
rm -rf "$out" && mkdir -p "$out"
cp tools/gpu-check.sh "$out/gpu-check.sh"
# xz: 40 MiB where gzip takes 58 (OpenBLAS and oneDNN are most of it); about a minute on 2 cores.
tar -C "$tree" -cf - . | xz -T0 -6 >"$out/payload.tar.xz"
size=$(du -sb "$out" | cut -f1)
echo "gpu-bundle: $out: $((size / 1024 / 1024)) MiB packed ($(du -sb "$tree" | cut -f1 | awk '{printf "%d", $1 / 1048576}') MiB unpacked), $(ls "$tree/lib" | wc -l) libraries"
if [ "$size" -ge "$max_bytes" ]; then
  echo "gpu-bundle: $out is $size bytes, over the 64 MiB budget" >&2
  exit 1
fi
