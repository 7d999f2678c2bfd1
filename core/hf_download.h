/* HTTP side of the Hugging Face hub client (core/hf_hub.c holds the cache side): metadata HEAD
 * requests and resumable blob downloads over libcurl. Internal to core/hf_*.c.
 *
 * Redirects are followed by hand, not by libcurl, so that the Authorization header goes to the
 * endpoint's origin (scheme, host, port) only: a hub redirect to a CDN never carries the token.
 * One client is one libcurl handle: use it from one thread at a time.
 */
#ifndef MMRT_CORE_HF_DOWNLOAD_H
#define MMRT_CORE_HF_DOWNLOAD_H

#include "error.h"
#include "hf_hub.h"

#include <stdbool.h>
#include <stdint.h>

/* Room for a commit hash or ETag; longer values are truncated and then fail validation. */
#define MMRT_HUB_ID_MAX 128

typedef struct mmrt_hub_client {
    void *curl;     /* CURL * */
    char *endpoint; /* no trailing '/' */
    char *token;    /* NULL: send none */
    bool progress_bar;
    mmrt_hub_progress_fn on_progress;
    void *user;
    long head_timeout_s;  /* whole HEAD request ($HF_HUB_ETAG_TIMEOUT, default 10) */
    long stall_timeout_s; /* GET aborts after this long without data ($HF_HUB_DOWNLOAD_TIMEOUT) */
} mmrt_hub_client;

/* What a HEAD on .../resolve/<rev>/<file> said. Header values are empty when absent. */
typedef struct mmrt_hub_meta {
    long status;                  /* HTTP status of the last response */
    char commit[MMRT_HUB_ID_MAX]; /* X-Repo-Commit */
    char etag[MMRT_HUB_ID_MAX];   /* X-Linked-Etag, else ETag; quotes and W/ stripped */
    int64_t size;                 /* X-Linked-Size, else Content-Length of a non-redirect; -1 */
    char *location;               /* where to GET the content (malloc'd) */
    char error_code[64];          /* X-Error-Code (RepoNotFound, EntryNotFound, GatedRepo...) */
    char error_message[256];      /* X-Error-Message */
} mmrt_hub_meta;

/* endpoint and token are copied; token NULL or "" sends none. */
mmrt_status mmrt_hub_client_init(mmrt_hub_client *c, const char *endpoint, const char *token,
                                 mmrt_error *err);
void mmrt_hub_client_free(mmrt_hub_client *c);

/* HEAD url without following redirects off the endpoint's origin (redirects within it, such as a
 * renamed repo, are followed). Any HTTP answer is MMRT_OK with m->status set (the caller decides
 * what a 404 means); MMRT_ERR_NETWORK only when no answer came (DNS, refused, timeout). Free m
 * with mmrt_hub_meta_free in both cases. */
mmrt_status mmrt_hub_head(mmrt_hub_client *c, const char *url, mmrt_hub_meta *m, mmrt_error *err);
void mmrt_hub_meta_free(mmrt_hub_meta *m);

/* GETs url (following redirects) into the file `partial`, resuming from its current length with
 * a Range request; `expected` is the size the file must end with (-1: unknown). A server that
 * ignores the Range (200) restarts the file from zero; 416 restarts it once; a dropped connection
 * resumes up to 3 times. On success `partial` holds exactly the content. A size mismatch deletes
 * `partial` (MMRT_ERR_NETWORK); an abort from the progress callback (MMRT_ERR_ABORTED) or a
 * network failure keeps it for a later resume. `label` names the file in messages and the bar. */
mmrt_status mmrt_hub_get(mmrt_hub_client *c, const char *url, const char *partial, int64_t expected,
                         const char *label, mmrt_error *err);

/* Percent-encodes s as Python's urllib.parse.quote does: unreserved characters are kept, and '/'
 * too when keep_slash. malloc'd; NULL when out of memory. */
char *mmrt_hub_url_quote(const char *s, bool keep_slash);

#endif
