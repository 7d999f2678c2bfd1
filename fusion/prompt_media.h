/* The media of one prompt: its parts prepared by the model's encoders (fusion/encoder.h), the
 * placeholders of the rendered prompt expanded and tokenized, each input located in the token ids
 * (one mmrt_llm_segment per input, in prompt order) and encoded into rows on the session's
 * backend. Families are never named here: every decision is the encoders'. */
#ifndef MMRT_FUSION_PROMPT_MEDIA_H
#define MMRT_FUSION_PROMPT_MEDIA_H

#include "fusion/encoder.h"
#include "fusion/llama.h"

typedef struct mmrt_prompt_media {
    mmrt_media_input *inputs;   /* per media part, in prompt order */
    size_t n;
    mmrt_llm_segment *segments; /* per input, after mmrt_prompt_media_ids */
    mmrt_tensor *rows;          /* per input, after mmrt_prompt_media_encode */
    mmrt_backend *be;           /* where the rows are */
} mmrt_prompt_media;

/* Prepares every non-text part of parts[0 .. n_parts) with the encoder of encs[0 .. n_encs) that
 * takes its type, in order; stops (MMRT_ERR_CONTEXT_FULL) as soon as the inputs so far need more
 * than n_ctx tokens. A part no encoder takes is MMRT_ERR_UNSUPPORTED (MMRT_ERR_INVALID_ARG for an
 * unknown part type). `model` names the checkpoint in messages. */
mmrt_status mmrt_prompt_media_prepare(mmrt_prompt_media *pm, mmrt_encoder *const *encs, size_t n_encs,
                                      const char *model, const mmrt_part *parts, size_t n_parts,
                                      const mmrt_generate_params *params, int64_t n_ctx, mmrt_error *err);

/* The token ids of the rendered prompt `text` (placeholders expanded, then tokenized with special
 * tokens parsed), and the segments: input k covers its encoder's next n_tokens placeholder
 * tokens. A tokenization that does not give each encoder exactly its inputs' token count is
 * MMRT_ERR_MODEL. *ids is malloc'ed. */
mmrt_status mmrt_prompt_media_ids(mmrt_prompt_media *pm, const mmrt_tokenizer *tok, const char *model,
                                  const char *text, int32_t **ids, size_t *n_ids, mmrt_error *err);

/* Encodes inputs first .. n on be (their segments' rows then point at them; the inputs before
 * first are not needed: their tokens are in the KV cache already). on_progress (may be NULL) sees
 * each encoder step, counted over the encoded inputs of the same stage. */
mmrt_status mmrt_prompt_media_encode(mmrt_prompt_media *pm, size_t first, mmrt_backend *be,
                                     const mmrt_generate_params *params, mmrt_error *err);

/* The LoRA adapter the prompt's media needs (the first input's whose encoder names one), or NULL. */
const char *mmrt_prompt_media_lora(const mmrt_prompt_media *pm);

void mmrt_prompt_media_free(mmrt_prompt_media *pm);

#endif
