/* libFuzzer target: JSON parsing (core/json.h) and the decoder hyper-parameters read from
 * config.json / generation_config.json (fusion/llm_config.h).
 *
 * The input is parsed with mmrt_json_parse; the value is then read as a config.json (and, when it
 * has one, its "text_config" as well), and applied as a generation_config.json both to the parsed
 * hyper-parameters and to a blank set. Accepted hyper-parameters are checked against the promises
 * of llm_config.h and fed to mmrt_llm_rope_inv_freq.
 */
#include "fuzz_common.h"

#include "core/json.h"
#include "fusion/llm_config.h"

#include <math.h>

static void check_hparams(const mmrt_llm_hparams *hp) {
    FUZZ_CHECK(memchr(hp->model_type, '\0', sizeof hp->model_type) != NULL);
    FUZZ_CHECK(hp->n_vocab > 0 && hp->n_embd > 0 && hp->n_ff > 0 && hp->n_layer > 0);
    FUZZ_CHECK(hp->n_head > 0 && hp->n_head_kv > 0 && hp->n_head % hp->n_head_kv == 0);
    FUZZ_CHECK(hp->head_dim > 0 && hp->head_dim % 2 == 0);
    FUZZ_CHECK(hp->n_rot >= 0 && hp->n_rot <= hp->head_dim && hp->n_rot % 2 == 0);
    FUZZ_CHECK(hp->n_ctx_train > 0);
    FUZZ_CHECK(hp->rms_eps > 0.0f && hp->rms_eps < 1.0f);
    FUZZ_CHECK(hp->rope_theta > 1.0);
    FUZZ_CHECK(hp->n_eos >= 0 && hp->n_eos <= MMRT_MAX_EOS);
    /* The multipliers scale activations and logits are divided by logit_scale: each must be a
     * finite positive float (range checks on the double must survive the narrowing). */
    FUZZ_CHECK(isfinite(hp->attn_scale) && hp->attn_scale > 0.0f);
    FUZZ_CHECK(isfinite(hp->embd_scale) && hp->embd_scale > 0.0f);
    FUZZ_CHECK(isfinite(hp->residual_scale) && hp->residual_scale > 0.0f);
    FUZZ_CHECK(isfinite(hp->logit_scale) && hp->logit_scale > 0.0f);
    /* Every byte count the loader derives must fit in int64 (the header's promise). */
    int64_t bytes;
    FUZZ_CHECK(!__builtin_mul_overflow(hp->n_vocab, hp->n_embd, &bytes) &&
               !__builtin_mul_overflow(bytes, (int64_t)4, &bytes));
    FUZZ_CHECK(!__builtin_mul_overflow(hp->n_ff, hp->n_embd, &bytes) &&
               !__builtin_mul_overflow(bytes, (int64_t)4, &bytes));
    FUZZ_CHECK(!__builtin_mul_overflow(hp->n_head * hp->head_dim, hp->n_embd, &bytes) &&
               !__builtin_mul_overflow(bytes, (int64_t)4, &bytes));

    size_t half = (size_t)(hp->n_rot / 2);
    float *inv_freq = malloc((half ? half : 1) * sizeof *inv_freq);
    FUZZ_CHECK(inv_freq != NULL);
    float attn_factor = 0.0f;
    mmrt_llm_rope_inv_freq(hp, inv_freq, &attn_factor);
    volatile float sink = attn_factor;
    for (size_t i = 0; i < half; i++) sink += inv_freq[i];
    (void)sink;
    free(inv_freq);
}

static void read_config(const cJSON *obj, const char *file) {
    mmrt_llm_hparams hp;
    mmrt_error err = {0};
    mmrt_status st = mmrt_llm_hparams_parse(obj, file, &hp, &err);
    fuzz_note("mmrt_llm_hparams_parse", st, &err);
    if (st != MMRT_OK) {
        fuzz_check_error(st, &err);
        return;
    }
    check_hparams(&hp);
    mmrt_llm_hparams before = hp;
    err = (mmrt_error){0};
    st = mmrt_llm_hparams_apply_generation_config(&hp, obj, "generation_config.json", &err);
    fuzz_note("mmrt_llm_hparams_apply_generation_config", st, &err);
    if (st != MMRT_OK) {
        fuzz_check_error(st, &err);
        return;
    }
    FUZZ_CHECK(hp.n_eos >= 0 && hp.n_eos <= MMRT_MAX_EOS);
    FUZZ_CHECK(hp.n_embd == before.n_embd && hp.n_rot == before.n_rot);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON *root = (cJSON *)1;
    mmrt_error err = {0};
    mmrt_status st = mmrt_json_parse((const char *)data, size, "config.json", &root, &err);
    fuzz_note("mmrt_json_parse", st, &err);
    if (st != MMRT_OK) {
        fuzz_check_error(st, &err);
        FUZZ_CHECK(root == NULL);
        return 0;
    }
    FUZZ_CHECK(root != NULL);
    read_config(root, "config.json");

    const cJSON *text = NULL;
    err = (mmrt_error){0};
    st = mmrt_json_get_object(root, "text_config", false, &text, "config.json", &err);
    if (st != MMRT_OK)
        fuzz_check_error(st, &err);
    else if (text)
        read_config(text, "config.json: text_config");

    /* generation_config.json alone, over blank hyper-parameters */
    mmrt_llm_hparams hp;
    memset(&hp, 0, sizeof hp);
    hp.bos_id = -1;
    err = (mmrt_error){0};
    st = mmrt_llm_hparams_apply_generation_config(&hp, root, "generation_config.json", &err);
    if (st != MMRT_OK)
        fuzz_check_error(st, &err);
    else
        FUZZ_CHECK(hp.n_eos >= 0 && hp.n_eos <= MMRT_MAX_EOS && hp.bos_id >= -1);

    /* The list getter with a small cap (eos_token_id lists longer than it must fail cleanly). */
    int64_t vals[2] = {0, 0};
    int n = -1;
    err = (mmrt_error){0};
    st = mmrt_json_get_int_list(root, "eos_token_id", vals, 2, &n, "generation_config.json", &err);
    if (st != MMRT_OK)
        fuzz_check_error(st, &err);
    else
        FUZZ_CHECK(n >= 0 && n <= 2);

    cJSON_Delete(root);
    return 0;
}
