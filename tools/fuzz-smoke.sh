#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz/ with clang (ASan + UBSan) into build/fuzz/, replays
# the saved crashers in tests/fuzz/regressions/<target>/, then fuzzes each target for a short
# while from its seed corpus tests/fuzz/corpus/<target>/ (read only: new inputs go to
# build/fuzz/work/<target>/, emptied on each run). Exits non-zero on any crash, leak, sanitizer
# report, broken contract (FUZZ_CHECK), timeout or out-of-memory; the input is then saved under
# build/fuzz/artifacts/<target>/ — minimise it with `build/fuzz/fuzz_<target> -minimize_crash=1
# -runs=10000 <file>` and keep it in tests/fuzz/regressions/<target>/.
#
#   tools/fuzz-smoke.sh                                 every target, FUZZ_SECONDS each
#   tools/fuzz-smoke.sh tokenizer                       one target
#   FUZZ_SECONDS=600 tools/fuzz-smoke.sh safetensors    a longer session
#
# Environment: CC (a clang; default clang), FUZZ_SECONDS (default 20), FUZZ_SEED (default 1, so
# that a smoke run explores the same way each time; 0 picks a random seed), FUZZ_JOBS (parallel
# compiles; default nproc). Seeds and dictionaries are written by tests/fuzz/make_corpus.py.
set -euo pipefail
cd "$(dirname "$0")/.."

cc=${CC:-clang}
if ! "$cc" --version 2>/dev/null | head -n1 | grep -q clang; then
  echo "fuzz-smoke: needs clang with libFuzzer; CC=$cc is not clang (tools/install-deps.sh)" >&2
  exit 1
fi
seconds=${FUZZ_SECONDS:-20}
seed=${FUZZ_SEED:-1}
jobs=${FUZZ_JOBS:-$(nproc)}
all_targets=(safetensors llm_config tokenizer png jpeg webp jinja audio gguf)
targets=("${@:-${all_targets[@]}}")
for t in "${targets[@]}"; do
  [ -f "tests/fuzz/fuzz_$t.c" ] || { echo "fuzz-smoke: no target '$t'" >&2; exit 1; }
done

out=build/fuzz
mkdir -p "$out/obj" "$out/logs"

# Only the library sources the targets reach: the rest of libmmrt (backends, BLAS, OpenMP, curl)
# stays out of the fuzz build.
lib_sources=(core/error.c core/log.c core/fsutil.c core/json.c core/tensor.c core/safetensors.c core/gguf.c core/gguf_write.c core/quant_types.c
  fusion/llm_config.c text/added_tokens.c text/bpe.c text/detok.c text/hashmap.c
  text/pretokenize.c text/regex.c text/tokenizer.c text/utf8.c
  text/jinja_ctx_json.c text/jinja_dict.c text/jinja_eval.c text/jinja_filters.c text/jinja_json.c text/jinja_lex.c text/jinja_methods.c text/jinja_ops.c text/jinja_parse.c text/jinja_parse_expr.c text/jinja_pool.c text/jinja_printf.c text/jinja_value.c
  vision/exif.c vision/image.c vision/image_jpeg.c vision/image_png.c vision/image_webp.c
  vision/resize.c
  vision/smolvlm_preprocess.c
  audio/audio_decode.c audio/audio_reader.c)
cflags=(-std=c11 -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE -I. -Iinclude
  $(pkg-config --cflags libcjson libpcre2-8 libpng libjpeg libwebp libwebpdemux sndfile soxr)
  -fsanitize=address,undefined -fno-sanitize-recover=all
  -Wall -Wextra -Wshadow -Wno-unused-parameter -Werror)
libs=($(pkg-config --libs libcjson libpcre2-8 libpng libjpeg libwebp libwebpdemux sndfile soxr) -lm)
obj_of() { local s=${1%.c}; echo "$out/obj/${s//\//_}.o"; }

# An object is rebuilt when it is older than its source, any header or this script.
newest_dep=$(find core text fusion vision audio include tests/fuzz tools/fuzz-smoke.sh \
  \( -name '*.h' -o -name '*.sh' \) -printf '%T@ %p\n' | sort -n | tail -n1 | cut -d' ' -f2-)
todo=()
queue() { # source extra-flag
  local obj
  obj=$(obj_of "$1")
  if [ ! -e "$obj" ] || [ "$1" -nt "$obj" ] || [ "$newest_dep" -nt "$obj" ]; then
    todo+=("$1 $obj $2")
  fi
}
for s in "${lib_sources[@]}"; do queue "$s" -fsanitize=fuzzer-no-link; done
for t in "${targets[@]}"; do queue "tests/fuzz/fuzz_$t.c" -fsanitize=fuzzer; done
export FUZZ_CC=$cc FUZZ_CFLAGS="${cflags[*]}"
((${#todo[@]} == 0)) || printf '%s\n' "${todo[@]}" | xargs -P "$jobs" -L1 sh -c \
  '$FUZZ_CC $FUZZ_CFLAGS $2 -c "$0" -o "$1" || { rm -f "$1"; exit 1; }'
lib_objs=()
for s in "${lib_sources[@]}"; do lib_objs+=("$(obj_of "$s")"); done
for t in "${targets[@]}"; do
  "$cc" -fsanitize=fuzzer,address,undefined "$(obj_of "tests/fuzz/fuzz_$t.c")" "${lib_objs[@]}" \
    "${libs[@]}" -o "$out/fuzz_$t"
done

# Scratch files of the targets (a crashing run leaves its own behind), removed at the end.
shm=/dev/shm; [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
export FUZZ_TMPDIR
FUZZ_TMPDIR=$(mktemp -d "$shm/mmrt-fuzz-smoke.XXXXXX")
trap 'rm -rf "$FUZZ_TMPDIR"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
# Leaks inside third-party libraries that mmrt cannot free, each explained there.
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in "${targets[@]}"; do
  bin=$out/fuzz_$t log=$out/logs/$t.log
  rm -rf "$out/work/$t"
  mkdir -p "$out/work/$t" "$out/artifacts/$t"
  opts=(-rss_limit_mb=2048 -timeout=10 -artifact_prefix="$out/artifacts/$t/")
  [ -f "tests/fuzz/$t.dict" ] && opts+=(-dict="tests/fuzz/$t.dict")
  regressions=()
  [ -d "tests/fuzz/regressions/$t" ] &&
    mapfile -t regressions < <(find "tests/fuzz/regressions/$t" -type f ! -name '*.md' | sort)
  start=$SECONDS
  status=ok
  : >"$log"
  if ((${#regressions[@]})) && ! "$bin" "${opts[@]}" "${regressions[@]}" >>"$log" 2>&1; then
    status="FAILED on a saved regression input"
  elif ! "$bin" "${opts[@]}" -seed="$seed" -max_total_time="$seconds" -print_final_stats=1 \
      "$out/work/$t" "tests/fuzz/corpus/$t" >>"$log" 2>&1; then
    status=FAILED
  fi
  runs=$(grep -o 'number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  echo "fuzz $t: $status ($((SECONDS - start)) s, $runs runs, log $log)"
  if [ "$status" != ok ]; then
    failed+=("$t")
    pattern='^(Running: |FUZZ_CHECK|==[0-9]+==ERROR|SUMMARY|.*runtime error:|artifact_prefix)'
    grep -E -A24 "$pattern" "$log" | head -n 60 >&2 || tail -n 40 "$log" >&2
  fi
done
if ((${#failed[@]})); then
  echo "fuzz-smoke: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz-smoke: all targets passed"
