/* test_safetensors.c -- the safetensors reader on the real MobileNetV2 weights and on
 * small hand-made files, each broken in one way.
 *
 * Every broken file must give NULL and an error that names the file, so that an operator
 * pointing the worker at the wrong file learns which one and why. The files are written
 * to /tmp with mkstemp and removed at once. */
#include "featurizer/safetensors.h"
#include "tests/test.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static char model_path[4096];

/* Writes header_len (LE), header and data to a fresh temporary file; path gets its name. */
static int write_file(char *path, uint64_t header_len, const char *header, const void *data,
                      size_t data_len)
{
    strcpy(path, "/tmp/fs_test_safetensors_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++)
        prefix[i] = (unsigned char) (header_len >> (8 * i));
    size_t len = strlen(header);
    int ok = write(fd, prefix, 8) == 8 && write(fd, header, len) == (ssize_t) len &&
             (data_len == 0 || write(fd, data, data_len) == (ssize_t) data_len);
    close(fd);
    return ok ? 0 : -1;
}

/* A file with this header and data_len bytes of data (the floats 0, 1, 2, ...). The header
 * is padded with spaces, as safetensors writers do, so that the data is 4-byte aligned. */
static int write_safetensors(char *path, const char *header, size_t data_len)
{
    float data[64];
    for (int i = 0; i < 64; i++)
        data[i] = (float) i;
    char padded[1024];
    size_t len = strlen(header);
    snprintf(padded, sizeof padded, "%s%*s", header, (int) ((4 - (8 + len) % 4) % 4), "");
    return write_file(path, strlen(padded), padded, data, data_len);
}

/* Opens path, expecting failure with an error naming the file and containing problem. */
static int fails_with(const char *path, const char *problem, char *err, size_t errlen)
{
    err[0] = '\0';
    safetensors_t *st = safetensors_open(path, err, errlen);
    if (st) {
        safetensors_destroy(&st);
        snprintf(err, errlen, "opened although it should not");
        return 0;
    }
    return strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':' &&
           strstr(err, problem) != NULL;
}

/* One broken-file case: header (written with its true length) and data_len bytes of data
 * must fail with an error containing problem. */
#define CHECK_BROKEN(header, data_len, problem)                                                    \
    do {                                                                                           \
        char path[64], err[512];                                                                   \
        CHECK(write_safetensors(path, header, data_len) == 0, "cannot write temp file");           \
        int as_expected = fails_with(path, problem, err, sizeof err);                              \
        unlink(path);                                                                              \
        CHECK(as_expected, "%s: wanted \"%s\", got \"%s\"", header, problem, err);                 \
    } while (0)

static void real_file_opens_with_all_tensors(void)
{
    char err[512] = "";
    safetensors_t *st = safetensors_open(model_path, err, sizeof err);
    CHECK(st, "%s", err);
    size_t count = safetensors_count(st);
    size_t parameters = 0;
    for (size_t i = 0; i < count; i++)
        parameters += safetensors_at(st, i)->count;
    const safetensors_tensor_t *first = safetensors_find(st, "features.0.0.weight");
    const safetensors_tensor_t *bias = safetensors_find(st, "features.0.0.bias");
    const safetensors_tensor_t *last = safetensors_find(st, "features.18.0.weight");
    const safetensors_tensor_t *depthwise = safetensors_find(st, "features.17.conv.1.0.weight");
    int missing_is_null = safetensors_find(st, "classifier.1.weight") == NULL;
    int past_end_is_null = safetensors_at(st, count) == NULL;
    int path_kept = strcmp(safetensors_path(st), model_path) == 0;
    int finite = 1;
    for (size_t i = 0; last && i < last->count; i++)
        finite &= isfinite(last->data[i]);
    int shapes_ok = first && first->ndim == 4 && first->shape[0] == 32 && first->shape[1] == 3 &&
                    first->shape[2] == 3 && first->shape[3] == 3 && first->count == 864 && bias &&
                    bias->ndim == 1 && bias->shape[0] == 32 && last && last->ndim == 4 &&
                    last->shape[0] == 1280 && last->shape[1] == 320 && last->shape[2] == 1 &&
                    last->shape[3] == 1 && depthwise && depthwise->ndim == 4 &&
                    depthwise->shape[0] == 960 && depthwise->shape[1] == 1 &&
                    depthwise->shape[2] == 3;
    safetensors_destroy(&st);
    CHECK(st == NULL, "destroy leaves the pointer set");
    CHECK(count == 104, "%zu tensors, expected 104", count);
    CHECK(parameters == 2206816, "%zu parameters, expected 2206816", parameters);
    CHECK(shapes_ok, "unexpected shapes");
    CHECK(missing_is_null && past_end_is_null, "lookups past the tensors should give NULL");
    CHECK(path_kept, "safetensors_path changed the path");
    CHECK(finite, "features.18.0.weight has non-finite values");
}

static void small_valid_file_opens(void)
{
    /* Metadata, escapes in names, keys in any order, a zero-size tensor, padding spaces. */
    const char *header =
        "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"a \\\"quoted\\\" word\"},"
        "\"b\\u00e9ta\":{\"shape\":[2,3],\"data_offsets\":[16,40],\"dtype\":\"F32\"},"
        "\"alpha\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
        "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[40,40]},"
        "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[40,44]}}  ";
    char path[64], err[512] = "";
    CHECK(write_safetensors(path, header, 44) == 0, "cannot write temp file");
    safetensors_t *st = safetensors_open(path, err, sizeof err);
    unlink(path);
    CHECK(st, "%s", err);
    const safetensors_tensor_t *alpha = safetensors_find(st, "alpha");
    const safetensors_tensor_t *beta = safetensors_find(st, "b\xc3\xa9ta");
    const safetensors_tensor_t *empty = safetensors_find(st, "empty");
    const safetensors_tensor_t *scalar = safetensors_find(st, "scalar");
    size_t count = safetensors_count(st);
    int ok = alpha && alpha->count == 4 && alpha->data[3] == 3.0f && beta && beta->count == 6 &&
             beta->shape[1] == 3 && beta->data[0] == 4.0f && empty && empty->count == 0 && scalar &&
             scalar->ndim == 0 && scalar->count == 1 && scalar->data[0] == 10.0f;
    safetensors_destroy(&st);
    CHECK(count == 4, "%zu tensors, expected 4", count);
    CHECK(ok, "tensors read back wrong");
}

static void missing_and_tiny_files_fail(void)
{
    char err[512], path[64];
    CHECK(fails_with("/nonexistent/model.safetensors", "No such file", err, sizeof err), "%s", err);
    strcpy(path, "/tmp/fs_test_safetensors_XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    int wrote = write(fd, "\x10\0\0", 3) == 3;
    close(fd);
    int as_expected = wrote && fails_with(path, "truncated", err, sizeof err);
    unlink(path);
    CHECK(as_expected, "3-byte file: %s", err);
}

static void truncated_real_file_fails(void)
{
    FILE *in = fopen(model_path, "rb");
    CHECK(in, "cannot read %s", model_path);
    static char bytes[1 << 20];
    size_t len = fread(bytes, 1, sizeof bytes, in);
    fclose(in);
    /* The first megabyte: the header is whole, the data is not. */
    char path[64], err[512];
    strcpy(path, "/tmp/fs_test_safetensors_XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    int wrote = write(fd, bytes, len) == (ssize_t) len;
    close(fd);
    int as_expected = wrote && fails_with(path, "truncated", err, sizeof err);
    unlink(path);
    CHECK(as_expected, "%s", err);
}

static void bad_header_length_fails(void)
{
    char path[64], err[512];
    const char *header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    CHECK(write_file(path, 1ull << 40, header, "abcd", 4) == 0, "cannot write temp file");
    int as_expected = fails_with(path, "header length", err, sizeof err);
    unlink(path);
    CHECK(as_expected, "%s", err);
    /* A length shorter than the JSON cuts it mid-way. */
    CHECK(write_file(path, 20, header, "abcd", 4) == 0, "cannot write temp file");
    as_expected = fails_with(path, "bad JSON", err, sizeof err);
    unlink(path);
    CHECK(as_expected, "%s", err);
}

static void bad_json_fails(void)
{
    CHECK_BROKEN("", 0, "bad JSON");
    CHECK_BROKEN("[]", 0, "bad JSON");
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4, "bad JSON");
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4,
                 "bad JSON");
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4,
                 "bad JSON");
    CHECK_BROKEN("{\"a:{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "bad JSON");
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
                 "bad JSON");
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
                 "bad JSON");
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
                 "tensor \"a\": unexpected field \"x\"");
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "lacks data_offsets");
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4,
                 "bad JSON");
    CHECK_BROKEN("{\"__metadata__\":{\"n\":1}}", 0, "bad JSON");
    CHECK_BROKEN("{\"a\":[]}", 0, "tensor \"a\" is not an object");
    CHECK_BROKEN("{\"a\":{\"dtype\":1,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 "tensor \"a\": dtype is not a string");
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,2,3,4,5,6,7,8,9],\"data_offsets\":[0,4]}}",
                 4, "tensor \"a\": shape is not an array");
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,null]}}", 4,
                 "tensor \"a\": data_offsets is not an array of 2");
    CHECK_BROKEN("{\"__metadata__\":[]}", 0, "__metadata__ is not an object");
}

/* jansson's syntax errors: the byte, line and column where it stopped, and what it met. */
static void syntax_errors_name_the_byte(void)
{
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4,
                 "bad JSON header at byte 55 (line 1, column 55): string or '}' expected");
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}\nx", 4,
                 "bad JSON header at byte 56 (line 2, column 1): end of file expected");
    CHECK_BROKEN("{\"a\\q\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 "at byte 5 (line 1, column 5): invalid escape");
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e3],\"data_offsets\":[0,4]}}", 4,
                 "tensor \"a\": shape is not an array");
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],"
                 "\"data_offsets\":[0,4]}}",
                 4, "too big integer");
    CHECK_BROKEN("{\"\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 "at byte 2 (line 1, column 2): unable to decode byte 0xff");
    CHECK_BROKEN("{\"a\\u0000\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 "NUL byte in object key");
}

/* A repeated key is refused at every level, naming the key: a tensor (else one of the two
 * would be silently dropped), a tensor's field, the metadata. */
static void duplicate_keys_fail(void)
{
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                 8, "at byte 57 (line 1, column 57): duplicate object key near '\"a\"'");
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"shape\":[1],\"data_offsets\":[0,4]}}",
                 4, "duplicate object key near '\"shape\"'");
    CHECK_BROKEN("{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0,
                 "duplicate object key near '\"k\"'");
    CHECK_BROKEN("{\"__metadata__\":{},\"__metadata__\":{}}", 0,
                 "duplicate object key near '\"__metadata__\"'");
}

static void wrong_dtype_fails(void)
{
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                 "dtype F16");
}

static void offsets_out_of_range_fail(void)
{
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
                 "truncated");
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8,
                 "end before they begin");
}

static void size_mismatch_fails(void)
{
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
                 "its shape needs 12");
}

static void overlap_fails(void)
{
    CHECK_BROKEN("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                 12, "overlap");
}

static void misaligned_data_fails(void)
{
    /* 8 + 54 bytes of header: the data section starts at file offset 62. */
    const char *header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    char path[64], err[512];
    CHECK(strlen(header) == 54, "header is %zu bytes", strlen(header));
    CHECK(write_file(path, 54, header, "abcd", 4) == 0, "cannot write temp file");
    int as_expected = fails_with(path, "not 4-byte aligned", err, sizeof err);
    unlink(path);
    CHECK(as_expected, "%s", err);
}

int main(void)
{
    snprintf(model_path, sizeof model_path, "%s/models/mobilenet_v2/model.safetensors",
             test_shared_dir());
    RUN(real_file_opens_with_all_tensors);
    RUN(small_valid_file_opens);
    RUN(missing_and_tiny_files_fail);
    RUN(truncated_real_file_fails);
    RUN(bad_header_length_fails);
    RUN(bad_json_fails);
    RUN(syntax_errors_name_the_byte);
    RUN(duplicate_keys_fail);
    RUN(wrong_dtype_fails);
    RUN(offsets_out_of_range_fail);
    RUN(size_mismatch_fails);
    RUN(overlap_fails);
    RUN(misaligned_data_fails);
    TEST_DONE();
}
