#!/usr/bin/env bash
# ptxas-summary.sh — the CUDA module's per-kernel ptxas report as a table.
#
#   tools/ptxas-summary.sh [BUILD_DIR]        (default build/nvcc)
#
# Reads the ptxas -v output that the module's build keeps beside each object (OBJ.ptxas.txt, see
# cmake/MmrtNvccReport.cmake; gathered in BUILD_DIR/mmrt-cuda-ptxas.txt after a successful link),
# so it also works on a build that failed on a spill. One row per kernel and architecture:
# registers per thread, static shared memory (dynamic shared memory is set at launch and is not
# in it), stack frame, spill stores/loads, barriers. Rows with spills are marked "SPILL".
set -euo pipefail
dir=${1:-build/nvcc}
mapfile -t logs < <(find "$dir" -name '*.ptxas.txt' -path '*mmrt_cuda.dir*' | sort)
if [ ${#logs[@]} -eq 0 ]; then
  echo "ptxas-summary: no *.ptxas.txt under $dir (build the mmrt_cuda target first)" >&2
  exit 2
fi
cat "${logs[@]}" | awk '
  /Compiling entry function/ {
    name = $0; sub(/.*entry function \047/, "", name); sub(/\047.*/, "", name)
    arch = $0; sub(/.*for \047/, "", arch); sub(/\047.*/, "", arch)
    key = name "\t" arch; order[++n] = key; regs[key] = "?"; smem[key] = 0; bar[key] = 0
    next
  }
  /bytes stack frame/ && n {
    key = order[n]; stack[key] = $1; st[key] = $5; ld[key] = $9; next
  }
  /Used [0-9]+ registers/ && n {
    key = order[n]
    if (match($0, /Used [0-9]+ registers/)) { s = substr($0, RSTART + 5); regs[key] = s + 0 }
    if (match($0, /used [0-9]+ barriers/)) { s = substr($0, RSTART + 5); bar[key] = s + 0 }
    if (match($0, /[0-9]+ bytes smem/)) smem[key] = substr($0, RSTART) + 0
  }
  END {
    for (i = 1; i <= n; i++) {
      key = order[i]; split(key, p, "\t")
      printf "%s\t%s\t%s\t%s\t%s\t%s/%s\t%s%s\n", p[1], p[2], regs[key], smem[key], stack[key] + 0,
             st[key] + 0, ld[key] + 0, bar[key], (st[key] + ld[key] > 0 ? "\tSPILL" : "")
    }
  }' | {
  # demangle the first column, then align
  printf 'kernel\tarch\tregs\tsmem_B\tstack_B\tspill_st/ld_B\tbarriers\n'
  while IFS=$'\t' read -r k rest; do
    printf '%s\t%s\n' "$(printf '%s' "$k" | c++filt)" "$rest"
  done
} | column -t -s $'\t'
