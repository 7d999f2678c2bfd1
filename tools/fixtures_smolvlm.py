"""SmolVLM / Idefics3 fixtures: tiny random `Idefics3ForConditionalGeneration` / `SmolVLMForConditionalGeneration`
checkpoints with the real processor classes (slow PIL image processor), written by `save_pretrained`, with the
preprocessing intermediates, per-stage activations, logits and greedy generations computed by `transformers`
itself (eager attention, float32).

tests/fixtures/images/                          source images made from scikit-image's bundled sample photos
                                                (see IMAGES and images.json there)
tests/fixtures/smolvlm/<case>/
  config.json, generation_config.json           as model.save_pretrained writes them
  model.safetensors
  processor_config.json, chat_template.jinja,   as processor.save_pretrained writes them (transformers 5.x layout:
  tokenizer.json, tokenizer_config.json         image processor settings nested in processor_config.json); the
                                                case with "layout": "legacy" has the 4.x / hub layout instead
                                                (preprocessor_config.json + processor_config.json + chat_template.json)
  reference.safetensors                         see REFERENCE_DOC
  reference.json                                everything else
"""

import io
import json
import math
import os

import numpy as np
import PIL
import torch
from PIL import ExifTags, Image, ImageOps, JpegImagePlugin, features
from tokenizers import Tokenizer

import transformers
from transformers import (AutoImageProcessor, AutoProcessor, AutoTokenizer, Idefics3Config,
                          Idefics3ForConditionalGeneration, Idefics3ImageProcessor, Idefics3ImageProcessorPil,
                          Idefics3Processor, SmolVLMConfig, SmolVLMForConditionalGeneration, SmolVLMImageProcessor,
                          SmolVLMImageProcessorPil, SmolVLMProcessor, SmolVLMVideoProcessor)
from transformers.models.smolvlm import processing_smolvlm

import fixtures_common as fc
import fixtures_tokenizer
from common import FIXTURES_DIR, rel, sha256_bytes, versions, warn_unpinned, write_json

OUT_DIR = os.path.join(FIXTURES_DIR, "smolvlm")
IMAGES_DIR = os.path.join(FIXTURES_DIR, "images")

# Versions of the extra packages this generator needs (tools/requirements.txt); a mismatch only warns.
PINNED_EXTRA = {"pillow": "13.0.0", "torchvision": "0.29.2", "scikit-image": "0.26.0", "numpy": "2.4.6",
                "num2words": "0.5.14"}

TOKENIZER_VOCAB = 512  # trained part (incl. the 3 SmolLM2 specials at ids 0..2); the Llama fixtures use 1024

# SmolVLM's added tokens, in the order of the real HuggingFaceTB/SmolVLM-256M-Instruct vocabulary (ids 49152..:
# <global-img>, <row_1_col_1> .. <row_6_col_6> row-major, <fake_token_around_image>, <image>, 88
# <|reserved_special_token_i|>, <end_of_utterance>). The reserved tokens are left out here. transformers only
# looks these tokens up by their strings (Idefics3Processor.__init__: row_col_ids for i, j in range(6); SmolVLM /
# Idefics3 processors' fake_image_token, image_token, global image token, end_of_utterance).
SMOLVLM_ADDED = (["<global-img>"] + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
                 + ["<fake_token_around_image>", "<image>", "<end_of_utterance>"])

# HuggingFaceTB/SmolVLM-256M-Instruct's chat template: transformers' processing_smolvlm.DEFAULT_CHAT_TEMPLATE
# without its video branch (the hub checkpoints predate video support). check_chat_template() verifies that
# against the installed source.
SMOLVLM_CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}")

NEW_TOKENS = 32
MIN_DISTINCT = 12
MARGIN_FACTOR = 1e-3
MAX_SEEDS = 200

# ---------------------------------------------------------------------------------------------------------------
# Source images, made from scikit-image's bundled sample data (skimage/data/*, scikit-image 0.26.0 wheel). The
# licence of each photo is quoted from its loader's docstring in skimage/data/_fetchers.py; the package itself is
# BSD-3-Clause (scikit_image-0.26.0.dist-info/LICENSE.txt).

SKIMAGE_LICENSES = {
    "astronaut.png": "astronaut(): 'No known copyright restrictions, released into the public domain.' (NASA, "
                     "Eileen Collins)",
    "coffee.png": "coffee(): 'No copyright restrictions. CC0 by the photographer (Rachel Michetti).'",
    "chelsea.png": "chelsea(): 'No copyright restrictions. CC0 by the photographer (Stefan van der Walt).'",
    "camera.png": "camera(): 'No copyright restrictions. CC0 by the photographer (Lav Varshney).'",
    "rocket.jpg": "rocket(): SpaceX launch photo 'released in the public domain'",
    "hubble_deep_field.jpg": "hubble_deep_field(): NASA, 'may be freely used in the public domain'",
}

# name -> how it is made. All resizes are PIL LANCZOS on the decoded 8-bit source.
IMAGES = {
    "astronaut.png": dict(src="astronaut.png", crop=None, size=(128, 128), mode="RGB", fmt="PNG",
                          note="square RGB PNG"),
    "coffee.png": dict(src="coffee.png", crop=(0, 20, 600, 380), size=(150, 90), mode="RGB", fmt="PNG",
                       note="non-square (5:3) RGB PNG"),
    "chelsea_rgba.png": dict(src="chelsea.png", crop=None, size=(113, 75), mode="RGBA", fmt="PNG",
                             note="RGBA PNG, odd size; alpha: left to right ramp 0..255 over the middle columns, "
                                  "a fully transparent left band, a fully opaque right band and a 50% transparent "
                                  "bottom strip"),
    "camera_gray.jpg": dict(src="camera.png", crop=(120, 20, 420, 486), size=(45, 70), mode="L", fmt="JPEG",
                            jpeg=dict(quality=90), note="grayscale (1-component) baseline JPEG, portrait, "
                                                        "smaller than longest_edge (upscaled by the processor)"),
    "rocket_exif6.jpg": dict(src="rocket.jpg", crop=(20, 0, 620, 400), size=(120, 80), mode="RGB", fmt="JPEG",
                             orientation=6, jpeg=dict(quality=90),
                             note="baseline 4:2:0 JPEG stored rotated (80x120 pixels) with EXIF Orientation 6; "
                                  "upright (after ImageOps.exif_transpose) it is 120x80"),
    "hubble_exif8_progressive.jpg": dict(src="hubble_deep_field.jpg", crop=None, size=(100, 87), mode="RGB",
                                         fmt="JPEG", orientation=8, jpeg=dict(quality=88, progressive=True),
                                         note="progressive 4:2:0 JPEG stored rotated (87x100 pixels) with EXIF "
                                              "Orientation 8; upright it is 100x87"),
}

# Stored pixels are the upright image transposed by the inverse of what exif_transpose applies for the tag.
_STORE_TRANSPOSE = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def _skimage_data_dir():
    import skimage
    return os.path.join(os.path.dirname(skimage.__file__), "data")


def make_images():
    """Writes tests/fixtures/images/* and images.json; deterministic for the pinned Pillow."""
    os.makedirs(IMAGES_DIR, exist_ok=True)
    src_dir = _skimage_data_dir()
    info = {}
    for name, spec in IMAGES.items():
        src_path = os.path.join(src_dir, spec["src"])
        with open(src_path, "rb") as f:
            src_bytes = f.read()
        im = Image.open(io.BytesIO(src_bytes))
        im.load()
        if spec["crop"]:
            im = im.crop(spec["crop"])
        im = im.convert("RGB" if spec["mode"] in ("RGB", "RGBA") else spec["mode"])
        im = im.resize(spec["size"], Image.Resampling.LANCZOS)
        if spec["mode"] == "RGBA":
            w, h = im.size
            a = np.zeros((h, w), np.uint8)
            x0, x1 = 16, w - 16
            ramp = np.clip(np.round((np.arange(w) - x0) * 255.0 / (x1 - x0)), 0, 255).astype(np.uint8)
            a[:, :] = ramp[None, :]
            a[h - 10:, :] = 128
            im = Image.fromarray(np.dstack([np.asarray(im), a]), "RGBA")
        kw = {}
        if spec.get("orientation"):
            im = im.transpose(_STORE_TRANSPOSE[spec["orientation"]])
            exif = Image.Exif()
            exif[ExifTags.Base.Orientation] = spec["orientation"]
            kw["exif"] = exif.tobytes()
        if spec["fmt"] == "JPEG":
            kw.update(spec["jpeg"])
        else:
            kw["optimize"] = False
        buf = io.BytesIO()
        im.save(buf, spec["fmt"], **kw)
        data = buf.getvalue()
        with open(os.path.join(IMAGES_DIR, name), "wb") as f:
            f.write(data)
        check = Image.open(io.BytesIO(data))
        upright = ImageOps.exif_transpose(check)
        info[name] = {
            "made_from": f"scikit-image {_pkg_version('scikit-image')} wheel: skimage/data/{spec['src']}",
            "source_sha256": sha256_bytes(src_bytes),
            "source_license": SKIMAGE_LICENSES[spec["src"]],
            "steps": (([f"crop box (left, upper, right, lower) = {list(spec['crop'])}"] if spec["crop"] else [])
                      + [f"convert('{'RGB' if spec['mode'] in ('RGB', 'RGBA') else spec['mode']}')",
                         f"resize({list(spec['size'])}, LANCZOS)"]
                      + (["add alpha channel (see note)"] if spec["mode"] == "RGBA" else [])
                      + ([f"transpose({_STORE_TRANSPOSE[spec['orientation']].name}) and EXIF Orientation="
                          f"{spec['orientation']}"] if spec.get("orientation") else [])
                      + [f"save {spec['fmt']} {json.dumps(spec.get('jpeg', {}))}"]),
            "note": spec["note"],
            "file_mode": check.mode, "file_size_wh": list(check.size),
            "exif_orientation": check.getexif().get(ExifTags.Base.Orientation),
            "jpeg": ({"progressive": bool(check.info.get("progressive")),
                      "subsampling": {0: "4:4:4", 1: "4:2:2", 2: "4:2:0", -1: "n/a (1 component)"}[
                          JpegImagePlugin.get_sampling(check)]} if spec["fmt"] == "JPEG" else None),
            "upright_size_wh": list(upright.size),
            "bytes": len(data), "sha256": sha256_bytes(data),
        }
    write_json(os.path.join(IMAGES_DIR, "images.json"), {
        "generator": "tools/fixtures_smolvlm.py (make_images)",
        "licenses": "scikit-image is BSD-3-Clause; each photo's own terms are quoted from skimage/data/_fetchers.py "
                    "(public domain or CC0)",
        "pillow": PIL.__version__, "libjpeg_turbo": features.version("libjpeg_turbo"),
        "zlib": features.version("zlib"),
        "images": info,
    })
    for f in list(IMAGES) + ["images.json"]:
        os.chmod(os.path.join(IMAGES_DIR, f), 0o644)
    return info


def _pkg_version(name):
    from importlib.metadata import version
    return version(name)


def load_upright(path):
    """What mmrt must do when reading a file: decode, apply the EXIF orientation as ImageOps.exif_transpose does
    (transformers.image_utils.load_image does the same), and keep alpha so that the image processor's
    convert_to_rgb composites it on white."""
    im = Image.open(path)
    im.load()
    return ImageOps.exif_transpose(im)


# ---------------------------------------------------------------------------------------------------------------
# Geometry and model sizes. The real SmolVLM-256M-Instruct has longest_edge 2048, max_image_size 512 (= vision
# image_size), patch 16, scale_factor 4 (64 tokens per tile); these are scaled down so that images give several
# tiles while everything stays small.

GEOMETRIES = {
    # p4: 8x8 patches per tile, pixel shuffle 2 -> 16 tokens per tile; up to 3x3 tiles + global
    "p4-m32-r2": dict(patch_size=4, image_size=32, scale_factor=2, longest_edge=96),
    # odd patch size, 16x16 patches per tile, pixel shuffle 4 (as the real 256M/500M) -> 16 tokens per tile
    "p3-m48-r4": dict(patch_size=3, image_size=48, scale_factor=4, longest_edge=144),
}

VISION = dict(hidden_size=32, intermediate_size=80, num_hidden_layers=2, num_attention_heads=2,
              hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6)
TEXT = dict(hidden_size=64, intermediate_size=144, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-5, rope_theta=100000.0,
            max_position_embeddings=1024, hidden_act="silu", attention_bias=False, mlp_bias=False)

PROMPT_DESCRIBE = "Can you describe this image?"

def ask(text):
    """A user turn: one image, then text."""
    return [{"type": "image"}, {"type": "text", "text": text}]


def case(description, images, content, geometry="p4-m32-r2", arch="idefics3", split=True,
         save_dtype=torch.float32, tie=False, layout="current", **extra):
    return dict(description=description, arch=arch, geometry=geometry, split=split, images=images, content=content,
                save_dtype=save_dtype, tie=tie, layout=layout, **extra)


CASES = {
    "split": case(
        "splitting on: square RGB PNG -> 3x3 tiles + global image; Idefics3 (as SmolVLM-256M-Instruct)",
        ["astronaut.png"], ask(PROMPT_DESCRIBE)),
    "nosplit": case(
        "splitting off (do_image_splitting false): the same image resized to one max_image_size "
        "square tile; processor files in the legacy 4.x / hub layout (preprocessor_config.json + "
        "processor_config.json + chat_template.json)",
        ["astronaut.png"], ask(PROMPT_DESCRIBE), split=False, layout="legacy"),
    "nonsquare": case(
        "non-square (5:3) image, odd patch size 3 and scale_factor 4; resize_for_vision_encoder "
        "changes the aspect (144x86 -> 144x96) -> 2x3 tiles + global; weights saved in bfloat16; "
        "also holds an encoder-only check with padded tiles (padded.*)",
        ["coffee.png"], ask("What is on the table?"), geometry="p3-m48-r4", save_dtype=torch.bfloat16,
        padded_check=True),
    "rgba": case(
        "RGBA PNG with a full alpha ramp, composited on white by the image processor's convert_to_rgb "
        "(PIL alpha_composite); tied word embeddings (no lm_head.weight in model.safetensors)",
        ["chelsea_rgba.png"], ask("What animal is this?"), tie=True),
    "gray": case(
        "grayscale JPEG, portrait, smaller than longest_edge: upscaled 45x70 -> 62x96 (odd width "
        "61 bumped to 62), then 64x96 for the encoder -> 3x2 tiles + global",
        ["camera_gray.jpg"], ask(PROMPT_DESCRIBE)),
    "exif": case(
        "JPEG with EXIF Orientation 6 (stored 80x120, upright 120x80), odd patch size / scale 4",
        ["rocket_exif6.jpg"], ask("Where was this photo taken?"), geometry="p3-m48-r4"),
    "two-images": case(
        "two images in one prompt with text between them (non-square PNG + progressive JPEG with EXIF "
        "Orientation 8); SmolVLMForConditionalGeneration / SmolVLMProcessor (model_type smolvlm, as "
        "SmolVLM2)",
        ["coffee.png", "hubble_exif8_progressive.jpg"],
        [{"type": "text", "text": "Compare "}, {"type": "image"}, {"type": "text", "text": " and "},
         {"type": "image"}, {"type": "text", "text": ". What differs?"}], arch="smolvlm"),
}

INIT = {"linear_gain": 2.0, "embed_std": 1.0, "lm_head_std": 1.0, "norm_weight_range": [0.5, 1.5],
        "bias_std": 0.2, "vision_pos_std": 0.5, "patch_gain": 2.0}


# ---------------------------------------------------------------------------------------------------------------
# Tokenizer and processor

def check_chat_template():
    """The template above must be the installed DEFAULT_CHAT_TEMPLATE minus its video branch."""
    video = "{% elif line['type'] == 'video' %}{{ '<video>' }}"
    assert processing_smolvlm.DEFAULT_CHAT_TEMPLATE.replace(video, "") == SMOLVLM_CHAT_TEMPLATE


def build_tokenizer(out_dir):
    """SmolLM2 pipeline with a small vocab (as the Llama fixtures) + SmolVLM's added tokens; writes tokenizer.json
    and a SmolVLM-like tokenizer_config.json into out_dir (the processor then re-saves them its own way)."""
    tok = fc.train_smollm2_tokenizer(out_dir, TOKENIZER_VOCAB, added=SMOLVLM_ADDED)
    assert [tok.token_to_id(t) for t in SMOLVLM_ADDED] == list(range(TOKENIZER_VOCAB,
                                                                     TOKENIZER_VOCAB + len(SMOLVLM_ADDED)))
    fc.write_tokenizer_config(out_dir, tok, fixtures_tokenizer.SMOLLM2_SPECIALS + SMOLVLM_ADDED,
                              additional_special_tokens=["<fake_token_around_image>", "<image>",
                                                         "<end_of_utterance>"],
                              eos_token="<end_of_utterance>")
    return tok


def image_processor_kwargs(case):
    g = GEOMETRIES[CASES[case]["geometry"]]
    return dict(do_resize=True, size={"longest_edge": g["longest_edge"]}, resample=1,
                do_image_splitting=CASES[case]["split"], max_image_size={"longest_edge": g["image_size"]},
                do_rescale=True, rescale_factor=1 / 255, do_normalize=True, image_mean=[0.5, 0.5, 0.5],
                image_std=[0.5, 0.5, 0.5], do_convert_rgb=True, do_pad=True)


def image_seq_len(geom):
    return (geom["image_size"] // geom["patch_size"]) ** 2 // geom["scale_factor"] ** 2


def make_processor(case, tok_dir):
    spec = CASES[case]
    g = GEOMETRIES[spec["geometry"]]
    hf_tok = AutoTokenizer.from_pretrained(tok_dir)
    if spec["arch"] == "idefics3":
        ip = Idefics3ImageProcessorPil(**image_processor_kwargs(case))
        proc = Idefics3Processor(image_processor=ip, tokenizer=hf_tok, image_seq_len=image_seq_len(g),
                                 chat_template=SMOLVLM_CHAT_TEMPLATE)
    else:
        ip = SmolVLMImageProcessorPil(**image_processor_kwargs(case))
        vp = SmolVLMVideoProcessor(size={"longest_edge": g["longest_edge"]},
                                   max_image_size={"longest_edge": g["image_size"]})
        proc = SmolVLMProcessor(image_processor=ip, tokenizer=hf_tok, video_processor=vp,
                                image_seq_len=image_seq_len(g), chat_template=SMOLVLM_CHAT_TEMPLATE)
    return proc


def save_processor(case, proc, d):
    """processor.save_pretrained; for layout 'legacy' rewrite the processor files the way transformers 4.x wrote
    them (and the hub SmolVLM-256M/500M-Instruct repos have them): preprocessor_config.json (the image processor
    alone), processor_config.json with image_seq_len + processor_class, chat_template.json."""
    proc.save_pretrained(d)
    if CASES[case]["layout"] != "legacy":
        return
    pc = json.load(open(os.path.join(d, "processor_config.json")))
    ipc = dict(pc.pop("image_processor"))
    ipc["processor_class"] = pc["processor_class"]
    _write_hf_json(os.path.join(d, "preprocessor_config.json"), ipc)
    _write_hf_json(os.path.join(d, "processor_config.json"), pc)
    os.remove(os.path.join(d, "chat_template.jinja"))
    _write_hf_json(os.path.join(d, "chat_template.json"), {"chat_template": proc.chat_template})


def load_processor(d):
    """AutoProcessor with the slow (PIL) image processor. AutoProcessor's backend='pil' would also apply to the
    SmolVLM video processor, which only has a torchvision backend, so the image processor is loaded on its own."""
    proc = AutoProcessor.from_pretrained(d)
    proc.image_processor = AutoImageProcessor.from_pretrained(d, backend="pil")
    return proc


def _write_hf_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------------------------
# Preprocessing: an independent replication of Idefics3ImageProcessorPil with plain PIL/numpy, checked against the
# processor's own intermediate images (captured by wrapping its resize) and its pixel_values.

def longest_edge_size(h, w, max_len):
    """_resize_output_size_rescale_to_max_len + _resize_output_size_scale_below_upper_bound (MAX_IMAGE_SIZE 4096)."""
    aspect = w / h
    if w >= h:
        w = max_len
        h = int(w / aspect)
        if h % 2:
            h += 1
    else:
        h = max_len
        w = int(h * aspect)
        if w % 2:
            w += 1
    h, w = max(h, 1), max(w, 1)
    aspect = w / h
    if w >= h and w > 4096:
        w, h = 4096, int(4096 / aspect)
    elif h > w and h > 4096:
        h, w = 4096, int(4096 * aspect)
    return max(h, 1), max(w, 1)


def vision_encoder_size(h, w, m):
    aspect = w / h
    if w >= h:
        w = math.ceil(w / m) * m
        h = int(w / aspect)
        h = math.ceil(h / m) * m
    else:
        h = math.ceil(h / m) * m
        w = int(h * aspect)
        w = math.ceil(w / m) * m
    return h, w


def pil_resize(arr, h, w):
    """uint8 HWC -> uint8 HWC, PIL LANCZOS (no reducing_gap), as transformers.image_transforms.resize does."""
    return np.asarray(Image.fromarray(arr).resize((w, h), resample=Image.Resampling.LANCZOS))


def to_rgb(im):
    """transformers.image_transforms.convert_to_rgb for a PIL image: alpha (an 'A' band or a 'transparency' entry)
    is composited on opaque white with PIL's alpha_composite, anything else is convert('RGB')."""
    if "A" in im.getbands() or im.info.get("transparency") is not None:
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, im).convert("RGB"))
    return np.asarray(im.convert("RGB"))


def normalize(frames):
    """rescale (float64 multiply by 1/255, cast to float32), then normalize ((x - 0.5) / 0.5 in float32); HWC->CHW"""
    x = (frames.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.float32(0.5)) / np.float32(0.5)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def replicate(im, kw):
    m = kw["max_image_size"]["longest_edge"]
    out = {"decoded": to_rgb(im)}
    h0, w0 = out["decoded"].shape[:2]
    h1, w1 = longest_edge_size(h0, w0, kw["size"]["longest_edge"])
    out["resized"] = pil_resize(out["decoded"], h1, w1)
    resizes = [out["resized"]]
    if kw["do_image_splitting"]:
        h2, w2 = vision_encoder_size(h1, w1, m)
        out["vision_resized"] = pil_resize(out["resized"], h2, w2)
        resizes.append(out["vision_resized"])
        if h2 > m or w2 > m:
            rows, cols = h2 // m, w2 // m
            tiles = [out["vision_resized"][r * m:(r + 1) * m, c * m:(c + 1) * m] for r in range(rows)
                     for c in range(cols)]
            out["global"] = pil_resize(out["vision_resized"], m, m)
            resizes.append(out["global"])
            frames = tiles + [out["global"]]
        else:
            rows = cols = 0
            frames = [out["vision_resized"]]
    else:
        rows = cols = 0
        out["global"] = pil_resize(out["resized"], m, m)
        resizes.append(out["global"])
        frames = [out["global"]]
    out["frames"] = np.stack(frames)
    out["rows"], out["cols"] = rows, cols
    out["resizes"] = resizes
    return out


def run_processor(proc, images, text):
    """The processor call with its image processor's resize wrapped to capture every intermediate 8-bit image."""
    ip = proc.image_processor
    captured = []
    orig = ip.resize

    def spy(image, size, resample=None, **kw):
        res = orig(image, size, resample=resample, **kw)
        assert res.dtype == np.uint8 and image.dtype == np.uint8
        captured.append((np.ascontiguousarray(image.transpose(1, 2, 0)), np.ascontiguousarray(res.transpose(1, 2, 0))))
        return res

    ip.resize = spy
    try:
        out = proc(images=images, text=text, return_tensors="pt", return_row_col_info=True)
    finally:
        del ip.resize
    return out, captured


def expand_prompt(text, infos, seq_len):
    """Independent re-implementation of the processors' <image> expansion (Idefics3Processor.replace_image_token,
    processing_smolvlm.get_image_prompt_string)."""
    parts = text.split("<image>")
    assert len(parts) == len(infos) + 1
    res = parts[0]
    for info, tail in zip(infos, parts[1:]):
        rows, cols = info["rows"], info["cols"]
        img = "<image>" * seq_len
        if rows == 0 and cols == 0:
            s = "<fake_token_around_image><global-img>" + img + "<fake_token_around_image>"
        else:
            s = ""
            for r in range(rows):
                for c in range(cols):
                    s += f"<fake_token_around_image><row_{r + 1}_col_{c + 1}>" + img
                s += "\n"
            s += "\n<fake_token_around_image><global-img>" + img + "<fake_token_around_image>"
        res += s + tail
    return res


# ---------------------------------------------------------------------------------------------------------------
# Model

def make_config(case, vocab_size, tok):
    spec = CASES[case]
    g = GEOMETRIES[spec["geometry"]]
    vision = dict(VISION, image_size=g["image_size"], patch_size=g["patch_size"], num_channels=3)
    text = dict(TEXT, vocab_size=vocab_size, bos_token_id=1, eos_token_id=2, pad_token_id=2,
                tie_word_embeddings=spec["tie"])
    cls = Idefics3Config if spec["arch"] == "idefics3" else SmolVLMConfig
    cfg = cls(vision_config=vision, text_config=text, scale_factor=g["scale_factor"],
              image_token_id=tok.token_to_id("<image>"), tie_word_embeddings=spec["tie"], pad_token_id=2)
    cfg._attn_implementation = "eager"
    return cfg


def model_class(case):
    return Idefics3ForConditionalGeneration if CASES[case]["arch"] == "idefics3" else SmolVLMForConditionalGeneration


def _init_value(name, p, g):
    if name.endswith("norm.weight") or name.endswith("layer_norm1.weight") or name.endswith("layer_norm2.weight") \
            or name.endswith("post_layernorm.weight"):
        return fc.norm_weight(INIT, p, g)
    if name.endswith(".bias"):
        return INIT["bias_std"] * torch.randn(p.shape, generator=g)
    if name == "model.text_model.embed_tokens.weight":
        return INIT["embed_std"] * torch.randn(p.shape, generator=g)
    if name == "lm_head.weight":
        return INIT["lm_head_std"] * torch.randn(p.shape, generator=g)
    if name.endswith("position_embedding.weight"):
        return INIT["vision_pos_std"] * torch.randn(p.shape, generator=g)
    if name.endswith("patch_embedding.weight"):
        return fc.linear_weight(INIT["patch_gain"], p.shape[1] * p.shape[2] * p.shape[3], p, g)
    if p.dim() == 2 and (name.endswith("proj.weight") or name.endswith("fc1.weight") or name.endswith("fc2.weight")):
        return fc.linear_weight(INIT["linear_gain"], p.shape[1], p, g)
    raise AssertionError(f"unexpected parameter {name}")


def init_weights(model, seed, round_to):
    """Same recipe as the Llama fixtures for the decoder; the vision tower gets non-trivial LayerNorm weights and
    biases, all linear/conv weights N(0, (gain / sqrt(fan_in))^2)."""
    fc.init_weights(model, seed, round_to, _init_value, model.model.text_model.embed_tokens)


def _special_ids(tok):
    return {"eos": tok.token_to_id("<end_of_utterance>"), "image": tok.token_to_id("<image>")}


@torch.no_grad()
def greedy(model, inputs, tok):
    ids = inputs["input_ids"]
    n = ids.shape[1]
    out = model.generate(**inputs, do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=0,
                         output_logits=True, return_dict_in_generate=True)
    new = out.sequences[0, n:].tolist()
    step_logits = torch.cat(out.logits, 0).float()
    sp = _special_ids(tok)
    if sp["image"] in new:  # a generated <image> would be taken for a placeholder by a no-cache forward
        return new, {"new_tokens": len(new), "contains_image_token": True, "distinct": len(set(new)),
                     "contains_eos": None, "min_margin_over_max_abs_logit": float("nan")}
    full = model(input_ids=out.sequences[:, :-1], attention_mask=torch.ones_like(out.sequences[:, :-1]),
                 pixel_values=inputs["pixel_values"], pixel_attention_mask=inputs["pixel_attention_mask"],
                 use_cache=False).logits[0, n - 1:].float()
    # <end_of_utterance> (generation_config eos) and <|im_end|> (text_config eos / pad) are both rejected, so that a
    # runtime stopping at either still produces all the tokens
    contains_eos = bool({sp["eos"], model.generation_config.eos_token_id,
                         model.config.text_config.eos_token_id} & set(new))
    return new, fc.greedy_quality(new, tok.decode(new, skip_special_tokens=False), contains_eos, step_logits, full,
                                  extra={"contains_image_token": sp["image"] in new})


def acceptable(q):
    return not q["contains_image_token"] and fc.acceptable(q, NEW_TOKENS, MIN_DISTINCT, MARGIN_FACTOR)


def find_seed(case, cfg, round_to, inputs, tok):
    rejected = 0
    for seed in range(1, MAX_SEEDS + 1):
        model = fc.random_model(model_class(case), cfg, seed, round_to, init_weights)
        fc.set_generation_config(model, tok.token_to_id("<end_of_utterance>"))
        new, q = greedy(model, inputs, tok)
        if acceptable(q):
            return seed, model, new, q, rejected
        rejected += 1
    raise fc.no_seed(case, MAX_SEEDS)


def pixel_shuffle_ref(x, r):
    """out[I*(w/r)+J, (a*r+b)*D + d] = x[(I*r+a)*w + (J*r+b), d] (checked against Idefics3Connector.pixel_shuffle)"""
    n, s, d = x.shape
    h = w = int(round(s ** 0.5))
    assert h * w == s
    y = x.reshape(n, h // r, r, w // r, r, d)           # [n, I, a, J, b, d]
    y = y.permute(0, 1, 3, 2, 4, 5)                      # [n, I, J, a, b, d]
    return y.reshape(n, (h // r) * (w // r), r * r * d)


@torch.no_grad()
def vision_reference(model, pixel_values, pixel_attention_mask):
    """Runs get_image_features (what the model's forward runs) with hooks on every vision stage."""
    vm = model.model.vision_model
    cap = {}
    hooks = [vm.embeddings.register_forward_hook(lambda m, a, o: cap.__setitem__("embeddings", o)),
             vm.embeddings.position_embedding.register_forward_hook(
                 lambda m, a, o: cap.__setitem__("position_ids", a[0])),
             vm.post_layernorm.register_forward_hook(lambda m, a, o: cap.__setitem__("post_ln", o)),
             model.model.connector.register_forward_hook(lambda m, a, o: cap.__setitem__("connector", o))]
    for i, layer in enumerate(vm.encoder.layers):
        hooks.append(layer.register_forward_hook(lambda m, a, o, i=i: cap.__setitem__(f"layer{i}", o)))
    try:
        feats = model.model.get_image_features(pixel_values, pixel_attention_mask, return_dict=True)
    finally:
        for h in hooks:
            h.remove()
    assert torch.equal(feats.last_hidden_state, cap["post_ln"])
    cfg = model.config
    r = cfg.scale_factor
    ps = pixel_shuffle_ref(cap["post_ln"], r)
    assert torch.equal(ps, model.model.connector.pixel_shuffle(cap["post_ln"], r))
    assert torch.equal(model.model.connector.modality_projection(ps), cap["connector"])
    p = cfg.vision_config.patch_size
    pam = pixel_attention_mask.view(-1, *pixel_attention_mask.shape[-2:])
    patch_mask = pam.unfold(1, p, p).unfold(2, p, p).sum(dim=(-1, -2)) > 0
    n_layers = cfg.vision_config.num_hidden_layers
    return {
        "patch_attention_mask": patch_mask.to(torch.uint8).contiguous(),
        "position_ids": cap["position_ids"].to(torch.int32).contiguous(),
        "embeddings": cap["embeddings"].contiguous(),
        **{f"layer.{i}": cap[f"layer{i}"].contiguous() for i in range(n_layers)},
        "last_hidden_state": cap["post_ln"].contiguous(),
        "pixel_shuffle": ps.contiguous(),
        "connector": cap["connector"].contiguous(),
        "features": torch.cat(feats.pooler_output, 0),
    }


def forward_reference(model, inputs):
    return fc.decoder_reference(model, model.model.text_model, model.config.text_config.num_hidden_layers, **inputs)


@torch.no_grad()
def padded_reference(model, pixel_values):
    """Encoder-only check of padded tiles (the processor never pads within a tile when all tiles are
    max_image_size squares, but the encoder must support it): two tiles in one batch; tile 0 full; tile 1 keeps a
    top-left valid region whose height and width are not multiples of the patch size (partially valid patches
    count as valid), the rest zeroed as the processor's pad does. Exercises the bucketized position ids of a
    non-square valid patch grid and the key-padding mask."""
    p = model.config.vision_config.patch_size
    m = pixel_values.shape[-1]
    hv, wv = m - 2 * p - 1, m - 4 * p + 1
    pv = torch.stack([pixel_values[0], pixel_values[-1]]).clone()
    pv[1, :, hv:, :] = 0
    pv[1, :, :, wv:] = 0
    mask = torch.ones(2, m, m, dtype=torch.long)
    mask[1, hv:, :] = 0
    mask[1, :, wv:] = 0
    ref = vision_reference(model, pv[None], mask[None])
    nh, nw = math.ceil(hv / p), math.ceil(wv / p)
    assert int(ref["patch_attention_mask"][1].sum()) == nh * nw
    return pv, mask, ref, {"valid_pixels_hw": [hv, wv], "valid_patches_hw": [nh, nw]}


# ---------------------------------------------------------------------------------------------------------------

REFERENCE_DOC = {
    "image.<k>.decoded": "U8 [H0, W0, 3] image k of the prompt as handed to the image processor: file decoded by "
                         "PIL, ImageOps.exif_transpose applied, then the processor's convert_to_rgb (alpha "
                         "composited on white with PIL alpha_composite; gray -> RGB by replication)",
    "image.<k>.resized": "U8 [H1, W1, 3] after the first resize (longest edge -> size.longest_edge, PIL LANCZOS)",
    "image.<k>.vision_resized": "U8 [H2, W2, 3] after resize_for_vision_encoder (H2, W2 multiples of "
                                "max_image_size; PIL LANCZOS; splitting on only). Tiles are its row-major "
                                "max_image_size x max_image_size crops",
    "image.<k>.global": "U8 [m, m, 3] the global image: vision_resized resized to m x m (splitting on, rows*cols "
                        "> 0), or resized resized to m x m (splitting off); absent when splitting on gave a "
                        "single tile",
    "pixel_values": "F32 [n_tiles, 3, m, m] processor output (its batch dim of 1 dropped): tiles of all images in "
                    "prompt order, each image's sub-tiles row-major then its global image; "
                    "(f32(u8 * (1/255 in double)) - 0.5f) / 0.5f",
    "pixel_attention_mask": "U8 [n_tiles, m, m] processor output (int64 there), 1 = valid pixel",
    "vision.patch_attention_mask": "U8 [n_tiles, m/p, m/p] patch is valid if any of its pixels is",
    "vision.position_ids": "I32 [n_tiles, (m/p)^2] ids fed to the vision position embedding",
    "vision.embeddings": "F32 [n_tiles, (m/p)^2, Dv] patch embedding (conv) + position embedding",
    "vision.layer.<i>": "F32 [n_tiles, (m/p)^2, Dv] output of vision encoder layer i (before post_layernorm)",
    "vision.last_hidden_state": "F32 [n_tiles, (m/p)^2, Dv] encoder output after post_layernorm",
    "connector.out": "F32 [n_tiles, image_seq_len, Dt] connector output = modality_projection(pixel_shuffle("
                     "vision.last_hidden_state)), the image features: the k-th <image> token of the prompt gets row "
                     "k of connector.out reshaped to [-1, Dt] (masked_scatter). The pixel shuffle (not stored) is "
                     "out[I*(w/r)+J, (a*r+b)*Dv + d] = x[(I*r+a)*w + (J*r+b), d], w = m/p, checked against "
                     "Idefics3Connector.pixel_shuffle by the generator",
    "input_ids": "I32 [n] expanded prompt (processor output)",
    "hidden.<i>": "F32 [n, Dt] decoder hidden states, i = 0..num_hidden_layers: same semantics as the Llama "
                  "fixtures (hidden.0 = input embeddings after the image features are scattered in; hidden.L = "
                  "after the final RMSNorm)",
    "final_prenorm": "F32 [n, Dt] output of the last decoder layer before the final RMSNorm",
    "logits": "F32 [n, vocab] logits of the prompt forward pass (no cache)",
    "greedy_ids": f"I32 [{NEW_TOKENS}] new tokens of model.generate(**processor_outputs, do_sample=False, "
                  f"max_new_tokens={NEW_TOKENS})",
    "padded.*": "(nonsquare case only) encoder-only check with a padded tile, see padded_check in reference.json: "
                "padded.pixel_values F32 [2, 3, m, m], padded.pixel_attention_mask U8 [2, m, m], and "
                "padded.vision.* / padded.connector.out as above for that batch",
}


def _u8(a):
    return torch.from_numpy(np.array(a, dtype=np.uint8, copy=True))


def encoder_tensors(prefix, pixel_values, pixel_attention_mask, vref):
    """<prefix>pixel_values, <prefix>pixel_attention_mask, <prefix>vision.*, <prefix>connector.out"""
    tensors = {f"{prefix}pixel_values": pixel_values.contiguous(),
               f"{prefix}pixel_attention_mask": pixel_attention_mask.to(torch.uint8).contiguous()}
    for name in ("patch_attention_mask", "position_ids", "embeddings", "last_hidden_state") + tuple(
            f"layer.{i}" for i in range(VISION["num_hidden_layers"])):
        tensors[f"{prefix}vision.{name}"] = vref[name]
    tensors[f"{prefix}connector.out"] = vref["connector"]
    return tensors


def fast_vs_slow(case, images, slow_pv):
    """The torchvision ('fast') image processor, which AutoImageProcessor picks by default when torchvision >= 0.27
    is installed, on the same inputs."""
    cls = Idefics3ImageProcessor if CASES[case]["arch"] == "idefics3" else SmolVLMImageProcessor
    fast = cls(**image_processor_kwargs(case))
    out = fast(images=[images], return_tensors="pt", return_row_col_info=True)
    fpv = out["pixel_values"][0]
    res = {"class": cls.__name__, "backend": "torchvision " + _pkg_version("torchvision"),
           "same_shape": list(fpv.shape) == list(slow_pv.shape)}
    if res["same_shape"]:
        d = (fpv - slow_pv).abs()
        res.update({"max_abs_diff": d.max().item(), "mean_abs_diff": d.mean().item(),
                    "max_abs_diff_in_8bit_levels": round(d.max().item() * 127.5, 3),
                    "fraction_of_values_differing": (d > 0).float().mean().item()})
    else:
        res["fast_shape"] = list(fpv.shape)
    return res


def build_case(case, tok_dir, tok):
    spec = CASES[case]
    g = GEOMETRIES[spec["geometry"]]
    d = os.path.join(OUT_DIR, case)
    fc.fresh_dir(d)

    proc = make_processor(case, tok_dir)
    save_processor(case, proc, d)
    # Everything below uses the processor read back from the case directory, as a user would load it.
    proc = load_processor(d)
    assert type(proc.image_processor).__name__ == ("Idefics3ImageProcessorPil" if spec["arch"] == "idefics3"
                                                   else "SmolVLMImageProcessorPil"), type(proc.image_processor)
    messages = [{"role": "user", "content": spec["content"]}]
    text = proc.apply_chat_template(messages, add_generation_prompt=True)
    images = [load_upright(os.path.join(IMAGES_DIR, f)) for f in spec["images"]]
    inputs, captured = run_processor(proc, images, text)

    kw = image_processor_kwargs(case)
    reps = [replicate(im, kw) for im in images]
    # the processor's intermediate 8-bit images, in call order: the first resize of every image, then every vision
    # resize (splitting on) or square resize (splitting off), then every global resize
    expect = [r["resizes"][i] for i in range(3) for r in reps if i < len(r["resizes"])]
    assert len(captured) == len(expect), (len(captured), len(expect))
    for (_, got), want in zip(captured, expect):
        assert got.shape == want.shape and np.array_equal(got, want)
    pv = inputs["pixel_values"][0]
    mine = torch.from_numpy(normalize(np.concatenate([r["frames"] for r in reps])))
    assert pv.dtype == torch.float32 and torch.equal(pv, mine), "pixel_values not reproduced bit for bit"
    ipo = proc.image_processor(images=[images], return_tensors="pt", return_row_col_info=True)
    assert torch.equal(ipo["pixel_values"][0], pv)
    assert ipo["rows"] == [[r["rows"] for r in reps]] and ipo["cols"] == [[r["cols"] for r in reps]], ipo["rows"]
    assert bool(inputs["pixel_attention_mask"].all())

    seq_len = image_seq_len(g)
    expanded = expand_prompt(text, [{"rows": r["rows"], "cols": r["cols"]} for r in reps], seq_len)
    ids = inputs["input_ids"][0].tolist()
    saved_tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))  # what the C side reads
    assert saved_tok.encode(expanded, add_special_tokens=True).ids == ids, "expanded prompt ids differ"
    assert saved_tok.encode(expanded, add_special_tokens=False).ids == ids
    assert tok.encode(expanded).ids == ids
    image_id = tok.token_to_id("<image>")
    n_tiles = pv.shape[0]
    assert ids.count(image_id) == n_tiles * seq_len

    cfg = make_config(case, tok.get_vocab_size(), tok)
    round_to = spec["save_dtype"]
    model_inputs = {k: inputs[k] for k in ("input_ids", "attention_mask", "pixel_values", "pixel_attention_mask")}
    seed, model, new, q, rejected = find_seed(case, cfg, round_to, model_inputs, tok)

    vref = vision_reference(model, inputs["pixel_values"], inputs["pixel_attention_mask"])
    assert torch.equal(vref["features"], vref["connector"].reshape(-1, vref["connector"].shape[-1]))
    fref = forward_reference(model, model_inputs)
    pos = torch.tensor(ids) == image_id
    assert torch.equal(fref["hidden"][0][pos], vref["features"]), "image features not where the <image> tokens are"

    tensors = {}
    for k, r in enumerate(reps):
        tensors[f"image.{k}.decoded"] = _u8(r["decoded"])
        tensors[f"image.{k}.resized"] = _u8(r["resized"])
        if "vision_resized" in r:
            tensors[f"image.{k}.vision_resized"] = _u8(r["vision_resized"])
        if "global" in r:
            tensors[f"image.{k}.global"] = _u8(r["global"])
    tensors.update(encoder_tensors("", pv, inputs["pixel_attention_mask"][0], vref))
    tensors.update(fc.decoder_tensors("", ids, fref, new))
    padded_info = None
    if spec.get("padded_check"):
        ppv, pmask, pref, padded_info = padded_reference(model, pv)
        tensors.update(encoder_tensors("padded.", ppv, pmask, pref))
        padded_info["position_ids_tile1_valid_grid"] = pref["position_ids"][1].view(
            *[g["image_size"] // g["patch_size"]] * 2)[:padded_info["valid_patches_hw"][0],
                                                       :padded_info["valid_patches_hw"][1]].tolist()
    fc.save_reference(d, tensors)

    fvs = fast_vs_slow(case, images, pv)
    rgba_note = None
    if any("A" in im.getbands() for im in images):
        dropped = [np.asarray(im.convert("RGB")) for im in images]
        rgba_note = {
            "max_abs_diff_composited_vs_alpha_dropped": int(max(
                np.abs(r["decoded"].astype(int) - x.astype(int)).max() for r, x in zip(reps, dropped))),
            "note": "passing a PIL RGBA image composites it on white (convert_to_rgb); passing a file path instead "
                    "goes through transformers.image_utils.load_image, whose image.convert('RGB') DROPS alpha "
                    "without compositing. The fixture follows the first (what the issue asks).",
        }

    # save the model (weights already rounded to the storage dtype), read it back and check logits bit for bit
    ref_logits = tensors["logits"]
    back = fc.save_and_reload(model, model_class(case), d, round_to)
    del model
    with torch.no_grad():
        assert torch.equal(back(**model_inputs, use_cache=False).logits[0], ref_logits), case

    files = fc.finish_files(d)
    from safetensors import safe_open
    with safe_open(os.path.join(d, "model.safetensors"), "pt") as f:
        weight_names = sorted(f.keys())
    config_json = json.load(open(os.path.join(d, "config.json")))
    texts = fc.decoded_texts(proc.tokenizer, saved_tok, new, "text")
    tiles_info = []
    off = 0
    for k, (r, fname) in enumerate(zip(reps, spec["images"])):
        nt = r["frames"].shape[0]
        tiles_info.append({
            "file": f"tests/fixtures/images/{fname}",
            "decoded_hw": list(r["decoded"].shape[:2]), "resized_hw": list(r["resized"].shape[:2]),
            "vision_resized_hw": list(r["vision_resized"].shape[:2]) if "vision_resized" in r else None,
            "rows": r["rows"], "cols": r["cols"], "n_tiles": nt, "pixel_values_rows": [off, off + nt],
            "tile_order": "row-major sub-tiles, then the global image" if r["rows"] else "single image",
        })
        off += nt
    write_json(os.path.join(d, "reference.json"), {
        "case": case,
        "description": spec["description"],
        "versions": all_versions(),
        "files": files,
        "model": {"class": model_class(case).__name__, "model_type": config_json["model_type"],
                  "attn_implementation": "eager", "saved_dtype": str(round_to).replace("torch.", ""),
                  "reference_compute_dtype": "float32", "tie_word_embeddings": spec["tie"],
                  "weights_note": "weights were rounded to the saved dtype first, then every reference was "
                                  "computed in float32 from those values; from_pretrained(dtype=float32) of this "
                                  "directory reproduces the reference logits exactly",
                  "weight_names": weight_names,
                  "init": {"seed": seed, **INIT, "seeds_rejected": rejected}},
        "config_json": config_json,
        "processor": {
            "class": type(proc).__name__,
            "image_processor_class_used": type(proc.image_processor).__name__ + " (slow, PIL backend)",
            "layout": spec["layout"],
            "load": "AutoProcessor.from_pretrained(<case dir>) with its image_processor replaced by "
                    "AutoImageProcessor.from_pretrained(<case dir>, backend='pil'): without backend='pil', "
                    "transformers 5.23 picks the torchvision (fast) image processor when torchvision >= 0.27 is "
                    "installed",
            "image_processor_settings": {k: v for k, v in kw.items()},
            "image_seq_len": seq_len,
            "geometry": {**g, "name": spec["geometry"], "patches_per_tile": (g["image_size"] // g["patch_size"]) ** 2},
            "preprocessing_checks": "every 8-bit intermediate (captured by wrapping the processor's resize) equals "
                                    "an independent PIL/numpy replication, and the replication reproduces "
                                    "pixel_values bit for bit",
        },
        "images": tiles_info,
        "n_tiles": int(n_tiles),
        "pixel_values_shape_from_processor": list(inputs["pixel_values"].shape),
        "rgba": rgba_note,
        "fast_vs_slow_image_processor": fvs,
        "prompt": {"messages": messages, "add_generation_prompt": True, "chat_text": text,
                   "expanded_text": expanded, "n_tokens": len(ids), "n_image_tokens": ids.count(image_id),
                   "tokenize": "tokenizer.json with add_special_tokens=True (adds nothing: ByteLevel "
                               "post-processor); equals the processor's input_ids",
                   "special_token_ids": {t: tok.token_to_id(t) for t in fixtures_tokenizer.SMOLLM2_SPECIALS
                                         + ["<global-img>", "<row_1_col_1>", "<row_6_col_6>",
                                            "<fake_token_around_image>", "<image>", "<end_of_utterance>"]}},
        "tensors": REFERENCE_DOC,
        "padded_check": padded_info,
        "generation": {"call": f"model.generate(input_ids, attention_mask, pixel_values, pixel_attention_mask, "
                               f"do_sample=False, max_new_tokens={NEW_TOKENS}) in float32, eager attention; "
                               f"generation_config eos_token_id = <end_of_utterance>",
                       "criteria": f"{NEW_TOKENS} new tokens, no eos (neither <end_of_utterance> nor "
                                   f"<|im_end|>), no <image> token, >= {MIN_DISTINCT} distinct, "
                                   f"no U+0000, min over steps of (top1 - top2) >= {MARGIN_FACTOR} * max |logit| "
                                   "over all steps, both for generate()'s cached per-step logits and a no-cache "
                                   "forward",
                       "text_note": fc.TEXT_NOTE, **texts, **q},
    })
    size = fc.total_size(d, files)
    print(f"smolvlm {case}: seed {seed}, tiles {n_tiles}, n={len(ids)} distinct={q['distinct']} "
          f"margin={q['min_margin_over_max_abs_logit']:.4f} fast-slow={fvs.get('max_abs_diff')}, "
          f"{size // 1024} KiB -> {rel(d)}")


def all_versions():
    v = versions()
    v.update({"pillow": PIL.__version__, "libjpeg_turbo": features.version("libjpeg_turbo"),
              "zlib": features.version("zlib"), "torchvision": _pkg_version("torchvision"),
              "numpy": np.__version__, "scikit-image": _pkg_version("scikit-image"),
              "num2words": _pkg_version("num2words")})
    return v


def check_extra_versions():
    warn_unpinned(PINNED_EXTRA, all_versions(), "smolvlm fixtures will differ")


def generate(cases=None):
    fc.deterministic_torch()
    transformers.logging.set_verbosity_error()
    check_extra_versions()
    check_chat_template()
    make_images()
    cases = cases or list(CASES)
    with fc.scratch_dir(os.path.join(OUT_DIR, ".tokenizer")) as tok_dir:
        tok = build_tokenizer(tok_dir)
        for case in cases:
            build_case(case, tok_dir, tok)
