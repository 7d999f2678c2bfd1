/* An older caller: built against a copy of mmrt.h whose size-prefixed structs (params, results,
 * model info) lack their last field (tools/abi_old_header.py), linked with the current shared
 * libmmrt. It must run as it did: defaults for the fields it does not know, and not a byte
 * written past the structs it passes. Exit status 0 when every check holds.
 *
 *     old_caller MODEL_DIR REFERENCE_JSON */
#include <mmrt.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_failed;

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "old_caller: FAILED: %s\n", what);
        n_failed++;
    }
}

/* The caller's struct followed by canary bytes the library must leave alone. */
#define CANARY 64
typedef struct guarded_result {
    mmrt_generate_result r;
    unsigned char canary[CANARY];
} guarded_result;
typedef struct guarded_info {
    mmrt_model_info info;
    unsigned char canary[CANARY];
} guarded_info;

static int untouched(const unsigned char *c) {
    for (int i = 0; i < CANARY; i++)
        if (c[i] != 0x5a) return 0;
    return 1;
}

typedef struct text {
    char buf[4096];
    size_t n;
} text;

static int on_token(const char *piece, size_t len, int32_t token, void *user) {
    (void)token;
    text *t = user;
    if (t->n + len < sizeof t->buf) {
        memcpy(t->buf + t->n, piece, len);
        t->n += len;
    }
    return 0;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: old_caller MODEL_DIR REFERENCE_JSON\n");
        return 2;
    }
    char *json = read_file(argv[2]);
    cJSON *ref = json ? cJSON_Parse(json) : NULL;
    free(json);
    const cJSON *prompts = cJSON_GetObjectItem(ref, "prompts");
    const cJSON *gen = cJSON_GetObjectItem(cJSON_GetObjectItem(ref, "generation"), "chat");
    const char *prompt = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(prompts, "raw"), "text"));
    const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(gen, "text_all_64"));
    if (!prompt || !want) {
        fprintf(stderr, "old_caller: %s: prompts.raw.text / generation.chat.text_all_64 missing\n", argv[2]);
        return 2;
    }

    mmrt_model_params mp;
    mmrt_model_params_init(&mp, sizeof mp);
    mp.n_threads = 1;
    mmrt_model *m = NULL;
    if (mmrt_model_load(argv[1], &mp, &m) != MMRT_OK) {
        fprintf(stderr, "old_caller: %s\n", mmrt_last_error());
        return 1;
    }
    guarded_info gi;
    memset(&gi, 0x5a, sizeof gi);
    gi.info.size = sizeof gi.info;
    check(mmrt_model_get_info(m, &gi.info) == MMRT_OK, "mmrt_model_get_info");
    check(gi.info.architecture && strcmp(gi.info.architecture, "llama") == 0, "info.architecture");
    check(gi.info.chat_format && strcmp(gi.info.chat_format, "jinja") == 0, "info.chat_format");
    check(!gi.info.vision, "info.vision");
    check(untouched(gi.canary), "nothing written past mmrt_model_info");

    mmrt_session_params sp;
    mmrt_session_params_init(&sp, sizeof sp);
    sp.n_ctx = 256;
    mmrt_session *s = NULL;
    check(mmrt_session_init(m, &sp, &s) == MMRT_OK, "mmrt_session_init");

    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = 64;
    gp.on_token = on_token;
    text got = {.n = 0};
    gp.user = &got;
    guarded_result gr;
    memset(&gr, 0x5a, sizeof gr);
    gr.r.size = sizeof gr.r;
    check(s && mmrt_session_generate(s, prompt, &gp, &gr.r) == MMRT_OK, "mmrt_session_generate");
    check(gr.r.n_generated == 64, "64 tokens generated");
    check(gr.r.stop_reason == MMRT_STOP_MAX_TOKENS, "stopped at max_tokens");
    check(untouched(gr.canary), "nothing written past mmrt_generate_result");
    /* the field this caller lacks (special) takes its default: special tokens not printed */
    check(got.n == strlen(want) && memcmp(got.buf, want, got.n) == 0, "transformers' greedy text");

    mmrt_session_free(s);
    mmrt_model_free(m);
    cJSON_Delete(ref);
    printf("old_caller: %s\n", n_failed ? "failed" : "ok");
    return n_failed ? 1 : 0;
}
