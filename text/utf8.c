/* UTF-8 decoding with the maximal-subpart replacement rule (Unicode 15, section 3.9, table 3-7). */
#include "text/utf8.h"

#include <string.h>

/* Allowed range of the second byte for each lead byte; later bytes are always 80..BF. The narrower
 * ranges after E0, ED, F0 and F4 exclude overlong forms, surrogates and code points > U+10FFFF, and
 * they decide where a maximal invalid subpart ends. */
static bool second_byte_ok(uint8_t lead, uint8_t b) {
    switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return b >= 0x80 && b <= 0xBF;
    }
}

mmrt_utf8_kind mmrt_utf8_next(const uint8_t *s, size_t n, size_t *adv, uint32_t *cp) {
    uint8_t lead = s[0];
    size_t need;
    uint32_t c;
    if (lead < 0x80) {
        *adv = 1;
        if (cp) *cp = lead;
        return MMRT_UTF8_VALID;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
        need = 2;
        c = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        need = 3;
        c = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        need = 4;
        c = lead & 0x07;
    } else {
        *adv = 1; /* 80..C1, F5..FF can never start a character */
        return MMRT_UTF8_INVALID;
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= n) {
            *adv = i;
            return MMRT_UTF8_INCOMPLETE;
        }
        uint8_t b = s[i];
        bool ok = i == 1 ? second_byte_ok(lead, b) : (b >= 0x80 && b <= 0xBF);
        if (!ok) {
            *adv = i; /* the valid prefix is the subpart; the offending byte starts afresh */
            return MMRT_UTF8_INVALID;
        }
        c = (c << 6) | (b & 0x3F);
    }
    *adv = need;
    if (cp) *cp = c;
    return MMRT_UTF8_VALID;
}

size_t mmrt_utf8_len(uint8_t lead) {
    if (lead >= 0xF0) return 4;
    if (lead >= 0xE0) return 3;
    if (lead >= 0xC0) return 2;
    return 1;
}

size_t mmrt_utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

uint32_t mmrt_utf8_decode(const char *s, size_t *adv) {
    const uint8_t *u = (const uint8_t *)s;
    size_t len = mmrt_utf8_len(u[0]);
    static const uint8_t lead_mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t cp = u[0] & lead_mask[len];
    for (size_t i = 1; i < len; i++) cp = (cp << 6) | (u[i] & 0x3F);
    *adv = len;
    return cp;
}

bool mmrt_utf8_valid(const char *s, size_t n) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0, adv;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        if (mmrt_utf8_next(u + i, n - i, &adv, NULL) != MMRT_UTF8_VALID) return false;
        i += adv;
    }
    return true;
}

/* One walk serves both the length and the copy: out == NULL only measures. An incomplete character
 * at the very end is a maximal subpart too, so it becomes one U+FFFD. */
static size_t lossy_walk(const char *s, size_t n, char *out) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0, o = 0, adv;
    while (i < n) {
        mmrt_utf8_kind k = mmrt_utf8_next(u + i, n - i, &adv, NULL);
        if (k == MMRT_UTF8_VALID) {
            if (out) memcpy(out + o, s + i, adv);
            o += adv;
        } else {
            if (out) memcpy(out + o, MMRT_UTF8_REPLACEMENT, 3);
            o += 3;
        }
        i += adv;
    }
    return o;
}

size_t mmrt_utf8_lossy_len(const char *s, size_t n) { return lossy_walk(s, n, NULL); }

void mmrt_utf8_lossy(const char *s, size_t n, char *out) { lossy_walk(s, n, out); }

bool mmrt_utf8_is_white_space(uint32_t cp) {
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85) return false;
    switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return cp >= 0x2000 && cp <= 0x200A;
    }
}
