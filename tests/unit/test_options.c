/* test_options.c -- numeric options are read whole or refused: no "224x" read as 224, no
 * "1e6" as 1, no wrap-around, ranges and units honoured; Redis URLs likewise, and their
 * passwords never show in a formatted address. The table-driven parser: values of every
 * kind land where the table says, a bad or unknown option ends the process with status 2,
 * --help with status 0, and its text names every option with its default, operands
 * are counted, and --redis falls back on $REDIS_URL. */
#include "common/options.h"
#include "common/redis.h"
#include "tests/test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void integers_whole_or_refused(void)
{
    int v = 7;
    int64_t w = 7;
    const char *const bad[] = {"224x", "",    " 5",          "+5",
                               "5 ",   "1e6", "0x10",        "abc",
                               "-",    "1.5", "99999999999", "99999999999999999999999"};
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
    CHECK(redis_address_parse("redis://fsuser:p%40ss@host.example:6380/3", &a, err, sizeof err) ==
              0,
          "%s", err);
    CHECK(!strcmp(a.user, "fsuser") && !strcmp(a.password, "p@ss") &&
              !strcmp(a.host, "host.example") && a.port == 6380 && a.db == 3,
          "parsed %s %s %d %d", a.user, a.host, a.port, a.db);
    redis_address_format(&a, true, out, sizeof out);
    CHECK(!strcmp(out, "redis://fsuser:***@host.example:6380/3"), "redacted: %s", out);
    redis_address_format(&a, false, out, sizeof out);
    CHECK(!strcmp(out, "redis://fsuser@host.example:6380/3"), "for a child: %s", out);
    CHECK(redis_address_parse("redis://:secret@h", &a, err, sizeof err) == 0 && !a.user[0] &&
              !strcmp(a.password, "secret") && a.port == 6379,
          "default user: %s", err);
    CHECK(redis_address_parse("unix://u:pw@/tmp/r.sock?db=2", &a, err, sizeof err) == 0 &&
              !strcmp(a.socket, "/tmp/r.sock") && a.db == 2 && !strcmp(a.password, "pw"),
          "unix with credentials: %s", err);
    CHECK(redis_address_parse("unix:///tmp/r.sock", &a, err, sizeof err) == 0 && !a.password[0],
          "plain unix: %s", err);
    setenv("REDIS_PASSWORD", "from-env", 1);
    CHECK(redis_address_parse("redis://h:1/0", &a, err, sizeof err) == 0 &&
              !strcmp(a.password, "from-env"),
          "REDIS_PASSWORD not used");
    unsetenv("REDIS_PASSWORD");
    const char *const bad[] = {
        "redis://:secret@h:99999", "redis://:secret@h:12x",  "redis://h/1x",
        "unix:///tmp/s?db=x",      "redis://:secret@",       "redis://:bad%zz@h",
        "unix://u:pw@tmp/s",       "redis://default:secret", "redis://u:secret/0",
        "redis://h:1/0secret"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        CHECK(redis_address_parse(bad[i], &a, err, sizeof err) == -1, "\"%s\" accepted", bad[i]);
        CHECK(!strstr(err, "secret") && !strstr(err, "pw"), "error shows a password: %s", err);
    }
}

/* What the tables below fill. */
typedef struct {
    bool flag;
    const char *name, *url;
    int size;
    int64_t count, bytes;
    double ratio;
    const char *items[4];
    int nitems;
} sample_t;

static int append(void *target, const char *arg)
{
    sample_t *s = target;
    if (s->nitems == 4)
        return -1;
    s->items[s->nitems++] = arg;
    return 0;
}

/* Parses a command line of at most 22 words (NULL-ended) into a fresh sample_t with
 * defaults; returns options_parse's result. */
static int parse(sample_t *s, const char *const *words)
{
    *s = (sample_t){.name = "default-name", .size = 224, .count = 7, .bytes = 16384, .ratio = 0.95};
    const option_t options[] = {OPTION_FLAG("flag", &s->flag, "a flag"),
                                OPTION_STRING("name", &s->name, "NAME", "a name"),
                                OPTION_REDIS(&s->url, "Redis (default $REDIS_URL, else none)"),
                                OPTION_INT("size", &s->size, 32, 4096, "S", "a side"),
                                OPTION_INT64("count", &s->count, 0, INT64_MAX, "N", "a count"),
                                OPTION_BYTES("bytes", &s->bytes, 0, 1 << 30, "BYTES", "a buffer"),
                                OPTION_REAL("ratio", &s->ratio, 0, 1, "V", "a ratio"),
                                OPTION_CALL("item", append, s, "ITEM", "an item (repeatable)"),
                                OPTION_END};
    const options_spec_t spec = {"test_options", "[FILE...]",         0, 2, "Tests the parser.",
                                 options,        "Environment: none."};
    char *argv[24] = {"test_options"};
    int argc = 1;
    while (argc < 23 && words[argc - 1]) {
        argv[argc] = (char *) words[argc - 1];
        argc++;
    }
    return options_parse(&spec, argc, argv);
}

/* The status a process parsing words ends with: options_parse's exit, or 100 when it
 * returned. Its output and messages go to /dev/null. */
static int exit_status(const char *const *words)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        sample_t s;
        parse(&s, words);
        _exit(100);
    }
    int status = -1;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void table_values_land(void)
{
    sample_t s;
    unsetenv("REDIS_URL");
    int first = parse(&s, (const char *const[]){"--flag", "--name", "n", "a.jpg", "--size", "100",
                                                "--count=9", "--bytes", "64M", "--ratio", "0.5",
                                                "--item", "x", "--item", "y", NULL});
    CHECK(first == 15 && !strcmp(s.name, "n"), "first operand at %d", first);
    CHECK(s.flag && s.size == 100 && s.count == 9 && s.bytes == 64 << 20 && s.ratio == 0.5,
          "values %d %d %lld %lld %g", s.flag, s.size, (long long) s.count, (long long) s.bytes,
          s.ratio);
    CHECK(s.nitems == 2 && !strcmp(s.items[0], "x") && !strcmp(s.items[1], "y"), "items %d",
          s.nitems);
    CHECK(!s.url, "no --redis, no REDIS_URL: %s", s.url);
    first = parse(&s, (const char *const[]){NULL});
    CHECK(first == 1 && s.size == 224 && s.bytes == 16384 && !s.flag, "defaults kept");
}

static void table_refusals_are_status_2(void)
{
    const char *const *bad[] = {(const char *const[]){"--size", "31", NULL},
                                (const char *const[]){"--size", "2x", NULL},
                                (const char *const[]){"--ratio", "0", NULL},
                                (const char *const[]){"--bytes", "2G", NULL},
                                (const char *const[]){"--count", "-1", NULL},
                                (const char *const[]){"--nope", NULL},
                                (const char *const[]){"-x", NULL},
                                (const char *const[]){"--size", NULL},
                                (const char *const[]){"--flag=1", NULL},
                                (const char *const[]){"--log-level", "loud", NULL},
                                (const char *const[]){"a", "b", "c", NULL},
                                (const char *const[]){"--item", "1", "--item", "2", "--item", "3",
                                                      "--item", "4", "--item", "5", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int status = exit_status(bad[i]);
        CHECK(status == 2, "case %zu (%s): status %d", i, bad[i][0], status);
    }
    CHECK(exit_status((const char *const[]){"a", "--size", "64", "b", NULL}) == 100,
          "a good command line ended the process");
}

static void table_help_names_every_option(void)
{
    sample_t s;
    CHECK(exit_status((const char *const[]){"--size", "100", "--help", NULL}) == 0,
          "--help did not end with status 0");
    CHECK(exit_status((const char *const[]){"-h", NULL}) == 0, "-h did not end with status 0");
    const option_t options[] = {
        OPTION_FLAG("flag", &s.flag, "a flag"),
        OPTION_STRING("name", &s.name, "NAME", "a name"),
        OPTION_REDIS(&s.url, "Redis (default $REDIS_URL, else none)"),
        OPTION_INT("size", &s.size, 32, 4096, "S", "a side"),
        OPTION_BYTES("bytes", &s.bytes, 0, 1 << 30, "BYTES", "a buffer"),
        OPTION_REAL("ratio", &s.ratio, 0, 1, "V",
                    "a ratio that takes a long explanation, "
                    "long enough to be wrapped over two lines of the usage text at least"),
        OPTION_END};
    const options_spec_t spec = {"prog",  "FILE...",           1, OPTIONS_ANY_NUMBER, "About it.",
                                 options, "Environment: none."};
    s = (sample_t){
        .name = "n", .size = 224, .bytes = 16384, .ratio = 0.95, .url = "redis://:secret@h"};
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    options_usage(&spec, out);
    fclose(out);
    const char *const expected[] = {"usage: prog [options] FILE...\nAbout it.\n",
                                    "\n  --flag ",
                                    "\n  --name NAME ",
                                    "a name (default n)\n",
                                    "a side (default 224)\n",
                                    "a buffer (default 16K)\n",
                                    "(default 0.95)\n",
                                    "\n  --log-level LEVEL ",
                                    "\n  -h, --help ",
                                    "\nEnvironment: none.\n",
                                    "\n  --redis URL ",
                                    "Redis (default $REDIS_URL, else none)\n"};
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++)
        CHECK(strstr(text, expected[i]), "\"%s\" not in:\n%s", expected[i], text);
    CHECK(!strstr(text, "secret"), "the URL shown:\n%s", text);
    for (char *line = text, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        CHECK(end && end - line <= 80, "a line of %d characters", (int) (end - line));
    }
    free(text);
}

static void table_operands_and_redis_env(void)
{
    sample_t s;
    setenv("REDIS_URL", "redis://from-env:1/0", 1);
    int first = parse(&s, (const char *const[]){"x.jpg", "--size", "64", NULL});
    CHECK(first == 3 && s.size == 64 && s.url && !strcmp(s.url, "redis://from-env:1/0"),
          "operand first: %d, url %s", first, s.url);
    first = parse(&s, (const char *const[]){"--redis", "unix:///r", "--", "--size", NULL});
    CHECK(first == 4 && !strcmp(s.url, "unix:///r") && s.size == 224, "after --: %d", first);
    unsetenv("REDIS_URL");
}

int main(void)
{
    RUN(integers_whole_or_refused);
    RUN(bytes_with_units);
    RUN(reals_finite_in_range);
    RUN(redis_urls);
    RUN(table_values_land);
    RUN(table_refusals_are_status_2);
    RUN(table_help_names_every_option);
    RUN(table_operands_and_redis_env);
    TEST_DONE();
}
