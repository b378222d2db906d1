/* wire.h -- the three messages that travel over ZeroMQ, defined once.
 *
 *   ventilator --TASK--> worker --RESULT/HEARTBEAT--> sink
 *
 * Each message is one ZeroMQ frame holding a msgpack map. Every map carries "t" (message
 * type: "task", "result", "heartbeat") and "v" (WIRE_VERSION); the other fields are listed
 * in wire.c's field tables and in README.md ("Wire messages"). A decoder rejects, with a
 * reason, any frame that is not a map, has an unknown type or version, lacks a required
 * field, or has a field of the wrong type or size; unknown extra fields are ignored, so a
 * newer sender may add optional fields without a version bump.
 *
 * Decoded byte fields (the JPEG of a task, the features of a result) point into the frame
 * that was decoded: keep the frame alive while using them. */
#ifndef FS_WIRE_H
#define FS_WIRE_H

#include "common/keys.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION 1
#define WIRE_ENTRY_MAX 64                    /* a Redis stream entry ID */
#define WIRE_KEY_MAX (KEY_IMAGE_MAX_LEN + 1) /* an image key and its NUL */
#define WIRE_LABEL_MAX 256
#define WIRE_NAME_MAX 128 /* worker ids, host names */
#define WIRE_ERROR_MAX 256
#define WIRE_ISA_MAX 16 /* a kernel instruction set's name (common/isa.h) */
/* A task frame's bytes besides its image, at most: the string fields above at their limits
 * (the decoder refuses longer ones), two integers, and msgpack's map and field names, with
 * room to spare. */
#define WIRE_TASK_FIELDS_MAX 4096

/* The largest frame the sink accepts on its result socket (ZMQ_MAXMSGSIZE, which libzmq
 * checks frame by frame as it decodes: a peer sending a larger frame is disconnected before
 * the frame is held whole). A RESULT is at most about 7 KB: 1280 float32 features (5,120
 * bytes), a key of KEY_IMAGE_MAX_LEN, label, worker, error and entry at their maxima, and
 * a few numbers and field names; a HEARTBEAT is smaller. 64 KiB is room to spare for a
 * larger model's features, while one frame costs the sink no more than that (a frame of
 * 100 MB was held whole). TASK frames carry JPEGs and are not bounded by this. */
#define WIRE_RESULT_FRAME_MAX (64 * 1024)

typedef enum { WIRE_TASK = 1, WIRE_RESULT, WIRE_HEARTBEAT } wire_type_t;

/* One image to featurize. */
typedef struct {
    char entry[WIRE_ENTRY_MAX]; /* upload stream entry ID, echoed in the result */
    char key[WIRE_KEY_MAX];     /* the image's unique key */
    char label[WIRE_LABEL_MAX]; /* class label, may be empty */
    int64_t uploaded_ms;        /* when the upload entered the stream (Unix ms) */
    int64_t attempt;            /* 1 for the first delivery, more for re-sends */
    const uint8_t *image;       /* JPEG bytes */
    size_t image_len;
    char error[WIRE_ERROR_MAX]; /* set when the ventilator could not read the image */
} wire_task_t;

/* What a worker made of one task: features, or the reason it failed. */
typedef struct {
    char entry[WIRE_ENTRY_MAX];
    char key[WIRE_KEY_MAX];
    char label[WIRE_LABEL_MAX];
    char worker[WIRE_NAME_MAX];
    int64_t uploaded_ms;
    int64_t attempt;
    bool ok;
    char error[WIRE_ERROR_MAX]; /* why it failed, when !ok */
    int64_t size;               /* network input side S */
    const uint8_t *features;    /* ok: little-endian float32 x feature_count */
    size_t features_len;        /* bytes */
    double decode_ms, resize_ms, net_ms;
} wire_result_t;

/* A worker's sign of life, sent every second even when idle. */
typedef struct {
    char worker[WIRE_NAME_MAX];
    char host[WIRE_NAME_MAX];
    int64_t pid;
    int64_t size;
    int64_t done;           /* images featurized since start */
    int64_t failed;         /* images that could not be featurized */
    double rate;            /* images per second over the last interval */
    char isa[WIRE_ISA_MAX]; /* the kernels it runs: "avx512", "avx2", "neon", "portable" */
} wire_heartbeat_t;

typedef struct {
    wire_type_t type;
    union {
        wire_task_t task;
        wire_result_t result;
        wire_heartbeat_t heartbeat;
    };
} wire_msg_t;

/* Encoders clear buf and write one message into it. */
void wire_encode_task(msgpack_sbuffer *buf, const wire_task_t *task);
void wire_encode_result(msgpack_sbuffer *buf, const wire_result_t *result);
void wire_encode_heartbeat(msgpack_sbuffer *buf, const wire_heartbeat_t *heartbeat);

/* Decodes one frame. Returns 0, or -1 with a one-line reason in err. */
int wire_decode(const void *data, size_t len, wire_msg_t *msg, char *err, size_t errlen);

#endif
