#!/usr/bin/env python3
"""GGUF files of a Hugging Face Llama checkpoint for bench/peers/run.sh, made by llama.cpp's own converter and
quantizer (the pinned build of bench/peers/build_llama_cpp.sh, through tools/fixtures_gguf.py's convert/quantize).

    gguf_models.py CHECKPOINT_DIR OUT_DIR [TYPE ...]     (default types: BF16 Q8_0 Q4_0 Q4_K_M)

Writes OUT_DIR/model-<TYPE>.gguf (skipped when present) and OUT_DIR/types.json ({TYPE: {ggml type: tensor count}}:
llama-quantize falls back to other types for rows that are not a multiple of the block, e.g. Q4_K -> Q5_0 for
SmolLM2's 576-wide rows).

bench/make_smollm2_135m.py's checkpoint has no tokenizer, which the converter requires; a tokenizer of the right
vocabulary size is then staged next to symlinks of the checkpoint: SmolLM's pre-tokenizer (Digits + byte-level
GPT-2 regex, so the converter is told "smollm" truthfully), the 256 byte symbols and byte pairs with their merges.
The benchmark only feeds token ids, so what the tokens mean does not matter.
"""

import json
import os
import sys

sys.dont_write_bytecode = True
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools"))

import fixtures_gguf  # noqa: E402

DEFAULT_TYPES = ["BF16", "Q8_0", "Q4_0", "Q4_K_M"]
CONVERTED = {"F32": "f32", "F16": "f16", "BF16": "bf16"}


def write_tokenizer(d, vocab_size, bos_id):
    """tokenizer.json + tokenizer_config.json in d: special <|endoftext|> at bos_id, then byte symbols, then
    byte pairs (each with its merge) until vocab_size."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    syms = list(bytes_to_unicode().values())
    special = "<|endoftext|>"
    tokens, merges = syms[:], []
    for a in syms:
        for b in syms:
            if len(tokens) + 1 >= vocab_size:
                break
            tokens.append(a + b)
            merges.append((a, b))
    tokens.insert(bos_id, special)
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(special, special=True, normalized=False)])
    tok.save(os.path.join(d, "tokenizer.json"))
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "GPT2Tokenizer", "bos_token": special, "eos_token": special,
                   "unk_token": special, "add_prefix_space": False, "model_max_length": 8192}, f, indent=1)


def staged(ckpt, out):
    """ckpt itself if it has a tokenizer, else OUT_DIR/hf: symlinks to its files plus a staged tokenizer."""
    if os.path.exists(os.path.join(ckpt, "tokenizer.json")):
        return ckpt
    d = os.path.join(out, "hf")
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(ckpt):
        if not os.path.lexists(os.path.join(d, f)):
            os.symlink(os.path.abspath(os.path.join(ckpt, f)), os.path.join(d, f))
    with open(os.path.join(ckpt, "config.json")) as f:
        cfg = json.load(f)
    if not os.path.exists(os.path.join(d, "tokenizer.json")):
        write_tokenizer(d, cfg["vocab_size"], cfg.get("bos_token_id") or 0)
    return d


def type_counts(path):
    import gguf
    counts = {}
    for t in gguf.GGUFReader(path).tensors:
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
    return counts


def main(ckpt, out, types):
    os.makedirs(out, exist_ok=True)
    paths = fixtures_gguf.llama_cpp_paths()
    model_dir = staged(ckpt, out)
    src = os.path.join(out, "model-BF16.gguf")  # quantized from bf16: the checkpoint's own dtype, lossless
    if not os.path.exists(src):
        print(f"gguf_models: converting {ckpt} to BF16", file=sys.stderr)
        fixtures_gguf.convert(paths, model_dir, "bf16", src)
    report = {}
    for t in types:
        path = os.path.join(out, f"model-{t}.gguf")
        if not os.path.exists(path):
            print(f"gguf_models: {t}", file=sys.stderr)
            if t in CONVERTED:
                fixtures_gguf.convert(paths, model_dir, CONVERTED[t], path)
            else:
                fixtures_gguf.quantize(paths, src, t, path, threads=os.cpu_count())
        report[t] = type_counts(path)
    with open(os.path.join(out, "types.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:] or DEFAULT_TYPES)
