/* syrk.c -- see syrk.h.
 *
 * The AVX-512 kernel packs A into panels of 8 columns (panel p holds A[k][8p..8p+7] for
 * every k, contiguous), so that a tile's inputs sit in L1 whatever the row stride. A tile is
 * 8 rows of C by up to 3 panels (24 columns): 24 accumulators of 8 doubles, fed per k by 3
 * panel loads and 8 broadcasts from the row panel. Tiles cover, for each row panel, the
 * columns from its diagonal block to the end of the row. */
#include "syrk.h"

#include <cblas.h>
#include <immintrin.h>

static bool force_blas;

void syrk_force_blas(bool force)
{
    force_blas = force;
}

#define PANEL 8

static void pack_panels(int n, int k, const double *a, double *pack)
{
    for (int p = 0; p < n / PANEL; p++)
        for (int kk = 0; kk < k; kk++)
            for (int j = 0; j < PANEL; j++)
                pack[((size_t) p * k + kk) * PANEL + j] = a[(size_t) kk * n + p * PANEL + j];
}

/* One tile: rows from panel `rows`, NP (1..3) column panels from panel `cols`. A macro
 * stamps out one function per NP, so that the loops over rows and panels unroll fully and
 * the accumulators live in registers. */
#define DEFINE_TILE(NP)                                                                    \
    __attribute__((target("avx512f"))) static void tile##NP(                              \
        int n, int k, const double *pack, int rows, int cols, double *c)                   \
    {                                                                                      \
        __m512d acc[PANEL][NP];                                                            \
        _Pragma("GCC unroll 8") for (int r = 0; r < PANEL; r++)                            \
            _Pragma("GCC unroll 3") for (int q = 0; q < NP; q++)                           \
                acc[r][q] = _mm512_setzero_pd();                                           \
        const double *pr = pack + (size_t) rows * k * PANEL;                               \
        const double *pc = pack + (size_t) cols * k * PANEL;                               \
        const size_t panel_size = (size_t) k * PANEL;                                      \
        for (int kk = 0; kk < k; kk++) {                                                   \
            __m512d col[NP];                                                               \
            _Pragma("GCC unroll 3") for (int q = 0; q < NP; q++)                           \
                col[q] = _mm512_loadu_pd(pc + q * panel_size + (size_t) kk * PANEL);       \
            _Pragma("GCC unroll 8") for (int r = 0; r < PANEL; r++) {                      \
                __m512d x = _mm512_set1_pd(pr[(size_t) kk * PANEL + r]);                   \
                _Pragma("GCC unroll 3") for (int q = 0; q < NP; q++)                       \
                    acc[r][q] = _mm512_fmadd_pd(x, col[q], acc[r][q]);                     \
            }                                                                              \
        }                                                                                  \
        _Pragma("GCC unroll 8") for (int r = 0; r < PANEL; r++) {                          \
            double *crow = c + (size_t) (rows * PANEL + r) * n + (size_t) cols * PANEL;    \
            _Pragma("GCC unroll 3") for (int q = 0; q < NP; q++)                           \
                _mm512_storeu_pd(crow + q * PANEL, _mm512_add_pd(                          \
                                     _mm512_loadu_pd(crow + q * PANEL), acc[r][q]));        \
        }                                                                                  \
    }
DEFINE_TILE(1)
DEFINE_TILE(2)
DEFINE_TILE(3)

/* Covers the upper triangle: for each row panel, 3-panel tiles from its diagonal block to
 * the end of the row, then a narrower one for what is left. */
__attribute__((target("avx512f"))) static void syrk_avx512(int n, int k, const double *pack,
                                                          double *c)
{
    int panels = n / PANEL;
    for (int rows = 0; rows < panels; rows++) {
        int cols = rows;
        for (; cols + 3 <= panels; cols += 3)
            tile3(n, k, pack, rows, cols, c);
        if (panels - cols == 2)
            tile2(n, k, pack, rows, cols, c);
        else if (panels - cols == 1)
            tile1(n, k, pack, rows, cols, c);
    }
}

void syrk_upper_add(int n, int k, const double *a, double *c, double *pack)
{
    if (!force_blas && n % PANEL == 0 && __builtin_cpu_supports("avx512f")) {
        pack_panels(n, k, a, pack);
        syrk_avx512(n, k, pack, c);
        return;
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, 1.0, a, n, 1.0, c, n);
}
