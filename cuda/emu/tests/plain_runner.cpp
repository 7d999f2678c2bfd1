// plain_runner.cpp — runs the emulator tests in one process without Criterion (for the TSan
// build, where Criterion cannot start; see emu_test.h). Exit status 0 only if every test passed.
#include "emu_test.h"

#include <stdarg.h>
#include <time.h>

namespace emu_test {

namespace {
struct entry {
  const char* suite;
  const char* name;
  test_fn fn;
};
std::vector<entry>& tests() {
  static std::vector<entry> t;
  return t;
}
}  // namespace

int register_test(const char* suite, const char* name, test_fn fn) {
  tests().push_back({suite, name, fn});
  return 0;
}

void fail(const char* file, int line, const char* expr, const char* fmt, ...) {
  fprintf(stderr, "%s:%d: assertion failed: %s", file, line, expr);
  if (fmt) {
    fputs(": ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
  }
  fputc('\n', stderr);
  throw failure{};
}

void log(const char* level, const char* fmt, ...) {
  fprintf(stderr, "[%s] ", level);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

}  // namespace emu_test

int main() {
  int failed = 0;
  for (const auto& t : emu_test::tests()) {
    timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool ok = true;
    try {
      t.fn();
    } catch (const emu_test::failure&) {
      ok = false;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    fprintf(stderr, "[%s] %s::%s (%.1f ms)\n", ok ? "PASS" : "FAIL", t.suite, t.name, ms);
    failed += !ok;
  }
  fprintf(stderr, "Synthesis: Tested: %zu | Passing: %zu | Failing: %d\n", emu_test::tests().size(),
          emu_test::tests().size() - failed, failed);
  return failed ? 1 : 0;
}
