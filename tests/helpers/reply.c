#include "reply.h"

#include <criterion/criterion.h>
#include <string.h>

int test_reply_collect(const char *piece, size_t len, int32_t token, void *user) {
    test_reply *r = user;
    if (token >= 0 && r->n < (int)(sizeof r->ids / sizeof *r->ids)) r->ids[r->n++] = token;
    cr_assert_lt(r->n_text + len, sizeof r->text, "reply longer than the test's buffer");
    memcpy(r->text + r->n_text, piece, len);
    r->n_text += len;
    r->text[r->n_text] = '\0';
    r->calls++;
    return 0;
}
