"""GGUF parity fixtures: tiny random `LlamaForCausalLM` checkpoints converted by llama.cpp's OWN converter
(convert_hf_to_gguf.py) and quantizer (llama-quantize), with references computed by `transformers` from the weights
as the GGUF holds them (dequantized by gguf-py, the q/k RoPE row permutation undone, names mapped back).

llama.cpp comes from the pinned llama-cpp-python sdist, built outside the tree by bench/peers/build_llama_cpp.sh
(run here when needed: minutes). Nothing of llama.cpp is committed.

tests/fixtures/gguf_llama/<case>/
  model-<TYPE>.gguf                     what convert_hf_to_gguf.py (F16, BF16) / llama-quantize (the rest) wrote
  config.json, tokenizer.json, tokenizer_config.json
                                        the HF checkpoint's (its model.safetensors is not kept: the GGUFs hold it)
  reference.safetensors                 <p>.input_ids, <TYPE>.<p>.logits, <TYPE>.<p>.greedy_ids,
                                        <TYPE>.<p>.greedy_margins (see REFERENCE_DOC)
  reference.json                        versions, which tensor has which type, tokenizer check, quality figures

Budget (2.5 MB for the whole group) decides the cases: K-quants need rows that are multiples of 256, so the
K-quant case has hidden = intermediate = n_head * head_dim = 256 and one layer and keeps only the quantized files;
F16 and BF16 come from a second, smaller (hidden 32), untied, two-layer case, and so do Q5_0 and Q5_1 (llama-quantize's
ftypes of those names): its 32-wide rows are what makes llama.cpp store Q5_0 / Q5_1 in files of models whose
widths are not multiples of 256 (SmolLM2-135M: 576), where K-quant types fall back to them.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

import fixtures_common as fc
import fixtures_llama
import fixtures_tokenizer
from common import FIXTURES_DIR, REPO_ROOT, versions, write_json

OUT_DIR = os.path.join(FIXTURES_DIR, "gguf_llama")
BUILD_SCRIPT = os.path.join(REPO_ROOT, "bench", "peers", "build_llama_cpp.sh")

TOKENIZER_VOCAB = 288
PRE_TOKENIZER = "smollm"  # llama.cpp's name for SmolLM's Digits(individual) + ByteLevel(GPT-2 regex) pipeline
RAW_PROMPT = "In 2024, 3 quick foxes jumped over 12,345 lazy dogs."
TOKENIZER_CHECK = ["Hello world", "  two  spaces\tand a tab\n", "naïve café 😀 123456",
                   "<|im_start|>user\nhi<|im_end|>"]
N_LAST = 4        # logits kept for the last N_LAST positions of each prompt
NEW_TOKENS = 24   # greedy tokens per prompt
SEED = 1
MAX_SEEDS = 200
MIN_DISTINCT = 16
MARGIN_FACTOR = 3e-3
SEED_RULE = (f"the first seed from {SEED} whose float32 HF model (before conversion) gives >= {MIN_DISTINCT} distinct "
             f"greedy tokens on both prompts with every step's top1 - top2 logit gap >= {MARGIN_FACTOR} * max|logit|; "
             "the GGUF variants' own figures are under gguf.<TYPE>.quality")

COMMON = dict(bos_token_id=1, eos_token_id=2, pad_token_id=2, max_position_embeddings=256, hidden_act="silu",
              attention_bias=False, mlp_bias=False, attention_dropout=0.0, use_cache=True, rope_theta=10000.0,
              rms_norm_eps=1e-5)
INIT = {"linear_gain": 2.0, "embed_std": 1.0, "lm_head_std": 1.0, "norm_weight_range": [0.5, 1.5]}

# outtype: convert_hf_to_gguf --outtype for the converted file(s); quantize: llama-quantize types made from the
# f32 conversion; keep: the file tags that are committed (tag = what follows "model-").
CASES = {
    "tied-k256": dict(
        description="K-quant case: hidden 256, 4 heads of 64, 2 KV heads (GQA 2:1), intermediate 256, 1 layer, tied "
                    "embeddings (no output.weight in the GGUF). Quantized from the f32 conversion",
        config=dict(hidden_size=256, num_attention_heads=4, num_key_value_heads=2, head_dim=64, num_hidden_layers=1,
                    intermediate_size=256, tie_word_embeddings=True),
        init={"embed_std": 0.25},  # with N(0, 1) tied embeddings greedy output echoes its input token
        outtype=["f32"], quantize=["Q8_0", "Q4_0", "Q4_1", "Q4_K_M", "Q5_K_S", "Q6_K"],
        keep=["Q8_0", "Q4_0", "Q4_1", "Q4_K_M", "Q5_K_S", "Q6_K"]),
    "untied-f16": dict(
        description="F16 / BF16 / Q5_0 / Q5_1 case: hidden 32, 4 heads of 8, 2 KV heads, intermediate 64, 2 layers, "
                    "untied lm_head (output.weight). Converted directly with --outtype f16 and bf16; Q5_0 and Q5_1 "
                    "quantized from the f32 conversion",
        config=dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=8, num_hidden_layers=2,
                    intermediate_size=64, tie_word_embeddings=False),
        init={}, outtype=["f16", "bf16", "f32"], quantize=["Q5_0", "Q5_1"], keep=["F16", "BF16", "Q5_0", "Q5_1"]),
}

# GGUF tensor name (blk.N. prefix removed) -> transformers parameter name (model.layers.N. prefix removed)
NAME_MAP = {
    "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
    "attn_norm.weight": "input_layernorm.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight", "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight", "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}

REFERENCE_DOC = {
    "<p>.input_ids": "I32 [n] prompt token ids (p = raw | chat), no special tokens added",
    "<TYPE>.<p>.logits": f"F32 [{N_LAST}, vocab] logits of the last {N_LAST} prompt positions (no cache) of "
                         "LlamaForCausalLM (float32, eager attention) loaded with model-<TYPE>.gguf's weights "
                         "dequantized by gguf.quants.dequantize",
    "<TYPE>.<p>.greedy_ids": f"I32 [<= {NEW_TOKENS}] model.generate(do_sample=False, max_new_tokens={NEW_TOKENS}) "
                             "from that model (prompt excluded; shorter only if it ended with eos, see "
                             "gguf.<TYPE>.quality.<p>.stopped_at_eos)",
    "<TYPE>.<p>.greedy_margins": "F32, one per greedy token: the top1 - top2 logit gap of each greedy step: a "
                                 "runtime whose logits differ by e may pick another token where the gap is below 2e, "
                                 "and from there on the sequences part; compare greedy ids up to the first such step",
}
PERMUTE_DOC = (
    "convert_hf_to_gguf.py (LlamaModel.permute) stores attn_q / attn_k rows permuted for ggml's RoPE, which "
    "rotates adjacent pairs (x[2i], x[2i+1]) where transformers rotates halves (x[i], x[i+d/2]): with H = n_head "
    "for attn_q and n_head_kv for attn_k and d = head_dim, GGUF row h*d + 2*i + j = HF row h*d + j*(d/2) + i "
    "(j in {0,1}, i < d/2). The references undo it; a runtime that applies RoPE to adjacent pairs uses the rows "
    "as stored.")


# --------------------------------------------------------------------------------------------------------------
# llama.cpp

def llama_cpp_paths():
    """build_llama_cpp.sh's printed paths (it builds first if needed, skipping finished steps)."""
    out = subprocess.run(["bash", BUILD_SCRIPT], check=True, stdout=subprocess.PIPE, text=True).stdout
    paths = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        paths[key] = value.strip('"')
    return paths


# The converter identifies a BPE pre-tokenizer by the hash of its tokenization of a test string, which for a
# freshly trained vocabulary matches no known model. Our tokenizer.json's pre-tokenizer IS SmolLM's (checked by
# check_pre_tokenizer), so the converter is told the name instead of hashing.
CONVERT_WRAPPER = """
import runpy, sys
sys.path.insert(0, sys.argv[1])
sys.path.insert(1, sys.argv[1] + "/gguf-py")
import conversion.base
pre = sys.argv[2]
conversion.base.TextModel.get_vocab_base_pre = lambda self, tokenizer: pre
script = sys.argv[1] + "/convert_hf_to_gguf.py"
sys.argv = [script] + sys.argv[3:]
runpy.run_path(script, run_name="__main__")
"""


def check_pre_tokenizer(model_dir):
    with open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8") as f:
        pre = json.load(f)["pre_tokenizer"]
    want = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    assert pre == want, f"{model_dir}: pre-tokenizer is not SmolLM's, cannot call it {PRE_TOKENIZER!r}: {pre}"


def convert(paths, model_dir, outtype, out):
    check_pre_tokenizer(model_dir)
    log = subprocess.run([sys.executable, "-c", CONVERT_WRAPPER, paths["LLAMA_CPP_SRC"], PRE_TOKENIZER, model_dir,
                          "--outtype", outtype, "--outfile", out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    if log.returncode != 0:
        raise RuntimeError(f"convert_hf_to_gguf.py --outtype {outtype} failed:\n{log.stdout[-3000:]}")


def quantize(paths, src, qtype, out, threads=1):
    """llama-quantize; the fixtures use 1 thread (the result does not depend on it, but that is not promised)."""
    log = subprocess.run([os.path.join(paths["LLAMA_CPP_BIN"], "llama-quantize"), src, out, qtype, str(threads)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if log.returncode != 0:
        raise RuntimeError(f"llama-quantize {qtype} failed:\n{log.stdout[-3000:]}")


def token_bytes(tok, ids):
    """The bytes that ids stand for (byte-level symbols mapped back; special tokens as their text)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    byte_of = {c: b for b, c in bytes_to_unicode().items()}
    specials = {t.content for t in tok.get_added_tokens_decoder().values()}
    out = b""
    for i in ids:
        piece = tok.id_to_token(i)
        out += piece.encode("utf-8") if piece in specials else bytes(byte_of[c] for c in piece)
    return out


def llama_cpp_agreement(paths, gguf_path, tok, prompt_ids, new):
    """How many of the reference's greedy tokens llama.cpp itself (llama-simple: its own tokenizer and kernels,
    which multiply quantized weights by quantized activations) reproduces, compared as bytes; -1 if the prompt it
    echoes differs from ours. Informational: recorded, not asserted."""
    prompt = token_bytes(tok, prompt_ids)
    run = subprocess.run([os.path.join(paths["LLAMA_CPP_BIN"], "llama-simple"), "-m", gguf_path, "-n", str(len(new)),
                          prompt.decode("utf-8")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
    if not run.stdout.startswith(prompt):
        return -1
    k = 0
    while k < len(new) and run.stdout.startswith(prompt + token_bytes(tok, new[:k + 1])):
        k += 1
    return k


# --------------------------------------------------------------------------------------------------------------
# GGUF -> transformers state dict

def unpermute(w, n_head):
    """Inverse of convert_hf_to_gguf's LlamaModel.permute (see PERMUTE_DOC). w: (n_head * head_dim, n_in)"""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_name(name):
    if name.startswith("blk."):
        _, n, rest = name.split(".", 2)
        return f"model.layers.{n}.{NAME_MAP[rest]}"
    return NAME_MAP[name]


def field_value(reader, key):
    return reader.get_field(key).contents()


def gguf_state_dict(path, cfg):
    """{HF name: float32 tensor}, {GGUF name: {type, shape}} and the file's metadata we record."""
    import gguf
    reader = gguf.GGUFReader(path)
    state, types = {}, {}
    for t in reader.tensors:
        w = np.array(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
        shape = [int(x) for x in t.shape]  # ggml order: ne0 (row length) first
        w = w.reshape(list(reversed(shape)))
        if t.name.endswith("attn_q.weight"):
            w = unpermute(w, cfg.num_attention_heads)
        elif t.name.endswith("attn_k.weight"):
            w = unpermute(w, cfg.num_key_value_heads)
        state[hf_name(t.name)] = torch.from_numpy(w.copy())
        types[t.name] = {"type": t.tensor_type.name, "shape": shape}
    meta = {k: field_value(reader, k) for k in ("general.file_type", "tokenizer.ggml.model", "tokenizer.ggml.pre")}
    meta["general.file_type"] = gguf.LlamaFileType(meta["general.file_type"]).name
    tokens = field_value(reader, "tokenizer.ggml.tokens")
    return state, types, meta, tokens


def load_into(model, state):
    """Loads a GGUF's state dict; with tied embeddings lm_head comes from token_embd (the GGUF has no output)."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    allowed = {"lm_head.weight"} if model.config.tie_word_embeddings else set()
    assert not unexpected and set(missing) <= allowed, (missing, unexpected)
    if model.config.tie_word_embeddings:
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


# --------------------------------------------------------------------------------------------------------------
# HF checkpoint and references

def make_tokenizer(model_dir):
    """The fixtures' SmolLM2-style tokenizer (small vocab) + tokenizer_config.json in model_dir; the prompts."""
    tok = fc.train_smollm2_tokenizer(model_dir, TOKENIZER_VOCAB)
    fc.write_tokenizer_config(model_dir, tok, fixtures_tokenizer.SMOLLM2_SPECIALS,
                              additional_special_tokens=["<|im_start|>", "<|im_end|>"], eos_token="<|im_end|>",
                              chat_template=fixtures_llama.SMOLLM2_CHAT_TEMPLATE)
    hf = AutoTokenizer.from_pretrained(model_dir)
    return tok, fc.raw_and_chat_prompts(hf, tok, RAW_PROMPT)


def good_enough(figures):
    """A seed is kept when the float32 model's greedy runs are diverse and no step is a near tie."""
    return all(q["distinct_greedy_tokens"] >= MIN_DISTINCT and not q["stopped_at_eos"] and
               q["min_greedy_top1_top2_margin"] >= MARGIN_FACTOR * q["max_abs_logit"] for q in figures.values())


def case_init(case):
    return {**INIT, **CASES[case]["init"]}


def make_model(case, model_dir, vocab_size, ids):
    """The first seeded random LlamaForCausalLM (seeds SEED, SEED + 1, ...) whose greedy runs on the prompts are
    good_enough, saved in float32 into model_dir."""
    cfg = LlamaConfig(**COMMON, **CASES[case]["config"], vocab_size=vocab_size)
    cfg._attn_implementation = "eager"
    init = case_init(case)
    for seed in range(SEED, SEED + MAX_SEEDS):
        model = fc.random_model(LlamaForCausalLM, cfg, seed, torch.float32,
                                lambda m, s, round_to: fc.init_decoder_weights(m, s, round_to, init))
        fc.set_generation_config(model, cfg.eos_token_id)
        if good_enough({p: q for p, (_, _, _, q) in run_prompts(model, ids).items()}):
            model.save_pretrained(model_dir)
            return model, seed
    raise fc.no_seed(case, MAX_SEEDS)


@torch.no_grad()
def run_prompts(model, prompts):
    """{p: (logits of the last N_LAST positions, greedy ids, each greedy step's top1 - top2 logit gap, quality
    figures)} for each prompt."""
    out = {}
    for p, ids in prompts.items():
        x = torch.tensor([ids])
        logits = model(x, use_cache=False).logits[0, -N_LAST:].float().contiguous()
        gen = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=NEW_TOKENS,
                             min_new_tokens=0, output_logits=True, return_dict_in_generate=True)
        new = gen.sequences[0, len(ids):].tolist()
        steps = torch.cat(gen.logits, 0).float()
        top2 = steps.topk(2, dim=-1).values
        margins = (top2[:, 0] - top2[:, 1]).contiguous()
        out[p] = (logits, new, margins, {"max_abs_logit": max(logits.abs().max().item(), steps.abs().max().item()),
                                         "min_greedy_top1_top2_margin": margins.min().item(),
                                         "distinct_greedy_tokens": len(set(new)),
                                         "stopped_at_eos": model.config.eos_token_id in new})
    return out


def check_exact(model, state, outtype):
    """The f32 / f16 / bf16 conversions must hold the HF weights exactly (rounded to the file's type): this
    pins down the name map and the inverse permutation."""
    dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[outtype]
    ref = model.state_dict()
    for name, w in state.items():
        want = ref[name].to(dtype).float() if w.dim() == 2 else ref[name]  # 1-D norms stay F32
        assert torch.equal(w, want), f"{outtype}: {name} differs from the HF weight"


def tokenizer_check(model_dir, tok, gguf_tokens):
    hf = AutoTokenizer.from_pretrained(model_dir)
    vocab = [tok.id_to_token(i) for i in range(tok.get_vocab_size())]
    assert list(gguf_tokens) == vocab, "the GGUF's token list is not tokenizer.json's vocabulary in id order"
    rows = []
    for text in TOKENIZER_CHECK:
        ids = hf(text, add_special_tokens=False)["input_ids"]
        assert ids == tok.encode(text, add_special_tokens=False).ids, text
        rows.append({"text": text, "ids": ids})
    return rows, type(hf).__name__


# --------------------------------------------------------------------------------------------------------------
# Cases

def gguf_files(paths, case, model_dir, work):
    """[(tag, path, how it was made)] in the order: conversions, then quantizations of the f32 conversion."""
    spec, files = CASES[case], []
    for outtype in spec["outtype"]:
        out = os.path.join(work, f"model-{outtype.upper()}.gguf")
        convert(paths, model_dir, outtype, out)
        files.append((outtype.upper(), out, f"convert_hf_to_gguf.py --outtype {outtype}"))
    for qtype in spec["quantize"]:
        out = os.path.join(work, f"model-{qtype}.gguf")
        quantize(paths, os.path.join(work, "model-F32.gguf"), qtype, out)
        files.append((qtype, out, f"llama-quantize model-F32.gguf {qtype} 1 (1 thread)"))
    return files


def reference_for(tag, path, model, prompts, tensors, agree):
    """Runs the GGUF's weights through LlamaForCausalLM; adds its tensors, returns its reference.json entry."""
    cfg = model.config
    state, types, meta, tokens = gguf_state_dict(path, cfg)
    assert meta["tokenizer.ggml.pre"] == PRE_TOKENIZER and meta["tokenizer.ggml.model"] == "gpt2", meta
    if tag in ("F32", "F16", "BF16"):
        check_exact(model, state, tag.lower())
    m = LlamaForCausalLM(cfg).eval()
    load_into(m, state)
    quality = {}
    for p, (logits, new, margins, q) in run_prompts(m, prompts).items():
        tensors[f"{tag}.{p}.logits"] = logits
        tensors[f"{tag}.{p}.greedy_ids"] = torch.tensor(new, dtype=torch.int32)
        tensors[f"{tag}.{p}.greedy_margins"] = margins
        quality[p] = dict(q, llama_cpp_matching_greedy_tokens=agree(path, prompts[p], new))
    counts = {}
    for t in types.values():
        counts[t["type"]] = counts.get(t["type"], 0) + 1
    entry = {"file": f"model-{tag}.gguf", "bytes": os.path.getsize(path), **meta, "type_counts": counts,
             "tensors": types, "quality": quality}
    return entry, tokens


def build_case(case, paths):
    spec = CASES[case]
    d = os.path.join(OUT_DIR, case)
    fc.fresh_dir(d)
    tensors, entries = {}, {}
    with fc.scratch_dir(os.path.join(OUT_DIR, f".work-{case}")) as work:
        model_dir = os.path.join(work, "hf")
        tok, prompts = make_tokenizer(model_dir)
        ids = {p: v["ids"] for p, v in prompts.items()}
        model, seed = make_model(case, model_dir, tok.get_vocab_size(), ids)
        for p, v in ids.items():
            tensors[f"{p}.input_ids"] = torch.tensor(v, dtype=torch.int32)
        for tag, path, how in gguf_files(paths, case, model_dir, work):
            entry, gguf_tokens = reference_for(tag, path, model, ids, tensors,
                                               lambda g, p_ids, new: llama_cpp_agreement(paths, g, tok, p_ids, new))
            entry["made_by"] = how
            entry["committed"] = tag in spec["keep"]
            entries[tag] = entry
            if entry["committed"]:
                shutil.copy(path, os.path.join(d, entry["file"]))
        tok_rows, tok_class = tokenizer_check(model_dir, tok, gguf_tokens)
        for f in ("config.json", "tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(model_dir, f), os.path.join(d, f))
    tensors = {k: v for k, v in tensors.items() if k.split(".")[0] in spec["keep"] or k.endswith("input_ids")}
    save_file(tensors, os.path.join(d, "reference.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(d, "reference.json"), {
        "generator": "tools/fixtures_gguf.py",
        "description": spec["description"],
        "versions": {**versions(), **gguf_versions(paths)},
        "seed": seed, "seed_rule": SEED_RULE, "init": case_init(case),
        "pre_tokenizer": f"{PRE_TOKENIZER!r}, told to convert_hf_to_gguf.py (its hash check knows no fresh vocab); "
                         "the generator asserts tokenizer.json's pre_tokenizer is SmolLM's Digits+ByteLevel",
        "rope_permutation": PERMUTE_DOC,
        "tensors_doc": REFERENCE_DOC,
        "prompts": prompts,
        "tokenizer_class": tok_class,
        "tokenizer_check": tok_rows,
        "new_tokens": NEW_TOKENS, "logits_last_positions": N_LAST,
        "gguf": entries,
    })
    files = fc.finish_files(d)
    print(f"gguf_llama/{case}: {len(files)} files, {fc.total_size(d, files)} bytes")


def gguf_versions(paths):
    import gguf
    installed = _dist_version("gguf")
    with open(os.path.join(paths["LLAMA_CPP_GGUF_PY"], "pyproject.toml"), encoding="utf-8") as f:
        vendored = next(line.split('"')[1] for line in f if line.startswith("version"))
    assert installed == vendored, f"gguf {installed} installed, the converter's gguf-py is {vendored}: pin that one"
    # the build configuration without the CPU it ran on: converting and quantizing do not depend on it
    return {"gguf": installed,
            "sentencepiece": _dist_version("sentencepiece"),
            "llama_cpp_python_sdist": paths["LLAMA_CPP_PYTHON_VERSION"],
            "llama_cpp_commit": paths["LLAMA_CPP_COMMIT"],
            "llama_cpp_build_number": "1 (the sdist vendors a shallow clone)",
            "llama_cpp_config": paths["LLAMA_CPP_CONFIG"].split("; CPU")[0]}


def _dist_version(name):
    from importlib.metadata import version
    return version(name)


def generate(cases=None):
    fc.deterministic_torch()
    paths = llama_cpp_paths()
    for case in cases or list(CASES):
        build_case(case, paths)
