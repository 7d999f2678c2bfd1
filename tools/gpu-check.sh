#!/usr/bin/env bash
# Everything mmrt can check on one lent GPU, in one command, in under 8 minutes (bench/GPU.md
# "Running it").
#
#   tools/gpu-check.sh --bundle OUT [BUILD_DIR]   here, without a GPU: builds the self-contained
#                                                 bundle OUT (tools/gpu-bundle.sh)
#   OUT/gpu-check.sh [--budget S] [--logs DIR]    on the GPU machine (this script, copied into the
#                                                 bundle): unpacks OUT/payload.tar.xz, then
#   1. checks that every program resolves its libraries from the bundle (or glibc, the driver, cuBLAS)
#   2. the model test suites on the CPU (the bundle is complete), greedy CPU references
#   3. the GPU: nvidia-smi and the CUDA module on the device  <- the first step that needs a GPU
#   4. every CUDA test suite on the device (the real backend against the CPU oracle)
#   5. mmrt-gpu-bench --smoke, then its timings
#   6. mmrt-bench --device cuda at f32 and bf16 math, and a timed caption (a random-weight
#      SmolVLM-256M made by bench/make_smolvlm_256m.py, when python3 is there)
#   7. mmrt caption --device cuda on a fixture and a sample image against --device cpu
#   8. a report against bench/GPU.md's predictions, and the total time.
# Every step has a timeout; the whole run stops starting steps after --budget seconds (450).
# Logs: WORK/logs (WORK is OUT/tree, or a temporary directory if OUT is not writable), and a copy
# in --logs DIR at the end.
# Exit status: 0 every step passed; 1 a step failed; 3 no GPU here (stopped at step 3); 2 usage.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" = "--bundle" ]; then
  shift
  exec "$here/gpu-bundle.sh" "$@"
fi
budget=450
logs_copy=
while [ $# -gt 0 ]; do
  case $1 in
    --budget) budget=${2:?--budget needs seconds}; shift 2 ;;
    --logs) logs_copy=${2:?--logs needs a directory}; shift 2 ;;
    *) echo "usage: gpu-check.sh [--budget SECONDS] [--logs DIR] | --bundle OUT [BUILD_DIR]" >&2; exit 2 ;;
  esac
done
[ -f "$here/payload.tar.xz" ] || { echo "gpu-check: no payload.tar.xz beside this script: run it from a bundle (tools/gpu-check.sh --bundle OUT)" >&2; exit 2; }

SECONDS=0
failed=0
steps=()   # report lines: "name|status|seconds|note"

# ---- the bundle ------------------------------------------------------------------------------

unpack() {
  work=$here/tree
  if ! mkdir -p "$work" 2>/dev/null || ! [ -w "$work" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/mmrt-gpu-check.XXXXXX")
  fi
  if ! [ "$work/MANIFEST" -nt "$here/payload.tar.xz" ]; then
    [ "$work" = "$here/tree" ] && rm -rf "${work:?}"/* && mkdir -p "$work"
    # xz, else Python's lzma: one of them is on nearly every machine
    { xz -dc "$here/payload.tar.xz" 2>/dev/null ||
      python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$here/payload.tar.xz"; } |
      tar -xf - -C "$work" || { echo "gpu-check: cannot unpack the payload into $work (needs xz or python3)" >&2; exit 1; }
    touch "$work/MANIFEST"
  fi
  logs=$work/logs
  rm -rf "$logs" && mkdir -p "$logs"
  cd "$work" || exit 1
  link_test_root
}

# The test suites were built to read tests/fixtures and bin/mmrt under a fixed absolute path (the
# MANIFEST's "test root"): a symbolic link to this tree.
link_test_root() {
  local root
  root=$(sed -n 's/^test root: \([^ ]*\).*/\1/p' MANIFEST)
  test_root=$root
  [ -n "$root" ] || return 0
  if [ -e "$root" ] && ! [ -L "$root" ]; then
    echo "gpu-check: $root exists and is not a symbolic link: remove it (the test suites read their fixtures there)" >&2
    exit 1
  fi
  ln -sfn "$work" "$root" || { echo "gpu-check: cannot link $root to $work" >&2; exit 1; }
}

# A directory holding the cuBLAS that libmmrt-cuda.so was linked against, if the loader does not
# already find it: the toolkit, Debian's libcublas, or pip's nvidia-cublas wheels.
find_cublas() {
  local so d
  so=$(grep -o -m1 'libcublas\.so\.[0-9]*' MANIFEST)
  cublas_so=$so
  cublas_dir=
  if ldconfig -p 2>/dev/null | grep -q "$so "; then return 0; fi
  for d in ${CUDA_HOME:+"$CUDA_HOME/lib64"} /usr/local/cuda/lib64 /usr/local/cuda-*/lib64 \
    /usr/local/cuda*/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu /opt/conda/lib \
    /usr/local/lib/python3*/dist-packages/nvidia/cublas/lib /usr/lib/python3*/site-packages/nvidia/cublas/lib \
    /usr/local/lib/python3*/site-packages/nvidia/cublas/lib "${HOME:-/root}"/.local/lib/python3*/site-packages/nvidia/cublas/lib; do
    if [ -e "$d/$so" ]; then cublas_dir=$d; return 0; fi
  done
  return 1
}

# Runs a bundle program with the bundle's libraries first (system tools never see them), under a
# timeout of $limit_s seconds (60 unless a step sets it).
bx() {
  timeout -k 5 "${limit_s:-60}" env LD_LIBRARY_PATH="$work/lib${cublas_dir:+:$cublas_dir}" \
    OMP_WAIT_POLICY=passive "$@"
}

# Every library of every program resolves, from lib/ or from the system libraries allowed
# (glibc, the driver's libcuda, cuBLAS); prints what does not.
check_libraries() {
  local f bad=0 allowed='/(libc|libm|libdl|libpthread|librt|libresolv)\.so|/ld-linux|libcuda\.so|libcublas'
  for f in bin/* lib/*; do
    bx ldd "$f" >"$logs/ldd.txt" 2>&1 || true
    # a missing cuBLAS is the GPU step's to report (find_cublas said so already)
    if grep 'not found' "$logs/ldd.txt" | grep -qv libcublas; then
      echo "  $f: $(grep 'not found' "$logs/ldd.txt" | awk '{print $1}' | tr '\n' ' ')not found"
      bad=1
    fi
    awk -v lib="$work/lib/" -v ok="$allowed" '$2 == "=>" && $3 ~ /^\// && index($3, lib) != 1 && $3 !~ ok {print "  '"$f"': " $1 " from " $3 ", outside the bundle"}' "$logs/ldd.txt" | grep . && bad=1
  done
  return $bad
}

# ---- steps -----------------------------------------------------------------------------------

record() { # name status seconds note
  steps+=("$1|$2|$3|$4")
  [ "$2" = FAIL ] && failed=1
  return 0
}

# step NAME TIMEOUT COMMAND...: runs a bundle program under a timeout (cut to what is left of the
# budget), its output to the console and logs/NAME.log; records PASS, FAIL or SKIP.
step() {
  local name=$1 limit=$2 left rc t0=$SECONDS
  shift 2
  left=$((budget - SECONDS))
  if [ "$left" -lt 15 ]; then
    echo "== $name: skipped, the ${budget} s budget is spent"
    record "$name" SKIP 0 "budget spent"
    return 1
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (timeout ${limit} s) =="
  limit_s=$limit bx "$@" >"$logs/$name.log" 2>&1
  rc=$?
  show "$name"
  if [ "$rc" = 0 ]; then
    record "$name" PASS $((SECONDS - t0)) ""
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    record "$name" FAIL $((SECONDS - t0)) "timed out after $limit s"
  else
    record "$name" FAIL $((SECONDS - t0)) "exit status $rc"
  fi
  return "$rc"
}

# What the console gets of a step's log: a test suite's failures and synthesis, everything else whole.
show() {
  case $1 in
    *test_*) grep -E '\[(FAIL|----|====)\]|CRASH|Assertion|error' "$logs/$1.log" | head -40 ;;
    *) cat "$logs/$1.log" ;;
  esac
}

# Greedy text of MODEL on DEVICE: caption of IMAGE, or generation when IMAGE is empty.
greedy() { # device model image [extra args...]
  local dev=$1 model=$2 img=$3
  shift 3
  if [ -n "$img" ]; then
    bx bin/mmrt caption -m "$model" --offline -n 32 --device "$dev" --math f32 "$@" "$img"
  else
    bx bin/mmrt generate -m "$model" --offline --raw -p "hello" -n 8 --device "$dev" --math f32 "$@"
  fi
}

# The model suites without MMRT_TEST_DEVICE run on the CPU: they pass there or the bundle lacks
# something, whatever the GPU does.
cpu_suites() {
  local s
  for s in llama smolvlm chat_session granite granite_speech bf16_parity gguf_model; do
    step "cpu_test_$s" 60 env MMRT_MATH=f32 "bin/test_cuda_$s" --jobs "$jobs"
  done
}

cpu_references() {
  local t0=$SECONDS
  echo "== CPU references =="
  cpu_caption=$(greedy cpu tests/fixtures/smolvlm/split samples/images/chelsea.png 2>"$logs/cpu.err") &&
    cpu_text=$(greedy cpu tests/fixtures/llama/odd-sizes "" 2>>"$logs/cpu.err") || {
    cat "$logs/cpu.err"
    record "CPU references" FAIL $((SECONDS - t0)) "mmrt on the CPU failed (logs/cpu.err)"
    return 1
  }
  echo "caption: $(cat -v <<<"$cpu_caption")"
  record "CPU references" PASS $((SECONDS - t0)) ""
}

# Step 3. Returns 3 where there is no GPU, 1 where there is one that mmrt cannot use.
gpu_probe() {
  local t0=$SECONDS smi=0
  echo "== GPU =="
  if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
    smi=1
    timeout 20 nvidia-smi
    timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit --format=csv
    gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
  fi
  if cuda_text=$(greedy cuda tests/fixtures/llama/odd-sizes "" -v 2>"$logs/probe.err"); then
    grep -i -E 'cuda|device|gpu' "$logs/probe.err" | head -5
    record "GPU" PASS $((SECONDS - t0)) "${gpu_name:-a CUDA device}"
    return 0
  fi
  if [ $smi = 0 ] && ! [ -e /dev/nvidia0 ]; then
    echo "NO GPU: no nvidia-smi listing a GPU, no /dev/nvidia0, and --device cuda says: $(tail -1 "$logs/probe.err")"
    record "GPU" "NO GPU" $((SECONDS - t0)) "stopped here: the remaining steps need a GPU"
    return 3
  fi
  echo "a GPU is present but mmrt cannot use it: $(cat "$logs/probe.err")"
  [ -z "$cublas_dir" ] && ! ldconfig -p 2>/dev/null | grep -q "$cublas_so " &&
    echo "  $cublas_so was not found: install CUDA 13's cuBLAS (toolkit lib64, or the nvidia-cublas wheel) or put its directory in CUDA_HOME/lib64"
  record "GPU" FAIL $((SECONDS - t0)) "mmrt --device cuda failed (logs/probe.err)"
  return 1
}

# Step 4. MMRT_MATH=f32 as in tests/CMakeLists.txt: the references are transformers in float32.
# The emulator-only cases (MMRT_EMU_DEVICE_MEMORY_MB shrinks the emulated device to 1 MiB
# to provoke out-of-memory errors) cannot hold on a real GPU: filtered out, and said.
emu_only='llama/device_out_of_memory_names_the_weight|llama/failed_upload_rolls_back_to_the_host|smolvlm/device_out_of_memory_names_the_cache'
test_suites() {
  local s
  echo "(not run on a real GPU, emulator-only: ${emu_only//|/, })"
  for s in test_cuda_ops test_cuda_attention test_cuda_quant test_cuda_convert; do step "$s" 120 "bin/$s" --jobs "$jobs"; done
  for s in llama smolvlm chat_session granite granite_speech bf16_parity gguf_model; do
    step "test_cuda_$s" 90 env MMRT_TEST_DEVICE=cuda MMRT_MATH=f32 "bin/test_cuda_$s" --jobs "$jobs" --filter="!($emu_only)"
  done
}

# Step 5, and the H200's bound where nvidia-smi names one (bench/GPU.md: 990 TFLOP/s, 4.8 TB/s).
gpu_bench() {
  bound=(--tflops 790 --tbps 3.0)
  predictions=bench/predictions-h100.md
  case ${gpu_name:-} in
    *H200*) bound=(--tflops 990 --tbps 4.8); predictions=bench/predictions-h200.md ;;
  esac
  step gpu_bench_smoke 60 bin/mmrt-gpu-bench --smoke && step gpu_bench 150 bin/mmrt-gpu-bench "${bound[@]}"
}

# Step 6. The checkpoint (~510 MB, random bf16 weights) is written in the background while the
# tests run (start_model); without python3 these steps are skipped, and said.
start_model() {
  model=${TMPDIR:-/tmp}/mmrt-gpu-check-smolvlm-256m
  if ! command -v python3 >/dev/null; then
    model=
    return
  fi
  python3 bench/make_smolvlm_256m.py "$model" >"$logs/make_model.log" 2>&1 &
  model_pid=$!
}

model_bench() {
  if [ -z "$model" ] || ! wait "$model_pid"; then
    echo "== mmrt-bench: skipped (no python3 or bench/make_smolvlm_256m.py failed: logs/make_model.log)"
    record mmrt_bench SKIP 0 "no SmolVLM-256M checkpoint"
    return
  fi
  local tbps=${bound[3]} m
  for m in f32 bf16; do
    step "mmrt_bench_$m" 90 bin/mmrt-bench --model "$model" --device cuda --math "$m" --tbps "$tbps" \
      --prompt-tokens 894 --gen-tokens 64
  done
  step mmrt_bench_caption 90 bin/mmrt-bench --caption samples/images/coffee.png --model "$model" \
    --device cuda --math bf16 --gen-tokens 64
}

# Step 7. The CUDA backend's greedy caption and text must be the CPU's (f32 math); bf16 is shown.
caption_e2e() {
  local t0=$SECONDS cap bf
  if [ $((budget - SECONDS)) -lt 15 ]; then
    record caption SKIP 0 "budget spent"
    return
  fi
  echo "== caption on the GPU =="
  cap=$(greedy cuda tests/fixtures/smolvlm/split samples/images/chelsea.png 2>"$logs/caption.err")
  bf=$(greedy cuda tests/fixtures/smolvlm/split samples/images/chelsea.png --math bf16 2>>"$logs/caption.err")
  echo "cpu:       $(cat -v <<<"$cpu_caption")"
  echo "cuda f32:  $(cat -v <<<"$cap")"
  echo "cuda bf16: $(cat -v <<<"$bf")"
  echo "text cpu '$cpu_text', cuda '$cuda_text'"
  if [ "$cap" = "$cpu_caption" ] && [ "$cuda_text" = "$cpu_text" ]; then
    record caption PASS $((SECONDS - t0)) "cuda f32 = cpu (caption and text)"
  else
    record caption FAIL $((SECONDS - t0)) "greedy text on cuda differs from the cpu's (logs/caption.err)"
  fi
}

# ---- report ----------------------------------------------------------------------------------

# Measured attention (mmrt-gpu-bench's bf16/f16 mma lines) beside bench/GPU.md's predicted time
# for the same head dim, mask and length (the last column of gpu_estimates.py's attention table).
report_attention() {
  [ -f "$logs/gpu_bench.log" ] || return 0
  echo "attention_mma_kernel: measured (mmrt-gpu-bench) vs predicted ($predictions, section 2)"
  awk '
    FNR == NR && /^\| (64|128) \| (causal|bidir) \| [0-9]+ \|/ {
      n = split($0, c, "|"); gsub(/ /, "", c[2]); gsub(/ /, "", c[3]); gsub(/ /, "", c[4]); gsub(/ /, "", c[n - 1])
      pred[c[2] " " c[3] " " c[4]] = c[n - 1]; next
    }
    FNR != NR && $2 == "mma" && $3 == "hd" {
      for (i = 1; i < NF; i++) { if ($(i + 1) == "ms") ms = $i; if ($(i + 1) == "TFLOP/s") tf = $i }
      k = $4 " " $5 " " $7
      printf "  %-4s hd %3s %-6s n %5s: %9.1f us, %7.1f TFLOP/s; predicted %s us\n", $1, $4, $5, $7, ms * 1000, tf, (k in pred) ? pred[k] : "?"
    }' "$predictions" "$logs/gpu_bench.log"
  grep -E '^\| (64|128) \|.*(issue|tensor|MUFU)' "$predictions" |
    awk -F'|' '{gsub(/[ *]/, "", $2); gsub(/[ *]/, "", $9); printf "  predicted fraction of the bf16 peak at hd %s: %s\n", $2, $9}'
}

report_model() {
  local f
  echo "SmolVLM-256M (random weights): measured vs predicted ($predictions, section 1)"
  for f in mmrt_bench_f32 mmrt_bench_bf16; do
    [ -f "$logs/$f.log" ] && grep -E '^  (decode|prefill|decode bound|fraction of bound) ' "$logs/$f.log" | sed "s/^/  ${f#mmrt_bench_}: /"
  done
  [ -f "$logs/mmrt_bench_caption.log" ] && grep -E '^  (ViT|prefill|decode  |total)' "$logs/mmrt_bench_caption.log" | sed 's/^/  caption bf16: /'
  grep -E '^\| \*\*(total|decode|ViT|prefill)' "$predictions" | awk -F'|' '{gsub(/\*/, "", $2); printf "  predicted bound %-38s %s ms\n", $2, $6}'
}

report() {
  local s
  echo
  echo "== report: $(date -u +%FT%TZ), ${gpu_name:-no GPU}, $SECONDS s in all (budget $budget s) =="
  printf '%-22s %-7s %6s  %s\n' step status seconds note
  for s in "${steps[@]}"; do
    IFS='|' read -r n st t note <<<"$s"
    printf '%-22s %-7s %6s  %s\n' "$n" "$st" "$t" "$note"
  done
  if [ -n "${predictions:-}" ]; then
    report_attention
    report_model
  fi
  echo "logs: $logs"
}

cleanup() {
  [ -n "${model_pid:-}" ] && kill "$model_pid" 2>/dev/null
  [ -n "${model:-}" ] && rm -rf "$model"
  [ -n "${test_root:-}" ] && [ "$(readlink "$test_root")" = "$work" ] && rm -f "$test_root"
  [ -n "$logs_copy" ] && mkdir -p "$logs_copy" && cp -r "$logs"/. "$logs_copy"/
  return 0
}

# ---- main ------------------------------------------------------------------------------------

unpack
trap cleanup EXIT
head -4 MANIFEST
echo "== libraries =="
find_cublas || echo "  ${cublas_so:-libcublas}: not found on this machine (needed from the GPU step on)"
if check_libraries; then
  record libraries PASS "$SECONDS" "every program resolves from lib/${cublas_dir:+ and $cublas_dir}"
else
  record libraries FAIL "$SECONDS" "unresolved libraries (above)"
  report | tee "$logs/report.txt"
  exit 1
fi
jobs=$(nproc)
[ "$jobs" -gt 8 ] && jobs=8
cpu_suites
cpu_references || { report | tee "$logs/report.txt"; exit 1; }
gpu_probe
rc=$?
if [ $rc != 0 ]; then
  report | tee "$logs/report.txt"
  [ $failed = 1 ] && exit 1   # a failure before the GPU step outranks "no GPU"
  exit $rc
fi
start_model
test_suites
gpu_bench
model_bench
caption_e2e
report | tee "$logs/report.txt"
exit $failed
