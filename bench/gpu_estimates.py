#!/usr/bin/env python3
"""FLOPs, bytes and H100 lower bounds for SmolVLM-256M captioning and for attention at 1k-16k.

    python3 bench/gpu_estimates.py [--tflops 790] [--tbps 3.0] [--tiles 13] [--prompt 894] [--gen 64]

Standard library only; the numbers come from the model's configuration (SmolVLM-256M-Instruct:
SigLIP-B/16-512 vision tower, scale factor 4, SmolLM2-135M decoder) and count multiply-adds as 2
FLOPs. "Bound" is max(FLOPs / peak, bytes / bandwidth): no kernel can beat it. Weights and
activations are bf16 (2 bytes) on the GPU; the KV cache is counted as bf16.
"""
import argparse

VISION = dict(d=768, ff=3072, layers=12, heads=12, hd=64, patch=16, image=512, chans=3)
TEXT = dict(d=576, ff=1536, layers=30, heads=9, kv_heads=3, hd=64, vocab=49280)
SCALE = 4
BYTES = 2  # bf16


def vit_tile():
    v = VISION
    n = (v["image"] // v["patch"]) ** 2  # 1024 patches
    d, ff = v["d"], v["ff"]
    patch = 2 * n * d * v["chans"] * v["patch"] ** 2
    per_layer = 2 * n * (4 * d * d + 2 * d * ff) + 4 * n * n * d  # projections, MLP, QK^T + PV
    flops = patch + v["layers"] * per_layer
    weights = (d * v["chans"] * v["patch"] ** 2 + n * d + v["layers"] * (4 * d * d + 2 * d * ff)) * BYTES
    # activations written and read once per op, roughly: x, q, k, v, o, h (ff) per layer
    acts = v["layers"] * n * (6 * d + 2 * ff) * BYTES * 2
    return flops, weights + acts


def connector_tile():
    v, t = VISION, TEXT
    rows = (v["image"] // v["patch"]) ** 2 // SCALE ** 2  # 64
    k = v["d"] * SCALE ** 2
    return 2 * rows * k * t["d"], (k * t["d"] + rows * (k + t["d"])) * BYTES


def decoder_weights():
    t = TEXT
    kv = t["kv_heads"] * t["hd"]
    per_layer = t["d"] * (t["d"] + 2 * kv + t["d"]) + 3 * t["d"] * t["ff"]
    return t["layers"] * per_layer, t["vocab"] * t["d"]  # layers, lm_head (untied)


def prefill(n):
    t = TEXT
    layers, head = decoder_weights()
    attn = t["layers"] * 2 * n * n * t["heads"] * t["hd"]  # causal: half of 4·n²·h·hd
    flops = 2 * n * layers + attn + 2 * head  # logits for the last token only
    bytes_ = (layers + head) * BYTES + t["layers"] * n * 2 * t["kv_heads"] * t["hd"] * BYTES
    return flops, bytes_


def decode_token(ctx):
    t = TEXT
    layers, head = decoder_weights()
    kv_bytes = t["layers"] * ctx * 2 * t["kv_heads"] * t["hd"] * BYTES
    flops = 2 * (layers + head) + t["layers"] * 4 * ctx * t["heads"] * t["hd"]
    return flops, (layers + head) * BYTES + kv_bytes


def attention(n, heads, kv_heads, hd, causal, br=64):
    """One layer's attention, flash-style: Q, K, V, O cross HBM once (a head's K/V, n·hd·4 bytes,
    stays in the 50 MB L2 while its query tiles stream); K/V are re-read from L2 once per query
    tile of br rows (returned separately)."""
    flops = 4 * n * n * heads * hd // (2 if causal else 1)
    hbm = 2 * n * (heads + kv_heads) * hd * BYTES
    q_tiles = -(-n // br)
    l2 = q_tiles * n * 2 * kv_heads * hd * BYTES // (2 if causal else 1)
    return flops, hbm, l2


def bound_ms(flops, bytes_, tflops, tbps):
    return max(flops / (tflops * 1e12), bytes_ / (tbps * 1e12)) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tflops", type=float, default=790.0, help="bf16 dense peak (H100: about 790)")
    ap.add_argument("--tbps", type=float, default=3.0, help="HBM bandwidth in TB/s (H100: about 3)")
    ap.add_argument("--tiles", type=int, default=13, help="tiles of the image (13: 4x3 + global)")
    ap.add_argument("--prompt", type=int, default=894, help="prompt tokens (13 tiles x 64 + text)")
    ap.add_argument("--gen", type=int, default=64, help="generated tokens")
    a = ap.parse_args()

    rows = []
    f, b = vit_tile()
    rows.append((f"ViT, {a.tiles} tiles", a.tiles * f, a.tiles * b))
    f, b = connector_tile()
    rows.append((f"connector, {a.tiles} tiles", a.tiles * f, a.tiles * b))
    f, b = prefill(a.prompt)
    rows.append((f"prefill, {a.prompt} tokens", f, b))
    fd = bd = 0
    for i in range(a.gen):
        f, b = decode_token(a.prompt + i)
        fd, bd = fd + f, bd + b
    rows.append((f"decode, {a.gen} tokens", fd, bd))
    print(f"SmolVLM-256M caption on an H100-class GPU ({a.tflops:g} TFLOP/s bf16, {a.tbps:g} TB/s)")
    print(f"{'stage':28} {'GFLOP':>10} {'MB moved':>10} {'FLOP/byte':>10} {'bound ms':>10}")
    total = 0.0
    for name, f, b in rows:
        ms = bound_ms(f, b, a.tflops, a.tbps)
        total += ms
        print(f"{name:28} {f / 1e9:10.1f} {b / 1e6:10.1f} {f / b:10.1f} {ms:10.3f}")
    print(f"{'total':28} {'':10} {'':10} {'':10} {total:10.3f}")
    print()
    print("Attention, one layer, flash-style (Q, K, V, O cross HBM once; K/V re-read from L2 per 64-row query tile)")
    print(f"{'shape':44} {'n':>6} {'GFLOP':>9} {'HBM MB':>8} {'L2 MB':>8} {'bound us':>9}")
    shapes = [("SigLIP-B, 12 heads x 64, bidirectional", 12, 12, 64, False),
              ("SmolLM2-135M, 9 heads / 3 KV x 64, causal", 9, 3, 64, True),
              ("Phi-4-mini, 24 heads / 8 KV x 128, causal", 24, 8, 128, True)]
    for name, h, hk, hd, causal in shapes:
        for n in (1024, 2048, 4096, 8192, 16384):
            f, b, l2 = attention(n, h, hk, hd, causal)
            us = bound_ms(f, b, a.tflops, a.tbps) * 1e3
            print(f"{name:44} {n:6d} {f / 1e9:9.2f} {b / 1e6:8.1f} {l2 / 1e6:8.1f} {us:9.1f}")


if __name__ == "__main__":
    main()
