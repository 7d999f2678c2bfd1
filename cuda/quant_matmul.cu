// Launchers for block-format (quantized) weights: MATMUL (kernels/quant_matmul.cuh) and GET_ROWS
// (kernels/quant_get_rows.cuh). Weights stay on the device as the file stores them
// (core/weight_upload.c uploads them raw in every mode); the arithmetic follows the backend's
// math, as on the CPU:
//   F32, TF32   weights dequantized exactly, f32 products (TF32 GEMMs where the math allows them)
//   BF16, F16   weights dequantized exactly then rounded to bf16, x rounded to bf16, f32 sums
//   INT8        x quantized per block (Q8_0 / Q8_1 / Q8_K), integer dots, block scales in f32: the
//               reference kernels' operations in their order, for any m (no dequantized GEMM)
// Outside the int8 mode, decode (m ≤ QMM_M_MAX) runs the dequantizing GEMV; prefill dequantizes
// tiles of weight rows into the workspace and multiplies them with cuBLAS (cuda/matmul.cu's GEMM).
#include <stddef.h>

#include "cuda_ops.h"
#include "kernels/convert.cuh"
#include "kernels/quant_get_rows.cuh"
#include "kernels/quant_matmul.cuh"
extern "C" {
#include "core/quant.h"
}

// The kernels' byte offsets are ggml's layouts, as core/quant.h spells them.
static_assert(quant_block_bytes(QUANT_Q8_0) == sizeof(mmrt_block_q8_0) &&
                  offsetof(mmrt_block_q8_0, qs) == 2,
              "q8_0");
static_assert(quant_block_bytes(QUANT_Q4_0) == sizeof(mmrt_block_q4_0) &&
                  offsetof(mmrt_block_q4_0, qs) == 2,
              "q4_0");
static_assert(quant_block_bytes(QUANT_Q4_1) == sizeof(mmrt_block_q4_1) &&
                  offsetof(mmrt_block_q4_1, m) == 2 && offsetof(mmrt_block_q4_1, qs) == 4,
              "q4_1");
static_assert(quant_block_bytes(QUANT_Q5_0) == sizeof(mmrt_block_q5_0) &&
                  offsetof(mmrt_block_q5_0, qh) == 2 && offsetof(mmrt_block_q5_0, qs) == 6,
              "q5_0");
static_assert(quant_block_bytes(QUANT_Q5_1) == sizeof(mmrt_block_q5_1) &&
                  offsetof(mmrt_block_q5_1, m) == 2 && offsetof(mmrt_block_q5_1, qh) == 4 &&
                  offsetof(mmrt_block_q5_1, qs) == 8,
              "q5_1");
static_assert(quant_block_bytes(QUANT_Q4_K) == sizeof(mmrt_block_q4_K) &&
                  offsetof(mmrt_block_q4_K, scales) == 4 && offsetof(mmrt_block_q4_K, qs) == 16,
              "q4_K");
static_assert(quant_block_bytes(QUANT_Q5_K) == sizeof(mmrt_block_q5_K) &&
                  offsetof(mmrt_block_q5_K, qh) == 16 && offsetof(mmrt_block_q5_K, qs) == 48,
              "q5_K");
static_assert(quant_block_bytes(QUANT_Q6_K) == sizeof(mmrt_block_q6_K) &&
                  offsetof(mmrt_block_q6_K, qh) == 128 &&
                  offsetof(mmrt_block_q6_K, scales) == 192 && offsetof(mmrt_block_q6_K, d) == 208,
              "q6_K");
static_assert(quant_block_size(QUANT_Q8_0) == MMRT_QK && quant_block_size(QUANT_Q5_1) == MMRT_QK &&
                  quant_block_size(QUANT_Q4_K) == MMRT_QK_K,
              "block sizes");

namespace {

// Dequantized weight rows per prefill tile: at most this many bytes of workspace (a 4096-wide
// matrix: 1024 rows of f32 or 2048 of bf16 per cuBLAS call; test_cuda_quant crosses a tile edge).
constexpr size_t QMM_TILE_BYTES = size_t(16) << 20;

size_t align_up(size_t n) { return (n + 255) / 256 * 256; }

quant_type type_of(const mmrt_tensor* t) { return (quant_type)mmrt_cuda_quant_type(t->type); }

// Grid of the row kernels: QMM_WARPS weight rows per block, x's rows QMM_M_MAX per grid.y step
// (supports_op bounds both).
dim3 row_grid(int64_t n, int64_t m) {
  return dim3((unsigned)((n + QMM_WARPS - 1) / QMM_WARPS),
              (unsigned)((m + QMM_M_MAX - 1) / QMM_M_MAX));
}

// src: x (m, k) f32, w (n, k) quantized; dst (m, n) f32, must not alias x or w.
mmrt_status matmul_gemv(const mmrt_op* op, const mmrt_cuda_queue& q, bool bf16, mmrt_error* err) {
  const mmrt_tensor *x = op->src[0], *w = op->src[1], *dst = op->dst;
  quant_gemv_params p = {};
  p.w = static_cast<const uint8_t*>(w->data);
  p.w_stride = (int64_t)w->nb[1];
  p.type = type_of(w);
  p.x = static_cast<const float*>(x->data);
  p.x_stride = mmrt_cuda_stride(x, 1);
  p.dst = static_cast<float*>(dst->data);
  p.dst_stride = mmrt_cuda_stride(dst, 1);
  p.m = x->ne[1];
  p.n = w->ne[1];
  p.k = x->ne[0];
  p.bf16 = bf16;
  return MMRT_CUDA_LAUNCH(err, quant_gemv_kernel, row_grid(p.n, p.m), QMM_WARPS * 32, q.stream, p);
}

// The int8 mode: x quantized into the workspace, then the integer dots.
mmrt_status matmul_int8(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const mmrt_tensor *x = op->src[0], *w = op->src[1], *dst = op->dst;
  const int64_t m = x->ne[1], k = x->ne[0], n_blocks = m * (k / 32);
  const size_t qs_bytes = align_up((size_t)(m * k)), f_bytes = align_up(4 * (size_t)n_blocks);
  char* ws = nullptr;
  MMRT_TRY(mmrt_cuda_workspace(q, qs_bytes + 3 * f_bytes, reinterpret_cast<void**>(&ws), err));
  quant_act act;
  act.qs = reinterpret_cast<int8_t*>(ws);
  act.d = reinterpret_cast<float*>(ws + qs_bytes);
  act.s = reinterpret_cast<float*>(ws + qs_bytes + f_bytes);
  act.sum = reinterpret_cast<int*>(ws + qs_bytes + 2 * f_bytes);

  quant_act_params a = {};
  a.x = static_cast<const float*>(x->data);
  a.x_stride = mmrt_cuda_stride(x, 1);
  a.act = act;
  a.m = m;
  a.k = k;
  a.wtype = type_of(w);
  const int64_t warps = m * ((k + QMM_UNIT - 1) / QMM_UNIT);
  MMRT_TRY(MMRT_CUDA_LAUNCH(err, quant_act_kernel, (unsigned)((warps + QMM_WARPS - 1) / QMM_WARPS),
                            QMM_WARPS * 32, q.stream, a));

  quant_dot_params p = {};
  p.w = static_cast<const uint8_t*>(w->data);
  p.w_stride = (int64_t)w->nb[1];
  p.type = type_of(w);
  p.act = act;
  p.dst = static_cast<float*>(dst->data);
  p.dst_stride = mmrt_cuda_stride(dst, 1);
  p.m = m;
  p.n = w->ne[1];
  p.k = k;
  return MMRT_CUDA_LAUNCH(err, quant_dot_kernel, row_grid(p.n, m), QMM_WARPS * 32, q.stream, p);
}

// Prefill outside the int8 mode: tiles of w's rows dequantized (f32, or bf16 with x rounded to
// bf16 once) and multiplied by cuBLAS into dst's matching columns.
mmrt_status matmul_tiles(const mmrt_op* op, const mmrt_cuda_queue& q, bool bf16, mmrt_error* err) {
  const mmrt_tensor *x = op->src[0], *w = op->src[1], *dst = op->dst;
  const int64_t m = x->ne[1], n = w->ne[1], k = x->ne[0];
  const size_t es = bf16 ? 2 : 4, xs_bytes = bf16 ? align_up((size_t)(m * k) * 2) : 0;
  int64_t tile = (int64_t)(QMM_TILE_BYTES / ((size_t)k * es));
  tile = tile < 1 ? 1 : tile > n ? n : tile;
  char* ws = nullptr;
  MMRT_TRY(mmrt_cuda_workspace(q, xs_bytes + (size_t)tile * (size_t)k * es,
                               reinterpret_cast<void**>(&ws), err));
  mmrt_cuda_gemm_params g = {};
  g.trans_a = true;
  g.n = m;
  g.k = k;
  g.ab_type = bf16 ? FLOAT_BF16 : FLOAT_F32;
  g.a = ws + xs_bytes;
  g.lda = k;
  g.b = x->data;
  g.ldb = mmrt_cuda_stride(x, 1);
  g.ldc = mmrt_cuda_stride(dst, 1);
  g.batch = 1;
  g.alpha = 1.0f;
  g.tf32 = q.math != MMRT_MATH_F32;
  if (bf16) {
    convert_params c = {};  // (m, k) packed bf16
    c.x = static_cast<const float*>(x->data);
    c.dst = ws;
    c.n = k;
    c.rows = m;
    c.x_stride = mmrt_cuda_stride(x, 1);
    MMRT_TRY(MMRT_CUDA_LAUNCH(err, convert_kernel<__nv_bfloat16>, mmrt_cuda_flat_blocks(m * k),
                              FLAT_THREADS, q.stream, c));
    g.b = ws;
    g.ldb = k;
  }
  quant_dequant_params d = {};
  d.w_stride = (int64_t)w->nb[1];
  d.type = type_of(w);
  d.dst = ws + xs_bytes;
  d.k = k;
  d.bf16 = bf16;
  for (int64_t j0 = 0; j0 < n; j0 += tile) {  // the stream orders each tile's reuse of ws
    d.rows = n - j0 < tile ? n - j0 : tile;
    d.w = static_cast<const uint8_t*>(w->data) + j0 * d.w_stride;
    MMRT_TRY(MMRT_CUDA_LAUNCH(err, quant_dequant_kernel, mmrt_cuda_flat_blocks(d.rows * (k / 8)),
                              FLAT_THREADS, q.stream, d));
    g.m = d.rows;
    g.c = static_cast<float*>(dst->data) + j0;
    MMRT_TRY(mmrt_cuda_gemm(q, g, err));
  }
  return MMRT_OK;
}

}  // namespace

// src: x (m, k) f32, w (n, k) of a block format; dst (m, n) f32, must not alias x or w.
mmrt_status mmrt_cuda_matmul_quant(const mmrt_op* op, const mmrt_cuda_queue& q, mmrt_error* err) {
  const int64_t m = op->src[0]->ne[1], n = op->src[1]->ne[1], k = op->src[0]->ne[0];
  if (m == 0 || n == 0) return MMRT_OK;
  const bool bf16 = q.math == MMRT_MATH_BF16 || q.math == MMRT_MATH_F16;
  if (k == 0) return matmul_gemv(op, q, bf16, err);  // zeros, in every mode
  if (q.int8) return matmul_int8(op, q, err);
  if (m <= QMM_M_MAX) return matmul_gemv(op, q, bf16, err);
  return matmul_tiles(op, q, bf16, err);
}

// src: table (V, d) of a block format, ids (n) i32; dst (n, d) f32. Bad ids as get_rows.cu's.
mmrt_status mmrt_cuda_get_rows_quant(const mmrt_op* op, const mmrt_cuda_queue& q,
                                     mmrt_error* err) {
  const mmrt_tensor *table = op->src[0], *ids = op->src[1];
  get_rows_quant_params p = {};
  p.table = static_cast<const uint8_t*>(table->data);
  p.type = type_of(table);
  p.ids = static_cast<const int32_t*>(ids->data);
  p.dst = static_cast<float*>(op->dst->data);
  p.n_vocab = table->ne[1];
  p.d = table->ne[0];
  p.table_stride = (int64_t)table->nb[1];
  p.dst_stride = mmrt_cuda_stride(op->dst, 1);
  p.bad = q.bad;
  return MMRT_CUDA_LAUNCH(err, get_rows_quant_kernel, (unsigned)ids->ne[0],
                          mmrt_cuda_row_threads(p.d / 8), q.stream, p);
}
