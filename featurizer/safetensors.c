/* safetensors.c -- read-only access to a .safetensors file.
 *
 * A safetensors file is an 8-byte little-endian header length N, N bytes of JSON, then the
 * raw tensor data. The JSON is one object mapping each tensor name to
 * {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, offsets relative
 * to the start of the data section, plus an optional "__metadata__" object of string to
 * string, which we check for well-formedness and otherwise ignore.
 *
 * The whole file is mapped read-only and the tensors point straight into the mapping, so
 * opening costs one parse of a ~10 KB header and nothing per weight. Because the network
 * code reads the weights as plain float arrays, everything that could make such a read go
 * wrong is rejected up front: a header longer than the file, any JSON we do not understand,
 * a dtype other than F32, ranges outside the data section or overlapping each other, a
 * range whose size is not 4 * product(shape), and data that is not 4-byte aligned (the
 * mapping is page-aligned, so that depends only on the header length and the offsets).
 *
 * The JSON parser is a small strict recursive-descent one for exactly this subset: objects,
 * arrays of non-negative integers, and strings (with escapes, since names could contain
 * them). Anything else -- floats, negative numbers, true/false/null, trailing commas,
 * duplicate keys, unknown tensor fields -- is an error naming the byte where it occurred.
 * Every failure returns NULL with err = "PATH: problem". */
#include "featurizer/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c hands out the file's little-endian floats as they are"
#endif

struct safetensors_t {
    char *path;
    void *map;
    size_t map_len;
    safetensors_tensor_t *tensors;
    size_t count;
};

/* The parser's state: a cursor over the header bytes and the first error met. */
typedef struct {
    const char *start;
    const char *at;
    const char *end;
    char problem[256];
} json_t;

static void set_error(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_error(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    int n = snprintf(err, errlen, "%s: ", path);
    if (n < 0 || (size_t) n >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t) n, fmt, ap);
    va_end(ap);
}

static int json_fail(json_t *json, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first problem only: later ones are consequences of it. Returns -1 so that
 * callers can `return json_fail(...)`. */
static int json_fail(json_t *json, const char *fmt, ...)
{
    if (json->problem[0])
        return -1;
    int n = snprintf(json->problem, sizeof json->problem, "bad JSON header at byte %zu: ",
                     (size_t) (json->at - json->start));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json->problem + n, sizeof json->problem - (size_t) n, fmt, ap);
    va_end(ap);
    return -1;
}

static void json_skip_space(json_t *json)
{
    while (json->at < json->end &&
           (*json->at == ' ' || *json->at == '\t' || *json->at == '\n' || *json->at == '\r'))
        json->at++;
}

/* Skips whitespace and consumes c if it is next. */
static int json_accept(json_t *json, char c)
{
    json_skip_space(json);
    if (json->at < json->end && *json->at == c) {
        json->at++;
        return 1;
    }
    return 0;
}

static int json_expect(json_t *json, char c)
{
    if (json_accept(json, c))
        return 0;
    if (json->at >= json->end)
        return json_fail(json, "expected '%c' but the header ended", c);
    return json_fail(json, "expected '%c'", c);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int json_read_hex4(json_t *json, unsigned *value)
{
    if (json->end - json->at < 4)
        return json_fail(json, "\\u escape cut short");
    *value = 0;
    for (int i = 0; i < 4; i++) {
        int digit = hex_digit(json->at[i]);
        if (digit < 0)
            return json_fail(json, "bad \\u escape");
        *value = *value * 16 + (unsigned) digit;
    }
    json->at += 4;
    return 0;
}

static size_t utf8_encode(unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char) cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char) (0xC0 | (cp >> 6));
        out[1] = (char) (0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char) (0xE0 | (cp >> 12));
        out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char) (0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char) (0xF0 | (cp >> 18));
    out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char) (0x80 | (cp & 0x3F));
    return 4;
}

/* Parses a string and returns it decoded and NUL-terminated (caller frees), or NULL. The
 * decoded form is never longer than the escaped one, so one allocation of the raw length
 * suffices. */
static char *json_string(json_t *json)
{
    if (json_expect(json, '"'))
        return NULL;
    const char *close = json->at;
    while (close < json->end && *close != '"')
        close += *close == '\\' && json->end - close > 1 ? 2 : 1;
    if (close == json->end) {
        json_fail(json, "unterminated string");
        return NULL;
    }
    char *text = malloc((size_t) (close - json->at) + 1);
    if (!text) {
        json_fail(json, "out of memory");
        return NULL;
    }
    size_t len = 0;
    while (json->at < close) {
        unsigned char c = (unsigned char) *json->at;
        if (c < 0x20) {
            json_fail(json, "control character in string");
            goto fail;
        }
        json->at++;
        if (c != '\\') {
            text[len++] = (char) c;
            continue;
        }
        char escape = *json->at++;
        const char *plain = strchr("\"\\/bfnrt", escape);
        if (escape && plain) {
            text[len++] = "\"\\/\b\f\n\r\t"[plain - "\"\\/bfnrt"];
            continue;
        }
        if (escape != 'u') {
            json->at--;
            json_fail(json, "bad escape '\\%c'", escape);
            goto fail;
        }
        unsigned cp;
        if (json_read_hex4(json, &cp))
            goto fail;
        if (cp >= 0xD800 && cp < 0xDC00) {
            unsigned low;
            if (close - json->at < 6 || json->at[0] != '\\' || json->at[1] != 'u') {
                json_fail(json, "unpaired UTF-16 surrogate");
                goto fail;
            }
            json->at += 2;
            if (json_read_hex4(json, &low))
                goto fail;
            if (low < 0xDC00 || low >= 0xE000) {
                json_fail(json, "unpaired UTF-16 surrogate");
                goto fail;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        } else if (cp >= 0xDC00 && cp < 0xE000) {
            json_fail(json, "unpaired UTF-16 surrogate");
            goto fail;
        }
        if (cp == 0) {
            json_fail(json, "NUL character in string");
            goto fail;
        }
        len += utf8_encode(cp, text + len);
    }
    json->at = close + 1;
    text[len] = '\0';
    return text;
fail:
    free(text);
    return NULL;
}

/* A non-negative integer without sign, fraction or exponent, as safetensors writes them. */
static int json_uint(json_t *json, uint64_t *value)
{
    json_skip_space(json);
    if (json->at >= json->end || *json->at < '0' || *json->at > '9')
        return json_fail(json, "expected a non-negative integer");
    if (*json->at == '0' && json->at + 1 < json->end && json->at[1] >= '0' &&
        json->at[1] <= '9')
        return json_fail(json, "integer with a leading zero");
    *value = 0;
    while (json->at < json->end && *json->at >= '0' && *json->at <= '9') {
        unsigned digit = (unsigned) (*json->at - '0');
        if (*value > (UINT64_MAX - digit) / 10)
            return json_fail(json, "integer too large");
        *value = *value * 10 + digit;
        json->at++;
    }
    if (json->at < json->end && (*json->at == '.' || *json->at == 'e' || *json->at == 'E'))
        return json_fail(json, "expected an integer, found a fraction or exponent");
    return 0;
}

/* Parses [n, n, ...] into values (at most max of them); *count gets how many. */
static int json_uint_array(json_t *json, uint64_t *values, int max, int *count)
{
    *count = 0;
    if (json_expect(json, '['))
        return -1;
    if (json_accept(json, ']'))
        return 0;
    do {
        if (*count == max)
            return json_fail(json, "more than %d numbers in an array", max);
        if (json_uint(json, &values[(*count)++]))
            return -1;
    } while (json_accept(json, ','));
    return json_expect(json, ']');
}

/* The "__metadata__" object: string -> string, contents unused. */
static int json_skip_metadata(json_t *json)
{
    if (json_expect(json, '{'))
        return -1;
    if (json_accept(json, '}'))
        return 0;
    do {
        char *key = json_string(json);
        free(key);
        if (!key || json_expect(json, ':'))
            return -1;
        char *value = json_string(json);
        free(value);
        if (!value)
            return -1;
    } while (json_accept(json, ','));
    return json_expect(json, '}');
}

/* One tensor's description, before it is checked against the file. */
typedef struct {
    uint64_t shape[SAFETENSORS_MAX_DIMS];
    int ndim;
    uint64_t begin, end;
} tensor_entry_t;

static int json_tensor_entry(json_t *json, const char *name, tensor_entry_t *entry)
{
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    if (json_expect(json, '{'))
        return -1;
    do {
        const char *key_at = json->at;
        char *key = json_string(json);
        if (!key || json_expect(json, ':')) {
            free(key);
            return -1;
        }
        int rc = 0;
        if (strcmp(key, "dtype") == 0 && !have_dtype) {
            have_dtype = 1;
            const char *value_at = json->at;
            char *dtype = json_string(json);
            if (!dtype)
                rc = -1;
            else if (strcmp(dtype, "F32") != 0) {
                json->at = value_at;
                rc = json_fail(json, "tensor \"%s\" has dtype %s; only F32 is supported", name,
                               dtype);
            }
            free(dtype);
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            have_shape = 1;
            rc = json_uint_array(json, entry->shape, SAFETENSORS_MAX_DIMS, &entry->ndim);
        } else if (strcmp(key, "data_offsets") == 0 && !have_offsets) {
            have_offsets = 1;
            uint64_t offsets[2];
            int n;
            rc = json_uint_array(json, offsets, 2, &n);
            if (rc == 0 && n != 2)
                rc = json_fail(json, "tensor \"%s\": data_offsets needs 2 numbers", name);
            entry->begin = offsets[0];
            entry->end = offsets[1];
        } else {
            json->at = key_at;
            rc = json_fail(json, "tensor \"%s\": unexpected or repeated field \"%s\"", name, key);
        }
        free(key);
        if (rc)
            return -1;
    } while (json_accept(json, ','));
    if (json_expect(json, '}'))
        return -1;
    if (!have_dtype || !have_shape || !have_offsets)
        return json_fail(json, "tensor \"%s\" lacks %s", name,
                         !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    return 0;
}

static void free_tensors(safetensors_tensor_t *tensors, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free((char *) tensors[i].name);
    free(tensors);
}

/* Parses the whole header into self->tensors, with the raw offsets in entries (parallel
 * array, caller frees). Returns 0 or -1 with json->problem set. */
static int parse_header(json_t *json, safetensors_t *self, tensor_entry_t **entries_p)
{
    size_t capacity = 0;
    tensor_entry_t *entries = NULL;
    int have_metadata = 0;
    if (json_expect(json, '{'))
        goto fail;
    if (!json_accept(json, '}')) {
        do {
            const char *name_at = json->at;
            char *name = json_string(json);
            if (!name || json_expect(json, ':')) {
                free(name);
                goto fail;
            }
            if (strcmp(name, "__metadata__") == 0 && !have_metadata) {
                have_metadata = 1;
                free(name);
                if (json_skip_metadata(json))
                    goto fail;
                continue;
            }
            for (size_t i = 0; i < self->count; i++)
                if (strcmp(self->tensors[i].name, name) == 0) {
                    json->at = name_at;
                    json_fail(json, "tensor \"%s\" appears twice", name);
                    free(name);
                    goto fail;
                }
            if (self->count == capacity) {
                capacity = capacity ? capacity * 2 : 128;
                safetensors_tensor_t *tensors =
                    realloc(self->tensors, capacity * sizeof *self->tensors);
                tensor_entry_t *grown = realloc(entries, capacity * sizeof *entries);
                if (tensors)
                    self->tensors = tensors;
                if (grown)
                    entries = grown;
                if (!tensors || !grown) {
                    free(name);
                    json_fail(json, "out of memory");
                    goto fail;
                }
            }
            memset(&self->tensors[self->count], 0, sizeof *self->tensors);
            self->tensors[self->count].name = name;
            memset(&entries[self->count], 0, sizeof *entries);
            self->count++;
            if (json_tensor_entry(json, name, &entries[self->count - 1]))
                goto fail;
        } while (json_accept(json, ','));
        if (json_expect(json, '}'))
            goto fail;
    }
    /* The writer may pad the header with spaces to align the data; nothing else may follow. */
    json_skip_space(json);
    if (json->at != json->end) {
        json_fail(json, "unexpected text after the top-level object");
        goto fail;
    }
    *entries_p = entries;
    return 0;
fail:
    free(entries);
    return -1;
}

/* A tensor's byte range with its index, for the overlap check. */
typedef struct {
    uint64_t begin, end;
    size_t index;
} range_t;

static int compare_ranges(const void *a, const void *b)
{
    const range_t *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Checks each tensor's range against its shape and the data section, then fills in the
 * public fields. data is the start of the data section, data_len its length. */
static int check_tensors(safetensors_t *self, tensor_entry_t *entries, const char *data,
                         uint64_t data_len, char *err, size_t errlen)
{
    for (size_t i = 0; i < self->count; i++) {
        safetensors_tensor_t *tensor = &self->tensors[i];
        tensor_entry_t *entry = &entries[i];
        uint64_t count = 1;
        for (int d = 0; d < entry->ndim; d++) {
            if (entry->shape[d] > INT64_MAX ||
                (entry->shape[d] && count > UINT64_MAX / 4 / entry->shape[d])) {
                set_error(err, errlen, self->path, "tensor \"%s\": shape is too large",
                          tensor->name);
                return -1;
            }
            count *= entry->shape[d];
            tensor->shape[d] = (int64_t) entry->shape[d];
        }
        tensor->ndim = entry->ndim;
        if (entry->begin > entry->end) {
            set_error(err, errlen, self->path,
                      "tensor \"%s\": data_offsets [%llu, %llu] end before they begin",
                      tensor->name, (unsigned long long) entry->begin,
                      (unsigned long long) entry->end);
            return -1;
        }
        if (entry->end > data_len) {
            set_error(err, errlen, self->path,
                      "truncated: tensor \"%s\" ends at byte %llu of the data section but "
                      "the file has only %llu bytes of data",
                      tensor->name, (unsigned long long) entry->end,
                      (unsigned long long) data_len);
            return -1;
        }
        if (entry->end - entry->begin != 4 * count) {
            set_error(err, errlen, self->path,
                      "tensor \"%s\": data_offsets [%llu, %llu] hold %llu bytes but its shape "
                      "needs %llu (4 bytes x %llu elements)",
                      tensor->name, (unsigned long long) entry->begin,
                      (unsigned long long) entry->end,
                      (unsigned long long) (entry->end - entry->begin),
                      (unsigned long long) (4 * count), (unsigned long long) count);
            return -1;
        }
        if ((uintptr_t) (data + entry->begin) % _Alignof(float) != 0) {
            set_error(err, errlen, self->path,
                      "tensor \"%s\" is not 4-byte aligned in the file (data starts at file "
                      "offset %llu), so it cannot be read as floats in place",
                      tensor->name,
                      (unsigned long long) ((const char *) data - (const char *) self->map +
                                            entry->begin));
            return -1;
        }
        tensor->count = (size_t) count;
        tensor->data = (const float *) (const void *) (data + entry->begin);
    }

    /* Sorted by start, ranges overlap exactly when one starts before the previous ends.
     * Empty tensors occupy nothing and cannot overlap. */
    range_t *ranges = malloc((self->count ? self->count : 1) * sizeof *ranges);
    if (!ranges) {
        set_error(err, errlen, self->path, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < self->count; i++)
        ranges[i] = (range_t) {entries[i].begin, entries[i].end, i};
    qsort(ranges, self->count, sizeof *ranges, compare_ranges);
    int rc = 0;
    const range_t *previous = NULL;
    for (size_t k = 0; k < self->count && rc == 0; k++) {
        const range_t *range = &ranges[k];
        if (range->begin == range->end)
            continue;
        if (previous && range->begin < previous->end) {
            set_error(err, errlen, self->path,
                      "tensors \"%s\" [%llu, %llu] and \"%s\" [%llu, %llu] overlap",
                      self->tensors[previous->index].name, (unsigned long long) previous->begin,
                      (unsigned long long) previous->end, self->tensors[range->index].name,
                      (unsigned long long) range->begin, (unsigned long long) range->end);
            rc = -1;
        }
        previous = range;
    }
    free(ranges);
    return rc;
}

safetensors_t *safetensors_open(const char *path, char *err, size_t errlen)
{
    safetensors_t *self = calloc(1, sizeof *self);
    if (!self || !(self->path = strdup(path))) {
        free(self);
        set_error(err, errlen, path, "out of memory");
        return NULL;
    }
    tensor_entry_t *entries = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_error(err, errlen, path, "%s", strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        set_error(err, errlen, path, "%s", strerror(errno));
        close(fd);
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        set_error(err, errlen, path, "not a regular file");
        close(fd);
        goto fail;
    }
    uint64_t file_len = (uint64_t) st.st_size;
    if (file_len < 8) {
        set_error(err, errlen, path,
                  "truncated: %llu bytes, too short for the 8-byte header length",
                  (unsigned long long) file_len);
        close(fd);
        goto fail;
    }
    self->map_len = (size_t) file_len;
    self->map = mmap(NULL, self->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (self->map == MAP_FAILED) {
        self->map = NULL;
        set_error(err, errlen, path, "mmap: %s", strerror(errno));
        goto fail;
    }

    const unsigned char *bytes = self->map;
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--)
        header_len = header_len << 8 | bytes[i];
    if (header_len > file_len - 8) {
        set_error(err, errlen, path,
                  "truncated or not safetensors: header length %llu but only %llu bytes "
                  "follow it",
                  (unsigned long long) header_len, (unsigned long long) (file_len - 8));
        goto fail;
    }
    json_t json = {.start = (const char *) bytes + 8,
                   .at = (const char *) bytes + 8,
                   .end = (const char *) bytes + 8 + header_len,
                   .problem = ""};
    if (parse_header(&json, self, &entries)) {
        set_error(err, errlen, path, "%s", json.problem);
        goto fail;
    }
    if (check_tensors(self, entries, json.end, file_len - 8 - header_len, err, errlen))
        goto fail;
    free(entries);
    return self;
fail:
    free(entries);
    safetensors_destroy(&self);
    return NULL;
}

void safetensors_destroy(safetensors_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    safetensors_t *self = *self_p;
    if (self->map)
        munmap(self->map, self->map_len);
    free_tensors(self->tensors, self->count);
    free(self->path);
    free(self);
    *self_p = NULL;
}

size_t safetensors_count(const safetensors_t *self)
{
    return self->count;
}

const safetensors_tensor_t *safetensors_at(const safetensors_t *self, size_t index)
{
    return index < self->count ? &self->tensors[index] : NULL;
}

/* A linear scan: the network looks up ~100 names once at load time. */
const safetensors_tensor_t *safetensors_find(const safetensors_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(self->tensors[i].name, name) == 0)
            return &self->tensors[i];
    return NULL;
}

const char *safetensors_path(const safetensors_t *self)
{
    return self->path;
}
