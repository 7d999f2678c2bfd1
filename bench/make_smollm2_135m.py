#!/usr/bin/env python3
"""Writes a random-weight checkpoint with SmolLM2-135M's real configuration, for mmrt-bench.

    python3 bench/make_smollm2_135m.py [OUT_DIR]     (default /tmp/mmrt-bench/smollm2-135m)

The directory gets config.json, generation_config.json and model.safetensors (bf16, Hugging Face
tensor names, ~270 MB). No tokenizer: the benchmark feeds token ids. Standard library only.

Values: matrices are bf16 of magnitude 0.002 .. 0.031 with random sign (mostly 0.008 .. 0.031,
like a uniform ±0.03), norms are 1.0 .. 1.055. They are not a trained model; they only have to be finite and keep
activations in a normal range so that timings are not skewed by denormals or NaNs.
"""
import json
import os
import random
import struct
import sys
import time

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "eos_token_id": 0,
    "head_dim": 64,
    "hidden_act": "silu",
    "hidden_size": 576,
    "initializer_range": 0.041666666666666664,
    "intermediate_size": 1536,
    "max_position_embeddings": 8192,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": 9,
    "num_hidden_layers": 30,
    "num_key_value_heads": 3,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "rope_theta": 100000,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.42.3",
    "use_cache": True,
    "vocab_size": 49152,
}

GENERATION_CONFIG = {"_from_model_config": True, "bos_token_id": 0, "eos_token_id": 0}


def decoder_layer(p, c):
    """(name, shape) of one Llama decoder layer's tensors under prefix p, sorted by name."""
    d, ff, hd = c["hidden_size"], c["intermediate_size"], c["head_dim"]
    qd, kvd = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    return [
        (p + "input_layernorm.weight", (d,)),
        (p + "mlp.down_proj.weight", (d, ff)),
        (p + "mlp.gate_proj.weight", (ff, d)),
        (p + "mlp.up_proj.weight", (ff, d)),
        (p + "post_attention_layernorm.weight", (d,)),
        (p + "self_attn.k_proj.weight", (kvd, d)),
        (p + "self_attn.o_proj.weight", (d, qd)),
        (p + "self_attn.q_proj.weight", (qd, d)),
        (p + "self_attn.v_proj.weight", (kvd, d)),
    ]


def tensor_list(c):
    """(name, shape) in the order they are written, as transformers' save_pretrained sorts them."""
    d = c["hidden_size"]
    out = [("model.embed_tokens.weight", (c["vocab_size"], d))]
    for i in range(c["num_hidden_layers"]):
        out += decoder_layer(f"model.layers.{i}.", c)
    out.append(("model.norm.weight", (d,)))
    return out


# bf16 is the top half of an f32: little-endian byte 1 = sign + exponent bits 7..1, byte 0 =
# exponent bit 0 + 7 mantissa bits. Random bytes are mapped per byte position with
# bytes.translate (C speed): the high byte keeps its sign bit and gets exponent bits 0b011110x
# (biased exponent 120..121, |v| in [2^-7, 2^-5)) for 7/8 of the values and 0b011101x
# (118..119, [2^-9, 2^-7)) for the rest; the low byte stays random (its top bit picks the odd
# exponent). Nothing is zero, subnormal, infinite or NaN.
HI_TABLE = bytes((b & 0x80) | (0x3C if (b & 0x7F) >= 16 else 0x3B) for b in range(256))


def random_bf16(n, rng):
    raw = rng.randbytes(2 * n)
    out = bytearray(2 * n)
    out[0::2] = raw[0::2]
    out[1::2] = raw[1::2].translate(HI_TABLE)
    return out


def norm_bf16(n, rng):
    # 1.0 (0x3F80) plus up to 7 units in the last place: 1.0 .. 1.0547
    return b"".join(struct.pack("<H", 0x3F80 | rng.randrange(8)) for _ in range(n))


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def default_values(name, shape, rng):
    """Norm weights (1-D) near 1.0, every matrix small random values."""
    n = numel(shape)
    return norm_bf16(n, rng) if len(shape) == 1 else random_bf16(n, rng)


def bf16_layout(name, shape):
    return "BF16", 2 * numel(shape)


def write_safetensors(path, tensors, seed, values=default_values, layout=bf16_layout):
    """Writes (name, shape) tensors, each of the dtype and byte size layout(name, shape) gives (bf16 by default),
    its bytes from values(name, shape, rng)."""
    header, offset = {}, 0
    for name, shape in tensors:
        dtype, size = layout(name, shape)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)  # data section starts 8-byte aligned
    rng = random.Random(seed)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, shape in tensors:
            f.write(values(name, shape, rng))
    os.replace(tmp, path)  # a killed run never leaves a truncated model.safetensors behind
    return 8 + len(text) + offset


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/mmrt-bench/smollm2-135m"
    if out in ("-h", "--help"):
        print(__doc__.strip())
        return
    t0 = time.monotonic()
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump(GENERATION_CONFIG, f, indent=2)
    size = write_safetensors(os.path.join(out, "model.safetensors"), tensor_list(CONFIG), seed=135)
    print(f"{out}: model.safetensors {size / 1e6:.1f} MB, {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    main()
