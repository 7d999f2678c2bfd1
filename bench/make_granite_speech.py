#!/usr/bin/env python3
"""Writes random-weight checkpoints with Granite Speech's real shapes, for `mmrt-bench --audio`.

    python3 bench/make_granite_speech.py [4.1-2b|3.3-2b] [OUT_DIR]
        (default 4.1-2b into /tmp/mmrt-bench/granite-speech-4.1-2b)

The directory gets config.json (model_type granite_speech: the conformer encoder, the windowed
Q-Former projector and the Granite LLM, with the sizes below), generation_config.json,
preprocessor_config.json (the published GraniteSpeechFeatureExtractor settings: 80 mel bins, n_fft 512,
window 400, hop 160 at 16 kHz; Q-Former windows of 15 frames, 3 queries) and
model.safetensors (bf16 like the published checkpoints, tensor names as transformers 5's
save_pretrained writes them: `encoder.*`, `projector.*`, `language_model.model.*`). No tokenizer
and no LoRA adapter: the benchmark feeds token ids and times the adapter separately.

Shapes (../shared/reference/model-families.md B.5-B.6; no hub is reachable from here, so they are
the published config values as recorded there, not read from a download):
- 4.1-2b: encoder 16 conformer layers, hidden 1024, 8 heads x 128, output_dim 348, context 200,
  max_pos_emb 512, conv kernel 15, FF x4, conv expansion 2; Q-Former 2 layers, hidden 1024,
  16 heads, FFN 4096, window 15, downsample 5; LLM 40 layers, hidden 2048, FFN 4096, 16 heads /
  4 KV heads, vocabulary 100353 (tied: 1.63 B parameters), rope theta 1e4, multipliers 12 / 1/128 /
  0.22 / 8, audio token 100352.
- 3.3-2b: the same encoder and projector (16 layers, output_dim 348: "a deeper acoustic encoder";
  the 3.3 configs are not verified here), LLM granite-3.3-2b-instruct: 40 layers, hidden 2048, FFN
  8192, 32 heads / 8 KV heads, vocabulary 49156 (tied), rope theta 1e7 (unverified), multipliers
  12 / 1/64 / 0.22 / 8, audio token 49155.
Standard library only; values as make_smollm2_135m.py (matrices ±0.002 .. 0.031, norm weights and
BatchNorm variances 1.0 .. 1.055, biases and means small random values).
"""
import json
import os
import struct
import sys
import time

# the script's own directory is on sys.path when it is run as a script
from make_smollm2_135m import decoder_layer, norm_bf16, numel, random_bf16, write_safetensors

ENCODER = {
    "model_type": "granite_speech_encoder",
    "input_dim": 160,
    "num_layers": 16,
    "hidden_dim": 1024,
    "feedforward_mult": 4,
    "num_heads": 8,
    "dim_head": 128,
    "output_dim": 348,
    "context_size": 200,
    "max_pos_emb": 512,
    "dropout": 0.1,
    "conv_kernel_size": 15,
    "conv_expansion_factor": 2,
}

PROJECTOR = {
    "model_type": "blip_2_qformer",
    "hidden_size": 1024,
    "num_hidden_layers": 2,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "encoder_hidden_size": 1024,
    "cross_attention_frequency": 1,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 2048,
    "use_qformer_text_input": False,
    "vocab_size": 30522,
}

TEXT = {
    "4.1-2b": {"hidden_size": 2048, "intermediate_size": 4096, "num_hidden_layers": 40, "num_attention_heads": 16,
               "num_key_value_heads": 4, "vocab_size": 100353, "max_position_embeddings": 4096,
               "rope_theta": 10000.0, "attention_multiplier": 0.0078125, "audio_token_index": 100352,
               "bos_token_id": 100257, "eos_token_id": 100257},
    "3.3-2b": {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 40, "num_attention_heads": 32,
               "num_key_value_heads": 8, "vocab_size": 49156, "max_position_embeddings": 131072,
               "rope_theta": 10000000.0, "attention_multiplier": 0.015625, "audio_token_index": 49155,
               "bos_token_id": 0, "eos_token_id": 0},
}


def config(name):
    t = dict(TEXT[name])
    audio_token = t.pop("audio_token_index")
    t.update({"model_type": "granite", "hidden_act": "silu", "rms_norm_eps": 1e-05, "attention_bias": False,
              "mlp_bias": False, "embedding_multiplier": 12.0, "residual_multiplier": 0.22, "logits_scaling": 8.0,
              "tie_word_embeddings": True, "pad_token_id": t["eos_token_id"]})
    t["head_dim"] = t["hidden_size"] // t["num_attention_heads"]
    return {
        "architectures": ["GraniteSpeechForConditionalGeneration"],
        "model_type": "granite_speech",
        "audio_token_index": audio_token,
        "downsample_rate": 5,
        "window_size": 15,
        "has_lora_adapter": False,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "encoder_config": ENCODER,
        "projector_config": PROJECTOR,
        "text_config": t,
    }


def preprocessor(c):
    """preprocessor_config.json as the published checkpoints have it (melspec_kwargs)."""
    mel = {"hop_length": 160, "n_fft": 512, "n_mels": c["encoder_config"]["input_dim"] // 2, "sample_rate": 16000,
           "win_length": 400}
    return {"feature_extractor_type": "GraniteSpeechFeatureExtractor", "melspec_kwargs": mel,
            "processor_class": "GraniteSpeechProcessor", "projector_downsample_rate": c["downsample_rate"],
            "projector_window_size": c["window_size"], "sampling_rate": 16000}


def encoder_tensors(e):
    d, ff, inner = e["hidden_dim"], e["hidden_dim"] * e["feedforward_mult"], e["hidden_dim"] * e["conv_expansion_factor"]
    hq = e["num_heads"] * e["dim_head"]
    out = [("encoder.input_linear.bias", (d,)), ("encoder.input_linear.weight", (d, e["input_dim"]))]
    for i in range(e["num_layers"]):
        p = f"encoder.layers.{i}."
        out += [(p + "attn.pre_norm.bias", (d,)), (p + "attn.pre_norm.weight", (d,)),
                (p + "attn.rel_pos_emb.weight", (2 * e["max_pos_emb"] + 1, e["dim_head"])),
                (p + "attn.to_kv.weight", (2 * hq, d)), (p + "attn.to_out.bias", (d,)),
                (p + "attn.to_out.weight", (d, hq)), (p + "attn.to_q.weight", (hq, d)),
                (p + "conv.batch_norm.bias", (inner,)), (p + "conv.batch_norm.num_batches_tracked", ()),
                (p + "conv.batch_norm.running_mean", (inner,)), (p + "conv.batch_norm.running_var", (inner,)),
                (p + "conv.batch_norm.weight", (inner,)),
                (p + "conv.depth_conv.conv.weight", (inner, 1, e["conv_kernel_size"])),
                (p + "conv.down_conv.bias", (d,)), (p + "conv.down_conv.weight", (d, inner, 1)),
                (p + "conv.norm.bias", (d,)), (p + "conv.norm.weight", (d,)),
                (p + "conv.up_conv.bias", (2 * inner,)), (p + "conv.up_conv.weight", (2 * inner, d, 1))]
        for ffn in ("ff1", "ff2"):
            out += [(p + ffn + ".down_proj.bias", (d,)), (p + ffn + ".down_proj.weight", (d, ff)),
                    (p + ffn + ".pre_norm.bias", (d,)), (p + ffn + ".pre_norm.weight", (d,)),
                    (p + ffn + ".up_proj.bias", (ff,)), (p + ffn + ".up_proj.weight", (ff, d))]
        out += [(p + "post_norm.bias", (d,)), (p + "post_norm.weight", (d,))]
    out += [("encoder.out.bias", (e["output_dim"],)), ("encoder.out.weight", (e["output_dim"], d)),
            ("encoder.out_mid.bias", (d,)), ("encoder.out_mid.weight", (d, e["output_dim"]))]
    return out


def projector_tensors(q, n_embd, n_queries):
    d, ff = q["hidden_size"], q["intermediate_size"]
    out = [("projector.linear.bias", (n_embd,)), ("projector.linear.weight", (n_embd, d))]
    for i in range(q["num_hidden_layers"]):
        p = f"projector.qformer.encoder.layer.{i}."
        blocks = ["attention"] + (["crossattention"] if i % q["cross_attention_frequency"] == 0 else [])
        for a in blocks:
            kv_in = q["encoder_hidden_size"] if a == "crossattention" else d
            for m, fan_in in (("key", kv_in), ("query", d), ("value", kv_in)):
                out += [(p + f"{a}.attention.{m}.bias", (d,)), (p + f"{a}.attention.{m}.weight", (d, fan_in))]
            out += [(p + f"{a}.output.LayerNorm.bias", (d,)), (p + f"{a}.output.LayerNorm.weight", (d,)),
                    (p + f"{a}.output.dense.bias", (d,)), (p + f"{a}.output.dense.weight", (d, d))]
        out += [(p + "intermediate_query.dense.bias", (ff,)), (p + "intermediate_query.dense.weight", (ff, d)),
                (p + "output_query.LayerNorm.bias", (d,)), (p + "output_query.LayerNorm.weight", (d,)),
                (p + "output_query.dense.bias", (d,)), (p + "output_query.dense.weight", (d, ff))]
    out += [("projector.qformer.layernorm.bias", (d,)), ("projector.qformer.layernorm.weight", (d,)),
            ("projector.query", (1, n_queries, d))]
    return out


def tensor_list(c):
    t = c["text_config"]
    out = encoder_tensors(c["encoder_config"])
    out += [("language_model.model.embed_tokens.weight", (t["vocab_size"], t["hidden_size"]))]
    for i in range(t["num_hidden_layers"]):
        out += decoder_layer(f"language_model.model.layers.{i}.", t)
    out.append(("language_model.model.norm.weight", (t["hidden_size"],)))
    out += projector_tensors(c["projector_config"], t["hidden_size"], c["window_size"] // c["downsample_rate"])
    return sorted(out)


def values(name, shape, rng):
    n = numel(shape)
    if name.endswith("num_batches_tracked"):
        return struct.pack("<q", 1000)
    if name.endswith((".weight", "running_var")) and len(shape) == 1:
        return norm_bf16(n, rng)  # LayerNorm / RMSNorm / BatchNorm scales and variances near 1
    # matrices, biases, means, the query: small values of either sign; in pieces, as randbytes takes < 2^28 bytes
    return b"".join(random_bf16(min(1 << 24, n - i), rng) for i in range(0, n, 1 << 24))


def layout(name, shape):
    """bf16, but num_batches_tracked: the I64 scalar transformers saves."""
    return ("I64", 8) if name.endswith("num_batches_tracked") else ("BF16", 2 * numel(shape))


def main():
    args = sys.argv[1:]
    if args and args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return
    name = args[0] if args else "4.1-2b"
    if name not in TEXT:
        sys.exit(f"unknown checkpoint shape {name!r} (choose from {', '.join(TEXT)})")
    out = args[1] if len(args) > 1 else f"/tmp/mmrt-bench/granite-speech-{name}"
    t0 = time.monotonic()
    os.makedirs(out, exist_ok=True)
    c = config(name)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
        json.dump(preprocessor(c), f, indent=2)
    t = c["text_config"]
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": t["bos_token_id"], "eos_token_id": t["eos_token_id"],
                   "pad_token_id": t["pad_token_id"]}, f, indent=2)
    size = write_safetensors(os.path.join(out, "model.safetensors"), tensor_list(c), 2, values, layout)
    print(f"{out}: model.safetensors {size / 1e9:.2f} GB, {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    main()
