#!/usr/bin/env python3
"""FLOPs, bytes and H100 lower bounds for SmolVLM-256M captioning and for attention at 1k-16k, and
the tensor-core attention kernel's occupancy and predicted fraction of peak.

    python3 bench/gpu_estimates.py [--tflops 790] [--tbps 3.0] [--tiles 13] [--prompt 894] [--gen 64]
        [--act-bytes 2] [--ptxas build/h-doc-nvcc/mmrt-cuda-ptxas.txt] [--ptx FILE.ptx] [--arch sm_90]

Standard library only; the numbers come from the model's configuration (SmolVLM-256M-Instruct:
SigLIP-B/16-512 vision tower, scale factor 4, SmolLM2-135M decoder) and count multiply-adds as 2
FLOPs. "Bound" is max(FLOPs / peak, bytes / bandwidth): no implementation can beat it. Weights
are bf16 (2 bytes) on the GPU; activations and the KV cache take --act-bytes (2: bf16, the ideal;
4: f32, what mmrt's CUDA backend keeps today). Output is Markdown (bench/GPU.md quotes it).

The kernel section reads the tile constants from cuda/kernels/attention_traits.cuh, registers from
the module build's ptxas report (--ptxas), and, with --ptx, counts the instructions of the kernel's
key-tile loop in its PTX (bench/GPU.md has the commands that make both files). The H100 limits
used: 64 K registers, 228 KiB shared memory (227 usable per block, 1 KiB reserved per block),
64 warps and 32 blocks per SM; 4 warp-instructions issued per clock per SM; 16 ex2 per clock per
SM (MUFU); dense bf16 tensor peak 4096 FLOP per clock per SM (wgmma), of which mma.sync reaches
--mma-sync-eff (0.65).
"""
import argparse
import contextlib
import io
import os
import re
import sys

VISION = dict(d=768, ff=3072, layers=12, heads=12, hd=64, patch=16, image=512, chans=3)
TEXT = dict(d=576, ff=1536, layers=30, heads=9, kv_heads=3, hd=64, vocab=49280)
SCALE = 4
WB = 2  # bytes per weight (bf16)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# H100 SM limits (CUDA occupancy calculator, compute capability 9.0)
SM_REGS, SM_SMEM, SM_WARPS, SM_BLOCKS = 65536, 228 * 1024, 64, 32
BLOCK_SMEM_RESERVED, REG_ALLOC_UNIT = 1024, 256  # per block; registers per warp, allocated in 256s
ISSUE_PER_CLK, MUFU_PER_CLK, TC_FLOP_PER_CLK = 4, 16, 4096


def linear(rows, n_in, n_out, ab):
    """A GEMM rows x n_in -> n_out: FLOPs and bytes (weights once, input and output once)."""
    return 2 * rows * n_in * n_out, n_in * n_out * WB + rows * (n_in + n_out) * ab


def vit_ops(tiles, ab):
    """Per op, all tiles: (name, FLOPs, bytes)."""
    v = VISION
    n = (v["image"] // v["patch"]) ** 2  # 1024 patches per tile
    rows, d, ff, L = tiles * n, v["d"], v["ff"], v["layers"]
    pk = v["chans"] * v["patch"] ** 2
    ops = [("patch embedding", *linear(rows, pk, d, ab))]
    f, b = linear(rows, d, 4 * d, ab)  # q, k, v, out: four d x d matrices
    ops.append(("q/k/v/out projections", L * f, L * b))
    f1, b1 = linear(rows, d, ff, ab)
    f2, b2 = linear(rows, ff, d, ab)
    ops.append(("MLP fc1 + fc2", L * (f1 + f2), L * (b1 + b2)))
    af, ab_, _ = attention(n, v["heads"], v["heads"], v["hd"], False, ab)
    ops.append(("attention (QKᵀ, PV)", L * tiles * af, L * tiles * ab_))
    # layer norms, GELU, residual adds: elementwise, bandwidth only (about 8 passes over x, 2 over h)
    ops.append(("norms, GELU, adds", 0, L * rows * (8 * d + 2 * ff) * ab))
    return ops


def connector_ops(tiles, ab):
    v, t = VISION, TEXT
    rows = tiles * (v["image"] // v["patch"]) ** 2 // SCALE ** 2  # 64 per tile
    return [("pixel shuffle + linear", *linear(rows, v["d"] * SCALE ** 2, t["d"], ab))]


def decoder_ops(n, ctx0, ab, last_logits_only=True):
    """A forward pass of n tokens after ctx0 cached ones: (name, FLOPs, bytes)."""
    t = TEXT
    d, kv, L = t["d"], t["kv_heads"] * t["hd"], t["layers"]
    fq, bq = linear(n, d, d + 2 * kv + d, ab)  # q, k, v, o
    f1, b1 = linear(n, d, 2 * t["ff"], ab)  # gate, up
    f2, b2 = linear(n, t["ff"], d, ab)  # down
    # causal attention over ctx0 + n keys: query i sees ctx0 + i + 1 keys
    pairs = n * ctx0 + n * (n + 1) // 2
    fa = 4 * pairs * t["heads"] * t["hd"]
    ba = (2 * n * d + 2 * (ctx0 + n) * kv) * ab  # q, o; the cache's K and V once per layer
    fh, bh = linear(1 if last_logits_only else n, d, t["vocab"], ab)
    return [("q/k/v/o projections", L * fq, L * bq), ("MLP gate/up/down", L * (f1 + f2), L * (b1 + b2)),
            ("attention", L * fa, L * ba), ("lm_head", fh, bh),
            ("norms, RoPE, SiLU, adds", 0, L * n * (10 * d + 3 * t["ff"]) * ab)]


def attention(n, heads, kv_heads, hd, causal, ab, br=64, n_kv=None):
    """One layer's attention, flash-style: Q, K, V, O cross HBM once (a head's K/V stays in the
    50 MB L2 while its query tiles stream); K/V are re-read from L2 once per query tile of br rows
    (the third value). n_kv: keys (default n); causal masks key j > query i (same positions)."""
    n_kv = n if n_kv is None else n_kv
    frac = 0.5 if causal and n_kv == n else 1.0
    flops = int(4 * n * n_kv * heads * hd * frac)
    hbm = (2 * n * heads + 2 * n_kv * kv_heads) * hd * ab
    q_tiles = -(-n // br)
    l2 = int(q_tiles * n_kv * 2 * kv_heads * hd * ab * frac)
    return flops, hbm, l2


def bound_us(flops, bytes_, a):
    return max(flops / (a.tflops * 1e12), bytes_ / (a.tbps * 1e12)) * 1e6


def table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")
    print()


def stage_rows(name, ops, a, detail):
    # ops run one after another: the stage's bound is the sum of its ops' bounds
    f, b = sum(o[1] for o in ops), sum(o[2] for o in ops)
    ms = sum(bound_us(o[1], o[2], a) for o in ops) / 1e3
    out = [(f"**{name}**", f"{f / 1e9:.1f}", f"{b / 1e6:.1f}", f"{f / b:.0f}", f"{ms:.3f}")]
    if detail:
        for n_, f_, b_ in ops:
            out.append((f"  {n_}", f"{f_ / 1e9:.1f}", f"{b_ / 1e6:.1f}", f"{f_ / b_:.0f}",
                        f"{bound_us(f_, b_, a) / 1e3:.3f}"))
    return out, ms


def caption_section(a):
    print(f"### SmolVLM-256M caption: {a.tiles} tiles, {a.prompt} prompt tokens, {a.gen} generated\n")
    print(f"H100 bound = max(FLOPs / {a.tflops:g} TFLOP/s, bytes / {a.tbps:g} TB/s); weights bf16, "
          f"activations and KV cache {a.act_bytes} bytes per element.\n")
    rows, total = [], 0.0
    r, ms = stage_rows(f"ViT, {a.tiles} tiles", vit_ops(a.tiles, a.act_bytes), a, True)
    rows += r
    total += ms
    r, ms = stage_rows(f"connector, {a.tiles} tiles", connector_ops(a.tiles, a.act_bytes), a, False)
    rows += r
    total += ms
    r, ms = stage_rows(f"prefill, {a.prompt} tokens", decoder_ops(a.prompt, 0, a.act_bytes), a, True)
    rows += r
    total += ms
    per_tok = [decoder_ops(1, a.prompt + i, a.act_bytes) for i in range(a.gen)]
    dec = [(per_tok[0][k][0], sum(p[k][1] for p in per_tok), sum(p[k][2] for p in per_tok))
           for k in range(len(per_tok[0]))]
    r, ms = stage_rows(f"decode, {a.gen} tokens (one at a time)", dec, a, True)
    rows += r
    total += ms
    rows.append(("**total**", "", "", "", f"{total:.3f}"))
    table(["stage", "GFLOP", "MB moved", "FLOP/B", "bound ms"], rows)
    one = sum(o[2] for o in per_tok[0])
    print(f"Decode: {one / 1e6:.0f} MB per token at context {a.prompt} → at most "
          f"{a.tbps * 1e12 / one:,.0f} tokens/s on one sequence (bandwidth-bound); prefill: at most "
          f"{a.prompt / (stage_rows('', decoder_ops(a.prompt, 0, a.act_bytes), a, False)[1] / 1e3):,.0f} tokens/s.\n")


# ---- the tensor-core attention kernel ------------------------------------------------------------

def traits():
    """constexpr int NAME = value; from attention_traits.cuh."""
    path = os.path.join(ROOT, "cuda", "kernels", "attention_traits.cuh")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    vals = {m.group(1): m.group(2) for m in re.finditer(r"constexpr\s+int\s+(\w+)\s*=\s*([^;]+);", text)}
    out = {}
    for k, v in vals.items():  # values may name earlier constants (ATTN_KV_CHUNK = 8 * ATTN_BK)
        expr = re.sub(r"\b[A-Z_][A-Z0-9_]*\b", lambda m: str(out.get(m.group(0), m.group(0))), v)
        try:
            out[k] = int(eval(expr, {"__builtins__": {}}))  # integer arithmetic of known constants
        except Exception:
            pass
    return out


def ptxas_kernels(path, arch):
    """{demangled-ish name: (registers, static smem bytes, spill bytes)} for one arch."""
    res, cur = {}, None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.search(r"Compiling entry function '(\w+)' for '(\w+)'", line)
            if m:
                cur = m.group(1) if m.group(2) == arch else None
                continue
            if cur is None:
                continue
            m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
            if m:
                res.setdefault(cur, [0, 0, 0])[2] = int(m.group(1)) + int(m.group(2))
            m = re.search(r"Used (\d+) registers", line)
            if m:
                e = res.setdefault(cur, [0, 0, 0])
                e[0] = int(m.group(1))
                s = re.search(r"(\d+) bytes smem", line)
                e[1] = int(s.group(1)) if s else 0
    return res


def mma_kernel_name(mangled):
    m = re.match(r"_Z\d+attention_mma_kernelI(?:13__nv_bfloat16|6__half)Li(\d+)EEv", mangled)
    if m:
        return ("bf16" if "bfloat16" in mangled else "f16"), int(m.group(1))
    return None


def occupancy(regs, smem, threads):
    warps = threads // 32
    per_warp = -(-regs * 32 // REG_ALLOC_UNIT) * REG_ALLOC_UNIT
    by_regs = (SM_REGS // per_warp) // warps
    by_smem = SM_SMEM // (smem + BLOCK_SMEM_RESERVED)
    by_warps = SM_WARPS // warps
    blocks = min(by_regs, by_smem, by_warps, SM_BLOCKS)
    limit = {by_regs: "registers", by_smem: "shared memory", by_warps: "warps"}[blocks] if blocks < SM_BLOCKS else "blocks"
    return blocks, by_regs, by_smem, limit


def ptx_loop_counts(path, hd_max):
    """Instructions per warp per key tile of attention_mma_kernel<bf16, hd_max>, from its PTX: the
    largest loop (over key tiles); inner loops that load from global memory run once per
    (elements per thread / loads per iteration); the inner loop with mma.sync runs once per group
    of k steps; everything else in the loop body counts once (an overcount: remainder code for
    head dims that are not a multiple of the unrolling is included)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"\.entry _Z20attention_mma_kernelI13__nv_bfloat16Li%dE" % hd_max, text)
    if not m:
        return None
    body = text[m.start():text.find("\n}", m.start())].split("\n")
    labels = {mm.group(1): i for i, l in enumerate(body) for mm in [re.match(r"^\$(\w+):", l)] if mm}
    loops = [(labels[mm.group(1)], i) for i, l in enumerate(body)
             for mm in [re.search(r"bra(?:\.uni)?\s+\$(\w+);", l)] if mm and labels.get(mm.group(1), i) < i]
    if not loops:
        return None
    is_ins = lambda l: re.match(r"^\t[a-z@{]", l) is not None
    count = lambda a, b: sum(1 for l in body[a:b + 1] if is_ins(l))
    outer = max(loops, key=lambda x: x[1] - x[0])
    inner = [x for x in loops if x != outer and outer[0] <= x[0] and x[1] <= outer[1]]
    return dict(total=count(*outer), inner=[(count(a, b), sum("ld.global" in l for l in body[a:b + 1]),
                                             sum("mma.sync" in l for l in body[a:b + 1])) for a, b in inner],
                mma=sum("mma.sync" in l for l in body[outer[0]:outer[1] + 1]),
                ex2=sum("ex2" in l for l in body[outer[0]:outer[1] + 1]))


# Instructions per warp per key tile when no --ptx is given: counted (ptx_loop_counts) in the PTX
# of nvcc 13.0 -O3 -arch=sm_90 for the kernel without cp.async (1 stage), PTX taken as a proxy for
# SASS (int divisions expand, fused ops contract).
DEFAULT_WARP_INSTR = {64: 2443, 128: 3591}


def warp_instr_per_tile(counts, hd, bk, threads):
    if counts is None:
        return DEFAULT_WARP_INSTR.get(hd), "built-in count (no --ptx)"
    hd16 = -(-hd // 16) * 16
    total = counts["total"]
    for n, n_ld, n_mma in counts["inner"]:
        if n_ld:
            trips = (bk * hd16 / threads) / n_ld  # one element per load
        elif n_mma:
            trips = (hd16 / 16) / max(1, n_mma // (bk // 8))  # k steps per iteration
        else:
            trips = 1
        total += n * (trips - 1)
    return int(total), "counted in --ptx"


def kernel_section(a):
    t = traits()
    bq, bk, th = t.get("ATTN_MMA_BQ"), t.get("ATTN_MMA_BK"), t.get("ATTN_MMA_THREADS")
    print("### The tensor-core attention kernel (attention_mma_kernel)\n")
    print(f"Tiles from cuda/kernels/attention_traits.cuh: {bq} query rows per block ({th // 32} warps × "
          f"16 rows), {bk} keys per tile; K/V double-buffered: cp.async fills an f32 stage with the next "
          f"tile while the mma work runs on the 16-bit copy of the current one.")
    if not a.ptxas or not os.path.exists(a.ptxas):
        print(f"\n(no ptxas report at {a.ptxas}: build the module first, see bench/GPU.md)\n")
        return
    kern = ptxas_kernels(a.ptxas, a.arch)
    print(f"Registers from {os.path.relpath(a.ptxas, ROOT) if a.ptxas.startswith(ROOT) else a.ptxas} "
          f"({a.arch}); dynamic shared memory = 2 · (BQ + 2 · BK) · (hd16 + 8) bytes of 16-bit Q/K/V "
          f"tiles + 4 · 2 · BK · hd4 bytes of the f32 stage cp.async fills, as attention_mma_smem_bytes().\n")
    counts = {hd: ptx_loop_counts(a.ptx, hd) if a.ptx else None for hd in (64, 128)}
    rows, pred = [], {}
    for mangled, (regs, ssmem, spill) in sorted(kern.items(), key=lambda kv: (mma_kernel_name(kv[0]) or ("", 0))):
        nm = mma_kernel_name(mangled)
        if not nm or nm[1] not in (64, 128, 256):
            continue
        typ, hd = nm
        hd16 = -(-hd // 16) * 16
        hd4 = -(-hd // 4) * 4
        smem = 2 * (bq + 2 * bk) * (hd16 + 8) + 4 * 2 * bk * hd4 + ssmem
        blocks, by_r, by_s, lim = occupancy(regs, smem, th)
        rows.append((f"<{typ}, {hd}>", regs, f"{spill}", f"{smem / 1024:.1f}", blocks,
                     f"{by_r} / {by_s}", lim, f"{blocks * th // 32} ({blocks * th / 32 / SM_WARPS:.0%})"))
        if typ == "bf16" and hd in (64, 128):
            pred[hd] = (regs, blocks)
    table(["instantiation (hd)", "regs", "spill B", "smem KiB", "blocks/SM", "by regs / by smem",
           "limited by", "warps/SM (occupancy)"], rows)

    print("Predicted fraction of the bf16 peak per key tile of one block (all in SM clocks; "
          f"useful FLOPs = 4 · BQ · BK · hd; mma.sync at {a.mma_sync_eff:.0%} of the wgmma rate; "
          "the P = hi + lo split doubles the PV mma count):\n")
    prow = []
    for hd in (64, 128):
        if hd not in pred:
            continue
        useful = 4 * bq * bk * hd
        n_mma = (th // 32) * ((hd // 16) * (bk // 8) + (bk // 16) * (hd // 8) * 2)  # QK + PV(hi, lo)
        t_useful = useful / TC_FLOP_PER_CLK
        t_tc = n_mma * 4096 / (TC_FLOP_PER_CLK * a.mma_sync_eff)
        t_mufu = bq * bk / MUFU_PER_CLK
        wi, src = warp_instr_per_tile(counts[hd], hd, bk, th)
        t_issue = (th // 32) * wi / ISSUE_PER_CLK if wi else 0
        t = max(t_tc, t_mufu, t_issue)
        lim = {t_tc: "tensor pipe", t_mufu: "MUFU (exp)", t_issue: "instruction issue"}[t]
        prow.append((hd, f"{t_useful:.0f}", f"{t_tc:.0f}", f"{t_mufu:.0f}", f"{wi} ({src})", f"{t_issue:.0f}",
                     lim, f"**{t_useful / t:.1%}**", f"{a.tflops * t_useful / t:.0f}",
                     f"{t_useful / max(t_tc, t_mufu):.0%}"))
        pred[hd] = t_useful / t
    table(["hd", "useful clk", "tensor clk", "MUFU clk", "warp-instr / tile", "issue clk", "bound by",
           "predicted fraction", "TFLOP/s", "ceiling w/o issue limit"], prow)
    return pred


def attention_section(a, pred):
    print("### Attention, one layer, 1k-16k tokens (model dim 2048: 32 heads × 64 or 16 heads × 128)\n")
    print("Flash-style traffic: Q, K, V, O cross HBM once; K/V re-read from L2 once per 64-row query "
          f"tile. bf16 columns: 2-byte tensors (the ideal); mmrt columns: the kernel's f32 q/k/v/o. "
          f"Predicted: max(FLOPs / (peak · the kernel's predicted fraction above), mmrt bytes / bandwidth).\n")
    rows = []
    for hd in (64, 128):
        h = 2048 // hd
        for causal in (True, False):
            for n in (1024, 2048, 4096, 8192, 16384):
                f, b2, l2 = attention(n, h, h, hd, causal, 2)
                _, b4, _ = attention(n, h, h, hd, causal, 4)
                us2, us4 = bound_us(f, b2, a), bound_us(f, b4, a)
                p = pred.get(hd) if pred else None
                rows.append((hd, "causal" if causal else "bidir", n, f"{f / 1e9:.1f}", f"{b2 / 1e6:.0f}",
                             f"{l2 / 1e6:.0f}", f"{us2:.1f}", f"{b4 / 1e6:.0f}", f"{us4:.1f}",
                             f"{max(f / (a.tflops * 1e12 * p), b4 / (a.tbps * 1e12)) * 1e6:.0f}" if p else "-"))
    table(["hd", "mask", "n", "GFLOP", "HBM MB bf16", "L2 MB bf16", "bound µs bf16", "HBM MB mmrt",
           "bound µs mmrt", "predicted µs"], rows)

    print("Split-KV decode (one token, GQA group 3, K/V f32 as mmrt's cache): bandwidth-bound\n")
    rows = []
    for hd, h, hk in ((64, 9, 3), (128, 24, 8)):
        for n in (1024, 4096, 16384):
            f, b, _ = attention(1, h, hk, hd, False, 4, n_kv=n)
            rows.append((f"{h}/{hk} × {hd}", n, f"{f / 1e6:.2f}", f"{b / 1e6:.2f}", f"{bound_us(f, b, a):.2f}"))
    table(["heads / KV heads × hd", "n_kv", "MFLOP", "MB", "bound µs"], rows)

    print("Model shapes (the existing per-model view), bf16 tensors:\n")
    rows = []
    for name, h, hk, hd, causal in [("SigLIP-B, 12 × 64, bidir", 12, 12, 64, False),
                                    ("SmolLM2-135M, 9 / 3 KV × 64, causal", 9, 3, 64, True),
                                    ("Phi-4-mini, 24 / 8 KV × 128, causal", 24, 8, 128, True)]:
        for n in (1024, 4096, 16384):
            f, b, l2 = attention(n, h, hk, hd, causal, 2)
            rows.append((name, n, f"{f / 1e9:.2f}", f"{b / 1e6:.1f}", f"{l2 / 1e6:.1f}", f"{bound_us(f, b, a):.1f}"))
    table(["shape", "n", "GFLOP", "HBM MB", "L2 MB", "bound µs"], rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tflops", type=float, default=790.0, help="bf16 dense peak (H100: about 790)")
    ap.add_argument("--tbps", type=float, default=3.0, help="HBM bandwidth in TB/s (H100: about 3)")
    ap.add_argument("--tiles", type=int, default=13, help="tiles of the image (13: 4x3 + global)")
    ap.add_argument("--prompt", type=int, default=894, help="prompt tokens (13 tiles x 64 + text)")
    ap.add_argument("--gen", type=int, default=64, help="generated tokens")
    ap.add_argument("--act-bytes", type=int, default=2, help="bytes per activation / KV element (2 or 4)")
    ap.add_argument("--ptxas", default=os.path.join(ROOT, "build", "h-doc-nvcc", "mmrt-cuda-ptxas.txt"),
                    help="the CUDA module's ptxas report (BUILD/mmrt-cuda-ptxas.txt)")
    ap.add_argument("--ptx", help="PTX of cuda/attention.cu for --arch, to count the key-tile loop")
    ap.add_argument("--arch", default="sm_90", help="architecture of the ptxas rows to read")
    ap.add_argument("--mma-sync-eff", type=float, default=0.65,
                    help="mma.sync throughput as a fraction of the wgmma peak on Hopper")
    ap.add_argument("--section", choices=["all", "caption", "kernel", "attention"], default="all")
    a = ap.parse_args()
    if a.act_bytes not in (2, 4):
        sys.exit("--act-bytes: 2 or 4")
    if a.section in ("all", "caption"):
        caption_section(a)
    pred = None
    if a.section in ("all", "kernel"):
        pred = kernel_section(a)
    elif a.section == "attention":
        with contextlib.redirect_stdout(io.StringIO()):
            pred = kernel_section(a)
    if a.section in ("all", "attention"):
        attention_section(a, pred)


if __name__ == "__main__":
    main()
