/* test_syrk.c -- the AVX-512 rank-k update equals OpenBLAS's dsyrk on the upper triangle,
 * for the PCA's shape and for small and odd ones (which fall back to dsyrk). */
#include "syrk.h"
#include "../test.h"

#include <math.h>
#include <string.h>

static double rand_unit(void)
{
    return (double) rand() / RAND_MAX * 2 - 1;
}

/* Runs both paths on the same random input (C starts non-zero) and compares. */
static double worst_difference(int n, int k)
{
    double *a = malloc(sizeof(double) * (size_t) n * k);
    double *c1 = malloc(sizeof(double) * (size_t) n * n), *c2 = malloc(sizeof(double) * (size_t) n * n);
    double *pack = malloc(sizeof(double) * (size_t) n * k);
    for (size_t i = 0; i < (size_t) n * k; i++)
        a[i] = rand_unit() * 100;
    for (size_t i = 0; i < (size_t) n * n; i++)
        c1[i] = c2[i] = rand_unit();
    syrk_force_blas(false);
    syrk_upper_add(n, k, a, c1, pack);
    syrk_force_blas(true);
    syrk_upper_add(n, k, a, c2, pack);
    syrk_force_blas(false);
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int j = i; j < n; j++) {
            double scale = fabs(c2[(size_t) i * n + j]) + 1e-300;
            double d = fabs(c1[(size_t) i * n + j] - c2[(size_t) i * n + j]) / scale;
            /* a relative error can be large where the sum cancels: bound it by the terms */
            double terms = 0;
            for (int kk = 0; kk < k; kk++)
                terms += fabs(a[(size_t) kk * n + i] * a[(size_t) kk * n + j]);
            d = fmin(d, fabs(c1[(size_t) i * n + j] - c2[(size_t) i * n + j]) / (terms + 1));
            if (d > worst)
                worst = d;
        }
    free(a);
    free(c1);
    free(c2);
    free(pack);
    return worst;
}

static void matches_dsyrk_at_pca_shape(void)
{
    double d = worst_difference(1280, 257);
    fprintf(stderr, "n=1280 k=257: worst relative difference %.3g\n", d);
    CHECK(d < 1e-13, "worst relative difference %.3g", d);
}

static void matches_dsyrk_at_small_shapes(void)
{
    static const int shapes[][2] = {{8, 1}, {16, 3}, {24, 5}, {40, 7}, {48, 2}, {200, 31},
                                    {13, 4}, {1, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        double d = worst_difference(shapes[s][0], shapes[s][1]);
        CHECK(d < 1e-13, "n=%d k=%d: worst relative difference %.3g", shapes[s][0],
              shapes[s][1], d);
    }
}

int main(void)
{
    srand(11);
    RUN(matches_dsyrk_at_pca_shape);
    RUN(matches_dsyrk_at_small_shapes);
    TEST_DONE();
}
