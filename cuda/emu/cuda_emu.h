// cuda_emu.h — runs CUDA kernel sources on the CPU, compiled by the host C++ compiler (C++20).
//
// Kernels never include this file directly: they include cuda/prims.cuh, which includes it when
// the compiler is not nvcc. It provides what kernel code needs from CUDA: the qualifiers, the
// built-in variables (threadIdx, blockIdx, blockDim, gridDim), __syncthreads, warp collectives
// (__syncwarp, __shfl*_sync, __ballot_sync, __any_sync, __all_sync), atomics, the device-only math
// intrinsics, CUDA's own __half/__nv_bfloat16 types (from the toolkit's headers) and the launch entry
// used by MMRT_LAUNCH. Host code keeps calling the CUDA runtime API (cudaMalloc, cudaMemcpy,
// streams, events): emu_runtime.cpp defines those functions with the toolkit's own prototypes.
//
// Model (see README.md): one fiber per CUDA thread; all fibers of a block run on one OS worker
// thread and switch only at barriers and warp collectives; blocks are spread over a small worker
// pool. Every launch runs to completion before it returns (streams are synchronous). A kernel that
// breaks CUDA's rules (barrier divergence, mismatched warp collectives, a lane outside its mask)
// fails its launch with a message naming the kernel, the block and the source line; the process
// never aborts and never hangs.
//
// Thread-safety: launches are serialised by a process-wide lock; configuration calls must not run
// concurrently with a launch.
#pragma once

#if defined(__CUDACC__)
#error "cuda_emu.h is for the host compiler only; nvcc builds use cuda/prims.cuh's CUDA branch"
#endif

// Standard headers come before the qualifier macros below (libstdc++ spells attributes such as
// __attribute__((__noinline__)), which a macro would break). CUDA's headers define the qualifiers
// (empty in host mode): include them first, redefine after.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __constant__
#undef __managed__
#undef __launch_bounds__
#undef __forceinline__
#undef __grid_constant__
#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __grid_constant__
#define __launch_bounds__(...)
#define __forceinline__ inline __attribute__((always_inline))
// One copy per OS worker thread = one per resident block (a worker runs one block at a time and
// fibers never migrate). `constinit` proves static initialisation, so GCC emits no TLS guard for
// class-type arrays (__half): no branch per access and no TSan false positive.
#define __shared__ static thread_local constinit

#define MMRT_EMU 1

constexpr int warpSize = 32;

// ---- configuration (C linkage: callable from C test drivers) --------------------------------

extern "C" {

// Order in which the threads of a block run between two synchronisation points.
typedef enum mmrt_emu_sched {
  MMRT_EMU_SCHED_FORWARD = 0,  // thread 0, 1, 2, ...
  MMRT_EMU_SCHED_REVERSE = 1,  // last thread first
  MMRT_EMU_SCHED_SHUFFLE = 2,  // a fresh permutation per pass, from the seed and the block index
} mmrt_emu_sched;

// Defaults come from the environment, read once: MMRT_EMU_SCHED=forward|reverse|shuffle,
// MMRT_EMU_SEED, MMRT_EMU_WORKERS (default 2), MMRT_EMU_STACK_KB (default 64). These calls
// override them for later launches.
void mmrt_emu_set_sched(mmrt_emu_sched sched, uint64_t seed);
mmrt_emu_sched mmrt_emu_get_sched(void);
void mmrt_emu_set_workers(int n_workers);
int mmrt_emu_get_workers(void);

// Message of the last failed launch or runtime call on this host thread ("" if none): names the
// kernel, grid, block and what went wrong. cudaGetErrorString() only gives CUDA's generic text.
const char* mmrt_emu_last_error_message(void);

}  // extern "C"

namespace mmrt_emu {

// Per CUDA thread and per block state the built-ins read. Owned by the scheduler (emu_internal.h).
struct thread_ctx {
  uint3 tid;
  unsigned linear;  // threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)
  unsigned lane;
  unsigned warp;
};
struct block_ctx {
  uint3 idx;
  dim3 dim;
  dim3 grid;
  unsigned char* dyn_smem;
  size_t dyn_bytes;
};
inline constinit thread_local thread_ctx* t_thread = nullptr;
inline constinit thread_local block_ctx* t_block = nullptr;

using source_loc = std::source_location;

// __syncthreads and its predicate variants; returns the reduced predicate.
enum class bar_op { none, count, all, any };
int block_barrier(bar_op op, int pred, const source_loc& loc);

enum class shfl_mode { idx, up, down, bfly };
void warp_sync(unsigned mask, const source_loc& loc);
uint64_t warp_shfl(unsigned mask, uint64_t bits, int lane_arg, int c, shfl_mode mode,
                   const source_loc& loc);
unsigned warp_ballot(unsigned mask, int pred, const source_loc& loc);
unsigned warp_active_mask();  // the lanes that exist in the caller's warp

// Tensor-core emulation (PTX ISA fragment layouts; see cuda/prims.cuh).
enum class mma_type { bf16, f16 };
void warp_mma_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4],
                       mma_type type, const source_loc& loc);
void warp_ldmatrix(uint32_t* r, int num, bool trans, const void* row, const source_loc& loc);

// Runs a whole grid; `entry(args)` is the kernel body of one thread. Returns cudaSuccess or the
// error (also recorded for cudaGetLastError and mmrt_emu_last_error_message).
using entry_fn = void (*)(void* args);
cudaError_t launch_grid(const char* name, const void* kernel, dim3 grid, dim3 block, size_t smem,
                        cudaStream_t stream, entry_fn entry, void* args);

// Typed launch: converts the arguments to the kernel's parameter types once, as CUDA copies them
// into the parameter buffer; every thread then calls the kernel with its own copy.
template <class... P, class... A>
cudaError_t launch(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, size_t smem,
                   cudaStream_t stream, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "wrong number of kernel arguments");
  using params = std::tuple<std::decay_t<P>...>;
  struct packet {
    void (*kernel)(P...);
    params values;
  };
  packet pk{kernel, params(std::forward<A>(args)...)};
  entry_fn entry = [](void* p) {
    const packet* pkt = static_cast<const packet*>(p);
    params copy = pkt->values;
    std::apply(pkt->kernel, copy);
  };
  return launch_grid(name, reinterpret_cast<const void*>(kernel), grid, block, smem, stream, entry,
                     &pk);
}

inline void* dynamic_smem() { return t_block->dyn_smem; }

template <class T>
inline uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffled type");
  uint64_t u = 0;
  memcpy(&u, static_cast<const void*>(&v), sizeof v);
  return u;
}
template <class T>
inline T from_bits(uint64_t u) {
  T v;
  memcpy(static_cast<void*>(&v), &u, sizeof v);
  return v;
}

}  // namespace mmrt_emu

// cuda_runtime.h declares this template overload for nvcc only.
template <class... P>
inline cudaError_t cudaFuncSetAttribute(void (*kernel)(P...), cudaFuncAttribute attr, int value) {
  return cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), attr, value);
}

// ---- built-in variables ----------------------------------------------------------------------

#define threadIdx (static_cast<const uint3&>(::mmrt_emu::t_thread->tid))
#define blockIdx (static_cast<const uint3&>(::mmrt_emu::t_block->idx))
#define blockDim (static_cast<const dim3&>(::mmrt_emu::t_block->dim))
#define gridDim (static_cast<const dim3&>(::mmrt_emu::t_block->grid))

// ---- synchronisation -------------------------------------------------------------------------
// The source location is how divergence reports name the barrier each thread waits at.

inline void __syncthreads(mmrt_emu::source_loc loc = mmrt_emu::source_loc::current()) {
  mmrt_emu::block_barrier(mmrt_emu::bar_op::none, 0, loc);
}
inline int __syncthreads_count(int pred, mmrt_emu::source_loc loc = mmrt_emu::source_loc::current()) {
  return mmrt_emu::block_barrier(mmrt_emu::bar_op::count, pred, loc);
}
inline int __syncthreads_and(int pred, mmrt_emu::source_loc loc = mmrt_emu::source_loc::current()) {
  return mmrt_emu::block_barrier(mmrt_emu::bar_op::all, pred, loc);
}
inline int __syncthreads_or(int pred, mmrt_emu::source_loc loc = mmrt_emu::source_loc::current()) {
  return mmrt_emu::block_barrier(mmrt_emu::bar_op::any, pred, loc);
}
inline void __syncwarp(unsigned mask = 0xffffffffu,
                       mmrt_emu::source_loc loc = mmrt_emu::source_loc::current()) {
  mmrt_emu::warp_sync(mask, loc);
}
// Execution is sequentially consistent, so fences only need to stop compiler reordering.
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline unsigned __activemask() { return mmrt_emu::warp_active_mask(); }

// ---- warp shuffles and votes -----------------------------------------------------------------
// The `c` operand is built exactly as CUDA's sm_30_intrinsics.hpp builds it for shfl.sync.

template <class T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize,
                     mmrt_emu::source_loc loc = mmrt_emu::source_loc::current()) {
  return mmrt_emu::from_bits<T>(mmrt_emu::warp_shfl(mask, mmrt_emu::to_bits(var), src_lane,
                                                    ((warpSize - width) << 8) | 0x1f,
                                                    mmrt_emu::shfl_mode::idx, loc));
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                        mmrt_emu::source_loc loc = mmrt_emu::source_loc::current()) {
  return mmrt_emu::from_bits<T>(mmrt_emu::warp_shfl(mask, mmrt_emu::to_bits(var), (int)delta,
                                                    (warpSize - width) << 8,
                                                    mmrt_emu::shfl_mode::up, loc));
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                          mmrt_emu::source_loc loc = mmrt_emu::source_loc::current()) {
  return mmrt_emu::from_bits<T>(mmrt_emu::warp_shfl(mask, mmrt_emu::to_bits(var), (int)delta,
                                                    ((warpSize - width) << 8) | 0x1f,
                                                    mmrt_emu::shfl_mode::down, loc));
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize,
                         mmrt_emu::source_loc loc = mmrt_emu::source_loc::current()) {
  return mmrt_emu::from_bits<T>(mmrt_emu::warp_shfl(mask, mmrt_emu::to_bits(var), lane_mask,
                                                    ((warpSize - width) << 8) | 0x1f,
                                                    mmrt_emu::shfl_mode::bfly, loc));
}
inline unsigned __ballot_sync(unsigned mask, int pred,
                              mmrt_emu::source_loc loc = mmrt_emu::source_loc::current()) {
  return mmrt_emu::warp_ballot(mask, pred, loc);
}
// Lanes in `mask` that do not exist (a partial last warp) count as absent, not as false.
inline int __any_sync(unsigned mask, int pred,
                      mmrt_emu::source_loc loc = mmrt_emu::source_loc::current()) {
  return mmrt_emu::warp_ballot(mask, pred, loc) != 0;
}
inline int __all_sync(unsigned mask, int pred,
                      mmrt_emu::source_loc loc = mmrt_emu::source_loc::current()) {
  return mmrt_emu::warp_ballot(mask, pred, loc) == (mask & mmrt_emu::warp_active_mask());
}

// ---- atomics ---------------------------------------------------------------------------------
// CUDA's overload set, not templates, so a call CUDA lacks (atomicMax on float) fails here too.
// Relaxed order, as CUDA's atomics are (TSan sees them as atomics, not as races).

namespace mmrt_emu {
template <class T, class F>
inline T atomic_update(T* addr, F f) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  static_assert(sizeof(T) == sizeof(U), "atomic operand size");
  U* p = reinterpret_cast<U*>(addr);
  U old = __atomic_load_n(p, __ATOMIC_RELAXED);
  for (;;) {
    T o, n;
    memcpy(&o, &old, sizeof o);
    n = f(o);
    U nu;
    memcpy(&nu, &n, sizeof nu);
    if (__atomic_compare_exchange_n(p, &old, nu, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return o;
  }
}
}  // namespace mmrt_emu

#define MMRT_EMU_ATOMIC_INT(T)                                                                     \
  inline T atomicAdd(T* a, T v) { return __atomic_fetch_add(a, v, __ATOMIC_RELAXED); }            \
  inline T atomicSub(T* a, T v) { return __atomic_fetch_sub(a, v, __ATOMIC_RELAXED); }            \
  inline T atomicAnd(T* a, T v) { return __atomic_fetch_and(a, v, __ATOMIC_RELAXED); }            \
  inline T atomicOr(T* a, T v) { return __atomic_fetch_or(a, v, __ATOMIC_RELAXED); }              \
  inline T atomicXor(T* a, T v) { return __atomic_fetch_xor(a, v, __ATOMIC_RELAXED); }            \
  inline T atomicExch(T* a, T v) { return __atomic_exchange_n(a, v, __ATOMIC_RELAXED); }          \
  inline T atomicMax(T* a, T v) {                                                                  \
    return mmrt_emu::atomic_update(a, [v](T o) { return o > v ? o : v; });                         \
  }                                                                                                \
  inline T atomicMin(T* a, T v) {                                                                  \
    return mmrt_emu::atomic_update(a, [v](T o) { return o < v ? o : v; });                         \
  }                                                                                                \
  inline T atomicCAS(T* a, T cmp, T v) {                                                           \
    __atomic_compare_exchange_n(a, &cmp, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);            \
    return cmp;                                                                                    \
  }
MMRT_EMU_ATOMIC_INT(int)
MMRT_EMU_ATOMIC_INT(unsigned)
MMRT_EMU_ATOMIC_INT(unsigned long long)
#undef MMRT_EMU_ATOMIC_INT
inline float atomicAdd(float* a, float v) {
  return mmrt_emu::atomic_update(a, [v](float o) { return o + v; });
}
inline double atomicAdd(double* a, double v) {
  return mmrt_emu::atomic_update(a, [v](double o) { return o + v; });
}
inline float atomicExch(float* a, float v) {
  return mmrt_emu::atomic_update(a, [v](float) { return v; });
}

// ---- device-only intrinsics ------------------------------------------------------------------
// Exact on the CPU where the GPU approximates (__expf, rsqrtf, __fdividef): tests need tolerances.

inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __saturatef(float x) { return fminf(fmaxf(x, 0.0f), 1.0f); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline int __float_as_int(float x) { return mmrt_emu::from_bits<int>(mmrt_emu::to_bits(x)); }
inline unsigned __float_as_uint(float x) { return mmrt_emu::from_bits<unsigned>(mmrt_emu::to_bits(x)); }
inline float __int_as_float(int x) { return mmrt_emu::from_bits<float>(mmrt_emu::to_bits(x)); }
inline float __uint_as_float(unsigned x) { return mmrt_emu::from_bits<float>(mmrt_emu::to_bits(x)); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
  return __builtin_bswap32(x);
}
template <class T>
inline T __ldg(const T* p) {
  return *p;
}
// CUDA's min/max accept mixed argument types in device code.
template <class A, class B>
inline std::common_type_t<A, B> min(A a, B b) {
  return b < a ? b : a;
}
template <class A, class B>
inline std::common_type_t<A, B> max(A a, B b) {
  return a < b ? b : a;
}
