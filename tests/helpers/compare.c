#include "compare.h"

#include <math.h>
#include <stdio.h>

bool mmrt_test_close(const char *what, const float *got, const float *ref, int64_t n, double tol) {
    double max_ref = 0.0, max_err = 0.0;
    for (int64_t i = 0; i < n; i++) max_ref = fmax(max_ref, fabs((double)ref[i]));
    double bound = tol * max_ref;
    int shown = 0;
    bool ok = true;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (double)ref[i]);
        if (!(e <= bound)) { /* NaN fails too */
            ok = false;
            if (shown++ < 8)
                fprintf(stderr, "%s: [%lld] expected %.9g, got %.9g (|err| %.3g > %.3g)\n", what,
                        (long long)i, ref[i], got[i], e, bound);
        }
        if (e > max_err || isnan(e)) max_err = e;
    }
    if (!ok)
        fprintf(stderr, "%s: max |err| %.3g, allowed %.3g (tol %.1g × max|ref| %.3g), %d mismatches\n",
                what, max_err, bound, tol, max_ref, shown);
    return ok;
}

void mmrt_test_fill(float *x, int64_t n, uint64_t seed, float lo, float hi) {
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = lo + (hi - lo) * (float)((s >> 11) * (1.0 / 9007199254740992.0));
    }
}

bool mmrt_test_close_to_plain(const char *what, const float *got, const float *ref, const float *plain,
                              int64_t n) {
    double max_ref = 0.0, err_plain = 0.0;
    for (int64_t i = 0; i < n; i++) {
        max_ref = fmax(max_ref, fabs((double)ref[i]));
        err_plain = fmax(err_plain, fabs((double)plain[i] - ref[i]));
    }
    double tol = max_ref > 0.0 ? (2.0 * err_plain + 1e-6) / max_ref : 0.0;
    if (mmrt_test_close(what, got, ref, n, tol)) return true;
    fprintf(stderr, "%s: the bound is 2 x %.3g (the plain computation's error) + 1e-6\n", what, err_plain);
    return false;
}
