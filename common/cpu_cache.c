/* cpu_cache.c -- this CPU's L2 size, from the C library or else from sysfs (cpu_cache.h).
 *
 * sysfs gives one directory per cache, index0, index1, ... with no gaps, each holding
 * `level` (1, 2, 3), `type` (Data, Instruction, Unified) and `size` as the kernel prints
 * it: a number of KiB followed by K ("1024K"). Anything else in those files means the tree
 * is not what we think it is, and the answer is 0 rather than a guess. */
#include "common/cpu_cache.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CPU_CACHE_MAX_INDEX 32 /* far more caches than any CPU describes */

/* The first line of dir/indexN/name into line (newline removed); -1 if it cannot be read. */
static int read_entry(const char *dir, int index, const char *name, char *line, size_t len)
{
    char path[512];
    if ((size_t) snprintf(path, sizeof path, "%s/index%d/%s", dir, index, name) >= sizeof path)
        return -1;
    FILE *file = fopen(path, "r");
    if (!file)
        return -1;
    char *got = fgets(line, (int) len, file);
    fclose(file);
    if (!got)
        return -1;
    line[strcspn(line, "\n")] = '\0';
    return 0;
}

/* "1024K" -> 1048576; 0 for anything else. */
static size_t parse_size(const char *text)
{
    char *end;
    errno = 0;
    unsigned long long kib = strtoull(text, &end, 10);
    if (errno || end == text || text[0] == '-' || strcmp(end, "K") != 0 || kib == 0 ||
        kib > (unsigned long long) (SIZE_MAX / 1024))
        return 0;
    return (size_t) kib * 1024;
}

size_t cpu_cache_l2_from_sysfs(const char *dir)
{
    char level[16], type[32], size[32];
    for (int i = 0; i < CPU_CACHE_MAX_INDEX; i++) {
        if (read_entry(dir, i, "level", level, sizeof level) != 0)
            return 0; /* past the last cache, or no such tree */
        if (strcmp(level, "2") != 0)
            continue;
        if (read_entry(dir, i, "type", type, sizeof type) != 0)
            return 0;
        if (strcmp(type, "Data") != 0 && strcmp(type, "Unified") != 0)
            continue;
        if (read_entry(dir, i, "size", size, sizeof size) != 0)
            return 0;
        return parse_size(size);
    }
    return 0;
}

size_t cpu_cache_l2_bytes(void)
{
    long bytes = sysconf(_SC_LEVEL2_CACHE_SIZE); /* 0 or -1 where the C library cannot tell */
    if (bytes > 0)
        return (size_t) bytes;
    return cpu_cache_l2_from_sysfs(CPU_CACHE_SYSFS);
}
