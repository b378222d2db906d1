/* peak.h -- the multiply-add peak of one core on each kernel path, measured.
 *
 * A benchmark that says how close the network comes to what the machine can do needs the
 * ceiling of the instruction set it ran on, measured in the same run: OpenBLAS's sgemm
 * picks its own instruction set, and a datasheet's figure ignores the clock the core really
 * runs at. peak_gflops times a loop of nothing but independent multiply-adds on registers
 * (peak_simd.c, compiled once per instruction set like the kernels): more accumulators than
 * the FMA latency times the FMA units need, no loads, no stores. That is the most any
 * kernel written in that instruction set can reach on this core, one thread. */
#ifndef FS_PEAK_H
#define FS_PEAK_H

#include "common/isa.h"

/* GFlop/s (a multiply-add is 2 flops per lane) of isa's loop on the calling thread: the
 * best of a few timed runs, about `seconds` in all. 0 when this binary has no such path or
 * the CPU cannot run it (isa_runs), or seconds is not positive. */
double peak_gflops(isa_t isa, double seconds);

/* One per instruction set built (peak_simd.c), for peak.c alone: run does `rounds` rounds
 * of the loop, `flops` each, each round acc = acc * mul + acc on every accumulator, and
 * returns the sum of their lanes so that nothing can be optimised away. */
typedef struct {
    int flops;
    float (*run)(long rounds, float mul);
} peak_loop_t;

#endif
