"""bf16 parity fixtures: what `transformers` itself computes in bfloat16 ("plain"), beside the float32 references, so
that tests/test_bf16_parity.c can hold mmrt's bf16 mode to the issue's rule: on every compared tensor,
max |mmrt_bf16 - ref_f32| <= 2 * max |transformers_bf16 - ref_f32|.

1. tests/fixtures/llama/gqa-tied-bf16/reference_bf16.safetensors (+ reference_bf16.json): the existing bf16
   checkpoint loaded with from_pretrained(dtype=torch.bfloat16, attn_implementation="eager") and run on the SAME
   prompt ids as its reference.safetensors (which is not touched: it stays the float32 reference).
   tests/fixtures/granite_speech/reference_bf16.safetensors (+ .json): the same for Granite Speech's bf16 g4
   checkpoint, its audio encoder (three of its stages) and projector on one case's features (GRANITE_SPEECH_CASE);
   tests/fixtures/smolvlm/nonsquare/reference_bf16.*: SmolVLM's bf16 case, its image features (vision tower and
   connector) on the reference's pixel_values.
2. tests/fixtures/bf16/<case>/: a new tiny bf16 Llama whose greedy continuation has top-1/top-2 logit margins
   of at least MARGIN_OVER_ERROR x the bf16 error, so that greedy tokens must agree in bf16 too.

   config.json, generation_config.json, model.safetensors (bf16), tokenizer.json, tokenizer_config.json
                                the checkpoint; the tokenizer is tests/fixtures/llama's (copied)
   reference.safetensors        float32 reference: raw.input_ids, raw.hidden.<i>, raw.final_prenorm, raw.logits,
                                raw.greedy_ids (as tests/fixtures/llama, HIDDEN_DOC there)
   reference_bf16.safetensors   the same from transformers in bfloat16 (as f32); raw.greedy_ids is bf16's own
   reference.json               versions, config, init, margins, measured errors

Plain tensors are stored as float32 (every value is a bf16 value, so nothing is lost). Errors are max |x - ref| over
a tensor (absolute; the JSON also gives them relative to max |ref|).
"""

import copy
import json
import os
import shutil

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer
from transformers import AutoTokenizer, GraniteSpeechForConditionalGeneration, LlamaConfig, LlamaForCausalLM

import fixtures_common as fc
import fixtures_llama
from common import FIXTURES_DIR, rel, versions, write_json

OUT_DIR = os.path.join(FIXTURES_DIR, "bf16")
EXISTING = [("llama", "gqa-tied-bf16", ["raw", "chat"])]  # (family, case, prompts) given reference_bf16.*
# Granite Speech (tests/fixtures/granite_speech, its g4 checkpoint is bf16): the audio encoder and projector of one
# case from the features its reference used. Of the encoder's stages (the size budget) enc.0 (input_linear),
# enc.<L/2> (after the CTC self-conditioning add) and enc.<L> (the output), and the projector's output.
GRANITE_SPEECH_CASE = ("g4", "g4.hello_us")
# SmolVLM (tests/fixtures/smolvlm/nonsquare is its bf16 case): the vision tower + connector on the reference's
# pixel_values, only connector.out (the image features; the per-layer tensors are 229 KB each).
SMOLVLM_CASE = "nonsquare"
TOKENIZER_SRC = os.path.join(FIXTURES_DIR, "llama", "gqa-tied-bf16")

RAW_PROMPT = "3 quick foxes jumped."  # short: each logits tensor is n x 1024 floats
NEW_TOKENS = 32
MIN_DISTINCT = 24
# The acceptance rule: margins >= 4x the measured bf16 error (transformers' in bfloat16 against float32; mmrt's
# is about half of it, test_bf16_parity).
MARGIN_OVER_ERROR = 4.0
# Steps whose token is NOT lm_head's permutation of the previous token (see INIT): the layers, i.e. attention over
# the context through the KV cache, decide at least these many, so that the greedy check can see them.
MIN_CONTEXT_STEPS = 4
MAX_SEEDS = 200

CASE = "llama-margin"
CASE_DESCRIPTION = (
    "tiny Llama (hidden 64, GQA 2:1, 2 layers, untied lm_head) saved in bfloat16, whose 32 greedy tokens have "
    f"top-1/top-2 logit margins >= {MARGIN_OVER_ERROR:g}x the largest |logit| error of transformers in bfloat16, "
    f"at least {MIN_CONTEXT_STEPS} of them decided by the context (not by the previous token alone)")
CASE_CONFIG = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_hidden_layers=2,
                   intermediate_size=128, tie_word_embeddings=False, rope_theta=10000.0, rms_norm_eps=1e-5)
# fixtures_llama's init with gain 1 (gain 2 makes the residual stream, and so bf16's error, larger), and an lm_head
# made to predict: row perm[t] is (LM_HEAD_PERM_SCALE * embed[t] + N(0, 1)) / sqrt(1 + scale^2), so that after
# token t the logit of perm[t] tends to stand out by O(hidden) against O(sqrt(hidden)) for the others (margins
# large against the bf16 error). The larger the scale, the larger the margins, but the more the continuation is
# just the permutation walk (at 4 and above, 31 or 32 of 32 steps): 2 with MIN_CONTEXT_STEPS is the compromise.
INIT = {"linear_gain": 1.0, "embed_std": 1.0, "lm_head_std": 1.0, "norm_weight_range": [0.5, 1.5]}
LM_HEAD_PERM_SCALE = 2.0

REFERENCE_DOC = {
    "raw.input_ids": "I32 [n] prompt token ids (reference.safetensors only)",
    "raw.hidden.<i>": "F32 [n, hidden_size], i = 0..num_hidden_layers (tests/fixtures/llama's hidden_states_semantics)",
    "raw.final_prenorm": "F32 [n, hidden_size] output of the last decoder layer before the final RMSNorm",
    "raw.logits": "F32 [n, vocab_size] logits of the prompt forward pass (no cache)",
    "raw.greedy_ids": f"I32 [{NEW_TOKENS}] model.generate(do_sample=False) in that file's dtype; they are equal",
}


# ---------------------------------------------------------------------------------------------------------------

def load_bf16(d):
    return LlamaForCausalLM.from_pretrained(d, dtype=torch.bfloat16, attn_implementation="eager").eval()


def to_bf16(model):
    """A bfloat16 copy of model as from_pretrained(dtype=torch.bfloat16) makes it: Module.to() would round the RoPE
    inverse frequencies (a float buffer) too, from_pretrained keeps them float32."""
    out = copy.deepcopy(model).to(torch.bfloat16)
    for name, buf in model.model.rotary_emb.named_buffers():
        setattr(out.model.rotary_emb, name, buf.clone())
    return out


@torch.no_grad()
def forward_tensors(model, prompt, ids):
    """<prompt>.hidden.<i>, <prompt>.final_prenorm, <prompt>.logits of one no-cache forward, as float32."""
    x = torch.tensor([ids])
    ref = fc.decoder_reference(model, model.model, model.config.num_hidden_layers,
                               embeds=model.model.embed_tokens(x), input_ids=x)
    out = {f"{prompt}.hidden.{i}": h.float().contiguous() for i, h in enumerate(ref["hidden"])}
    out[f"{prompt}.final_prenorm"] = ref["prenorm"].float().contiguous()
    out[f"{prompt}.logits"] = ref["logits"].float().contiguous()
    return out


def errors(plain, ref):
    """Per tensor name: max |plain - ref| and the same over max |ref|."""
    out = {}
    for k, v in plain.items():
        if k.endswith("greedy_ids"):
            continue
        e = (v - ref[k]).abs().max().item()
        m = ref[k].abs().max().item()
        out[k] = {"max_abs_err": e, "max_abs_ref": m, "rel_err": e / m if m else 0.0}
    return out


def save_plain(d, tensors, doc):
    save_file(tensors, os.path.join(d, "reference_bf16.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(d, "reference_bf16.json"), doc)
    for f in ("reference_bf16.safetensors", "reference_bf16.json"):
        os.chmod(os.path.join(d, f), 0o644)


PLAIN_NOTE = ("reference_bf16.safetensors: the same tensors as reference.safetensors (input_ids and greedy_ids "
              "excepted) from from_pretrained(dir, dtype=torch.bfloat16, attn_implementation='eager') on the same "
              "prompt ids, stored as float32 (exact: each value is a bfloat16). transformers' bf16 keeps the "
              "residual stream, norms' outputs and every linear's output in bf16 (RMSNorm and softmax compute in "
              "f32 and round their outputs)")


def build_existing(family, case, prompts):
    d = os.path.join(FIXTURES_DIR, family, case)
    ref = load_file(os.path.join(d, "reference.safetensors"))
    model = load_bf16(d)
    plain = {}
    for p in prompts:
        plain.update(forward_tensors(model, p, ref[f"{p}.input_ids"].tolist()))
    err = errors(plain, ref)
    save_plain(d, plain, {"case": case, "versions": versions(), "note": PLAIN_NOTE,
                          "errors_vs_reference": err})
    worst = max(err.items(), key=lambda kv: kv[1]["rel_err"])
    print(f"bf16 plain {family}/{case}: worst {worst[0]} max|err| {worst[1]['max_abs_err']:.4g} "
          f"({worst[1]['rel_err']:.3g} of max|ref|) -> {rel(os.path.join(d, 'reference_bf16.safetensors'))}")


# ---------------------------------------------------------------------------------------------------------------
# The new case

def make_config(vocab_size):
    cfg = LlamaConfig(**fixtures_llama.COMMON, **CASE_CONFIG, vocab_size=vocab_size)
    cfg._attn_implementation = "eager"
    return cfg


def lm_head_perm(seed, vocab_size):
    return torch.randperm(vocab_size, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def init_weights(model, seed, round_to):
    fc.init_decoder_weights(model, seed, round_to, INIT)
    perm = lm_head_perm(seed, model.config.vocab_size)
    head = model.lm_head.weight
    s = LM_HEAD_PERM_SCALE
    head[perm] = (s * model.model.embed_tokens.weight + head) / (1.0 + s * s) ** 0.5
    head.copy_(head.to(round_to).to(torch.float32))


@torch.no_grad()
def run_greedy(model, ids):
    """Greedy ids, generate()'s per-step logits and a no-cache forward's logits over prompt + generation (f32)."""
    x = torch.tensor([ids])
    out = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=NEW_TOKENS,
                         min_new_tokens=0, output_logits=True, return_dict_in_generate=True)
    new = out.sequences[0, len(ids):].tolist()
    steps = torch.cat(out.logits, 0).float()
    full = model(out.sequences[:, :-1]).logits[0].float()
    return new, steps, full


def try_seed(cfg, seed, ids, tok):
    """The f32 model of this seed and its figures; accepted when its greedy run is diverse, bf16's greedy ids are
    the same and every step's margin is >= MARGIN_OVER_ERROR x bf16's largest logit error."""
    model = fc.random_model(LlamaForCausalLM, cfg, seed, torch.bfloat16, init_weights)
    new, steps, full = run_greedy(model, ids)
    q = fc.greedy_quality(new, tok.decode(new, skip_special_tokens=False), model.config.eos_token_id in new,
                          steps, full[len(ids) - 1:])
    bf16 = to_bf16(model)
    new_b, steps_b, _ = run_greedy(bf16, ids)
    with torch.no_grad():  # the f32 run's sequence, whatever bf16 generated
        full_b = bf16(torch.tensor([ids + new[:-1]])).logits[0].float()
    err = {"prompt_and_generation_forward": (full_b - full).abs().max().item(),
           "generate_steps": (steps_b - steps).abs().max().item() if new_b == new else 0.0}
    q["bf16_greedy_ids_equal"] = new_b == new
    perm, seq = lm_head_perm(seed, cfg.vocab_size).tolist(), ids + new
    q["context_steps"] = sum(seq[i] != perm[seq[i - 1]] for i in range(len(ids), len(seq)))
    q["bf16_logit_max_abs_err"] = err
    ok = (fc.acceptable(q, NEW_TOKENS, MIN_DISTINCT, 0.0) and new_b == new
          and q["context_steps"] >= MIN_CONTEXT_STEPS)
    if ok:
        worst = max(err.values())
        q["min_margin_over_bf16_err"] = q["min_top1_top2_margin"] / worst
        ok = q["min_margin_over_bf16_err"] >= MARGIN_OVER_ERROR
    return model, new, q, ok


def find_seed(cfg, ids, tok):
    rejected = 0
    for seed in range(1, MAX_SEEDS + 1):
        model, new, q, ok = try_seed(cfg, seed, ids, tok)
        if ok:
            return seed, model, new, q, rejected
        rejected += 1
    raise fc.no_seed(CASE, MAX_SEEDS)


def check_saved(d, model, ref, plain, prompt, ids):
    """The checkpoint read back reproduces both runs' logits exactly, in float32 and in bfloat16."""
    back = fc.save_and_reload(model, LlamaForCausalLM, d, torch.bfloat16)
    with torch.no_grad():
        assert torch.equal(back(torch.tensor([ids])).logits[0], ref[f"{prompt}.logits"])
        got = load_bf16(d)(torch.tensor([ids])).logits[0].float()
    assert torch.equal(got, plain[f"{prompt}.logits"])


def build_case():
    d = os.path.join(OUT_DIR, CASE)
    fc.fresh_dir(d)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(TOKENIZER_SRC, f), os.path.join(d, f))
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    prm = {"raw": fc.raw_and_chat_prompts(AutoTokenizer.from_pretrained(d), tok, RAW_PROMPT)["raw"]}
    ids = prm["raw"]["ids"]
    cfg = make_config(tok.get_vocab_size())
    seed, model, new, q, rejected = find_seed(cfg, ids, tok)

    ref = fc.decoder_tensors("raw.", ids, fixtures_llama.forward_reference(model, ids), new)
    plain = forward_tensors(to_bf16(model), "raw", ids)
    plain["raw.greedy_ids"] = torch.tensor(new, dtype=torch.int32)  # bf16's own, equal (try_seed)
    fc.save_reference(d, ref)
    fc.set_generation_config(model, eos_token_id=2)
    check_saved(d, model, ref, plain, "raw", ids)
    err = errors(plain, ref)
    save_file(plain, os.path.join(d, "reference_bf16.safetensors"), metadata={"format": "pt"})
    files = fc.finish_files(d)
    write_json(os.path.join(d, "reference.json"), {
        "case": CASE,
        "description": CASE_DESCRIPTION,
        "versions": versions(),
        "files": files,
        "weights": {"saved_dtype": "bfloat16", "reference_compute_dtype": "float32",
                    "plain_compute_dtype": "bfloat16"},
        "config_json": json.load(open(os.path.join(d, "config.json"))),
        "attn_implementation": "eager",
        "init": {"seed": seed, **INIT, "lm_head_perm_scale": LM_HEAD_PERM_SCALE, "seeds_rejected": rejected,
                 "note": "fixtures_llama's init, then lm_head[perm] = (scale * embed + lm_head) / sqrt(1 + scale^2) "
                         "with perm = torch.randperm(vocab, generator seeded with seed), rounded to bf16"},
        "prompts": {"raw": {k: v for k, v in prm["raw"].items() if k != "ids"} | {"n_tokens": len(ids)}},
        "tensors": REFERENCE_DOC,
        "plain_note": PLAIN_NOTE,
        "errors_vs_reference": err,
        "generation": {"call": f"model.generate(input_ids, attention_mask=ones, do_sample=False, "
                               f"max_new_tokens={NEW_TOKENS}), eager attention, in float32 and in bfloat16",
                       "criteria": f"{NEW_TOKENS} new tokens, no eos, >= {MIN_DISTINCT} distinct, the same ids in "
                                   "bfloat16, and min over steps of (top1 - top2) in float32 >= "
                                   f"{MARGIN_OVER_ERROR:g} x bf16_logit_max_abs_err (the larger of: the no-cache "
                                   "forward over prompt + generation, every position; generate()'s per-step "
                                   f"logits); >= {MIN_CONTEXT_STEPS} context_steps (steps whose token is not "
                                   "perm[previous token])",
                       "greedy_ids": new,
                       **fc.decoded_texts(AutoTokenizer.from_pretrained(d), tok, new, "text"),
                       **q},
    })
    print(f"bf16 {CASE}: seed {seed} ({rejected} rejected), distinct {q['distinct']}, min margin "
          f"{q['min_top1_top2_margin']:.4g} = {q['min_margin_over_bf16_err']:.3g} x bf16 logit error, "
          f"{q['context_steps']} context steps, "
          f"{fc.total_size(d, files) // 1024} KiB -> {rel(d)}")


@torch.no_grad()
def build_granite_speech():
    root = os.path.join(FIXTURES_DIR, "granite_speech")
    ckpt, key = GRANITE_SPEECH_CASE
    with open(os.path.join(root, "reference.json"), encoding="utf-8") as f:
        case = json.load(f)["cases"][key]
    ref = load_file(os.path.join(root, "reference.safetensors"))
    feats = ref[case["features_tensor"]]  # (n_frames, 160) f32, the processor's
    model = GraniteSpeechForConditionalGeneration.from_pretrained(
        os.path.join(root, ckpt), dtype=torch.bfloat16, attn_implementation="eager").eval()
    enc = model.model.encoder
    L = enc.num_layers
    eo = enc(feats.to(torch.bfloat16)[None], output_hidden_states=True)
    proj = model.model.projector(eo.last_hidden_state)
    plain = {f"{key}.enc.{i}": eo.hidden_states[i][0].float().contiguous() for i in (0, L // 2, L)}
    plain[f"{key}.proj"] = proj[0].float().contiguous()
    err = errors(plain, ref)
    save_plain(root, plain, {
        "checkpoint": ckpt, "case": key, "versions": versions(),
        "note": "reference_bf16.safetensors: <case>.enc.<i> (i = 0, L/2, L) and <case>.proj as in reference.safetensors "
                f"(enc.<L> is its <case>.enc.{L}), from GraniteSpeechForConditionalGeneration.from_pretrained(dir, "
                "dtype=torch.bfloat16, attn_implementation='eager'): model.model.encoder(<features_tensor> rounded "
                "to bf16, output_hidden_states=True) and model.model.projector of its output, stored as float32",
        "features_tensor": case["features_tensor"], "errors_vs_reference": err})
    worst = max(err.items(), key=lambda kv: kv[1]["rel_err"])
    print(f"bf16 plain granite_speech/{ckpt} {key}: worst {worst[0]} max|err| {worst[1]['max_abs_err']:.4g} "
          f"({worst[1]['rel_err']:.3g} of max|ref|) -> {rel(os.path.join(root, 'reference_bf16.safetensors'))}")


def build_smolvlm():
    import fixtures_smolvlm  # torchvision and friends: only here

    d = os.path.join(FIXTURES_DIR, "smolvlm", SMOLVLM_CASE)
    ref = load_file(os.path.join(d, "reference.safetensors"))
    cls = fixtures_smolvlm.model_class(SMOLVLM_CASE)
    model = cls.from_pretrained(d, dtype=torch.bfloat16, attn_implementation="eager").eval()
    pv = ref["pixel_values"].to(torch.bfloat16)[None]  # (1, n_tiles, 3, H, W) as the processor gave it
    vref = fixtures_smolvlm.vision_reference(model, pv, ref["pixel_attention_mask"].bool()[None])
    plain = {"connector.out": vref["connector"].float().contiguous()}
    err = errors(plain, ref)
    save_plain(d, plain, {
        "case": SMOLVLM_CASE, "versions": versions(),
        "note": "reference_bf16.safetensors: connector.out as in reference.safetensors, from "
                f"{cls.__name__}.from_pretrained(dir, dtype=torch.bfloat16, attn_implementation='eager'): "
                "model.model.get_image_features(pixel_values rounded to bf16, pixel_attention_mask), stored as float32",
        "errors_vs_reference": err})
    e = err["connector.out"]
    print(f"bf16 plain smolvlm/{SMOLVLM_CASE}: connector.out max|err| {e['max_abs_err']:.4g} ({e['rel_err']:.3g} of "
          f"max|ref|) -> {rel(os.path.join(d, 'reference_bf16.safetensors'))}")


def generate():
    fc.deterministic_torch()
    for family, case, prompts in EXISTING:
        build_existing(family, case, prompts)
    build_granite_speech()
    build_smolvlm()
    build_case()
