#!/usr/bin/env python3
"""Writes tests/fixtures/gguf/*.gguf with the `gguf` PyPI package (llama.cpp's gguf-py), so that
tests/test_gguf.c proves that mmrt's reader reads what llama.cpp's own tooling writes.

    /work/venv/bin/python tools/fixtures_gguf_format.py

Deterministic (no clocks, no randomness). The values below are repeated in tests/test_gguf.c
(py_types / py_align64 tests): change both together.

  py_types.gguf    default alignment (32): one key of every value type, arrays of i32, f32,
                   strings, bools and an array of arrays (gguf-py
                   drops empty arrays, so test_gguf.c writes those itself); tensors f32 (2, 3), f16 (5), bf16 (3),
                   q8_0 (2 rows of 32) and q4_K (one 256-block row) with byte patterns.
  py_align64.gguf  general.alignment = 64, two f32 tensors of 3 and 5 elements (padding between).
"""
import importlib.metadata
import os
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gguf  # noqa: E402
from common import check_versions  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "gguf")


def pattern(n, mul, add):
    """n bytes (i * mul + add) & 255: the raw payload of the quantized tensors."""
    return np.array([(i * mul + add) & 255 for i in range(n)], dtype=np.uint8)


def py_types(path):
    w = gguf.GGUFWriter(path, arch="llama")  # writes general.architecture = "llama"
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_float32("t.f32", 0.25)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "héllo gguf")
    w.add_uint64("t.u64", 1 << 40)
    w.add_int64("t.i64", -(1 << 40))
    w.add_float64("t.f64", -1.5e-300)
    w.add_array("a.i32", [1, -2, 3])
    w.add_array("a.f32", [0.5, -1.25])
    w.add_array("a.str", ["<s>", "", "▁the"])
    w.add_array("a.bool", [True, False])
    w.add_array("a.nested", [[1, 2], [3]])
    w.add_tensor("f32", np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5 - 1)
    w.add_tensor("f16", np.array([1, -2, 0.5, 65504, 0], dtype=np.float16))
    w.add_tensor("bf16", pattern(6, 37, 11), raw_dtype=gguf.GGMLQuantizationType.BF16)
    w.add_tensor("q8_0", pattern(2 * 34, 7, 3).reshape(2, 34), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("q4_K", pattern(144, 13, 5).reshape(1, 144), raw_dtype=gguf.GGMLQuantizationType.Q4_K)
    finish(w)


def py_align64(path):
    w = gguf.GGUFWriter(path, arch="llama")
    w.add_custom_alignment(64)
    w.add_tensor("a", np.array([1, 2, 3], dtype=np.float32))
    w.add_tensor("b", np.array([4, 5, 6, 7, 8], dtype=np.float32))
    finish(w)


def finish(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    check_versions()
    os.makedirs(OUT, exist_ok=True)
    py_types(os.path.join(OUT, "py_types.gguf"))
    py_align64(os.path.join(OUT, "py_align64.gguf"))
    print(f"gguf {importlib.metadata.version('gguf')}: wrote {OUT}")


if __name__ == "__main__":
    main()
