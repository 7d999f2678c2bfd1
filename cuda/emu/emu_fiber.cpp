// emu_fiber.cpp — fibers: guarded stacks and the context switch between a block's scheduler (the
// worker's own stack) and the fibers of its CUDA threads, with ASan and TSan told about every
// switch. x86-64 uses emu_switch_x86_64.S; other targets (or -DMMRT_EMU_SWITCH=UCONTEXT) use
// swapcontext, which is correct everywhere but 10-15x slower (a sigprocmask per switch).
#include "emu_internal.h"

#include <sys/mman.h>
#include <unistd.h>

#if defined(MMRT_EMU_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(MMRT_EMU_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

#if defined(MMRT_EMU_SWITCH_ASM)
// Saves the callee-saved registers, MXCSR and the x87 control word on the current stack, stores
// the stack pointer to *save_sp, then restores the same state from load_sp and returns there.
extern "C" void mmrt_emu_switch_x86_64(void** save_sp, void* load_sp);
#endif

namespace mmrt_emu {

static size_t page_size() {
  static const size_t p = (size_t)sysconf(_SC_PAGESIZE);
  return p;
}

bool fiber_init(fiber& f, size_t stack_bytes) {
  const size_t page = page_size();
  if (!f.map) {
    size_t bytes = (stack_bytes + page - 1) / page * page + page;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    // Guard page: an overflowing kernel stack faults instead of corrupting its neighbour.
    if (mprotect(p, page, PROT_NONE) != 0) {
      munmap(p, bytes);
      return false;
    }
    f.map = static_cast<char*>(p);
    f.map_bytes = bytes;
  }
  char* lo = f.map + page;
  const size_t size = f.map_bytes - page;
#if defined(MMRT_EMU_ASAN)
  // A stack abandoned mid-kernel (failed block) still carries the redzones of its dead frames.
  __asan_unpoison_memory_region(lo, size);
#endif
#if defined(MMRT_EMU_TSAN)
  // A fiber abandoned mid-kernel may hold TSan ignore state: start from a fresh TSan fiber.
  if (f.tsan_fiber && f.started) {
    __tsan_destroy_fiber(f.tsan_fiber);
    f.tsan_fiber = nullptr;
  }
  if (!f.tsan_fiber) f.tsan_fiber = __tsan_create_fiber(0);
#endif
  f.started = false;
#if defined(MMRT_EMU_SWITCH_ASM)
  // Initial frame as mmrt_emu_switch_x86_64 leaves it: control words, r15..rbp, then the
  // "return address" fiber_main, and a zero slot so that fiber_main starts with the ABI's
  // rsp % 16 == 8.
  uint64_t* top = reinterpret_cast<uint64_t*>(lo + size);
  uint64_t* sp = top - 9;
  const uint32_t mxcsr = 0x1f80;   // round to nearest, all exceptions masked
  const uint16_t fpu_cw = 0x037f;  // x87 default
  sp[0] = 0;
  memcpy(&sp[0], &mxcsr, sizeof mxcsr);
  memcpy(reinterpret_cast<char*>(&sp[0]) + 4, &fpu_cw, sizeof fpu_cw);
  for (int i = 1; i <= 6; ++i) sp[i] = 0;
  sp[7] = reinterpret_cast<uint64_t>(&fiber_main);
  sp[8] = 0;
  f.sp = sp;
#else
  getcontext(&f.uc);
  f.uc.uc_stack.ss_sp = lo;
  f.uc.uc_stack.ss_size = size;
  f.uc.uc_link = nullptr;
  makecontext(&f.uc, reinterpret_cast<void (*)()>(&fiber_main), 0);
#endif
  return true;
}

void fiber_release(fiber& f) {
  if (f.map) munmap(f.map, f.map_bytes);
  f.map = nullptr;
#if defined(MMRT_EMU_TSAN)
  if (f.tsan_fiber) __tsan_destroy_fiber(f.tsan_fiber);
  f.tsan_fiber = nullptr;
#endif
}

// Scheduler → fiber. TSan: a synchronising switch, so the fiber sees the launch arguments and
// the block state the scheduler wrote.
void resume(block_state& b, fiber& f) {
  t_fiber = &f;
  t_thread = &f.ctx;
#if defined(MMRT_EMU_TSAN)
  if (!b.tsan_sched) b.tsan_sched = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(f.tsan_fiber, 0);
#endif
#if defined(MMRT_EMU_ASAN)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, f.map + page_size(), f.map_bytes - page_size());
#endif
  f.started = true;
#if defined(MMRT_EMU_SWITCH_ASM)
  mmrt_emu_switch_x86_64(&b.sched_sp, f.sp);
#else
  swapcontext(&b.sched_uc, &f.uc);
#endif
#if defined(MMRT_EMU_ASAN)
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  t_fiber = nullptr;
  t_thread = nullptr;
}

// Fiber → scheduler. TSan: no synchronisation; happens-before between CUDA threads comes only
// from barriers, so TSan still sees the races a missing __syncthreads leaves.
void yield_to_scheduler() {
  fiber* f;
  block_state* b;
  void* sched_tsan;
  {
    // The worker's TLS and block state are rewritten by the scheduler, which does not
    // synchronise with this fiber: keep these reads out of race detection. The ignore must end
    // before the switch, since a parked fiber may be destroyed.
    tsan_ignore ig;
    f = t_fiber;
    b = t_blk;
    sched_tsan = b->tsan_sched;
  }
  (void)sched_tsan;
#if defined(MMRT_EMU_TSAN)
  __tsan_switch_to_fiber(sched_tsan, __tsan_switch_to_fiber_no_sync);
#endif
#if defined(MMRT_EMU_ASAN)
  __sanitizer_start_switch_fiber(&f->asan_fake_stack, b->sched_stack_bottom, b->sched_stack_size);
#endif
#if defined(MMRT_EMU_SWITCH_ASM)
  mmrt_emu_switch_x86_64(&f->sp, b->sched_sp);
#else
  swapcontext(&f->uc, &b->sched_uc);
#endif
#if defined(MMRT_EMU_ASAN)
  __sanitizer_finish_switch_fiber(f->asan_fake_stack, &t_blk->sched_stack_bottom,
                                  &t_blk->sched_stack_size);
#endif
}

void fiber_main() {
#if defined(MMRT_EMU_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, &t_blk->sched_stack_bottom, &t_blk->sched_stack_size);
#endif
  // A fiber serves one thread index of every block its worker runs: after the body returns it
  // parks as done and is resumed for the next block.
  for (;;) {
    block_state& b = *t_blk;
    b.entry(b.args);
#if defined(MMRT_EMU_TSAN)
    __tsan_release(&b.tsan_done);  // the kernel's writes → the host after the launch
#endif
    {
      tsan_ignore ig;
      t_fiber->state = fiber_state::done;
      ++b.n_done;
      // A thread that exits while others wait at __syncthreads can never let them through.
      if (b.bar_arrived > 0)
        fail_block("thread (%u,%u,%u) exited while %u threads wait at __syncthreads (%s:%u)",
                   t_fiber->ctx.tid.x, t_fiber->ctx.tid.y, t_fiber->ctx.tid.z, b.bar_arrived,
                   b.bar_file, b.bar_line);
    }
    // Parked outside the ignore scope: TSan rejects a fiber destroyed with ignores enabled.
    yield_to_scheduler();
  }
}

}  // namespace mmrt_emu
