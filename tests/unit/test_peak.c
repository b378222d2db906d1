/* test_peak.c -- peak_gflops gives a figure on every kernel path this CPU runs (the ones it
 * lacks are skipped, and say so) and none where it cannot run. Speeds depend on the machine
 * and its load, so no figure is asserted beyond being a positive number. */
#include "featurizer/peak.h"
#include "tests/test.h"

#include <math.h>

#define TEST_PEAK_SECONDS 0.05

static void test_peak(void)
{
    double gflops = peak_gflops(test_isa, TEST_PEAK_SECONDS);
    CHECK(gflops > 0 && isfinite(gflops), "peak_gflops(%s) = %g", isa_name(test_isa), gflops);
    fprintf(stderr, "test_peak: %s %.1f GFlop/s\n", isa_name(test_isa), gflops);
}

/* 0 for a path not built or not runnable here, and for no time at all. */
static void test_peak_refused(void)
{
    for (int isa = 0; isa < ISA_COUNT; isa++)
        if (!isa_runs((isa_t) isa))
            CHECK(peak_gflops((isa_t) isa, TEST_PEAK_SECONDS) == 0, "%s: not 0",
                  isa_name((isa_t) isa));
    CHECK(peak_gflops(isa_best(), 0) == 0, "0 seconds: not 0");
}

int main(void)
{
    RUN_EACH_ISA(test_peak);
    RUN(test_peak_refused);
    TEST_DONE();
}
