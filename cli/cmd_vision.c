/* mmrt caption / mmrt ask: images (and a question) in, text out. */
#define _POSIX_C_SOURCE 200809L /* strdup, clock_gettime, isatty */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h> /* strcasecmp */
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f, bool ask) {
    if (ask)
        fprintf(f, "usage: mmrt ask [options] IMAGE... QUESTION\n"
                   "       mmrt ask [options] AUDIO QUESTION\n"
                   "\n"
                   "Answers QUESTION about the images (all of them in one prompt, in order), streaming\n"
                   "the answer to stdout.\n"
                   "\n"
                   "With an audio file (WAV, FLAC, OGG, MP3, AIFF; told by its content) it answers about what is\n"
                   "said, in two passes with one model: the speech is transcribed (as mmrt transcribe does, the\n"
                   "adapter on), then the language model is asked \"Here is the transcript of an audio recording:\n"
                   "... QUESTION\" without the audio (adapter off). That needs a checkpoint whose language model\n"
                   "follows instructions: one with a LoRA adapter (default for audio %s);\n"
                   "those without one (granite-speech-4.x) are refused. --system is both passes' system message. The\n"
                   "speech models hear speech, not music or sounds.\n"
                   "      --transcript-tokens N  audio: tokens at most per 30 s window of the transcript (default 200)\n\n",
                   CLI_DEFAULT_SPEECH_ASK_MODEL);
    else
        fprintf(f, "usage: mmrt caption [options] IMAGE|DIR...\n"
                   "\n"
                   "Describes each image, streaming the caption to stdout. A directory stands for the\n"
                   "PNG, JPEG and WebP files in it (sorted by name); with several images each caption follows a\n"
                   "line '# FILE' and progress goes to stderr.\n\n");
    fprintf(f,
            "  -m, --model M          vision model directory or Hugging Face repo id\n"
            "                         (default %s)\n",
            CLI_DEFAULT_VISION_MODEL);
    if (!ask)
        fprintf(f, "      --prompt TEXT      what to ask for each image (default \"%s\")\n"
                   "  -l, --list FILE        also caption the images listed in FILE, one path per line\n"
                   "                         ('-' for standard input)\n",
                MMRT_CAPTION_PROMPT);
    fprintf(f,
            "      --no-split         encode each image as one tile (faster, less detail)\n"
            "      --max-pixels N     refuse images with more than N pixels (default 100000000)\n" CLI_GEN_HELP
            "      --json             one JSON object per %s (file, text, tokens, timings per stage)\n" CLI_COMMON_HELP
            "\n"
            "Images: PNG, JPEG and WebP (EXIF orientation applied). Each is resized and split into tiles as\n"
            "the checkpoint's image processor does.\n",
            ask ? "answer" : "image");
}

/* ---- the list of inputs -------------------------------------------------------------------- */

static bool push(cli_paths *l, const char *path) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **p = realloc(l->paths, cap * sizeof *p);
        if (!p) return false;
        l->paths = p;
        l->cap = cap;
    }
    return (l->paths[l->n] = strdup(path)) ? (l->n++, true) : false;
}

void cli_paths_free(cli_paths *l) {
    for (size_t i = 0; i < l->n; i++) free(l->paths[i]);
    free(l->paths);
}

static bool has_extension(const char *name, const char *const *exts) {
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && exts[i]; i++)
        if (strcasecmp(dot, exts[i]) == 0) return true;
    return false;
}

static const char *const image_exts[] = {".png", ".jpg", ".jpeg", ".webp", NULL};
static const char *const audio_exts[] = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", NULL};

bool cli_is_audio_file(const char *path) {
    unsigned char b[12] = {0};
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(b, 1, sizeof b, f) : 0;
    if (f) fclose(f);
    if (n == sizeof b) {
        if ((memcmp(b, "RIFF", 4) == 0 || memcmp(b, "RIFX", 4) == 0 || memcmp(b, "RF64", 4) == 0) &&
            memcmp(b + 8, "WAVE", 4) == 0)
            return true;
        if (memcmp(b, "fLaC", 4) == 0 || memcmp(b, "OggS", 4) == 0 || memcmp(b, "ID3", 3) == 0 ||
            (memcmp(b, "FORM", 4) == 0 && (memcmp(b + 8, "AIFF", 4) == 0 || memcmp(b + 8, "AIFC", 4) == 0)) ||
            (b[0] == 0xff && (b[1] & 0xe0) == 0xe0 && b[1] != 0xff)) /* an MPEG audio frame (JPEG: ff d8) */
            return true;
        if (memcmp(b, "\x89PNG", 4) == 0 || (b[0] == 0xff && b[1] == 0xd8) || memcmp(b + 8, "WEBP", 4) == 0)
            return false;
    }
    return has_extension(path, audio_exts);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

bool cli_paths_add(cli_paths *l, const char *path, bool audio) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return push(l, path) || (fprintf(stderr, "mmrt: out of memory\n"), false);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "mmrt: %s: %s\n", path, strerror(errno));
        return false;
    }
    size_t first = l->n;
    bool ok = true;
    for (struct dirent *e; ok && (e = readdir(d));) {
        if (e->d_name[0] == '.' || !has_extension(e->d_name, audio ? audio_exts : image_exts)) continue;
        size_t n = strlen(path) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        ok = p != NULL;
        if (ok) snprintf(p, n, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", e->d_name);
        ok = ok && push(l, p);
        free(p);
    }
    closedir(d);
    if (!ok) {
        fprintf(stderr, "mmrt: out of memory\n");
        return false;
    }
    if (l->n == first)
        fprintf(stderr, "mmrt: warning: %s: no %s files in this directory\n", path,
                audio ? ".wav, .flac, .ogg, .oga, .opus, .mp3, .aif or .aiff" : ".png, .jpg, .jpeg or .webp");
    else qsort(l->paths + first, l->n - first, sizeof *l->paths, cmp_str);
    return true;
}

static bool add_list_file(cli_paths *l, const char *file) {
    char *text = cli_read_text(file);
    if (!text) return false;
    bool ok = true;
    for (char *line = strtok(text, "\r\n"); ok && line; line = strtok(NULL, "\r\n"))
        if (line[0] != '\0' && line[0] != '#') ok = cli_paths_add(l, line, false);
    free(text);
    return ok;
}

/* ---- running ------------------------------------------------------------------------------- */

/* A tile counter on stderr while images are encoded, when stderr is a terminal. */
static int on_progress(mmrt_stage stage, int32_t done, int32_t total, void *user) {
    (void)user;
    if (stage == MMRT_STAGE_IMAGE_ENCODE && isatty(STDERR_FILENO))
        fprintf(stderr, "\rencoding image tile %d/%d%s", done, total, done == total ? "\r\033[K" : "");
    return 0;
}

/* "file": the first image; with several images also "files": all of them, in order. */
static void print_json(const mmrt_part *parts, size_t n_parts, const char *text, size_t n,
                       const mmrt_generate_result *r, const char *error) {
    size_t n_img = 0, first = 0;
    for (size_t i = n_parts; i-- > 0;)
        if (parts[i].type != MMRT_PART_TEXT) n_img++, first = i;
    printf("{\"file\": ");
    cli_json_string(stdout, parts[first].text, strlen(parts[first].text));
    if (n_img > 1) {
        printf(", \"files\": [");
        for (size_t i = 0, k = 0; i < n_parts; i++) {
            if (parts[i].type == MMRT_PART_TEXT) continue;
            if (k++) printf(", ");
            cli_json_string(stdout, parts[i].text, strlen(parts[i].text));
        }
        printf("]");
    }
    if (error) {
        printf(", \"error\": ");
        cli_json_string(stdout, error, strlen(error));
        printf("}\n");
        return;
    }
    printf(", \"text\": ");
    cli_json_string(stdout, text ? text : "", n);
    printf(", \"images\": %d, \"tiles\": %d, \"prompt_tokens\": %d, \"image_tokens\": %d, "
           "\"generated_tokens\": %d, \"stop_reason\": \"%s\", \"timings_ms\": {\"image_load\": %.3f, "
           "\"image_encode\": %.3f, \"prefill\": %.3f, \"decode\": %.3f}}\n",
           r->n_images, r->n_image_tiles, r->n_prompt_tokens, r->n_image_tokens, r->n_generated,
           cli_stop_name(r->stop_reason), r->image_load_ms, r->image_encode_ms, r->prefill_ms, r->decode_ms);
}

static void print_timings(const mmrt_generate_result *r) {
    int32_t n_dec = r->n_generated > 1 ? r->n_generated - 1 : 0;
    fprintf(stderr,
            "mmrt: %d image(s), %d tiles: load+preprocess %.1f ms, encode %.1f ms (%.1f ms/tile); prompt %d "
            "tokens (%d image) in %.1f ms (%.1f tok/s); generated %d tokens in %.1f ms (%.1f tok/s); stop: %s\n",
            r->n_images, r->n_image_tiles, r->image_load_ms, r->image_encode_ms,
            r->n_image_tiles ? r->image_encode_ms / r->n_image_tiles : 0.0, r->n_prompt_tokens, r->n_image_tokens,
            r->prefill_ms, r->n_prompt_tokens / (r->prefill_ms / 1e3 + 1e-12), r->n_generated, r->decode_ms,
            n_dec / (r->decode_ms / 1e3 + 1e-12), cli_stop_name(r->stop_reason));
}

/* One generation of image file parts and text; --json names the images. */
static bool run_one(mmrt_session *s, const cli_common *c, mmrt_generate_params gp, const mmrt_part *parts,
                    size_t n_parts) {
    cli_out out = {.json = c->json};
    gp.on_token = cli_on_token;
    gp.on_progress = on_progress;
    gp.user = &out;
    mmrt_generate_result r = {.size = sizeof r};
    mmrt_status st = mmrt_session_generate_parts(s, parts, n_parts, &gp, &r);
    if (st == MMRT_OK && out.oom) {
        fprintf(stderr, "mmrt: out of memory collecting the generated text\n");
        st = MMRT_ERR_OOM;
    } else if (st != MMRT_OK) {
        if (!c->json && r.n_generated > 0) fputc('\n', stdout);
        fflush(stdout);
        if (isatty(STDERR_FILENO)) fputs("\r\033[K", stderr); /* a tile counter left behind */
        fprintf(stderr, "mmrt: %s\n", mmrt_session_last_error(s));
        if (c->json) print_json(parts, n_parts, NULL, 0, &r, mmrt_session_last_error(s));
    } else if (c->json) {
        print_json(parts, n_parts, out.text, out.n, &r, NULL);
    } else {
        fputc('\n', stdout);
    }
    fflush(stdout);
    if (st == MMRT_OK && c->verbose) print_timings(&r);
    free(out.text);
    return st == MMRT_OK;
}

static int run(bool ask, int argc, char **argv) {
    const char *cmd = ask ? "ask" : "caption";
    cli_common c = {.model = NULL}; /* NULL: the default for the inputs' kind */
    cli_gen g;
    long transcript_tokens = 200;
    cli_gen_init(&g);
    const char *prompt = MMRT_CAPTION_PROMPT;
    cli_paths images = {0};
    /* positional arguments: argv entries, in order (at most argc) */
    const char **positional = calloc((size_t)argc, sizeof *positional);
    int n_pos = 0;
    int rc = CLI_EXIT_USAGE;
    bool options_done = false; /* after "--" everything is positional */
    if (!positional) {
        fprintf(stderr, "mmrt: out of memory\n");
        return CLI_EXIT_RUNTIME;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
        if (options_done || a[0] != '-' || a[1] == '\0') {
            positional[n_pos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        int r = cli_parse_common(argc, argv, &i, &c);
        if (r == 0) r = cli_parse_gen(cmd, argc, argv, &i, &g);
        if (r < 0) goto done;
        if (r > 0) continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout, ask);
            rc = CLI_EXIT_OK;
            goto done;
        }
        if (strcmp(a, "--no-split") == 0) {
            g.gp.no_split = true;
        } else if (strcmp(a, "--max-pixels") == 0) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_int(a, v, 1, 0x7fffffffL, &n)) goto done;
            g.gp.max_pixels = n;
        } else if (ask && strcmp(a, "--transcript-tokens") == 0) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_parse_int(a, v, 1, 1 << 24, &transcript_tokens)) goto done;
        } else if (!ask && strcmp(a, "--prompt") == 0) {
            if (!(prompt = cli_value(argc, argv, &i))) goto done;
        } else if (!ask && (strcmp(a, "-l") == 0 || strcmp(a, "--list") == 0)) {
            if (!(v = cli_value(argc, argv, &i))) goto done;
            if (!add_list_file(&images, v)) {
                rc = CLI_EXIT_RUNTIME;
                goto done;
            }
        } else {
            cli_usage_error(cmd, "unknown option %s (put -- before file names that start with -)", a);
            goto done;
        }
    }
    int n_images = ask ? n_pos - 1 : n_pos;
    if (ask && n_pos < 2) {
        cli_usage_error(cmd, "give one or more images and then the question");
        goto done;
    }
    if (!ask && n_pos == 0 && images.n == 0) {
        cli_usage_error(cmd, "give one or more images, directories or --list FILE");
        goto done;
    }
    /* audio goes to the speech path (cli/cmd_transcribe.c): one file, transcribed, then asked about */
    for (int k = 0; ask && k < n_images; k++) {
        if (!cli_is_audio_file(positional[k])) continue;
        if (n_images > 1) {
            cli_usage_error(cmd, "give one audio file and then the question (%s is audio)", positional[k]);
            goto done;
        }
        rc = cli_ask_audio(&c, &g, positional[0], positional[1], transcript_tokens);
        goto done;
    }
    if (!c.model) c.model = CLI_DEFAULT_VISION_MODEL;
    rc = CLI_EXIT_RUNTIME;
    for (int k = 0; k < n_images; k++)
        if (!cli_paths_add(&images, positional[k], false)) goto done;
    if (images.n == 0) {
        fprintf(stderr, "mmrt: no images to %s\n", cmd);
        goto done;
    }

    mmrt_model *model = NULL;
    mmrt_session *s = NULL;
    if (g.gp.max_tokens == 0 && !c.json) {
        rc = CLI_EXIT_OK;
        goto done;
    }
    if (!(model = cli_load_model(&c))) goto done;
    mmrt_model_info info = {.size = sizeof info};
    if (mmrt_model_get_info(model, &info) == MMRT_OK && !info.vision) {
        fprintf(stderr, "mmrt: %s is a text model (%s): %s needs a vision model such as %s\n", c.model,
                info.architecture, cmd, CLI_DEFAULT_VISION_MODEL);
        mmrt_model_free(model);
        goto done;
    }
    if (mmrt_session_init(model, &g.sp, &s) != MMRT_OK) {
        fprintf(stderr, "mmrt: %s\n", mmrt_last_error());
        mmrt_model_free(model);
        goto done;
    }
    rc = CLI_EXIT_OK;
    if (ask) {
        mmrt_part *parts = calloc(images.n + 1, sizeof *parts);
        if (!parts) {
            fprintf(stderr, "mmrt: out of memory\n");
            rc = CLI_EXIT_RUNTIME;
        } else {
            for (size_t k = 0; k < images.n; k++) parts[k] = mmrt_image_file_part(images.paths[k]);
            parts[images.n] = mmrt_text_part(positional[n_pos - 1]);
            if (!run_one(s, &c, g.gp, parts, images.n + 1)) rc = CLI_EXIT_RUNTIME;
            free(parts);
        }
    } else {
        size_t n_failed = 0;
        double t0 = cli_now_s();
        for (size_t k = 0; k < images.n; k++) {
            if (images.n > 1) {
                double el = cli_now_s() - t0;
                fprintf(stderr, "[%zu/%zu] %s", k + 1, images.n, images.paths[k]);
                if (k > 0) fprintf(stderr, " (%.1f s per image, about %.0f s left)", el / (double)k,
                                   el / (double)k * (double)(images.n - k));
                fputc('\n', stderr);
                if (!c.json) printf("# %s\n", images.paths[k]);
                fflush(stdout); /* the header before any message about this image */
            }
            mmrt_part parts[2] = {mmrt_image_file_part(images.paths[k]), mmrt_text_part(prompt)};
            if (!run_one(s, &c, g.gp, parts, 2)) n_failed++;
            if (images.n > 1 && !c.json) putchar('\n');
            fflush(stdout);
        }
        if (n_failed > 0) {
            if (images.n > 1) fprintf(stderr, "mmrt: %zu of %zu images failed\n", n_failed, images.n);
            rc = CLI_EXIT_RUNTIME;
        }
    }
    mmrt_session_free(s);
    mmrt_model_free(model);
done:
    cli_paths_free(&images);
    free(positional);
    return rc;
}

int cmd_caption(int argc, char **argv) { return run(false, argc, argv); }
int cmd_ask(int argc, char **argv) { return run(true, argc, argv); }
