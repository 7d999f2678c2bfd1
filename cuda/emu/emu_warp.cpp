// emu_warp.cpp — warp collectives: __syncwarp, shuffles, ballot, and the tensor-core fragments of
// mma.sync.m16n8k16 and ldmatrix.
//
// Lanes run one after another, so a collective is a rendezvous: each lane deposits its operands
// in its slot and waits; the lane that completes the member mask checks that every member called
// the same collective with the same mask, computes every member's result into its slot, and
// releases the others. Lanes outside the mask may be anywhere else, as on Volta and later.
//
// TSan: only __syncwarp orders memory. Shuffles, mma and ldmatrix exchange register values and
// add no happens-before edge, so a missing __syncwarp before ldmatrix is still reported.
#include "emu_internal.h"

#if defined(MMRT_EMU_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

namespace mmrt_emu {

static const char* coll_name(coll_kind kind, uint8_t variant) {
  switch (kind) {
    case coll_kind::sync: return "__syncwarp";
    case coll_kind::ballot: return "__ballot_sync/__any_sync/__all_sync";
    case coll_kind::mma_bf16: return "mma.m16n8k16.bf16";
    case coll_kind::mma_f16: return "mma.m16n8k16.f16";
    case coll_kind::ldmatrix: return "ldmatrix";
    case coll_kind::shfl:
      switch ((shfl_mode)variant) {
        case shfl_mode::idx: return "__shfl_sync";
        case shfl_mode::up: return "__shfl_up_sync";
        case shfl_mode::down: return "__shfl_down_sync";
        case shfl_mode::bfly: return "__shfl_xor_sync";
      }
  }
  return "?";
}

// ---- results, computed by the completing lane for every member -------------------------------

// PTX shfl.sync: c = {segmask[12:8], clamp[4:0]}; an out-of-range source reads the lane's own value.
static void complete_shfl(warp_state& w, unsigned m, unsigned warp) {
  for (unsigned l = 0; l < 32; ++l) {
    if (!(m >> l & 1u)) continue;
    lane_slot& s = w.lanes[l];
    const int lane = (int)l, b = (int)s.in[2] & 31, c = (int)s.in[3];
    const int clamp = c & 31, segmask = (c >> 8) & 31;
    const int max_lane = (lane & segmask) | (clamp & ~segmask);
    const int min_lane = lane & segmask;
    int j = lane;
    bool ok = true;
    switch ((shfl_mode)s.variant) {
      case shfl_mode::up: j = lane - b; ok = j >= max_lane; break;
      case shfl_mode::down: j = lane + b; ok = j <= max_lane; break;
      case shfl_mode::bfly: j = lane ^ b; ok = j <= max_lane; break;
      case shfl_mode::idx: j = min_lane | (b & ~segmask); ok = j <= max_lane; break;
    }
    if (!ok) j = lane;
    if (!(m >> j & 1u))
      fail_block("warp %u lane %u: %s (%s:%u) reads lane %d, which is not in the member "
                        "mask 0x%08x (undefined on the GPU)",
                        warp, l, coll_name(s.kind, s.variant), s.file, s.line, j, m);
    s.out[0] = w.lanes[j].in[0];
    s.out[1] = w.lanes[j].in[1];
  }
}

static void complete_ballot(warp_state& w, unsigned m) {
  unsigned r = 0;
  for (unsigned l = 0; l < 32; ++l)
    if ((m >> l & 1u) && w.lanes[l].in[0]) r |= 1u << l;
  for (unsigned l = 0; l < 32; ++l)
    if (m >> l & 1u) w.lanes[l].out[0] = r;
}

static float half_bits_to_float(uint16_t bits, bool bf16) {
  if (bf16) return __uint_as_float((uint32_t)bits << 16);
  return __half2float(__ushort_as_half(bits));
}

// mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}: operands per PTX ISA "Matrix Fragments for
// mma.m16n8k16 with floating point type", read through the inverse maps (g = lane/4, t = lane%4):
//   A(r,k) (16x16): lane (r%8)*4 + (k%8)/2, element 4*(k>=8) + 2*(r>=8) + (k&1) of a0..a7
//   B(k,n) (16x8):  lane 4n + (k%8)/2,      element 2*(k>=8) + (k&1)          of b0..b3
//   C/D(r,n):       lane's element i holds row g + 8*(i>=2), column 2t + (i&1)
// Element e of a register array is half e&1 (low first) of register e/2. The products of 16-bit
// floats are exact in fp32; accumulation is fp32 in k order (hardware order differs, so numeric
// tests need tolerances; small integers compare exactly).
static void complete_mma(warp_state& w, bool bf16) {
  float A[16][16], B[16][8];
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < 16; ++k) {
      const int lane = (r % 8) * 4 + (k % 8) / 2;
      const int e = 4 * (k >= 8) + 2 * (r >= 8) + (k & 1);
      A[r][k] = half_bits_to_float((uint16_t)(w.lanes[lane].in[e / 2] >> (16 * (e & 1))), bf16);
    }
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n) {
      const int lane = 4 * n + (k % 8) / 2;
      const int e = 2 * (k >= 8) + (k & 1);
      B[k][n] = half_bits_to_float((uint16_t)(w.lanes[lane].in[4 + e / 2] >> (16 * (e & 1))), bf16);
    }
  for (int l = 0; l < 32; ++l) {
    lane_slot& s = w.lanes[l];
    const int g = l / 4, t = l % 4;
    for (int i = 0; i < 4; ++i) {
      const int row = g + 8 * (i >= 2), col = 2 * t + (i & 1);
      float acc = __uint_as_float(s.in[6 + i]);
      for (int k = 0; k < 16; ++k) acc += A[row][k] * B[k][col];
      s.out[i] = __float_as_uint(acc);
    }
  }
}

// ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{.trans}.shared.b16: lanes 8j..8j+7 give the rows of
// matrix j (16 bytes each, 16-byte aligned). Lane l receives, in register j, elements
// (l/4, 2(l%4)) and (l/4, 2(l%4)+1) of matrix j, or with .trans elements (2(l%4), l/4) and
// (2(l%4)+1, l/4). Here each lane only gets its row addresses; it reads memory itself after the
// rendezvous, so the reads are its own (sanitizers attribute them to the right thread).
static void complete_ldmatrix(warp_state& w, unsigned warp, int num, bool trans) {
  for (int q = 0; q < 8 * num; ++q)
    if ((uintptr_t)w.lanes[q].row % 16 != 0)
      fail_block("warp %u lane %d: ldmatrix (%s:%u) row address %p is not 16-byte aligned",
                        warp, q, w.lanes[q].file, w.lanes[q].line, w.lanes[q].row);
  for (int l = 0; l < 32; ++l) {
    lane_slot& s = w.lanes[l];
    for (int j = 0; j < num; ++j) {
      if (!trans) {
        s.out_rows[2 * j] = w.lanes[8 * j + l / 4].row;
        s.out_rows[2 * j + 1] = w.lanes[8 * j + l / 4].row;
      } else {
        s.out_rows[2 * j] = w.lanes[8 * j + 2 * (l % 4)].row;
        s.out_rows[2 * j + 1] = w.lanes[8 * j + 2 * (l % 4) + 1].row;
      }
    }
  }
}

// ---- the rendezvous --------------------------------------------------------------------------

// Deposits nothing itself: the caller filled its slot's `in`/`row` first. Returns the caller's
// slot once the collective completed.
static lane_slot& arrive(coll_kind kind, uint8_t variant, unsigned mask, const source_loc& loc) {
  block_state& b = *t_blk;
  fiber& f = *t_fiber;
  const unsigned warp = f.ctx.warp, lane = f.ctx.lane, bit = 1u << lane;
  warp_state& w = b.warps[warp];
  lane_slot& s = w.lanes[lane];
  const char* name = coll_name(kind, variant);
  if (!(mask & bit))
    fail_block("warp %u lane %u: %s (%s:%u) with member mask 0x%08x, which excludes the "
                      "calling lane",
                      warp, lane, name, loc.file_name(), (unsigned)loc.line(), mask);
  const unsigned m = mask & w.valid;
  const bool whole_warp = kind == coll_kind::mma_bf16 || kind == coll_kind::mma_f16 ||
                          kind == coll_kind::ldmatrix;
  if (whole_warp && m != 0xffffffffu)
    fail_block("warp %u: %s (%s:%u) needs all 32 lanes of a full warp (lanes present: "
                      "0x%08x)",
                      warp, name, loc.file_name(), (unsigned)loc.line(), w.valid);
  s.kind = kind;
  s.variant = variant;
  s.mask = m;
  s.file = loc.file_name();
  s.line = loc.line();
  w.arrived |= bit;
  if ((w.arrived & m) != m) {
    f.state = fiber_state::at_warp;
    f.wait_what = name;
    f.wait_file = s.file;
    f.wait_line = s.line;
    yield_to_scheduler();
    return s;
  }
  for (unsigned l = 0; l < 32; ++l) {
    if (!(m >> l & 1u)) continue;
    const lane_slot& o = w.lanes[l];
    if (o.kind != kind || o.variant != variant || o.mask != m)
      fail_block("warp %u: lanes meet at different warp collectives: lane %u at %s (%s:%u) "
                        "mask 0x%08x, lane %u at %s (%s:%u) mask 0x%08x",
                        warp, lane, name, s.file, s.line, m, l, coll_name(o.kind, o.variant),
                        o.file, o.line, o.mask);
  }
  switch (kind) {
    case coll_kind::sync: break;
    case coll_kind::shfl: complete_shfl(w, m, warp); break;
    case coll_kind::ballot: complete_ballot(w, m); break;
    case coll_kind::mma_bf16: complete_mma(w, true); break;
    case coll_kind::mma_f16: complete_mma(w, false); break;
    case coll_kind::ldmatrix: complete_ldmatrix(w, warp, variant & 7, variant >> 3); break;
  }
  w.arrived &= ~m;
  for (unsigned l = 0; l < 32; ++l)
    if ((m >> l & 1u) && l != lane) b.fibers[warp * 32 + l]->state = fiber_state::runnable;
  return s;
}

void warp_sync(unsigned mask, const source_loc& loc) {
  tsan_ignore ig;
#if defined(MMRT_EMU_TSAN)
  warp_state& w = t_blk->warps[t_fiber->ctx.warp];
  __tsan_release(&w.tsan_sync);
#endif
  arrive(coll_kind::sync, 0, mask, loc);
#if defined(MMRT_EMU_TSAN)
  __tsan_acquire(&w.tsan_sync);
#endif
}

uint64_t warp_shfl(unsigned mask, uint64_t bits, int lane_arg, int c, shfl_mode mode,
                   const source_loc& loc) {
  tsan_ignore ig;
  lane_slot& s = t_blk->warps[t_fiber->ctx.warp].lanes[t_fiber->ctx.lane];
  s.in[0] = (uint32_t)bits;
  s.in[1] = (uint32_t)(bits >> 32);
  s.in[2] = (uint32_t)lane_arg;
  s.in[3] = (uint32_t)c;
  arrive(coll_kind::shfl, (uint8_t)mode, mask, loc);
  return (uint64_t)s.out[0] | (uint64_t)s.out[1] << 32;
}

unsigned warp_ballot(unsigned mask, int pred, const source_loc& loc) {
  tsan_ignore ig;
  lane_slot& s = t_blk->warps[t_fiber->ctx.warp].lanes[t_fiber->ctx.lane];
  s.in[0] = pred != 0;
  arrive(coll_kind::ballot, 0, mask, loc);
  return s.out[0];
}

// Lanes run one at a time, so which lanes "are converged" is not observable here; every lane that
// exists in the warp counts as active, exited or not.
unsigned warp_active_mask() {
  tsan_ignore ig;
  return t_blk->warps[t_fiber->ctx.warp].valid;
}

void warp_mma_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4],
                       mma_type type, const source_loc& loc) {
  float out[4];
  {
    tsan_ignore ig;
    lane_slot& s = t_blk->warps[t_fiber->ctx.warp].lanes[t_fiber->ctx.lane];
    for (int i = 0; i < 4; ++i) s.in[i] = a[i];
    s.in[4] = b[0];
    s.in[5] = b[1];
    for (int i = 0; i < 4; ++i) s.in[6 + i] = __float_as_uint(c[i]);
    arrive(type == mma_type::bf16 ? coll_kind::mma_bf16 : coll_kind::mma_f16, 0, 0xffffffffu, loc);
    for (int i = 0; i < 4; ++i) out[i] = __uint_as_float(s.out[i]);
  }
  for (int i = 0; i < 4; ++i) d[i] = out[i];  // d may alias c
}

void warp_ldmatrix(uint32_t* r, int num, bool trans, const void* row, const source_loc& loc) {
  const void* rows[8];
  unsigned lane;
  {
    tsan_ignore ig;
    lane = t_fiber->ctx.lane;
    lane_slot& s = t_blk->warps[t_fiber->ctx.warp].lanes[lane];
    s.row = row;
    arrive(coll_kind::ldmatrix, (uint8_t)(num | (trans ? 8 : 0)), 0xffffffffu, loc);
    for (int q = 0; q < 2 * num; ++q) rows[q] = s.out_rows[q];
  }
  for (int j = 0; j < num; ++j) {
    const uint16_t* r0 = static_cast<const uint16_t*>(rows[2 * j]);
    const uint16_t* r1 = static_cast<const uint16_t*>(rows[2 * j + 1]);
    uint16_t lo, hi;
    if (!trans) {
      lo = r0[2 * (lane % 4)];
      hi = r1[2 * (lane % 4) + 1];
    } else {
      lo = r0[lane / 4];
      hi = r1[lane / 4];
    }
    r[j] = (uint32_t)lo | (uint32_t)hi << 16;
  }
}

}  // namespace mmrt_emu
