/* options.h -- strict reading of numeric command-line options, the one way every program
 * does it.
 *
 * atoi and atof read "224x" as 224, "1e6" as 1 and "abc" as 0, and wrap what does not fit:
 * a typo then runs with a value nobody asked for. These read the whole string or refuse it,
 * check the range, and the refusal names the option and the value:
 *   fruitstream-worker: --size: "224x" is not a whole number
 * Each returns 0 and stores the value, or -1 (after printing why, on stderr) leaving *out
 * as it was. Ranges are inclusive, except a real's lower bound (every real option wants a
 * value above something: a variance above 0, seconds above 0). */
#ifndef FS_OPTIONS_H
#define FS_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

/* The program name errors start with (default "fruitstream"). */
void option_set_program(const char *program);

int option_int64(const char *option, const char *value, int64_t min, int64_t max,
                 int64_t *out);
int option_int(const char *option, const char *value, int min, int max, int *out);
/* A count of bytes, with an optional unit K, M or G (powers of 1024): "16K", "64M". */
int option_bytes(const char *option, const char *value, int64_t min, int64_t max,
                 int64_t *out);
/* A real number in (above, max]: finite, the whole string. */
int option_real(const char *option, const char *value, double above, double max, double *out);

/* The parsing alone, for numbers that are not options (a port in a URL): the whole of s
 * as a decimal integer that fits in int64_t; no sign other than a leading '-', no spaces. */
bool option_parse_int64(const char *s, int64_t *out);

#endif
