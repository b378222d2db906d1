/* options.c -- see options.h. strtoll/strtod do the reading; what they let through
 * (leading spaces, a '+', trailing text, overflow clamped to the limits, hexadecimal and
 * "inf"/"nan" for reals) is refused here. */
#include "common/options.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char *program = "fruitstream";

void option_set_program(const char *name)
{
    program = name;
}

/* Digits only, after an optional '-': what a person types for a number. */
static bool plain_number(const char *s, bool real)
{
    if (*s == '-')
        s++;
    if (!isdigit((unsigned char) *s) && !(real && *s == '.'))
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char) *s) &&
            !(real && (*s == '.' || *s == 'e' || *s == 'E' || *s == '-' || *s == '+')))
            return false;
    return true;
}

bool option_parse_int64(const char *s, int64_t *out)
{
    if (!s || !plain_number(s, false))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end)
        return false;
    *out = (int64_t) v;
    return true;
}

static int out_of_range(const char *option, const char *value, int64_t min, int64_t max)
{
    fprintf(stderr, "%s: %s: %s is not in %lld..%lld\n", program, option, value,
            (long long) min, (long long) max);
    return -1;
}

int option_int64(const char *option, const char *value, int64_t min, int64_t max,
                 int64_t *out)
{
    int64_t v;
    if (!option_parse_int64(value, &v)) {
        fprintf(stderr, "%s: %s: \"%s\" is not a whole number%s\n", program, option, value,
                value && plain_number(value, false) ? " that fits in 64 bits" : "");
        return -1;
    }
    if (v < min || v > max)
        return out_of_range(option, value, min, max);
    *out = v;
    return 0;
}

int option_int(const char *option, const char *value, int min, int max, int *out)
{
    int64_t v;
    if (option_int64(option, value, min, max, &v) != 0)
        return -1;
    *out = (int) v;
    return 0;
}

int option_bytes(const char *option, const char *value, int64_t min, int64_t max,
                 int64_t *out)
{
    char digits[32];
    size_t len = 0;
    while (value[len] && len + 1 < sizeof digits && isdigit((unsigned char) value[len]))
        digits[len] = value[len], len++;
    digits[len] = '\0';
    const char *unit = value + len;
    int shift = !*unit ? 0 : unit[1] ? -1 : *unit == 'K' ? 10 : *unit == 'M' ? 20
                                                               : *unit == 'G' ? 30 : -1;
    int64_t v;
    if (len == 0 || shift < 0 || !option_parse_int64(digits, &v) ||
        v > (INT64_MAX >> shift)) {
        fprintf(stderr, "%s: %s: \"%s\" is not a number of bytes (digits, then K, M or G "
                        "if wanted)\n", program, option, value);
        return -1;
    }
    v <<= shift;
    if (v < min || v > max)
        return out_of_range(option, value, min, max);
    *out = v;
    return 0;
}

int option_real(const char *option, const char *value, double above, double max, double *out)
{
    char *end = NULL;
    double v = 0;
    if (value && plain_number(value, true)) {
        errno = 0;
        v = strtod(value, &end);
    }
    if (!end || *end || errno != 0 || !isfinite(v)) {
        fprintf(stderr, "%s: %s: \"%s\" is not a number\n", program, option, value);
        return -1;
    }
    if (!(v > above && v <= max)) {
        fprintf(stderr, "%s: %s: %s is not in (%g, %g]\n", program, option, value, above, max);
        return -1;
    }
    *out = v;
    return 0;
}
