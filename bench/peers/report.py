#!/usr/bin/env python3
"""Prints bench/peers/run.sh's results (a directory of JSON files) as one Markdown table with ratios.

    report.py RESULTS_DIR

Expected files (any may be missing: its cells print "—"): llama_bench.json (llama-bench -o json), types.json
(gguf_models.py), pytorch.json (pytorch_bench.py), mmrt_<FORMAT>_<test>.json for FORMAT in f32, bf16 and the
llama.cpp GGUF types (mmrt-bench --json), mmrt_vision_<math>.json, env.json (run.sh: CPU, flags, llama.cpp
configuration, load).
Every figure is the best repetition (llama-bench: max of samples_ts; mmrt-bench: best rep; PyTorch: best rep).
"""

import json
import os
import sys

DASH = "—"
LLAMA_TYPES = ["BF16", "Q8_0", "Q4_0", "Q4_K_M"]
TESTS = [("tg128", "decode tg128"), ("pp128", "prefill pp128"), ("pp34", "prefill pp34")]


def load(d, name):
    try:
        with open(os.path.join(d, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def llama_rows(d):
    """{TYPE: {test: tok/s}} from llama-bench's JSON (model_filename ends in model-<TYPE>.gguf)."""
    rows = {}
    for r in load(d, "llama_bench.json") or []:
        t = os.path.basename(r["model_filename"])[len("model-"):-len(".gguf")]
        test = f"pp{r['n_prompt']}" if r["n_gen"] == 0 else f"tg{r['n_gen']}"
        rows.setdefault(t, {})[test] = max(r.get("samples_ts") or [r["avg_ts"]])
    return rows


MMRT_FORMATS = ["bf16", "f32", "Q8_0", "Q4_0", "Q4_K_M"]


def mmrt_row(d, fmt):
    row = {}
    for test, key in (("pp128", "prefill_tok_s"), ("pp34", "prefill_tok_s"), ("tg128", "decode_tok_s")):
        j = load(d, f"mmrt_{fmt}_{test}.json")
        if j:
            row[test] = j[key]
    return row


def fmt(x, unit=""):
    return DASH if x is None else f"{x:.1f}{unit}"


def ratio(a, b):
    return DASH if a is None or b is None else f"{a / b:.2f}×"


def weights_note(types, t):
    """'Q4_K_M (Q5_0 166, Q4_K 16, ...)': what llama-quantize really used for the matrices."""
    counts = {k: v for k, v in (types or {}).get(t, {}).items() if k != "F32"}
    if len(counts) <= 1:
        return t
    return f"{t} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))})"


def llm_table(d):
    """One row per engine and format; the ratios divide mmrt's figure at the row's format by the row's."""
    types = load(d, "types.json")
    pt = (load(d, "pytorch.json") or {}).get("llm", {})
    mm = {f: mmrt_row(d, f) for f in MMRT_FORMATS}
    same = {"BF16": "bf16", "Q8_0": "Q8_0", "Q4_0": "Q4_0", "Q4_K_M": "Q4_K_M", "bf16": "bf16", "f32": "f32"}
    rows = [("llama.cpp", t, weights_note(types, t), r) for t, r in sorted(llama_rows(d).items(),
                                                                            key=lambda kv: LLAMA_TYPES.index(kv[0])
                                                                            if kv[0] in LLAMA_TYPES else 99)]
    rows += [("PyTorch", dt, dt, {k[:-len("_tok_s")]: v for k, v in pt.get(dt, {}).items()}) for dt in ("bf16", "f32")]
    rows += [("mmrt", f, weights_note(types, f) + ", int8 math" if f.startswith("Q") else f + " math", mm[f])
             for f in MMRT_FORMATS]
    head = "| engine | weights | " + " | ".join(f"{name} tok/s" for _, name in TESTS)
    head += " | mmrt ÷ this at its format, tg128 | ÷ this, pp128 |"
    out = [head, "|" + "---|" * (len(TESTS) + 4)]
    for eng, t, w, r in rows:
        ref = mm.get(same.get(t, ""), {})
        cells = [fmt(r.get(x)) for x, _ in TESTS]
        cells += [ratio(ref.get("tg128"), r.get("tg128")), ratio(ref.get("pp128"), r.get("pp128"))]
        out.append(f"| {eng} | {w} | " + " | ".join(cells) + " |")
    return out


def vit_table(d):
    pt = (load(d, "pytorch.json") or {}).get("vit_ms_per_tile", {})
    mv = {m: load(d, f"mmrt_vision_{m}.json") for m in ("bf16", "f32")}
    ms = {m: (j["vit_ms_per_tile"] if j else None) for m, j in mv.items()}
    out = ["| engine | math | SigLIP 512×512 tile, ms | mmrt at this math ÷ this (speed) |", "|---|---|---|---|"]
    for dt in ("bf16", "f32"):
        out.append(f"| PyTorch | {dt} | {fmt(pt.get(dt))} | {ratio(pt.get(dt), ms[dt])} |")
    for dt in ("bf16", "f32"):
        out.append(f"| mmrt | {dt} (bf16 weights) | {fmt(ms[dt])} | 1.00× |")
    out.append(f"| mmrt bf16 ÷ mmrt f32 | | | {ratio(ms['f32'], ms['bf16'])} |")
    return out


def main(d):
    env = load(d, "env.json") or {}
    pt = load(d, "pytorch.json") or {}
    print(f"CPU: {env.get('cpu', '?')}; ISA: {env.get('isa', '?')}; threads: {env.get('threads', '?')}")
    print(f"llama.cpp: {env.get('llama_cpp_config', '?')}")
    print(f"PyTorch: torch {pt.get('torch', '?')}, transformers {pt.get('transformers', '?')} (sdpa attention)")
    names = [f"mmrt_{f}_{t}.json" for f in MMRT_FORMATS for t in ("pp128", "pp34", "tg128")]
    names += ["mmrt_vision_bf16.json", "mmrt_vision_f32.json"]
    other = [j["other_load_cores"] for j in (load(d, n) for n in names) if j and "other_load_cores" in j]
    print(f"load average before / after: {env.get('load_before', '?')} / {env.get('load_after', '?')}; "
          f"other processes' CPU during mmrt-bench's reps: {max(other) if other else '?'} cores (above 0.2: disturbed)")
    print(f"model: {env.get('llm', '?')}\n")
    print("\n".join(llm_table(d)))
    print(f"\nvision tower: {env.get('vlm', '?')}\n")
    print("\n".join(vit_table(d)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
