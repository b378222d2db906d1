/* test_wire.c -- every message survives a round trip; every kind of damage is refused with
 * a reason and never crashes the decoder. */
#include "common/wire.h"
#include "tests/test.h"

#include <string.h>

static msgpack_sbuffer buf;

static void task_round_trip(void)
{
    uint8_t jpeg[300];
    for (size_t i = 0; i < sizeof jpeg; i++)
        jpeg[i] = (uint8_t) (i * 7);
    wire_task_t task = {
        .uploaded_ms = 1700000000123, .attempt = 2, .image = jpeg, .image_len = sizeof jpeg};
    strcpy(task.entry, "1700000000123-7");
    strcpy(task.key, "Test/Apple Braeburn/321_100.jpg");
    strcpy(task.label, "Apple Braeburn");
    wire_encode_task(&buf, &task);
    wire_msg_t msg;
    char err[256];
    CHECK(wire_decode(buf.data, buf.size, &msg, err, sizeof err) == 0, "decode: %s", err);
    CHECK(msg.type == WIRE_TASK, "type %d", msg.type);
    CHECK(strcmp(msg.task.entry, task.entry) == 0 && strcmp(msg.task.key, task.key) == 0 &&
              strcmp(msg.task.label, task.label) == 0,
          "strings differ");
    CHECK(msg.task.uploaded_ms == task.uploaded_ms && msg.task.attempt == 2, "integers differ");
    CHECK(msg.task.image_len == sizeof jpeg && memcmp(msg.task.image, jpeg, sizeof jpeg) == 0,
          "image bytes differ");
    CHECK(msg.task.error[0] == '\0', "error should be empty");
}

static void result_and_heartbeat_round_trip(void)
{
    float features[1280];
    for (int i = 0; i < 1280; i++)
        features[i] = (float) i * 0.25f - 3.0f;
    wire_result_t result = {.ok = true,
                            .size = 224,
                            .features = (const uint8_t *) features,
                            .features_len = sizeof features,
                            .decode_ms = 0.5,
                            .resize_ms = 0.25,
                            .net_ms = 7.125,
                            .attempt = 1};
    strcpy(result.entry, "1-1");
    strcpy(result.key, "k");
    strcpy(result.worker, "host:42");
    wire_encode_result(&buf, &result);
    wire_msg_t msg;
    char err[256];
    CHECK(wire_decode(buf.data, buf.size, &msg, err, sizeof err) == 0, "decode: %s", err);
    CHECK(msg.type == WIRE_RESULT && msg.result.ok && msg.result.size == 224, "fields differ");
    CHECK(msg.result.features_len == sizeof features &&
              memcmp(msg.result.features, features, sizeof features) == 0,
          "features differ");
    CHECK(msg.result.net_ms == 7.125 && strcmp(msg.result.worker, "host:42") == 0, "differ");

    wire_heartbeat_t beat = {.pid = 42, .done = 10, .failed = 1, .rate = 99.5, .size = 100};
    strcpy(beat.worker, "w1");
    strcpy(beat.host, "h");
    wire_encode_heartbeat(&buf, &beat);
    CHECK(wire_decode(buf.data, buf.size, &msg, err, sizeof err) == 0, "decode: %s", err);
    CHECK(msg.type == WIRE_HEARTBEAT && msg.heartbeat.done == 10 && msg.heartbeat.rate == 99.5,
          "heartbeat differs");
}

/* Packs a map from alternating key/value C strings; "#n" values are packed as integers. */
static void pack_map(const char *const *kv, int pairs)
{
    msgpack_sbuffer_clear(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, (size_t) pairs);
    for (int i = 0; i < 2 * pairs; i++) {
        const char *s = kv[i];
        if (s[0] == '#') {
            msgpack_pack_int64(&pk, atoll(s + 1));
        } else {
            msgpack_pack_str(&pk, strlen(s));
            msgpack_pack_str_body(&pk, s, strlen(s));
        }
    }
}

static void malformed_messages_are_refused(void)
{
    wire_msg_t msg;
    char err[256];
    static const char *const wrong_version[] = {"t",     "task", "v",   "#99",
                                                "entry", "1-1",  "key", "k"};
    static const char *const unknown_type[] = {"t", "bogus", "v", "#1"};
    static const char *const missing_image[] = {"t", "task", "v", "#1", "entry", "1-1", "key", "k"};
    static const char *const string_as_int[] = {"t",      "heartbeat", "v",   "#1",
                                                "worker", "w",         "pid", "many"};
    static const struct {
        const char *const *kv;
        int pairs;
        const char *expect;
    } cases[] = {{wrong_version, 4, "version"},
                 {unknown_type, 2, "type"},
                 {missing_image, 4, "image"},
                 {string_as_int, 4, "pid"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pack_map(cases[i].kv, cases[i].pairs);
        err[0] = '\0';
        CHECK(wire_decode(buf.data, buf.size, &msg, err, sizeof err) != 0, "case %zu accepted", i);
        CHECK(strstr(err, cases[i].expect), "case %zu: reason \"%s\" lacks \"%s\"", i, err,
              cases[i].expect);
    }
    char long_key[WIRE_KEY_MAX + 10];
    memset(long_key, 'x', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    const char *const too_long[] = {"t", "task", "v", "#1", "entry", "1-1", "key", long_key};
    pack_map(too_long, 4);
    CHECK(wire_decode(buf.data, buf.size, &msg, err, sizeof err) != 0 && strstr(err, "long"),
          "an over-long key was accepted (%s)", err);
    /* a key a NUL would cut: "a\0b" must not become "a" */
    msgpack_packer pk;
    msgpack_sbuffer_clear(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    const char *const fields[] = {"t", "task", "v", NULL, "entry", "1-1", "key", NULL};
    for (int i = 0; i < 8; i += 2) {
        msgpack_pack_str_with_body(&pk, fields[i], strlen(fields[i]));
        if (i == 2)
            msgpack_pack_int(&pk, 1);
        else if (i == 6)
            msgpack_pack_str_with_body(&pk, "a\0b", 3);
        else
            msgpack_pack_str_with_body(&pk, fields[i + 1], strlen(fields[i + 1]));
    }
    msgpack_pack_str_with_body(&pk, "image", 5);
    msgpack_pack_bin_with_body(&pk, "x", 1);
    CHECK(wire_decode(buf.data, buf.size, &msg, err, sizeof err) != 0 && strstr(err, "NUL"),
          "a key holding a NUL byte was accepted (%s)", err);
    CHECK(wire_decode("", 0, &msg, err, sizeof err) != 0, "empty frame accepted");
    CHECK(wire_decode("\x93\x01\x02\x03", 4, &msg, err, sizeof err) != 0, "array accepted");
}

/* A frame declaring a container far larger than itself is refused without allocating for
 * it; an unknown nested field is skipped. */
static void declared_sizes_are_not_trusted(void)
{
    static const uint8_t huge_array[] = {0x81, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
    static const uint8_t huge_map[] = {0xdf, 0x7f, 0xff, 0xff, 0xff};
    static const uint8_t huge_bin[] = {0x81, 0xa1, 'x', 0xc6, 0xff, 0xff, 0xff, 0xf0, 0x00};
    wire_msg_t msg;
    char err[256];
    CHECK(wire_decode(huge_array, sizeof huge_array, &msg, err, sizeof err) != 0, "array");
    CHECK(wire_decode(huge_map, sizeof huge_map, &msg, err, sizeof err) != 0, "map");
    CHECK(wire_decode(huge_bin, sizeof huge_bin, &msg, err, sizeof err) != 0, "bin");

    wire_heartbeat_t beat = {.pid = -5};
    strcpy(beat.worker, "w");
    wire_encode_heartbeat(&buf, &beat);
    /* append an unknown field holding a nested map: the map header count goes up by one */
    uint8_t frame[512];
    memcpy(frame, buf.data, buf.size);
    frame[0]++;
    static const uint8_t extra[] = {0xa5, 'e', 'x',  't',  'r',  'a',  0x81,
                                    0xa1, 'a', 0x92, 0x01, 0xd1, 0xff, 0x00};
    memcpy(frame + buf.size, extra, sizeof extra);
    CHECK(wire_decode(frame, buf.size + sizeof extra, &msg, err, sizeof err) == 0,
          "unknown nested field not skipped: %s", err);
    CHECK(msg.heartbeat.pid == -5 && strcmp(msg.heartbeat.worker, "w") == 0, "fields lost");
}

static void truncations_and_random_bytes_never_crash(void)
{
    uint8_t jpeg[64] = {0xff, 0xd8};
    wire_task_t task = {.image = jpeg, .image_len = sizeof jpeg};
    strcpy(task.entry, "1-1");
    strcpy(task.key, "k");
    wire_encode_task(&buf, &task);
    char copy[4096];
    size_t full = buf.size;
    memcpy(copy, buf.data, full);
    wire_msg_t msg;
    char err[256];
    for (size_t len = 0; len < full; len++)
        CHECK(wire_decode(copy, len, &msg, err, sizeof err) != 0, "prefix of %zu bytes accepted",
              len);
    srand(7);
    int accepted = 0;
    for (int round = 0; round < 20000; round++) {
        memcpy(copy, buf.data, full);
        for (int flips = 1 + rand() % 4; flips > 0; flips--)
            copy[rand() % full] = (char) rand();
        if (wire_decode(copy, full, &msg, err, sizeof err) == 0)
            accepted++;
        else
            CHECK(err[0], "a refusal without a reason");
    }
    printf("# %d of 20000 mutated frames still decoded (bytes inside strings/image)\n", accepted);
}

int main(void)
{
    msgpack_sbuffer_init(&buf);
    RUN(task_round_trip);
    RUN(result_and_heartbeat_round_trip);
    RUN(malformed_messages_are_refused);
    RUN(declared_sizes_are_not_trusted);
    RUN(truncations_and_random_bytes_never_crash);
    msgpack_sbuffer_destroy(&buf);
    TEST_DONE();
}
