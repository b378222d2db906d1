/* page_fault_cost.c -- what fresh memory costs on this machine.
 *
 *   page_fault_cost           us per minor page fault of a 4 KB page
 *   page_fault_cost --huge    "FIRST AGAIN": us per MB of huge-page memory, touched first
 *                             by this process, then again in a new mapping
 *
 * Without an option it prints one number: the median, over 5 rounds, of the time to touch
 * each page of 64 MB of fresh anonymous memory (huge pages refused, so that every 4 KB page
 * faults once), per page. On bare metal this is well under a microsecond; under some
 * hypervisors it is tens of times more, and then every page a process touches for the first
 * time weighs on its CPU time.
 *
 * With --huge it maps 256 MB in transparent huge pages (one fault per 2 MB) and times the
 * first touch of every page, per MB; then unmaps it, maps it again (the kernel hands back the
 * pages just freed) and times that. On bare metal both are memory-speed clearing (tens of us
 * per MB). A host that backs its guest's memory only when the guest first touches it, and
 * takes back what the guest frees, makes the first figure many times the second: the cost of
 * every MB a process's data grows by, which no huge page avoids. bench/section_25_sink.sh
 * multiplies these by the faults the sink and Redis take per vector and by Redis's growth, to
 * say how much of their time is the host's. */
#include "common/clock.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BYTES (64u << 20)
#define ROUNDS 5
#define HUGE_BYTES (256u << 20)
#define HUGE_PAGE (2u << 20)

static int by_value(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

/* us to touch every 4 KB of a fresh mapping of `bytes`, in huge pages or refusing them;
 * negative when it cannot be mapped. */
static double touch_fresh(size_t bytes, int huge)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t mapped = bytes + (huge ? HUGE_PAGE : 0);
    char *map = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        perror("page_fault_cost: mmap");
        return -1;
    }
    /* huge pages need a 2 MB-aligned start */
    volatile char *p =
        huge ? (char *) (((uintptr_t) map + HUGE_PAGE - 1) & ~(uintptr_t) (HUGE_PAGE - 1)) : map;
    madvise((void *) p, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    double t0 = clock_seconds();
    for (size_t i = 0; i < bytes; i += (size_t) page)
        p[i] = 1;
    double us = (clock_seconds() - t0) * 1e6;
    munmap(map, mapped);
    return us;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--huge") == 0) {
        double first = touch_fresh(HUGE_BYTES, 1), again = touch_fresh(HUGE_BYTES, 1);
        if (first < 0 || again < 0)
            return 1;
        printf("%.0f %.0f\n", first / (HUGE_BYTES >> 20), again / (HUGE_BYTES >> 20));
        return 0;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: page_fault_cost [--huge]\n");
        return 2;
    }
    double us[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        us[r] = touch_fresh(BYTES, 0);
        if (us[r] < 0)
            return 1;
        us[r] /= BYTES / (size_t) sysconf(_SC_PAGESIZE);
    }
    qsort(us, ROUNDS, sizeof *us, by_value);
    printf("%.2f\n", us[ROUNDS / 2]);
    return 0;
}
