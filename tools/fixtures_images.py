"""Image-decoding fixtures: small PNG/JPEG/WebP files covering every variant vision/image.c reads,
and Pillow's decoded pixels for each as the reference.

    /work/venv/bin/python tools/fixtures_images.py

Writes tests/fixtures/images/decoded/:
  src/*.png, src/*.jpg,  the inputs (PNGs written by a small encoder below, since Pillow cannot
  src/*.webp             write 16-bit colour, interlaced or tRNS-keyed gray PNGs; JPEGs and WebPs
                         by Pillow)
  src/bad/*              hostile headers (absurd dimensions, zero height, WebP that is not VP8)
  reference.safetensors  U8 tensors: "<case>" (h, w, c) = Image.open -> ImageOps.exif_transpose
                         -> convert("RGBA") when the image has transparency (the rule of
                         transformers' convert_to_rgb), else convert("RGB");
                         "<case>.on_white" (h, w, 3) = transformers.image_transforms.convert_to_rgb
                         on that PIL image (alpha composited on white), for cases with alpha;
                         "ramp.on_white_pil" / "ramp.on_white_numpy": convert_to_rgb of the
                         256x256 ramp (r = x, g = 255 - x, b = (x + 3y) & 255, a = y) as a PIL
                         image and as a numpy array (two different roundings).
  manifest.json          the cases, their files and shapes, and the versions used.
Deterministic: same versions, same bytes.
"""

import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps, features
import PIL

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import FIXTURES_DIR, write_json  # noqa: E402

OUT = os.path.join(FIXTURES_DIR, "images", "decoded")
SRC = os.path.join(OUT, "src")
PINNED_PILLOW = "13.0.0"


# ---- a minimal PNG encoder (all colour types, bit depths, filters, Adam7) -----------------------

def _chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _pack_row(samples, bd):
    """samples: 1-D int array (w * channels) -> bytes at bit depth bd."""
    if bd == 16:
        return samples.astype(">u2").tobytes()
    if bd == 8:
        return samples.astype(np.uint8).tobytes()
    per = 8 // bd
    n = (len(samples) + per - 1) // per
    out = bytearray(n)
    for i, v in enumerate(samples):
        out[i // per] |= int(v) << (8 - bd * (i % per + 1))
    return bytes(out)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filter_rows(rows, bpp):
    """Filters each row with type (row index % 5), so every filter is exercised."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for y, row in enumerate(rows):
        ft = y % 5
        f = bytearray(len(row))
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[ft]
            f[i] = (x - pred) & 255
        out += bytes([ft]) + f
        prev = row
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def png_encode(px, ct, bd, interlace=False, plte=None, trns=None, before=(), after=()):
    """px: (h, w, channels) ints. before/after: extra (tag, data) chunks around IDAT."""
    h, w = px.shape[:2]
    ch = CHANNELS[ct]
    bpp = max(1, ch * bd // 8)
    raw = b""
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        sub = px[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        rows = [_pack_row(sub[y].reshape(-1), bd) for y in range(sub.shape[0])]
        raw += _filter_rows(rows, bpp)
    out = b"\x89PNG\r\n\x1a\n"
    out += _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bd, ct, 0, 0, 1 if interlace else 0))
    for tag, data in before:
        out += _chunk(tag, data)
    if plte is not None:
        out += _chunk(b"PLTE", bytes(np.asarray(plte, np.uint8).reshape(-1)))
    if trns is not None:
        out += _chunk(b"tRNS", trns)
    z = zlib.compress(raw, 9)
    for i in range(0, len(z), 64):  # several IDAT chunks
        out += _chunk(b"IDAT", z[i:i + 64])
    for tag, data in after:
        out += _chunk(tag, data)
    return out + _chunk(b"IEND", b"")


# ---- content ------------------------------------------------------------------------------------

def pattern(h, w, ch, maxv, seed):
    """Smooth gradients plus noise, distinct per channel, so orientation and upsampling show."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    out = np.empty((h, w, ch), np.int64)
    for c in range(ch):
        base = (x * (c + 1) * 0.9 / max(w - 1, 1) + y * (2 - c * 0.4) / max(h - 1, 1)) / 3.0
        v = base + rng.uniform(-0.08, 0.08, (h, w)) + 0.2 * ((x // 3 + y // 2 + c) % 2)
        out[..., c] = np.clip(np.round(v * maxv), 0, maxv)
    return out


def exif_blob(orientation, big_endian=False, extra_first=True):
    """A TIFF IFD0 holding an unrelated tag (Make, stored out of line) and Orientation."""
    e = ">" if big_endian else "<"
    head = (b"MM\x00\x2a" if big_endian else b"II\x2a\x00") + struct.pack(e + "I", 8)
    make = b"mmrt-test\x00"
    entries = []
    n = 2 if extra_first else 1
    data_off = 8 + 2 + 12 * n + 4
    if extra_first:
        entries.append(struct.pack(e + "HHI", 0x010F, 2, len(make)) + struct.pack(e + "I", data_off))
    entries.append(struct.pack(e + "HHI", 0x0112, 3, 1) + struct.pack(e + "H", orientation) + b"\0\0")
    ifd = struct.pack(e + "H", n) + b"".join(entries) + struct.pack(e + "I", 0)
    return head + ifd + (make if extra_first else b"")


# ---- cases --------------------------------------------------------------------------------------

def png_cases():
    c = {}
    w, h = 13, 9
    g = lambda bd, s: pattern(h, w, 1, (1 << bd) - 1, s)  # noqa: E731
    for bd in (1, 2, 4, 8, 16):
        c[f"png_gray{bd}"] = png_encode(g(bd, bd), 0, bd)
    c["png_gray8_trns"] = png_encode(g(8, 20), 0, 8, trns=struct.pack(">H", int(g(8, 20)[2, 3, 0])))
    c["png_gray2_trns"] = png_encode(g(2, 21), 0, 2, trns=struct.pack(">H", 0))
    c["png_gray1_trns"] = png_encode(g(1, 22), 0, 1, trns=struct.pack(">H", 1))
    g16 = g(16, 23)
    g16[0, :4, 0] = [0, 1, 200, 255]  # values Pillow keeps (it clips I;16 to 255)
    c["png_gray16_trns"] = png_encode(g16, 0, 16, trns=struct.pack(">H", 200))
    c["png_la8"] = png_encode(pattern(h, w, 2, 255, 3), 4, 8)
    c["png_la16"] = png_encode(pattern(h, w, 2, 65535, 4), 4, 16)
    rgb8 = pattern(h, w, 3, 255, 5)
    c["png_rgb8"] = png_encode(rgb8, 2, 8)
    c["png_rgb16"] = png_encode(pattern(h, w, 3, 65535, 6), 2, 16)
    c["png_rgb8_trns"] = png_encode(rgb8, 2, 8, trns=struct.pack(">HHH", *map(int, rgb8[4, 5])))
    c["png_rgba8"] = png_encode(pattern(h, w, 4, 255, 7), 6, 8)
    c["png_rgba16"] = png_encode(pattern(h, w, 4, 65535, 8), 6, 16)
    rng = np.random.RandomState(9)
    plte = rng.randint(0, 256, (256, 3))
    for bd in (1, 2, 4, 8):
        idx = pattern(h, w, 1, (1 << bd) - 1, 10 + bd)
        c[f"png_pal{bd}"] = png_encode(idx, 3, bd, plte=plte[:1 << bd])
    idx8 = pattern(h, w, 1, 255, 30)
    alphas = bytes(rng.randint(0, 256, 200).astype(np.uint8))  # shorter than PLTE: rest opaque
    c["png_pal8_trns"] = png_encode(idx8, 3, 8, plte=plte, trns=alphas)
    single = bytes([255] * 7 + [0] + [255] * 3)  # one fully transparent entry: info int
    c["png_pal4_trns1"] = png_encode(pattern(h, w, 1, 15, 31), 3, 4, plte=plte[:16], trns=single)
    c["png_rgb8_interlaced"] = png_encode(pattern(11, 17, 3, 255, 40), 2, 8, interlace=True)
    c["png_rgba16_interlaced"] = png_encode(pattern(10, 9, 4, 65535, 41), 6, 16, interlace=True)
    c["png_gray2_interlaced"] = png_encode(pattern(7, 5, 1, 3, 42), 0, 2, interlace=True)
    c["png_pal4_interlaced"] = png_encode(pattern(9, 10, 1, 15, 43), 3, 4, interlace=True,
                                          plte=plte[:16])
    c["png_1x1"] = png_encode(np.array([[[10, 200, 30]]]), 2, 8)
    c["png_1x1_interlaced"] = png_encode(np.array([[[10, 200, 30, 128]]]), 6, 8, interlace=True)
    c["png_exif6"] = png_encode(rgb8, 2, 8, before=[(b"eXIf", exif_blob(6))])
    c["png_exif3_be_after"] = png_encode(rgb8, 2, 8, after=[(b"eXIf", exif_blob(3, True))])
    xmp = b'XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta><rdf:Description tiff:Orientation="8"/></x:xmpmeta>'
    c["png_xmp8"] = png_encode(rgb8, 2, 8, before=[(b"iTXt", xmp)])
    return c


def jpeg_cases():
    c = {}
    w, h = 29, 17
    rgb = Image.fromarray(pattern(h, w, 3, 255, 50).astype(np.uint8), "RGB")

    def save(im, **kw):
        b = io.BytesIO()
        im.save(b, "JPEG", quality=kw.pop("quality", 85), **kw)
        return b.getvalue()

    c["jpg_420"] = save(rgb)
    c["jpg_444"] = save(rgb, subsampling=0)
    c["jpg_422"] = save(rgb, subsampling=1)
    c["jpg_progressive"] = save(rgb, progressive=True)
    c["jpg_progressive_444"] = save(rgb, progressive=True, subsampling=0, optimize=True)
    c["jpg_restart"] = save(rgb, restart_marker_blocks=1)
    c["jpg_gray"] = save(rgb.convert("L"))
    c["jpg_gray_progressive"] = save(rgb.convert("L"), progressive=True)
    cmyk = Image.fromarray(pattern(h, w, 4, 255, 51).astype(np.uint8), "CMYK")
    c["jpg_cmyk"] = save(cmyk)
    c["jpg_cmyk_progressive"] = save(cmyk, progressive=True)
    c["jpg_rgb_keep"] = save(rgb, keep_rgb=True)
    c["jpg_1x1"] = save(Image.new("RGB", (1, 1), (10, 200, 30)))
    c["jpg_big_q100"] = save(Image.fromarray(pattern(64, 48, 3, 255, 52).astype(np.uint8)),
                             quality=100)
    for o in range(1, 9):
        c[f"jpg_exif{o}"] = save(rgb, exif=b"Exif\0\0" + exif_blob(o))
    c["jpg_exif6_be"] = save(rgb, exif=b"Exif\0\0" + exif_blob(6, True, False))
    c["jpg_exif5_gray"] = save(rgb.convert("L"), exif=b"Exif\0\0" + exif_blob(5, True))
    c["jpg_xmp6"] = save(rgb, xmp=b'<x:xmpmeta><rdf:Description><tiff:Orientation>6'
                                  b'</tiff:Orientation></rdf:Description></x:xmpmeta>')
    c["jpg_exif_bad"] = save(rgb, exif=b"Exif\0\0II*\0\xff\xff\xff\x7f")  # IFD offset past end
    return c


def webp_cases():
    """Written by Pillow (its bundled libwebp, single-threaded: deterministic)."""
    c = {}
    w, h = 29, 17
    rgb = Image.fromarray(pattern(h, w, 3, 255, 60).astype(np.uint8), "RGB")
    rgba = Image.fromarray(pattern(h, w, 4, 255, 61).astype(np.uint8), "RGBA")

    def save(im, **kw):
        b = io.BytesIO()
        im.save(b, "WEBP", **kw)
        return b.getvalue()

    c["webp_lossy"] = save(rgb, quality=80)  # plain VP8: fancy upsampling of 4:2:0 chroma
    c["webp_lossy_odd"] = save(Image.fromarray(pattern(13, 7, 3, 255, 62).astype(np.uint8)),
                               quality=95)
    c["webp_lossless_rgb"] = save(rgb, lossless=True)  # VP8L, alpha_is_used = 0: RGB
    c["webp_lossless_rgba"] = save(rgba, lossless=True)
    c["webp_lossy_alpha"] = save(rgba, quality=70)  # VP8X + ALPH + VP8
    c["webp_lossy_alpha_q50"] = save(rgba, quality=50, alpha_quality=50)  # lossy alpha plane
    opaque = rgba.copy()
    opaque.putalpha(255)
    c["webp_opaque_rgba"] = save(opaque, lossless=True)  # the encoder drops the alpha: RGB
    c["webp_1x1"] = save(Image.new("RGB", (1, 1), (10, 200, 30)), quality=90)
    c["webp_exif6"] = save(rgb, quality=80, exif=b"Exif\0\0" + exif_blob(6))
    c["webp_exif8_rgba_be"] = save(rgba, lossless=True, exif=exif_blob(8, True))
    c["webp_xmp3"] = save(rgb, quality=80, xmp=b'<x:xmpmeta><rdf:Description tiff:Orientation="3"'
                                                b'/></x:xmpmeta>')
    frames = [Image.fromarray(pattern(h, w, 4, 255, 63 + k).astype(np.uint8), "RGBA")
              for k in range(3)]
    c["webp_anim"] = save(frames[0], save_all=True, append_images=frames[1:], duration=50,
                          lossless=True)  # Pillow's Image.open gives frame 0
    return c


def bad_cases():
    """Files whose headers must be refused before any pixel buffer is allocated."""
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    huge_png = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) +
                _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b""))
    base = jpeg_cases()["jpg_1x1"]
    sof = base.index(b"\xff\xc0")
    huge_jpg = base[:sof + 5] + struct.pack(">HH", 65000, 65000) + base[sof + 9:]
    zero_jpg = base[:sof + 5] + struct.pack(">HH", 0, 1) + base[sof + 9:]
    zero_png = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0)) +
                _chunk(b"IDAT", zlib.compress(b"")) + _chunk(b"IEND", b""))
    # VP8L header of 16384 x 16384 (the largest a VP8L header can say) over a few bytes of data.
    vp8l = b"\x2f" + struct.pack("<I", 16383 | 16383 << 14 | 1 << 28) + b"\0" * 11
    huge_webp = (b"RIFF" + struct.pack("<I", 4 + 8 + len(vp8l)) + b"WEBP" + b"VP8L" +
                 struct.pack("<I", len(vp8l)) + vp8l)
    # An animation canvas of 60000 x 60000 (libwebp refuses 2^32 pixels and more) with ANIM and
    # no frame: refused from the VP8X header although the container is invalid.
    vp8x = struct.pack("<B3x", 0x02) + (60000 - 1).to_bytes(3, "little") * 2
    anim = struct.pack("<IH", 0, 0)
    huge_anim = b"VP8X" + struct.pack("<I", 10) + vp8x + b"ANIM" + struct.pack("<I", 6) + anim
    huge_anim_webp = b"RIFF" + struct.pack("<I", 4 + len(huge_anim)) + b"WEBP" + huge_anim
    not_vp8 = b"RIFF" + struct.pack("<I", 12) + b"WEBPJUNK" + struct.pack("<I", 0)
    return {"huge.png": huge_png, "huge.jpg": huge_jpg, "zero_height.jpg": zero_jpg,
            "zero.png": zero_png, "huge.webp": huge_webp, "huge_anim.webp": huge_anim_webp,
            "not_vp8.webp": not_vp8}


def reference(path):
    im = Image.open(path)
    im = ImageOps.exif_transpose(im)
    has_alpha = "A" in im.getbands() or im.info.get("transparency") is not None
    return im, np.ascontiguousarray(np.array(im.convert("RGBA" if has_alpha else "RGB"))), has_alpha


def main():
    from safetensors.numpy import save_file
    from transformers.image_transforms import convert_to_rgb
    import transformers.utils.logging as tlog
    tlog.set_verbosity_error()

    if PIL.__version__ != PINNED_PILLOW:
        print(f"WARNING: Pillow {PIL.__version__} installed, {PINNED_PILLOW} pinned; "
              "references will differ", file=sys.stderr)
    os.makedirs(os.path.join(SRC, "bad"), exist_ok=True)
    tensors, cases = {}, []
    files = [(k + ".png", v) for k, v in png_cases().items()]
    files += [(k + ".jpg", v) for k, v in jpeg_cases().items()]
    files += [(k + ".webp", v) for k, v in webp_cases().items()]
    for fname, data in files:
        path = os.path.join(SRC, fname)
        with open(path, "wb") as f:
            f.write(data)
        im, ref, has_alpha = reference(path)
        name = fname.rsplit(".", 1)[0]
        tensors[name] = ref
        if has_alpha:
            tensors[name + ".on_white"] = np.ascontiguousarray(convert_to_rgb(im, return_numpy=True))
        cases.append({"name": name, "file": "src/" + fname, "height": ref.shape[0],
                      "width": ref.shape[1], "channels": ref.shape[2], "on_white": has_alpha})
    for fname, data in bad_cases().items():
        with open(os.path.join(SRC, "bad", fname), "wb") as f:
            f.write(data)

    y, x = np.mgrid[0:256, 0:256]
    ramp = np.stack([x, 255 - x, (x + 3 * y) & 255, y], -1).astype(np.uint8)
    path = os.path.join(SRC, "ramp_rgba.png")
    Image.fromarray(ramp, "RGBA").save(path, optimize=True)
    tensors["ramp.on_white_pil"] = np.ascontiguousarray(
        convert_to_rgb(Image.open(path), return_numpy=True))
    tensors["ramp.on_white_numpy"] = np.ascontiguousarray(convert_to_rgb(ramp, return_numpy=True))

    import transformers
    meta = {"pillow": PIL.__version__, "pillow_libjpeg_turbo": str(features.version("libjpeg_turbo")),
            "pillow_jpeg": str(features.version("jpg")), "pillow_zlib": str(features.version("zlib")),
            "pillow_webp": str(features.version("webp")),
            "numpy": np.__version__, "transformers": transformers.__version__,
            "python": sys.version.split()[0]}
    # No metadata in the safetensors header: its key order is not stable between runs. The versions
    # are in manifest.json.
    save_file({k: tensors[k] for k in sorted(tensors)}, os.path.join(OUT, "reference.safetensors"))
    write_json(os.path.join(OUT, "manifest.json"),
               {"versions": meta, "ramp": "src/ramp_rgba.png", "cases": cases,
                "bad": sorted("src/bad/" + k for k in bad_cases())})
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print(f"images: {len(cases)} cases, {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
