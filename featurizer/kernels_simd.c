/* kernels_simd.c -- the featurizer's hot loops, written once, compiled once per instruction
 * set (the Makefile builds it with -DSIMD_ISA_<name>; see common/simd.h). Each object
 * defines one kernels_t table, kernels_<isa>, that kernels.c hands out.
 *
 * Design:
 * - 1x1 convolutions are GEMMs, (pixels x Cin) x (Cin x Cout), against weights packed once
 *   into column panels of up to NV_MAX vectors (kernels.c). A tile is MR pixels x NV
 *   vectors of outputs: its MR * NV accumulators stay in registers over the whole K (MR and
 *   NV are constants after inlining, and the loops have no data-dependent control flow,
 *   which the compilers need to keep the array out of memory), fed per k by NV panel loads
 *   and MR broadcasts. Bias, ReLU6 and the residual are applied before the tile's only
 *   store, so every output is written once. The register budget sets the tile: MR * NV
 *   accumulators + NV panel vectors + 1 broadcast fill at most the registers. With 16,
 *   AVX2's panels are 3 vectors wide, 4 x 3 (all 16: no spill, per gcc's output), which ran
 *   the network 3% faster than 6 x 2 on a Zen 5 at both sizes: fewer broadcasts per FMA and
 *   fewer panels, so each pixel's inputs are swept fewer times; portable keeps 6 x 2, as
 *   SSE2 has no FMA and its products need a register of their own (4 x 3 ran no faster).
 *   With 32, AVX-512 panels are 3 vectors wide (8 x 3) and NEON's 4 (6 x 4). On an Intel
 *   Xeon (Sapphire Rapids class) 8 x 3 ran the network 6% faster than 6 x 4 at S = 100 and
 *   1.5% at 224, on a Zen 5 4.6% and 3.4%: the 4 x 4 grid of the last blocks is two tiles
 *   of 8 pixels, not three of 6, 5 and 5, so each panel (read from L3) is swept twice, not
 *   three times; in a loop on hot caches 8 x 3 ran at 87% of the FMA peak, 6 x 4 at 81%.
 *   NEON keeps 6 x 4 until it is measured on ARM64 hardware.
 * - Weights are read once per image, too many for the caches to keep between images (the
 *   last blocks' panels, a few grid rows tall, are used by only a few tiles each). So the
 *   tiles of a panel prefetch the next one (contiguous), each tile its share of it spread
 *   over its steps of K, and the next panel's first tile finds it in cache. Before, the
 *   first two tiles prefetched all of it, a line every few cycles, more than memory
 *   delivers: spread, the last blocks' 1x1 convolutions (7 x 7 grid, S = 224) ran 10-12%
 *   faster on a Zen 3, the network 6% at S = 224 and 8-10% at S = 100 (old and new timed
 *   in alternation in one process).
 * - The stem's 3x3 stride-2 convolution over RGB is the same GEMM, its A rows read in
 *   place as three runs of 9 floats (gemm_tile); only edge pixels copy their window.
 * - Depthwise 3x3 works on up to DW_NOUT_MAX output rows at a time from input-row
 *   pointers (a zero row stands for padding), channels as the vector dimension. Interior
 *   outputs go in blocks of DW_BLOCK(S, NOUT): each input vector is loaded once for every
 *   output that uses it and the block's accumulator chains are independent, so FMA
 *   latency overlaps. The outputs at the row's ends are blocks of one that skip the padding
 *   column, for all the pass's rows at once like the others: on the last blocks' rows, 7
 *   or 4 outputs wide at S = 100, they are two of them. A row goes in spans (dw_rows): the
 *   whole row per channel vector with 32 registers, DW_SPAN outputs for all channels with
 *   16.
 * - The average pool sums rows of channels a vector at a time; the image resize's row
 *   loops (convert, scale, accumulate, normalise) run a vector at a time, then a scalar
 *   tail. */
#include "common/simd.h"
#include "featurizer/kernels_impl.h"

#define W SIMD_W
#if SIMD_REGS >= 32 && defined(SIMD_ISA_avx512)
#define NV_MAX 3
#define MR_MAX 14
static const int mr_for[NV_MAX + 1] = {0, 14, 12, 8};
#elif SIMD_REGS >= 32
#define NV_MAX 4
#define MR_MAX 14
static const int mr_for[NV_MAX + 1] = {0, 14, 12, 8, 6};
#elif defined(SIMD_ISA_avx2)
#define NV_MAX 3
#define MR_MAX 12
static const int mr_for[NV_MAX + 1] = {0, 12, 6, 4};
#else
#define NV_MAX 2
#define MR_MAX 12
static const int mr_for[NV_MAX + 1] = {0, 12, 6};
#endif
/* Interior outputs per depthwise block: four, or two where four would not stay in
 * registers: at stride 2 (a block reads (B - 1) * 2 + 3 input columns per row), and for
 * three or four rows' accumulators (on a Zen 3, three rows of two ran 3-10% faster than of
 * four, which spill). */
#define DW_BLOCK(S, NOUT) ((S) == 1 && (NOUT) < 3 ? 4 : 2)
#define DW_BLOCK_MAX 4
#define DW_SPAN 16                  /* outputs per span with 16 registers */
#define DW_NOUT_MAX KERNELS_DW_ROWS /* output rows of one depthwise pass */

/* One MR x (NV * W) output tile. Row i of the tile is G output pixels (1, or 2 for paired
 * weights: kernels_pw_pairs): pixel G * i + g of A is NSEG runs of `run` inputs, run s
 * starting at a[s] + (G * i + g) * lda: one run of k for a 1x1 convolution; three runs of 9
 * for the stem, the rows of each pixel's 3x3 RGB window, read in place (no im2col copy).
 * The last vector of the tile holds `last` (1..W) real outputs. pf, when not NULL, is
 * prefetched at each step of K, then advanced by pf_step bytes. */
INLINE void gemm_tile(const float *const *a, int NSEG, int run, size_t lda, int G,
                      const float *panel, int pw, const float *bias, int relu6, const float *res,
                      float *c, int ldc, int last, int NV, int MR, const char *pf, size_t pf_step)
{
    vf acc[MR_MAX][NV_MAX];
    UNROLL
    for (int i = 0; i < MR; i++)
        UNROLL
    for (int j = 0; j < NV; j++)
        acc[i][j] = vf_load(bias + W * j);
    UNROLL
    for (int s = 0; s < NSEG; s++) {
        const float *as = a[s];
        for (int p = 0; p < run; p++, panel += pw) {
            if (pf) {
                __builtin_prefetch(pf);
                pf += pf_step;
            }
            vf b[NV_MAX];
            UNROLL
            for (int j = 0; j < NV; j++)
                b[j] = vf_load(panel + W * j);
            UNROLL
            for (int i = 0; i < MR; i++) {
                vf x = vf_set1(as[G * i * lda + p]), y = x;
                if (G == 2)
                    y = vf_set1(as[(G * i + 1) * lda + p]);
                UNROLL
                for (int j = 0; j < NV; j++) { /* vector j's lanes: pixel x's, y's or both */
                    vf av = G == 1 || 2 * j + 2 <= NV ? x : 2 * j >= NV ? y : vf_halves(x, y);
                    acc[i][j] += av * b[j];
                }
            }
        }
    }
    UNROLL
    for (int i = 0; i < MR; i++) {
        UNROLL
        for (int j = 0; j < NV; j++) {
            int whole = j < NV - 1 || last == W;
            vf v = acc[i][j];
            if (relu6)
                v = vf_relu6(v);
            if (res) {
                const float *r = res + (size_t) i * ldc + W * j;
                v += whole ? vf_load(r) : vf_load_part(r, last);
            }
            float *dst = c + (size_t) i * ldc + W * j;
            if (whole)
                vf_store(dst, v);
            else
                vf_store_part(dst, v, last);
        }
    }
}

/* All row tiles of one panel. m rows are split into ceil(m / MR) tiles of as equal heights
 * as can be (16 rows with MR = 6: 6, 5, 5): the small grids at the end of the network, 7 x 7
 * and 4 x 4, are not multiples of MR, and a short last tile has too few independent
 * accumulator chains to hide the FMA latency. */
INLINE void gemm_panel(const float *const *in, int NSEG, int run, size_t lda, int G, int m,
                       const float *panel, int pw, const float *bias, int relu6, const float *res,
                       float *out, int ldc, int last, int NV, int MR, const float *next,
                       size_t nbytes)
{
    int tiles = (m + MR - 1) / MR;
    for (int t = 0, i = 0; t < tiles; t++) {
        int h = (m - i + tiles - t - 1) / (tiles - t);
        const float *a[3];
        for (int s = 0; s < NSEG; s++)
            a[s] = in[s] + (size_t) i * G * lda;
        const float *r = res ? res + (size_t) i * ldc : NULL;
        float *c = out + (size_t) i * ldc;
        i += h;
        /* Tile t prefetches its share of the next panel (nbytes from next), one address per
         * step of K (see the top of the file). */
        const char *pf = next ? (const char *) next + (size_t) t * nbytes / tiles : NULL;
        size_t pf_step = (nbytes / tiles + NSEG * run - 1) / (NSEG * run);
        if (h == MR) {
            gemm_tile(a, NSEG, run, lda, G, panel, pw, bias, relu6, r, c, ldc, last, NV, MR, pf,
                      pf_step);
            continue;
        }
        /* A case for every height below MR_MAX; those not below this MR fold away. */
#define HEIGHT(R)                                                                                  \
    case R:                                                                                        \
        if (R < MR)                                                                                \
            gemm_tile(a, NSEG, run, lda, G, panel, pw, bias, relu6, r, c, ldc, last, NV,           \
                      R < MR ? R : 1, pf, pf_step);                                                \
        break;
        switch (h) {
            /* a table of cases, not statements: */
            /* clang-format off */
            HEIGHT(1) HEIGHT(2) HEIGHT(3) HEIGHT(4) HEIGHT(5) HEIGHT(6) HEIGHT(7)
            HEIGHT(8) HEIGHT(9) HEIGHT(10) HEIGHT(11) HEIGHT(12) HEIGHT(13)
            /* clang-format on */
        }
#undef HEIGHT
    }
}

/* out (m rows of G pixels x w->n, row stride ldc) = act(A * weights + bias) + res, for every
 * panel of w, A's rows given as gemm_tile reads them. */
INLINE void gemm(const float *const *in, int NSEG, int run, size_t lda, int G, int m,
                 const kernels_pw_t *w, int relu6, const float *res, float *out, int ldc)
{
    const kernels_t *kern = w->kern;
    int n = G * w->n; /* the packed outputs */
    for (int n0 = 0, cols; n0 < n; n0 += cols) {
        int pw = kernels_panel_width(kern, n, n0), nv = pw / W;
        cols = kernels_panel_cols(kern, n, n0);
        int last = cols - (nv - 1) * W;
        const float *panel = w->panels + (size_t) n0 * w->k, *bias = w->bias + n0;
        const float *r = res ? res + n0 : NULL;
        const float *next = n0 + cols < n ? panel + (size_t) cols * w->k : NULL;
        size_t nbytes =
            next ? (size_t) w->k * kernels_panel_width(kern, n, n0 + cols) * sizeof(float) : 0;
        switch (nv) {
        case 1:
            gemm_panel(in, NSEG, run, lda, G, m, panel, pw, bias, relu6, r, out + n0, ldc, last, 1,
                       mr_for[1], next, nbytes);
            break;
#if NV_MAX > 2
        case 2:
            gemm_panel(in, NSEG, run, lda, G, m, panel, pw, bias, relu6, r, out + n0, ldc, last, 2,
                       mr_for[2], next, nbytes);
            break;
#endif
#if NV_MAX > 3
        case 3:
            gemm_panel(in, NSEG, run, lda, G, m, panel, pw, bias, relu6, r, out + n0, ldc, last, 3,
                       mr_for[3], next, nbytes);
            break;
#endif
        default:
            gemm_panel(in, NSEG, run, lda, G, m, panel, pw, bias, relu6, r, out + n0, ldc, last,
                       NV_MAX, mr_for[NV_MAX], next, nbytes);
            break;
        }
    }
}

/* gemm for each (NSEG, G) in a function of its own: one function holding all of them grows
 * past the size for which the compilers keep the tiles' accumulators in registers. */
#define GEMM_INSTANCE(NSEG, G)                                                                     \
    static __attribute__((noinline)) void gemm_##NSEG##_##G(                                       \
        const float *const *in, int run, size_t lda, int m, const kernels_pw_t *w, int relu6,      \
        const float *res, float *out, int ldc)                                                     \
    {                                                                                              \
        gemm(in, NSEG, run, lda, G, m, w, relu6, res, out, ldc);                                   \
    }
GEMM_INSTANCE(1, 1)
GEMM_INSTANCE(1, 2)
GEMM_INSTANCE(3, 1)
GEMM_INSTANCE(3, 2)
#undef GEMM_INSTANCE

/* out (m x w->n, dense) = act(A * weights + bias) + res over m output pixels, A's rows as
 * gemm_tile reads them in NSEG (1 or 3) runs: one pixel per GEMM row, or two for paired
 * weights. */
INLINE void gemm_pixels(const float *const *in, int NSEG, int run, size_t lda, int m,
                        const kernels_pw_t *w, int relu6, const float *res, float *out)
{
    int n = w->n;
    if (!w->pairs) {
        (NSEG == 1 ? gemm_1_1 : gemm_3_1)(in, run, lda, m, w, relu6, res, out, n);
        return;
    }
    void (*pairs)(const float *const *, int, size_t, int, const kernels_pw_t *, int, const float *,
                  float *, int) = NSEG == 1 ? gemm_1_2 : gemm_3_2;
    pairs(in, run, lda, m / 2, w, relu6, res, out, 2 * n);
    if (m % 2 == 0)
        return;
    /* The odd last pixel as a pair of itself (lda 0), through a pair-sized buffer. */
    float pair[NV_MAX * W], rpair[NV_MAX * W];
    const float *last[3];
    for (int s = 0; s < NSEG; s++)
        last[s] = in[s] + (size_t) (m - 1) * lda;
    size_t at = (size_t) (m - 1) * n;
    if (res) {
        memcpy(rpair, res + at, (size_t) n * sizeof(float));
        memcpy(rpair + n, res + at, (size_t) n * sizeof(float));
    }
    pairs(last, run, 0, 1, w, relu6, res ? rpair : NULL, pair, 2 * n);
    memcpy(out + at, pair, (size_t) n * sizeof(float));
}

static void conv1x1(const float *in, int m, const kernels_pw_t *w, int relu6, const float *res,
                    float *out)
{
    gemm_pixels(&in, 1, w->k, (size_t) w->k, m, w, relu6, res, out);
}

/* Stem output pixel x from a copy of its window, zeros standing for the padding. */
static void stem_edge_pixel(const float *const rows[3], int w, int x, const kernels_pw_t *weights,
                            float *out)
{
    float window[27];
    for (int ky = 0; ky < 3; ky++)
        for (int t = 0; t < 9; t++) {
            int ix = 2 * x - 1 + t / 3;
            window[ky * 9 + t] = ix >= 0 && ix < w ? rows[ky][ix * 3 + t % 3] : 0.0f;
        }
    const float *in = window;
    gemm_pixels(&in, 1, 27, 27, 1, weights, 1, NULL, out + (size_t) x * weights->n);
}

/* One output row of the stem (3x3, stride 2, padding 1, RGB in): the pixels whose window
 * lies inside the row read it in place; the edge pixels (the first, and the last when w is
 * odd) go through stem_edge_pixel. */
static void stem_row(const float *const rows[3], int w, const kernels_pw_t *weights, float *out)
{
    int wo = (w - 1) / 2 + 1, n = weights->n;
    int hi = w >= 2 ? (w - 2) / 2 + 1 : 0; /* interior outputs are [1, hi) */
    if (hi > wo)
        hi = wo;
    if (hi > 1) {
        const float *in[3] = {rows[0] + 3, rows[1] + 3, rows[2] + 3}; /* pixel 1's window */
        gemm_pixels(in, 3, 9, 6, hi - 1, weights, 1, NULL, out + n);
    }
    stem_edge_pixel(rows, w, 0, weights, out);
    for (int x = hi > 1 ? hi : 1; x < wo; x++)
        stem_edge_pixel(rows, w, x, weights, out);
}

/* B output vectors from x on of NOUT output rows at once, channels c0 .. c0 + W - 1:
 * rows[0 ..] are the (NOUT - 1) * S + 3 input rows they read, each input vector loaded
 * once for every output that uses it. LEFT and RIGHT mark a block at an edge of the row,
 * whose first or last input column is padding: its taps are skipped. */
INLINE void dw_block(const float *const *rows, int x, size_t c0, size_t c, int S, int NOUT, int B,
                     int LEFT, int RIGHT, const vf k[9], vf b, float *const *out)
{
    const int cols = (B - 1) * S + 3; /* input columns the block reads */
    vf acc[DW_NOUT_MAX][DW_BLOCK_MAX], v[DW_BLOCK_MAX * 2 + 1];
    UNROLL
    for (int o = 0; o < NOUT; o++)
        UNROLL
    for (int i = 0; i < B; i++)
        acc[o][i] = b;
    UNROLL
    for (int r = 0; r < (NOUT - 1) * S + 3; r++) {
        /* Column x * S, the first output's centre: at x = 0 its left neighbour is padding,
         * and no pointer to it is made. */
        const float *p = rows[r] + (size_t) x * S * c + c0;
        UNROLL
        for (int j = 0; j < cols; j++)
            if (!(LEFT && j == 0) && !(RIGHT && j == cols - 1))
                v[j] = vf_load(p + (ptrdiff_t) (j - 1) * (ptrdiff_t) c);
        UNROLL
        for (int o = 0; o < NOUT; o++) {
            int ky = r - o * S; /* this input row's tap row for output row o */
            if (ky < 0 || ky > 2)
                continue;
            UNROLL
            for (int kx = 0; kx < 3; kx++)
                UNROLL
            for (int i = 0; i < B; i++) { /* innermost: independent chains interleave */
                int j = i * S + kx;
                if (!(LEFT && j == 0) && !(RIGHT && j == cols - 1))
                    acc[o][i] += v[j] * k[3 * ky + kx];
            }
        }
    }
    UNROLL
    for (int o = 0; o < NOUT; o++)
        UNROLL
    for (int i = 0; i < B; i++)
        vf_store(out[o] + (size_t) (x + i) * c + c0, vf_relu6(acc[o][i]));
}

/* Outputs [x0, x1) of NOUT output rows, every channel, a channel vector at a time. */
INLINE void dw_span(const float *const *rows, int x0, int x1, int w, int c, int S, int NOUT,
                    const float *weight, const float *bias, float *const *out)
{
    const int B = DW_BLOCK(S, NOUT);
    int wo = (w - 1) / S + 1;
    /* Output x reads input columns x * S - 1 .. x * S + 1: the first output's left one is
     * padding, and the last output's right one when it is column w. Outputs [1, hi) have
     * all three inside the row. */
    int right = (wo - 1) * S + 1 >= w, hi = right ? wo - 1 : wo;
    int end = x1 < hi ? x1 : hi;
    for (size_t c0 = 0; c0 < (size_t) c; c0 += W) {
        vf k[9];
        for (int t = 0; t < 9; t++)
            k[t] = vf_load(weight + t * c + c0);
        vf b = vf_load(bias + c0);
        int x = x0;
        if (x == 0) {
            if (wo == 1 && right) /* one output, both sides padding */
                dw_block(rows, 0, c0, (size_t) c, S, NOUT, 1, 1, 1, k, b, out);
            else
                dw_block(rows, 0, c0, (size_t) c, S, NOUT, 1, 1, 0, k, b, out);
            x = 1;
        }
        for (; x + B <= end; x += B)
            dw_block(rows, x, c0, (size_t) c, S, NOUT, B, 0, 0, k, b, out);
        for (; x < end; x++)
            dw_block(rows, x, c0, (size_t) c, S, NOUT, 1, 0, 0, k, b, out);
        if (x1 == wo && right && wo > 1)
            dw_block(rows, wo - 1, c0, (size_t) c, S, NOUT, 1, 0, 1, k, b, out);
    }
}

/* NOUT output rows, in spans of output columns. With 32 registers a span is the whole row:
 * the taps stay in registers while each channel vector sweeps it. With 16 the taps are
 * memory operands anyway, and a sweep of the whole row per channel vector reads the pass's
 * input rows from L2 again for each (the first blocks' rows are 14 to 32 KB): spans of
 * DW_SPAN outputs use a span's input lines for all their channels while they are in L1
 * (on an Intel Xeon, AVX2: the 112 x 112 x 32 layer went from 31 to 45 GFlop/s). */
INLINE void dw_rows(const float *const *rows, int w, int c, int S, int NOUT, const float *weight,
                    const float *bias, float *const *out)
{
    int wo = (w - 1) / S + 1, span = SIMD_REGS >= 32 ? wo : DW_SPAN;
    /* Spans [0, 1 + span), then span outputs each: the left edge output joins the first. */
    for (int x0 = 0, x1 = 1 + span;; x0 = x1, x1 += span) {
        dw_span(rows, x0, x1 < wo ? x1 : wo, w, c, S, NOUT, weight, bias, out);
        if (x1 >= wo)
            break;
    }
}

/* Output rows per call (1 to DW_NOUT_MAX) are one pass: every input row a pass reads is
 * loaded once for all of its output rows, so more rows per pass read the input rows they
 * share fewer times, and have more independent accumulator chains to hide the FMA latency.
 * (With 16 registers the taps are memory operands.) On a Zen 3 (AVX2), 3 rows of the
 * 7 x 7 x 960 layer took 6.7 us in one pass, 8.4 us in passes of two and one; at stride 2,
 * passes of up to four rows (blocks of two outputs, 8 accumulators + 5 input vectors) ran
 * the network's four stride-2 layers 8% faster at S = 224 and 18% at S = 100 than passes of
 * one row (fastest of 200 runs, several alternations). */
INLINE void dw_pass(const float *const *rows, int n, int w, int c, int S, const float *weight,
                    const float *bias, float *const *out)
{
    if (n == DW_NOUT_MAX)
        dw_rows(rows, w, c, S, DW_NOUT_MAX, weight, bias, out);
    else if (n == 3)
        dw_rows(rows, w, c, S, 3, weight, bias, out);
    else if (n == 2)
        dw_rows(rows, w, c, S, 2, weight, bias, out);
    else
        dw_rows(rows, w, c, S, 1, weight, bias, out);
}

static void dw3x3_rows(const float *const *rows, int n, int w, int c, int stride,
                       const float *weight, const float *bias, float *const *out)
{
    if (stride == 1)
        dw_pass(rows, n, w, c, 1, weight, bias, out);
    else
        dw_pass(rows, n, w, c, 2, weight, bias, out);
}

static void avgpool(const float *in, int m, int c, float *out)
{
    int c0 = 0;
    for (; c0 + W <= c; c0 += W) {
        vf sum = {0};
        for (int i = 0; i < m; i++)
            sum += vf_load(in + (size_t) i * c + c0);
        vf_store(out + c0, sum / (float) m);
    }
    for (; c0 < c; c0++) {
        float sum = 0;
        for (int i = 0; i < m; i++)
            sum += in[(size_t) i * c + c0];
        out[c0] = sum / (float) m;
    }
}

typedef uint8_t vb __attribute__((vector_size(SIMD_W)));

static void row_to_float(float *restrict dest, const uint8_t *restrict src, size_t n)
{
    size_t i = 0;
    for (; i + W <= n; i += W) {
        vb b;
        memcpy(&b, src + i, sizeof b);
        vf_store(dest + i, __builtin_convertvector(b, vf));
    }
    for (; i < n; i++)
        dest[i] = src[i];
}

static void row_scale(float *restrict dest, const float *restrict src, float w, size_t n)
{
    size_t i = 0;
    vf wv = vf_set1(w);
    for (; i + W <= n; i += W)
        vf_store(dest + i, wv * vf_load(src + i));
    for (; i < n; i++)
        dest[i] = w * src[i];
}

static void row_add_scaled(float *restrict dest, const float *restrict src, float w, size_t n)
{
    size_t i = 0;
    vf wv = vf_set1(w);
    for (; i + W <= n; i += W)
        vf_store(dest + i, vf_load(dest + i) + wv * vf_load(src + i));
    for (; i < n; i++)
        dest[i] += w * src[i];
}

static void row_affine(float *restrict row, const float *restrict scale,
                       const float *restrict offset, size_t n)
{
    size_t i = 0;
    for (; i + W <= n; i += W)
        vf_store(row + i, vf_load(row + i) * vf_load(scale + i) + vf_load(offset + i));
    for (; i < n; i++)
        row[i] = row[i] * scale[i] + offset[i];
}

static void row_gather(float *restrict dest, const float *restrict src,
                       const int32_t *restrict index, const float *restrict weight, int taps,
                       size_t n)
{
    size_t i = 0;
    for (; i + W <= n; i += W) {
        vf sum = vf_load(weight + i) * vf_gather(src, index + i);
        for (int k = 1; k < taps; k++)
            sum += vf_load(weight + k * n + i) * vf_gather(src, index + k * n + i);
        vf_store(dest + i, sum);
    }
    for (; i < n; i++) {
        float sum = weight[i] * src[index[i]];
        for (int k = 1; k < taps; k++)
            sum += weight[k * n + i] * src[index[k * n + i]];
        dest[i] = sum;
    }
}

const kernels_t SIMD_FN(kernels) = {
    .isa = SIMD_ISA,
    .panel = NV_MAX * W,
    .lanes = W,
    .conv1x1 = conv1x1,
    .stem_row = stem_row,
    .dw3x3_rows = dw3x3_rows,
    .avgpool = avgpool,
    .row_to_float = row_to_float,
    .row_scale = row_scale,
    .row_add_scaled = row_add_scaled,
    .row_affine = row_affine,
    .row_gather = row_gather,
};
