/* wire.c -- msgpack encoding of the wire messages, driven by one field table per message.
 *
 * A table lists each field's map key, kind and place in the C struct; the same table drives
 * the encoder and the decoder, so the two cannot drift apart, and README.md's "Wire
 * messages" section is a transcription of these tables. Encoding uses msgpack-c's packer;
 * decoding is a small allocation-free reader (see reader_t). Strings are copied into the
 * struct's fixed buffers; byte fields are left pointing into the frame. */
#include "common/wire.h"

#include <stdio.h>
#include <string.h>

typedef enum { FIELD_STR, FIELD_INT, FIELD_REAL, FIELD_BOOL, FIELD_BYTES } field_kind_t;

typedef struct {
    const char *name;
    field_kind_t kind;
    size_t offset; /* of the value in the struct */
    size_t size;   /* FIELD_STR: buffer size; FIELD_BYTES: offset of the length */
    bool required;
} field_t;

/* One row of a table: the field f of struct s, named #f on the wire. */
#define FIELD(s, f, kind_, size_, required_)                                                       \
    {                                                                                              \
        .name = #f, .kind = kind_, .offset = offsetof(s, f), .size = size_, .required = required_  \
    }
#define STR(s, f, req) FIELD(s, f, FIELD_STR, sizeof(((s *) 0)->f), req)
#define INT(s, f, req) FIELD(s, f, FIELD_INT, 0, req)
#define REAL(s, f) FIELD(s, f, FIELD_REAL, 0, false)
#define BOOL(s, f) FIELD(s, f, FIELD_BOOL, 0, true)
#define BYTES(s, f, req) FIELD(s, f, FIELD_BYTES, offsetof(s, f##_len), req)

static const field_t task_fields[] = {
    STR(wire_task_t, entry, true),    STR(wire_task_t, key, true),
    STR(wire_task_t, label, false),   INT(wire_task_t, uploaded_ms, false),
    INT(wire_task_t, attempt, false), BYTES(wire_task_t, image, true),
    STR(wire_task_t, error, false),
};

static const field_t result_fields[] = {
    STR(wire_result_t, entry, true),
    STR(wire_result_t, key, true),
    STR(wire_result_t, label, false),
    STR(wire_result_t, worker, true),
    INT(wire_result_t, uploaded_ms, false),
    INT(wire_result_t, attempt, false),
    BOOL(wire_result_t, ok),
    STR(wire_result_t, error, false),
    INT(wire_result_t, size, false),
    BYTES(wire_result_t, features, false),
    REAL(wire_result_t, decode_ms),
    REAL(wire_result_t, resize_ms),
    REAL(wire_result_t, net_ms),
};

static const field_t heartbeat_fields[] = {
    STR(wire_heartbeat_t, worker, true), STR(wire_heartbeat_t, host, false),
    INT(wire_heartbeat_t, pid, false),   INT(wire_heartbeat_t, size, false),
    INT(wire_heartbeat_t, done, false),  INT(wire_heartbeat_t, failed, false),
    REAL(wire_heartbeat_t, rate),        STR(wire_heartbeat_t, isa, false),
};

typedef struct {
    wire_type_t type;
    const char *name;
    const field_t *fields;
    size_t count;
} message_t;

static const message_t messages[] = {
    {WIRE_TASK, "task", task_fields, sizeof task_fields / sizeof *task_fields},
    {WIRE_RESULT, "result", result_fields, sizeof result_fields / sizeof *result_fields},
    {WIRE_HEARTBEAT, "heartbeat", heartbeat_fields,
     sizeof heartbeat_fields / sizeof *heartbeat_fields},
};
#define MESSAGE_COUNT (sizeof messages / sizeof *messages)

static void pack_string(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

static void encode(msgpack_sbuffer *buf, const message_t *message, const void *value)
{
    msgpack_sbuffer_clear(buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, message->count + 2);
    pack_string(&pk, "t");
    pack_string(&pk, message->name);
    pack_string(&pk, "v");
    msgpack_pack_int64(&pk, WIRE_VERSION);
    const char *base = value;
    for (size_t i = 0; i < message->count; i++) {
        const field_t *f = &message->fields[i];
        pack_string(&pk, f->name);
        switch (f->kind) {
        case FIELD_STR: pack_string(&pk, base + f->offset); break;
        case FIELD_INT: msgpack_pack_int64(&pk, *(const int64_t *) (base + f->offset)); break;
        case FIELD_REAL: msgpack_pack_double(&pk, *(const double *) (base + f->offset)); break;
        case FIELD_BOOL:
            if (*(const bool *) (base + f->offset))
                msgpack_pack_true(&pk);
            else
                msgpack_pack_false(&pk);
            break;
        case FIELD_BYTES: {
            const uint8_t *bytes = *(const uint8_t *const *) (base + f->offset);
            size_t len = *(const size_t *) (base + f->size);
            msgpack_pack_bin(&pk, len);
            msgpack_pack_bin_body(&pk, bytes, len);
            break;
        }
        }
    }
}

void wire_encode_task(msgpack_sbuffer *buf, const wire_task_t *task)
{
    encode(buf, &messages[0], task);
}

void wire_encode_result(msgpack_sbuffer *buf, const wire_result_t *result)
{
    encode(buf, &messages[1], result);
}

void wire_encode_heartbeat(msgpack_sbuffer *buf, const wire_heartbeat_t *heartbeat)
{
    encode(buf, &messages[2], heartbeat);
}

/* A bounds-checked cursor over one frame. The decoder reads msgpack itself rather than
 * through msgpack_unpack, which allocates storage for a container's declared size before
 * looking at the bytes: a corrupt frame declaring a 2^32-entry array would cost gigabytes.
 * Here nothing is allocated, and a declared size larger than the bytes left just fails. */
typedef struct {
    const uint8_t *p, *end;
} reader_t;

static bool take(reader_t *r, size_t n, const uint8_t **out)
{
    if ((size_t) (r->end - r->p) < n)
        return false;
    *out = r->p;
    r->p += n;
    return true;
}

static bool take_uint(reader_t *r, size_t bytes, uint64_t *v)
{
    const uint8_t *b;
    if (!take(r, bytes, &b))
        return false;
    *v = 0;
    for (size_t i = 0; i < bytes; i++)
        *v = *v << 8 | b[i];
    return true;
}

typedef enum {
    VALUE_NIL,
    VALUE_BOOL,
    VALUE_UINT,
    VALUE_INT,
    VALUE_REAL,
    VALUE_STR,
    VALUE_BIN,
    VALUE_ARRAY,
    VALUE_MAP
} value_kind_t;

typedef struct {
    value_kind_t kind;
    bool boolean;
    uint64_t u;
    int64_t i;
    double real;
    const uint8_t *bytes; /* str, bin */
    uint64_t len;         /* str/bin bytes, array/map entries */
} value_t;

/* Reads one value's header (and a string's or blob's bytes). */
static bool read_value(reader_t *r, value_t *v)
{
    const uint8_t *b;
    if (!take(r, 1, &b))
        return false;
    uint8_t c = *b;
    uint64_t u;
    memset(v, 0, sizeof *v);
    if (c <= 0x7f) {
        v->kind = VALUE_UINT;
        v->u = c;
        return true;
    }
    if (c >= 0xe0) {
        v->kind = VALUE_INT;
        v->i = (int8_t) c;
        return true;
    }
    if ((c & 0xf0) == 0x80) {
        v->kind = VALUE_MAP;
        v->len = c & 0x0f;
        return true;
    }
    if ((c & 0xf0) == 0x90) {
        v->kind = VALUE_ARRAY;
        v->len = c & 0x0f;
        return true;
    }
    if ((c & 0xe0) == 0xa0) {
        v->kind = VALUE_STR;
        v->len = c & 0x1f;
        return take(r, v->len, &v->bytes);
    }
    switch (c) {
    case 0xc0: v->kind = VALUE_NIL; return true;
    case 0xc2:
    case 0xc3:
        v->kind = VALUE_BOOL;
        v->boolean = c == 0xc3;
        return true;
    case 0xc4:
    case 0xc5:
    case 0xc6:
        v->kind = VALUE_BIN;
        return take_uint(r, (size_t) 1 << (c - 0xc4), &v->len) && take(r, v->len, &v->bytes);
    case 0xd9:
    case 0xda:
    case 0xdb:
        v->kind = VALUE_STR;
        return take_uint(r, (size_t) 1 << (c - 0xd9), &v->len) && take(r, v->len, &v->bytes);
    case 0xca: {
        float f;
        uint32_t bits;
        if (!take_uint(r, 4, &u))
            return false;
        bits = (uint32_t) u;
        memcpy(&f, &bits, sizeof f);
        v->kind = VALUE_REAL;
        v->real = f;
        return true;
    }
    case 0xcb:
        if (!take_uint(r, 8, &u))
            return false;
        v->kind = VALUE_REAL;
        memcpy(&v->real, &u, sizeof v->real);
        return true;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf: v->kind = VALUE_UINT; return take_uint(r, (size_t) 1 << (c - 0xcc), &v->u);
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        size_t bytes = (size_t) 1 << (c - 0xd0);
        if (!take_uint(r, bytes, &u))
            return false;
        v->kind = VALUE_INT;
        v->i = bytes == 1   ? (int8_t) u
               : bytes == 2 ? (int16_t) u
               : bytes == 4 ? (int32_t) u
                            : (int64_t) u;
        return true;
    }
    case 0xdc:
    case 0xdd: v->kind = VALUE_ARRAY; return take_uint(r, c == 0xdc ? 2 : 4, &v->len);
    case 0xde:
    case 0xdf: v->kind = VALUE_MAP; return take_uint(r, c == 0xde ? 2 : 4, &v->len);
    default: return false; /* ext types and the reserved byte: never ours */
    }
}

/* Skips a value of an unknown field, nested containers included (depth-limited). */
static bool skip_value(reader_t *r, const value_t *v, int depth)
{
    if (v->kind != VALUE_ARRAY && v->kind != VALUE_MAP)
        return true;
    if (depth > 16)
        return false;
    uint64_t items = v->kind == VALUE_MAP ? 2 * v->len : v->len;
    for (uint64_t i = 0; i < items; i++) {
        value_t inner;
        if (!read_value(r, &inner) || !skip_value(r, &inner, depth + 1))
            return false;
    }
    return true;
}

static bool value_is(const value_t *v, const char *s)
{
    return v->kind == VALUE_STR && v->len == strlen(s) && memcmp(v->bytes, s, v->len) == 0;
}

/* Stores one map value into its field; returns NULL or what is wrong with it. */
static const char *decode_field(const field_t *f, const value_t *v, char *base)
{
    switch (f->kind) {
    case FIELD_STR:
        if (v->kind != VALUE_STR)
            return "is not a string";
        if (v->len >= f->size)
            return "is too long";
        if (memchr(v->bytes, '\0', v->len))
            return "holds a NUL byte"; /* C strings would cut it there */
        memcpy(base + f->offset, v->bytes, v->len);
        base[f->offset + v->len] = '\0';
        return NULL;
    case FIELD_INT:
        if (v->kind == VALUE_UINT && v->u <= INT64_MAX)
            *(int64_t *) (base + f->offset) = (int64_t) v->u;
        else if (v->kind == VALUE_INT)
            *(int64_t *) (base + f->offset) = v->i;
        else
            return "is not an integer";
        return NULL;
    case FIELD_REAL:
        if (v->kind != VALUE_REAL)
            return "is not a number";
        *(double *) (base + f->offset) = v->real;
        return NULL;
    case FIELD_BOOL:
        if (v->kind != VALUE_BOOL)
            return "is not a boolean";
        *(bool *) (base + f->offset) = v->boolean;
        return NULL;
    case FIELD_BYTES:
        if (v->kind != VALUE_BIN)
            return "is not binary";
        *(const uint8_t **) (base + f->offset) = v->bytes;
        *(size_t *) (base + f->size) = (size_t) v->len;
        return NULL;
    }
    return "has an unknown kind";
}

#define WIRE_MAX_FIELDS 64

int wire_decode(const void *data, size_t len, wire_msg_t *msg, char *err, size_t errlen)
{
    reader_t r = {data, (const uint8_t *) data + len};
    value_t map;
    if (!read_value(&r, &map) || map.kind != VALUE_MAP) {
        snprintf(err, errlen, "not a msgpack map (%zu bytes)", len);
        return -1;
    }
    if (map.len > WIRE_MAX_FIELDS) {
        snprintf(err, errlen, "map of %llu fields, more than any message has",
                 (unsigned long long) map.len);
        return -1;
    }
    value_t keys[WIRE_MAX_FIELDS], values[WIRE_MAX_FIELDS];
    const message_t *message = NULL;
    uint64_t version = 0;
    for (uint64_t i = 0; i < map.len; i++) {
        if (!read_value(&r, &keys[i]) || keys[i].kind != VALUE_STR || !read_value(&r, &values[i]) ||
            !skip_value(&r, &values[i], 0)) {
            snprintf(err, errlen, "truncated or malformed map entry %llu", (unsigned long long) i);
            return -1;
        }
        if (value_is(&keys[i], "t"))
            for (size_t m = 0; m < MESSAGE_COUNT; m++)
                if (value_is(&values[i], messages[m].name))
                    message = &messages[m];
        if (value_is(&keys[i], "v") && values[i].kind == VALUE_UINT)
            version = values[i].u;
    }
    if (r.p != r.end) {
        snprintf(err, errlen, "%zu bytes of garbage after the message", (size_t) (r.end - r.p));
        return -1;
    }
    if (!message) {
        snprintf(err, errlen, "no known message type (field \"t\")");
        return -1;
    }
    if (version != WIRE_VERSION) {
        snprintf(err, errlen, "%s message has version %llu, this program speaks %d", message->name,
                 (unsigned long long) version, WIRE_VERSION);
        return -1;
    }
    memset(msg, 0, sizeof *msg);
    msg->type = message->type;
    char *base = (char *) &msg->task; /* every member of the union starts here */
    for (size_t f = 0; f < message->count; f++) {
        const field_t *field = &message->fields[f];
        bool seen = false;
        for (uint64_t i = 0; i < map.len && !seen; i++) {
            if (!value_is(&keys[i], field->name))
                continue;
            seen = true;
            const char *problem = decode_field(field, &values[i], base);
            if (problem) {
                snprintf(err, errlen, "%s field \"%s\" %s", message->name, field->name, problem);
                return -1;
            }
        }
        if (!seen && field->required) {
            snprintf(err, errlen, "%s message lacks field \"%s\"", message->name, field->name);
            return -1;
        }
    }
    return 0;
}
