"""Llama fixtures: tiny random `LlamaForCausalLM` checkpoints written by `save_pretrained`, with reference
activations, logits and greedy generations computed by `transformers` itself (eager attention, float32).

tests/fixtures/llama/<case>/
  config.json, generation_config.json           as save_pretrained writes them
  model.safetensors | model-0000k-of-0000n.safetensors + model.safetensors.index.json
  tokenizer.json, tokenizer_config.json         SmolLM2-style byte-level BPE (small vocab) + SmolLM2 chat template
  reference.safetensors                         <p>.input_ids, <p>.hidden.<i>, <p>.final_prenorm, <p>.logits,
                                                <p>.greedy_ids for p in raw, chat
  reference.json                                everything else (see REFERENCE_DOC below)
"""

import json
import os
import shutil

import torch
from tokenizers import Tokenizer
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

import fixtures_common as fc
import fixtures_tokenizer
from common import FIXTURES_DIR, rel, versions, write_json

OUT_DIR = os.path.join(FIXTURES_DIR, "llama")

TOKENIZER_VOCAB = 1024

# HuggingFaceTB/SmolLM2-135M-Instruct's chat template, verbatim.
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

RAW_PROMPT = "In 2024, 3 quick foxes jumped over 12,345 lazy dogs."

NEW_TOKENS = 64
MIN_DISTINCT = 20
MARGIN_FACTOR = 1e-3  # min top1-top2 gap >= MARGIN_FACTOR * max|logits| (10x the C side's 1e-4 tolerance)
MAX_SEEDS = 200

COMMON = dict(bos_token_id=1, eos_token_id=2, pad_token_id=2, max_position_embeddings=256, hidden_act="silu",
              attention_bias=False, mlp_bias=False, attention_dropout=0.0, use_cache=True)

CASES = {
    "gqa-tied-bf16": dict(
        description="SmolLM2-like: GQA 3:1, tied embeddings, weights saved in bfloat16; references in float32 "
                    "from the bf16 weights upcast to float32",
        config=dict(hidden_size=96, num_attention_heads=6, num_key_value_heads=2, head_dim=16, num_hidden_layers=3,
                    intermediate_size=192, tie_word_embeddings=True, rope_theta=100000.0, rms_norm_eps=1e-5),
        save_dtype=torch.bfloat16, max_shard_size=None),
    "mha-untied-sharded": dict(
        description="MHA (num_key_value_heads == num_attention_heads), untied lm_head, float32, sharded "
                    "(model.safetensors.index.json)",
        config=dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=4, head_dim=8, num_hidden_layers=2,
                    intermediate_size=96, tie_word_embeddings=False, rope_theta=10000.0, rms_norm_eps=1e-5),
        save_dtype=torch.float32, max_shard_size="150KB"),
    "odd-sizes": dict(
        description="odd dims: hidden 54, 3 heads of 18, 1 kv head (MQA), intermediate 110, tied, float32",
        config=dict(hidden_size=54, num_attention_heads=3, num_key_value_heads=1, head_dim=18, num_hidden_layers=2,
                    intermediate_size=110, tie_word_embeddings=True, rope_theta=10000.0, rms_norm_eps=1e-6),
        save_dtype=torch.float32, max_shard_size=None),
    "llama3-rope-f16": dict(
        description="Llama-3.1 rope scaling (rope_type llama3), rope_theta 500000, untied, weights saved in float16; "
                    "references in float32 from the f16 weights upcast to float32. head_dim 32 puts rope "
                    "frequencies in all three llama3 bands (kept, smoothed, divided by factor); see rope_inv_freq",
        config=dict(hidden_size=64, num_attention_heads=2, num_key_value_heads=1, head_dim=32, num_hidden_layers=2,
                    intermediate_size=128, tie_word_embeddings=False, rope_theta=500000.0, rms_norm_eps=1e-5,
                    rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                  "high_freq_factor": 4.0, "original_max_position_embeddings": 32}),
        save_dtype=torch.float16, max_shard_size=None),
}

# Random init (the default initializer_range 0.02 gives a model that repeats one token). Linear weights are
# N(0, (GAIN / sqrt(fan_in))^2) so every sublayer's output outweighs the embedding in the residual stream;
# embeddings and an untied lm_head are N(0, 1) so logits are O(sqrt(hidden)); RMSNorm weights are U(0.5, 1.5)
# so that a forgotten norm weight shows.
INIT = {"linear_gain": 2.0, "embed_std": 1.0, "lm_head_std": 1.0, "norm_weight_range": [0.5, 1.5]}

HIDDEN_DOC = (
    "<p>.hidden.<i> for i in 0..L (L = num_hidden_layers) is output_hidden_states[i] of LlamaForCausalLM in "
    "transformers 5.23 (hidden_states are recorded by forward hooks on LlamaDecoderLayer, see "
    "transformers/utils/output_capturing.py): i = 0 is the input of layer 0, i.e. the token embeddings "
    "(embed_tokens(input_ids), no scaling); 1 <= i < L is the output of decoder layer i-1 (residual stream after its "
    "MLP residual add); i = L is NOT the raw output of the last layer but last_hidden_state, i.e. model.norm (final "
    "RMSNorm) applied to the output of layer L-1 (capture_outputs(tie_last_hidden_states=True) replaces the last "
    "entry). The raw output of layer L-1 (before the final norm) is stored separately as <p>.final_prenorm. "
    "<p>.logits = lm_head(hidden.<L>). Verified by the generator with hooks.")

REFERENCE_DOC = {
    "<p>.input_ids": "I32 [n] prompt token ids (p = raw | chat)",
    "<p>.hidden.<i>": "F32 [n, hidden_size], i = 0..num_hidden_layers, see hidden_states_semantics",
    "<p>.final_prenorm": "F32 [n, hidden_size] output of the last decoder layer before the final RMSNorm",
    "<p>.logits": "F32 [n, vocab_size] logits of the prompt forward pass (no cache)",
    "<p>.greedy_ids": "I32 [64] new tokens of model.generate(do_sample=False, max_new_tokens=64) (prompt excluded)",
}


# --------------------------------------------------------------------------------------------------------------

def build_tokenizer(out_dir):
    """SmolLM2 pipeline with a small vocab; writes tokenizer.json + tokenizer_config.json into out_dir."""
    tok = fc.train_smollm2_tokenizer(out_dir, TOKENIZER_VOCAB)
    fc.write_tokenizer_config(out_dir, tok, fixtures_tokenizer.SMOLLM2_SPECIALS,
                              additional_special_tokens=["<|im_start|>", "<|im_end|>"], eos_token="<|im_end|>",
                              chat_template=SMOLLM2_CHAT_TEMPLATE)
    return tok


def prompts(model_dir, tok):
    """The two prompts, tokenized by `tokenizers` from tokenizer.json (what the C side reads). Cross-checked
    against transformers' own tokenizer class and chat template."""
    hf = AutoTokenizer.from_pretrained(model_dir)
    out = fc.raw_and_chat_prompts(hf, tok, RAW_PROMPT)
    messages = out["chat"]["messages"]
    assert hf(RAW_PROMPT, add_special_tokens=False)["input_ids"] == out["raw"]["ids"]
    hf_chat = hf.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    hf_chat = hf_chat["input_ids"] if isinstance(hf_chat, dict) or hasattr(hf_chat, "keys") else hf_chat
    assert list(hf_chat) == out["chat"]["ids"], (hf_chat, out["chat"]["ids"])
    return out, type(hf).__name__


def make_config(case, vocab_size):
    kw = dict(COMMON)
    kw.update(CASES[case]["config"])
    kw["vocab_size"] = vocab_size
    cfg = LlamaConfig(**kw)
    cfg._attn_implementation = "eager"
    return cfg


def init_weights(model, seed, round_to):
    fc.init_decoder_weights(model, seed, round_to, INIT)


@torch.no_grad()
def greedy(model, ids, tok):
    """Greedy generation plus its quality figures. The margins are taken both from generate()'s per-step logits
    (KV cache) and from one no-cache forward over prompt + generation, and must agree on every argmax."""
    x = torch.tensor([ids])
    out = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=NEW_TOKENS,
                         min_new_tokens=0, output_logits=True, return_dict_in_generate=True)
    new = out.sequences[0, len(ids):].tolist()
    step_logits = torch.cat(out.logits, 0).float()  # [steps, vocab]
    full = model(out.sequences[:, :-1]).logits[0, len(ids) - 1:].float()
    return new, fc.greedy_quality(new, tok.decode(new, skip_special_tokens=False),
                                  model.config.eos_token_id in new, step_logits, full)


def acceptable(q):
    return fc.acceptable(q, NEW_TOKENS, MIN_DISTINCT, MARGIN_FACTOR)


@torch.no_grad()
def forward_reference(model, ids):
    """Hidden states, final_prenorm and logits of the prompt (see HIDDEN_DOC)."""
    x = torch.tensor([ids])
    return fc.decoder_reference(model, model.model, model.config.num_hidden_layers,
                                embeds=model.model.embed_tokens(x), input_ids=x)


def find_seed(case, cfg, round_to, prompt_ids, tok):
    tried = []
    for seed in range(1, MAX_SEEDS + 1):
        model = fc.random_model(LlamaForCausalLM, cfg, seed, round_to, init_weights)
        results = {p: greedy(model, ids, tok) for p, ids in prompt_ids.items()}
        if all(acceptable(q) for _, q in results.values()):
            return seed, model, results, tried
        tried.append({"seed": seed, **{p: {"distinct": q["distinct"], "eos": q["contains_eos"],
                                           "margin_ratio": round(q["min_margin_over_max_abs_logit"], 6)}
                                       for p, (_, q) in results.items()}})
    raise fc.no_seed(case, MAX_SEEDS)


def build_case(case, tok_src_dir, vocab_size):
    spec = CASES[case]
    d = os.path.join(OUT_DIR, case)
    fc.fresh_dir(d)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(tok_src_dir, f), os.path.join(d, f))
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    prm, hf_tok_class = prompts(d, tok)
    cfg = make_config(case, vocab_size)
    round_to = spec["save_dtype"]
    seed, model, results, rejected = find_seed(case, cfg, round_to, {p: v["ids"] for p, v in prm.items()}, tok)

    rope_inv_freq = model.model.rotary_emb.inv_freq.tolist()
    rope_scaling_factor = float(model.model.rotary_emb.attention_scaling)
    tensors = {}
    greedy_info = {}
    hf_tok = AutoTokenizer.from_pretrained(d)
    for p, v in prm.items():
        ref = forward_reference(model, v["ids"])
        new, q = results[p]
        tensors.update(fc.decoder_tensors(f"{p}.", v["ids"], ref, new))
        greedy_info[p] = {
            **fc.decoded_texts(hf_tok, tok, new[:32], "text_first_32"),
            **fc.decoded_texts(hf_tok, tok, new, "text_all_64"),
            **q,
        }
    fc.save_reference(d, tensors)

    # Save the checkpoint, read it back (float32) and check it reproduces the references bit for bit.
    ref_logits = {p: tensors[f"{p}.logits"] for p in prm}
    fc.set_generation_config(model, eos_token_id=2)
    kw = {"max_shard_size": spec["max_shard_size"]} if spec["max_shard_size"] else {}
    back = fc.save_and_reload(model, LlamaForCausalLM, d, round_to, **kw)
    del model
    with torch.no_grad():
        for p, v in prm.items():
            assert torch.equal(back(torch.tensor([v["ids"]])).logits[0], ref_logits[p]), (case, p)

    config_json = json.load(open(os.path.join(d, "config.json")))
    files = fc.finish_files(d)
    shards = [f for f in files if f.startswith("model") and f.endswith(".safetensors")]
    if spec["max_shard_size"]:
        assert len(shards) >= 2 and "model.safetensors.index.json" in files, files
    write_json(os.path.join(d, "reference.json"), {
        "case": case,
        "description": spec["description"],
        "versions": versions(),
        "files": files,
        "weights": {"saved_dtype": str(round_to).replace("torch.", ""), "reference_compute_dtype": "float32",
                    "note": "weights were rounded to the saved dtype first, then every reference was computed in "
                            "float32 from those values; from_pretrained(dtype=float32) of this directory "
                            "reproduces reference logits exactly",
                    "shards": shards, "tie_word_embeddings": config_json.get("tie_word_embeddings")},
        "config_json": config_json,
        "config_note": "transformers 5.x writes the rope settings as config.json 'rope_parameters' (rope_type, "
                       "rope_theta and any scaling keys in one dict); there is no top-level 'rope_theta' or "
                       "'rope_scaling' and the dtype key is 'dtype' (not 'torch_dtype'). Checkpoints written by "
                       "transformers 4.x (e.g. the real SmolLM2/Llama-3 configs) use top-level rope_theta, "
                       "rope_scaling (with 'rope_type', older ones 'type') and torch_dtype; 5.x reads both "
                       "into the same rope_parameters.",
        "attn_implementation": "eager",
        "rope_inv_freq": rope_inv_freq,
        "rope_attention_scaling": rope_scaling_factor,
        "init": {"seed": seed, **INIT, "seeds_rejected": len(rejected)},
        "tokenizer": {"files": ["tokenizer.json", "tokenizer_config.json"], "vocab_size": tok.get_vocab_size(),
                      "transformers_class": hf_tok_class,
                      "note": "prompt ids come from tokenizers.Tokenizer.from_file('tokenizer.json'); "
                              "AutoTokenizer gives the same ids for both prompts"},
        "prompts": {p: {k: v for k, v in x.items() if k != "ids"} | {"n_tokens": len(x["ids"])}
                    for p, x in prm.items()},
        "tensors": REFERENCE_DOC,
        "hidden_states_semantics": HIDDEN_DOC,
        "generation": {"call": "model.generate(input_ids, attention_mask=ones, do_sample=False, "
                               f"max_new_tokens={NEW_TOKENS}) in float32, eager attention",
                       "criteria": f"{NEW_TOKENS} new tokens, no eos (id 2), >= {MIN_DISTINCT} distinct, "
                                   "no U+0000 in the decoded text, "
                                   f"min over steps of (top1 - top2) >= {MARGIN_FACTOR} * max |logit| over all "
                                   "steps, both for generate()'s cached per-step logits and a no-cache forward",
                       "text_note": fc.TEXT_NOTE,
                       **greedy_info},
    })
    size = fc.total_size(d, files)
    print(f"llama {case}: seed {seed}, "
          + ", ".join(f"{p}: n={len(prm[p]['ids'])} distinct={greedy_info[p]['distinct']} "
                      f"margin={greedy_info[p]['min_margin_over_max_abs_logit']:.4f}" for p in prm)
          + f", {size // 1024} KiB -> {rel(d)}")


def generate(cases=None):
    fc.deterministic_torch()
    cases = cases or list(CASES)
    with fc.scratch_dir(os.path.join(OUT_DIR, ".tokenizer")) as tok_dir:
        tok = build_tokenizer(tok_dir)
        for case in cases:
            build_case(case, tok_dir, tok.get_vocab_size())
