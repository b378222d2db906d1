/* json_out.c -- see json_out.h. Numbers are rounded by printing them with the requested
 * precision and reading the text back, so the double jansson holds is the nearest one to
 * that decimal; dumped with 15 significant digits (fewer than a double's 15.9, so exact
 * for any such decimal) it prints as the same short decimal, "0.29" and not
 * "0.28999999999999998". */
#include "common/json_out.h"

#include "common/utf8.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_OUT_DIGITS 15
static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD in UTF-8 */

json_t *json_out_text(const char *s, size_t n)
{
    json_t *string = json_stringn(s, n);
    if (string || n > SIZE_MAX / 3)
        return string;
    /* Invalid UTF-8 (or no memory, which this copy then meets too): each bad byte becomes
     * the 3 bytes of U+FFFD. */
    const unsigned char *bytes = (const unsigned char *) s;
    char *text = malloc(3 * n + 1);
    if (!text)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_length(bytes + i, n - i);
        if (len) {
            memcpy(text + at, s + i, len);
            at += len;
            i += len;
        } else {
            memcpy(text + at, replacement, sizeof replacement - 1);
            at += sizeof replacement - 1;
            i++;
        }
    }
    string = json_stringn(text, at);
    free(text);
    return string;
}

json_t *json_out_string(const char *s)
{
    return json_out_text(s, strlen(s));
}

/* x printed with that precision ("%.*f" when fixed, else "%.*g") and read back (see the
 * top of the file). */
static json_t *rounded(double x, bool fixed, int precision)
{
    if (!isfinite(x))
        return json_null();
    char text[512]; /* "%.17f" of DBL_MAX: 309 digits, a sign, a point and 17 decimals */
    precision = precision < 0 ? 0 : precision > 17 ? 17 : precision;
    if (fixed)
        snprintf(text, sizeof text, "%.*f", precision, x);
    else
        snprintf(text, sizeof text, "%.*g", precision, x);
    return json_real(strtod(text, NULL));
}

json_t *json_out_fixed(double x, int decimals)
{
    if (decimals <= 0 && isfinite(x) && fabs(x) < 9e18) /* "%.0f": a whole number */
        return json_integer((json_int_t) llround(x));
    return rounded(x, true, decimals);
}

json_t *json_out_digits(double x, int digits)
{
    return rounded(x, false, digits);
}

void json_out_append(json_t **array_p, json_t *value)
{
    if (json_array_append_new(*array_p, value) != 0) {
        json_decref(*array_p);
        *array_p = NULL;
    }
}

void json_out_set(json_t **object_p, const char *key, json_t *value)
{
    if (json_object_set_new(*object_p, key, value) != 0) {
        json_decref(*object_p);
        *object_p = NULL;
    }
}

char *json_out_dumps(const json_t *value)
{
    return json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(JSON_OUT_DIGITS));
}
