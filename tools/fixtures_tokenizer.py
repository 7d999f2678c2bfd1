"""Tokenizer fixtures: three byte-level BPE tokenizers mirroring real pipelines, trained with the `tokenizers`
library on real text found on this machine, plus the ids/decodes `tokenizers` gives on a corpus of hard strings.

tests/fixtures/tokenizer/
  corpus.json                 list of test strings
  training_corpus.json        what the tokenizers were trained on (files, sizes, sha256)
  <name>/tokenizer.json       smollm2, gpt2, llama3
  <name>/expected.json        per corpus string: ids, decoded, decoded_skip (+ ids_add_special); invalid_utf8 cases
  pipelines.json              variants of those tokenizer.json files (pre_tokenizer, normalizer, decoder replaced;
                              added tokens appended) with their ids, decodes, pre-tokenizer pieces and long inputs
"""

import base64
import json
import os

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

import corpus
from common import FIXTURES_DIR, rel, versions, write_json

OUT_DIR = os.path.join(FIXTURES_DIR, "tokenizer")

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# Llama 3.1's first special tokens, in its order (ids 128000.. there; here they follow the trained vocab).
LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                   "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
                   "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>",
                   "<|reserved_special_token_3|>", "<|reserved_special_token_4|>"]

SMOLLM2_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _special(content, **kw):
    return AddedToken(content, special=True, normalized=False, **kw)


def _train(tok, docs, vocab_size, specials):
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[_special(s) for s in specials],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(docs, trainer)
    return tok


def build_smollm2(docs, vocab_size=8500, extra_added=True):
    """Like HuggingFaceTB/SmolLM2: Digits + ByteLevel, specials at ids 0.., more added tokens at the end."""
    tok = Tokenizer(models.BPE(dropout=None, fuse_unk=False, byte_fallback=False, ignore_merges=False))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    _train(tok, docs, vocab_size, SMOLLM2_SPECIALS)
    if extra_added:
        tok.add_tokens([AddedToken("<custom_word>", special=False, normalized=True)])
        tok.add_special_tokens([_special("<|mask|>", lstrip=True), _special("<|sep|>", rstrip=True)])
    return tok


def build_gpt2(docs, vocab_size=8499):
    """Like openai-community/gpt2: ByteLevel alone (built-in GPT-2 regex), <|endoftext|> is the last id.
    Its merges are written in the legacy "a b" string form that the real gpt2/SmolLM2/Llama-3 files use."""
    tok = Tokenizer(models.BPE(dropout=None, continuing_subword_prefix="", end_of_word_suffix="",
                               fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    _train(tok, docs, vocab_size, [])
    tok.add_special_tokens([_special("<|endoftext|>")])
    j = json.loads(tok.to_str())
    j["model"]["merges"] = [" ".join(pair) for pair in j["model"]["merges"]]
    return Tokenizer.from_str(json.dumps(j, ensure_ascii=False))


def build_llama3(docs, vocab_size=8500):
    """Like meta-llama/Llama-3.x: Split(Llama-3 regex, isolated) + ByteLevel(use_regex=False), BPE with
    ignore_merges, specials after the trained vocab, TemplateProcessing adding <|begin_of_text|>."""
    tok = Tokenizer(models.BPE(dropout=None, fuse_unk=False, byte_fallback=False, ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(pattern=Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    _train(tok, docs, vocab_size, [])
    tok = _add_merge_unreachable_words(tok, corpus.test_strings(), LLAMA3_WHOLE_WORDS)
    tok.add_special_tokens([_special(s) for s in LLAMA3_SPECIALS])
    bos = LLAMA3_SPECIALS[0]
    bos_id = tok.token_to_id(bos)
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
        processors.TemplateProcessing(single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
                                      special_tokens=[(bos, bos_id)])])
    j = json.loads(tok.to_str())
    # The real file has ignore_merges true; make sure it survived training (set it by hand otherwise).
    j["model"]["ignore_merges"] = True
    return Tokenizer.from_str(json.dumps(j, ensure_ascii=False))


# How many whole-word vocab entries without merges the llama3 fixture gets (see below).
LLAMA3_WHOLE_WORDS = 8


def _add_merge_unreachable_words(tok, strings, count):
    """Appends `count` vocab entries that the merges cannot build: whole pre-tokens of the test corpus that BPE
    splits into 3+ tokens. The real Llama-3 vocab (converted from tiktoken) has such entries; with
    ignore_merges=true a pre-token found whole in the vocab is one token, so these make the flag observable."""
    j = json.loads(tok.to_str())
    vocab = j["model"]["vocab"]
    picked = []
    for s in strings:
        for piece, _ in tok.pre_tokenizer.pre_tokenize_str(s):
            if len(picked) == count:
                break
            if piece in vocab or piece in picked or len(piece) < 4:
                continue
            if len(tok.model.tokenize(piece)) < 3:
                continue
            picked.append(piece)
    assert len(picked) == count
    for piece in picked:
        vocab[piece] = len(vocab)
    return Tokenizer.from_str(json.dumps(j, ensure_ascii=False))


TOKENIZERS = {"smollm2": build_smollm2, "gpt2": build_gpt2, "llama3": build_llama3}


def save_and_reload(tok, path):
    """Write tokenizer.json and return the tokenizer read back from it (references come from that one)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tok.save(path, pretty=True)
    return Tokenizer.from_file(path)


def expectations(tok, strings):
    cases = []
    for s in strings:
        enc = tok.encode(s, add_special_tokens=False)
        ids = enc.ids
        cases.append({
            "ids": ids,
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_skip": tok.decode(ids, skip_special_tokens=True),
            "ids_add_special": tok.encode(s, add_special_tokens=True).ids,
        })
    invalid = []
    for raw in corpus.INVALID_UTF8:
        try:
            raw.decode("utf-8")
            raise AssertionError(f"{raw!r} is valid UTF-8")
        except UnicodeDecodeError:
            pass
        text = raw.decode("utf-8", errors="replace")
        ids = tok.encode(text, add_special_tokens=False).ids
        decoded = tok.decode(ids, skip_special_tokens=False)
        invalid.append({"bytes_b64": base64.b64encode(raw).decode("ascii"), "replaced": text, "ids": ids,
                        "decoded": decoded, "decoded_b64": base64.b64encode(decoded.encode()).decode("ascii")})
    return cases, invalid


def summary(tok):
    j = json.loads(tok.to_str())
    return {"vocab_size_with_added": tok.get_vocab_size(with_added_tokens=True),
            "model_vocab": len(j["model"]["vocab"]), "merges": len(j["model"]["merges"]),
            "added_tokens": [{k: a[k] for k in ("id", "content", "special", "lstrip", "rstrip")}
                             for a in j["added_tokens"]]}


# ---- pipelines.json: pre-tokenizer / normalizer / decoder / added-token configurations -------------------------
#
# Each pipeline is a fixture tokenizer.json with top-level keys replaced and/or added tokens appended; the C
# tests apply the same patch to the same file, so the configuration is an input here and only what `tokenizers`
# answers for it is an expected output.

def _byte_level(add_prefix_space=False, use_regex=False):
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": True, "use_regex": use_regex}


def _split(kind, pattern, behavior, invert=False):
    """Split(pattern) then ByteLevel without its own regex, as Llama 3 chains them."""
    return {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {kind: pattern}, "behavior": behavior, "invert": invert}, _byte_level()]}


def _digits(individual, add_prefix_space):
    return {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": individual},
                                                  _byte_level(add_prefix_space, use_regex=True)]}


def _added(i, content, single_word=False, lstrip=False, rstrip=False, normalized=False, special=False):
    """An added_tokens entry as tokenizer.json writes it; ids follow smollm2's last id (8502)."""
    return {"id": 8503 + i, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}


# Letters and digits newer than PCRE2 10.42's Unicode tables (Cyrillic TJE U+1C89-1C8A, Garay digit U+10D40,
# numerics U+11DE0 and U+16FF4) and U+180E, which PCRE2's \s has and Unicode White_Space (HF's \s) has not:
# text/regex.c rewrites \s, \S, \p{L} and \p{N} for these.
NEWER_UNICODE = "A\u1c89\u1c8aB 1\U00010d40\U00011de0 \U00016ff4x \u180e\u3000 y"

SPLIT_TEXTS = ["hello  world a1b22c333 ab  ", " lead\u00a0nbsp\u3000ideo\u180emvs end ", "ab\nab\na\nb 42",
               "x<|endoftext|>12 34"]

SPLIT_VARIANTS = (
    [_split("String", " ", b, inv) for b in ("Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                              "Contiguous") for inv in (False, True)]
    + [_split("Regex", r"\d+|(?<=a)b", "MergedWithNext"), _split("Regex", "^a|b$|x*", "Isolated"),
       _split("Regex", r"\s", "Removed"), _digits(False, False), _byte_level(True, use_regex=True),
       _digits(True, True)])

# Each construct text/regex.c rewrites, outside and inside a class. \pL / \pN without braces are read by
# Oniguruma (hence HF) as the letters "p", "L", not as classes.
REGEX_CLASS_PATTERNS = [r"\s+", r"\S+", r"\p{L}+", r"\p{N}+", r"[\s\p{N}]+", r"[^\s\p{L}]+", r"[\S]+", r"[^\S]+",
                        r"[\p{L}\p{N}]+", r"\pL+", r"\pN", r"[\pL]+"]

CUSTOM_ADDED = [_added(0, "start|>user"), _added(1, "qqx", single_word=True, normalized=True),
                _added(2, "\u026e\u026e", lstrip=True, rstrip=True), _added(3, "bqqxc", normalized=True),
                _added(4, "zz", special=True)]
CUSTOM_TEXTS = ["<|im_start|>user", "a qqx b", "qqxs", "aqqx", "qqx", "_qqx", "a\u0301qqx", "2qqx",
                "\u00a0qqx\u3000", "bqqxc", "abqqxcd", "zzz",
                # lstrip/rstrip swallow the surrounding (Unicode) spaces
                "x \u3000 \u026e\u026e \u2028 y", "qqx \u026e\u026e  \u026e\u026e qqx"]

SPECIAL_TEXTS = {
    "smollm2": ["<|im_start|>user\nHi<|im_end|>", "a <custom_word> b <|mask|> c",
                "x  <|mask|>y<|sep|>   z<custom_word><|endoftext|>", "<|im_start|<|im_end|>>",
                "<|im_start|>user\nHi<|im_end|><custom_word><|mask|>"],
    "gpt2": ["Hello<|endoftext|>world", "<|endoftext|><|endoftext|>"],
    "llama3": ["<|begin_of_text|>Hi<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\n"],
}

# (prefix, unit, times, suffix): long inputs; ~2.3 MB in all for the three tokenizers.
LONG_INPUTS = [("", "a", 100000, ""), ("", " ", 100000, ""), ("", "1", 100000, ""), ("", "\U0001f600", 20000, ""),
               ("", "\n \n", 30000, ""), ("", "Hello, world! 12345 <|endoftext|> \u00e9\u4e2d  \t\n", 3000, "")]
# A Split pattern that backtracks over a whole long piece outgrows PCRE2's default JIT stack (and, at a million
# characters, the 8 MiB one).
BACKTRACKING_INPUTS = [("x", "ab", n, "!a") for n in (1000, 20000, 200000, 500000)]


def _pipelines():
    """(group, base, replace, append_added_tokens, texts, long_inputs) in a fixed order."""
    bases = list(TOKENIZERS)
    out = [("special_tokens", b, {}, [], SPECIAL_TEXTS[b], []) for b in bases]
    out.append(("added_tokens", "smollm2", {}, CUSTOM_ADDED, CUSTOM_TEXTS, []))
    out += [("split_variants", "gpt2", {"pre_tokenizer": v}, [], SPLIT_TEXTS, []) for v in SPLIT_VARIANTS]
    out += [("regex_classes", "gpt2", {"pre_tokenizer": _split("Regex", pat, "Isolated")}, [],
             [NEWER_UNICODE] + SPLIT_TEXTS, []) for pat in REGEX_CLASS_PATTERNS]
    out += [("newer_unicode", b, {}, [], [NEWER_UNICODE], []) for b in bases]
    out.append(("empty_normalizer", "smollm2", {"normalizer": {"type": "Sequence", "normalizers": []}}, [],
                [NEWER_UNICODE] + SPLIT_TEXTS, []))
    out.append(("null_decoder", "gpt2", {"decoder": None}, [],
                ["Hello<|endoftext|>world", "<|endoftext|>H<|endoftext|>", " <|endoftext|> "], []))
    out.append(("long_backtracking", "gpt2", {"pre_tokenizer": _split("Regex", "(?:ab|a)+!", "Isolated")}, [], [],
                BACKTRACKING_INPUTS))
    out += [("long_inputs", b, {}, [], [], LONG_INPUTS) for b in bases]
    return out


def fnv64(values):
    """FNV-1a over 32-bit values (token ids) or bytes, as hex; the C tests compute the same."""
    h = 1469598103934665603
    for v in values:
        h = ((h ^ v) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def _pipeline_reference(tok, texts, long_inputs):
    added = sorted(tok.get_added_tokens_decoder().items())
    encode, pieces = [], []
    for s in texts:
        assert "\0" not in s
        for parse_special in (True, False):
            tok.encode_special_tokens = not parse_special
            ids = tok.encode(s, add_special_tokens=False).ids
            encode.append({"text": s, "parse_special": parse_special, "ids": ids,
                           "decoded": tok.decode(ids, skip_special_tokens=False),
                           "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
        tok.encode_special_tokens = False
        pieces.append({"text": s, "pieces": [p for p, _ in tok.pre_tokenizer.pre_tokenize_str(s)]})
    long = []
    for prefix, unit, times, suffix in long_inputs:
        s = prefix + unit * times + suffix
        ids = tok.encode(s, add_special_tokens=False).ids
        decoded = tok.decode(ids, skip_special_tokens=False).encode("utf-8")
        long.append({"prefix": prefix, "unit": unit, "times": times, "suffix": suffix, "n_ids": len(ids),
                     "ids_fnv": fnv64(ids), "decoded_bytes": len(decoded), "decoded_fnv": fnv64(decoded)})
    return {"added_tokens": [{"id": i, "content": a.content, "special": a.special} for i, a in added],
            "encode": encode, "pre_tokenize": pieces, "long": long}


def generate_pipelines():
    pipelines = []
    for group, base, replace, append, texts, long_inputs in _pipelines():
        with open(os.path.join(OUT_DIR, base, "tokenizer.json"), encoding="utf-8") as f:
            j = json.load(f)
        j.update(replace)
        j["added_tokens"] = j["added_tokens"] + append
        tok = Tokenizer.from_str(json.dumps(j, ensure_ascii=False))
        pipelines.append({"group": group, "base": base, "replace": replace, "append_added_tokens": append,
                          **_pipeline_reference(tok, texts, long_inputs)})
    path = os.path.join(OUT_DIR, "pipelines.json")
    write_json(path, {
        "versions": versions(),
        "semantics": "pipelines[i]: <base>/tokenizer.json with each top-level key of replace set to its value and "
                     "append_added_tokens appended to added_tokens, loaded with Tokenizer.from_str (t). "
                     "added_tokens = t.get_added_tokens_decoder() by id. encode[k]: t.encode_special_tokens = "
                     "not parse_special; ids = t.encode(text, add_special_tokens=False).ids; decoded / "
                     "decoded_skip = t.decode(ids, skip_special_tokens=False / True). pre_tokenize[k]: pieces = "
                     "[p for p, _ in t.pre_tokenizer.pre_tokenize_str(text)]. long[k]: text = prefix + unit * "
                     "times + suffix, ids = t.encode(text, add_special_tokens=False).ids (special tokens "
                     "parsed), n_ids = len(ids), ids_fnv = FNV-1a 64 over the ids as uint32, decoded_bytes / "
                     "decoded_fnv = length / FNV-1a 64 of decode(ids, skip_special_tokens=False) in UTF-8.",
        "pipelines": pipelines,
    })
    print(f"tokenizer pipelines: {len(pipelines)} configurations, {os.path.getsize(path) // 1024} KiB -> "
          f"{rel(path)}")


def generate(names=None):
    names = names or list(TOKENIZERS)
    docs, manifest = corpus.training_documents()
    strings = corpus.test_strings()
    total = sum(m["bytes"] for m in manifest)
    write_json(os.path.join(OUT_DIR, "corpus.json"), strings)
    write_json(os.path.join(OUT_DIR, "training_corpus.json"), {
        "note": "Every tokenizer here was trained with tokenizers.trainers.BpeTrainer on these files, in this "
                "order, one document per file (tools/corpus.py). <stdlib> is Python 3.11.7's Lib/; the "
                "/usr/share files come from Debian 12 packages vim-runtime (translated vimtutors) and "
                "gnupg-l10n (translated help texts).",
        "total_bytes": total, "files": manifest})
    for name in names:
        tok = TOKENIZERS[name](docs)
        d = os.path.join(OUT_DIR, name)
        tok = save_and_reload(tok, os.path.join(d, "tokenizer.json"))
        info = summary(tok)
        assert info["merges"] >= 8000, info["merges"]
        cases, invalid = expectations(tok, strings)
        write_json(os.path.join(d, "expected.json"), {
            "tokenizer": name,
            "versions": versions(),
            "corpus": "../corpus.json",
            "training_corpus_bytes": total,
            "semantics": "cases[i] is for corpus[i]: ids = Tokenizer.encode(s, add_special_tokens=False).ids; "
                         "decoded = decode(ids, skip_special_tokens=False); decoded_skip = decode(ids, "
                         "skip_special_tokens=True); ids_add_special = encode(s, add_special_tokens=True).ids "
                         "(differs only where the post_processor adds tokens: llama3 prepends "
                         "<|begin_of_text|>). invalid_utf8[j]: bytes_b64 = raw bytes that are not UTF-8, "
                         "replaced = bytes.decode('utf-8', errors='replace'), ids = encode(replaced, "
                         "add_special_tokens=False).ids, decoded = decode(ids, skip_special_tokens=False) (decoded_b64: its "
                         "UTF-8 bytes, for readers that cannot take U+0000 in a JSON string; one case has it).",
            **info,
            "cases": cases,
            "invalid_utf8": invalid,
        })
        size = os.path.getsize(os.path.join(d, "tokenizer.json"))
        print(f"tokenizer {name}: {info['vocab_size_with_added']} tokens, {info['merges']} merges, "
              f"tokenizer.json {size // 1024} KiB -> {rel(d)}")
    generate_pipelines()
