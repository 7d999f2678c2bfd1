"""Granite fixtures: tiny random `GraniteForCausalLM` checkpoints (muP multipliers != 1) with the Granite 3.x and
Granite 4.x tokenizer pipelines (tools/granite_tokenizers.py), reference activations, logits and greedy
generations computed by `transformers` (eager attention, float32), tokenizer round trips over the hard-string
corpus, and on the 3.x case a PEFT LoRA adapter with references with the adapter on and off.

tests/fixtures/granite/<case>/
  config.json, generation_config.json          as save_pretrained writes them
  model.safetensors
  tokenizer.json, tokenizer_config.json, chat_template.jinja
  reference.safetensors                        <p>.input_ids, <p>.hidden.<i>, <p>.final_prenorm, <p>.logits,
                                               <p>.greedy_ids for p in raw, chat (adapter off: the base model);
                                               with an adapter also lora.<p>.logits, lora.<p>.greedy_ids
  reference.json                               everything else
  tokenizer_expected.json                      per corpus string: text, ids, decoded, decoded_skip
  adapter_config.json, adapter_model.safetensors   (granite3 case) PEFT LoRA adapter, as PeftModel.save_pretrained
                                               writes them
"""

import json
import os

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from tokenizers import Tokenizer
from transformers import AutoTokenizer, GraniteConfig, GraniteForCausalLM

import corpus
import fixtures_common as fc
import fixtures_llama
import granite_tokenizers
from common import FIXTURES_DIR, rel, versions, write_json

OUT_DIR = os.path.join(FIXTURES_DIR, "granite")

RAW_PROMPT = "In 2024, 3 quick foxes jumped over 12,345 lazy dogs; it's 你好 👍🏽."

COMMON = dict(max_position_embeddings=256, hidden_act="silu", attention_bias=False, mlp_bias=False,
              attention_dropout=0.0, use_cache=True)

CASES = {
    "granite3-tied-bf16": dict(
        description="Granite 3.x-like: Granite 3.x tokenizer pipeline (refact: Digits + ByteLevel), "
                    "<|end_of_text|> = id 0 = bos/eos/pad, GQA 2:1, tied embeddings, weights saved in bfloat16 "
                    "(references in float32 from the bf16 values); attention_multiplier 1/head_dim (not "
                    "1/sqrt(head_dim)); PEFT LoRA adapter on q_proj + v_proj",
        tokenizer="granite3",
        config=dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
                    intermediate_size=128, tie_word_embeddings=True, rope_theta=5000000.0, rms_norm_eps=1e-5,
                    embedding_multiplier=12.0, attention_multiplier=0.0625, residual_multiplier=0.22,
                    logits_scaling=8.0),
        save_dtype=torch.bfloat16,
        lora=dict(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], b_std=0.5, seed=7)),
    "granite4-untied-f32": dict(
        description="Granite 4.x-like: Granite 4.x tokenizer pipeline (dbrx: cl100k Split + ByteLevel), bos = eos "
                    "= <|end_of_text|>, pad <|pad|>, MQA (1 kv head), head_dim 12, untied lm_head, float32",
        tokenizer="granite4",
        config=dict(hidden_size=48, num_attention_heads=4, num_key_value_heads=1, num_hidden_layers=3,
                    intermediate_size=96, tie_word_embeddings=False, rope_theta=10000.0, rms_norm_eps=1e-5,
                    embedding_multiplier=12.0, attention_multiplier=0.1, residual_multiplier=0.22,
                    logits_scaling=4.0),
        save_dtype=torch.float32,
        lora=None),
}

# As the Llama fixtures, but the embeddings are N(0, (1/12)^2) so that after embedding_multiplier 12 the residual
# stream starts at O(1) (N(0, 1) embeddings times 12 swamp every sublayer's output, scaled by 0.22, and the model
# repeats one token), and linear gain 4 so that sublayer outputs still count after residual_multiplier.
INIT = {"linear_gain": 4.0, "embed_std": 1.0 / 12.0, "lm_head_std": 1.0, "norm_weight_range": [0.5, 1.5]}

HIDDEN_DOC = (
    "<p>.hidden.<i> for i in 0..L is output_hidden_states[i] of GraniteForCausalLM in transformers 5.23: i = 0 is "
    "the input of layer 0, i.e. embed_tokens(input_ids) * embedding_multiplier; 1 <= i < L the output of layer "
    "i-1 (residual stream, sublayer outputs scaled by residual_multiplier before each add); i = L is model.norm "
    "of the last layer's output (last_hidden_state). <p>.final_prenorm is the last layer's raw output. "
    "<p>.logits = lm_head(hidden.<L>) / logits_scaling. Checked by the generator with hooks.")

LOGIT_ROWS = 8  # prompt positions whose logits are stored (the last ones)
REFERENCE_DOC = {
    "<p>.input_ids": "I32 [n] prompt token ids (p = raw | chat)",
    "<p>.hidden.<i>": "F32 [n, hidden_size], i = 0..num_hidden_layers, see hidden_states_semantics",
    "<p>.final_prenorm": "F32 [n, hidden_size] output of the last decoder layer before the final RMSNorm",
    "<p>.logits": f"F32 [min(n, {LOGIT_ROWS}), vocab_size] logits of the prompt forward pass (no cache), adapter off, "
                   f"at its last {LOGIT_ROWS} positions",
    "<p>.greedy_ids": f"I32 [{fixtures_llama.NEW_TOKENS}] new tokens of model.generate(do_sample=False), adapter "
                      "off",
    "lora.<p>.logits": f"F32 [min(n, {LOGIT_ROWS}), vocab_size] the same with the PEFT adapter on (PeftModel, adapter 'default')",
    "lora.<p>.greedy_ids": f"I32 [{fixtures_llama.NEW_TOKENS}] greedy tokens with the adapter on",
}


# --------------------------------------------------------------------------------------------------------------

def build_tokenizer(kind, d):
    hf = getattr(granite_tokenizers, kind)(with_audio=False)
    hf.save_pretrained(d)
    return Tokenizer.from_file(os.path.join(d, "tokenizer.json"))


def prompts(d, tok):
    hf = AutoTokenizer.from_pretrained(d)
    out = fc.raw_and_chat_prompts(hf, tok, RAW_PROMPT)
    for p in out.values():
        assert hf(p["text"], add_special_tokens=False)["input_ids"] == p["ids"]
    return out, type(hf).__name__


def special_ids(tok, kind):
    eot = tok.token_to_id("<|end_of_text|>")
    pad = eot if kind == "granite3" else tok.token_to_id("<|pad|>")
    return eot, eot, pad


def make_config(case, vocab_size, bos, eos, pad):
    kw = dict(COMMON)
    kw.update(CASES[case]["config"])
    kw.update(vocab_size=vocab_size, bos_token_id=bos, eos_token_id=eos, pad_token_id=pad)
    cfg = GraniteConfig(**kw)
    cfg._attn_implementation = "eager"
    return cfg


def init_weights(model, seed, round_to):
    fc.init_decoder_weights(model, seed, round_to, INIT)


# Greedy generation and its acceptance are the Llama fixtures' (64 new tokens, no eos = config.eos_token_id, >= 20
# distinct, top-2 margin >= 1e-3 max |logit|).
greedy = fixtures_llama.greedy
acceptable = fixtures_llama.acceptable
NEW_TOKENS = fixtures_llama.NEW_TOKENS


def find_seed(case, cfg, round_to, prompt_ids, tok):
    for seed in range(1, fixtures_llama.MAX_SEEDS + 1):
        model = fc.random_model(GraniteForCausalLM, cfg, seed, round_to, init_weights)
        results = {p: greedy(model, ids, tok) for p, ids in prompt_ids.items()}
        if all(acceptable(q) for _, q in results.values()):
            return seed, model, results
    raise fc.no_seed(case, fixtures_llama.MAX_SEEDS)


class _ScaledHead:
    """model for fc.decoder_reference, whose lm_head includes GraniteForCausalLM's division by logits_scaling (its
    check logits == lm_head(hidden.L) then holds exactly, as the model computes it)."""

    def __init__(self, model):
        self.model = model

    def __call__(self, **kw):
        return self.model(**kw)

    def lm_head(self, h):
        return self.model.lm_head(h) / self.model.config.logits_scaling


def tokenizer_expected(tok):
    strings = corpus.test_strings() + [
        "<|start_of_role|>user<|end_of_role|>it's 12345 you'll<|end_of_text|>\n",
        "a\n\n\n\nb\r\n\r\nc  \t  d", "1234567890 0.5 -17 1e10 ３４５", "I'M YOU'RE we'Ve", "<|end_of_text|><|pad|>"]
    strings = list(dict.fromkeys(strings))
    cases = []
    for s in strings:
        ids = tok.encode(s, add_special_tokens=False).ids
        cases.append({"text": s, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
                      "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
    return cases


ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def _load_base(d):
    """The saved base model read back in float32, before any adapter file is in d (from_pretrained would load an
    adapter it finds there by itself)."""
    assert not any(os.path.exists(os.path.join(d, f)) for f in ADAPTER_FILES)
    return GraniteForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()


@torch.no_grad()
def _try_adapter(spec, seed, d, prm, tok):
    """One random adapter (A as PEFT initialises it after torch.manual_seed(seed), B ~ N(0, (b_std / sqrt(r))^2)),
    saved into d and read back through PeftModel.from_pretrained onto a fresh base, as a user loads it. Returns the
    loaded model and its greedy generations."""
    for f in ADAPTER_FILES:
        if os.path.exists(os.path.join(d, f)):
            os.remove(os.path.join(d, f))
    base, fresh = _load_base(d), _load_base(d)
    torch.manual_seed(seed)
    cfg = LoraConfig(r=spec["r"], lora_alpha=spec["lora_alpha"], target_modules=spec["target_modules"],
                     lora_dropout=0.0, bias="none", task_type="CAUSAL_LM")
    peft_model = get_peft_model(base, cfg)
    g = torch.Generator().manual_seed(seed)
    for name, p in peft_model.named_parameters():
        if "lora_B" in name:
            p.copy_(spec["b_std"] / spec["r"] ** 0.5 * torch.randn(p.shape, generator=g))
    peft_model.eval()
    peft_model.save_pretrained(d)
    os.remove(os.path.join(d, "README.md"))  # PEFT's model card template
    # base_model_name_or_path is the absolute path of this machine's checkout: keep it relative
    acfg_path = os.path.join(d, "adapter_config.json")
    acfg = json.load(open(acfg_path))
    acfg["base_model_name_or_path"] = "."
    with open(acfg_path, "w") as f:
        json.dump(acfg, f, indent=2, sort_keys=True)
        f.write("\n")
    loaded = PeftModel.from_pretrained(fresh, d).eval()
    for v in prm.values():
        x = torch.tensor([v["ids"]])
        assert torch.equal(loaded(input_ids=x).logits, peft_model(input_ids=x).logits)
    return loaded, {p: greedy(loaded, v["ids"], tok) for p, v in prm.items()}


@torch.no_grad()
def add_lora(spec, d, prm, tok):
    """A PEFT LoRA adapter (adapter 'default') on the base saved in d: adapter seeds from spec["seed"] on are tried
    until the greedy generations with it on pass the same acceptance as the base's. Returns the references."""
    for seed in range(spec["seed"], spec["seed"] + fixtures_llama.MAX_SEEDS):
        loaded, results = _try_adapter(spec, seed, d, prm, tok)
        if all(acceptable(q) for _, q in results.values()):
            break
    else:
        raise fc.no_seed("LoRA adapter", fixtures_llama.MAX_SEEDS)
    tensors, info = {}, {}
    for p, v in prm.items():
        x = torch.tensor([v["ids"]])
        logits = loaded(input_ids=x).logits[0].float().contiguous()
        new, q = results[p]
        tensors[f"lora.{p}.logits"] = logits
        tensors[f"lora.{p}.greedy_ids"] = torch.tensor(new, dtype=torch.int32)
        info[p] = {**fc.decoded_texts(AutoTokenizer.from_pretrained(d), tok, new, "text_all"), "greedy_quality": q}
        with loaded.disable_adapter():
            info[p]["max_abs_logit_change_vs_base"] = (logits - loaded(input_ids=x).logits[0]).abs().max().item()
    acfg = json.load(open(os.path.join(d, "adapter_config.json")))
    info["adapter_config"] = {k: acfg[k] for k in ("peft_type", "r", "lora_alpha", "target_modules", "use_rslora",
                                                    "use_dora", "bias", "fan_in_fan_out")}
    info["scale"] = spec["lora_alpha"] / spec["r"]
    info["init"] = {"lora_A": "PEFT default (kaiming uniform), torch.manual_seed(seed) before get_peft_model",
                    "lora_B": "N(0, (b_std / sqrt(r))^2) from a generator seeded with seed", **spec, "seed": seed}
    return tensors, info


def build_case(case):
    spec = CASES[case]
    d = os.path.join(OUT_DIR, case)
    fc.fresh_dir(d)
    tok = build_tokenizer(spec["tokenizer"], d)
    prm, hf_tok_class = prompts(d, tok)
    bos, eos, pad = special_ids(tok, spec["tokenizer"])
    cfg = make_config(case, tok.get_vocab_size(), bos, eos, pad)
    round_to = spec["save_dtype"]
    seed, model, results = find_seed(case, cfg, round_to, {p: v["ids"] for p, v in prm.items()}, tok)

    tensors, greedy_info = {}, {}
    hf_tok = AutoTokenizer.from_pretrained(d)
    for p, v in prm.items():
        x = torch.tensor([v["ids"]])
        ref = fc.decoder_reference(_ScaledHead(model), model.model, cfg.num_hidden_layers,
                                   embeds=model.model.embed_tokens(x) * cfg.embedding_multiplier, input_ids=x)
        new, q = results[p]
        tensors.update(fc.decoder_tensors(f"{p}.", v["ids"], ref, new))
        greedy_info[p] = {**fc.decoded_texts(hf_tok, tok, new, "text_all"), **q}

    model.generation_config.bos_token_id = bos
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = pad
    back = fc.save_and_reload(model, GraniteForCausalLM, d, round_to)
    del model
    with torch.no_grad():
        for p, v in prm.items():
            assert torch.equal(back(input_ids=torch.tensor([v["ids"]])).logits[0], tensors[f"{p}.logits"]), (case, p)

    lora_info = None
    if spec["lora"]:
        del back
        lt, lora_info = add_lora(spec["lora"], d, prm, tok)
        tensors.update(lt)
    # the logits of the last LOGIT_ROWS positions only (all of them were 1.7 MB of the fixture): every position's
    # decoder output is still checked through hidden.<L> and final_prenorm, from which the logits follow by lm_head
    tensors = {k: (v[-LOGIT_ROWS:].contiguous() if k.endswith(".logits") else v) for k, v in tensors.items()}
    fc.save_reference(d, tensors)
    write_json(os.path.join(d, "tokenizer_expected.json"),
               {"versions": versions(), "note": "ids of tokenizers.Tokenizer.from_file('tokenizer.json').encode(text, "
                                                "add_special_tokens=False); decoded(_skip): decode(ids, "
                                                "skip_special_tokens=False/True)",
                "cases": tokenizer_expected(tok)})

    config_json = json.load(open(os.path.join(d, "config.json")))
    files = fc.finish_files(d)
    write_json(os.path.join(d, "reference.json"), {
        "case": case,
        "description": spec["description"],
        "versions": versions(),
        "files": files,
        "weights": {"saved_dtype": str(round_to).replace("torch.", ""), "reference_compute_dtype": "float32",
                    "tie_word_embeddings": config_json.get("tie_word_embeddings")},
        "config_json": config_json,
        "attn_implementation": "eager",
        "init": {"seed": seed, **INIT},
        "tokenizer": {"pipeline": spec["tokenizer"], "vocab_size": tok.get_vocab_size(),
                      "transformers_class": hf_tok_class, "bos_eos_pad": [bos, eos, pad]},
        "prompts": {p: {k: v for k, v in x.items() if k != "ids"} | {"n_tokens": len(x["ids"])}
                    for p, x in prm.items()},
        "tensors": REFERENCE_DOC,
        "hidden_states_semantics": HIDDEN_DOC,
        "generation": {"call": f"model.generate(input_ids, attention_mask=ones, do_sample=False, max_new_tokens="
                               f"{NEW_TOKENS}) in float32, eager attention",
                       "text_note": fc.TEXT_NOTE, **greedy_info},
        "lora": lora_info,
    })
    print(f"granite {case}: seed {seed}, "
          + ", ".join(f"{p}: n={len(prm[p]['ids'])} distinct={greedy_info[p]['distinct']}" for p in prm)
          + (f", lora change {lora_info['raw']['max_abs_logit_change_vs_base']:.3f}" if lora_info else "")
          + f", {fc.total_size(d, files) // 1024} KiB -> {rel(d)}")


def generate(cases=None):
    fc.deterministic_torch()
    for case in cases or list(CASES):
        build_case(case)
