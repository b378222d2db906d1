/* test.h -- the tiny test harness every unit test binary uses.
 *
 * A test is a `static void name(void)` function run with RUN(name). Inside it,
 * CHECK(cond, fmt, ...) records a failure with file, line and message, and returns from the
 * test. Every test prints one line, `ok NAME` or `FAIL NAME: where: why`; tests/run.sh
 * counts those lines over all binaries and scripts and prints `N passed, N failed`.
 * TEST_DONE() ends main with a non-zero status if anything failed. */
#ifndef FS_TEST_H
#define FS_TEST_H

#include <stdio.h>
#include <stdlib.h>

static int test_failed_now;
static int test_failures;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            printf("FAIL %s: %s:%d: ", test_current, __FILE__, __LINE__);                  \
            printf(__VA_ARGS__);                                                           \
            printf("\n");                                                                  \
            fflush(stdout);                                                                \
            test_failed_now = 1;                                                           \
            return;                                                                        \
        }                                                                                  \
    } while (0)

static const char *test_current = "";

#define RUN(fn)                                                                            \
    do {                                                                                   \
        test_current = #fn;                                                                \
        test_failed_now = 0;                                                               \
        fn();                                                                              \
        if (test_failed_now)                                                               \
            test_failures++;                                                               \
        else                                                                               \
            printf("ok %s\n", #fn);                                                        \
        fflush(stdout);                                                                    \
    } while (0)

#define TEST_DONE() return test_failures ? 1 : 0

/* Where the shared data lives: $SHARED, else ../shared seen from the project root. */
static inline const char *test_shared_dir(void)
{
    const char *dir = getenv("SHARED");
    return dir && *dir ? dir : "../shared";
}

#endif
