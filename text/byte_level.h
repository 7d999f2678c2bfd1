/* GPT-2's byte-level alphabet (bytes_to_unicode): every byte is shown as a printable code point.
 * Bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF stand for themselves; the other 68 (controls, space,
 * 0x7F-0xA0, soft hyphen 0xAD) map in order to U+0100..U+0143. */
#ifndef MMRT_TEXT_BYTE_LEVEL_H
#define MMRT_TEXT_BYTE_LEVEL_H

#include <stdint.h>

static inline uint32_t mmrt_byte_level_char(uint8_t b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    if (b <= 0x20) return 0x100u + b;               /* 0x00-0x20: 33 code points */
    if (b <= 0xA0) return 0x100u + 33 + (b - 0x7F); /* 0x7F-0xA0: 34 code points */
    return 0x100u + 67;                             /* 0xAD */
}

/* The byte a code point stands for, or -1 when it is not part of the alphabet. */
static inline int mmrt_byte_level_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int)cp;
    if (cp < 0x100 || cp > 0x143) return -1;
    uint32_t k = cp - 0x100;
    if (k < 33) return (int)k;
    if (k < 67) return (int)(0x7F + (k - 33));
    return 0xAD;
}

#endif
