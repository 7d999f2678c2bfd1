#!/usr/bin/env python3
"""Writes a random-weight checkpoint with SmolVLM-256M-Instruct's real configuration, for mmrt-bench.

    python3 bench/make_smolvlm_256m.py [OUT_DIR]     (default /tmp/mmrt-bench/smolvlm-256m)

The directory gets config.json (model_type idefics3: SigLIP-B/16-512 vision tower, scale_factor 4,
SmolLM2-135M text model with vocabulary 49280), generation_config.json, processor_config.json
(longest_edge 2048, max_image_size 512, image_seq_len 64) and model.safetensors (bf16, Hugging Face
tensor names as Idefics3ForConditionalGeneration saves them, ~510 MB), and a tokenizer for
`mmrt caption` / `mmrt-bench --caption`: the tiny fixture's byte-level BPE
(tests/fixtures/smolvlm/split) with its image tokens moved to SmolVLM's real ids (<global-img>
49152, <row_r_col_c> 49153.., <fake_token_around_image> 49189, <image> 49190, <end_of_utterance>
49279), plus its chat template. Standard library only; the random values are those of
make_smollm2_135m.py (matrices ±0.002 .. 0.031, norm weights 1.0 .. 1.055), and biases are
small random values like the matrices'.
"""
import json
import os
import sys
import time

# the script's own directory is on sys.path when it is run as a script
from make_smollm2_135m import CONFIG as SMOLLM2_CONFIG
from make_smollm2_135m import decoder_layer, norm_bf16, numel, random_bf16, write_safetensors

TEXT_CONFIG = dict(SMOLLM2_CONFIG)
TEXT_CONFIG.update({
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 2,
    "rope_interleaved": False,
    "tie_word_embeddings": False,
    "vocab_size": 49280,
})
del TEXT_CONFIG["architectures"]
del TEXT_CONFIG["transformers_version"]

VISION_CONFIG = {
    "attention_dropout": 0.0,
    "hidden_act": "gelu_pytorch_tanh",
    "hidden_size": 768,
    "image_size": 512,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-06,
    "model_type": "idefics3_vision",
    "num_attention_heads": 12,
    "num_channels": 3,
    "num_hidden_layers": 12,
    "patch_size": 16,
}

CONFIG = {
    "architectures": ["Idefics3ForConditionalGeneration"],
    "image_token_id": 49190,
    "model_type": "idefics3",
    "scale_factor": 4,
    "text_config": TEXT_CONFIG,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.46.0",
    "use_cache": True,
    "vision_config": VISION_CONFIG,
    "vocab_size": 49280,
}

GENERATION_CONFIG = {"_from_model_config": True, "bos_token_id": 1, "eos_token_id": 49279,
                     "pad_token_id": 2}

PROCESSOR_CONFIG = {
    "image_processor": {
        "do_convert_rgb": True,
        "do_image_splitting": True,
        "do_normalize": True,
        "do_pad": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_processor_type": "Idefics3ImageProcessor",
        "image_std": [0.5, 0.5, 0.5],
        "max_image_size": {"longest_edge": 512},
        "resample": 1,
        "rescale_factor": 0.00392156862745098,
        "size": {"longest_edge": 2048},
    },
    "image_seq_len": 64,
    "processor_class": "Idefics3Processor",
}


def tensor_list(c):
    """(name, shape), sorted by name as save_pretrained writes them."""
    t, v = c["text_config"], c["vision_config"]
    d = t["hidden_size"]
    vd, vff, p, ch = v["hidden_size"], v["intermediate_size"], v["patch_size"], v["num_channels"]
    n_patch = (v["image_size"] // p) ** 2
    r = c["scale_factor"]
    out = [
        ("lm_head.weight", (t["vocab_size"], d)),
        ("model.connector.modality_projection.proj.weight", (d, vd * r * r)),
        ("model.text_model.embed_tokens.weight", (t["vocab_size"], d)),
        ("model.text_model.norm.weight", (d,)),
        ("model.vision_model.embeddings.patch_embedding.bias", (vd,)),
        ("model.vision_model.embeddings.patch_embedding.weight", (vd, ch, p, p)),
        ("model.vision_model.embeddings.position_embedding.weight", (n_patch, vd)),
        ("model.vision_model.post_layernorm.bias", (vd,)),
        ("model.vision_model.post_layernorm.weight", (vd,)),
    ]
    for i in range(t["num_hidden_layers"]):
        out += decoder_layer(f"model.text_model.layers.{i}.", t)
    for i in range(v["num_hidden_layers"]):
        pre = f"model.vision_model.encoder.layers.{i}."
        out += [
            (pre + "layer_norm1.bias", (vd,)),
            (pre + "layer_norm1.weight", (vd,)),
            (pre + "layer_norm2.bias", (vd,)),
            (pre + "layer_norm2.weight", (vd,)),
            (pre + "mlp.fc1.bias", (vff,)),
            (pre + "mlp.fc1.weight", (vff, vd)),
            (pre + "mlp.fc2.bias", (vd,)),
            (pre + "mlp.fc2.weight", (vd, vff)),
        ]
        for proj in ("k_proj", "out_proj", "q_proj", "v_proj"):
            out += [(pre + f"self_attn.{proj}.bias", (vd,)), (pre + f"self_attn.{proj}.weight", (vd, vd))]
    return sorted(out)


def values(name, shape, rng):
    """Norm weights near 1; everything else (matrices, biases, embeddings) small and random."""
    n = numel(shape)
    is_norm_weight = len(shape) == 1 and name.endswith(".weight")
    return norm_bf16(n, rng) if is_norm_weight else random_bf16(n, rng)


FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "smolvlm", "split")


def real_id(tiny_id):
    """The fixture's added tokens 512.. (global-img, 36 row/col tags, fake token, image) sit at
    49152.. in SmolVLM's vocabulary; its <end_of_utterance> (551) is 49279."""
    if tiny_id < 512:
        return tiny_id
    return 49279 if tiny_id == 551 else 49152 + tiny_id - 512


def write_tokenizer(out):
    with open(os.path.join(FIXTURE, "tokenizer.json")) as f:
        tok = json.load(f)
    for t in tok["added_tokens"]:
        t["id"] = real_id(t["id"])
        tok["model"]["vocab"][t["content"]] = t["id"]  # so that the ids hold (holes are fine)
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tok, f)
    with open(os.path.join(FIXTURE, "tokenizer_config.json")) as f:
        cfg = json.load(f)
    for key in ("added_tokens_decoder",):
        if key in cfg:
            cfg[key] = {str(real_id(int(k))): v for k, v in cfg[key].items()}
    if "vocab_size" in cfg:
        cfg["vocab_size"] = 49280
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(FIXTURE, "chat_template.jinja")) as f:
        template = f.read()
    with open(os.path.join(out, "chat_template.jinja"), "w") as f:
        f.write(template)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/mmrt-bench/smolvlm-256m"
    if out in ("-h", "--help"):
        print(__doc__.strip())
        return
    t0 = time.monotonic()
    os.makedirs(out, exist_ok=True)
    for name, obj in (("config.json", CONFIG), ("generation_config.json", GENERATION_CONFIG),
                      ("processor_config.json", PROCESSOR_CONFIG)):
        with open(os.path.join(out, name), "w") as f:
            json.dump(obj, f, indent=2)
    write_tokenizer(out)
    size = write_safetensors(os.path.join(out, "model.safetensors"), tensor_list(CONFIG), seed=256, values=values)
    print(f"{out}: model.safetensors {size / 1e6:.1f} MB, {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    main()
