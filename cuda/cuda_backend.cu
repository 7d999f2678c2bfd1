// The CUDA backend: device buffers from a small pool, one stream, and the op table of cuda_ops.h.
//
// Buffers: freed buffers are kept and handed out again for requests of between half their size and
// their size, so that per-step activations do not cost a cudaMalloc each; all of them go back to
// the device when the pool cannot satisfy a request (before reporting OOM) and at free().
// Live allocations are kept sorted by address: supports_op() uses them to check that every operand
// of an op lies inside memory this backend handed out.
//
// Not thread-safe: one backend is one stream, driven by one thread at a time (as a session is).
#include <cublas_v2.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_ops.h"  // includes core/backend.h and cuda_backend.h the way C++ needs them
#include "kernels/attention_traits.cuh"

namespace {

constexpr size_t BUFFER_ALIGN = 256;  // cudaMalloc's own alignment; rounds pool sizes

struct cuda_buffer {
  char* ptr;
  size_t size;     // allocated (rounded) size
  size_t n_bytes;  // size asked for by the current owner (valid range for tensors)
  bool in_use;
};

struct cuda_ctx {
  int device;
  mmrt_cuda_queue q;
  mmrt_cuda_scratch scratch;  // q.scratch points here
  cuda_buffer* bufs;          // sorted by ptr
  size_t n_bufs, cap_bufs;
  const cuda_ctx* parent;     // forked from (its buffers are readable here), or NULL
  int smem_optin;             // the most dynamic shared memory a block may opt in to
};

// Makes the context's device current on the calling thread: a session may run on any thread,
// whose current device need not be the one its backend was created on.
mmrt_status bind(const cuda_ctx* c, mmrt_error* err);

// The launcher of an op kind, or NULL when this backend has none.
mmrt_cuda_op_fn op_launcher(mmrt_op_kind kind) {
  switch (kind) {
#define MMRT_CUDA_CASE(KIND, name) \
  case MMRT_OP_##KIND:             \
    return mmrt_cuda_##name;
    MMRT_CUDA_OPS(MMRT_CUDA_CASE)
#undef MMRT_CUDA_CASE
    default:
      return nullptr;
  }
}

cuda_ctx* ctx_of(mmrt_backend* be) { return static_cast<cuda_ctx*>(be->ctx); }

mmrt_status cuda_error(mmrt_error* err, cudaError_t e, const char* what) {
  return mmrt_error_set(err, MMRT_ERR_BACKEND, "CUDA %s: %s", what, prim::launch_error_string(e));
}

mmrt_status bind(const cuda_ctx* c, mmrt_error* err) {
  const cudaError_t e = cudaSetDevice(c->device);
  return e == cudaSuccess ? MMRT_OK : cuda_error(err, e, "cudaSetDevice");
}

// Index of the buffer that contains address p, or n_bufs.
size_t find_buffer(const cuda_ctx* c, const void* p) {
  size_t lo = 0, hi = c->n_bufs;  // first buffer with ptr > p is at hi after the search
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (c->bufs[mid].ptr <= static_cast<const char*>(p))
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return c->n_bufs;
  const cuda_buffer& b = c->bufs[lo - 1];
  return static_cast<const char*>(p) < b.ptr + b.size ? lo - 1 : c->n_bufs;
}

// Returns cached buffers to the device.
void release_cached(cuda_ctx* c) {
  size_t kept = 0;
  for (size_t i = 0; i < c->n_bufs; i++) {
    if (c->bufs[i].in_use)
      c->bufs[kept++] = c->bufs[i];
    else
      cudaFree(c->bufs[i].ptr);
  }
  c->n_bufs = kept;
}

mmrt_status insert_buffer(cuda_ctx* c, cuda_buffer b, mmrt_error* err) {
  if (c->n_bufs == c->cap_bufs) {
    const size_t cap = c->cap_bufs ? 2 * c->cap_bufs : 64;
    cuda_buffer* nb = static_cast<cuda_buffer*>(realloc(c->bufs, cap * sizeof *nb));
    if (!nb) return mmrt_error_oom(err, cap * sizeof *nb, "CUDA buffer list");
    c->bufs = nb;
    c->cap_bufs = cap;
  }
  size_t i = c->n_bufs;
  while (i > 0 && c->bufs[i - 1].ptr > b.ptr) {
    c->bufs[i] = c->bufs[i - 1];
    i--;
  }
  c->bufs[i] = b;
  c->n_bufs++;
  return MMRT_OK;
}

mmrt_status cuda_buffer_alloc(mmrt_backend* be, size_t n_bytes, void** ptr, mmrt_error* err) {
  cuda_ctx* c = ctx_of(be);
  if (n_bytes > SIZE_MAX - BUFFER_ALIGN) return mmrt_error_oom(err, n_bytes, "CUDA device buffer");
  MMRT_TRY(bind(c, err));
  const size_t size =
      n_bytes ? (n_bytes + BUFFER_ALIGN - 1) / BUFFER_ALIGN * BUFFER_ALIGN : BUFFER_ALIGN;
  size_t best = c->n_bufs;  // the smallest cached buffer that fits without wasting half
  for (size_t i = 0; i < c->n_bufs; i++) {
    const cuda_buffer& b = c->bufs[i];
    if (!b.in_use && b.size >= size && b.size / 2 <= size &&
        (best == c->n_bufs || b.size < c->bufs[best].size))
      best = i;
  }
  if (best < c->n_bufs) {
    c->bufs[best].in_use = true;
    c->bufs[best].n_bytes = n_bytes;
    *ptr = c->bufs[best].ptr;
    return MMRT_OK;
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, size);
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    release_cached(c);
    e = cudaMalloc(&p, size);
  }
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    return mmrt_error_oom(err, n_bytes, "CUDA device buffer");
  }
  if (e != cudaSuccess) return cuda_error(err, e, "cudaMalloc");
  const mmrt_status st =
      insert_buffer(c, cuda_buffer{static_cast<char*>(p), size, n_bytes, true}, err);
  if (st != MMRT_OK) {
    cudaFree(p);
    return st;
  }
  *ptr = p;
  return MMRT_OK;
}

// Keeps the buffer for reuse. Work queued on the stream that still uses it is fine: the stream
// runs in order, so a later op that gets the buffer again runs after it.
void cuda_buffer_free(mmrt_backend* be, void* ptr) {
  if (!ptr) return;
  cuda_ctx* c = ctx_of(be);
  const size_t i = find_buffer(c, ptr);
  MMRT_ASSERT(i < c->n_bufs && c->bufs[i].ptr == ptr && c->bufs[i].in_use);
  c->bufs[i].in_use = false;
}

mmrt_status cuda_upload(mmrt_backend* be, void* dst, const void* src, size_t n_bytes,
                        mmrt_error* err) {
  if (!n_bytes) return MMRT_OK;
  const cudaError_t e =
      cudaMemcpyAsync(dst, src, n_bytes, cudaMemcpyHostToDevice, ctx_of(be)->q.stream);
  if (e != cudaSuccess) return cuda_error(err, e, "upload (cudaMemcpyAsync host to device)");
  return MMRT_OK;
}

mmrt_status cuda_download(mmrt_backend* be, void* dst, const void* src, size_t n_bytes,
                          mmrt_error* err) {
  if (!n_bytes) return MMRT_OK;
  const cudaError_t e =
      cudaMemcpyAsync(dst, src, n_bytes, cudaMemcpyDeviceToHost, ctx_of(be)->q.stream);
  if (e != cudaSuccess) return cuda_error(err, e, "download (cudaMemcpyAsync device to host)");
  return MMRT_OK;
}

// Waits for the stream, then reports bad input that kernels met (get_rows ids, scatter_rows
// indices: the first one) since the last call.
mmrt_status cuda_synchronize(mmrt_backend* be, mmrt_error* err) {
  cuda_ctx* c = ctx_of(be);
  MMRT_TRY(bind(c, err));
  cudaError_t e = cudaStreamSynchronize(c->q.stream);
  if (e != cudaSuccess)
    return cuda_error(err, e, "stream synchronize (an earlier kernel or copy failed)");
  int bad[3];
  e = cudaMemcpy(bad, c->q.bad, sizeof bad, cudaMemcpyDeviceToHost);
  if (e != cudaSuccess) return cuda_error(err, e, "reading the kernels' bad-input report");
  if (bad[0]) {
    e = cudaMemset(c->q.bad, 0, sizeof bad);
    if (e != cudaSuccess) return cuda_error(err, e, "clearing the kernels' bad-input report");
    if (bad[0] == MMRT_CUDA_BAD_SCATTER_ROWS)
      return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                            "scatter_rows: row index %d out of range [0, %d)", bad[1], bad[2]);
    return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "get_rows: token id %d out of range [0, %d)",
                          bad[1], bad[2]);
  }
  return MMRT_OK;
}

bool is_float(mmrt_dtype t) { return t == MMRT_F32 || t == MMRT_F16 || t == MMRT_BF16; }

// MATMUL's weights or GET_ROWS's table: a float type, or a block format cuda/quant_matmul.cu
// decodes (rows of whole blocks, as the tensor's shape guarantees).
bool is_weight(mmrt_dtype t) { return is_float(t) || mmrt_cuda_quant_type(t) >= 0; }

// t is absent, or lies inside one live buffer of this backend with rows contiguous and every
// stride a whole number of elements.
bool on_device(const cuda_ctx* c, const mmrt_tensor* t) {
  if (!t) return true;
  const size_t es = mmrt_dtype_size(t->type);
  if (t->nb[0] != es) return false;
  for (int i = 1; i < MMRT_MAX_DIMS; i++)
    if (t->nb[i] % es) return false;
  const size_t n = mmrt_tensor_nbytes(t);
  if (n == 0) return true;
  for (; c; c = c->parent) {
    const size_t i = find_buffer(c, t->data);
    if (i == c->n_bufs || !c->bufs[i].in_use) continue;
    const cuda_buffer& b = c->bufs[i];
    return static_cast<const char*>(t->data) - b.ptr + n <= b.n_bytes;
  }
  return false;
}

// Kernels index rows by blockIdx.x and ids are i32.
bool rows_fit(const mmrt_tensor* t) { return t->ne[1] * t->ne[2] * t->ne[3] <= INT32_MAX; }

// f32 q/k/v/dst, an even head dim up to ATTN_HD_MAX, whole GQA groups, a u8/i32 key mask read as
// a plain array, an f32 bias (≥ n_kv, n_tok, 1 or n_head) with rows contiguous (on_device checked
// its strides), and a grid within CUDA's limits (x: row tiles, y: KV heads, z: KV splits).
bool attention_supported(const cuda_ctx* c, const mmrt_op* op) {
  const mmrt_tensor *q = op->src[0], *k = op->src[1], *v = op->src[2], *mask = op->src[3];
  const mmrt_tensor *d = op->dst, *bias = op->src[4];
  if (!k || !v || q->type != MMRT_F32 || k->type != MMRT_F32 || v->type != MMRT_F32 ||
      d->type != MMRT_F32)
    return false;
  const int64_t hd = q->ne[0], n_head = q->ne[1], h_kv = k->ne[1], n_kv = op->p.attn.n_kv;
  if (hd < 2 || hd % 2 || hd > ATTN_HD_MAX || k->ne[0] != hd || v->ne[0] != hd ||
      !mmrt_tensor_same_shape(q, d) || !mmrt_tensor_same_shape(k, v) || q->ne[3] != 1 ||
      k->ne[3] != 1)
    return false;
  if (h_kv < 1 || h_kv > 65535 || n_head % h_kv || n_kv < 0 || n_kv > k->ne[2] ||
      op->p.attn.pos0 < 0)
    return false;
  if (mask && ((mask->type != MMRT_U8 && mask->type != MMRT_I32) || mask->ne[0] < n_kv ||
               !mmrt_tensor_is_contiguous(mask)))
    return false;
  if (bias && (bias->type != MMRT_F32 || bias->ne[0] < n_kv || bias->ne[1] != q->ne[2] ||
               (bias->ne[2] != 1 && bias->ne[2] != n_head) || bias->ne[3] != 1))
    return false;
  // shared memory of the kernel the math selects, within what this device lets a block opt in to
  // (large head dims: sm_86/sm_89 allow 99 KiB, sm_80 163 KiB, sm_90 227 KiB)
  const bool mma = c->q.math == MMRT_MATH_BF16 || c->q.math == MMRT_MATH_F16;
  const size_t smem = mma ? attention_mma_smem_bytes((int)hd) : attention_smem_bytes((int)hd);
  if (smem > (size_t)c->smem_optin) return false;
  const int64_t row_tiles = (q->ne[2] * (n_head / h_kv) + ATTN_BQ - 1) / ATTN_BQ;
  return row_tiles <= INT32_MAX && (n_kv + ATTN_KV_CHUNK - 1) / ATTN_KV_CHUNK <= 65535;
}

bool cuda_supports_op(mmrt_backend* be, const mmrt_op* op) {
  const cuda_ctx* c = ctx_of(be);
  if (!op_launcher(op->kind)) return false;
  if (!on_device(c, op->dst)) return false;
  for (int i = 0; i < MMRT_OP_MAX_SRC; i++)
    if (!on_device(c, op->src[i])) return false;
  const mmrt_tensor *a = op->src[0], *b = op->src[1], *d = op->dst;
  if (!rows_fit(a)) return false;
  switch (op->kind) {
    case MMRT_OP_MATMUL: {
      // cuBLAS (mmrt_cuda_gemm) takes sizes and leading dimensions (row strides) as int, and rows
      // that do not overlap; a stride that addresses nothing (one row, empty rows) is not used.
      const auto gemm_matrix = [](const mmrt_tensor* t) {
        const uint64_t ld = t->nb[1] / mmrt_dtype_size(t->type);
        return t->ne[0] <= INT32_MAX && t->ne[1] <= INT32_MAX &&
               (t->ne[1] <= 1 || t->ne[0] == 0 || (ld >= (uint64_t)t->ne[0] && ld <= INT32_MAX));
      };
      if (mmrt_dtype_is_quant(b->type))  // quant_matmul.cu: grid.x over w's rows, y over x's
        return a->type == MMRT_F32 && d->type == MMRT_F32 && is_weight(b->type) &&
               gemm_matrix(a) && gemm_matrix(d) && b->ne[1] <= INT32_MAX &&
               a->ne[1] <= (int64_t)QMM_M_MAX * 65535;
      return a->type == MMRT_F32 && d->type == MMRT_F32 && is_float(b->type) && gemm_matrix(a) &&
             gemm_matrix(b) && gemm_matrix(d);
    }
    case MMRT_OP_GET_ROWS:
      return is_weight(a->type) && b->type == MMRT_I32 && d->type == MMRT_F32 && rows_fit(d);
    case MMRT_OP_RMS_NORM:
    case MMRT_OP_ADD_BIAS:
      return a->type == MMRT_F32 && d->type == MMRT_F32 && is_float(b->type);
    case MMRT_OP_LAYER_NORM:
      return a->type == MMRT_F32 && d->type == MMRT_F32 && is_float(b->type) &&
             is_float(op->src[2]->type);
    case MMRT_OP_ROPE:  // pos and inv_freq are read as plain arrays, like the CPU backend does
      return a->type == MMRT_F32 && d->type == MMRT_F32 && mmrt_tensor_is_contiguous(b) &&
             mmrt_tensor_is_contiguous(op->src[2]);
    case MMRT_OP_SILU_MUL:
    case MMRT_OP_ADD:
    case MMRT_OP_MUL:
      return a->type == MMRT_F32 && b->type == MMRT_F32 && d->type == MMRT_F32;
    case MMRT_OP_ARGMAX:
      return a->type == MMRT_F32 && d->type == MMRT_I32 && mmrt_tensor_is_contiguous(d);
    case MMRT_OP_ATTENTION:
      return attention_supported(c, op);
    case MMRT_OP_CONVERT:  // convert.cu: src as (rows, ne0) with one row stride; dst packed, apart
      return a->type == MMRT_F32 &&
             (d->type == MMRT_BF16 || d->type == MMRT_F16 || d->type == MMRT_F32) &&
             mmrt_tensor_is_contiguous(d) && d->data != a->data &&
             (a->ne[2] == 1 || a->nb[2] == a->nb[1] * (size_t)a->ne[1]) &&
             (a->ne[3] == 1 || a->nb[3] == a->nb[2] * (size_t)a->ne[2]);
    case MMRT_OP_PATCHIFY:
    case MMRT_OP_PIXEL_SHUFFLE:  // one block per dst row
      return a->type == MMRT_F32 && d->type == MMRT_F32 && rows_fit(d);
    case MMRT_OP_SCATTER_ROWS:  // one block per src row; idx read as a plain array
      return a->type == MMRT_F32 && d->type == MMRT_F32 && b->type == MMRT_I32 &&
             mmrt_tensor_is_contiguous(b) && d->ne[1] <= INT32_MAX;
    case MMRT_OP_CONV1D_DW:  // the bias (null: none) is a contiguous row vector
      return a->type == MMRT_F32 && d->type == MMRT_F32 && is_float(b->type) &&
             (!op->src[2] || is_float(op->src[2]->type));
    case MMRT_OP_SAMPLE:  // u and dst read as plain arrays
      return a->type == MMRT_F32 && b->type == MMRT_F32 && d->type == MMRT_I32 &&
             mmrt_tensor_is_contiguous(b) && mmrt_tensor_is_contiguous(d) && a->ne[0] <= INT32_MAX;
    default:
      return a->type == MMRT_F32 && d->type == MMRT_F32;
  }
}

mmrt_status cuda_compute(mmrt_backend* be, const mmrt_op* op, mmrt_error* err) {
  MMRT_TRY(bind(ctx_of(be), err));
  return op_launcher(op->kind)(op, ctx_of(be)->q, err);
}

void cuda_free(mmrt_backend* be) {
  cuda_ctx* c = ctx_of(be);
  if (c) {
    if (c->q.stream) cudaStreamSynchronize(c->q.stream);
    for (size_t i = 0; i < c->n_bufs; i++) cudaFree(c->bufs[i].ptr);
    free(c->bufs);
    if (c->scratch.ptr) cudaFree(c->scratch.ptr);
    if (c->q.blas) cublasDestroy(static_cast<cublasHandle_t>(c->q.blas));
    if (c->q.bad) cudaFree(c->q.bad);
    if (c->q.stream) cudaStreamDestroy(c->q.stream);
    free(c);
  }
  free(be);
}

mmrt_status ctx_create(int device, mmrt_math math, const cuda_ctx* parent, mmrt_backend** out,
                       mmrt_error* err);

mmrt_status cuda_fork(mmrt_backend* be, mmrt_backend** out, mmrt_error* err) {
  const cuda_ctx* c = ctx_of(be);
  return ctx_create(c->device, c->q.int8 ? MMRT_MATH_INT8 : c->q.math, c, out, err);
}

const mmrt_backend_i cuda_iface = {
    .name = "cuda",
    .buffer_alloc = cuda_buffer_alloc,
    .buffer_free = cuda_buffer_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .synchronize = cuda_synchronize,
    .supports_op = cuda_supports_op,
    .compute = cuda_compute,
    .host_memory = false,
    .fork = cuda_fork,
    .free = cuda_free,
    .set_threads = nullptr,
    .kv_dtype = nullptr,  // f32 KV caches: the attention kernels read f32 K/V
};

// A backend on `device` with its own stream, error report, cuBLAS handle and buffers. INT8 is
// BF16 for every op (q.math) but MATMUL on block-format weights (q.int8).
mmrt_status ctx_create(int device, mmrt_math math, const cuda_ctx* parent, mmrt_backend** out,
                       mmrt_error* err) {
  mmrt_backend* be = static_cast<mmrt_backend*>(calloc(1, sizeof *be));
  cuda_ctx* c = static_cast<cuda_ctx*>(calloc(1, sizeof *c));
  if (!be || !c) {
    free(be);
    free(c);
    return mmrt_error_oom(err, sizeof *be + sizeof *c, "CUDA backend");
  }
  be->iface = &cuda_iface;
  be->ctx = c;
  be->math = math;
  c->device = device;
  c->parent = parent;
  c->q.math = math == MMRT_MATH_INT8 ? MMRT_MATH_BF16 : math;
  c->q.int8 = math == MMRT_MATH_INT8;
  c->q.scratch = &c->scratch;
  c->scratch.owner = c;
  mmrt_status st = MMRT_OK;
  cudaError_t e;
  cublasStatus_t bs = CUBLAS_STATUS_SUCCESS;
  cublasHandle_t blas = nullptr;
  int caller_device = -1;  // restored below: creating a backend does not move the caller
  if ((e = cudaGetDevice(&caller_device)) != cudaSuccess)
    st = cuda_error(err, e, "cudaGetDevice");
  else if ((e = cudaSetDevice(device)) != cudaSuccess)
    st = cuda_error(err, e, "cudaSetDevice");
  else if ((e = cudaDeviceGetAttribute(&c->smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin,
                                       device)) != cudaSuccess)
    st = cuda_error(err, e, "cudaDeviceGetAttribute (shared memory per block)");
  else if ((e = cudaStreamCreateWithFlags(&c->q.stream, cudaStreamNonBlocking)) != cudaSuccess)
    st = cuda_error(err, e, "cudaStreamCreate");
  else if ((e = cudaMalloc(&c->q.bad, 3 * sizeof(int))) != cudaSuccess)
    st = e == cudaErrorMemoryAllocation ? mmrt_error_oom(err, 3 * sizeof(int), "CUDA error report")
                                        : cuda_error(err, e, "cudaMalloc");
  else if ((e = cudaMemset(c->q.bad, 0, 3 * sizeof(int))) != cudaSuccess)
    st = cuda_error(err, e, "cudaMemset");
  else if ((bs = cublasCreate(&blas)) != CUBLAS_STATUS_SUCCESS ||
           (c->q.blas = blas, bs = cublasSetStream(blas, c->q.stream)) != CUBLAS_STATUS_SUCCESS)
    st = bs == CUBLAS_STATUS_ALLOC_FAILED
             ? mmrt_error_oom(err, 0, "cuBLAS handle")
             : mmrt_error_set(err, MMRT_ERR_BACKEND, "cuBLAS: cannot create a handle: %s",
                              cublasGetStatusString(bs));
  if (st != MMRT_OK) cuda_free(be);
  else *out = be;
  if (caller_device >= 0 && caller_device != device) cudaSetDevice(caller_device);
  return st;
}

}  // namespace

mmrt_status mmrt_cuda_workspace(const mmrt_cuda_queue& q, size_t bytes, void** out,
                                mmrt_error* err) {
  mmrt_cuda_scratch* s = q.scratch;
  if (bytes > s->bytes) {
    if (s->ptr) cudaFree(s->ptr);  // waits for kernels still using it
    s->ptr = nullptr;
    s->bytes = 0;
    const size_t size = (bytes + BUFFER_ALIGN - 1) / BUFFER_ALIGN * BUFFER_ALIGN;
    cuda_ctx* c = static_cast<cuda_ctx*>(s->owner);
    MMRT_TRY(bind(c, err));
    cudaError_t e = cudaMalloc(&s->ptr, size);
    if (e == cudaErrorMemoryAllocation) {  // the pool's cached buffers go back first, as for buffers
      (void)cudaGetLastError();
      release_cached(c);
      e = cudaMalloc(&s->ptr, size);
    }
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      s->ptr = nullptr;
      return mmrt_error_oom(err, bytes, "CUDA scratch");
    }
    if (e != cudaSuccess) {
      s->ptr = nullptr;
      return cuda_error(err, e, "cudaMalloc (scratch)");
    }
    s->bytes = size;
  }
  *out = s->ptr;
  return MMRT_OK;
}

mmrt_status mmrt_cuda_backend_init(const mmrt_backend_params* params, mmrt_backend** out,
                                   mmrt_error* err) {
  int n_dev = 0, device = 0;
  cudaError_t e = cudaGetDeviceCount(&n_dev);
  if (e != cudaSuccess) return cuda_error(err, e, "no usable device (cudaGetDeviceCount)");
  if (n_dev == 0) return mmrt_error_set(err, MMRT_ERR_BACKEND, "CUDA: no device found");
  if ((e = cudaGetDevice(&device)) != cudaSuccess) return cuda_error(err, e, "cudaGetDevice");
  return ctx_create(device, params->math, nullptr, out, err);
}

mmrt_status mmrt_cuda_check_launch(const char* kernel, mmrt_error* err) {
  const cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) return MMRT_OK;
  return mmrt_error_set(err, MMRT_ERR_BACKEND, "CUDA kernel %s: %s", kernel,
                        prim::launch_error_string(e));
}
