/* HTTP for the hub client: HEAD for metadata, resumable GET into blobs/<etag>.incomplete, and the
 * terminal progress bar. See hf_download.h for the contract. */
#include "hf_download.h"

#include "clock.h"
#include "log.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { MAX_REDIRECTS = 10, MAX_RESUMES = 3 };

/* ---- small helpers ----------------------------------------------------------------------- */

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc;
/* curl_global_init is not thread-safe on older libcurl; run it exactly once. */
static void curl_init_once(void) { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static long env_seconds(const char *name, long dflt) {
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    char *end;
    double d = strtod(v, &end);
    return end != v && d >= 1 && d < 86400 ? (long)d : dflt;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

char *mmrt_hub_url_quote(const char *s, bool keep_slash) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *o = out;
    if (!out) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char ch = *p;
        bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~' ||
                    (keep_slash && ch == '/');
        if (keep) {
            *o++ = (char)ch;
        } else {
            *o++ = '%';
            *o++ = hex[ch >> 4];
            *o++ = hex[ch & 15];
        }
    }
    *o = '\0';
    return out;
}

/* Same origin = same scheme, host (case-insensitive) and port (defaults filled in). */
static bool same_origin(const char *a, const char *b) {
    CURLU *ua = curl_url(), *ub = curl_url();
    bool same = false;
    if (ua && ub && curl_url_set(ua, CURLUPART_URL, a, 0) == CURLUE_OK &&
        curl_url_set(ub, CURLUPART_URL, b, 0) == CURLUE_OK) {
        static const CURLUPart parts[] = {CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT};
        same = true;
        for (int i = 0; i < 3 && same; i++) {
            char *pa = NULL, *pb = NULL;
            unsigned flags = parts[i] == CURLUPART_PORT ? CURLU_DEFAULT_PORT : 0;
            same = curl_url_get(ua, parts[i], &pa, flags) == CURLUE_OK &&
                   curl_url_get(ub, parts[i], &pb, flags) == CURLUE_OK && strcasecmp(pa, pb) == 0;
            curl_free(pa);
            curl_free(pb);
        }
    }
    curl_url_cleanup(ua);
    curl_url_cleanup(ub);
    return same;
}

/* Copies a header value (already trimmed) into dst, truncating. */
static void copy_value(char *dst, size_t cap, const char *v, size_t n) {
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

/* ETag: W/"abc" or "abc" -> abc */
static void normalize_etag(char *dst, size_t cap, const char *v, size_t n) {
    if (n >= 2 && v[0] == 'W' && v[1] == '/') v += 2, n -= 2;
    if (n >= 1 && v[0] == '"') v++, n--;
    if (n >= 1 && v[n - 1] == '"') n--;
    copy_value(dst, cap, v, n);
}

static bool parse_i64(const char *v, size_t n, int64_t *out) {
    if (n == 0 || n > 18) return false;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return false;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return true;
}

/* Splits "Name: value\r\n" into name and trimmed value; false for lines without ':'. */
static bool split_header(const char *line, size_t n, size_t *name_len, const char **val,
                         size_t *val_len) {
    const char *colon = memchr(line, ':', n);
    if (!colon) return false;
    *name_len = (size_t)(colon - line);
    const char *v = colon + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *val = v;
    *val_len = (size_t)(end - v);
    return true;
}

static bool header_is(const char *line, size_t name_len, const char *name) {
    return strlen(name) == name_len && strncasecmp(line, name, name_len) == 0;
}

/* "HTTP/1.1 206 Partial Content" starts a new response: its status; 0 for other lines. */
static long status_line(const char *line, size_t n) {
    if (n < 12 || strncmp(line, "HTTP/", 5) != 0) return 0;
    const char *sp = memchr(line, ' ', n);
    if (!sp || sp + 4 > line + n) return 0;
    int64_t code = 0;
    return parse_i64(sp + 1, 3, &code) ? (long)code : 0;
}

/* Common request options; the caller adds method-specific ones. */
static struct curl_slist *base_request(mmrt_hub_client *c, const char *url, char *errbuf,
                                       int64_t range_from) {
    CURL *h = c->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    /* a redirect must not reach file:// or other schemes */
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->head_timeout_s);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mmrt/" MMRT_VERSION_STRING " (libcurl)");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    errbuf[0] = '\0';
    /* identity: the sizes in the headers must be the sizes of the bytes we receive */
    struct curl_slist *hdr = curl_slist_append(NULL, "Accept-Encoding: identity");
    if (c->token && same_origin(url, c->endpoint)) {
        size_t n = strlen(c->token) + 32;
        char *auth = malloc(n);
        if (auth) {
            snprintf(auth, n, "Authorization: Bearer %s", c->token);
            hdr = curl_slist_append(hdr, auth);
            free(auth);
        }
    }
    if (range_from > 0) {
        char range[64];
        snprintf(range, sizeof range, "Range: bytes=%" PRId64 "-", range_from);
        hdr = curl_slist_append(hdr, range);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    return hdr;
}

static const char *curl_reason(CURLcode rc, const char *errbuf) {
    return errbuf[0] ? errbuf : curl_easy_strerror(rc);
}

/* ---- client ------------------------------------------------------------------------------ */

mmrt_status mmrt_hub_client_init(mmrt_hub_client *c, const char *endpoint, const char *token,
                                 mmrt_error *err) {
    memset(c, 0, sizeof *c);
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK)
        return mmrt_error_set(err, MMRT_ERR_NETWORK, "libcurl initialisation failed: %s",
                              curl_easy_strerror(g_curl_init_rc));
    c->curl = curl_easy_init();
    c->endpoint = strdup(endpoint);
    c->token = token && *token ? strdup(token) : NULL;
    if (!c->curl || !c->endpoint || (token && *token && !c->token)) {
        mmrt_hub_client_free(c);
        return mmrt_error_oom(err, strlen(endpoint), "HTTP client");
    }
    c->head_timeout_s = env_seconds("HF_HUB_ETAG_TIMEOUT", 10);
    c->stall_timeout_s = env_seconds("HF_HUB_DOWNLOAD_TIMEOUT", 10);
    return MMRT_OK;
}

void mmrt_hub_client_free(mmrt_hub_client *c) {
    if (!c) return;
    if (c->curl) curl_easy_cleanup(c->curl);
    free(c->endpoint);
    free(c->token);
    memset(c, 0, sizeof *c);
}

/* ---- HEAD -------------------------------------------------------------------------------- */

typedef struct head_state {
    mmrt_hub_meta *m;
    char etag[MMRT_HUB_ID_MAX], linked_etag[MMRT_HUB_ID_MAX];
    int64_t content_length, linked_size;
} head_state;

static void head_reset(head_state *s) {
    mmrt_hub_meta *m = s->m;
    m->commit[0] = m->etag[0] = m->error_code[0] = m->error_message[0] = '\0';
    s->etag[0] = s->linked_etag[0] = '\0';
    s->content_length = s->linked_size = -1;
}

static size_t head_header(char *line, size_t size, size_t n, void *user) {
    head_state *s = user;
    size_t len = size * n, name_len, val_len;
    const char *v;
    long code = status_line(line, len);
    if (code) {
        head_reset(s);
        s->m->status = code;
        return len;
    }
    if (!split_header(line, len, &name_len, &v, &val_len)) return len;
    mmrt_hub_meta *m = s->m;
    if (header_is(line, name_len, "X-Repo-Commit"))
        copy_value(m->commit, sizeof m->commit, v, val_len);
    else if (header_is(line, name_len, "X-Linked-Etag"))
        normalize_etag(s->linked_etag, sizeof s->linked_etag, v, val_len);
    else if (header_is(line, name_len, "ETag"))
        normalize_etag(s->etag, sizeof s->etag, v, val_len);
    else if (header_is(line, name_len, "X-Linked-Size"))
        parse_i64(v, val_len, &s->linked_size);
    else if (header_is(line, name_len, "Content-Length"))
        parse_i64(v, val_len, &s->content_length);
    else if (header_is(line, name_len, "X-Error-Code"))
        copy_value(m->error_code, sizeof m->error_code, v, val_len);
    else if (header_is(line, name_len, "X-Error-Message"))
        copy_value(m->error_message, sizeof m->error_message, v, val_len);
    return len;
}

void mmrt_hub_meta_free(mmrt_hub_meta *m) {
    if (!m) return;
    free(m->location);
    m->location = NULL;
}

mmrt_status mmrt_hub_head(mmrt_hub_client *c, const char *url, mmrt_hub_meta *m, mmrt_error *err) {
    memset(m, 0, sizeof *m);
    m->size = -1;
    head_state s = {.m = m};
    char *cur = strdup(url);
    if (!cur) return mmrt_error_oom(err, strlen(url), "URL");
    char errbuf[CURL_ERROR_SIZE];
    for (int hop = 0;; hop++) {
        struct curl_slist *hdr = base_request(c, cur, errbuf, 0);
        CURL *h = c->curl;
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, c->head_timeout_s);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, head_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &s);
        head_reset(&s);
        CURLcode rc = curl_easy_perform(h);
        curl_slist_free_all(hdr);
        if (rc != CURLE_OK) {
            mmrt_status st = mmrt_error_set(err, MMRT_ERR_NETWORK, "HEAD %s failed: %s", cur,
                                            curl_reason(rc, errbuf));
            free(cur);
            return st;
        }
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &m->status);
        char *next = NULL;
        bool redirect = m->status >= 300 && m->status < 400;
        if (redirect) curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &next);
        /* A redirect within the endpoint's origin (renamed repo) is followed; one elsewhere (the
         * LFS CDN) is where the content lives, and this response carries its metadata. */
        if (next && same_origin(cur, next) && hop < MAX_REDIRECTS) {
            char *n2 = strdup(next);
            free(cur);
            if (!n2) return mmrt_error_oom(err, strlen(next), "URL");
            cur = n2;
            continue;
        }
        m->location = next ? strdup(next) : cur;
        if (next) free(cur);
        if (!m->location) return mmrt_error_oom(err, 64, "URL");
        memcpy(m->etag, s.linked_etag[0] ? s.linked_etag : s.etag, sizeof m->etag);
        m->size = s.linked_size >= 0 ? s.linked_size : redirect ? -1 : s.content_length;
        return MMRT_OK;
    }
}

/* ---- progress bar ------------------------------------------------------------------------ */

typedef struct progress {
    const char *label;
    int64_t total, start_bytes;
    double t_start, t_drawn;
    bool drawn;
} progress;

static void human(char *buf, size_t cap, double bytes) {
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1000 && u < 4) bytes /= 1000, u++;
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

static void progress_draw(progress *p, int64_t done, bool final) {
    double t = mmrt_now_ms() / 1e3;
    if (!final && p->drawn && t - p->t_drawn < 0.1) return;
    p->t_drawn = t;
    p->drawn = true;
    char d[32], tot[32], rate[32];
    human(d, sizeof d, (double)done);
    human(tot, sizeof tot, (double)p->total);
    double dt = t - p->t_start;
    human(rate, sizeof rate, dt > 0 ? (double)(done - p->start_bytes) / dt : 0);
    const char *name = p->label, *cut = "";
    size_t n = strlen(name);
    if (n > 32) name += n - 29, cut = "...";
    if (p->total > 0)
        fprintf(stderr, "\r%s%-*s %10s / %-10s %3d%% %10s/s", cut, 32 - (int)strlen(cut), name, d,
                tot, (int)(100.0 * (double)done / (double)p->total), rate);
    else
        fprintf(stderr, "\r%s%-*s %10s %10s/s", cut, 32 - (int)strlen(cut), name, d, rate);
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

/* ---- GET --------------------------------------------------------------------------------- */

typedef struct get_state {
    mmrt_hub_client *c;
    int fd;
    int64_t have;        /* bytes in the file */
    int64_t requested;   /* Range start we asked for (0: none) */
    long status;         /* status of the response being received */
    int64_t range_start; /* Content-Range start of a 206, -1 if absent */
    bool started;        /* first body byte of a 2xx seen */
    bool aborted, bad_range;
    int io_errno;
    int64_t expected;
    const char *label;
    progress *bar;
    char body[256]; /* start of an error response body */
    size_t n_body;
} get_state;

static size_t get_header(char *line, size_t size, size_t n, void *user) {
    get_state *s = user;
    size_t len = size * n, name_len, val_len;
    const char *v;
    long code = status_line(line, len);
    if (code) {
        s->status = code;
        s->range_start = -1;
        return len;
    }
    if (split_header(line, len, &name_len, &v, &val_len) &&
        header_is(line, name_len, "Content-Range") && val_len > 6 && strncmp(v, "bytes ", 6) == 0) {
        const char *dash = memchr(v + 6, '-', val_len - 6);
        if (dash) parse_i64(v + 6, (size_t)(dash - v - 6), &s->range_start);
    }
    return len;
}

static size_t get_body(char *data, size_t size, size_t n, void *user) {
    get_state *s = user;
    size_t len = size * n;
    if (s->status < 200 || s->status >= 300) { /* keep the start of an error page for messages */
        size_t room = sizeof s->body - 1 - s->n_body, take = len < room ? len : room;
        memcpy(s->body + s->n_body, data, take);
        s->n_body += take;
        s->body[s->n_body] = '\0';
        return len;
    }
    if (!s->started) {
        s->started = true;
        if (s->status == 206 && s->range_start != s->have) {
            s->bad_range = true;
            return 0;
        }
        if (s->status != 206 && s->have > 0) {
            /* the server ignored our Range and sends the whole file: start over */
            if (ftruncate(s->fd, 0) != 0) {
                s->io_errno = errno;
                return 0;
            }
            s->have = 0;
            if (s->bar) s->bar->start_bytes = 0;
        }
        if (lseek(s->fd, s->have, SEEK_SET) < 0) {
            s->io_errno = errno;
            return 0;
        }
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(s->fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            s->io_errno = w < 0 ? errno : EIO;
            return 0;
        }
        off += (size_t)w;
    }
    s->have += (int64_t)len;
    if (s->bar) progress_draw(s->bar, s->have, false);
    mmrt_hub_client *c = s->c;
    if (c->on_progress &&
        c->on_progress(s->label, (uint64_t)s->have, s->expected > 0 ? (uint64_t)s->expected : 0,
                       c->user) != 0) {
        s->aborted = true;
        return 0;
    }
    return len;
}

typedef enum { GET_DONE, GET_RETRY, GET_416, GET_FAILED } get_result;

static bool transient(CURLcode rc) {
    return rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
           rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_GOT_NOTHING || rc == CURLE_HTTP2_STREAM ||
           rc == CURLE_HTTP2;
}

/* One attempt: GET from s->have on, following redirects by hand. */
static get_result get_once(get_state *s, const char *url, mmrt_status *st, mmrt_error *err) {
    mmrt_hub_client *c = s->c;
    char *cur = strdup(url);
    char errbuf[CURL_ERROR_SIZE];
    if (!cur) {
        *st = mmrt_error_oom(err, strlen(url), "URL");
        return GET_FAILED;
    }
    get_result res = GET_FAILED;
    for (int hop = 0;; hop++) {
        s->status = 0;
        s->started = false;
        s->n_body = 0;
        s->requested = s->have;
        struct curl_slist *hdr = base_request(c, cur, errbuf, s->have);
        CURL *h = c->curl;
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->stall_timeout_s);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, get_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, get_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
        CURLcode rc = curl_easy_perform(h);
        curl_slist_free_all(hdr);
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        char *next = NULL;
        if (rc == CURLE_OK && code >= 300 && code < 400)
            curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &next);
        if (next && hop < MAX_REDIRECTS) {
            char *n2 = strdup(next);
            free(cur);
            cur = n2;
            if (!cur) {
                *st = mmrt_error_oom(err, 64, "URL");
                return GET_FAILED;
            }
            continue;
        }
        if (s->aborted) {
            *st = mmrt_error_set(err, MMRT_ERR_ABORTED,
                                 "%s: download aborted by the progress callback after %" PRId64
                                 " bytes (kept for a later resume)",
                                 s->label, s->have);
        } else if (s->io_errno) {
            *st = mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot write the download: %s", s->label,
                                 strerror(s->io_errno));
        } else if (s->bad_range) {
            *st = mmrt_error_set(err, MMRT_ERR_NETWORK,
                                 "GET %s: asked for bytes from %" PRId64
                                 " but the server answered with a range starting at %" PRId64,
                                 cur, s->requested, s->range_start);
        } else if (rc != CURLE_OK) {
            *st = mmrt_error_set(err, MMRT_ERR_NETWORK, "GET %s failed after %" PRId64 " bytes: %s",
                                 cur, s->have, curl_reason(rc, errbuf));
            res = transient(rc) ? GET_RETRY : GET_FAILED;
        } else if (code == 416) {
            res = GET_416;
        } else if (code < 200 || code >= 300) {
            *st = mmrt_error_set(err, MMRT_ERR_NETWORK, "GET %s: HTTP %ld%s%s%s", cur, code,
                                 code == 401 || code == 403 ? " (access denied: set HF_TOKEN)" : "",
                                 s->n_body ? ": " : "", s->body);
        } else {
            if (!s->started && code == 200 && s->have > 0) {
                /* empty 200 answer to a Range request: the file is empty */
                if (ftruncate(s->fd, 0) == 0) s->have = 0;
            }
            res = GET_DONE;
        }
        break;
    }
    free(cur);
    return res;
}

mmrt_status mmrt_hub_get(mmrt_hub_client *c, const char *url, const char *partial, int64_t expected,
                         const char *label, mmrt_error *err) {
    int fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot create: %s", partial, strerror(errno));
    struct stat st_file;
    if (fstat(fd, &st_file) != 0) {
        int e = errno;
        close(fd);
        return mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot stat: %s", partial, strerror(e));
    }
    get_state s = {.c = c, .fd = fd, .have = st_file.st_size, .expected = expected, .label = label};
    if (expected >= 0 && s.have > expected) { /* not a prefix of this blob: start over */
        if (ftruncate(fd, 0) != 0) {
            int e = errno;
            close(fd);
            return mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot truncate: %s", partial,
                                  strerror(e));
        }
        s.have = 0;
    }
    progress bar = {.label = label, .total = expected, .start_bytes = s.have, .t_start = mmrt_now_ms() / 1e3};
    if (c->progress_bar) s.bar = &bar;
    if (s.have > 0) MMRT_LOG_I("%s: resuming the download at byte %" PRId64, label, s.have);

    mmrt_status st = MMRT_OK;
    bool restarted = false;
    for (int attempt = 0;;) {
        if (expected >= 0 && s.have == expected) break; /* nothing left to fetch */
        get_result r = get_once(&s, url, &st, err);
        if (r == GET_DONE) {
            st = MMRT_OK;
            break;
        }
        if (r == GET_416 && !restarted && s.have > 0) {
            restarted = true;
            if (ftruncate(fd, 0) != 0) {
                st = mmrt_error_set(err, MMRT_ERR_IO, "%s: cannot truncate: %s", partial,
                                    strerror(errno));
                break;
            }
            s.have = 0;
            continue;
        }
        if (r == GET_416) {
            st = mmrt_error_set(err, MMRT_ERR_NETWORK, "GET %s: HTTP 416 (range not satisfiable)",
                                url);
            break;
        }
        if (r == GET_RETRY && attempt < MAX_RESUMES) {
            attempt++;
            MMRT_LOG_W("%s; resuming (attempt %d of %d)", err ? err->msg : label, attempt,
                       MAX_RESUMES);
            mmrt_error_clear(err);
            sleep_ms(250L * attempt);
            continue;
        }
        break;
    }
    if (s.bar && bar.drawn) progress_draw(&bar, s.have, true);
    close(fd);
    if (st != MMRT_OK) return st;
    if (expected >= 0 && s.have != expected) {
        /* the server's answer does not match its own metadata: this data cannot be trusted */
        unlink(partial);
        return mmrt_error_set(err, MMRT_ERR_NETWORK,
                              "%s: size mismatch: expected %" PRId64 " bytes, received %" PRId64
                              " (download discarded; retry)",
                              label, expected, s.have);
    }
    return MMRT_OK;
}
