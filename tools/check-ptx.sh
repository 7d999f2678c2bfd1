#!/usr/bin/env bash
# check-ptx.sh — proves that the kernels meant for tensor cores compile to tensor-core instructions.
#
#   tools/check-ptx.sh [OUT_DIR [OBJ_DIR]]     (default OUT_DIR: build/ptx-check)
#
# Generates PTX with nvcc for compute_80 and compute_90 from every CUDA source that holds kernels
# (cuda/*.cu, the launchers of the CUDA module, and cuda/emu/tests/nvcc_check.cu, the emulator's
# sample kernels) and checks each kernel whose demangled name matches a line of
# tools/ptx-tensor-core-kernels.txt: its PTX must hold each instruction the line asks for (by
# default mma.sync and ldmatrix). Every line must match at least one kernel on each architecture,
# so a renamed kernel fails the check instead of leaving it. Where cuobjdump exists (the CUDA
# toolkit's, PyPI's nvidia-cuda-cuobjdump, or $CUOBJDUMP), the sources of the matched kernels are
# also disassembled for sm_80 and sm_90 (from the CUDA module's objects in OBJ_DIR, e.g.
# build/nvcc/CMakeFiles/mmrt_cuda.dir/cuda, else compiled here) and the same kernels must contain
# HMMA; otherwise that step says it was skipped.
#
# Exit status: 0 every check passed, 1 a check failed, 2 a tool or usage problem.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/ptx-check}
obj_dir=${2:-}
list=${MMRT_PTX_CHECK_LIST:-$root/tools/ptx-tensor-core-kernels.txt}
nvcc=${NVCC:-$(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")}
archs=(80 90)
jobs=$(nproc)

[ -x "$nvcc" ] || { echo "check-ptx: nvcc not found (set NVCC or CUDA_HOME)" >&2; exit 2; }
[ -r "$list" ] || { echo "check-ptx: no kernel list $list" >&2; exit 2; }
command -v c++filt >/dev/null || { echo "check-ptx: c++filt (binutils) not found" >&2; exit 2; }
mkdir -p "$out"

sources=("$root"/cuda/*.cu "$root"/cuda/emu/tests/nvcc_check.cu)

# nv ptx|cubin SOURCE ARCH: one nvcc run into $OUT/<source>.sm_<arch>.<ptx|cubin>, with the module's
# language level and include paths. Run through xargs, $jobs at a time.
nv() {
  local kind=$1 src=$2 a=$3 arch=-arch=sm_$3
  [ "$kind" = ptx ] && arch=-arch=compute_$a
  "$NVCC_BIN" -std=c++20 -O3 -DNDEBUG -D_GNU_SOURCE -I"$ROOT" -I"$ROOT/include" -I"$ROOT/cuda" \
    "$arch" "-$kind" "$src" -o "$OUT/$(basename "$src" .cu).sm_$a.$kind"
}
export -f nv
export NVCC_BIN=$nvcc ROOT=$root OUT=$out
run_nv() { # kind, sources...
  local kind=$1; shift
  for src in "$@"; do
    for a in "${archs[@]}"; do printf '%s\0%s\0%s\0' "$kind" "$src" "$a"; done
  done | xargs -0 -n 3 -P "$jobs" bash -c 'nv "$@"' nv 2>"$out/nvcc-$kind.log" ||
    { cat "$out/nvcc-$kind.log" >&2; echo "check-ptx: nvcc -$kind failed" >&2; exit 2; }
}

# ---- PTX ----------------------------------------------------------------------------------------
# PTX needs no ptxas: this is nvcc's front end only.
rm -f "$out"/*.ptx "$out"/*.cubin "$out"/*.sass
run_nv ptx "${sources[@]}"

# Per arch, one line per kernel entry: mangled name, source, and the instructions found in its body.
insns_all=$(grep -v '^[[:space:]]*\(#\|$\)' "$list" | awk '{ if (NF == 1) print "mma.sync ldmatrix"; else { $1 = ""; print } }' | tr ' ' '\n' | sort -u | grep . | tr '\n' ' ')
for a in "${archs[@]}"; do
  for ptx in "$out"/*.sm_$a.ptx; do
    awk -v src="$(basename "$ptx" .sm_$a.ptx).cu" -v want="$insns_all" '
      BEGIN { n = split(want, w, " ") }
      function flush() { if (cur != "") { printf "%s\t%s\t-", cur, src; for (i = 1; i <= n; i++) if (has[i]) printf " %s", w[i]; printf "\n" } }
      /^\.(visible |weak )*\.entry / { flush(); cur = $0; sub(/.*\.entry[ \t]+/, "", cur); sub(/\(.*/, "", cur); delete has; next }
      /^}/ { flush(); cur = ""; next }
      cur != "" { for (i = 1; i <= n; i++) if (index($0, w[i] ".") || index($0, w[i] " ") || index($0, w[i] "\t")) has[i] = 1 }
      END { flush() }' "$ptx"
  done >"$out/entries.sm_$a.tsv"
  # demangled names in a 4th column
  cut -f1 "$out/entries.sm_$a.tsv" | c++filt >"$out/names.sm_$a.txt"
  paste "$out/entries.sm_$a.tsv" "$out/names.sm_$a.txt" >"$out/kernels.sm_$a.tsv"
done

fail=0
sass_sources=()
while read -r pattern want; do
  [ -z "$pattern" ] || [ "${pattern:0:1}" = "#" ] && continue
  want=${want:-mma.sync ldmatrix}
  for a in "${archs[@]}"; do
    matched=0
    while IFS=$'\t' read -r mangled src found name; do
      [[ $name =~ $pattern ]] || continue
      matched=1
      sass_sources+=("$src")
      missing=
      for insn in $want; do
        [[ " $found " == *" $insn "* ]] || missing+=" $insn"
      done
      if [ -n "$missing" ]; then
        echo "FAIL sm_$a: $name ($src): no$missing in its PTX"
        fail=1
      else
        echo "ok   sm_$a: $name: $want"
      fi
    done <"$out/kernels.sm_$a.tsv"
    if [ $matched = 0 ]; then
      echo "FAIL sm_$a: no kernel matches '$pattern' (renamed? update $list)"
      fail=1
    fi
  done
done <"$list"

# ---- SASS (where cuobjdump exists) -------------------------------------------------------------
# From the module's own objects when OBJ_DIR holds them (SOURCE.cu.o, SASS of both architectures),
# else from a cubin compiled here.
cuobjdump=${CUOBJDUMP:-$(command -v cuobjdump || true)}
[ -n "$cuobjdump" ] || [ ! -x "$(dirname "$nvcc")/cuobjdump" ] || cuobjdump=$(dirname "$nvcc")/cuobjdump
if [ -z "$cuobjdump" ] && command -v python3 >/dev/null; then  # PyPI's wheels: nvidia/cu*/bin
  for d in $(python3 -c 'import importlib.util as u; s = u.find_spec("nvidia"); print(*(s.submodule_search_locations if s else []))' 2>/dev/null); do
    for f in "$d"/cu*/bin/cuobjdump; do [ -x "$f" ] && cuobjdump=$f; done
  done
fi
if [ -z "$cuobjdump" ]; then
  echo "skipped: SASS check for HMMA: no cuobjdump (pip install nvidia-cuda-cuobjdump" \
    "nvidia-cuda-nvdisasm, or set CUOBJDUMP)"
elif [ -z "${NVDISASM_PATH:-}" ] && ! command -v nvdisasm >/dev/null &&
     [ ! -x "$(dirname "$cuobjdump")/nvdisasm" ]; then  # cuobjdump -sass runs nvdisasm
  echo "skipped: SASS check for HMMA: $cuobjdump needs nvdisasm (pip install nvidia-cuda-nvdisasm)"
elif [ ${#sass_sources[@]} -gt 0 ]; then
  mapfile -t sass_sources < <(printf '%s\n' "${sass_sources[@]}" | sort -u)
  to_compile=()
  for src in "${sass_sources[@]}"; do
    if [ -n "$obj_dir" ] && [ -e "$obj_dir/$src.o" ]; then
      for a in "${archs[@]}"; do
        "$cuobjdump" -sass -arch "sm_$a" "$obj_dir/$src.o" >"$out/${src%.cu}.sm_$a.sass"
      done
    elif [ -e "$root/cuda/$src" ]; then
      to_compile+=("$root/cuda/$src")
    else
      to_compile+=("$root/cuda/emu/tests/$src")
    fi
  done
  if [ ${#to_compile[@]} -gt 0 ]; then
    run_nv cubin "${to_compile[@]}"
    for src in "${to_compile[@]}"; do
      for a in "${archs[@]}"; do
        base=$out/$(basename "$src" .cu).sm_$a
        "$cuobjdump" -sass "$base.cubin" >"$base.sass"
      done
    done
  fi
  while read -r pattern want; do
    [ -z "$pattern" ] || [ "${pattern:0:1}" = "#" ] && continue
    want=${want:-mma.sync ldmatrix}
    [[ " $want " == *" mma.sync "* ]] || continue  # HMMA only stands for mma
    for a in "${archs[@]}"; do
      while IFS=$'\t' read -r mangled src found name; do
        [[ $name =~ $pattern ]] || continue
        if awk -v f="$mangled" '/Function : / { cur = $NF } cur == f && /HMMA/ { hit = 1 }
                                END { exit !hit }' "$out/${src%.cu}.sm_$a.sass"; then
          echo "ok   sm_$a: $name: HMMA in SASS"
        else
          echo "FAIL sm_$a: $name ($src): no HMMA in its SASS"
          fail=1
        fi
      done <"$out/kernels.sm_$a.tsv"
    done
  done <"$list"
fi

if [ $fail != 0 ]; then
  echo "check-ptx: FAILED (PTX and lists in $out)"
  exit 1
fi
echo "check-ptx: every listed kernel has its tensor-core instructions (PTX in $out)"
