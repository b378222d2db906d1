/* test_json_out.c -- the JSON the programs write (common/json_out.c, common/status.c):
 * strings of any bytes stay valid JSON, numbers keep the precision the replies always had,
 * a reply that ran out of memory is dropped whole, and `status --json`'s object has its
 * exact fields, types and order. */
#include "common/json_out.h"
#include "common/status.h"
#include "tests/test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* value dumped (and released); "" when that failed. */
static const char *dumped(json_t *value)
{
    static char line[4096];
    char *text = value ? json_out_dumps(value) : NULL;
    json_decref(value);
    snprintf(line, sizeof line, "%s", text ? text : "");
    free(text);
    return line;
}

static void text_of_any_bytes(void)
{
    const char *s = dumped(json_out_text("h\xc3\xa9 \"q\"\\\n\x01", 10));
    CHECK(strcmp(s, "\"h\xc3\xa9 \\\"q\\\"\\\\\\n\\u0001\"") == 0, "valid UTF-8: %s", s);
    /* A stray byte, a cut 3-byte sequence, an encoded surrogate, an overlong '/': each bad
     * byte is one U+FFFD, the good ones around them stay. */
    s = dumped(json_out_text("a\xff"
                             "b\xe2\x82"
                             "c\xed\xa0\x80"
                             "d\xc0\xaf",
                             12));
    CHECK(strcmp(s, "\"a\xef\xbf\xbd"
                    "b\xef\xbf\xbd\xef\xbf\xbd"
                    "c\xef\xbf\xbd\xef\xbf\xbd"
                    "\xef\xbf\xbd"
                    "d\xef\xbf\xbd\xef\xbf\xbd\"") == 0,
          "invalid UTF-8: %s", s);
    s = dumped(json_out_text("a\0b", 3));
    CHECK(strcmp(s, "\"a\\u0000b\"") == 0, "NUL: %s", s);
    s = dumped(json_out_text("\xf0\x9f\x8d\x8b", 4));
    CHECK(strcmp(s, "\"\xf0\x9f\x8d\x8b\"") == 0, "4-byte sequence: %s", s);
}

static void numbers_keep_their_precision(void)
{
    const char *s = dumped(json_pack(
        "[o, o, o, o, o, o, o, o]", json_out_fixed(0.29, 2), json_out_fixed(3, 2),
        json_out_fixed(12.6, 0), json_out_fixed(-0.04, 1), json_out_digits(0.1234567891234, 9),
        json_out_digits(1.234567891e-7, 9), json_out_fixed(NAN, 2), json_out_digits(INFINITY, 9)));
    CHECK(strcmp(s, "[0.29,3.0,13,-0.0,0.123456789,1.23456789e-7,null,null]") == 0, "%s", s);
}

/* One failed step (NULL: what a failed allocation gives) drops the whole value. */
static void out_of_memory_drops_the_reply(void)
{
    json_t *array = json_array();
    json_out_append(&array, json_integer(1));
    json_out_append(&array, NULL);
    CHECK(array == NULL, "the array survived a failed append");
    json_out_append(&array, json_integer(2)); /* freed, not leaked (ASan checks) */
    json_t *object = json_object();
    json_out_set(&object, "a", json_integer(1));
    json_out_set(&object, "b", NULL);
    CHECK(object == NULL, "the object survived a failed set");
    json_out_set(&object, "c", json_integer(3));
    CHECK(dumped(json_pack("{s:o, s:o}", "a", json_integer(1), "b", (json_t *) NULL))[0] == 0,
          "a pack with a NULL value made something");
}

static void status_json_fields_and_types(void)
{
    /* clang-format off */
    status_worker_t workers[2] = {
        {.id = "w1", .host = "h\xc3\xa9", .isa = "avx2", .pid = 42, .size = 224, .done = 5,
         .rate = 3, .seen_ms = 1700000000000 - 1500},
        {.id = "w\x01\xff\"", .host = "", .isa = "neon", .pid = 7, .size = 100, .done = 0,
         .failed = 2, .rate = 0.126, .seen_ms = 1700000000000}};
    status_t s = {.now_ms = 1700000000000, .uploaded = 80, .stored = 79, .failed = 1,
                  .retried = 2, .backlog = 10, .in_flight = 3, .rate = 12.3456, .p50_ms = 7.6,
                  .p99_ms = 20.2, .eta_s = 0.81, .workers = workers, .worker_count = 2};
    /* clang-format on */
    const char *want =
        "{\"time_ms\":1700000000000,\"counters\":{\"uploaded\":80,\"stored\":79,\"failed\":1,"
        "\"duplicates\":0,\"retried\":2,\"malformed\":0,\"backlog\":10,\"in_flight\":3,"
        "\"rate\":12.35,\"p50_ms\":8,\"p99_ms\":20,\"eta_s\":0.8},\"workers\":["
        "{\"id\":\"w1\",\"host\":\"h\xc3\xa9\",\"isa\":\"avx2\",\"pid\":42,\"size\":224,"
        "\"rate\":3.0,\"done\":5,\"failed\":0,\"seen_ms\":1699999998500,\"last_seen_s\":1.5},"
        "{\"id\":\"w\\u0001\xef\xbf\xbd\\\"\",\"host\":\"\",\"isa\":\"neon\",\"pid\":7,"
        "\"size\":100,\"rate\":0.13,\"done\":0,\"failed\":2,\"seen_ms\":1700000000000,"
        "\"last_seen_s\":0.0}]}";
    const char *got = dumped(status_json(&s));
    CHECK(strcmp(got, want) == 0, "\n got %s\nwant %s", got, want);
    /* No rate: eta_s is null; no workers: an empty list. And status_write_json is that
     * object on one line. */
    s.eta_s = -1;
    s.worker_count = 0;
    char buf[1024] = "";
    FILE *out = fmemopen(buf, sizeof buf - 1, "w");
    CHECK(out, "fmemopen");
    int rc = status_write_json(&s, out);
    fclose(out);
    CHECK(rc == 0 && strstr(buf, "\"eta_s\":null},\"workers\":[]}\n") && !strchr(buf, ' '), "%s",
          buf);
}

int main(void)
{
    RUN(text_of_any_bytes);
    RUN(numbers_keep_their_precision);
    RUN(out_of_memory_drops_the_reply);
    RUN(status_json_fields_and_types);
    TEST_DONE();
}
