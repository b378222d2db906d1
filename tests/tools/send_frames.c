/* send_frames -- one hand-made ZeroMQ message, for tests/integration/frames.sh.
 *
 *   send_frames ENDPOINT bind|connect ITEM...
 *
 * Opens a PUSH socket on ENDPOINT (bind: where a worker's --tasks connects, as to a
 * ventilator; connect: to a sink's result socket) and sends one message with a frame per
 * ITEM, then waits for it to leave. Items:
 *   task:PATH    a TASK for the JPEG at PATH (key PATH, entry N-1 for the N-th item)
 *   result:KEY   a good RESULT for KEY with 1280 features (entry N-1)
 *   result=V:KEY such a RESULT whose first feature is V (1e30, nan, inf: a forged vector)
 *   garbage      a frame that is no message at all
 *   garbage:N    such a frame of N bytes (up to 2 GiB)
 *   N*ITEM       ITEM, N times over (N frames)
 * A task or result item may end in @ENTRY to give its upload entry ID (any text: the
 * tests send IDs Redis refuses too).
 * Sending blocks until a peer is connected. Exits 0 once sent, 1 on any failure. With
 * $FRUITSTREAM_KEYS it connects as a CURVE client, the identity $FS_CERT (default worker)
 * of that key directory (tests/integration/curve.sh). */
#include "common/config.h"
#include "common/curve.h"
#include "common/file.h"
#include "common/wire.h"
#include "featurizer/featurizer.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

/* Splits "WHAT@ENTRY" into what (in out) and the entry (else "N-1"). */
static void split_entry(const char *item, int n, char *out, size_t outlen, char *entry,
                        size_t entrylen)
{
    const char *at = strrchr(item, '@');
    snprintf(out, outlen, "%.*s", (int) (at ? (size_t) (at - item) : strlen(item)), item);
    if (at)
        snprintf(entry, entrylen, "%s", at + 1);
    else
        snprintf(entry, entrylen, "%d-1", n);
}

/* Encodes one item into buf; returns 0, or -1 when it is not understood. */
static int encode_item(const char *item, int n, msgpack_sbuffer *buf, char **image)
{
    static float features[FEATURE_DIM];
    char what[WIRE_KEY_MAX], entry[WIRE_ENTRY_MAX];
    if (strncmp(item, "task:", 5) == 0) {
        wire_task_t task = {.attempt = 1};
        size_t len;
        split_entry(item + 5, n, what, sizeof what, task.entry, sizeof task.entry);
        free(*image);
        if (!(*image = file_read_all(what, &len)))
            return -1;
        snprintf(task.key, sizeof task.key, "%s", what);
        task.image = (const uint8_t *) *image;
        task.image_len = len;
        wire_encode_task(buf, &task);
    } else if (strncmp(item, "result:", 7) == 0 || strncmp(item, "result=", 7) == 0) {
        for (int i = 0; i < FEATURE_DIM; i++)
            features[i] = (float) ((i * 7 + n) % 11);
        const char *key = item + 7;
        if (item[6] == '=') {
            char *end;
            features[0] = strtof(key, &end);
            if (*end != ':')
                return -1;
            key = end + 1;
        }
        wire_result_t result = {.ok = true,
                                .size = 224,
                                .attempt = 1,
                                .features = (const uint8_t *) features,
                                .features_len = sizeof features};
        split_entry(key, n, what, sizeof what, entry, sizeof entry);
        snprintf(result.entry, sizeof result.entry, "%s", entry);
        snprintf(result.key, sizeof result.key, "%s", what);
        snprintf(result.worker, sizeof result.worker, "send_frames");
        wire_encode_result(buf, &result);
    } else if (strcmp(item, "garbage") == 0) {
        msgpack_sbuffer_clear(buf);
        msgpack_sbuffer_write(buf, "\xc1 not msgpack", 13);
    } else if (strncmp(item, "garbage:", 8) == 0) {
        char *end;
        unsigned long long len = strtoull(item + 8, &end, 10);
        if (*end || len < 1 || len > (2ull << 30))
            return -1;
        char *bytes = calloc(1, len);
        if (!bytes)
            return -1;
        bytes[0] = '\xc1'; /* never used by msgpack: a frame that is no message */
        msgpack_sbuffer_clear(buf);
        msgpack_sbuffer_write(buf, bytes, len);
        free(bytes);
    } else {
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[2], "bind") && strcmp(argv[2], "connect"))) {
        fprintf(stderr, "usage: send_frames ENDPOINT bind|connect ITEM...\n");
        return 2;
    }
    curve_t *curve;
    if (curve_client_setup(config_keys_dir(NULL), getenv("FS_CERT"), &curve) != 0)
        return 1;
    zsock_t *out = zsock_new(ZMQ_PUSH);
    curve_apply(curve, out);
    int rc = strcmp(argv[2], "bind") == 0 ? zsock_bind(out, "%s", argv[1]) < 0
                                          : zsock_connect(out, "%s", argv[1]);
    if (rc != 0) {
        fprintf(stderr, "send_frames: cannot %s %s\n", argv[2], argv[1]);
        return 1;
    }
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    char *image = NULL;
    for (int i = 3; i < argc && rc == 0; i++) {
        char *star = strchr(argv[i], '*');
        long repeats = star ? strtol(argv[i], NULL, 10) : 1;
        const char *item = star ? star + 1 : argv[i];
        if (encode_item(item, i - 2, &buf, &image) != 0) {
            fprintf(stderr, "send_frames: cannot make a frame of %s\n", argv[i]);
            rc = 1;
        }
        for (long r = 0; r < repeats && rc == 0; r++)
            if (zmq_send(zsock_resolve(out), buf.data, buf.size,
                         i + 1 < argc || r + 1 < repeats ? ZMQ_SNDMORE : 0) < 0) {
                fprintf(stderr, "send_frames: %s\n", zmq_strerror(zmq_errno()));
                rc = 1;
            }
    }
    free(image);
    msgpack_sbuffer_destroy(&buf);
    zsock_set_linger(out, 10000);
    zsock_destroy(&out);
    curve_destroy(&curve);
    return rc;
}
