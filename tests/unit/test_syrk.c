/* test_syrk.c -- each instruction set's rank-k update (rows centred as they are packed and
 * summed in float, and an optional extra row in double) stays within the error bound of
 * such sums (pca/syrk.h) on the upper triangle, and leaves the rest of C alone, at the PCA's
 * shape and at small and odd ones (partial panels, narrow tiles, several column blocks). It
 * runs once per set built for this architecture; the sets this CPU lacks are skipped, and
 * say so. The reference is a loop here rather than a BLAS so that the ARM64 cross build,
 * which has none, runs it for NEON under qemu-user too. */
#include "pca/syrk.h"
#include "tests/test.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

static double rand_unit(void)
{
    return (double) rand() / RAND_MAX * 2 - 1;
}

/* The largest error the kernel may make in an element: its float sum of k products taken
 * in order, k + 2 roundings of at most 2^-24 of the sum of the terms' magnitudes (one per
 * addition, one per product where the set has no multiply-add); then the additions into C
 * in double, a few roundings of 2^-53 of the magnitude of all that is added. */
static double error_bound(int k, double terms, double magnitude)
{
    return (k + 2) * 0x1p-24 * terms + 4 * 0x1p-53 * magnitude;
}

/* Runs test_isa's kernel on random input (C starts non-zero): b float rows centred on a
 * random centre, and a random extra row when `extra`, and checks every element on the upper
 * triangle against the exact sums of what syrk.h says the kernel multiplies (the centred
 * values rounded to float, the extra row in double), computed here in double. Returns the
 * worst error as a share of error_bound (so at most 1 passes); *stray counts elements
 * below the diagonal blocks (16 x 16 at most) that the kernel changed. With `zero_rows`,
 * the rows equal the centre, so that only the extra row's products remain and the bound is
 * double rounding alone. */
static double worst_error(int n, int b, bool extra, bool zero_rows, long *stray)
{
    float *rows = malloc(sizeof(float) * (size_t) n * (b ? b : 1));
    double *centre = malloc(sizeof(double) * (size_t) n);
    double *a = malloc(sizeof(double) * (size_t) n * (b ? b : 1)); /* the packed values */
    double *e = malloc(sizeof(double) * (size_t) n);
    double *c1 = malloc(sizeof(double) * (size_t) n * n);
    double *c0 = malloc(sizeof(double) * (size_t) n * n);
    float *pack = malloc(sizeof(float) * (syrk_pack_size(n, b) + 1));
    for (int j = 0; j < n; j++) {
        centre[j] = zero_rows ? (float) (rand_unit() * 10) : rand_unit() * 10;
        e[j] = rand_unit() * 100;
    }
    for (size_t i = 0; i < (size_t) n * b; i++) {
        rows[i] = zero_rows ? (float) centre[i % (size_t) n] : (float) (rand_unit() * 100);
        a[i] = (float) (rows[i] - centre[i % (size_t) n]);
    }
    for (size_t i = 0; i < (size_t) n * n; i++)
        c1[i] = c0[i] = rand_unit();
    syrk_centred_add(test_isa, n, b, rows, centre, extra ? e : NULL, c1, pack);
    double worst = 0;
    *stray = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j + 16 <= i; j++)
            *stray += c1[(size_t) i * n + j] != c0[(size_t) i * n + j];
        for (int j = i; j < n; j++) {
            double sum = 0, terms = 0;
            for (int kk = 0; kk < b; kk++) {
                double t = a[(size_t) kk * n + i] * a[(size_t) kk * n + j]; /* exact */
                sum += t;
                terms += fabs(t);
            }
            double ee = extra ? e[i] * e[j] : 0, c = c0[(size_t) i * n + j];
            double want = c + sum + ee;
            double bound = error_bound(b, terms, fabs(c) + terms + fabs(ee));
            double r = fabs(c1[(size_t) i * n + j] - want) / bound;
            if (!(r <= worst)) /* a NaN counts as the worst */
                worst = r;
        }
    }
    free(rows);
    free(centre);
    free(a);
    free(e);
    free(c1);
    free(c0);
    free(pack);
    return worst;
}

static void within_float_sum_bound_at_pca_shape(void)
{
    long stray;
    double r = worst_error(1280, 256, true, false, &stray);
    fprintf(stderr, "%s n=1280 b=256 + extra row: worst error %.3g of the bound\n",
            isa_name(test_isa), r);
    CHECK(r <= 1, "worst error %.3g of the bound", r);
    CHECK(stray == 0, "%ld elements below the diagonal blocks changed", stray);
}

static void within_float_sum_bound_at_small_shapes(void)
{
    static const int shapes[][2] = {{8, 1},    {16, 3},   {24, 5},    {40, 7},  {48, 2},
                                    {200, 31}, {13, 4},   {1, 1},     {2, 9},   {9, 2},
                                    {37, 11},  {70, 257}, {300, 300}, {17, 16}, {33, 8}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        long stray;
        bool extra = s % 2 == 0; /* with and without the extra row */
        double r = worst_error(shapes[s][0], shapes[s][1], extra, false, &stray);
        CHECK(r <= 1, "n=%d b=%d%s: worst error %.3g of the bound", shapes[s][0], shapes[s][1],
              extra ? " (extra row)" : "", r);
        CHECK(stray == 0, "n=%d b=%d: %ld elements below the diagonal blocks changed", shapes[s][0],
              shapes[s][1], stray);
    }
}

/* The extra row (the merge's mean correction) is multiplied in double: with every centred
 * value zero, C gains e[i] e[j] to double rounding, and no more than that. */
static void extra_row_in_double(void)
{
    static const int shapes[][2] = {{1280, 256}, {37, 11}, {20, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        long stray;
        double r = worst_error(shapes[s][0], shapes[s][1], true, true, &stray);
        CHECK(r <= 1, "n=%d b=%d: worst error %.3g of double rounding", shapes[s][0], shapes[s][1],
              r);
        CHECK(stray == 0, "n=%d b=%d: %ld elements below the diagonal blocks changed", shapes[s][0],
              shapes[s][1], stray);
    }
}

int main(void)
{
    srand(11);
    fprintf(stderr, "test_syrk: CPU %s, best path %s\n", isa_cpu_flags(), isa_name(isa_best()));
    RUN_EACH_ISA(within_float_sum_bound_at_pca_shape);
    RUN_EACH_ISA(within_float_sum_bound_at_small_shapes);
    RUN_EACH_ISA(extra_row_in_double);
    TEST_DONE();
}
