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
 * The header is parsed by jansson, strictly: a syntax error, a repeated key at any level,
 * invalid UTF-8 or a \u0000 is an error naming the byte where jansson stopped. The parsed
 * object is then held to the safetensors layout, which is narrower than JSON: each tensor
 * has exactly the three fields above, shape and data_offsets are arrays of non-negative
 * integers (no fractions, no null), metadata values are strings; a violation names the
 * tensor. The parsed header is kept while the file is open, since the tensors' names are
 * its keys. Every failure returns NULL with err = "PATH: problem". */
#include "featurizer/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
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
    json_t *header; /* the parsed header: the tensors' names are its keys */
    safetensors_tensor_t *tensors;
    size_t count;
};

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

/* Valid JSON that is not a safetensors header: the same words as a syntax error, so that
 * one grep finds every header problem. */
#define BAD_HEADER "bad JSON header: "

/* One tensor's description, before it is checked against the file. */
typedef struct {
    uint64_t shape[SAFETENSORS_MAX_DIMS];
    int ndim;
    uint64_t begin, end;
} tensor_entry_t;

/* An array of at most max non-negative integers into values; *count gets how many.
 * jansson's integers are int64, so each one also fits an int64_t shape. */
static int read_uints(const json_t *array, uint64_t *values, int max, int *count)
{
    if (!json_is_array(array) || json_array_size(array) > (size_t) max)
        return -1;
    size_t i;
    const json_t *item;
    json_array_foreach(array, i, item) {
        if (!json_is_integer(item) || json_integer_value(item) < 0)
            return -1;
        values[i] = (uint64_t) json_integer_value(item);
    }
    *count = (int) json_array_size(array);
    return 0;
}

/* One tensor's {"dtype", "shape", "data_offsets"}: exactly those fields, nothing else. */
static int read_entry(const char *path, const char *name, json_t *value, tensor_entry_t *entry,
                      char *err, size_t errlen)
{
    if (!json_is_object(value)) {
        set_error(err, errlen, path, BAD_HEADER "tensor \"%s\" is not an object", name);
        return -1;
    }
    const char *key;
    json_t *field;
    json_object_foreach(value, key, field) {
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets")) {
            set_error(err, errlen, path, BAD_HEADER "tensor \"%s\": unexpected field \"%s\"", name,
                      key);
            return -1;
        }
    }
    const json_t *dtype = json_object_get(value, "dtype");
    const json_t *shape = json_object_get(value, "shape");
    const json_t *offsets = json_object_get(value, "data_offsets");
    if (!dtype || !shape || !offsets) {
        set_error(err, errlen, path, BAD_HEADER "tensor \"%s\" lacks %s", name,
                  !dtype   ? "dtype"
                  : !shape ? "shape"
                           : "data_offsets");
        return -1;
    }
    if (!json_is_string(dtype)) {
        set_error(err, errlen, path, BAD_HEADER "tensor \"%s\": dtype is not a string", name);
        return -1;
    }
    if (strcmp(json_string_value(dtype), "F32") != 0) {
        set_error(err, errlen, path, "tensor \"%s\" has dtype %s; only F32 is supported", name,
                  json_string_value(dtype));
        return -1;
    }
    if (read_uints(shape, entry->shape, SAFETENSORS_MAX_DIMS, &entry->ndim) != 0) {
        set_error(err, errlen, path,
                  BAD_HEADER "tensor \"%s\": shape is not an array of at most %d "
                             "non-negative integers",
                  name, SAFETENSORS_MAX_DIMS);
        return -1;
    }
    uint64_t pair[2];
    int n;
    if (read_uints(offsets, pair, 2, &n) != 0 || n != 2) {
        set_error(err, errlen, path,
                  BAD_HEADER "tensor \"%s\": data_offsets is not an array of 2 non-negative "
                             "integers",
                  name);
        return -1;
    }
    entry->begin = pair[0];
    entry->end = pair[1];
    return 0;
}

/* "__metadata__": an object of string to string, contents unused. */
static int check_metadata(const char *path, json_t *metadata, char *err, size_t errlen)
{
    const char *key;
    json_t *value;
    if (!json_is_object(metadata)) {
        set_error(err, errlen, path, BAD_HEADER "__metadata__ is not an object");
        return -1;
    }
    json_object_foreach(metadata, key, value) {
        if (!json_is_string(value)) {
            set_error(err, errlen, path, BAD_HEADER "__metadata__ \"%s\" is not a string", key);
            return -1;
        }
    }
    return 0;
}

/* Parses the header (len bytes at text) into self->header and self->tensors, with the raw
 * offsets in entries (parallel array, caller frees). jansson rejects what is not strict
 * JSON, including a repeated key at any level (JSON_REJECT_DUPLICATES), a \u0000 in a
 * string and invalid UTF-8; after the top-level object it allows only whitespace, which is
 * how writers pad the header to align the data. */
static int parse_header(safetensors_t *self, const char *text, size_t len,
                        tensor_entry_t **entries_p, char *err, size_t errlen)
{
    json_error_t error;
    self->header = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    if (!self->header) {
        set_error(err, errlen, self->path, "bad JSON header at byte %d (line %d, column %d): %s",
                  error.position, error.line, error.column, error.text);
        return -1;
    }
    if (!json_is_object(self->header)) {
        set_error(err, errlen, self->path, BAD_HEADER "the top level is not an object");
        return -1;
    }
    size_t capacity = json_object_size(self->header) + 1;
    self->tensors = calloc(capacity, sizeof *self->tensors);
    tensor_entry_t *entries = calloc(capacity, sizeof *entries);
    if (!self->tensors || !entries) {
        free(entries);
        set_error(err, errlen, self->path, "out of memory");
        return -1;
    }
    const char *name;
    json_t *value;
    json_object_foreach(self->header, name, value) {
        if (strcmp(name, "__metadata__") == 0) {
            if (check_metadata(self->path, value, err, errlen) != 0)
                goto fail;
            continue;
        }
        if (read_entry(self->path, name, value, &entries[self->count], err, errlen) != 0)
            goto fail;
        self->tensors[self->count++].name = name; /* the key, owned by self->header */
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
                      tensor->name, (unsigned long long) entry->end, (unsigned long long) data_len);
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
        ranges[i] = (range_t){entries[i].begin, entries[i].end, i};
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
    const char *header = (const char *) bytes + 8;
    if (parse_header(self, header, (size_t) header_len, &entries, err, errlen))
        goto fail;
    if (check_tensors(self, entries, header + header_len, file_len - 8 - header_len, err, errlen))
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
    free(self->tensors);
    json_decref(self->header);
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
