/* test_cpu_cache.c -- the L2 size read from sysfs, on trees laid out like the kernel's
 * (built in a temporary directory), and the C library's figure taken first when it has
 * one. Under qemu-user on ARM64 the C library reports none, so there the sysfs path is the
 * one cpu_cache_l2_bytes takes. */
#include "common/cpu_cache.h"
#include "tests/test.h"

#include <sys/stat.h>
#include <unistd.h>

static char root[64];

/* Writes root/tree/indexN/{level,type,size}; 0, or -1 if a file could not be written (a
 * test expecting 0 from a tree it failed to write would pass for nothing). */
static int put_cache(const char *tree, int index, const char *level, const char *type,
                     const char *size)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, tree);
    mkdir(path, 0700); /* made by an earlier call, or failing: the fopen below tells */
    snprintf(path, sizeof path, "%s/%s/index%d", root, tree, index);
    mkdir(path, 0700);
    const char *names[] = {"level", "type", "size"}, *values[] = {level, type, size};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s/index%d/%s", root, tree, index, names[i]);
        FILE *file = fopen(path, "w");
        if (!file)
            return -1;
        int written = fprintf(file, "%s\n", values[i]) > 0;
        if (fclose(file) != 0 || !written)
            return -1;
    }
    return 0;
}

#define PUT_CACHE(...) CHECK(put_cache(__VA_ARGS__) == 0, "cannot write the tree under %s", root)

static size_t l2_of(const char *tree)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, tree);
    return cpu_cache_l2_from_sysfs(path);
}

/* A Neoverse V2's layout: L1 data and instruction, then a unified L2 and L3. */
static void test_unified_l2(void)
{
    PUT_CACHE("v2", 0, "1", "Data", "64K");
    PUT_CACHE("v2", 1, "1", "Instruction", "64K");
    PUT_CACHE("v2", 2, "2", "Unified", "2048K");
    PUT_CACHE("v2", 3, "3", "Unified", "36864K");
    CHECK(l2_of("v2") == 2048 * 1024, "got %zu", l2_of("v2"));
}

/* A split L2: its instruction half is passed over for the data half. */
static void test_split_l2(void)
{
    PUT_CACHE("split", 0, "1", "Data", "32K");
    PUT_CACHE("split", 1, "2", "Instruction", "1024K");
    PUT_CACHE("split", 2, "2", "Data", "512K");
    CHECK(l2_of("split") == 512 * 1024, "got %zu", l2_of("split"));
}

/* No L2 described, no tree at all, or a gap before the L2: 0, not a guess. */
static void test_none(void)
{
    PUT_CACHE("l1only", 0, "1", "Data", "32K");
    PUT_CACHE("l1only", 1, "1", "Instruction", "32K");
    CHECK(l2_of("l1only") == 0, "L1 only: got %zu", l2_of("l1only"));
    CHECK(l2_of("absent") == 0, "no tree: got %zu", l2_of("absent"));
    PUT_CACHE("gap", 0, "1", "Data", "32K");
    PUT_CACHE("gap", 2, "2", "Unified", "1024K");
    CHECK(l2_of("gap") == 0, "a gap: got %zu", l2_of("gap"));
}

/* Sizes not in the kernel's format give 0. */
static void test_bad_sizes(void)
{
    const char *bad[] = {
        "", "K", "lots", "-5K", "1024", "1024KB", "1M", "0K", "99999999999999999999K"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char tree[32];
        snprintf(tree, sizeof tree, "bad%zu", i);
        PUT_CACHE(tree, 0, "2", "Unified", bad[i]);
        CHECK(l2_of(tree) == 0, "size \"%s\": got %zu", bad[i], l2_of(tree));
    }
}

/* The C library's figure when it has one, sysfs's otherwise. */
static void test_this_cpu(void)
{
    long libc = sysconf(_SC_LEVEL2_CACHE_SIZE);
    size_t want = libc > 0 ? (size_t) libc : cpu_cache_l2_from_sysfs(CPU_CACHE_SYSFS);
    CHECK(cpu_cache_l2_bytes() == want, "got %zu, want %zu", cpu_cache_l2_bytes(), want);
    fprintf(stderr, "test_cpu_cache: this CPU's L2 %zu KiB (%s)\n", want / 1024,
            libc > 0 ? "C library"
            : want   ? "sysfs"
                     : "unknown");
}

int main(void)
{
    if (test_tmpdir_make(root, sizeof root, "cpu-cache") != 0)
        return 1;
    RUN(test_unified_l2);
    RUN(test_split_l2);
    RUN(test_none);
    RUN(test_bad_sizes);
    RUN(test_this_cpu);
    if (test_tmpdir_remove(root) != 0)
        return 1;
    TEST_DONE();
}
