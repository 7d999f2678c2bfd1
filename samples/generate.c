/* A minimal program that links libmmrt and generates text:
 *
 *     ./build/samples/mmrt-sample-generate MODEL_DIR "prompt" [max_tokens]
 */
#include <mmrt.h>
#include <stdio.h>
#include <stdlib.h>

static int print_piece(const char *piece, size_t len, int32_t token, void *user) {
    (void)token;
    (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0; /* keep going */
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR PROMPT [MAX_TOKENS]\n", argv[0]);
        return 2;
    }
    mmrt_model *model = NULL;
    if (mmrt_model_load(argv[1], NULL, &model) != MMRT_OK) {
        fprintf(stderr, "error: %s\n", mmrt_last_error());
        return 1;
    }
    mmrt_session *session = NULL;
    if (mmrt_session_init(model, NULL, &session) != MMRT_OK) {
        fprintf(stderr, "error: %s\n", mmrt_last_error());
        mmrt_model_free(model);
        return 1;
    }
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = argc > 3 ? atoi(argv[3]) : 64;
    gp.on_token = print_piece;
    mmrt_generate_result r = {.size = sizeof r};
    int rc = 0;
    if (mmrt_session_generate(session, argv[2], &gp, &r) != MMRT_OK) {
        fprintf(stderr, "\nerror: %s\n", mmrt_session_last_error(session));
        rc = 1;
    } else {
        printf("\n");
        fprintf(stderr, "%d prompt tokens, %d generated\n", r.n_prompt_tokens, r.n_generated);
    }
    mmrt_session_free(session);
    mmrt_model_free(model);
    return rc;
}
