#!/usr/bin/env python3
"""tests/fixtures/quant: gguf-py's quantized rows and their dequantization (tests/test_quant.c).

    /work/venv/bin/python tools/fixtures_quant.py

For each type, <type>.q holds one row of blocks and <type>.deq.f32 gguf-py's dequantization of it
(little-endian f32). Q8_0, Q4_0 and Q4_1 rows are gguf-py's quantization of <type>.src.f32 (random
weights plus edge blocks: zeros, one value, ±large, tiny, exact halves, a first-of-equal-magnitudes
maximum); Q5_0 and Q5_1 rows likewise, from 64 blocks (their sources not kept: mmrt does not write
them); the K formats, F16 and BF16 rows are random valid blocks (finite f16 scales). Deterministic:
fixed seed, numpy's PCG64. manifest.json records the versions.
"""

import json
import os
import sys

import numpy as np

sys.dont_write_bytecode = True

PINNED = {"gguf": "0.19.0", "numpy": "2.4.6"}
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fixtures", "quant")


def edge_blocks(rng):
    """(n, 32) f32 blocks that exercise the quantizers' corner cases."""
    b = [np.zeros(32), np.full(32, 0.75), np.zeros(32), rng.normal(0, 1, 32) * 3e4, rng.normal(0, 1, 32) * 1e-6,
         np.arange(-16, 16) * 0.5, rng.normal(0, 1, 32)]
    b[2][7] = -2.5                      # one nonzero element
    b[6][3], b[6][20] = -5.0, 5.0       # equal magnitudes: the first one sets the sign of Q4_0's scale
    b.append(-np.arange(32, dtype=np.float64) / 31 * 127)  # exact levels of a negative maximum
    return np.stack(b).astype(np.float32)


def quantized_row(rng, qtype, n_blocks):
    import gguf
    src = np.concatenate([edge_blocks(rng).ravel(), rng.normal(0, 0.05, 32 * n_blocks).astype(np.float32)])
    q = gguf.quants.quantize(src.reshape(1, -1), qtype)
    return src, q.tobytes()


def random_f16(rng, n, lo, hi):
    """n random finite f16 values in [lo, hi) as their bits."""
    return rng.uniform(lo, hi, n).astype(np.float16).view(np.uint16)


def random_k_row(rng, qtype, n_blocks):
    import gguf
    block_bytes = gguf.constants.GGML_QUANT_SIZES[qtype][1]
    raw = rng.integers(0, 256, (n_blocks, block_bytes), dtype=np.uint8)
    if qtype == gguf.GGMLQuantizationType.Q6_K:
        raw[:, 208:210] = random_f16(rng, n_blocks, 1e-4, 1e-2).view(np.uint8).reshape(n_blocks, 2)
    else:  # Q4_K, Q5_K: d, dmin
        raw[:, 0:2] = random_f16(rng, n_blocks, 1e-4, 1e-2).view(np.uint8).reshape(n_blocks, 2)
        raw[:, 2:4] = random_f16(rng, n_blocks, 1e-4, 1e-2).view(np.uint8).reshape(n_blocks, 2)
    return raw.tobytes()


def float_rows(rng):
    """F16 (normal, subnormal, zeros, ±65504) and BF16 (random finite bits) rows."""
    f16 = rng.normal(0, 100, 512).astype(np.float16)
    f16[:6] = [0.0, -0.0, 65504.0, -65504.0, 6e-8, -3e-5]
    bf = rng.integers(0, 1 << 16, 512, dtype=np.uint32).astype(np.uint16)
    bf[(bf & 0x7F80) == 0x7F80] &= 0xBFFF  # no inf/NaN exponent
    return f16.view(np.uint16).tobytes(), bf.tobytes()


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    import gguf
    from importlib.metadata import version
    got = {"gguf": version("gguf"), "numpy": np.__version__}
    if got != PINNED:
        print(f"warning: versions {got} differ from the pinned {PINNED}", file=sys.stderr)
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.Generator(np.random.PCG64(20261208))
    T = gguf.GGMLQuantizationType
    rows = {}
    for qt in (T.Q8_0, T.Q4_0, T.Q4_1):
        src, q = quantized_row(rng, qt, 120)
        write(f"{qt.name.lower()}.src.f32", src.astype("<f4").tobytes())
        rows[qt] = q
    for qt in (T.Q4_K, T.Q5_K, T.Q6_K):
        rows[qt] = random_k_row(rng, qt, 8)
    rows[T.F16], rows[T.BF16] = float_rows(rng)
    for qt in (T.Q5_0, T.Q5_1):  # drawn last: the rows above stay as they were
        rows[qt] = quantized_row(rng, qt, 56)[1]
    for qt, q in rows.items():
        deq = gguf.quants.dequantize(np.frombuffer(q, dtype=np.uint8).reshape(1, -1) if qt not in (T.F16, T.BF16)
                                     else np.frombuffer(q, dtype=np.uint16 if qt == T.F16 else np.uint8), qt)
        write(f"{qt.name.lower()}.q", q)
        write(f"{qt.name.lower()}.deq.f32", np.asarray(deq, dtype="<f4").ravel().tobytes())
    manifest = {"generator": "tools/fixtures_quant.py", "versions": got,
                "types": sorted(qt.name.lower() for qt in rows)}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
