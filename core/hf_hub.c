/* Repo ids -> snapshot directories in the Hugging Face cache (see hf_hub.h for the layout and
 * contract; the HTTP side is in hf_download.c). */
#include "hf_hub.h"

#include "fsutil.h"
#include "hf_download.h"
#include "json.h"
#include "log.h"
#include "sha256.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const k_required[] = {"config.json", "tokenizer.json"};
static const char *const k_optional[] = {
    "tokenizer_config.json", "generation_config.json",   "special_tokens_map.json",
    "chat_template.jinja",   "chat_template.json",       "preprocessor_config.json",
    "processor_config.json",
};
static const char k_index[] = "model.safetensors.index.json";
static const char k_single[] = "model.safetensors";

/* ---- strings and paths ------------------------------------------------------------------- */

/* malloc'd printf; NULL when out of memory */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

static bool is_hex(const char *s, size_t n) {
    if (strlen(s) != n) return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return false;
    return true;
}

/* One repo-id part: [A-Za-z0-9._-]{1,96}, not starting or ending with '-' or '.', no "--"/"..". */
static bool repo_part_ok(const char *s, size_t n) {
    if (n == 0 || n > 96) return false;
    if (s[0] == '-' || s[0] == '.' || s[n - 1] == '-' || s[n - 1] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && ch != '-' && ch != '_' && ch != '.') return false;
        if (i && (ch == '-' || ch == '.') && s[i - 1] == ch) return false;
    }
    return true;
}

static bool repo_id_shape(const char *s) {
    if (!s) return false;
    const char *slash = strchr(s, '/');
    size_t n = strlen(s);
    if (n >= 5 && strcmp(s + n - 4, ".git") == 0) return false;
    if (!slash) return repo_part_ok(s, n);
    return repo_part_ok(s, (size_t)(slash - s)) && !strchr(slash + 1, '/') &&
           repo_part_ok(slash + 1, strlen(slash + 1));
}

bool mmrt_hub_is_repo_id(const char *s) {
    struct stat st;
    return repo_id_shape(s) && lstat(s, &st) != 0;
}

/* A relative path inside a snapshot: no empty, "." or ".." component, no leading '/', no '\\'
 * or control characters. Guards against index files naming "../../somewhere". */
static bool rel_path_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 1024 || s[0] == '/') return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '\\' || *p == 0x7f) return false;
    for (const char *c = s; c;) {
        const char *e = strchr(c, '/');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        c = e ? e + 1 : NULL;
    }
    return true;
}

/* A single path component from the server (commit hash, ETag). */
static bool component_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= MMRT_HUB_ID_MAX - 1 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.') return false;
    return true;
}

static bool env_true(const char *name) {
    const char *v = getenv(name);
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "ON") == 0 || strcasecmp(v, "YES") == 0 ||
                 strcasecmp(v, "TRUE") == 0);
}

static const char *env_nonempty(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static char *expand_home(const char *p) {
    const char *home = env_nonempty("HOME");
    if (p[0] == '~' && (p[1] == '/' || p[1] == '\0') && home) return fmt("%s%s", home, p + 1);
    return strdup(p);
}

/* $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface (malloc'd; NULL when
 * none of them is set or out of memory). Holds hub/ and the login token. */
static char *hf_home_file(const char *name) {
    const char *v;
    char *home = NULL;
    if ((v = env_nonempty("HF_HOME")))
        home = expand_home(v);
    else if ((v = env_nonempty("XDG_CACHE_HOME")))
        home = fmt("%s/huggingface", v);
    else if ((v = env_nonempty("HOME")))
        home = fmt("%s/.cache/huggingface", v);
    char *path = home ? mmrt_fs_path_join(home, name) : NULL;
    free(home);
    return path;
}

char *mmrt_hub_cache_dir(const mmrt_hub_params *p) {
    const char *v;
    if (p && p->cache_dir && *p->cache_dir) return expand_home(p->cache_dir);
    if ((v = env_nonempty("HF_HUB_CACHE")) || (v = env_nonempty("HUGGINGFACE_HUB_CACHE")))
        return expand_home(v);
    return hf_home_file("hub");
}

/* The token the hub client would send: params, $HF_TOKEN, $HUGGING_FACE_HUB_TOKEN, token file. */
static char *resolve_token(const mmrt_hub_params *p) {
    if (p->token) return *p->token ? strdup(p->token) : NULL;
    const char *v = env_nonempty("HF_TOKEN");
    if (!v) v = env_nonempty("HUGGING_FACE_HUB_TOKEN");
    if (v) return strdup(v);
    v = env_nonempty("HF_TOKEN_PATH");
    char *path = v ? expand_home(v) : hf_home_file("token"), *tok = NULL;
    size_t n = 0;
    if (path && mmrt_fs_is_file(path) && mmrt_fs_read_file(path, 4096, &tok, &n, NULL) == MMRT_OK) {
        while (n && isspace((unsigned char)tok[n - 1])) tok[--n] = '\0';
        size_t lead = strspn(tok, " \t\r\n");
        memmove(tok, tok + lead, n - lead + 1);
        if (!*tok) {
            free(tok);
            tok = NULL;
        }
    }
    free(path);
    return tok;
}

/* mkdir -p */
static mmrt_status make_dirs(const char *path, mmrt_error *err) {
    if (!*path) return MMRT_OK;
    char *p = strdup(path);
    if (!p) return mmrt_error_oom(err, strlen(path), "path");
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s) continue;
        char saved = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            mmrt_status st = mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot create directory: %s", p,
                                            strerror(errno));
            free(p);
            return st;
        }
        if (!saved) break;
        *s = saved;
    }
    free(p);
    return mmrt_fs_is_dir(path) ? MMRT_OK
                                : mmrt_error_set(err, MMRT_ERR_IO, "%s: not a directory", path);
}

static mmrt_status make_parent_dirs(const char *path, mmrt_error *err) {
    char *d = strdup(path);
    if (!d) return mmrt_error_oom(err, strlen(path), "path");
    char *slash = strrchr(d, '/');
    mmrt_status st = MMRT_OK;
    if (slash && slash != d) {
        *slash = '\0';
        st = make_dirs(d, err);
    }
    free(d);
    return st;
}

/* A unique sibling name for an atomic replace: "<path>.<pid>.<n>.tmp". */
static char *temp_name(const char *path) {
    static _Atomic unsigned counter;
    return fmt("%s.%ld.%u.tmp", path, (long)getpid(), counter++);
}

/* Writes text to path through a temporary file and rename, so readers never see half of it. */
static mmrt_status write_atomic(const char *path, const char *text, mmrt_error *err) {
    MMRT_TRY(make_parent_dirs(path, err));
    char *tmp = temp_name(path);
    if (!tmp) return mmrt_error_oom(err, strlen(path), "path");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    size_t n = strlen(text);
    bool ok = fd >= 0 && write(fd, text, n) == (ssize_t)n;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && ok) ok = false, e = errno;
    if (ok && rename(tmp, path) != 0) ok = false, e = errno;
    if (!ok) unlink(tmp);
    free(tmp);
    return ok ? MMRT_OK
              : mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot write: %s", path, strerror(e));
}

/* ---- one fetch ----------------------------------------------------------------------------- */

typedef struct hub {
    const char *repo;
    const char *revision;
    char *cache;   /* cache dir */
    char *storage; /* <cache>/models--org--name */
    char *endpoint;
    char *token;
    bool offline, progress_bar;
    const mmrt_hub_params *p;
    mmrt_hub_client client;
    bool have_client;
    bool unreachable;             /* a request got no HTTP answer at all */
    char commit[MMRT_HUB_ID_MAX]; /* the revision's commit, once known */
} hub;

static char *storage_path(const hub *h, const char *a, const char *b, const char *c) {
    return fmt("%s/%s%s%s%s%s", h->storage, a, b ? "/" : "", b ? b : "", c ? "/" : "", c ? c : "");
}

/* Reads refs/<revision> (or takes a commit-hash revision as is) into h->commit. */
static bool cached_commit(hub *h) {
    if (is_hex(h->revision, 40)) {
        snprintf(h->commit, sizeof h->commit, "%s", h->revision);
        return true;
    }
    char *ref = storage_path(h, "refs", h->revision, NULL), *text = NULL;
    size_t n = 0;
    bool ok =
        ref && mmrt_fs_is_file(ref) && mmrt_fs_read_file(ref, 256, &text, &n, NULL) == MMRT_OK;
    if (ok) {
        while (n && isspace((unsigned char)text[n - 1])) text[--n] = '\0';
        ok = component_ok(text);
        if (ok) snprintf(h->commit, sizeof h->commit, "%s", text);
    }
    free(ref);
    free(text);
    return ok;
}

/* Weight shards named by the index's weight_map, in first-seen order, deduplicated. */
static mmrt_status read_index(const char *path, char ***names, int *n_names, mmrt_error *err) {
    *names = NULL;
    *n_names = 0;
    cJSON *root = NULL;
    MMRT_TRY(mmrt_json_load_file(path, &root, err));
    const cJSON *map = NULL;
    mmrt_status st = mmrt_json_get_object(root, "weight_map", true, &map, k_index, err);
    int cap = st == MMRT_OK ? cJSON_GetArraySize(map) : 0, n = 0;
    char **out = st == MMRT_OK ? calloc((size_t)cap + 1, sizeof *out) : NULL;
    if (st == MMRT_OK && !out) st = mmrt_error_oom(err, (size_t)cap * sizeof *out, k_index);
    for (const cJSON *e = map ? map->child : NULL; st == MMRT_OK && e; e = e->next) {
        if (!cJSON_IsString(e) || !rel_path_ok(e->valuestring)) {
            st = mmrt_error_set(err, MMRT_ERR_BAD_FORMAT,
                                "%s: weight_map entry \"%s\" is not a file name inside the repo",
                                path, e->string ? e->string : "?");
            break;
        }
        bool seen = false;
        for (int i = 0; i < n && !seen; i++) seen = strcmp(out[i], e->valuestring) == 0;
        if (seen) continue;
        if (!(out[n] = strdup(e->valuestring)))
            st = mmrt_error_oom(err, 64, k_index);
        else
            n++;
    }
    if (st == MMRT_OK && n == 0)
        st = mmrt_error_set(err, MMRT_ERR_BAD_FORMAT, "%s: weight_map is empty", path);
    cJSON_Delete(root);
    if (st != MMRT_OK) {
        for (int i = 0; i < n; i++) free(out[i]);
        free(out);
        return st;
    }
    *names = out;
    *n_names = n;
    return MMRT_OK;
}

static void free_names(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

static bool snapshot_has(const char *snap, const char *file) {
    char *p = mmrt_fs_path_join(snap, file);
    bool ok = p && mmrt_fs_is_file(p);
    free(p);
    return ok;
}

/* The snapshot of h->commit holds the required files and all weights (optional files are used
 * when present). A malformed cached index counts as incomplete. */
static bool snapshot_complete(const char *snap) {
    for (size_t i = 0; i < sizeof k_required / sizeof *k_required; i++)
        if (!snapshot_has(snap, k_required[i])) return false;
    if (!snapshot_has(snap, k_index)) return snapshot_has(snap, k_single);
    char *index = mmrt_fs_path_join(snap, k_index), **shards = NULL;
    int n = 0;
    bool ok = index && read_index(index, &shards, &n, NULL) == MMRT_OK;
    for (int i = 0; ok && i < n; i++) ok = snapshot_has(snap, shards[i]);
    free_names(shards, n);
    free(index);
    return ok;
}

/* The cached snapshot dir for the revision when complete, else NULL. */
static char *cached_snapshot(hub *h) {
    if (!cached_commit(h)) return NULL;
    char *snap = storage_path(h, "snapshots", h->commit, NULL);
    if (snap && mmrt_fs_is_dir(snap) && snapshot_complete(snap)) return snap;
    free(snap);
    return NULL;
}

static mmrt_status no_network(hub *h, const char *why, mmrt_error *err) {
    mmrt_error_clear(err);
    return mmrt_error_set(err, MMRT_ERR_NETWORK,
                          "%s: %s, and the Hugging Face cache has no complete snapshot of revision "
                          "\"%s\" (searched %s); pass a local model directory with --model DIR "
                          "instead",
                          h->repo, why, h->revision, h->storage);
}

/* Puts snapshots/<commit>/<file> -> ../../blobs/<etag> (one more ../ per '/' in file) in place
 * by renaming a temporary link over it. */
static mmrt_status link_snapshot(hub *h, const char *file, const char *etag, mmrt_error *err) {
    char *ptr = storage_path(h, "snapshots", h->commit, file);
    size_t depth = 2;
    for (const char *s = file; *s; s++) depth += *s == '/';
    char *target = malloc(3 * depth + strlen(etag) + 8), *tmp = ptr ? temp_name(ptr) : NULL;
    mmrt_status st = MMRT_OK;
    if (!ptr || !target || !tmp) {
        st = mmrt_error_oom(err, 256, "snapshot link");
    } else {
        target[0] = '\0';
        for (size_t i = 0; i < depth; i++) strcat(target, "../");
        strcat(target, "blobs/");
        strcat(target, etag);
        st = make_parent_dirs(ptr, err);
        if (st == MMRT_OK && (symlink(target, tmp) != 0 || rename(tmp, ptr) != 0)) {
            st = mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot create the snapshot link: %s", ptr,
                                strerror(errno));
            unlink(tmp);
        }
    }
    free(ptr);
    free(target);
    free(tmp);
    return st;
}

/* refs/<revision> = commit, written only when it changes (the cache may be shared read-only). */
static mmrt_status write_ref(hub *h, mmrt_error *err) {
    if (strcmp(h->revision, h->commit) == 0) return MMRT_OK;
    char *ref = storage_path(h, "refs", h->revision, NULL), *old = NULL;
    if (!ref) return mmrt_error_oom(err, 256, "ref path");
    size_t n = 0;
    mmrt_status st = MMRT_OK;
    if (!(mmrt_fs_is_file(ref) && mmrt_fs_read_file(ref, 256, &old, &n, NULL) == MMRT_OK &&
          strcmp(old, h->commit) == 0))
        st = write_atomic(ref, h->commit, err);
    free(old);
    free(ref);
    return st;
}

/* Records that file does not exist at commit, as huggingface_hub does (best effort). */
static void mark_missing(hub *h, const char *commit, const char *file) {
    char *p = storage_path(h, ".no_exist", commit, file);
    if (p && make_parent_dirs(p, NULL) == MMRT_OK) {
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        if (fd >= 0) close(fd);
    }
    free(p);
}

/* CACHEDIR.TAG (bford.info/cachedir) lets backup tools skip the cache; huggingface_hub writes
 * the same file. Best effort. */
static void tag_cache_dir(hub *h) {
    char *tag = mmrt_fs_path_join(h->cache, "CACHEDIR.TAG");
    if (tag && !mmrt_fs_is_file(tag))
        write_atomic(tag,
                     "Signature: 8a477f597d28d172789f06886806bc55\n"
                     "# This file is a cache directory tag created by mmrt.\n"
                     "# For information about cache directory tags, see:\n"
                     "#\thttps://bford.info/cachedir/\n",
                     NULL);
    free(tag);
}

/* Downloads blobs/<etag> unless present: under the per-blob lock shared with huggingface_hub,
 * into blobs/<etag>.incomplete, verified, then renamed. */
static mmrt_status fetch_blob(hub *h, const char *file, const mmrt_hub_meta *m, mmrt_error *err) {
    char *blob = storage_path(h, "blobs", m->etag, NULL);
    char *partial = blob ? fmt("%s.incomplete", blob) : NULL;
    char *lock = fmt("%s/.locks/%s/%s.lock", h->cache, strrchr(h->storage, '/') + 1, m->etag);
    char *label = fmt("%s/%s", h->repo, file);
    int lock_fd = -1;
    mmrt_status st = MMRT_OK;
    if (!blob || !partial || !lock || !label) {
        st = mmrt_error_oom(err, 256, "blob paths");
        goto done;
    }
    if (mmrt_fs_is_file(blob)) goto done;
    if ((st = make_parent_dirs(blob, err)) != MMRT_OK ||
        (st = make_parent_dirs(lock, err)) != MMRT_OK)
        goto done;
    lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX) != 0) {
        st = mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot lock: %s", lock, strerror(errno));
        goto done;
    }
    if (mmrt_fs_is_file(blob)) goto done; /* another process finished it while we waited */
    tag_cache_dir(h);
    if (!h->progress_bar) {
        char size[32] = "size unknown";
        if (m->size >= 0) snprintf(size, sizeof size, "%" PRId64 " bytes", m->size);
        MMRT_LOG_I("downloading %s (%s) into %s", label, size, h->storage);
    }
    if ((st = mmrt_hub_get(&h->client, m->location, partial, m->size, label, err)) != MMRT_OK)
        goto done;
    if (is_hex(m->etag, 64)) { /* LFS: the ETag is the content's sha256 */
        char got[MMRT_SHA256_HEX_LEN];
        if ((st = mmrt_sha256_file(partial, got, err)) != MMRT_OK) goto done;
        if (strcasecmp(got, m->etag) != 0) {
            unlink(partial);
            st = mmrt_error_set(err, MMRT_ERR_NETWORK,
                                "%s: sha256 mismatch: expected %s, got %s (download discarded)",
                                label, m->etag, got);
            goto done;
        }
    }
    if (rename(partial, blob) != 0)
        st = mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot rename to %s: %s", partial, blob,
                            strerror(errno));
done:
    if (lock_fd >= 0) close(lock_fd); /* releases the flock */
    free(blob);
    free(partial);
    free(lock);
    free(label);
    return st;
}

static mmrt_status http_error(hub *h, const char *file, const char *url, const mmrt_hub_meta *m,
                              mmrt_error *err) {
    const char *detail = m->error_message[0] ? m->error_message : "";
    if (m->status == 401 || m->status == 403)
        return mmrt_error_set(
            err, MMRT_ERR_NETWORK,
            "%s: access denied (HTTP %ld) for %s: the repo is gated or private; "
            "accept its terms on the hub and set HF_TOKEN to a token with access%s%s",
            h->repo, m->status, url, *detail ? ": " : "", detail);
    if (m->status == 404) {
        const char *what = strcmp(m->error_code, "RepoNotFound") == 0       ? "repository"
                           : strcmp(m->error_code, "RevisionNotFound") == 0 ? "revision"
                                                                            : "file";
        return mmrt_error_set(err, MMRT_ERR_NETWORK, "%s: %s not found (HTTP 404): %s%s%s", h->repo,
                              strcmp(what, "file") == 0 ? file : what, url, *detail ? ": " : "",
                              detail);
    }
    return mmrt_error_set(err, MMRT_ERR_NETWORK, "%s: HTTP %ld for %s%s%s", h->repo, m->status, url,
                          *detail ? ": " : "", detail);
}

/* Makes snapshots/<commit>/<file> present. An optional file the repo lacks sets *found = false. */
static mmrt_status fetch_file(hub *h, const char *file, bool required, bool *found,
                              mmrt_error *err) {
    *found = false;
    if (h->commit[0]) { /* pinned: the cache may already answer */
        char *snap = storage_path(h, "snapshots", h->commit, NULL);
        char *gone = storage_path(h, ".no_exist", h->commit, file);
        bool have = snap && snapshot_has(snap, file), missing = gone && mmrt_fs_is_file(gone);
        free(snap);
        free(gone);
        if (have || (missing && !required)) {
            *found = have;
            return MMRT_OK;
        }
    }
    if (!h->have_client) {
        MMRT_TRY(mmrt_hub_client_init(&h->client, h->endpoint, h->token, err));
        h->have_client = true;
        h->client.progress_bar = h->progress_bar;
        h->client.on_progress = h->p->on_progress;
        h->client.user = h->p->user;
    }
    char *rev = mmrt_hub_url_quote(h->commit[0] ? h->commit : h->revision, false);
    char *qfile = mmrt_hub_url_quote(file, true);
    char *url = rev && qfile ? fmt("%s/%s/resolve/%s/%s", h->endpoint, h->repo, rev, qfile) : NULL;
    free(rev);
    free(qfile);
    if (!url) return mmrt_error_oom(err, 256, "URL");
    mmrt_hub_meta m;
    mmrt_status st = mmrt_hub_head(&h->client, url, &m, err);
    if (st != MMRT_OK) {
        h->unreachable = true;
    } else if (m.status == 404 && !required && strcmp(m.error_code, "RepoNotFound") != 0 &&
               strcmp(m.error_code, "RevisionNotFound") != 0) {
        const char *commit = h->commit[0] ? h->commit : m.commit;
        if (component_ok(commit)) mark_missing(h, commit, file);
    } else if (m.status >= 400 || m.status < 200) {
        st = http_error(h, file, url, &m, err);
    } else if (!component_ok(m.commit)) {
        st = mmrt_error_set(err, MMRT_ERR_NETWORK,
                            "%s: the answer for %s has no usable X-Repo-Commit header (\"%s\"); "
                            "is the endpoint a Hugging Face hub?",
                            h->repo, url, m.commit);
    } else if (!component_ok(m.etag)) {
        st = mmrt_error_set(err, MMRT_ERR_NETWORK,
                            "%s: the answer for %s has no usable ETag (\"%s\")", h->repo, url,
                            m.etag);
    } else {
        if (!h->commit[0]) snprintf(h->commit, sizeof h->commit, "%s", m.commit);
        char *snap = storage_path(h, "snapshots", h->commit, NULL);
        bool have = snap && snapshot_has(snap, file);
        free(snap);
        if (!have && (st = fetch_blob(h, file, &m, err)) == MMRT_OK)
            st = link_snapshot(h, file, m.etag, err);
        if (st == MMRT_OK) st = write_ref(h, err);
        *found = st == MMRT_OK;
    }
    mmrt_hub_meta_free(&m);
    free(url);
    return st;
}

/* Every file of the model, downloading what the snapshot lacks. */
static mmrt_status fetch_all(hub *h, mmrt_error *err) {
    bool found;
    /* config.json first: its answer pins the commit every later request asks for, so all files
     * come from one commit even if the branch moves meanwhile. */
    for (size_t i = 0; i < sizeof k_required / sizeof *k_required; i++)
        MMRT_TRY(fetch_file(h, k_required[i], true, &found, err));
    for (size_t i = 0; i < sizeof k_optional / sizeof *k_optional; i++)
        MMRT_TRY(fetch_file(h, k_optional[i], false, &found, err));
    MMRT_TRY(fetch_file(h, k_index, false, &found, err));
    if (!found) return fetch_file(h, k_single, true, &found, err);
    char *index = storage_path(h, "snapshots", h->commit, k_index), **shards = NULL;
    int n = 0;
    mmrt_status st = index ? read_index(index, &shards, &n, err) : mmrt_error_oom(err, 256, "path");
    for (int i = 0; st == MMRT_OK && i < n; i++) st = fetch_file(h, shards[i], true, &found, err);
    free_names(shards, n);
    free(index);
    return st;
}

mmrt_hub_params mmrt_hub_default_params(void) {
    return (mmrt_hub_params){.revision = "main", .progress = true};
}

mmrt_status mmrt_hub_fetch_model(const char *repo_id, const mmrt_hub_params *params, char **dir_out,
                                 mmrt_error *err) {
    if (dir_out) *dir_out = NULL;
    mmrt_hub_params dflt = mmrt_hub_default_params();
    const mmrt_hub_params *p = params ? params : &dflt;
    if (!dir_out) return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "hub: dir_out is NULL");
    if (!repo_id_shape(repo_id))
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                              "\"%s\" is not a Hugging Face repo id (expected org/name)",
                              repo_id ? repo_id : "(null)");
    const char *revision = p->revision && *p->revision ? p->revision : "main";
    if (!rel_path_ok(revision) || strlen(revision) > 255)
        return mmrt_error_set(err, MMRT_ERR_INVALID_ARG, "%s: revision \"%s\" is not acceptable",
                              repo_id, revision);
    const char *ep = p->endpoint && *p->endpoint ? p->endpoint : env_nonempty("HF_ENDPOINT");
    hub h = {
        .repo = repo_id,
        .revision = revision,
        .p = p,
        .offline = p->offline || env_true("HF_HUB_OFFLINE") || env_true("TRANSFORMERS_OFFLINE"),
        .progress_bar = p->progress && isatty(STDERR_FILENO),
        .cache = mmrt_hub_cache_dir(p),
        .endpoint = strdup(ep ? ep : "https://huggingface.co"),
        .token = resolve_token(p),
    };
    mmrt_status st = MMRT_OK;
    if (!h.cache) {
        st = mmrt_error_set(err, MMRT_ERR_INVALID_ARG,
                            "%s: no Hugging Face cache directory (set HF_HUB_CACHE or HOME)",
                            repo_id);
        goto done;
    }
    const char *slash = strchr(repo_id, '/');
    char *folder = slash ? fmt("models--%.*s--%s", (int)(slash - repo_id), repo_id, slash + 1)
                         : fmt("models--%s", repo_id);
    h.storage = folder ? mmrt_fs_path_join(h.cache, folder) : NULL;
    free(folder);
    if (!h.endpoint || !h.storage) {
        st = mmrt_error_oom(err, 256, "hub paths");
        goto done;
    }
    size_t n_ep = strlen(h.endpoint);
    while (n_ep > 1 && h.endpoint[n_ep - 1] == '/') h.endpoint[--n_ep] = '\0';

    if ((*dir_out = cached_snapshot(&h))) {
        MMRT_LOG_D("%s: using the cached snapshot %s", repo_id, *dir_out);
        goto done;
    }
    h.commit[0] = '\0';
    if (h.offline) {
        st = no_network(&h, "offline mode is on", err);
        goto done;
    }
    st = fetch_all(&h, err);
    if (st == MMRT_OK) {
        *dir_out = storage_path(&h, "snapshots", h.commit, NULL);
        if (!*dir_out) st = mmrt_error_oom(err, 256, "snapshot path");
    } else if (h.unreachable) {
        /* the cache was not enough (checked above) and the hub cannot be asked */
        char why[MMRT_ERROR_MSG_MAX / 2];
        snprintf(why, sizeof why, "cannot reach the hub (%.400s)",
                 err ? err->msg : "network error");
        st = no_network(&h, why, err);
    }
done:
    if (h.have_client) mmrt_hub_client_free(&h.client);
    free(h.cache);
    free(h.storage);
    free(h.endpoint);
    free(h.token);
    return st;
}
