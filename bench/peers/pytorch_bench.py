#!/usr/bin/env python3
"""PyTorch (transformers) figures for bench/peers/run.sh, measured like llama-bench measures them.

    pytorch_bench.py [--llm DIR] [--vlm DIR] [--threads N] [--dtypes bf16,f32] [--reps R]

--llm: a Llama checkpoint (default what bench/make_smollm2_135m.py writes). Prefill pp<P> = one forward over P
random token ids into an empty KV cache, tok/s = P / time; decode tg<G> = G single-token greedy steps with the
KV cache from an empty context (the first step is a 1-token prefill, timed with the rest as llama-bench does).
--vlm: a SmolVLM checkpoint (bench/make_smolvlm_256m.py): one 512x512 tile of random pixels through the SigLIP
vision tower (model.model.vision_model), ms per tile. Each figure is the best of --reps (2) after one warm-up
(8 steps for decode).
Default attention implementation (sdpa). Prints one JSON object.
"""

import argparse
import json
import os
import time

import torch


def best_of(fn, reps, warm=None):
    (warm or fn)()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


@torch.inference_mode()
def llm_figures(model, reps, prompts=(128, 34), n_gen=128):
    from transformers import DynamicCache
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(0)
    out = {}
    for p in prompts:
        ids = torch.randint(0, vocab, (1, p), generator=g)
        s = best_of(lambda: model(ids, past_key_values=DynamicCache(), use_cache=True), reps)
        out[f"pp{p}_tok_s"] = p / s

    def decode(n=n_gen):
        cache, tok = DynamicCache(), torch.zeros((1, 1), dtype=torch.long)
        for _ in range(n):
            logits = model(tok, past_key_values=cache, use_cache=True).logits
            tok = logits[:, -1:].argmax(-1)
    out[f"tg{n_gen}_tok_s"] = n_gen / best_of(decode, reps, warm=lambda: decode(8))
    return out


@torch.inference_mode()
def tile_ms(vision, dtype, reps):
    px = torch.randn((1, 3, 512, 512), generator=torch.Generator().manual_seed(0)).to(dtype)
    return 1e3 * best_of(lambda: vision(pixel_values=px), reps)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llm", default="/tmp/mmrt-bench/smollm2-135m")
    ap.add_argument("--vlm", default="")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtypes", default="bf16,f32")
    ap.add_argument("--reps", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dtypes = {"bf16": torch.bfloat16, "f32": torch.float32}
    res = {"torch": torch.__version__, "threads": a.threads, "llm": {}, "vit_ms_per_tile": {}}
    from transformers import AutoModelForCausalLM
    import transformers
    res["transformers"] = transformers.__version__
    for name in a.dtypes.split(","):
        if a.llm and os.path.isdir(a.llm):
            m = AutoModelForCausalLM.from_pretrained(a.llm, dtype=dtypes[name]).eval()
            res["llm"][name] = llm_figures(m, a.reps)
            del m
        if a.vlm and os.path.isdir(a.vlm):
            from transformers import AutoModelForImageTextToText
            m = AutoModelForImageTextToText.from_pretrained(a.vlm, dtype=dtypes[name]).eval()
            res["vit_ms_per_tile"][name] = tile_ms(m.model.vision_model, dtypes[name], max(1, a.reps - 1))
            del m
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
