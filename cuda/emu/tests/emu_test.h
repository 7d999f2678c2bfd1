// emu_test.h — what every emulator test includes: Criterion (or, for the TSan build, a plain
// in-process runner with the same macros), prims.cuh, and comparison helpers.
//
// Criterion cannot run under ThreadSanitizer (its fork-inheritable arena is a fixed mapping that
// collides with TSan's shadow memory: "Could not initialize inheritable arena"). With
// MMRT_EMU_PLAIN_RUNNER defined, the subset of Criterion's API the tests use — Test(),
// cr_assert*, cr_log_* — is provided by plain_runner.cpp, which runs every test in one process.
#pragma once

#include "prims.cuh"

#include <stdio.h>
#include <string.h>

#include <vector>

#if defined(MMRT_EMU_PLAIN_RUNNER)

namespace emu_test {
struct failure {};
using test_fn = void (*)();
int register_test(const char* suite, const char* name, test_fn fn);
[[noreturn]] void fail(const char* file, int line, const char* expr, const char* fmt = nullptr, ...)
    __attribute__((format(printf, 4, 5)));
void log(const char* level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
}  // namespace emu_test

#define Test(suite, name, ...)                                                                     \
  static void emu_test_##suite##_##name();                                                         \
  [[maybe_unused]] static const int emu_test_reg_##suite##_##name =                               \
      emu_test::register_test(#suite, #name, emu_test_##suite##_##name);                           \
  static void emu_test_##suite##_##name()
#define cr_assert(cond, ...)                                                                       \
  do {                                                                                             \
    if (!(cond)) emu_test::fail(__FILE__, __LINE__, #cond __VA_OPT__(, ) __VA_ARGS__);             \
  } while (0)
#define cr_assert_fail(...) emu_test::fail(__FILE__, __LINE__, "cr_assert_fail" __VA_OPT__(, ) __VA_ARGS__)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b) __VA_OPT__(, ) __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b) __VA_OPT__(, ) __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr_assert((a) < (b) __VA_OPT__(, ) __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr_assert((a) <= (b) __VA_OPT__(, ) __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b) __VA_OPT__(, ) __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b) __VA_OPT__(, ) __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0 __VA_OPT__(, ) __VA_ARGS__)
#define cr_log_error(...) emu_test::log("error", __VA_ARGS__)
#define cr_log_info(...) emu_test::log("info", __VA_ARGS__)

#else
#include <criterion/criterion.h>
#include <criterion/logging.h>
#endif

// Asserts that the last launch (or runtime call) succeeded; on failure shows the emulator's
// message, which names the kernel, the block and the source line.
#define EMU_ASSERT_OK()                                                                            \
  do {                                                                                             \
    cudaError_t emu_err_ = cudaGetLastError();                                                     \
    cr_assert_eq(emu_err_, cudaSuccess, "%s", prim::launch_error_string(emu_err_));               \
  } while (0)

// Asserts exact equality element by element, logging the first mismatches (index, want, got).
template <class T>
inline void emu_expect_equal(const T* got, const T* want, size_t n, const char* what) {
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    if (got[i] == want[i]) continue;
    if (bad < 8)
      cr_log_error("%s[%zu]: want %lld, got %lld", what, i, (long long)want[i], (long long)got[i]);
    ++bad;
  }
  cr_assert_eq(bad, 0u, "%s: %zu of %zu elements differ", what, bad, n);
}

// Asserts max |got - want| <= tol * max |want| (the project's metric), logging the worst element.
inline void emu_expect_close(const float* got, const double* want, size_t n, double tol,
                             const char* what) {
  double max_ref = 0, max_err = 0;
  size_t worst = 0;
  for (size_t i = 0; i < n; ++i) {
    max_ref = want[i] < 0 ? (-want[i] > max_ref ? -want[i] : max_ref) : (want[i] > max_ref ? want[i] : max_ref);
    const double e = got[i] > want[i] ? got[i] - want[i] : want[i] - got[i];
    if (!(e <= max_err)) {
      max_err = e;
      worst = i;
    }
  }
  if (!(max_err <= tol * max_ref))
    cr_log_error("%s[%zu]: want %.9g, got %.9g", what, worst, want[worst], (double)got[worst]);
  cr_assert(max_err <= tol * max_ref, "%s: max error %.3g > %.3g x max |ref| %.3g", what, max_err,
            tol, max_ref);
}

// Device buffer holding a copy of `host` (test convenience; asserts on failure).
template <class T>
inline T* emu_upload(const std::vector<T>& host) {
  T* d = nullptr;
  cr_assert_eq(cudaMalloc(&d, host.size() * sizeof(T)), cudaSuccess);
  cr_assert_eq(cudaMemcpy(d, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
               cudaSuccess);
  return d;
}
template <class T>
inline std::vector<T> emu_download(const T* d, size_t n) {
  std::vector<T> h(n);
  cr_assert_eq(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  return h;
}
