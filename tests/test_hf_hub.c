/* Hugging Face hub client (core/hf_hub.c) against tests/hf_server.py, a local stand-in for the hub
 * and its CDN: cache layout as huggingface_hub writes it, cache-first reads without network,
 * resumed downloads, auth, and every error path. Plus SHA-256 on the FIPS 180-4 vectors. */
#include "core/hf_download.h"
#include "core/hf_hub.h"
#include "core/json.h"
#include "core/sha256.h"
#include "helpers/tmpdir.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SERVER_SCRIPT MMRT_SOURCE_DIR "/tests/hf_server.py"
#define TINY "mmrt-test/tiny"

/* ---- fixture: a temp dir, a clean environment, and the server ----------------------------- */

static char *g_tmp;   /* per-test temp dir */
static char *g_cache; /* <tmp>/cache */
static char g_endpoint[64];
static pid_t g_server = -1;
static int g_n_server; /* servers started in this test (names their files) */
static char *g_log;    /* log of the running server */
static cJSON *g_manifest;

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    char *s = strdup(buf);
    cr_assert(s != NULL);
    return s;
}

static void setup(void) {
    g_tmp = tmpdir_make("hfhub");
    g_cache = tmpdir_path(g_tmp, "cache");
    /* Only what the test sets may steer the client: no real token, cache, endpoint or proxy. */
    static const char *const unset[] = {
        "HF_TOKEN",       "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH",
        "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",   "HF_ENDPOINT",
        "HF_HUB_CACHE",   "HUGGINGFACE_HUB_CACHE",  "XDG_CACHE_HOME"};
    for (size_t i = 0; i < sizeof unset / sizeof *unset; i++) unsetenv(unset[i]);
    char *home = tmpdir_mkdir(g_tmp, "hfhome");
    setenv("HF_HOME", home, 1);
    free(home);
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    setenv("no_proxy", "127.0.0.1,localhost", 1);
}

static void server_stop(void) {
    if (g_server > 0) {
        kill(g_server, SIGTERM);
        waitpid(g_server, NULL, 0);
        g_server = -1;
    }
}

static void teardown(void) {
    server_stop();
    cJSON_Delete(g_manifest);
    g_manifest = NULL;
    free(g_log);
    free(g_cache);
    tmpdir_remove(g_tmp);
}

TestSuite(hf_hub, .init = setup, .fini = teardown, .timeout = 120);

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    cr_assert(buf != NULL);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Starts hf_server.py with extra arguments (NULL-terminated list) and waits for its port. */
static void server_start(const char *const *extra) {
    server_stop();
    g_n_server++;
    char *port_file = fmt("%s/port.%d", g_tmp, g_n_server);
    char *manifest = fmt("%s/manifest.%d.json", g_tmp, g_n_server);
    free(g_log);
    g_log = fmt("%s/server.%d.log", g_tmp, g_n_server);
    const char *argv[32] = {"python3",    SERVER_SCRIPT, "--port-file",     port_file,
                            "--log-file", g_log,         "--manifest-file", manifest};
    int argc = 8;
    for (; extra && *extra && argc < 31; extra++) argv[argc++] = *extra;
    argv[argc] = NULL;
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork failed: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    g_server = pid;
    char *port = NULL;
    for (int i = 0; i < 1000 && !(port = read_text(port_file)); i++) {
        int status;
        cr_assert(waitpid(pid, &status, WNOHANG) == 0, "hf_server.py exited early (status %d)",
                  status);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cr_assert(port != NULL, "hf_server.py did not write %s within 10 s", port_file);
    snprintf(g_endpoint, sizeof g_endpoint, "http://127.0.0.1:%d", atoi(port));
    free(port);
    char *mtext = read_text(manifest);
    cr_assert(mtext != NULL);
    cJSON_Delete(g_manifest);
    g_manifest = cJSON_Parse(mtext);
    cr_assert(g_manifest != NULL, "bad manifest %s", manifest);
    free(mtext);
    free(port_file);
    free(manifest);
}

static const char *manifest_commit(const char *repo) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(g_manifest, repo);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(r, "commit");
    cr_assert(cJSON_IsString(c), "manifest has no commit for %s", repo);
    return c->valuestring;
}

static const cJSON *manifest_file(const char *repo, const char *file) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(g_manifest, repo);
    const cJSON *f =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "files"), file);
    cr_assert(f != NULL, "manifest has no %s in %s", file, repo);
    return f;
}

static const char *manifest_str(const char *repo, const char *file, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(manifest_file(repo, file), key);
    cr_assert(cJSON_IsString(v));
    return v->valuestring;
}

static long manifest_size(const char *repo, const char *file) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(manifest_file(repo, file), "size");
    cr_assert(cJSON_IsNumber(v));
    return (long)v->valuedouble;
}

/* The server log so far ("" when nothing was requested). Caller frees. */
static char *server_log(void) {
    char *t = read_text(g_log);
    return t ? t : strdup("");
}

static int count_lines(const char *text) {
    int n = 0;
    for (; *text; text++) n += *text == '\n';
    return n;
}

static mmrt_hub_params params(void) {
    mmrt_hub_params p = mmrt_hub_default_params();
    p.endpoint = g_endpoint;
    p.cache_dir = g_cache;
    p.token = ""; /* none unless a test asks */
    p.progress = false;
    return p;
}

/* "<cache>/models--org--name/<rel>" */
static char *repo_path(const char *folder, const char *rel) {
    return fmt("%s/%s%s%s", g_cache, folder, rel[0] ? "/" : "", rel);
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static bool lexists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

static void assert_sha256(const char *path, const char *want) {
    char got[MMRT_SHA256_HEX_LEN];
    mmrt_error err = {0};
    cr_assert_eq(mmrt_sha256_file(path, got, &err), MMRT_OK, "%s", err.msg);
    cr_assert_str_eq(got, want, "%s: content differs from the server's", path);
}

static mmrt_error g_err; /* the message of the last fetch */

/* Fetches repo and asserts success; returns the snapshot dir (caller frees). */
static char *fetch_ok(const char *repo, const mmrt_hub_params *p) {
    char *dir = NULL;
    mmrt_error_clear(&g_err);
    mmrt_status st = mmrt_hub_fetch_model(repo, p, &dir, &g_err);
    cr_assert_eq(st, MMRT_OK, "%s: %s (%s)", repo, mmrt_status_str(st), g_err.msg);
    cr_assert(dir != NULL, "%s: no directory", repo);
    return dir;
}

/* Fetches repo and asserts it fails with `want` and no directory; the message is in g_err. */
static void fetch_fails(const char *repo, const mmrt_hub_params *p, mmrt_status want) {
    char *dir = g_tmp; /* must be reset to NULL */
    mmrt_error_clear(&g_err);
    mmrt_status st = mmrt_hub_fetch_model(repo, p, &dir, &g_err);
    cr_assert_eq(st, want, "%s: got %s (%s), expected %s", repo, mmrt_status_str(st), g_err.msg,
                 mmrt_status_str(want));
    cr_assert_null(dir, "%s: a directory was returned on failure", repo);
}

/* Asserts that the last message contains every one of the NULL-terminated strings. */
static void assert_msg(const char *first, ...) {
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        cr_assert(strstr(g_err.msg, s) != NULL, "the message lacks \"%s\": %s", s, g_err.msg);
    va_end(ap);
}

/* ---- SHA-256 ----------------------------------------------------------------------------- */

Test(hf_hub, sha256_fips_180_vectors) {
    static const struct {
        const char *msg, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrl"
         "mnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char hex[MMRT_SHA256_HEX_LEN];
    mmrt_error err = {0};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        cr_assert_eq(mmrt_sha256_buf(v[i].msg, strlen(v[i].msg), hex, &err), MMRT_OK, "%s",
                     err.msg);
        cr_assert_str_eq(hex, v[i].hex, "vector %zu (\"%s\")", i, v[i].msg);
    }
    /* one million 'a', from memory and from a file (read in chunks) */
    static const char *const million_a =
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    char *a = malloc(1000000);
    cr_assert(a != NULL);
    memset(a, 'a', 1000000);
    cr_assert_eq(mmrt_sha256_buf(a, 1000000, hex, &err), MMRT_OK, "%s", err.msg);
    cr_assert_str_eq(hex, million_a);
    char *path = tmpdir_write(g_tmp, "a.bin", a, 1000000);
    cr_assert_eq(mmrt_sha256_file(path, hex, &err), MMRT_OK, "%s", err.msg);
    cr_assert_str_eq(hex, million_a);
    cr_assert_eq(mmrt_sha256_file("/nonexistent/x", hex, &err), MMRT_ERR_IO);
    cr_assert(strstr(err.msg, "/nonexistent/x") != NULL, "%s", err.msg);
    free(a);
    free(path);
}

/* ---- pure functions ---------------------------------------------------------------------- */

Test(hf_hub, repo_id_shape) {
    static const char *const yes[] = {"HuggingFaceTB/SmolLM2-135M-Instruct", "gpt2", "org/name.v1",
                                      "a_b/c-d"};
    static const char *const no[] = {
        "",         "/abs/path", "a/b/c",        "org/",      "/name", "org/-x", "org/x-",
        "org/a--b", "org/a..b",  "org/name.git", "org/na me", "./x",   NULL};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        cr_assert(mmrt_hub_is_repo_id(yes[i]), "\"%s\" should be a repo id", yes[i]);
    for (size_t i = 0; no[i]; i++)
        cr_assert(!mmrt_hub_is_repo_id(no[i]), "\"%s\" should not be a repo id", no[i]);
    cr_assert(!mmrt_hub_is_repo_id(NULL));
    /* an existing local path wins over the repo-id reading */
    char *org = tmpdir_mkdir(g_tmp, "org/name");
    cr_assert_eq(chdir(g_tmp), 0);
    cr_assert(!mmrt_hub_is_repo_id("org/name"), "an existing directory is not a repo id");
    cr_assert(mmrt_hub_is_repo_id("org/other"));
    free(org);
}

Test(hf_hub, cache_dir_environment_chain) {
    char *got;
    setenv("HOME", "/home/u", 1);
    unsetenv("HF_HOME");
    cr_assert_str_eq(got = mmrt_hub_cache_dir(NULL), "/home/u/.cache/huggingface/hub");
    free(got);
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    cr_assert_str_eq(got = mmrt_hub_cache_dir(NULL), "/xdg/huggingface/hub");
    free(got);
    setenv("HF_HOME", "/hfhome", 1);
    cr_assert_str_eq(got = mmrt_hub_cache_dir(NULL), "/hfhome/hub");
    free(got);
    setenv("HF_HUB_CACHE", "~/hubcache", 1);
    cr_assert_str_eq(got = mmrt_hub_cache_dir(NULL), "/home/u/hubcache");
    free(got);
    mmrt_hub_params p = mmrt_hub_default_params();
    p.cache_dir = "/explicit";
    cr_assert_str_eq(got = mmrt_hub_cache_dir(&p), "/explicit");
    free(got);
    cr_assert_str_eq(p.revision, "main");
    cr_assert(p.progress && !p.offline && !p.endpoint && !p.token && !p.on_progress);
}

Test(hf_hub, url_quote_like_python) {
    char *q = mmrt_hub_url_quote("sub dir/a+b~_.-é.json", true);
    cr_assert_str_eq(q, "sub%20dir/a%2Bb~_.-%C3%A9.json");
    free(q);
    q = mmrt_hub_url_quote("refs/pr/1", false);
    cr_assert_str_eq(q, "refs%2Fpr%2F1");
    free(q);
}

Test(hf_hub, rejects_bad_arguments) {
    mmrt_hub_params p = params();
    fetch_fails("not a repo", &p, MMRT_ERR_INVALID_ARG);
    assert_msg("\"not a repo\"", NULL);
    p.revision = "../../etc";
    fetch_fails(TINY, &p, MMRT_ERR_INVALID_ARG);
    assert_msg("revision", "../../etc", NULL);
    cr_assert(!lexists(g_cache), "nothing may be written for rejected arguments");
}

/* ---- downloads --------------------------------------------------------------------------- */

/* Checks snapshots/<commit>/<file> -> exactly "<up>blobs/<etag>" and the content through it. */
static void assert_linked(const char *repo, const char *file, const char *up) {
    char *folder = fmt("models--%s", repo);
    *strchr(folder, '/') = '\0';
    char *ptr = fmt("%s/%s--%s/snapshots/%s/%s", g_cache, folder, strchr(repo, '/') + 1,
                    manifest_commit(repo), file);
    char target[512];
    ssize_t n = readlink(ptr, target, sizeof target - 1);
    cr_assert(n > 0, "%s is not a symlink: %s", ptr, strerror(errno));
    target[n] = '\0';
    char *want = fmt("%sblobs/%s", up, manifest_str(repo, file, "etag"));
    cr_assert_str_eq(target, want, "%s points to %s", ptr, target);
    cr_assert_eq(file_size(ptr), manifest_size(repo, file), "%s", ptr);
    assert_sha256(ptr, manifest_str(repo, file, "content_sha256"));
    free(want);
    free(ptr);
    free(folder);
}

Test(hf_hub, fresh_download_writes_the_huggingface_layout) {
    server_start(NULL);
    mmrt_hub_params p = params();
    char *dir = fetch_ok(TINY, &p);
    const char *commit = manifest_commit(TINY);
    const char *folder = "models--mmrt-test--tiny";
    char *want_dir = fmt("%s/%s/snapshots/%s", g_cache, folder, commit);
    cr_assert_str_eq(dir, want_dir);

    static const char *const files[] = {"config.json", "tokenizer.json", "tokenizer_config.json",
                                        "generation_config.json", "model.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        assert_linked(TINY, files[i], "../../");
        char *rel = fmt("blobs/%s", manifest_str(TINY, files[i], "etag"));
        char *blob = repo_path(folder, rel), *partial = fmt("%s.incomplete", blob);
        struct stat st;
        cr_assert(lstat(blob, &st) == 0 && S_ISREG(st.st_mode), "%s is not a regular file", blob);
        cr_assert(!lexists(partial), "%s left behind", partial);
        free(partial);
        free(blob);
        free(rel);
    }
    char *ref = repo_path(folder, "refs/main"), *ref_text = read_text(ref);
    cr_assert(ref_text != NULL, "%s missing", ref);
    cr_assert_str_eq(ref_text, commit, "refs/main must hold exactly the commit hash");
    /* files the repo lacks are recorded as huggingface_hub does */
    static const char *const missing[] = {"special_tokens_map.json", "chat_template.jinja",
                                          "preprocessor_config.json", "processor_config.json",
                                          "model.safetensors.index.json"};
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++) {
        char *rel = fmt(".no_exist/%s/%s", commit, missing[i]), *mark = repo_path(folder, rel);
        char *snap = fmt("%s/%s", dir, missing[i]);
        cr_assert(file_size(mark) == 0, "%s should be an empty marker", mark);
        cr_assert(!lexists(snap), "%s should not exist", snap);
        free(snap);
        free(mark);
        free(rel);
    }
    char *tag = fmt("%s/CACHEDIR.TAG", g_cache), *tag_text = read_text(tag);
    cr_assert(tag_text &&
              strncmp(tag_text, "Signature: 8a477f597d28d172789f06886806bc55", 43) == 0);

    /* HEAD first; later files ask for the pinned commit; the LFS GET went to the CDN; no token */
    char *log = server_log();
    char *head_cfg = fmt("hub HEAD /%s/resolve/main/config.json range=- auth=-", TINY);
    char *head_tok = fmt("hub HEAD /%s/resolve/%s/tokenizer.json", TINY, commit);
    char *cdn_get = fmt("cdn GET /cdn/%s?X-Amz-Signature=abc range=- auth=-",
                        manifest_str(TINY, "model.safetensors", "etag"));
    cr_assert(strstr(log, head_cfg) != NULL, "missing \"%s\" in:\n%s", head_cfg, log);
    cr_assert(strstr(log, head_tok) != NULL, "missing \"%s\" in:\n%s", head_tok, log);
    cr_assert(strstr(log, cdn_get) != NULL, "missing \"%s\" in:\n%s", cdn_get, log);
    cr_assert(strstr(log, "auth=Bearer") == NULL, "a token was sent:\n%s", log);
    free(cdn_get);
    free(head_tok);
    free(head_cfg);
    free(log);
    free(tag_text);
    free(tag);
    free(ref_text);
    free(ref);
    free(want_dir);
    free(dir);
}

Test(hf_hub, second_call_reads_the_cache_without_network) {
    server_start(NULL);
    mmrt_hub_params p = params();
    char *dir1 = fetch_ok(TINY, &p), *log1 = server_log();
    char *dir2 = fetch_ok(TINY, &p), *log2 = server_log();
    cr_assert_str_eq(dir2, dir1);
    cr_assert_eq(count_lines(log2), count_lines(log1), "the cached call made requests:\n%s",
                 log2 + strlen(log1));
    server_stop();
    char *dir3 = fetch_ok(TINY, &p);
    cr_assert_str_eq(dir3, dir1);
    p.offline = true; /* offline mode reads the same cache */
    char *dir4 = fetch_ok(TINY, &p);
    cr_assert_str_eq(dir4, dir1);
    free(log1);
    free(log2);
    free(dir1);
    free(dir2);
    free(dir3);
    free(dir4);
}

Test(hf_hub, commit_revision_needs_no_refs) {
    server_start(NULL);
    mmrt_hub_params p = params();
    p.revision = manifest_commit(TINY);
    free(fetch_ok(TINY, &p));
    char *refs = repo_path("models--mmrt-test--tiny", "refs");
    cr_assert(!lexists(refs), "a commit revision must not write refs");
    server_stop();
    free(fetch_ok(TINY, &p)); /* cached by commit */
    free(refs);
}

/* The partial blob of the tiny repo's weights. */
static char *tiny_partial(void) {
    char *rel = fmt("blobs/%s.incomplete", manifest_str(TINY, "model.safetensors", "etag"));
    char *p = repo_path("models--mmrt-test--tiny", rel);
    free(rel);
    return p;
}

static void assert_resumed_from(long offset) {
    char *log = server_log();
    char *want = fmt("cdn GET /cdn/%s?X-Amz-Signature=abc range=bytes=%ld- ",
                     manifest_str(TINY, "model.safetensors", "etag"), offset);
    cr_assert(strstr(log, want) != NULL, "expected a Range request \"%s\" in:\n%s", want, log);
    free(want);
    free(log);
}

Test(hf_hub, interrupted_download_resumes_on_the_next_call) {
    /* every CDN GET drops the connection after 5000 bytes: the call gives up after its retries */
    server_start((const char *const[]){"--cut-after", "5000", "--cut-times", "100", NULL});
    mmrt_hub_params p = params();
    fetch_fails(TINY, &p, MMRT_ERR_NETWORK);
    assert_msg("/cdn/", "failed after", NULL);
    char *partial = tiny_partial();
    long have = file_size(partial), total = manifest_size(TINY, "model.safetensors");
    cr_assert(have > 0 && have < total, "%s holds %ld of %ld bytes", partial, have, total);
    cr_assert_eq(have % 5000, 0, "each attempt should append exactly 5000 bytes, got %ld", have);
    char *link = fmt("%s/models--mmrt-test--tiny/snapshots/%s/model.safetensors", g_cache,
                     manifest_commit(TINY));
    cr_assert(!lexists(link), "no snapshot link for an incomplete blob");
    assert_resumed_from(5000); /* the in-call retries already resumed */

    server_start(NULL);
    free(fetch_ok(TINY, &p));
    assert_resumed_from(have);
    cr_assert(!lexists(partial));
    assert_linked(TINY, "model.safetensors", "../../");
    free(link);
    free(partial);
}

Test(hf_hub, dropped_connection_resumes_within_the_call) {
    server_start((const char *const[]){"--cut-after", "7000", "--cut-times", "1", NULL});
    mmrt_hub_params p = params();
    free(fetch_ok(TINY, &p));
    assert_resumed_from(7000);
    assert_linked(TINY, "model.safetensors", "../../");
}

Test(hf_hub, server_ignoring_range_restarts_from_zero) {
    server_start((const char *const[]){"--cut-after", "3000", "--cut-times", "100", NULL});
    mmrt_hub_params p = params();
    fetch_fails(TINY, &p, MMRT_ERR_NETWORK);
    char *partial = tiny_partial();
    long have = file_size(partial);
    cr_assert(have > 0);
    server_start((const char *const[]){"--ignore-range", NULL});
    free(fetch_ok(TINY, &p));
    assert_resumed_from(have); /* asked for a range, got 200 with everything */
    assert_linked(TINY, "model.safetensors", "../../");
    free(partial);
}

typedef struct progress_log {
    int n_calls;
    uint64_t last_done, total;
    bool monotonic;
    int abort_after;   /* abort on this call for model.safetensors (0: never) */
    uint64_t abort_at; /* abort once this many bytes arrived (0: never) */
} progress_log;

static int on_progress(const char *file, uint64_t done, uint64_t total, void *user) {
    progress_log *l = user;
    if (!strstr(file, "model.safetensors")) return 0;
    l->monotonic = l->monotonic && done >= l->last_done;
    l->last_done = done;
    l->total = total;
    l->n_calls++;
    return (l->abort_after && l->n_calls >= l->abort_after) || (l->abort_at && done >= l->abort_at);
}

Test(hf_hub, progress_callback_reports_and_aborts) {
    server_start(NULL);
    progress_log l = {.monotonic = true, .abort_after = 1};
    mmrt_hub_params p = params();
    p.on_progress = on_progress;
    p.user = &l;
    fetch_fails(TINY, &p, MMRT_ERR_ABORTED);
    assert_msg("model.safetensors", NULL);
    char *partial = tiny_partial();
    long have = file_size(partial), total = manifest_size(TINY, "model.safetensors");
    cr_assert(have > 0 && have < total, "the partial download must be kept (%ld bytes)", have);

    l = (progress_log){.monotonic = true};
    free(fetch_ok(TINY, &p));
    assert_resumed_from(have);
    cr_assert(l.n_calls > 0 && l.monotonic);
    cr_assert_eq(l.last_done, (uint64_t)total);
    cr_assert_eq(l.total, (uint64_t)total);
    free(partial);
}

Test(hf_hub, range_past_the_end_restarts_from_zero) {
    /* Without a known size a complete .incomplete is resumed past its end: 416, then from zero. */
    server_start((const char *const[]){"--no-size", NULL});
    long total = manifest_size(TINY, "model.safetensors");
    progress_log l = {.monotonic = true, .abort_at = (uint64_t)total};
    mmrt_hub_params p = params();
    p.on_progress = on_progress;
    p.user = &l;
    fetch_fails(TINY, &p, MMRT_ERR_ABORTED);
    cr_assert_eq(l.total, 0, "the size is unknown to the client");
    char *partial = tiny_partial();
    cr_assert_eq(file_size(partial), total);
    p.on_progress = NULL;
    free(fetch_ok(TINY, &p));
    assert_resumed_from(total);
    char *log = server_log(), *range = strstr(log, "range=bytes=");
    cr_assert(range && strstr(range, "/cdn/") && strstr(strstr(range, "/cdn/"), "range=-"),
              "expected a plain GET after the 416:\n%s", log);
    assert_linked(TINY, "model.safetensors", "../../");
    free(log);
    free(partial);
}

Test(hf_hub, offline_with_empty_cache_names_the_cache) {
    mmrt_hub_params p = params();
    p.offline = true;
    fetch_fails(TINY, &p, MMRT_ERR_NETWORK);
    assert_msg(TINY, g_cache, "offline", "pass a local model directory with --model DIR instead",
               NULL);
    p.offline = false; /* the same through the environment */
    setenv("HF_HUB_OFFLINE", "1", 1);
    fetch_fails(TINY, &p, MMRT_ERR_NETWORK);
    assert_msg(TINY, g_cache, "offline", "pass a local model directory with --model DIR instead",
               NULL);
}

Test(hf_hub, unreachable_hub_names_the_cache) {
    server_start(NULL);
    server_stop(); /* its port is now closed */
    mmrt_hub_params p = params();
    fetch_fails(TINY, &p, MMRT_ERR_NETWORK);
    assert_msg(TINY, g_cache, "cannot reach", g_endpoint,
               "pass a local model directory with --model DIR instead", NULL);
}

Test(hf_hub, gated_repo_needs_a_token) {
    server_start((const char *const[]){"--token", "hf_secret", NULL});
    mmrt_hub_params p = params();
    fetch_fails("mmrt-test/gated", &p, MMRT_ERR_NETWORK);
    assert_msg("mmrt-test/gated", "401", "HF_TOKEN", NULL);
    /* the token from the environment opens it; it goes to the hub, never to the CDN */
    p.token = NULL;
    setenv("HF_TOKEN", "hf_secret", 1);
    free(fetch_ok("mmrt-test/gated", &p));
    char *log = server_log();
    const char *head = "hub HEAD /mmrt-test/gated/resolve/main/config.json range=- auth=Bearer "
                       "hf_secret";
    cr_assert(strstr(log, head) && strstr(log, "cdn GET /cdn/"), "%s", log);
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"))
        cr_assert(strncmp(line, "cdn ", 4) != 0 || strstr(line, "auth=-"),
                  "the token leaked to the CDN: %s", line);
    free(log);
}

Test(hf_hub, token_file_is_used) {
    server_start((const char *const[]){"--token", "hf_fromfile", NULL});
    free(tmpdir_write_str(g_tmp, "hfhome/token", "hf_fromfile\n"));
    mmrt_hub_params p = params();
    p.token = NULL;
    free(fetch_ok("mmrt-test/gated", &p));
}

Test(hf_hub, not_found_names_the_url) {
    server_start(NULL);
    mmrt_hub_params p = params();
    fetch_fails("mmrt-test/no-tokenizer", &p, MMRT_ERR_NETWORK);
    char *url = fmt("%s/mmrt-test/no-tokenizer/resolve/", g_endpoint);
    assert_msg(url, "/tokenizer.json", "404", NULL);
    free(url);
    fetch_fails("mmrt-test/nonexistent", &p, MMRT_ERR_NETWORK);
    url = fmt("%s/mmrt-test/nonexistent/resolve/main/config.json", g_endpoint);
    assert_msg(url, "repository not found", NULL);
    free(url);
    p.revision = "no-such-branch";
    fetch_fails(TINY, &p, MMRT_ERR_NETWORK);
    assert_msg("revision not found", "/resolve/no-such-branch/config.json", NULL);
}

Test(hf_hub, sha256_mismatch_discards_the_blob) {
    server_start(NULL);
    mmrt_hub_params p = params();
    const char *repo = "mmrt-test/badsha";
    fetch_fails(repo, &p, MMRT_ERR_NETWORK);
    const char *etag = manifest_str(repo, "model.safetensors", "etag");
    assert_msg("sha256 mismatch", etag, manifest_str(repo, "model.safetensors", "content_sha256"),
               NULL);
    char *rel = fmt("blobs/%s", etag), *blob = repo_path("models--mmrt-test--badsha", rel);
    char *partial = fmt("%s.incomplete", blob);
    cr_assert(!lexists(blob) && !lexists(partial), "the bad download must be deleted");
    char *link = fmt("%s/models--mmrt-test--badsha/snapshots/%s/model.safetensors", g_cache,
                     manifest_commit(repo));
    cr_assert(!lexists(link));
    free(link);
    free(partial);
    free(blob);
    free(rel);
}

Test(hf_hub, sharded_index_fetches_every_shard) {
    server_start(NULL);
    mmrt_hub_params p = params();
    const char *repo = "mmrt-test/sharded";
    free(fetch_ok(repo, &p));
    assert_linked(repo, "model.safetensors.index.json", "../../");
    assert_linked(repo, "model-00001-of-00002.safetensors", "../../");
    assert_linked(repo, "weights/model-00002-of-00002.safetensors", "../../../");
    char *log = server_log();
    cr_assert(strstr(log, "/model.safetensors ") == NULL, "model.safetensors was asked for:\n%s",
              log);
    /* the shard named twice in weight_map is fetched once */
    char *get =
        fmt("cdn GET /cdn/%s", manifest_str(repo, "model-00001-of-00002.safetensors", "etag"));
    char *first = strstr(log, get);
    cr_assert(first && !strstr(first + 1, get), "%s", log);
    free(get);
    free(log);
    server_stop();
    free(fetch_ok(repo, &p)); /* and from the cache */
}

Test(hf_hub, index_escaping_the_snapshot_is_rejected) {
    server_start(NULL);
    mmrt_hub_params p = params();
    fetch_fails("mmrt-test/evil-index", &p, MMRT_ERR_BAD_FORMAT);
    assert_msg("weight_map", "a.weight", NULL);
    char *escaped = fmt("%s/escape.safetensors", g_cache);
    cr_assert(!lexists(escaped));
    free(escaped);
}

Test(hf_hub, renamed_repo_follows_a_relative_redirect) {
    server_start(NULL);
    mmrt_hub_params p = params();
    char *dir = fetch_ok("mmrt-test/renamed", &p);
    char *want = fmt("%s/models--mmrt-test--renamed/snapshots/%s", g_cache, manifest_commit(TINY));
    cr_assert_str_eq(dir, want);
    char *log = server_log();
    cr_assert(strstr(log, "hub HEAD /mmrt-test/renamed/resolve/main/config.json") &&
                  strstr(log, "hub HEAD /mmrt-test/tiny/resolve/main/config.json"),
              "%s", log);
    free(log);
    free(want);
    free(dir);
}

Test(hf_hub, unwritable_cache_is_an_io_error) {
    server_start(NULL);
    char *file = tmpdir_write_str(g_tmp, "not-a-dir", "x");
    mmrt_hub_params p = params();
    p.cache_dir = file;
    fetch_fails(TINY, &p, MMRT_ERR_IO);
    assert_msg(file, "Not a directory", NULL);
    free(file);
}

/* ---- interoperability with the huggingface_hub Python client ---------------------------- */

static const char *hf_python(void) {
    const char *py = getenv("MMRT_TEST_HF_PYTHON");
    return py && *py ? py : "/work/venv/bin/python";
}

/* Runs a Python snippet with the reference client; returns its stdout (caller frees). */
static char *run_python(const char *code) {
    char *script = tmpdir_write_str(g_tmp, "check.py", code);
    char *cmd = fmt("HF_HUB_DISABLE_TELEMETRY=1 '%s' '%s' 2>&1", hf_python(), script);
    FILE *f = popen(cmd, "r");
    cr_assert(f != NULL);
    char *out = calloc(1, 1 << 16);
    cr_assert(out != NULL);
    size_t n = fread(out, 1, (1 << 16) - 1, f);
    out[n] = '\0';
    int rc = pclose(f);
    cr_assert_eq(rc, 0, "python failed:\n%s", out);
    free(cmd);
    free(script);
    return out;
}

static bool have_hf_python(void) {
    if (access(hf_python(), X_OK) != 0) return false;
    char *cmd = fmt("'%s' -c 'import huggingface_hub' >/dev/null 2>&1", hf_python());
    bool ok = system(cmd) == 0;
    free(cmd);
    return ok;
}

Test(hf_hub, huggingface_hub_reads_our_cache) {
    if (!have_hf_python()) cr_skip("huggingface_hub not available at %s", hf_python());
    server_start(NULL);
    mmrt_hub_params p = params();
    char *dir = fetch_ok(TINY, &p);
    server_stop();
    char *code =
        fmt("from huggingface_hub import try_to_load_from_cache, hf_hub_download, scan_cache_dir\n"
            "from huggingface_hub.file_download import _CACHED_NO_EXIST\n"
            "c, r = '%s', '%s'\n"
            "for f in ['config.json', 'model.safetensors']:\n"
            "    print(f, try_to_load_from_cache(r, f, cache_dir=c))\n"
            "    print(f, hf_hub_download(r, f, cache_dir=c, local_files_only=True))\n"
            "print('no chat_template', try_to_load_from_cache(r, 'chat_template.jinja',\n"
            "                                                 cache_dir=c) is _CACHED_NO_EXIST)\n"
            "info = scan_cache_dir(c)\n"
            "print('warnings', len(info.warnings))\n"
            "repo = list(info.repos)[0]\n"
            "print('repo', repo.repo_id, sorted(repo.refs), repo.nb_files,\n"
            "      sorted(f.file_name for rev in repo.revisions for f in rev.files))\n",
            g_cache, TINY);
    char *out = run_python(code);
    char *want_cfg = fmt("config.json %s/config.json\n", dir);
    char *want_w = fmt("model.safetensors %s/model.safetensors\n", dir);
    cr_assert(strstr(out, want_cfg), "expected \"%s\" in:\n%s", want_cfg, out);
    cr_assert(strstr(out, want_w), "expected \"%s\" in:\n%s", want_w, out);
    cr_assert(strstr(out, "no chat_template True\n"), "%s", out);
    cr_assert(strstr(out, "warnings 0\n"), "%s", out);
    cr_assert(strstr(out,
                     "repo mmrt-test/tiny ['main'] 5 ['config.json', 'generation_config.json', "
                     "'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']"),
              "%s", out);
    free(want_w);
    free(want_cfg);
    free(out);
    free(code);
    free(dir);
}

Test(hf_hub, we_read_a_cache_written_by_huggingface_hub) {
    if (!have_hf_python()) cr_skip("huggingface_hub not available at %s", hf_python());
    server_start(NULL);
    char *code = fmt("import os\n"
                     "os.environ['HF_ENDPOINT'] = '%s'\n"
                     "from huggingface_hub import hf_hub_download\n"
                     "for f in ['config.json', 'tokenizer.json', 'model.safetensors']:\n"
                     "    print(hf_hub_download('%s', f, cache_dir='%s'))\n",
                     g_endpoint, TINY, g_cache);
    free(run_python(code));
    server_stop();
    mmrt_hub_params p = params();
    char *dir = fetch_ok(TINY, &p);
    char *want = fmt("%s/models--mmrt-test--tiny/snapshots/%s", g_cache, manifest_commit(TINY));
    cr_assert_str_eq(dir, want);
    free(want);
    free(code);
    free(dir);
}
