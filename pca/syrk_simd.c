/* syrk_simd.c -- the rank-k update C += A^T A on the upper triangle, written once, compiled
 * once per instruction set (the Makefile builds it with -DSIMD_ISA_<name>; see
 * common/simd.h). Each object defines syrk_centred_add_<isa>, which syrk.c hands out.
 *
 * Design:
 * - The products are formed in single precision, at twice the double rate of every set we
 *   run on, and each block's sums are added to the double matrix C (syrk.h says what that
 *   costs in precision). The b rows, centred in double, are rounded to float as they are
 *   packed into panels of PW columns: panel p holds A[kk][pPW..pPW+PW-1] for every kk,
 *   contiguous, the last one zero-padded. A is never written out whole, every input of a
 *   tile streams from a few contiguous blocks whatever n is, and a partial panel needs no
 *   special loads. The extra row is not packed: its products are added in double as each
 *   tile is added to C, so the merge's mean correction (large where the means drift) is
 *   never rounded to float.
 * - A tile is R rows of C (a slice of one panel's columns) by NP column panels. Its R * NP
 *   accumulators of PW floats stay in registers over the whole k, fed per kk by NP vector
 *   loads from the column panels and R broadcasts, and are converted and added to C with the
 *   tile's only load and store of it. The vector width and the register budget set the
 *   shape: 8 x 48 with vectors of 16 floats (AVX-512, 24 accumulators of 32 registers),
 *   4 x 24 with 8 (AVX2, 12 of 16), 4 x 12 with 4 (NEON, 12 of 32; portable, 12 of 16).
 * - Tiles cover, for each row tile, the columns from its diagonal panel to the end of the
 *   row (so within the diagonal panel they also write values just below the diagonal, which
 *   nobody reads). They go in column blocks of about BLOCK_BYTES of packed input, every row
 *   tile against one block before the next, so that the block can stay in a 512 KB L2 while
 *   the row panels stream past it.
 * - Each element's float sum runs over kk in order with the set's multiply-add (test_syrk
 *   holds every set to the bound of such a sum). */
#include "common/simd.h"
#include "pca/syrk_impl.h"

#include <stddef.h>

#define WF SIMD_W  /* floats per vector */
#define WD SIMD_WD /* doubles per vector */
#define PW WF      /* columns per panel */
#if PW >= 16
#define R 8
#else
#define R 4
#endif
/* The widest tile whose accumulators, column vectors and row values fit the registers. x86
 * broadcasts one row value at a time into a register; on ARM the multiply-add takes a lane,
 * and GCC keeps all R row values in registers. */
#if defined(SIMD_ISA_neon)
#define ROW_REGS R
#else
#define ROW_REGS 1
#endif
#define FITS(np) (R * (np) + (np) + ROW_REGS <= SIMD_REGS)
#if FITS(3)
#define NP_MAX 3
#elif FITS(2)
#define NP_MAX 2
#else
#define NP_MAX 1
#endif
#define BLOCK_BYTES (256 * 1024)

_Static_assert(PW <= SYRK_PANEL_MAX, "syrk_pack_size must allow for this panel width");
_Static_assert(PW % R == 0, "a row tile lies within one panel");

/* The b rows centred (in double: (double) x - centre, exactly as the caller would), then
 * rounded to float, packed as the rows of A. */
static void pack_panels(int n, int b, const float *rows, const double *centre, float *pack)
{
    for (int p0 = 0; p0 < n; p0 += PW) {
        int w = n - p0 < PW ? n - p0 : PW;
        float *dst = pack + (size_t) p0 * b;
        for (int kk = 0; kk < b; kk++, dst += PW) {
            const float *src = rows + (size_t) kk * n + p0;
            for (int j = 0; j < w; j++)
                dst[j] = (float) (src[j] - centre[p0 + j]);
            for (int j = w; j < PW; j++)
                dst[j] = 0;
        }
    }
}

/* The part of a tile's sums t (R rows of ld floats) that lies inside the n x n matrix C,
 * added to C from (row0, col0) with the extra row's products: for tiles on the bottom or
 * right edge. */
static void add_clipped(int n, int row0, int col0, const float *t, int ld, const double *extra,
                        double *c)
{
    for (int r = 0; r < R && row0 + r < n; r++)
        for (int j = 0; j < ld && col0 + j < n; j++)
            c[(size_t) (row0 + r) * n + col0 + j] +=
                (double) t[r * ld + j] + (extra ? extra[row0 + r] * extra[col0 + j] : 0);
}

/* C[row0 .. row0 + R - 1][columns of panels cp .. cp + NP - 1] += their products over the b
 * packed rows, and the extra row's. */
INLINE void tile(int n, int b, const float *pack, int row0, int cp, const double *extra, double *c,
                 int NP)
{
    vf acc[R][NP_MAX];
    UNROLL
    for (int r = 0; r < R; r++)
        UNROLL
    for (int j = 0; j < NP; j++)
        acc[r][j] = (vf){0};
    const size_t panel = (size_t) b * PW;
    const float *pr = pack + (size_t) (row0 / PW) * panel + row0 % PW;
    const float *pc = pack + (size_t) cp * panel;
    for (int kk = 0; kk < b; kk++, pr += PW, pc += PW) {
        vf col[NP_MAX];
        UNROLL
        for (int j = 0; j < NP; j++)
            col[j] = vf_load(pc + j * panel);
        UNROLL
        for (int r = 0; r < R; r++) {
            float x = pr[r]; /* broadcast by the multiplication */
            UNROLL
            for (int j = 0; j < NP; j++)
                acc[r][j] += x * col[j];
        }
    }
    int col0 = cp * PW;
    if (row0 + R > n || col0 + NP * PW > n) {
        float t[R * NP_MAX * PW];
        UNROLL
        for (int r = 0; r < R; r++)
            UNROLL
        for (int j = 0; j < NP; j++)
            vf_store(t + (r * NP + j) * PW, acc[r][j]);
        add_clipped(n, row0, col0, t, NP * PW, extra, c);
        return;
    }
    UNROLL
    for (int r = 0; r < R; r++) {
        double *dst = c + (size_t) (row0 + r) * n + col0;
        UNROLL
        for (int j = 0; j < NP; j++) {
            vd lo = vd_load(dst + j * PW) + vd_widen(acc[r][j], 0);
            vd hi = vd_load(dst + j * PW + WD) + vd_widen(acc[r][j], 1);
            if (extra) {
                lo += extra[row0 + r] * vd_load(extra + col0 + j * PW);
                hi += extra[row0 + r] * vd_load(extra + col0 + j * PW + WD);
            }
            vd_store(dst + j * PW, lo);
            vd_store(dst + j * PW + WD, hi);
        }
    }
}

/* The tiles of the row tile at row0 over column panels [cp, end). */
static void row_tiles(int n, int b, const float *pack, int row0, int cp, int end,
                      const double *extra, double *c)
{
    for (; cp + NP_MAX <= end; cp += NP_MAX)
        tile(n, b, pack, row0, cp, extra, c, NP_MAX);
#if NP_MAX > 2
    if (end - cp == 2)
        tile(n, b, pack, row0, cp, extra, c, 2);
#endif
#if NP_MAX > 1
    if (end - cp == 1)
        tile(n, b, pack, row0, cp, extra, c, 1);
#endif
}

void SIMD_FN(syrk_centred_add)(int n, int b, const float *rows, const double *centre,
                               const double *extra, double *c, float *pack)
{
    if (n <= 0 || b < 0 || (b == 0 && !extra))
        return;
    pack_panels(n, b, rows, centre, pack);
    int panels = (n + PW - 1) / PW;
    int block =
        b > 0 ? (int) (BLOCK_BYTES / ((size_t) b * PW * sizeof(float))) / NP_MAX * NP_MAX : panels;
    if (block < NP_MAX)
        block = NP_MAX;
    for (int j0 = 0; j0 < panels; j0 += block) {
        int j1 = j0 + block < panels ? j0 + block : panels;
        for (int row0 = 0; row0 < n && row0 / PW < j1; row0 += R) {
            int diagonal = row0 / PW;
            row_tiles(n, b, pack, row0, diagonal > j0 ? diagonal : j0, j1, extra, c);
        }
    }
}
