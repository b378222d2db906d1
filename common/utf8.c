/* utf8.c -- see utf8.h. A sequence is a lead byte giving the length (C2-DF: 2, E0-EF: 3,
 * F0-F4: 4; C0, C1 and F5-FF could only start an overlong or too large one) and that many
 * continuation bytes 80-BF, the second byte further limited after E0 (no overlong), ED (no
 * surrogate), F0 (no overlong) and F4 (nothing above U+10FFFF). */
#include "common/utf8.h"

size_t utf8_length(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80                    ? 1
                 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
                 : s[0] >= 0xe0 && s[0] <= 0xef ? 3
                 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
                                                : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    return len;
}
