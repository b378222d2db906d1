/* test_syrk.c -- each instruction set's rank-k update (rows centred as they are packed, and
 * an optional extra row) equals the plain sum that defines it on the upper triangle and
 * leaves the rest of C alone, at the PCA's shape and at small and odd ones (partial panels,
 * narrow tiles, several column blocks). It runs once per set built for this architecture;
 * the sets this CPU lacks are skipped, and say so. The reference is a loop here rather than
 * OpenBLAS's dsyrk so that the test needs no BLAS: the ARM64 cross build, which has none,
 * runs it for NEON under qemu-user too. */
#include "pca/syrk.h"
#include "tests/test.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

static double rand_unit(void)
{
    return (double) rand() / RAND_MAX * 2 - 1;
}

/* c += a^T a on and above the diagonal, each element summed over the rows of a in order, as
 * syrk.h defines it; the lower triangle is left alone. */
static void reference_syrk(int n, int k, const double *a, double *c)
{
    for (int kk = 0; kk < k; kk++) {
        const double *row = a + (size_t) kk * n;
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++)
                c[(size_t) i * n + j] += row[i] * row[j];
    }
}

/* Runs test_isa's kernel and the reference on the same random input (C starts non-zero):
 * k - 1 float rows centred on a random centre and one extra row, or k rows and none when
 * `extra` is false. Returns the worst difference on the upper triangle, relative to the
 * element or, where the sum cancels, to the sum of its terms' magnitudes. *stray counts
 * elements below the diagonal blocks (8 x 8 at most) that the kernel changed. */
static double worst_difference(int n, int k, bool extra, long *stray)
{
    int b = extra ? k - 1 : k;
    float *rows = malloc(sizeof(float) * (size_t) n * k);
    double *centre = malloc(sizeof(double) * (size_t) n);
    double *a = malloc(sizeof(double) * (size_t) n * k); /* the rows of A, as syrk.h says */
    double *c1 = malloc(sizeof(double) * (size_t) n * n);
    double *c2 = malloc(sizeof(double) * (size_t) n * n);
    double *pack = malloc(sizeof(double) * syrk_pack_size(n, k));
    for (int j = 0; j < n; j++)
        centre[j] = rand_unit() * 10;
    for (size_t i = 0; i < (size_t) n * b; i++) {
        rows[i] = (float) (rand_unit() * 100);
        a[i] = rows[i] - centre[i % (size_t) n];
    }
    for (size_t i = (size_t) n * b; i < (size_t) n * k; i++)
        a[i] = rand_unit() * 100;
    for (size_t i = 0; i < (size_t) n * n; i++)
        c1[i] = c2[i] = rand_unit();
    syrk_centred_add(test_isa, n, b, rows, centre, extra ? a + (size_t) n * b : NULL, c1, pack);
    reference_syrk(n, k, a, c2);
    double worst = 0;
    *stray = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j + 8 <= i; j++)
            *stray += c1[(size_t) i * n + j] != c2[(size_t) i * n + j];
        for (int j = i; j < n; j++) {
            double scale = fabs(c2[(size_t) i * n + j]) + 1e-300;
            double d = fabs(c1[(size_t) i * n + j] - c2[(size_t) i * n + j]) / scale;
            double terms = 0;
            for (int kk = 0; kk < k; kk++)
                terms += fabs(a[(size_t) kk * n + i] * a[(size_t) kk * n + j]);
            d = fmin(d, fabs(c1[(size_t) i * n + j] - c2[(size_t) i * n + j]) / (terms + 1));
            if (!(d <= worst)) /* a NaN counts as the worst */
                worst = d;
        }
    }
    free(rows);
    free(centre);
    free(a);
    free(c1);
    free(c2);
    free(pack);
    return worst;
}

static void matches_reference_at_pca_shape(void)
{
    long stray;
    double d = worst_difference(1280, 257, true, &stray);
    fprintf(stderr, "%s n=1280 k=257: worst relative difference %.3g\n", isa_name(test_isa), d);
    CHECK(d < 1e-13, "worst relative difference %.3g", d);
    CHECK(stray == 0, "%ld elements below the diagonal blocks changed", stray);
}

static void matches_reference_at_small_shapes(void)
{
    static const int shapes[][2] = {{8, 1},    {16, 3},   {24, 5},   {40, 7}, {48, 2},
                                    {200, 31}, {13, 4},   {1, 1},    {2, 9},  {9, 2},
                                    {37, 11},  {70, 257}, {300, 300}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        long stray;
        bool extra = s % 2 == 0 && shapes[s][1] > 1; /* with and without the extra row */
        double d = worst_difference(shapes[s][0], shapes[s][1], extra, &stray);
        CHECK(d < 1e-13, "n=%d k=%d%s: worst relative difference %.3g", shapes[s][0], shapes[s][1],
              extra ? " (extra row)" : "", d);
        CHECK(stray == 0, "n=%d k=%d: %ld elements below the diagonal blocks changed", shapes[s][0],
              shapes[s][1], stray);
    }
}

int main(void)
{
    srand(11);
    fprintf(stderr, "test_syrk: CPU %s, best path %s\n", isa_cpu_flags(), isa_name(isa_best()));
    RUN_EACH_ISA(matches_reference_at_pca_shape);
    RUN_EACH_ISA(matches_reference_at_small_shapes);
    TEST_DONE();
}
