/* Granite Speech's audio path (transformers GraniteSpeechForConditionalGeneration): decoded audio →
 * log-mel features (audio/log_mel.h) → conformer (audio/conformer.h) → windowed Q-Former projector
 * (audio/qformer.h) → rows in the Granite decoder's embedding space, one per <|audio|> token.
 *
 *   prompt: each "<|audio|>" of the chat text becomes n_tokens "<|audio|>" (GraniteSpeechProcessor):
 *           mel = n_samples / 160 + 1, frames = mel / 2, n_tokens = ceil(frames / window) · n_query
 *           (3 per 15 frames: 10 tokens per second of audio); the k-th takes row k of the rows.
 *
 * The model's audio encoder (fusion/encoder.h): mmrt_granite_speech_encoder_factory matches
 * config.json model_type "granite_speech" (granite-speech-3.3, granite-4.0-1b-speech,
 * granite-speech-4.1-2b) and refuses the other classes of the family (granite_speech_plus, the
 * non-autoregressive -nar checkpoint) by name. With has_lora_adapter the encoder names the PEFT
 * adapter "default": active while audio is in the prompt, as transformers' generate() does.
 *
 * Immutable after init; encode may run at once on different backends.
 */
#ifndef MMRT_FUSION_GRANITE_SPEECH_H
#define MMRT_FUSION_GRANITE_SPEECH_H

#include "audio/conformer.h"
#include "audio/log_mel.h"
#include "audio/qformer.h"
#include "fusion/encoder.h"

#include <stdbool.h>
#include <stdint.h>

#define MMRT_GRANITE_SPEECH_PLACEHOLDER "<|audio|>"

typedef struct mmrt_granite_speech {
    mmrt_conformer enc;
    mmrt_qformer proj;
    mmrt_log_mel *mel;
    int32_t audio_token; /* the id of "<|audio|>" */
    bool has_lora;       /* has_lora_adapter */
} mmrt_granite_speech;

/* Hooks into encode for tests: the conformer's hidden states (mmrt_conformer_hidden_fn indexes). */
typedef struct mmrt_granite_speech_hooks {
    mmrt_conformer_hidden_fn on_hidden;
    void *user;
} mmrt_granite_speech_hooks;

/* Encodes n_rows rows of host features (n_rows, input_dim) into out (ceil(n_rows / window) ·
 * n_query, text_hidden) f32 on be; progress (may be NULL) after each conformer layer and after the
 * projector (n_layer + 1 steps); hooks may be NULL. */
mmrt_status mmrt_granite_speech_encode(const mmrt_granite_speech *g, mmrt_backend *be, const float *features,
                                       int64_t n_rows, mmrt_tensor *out, mmrt_encoder_progress_fn progress,
                                       void *user, const mmrt_granite_speech_hooks *hooks, mmrt_error *err);

extern const mmrt_encoder_factory mmrt_granite_speech_encoder_factory;

#endif
