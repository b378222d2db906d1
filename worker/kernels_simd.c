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
 *   store, so every output is written once. The register budget sets the tile: with 32
 *   vector registers (AVX-512, NEON) panels are 4 vectors wide and MR * NV + NV + 1 <= 32;
 *   with 16 (AVX2, portable) panels are 2 vectors wide, 6 x 2 accumulators.
 * - Depthwise 3x3 works one output row at a time from three input-row pointers (a zero
 *   row stands for padding), channels as the vector dimension. Interior outputs go in
 *   blocks of DW_BLOCK: each input vector is loaded once for every output that uses it and
 *   the DW_BLOCK accumulator chains are independent, so FMA latency overlaps.
 * - The average pool sums rows of channels a vector at a time. */
#include "kernels_impl.h"
#include "simd.h"

#define W SIMD_W
#if SIMD_REGS >= 32
#define NV_MAX 4
#define MR_MAX 14
static const int mr_for[NV_MAX + 1] = {0, 14, 12, 8, 6};
#else
#define NV_MAX 2
#define MR_MAX 12
static const int mr_for[NV_MAX + 1] = {0, 12, 6};
#endif
#define DW_BLOCK 4

/* One MR x (NV * W) output tile over the whole K; the last vector holds `last` (1..W) real
 * outputs. */
INLINE void gemm_tile(const float *a, int k, const float *panel, int pw, const float *bias,
                      int relu6, const float *res, float *c, int ldc, int last, int NV, int MR)
{
    vf acc[MR_MAX][NV_MAX];
UNROLL
    for (int i = 0; i < MR; i++)
UNROLL
        for (int j = 0; j < NV; j++)
            acc[i][j] = vf_load(bias + W * j);
    for (int p = 0; p < k; p++) {
        vf b[NV_MAX];
UNROLL
        for (int j = 0; j < NV; j++)
            b[j] = vf_load(panel + (size_t)p * pw + W * j);
UNROLL
        for (int i = 0; i < MR; i++) {
            vf av = vf_set1(a[(size_t)i * k + p]);
UNROLL
            for (int j = 0; j < NV; j++)
                acc[i][j] += av * b[j];
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
                const float *r = res + (size_t)i * ldc + W * j;
                v += whole ? vf_load(r) : vf_load_part(r, last);
            }
            float *dst = c + (size_t)i * ldc + W * j;
            if (whole)
                vf_store(dst, v);
            else
                vf_store_part(dst, v, last);
        }
    }
}

/* All row tiles of one panel. When m is not a multiple of MR the last tile is the last MR
 * rows, overlapping the one before: out never aliases in or res, so rows written twice get
 * the same values. Fewer rows than one tile go one row at a time. */
INLINE void gemm_panel(const float *in, int m, int k, const float *panel, int pw,
                       const float *bias, int relu6, const float *res, float *out, int ldc,
                       int last, int NV, int MR)
{
    if (m < MR) {
        for (int i = 0; i < m; i++)
            gemm_tile(in + (size_t)i * k, k, panel, pw, bias, relu6,
                      res ? res + (size_t)i * ldc : NULL, out + (size_t)i * ldc, ldc, last, NV, 1);
        return;
    }
    for (int i = 0; i < m; i += MR) {
        int row = i + MR <= m ? i : m - MR;
        gemm_tile(in + (size_t)row * k, k, panel, pw, bias, relu6,
                  res ? res + (size_t)row * ldc : NULL, out + (size_t)row * ldc, ldc, last, NV,
                  MR);
    }
}

static void conv1x1(const float *in, int m, const kernels_pw_t *w, int relu6, const float *res,
                    float *out)
{
    const kernels_t *kern = w->kern;
    for (int n0 = 0; n0 < w->n; n0 += kern->panel) {
        int pw = kernels_panel_width(kern, w->n, n0), nv = pw / W;
        int cols = w->n - n0 < kern->panel ? w->n - n0 : kern->panel;
        int last = cols - (nv - 1) * W;
        const float *panel = w->panels + (size_t)n0 * w->k, *bias = w->bias + n0;
        const float *r = res ? res + n0 : NULL;
        switch (nv) {
        case 1:
            gemm_panel(in, m, w->k, panel, pw, bias, relu6, r, out + n0, w->n, last, 1, mr_for[1]);
            break;
#if NV_MAX > 2
        case 2:
            gemm_panel(in, m, w->k, panel, pw, bias, relu6, r, out + n0, w->n, last, 2, mr_for[2]);
            break;
        case 3:
            gemm_panel(in, m, w->k, panel, pw, bias, relu6, r, out + n0, w->n, last, 3, mr_for[3]);
            break;
#endif
        default:
            gemm_panel(in, m, w->k, panel, pw, bias, relu6, r, out + n0, w->n, last, NV_MAX,
                       mr_for[NV_MAX]);
            break;
        }
    }
}

/* Output vector x of a depthwise row, skipping the taps outside the row: for the edges and
 * leftovers. */
INLINE void dw_pixel(const float *const rows[3], int x, int w, size_t c, int S, const vf k[9],
                     vf acc, float *out)
{
    int ix = x * S - 1; /* the left tap's column */
UNROLL
    for (int ky = 0; ky < 3; ky++) {
        const float *p = rows[ky] + (size_t)(ix + 1) * c; /* the centre tap */
        if (ix >= 0)
            acc += vf_load(p - c) * k[3 * ky];
        acc += vf_load(p) * k[3 * ky + 1];
        if (ix + 2 < w)
            acc += vf_load(p + c) * k[3 * ky + 2];
    }
    vf_store(out + (size_t)x * c, vf_relu6(acc));
}

/* DW_BLOCK interior output vectors from x on (every tap inside the row). */
INLINE void dw_block(const float *const rows[3], int x, size_t c, int S, const vf k[9], vf b,
                     float *out)
{
    vf acc[DW_BLOCK], v[(DW_BLOCK - 1) * 2 + 3];
UNROLL
    for (int i = 0; i < DW_BLOCK; i++)
        acc[i] = b;
UNROLL
    for (int ky = 0; ky < 3; ky++) {
        const float *p = rows[ky] + (size_t)(x * S - 1) * c;
UNROLL
        for (int j = 0; j < (DW_BLOCK - 1) * S + 3; j++)
            v[j] = vf_load(p + j * c);
UNROLL
        for (int kx = 0; kx < 3; kx++)
UNROLL
            for (int i = 0; i < DW_BLOCK; i++) /* innermost: independent chains interleave */
                acc[i] += v[i * S + kx] * k[3 * ky + kx];
    }
UNROLL
    for (int i = 0; i < DW_BLOCK; i++)
        vf_store(out + (size_t)(x + i) * c, vf_relu6(acc[i]));
}

INLINE void dw_row_stride(const float *const rows[3], int w, int c, int S, const float *weight,
                          const float *bias, float *out)
{
    int wo = (w - 1) / S + 1;
    /* Interior outputs [1, hi) have all three taps inside the row. */
    int hi = w >= 2 ? (w - 2) / S + 1 : 0;
    if (hi > wo)
        hi = wo;
    for (int c0 = 0; c0 < c; c0 += W) {
        const float *r[3] = {rows[0] + c0, rows[1] + c0, rows[2] + c0};
        float *o = out + c0;
        vf k[9];
        for (int t = 0; t < 9; t++)
            k[t] = vf_load(weight + t * c + c0);
        vf b = vf_load(bias + c0);
        int x = 1;
        for (; x + DW_BLOCK <= hi; x += DW_BLOCK)
            dw_block(r, x, (size_t)c, S, k, b, o);
        dw_pixel(r, 0, w, (size_t)c, S, k, b, o);
        for (; x < wo; x++)
            dw_pixel(r, x, w, (size_t)c, S, k, b, o);
    }
}

static void dw3x3_row(const float *const rows[3], int w, int c, int stride, const float *weight,
                      const float *bias, float *out)
{
    if (stride == 1)
        dw_row_stride(rows, w, c, 1, weight, bias, out);
    else
        dw_row_stride(rows, w, c, 2, weight, bias, out);
}

static void avgpool(const float *in, int m, int c, float *out)
{
    int c0 = 0;
    for (; c0 + W <= c; c0 += W) {
        vf sum = {0};
        for (int i = 0; i < m; i++)
            sum += vf_load(in + (size_t)i * c + c0);
        vf_store(out + c0, sum / (float)m);
    }
    for (; c0 < c; c0++) {
        float sum = 0;
        for (int i = 0; i < m; i++)
            sum += in[(size_t)i * c + c0];
        out[c0] = sum / (float)m;
    }
}

const kernels_t SIMD_FN(kernels) = {
    .isa = SIMD_ISA,
    .panel = NV_MAX * W,
    .lanes = W,
    .conv1x1 = conv1x1,
    .dw3x3_row = dw3x3_row,
    .avgpool = avgpool,
};
