// sample.cuh — token sampling (MMRT_OP_SAMPLE, defined in core/backend.h): dst(m) i32 from
// logits(m, V) f32 and uniform numbers u(m) f32, one block per row.
//
// Candidates are ordered by a 64-bit key: the logit's bits mapped to an unsigned order (-0 as +0)
// above the index part V − 1 − j, so that a larger key is an earlier candidate and keys are
// distinct. Two paths, chosen per launch:
//   - k = min(top_k, V) ≤ SAMPLE_SELECT_MAX: k block-wide max passes pick the candidates in order
//     (each the largest key below the previous one), then thread 0 runs the host sampler's steps
//     on them, in the host's order: the same arithmetic as fusion/sampling.c.
//   - otherwise no sort at all: each cut is a threshold on the key found by bisection, one bit per
//     pass, with block-wide reductions: the top-k cut (the largest key with ≥ k keys at or above
//     it), the top-p cut (the largest key whose prefix mass reaches top_p), min-p (a plain
//     predicate: probabilities fall with the key), and the draw (the largest key whose prefix
//     mass exceeds r). Sums run in a fixed tree order: deterministic, and different from the
//     host's running sum only by rounding.
#pragma once

#include "common.cuh"

// Largest top_k served by selection passes; above it, thresholds.
constexpr int SAMPLE_SELECT_MAX = 64;
static_assert(SAMPLE_SELECT_MAX >= 1 && SAMPLE_SELECT_MAX <= 1024, "selection fits shared memory");

struct sample_params {
  const float* logits;  // (rows, V), row stride logits_stride elements
  const float* u;       // (rows)
  int32_t* dst;         // (rows)
  float* prob;          // (rows, V) scratch for the threshold path (unused by the selection path)
  int64_t n_vocab, logits_stride;
  int idx_bits;  // bits of the key's index part: 2^idx_bits ≥ V
  float temperature, top_p, min_p;
  int32_t top_k;
};

__device__ __forceinline__ uint64_t sample_key(float l, int64_t j, const sample_params& p) {
  const uint32_t b = __float_as_uint(l == 0.0f ? 0.0f : l);
  const uint32_t ord = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  return ((uint64_t)ord << p.idx_bits) | (uint64_t)(p.n_vocab - 1 - j);
}

__device__ __forceinline__ int64_t sample_index(uint64_t key, const sample_params& p) {
  return p.n_vocab - 1 - (int64_t)(key & ((1ull << p.idx_bits) - 1));
}

// Block-wide max of keys / sum of doubles: as block_reduce in common.cuh (fixed tree, every
// thread gets the result, `part` reusable on return).
__device__ __forceinline__ uint64_t sample_block_max(uint64_t v, uint64_t* part) {
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
  for (int off = 16; off > 0; off /= 2) {
    const uint64_t o = __shfl_xor_sync(0xffffffffu, v, off);
    v = o > v ? o : v;
  }
  if (lane == 0) part[warp] = v;
  __syncthreads();
  v = lane < n_warps ? part[lane] : 0;
  for (int off = 16; off > 0; off /= 2) {
    const uint64_t o = __shfl_xor_sync(0xffffffffu, v, off);
    v = o > v ? o : v;
  }
  __syncthreads();
  return v;
}

__device__ __forceinline__ double sample_block_sum(double v, double* part) {
  const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, n_warps = blockDim.x / 32;
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  if (lane == 0) part[warp] = v;
  __syncthreads();
  v = lane < n_warps ? part[lane] : 0.0;
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  __syncthreads();
  return v;
}

// The host sampler's steps 3-6 on k ≤ SAMPLE_SELECT_MAX candidates ids[0..k) in order (one thread).
__device__ inline int32_t sample_tail(const sample_params& p, const float* l, const int32_t* ids,
                                      float* val, int k, float u) {
  const double inv_t = 1.0 / (double)p.temperature;
  const float mx = l[ids[0]];
  double sum = 0.0;
  for (int i = 0; i < k; i++) sum += val[i] = (float)exp(((double)l[ids[i]] - mx) * inv_t);
  for (int i = 0; i < k; i++) val[i] = (float)(val[i] / sum);
  if (p.top_p < 1.0f) {
    double cum = 0.0;
    int keep = k;
    for (int i = 0; i < k; i++) {
      cum += val[i];
      if (cum >= p.top_p) {
        keep = i + 1;
        break;
      }
    }
    k = keep;
  }
  if (p.min_p > 0.0f) {
    const float floor = p.min_p * val[0];
    int keep = 1;
    while (keep < k && val[keep] >= floor) keep++;
    k = keep;
  }
  double mass = 0.0;
  for (int i = 0; i < k; i++) mass += val[i];
  const double r = (double)u * mass;
  double acc = 0.0;
  for (int i = 0; i < k; i++) {
    acc += val[i];
    if (r < acc) return ids[i];
  }
  return ids[k - 1];
}

// Number of candidates with key ≥ tau (as a double: exact below 2^53).
__device__ __forceinline__ double sample_count_from(const sample_params& p, const float* l,
                                                    uint64_t tau, double* part) {
  double n = 0.0;
  for (int64_t j = threadIdx.x; j < p.n_vocab; j += blockDim.x) n += sample_key(l[j], j, p) >= tau;
  return sample_block_sum(n, part);
}

// Probability mass of the candidates with key ≥ max(tau, lo) and, when floor ≥ 0, prob ≥ floor.
__device__ __forceinline__ double sample_mass_from(const sample_params& p, const float* l,
                                                   const float* prob, uint64_t tau, uint64_t lo,
                                                   float floor, double* part) {
  double s = 0.0;
  const uint64_t from = tau > lo ? tau : lo;
  for (int64_t j = threadIdx.x; j < p.n_vocab; j += blockDim.x)
    if (sample_key(l[j], j, p) >= from && prob[j] >= floor) s += prob[j];
  return sample_block_sum(s, part);
}

__global__ void __launch_bounds__(ROW_THREADS_MAX) sample_kernel(sample_params p) {
  __shared__ uint64_t part_k[32];
  __shared__ double part_d[32];
  __shared__ int32_t sel_id[SAMPLE_SELECT_MAX];
  __shared__ float sel_val[SAMPLE_SELECT_MAX];
  const float* l = p.logits + blockIdx.x * p.logits_stride;
  const int64_t V = p.n_vocab;

  uint64_t best = 0;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
    const uint64_t key = sample_key(l[j], j, p);
    best = key > best ? key : best;
  }
  best = sample_block_max(best, part_k);
  if (p.temperature <= 0.0f) {  // greedy: the first maximum
    if (threadIdx.x == 0) p.dst[blockIdx.x] = (int32_t)sample_index(best, p);
    return;
  }
  const int64_t k = p.top_k > 0 && p.top_k < V ? p.top_k : V;

  if (k <= SAMPLE_SELECT_MAX) {
    // Selection: thread 0 alone writes and later reads sel_id, so no barrier guards it.
    if (threadIdx.x == 0) sel_id[0] = (int32_t)sample_index(best, p);
    uint64_t last = best;
    for (int s = 1; s < k; s++) {
      uint64_t next = 0;
      for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
        const uint64_t key = sample_key(l[j], j, p);
        if (key < last && key > next) next = key;
      }
      last = sample_block_max(next, part_k);
      if (threadIdx.x == 0) sel_id[s] = (int32_t)sample_index(last, p);
    }
    if (threadIdx.x == 0)
      p.dst[blockIdx.x] = sample_tail(p, l, sel_id, sel_val, (int)k, p.u[blockIdx.x]);
    return;
  }

  // Thresholds. Bisection builds the answer from the top bit down: tau | bit is kept when the
  // predicate still holds there, which yields the largest key where it holds (the functions are
  // non-increasing in tau, in floating point too: fewer non-negative terms in the same tree).
  const int n_bits = 32 + p.idx_bits;
  uint64_t lo = 0;  // top-k cut: the smallest key kept
  if (k < V)
    for (int b = n_bits - 1; b >= 0; b--) {
      const uint64_t t = lo | (1ull << b);
      if (sample_count_from(p, l, t, part_d) >= (double)k) lo = t;
    }

  // Each thread only ever touches its own elements of prob: no barrier needed around it.
  float* prob = p.prob + blockIdx.x * V;
  const double inv_t = 1.0 / (double)p.temperature;
  const float mx = l[sample_index(best, p)];
  double z = 0.0;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
    float e = 0.0f;
    if (sample_key(l[j], j, p) >= lo) z += e = (float)exp(((double)l[j] - mx) * inv_t);
    prob[j] = e;
  }
  z = sample_block_sum(z, part_d);
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) prob[j] = (float)(prob[j] / z);

  if (p.top_p < 1.0f && sample_mass_from(p, l, prob, 0, lo, -1.0f, part_d) >= p.top_p) {
    uint64_t tau = 0;
    for (int b = n_bits - 1; b >= 0; b--) {
      const uint64_t t = tau | (1ull << b);
      if (sample_mass_from(p, l, prob, t, lo, -1.0f, part_d) >= p.top_p) tau = t;
    }
    lo = tau < best ? tau : best;  // top_p = 0 holds everywhere: keep the best alone
  }
  // min-p: the best candidate's e is exp(0) = 1, so its probability is (float)(1 / z)
  const float floor = p.min_p > 0.0f ? p.min_p * (float)(1.0 / z) : -1.0f;

  const double r = (double)p.u[blockIdx.x] * sample_mass_from(p, l, prob, 0, lo, floor, part_d);
  uint64_t tau = 0;  // r < the whole kept mass, so the answer exists and is a kept key
  for (int b = n_bits - 1; b >= 0; b--) {
    const uint64_t t = tau | (1ull << b);
    if (sample_mass_from(p, l, prob, t, lo, floor, part_d) > r) tau = t;
  }
  if (threadIdx.x == 0) p.dst[blockIdx.x] = (int32_t)sample_index(tau, p);
}
