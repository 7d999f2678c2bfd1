#!/usr/bin/env python3
"""Writes a tiny random Llama GGUF (F32, 1 layer, hidden 256 so that every matrix takes K-quants) for
build_llama_cpp.sh's smoke test of llama-quantize and llama-bench. Needs gguf-py (build_llama_cpp.sh puts the
vendored one on PYTHONPATH) and numpy.

    smoke_gguf.py OUT.gguf

The vocabulary is byte-level (the 256 GPT-2 byte symbols, one merge, <s> and </s>): llama.cpp refuses a "gpt2"
tokenizer without merges, and llama-bench only feeds random token ids anyway.
"""

import sys

import gguf
import numpy as np

N_EMBD, N_FF, N_HEAD, N_HEAD_KV, HEAD_DIM = 256, 256, 4, 2, 64


def byte_symbols():
    """GPT-2's byte -> printable character table: printable Latin-1 bytes map to themselves, the others to
    U+0100 upwards in byte order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    extra = 0
    table = {}
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


def vocab(w):
    sp = byte_symbols()[ord(" ")]
    tokens = ["<s>", "</s>"] + byte_symbols() + [sp + sp]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL] * 2 + [gguf.TokenType.NORMAL] * (len(tokens) - 2))
    w.add_token_merges([f"{sp} {sp}"])
    w.add_bos_token_id(0)
    w.add_eos_token_id(1)
    return len(tokens)


def main(path):
    rng = np.random.default_rng(1)
    w = gguf.GGUFWriter(path, "llama")
    n_vocab = vocab(w)
    w.add_context_length(256)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(1)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)

    def mat(name, rows, cols):  # numpy (rows, cols) = ggml ne (cols, rows)
        w.add_tensor(name, (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32))

    mat("token_embd.weight", n_vocab, N_EMBD)
    for name, rows, cols in (("attn_q", N_HEAD * HEAD_DIM, N_EMBD), ("attn_k", N_HEAD_KV * HEAD_DIM, N_EMBD),
                             ("attn_v", N_HEAD_KV * HEAD_DIM, N_EMBD), ("attn_output", N_EMBD, N_HEAD * HEAD_DIM),
                             ("ffn_gate", N_FF, N_EMBD), ("ffn_up", N_FF, N_EMBD), ("ffn_down", N_EMBD, N_FF)):
        mat(f"blk.0.{name}.weight", rows, cols)
    for name in ("blk.0.attn_norm.weight", "blk.0.ffn_norm.weight", "output_norm.weight"):
        w.add_tensor(name, np.ones(N_EMBD, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
