#!/usr/bin/env bash
# Builds llama.cpp OUTSIDE mmrt's tree, from the llama.cpp that PyPI's llama-cpp-python sdist vendors
# (vendor/llama.cpp). Used by tools/fixtures_gguf.py (convert_hf_to_gguf.py, gguf-py, llama-quantize) and by
# bench/peers/run.sh (llama-bench). Nothing of llama.cpp is ever copied into the repository.
#
#   bench/peers/build_llama_cpp.sh            download, unpack, configure, build, smoke-test (each step skipped
#                                             when already done), then print the paths as shell assignments
#   bench/peers/build_llama_cpp.sh --print    only print the paths (fails if the build is missing)
#
# Environment:
#   MMRT_PEERS_CACHE   cache dir (default ~/.cache/mmrt-peers); the sdist, its unpacked tree and the build live here
#   MMRT_PEERS_PIP     pip used to download the sdist (default /work/venv/bin/pip, else pip3)
#   MMRT_PEERS_JOBS    build parallelism (default 2: the dev machine has 2 shared cores)
#
# Configuration: Release, GGML_NATIVE=ON (-march=native: AVX-512, VNNI, BF16 where the CPU has them), OpenMP,
# CPU backend only, no tests/server/curl. Only llama-quantize, llama-bench and llama-simple are built
# (llama-cli drags in the whole server; set MMRT_PEERS_CLI=1 to build it too).
#
# Repacking: ggml's CPU backend repacks Q4_0/IQ4_NL/Q4_K/Q8_0 weights at load time into interleaved layouts
# (GGML_CPU_REPACK). The smoke test runs llama-bench on a tiny Q4_0 and Q4_K model; if that crashes, the build is
# retried with llama-bench's `--repack 0` (then LLAMA_CPP_CONFIG tells users to pass it), and if that crashes too,
# the build is redone with GGML_CPU_REPACK=OFF; the printed LLAMA_CPP_CONFIG says which happened.
set -euo pipefail

# Pinned: the newest llama-cpp-python on PyPI at the time (2026-12-08); its vendor/llama.cpp is
# ggml-org/llama.cpp@0c1e57098bba43ac29e6e3b677cdceebdd22334f (shallow: llama.cpp's build number reads 1),
# gguf-py 0.19.0.
LCP_VERSION=0.3.36
LCP_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
LLAMA_CPP_COMMIT=0c1e57098bba43ac29e6e3b677cdceebdd22334f

CACHE=${MMRT_PEERS_CACHE:-$HOME/.cache/mmrt-peers}
JOBS=${MMRT_PEERS_JOBS:-2}
PIP=${MMRT_PEERS_PIP:-}
if [[ -z $PIP ]]; then
    if [[ -x /work/venv/bin/pip ]]; then PIP=/work/venv/bin/pip; else PIP=pip3; fi
fi
SDIST=$CACHE/llama_cpp_python-$LCP_VERSION.tar.gz
SRC=$CACHE/llama_cpp_python-$LCP_VERSION/vendor/llama.cpp
BUILD=$CACHE/build-$LCP_VERSION
STAMP=$BUILD/mmrt-config.txt   # written last: a build is done only when this file exists
TARGETS=(llama-quantize llama-bench llama-simple)
[[ ${MMRT_PEERS_CLI:-0} == 1 ]] && TARGETS+=(llama-cli)

log() { echo "build_llama_cpp: $*" >&2; }

print_paths() {
    [[ -f $STAMP ]] || { log "no finished build in $BUILD (run without --print)"; exit 1; }
    echo "LLAMA_CPP_SRC=$SRC"
    echo "LLAMA_CPP_BIN=$BUILD/bin"
    echo "LLAMA_CPP_CONVERT=$SRC/convert_hf_to_gguf.py"
    echo "LLAMA_CPP_GGUF_PY=$SRC/gguf-py"
    echo "LLAMA_CPP_COMMIT=$LLAMA_CPP_COMMIT"
    echo "LLAMA_CPP_PYTHON_VERSION=$LCP_VERSION"
    echo "LLAMA_CPP_CONFIG=\"$(cat "$STAMP")\""
}

fetch() {
    mkdir -p "$CACHE"
    if [[ ! -f $SDIST ]]; then
        log "downloading llama-cpp-python==$LCP_VERSION (sdist)"
        # pip prepares the sdist's metadata (scikit-build-core, fetched into an isolated build env), nothing more
        "$PIP" download --no-deps --no-binary :all: "llama-cpp-python==$LCP_VERSION" -d "$CACHE" >&2
    fi
    echo "$LCP_SHA256  $SDIST" | sha256sum -c --quiet - || { log "checksum mismatch: $SDIST"; exit 1; }
    if [[ ! -f $SRC/convert_hf_to_gguf.py ]]; then
        log "unpacking $SDIST"
        tar -xzf "$SDIST" -C "$CACHE"
    fi
    for f in convert_hf_to_gguf.py gguf-py/gguf/quants.py tools/quantize tools/llama-bench examples/simple; do
        [[ -e $SRC/$f ]] || { log "the sdist lacks vendor/llama.cpp/$f"; exit 1; }
    done
}

# configure_build REPACK(ON|OFF): configure and build the targets into $BUILD.
configure_build() {
    local repack=$1
    log "configuring (Release, GGML_NATIVE=ON, OpenMP, GGML_CPU_REPACK=$repack) in $BUILD"
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DGGML_NATIVE=ON -DGGML_OPENMP=ON -DGGML_CPU_REPACK="$repack" \
        -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF \
        -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_TOOLS=ON \
        -DLLAMA_BUILD_COMMIT="${LLAMA_CPP_COMMIT:0:9}" >"$CACHE/configure.log" 2>&1 \
        || { tail -30 "$CACHE/configure.log" >&2; exit 1; }
    log "building ${TARGETS[*]} with -j$JOBS (minutes)"
    cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]}" >"$CACHE/build.log" 2>&1 \
        || { tail -30 "$CACHE/build.log" >&2; exit 1; }
}

# smoke_model OUT TYPE: bench/peers/smoke_gguf.py's tiny random Llama GGUF, quantized to TYPE.
smoke_model() {
    local out=$1 type=$2 py=${MMRT_PEERS_PYTHON:-/work/venv/bin/python}
    [[ -f $out ]] && return 0
    [[ -f $CACHE/smoke-f32.gguf ]] || PYTHONPATH=$SRC/gguf-py "$py" "$(dirname "$0")/smoke_gguf.py" \
        "$CACHE/smoke-f32.gguf" >&2 || return 1
    "$BUILD/bin/llama-quantize" "$CACHE/smoke-f32.gguf" "$out" "$type" >"$CACHE/smoke-quantize.log" 2>&1
}

# bench_ok FLAGS...: 0 if llama-bench runs the Q4_0 and Q4_K smoke models (the repacked paths) without crashing.
bench_ok() {
    local t
    for t in Q4_0 Q4_K_M; do
        smoke_model "$CACHE/smoke-$t.gguf" "$t" || { log "no smoke model ($t): see $CACHE/smoke-quantize.log"; exit 1; }
        if ! "$BUILD/bin/llama-bench" -m "$CACHE/smoke-$t.gguf" -t 2 -p 16 -n 4 -r 1 "$@" \
                >"$CACHE/smoke-bench-$t.log" 2>&1; then
            log "llama-bench $* crashed on $t (see $CACHE/smoke-bench-$t.log)"
            return 1
        fi
    done
    return 0
}

main() {
    if [[ ${1:-} == --print ]]; then print_paths; exit 0; fi
    if [[ -f $STAMP ]]; then log "already built: $(cat "$STAMP")"; print_paths; exit 0; fi
    fetch
    configure_build ON
    local config="llama.cpp@${LLAMA_CPP_COMMIT:0:9} (llama-cpp-python $LCP_VERSION sdist) Release GGML_NATIVE=ON"
    config+=" OpenMP CPU-only"
    if bench_ok; then
        config+=" GGML_CPU_REPACK=ON (repacked Q4_0/Q4_K run)"
    elif bench_ok --repack 0; then
        config+=" GGML_CPU_REPACK=ON but the repacked path crashed: run llama-bench with --repack 0"
    else
        log "rebuilding with GGML_CPU_REPACK=OFF"
        rm -f "$CACHE"/smoke-Q4*.gguf
        configure_build OFF
        bench_ok || { log "llama-bench crashes even without repacking"; exit 1; }
        config+=" GGML_CPU_REPACK=OFF (the repacked Q4 path crashed on this machine)"
    fi
    config+="; CPU: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
    config+=" [$(grep -m1 '^flags' /proc/cpuinfo | grep -oE 'avx512_bf16|avx512_vnni|avx_vnni|amx_[a-z0-9]+' \
        | sort -u | tr '\n' ' ' | xargs)]"
    echo "$config" >"$STAMP"
    log "built: $config"
    print_paths
}

main "$@"
