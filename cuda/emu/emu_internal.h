// emu_internal.h — the emulator's own state: fibers, blocks, warps, workers. Not for kernel code.
#pragma once

#include "cuda_emu.h"

#include <memory>
#include <random>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define MMRT_EMU_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define MMRT_EMU_TSAN 1
#endif

#if !defined(MMRT_EMU_SWITCH_ASM) && !defined(MMRT_EMU_SWITCH_UCONTEXT)
#if defined(__x86_64__)
#define MMRT_EMU_SWITCH_ASM 1
#else
#define MMRT_EMU_SWITCH_UCONTEXT 1
#endif
#endif
#if defined(MMRT_EMU_SWITCH_UCONTEXT)
#include <ucontext.h>
#endif

namespace mmrt_emu {

// ---- configuration ---------------------------------------------------------------------------

struct config {
  int n_workers;
  mmrt_emu_sched sched;
  uint64_t seed;
  size_t stack_bytes;
  size_t max_dyn_smem;  // per block, sm_90's opt-in limit (227 KiB)
};
config& cfg();

// Records `err` with `msg` as this host thread's last error (cudaGetLastError, the message API).
cudaError_t record_error(cudaError_t err, const std::string& msg);

// ---- fibers ----------------------------------------------------------------------------------

enum class fiber_state : uint8_t { runnable, at_barrier, at_warp, done, failed };

struct fiber {
  thread_ctx ctx{};
  fiber_state state = fiber_state::runnable;
  // where the fiber waits (for divergence reports)
  const char* wait_what = nullptr;
  const char* wait_file = nullptr;
  unsigned wait_line = 0;

  char* map = nullptr;  // mmap'ed stack, the lowest page is a PROT_NONE guard
  size_t map_bytes = 0;
  bool started = false;
#if defined(MMRT_EMU_SWITCH_ASM)
  void* sp = nullptr;
#else
  ucontext_t uc{};
#endif
  void* asan_fake_stack = nullptr;
  void* tsan_fiber = nullptr;
};

// Allocates the stack (once) and prepares the fiber to enter fiber_main on its next resume.
// Returns false if the stack cannot be mapped.
bool fiber_init(fiber& f, size_t stack_bytes);
void fiber_release(fiber& f);

// ---- warps -----------------------------------------------------------------------------------

enum class coll_kind : uint8_t { sync, shfl, ballot, mma_bf16, mma_f16, ldmatrix };

// One lane's side of a warp collective. `in` is written by the lane before it arrives; `out` is
// written by the lane that completes the collective, before any member runs again, so no buffer
// is ever read after its owner moved on.
struct lane_slot {
  coll_kind kind;
  uint8_t variant;  // shfl_mode, or ldmatrix (num | trans << 3)
  unsigned mask;
  const char* file;
  unsigned line;
  uint32_t in[10];  // shfl: value (2), lane arg, c; mma: a (4), b (2), c (4)
  const void* row;  // ldmatrix: this lane's row address
  uint32_t out[4];
  const void* out_rows[8];  // ldmatrix: the row addresses this lane reads after the rendezvous
};

struct warp_state {
  unsigned valid = 0;    // lanes that exist (a partial last warp has fewer)
  unsigned arrived = 0;  // lanes waiting in an incomplete collective
  char tsan_sync = 0;    // address used as TSan's sync object for __syncwarp
  lane_slot lanes[32];
};

// ---- blocks and workers ----------------------------------------------------------------------

struct block_state {
  block_ctx ctx{};
  unsigned n_threads = 0;
  unsigned n_done = 0;
  fiber* const* fibers = nullptr;  // indexed by linear thread id
  entry_fn entry = nullptr;
  void* args = nullptr;

  unsigned bar_arrived = 0;
  const char* bar_file = nullptr;
  unsigned bar_line = 0, bar_column = 0;
  int bar_acc = 0;  // predicate reduction of __syncthreads_{count,and,or}
  bar_op bar_kind = bar_op::none;
  int bar_result = 0;
  unsigned bar_gen = 0;

  std::vector<warp_state> warps;
  std::string error;  // first failure inside the block; empty while healthy
  char tsan_bar[2] = {0, 0};  // TSan sync objects, by barrier generation parity
  char tsan_done = 0;

#if defined(MMRT_EMU_SWITCH_ASM)
  void* sched_sp = nullptr;
#else
  ucontext_t sched_uc{};
#endif
  const void* sched_stack_bottom = nullptr;  // ASan: the worker's own stack
  size_t sched_stack_size = 0;
  void* tsan_sched = nullptr;
};

struct worker {
  block_state blk;
  std::vector<std::unique_ptr<fiber>> fibers;  // stable addresses: ucontext_t is self-referential
  std::vector<fiber*> fiber_ptrs;               // the same, as block_state::fibers sees them
  std::vector<unsigned> order;
  unsigned char* smem = nullptr;  // dynamic shared memory arena
  size_t smem_cap = 0;
  std::mt19937_64 rng;
  ~worker();
};

inline constinit thread_local fiber* t_fiber = nullptr;
inline constinit thread_local block_state* t_blk = nullptr;

// Context switches (emu_fiber.cpp).
void resume(block_state& b, fiber& f);
void yield_to_scheduler();

// Marks the block failed with the formatted message (first failure wins) and parks the calling
// fiber for good: the scheduler abandons the block and re-creates its fibers. The caller's frame
// is never unwound, so callers must not hold heap-owning temporaries (hence printf-style).
[[noreturn]] void fail_block(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// The kernel body loop every fiber runs.
[[noreturn]] void fiber_main();

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Largest dynamic shared memory a launch of `kernel` may ask for (emu_runtime.cpp): 48 KiB unless
// cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, n) raised it.
size_t kernel_max_dyn_smem(const void* kernel);

// TSan: emulator bookkeeping is shared between fibers of one OS thread without happens-before
// edges of its own; it is excluded from race detection (the kernel's memory is not).
#if defined(MMRT_EMU_TSAN)
extern "C" void __tsan_ignore_thread_begin();  // exported by libtsan, missing from its header
extern "C" void __tsan_ignore_thread_end();
struct tsan_ignore {
  tsan_ignore() { __tsan_ignore_thread_begin(); }
  ~tsan_ignore() { __tsan_ignore_thread_end(); }
};
#else
struct tsan_ignore {
  tsan_ignore() {}
  ~tsan_ignore() {}
};
#endif

}  // namespace mmrt_emu
