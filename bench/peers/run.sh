#!/usr/bin/env bash
# Side-by-side CPU benchmark of mmrt against llama.cpp and PyTorch on the same checkpoints; prints one table.
# Not run by CI (it builds llama.cpp, downloads its sdist once, and takes minutes). See bench/peers/README.md.
#
#   bench/peers/run.sh [LLM_DIR [VLM_DIR]]
#
# LLM_DIR  a Hugging Face Llama checkpoint (default /tmp/mmrt-bench/smollm2-135m, written by
#          bench/make_smollm2_135m.py when missing)
# VLM_DIR  a SmolVLM checkpoint for the SigLIP tile (default /tmp/mmrt-bench/smolvlm-256m, written by
#          bench/make_smolvlm_256m.py when missing); "none" skips the vision rows
#
# Environment: MMRT_PEERS_THREADS (2), MMRT_BENCH (the mmrt-bench binary; default the first of
# build/bench/bench/mmrt-bench, build/main/bench/mmrt-bench that exists, else the mmrt cells print "—"),
# MMRT_PEERS_PYTHON (/work/venv/bin/python), MMRT_PEERS_CACHE (~/.cache/mmrt-peers: llama.cpp, the GGUFs,
# results/<time>/ with every raw JSON), MMRT_PEERS_REPS (3).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PY=${MMRT_PEERS_PYTHON:-/work/venv/bin/python}
THREADS=${MMRT_PEERS_THREADS:-2}
REPS=${MMRT_PEERS_REPS:-3}
CACHE=${MMRT_PEERS_CACHE:-$HOME/.cache/mmrt-peers}
LLM=${1:-/tmp/mmrt-bench/smollm2-135m}
VLM=${2:-/tmp/mmrt-bench/smolvlm-256m}
OUT=$CACHE/results/$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

log() { echo "peers: $*" >&2; }

find_mmrt_bench() {
    local c
    for c in "${MMRT_BENCH:-}" "$REPO/build/bench/bench/mmrt-bench" "$REPO/build/main/bench/mmrt-bench"; do
        [[ -n $c && -x $c ]] && { echo "$c"; return; }
    done
}

write_env() {  # env.json: what ran where
    local cpu isa=""
    cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | xargs)
    local flags f
    flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2-) "
    for f in avx2 avx512f avx512_bf16 avx512_vnni avx_vnni amx_tile amx_bf16 amx_int8; do
        if [[ $flags == *" $f "* ]]; then isa+="$f yes, "; else isa+="$f no, "; fi
    done
    isa=${isa%, }
    "$PY" -c 'import json, sys; k = ["cpu", "isa", "threads", "llama_cpp_config", "llm", "vlm", "load_before",
"load_after"]; json.dump(dict(zip(k, sys.argv[2:])), open(sys.argv[1], "w"), indent=1)' "$OUT/env.json" \
        "$cpu" "$isa" "$THREADS" "$LLAMA_CPP_CONFIG" "$LLM" "$VLM" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

run_llama_cpp() {
    local models=$1 flags=() args=()
    [[ $LLAMA_CPP_CONFIG == *"--repack 0"* ]] && flags=(--repack 0)
    for t in BF16 Q8_0 Q4_0 Q4_K_M; do args+=(-m "$models/model-$t.gguf"); done
    log "llama-bench (${flags[*]:-repack on}): tg128, pp128, pp34 on $THREADS threads"
    "$LLAMA_CPP_BIN/llama-bench" "${args[@]}" -t "$THREADS" -p 128,34 -n 128 -r "$REPS" "${flags[@]}" -o json \
        >"$OUT/llama_bench.json" 2>"$OUT/llama_bench.log"
}

# mmrt on each format: the checkpoint itself in f32 and bf16 arithmetic, llama.cpp's own GGUFs in int8
# (llama.cpp's arithmetic); a format mmrt cannot load leaves its cells "—" (the log says why).
run_mmrt() {
    local bench models=$1 fmt model math
    bench=$(find_mmrt_bench)
    [[ -n $bench ]] || { log "no mmrt-bench built: mmrt cells print —"; return; }
    log "mmrt-bench ($bench)"
    for fmt in f32 bf16 Q8_0 Q4_0 Q4_K_M; do
        case $fmt in
        f32 | bf16) model=$LLM math=$fmt ;;
        *) model=$models/model-$fmt.gguf math=int8 ;;
        esac
        "$bench" --model "$model" --math "$math" --threads "$THREADS" --prompt-tokens 128 --gen-tokens 4 --reps "$REPS" \
            --json >"$OUT/mmrt_${fmt}_pp128.json" 2>>"$OUT/mmrt.log" || { rm -f "$OUT/mmrt_${fmt}_pp128.json"; continue; }
        "$bench" --model "$model" --math "$math" --threads "$THREADS" --prompt-tokens 34 --gen-tokens 4 --reps "$REPS" \
            --json >"$OUT/mmrt_${fmt}_pp34.json" 2>>"$OUT/mmrt.log"
        # tg128 as llama-bench runs it: 128 tokens from an (almost) empty context
        "$bench" --model "$model" --math "$math" --threads "$THREADS" --prompt-tokens 1 --gen-tokens 128 --reps "$REPS" \
            --json >"$OUT/mmrt_${fmt}_tg128.json" 2>>"$OUT/mmrt.log"
    done
    if [[ $VLM != none ]]; then
        for math in f32 bf16; do
            "$bench" --vision --model "$VLM" --threads "$THREADS" --reps 2 --math "$math" --json \
                >"$OUT/mmrt_vision_$math.json" 2>>"$OUT/mmrt.log"
        done
    fi
}

main() {
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    eval "$(bash "$HERE/build_llama_cpp.sh")"
    [[ -f $LLM/config.json ]] || python3 "$REPO/bench/make_smollm2_135m.py" "$LLM" >&2
    [[ $VLM == none || -f $VLM/config.json ]] || python3 "$REPO/bench/make_smolvlm_256m.py" "$VLM" >&2
    local models
    models=$CACHE/models/$(basename "$LLM")
    "$PY" "$HERE/gguf_models.py" "$LLM" "$models" BF16 Q8_0 Q4_0 Q4_K_M
    cp "$models/types.json" "$OUT/types.json"
    run_llama_cpp "$models"
    log "PyTorch (bf16, f32)"
    "$PY" "$HERE/pytorch_bench.py" --llm "$LLM" --vlm "$([[ $VLM == none ]] || echo "$VLM")" \
        --threads "$THREADS" >"$OUT/pytorch.json" 2>"$OUT/pytorch.log"
    run_mmrt "$models"
    write_env
    log "results in $OUT"
    "$PY" "$HERE/report.py" "$OUT"
}

main "$@"
