/* test.h -- the tiny test harness every unit test binary uses.
 *
 * A test is a `static void name(void)` function run with RUN(name). Inside it,
 * CHECK(cond, fmt, ...) records a failure with file, line and message, and returns from the
 * test. Every test prints one line, `ok NAME` or `FAIL NAME: where: why`, or `skip NAME: why`
 * when this machine cannot run it; tests/run.sh counts those lines over all binaries and
 * scripts and prints `N passed, N failed, N skipped`. RUN_EACH_ISA(fn) runs a test once per
 * kernel instruction set built for this architecture, as fn_<isa> with test_isa set, and
 * skips, visibly, the sets this CPU lacks. TEST_DONE() ends main with a non-zero status if
 * anything failed. test_tmpdir_make and test_tmpdir_remove give a binary a directory of its
 * own under /tmp. */
#ifndef FS_TEST_H
#define FS_TEST_H

#include "common/isa.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failed_now;
static int test_failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL %s: %s:%d: ", test_current, __FILE__, __LINE__);                          \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            fflush(stdout);                                                                        \
            test_failed_now = 1;                                                                   \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static const char *test_current = "";

#define RUN_NAMED(name, fn)                                                                        \
    do {                                                                                           \
        test_current = (name);                                                                     \
        test_failed_now = 0;                                                                       \
        fn();                                                                                      \
        if (test_failed_now)                                                                       \
            test_failures++;                                                                       \
        else                                                                                       \
            printf("ok %s\n", test_current);                                                       \
        fflush(stdout);                                                                            \
    } while (0)

#define RUN(fn) RUN_NAMED(#fn, fn)

/* The instruction set a RUN_EACH_ISA test is running on. */
static isa_t test_isa __attribute__((unused));

#define RUN_EACH_ISA(fn)                                                                           \
    for (int isa_ = 0; isa_ < ISA_COUNT; isa_++) {                                                 \
        char name_[128];                                                                           \
        if (!isa_built((isa_t) isa_))                                                              \
            continue;                                                                              \
        snprintf(name_, sizeof name_, "%s_%s", #fn, isa_name((isa_t) isa_));                       \
        if (!isa_runs((isa_t) isa_)) {                                                             \
            printf("skip %s: this CPU (%s) cannot run %s\n", name_, isa_cpu_flags(),               \
                   isa_name((isa_t) isa_));                                                        \
            continue;                                                                              \
        }                                                                                          \
        test_isa = (isa_t) isa_;                                                                   \
        RUN_NAMED(name_, fn);                                                                      \
    }

#define TEST_DONE() return test_failures ? 1 : 0

/* Where the shared data lives: $SHARED, else ../shared seen from the project root. */
static inline const char *test_shared_dir(void)
{
    const char *dir = getenv("SHARED");
    return dir && *dir ? dir : "../shared";
}

/* Makes a fresh directory /tmp/fs-test-NAME.XXXXXX for a test binary's files, its path in
 * dir (len bytes, at least 64); 0, or -1 after a FAIL line saying why. */
static inline int test_tmpdir_make(char *dir, size_t len, const char *name)
{
    snprintf(dir, len, "/tmp/fs-test-%s.XXXXXX", name);
    if (!mkdtemp(dir)) {
        printf("FAIL %s: cannot make a directory %s: %s\n", name, dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Removes a test_tmpdir_make directory and all it holds; 0, or -1 after a FAIL line. */
static inline int test_tmpdir_remove(const char *dir)
{
    char command[256];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0) {
        printf("FAIL cleanup: cannot remove %s\n", dir);
        return -1;
    }
    return 0;
}

#endif
