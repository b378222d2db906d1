/* page_fault_cost.c -- what one minor page fault costs on this machine, in microseconds.
 *
 *   page_fault_cost
 *
 * Prints one number: the median, over 5 rounds, of the time to touch each page of 64 MB of
 * fresh anonymous memory (huge pages refused, so that every 4 KB page faults once), per
 * page. On bare metal this is well under a microsecond; under some hypervisors it is tens
 * of times more, and then every page a process touches for the first time weighs on its
 * CPU time. bench/section_25_sink.sh multiplies it by the faults the sink and Redis take
 * per vector, to say how much of their time is the host's. */
#include "common/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define BYTES (64u << 20)
#define ROUNDS 5

static int by_value(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(void)
{
    long page = sysconf(_SC_PAGESIZE);
    double us[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        volatile char *p =
            mmap(NULL, BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            perror("page_fault_cost: mmap");
            return 1;
        }
        madvise((void *) p, BYTES, MADV_NOHUGEPAGE);
        double t0 = clock_seconds();
        for (size_t i = 0; i < BYTES; i += (size_t) page)
            p[i] = 1;
        us[r] = (clock_seconds() - t0) * 1e6 / (BYTES / (size_t) page);
        munmap((void *) p, BYTES);
    }
    qsort(us, ROUNDS, sizeof *us, by_value);
    printf("%.2f\n", us[ROUNDS / 2]);
    return 0;
}
