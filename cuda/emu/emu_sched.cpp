// emu_sched.cpp — runs grids: the worker pool, the per-block scheduler, __syncthreads, and the
// divergence reports.
//
// A block runs on one OS thread. Its scheduler resumes every runnable fiber in the configured
// order; a fiber runs until it exits or waits (at __syncthreads or a warp collective). The last
// arrival at a barrier makes the waiters runnable again. A pass in which nothing could run, while
// threads are still alive, is a deadlock: CUDA would hang or misbehave there, the emulator fails
// the launch with a report of who waits where.
#include "emu_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#if defined(MMRT_EMU_ASAN)
#include <sanitizer/asan_interface.h>
#endif
#if defined(MMRT_EMU_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

namespace mmrt_emu {

// ---- configuration ---------------------------------------------------------------------------

static mmrt_emu_sched parse_sched(const char* s) {
  if (!strcmp(s, "reverse") || !strcmp(s, "rev")) return MMRT_EMU_SCHED_REVERSE;
  if (!strcmp(s, "shuffle") || !strcmp(s, "shuffled")) return MMRT_EMU_SCHED_SHUFFLE;
  return MMRT_EMU_SCHED_FORWARD;
}

config& cfg() {
  static config c = [] {
    config d{2, MMRT_EMU_SCHED_FORWARD, 1, 64 * 1024, 227 * 1024};
    if (const char* s = getenv("MMRT_EMU_WORKERS")) d.n_workers = std::clamp(atoi(s), 1, 256);
    if (const char* s = getenv("MMRT_EMU_SCHED")) d.sched = parse_sched(s);
    if (const char* s = getenv("MMRT_EMU_SEED")) d.seed = strtoull(s, nullptr, 0);
    if (const char* s = getenv("MMRT_EMU_STACK_KB"))
      d.stack_bytes = (size_t)std::clamp(atoi(s), 16, 64 * 1024) * 1024;
    return d;
  }();
  return c;
}

std::string format(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

void fail_block(const char* fmt, ...) {
  {
    tsan_ignore ig;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (t_blk->error.empty()) t_blk->error = buf;
    t_fiber->state = fiber_state::failed;
  }
  for (;;) yield_to_scheduler();  // never resumed: the scheduler re-creates failed fibers
}

// ---- __syncthreads ---------------------------------------------------------------------------

int block_barrier(bar_op op, int pred, const source_loc& loc) {
  tsan_ignore ig;
  block_state& b = *t_blk;
  fiber& f = *t_fiber;
  if (b.n_done > 0)
    fail_block("thread (%u,%u,%u) reached __syncthreads (%s:%u) after %u threads of the block "
               "exited",
               f.ctx.tid.x, f.ctx.tid.y, f.ctx.tid.z, loc.file_name(), (unsigned)loc.line(),
               b.n_done);
  if (b.bar_arrived == 0) {
    b.bar_file = loc.file_name();
    b.bar_line = loc.line();
    b.bar_column = loc.column();
    b.bar_kind = op;
    b.bar_acc = op == bar_op::all ? 1 : 0;
  } else if (b.bar_line != loc.line() || b.bar_column != loc.column() ||
             strcmp(b.bar_file, loc.file_name()) != 0 || b.bar_kind != op) {
    fail_block("barrier divergence: %u threads wait at __syncthreads (%s:%u:%u), thread "
               "(%u,%u,%u) at __syncthreads (%s:%u:%u)",
               b.bar_arrived, b.bar_file, b.bar_line, b.bar_column, f.ctx.tid.x, f.ctx.tid.y,
               f.ctx.tid.z, loc.file_name(), (unsigned)loc.line(), (unsigned)loc.column());
  }
  switch (op) {
    case bar_op::none: break;
    case bar_op::count: b.bar_acc += pred != 0; break;
    case bar_op::all: b.bar_acc &= pred != 0; break;
    case bar_op::any: b.bar_acc |= pred != 0; break;
  }
  [[maybe_unused]] const unsigned gen = b.bar_gen;
#if defined(MMRT_EMU_TSAN)
  __tsan_release(&b.tsan_bar[gen & 1]);
#endif
  if (++b.bar_arrived == b.n_threads) {
    b.bar_arrived = 0;
    b.bar_result = b.bar_acc;
    ++b.bar_gen;
    for (unsigned i = 0; i < b.n_threads; ++i)
      if (b.fibers[i]->state == fiber_state::at_barrier) b.fibers[i]->state = fiber_state::runnable;
  } else {
    f.state = fiber_state::at_barrier;
    f.wait_what = "__syncthreads";
    f.wait_file = loc.file_name();
    f.wait_line = loc.line();
    yield_to_scheduler();
  }
#if defined(MMRT_EMU_TSAN)
  __tsan_acquire(&b.tsan_bar[gen & 1]);
#endif
  return b.bar_result;
}

// ---- one block -------------------------------------------------------------------------------

worker::~worker() {
  for (auto& f : fibers) fiber_release(*f);
  free(smem);
}

// Who waits where, for a block in which nothing can run any more.
static std::string deadlock_report(const block_state& b) {
  struct group {
    const char* what;
    const char* file;
    unsigned line;
    unsigned n;
  };
  std::vector<group> groups;
  for (unsigned i = 0; i < b.n_threads; ++i) {
    const fiber& f = *b.fibers[i];
    if (f.state == fiber_state::done) continue;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const group& g) {
      return g.what == f.wait_what && g.file == f.wait_file && g.line == f.wait_line;
    });
    if (it == groups.end()) groups.push_back({f.wait_what, f.wait_file, f.wait_line, 1});
    else ++it->n;
  }
  std::string msg = format("deadlock (barrier divergence): %u threads exited", b.n_done);
  for (const group& g : groups)
    msg += format(", %u wait at %s (%s:%u)", g.n, g.what ? g.what : "?", g.file ? g.file : "?",
                  g.line);
  for (size_t w = 0; w < b.warps.size(); ++w) {
    const warp_state& ws = b.warps[w];
    if (!ws.arrived) continue;
    unsigned lane = (unsigned)__builtin_ctz(ws.arrived);
    msg += format("; warp %zu: lanes 0x%08x wait for mask 0x%08x", w, ws.arrived,
                  ws.lanes[lane].mask);
  }
  return msg;
}

// Runs block `b.ctx.idx` on this worker. Returns false with b.error set if it failed.
static bool run_block(worker& W, uint64_t block_linear) {
  block_state& b = W.blk;
  const config& c = cfg();
  const unsigned n = b.n_threads;
  b.n_done = 0;
  b.bar_arrived = 0;
  b.error.clear();
  for (warp_state& w : b.warps) w.arrived = 0;
  // Dynamic shared memory starts as all-ones bytes: NaN for f32, f16 and bf16, -1 for integers.
  if (b.ctx.dyn_bytes) memset(b.ctx.dyn_smem, 0xff, b.ctx.dyn_bytes);
  for (unsigned i = 0; i < n; ++i) W.fibers[i]->state = fiber_state::runnable;

  W.order.resize(n);
  for (unsigned i = 0; i < n; ++i) W.order[i] = c.sched == MMRT_EMU_SCHED_REVERSE ? n - 1 - i : i;
  // Seeded per block, not per worker, so a shuffled run is reproducible for any worker count.
  W.rng.seed(c.seed * 0x9e3779b97f4a7c15ull + block_linear);

  tsan_ignore ig;
  for (;;) {
    if (c.sched == MMRT_EMU_SCHED_SHUFFLE) std::shuffle(W.order.begin(), W.order.end(), W.rng);
    bool progress = false;
    for (unsigned k = 0; k < n && b.error.empty(); ++k) {
      fiber& f = *W.fibers[W.order[k]];
      if (f.state != fiber_state::runnable) continue;
      resume(b, f);
      progress = true;
    }
    if (b.error.empty() && b.n_done == n) break;
    if (b.error.empty() && !progress) b.error = deadlock_report(b);
    if (!b.error.empty()) {
      // Fibers stopped mid-kernel hold dead frames: start them afresh for the next block.
      for (unsigned i = 0; i < n; ++i)
        if (W.fibers[i]->state != fiber_state::done && !fiber_init(*W.fibers[i], c.stack_bytes))
          b.error += " (and a fiber stack could not be re-created)";
      return false;
    }
  }
#if defined(MMRT_EMU_TSAN)
  __tsan_acquire(&b.tsan_done);
#endif
  return true;
}

// Sizes the worker's fibers, arena and block state for a launch. Returns false on OOM.
static bool prepare_worker(worker& W, dim3 grid, dim3 block, size_t smem, entry_fn entry,
                           void* args) {
  const config& c = cfg();
  const unsigned n = block.x * block.y * block.z;
  while (W.fibers.size() < n) {
    auto f = std::make_unique<fiber>();
    if (!fiber_init(*f, c.stack_bytes)) return false;
    W.fiber_ptrs.push_back(f.get());
    W.fibers.push_back(std::move(f));
  }
  const size_t need = (smem + 127) / 128 * 128;
  if (W.smem_cap < need) {
    free(W.smem);
    W.smem = static_cast<unsigned char*>(aligned_alloc(128, need));
    W.smem_cap = W.smem ? need : 0;
    if (!W.smem) return false;
  }
#if defined(MMRT_EMU_ASAN)
  // Bytes of the arena past this launch's size are a redzone.
  if (W.smem_cap) {
    __asan_unpoison_memory_region(W.smem, W.smem_cap);
    __asan_poison_memory_region(W.smem + smem, W.smem_cap - smem);
  }
#endif
  block_state& b = W.blk;
  b.ctx.dim = block;
  b.ctx.grid = grid;
  b.ctx.dyn_smem = smem ? W.smem : nullptr;
  b.ctx.dyn_bytes = smem;
  b.n_threads = n;
  b.entry = entry;
  b.args = args;
  b.bar_gen = 0;
  b.fibers = W.fiber_ptrs.data();
  const unsigned n_warps = (n + 31) / 32;
  b.warps.assign(n_warps, warp_state{});
  for (unsigned w = 0; w < n_warps; ++w) {
    const unsigned lanes = std::min(32u, n - 32 * w);
    b.warps[w].valid = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
  }
  for (unsigned i = 0; i < n; ++i) {
    thread_ctx& t = W.fibers[i]->ctx;
    t.linear = i;
    t.tid = uint3{i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
    t.lane = i % 32;
    t.warp = i / 32;
  }
  return true;
}

// ---- the worker pool -------------------------------------------------------------------------
// Persistent helper threads; the launching thread is worker 0. Each OS thread keeps its worker
// (fibers, stacks, arena) for its lifetime, so a launch costs microseconds.

namespace {

struct pool {
  std::mutex m;
  std::condition_variable go, finished;
  std::vector<std::thread> threads;
  void (*job)(void*) = nullptr;
  void* job_ctx = nullptr;
  uint64_t epoch = 0;
  unsigned n_active = 0;  // helpers taking part in the current job
  unsigned n_pending = 0;
  bool stop = false;

  void helper(unsigned id) {
    uint64_t seen = 0;
    for (;;) {
      void (*fn)(void*);
      void* ctx;
      {
        std::unique_lock lk(m);
        go.wait(lk, [&] { return stop || (epoch != seen && id < n_active); });
        if (stop) return;
        seen = epoch;
        fn = job;
        ctx = job_ctx;
      }
      fn(ctx);
      std::lock_guard lk(m);
      if (--n_pending == 0) finished.notify_all();
    }
  }
  void run(unsigned n_workers, void (*fn)(void*), void* ctx) {
    const unsigned n_helpers = n_workers - 1;
    if (n_helpers > 0) {
      std::lock_guard lk(m);
      while (threads.size() < n_helpers) {
        const unsigned id = (unsigned)threads.size();
        threads.emplace_back([this, id] { helper(id); });
      }
      job = fn;
      job_ctx = ctx;
      n_active = n_helpers;
      n_pending = n_helpers;
      ++epoch;
      go.notify_all();
    }
    fn(ctx);
    if (n_helpers > 0) {
      std::unique_lock lk(m);
      finished.wait(lk, [&] { return n_pending == 0; });
    }
  }
  ~pool() {
    {
      std::lock_guard lk(m);
      stop = true;
    }
    go.notify_all();
    for (std::thread& t : threads) t.join();
  }
};

pool& the_pool() {
  static pool p;
  return p;
}

std::mutex& launch_lock() {
  static std::mutex m;
  return m;
}

struct grid_job {
  dim3 grid, block;
  size_t smem;
  entry_fn entry;
  void* args;
  uint64_t n_blocks;
  std::atomic<uint64_t> next{0};
  std::mutex err_m;
  uint64_t err_block = UINT64_MAX;  // lowest failing block, for a deterministic message
  std::string error;
};

void run_grid_worker(void* p) {
  grid_job& job = *static_cast<grid_job*>(p);
  static thread_local worker W;
  if (!prepare_worker(W, job.grid, job.block, job.smem, job.entry, job.args)) {
    std::lock_guard lk(job.err_m);
    job.error = "out of host memory for fiber stacks or shared memory";
    job.err_block = 0;
    job.next.store(job.n_blocks);
    return;
  }
  block_state& b = W.blk;
  t_blk = &b;
  t_block = &b.ctx;
  for (;;) {
    const uint64_t id = job.next.fetch_add(1);
    if (id >= job.n_blocks) break;
    b.ctx.idx = uint3{(unsigned)(id % job.grid.x), (unsigned)(id / job.grid.x % job.grid.y),
                      (unsigned)(id / ((uint64_t)job.grid.x * job.grid.y))};
    if (!run_block(W, id)) {
      std::lock_guard lk(job.err_m);
      if (id < job.err_block) {
        job.err_block = id;
        job.error = format("block (%u,%u,%u): ", b.ctx.idx.x, b.ctx.idx.y, b.ctx.idx.z) + b.error;
      }
      job.next.store(job.n_blocks);  // stop handing out blocks
      break;
    }
  }
  t_blk = nullptr;
  t_block = nullptr;
}

}  // namespace

cudaError_t launch_grid(const char* name, const void* kernel, dim3 grid, dim3 block, size_t smem,
                        cudaStream_t stream, entry_fn entry, void* args) {
  (void)stream;  // streams are synchronous: every launch completes before it returns
  const std::string what =
      format("kernel %s grid (%u,%u,%u) block (%u,%u,%u) smem %zu", name, grid.x, grid.y, grid.z,
             block.x, block.y, block.z, smem);
  if (t_fiber)
    return record_error(cudaErrorNotSupported,
                        what + ": launched from device code (dynamic parallelism)");
  const uint64_t n_threads = (uint64_t)block.x * block.y * block.z;
  if (n_threads == 0 || n_threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64)
    return record_error(cudaErrorInvalidConfiguration,
                        what + ": block must have 1..1024 threads, x,y <= 1024, z <= 64");
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 ||
      grid.z > 65535)
    return record_error(cudaErrorInvalidConfiguration,
                        what + ": grid must be >= 1 in x,y,z, x < 2^31, y,z <= 65535");
  if (smem > cfg().max_dyn_smem)
    return record_error(cudaErrorInvalidValue,
                        what + format(": dynamic shared memory above the device limit %zu",
                                      cfg().max_dyn_smem));
  if (smem > kernel_max_dyn_smem(kernel))
    return record_error(cudaErrorInvalidValue,
                        what + format(": dynamic shared memory above %zu needs "
                                      "cudaFuncSetAttribute(kernel, "
                                      "cudaFuncAttributeMaxDynamicSharedMemorySize, n)",
                                      kernel_max_dyn_smem(kernel)));

  std::lock_guard lk(launch_lock());
  grid_job job;
  job.grid = grid;
  job.block = block;
  job.smem = smem;
  job.entry = entry;
  job.args = args;
  job.n_blocks = (uint64_t)grid.x * grid.y * grid.z;
  const unsigned n_workers =
      (unsigned)std::min<uint64_t>(job.n_blocks, (uint64_t)std::max(1, cfg().n_workers));
  the_pool().run(n_workers, run_grid_worker, &job);
  if (!job.error.empty()) return record_error(cudaErrorLaunchFailure, what + ": " + job.error);
  return cudaSuccess;
}

}  // namespace mmrt_emu

// ---- configuration API -----------------------------------------------------------------------

extern "C" void mmrt_emu_set_sched(mmrt_emu_sched sched, uint64_t seed) {
  mmrt_emu::cfg().sched = sched;
  mmrt_emu::cfg().seed = seed;
}
extern "C" mmrt_emu_sched mmrt_emu_get_sched(void) { return mmrt_emu::cfg().sched; }
extern "C" void mmrt_emu_set_workers(int n_workers) {
  mmrt_emu::cfg().n_workers = std::clamp(n_workers, 1, 256);
}
extern "C" int mmrt_emu_get_workers(void) { return mmrt_emu::cfg().n_workers; }
