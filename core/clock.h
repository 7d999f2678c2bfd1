/* Wall-clock time for the timings results report (monotonic, milliseconds). */
#ifndef MMRT_CORE_CLOCK_H
#define MMRT_CORE_CLOCK_H

#include <time.h>

static inline double mmrt_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#endif
