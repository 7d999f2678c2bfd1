"""Pieces shared by the model fixture generators (fixtures_llama.py, fixtures_smolvlm.py): the SmolLM2-style
tokenizer, seeded random weights, greedy-generation quality figures, decoder hidden-state capture and the
save / read-back of a case directory."""

import contextlib
import json
import os
import shutil

import torch
from safetensors.torch import save_file
from tokenizers import AddedToken

import corpus
import fixtures_tokenizer

BOS, PAD = 1, 2  # <|im_start|>, <|im_end|> in the SmolLM2 vocabulary (ids 0..2 are its specials)


# ---------------------------------------------------------------------------------------------------------------
# Directories and run settings

def deterministic_torch():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def fresh_dir(d):
    """An empty directory d (removed first if it is there)."""
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)


@contextlib.contextmanager
def scratch_dir(d):
    """An empty directory d for the duration of the block, removed afterwards."""
    fresh_dir(d)
    try:
        yield d
    finally:
        shutil.rmtree(d)


def finish_files(d):
    """The sorted file names in d, each made mode 0644."""
    files = sorted(os.listdir(d))
    for f in files:
        os.chmod(os.path.join(d, f), 0o644)
    return files


def total_size(d, files):
    return sum(os.path.getsize(os.path.join(d, f)) for f in files)


# ---------------------------------------------------------------------------------------------------------------
# Tokenizer

def train_smollm2_tokenizer(out_dir, vocab_size, added=()):
    """SmolLM2 pipeline trained with a small vocab (its 3 specials at ids 0..2), plus `added` special tokens
    after the trained part; saved as out_dir/tokenizer.json and read back."""
    docs, _ = corpus.training_documents()
    tok = fixtures_tokenizer.build_smollm2(docs, vocab_size=vocab_size, extra_added=False)
    if added:
        assert tok.get_vocab_size() == vocab_size
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in added])
    tok = fixtures_tokenizer.save_and_reload(tok, os.path.join(out_dir, "tokenizer.json"))
    assert [tok.token_to_id(t) for t in fixtures_tokenizer.SMOLLM2_SPECIALS] == [0, 1, 2]
    return tok


def write_tokenizer_config(out_dir, tok, specials, additional_special_tokens, eos_token, chat_template=None):
    """out_dir/tokenizer_config.json for a GPT2Tokenizer over tok (keys in the order transformers writes them)."""
    cfg = {
        "add_prefix_space": False,
        "added_tokens_decoder": {str(tok.token_to_id(t)): {"content": t, "lstrip": False, "normalized": False,
                                                           "rstrip": False, "single_word": False, "special": True}
                                 for t in specials},
        "additional_special_tokens": additional_special_tokens,
        "bos_token": "<|im_start|>",
    }
    if chat_template is not None:
        cfg["chat_template"] = chat_template
    cfg.update({
        "clean_up_tokenization_spaces": False,
        "eos_token": eos_token,
        "model_max_length": 8192,
        "pad_token": "<|im_end|>",
        "tokenizer_class": "GPT2Tokenizer",
        "unk_token": "<|endoftext|>",
        "vocab_size": tok.get_vocab_size(),
    })
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2)
        f.write("\n")


# ---------------------------------------------------------------------------------------------------------------
# Weights

def norm_weight(init, p, g):
    lo, hi = init["norm_weight_range"]
    return lo + (hi - lo) * torch.rand(p.shape, generator=g)


def linear_weight(gain, fan_in, p, g):
    """N(0, (gain / sqrt(fan_in))^2)"""
    return gain / fan_in ** 0.5 * torch.randn(p.shape, generator=g)


@torch.no_grad()
def init_weights(model, seed, round_to, value, embed_tokens):
    """Every parameter, in registration order (deterministic), set to value(name, p, g) with g seeded by seed, then
    rounded to round_to; with tied embeddings lm_head must share embed_tokens' storage."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        p.copy_(value(name, p, g))
        if round_to != torch.float32:
            p.copy_(p.to(round_to).to(torch.float32))
    if model.config.tie_word_embeddings:
        assert model.lm_head.weight.data_ptr() == embed_tokens.weight.data_ptr()


def raw_and_chat_prompts(hf, tok, raw_prompt):
    """The decoder fixtures' two prompts: raw_prompt as it is, and as one user message through hf's chat template with
    the generation prompt; their ids from `tok` (tokenizer.json, what the C side reads), no special tokens added."""
    messages = [{"role": "user", "content": raw_prompt}]
    chat_text = hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return {
        "raw": {"text": raw_prompt, "add_special_tokens": False,
                "ids": tok.encode(raw_prompt, add_special_tokens=False).ids},
        "chat": {"messages": messages, "add_generation_prompt": True, "text": chat_text,
                 "add_special_tokens": False, "ids": tok.encode(chat_text, add_special_tokens=False).ids},
    }


def decoder_init_value(init, name, p, g):
    """A Llama-style decoder's parameter `name` (as LlamaForCausalLM / GraniteForCausalLM register them): norm weights
    uniform in init["norm_weight_range"], embeddings N(0, embed_std^2), an untied lm_head N(0, lm_head_std^2), the
    projections N(0, (linear_gain / sqrt(fan_in))^2)."""
    if name.endswith("norm.weight"):
        return norm_weight(init, p, g)
    if name == "model.embed_tokens.weight":
        return init["embed_std"] * torch.randn(p.shape, generator=g)
    if name == "lm_head.weight":
        return init["lm_head_std"] * torch.randn(p.shape, generator=g)
    if name.endswith("proj.weight"):
        return linear_weight(init["linear_gain"], p.shape[1], p, g)
    raise AssertionError(f"unexpected parameter {name}")


def init_decoder_weights(model, seed, round_to, init):
    """init_weights with decoder_init_value(init, ...) for a Llama-style *ForCausalLM."""
    init_weights(model, seed, round_to, lambda name, p, g: decoder_init_value(init, name, p, g),
                 model.model.embed_tokens)


def set_generation_config(model, eos_token_id):
    gc = model.generation_config
    gc.bos_token_id = BOS
    gc.eos_token_id = eos_token_id
    gc.pad_token_id = PAD


def random_model(cls, cfg, seed, round_to, init):
    torch.manual_seed(seed)
    model = cls(cfg).eval()
    init(model, seed, round_to)
    return model


# ---------------------------------------------------------------------------------------------------------------
# Greedy generation

def greedy_quality(new, text, contains_eos, step_logits, full, extra=None):
    """Quality figures of a greedy generation `new` (decoded: text). The margins are taken both from generate()'s
    per-step logits (KV cache) and from one no-cache forward over prompt + generation, and must agree on every
    argmax. `extra` entries go after contains_eos."""
    figures = {}
    for tag, lg in (("generate", step_logits), ("full_forward", full)):
        top2 = lg.topk(2, dim=-1)
        margins = top2.values[:, 0] - top2.values[:, 1]
        figures[tag] = {"argmax_matches": top2.indices[:, 0].tolist() == new, "min_margin": margins.min().item(),
                        "max_abs_logit": lg.abs().max().item()}
    min_margin = min(f["min_margin"] for f in figures.values())
    max_abs = max(f["max_abs_logit"] for f in figures.values())
    return {
        "new_tokens": len(new),
        "text_has_nul": "\x00" in text,
        "distinct": len(set(new)),
        "contains_eos": contains_eos,
        **(extra or {}),
        "min_top1_top2_margin": min_margin,
        "max_abs_logit": max_abs,
        "min_margin_over_max_abs_logit": min_margin / max_abs,
        "argmax_matches": all(f["argmax_matches"] for f in figures.values()),
        "by_path": figures,
    }


def decoded_texts(hf_tok, tok, ids, key):
    """The generated text as a user sees it: `key` = transformers' decode(ids, skip_special_tokens=True) (special
    added tokens dropped: what mmrt prints by default), `key`_special = skip_special_tokens=False (mmrt --special).
    tokenizers' decode of tokenizer.json (what mmrt reads) must give the same."""
    out = {}
    for suffix, skip in (("", True), ("_special", False)):
        text = hf_tok.decode(ids, skip_special_tokens=skip)
        assert text == tok.decode(ids, skip_special_tokens=skip), (key, suffix)
        out[key + suffix] = text
    return out


TEXT_NOTE = ("text keys: transformers' tokenizer.decode(new tokens, skip_special_tokens=True), special added tokens "
             "dropped (what mmrt prints by default); the same key with _special: skip_special_tokens=False (mmrt "
             "--special)")


def acceptable(q, new_tokens, min_distinct, margin_factor):
    # No U+0000 in the decoded text keeps reference.json easy on C JSON readers.
    return (q["new_tokens"] == new_tokens and not q["contains_eos"] and not q["text_has_nul"]
            and q["distinct"] >= min_distinct and q["argmax_matches"]
            and q["min_margin_over_max_abs_logit"] >= margin_factor)


def no_seed(case, max_seeds):
    return RuntimeError(f"{case}: no seed in 1..{max_seeds} gives diverse greedy output with a clear margin")


# ---------------------------------------------------------------------------------------------------------------
# Decoder references

@torch.no_grad()
def decoder_reference(model, decoder, n_layers, embeds=None, **inputs):
    """One no-cache forward of model(**inputs) with output_hidden_states, hooks on every layer of `decoder` (the
    text model: .layers, .norm) pinning down what each hidden_states entry is (see the Llama fixtures'
    HIDDEN_DOC); `embeds`, when given, must equal hidden_states[0]. Returns the hidden states, the last layer's
    output before the final norm and the logits, batch dim dropped."""
    captured = {}
    layers = decoder.layers
    hooks = [layers[-1].register_forward_hook(lambda m, a, o: captured.__setitem__("prenorm", o)),
             layers[0].register_forward_hook(lambda m, a, o: captured.__setitem__("in0", a[0]))]
    for i, layer in enumerate(layers):
        hooks.append(layer.register_forward_hook(lambda m, a, o, i=i: captured.__setitem__(f"out{i}", o)))
    try:
        out = model(**inputs, output_hidden_states=True, use_cache=False)
    finally:
        for h in hooks:
            h.remove()
    hs = out.hidden_states
    assert len(hs) == n_layers + 1
    assert embeds is None or torch.equal(hs[0], embeds)
    assert torch.equal(hs[0], captured["in0"])
    for i in range(1, n_layers):
        assert torch.equal(hs[i], captured[f"out{i - 1}"])
    assert torch.equal(hs[n_layers], decoder.norm(captured["prenorm"]))
    assert torch.equal(out.logits, model.lm_head(hs[n_layers]))
    return {"hidden": [h[0].float().contiguous() for h in hs], "prenorm": captured["prenorm"][0].contiguous(),
            "logits": out.logits[0].float().contiguous()}


def decoder_tensors(prefix, ids, ref, new):
    """<prefix>input_ids, <prefix>hidden.<i>, <prefix>final_prenorm, <prefix>logits, <prefix>greedy_ids"""
    tensors = {f"{prefix}input_ids": torch.tensor(ids, dtype=torch.int32)}
    for i, h in enumerate(ref["hidden"]):
        tensors[f"{prefix}hidden.{i}"] = h
    tensors[f"{prefix}final_prenorm"] = ref["prenorm"]
    tensors[f"{prefix}logits"] = ref["logits"]
    tensors[f"{prefix}greedy_ids"] = torch.tensor(new, dtype=torch.int32)
    return tensors


def save_reference(d, tensors):
    save_file(tensors, os.path.join(d, "reference.safetensors"), metadata={"format": "pt"})


def save_and_reload(model, cls, d, round_to, **save_kw):
    """Saves the model in its storage dtype (lossless: the weights were rounded to it already) and reads it back
    through from_pretrained in float32 with eager attention. The caller's model is converted in place."""
    model.to(round_to).save_pretrained(d, **save_kw)
    return cls.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
