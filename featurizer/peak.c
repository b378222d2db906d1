/* peak.c -- timing the multiply-add loop of each instruction set (peak.h says why).
 *
 * The loop runs a number of rounds chosen at run time: doubled from a small count until one
 * run lasts an eighth of a try (which also wakes the vector units and the clock up), then
 * scaled to a try's length, PEAK_TRIES tries of seconds / PEAK_TRIES each. The fastest try
 * counts, as other load on the core can only slow a run down. Each run's result goes to a
 * volatile, so no compiler may drop the loop. */
#include "featurizer/peak.h"

#include "common/clock.h"

#include <limits.h>

#define PEAK_TRIES 4

extern const peak_loop_t peak_loop_portable;
#if defined(__x86_64__)
extern const peak_loop_t peak_loop_avx2, peak_loop_avx512;
#elif defined(__aarch64__)
extern const peak_loop_t peak_loop_neon;
#endif

static volatile float peak_sink;

static const peak_loop_t *peak_loop(isa_t isa)
{
    switch (isa) {
    case ISA_PORTABLE: return &peak_loop_portable;
#if defined(__x86_64__)
    case ISA_AVX2: return &peak_loop_avx2;
    case ISA_AVX512: return &peak_loop_avx512;
#elif defined(__aarch64__)
    case ISA_NEON: return &peak_loop_neon;
#endif
    default: return NULL;
    }
}

/* Seconds for `rounds` rounds of loop. */
static double peak_time(const peak_loop_t *loop, long rounds)
{
    double t0 = clock_seconds();
    peak_sink = loop->run(rounds, -2.0f); /* negates every lane, exactly */
    return clock_seconds() - t0;
}

double peak_gflops(isa_t isa, double seconds)
{
    const peak_loop_t *loop = peak_loop(isa);
    if (!loop || !isa_runs(isa) || !(seconds > 0))
        return 0;
    double try_s = seconds / PEAK_TRIES, t;
    long rounds = 1024;
    while ((t = peak_time(loop, rounds)) < try_s / 8 && rounds < LONG_MAX / 4)
        rounds *= 2;
    rounds = (long) ((double) rounds * (try_s / (t > 0 ? t : 1e-9))) + 1;
    double best = 0;
    for (int i = 0; i < PEAK_TRIES; i++)
        if ((t = peak_time(loop, rounds)) > 0 && (best == 0 || t < best))
            best = t;
    return best > 0 ? (double) loop->flops * (double) rounds / best / 1e9 : 0;
}
