/* A text decoder fixture (tests/fixtures/<family>/<case>, made by tools/make_fixtures.py) opened as
 * the model tests need it: hyperparameters from config.json and generation_config.json, the decoder
 * on the checkpoint's mmap (its PEFT adapter too where the case has one), transformers' reference
 * tensors, and on the CUDA test device (helpers/test_device.h) the weights uploaded once, as
 * mmrt_model_load does. Shared by test_llama and test_granite. */
#ifndef MMRT_TESTS_LLM_FIXTURE_H
#define MMRT_TESTS_LLM_FIXTURE_H

#include "core/backend.h"
#include "core/safetensors.h"
#include "fusion/llama.h"

#include <stdbool.h>

typedef struct llm_fixture {
    char dir[512];
    mmrt_weights *weights, *ref;
    mmrt_llm_hparams hp;
    mmrt_llm llm;
    mmrt_backend *be; /* the backend holding the weights (CUDA), or NULL (CPU: the mmap) */
    mmrt_weight_upload up;
    mmrt_math math; /* the arithmetic of its backends (llm_fixture_open_math; else MMRT_MATH_F32) */
} llm_fixture;

/* The fixture with its weights in the mmap (as on the CPU), whatever the test device. */
void llm_fixture_open_host(llm_fixture *f, const char *family, const char *name);
/* The same, the weights then uploaded when the tests run on CUDA. */
void llm_fixture_open(llm_fixture *f, const char *family, const char *name);
/* llm_fixture_open with the backends (CUDA's and each session's, CPU or CUDA) in `math`; on CUDA the
 * weights are uploaded for it. */
void llm_fixture_open_math(llm_fixture *f, const char *family, const char *name, mmrt_math math);
void llm_fixture_close(llm_fixture *f);

/* The reference tensor <prefix><prompt>.<what>, asserted present. */
const mmrt_st_tensor *llm_fixture_ref(const llm_fixture *f, const char *prefix, const char *prompt, const char *what);

/* A session's backend: forked from the weights' backend on CUDA, else a CPU backend. */
mmrt_backend *llm_fixture_backend(const llm_fixture *f, int n_threads, bool use_ref);

/* The reference's greedy tokens, <prefix><prompt>.greedy_ids (prefix "lora." with an adapter, else ""),
 * from <prompt>.input_ids token by token through the KV cache on llm_fixture_backend(f, n_threads,
 * use_ref) with adapter selected (NULL: none): every token asserted, and that no op fell back. */
void llm_fixture_check_greedy(llm_fixture *f, const char *prompt, const char *adapter, int n_threads, bool use_ref);

/* mmrt_llm_batch.on_hidden's user: each hidden state the decoder reports against the reference's
 * <prompt>.hidden.<i> / <prompt>.final_prenorm, within tol (relative to max |ref|). */
typedef struct llm_hidden_check {
    const llm_fixture *f;
    const char *prompt;
    double tol;
    int n_checked;
    bool ok;
} llm_hidden_check;

/* Our index i <-> transformers: 0..L-1 = hidden.i, L = final_prenorm, L+1 = hidden.L (normed). */
void llm_fixture_on_hidden(int index, const mmrt_tensor *x, void *user);
/* That mapping: the reference's name suffix ("hidden.<i>" or "final_prenorm") for on_hidden's index. */
void llm_fixture_hidden_what(const llm_fixture *f, int index, char *what, size_t size);

#endif
