#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

Standard library only. Valid seeds come from the test fixtures (configs; tokenizers trimmed to a
few hundred tokens) or are built here (safetensors files); broken variants follow each. Re-running
replaces the seeds this script owns and leaves other files alone. Keep the total well under 1 MB:
the smoke run reads every seed on each start.

    python3 tests/fuzz/make_corpus.py
"""
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# ---- safetensors ------------------------------------------------------------------------------

SIZES = {"F32": 4, "F16": 2, "BF16": 2, "I32": 4, "I64": 8, "U8": 1}


def st_file(tensors, metadata=None, align=8, header_extra=None):
    """tensors: list of (name, dtype, shape). Data bytes are a counting pattern."""
    header, off = {}, 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape in tensors:
        n = SIZES.get(dtype, 4)
        for s in shape:
            n *= s
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}
        off += n
    if header_extra:
        header.update(header_extra)
    h = compact(header).encode()
    if align:
        h += b" " * (-(8 + len(h)) % align)
    return struct.pack("<Q", len(h)) + h + bytes(i % 251 for i in range(off))


def st_raw(header_text, data=b""):
    h = header_text.encode() if isinstance(header_text, str) else header_text
    return struct.pack("<Q", len(h)) + h + data


def safetensors():
    t = "safetensors"
    write(t, "valid_mixed", st_file(
        [("model.embed_tokens.weight", "F32", [4, 3]), ("model.norm.weight", "BF16", [3]),
         ("step", "I64", []), ("empty", "U8", [0, 5]), ("mask", "U8", [7]),
         ("lm_head.weight", "F16", [2, 3])], metadata={"format": "pt"}))
    write(t, "valid_llama_layer", st_file(
        [("model.layers.0.self_attn.q_proj.weight", "BF16", [4, 4]),
         ("model.layers.0.self_attn.k_proj.weight", "BF16", [2, 4]),
         ("model.layers.0.self_attn.v_proj.weight", "BF16", [2, 4]),
         ("model.layers.0.self_attn.o_proj.weight", "BF16", [4, 4]),
         ("model.layers.0.mlp.gate_proj.weight", "F16", [6, 4]),
         ("model.layers.0.input_layernorm.weight", "F32", [4])],
        metadata={"format": "pt", "note": "tiny"}))
    write(t, "valid_unaligned", st_file([("a", "F16", [3]), ("b", "I32", [1, 1, 2, 1])],
                                        align=0))
    write(t, "valid_empty_header", st_raw("{}"))
    write(t, "bad_header_len", struct.pack("<Q", 1 << 40) + b'{"a":1}')
    write(t, "bad_short", b"\x05\x00\x00")
    write(t, "bad_overlap", st_raw(
        '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
        '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', bytes(16)))
    write(t, "bad_size_mismatch", st_raw(
        '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', bytes(8)))
    write(t, "bad_beyond_data", st_raw(
        '{"a":{"dtype":"U8","shape":[9],"data_offsets":[0,9]}}', bytes(8)))
    write(t, "bad_dtype", st_raw('{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}',
                                 bytes(8)))
    write(t, "bad_dims", st_raw(
        '{"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}}', bytes(1)))
    write(t, "bad_overflow", st_raw(
        '{"a":{"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,0]}}'))
    write(t, "bad_duplicate", st_raw(
        '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
        '"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', bytes(2)))
    write(t, "bad_numbers", st_raw(
        '{"a":{"dtype":"U8","shape":[1.5e300,-1],"data_offsets":[-0,1e20]},'
        '"__metadata__":{"k":1}}', bytes(2)))
    write(t, "bad_trailing", st_raw('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}} x',
                                    bytes(1)))
    write(t, "bad_not_object", st_raw('[{"dtype":"U8"}]'))

    sep = b"\n#--\n"
    s1 = st_file([("model.embed_tokens.weight", "F32", [4, 2]), ("model.norm.weight", "F32", [2])],
                 metadata={"format": "pt"})
    s2 = st_file([("lm_head.weight", "BF16", [4, 2])])
    index = compact({"metadata": {"total_size": 52}, "weight_map": {
        "model.embed_tokens.weight": "s1.safetensors", "model.norm.weight": "s1.safetensors",
        "lm_head.weight": "s2.safetensors"}}).encode()
    write(t, "sharded_valid", b"#shards\n" + index + sep + s1 + sep + s2)
    bad_index = compact({"weight_map": {"model.norm.weight": "s2.safetensors",
                                        "x": "../s1.safetensors"}}).encode()
    write(t, "sharded_bad_map", b"#shards\n" + bad_index + sep + s1 + sep + s2)
    write(t, "sharded_duplicate", b"#shards\n" + index + sep + s1 + sep + s1)
    write(t, "dir_single", b"#shards\n" + sep + s1)


# ---- config.json / generation_config.json ----------------------------------------------------

def llm_config():
    t = "llm_config"
    base = None
    for name in sorted(os.listdir(os.path.join(FIX, "llama"))):
        d = os.path.join(FIX, "llama", name)
        with open(os.path.join(d, "config.json"), "rb") as f:
            raw = f.read()
        write(t, f"config_{name}.json", raw)
        base = base or json.loads(raw)
    with open(os.path.join(FIX, "llama", sorted(os.listdir(os.path.join(FIX, "llama")))[0],
                           "generation_config.json"), "rb") as f:
        write(t, "generation_config.json", f.read())
    write(t, "generation_eos_list.json",
          '{"bos_token_id":128000,"eos_token_id":[128001,128008,128009]}')
    write(t, "generation_eos_too_many.json",
          '{"eos_token_id":[1,2,3,4,5,6,7,8,9],"bos_token_id":null}')

    def variant(name, **kv):
        c = dict(base)
        for k, v in kv.items():
            if v is ...:
                c.pop(k, None)
            else:
                c[k] = v
        write(t, name, compact(c))

    variant("rope_linear_old.json", rope_parameters=..., rope_theta=10000.0,
            rope_scaling={"type": "linear", "factor": 2.0})
    variant("rope_llama3_old.json", rope_parameters=..., rope_theta=500000.0,
            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
    variant("rope_yarn.json", rope_scaling={"rope_type": "yarn", "factor": 4.0})
    variant("granite.json", model_type="granite", architectures=["GraniteForCausalLM"], embedding_multiplier=12.0,
            residual_multiplier=0.22, attention_multiplier=0.0078125, logits_scaling=8.0)
    variant("llama_multipliers.json", embedding_multiplier=12.0, residual_multiplier=0.22,
            attention_multiplier=0.0078125, logits_scaling=8.0)
    variant("partial_rotary.json", partial_rotary_factor=0.5, head_dim=None)
    variant("eos_list.json", eos_token_id=[2, 7, 9], bos_token_id=None)
    variant("bad_heads.json", num_attention_heads=4, num_key_value_heads=3)
    variant("bad_types.json", hidden_size="64", tie_word_embeddings=1, rms_norm_eps=-1)
    variant("bad_huge.json", vocab_size=1e300, num_hidden_layers=4097, head_dim=4.5)
    variant("bad_bias.json", attention_bias=True)
    variant("bad_model_type.json", model_type="mistral")
    write(t, "text_config.json", compact({"model_type": "llava", "text_config": base}))
    write(t, "bad_truncated.json", compact(base)[:100])
    write(t, "bad_trailing.json", compact(base) + " {}")
    write(t, "bad_nesting.json", "[" * 2000 + "]" * 2000)
    write(t, "bad_escapes.json",
          '{"model_type":"ll\\u0000ama","hidden_size":\t6.4e1, "x":"\\ud800"}')
    write(t, "nul_escape.json", '{"model_type":"llama\\u0000x","x":"\\ud83d\\ude00\\t"}')
    write(t, "empty.json", "")


# ---- tokenizer.json ---------------------------------------------------------------------------

def trimmed(name, n_vocab, n_added):
    """The fixture tokenizer `name` cut to its first n_vocab ids, the merges among them and
    n_added added tokens renumbered after them."""
    with open(os.path.join(FIX, "tokenizer", name, "tokenizer.json"), encoding="utf-8") as f:
        d = json.load(f)
    m = d["model"]
    vocab = {k: i for k, i in m["vocab"].items() if i < n_vocab}
    merges = []
    for a, b in (x.split(" ", 1) if isinstance(x, str) else x for x in m["merges"]):
        if a in vocab and b in vocab and a + b in vocab:
            merges.append([a, b])
    m["vocab"], m["merges"] = vocab, merges
    added = []
    for i, a in enumerate(d["added_tokens"][:n_added]):
        a = dict(a)
        if a["content"] not in vocab:
            a["id"] = n_vocab + i
        added.append(a)
    d["added_tokens"] = added
    return d


def tokenizer():
    t = "tokenizer"
    gpt2 = trimmed("gpt2", 400, 1)
    llama3 = trimmed("llama3", 400, 5)
    smol = trimmed("smollm2", 400, 6)
    write(t, "gpt2.json", compact(gpt2))
    write(t, "llama3.json", compact(llama3))
    write(t, "smollm2.json", compact(smol))

    v = json.loads(compact(gpt2))  # deep copy
    v["decoder"] = None
    v["model"]["unk_token"] = "<unk>"
    v["model"]["vocab"]["<unk>"] = 400
    v["model"]["byte_fallback"] = True
    v["model"]["fuse_unk"] = True
    v["model"]["merges"] = [" ".join(x) for x in v["model"]["merges"][:60]]
    v["added_tokens"] = [
        {"id": 401, "content": "<|endoftext|>", "special": True, "normalized": False},
        {"id": 402, "content": " lstrip", "lstrip": True, "rstrip": True, "special": False},
        {"id": 403, "content": "word", "single_word": True, "normalized": True, "special": False},
        {"id": 404, "content": "\u00e9t\u00e9", "special": False}]
    v["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithNext",
         "invert": False},
        {"type": "Split", "pattern": {"Regex": "\\p{N}+"}, "behavior": "Contiguous",
         "invert": True},
        {"type": "Digits", "individual_digits": False},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]}
    v["normalizer"] = {"type": "Sequence", "normalizers": []}
    v["truncation"] = {"max_length": 8}
    write(t, "variant_no_decoder.json", compact(v))

    for beh in ["Removed", "MergedWithPrevious", "Isolated"]:
        w = json.loads(compact(gpt2))
        w["pre_tokenizer"] = {"type": "Split",
                              "pattern": {"Regex": "(?i:'s|'t)| ?\\p{L}+|\\s+(?!\\S)"},
                              "behavior": beh, "invert": beh == "Removed"}
        w["model"].pop("type")
        w["model"]["ignore_merges"] = True
        w["added_tokens"] = []
        write(t, f"variant_split_{beh}.json", compact(w))

    tiny = {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3},
                      "merges": ["a b"]},
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False},
            "decoder": {"type": "ByteLevel"},
            "added_tokens": [{"id": 9, "content": "<s>", "special": True}]}
    write(t, "tiny.json", compact(tiny))
    for name, mutate in [
        ("bad_wordpiece.json", lambda x: x["model"].update(type="WordPiece")),
        ("bad_normalizer.json", lambda x: x.update(normalizer={"type": "NFC"})),
        ("bad_decoder.json", lambda x: x.update(decoder={"type": "Metaspace"})),
        ("bad_merge.json", lambda x: x["model"].update(merges=["a c"])),
        ("bad_dup_id.json", lambda x: x["model"]["vocab"].update(c=1)),
        ("bad_dropout.json", lambda x: x["model"].update(dropout=0.1)),
        ("bad_regex.json", lambda x: x.update(pre_tokenizer={
            "type": "Split", "pattern": {"Regex": "(?<=a+)(["}, "behavior": "Isolated"})),
        ("bad_added.json", lambda x: x.update(added_tokens=[{"id": -1, "content": ""}, 5])),
        ("bad_no_model.json", lambda x: x.pop("model")),
    ]:
        b = json.loads(compact(tiny))
        mutate(b)
        write(t, name, compact(b))
    write(t, "bad_truncated.json", compact(tiny)[:60])


# ---- dictionaries -----------------------------------------------------------------------------

JSON_TOKENS = ["{", "}", "[", "]", ":", ",", '"', "null", "true", "false", "0", "-1", "1e308",
               "-0.0", "1.5e-300", "9007199254740993", "\\u0000", "\\ud800", "\\n", '""']


def dict_entry(tok):
    """One libFuzzer dictionary line: the bytes quoted, with \\, \\" and \\xNN escapes."""
    out = ""
    for c in tok.encode() if isinstance(tok, str) else tok:
        ch = chr(c)
        if ch in '\\"':
            out += "\\" + ch
        else:
            out += ch if 32 <= c < 127 else "\\x%02x" % c
    return '"' + out + '"'


def write_dict(target, title, keys, extra=()):
    path = os.path.join(ROOT, "tests", "fuzz", target + ".dict")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# libFuzzer dictionary for {title}\n"
                "# (written by tests/fuzz/make_corpus.py; one token per line, libFuzzer "
                "escaping)\n")
        for tok in [*JSON_TOKENS, *(f'"{k}"' for k in keys.split()), *extra]:
            f.write(dict_entry(tok) + "\n")


# ---- audio ------------------------------------------------------------------------------------

def wav(tag, channels, rate, bits, data, data_claim=None):
    """A canonical WAV: tag 1 PCM, 3 IEEE float, 6 A-law, 7 mu-law."""
    claim = len(data) if data_claim is None else data_claim
    block = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, tag, channels, rate, rate * block, block, bits) +
            b"data" + struct.pack("<I", claim) + data)


def audio():
    """Small WAVs of every encoding built here, and the compressed fixtures (FLAC, OGG Vorbis/Opus,
    MP3 from tools/fixtures_audio.py) whole and cut."""
    n = 400
    wave = [((i * 37) % 200 - 100) / 100.0 for i in range(n)]
    pcm = {8: bytes(int(128 + 100 * v) for v in wave),
           16: b"".join(struct.pack("<h", int(20000 * v)) for v in wave),
           24: b"".join(struct.pack("<i", int(4000000 * v))[:3] for v in wave),
           32: b"".join(struct.pack("<i", int(1e9 * v)) for v in wave)}
    for bits, data in pcm.items():
        write("audio", f"pcm{bits}.wav", wav(1, 1, 16000, bits, data))
    write("audio", "float.wav", wav(3, 1, 44100, 32, b"".join(struct.pack("<f", v) for v in wave)))
    write("audio", "float_nan.wav", wav(3, 1, 44100, 32, struct.pack("<f", float("nan")) * 4))
    write("audio", "ulaw.wav", wav(7, 1, 8000, 8, pcm[8]))
    write("audio", "alaw.wav", wav(6, 1, 8000, 8, pcm[8]))
    write("audio", "stereo48k.wav", wav(1, 2, 48000, 16, pcm[16]))
    write("audio", "lying_size.wav", wav(1, 1, 16000, 16, pcm[16], 0xfffffff0))
    write("audio", "zero_channels.wav", wav(1, 0, 16000, 16, pcm[16]))
    write("audio", "rate_10mhz.wav", wav(1, 1, 10000000, 16, pcm[16]))
    write("audio", "no_samples.wav", wav(1, 1, 16000, 16, b""))
    for name in ("speech_b_48k_opus.ogg", "speech_a_44k_vorbis.ogg", "speech_a_44k.mp3", "noise_32k.flac"):
        path = os.path.join(FIX, "audio", name)
        if not os.path.exists(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        write("audio", name, data)
        write("audio", "cut_" + name, data[:len(data) // 3])


def dictionaries():
    write_dict("llm_config", "fuzz_llm_config (config.json, generation_config.json)",
               "model_type llama vocab_size hidden_size intermediate_size num_hidden_layers "
               "num_attention_heads num_key_value_heads head_dim max_position_embeddings "
               "rms_norm_eps tie_word_embeddings hidden_act silu attention_bias mlp_bias "
               "partial_rotary_factor rope_theta rope_scaling rope_parameters rope_type type "
               "default linear llama3 factor low_freq_factor high_freq_factor "
               "original_max_position_embeddings embedding_multiplier residual_multiplier "
               "attention_multiplier logits_scaling bos_token_id eos_token_id text_config")
    write_dict("safetensors",
               'fuzz_safetensors (header JSON; "#shards" selects the directory form)',
               "dtype shape data_offsets __metadata__ format pt F32 F16 BF16 I32 I64 U8 F64 BOOL "
               "weight_map metadata total_size s1.safetensors s2.safetensors s3.safetensors "
               "model.safetensors ../s1.safetensors /etc",
               ["#shards\n", "\n#--\n", bytes(7), b"\xff" * 8, "4294967296",
                "18446744073709551615"])
    write_dict("tokenizer", "fuzz_tokenizer (tokenizer.json)",
               "model type BPE WordPiece vocab merges unk_token fuse_unk byte_fallback "
               "ignore_merges dropout continuing_subword_prefix end_of_word_suffix normalizer "
               "normalizers Sequence NFC pre_tokenizer pretokenizers ByteLevel add_prefix_space "
               "use_regex trim_offsets Split pattern String Regex behavior Removed Isolated "
               "MergedWithPrevious MergedWithNext Contiguous invert Digits individual_digits "
               "added_tokens id content special lstrip rstrip single_word normalized decoder "
               "post_processor truncation padding",
               ["<|endoftext|>", "<s>", "\u0120", "\u010a", "\\\\p{L}", "\\\\p{N}",
                "\\\\s+(?!\\\\S)", "(?i:", "[^\\\\r\\\\n]", "{1,3}", "(?<=", "\\u0120",
                "\U0001F600", b"\xed\xa0\x80", "\\\\"])


# ---- gguf -------------------------------------------------------------------------------------

# GGUF value types (core/gguf.h) and the ggml tensor types the seeds use (core/quant.h).
G_U8, G_I8, G_U16, G_I16, G_U32, G_I32, G_F32, G_BOOL, G_STR, G_ARR, G_U64, G_I64, G_F64 = range(13)
G_FMT = {G_U8: "<B", G_I8: "<b", G_U16: "<H", G_I16: "<h", G_U32: "<I", G_I32: "<i", G_F32: "<f",
         G_BOOL: "<?", G_U64: "<Q", G_I64: "<q", G_F64: "<d"}
QT_BYTES = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144), 14: (256, 210)}


def g_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def g_val(t, v):
    if t == G_STR:
        return g_str(v)
    if t == G_ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(g_val(et, x) for x in items)
    return struct.pack(G_FMT[t], v)


def gguf_file(kvs, tensors, version=3, align=32, offsets=None):
    """kvs: (key, type, value); tensors: (name, ggml type, ne innermost first). Tensors are laid
    out in order, each padded to align, unless offsets overrides them. Data: a counting pattern."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    out += b"".join(g_str(k) + struct.pack("<I", t) + g_val(t, v) for k, t, v in kvs)
    off, sizes = 0, []
    for i, (name, qt, ne) in enumerate(tensors):
        block, nbytes = QT_BYTES[qt]
        n = ne[0] // block * nbytes
        for d in ne[1:]:
            n *= d
        o = offsets[i] if offsets else off
        out += g_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", qt, o)
        sizes.append(n)
        off += n + (-n % align)
    out += bytes(-len(out) % align)
    return out + bytes(i * 7 % 251 for i in range(off))


def gguf():
    t = "gguf"
    for name in ("py_types.gguf", "py_align64.gguf"):
        path = os.path.join(FIX, "gguf", name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                write(t, name, f.read())
    llama_kvs = [("general.architecture", G_STR, "llama"), ("llama.block_count", G_U32, 1),
                 ("llama.rope.freq_base", G_F32, 10000.0), ("general.file_type", G_U32, 7),
                 ("tokenizer.ggml.tokens", G_ARR, (G_STR, ["<s>", "</s>", "\u2581a", ""])),
                 ("tokenizer.ggml.scores", G_ARR, (G_F32, [0.0, -1.0, -2.5, 0.0])),
                 ("tokenizer.ggml.token_type", G_ARR, (G_I32, [3, 3, 1, 1])),
                 ("tokenizer.ggml.add_bos_token", G_BOOL, True)]
    llama_tensors = [("token_embd.weight", 1, [32, 4]), ("blk.0.attn_q.weight", 8, [32, 32]),
                     ("blk.0.ffn_down.weight", 12, [256, 1]), ("blk.0.ffn_up.weight", 14, [256, 1]),
                     ("output_norm.weight", 0, [32])]
    write(t, "valid_llama", gguf_file(llama_kvs, llama_tensors))
    write(t, "valid_v2", gguf_file(llama_kvs[:2], llama_tensors[:2], version=2))
    write(t, "valid_align64", gguf_file([("general.alignment", G_U32, 64)],
                                        [("a", 30, [3]), ("b", 2, [32, 2, 1, 2])], align=64))
    scalars = [(f"s.{i}", i, v) for i, v in ((G_U8, 255), (G_I8, -1), (G_U16, 1), (G_I16, -2),
                                             (G_U32, 7), (G_I32, -7), (G_F32, 1.5), (G_BOOL, False),
                                             (G_U64, (1 << 64) - 1), (G_I64, -(1 << 63)),
                                             (G_F64, 2.0 ** -1074))]
    write(t, "valid_scalars", gguf_file(scalars + [("s.str", G_STR, "x")], []))
    write(t, "valid_nested", gguf_file([("n", G_ARR, (G_ARR, [(G_U8, [1, 2]), (G_STR, ["a"])])),
                                        ("e", G_ARR, (G_F64, []))], [("x", 0, [1])]))
    good = gguf_file(llama_kvs, llama_tensors)
    write(t, "cut_in_kv", good[:240])  # inside tokenizer.ggml.tokens
    write(t, "cut_in_data", good[:-10])
    write(t, "bad_version1", b"GGUF" + struct.pack("<IQQ", 1, 0, 0))
    write(t, "bad_overlap", gguf_file([], [("a", 0, [16]), ("b", 0, [8])], offsets=[0, 32]))
    write(t, "bad_misaligned", gguf_file([], [("a", 0, [16])], offsets=[4]))
    write(t, "bad_unknown_type", gguf_file([], [("a", 0, [16])]).replace(
        g_str("a") + struct.pack("<IQI", 1, 16, 0), g_str("a") + struct.pack("<IQI", 1, 16, 4), 1))
    write(t, "bad_huge_count", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + g_str("k") +
          struct.pack("<IIQ", G_ARR, G_STR, 1 << 62) + g_str("a"))


def gguf_dict():
    keys = ("general.architecture general.alignment general.name general.file_type llama "
            "llama.block_count llama.context_length llama.embedding_length "
            "tokenizer.ggml.tokens tokenizer.ggml.scores tokenizer.ggml.token_type "
            "token_embd.weight output_norm.weight blk.0.attn_q.weight").split()
    toks = [b"GGUF", struct.pack("<I", 3), struct.pack("<I", 2), struct.pack("<I", 1),
            struct.pack("<Q", 1 << 63), struct.pack("<Q", (1 << 64) - 1), struct.pack("<Q", 32),
            struct.pack("<I", 64)]
    toks += [struct.pack("<I", i) for i in (G_STR, G_ARR, G_U64, G_F64, 12, 14, 30, 40)]
    path = os.path.join(ROOT, "tests", "fuzz", "gguf.dict")
    with open(path, "w", encoding="utf-8") as f:
        f.write("# libFuzzer dictionary for fuzz_gguf (GGUF files)\n"
                "# (written by tests/fuzz/make_corpus.py; one token per line, libFuzzer "
                "escaping)\n")
        for tok in toks + [g_str(k) for k in keys]:
            f.write(dict_entry(tok) + "\n")


def main():
    dictionaries()
    safetensors()
    llm_config()
    tokenizer()
    audio()
    gguf()
    gguf_dict()
    __import__("jinja_seeds").main(write, write_dict)
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print(f"corpus: {total} bytes under {os.path.relpath(OUT, ROOT)}")
    if total > 1 << 20:
        sys.exit("corpus over 1 MB")


if __name__ == "__main__":
    main()
