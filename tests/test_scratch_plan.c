/* Scratch sized by the code that uses it (core/arena.h, core/backend_plan.c): the decoder's arena
 * is exactly what its largest pass allocates (no slack, never short), measured by a planning pass
 * that runs the same allocation sequence on the plan backend; mmrt_model_session_bytes counts it. */
#include "core/arena.h"
#include "fusion/model.h"
#include "helpers/test_device.h"

#include <criterion/criterion.h>
#include <mmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A measuring arena records the same peak as a real one for the same allocations and resets. */
Test(scratch_plan, measuring_arena_matches_a_real_one) {
    static const size_t sizes[] = {1, 64, 65, 4096, 3, 1000};
    mmrt_arena real, measured;
    mmrt_error err = {0};
    cr_assert_eq(mmrt_arena_init(&real, "real", 1 << 16, &err), MMRT_OK);
    mmrt_arena_measure(&measured, "measured");
    mmrt_arena *as[2] = {&real, &measured};
    for (int k = 0; k < 2; k++) {
        size_t mark = 0;
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            if (i == 3) mark = mmrt_arena_mark(as[k]);
            cr_assert_not_null(mmrt_arena_alloc(as[k], sizes[i], &err));
            if (i == 4) mmrt_arena_reset(as[k], mark);
        }
    }
    cr_assert_eq(measured.peak, real.peak, "measured %zu, real %zu", measured.peak, real.peak);
    cr_assert_eq(real.peak, 64 + 64 + 128 + 4096 + 64, "peak %zu", real.peak);
    mmrt_arena_free(&real);
}

/* A prompt of exactly n_batch tokens with every logit uses the whole arena, and not a byte more. */
Test(scratch_plan, decoder_arena_is_exactly_its_largest_pass) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/llama/odd-sizes", MMRT_FIXTURES_DIR);
    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.device = test_device();
    mmrt_model *m = NULL;
    cr_assert_eq(mmrt_model_load(dir, &mp, &m), MMRT_OK, "%s", mmrt_last_error());
    const int32_t n_batch = 70; /* past the 64 rows of logits per lm_head pass */
    mmrt_session_params sp = {.size = sizeof sp, .n_ctx = 256, .n_batch = n_batch};
    mmrt_session *s = NULL;
    cr_assert_eq(mmrt_session_init(m, &sp, &s), MMRT_OK, "%s", mmrt_last_error());
    cr_assert_eq(s->state.arena.peak, 0);
    int32_t ids[70];
    for (int i = 0; i < n_batch; i++) ids[i] = (int32_t)(3 + 7 * i) % (int32_t)m->llm.hp.n_vocab;
    float *logits = malloc(sizeof(float) * (size_t)n_batch * (size_t)m->llm.hp.n_vocab);
    mmrt_llm_batch b = {.ids = ids, .n_tok = n_batch, .all_logits = true, .logits = logits};
    mmrt_error err = {0};
    cr_assert_eq(mmrt_llm_decode(&m->llm, &s->state, &b, &err), MMRT_OK, "%s", err.msg);
    cr_assert_eq(s->state.arena.peak, s->state.arena.size, "the pass used %zu of the %zu bytes planned",
                 s->state.arena.peak, s->state.arena.size);
    /* the session's bytes: KV cache + that arena + the host buffers */
    int64_t kv = 2 * m->llm.hp.n_layer * 256 * m->llm.hp.n_head_kv * m->llm.hp.head_dim * 4;
    cr_assert_gt(mmrt_model_session_bytes(m, 256), kv + (int64_t)s->state.arena.size - 1);
    free(logits);
    mmrt_session_free(s);
    mmrt_model_free(m);
}
