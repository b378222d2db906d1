/* wire.c -- msgpack encoding of the wire messages, driven by one field table per message.
 *
 * A table lists each field's map key, kind and place in the C struct; the same table drives
 * the encoder and the decoder, so the two cannot drift apart, and README.md's "Wire
 * messages" section is a transcription of these tables. Keys are short because they travel
 * with every message. The decoder references the input frame for strings and byte fields
 * (msgpack-c's unpacker does not copy them); strings are copied into the struct's fixed
 * buffers, and byte fields are left pointing into the frame. */
#include "wire.h"

#include <stdio.h>
#include <string.h>

typedef enum { FIELD_STR, FIELD_INT, FIELD_REAL, FIELD_BOOL, FIELD_BYTES } field_kind_t;

typedef struct {
    const char *name;
    field_kind_t kind;
    size_t offset;     /* of the value in the struct */
    size_t size;       /* FIELD_STR: buffer size; FIELD_BYTES: offset of the length */
    bool required;
} field_t;

#define STR(s, f, req) {#f, FIELD_STR, offsetof(s, f), sizeof(((s *) 0)->f), req}
#define INT(s, f, req) {#f, FIELD_INT, offsetof(s, f), 0, req}
#define REAL(s, f) {#f, FIELD_REAL, offsetof(s, f), 0, false}
#define BOOL(s, f) {#f, FIELD_BOOL, offsetof(s, f), 0, true}
#define BYTES(s, f, req) {#f, FIELD_BYTES, offsetof(s, f), offsetof(s, f##_len), req}

static const field_t task_fields[] = {
    STR(wire_task_t, entry, true),      STR(wire_task_t, key, true),
    STR(wire_task_t, label, false),     INT(wire_task_t, uploaded_ms, false),
    INT(wire_task_t, attempt, false),   BYTES(wire_task_t, image, true),
    STR(wire_task_t, error, false),
};

static const field_t result_fields[] = {
    STR(wire_result_t, entry, true),    STR(wire_result_t, key, true),
    STR(wire_result_t, label, false),   STR(wire_result_t, worker, true),
    INT(wire_result_t, uploaded_ms, false), INT(wire_result_t, attempt, false),
    BOOL(wire_result_t, ok),            STR(wire_result_t, error, false),
    INT(wire_result_t, size, false),    BYTES(wire_result_t, features, false),
    REAL(wire_result_t, decode_ms),     REAL(wire_result_t, resize_ms),
    REAL(wire_result_t, net_ms),
};

static const field_t heartbeat_fields[] = {
    STR(wire_heartbeat_t, worker, true), STR(wire_heartbeat_t, host, false),
    INT(wire_heartbeat_t, pid, false),   INT(wire_heartbeat_t, size, false),
    INT(wire_heartbeat_t, done, false),  INT(wire_heartbeat_t, failed, false),
    REAL(wire_heartbeat_t, rate),
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

static bool key_is(const msgpack_object *key, const char *name)
{
    return key->type == MSGPACK_OBJECT_STR && key->via.str.size == strlen(name) &&
           memcmp(key->via.str.ptr, name, key->via.str.size) == 0;
}

/* Stores one map value into its field; returns NULL or what is wrong with it. */
static const char *decode_field(const field_t *f, const msgpack_object *v, char *base)
{
    switch (f->kind) {
    case FIELD_STR:
        if (v->type != MSGPACK_OBJECT_STR)
            return "is not a string";
        if (v->via.str.size >= f->size)
            return "is too long";
        memcpy(base + f->offset, v->via.str.ptr, v->via.str.size);
        base[f->offset + v->via.str.size] = '\0';
        return NULL;
    case FIELD_INT:
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX)
            *(int64_t *) (base + f->offset) = (int64_t) v->via.u64;
        else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            *(int64_t *) (base + f->offset) = v->via.i64;
        else
            return "is not an integer";
        return NULL;
    case FIELD_REAL:
        if (v->type != MSGPACK_OBJECT_FLOAT64 && v->type != MSGPACK_OBJECT_FLOAT32)
            return "is not a number";
        *(double *) (base + f->offset) = v->via.f64;
        return NULL;
    case FIELD_BOOL:
        if (v->type != MSGPACK_OBJECT_BOOLEAN)
            return "is not a boolean";
        *(bool *) (base + f->offset) = v->via.boolean;
        return NULL;
    case FIELD_BYTES:
        if (v->type != MSGPACK_OBJECT_BIN)
            return "is not binary";
        *(const uint8_t **) (base + f->offset) = (const uint8_t *) v->via.bin.ptr;
        *(size_t *) (base + f->size) = v->via.bin.size;
        return NULL;
    }
    return "has an unknown kind";
}

static int decode_map(const msgpack_object_map *map, wire_msg_t *msg, char *err, size_t errlen)
{
    const message_t *message = NULL;
    int64_t version = -1;
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *key = &map->ptr[i].key, *val = &map->ptr[i].val;
        if (key_is(key, "t") && val->type == MSGPACK_OBJECT_STR) {
            for (size_t m = 0; m < MESSAGE_COUNT; m++)
                if (key_is(val, messages[m].name))
                    message = &messages[m];
        } else if (key_is(key, "v") && val->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            version = (int64_t) val->via.u64;
        }
    }
    if (!message) {
        snprintf(err, errlen, "no known message type (field \"t\")");
        return -1;
    }
    if (version != WIRE_VERSION) {
        snprintf(err, errlen, "%s message has version %lld, this program speaks %d",
                 message->name, (long long) version, WIRE_VERSION);
        return -1;
    }
    memset(msg, 0, sizeof *msg);
    msg->type = message->type;
    char *base = (char *) &msg->task; /* every member of the union starts here */
    for (size_t i = 0; i < message->count; i++) {
        const field_t *f = &message->fields[i];
        bool seen = false;
        for (uint32_t j = 0; j < map->size && !seen; j++) {
            if (!key_is(&map->ptr[j].key, f->name))
                continue;
            seen = true;
            const char *problem = decode_field(f, &map->ptr[j].val, base);
            if (problem) {
                snprintf(err, errlen, "%s field \"%s\" %s", message->name, f->name, problem);
                return -1;
            }
        }
        if (!seen && f->required) {
            snprintf(err, errlen, "%s message lacks field \"%s\"", message->name, f->name);
            return -1;
        }
    }
    return 0;
}

int wire_decode(const void *data, size_t len, wire_msg_t *msg, char *err, size_t errlen)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t offset = 0;
    int rc = -1;
    msgpack_unpack_return ret = msgpack_unpack_next(&unpacked, data, len, &offset);
    if (ret != MSGPACK_UNPACK_SUCCESS)
        snprintf(err, errlen, "not a msgpack message (%zu bytes)", len);
    else if (offset != len)
        snprintf(err, errlen, "%zu bytes of garbage after the message", len - offset);
    else if (unpacked.data.type != MSGPACK_OBJECT_MAP)
        snprintf(err, errlen, "message is not a msgpack map");
    else
        rc = decode_map(&unpacked.data.via.map, msg, err, errlen);
    msgpack_unpacked_destroy(&unpacked);
    return rc;
}
