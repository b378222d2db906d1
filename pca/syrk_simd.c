/* syrk_simd.c -- the rank-k update C += A^T A on the upper triangle, written once, compiled
 * once per instruction set (the Makefile builds it with -DSIMD_ISA_<name>; see
 * common/simd.h). Each object defines syrk_centred_add_<isa>, which syrk.c hands out.
 *
 * Design:
 * - A (k x n: the b rows centred, and the extra row) is packed into panels of P columns:
 *   panel p holds A[kk][pP..pP+P-1] for every kk, contiguous, the last one zero-padded. The
 *   rows are centred as they are packed, so that A is never written out whole (2.6 MB at
 *   the PCA's shape) only to be read again. Every input of a tile then streams
 *   from a few contiguous blocks whatever n is, and a partial panel needs no special loads.
 * - A tile is the P rows of C of one row panel by NP column panels (NP * P columns). Its
 *   P * NP * P/WD accumulators stay in registers over the whole k, fed per kk by NP * P/WD
 *   vector loads from the column panels and P broadcasts from the row panel, and are added
 *   to C with the tile's only load and store of it. The vector width and the register budget
 *   set P and NP: 8 x 24 with vectors of 8 doubles (AVX-512, 24 accumulators of 32
 *   registers), 4 x 12 with vectors of 4 (AVX2, 12 of 16), 4 x 8 with vectors of 2 (NEON,
 *   16 of 32, the row values take 4 more), 4 x 4 with vectors of 2 (portable, 8 of 16).
 * - Tiles cover, for each row panel, the columns from its diagonal block to the end of the
 *   row (a diagonal tile also writes the mirror images just below the diagonal, which nobody
 *   reads). They go in column blocks of about BLOCK_BYTES of packed input, every row panel
 *   against one block before the next, so that the block can stay in a 512 KB L2 while the
 *   row panels stream past it; all 1280 columns x 257 rows are 2.6 MB, more than an L2.
 * - Each element's sum runs over kk in order with the set's multiply-add; it differs from
 *   the plain sum's (and dsyrk's) by rounding only (test_syrk: 1e-13 relative). */
#include "common/simd.h"
#include "pca/syrk_impl.h"

#include <stddef.h>

#define WD SIMD_WD
#if WD >= 8
#define P 8
#else
#define P 4
#endif
#define VP (P / WD) /* vectors per row of a panel */
/* The widest tile whose accumulators, column vectors and row values fit the registers. x86
 * broadcasts one row value at a time into a register; on ARM the multiply-add takes a lane,
 * and GCC keeps all P row values in registers (with 3 panels it spilled accumulators). */
#if defined(SIMD_ISA_neon)
#define ROW_REGS P
#else
#define ROW_REGS 1
#endif
#define FITS(np) (P * (np) *VP + (np) *VP + ROW_REGS <= SIMD_REGS)
#if FITS(3)
#define NP_MAX 3
#elif FITS(2)
#define NP_MAX 2
#else
#define NP_MAX 1
#endif
#define BLOCK_BYTES (256 * 1024)

_Static_assert(P <= SYRK_PANEL_MAX, "syrk_pack_size must allow for this panel width");

/* The rows centred (in double: (double) x - centre, exactly as the caller would) and the
 * extra row, packed as the k = b (+ 1) rows of A. */
static void pack_panels(int n, int b, const float *rows, const double *centre, const double *extra,
                        double *pack)
{
    int k = b + (extra != NULL);
    for (int p0 = 0; p0 < n; p0 += P) {
        int w = n - p0 < P ? n - p0 : P;
        double *dst = pack + (size_t) p0 * k;
        for (int kk = 0; kk < b; kk++, dst += P) {
            const float *src = rows + (size_t) kk * n + p0;
            for (int j = 0; j < w; j++)
                dst[j] = src[j] - centre[p0 + j];
            for (int j = w; j < P; j++)
                dst[j] = 0;
        }
        for (int j = 0; extra && j < P; j++)
            dst[j] = j < w ? extra[p0 + j] : 0;
    }
}

/* The part of a tile's sums t (P rows of ld doubles) that lies inside the n x n matrix C,
 * added to C from (row0, col0): for tiles on the bottom or right edge. */
static void add_clipped(int n, int row0, int col0, const double *t, int ld, double *c)
{
    for (int r = 0; r < P && row0 + r < n; r++)
        for (int j = 0; j < ld && col0 + j < n; j++)
            c[(size_t) (row0 + r) * n + col0 + j] += t[r * ld + j];
}

/* C[rows of panel rp][columns of panels cp .. cp + NP - 1] += their products over all k. */
INLINE void tile(int n, int k, const double *pack, int rp, int cp, double *c, int NP)
{
    vd acc[P][NP_MAX * VP];
    UNROLL
    for (int r = 0; r < P; r++)
        UNROLL
    for (int q = 0; q < NP * VP; q++)
        acc[r][q] = (vd){0};
    const double *pr = pack + (size_t) rp * k * P, *pc = pack + (size_t) cp * k * P;
    const size_t panel = (size_t) k * P;
    for (int kk = 0; kk < k; kk++, pr += P, pc += P) {
        vd col[NP_MAX * VP];
        UNROLL
        for (int j = 0; j < NP; j++)
            UNROLL
        for (int v = 0; v < VP; v++)
            col[j * VP + v] = vd_load(pc + j * panel + v * WD);
        UNROLL
        for (int r = 0; r < P; r++) {
            double x = pr[r]; /* broadcast by the multiplication */
            UNROLL
            for (int q = 0; q < NP * VP; q++)
                acc[r][q] += x * col[q];
        }
    }
    int row0 = rp * P, col0 = cp * P;
    if (row0 + P <= n && col0 + NP * P <= n) {
        UNROLL
        for (int r = 0; r < P; r++) {
            double *dst = c + (size_t) (row0 + r) * n + col0;
            UNROLL
            for (int q = 0; q < NP * VP; q++)
                vd_store(dst + q * WD, vd_load(dst + q * WD) + acc[r][q]);
        }
        return;
    }
    double t[P * NP_MAX * P];
    UNROLL
    for (int r = 0; r < P; r++)
        UNROLL
    for (int q = 0; q < NP * VP; q++)
        vd_store(t + r * NP * P + q * WD, acc[r][q]);
    add_clipped(n, row0, col0, t, NP * P, c);
}

/* The tiles of row panel rp over column panels [cp, end). */
static void row_tiles(int n, int k, const double *pack, int rp, int cp, int end, double *c)
{
    for (; cp + NP_MAX <= end; cp += NP_MAX)
        tile(n, k, pack, rp, cp, c, NP_MAX);
#if NP_MAX > 2
    if (end - cp == 2)
        tile(n, k, pack, rp, cp, c, 2);
#endif
#if NP_MAX > 1
    if (end - cp == 1)
        tile(n, k, pack, rp, cp, c, 1);
#endif
}

void SIMD_FN(syrk_centred_add)(int n, int b, const float *rows, const double *centre,
                               const double *extra, double *c, double *pack)
{
    int k = b + (extra != NULL);
    if (n <= 0 || k <= 0)
        return;
    pack_panels(n, b, rows, centre, extra, pack);
    int panels = (n + P - 1) / P;
    int block = (int) (BLOCK_BYTES / ((size_t) k * P * sizeof(double))) / NP_MAX * NP_MAX;
    if (block < NP_MAX)
        block = NP_MAX;
    for (int j0 = 0; j0 < panels; j0 += block) {
        int j1 = j0 + block < panels ? j0 + block : panels;
        for (int rp = 0; rp < j1; rp++)
            row_tiles(n, k, pack, rp, rp > j0 ? rp : j0, j1, c);
    }
}
