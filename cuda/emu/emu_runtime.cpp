// emu_runtime.cpp — the CUDA runtime API subset host code needs, defined against the toolkit's own
// declarations (cuda_runtime_api.h), so the backend's host code compiles and runs unchanged.
//
// Device memory is host memory (malloc), but the emulator remembers every allocation: a copy whose
// device side is not inside a live cudaMalloc block (swapped arguments, wrong kind, overrun), a
// double cudaFree, or a foreign pointer fails with cudaErrorInvalidValue, as it would on a GPU
// rather than silently working here. New device memory is filled with 0xff bytes (NaN for floats)
// so reading it before writing shows. Streams are synchronous: every operation has finished when
// the call returns, events take a timestamp, and synchronisation calls only report pending errors.
#include "emu_internal.h"

#include <stdlib.h>

#include <chrono>
#include <map>
#include <mutex>
#include <set>

struct CUstream_st {
  int id;
};
struct CUevent_st {
  std::chrono::steady_clock::time_point t;
  bool recorded;
};

namespace mmrt_emu {

namespace {

struct last_error {
  cudaError_t code = cudaSuccess;
  std::string msg;
};
thread_local last_error t_err;

struct registry {
  std::mutex m;
  std::map<uintptr_t, size_t> device;  // base -> size of live cudaMalloc blocks
  size_t device_used = 0;              // bytes of those blocks (rounded as cudaMalloc rounds)
  std::set<const void*> host;          // cudaMallocHost blocks
  std::set<const void*> streams, events;
  std::map<const void*, size_t> smem_limit;  // kernel -> cudaFuncAttributeMaxDynamicSharedMemorySize
};
registry& reg() {
  static registry r;
  return r;
}

// True if [p, p+n) lies inside one live device allocation. Caller holds reg().m.
bool device_range_ok(const void* p, size_t n) {
  auto& dev = reg().device;
  auto it = dev.upper_bound((uintptr_t)p);
  if (it == dev.begin()) return false;
  --it;
  const uintptr_t base = it->first, a = (uintptr_t)p;
  return a >= base && n <= it->second && a - base <= it->second - n;
}

cudaError_t check_device(const char* call, const char* side, const void* p, size_t n) {
  std::lock_guard lk(reg().m);
  if (n == 0 || device_range_ok(p, n)) return cudaSuccess;
  return record_error(cudaErrorInvalidValue,
                      format("%s: %s %p (+%zu bytes) is not inside a live cudaMalloc allocation",
                             call, side, p, n));
}

bool stream_ok(cudaStream_t s) {
  if (s == nullptr) return true;  // the legacy default stream
  std::lock_guard lk(reg().m);
  return reg().streams.count(s) != 0;
}

cudaError_t copy(const char* call, void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  cudaError_t e = cudaSuccess;
  switch (kind) {
    case cudaMemcpyHostToHost: break;
    case cudaMemcpyHostToDevice: e = check_device(call, "destination", dst, n); break;
    case cudaMemcpyDeviceToHost: e = check_device(call, "source", src, n); break;
    case cudaMemcpyDeviceToDevice:
      e = check_device(call, "destination", dst, n);
      if (e == cudaSuccess) e = check_device(call, "source", src, n);
      break;
    case cudaMemcpyDefault: break;  // unified addressing: either side may be either
    default: return record_error(cudaErrorInvalidMemcpyDirection, format("%s: kind %d", call, kind));
  }
  if (e != cudaSuccess) return e;
  if (n) memcpy(dst, src, n);
  return cudaSuccess;
}

}  // namespace

cudaError_t record_error(cudaError_t err, const std::string& msg) {
  t_err.code = err;
  t_err.msg = msg;
  return err;
}

size_t kernel_max_dyn_smem(const void* kernel) {
  std::lock_guard lk(reg().m);
  auto it = reg().smem_limit.find(kernel);
  return it == reg().smem_limit.end() ? 48 * 1024 : it->second;
}

}  // namespace mmrt_emu

using mmrt_emu::format;
using mmrt_emu::record_error;
using mmrt_emu::reg;

extern "C" const char* mmrt_emu_last_error_message(void) { return mmrt_emu::t_err.msg.c_str(); }

// ---- errors ----------------------------------------------------------------------------------

cudaError_t cudaGetLastError(void) {
  const cudaError_t e = mmrt_emu::t_err.code;
  mmrt_emu::t_err.code = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) { return mmrt_emu::t_err.code; }

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
  }
}
const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    default: return "unknown error";
  }
}

// ---- device ----------------------------------------------------------------------------------

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  if (device != 0) return record_error(cudaErrorInvalidDevice, format("cudaSetDevice(%d)", device));
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }

// The attributes the backend asks for; others are an error rather than a made-up value.
cudaError_t cudaDeviceGetAttribute(int* value, enum cudaDeviceAttr attr, int device) {
  if (device != 0)
    return record_error(cudaErrorInvalidDevice, format("cudaDeviceGetAttribute(device %d)", device));
  if (attr == cudaDevAttrMaxSharedMemoryPerBlockOptin) {
    *value = (int)mmrt_emu::cfg().max_dyn_smem;
    return cudaSuccess;
  }
  return record_error(cudaErrorInvalidValue,
                      format("cudaDeviceGetAttribute: attribute %d is not emulated", (int)attr));
}

cudaError_t cudaFuncSetAttribute(const void* func, enum cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaSuccess;
  if (value < 0 || (size_t)value > mmrt_emu::cfg().max_dyn_smem)
    return record_error(cudaErrorInvalidValue,
                        format("cudaFuncSetAttribute: %d bytes of dynamic shared memory exceed the "
                               "device limit %zu",
                               value, mmrt_emu::cfg().max_dyn_smem));
  std::lock_guard lk(reg().m);
  reg().smem_limit[func] = (size_t)value;
  return cudaSuccess;
}

// ---- memory ----------------------------------------------------------------------------------

// The emulated device's memory: MMRT_EMU_DEVICE_MEMORY_MB, else 80 GiB (an H100). A request past
// it fails as on a GPU, before the host allocator is asked (which ASan would report).
static size_t device_capacity() {
  static const size_t cap = [] {
    const char* e = getenv("MMRT_EMU_DEVICE_MEMORY_MB");
    unsigned long long mb = e ? strtoull(e, nullptr, 10) : 0;
    return mb > 0 && mb < (1ull << 40) ? (size_t)mb << 20 : (size_t)80 << 30;
  }();
  return cap;
}

static size_t rounded_size(size_t size) { return (size + 255) / 256 * 256; }  // cudaMalloc aligns to 256

cudaError_t cudaMalloc(void** dev_ptr, size_t size) {
  *dev_ptr = nullptr;
  if (size == 0) return cudaSuccess;
  {
    std::lock_guard lk(reg().m);
    if (size > device_capacity() || rounded_size(size) > device_capacity() - reg().device_used)
      return record_error(cudaErrorMemoryAllocation,
                          format("cudaMalloc: %zu bytes: out of device memory (%zu of %zu bytes in use)", size,
                                 reg().device_used, device_capacity()));
  }
  const size_t rounded = rounded_size(size);
  void* p = aligned_alloc(256, rounded);
  if (!p)
    return record_error(cudaErrorMemoryAllocation, format("cudaMalloc: %zu bytes", size));
  memset(p, 0xff, rounded);
  std::lock_guard lk(reg().m);
  reg().device[(uintptr_t)p] = size;
  reg().device_used += rounded;
  *dev_ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* dev_ptr) {
  if (!dev_ptr) return cudaSuccess;
  {
    std::lock_guard lk(reg().m);
    auto it = reg().device.find((uintptr_t)dev_ptr);
    if (it == reg().device.end())
      return record_error(cudaErrorInvalidValue,
                          format("cudaFree(%p): not the start of a live cudaMalloc allocation",
                                 dev_ptr));
    reg().device_used -= rounded_size(it->second);
    reg().device.erase(it);
  }
  free(dev_ptr);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, size_t size) {
  *ptr = malloc(size ? size : 1);
  if (!*ptr) return record_error(cudaErrorMemoryAllocation, format("cudaMallocHost: %zu bytes", size));
  std::lock_guard lk(reg().m);
  reg().host.insert(*ptr);
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* ptr) {
  if (!ptr) return cudaSuccess;
  {
    std::lock_guard lk(reg().m);
    if (!reg().host.erase(ptr))
      return record_error(cudaErrorInvalidValue,
                          format("cudaFreeHost(%p): not a live cudaMallocHost allocation", ptr));
  }
  free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  std::lock_guard lk(reg().m);
  *total = device_capacity();
  *free_bytes = *total - reg().device_used;
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind) {
  return mmrt_emu::copy("cudaMemcpy", dst, src, count, kind);
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream) {
  if (!mmrt_emu::stream_ok(stream))
    return record_error(cudaErrorInvalidResourceHandle, "cudaMemcpyAsync: unknown stream");
  return mmrt_emu::copy("cudaMemcpyAsync", dst, src, count, kind);
}

cudaError_t cudaMemset(void* dev_ptr, int value, size_t count) {
  cudaError_t e = mmrt_emu::check_device("cudaMemset", "destination", dev_ptr, count);
  if (e == cudaSuccess && count) memset(dev_ptr, value, count);
  return e;
}

cudaError_t cudaMemsetAsync(void* dev_ptr, int value, size_t count, cudaStream_t stream) {
  if (!mmrt_emu::stream_ok(stream))
    return record_error(cudaErrorInvalidResourceHandle, "cudaMemsetAsync: unknown stream");
  return cudaMemset(dev_ptr, value, count);
}

// ---- streams and events ----------------------------------------------------------------------

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  (void)flags;
  *stream = new CUstream_st{0};
  std::lock_guard lk(reg().m);
  reg().streams.insert(*stream);
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, 0); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  {
    std::lock_guard lk(reg().m);
    if (!stream || !reg().streams.erase(stream))
      return record_error(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: unknown stream");
  }
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (!mmrt_emu::stream_ok(stream))
    return record_error(cudaErrorInvalidResourceHandle, "cudaStreamSynchronize: unknown stream");
  return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags) {
  (void)event;
  (void)flags;
  return cudaStreamSynchronize(stream);
}

static bool event_ok(cudaEvent_t e) {
  std::lock_guard lk(reg().m);
  return e && reg().events.count(e) != 0;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  (void)flags;
  *event = new CUevent_st{{}, false};
  std::lock_guard lk(reg().m);
  reg().events.insert(*event);
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, 0); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  {
    std::lock_guard lk(reg().m);
    if (!event || !reg().events.erase(event))
      return record_error(cudaErrorInvalidResourceHandle, "cudaEventDestroy: unknown event");
  }
  delete event;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!event_ok(event) || !mmrt_emu::stream_ok(stream))
    return record_error(cudaErrorInvalidResourceHandle, "cudaEventRecord: unknown event or stream");
  event->t = std::chrono::steady_clock::now();
  event->recorded = true;
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (!event_ok(event))
    return record_error(cudaErrorInvalidResourceHandle, "cudaEventSynchronize: unknown event");
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t event) { return cudaEventSynchronize(event); }

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!event_ok(start) || !event_ok(end))
    return record_error(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: unknown event");
  if (!start->recorded || !end->recorded)
    return record_error(cudaErrorInvalidResourceHandle,
                        "cudaEventElapsedTime: an event was never recorded");
  *ms = std::chrono::duration<float, std::milli>(end->t - start->t).count();
  return cudaSuccess;
}
