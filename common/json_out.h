/* json_out.h -- what the programs' JSON replies need beyond jansson itself: a string made
 * from any bytes, numbers printed to a fixed precision, and the one compact form they are
 * all written in.
 *
 * jansson refuses a string that is not valid UTF-8 (json_stringn returns NULL), and its
 * dump fails whole on one. Keys, labels, host names and ids come from Redis, the watched
 * folders and HTTP clients and can hold any bytes, so json_out_text replaces each byte that
 * is not part of a valid UTF-8 sequence with U+FFFD, the Unicode replacement character:
 * the reply stays valid JSON and every other character stays as it was. NUL bytes are kept
 * (written \u0000). A value built here is NULL only when memory ran out; json_pack and
 * json_object_set_new then fail in turn, so a reply is whole or not at all. */
#ifndef FS_JSON_OUT_H
#define FS_JSON_OUT_H

#include <jansson.h>
#include <stddef.h>

/* A JSON string of the n bytes at s, invalid UTF-8 replaced (see above). */
json_t *json_out_text(const char *s, size_t n);
/* The same of a NUL-terminated string. */
json_t *json_out_string(const char *s);
/* x as printf's "%.*f" would print it: a number rounded to that many decimals, an integer
 * when decimals is 0; null when x is not finite (JSON has no NaN nor infinity). */
json_t *json_out_fixed(double x, int decimals);
/* x rounded to that many significant digits, as "%.*g"; null when not finite. */
json_t *json_out_digits(double x, int digits);
/* Build steps that keep "whole or not at all": each steals value and, when it fails (value
 * NULL: out of memory), drops the container and sets *p to NULL; a step on a NULL
 * container only frees value. */
void json_out_append(json_t **array_p, json_t *value);
void json_out_set(json_t **object_p, const char *key, json_t *value);
/* value as one line of compact JSON (caller frees), or NULL when memory ran out. The
 * numbers above come out as rounded, not with a double's full 17 digits. */
char *json_out_dumps(const json_t *value);

#endif
