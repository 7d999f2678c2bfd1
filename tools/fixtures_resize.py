"""Resize fixtures: Pillow's `Image.resize` on 8-bit images, which vision/resize.c reproduces bit for bit.

tests/fixtures/resize/
  resize.safetensors   U8 tensors: src.<image>.<mode> (h, w, c) source images; out.<i> (new_h, new_w, c) Pillow's
                       result of case i; for cases too large to store, rowsha.<i> (new_h, 8): the first 8 bytes of
                       the sha256 of each output row instead
  cases.json           versions, images, and the cases [{id, image, mode, channels, filter, w, h, new_w, new_h,
                       tensor, check: "bytes" | "row_sha256", note}]

Sources are deterministic (fixed seeds): uniform noise (worst case for rounding: every coefficient matters), smooth
gradients with a sine pattern (the common case), and hard edges with saturated values (filters with negative lobes
overshoot and must clip), at odd sizes, plus thin and 1x1 images. RGBA sources have alphas including 0 and 255.
Targets: up and down by large and small factors, one dimension unchanged (Pillow skips that pass), 1xN, Nx1, 1x1,
both pass orders (Pillow 13 goes vertical first when new_h < h and h - new_h > 2 * (w - new_w)) and the boundary
between them, and the sizes SmolVLM's processor asks for (longest edge to 2048, 512 and a tiny config's 48/64).

Run: /work/venv/bin/python tools/fixtures_resize.py
"""

import hashlib
import os
import platform
import sys

import numpy as np
import PIL
from PIL import Image
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import FIXTURES_DIR, rel, write_json  # noqa: E402

OUT_DIR = os.path.join(FIXTURES_DIR, "resize")
PINNED_PILLOW = "13.0.0"

FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
           "lanczos": Image.Resampling.LANCZOS}
MODES = {"L": 1, "RGB": 3, "RGBA": 4}

# Outputs above this many bytes are checked by per-row sha256 instead of being stored.
MAX_STORED_BYTES = 32 * 1024


def make_images():
    """name -> (h, w, 4) uint8 RGBA array; modes take channel 0 (L), 0..2 (RGB) or all (RGBA)."""
    imgs = {}

    def noise(name, w, h, seed):
        rng = np.random.default_rng(seed)
        a = rng.integers(0, 256, size=(h, w, 4), dtype=np.uint8)
        # Alpha: a mix of fully transparent, opaque and partial values.
        alpha = rng.choice(np.array([0, 255, 1, 128, 254], dtype=np.uint8), size=(h, w))
        partial = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
        a[..., 3] = np.where(rng.random((h, w)) < 0.5, alpha, partial)
        imgs[name] = a

    def smooth(name, w, h):
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        r = 255 * x / max(w - 1, 1)
        g = 255 * y / max(h - 1, 1)
        b = 127.5 + 127.5 * np.sin(x * 0.37 + y * 0.23)
        al = 255 * (0.5 + 0.5 * np.cos(x * 0.11 - y * 0.07))
        imgs[name] = np.stack([r, g, b, al], axis=-1).round().clip(0, 255).astype(np.uint8)

    def edges(name, w, h):
        y, x = np.mgrid[0:h, 0:w]
        chk = (((x // 3) + (y // 2)) % 2) * 255
        stripes = np.where((x % 7) < 2, 255, 0)
        diag = np.where(x > y, 255, 0)
        al = np.where((x // 4) % 3 == 0, 0, np.where((y // 5) % 2 == 0, 255, 77))
        imgs[name] = np.stack([chk, stripes, diag, al], axis=-1).astype(np.uint8)

    noise("noise_37x23", 37, 23, 1)
    smooth("smooth_61x45", 61, 45)
    edges("edges_29x31", 29, 31)
    noise("noise_1x1", 1, 1, 2)
    noise("noise_1x17", 1, 17, 3)
    noise("noise_19x1", 19, 1, 4)
    # A "photo" for the SmolVLM sizes: smooth content with noise on top.
    smooth("photo_150x100", 150, 100)
    rng = np.random.default_rng(5)
    p = imgs["photo_150x100"].astype(np.int16) + rng.integers(-20, 21, size=(100, 150, 4))
    imgs["photo_150x100"] = p.clip(0, 255).astype(np.uint8)
    return imgs


# What SmolVLM's processor (transformers 5.23.0, _resize_output_size_rescale_to_max_len: longest edge to max_len, the
# other side scaled, truncated and rounded up to even) asks for a 150x100 image: longest_edge -> (new_w, new_h).
SMOLVLM_150x100 = {2048: (2048, 1366), 512: (512, 342), 64: (64, 42), 48: (48, 32)}


def targets(name, w, h):
    """(new_w, new_h, note) for one source."""
    t = []
    if name == "photo_150x100":
        for m, (nw, nh) in SMOLVLM_150x100.items():
            t.append((nw, nh, f"SmolVLM longest_edge={m}"))
        t.append((64, 64, "SmolVLM tile-sized square"))
        return t
    t += [
        (w * 2 + 3, h * 3 - 1, "upscale"),
        (max(1, w // 7), max(1, h // 5), "downscale by a large factor"),
        (max(1, w - 3), max(1, h - 2), "downscale by a small factor"),
        (w, h // 2 + 1, "width unchanged (vertical pass only)"),
        (2 * w - 1, h, "height unchanged (horizontal pass only)"),
        (1, h, "1 x N"),
        (w, 1, "N x 1"),
        (1, 1, "1 x 1"),
        (w, h, "unchanged (a copy)"),
        (w * 5 // 3 + 1, max(1, h * 2 // 3), "up in x, down in y (vertical pass first)"),
        (w - 2, h - 5, "h shrinks by > 2x the pixels w does (vertical pass first)"),
        (w - 2, h - 4, "h shrinks by exactly 2x the pixels w does (horizontal pass first)"),
        (max(1, w // 2), max(1, h // 6), "both down, h much more (vertical pass first)"),
    ]
    if w < 4 or h < 4:
        t = [x for x in t if x[0] >= 1 and x[1] >= 1]
        t.append((7, 9, "upscale of a tiny image"))
    seen, out = set(), []
    for nw, nh, note in t:
        if (nw, nh) not in seen:
            seen.add((nw, nh))
            out.append((nw, nh, note))
    return out


def as_mode(rgba, mode):
    if mode == "L":
        return rgba[..., :1].copy()
    if mode == "RGB":
        return rgba[..., :3].copy()
    return rgba.copy()


def to_pil(arr, mode):
    return Image.fromarray(arr[..., 0] if mode == "L" else arr, mode=mode)


def from_pil(im, channels):
    a = np.asarray(im, dtype=np.uint8)
    return a.reshape(im.size[1], im.size[0], channels)


def main():
    if PIL.__version__ != PINNED_PILLOW:
        print(f"WARNING: Pillow {PIL.__version__} installed, fixtures pinned to {PINNED_PILLOW}", file=sys.stderr)
    imgs = make_images()
    tensors, cases, images = {}, [], []
    for name, rgba in imgs.items():
        h, w = rgba.shape[:2]
        images.append({"name": name, "w": w, "h": h})
        for mode, ch in MODES.items():
            src = as_mode(rgba, mode)
            tensors[f"src.{name}.{mode}"] = np.ascontiguousarray(src)
            pil = to_pil(src, mode)
            for nw, nh, note in targets(name, w, h):
                for fname, fcode in FILTERS.items():
                    out = from_pil(pil.resize((nw, nh), fcode), ch)
                    i = len(cases)
                    case = {"id": i, "image": name, "mode": mode, "channels": ch, "filter": fname,
                            "w": w, "h": h, "new_w": nw, "new_h": nh, "note": note}
                    if out.nbytes <= MAX_STORED_BYTES:
                        case["check"], case["tensor"] = "bytes", f"out.{i}"
                        tensors[f"out.{i}"] = np.ascontiguousarray(out)
                    else:
                        rows = np.stack([np.frombuffer(hashlib.sha256(out[y].tobytes()).digest()[:8], dtype=np.uint8)
                                         for y in range(nh)])
                        case["check"], case["tensor"] = "row_sha256", f"rowsha.{i}"
                        tensors[f"rowsha.{i}"] = rows
                    cases.append(case)
    os.makedirs(OUT_DIR, exist_ok=True)
    st_path = os.path.join(OUT_DIR, "resize.safetensors")
    save_file(tensors, st_path, metadata={"generator": "tools/fixtures_resize.py", "pillow": PIL.__version__})
    doc = {
        "generator": "tools/fixtures_resize.py",
        "versions": {"python": platform.python_version(), "pillow": PIL.__version__, "numpy": np.__version__},
        "note": "Pillow Image.resize(size, filter) with the default box and reducing_gap=None; RGBA goes through "
                "Pillow's premultiplied RGBa; L is stored as (h, w, 1)",
        "images": images,
        "cases": cases,
    }
    write_json(os.path.join(OUT_DIR, "cases.json"), doc)
    size = os.path.getsize(st_path) + os.path.getsize(os.path.join(OUT_DIR, "cases.json"))
    print(f"{rel(OUT_DIR)}: {len(cases)} cases, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
