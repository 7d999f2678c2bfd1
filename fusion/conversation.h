/* Conversations: the messages of a session's chat (deep copies it owns), and the rule by which a
 * conversation too long for the context loses its oldest turns. The public functions
 * (mmrt_session_chat, _generate_messages, _reset, _last_reply) are in conversation.c. */
#ifndef MMRT_FUSION_CONVERSATION_H
#define MMRT_FUSION_CONVERSATION_H

#include "core/error.h"

#include <mmrt.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct mmrt_conversation {
    mmrt_message *msgs; /* (n) each with its own copies of role, parts, texts and data */
    size_t n, cap;
} mmrt_conversation;

/* Appends a message with copies of role and parts (texts, paths, bytes, pixels, samples). */
mmrt_status mmrt_conversation_add(mmrt_conversation *c, const char *role, const mmrt_part *parts, size_t n_parts,
                                  mmrt_error *err);
/* Removes messages [first, end), freeing their copies. */
void mmrt_conversation_remove(mmrt_conversation *c, size_t first, size_t end);
void mmrt_conversation_free(mmrt_conversation *c);

/* The oldest turn that may be dropped from msgs[0 .. n): the first message that is not a system
 * message up to (not including) the next user message — a user turn with its reply. False when
 * there is none, or when it would be the last user turn (the one being answered). */
bool mmrt_messages_oldest_turn(const mmrt_message *msgs, size_t n, size_t *first, size_t *end);

#endif
