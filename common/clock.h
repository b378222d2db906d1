/* clock.h -- the clocks fruitstream uses: monotonic seconds for measuring durations, Unix
 * milliseconds for timestamps that cross processes and machines, and the CPU seconds a
 * process (all its threads) or a thread has used, for what work costs on shared cores. */
#ifndef FS_CLOCK_H
#define FS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* A clock's reading in seconds; the functions below name the clocks we read. */
static inline double clock_read_seconds(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double) t.tv_sec + (double) t.tv_nsec * 1e-9;
}

static inline double clock_seconds(void)
{
    return clock_read_seconds(CLOCK_MONOTONIC);
}

static inline int64_t clock_unix_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t) t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static inline double clock_process_cpu_seconds(void)
{
    return clock_read_seconds(CLOCK_PROCESS_CPUTIME_ID);
}

/* The calling thread's CPU time: what a piece of work costs whatever else runs. */
static inline double clock_thread_cpu_seconds(void)
{
    return clock_read_seconds(CLOCK_THREAD_CPUTIME_ID);
}

#endif
