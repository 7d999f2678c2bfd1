#include "bench_vision.h"

#include "bench_common.h"
#include "gemm_peak.h"
#include "op_profile.h"

#include "core/backend.h"
#include "core/cpu/simd.h"
#include "vision/siglip.h"
#include "vision/smolvlm_preprocess.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define VISION_PREFIX "model.vision_model."
#define PEAK_CALLS_PER_SLOT 2 /* timed GEMM calls per shape and way between two encode reps */

typedef struct vision_results {
    char cpu[128];
    const char *simd;
    bool has_bf16;
    gemm_peak f32, bf16;
    double load_s;
    double encode_best_s, encode_mean_s; /* one call of n_tiles tiles */
    double flops_per_tile;
    double pp_best_s, pp_mean_s;
    mmrt_smolvlm_pp_out pp; /* the last preprocessing result: grid and tile count */
    double others_cores;
    double profile_s;
    double peak_rss_mib;
} vision_results;

/* Multiply-adds × 2 of one tile: the patch embedding (a matmul over C·p·p columns), and per layer
 * the q/k/v/out projections, fc1 and fc2, and attention's QKᵀ and PV over all n_patch keys.
 * Biases, norms, GELU and softmax are left out (a few % of a GEMM's time at most). */
static double vit_flops_per_tile(const mmrt_siglip_hparams *hp) {
    double np = (double)hp->n_patch, d = (double)hp->n_embd, ff = (double)hp->n_ff;
    double embed = 2.0 * np * d * (double)(hp->n_chan * hp->patch * hp->patch);
    double layer = 2.0 * np * d * d * 4 + 2.0 * np * d * ff * 2 + 4.0 * np * np * d;
    return embed + (double)hp->n_layer * layer;
}

/* A photo-like RGB image: smooth gradients plus a little noise (so resampling has work to do). */
static mmrt_image make_photo(int32_t w, int32_t h) {
    mmrt_error err = {0};
    size_t n = (size_t)w * (size_t)h * 3;
    uint8_t *px = malloc(n);
    if (!px) bench_die("out of memory for the photo", NULL);
    uint64_t x = 0x2545F4914F6CDD1Du;
    for (int32_t y = 0; y < h; y++)
        for (int32_t i = 0; i < w; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint8_t *p = px + ((size_t)y * (size_t)w + (size_t)i) * 3;
            p[0] = (uint8_t)((i * 255 / w + (x & 15)) & 255);
            p[1] = (uint8_t)((y * 255 / h + ((x >> 8) & 15)) & 255);
            p[2] = (uint8_t)(((i + y) * 127 / (w + h) + ((x >> 16) & 31)) & 255);
        }
    mmrt_image img;
    if (mmrt_image_from_pixels(px, w, h, 3, (size_t)w * 3, &img, &err) != MMRT_OK) bench_die("photo", &err);
    free(px);
    return img;
}

static void time_preprocess(const bench_vision_opts *o, const mmrt_smolvlm_pp_config *cfg,
                            vision_results *r) {
    mmrt_error err = {0};
    mmrt_image img = make_photo(o->image_w, o->image_h);
    double sum = 0;
    for (int i = 0; i <= o->reps; i++) { /* i == 0: warm-up */
        mmrt_smolvlm_pp_out_free(&r->pp);
        double t0 = bench_now_s();
        if (mmrt_smolvlm_preprocess(&img, cfg, &r->pp, &err) != MMRT_OK) bench_die("preprocessing", &err);
        double t = bench_now_s() - t0;
        if (i == 0) continue;
        sum += t;
        if (r->pp_best_s == 0 || t < r->pp_best_s) r->pp_best_s = t;
    }
    r->pp_mean_s = sum / o->reps;
    mmrt_image_free(&img);
}

/* The peaks are sampled before and after every encode rep, so that both see the same other load. */
static void sample_peaks(const bench_vision_opts *o, vision_results *r) {
    gemm_peak_sample(&r->f32, false, o->n_threads, PEAK_CALLS_PER_SLOT);
    if (r->has_bf16) gemm_peak_sample(&r->bf16, true, o->n_threads, PEAK_CALLS_PER_SLOT);
}

static void time_encode(const bench_vision_opts *o, const mmrt_siglip *enc, mmrt_backend *be,
                        vision_results *r) {
    mmrt_error err = {0};
    const mmrt_siglip_hparams *hp = &enc->hp;
    size_t n_in = (size_t)o->n_tiles * (size_t)(hp->n_chan * hp->image * hp->image);
    size_t n_out = (size_t)o->n_tiles * (size_t)(hp->n_patch * hp->n_embd);
    float *pixels = malloc(sizeof(float) * n_in), *out = malloc(sizeof(float) * n_out);
    if (!pixels || !out) bench_die("out of memory for the tiles", NULL);
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < n_in; i++) { /* normalised pixels lie in [-1, 1] */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        pixels[i] = (float)(x >> 40) / (float)(1 << 23) - 1.0f;
    }
    if (mmrt_siglip_encode(enc, be, pixels, o->n_tiles, out, &err) != MMRT_OK) bench_die("encode", &err);
    sample_peaks(o, r);
    double sum = 0, others_s = 0, reps_s = 0;
    for (int i = 0; i < o->reps; i++) {
        bench_load l0 = bench_load_now();
        if (mmrt_siglip_encode(enc, be, pixels, o->n_tiles, out, &err) != MMRT_OK) bench_die("encode", &err);
        bench_load l1 = bench_load_now();
        double t = l1.wall - l0.wall, others = bench_load_others(l0, l1);
        others_s = others < 0 || others_s < 0 ? -1 : others_s + others * t;
        reps_s += t;
        sum += t;
        if (r->encode_best_s == 0 || t < r->encode_best_s) r->encode_best_s = t;
        sample_peaks(o, r);
    }
    r->encode_mean_s = sum / o->reps;
    r->others_cores = others_s < 0 ? -1 : others_s / reps_s;
    if (o->profile) {
        op_profile_install(be);
        op_profile_name(hp->n_embd, hp->n_embd, "q k v out");
        op_profile_name(hp->n_embd, hp->n_chan * hp->patch * hp->patch, "patch");
        op_profile_name(hp->n_ff, hp->n_embd, "fc1");
        op_profile_name(hp->n_embd, hp->n_ff, "fc2");
        op_profile_record(true);
        double t0 = bench_now_s();
        if (mmrt_siglip_encode(enc, be, pixels, o->n_tiles, out, &err) != MMRT_OK) bench_die("encode", &err);
        r->profile_s = bench_now_s() - t0;
        op_profile_record(false);
        op_profile_remove(be);
    }
    free(pixels);
    free(out);
}

static double tile_gflops(const bench_vision_opts *o, const vision_results *r) {
    return r->flops_per_tile * o->n_tiles / r->encode_best_s / 1e9;
}

static void print_peak_text(const char *what, const gemm_peak *pk, int n_threads, const char *why_not) {
    if (!pk->available) {
        printf("  %-18s not available (%s)\n", what, why_not);
        return;
    }
    printf("  %-18s %9.1f GFLOP/s  best of the shapes below, %d threads, sampled between the encode reps\n", what, pk->gflops, n_threads);
    if (pk->own_kernel) printf("    (OpenBLAS has no sbgemm: the bench's own AVX512-BF16 GEMM, bench/gemm_bf16.c)\n");
    for (int i = 0; i < pk->n_shapes; i++) {
        const gemm_rate *g = &pk->shapes[i];
        if (pk->own_kernel)
            printf("    %4dx%4dx%-4d      vdpbf16ps blocks %6.1f GFLOP/s\n", g->m, g->n, g->k, g->blocks_gflops);
        else
            printf("    %4dx%4dx%-4d      openblas %6.1f   omp blocks %6.1f GFLOP/s\n", g->m, g->n, g->k,
                   g->openblas_gflops, g->blocks_gflops);
    }
}

static void print_text(const bench_vision_opts *o, const mmrt_siglip *enc, const vision_results *r) {
    const mmrt_siglip_hparams *hp = &enc->hp;
    double per_tile = r->encode_best_s / o->n_tiles, gf = tile_gflops(o, r);
    printf("mmrt-bench --vision  %s\n", o->model);
    printf("  cpu                %s; SIMD %s, avx512_bf16 %s\n", r->cpu, r->simd, r->has_bf16 ? "yes" : "no");
    printf("  blas               %s\n", gemm_blas_config());
    printf("  math               %s\n", o->math);
    printf("  vision encoder     %lld layers, n_embd %lld, n_ff %lld, %lld heads, tile %lld, patch %lld (%lld patches), %s; loaded in %.2f s\n",
           (long long)hp->n_layer, (long long)hp->n_embd, (long long)hp->n_ff, (long long)hp->n_head,
           (long long)hp->image, (long long)hp->patch, (long long)hp->n_patch,
           mmrt_dtype_name(enc->layers[0].wq.type), r->load_s);
    printf("  run                %d threads, %d tile%s per encode call, %d reps\n\n", o->n_threads,
           o->n_tiles, o->n_tiles == 1 ? "" : "s", o->reps);
    print_peak_text("f32 GEMM peak", &r->f32, o->n_threads, "");
    print_peak_text("bf16 GEMM peak", &r->bf16, o->n_threads,
                    r->has_bf16 ? "the loaded OpenBLAS exports no cblas_sbgemm" : "the CPU has no AVX512-BF16");
    printf("  ViT encode         %9.1f ms/tile   best rep (mean %.1f)\n", 1e3 * per_tile,
           1e3 * r->encode_mean_s / o->n_tiles);
    printf("  ViT FLOPs          %9.1f GFLOP/tile\n", r->flops_per_tile / 1e9);
    printf("  ViT rate           %9.1f GFLOP/s\n", gf);
    printf("  of f32 peak        %9.1f %%        target >= 50 %%\n", 100 * gf / r->f32.gflops);
    if (r->bf16.available) printf("  of bf16 peak       %9.1f %%\n", 100 * gf / r->bf16.gflops);
    printf("  preprocess         %9.1f ms/image  %dx%d RGB -> %dx%d grid + global = %d tiles of %d (mean %.1f)\n",
           1e3 * r->pp_best_s, o->image_w, o->image_h, r->pp.n_rows, r->pp.n_cols, r->pp.n_tiles,
           r->pp.tile, 1e3 * r->pp_mean_s);
    printf("  image estimate     %9.1f ms        preprocess + %d tiles x ViT encode\n",
           1e3 * (r->pp_best_s + r->pp.n_tiles * per_tile), r->pp.n_tiles);
    printf("  peak RSS           %9.1f MiB\n", r->peak_rss_mib);
    if (r->others_cores >= 0)
        printf("  other load         %9.2f cores    used by other processes during the encode reps%s\n",
               r->others_cores, r->others_cores > 0.1 * o->n_threads ? ": figures disturbed, rerun when idle" : "");
    if (o->profile) op_profile_print_text(stdout, "tile", o->n_tiles, r->profile_s);
}

static void print_peak_json(const char *key, const gemm_peak *pk) {
    if (!pk->available) {
        printf("  \"%s\": null,\n", key);
        return;
    }
    printf("  \"%s\": {\"gflop_s\": %.2f, \"kernel\": \"%s\", \"shapes\": [", key, pk->gflops,
           pk->own_kernel ? "bench/gemm_bf16.c" : "openblas");
    for (int i = 0; i < pk->n_shapes; i++) {
        const gemm_rate *g = &pk->shapes[i];
        printf("%s{\"m\": %d, \"n\": %d, \"k\": %d, \"openblas\": %.2f, \"omp_blocks\": %.2f}",
               i ? ", " : "", g->m, g->n, g->k, g->openblas_gflops, g->blocks_gflops);
    }
    printf("]},\n");
}

static void print_json(const bench_vision_opts *o, const vision_results *r) {
    double per_tile = r->encode_best_s / o->n_tiles, gf = tile_gflops(o, r);
    printf("{\n");
    bench_json_str("model", o->model);
    bench_json_str("cpu", r->cpu);
    bench_json_str("blas", gemm_blas_config());
    bench_json_str("math", o->math);
    printf("  \"simd\": \"%s\",\n  \"avx512_bf16\": %s,\n  \"threads\": %d,\n  \"tiles_per_call\": %d,\n  \"reps\": %d,\n",
           r->simd, r->has_bf16 ? "true" : "false", o->n_threads, o->n_tiles, o->reps);
    print_peak_json("gemm_peak_f32", &r->f32);
    print_peak_json("gemm_peak_bf16", &r->bf16);
    printf("  \"vit_ms_per_tile\": %.3f,\n  \"vit_ms_per_tile_mean\": %.3f,\n", 1e3 * per_tile,
           1e3 * r->encode_mean_s / o->n_tiles);
    printf("  \"vit_gflop_per_tile\": %.3f,\n  \"vit_gflop_s\": %.2f,\n  \"vit_fraction_of_f32_peak\": %.4f,\n",
           r->flops_per_tile / 1e9, gf, gf / r->f32.gflops);
    printf("  \"image_w\": %d,\n  \"image_h\": %d,\n  \"preprocess_tiles\": %d,\n", o->image_w,
           o->image_h, r->pp.n_tiles);
    printf("  \"preprocess_ms\": %.3f,\n  \"preprocess_ms_mean\": %.3f,\n", 1e3 * r->pp_best_s, 1e3 * r->pp_mean_s);
    printf("  \"peak_rss_mib\": %.1f,\n  \"other_load_cores\": %.2f", r->peak_rss_mib, r->others_cores);
    if (o->profile) {
        printf(",\n");
        op_profile_print_json(stdout, "tile", o->n_tiles, r->profile_s);
    }
    printf("\n}\n");
}

int bench_vision_run(const bench_vision_opts *o) {
    vision_results r = {0};
    mmrt_error err = {0};
    bench_cpu_name(r.cpu, sizeof r.cpu);
    mmrt_simd_detect(&r.has_bf16);
    r.simd = mmrt_simd_level_name(mmrt_simd_level_get());

    double t0 = bench_now_s();
    char config[4200];
    snprintf(config, sizeof config, "%s/config.json", o->model);
    mmrt_weights *w = NULL;
    mmrt_siglip enc;
    if (mmrt_weights_open(o->model, &w, &err) != MMRT_OK) bench_die("weights", &err);
    if (mmrt_siglip_init(&enc, config, w, VISION_PREFIX, &err) != MMRT_OK) bench_die("vision encoder", &err);
    r.load_s = bench_now_s() - t0;
    mmrt_smolvlm_pp_config pp_cfg;
    if (mmrt_smolvlm_pp_config_load(o->model, &pp_cfg, &err) != MMRT_OK) bench_die("processor config", &err);
    r.flops_per_tile = vit_flops_per_tile(&enc.hp);

    mmrt_backend *be = NULL;
    mmrt_backend_params bp = {.device = MMRT_DEVICE_KIND_CPU, .n_threads = o->n_threads, .math = o->math_kind};
    if (mmrt_backend_init(&bp, &be, &err) != MMRT_OK) bench_die("backend", &err);
    time_encode(o, &enc, be, &r);
    time_preprocess(o, &pp_cfg, &r);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r.peak_rss_mib = (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
    if (o->json) print_json(o, &r);
    else print_text(o, &enc, &r);

    mmrt_smolvlm_pp_out_free(&r.pp);
    mmrt_backend_free(be);
    mmrt_siglip_free(&enc);
    mmrt_weights_free(w);
    return 0;
}
