/* Conversations: mmrt_session_generate_messages, the session's own chat (mmrt_session_chat) and
 * the copies of its messages. Prefix reuse itself is every generate call's (fusion/kv_prefix.h). */
#include "conversation.h"

#include "fusion/api_struct.h"
#include "fusion/model.h"

#include <stdlib.h>
#include <string.h>

/* Bytes of a part's in-memory data (0: it has none). */
static size_t part_data_bytes(const mmrt_part *p) {
    switch (p->type) {
    case MMRT_PART_IMAGE_BYTES:
    case MMRT_PART_AUDIO_BYTES: return p->size;
    case MMRT_PART_IMAGE_PIXELS: {
        if (p->width <= 0 || p->height <= 0 || p->channels <= 0) return 0;
        size_t row = (size_t)p->width * (size_t)p->channels;
        size_t stride = p->size ? p->size : row;
        return stride * (size_t)(p->height - 1) + row;
    }
    case MMRT_PART_AUDIO_SAMPLES:
        return p->channels > 0 ? p->size * (size_t)p->channels * sizeof(float) : 0;
    default: return 0;
    }
}

static void part_free(mmrt_part *p) {
    free((char *)p->text);
    free((void *)p->data);
}

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* *dst = a copy of src owning its text and data; false when out of memory. */
static bool part_copy(mmrt_part *dst, const mmrt_part *src) {
    *dst = *src;
    dst->text = NULL;
    dst->data = NULL;
    size_t n = src->data ? part_data_bytes(src) : 0;
    char *text = dup_str(src->text);
    void *data = n ? malloc(n) : NULL;
    if ((src->text && !text) || (n && !data)) {
        free(text);
        free(data);
        return false;
    }
    if (n) memcpy(data, src->data, n);
    dst->text = text;
    dst->data = data; /* NULL for data of no size: the part is refused then as it would be anyway */
    return true;
}

static void message_free(mmrt_message *m) {
    for (size_t i = 0; i < m->n_parts; i++) part_free((mmrt_part *)&m->parts[i]);
    free((mmrt_part *)m->parts);
    free((char *)m->role);
}

mmrt_status mmrt_conversation_add(mmrt_conversation *c, const char *role, const mmrt_part *parts, size_t n_parts,
                                  mmrt_error *err) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        mmrt_message *m = realloc(c->msgs, cap * sizeof *m);
        if (!m) return mmrt_error_oom(err, cap * sizeof *m, "conversation");
        c->msgs = m;
        c->cap = cap;
    }
    mmrt_part *copy = calloc(n_parts ? n_parts : 1, sizeof *copy);
    mmrt_message m = {.role = dup_str(role), .parts = copy, .n_parts = 0};
    bool ok = copy && m.role;
    for (size_t i = 0; ok && i < n_parts; i++, m.n_parts++) ok = part_copy(&copy[i], &parts[i]);
    if (!ok) {
        message_free(&m);
        return mmrt_error_oom(err, n_parts * sizeof *copy, "conversation message");
    }
    c->msgs[c->n++] = m;
    return MMRT_OK;
}

void mmrt_conversation_remove(mmrt_conversation *c, size_t first, size_t end) {
    if (first == end) return;
    for (size_t i = first; i < end; i++) message_free(&c->msgs[i]);
    memmove(c->msgs + first, c->msgs + end, (c->n - end) * sizeof *c->msgs);
    c->n -= end - first;
}

void mmrt_conversation_free(mmrt_conversation *c) {
    mmrt_conversation_remove(c, 0, c->n);
    free(c->msgs);
    memset(c, 0, sizeof *c);
}

static bool is_role(const mmrt_message *m, const char *role) { return m->role && strcmp(m->role, role) == 0; }

bool mmrt_messages_oldest_turn(const mmrt_message *msgs, size_t n, size_t *first, size_t *end) {
    size_t a = 0;
    while (a < n && is_role(&msgs[a], "system")) a++;
    size_t b = a + 1;
    while (b < n && !is_role(&msgs[b], "user")) b++;
    if (a >= n || b >= n) return false; /* nothing older than the turn being answered */
    *first = a;
    *end = b;
    return true;
}

mmrt_status mmrt_session_generate_messages(mmrt_session *s, const mmrt_message *msgs, size_t n,
                                           const mmrt_generate_params *params, mmrt_generate_result *result) {
    if (!s) return mmrt_session_null("mmrt_session_generate_messages");
    mmrt_error_clear(&s->err);
    mmrt_generate_params p;
    mmrt_status st = mmrt_api_struct_in(&p, &(mmrt_generate_params){0}, sizeof p, params, "mmrt_generate_params",
                                        &s->err);
    if (st == MMRT_OK && (p.system || p.raw))
        st = mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG,
                            "mmrt_session_generate_messages: params->%s is for one-turn prompts; %s",
                            p.system ? "system" : "raw",
                            p.system ? "put the system message in the messages" : "messages are always templated");
    if (st == MMRT_OK && !msgs)
        st = mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "mmrt_session_generate_messages: NULL messages");
    if (st != MMRT_OK) return mmrt_session_refuse(s, result, st);
    mmrt_prompt_in in = {.msgs = msgs, .n_msgs = n};
    return mmrt_session_run(s, &in, params, result);
}

mmrt_status mmrt_session_chat(mmrt_session *s, const mmrt_part *parts, size_t n_parts,
                              const mmrt_generate_params *params, mmrt_generate_result *result) {
    if (!s) return mmrt_session_null("mmrt_session_chat");
    mmrt_error_clear(&s->err);
    mmrt_generate_params p, defaults;
    mmrt_generate_params_init(&defaults, sizeof defaults);
    mmrt_generate_result r = {.size = sizeof r};
    mmrt_status st = result ? mmrt_api_struct_check(result, "mmrt_generate_result", &s->err) : MMRT_OK;
    if (st == MMRT_OK) st = mmrt_api_struct_in(&p, &defaults, sizeof p, params, "mmrt_generate_params", &s->err);
    if (st == MMRT_OK && (!parts || n_parts == 0))
        st = mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "mmrt_session_chat: the turn has no parts");
    if (st == MMRT_OK && p.raw)
        st = mmrt_error_set(&s->err, MMRT_ERR_INVALID_ARG, "mmrt_session_chat: a chat is always templated (raw)");
    if (st != MMRT_OK) return mmrt_session_refuse(s, result, st);

    mmrt_conversation *c = &s->conv;
    size_t n0 = c->n;
    if (n0 == 0 && p.system) {
        mmrt_part sys = mmrt_text_part(p.system);
        st = mmrt_conversation_add(c, "system", &sys, 1, &s->err);
    }
    if (st == MMRT_OK) st = mmrt_conversation_add(c, "user", parts, n_parts, &s->err);
    p.system = NULL; /* it is the conversation's first message now */
    mmrt_prompt_in in = {.msgs = c->msgs, .n_msgs = c->n};
    if (st == MMRT_OK) st = mmrt_session_run(s, &in, &p, &r);
    if (st == MMRT_OK && p.max_tokens == 0) { /* checked, nothing generated: no turn */
        mmrt_conversation_remove(c, n0, c->n);
    } else if (st == MMRT_OK) { /* the reply as printed becomes the assistant turn */
        mmrt_part reply = mmrt_text_part(s->reply.s ? s->reply.s : "");
        size_t first, end;
        for (int32_t i = 0; i < r.n_dropped_turns && mmrt_messages_oldest_turn(c->msgs, c->n, &first, &end); i++)
            mmrt_conversation_remove(c, first, end);
        st = mmrt_conversation_add(c, "assistant", &reply, 1, &s->err);
    } else { /* a failed turn leaves the conversation as it was */
        mmrt_conversation_remove(c, n0, c->n);
    }
    if (result) mmrt_api_struct_out(result, &r, sizeof r);
    return mmrt_session_fail(s, st);
}

const char *mmrt_session_last_reply(const mmrt_session *s) { return s && s->reply.s ? s->reply.s : ""; }

void mmrt_session_reset(mmrt_session *s) {
    if (!s) return;
    mmrt_conversation_free(&s->conv);
    mmrt_kv_prefix_clear(&s->cache);
    s->state.n_past = 0;
    s->reply.len = 0;
    if (s->reply.s) s->reply.s[0] = '\0';
    mmrt_error_clear(&s->err);
}
