/* utf8.h -- the one rule for what valid UTF-8 is, for the writers that must never emit
 * anything else whatever bytes they are given (the CSV export, the JSON answers). It is
 * the rule jansson applies: shortest form only, no UTF-16 surrogates, nothing above
 * U+10FFFF. */
#ifndef FS_UTF8_H
#define FS_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (n bytes left, n >= 1), or 0 when it is not one. */
size_t utf8_length(const unsigned char *s, size_t n);

#endif
