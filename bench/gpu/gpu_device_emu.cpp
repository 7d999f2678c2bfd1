// gpu_device_emu.cpp — gpu_device.h in the emulated build (cuda/emu): no device properties.
#include "gpu_device.h"

#include <stdio.h>

bool gpu_device_query(gpu_device_info* out) {
  *out = {};
  snprintf(out->name, sizeof out->name, "CPU emulator (cuda/emu): timings are not GPU timings");
  return true;
}

void gpu_kernel_occupancy(const void*, int, size_t, int* regs, int* blocks) {
  *regs = -1;
  *blocks = -1;
}
