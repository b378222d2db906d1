/* test_options.c -- numeric options are read whole or refused: no "224x" read as 224, no
 * "1e6" as 1, no wrap-around, ranges and units honoured; Redis URLs likewise, and their
 * passwords never show in a formatted address. */
#include "tests/test.h"
#include "common/options.h"
#include "common/redis.h"

#include <stdlib.h>
#include <string.h>

static void integers_whole_or_refused(void)
{
    int v = 7;
    int64_t w = 7;
    const char *const bad[] = {"224x", "", " 5", "+5", "5 ", "1e6", "0x10", "abc", "-", "1.5",
                               "99999999999", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(option_int("--n", bad[i], -1000, 1 << 30, &v) == -1 && v == 7, "\"%s\" read", bad[i]);
    }
    CHECK(option_int64("--n", "9223372036854775808", 0, INT64_MAX, &w) == -1, "overflow read");
    CHECK(option_int("--n", "224", 32, 4096, &v) == 0 && v == 224, "224: %d", v);
    CHECK(option_int("--n", "-3", -5, 5, &v) == 0 && v == -3, "-3: %d", v);
    CHECK(option_int("--n", "31", 32, 4096, &v) == -1 && v == -3, "31 below the range");
    CHECK(option_int64("--n", "9223372036854775807", 0, INT64_MAX, &w) == 0 && w == INT64_MAX,
          "INT64_MAX");
}

static void bytes_with_units(void)
{
    int64_t v = 0;
    CHECK(option_bytes("--b", "16K", 0, INT64_MAX, &v) == 0 && v == 16384, "16K: %lld",
          (long long) v);
    CHECK(option_bytes("--b", "64M", 0, INT64_MAX, &v) == 0 && v == 64 << 20, "64M");
    CHECK(option_bytes("--b", "2G", 0, INT64_MAX, &v) == 0 && v == 2LL << 30, "2G");
    CHECK(option_bytes("--b", "100", 0, INT64_MAX, &v) == 0 && v == 100, "100");
    const char *const bad[] = {"16k", "16KB", "M", "1.5M", "-1", "16 K", "99999999999999999G"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(option_bytes("--b", bad[i], 0, INT64_MAX, &v) == -1, "\"%s\" read", bad[i]);
    CHECK(option_bytes("--b", "2G", 1, 1 << 30, &v) == -1, "2G above 1G accepted");
}

static void reals_finite_in_range(void)
{
    double v = 0.5;
    CHECK(option_real("--v", "0.95", 0, 1, &v) == 0 && v == 0.95, "0.95");
    CHECK(option_real("--v", "1", 0, 1, &v) == 0 && v == 1, "1");
    CHECK(option_real("--v", "1e-3", 0, 1, &v) == 0 && v == 1e-3, "1e-3");
    const char *const bad[] = {"0", "1.01", "abc", "0.9x", "nan", "inf", "", "0x1p-2", " 0.5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(option_real("--v", bad[i], 0, 1, &v) == -1 && v == 1e-3, "\"%s\" read", bad[i]);
}

static void redis_urls(void)
{
    redis_address_t a;
    char err[256], out[512];
    unsetenv("REDIS_PASSWORD");
    CHECK(redis_address_parse("redis://fsuser:p%40ss@host.example:6380/3", &a, err,
                              sizeof err) == 0, "%s", err);
    CHECK(!strcmp(a.user, "fsuser") && !strcmp(a.password, "p@ss") &&
              !strcmp(a.host, "host.example") && a.port == 6380 && a.db == 3, "parsed %s %s %d %d", a.user, a.host, a.port, a.db);
    redis_address_format(&a, true, out, sizeof out);
    CHECK(!strcmp(out, "redis://fsuser:***@host.example:6380/3"), "redacted: %s", out);
    redis_address_format(&a, false, out, sizeof out);
    CHECK(!strcmp(out, "redis://fsuser@host.example:6380/3"), "for a child: %s", out);
    CHECK(redis_address_parse("redis://:secret@h", &a, err, sizeof err) == 0 && !a.user[0] &&
              !strcmp(a.password, "secret") && a.port == 6379, "default user: %s", err);
    CHECK(redis_address_parse("unix://u:pw@/tmp/r.sock?db=2", &a, err, sizeof err) == 0 &&
              !strcmp(a.socket, "/tmp/r.sock") && a.db == 2 && !strcmp(a.password, "pw"),
          "unix with credentials: %s", err);
    CHECK(redis_address_parse("unix:///tmp/r.sock", &a, err, sizeof err) == 0 && !a.password[0],
          "plain unix: %s", err);
    setenv("REDIS_PASSWORD", "from-env", 1);
    CHECK(redis_address_parse("redis://h:1/0", &a, err, sizeof err) == 0 &&
              !strcmp(a.password, "from-env"), "REDIS_PASSWORD not used");
    unsetenv("REDIS_PASSWORD");
    const char *const bad[] = {"redis://:secret@h:99999", "redis://:secret@h:12x", "redis://h/1x",
                               "unix:///tmp/s?db=x", "redis://:secret@", "redis://:bad%zz@h",
                               "unix://u:pw@tmp/s"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        CHECK(redis_address_parse(bad[i], &a, err, sizeof err) == -1, "\"%s\" accepted", bad[i]);
        CHECK(!strstr(err, "secret") && !strstr(err, "pw"), "error shows a password: %s", err);
    }
}

int main(void)
{
    RUN(integers_whole_or_refused);
    RUN(bytes_with_units);
    RUN(reals_finite_in_range);
    RUN(redis_urls);
    TEST_DONE();
}
