/* peak_simd.c -- the multiply-add loop peak_gflops times, written once and compiled per
 * instruction set (common/simd.h).
 *
 * Each accumulator is a chain of dependent multiply-adds, so one chain runs at one FMA per
 * latency; the core reaches its peak only with latency x FMA units chains in flight (4 x 2
 * on current x86 cores). PEAK_ACC is 12 on the 16-register sets (leaving registers for
 * the operand and the compiler) and 16, what UNROLL unrolls fully with gcc, on AVX-512 and
 * NEON: the constant-count loops are unrolled fully, so the accumulators stay in registers
 * and a round's body is PEAK_ACC FMA instructions on registers and a loop counter. On the
 * portable path of x86-64 (SSE2, no FMA) a multiply-add is a multiply and an add: that
 * loop's figure is the portable path's own ceiling.
 *
 * Each round negates every accumulator exactly (mul = -2 from the caller, so the compiler
 * cannot fold the rounds away): no growth, no denormals. Where the set has FMA, a round is
 * acc = acc * mul + acc, the accumulator both factor and addend, which NEON's fmla (which
 * overwrites its addend) runs without a copy. Without FMA (the portable path on x86-64,
 * SSE2) it is acc = acc * (mul / 2) + (mul + 2), a multiply and an add each in place: the
 * FMA form would need a copy of each accumulator, and clang then spills them. */
#include "common/simd.h"
#include "featurizer/peak.h"

#define PEAK_ACC (SIMD_REGS == 16 ? 12 : 16)
#define PEAK_FLOPS (2 * PEAK_ACC * SIMD_W) /* per round: 2 per lane of each FMA */

/* One round on one accumulator (see above). */
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
INLINE vf peak_round(vf acc, vf mul)
{
    return acc * mul + acc;
}
#else
INLINE vf peak_round(vf acc, vf mul)
{
    return acc * (mul * 0.5f) + (mul + 2.0f); /* both operands hoisted out of the loop */
}
#endif

static float peak_run(long rounds, float mul)
{
    vf m = vf_set1(mul), acc[PEAK_ACC];
    UNROLL
    for (int i = 0; i < PEAK_ACC; i++)
        acc[i] = vf_set1((float) i);
    for (long r = 0; r < rounds; r++) {
        UNROLL
        for (int i = 0; i < PEAK_ACC; i++)
            acc[i] = peak_round(acc[i], m);
    }
    UNROLL
    for (int i = 1; i < PEAK_ACC; i++)
        acc[0] += acc[i];
    float lanes[SIMD_W], sum = 0;
    vf_store(lanes, acc[0]);
    for (int i = 0; i < SIMD_W; i++)
        sum += lanes[i];
    return sum;
}

const peak_loop_t SIMD_FN(peak_loop) = {PEAK_FLOPS, peak_run};
