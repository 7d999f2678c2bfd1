/* Model sources given as Hugging Face repo ids ("HuggingFaceTB/SmolLM2-135M-Instruct").
 *
 * mmrt_hub_fetch_model() turns a repo id into a local snapshot directory that the model loaders
 * read like any model directory. It speaks the hub's own contract, as the `huggingface_hub`
 * Python client does, so both share one cache:
 *
 *   cache dir   params.cache_dir, else $HF_HUB_CACHE, else $HF_HOME/hub, else
 *               $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub
 *   layout      <cache>/models--{org}--{name}/
 *                   blobs/<etag>                     file contents, named by ETag
 *                   snapshots/<commit>/<file>        relative symlink to ../../blobs/<etag>
 *                   refs/<revision>                  the commit hash the revision resolved to
 *                   .no_exist/<commit>/<file>        empty marker: the file is not in the repo
 *   requests    HEAD then GET {endpoint}/{repo}/resolve/{revision}/{file}, with
 *               `Authorization: Bearer <token>` sent to the endpoint's origin only (never to a
 *               CDN the hub redirects to); metadata from X-Repo-Commit, X-Linked-Etag or ETag,
 *               X-Linked-Size or Content-Length; downloads go to blobs/<etag>.incomplete, resume
 *               with Range, are checked for size and (LFS files, whose ETag is a sha256) sha256,
 *               and are renamed into place atomically.
 *
 * The cache is read first: when refs/<revision> (or a revision that is itself a 40-hex commit)
 * names a snapshot holding config.json, tokenizer.json and all weights, that snapshot is used
 * with no network request at all (optional files are used when present). Otherwise every file is
 * asked for at the commit the first answer named, so all come from one commit.
 *
 * Thread-safety: calls may run concurrently, also from several processes on one cache (blob
 * downloads take the same per-blob lock file as huggingface_hub: .locks/models--…/<etag>.lock).
 */
#ifndef MMRT_CORE_HF_HUB_H
#define MMRT_CORE_HF_HUB_H

#include "error.h"

#include <stdbool.h>
#include <stdint.h>

/* Called as bytes of `file` ("org/name/model.safetensors") arrive (n_total is 0 when the size is
 * unknown). Returning non-zero stops the download with MMRT_ERR_ABORTED; the partial
 * blobs/<etag>.incomplete is kept, so a later call resumes it. */
typedef int (*mmrt_hub_progress_fn)(const char *file, uint64_t n_done, uint64_t n_total,
                                    void *user);

typedef struct mmrt_hub_params {
    const char *endpoint;  /* NULL: $HF_ENDPOINT, else "https://huggingface.co" */
    const char *cache_dir; /* NULL: the environment chain above */
    /* NULL: $HF_TOKEN, else $HUGGING_FACE_HUB_TOKEN, else the file $HF_TOKEN_PATH or
     * $HF_HOME/token (where `hf auth login` stores it); "" sends no token. */
    const char *token;
    const char *revision; /* branch, tag or commit hash; "main" by default */
    bool offline;         /* cache only; $HF_HUB_OFFLINE=1 (or TRANSFORMERS_OFFLINE) also sets it */
    bool progress;        /* progress bar on stderr when stderr is a terminal (default true) */
    mmrt_hub_progress_fn on_progress; /* may be NULL */
    void *user;                       /* passed to on_progress */
} mmrt_hub_params;

mmrt_hub_params mmrt_hub_default_params(void);

/* True when s is shaped like a repo id ("org/name" or "name": letters, digits, '-', '_', '.',
 * at most 96 characters per part, no part starting or ending with '-' or '.', no "--" or "..")
 * and no file or directory of that name exists. Thread-safe. */
bool mmrt_hub_is_repo_id(const char *s);

/* The hub cache directory p (or the environment) selects, malloc'd; NULL when out of memory or
 * when neither $HOME nor any of the variables is set. p may be NULL. The caller frees. */
char *mmrt_hub_cache_dir(const mmrt_hub_params *p);

/* Resolves repo_id at p->revision to a snapshot directory holding config.json and
 * tokenizer.json (required), tokenizer_config.json, generation_config.json,
 * special_tokens_map.json, chat_template.jinja, preprocessor_config.json and
 * processor_config.json (each when the repo has it), and the weights: every shard named in
 * model.safetensors.index.json when the repo has one, else model.safetensors. Missing files are
 * downloaded unless offline. p NULL means defaults. *dir_out (malloc'd, caller frees) is
 * "<cache>/models--org--name/snapshots/<commit>"; NULL on failure.
 *
 * Failures (the message names the repo, the file or URL, and the problem):
 *   MMRT_ERR_INVALID_ARG  repo_id, revision or a file name in the index is not acceptable
 *   MMRT_ERR_NETWORK      offline or unreachable without a complete cache (the message names the
 *                         cache directory searched and says to pass --model DIR instead); HTTP
 *                         401/403 (gated or private: mentions HF_TOKEN); 404 (names the URL);
 *                         other HTTP errors; a download whose size or sha256 does not match
 *                         (the bad data is deleted)
 *   MMRT_ERR_IO           the cache cannot be written (names the path and strerror)
 *   MMRT_ERR_BAD_FORMAT   model.safetensors.index.json is malformed
 *   MMRT_ERR_ABORTED      on_progress returned non-zero
 * No file ever appears under a final name (blobs/<etag>, snapshot link, refs) before it is
 * complete and verified. */
mmrt_status mmrt_hub_fetch_model(const char *repo_id, const mmrt_hub_params *p, char **dir_out,
                                 mmrt_error *err);

#endif
