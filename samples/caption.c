/* Captions an image through libmmrt, as a media application would: the image comes in as an RGB
 * pixel buffer (here: read from a binary PPM made by any decoder) or as a file, and progress is
 * shown while the vision encoder runs.
 *
 *     ./build/samples/mmrt-sample-caption MODEL IMAGE [QUESTION]
 *
 * MODEL is a model directory or a repo id (HuggingFaceTB/SmolVLM-256M-Instruct). IMAGE is a PNG or
 * JPEG file, or a binary PPM (P6, 8-bit) whose pixels are handed over as a buffer.
 */
#include <mmrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int print_piece(const char *piece, size_t len, int32_t token, void *user) {
    (void)token;
    (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0; /* keep going */
}

static int show_progress(mmrt_stage stage, int32_t done, int32_t total, void *user) {
    (void)user;
    if (stage == MMRT_STAGE_IMAGE_ENCODE) fprintf(stderr, "\rencoding tile %d of %d%s", done, total, done == total ? "\n" : "");
    return 0; /* non-zero would cancel */
}

/* A binary PPM's pixels (P6, maxval 255), or NULL. */
static unsigned char *read_ppm(const char *path, int *w, int *h) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    int maxval = 0;
    unsigned char *px = NULL;
    if (fscanf(f, "P6 %d %d %d", w, h, &maxval) == 3 && maxval == 255 && *w > 0 && *h > 0 &&
        *w < 65536 && *h < 65536 && fgetc(f) != EOF) {
        size_t n = (size_t)*w * (size_t)*h * 3;
        px = malloc(n);
        if (px && fread(px, 1, n, f) != n) {
            free(px);
            px = NULL;
        }
    }
    fclose(f);
    return px;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL IMAGE [QUESTION]\n", argv[0]);
        return 2;
    }
    const char *path = argv[2];
    mmrt_part image = mmrt_image_file_part(path);
    unsigned char *pixels = NULL;
    size_t len = strlen(path);
    if (len > 4 && strcmp(path + len - 4, ".ppm") == 0) {
        int w, h;
        if (!(pixels = read_ppm(path, &w, &h))) {
            fprintf(stderr, "error: %s: not a binary 8-bit PPM\n", path);
            return 1;
        }
        image = mmrt_image_pixels_part(pixels, w, h, 3, 0);
        image.text = path; /* names the image in error messages */
    }

    mmrt_model *model = NULL;
    if (mmrt_model_load(argv[1], NULL, &model) != MMRT_OK) {
        fprintf(stderr, "error: %s\n", mmrt_last_error());
        free(pixels);
        return 1;
    }
    mmrt_session *session = NULL;
    if (mmrt_session_init(model, NULL, &session) != MMRT_OK) {
        fprintf(stderr, "error: %s\n", mmrt_last_error());
        mmrt_model_free(model);
        free(pixels);
        return 1;
    }
    mmrt_generate_params gp;
    mmrt_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = 128;
    gp.on_token = print_piece;
    gp.on_progress = show_progress;
    mmrt_generate_result r = {.size = sizeof r};
    mmrt_status st = argc > 3 ? mmrt_session_ask(session, &image, argv[3], &gp, &r)
                              : mmrt_session_caption(session, &image, &gp, &r);
    int rc = 0;
    if (st != MMRT_OK) {
        fprintf(stderr, "\nerror: %s\n", mmrt_session_last_error(session));
        rc = 1;
    } else {
        printf("\n");
        fprintf(stderr, "%d tiles encoded in %.0f ms; %d prompt tokens; %d generated in %.0f ms\n",
                r.n_image_tiles, r.image_encode_ms, r.n_prompt_tokens, r.n_generated, r.decode_ms);
    }
    mmrt_session_free(session);
    mmrt_model_free(model);
    free(pixels);
    return rc;
}
