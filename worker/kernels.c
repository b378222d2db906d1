/* kernels.c -- convolution kernels on HWC float tensors, AVX-512 with a plain-C fallback.
 *
 * Design:
 * - 1x1 convolutions are GEMMs, (pixels x Cin) x (Cin x Cout). Weights are packed once into
 *   column panels of up to NR = 64 outputs (k x width floats each, width padded to a
 *   multiple of 16 with zeros) so that a panel is one contiguous stream. The portable path
 *   hands each panel to OpenBLAS sgemm and runs the bias/ReLU6/residual epilogue as a
 *   second pass; the AVX-512 path is a register-tiled micro-kernel (MR pixels x up to four
 *   16-float vectors of outputs) that keeps the accumulators in registers over the whole K
 *   and applies the epilogue before its only store, so each output is written once.
 *   OpenBLAS runs its AVX2 kernel here (OPENBLAS_CORETYPE=Haswell), which is why the
 *   AVX-512 kernel is worth having.
 * - The 3x3 stride-2 stem convolution is im2col (over a band of output rows, so the column
 *   buffer stays small) followed by the same GEMM.
 * - Depthwise 3x3 works one output row at a time from three input-row pointers: that lets
 *   the caller keep expanded rows in a small ring buffer instead of a whole tensor, and a
 *   zero row stands for padding. Channels are the vector dimension (16 at a time).
 * The ISA is picked once from __builtin_cpu_supports; every AVX-512 function carries
 * __attribute__((target("avx512f"))), so the file builds with the default -march. */
#include "kernels.h"

#include <cblas.h>
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define NR 64     /* outputs per packed weight panel: four 16-float vectors */
#define MR_MAX 14 /* rows of the tallest AVX-512 tile (one vector wide) */
#define AVX512 __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))
/* Full unrolling of the constant-count register loops, so that the accumulator arrays live
 * in registers; each compiler has its own spelling. */
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif

struct kernels_pw_t {
    int k, n;
    float *panels; /* panel p (outputs p*NR ...) starts at p * NR * k */
    float *bias;   /* n floats, zero-padded to a multiple of 16 */
};

static int isa_selected = -1;

static int cpu_has_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

kernels_isa_t kernels_isa(void)
{
    if (isa_selected < 0)
        isa_selected = cpu_has_avx512() ? KERNELS_AVX512 : KERNELS_PORTABLE;
    return (kernels_isa_t)isa_selected;
}

int kernels_set_isa(kernels_isa_t isa)
{
    if (isa == KERNELS_AVX512 && !cpu_has_avx512())
        return -1;
    isa_selected = isa;
    return 0;
}

const char *kernels_isa_name(kernels_isa_t isa)
{
    return isa == KERNELS_AVX512 ? "avx512" : "portable";
}

/* Width in floats of the panel starting at output n0: at most NR, padded to 16. */
static int panel_width(int n, int n0)
{
    int w = n - n0 < NR ? n - n0 : NR;
    return (w + 15) & ~15;
}

kernels_pw_t *kernels_pw_new(int k, int n, const float *weight, const float *bias)
{
    kernels_pw_t *self = calloc(1, sizeof *self);
    int npad = (n + 15) & ~15;
    if (!self)
        return NULL;
    self->k = k;
    self->n = n;
    self->panels = calloc((size_t)k * npad, sizeof(float));
    self->bias = calloc((size_t)npad, sizeof(float));
    if (!self->panels || !self->bias) {
        kernels_pw_destroy(&self);
        return NULL;
    }
    for (int n0 = 0; n0 < n; n0 += NR) {
        int pw = panel_width(n, n0);
        float *panel = self->panels + (size_t)n0 * k;
        for (int o = n0; o < n && o < n0 + NR; o++)
            for (int i = 0; i < k; i++)
                panel[(size_t)i * pw + (o - n0)] = weight[(size_t)o * k + i];
    }
    memcpy(self->bias, bias, (size_t)n * sizeof(float));
    return self;
}

void kernels_pw_destroy(kernels_pw_t **self_p)
{
    kernels_pw_t *self = *self_p;
    if (!self)
        return;
    free(self->panels);
    free(self->bias);
    free(self);
    *self_p = NULL;
}

size_t kernels_pw_bytes(const kernels_pw_t *self)
{
    return ((size_t)self->k + 1) * (((size_t)self->n + 15) & ~(size_t)15) * sizeof(float);
}

static int imin(int a, int b)
{
    return a < b ? a : b;
}

static float relu6(float v)
{
    return v < 0.0f ? 0.0f : v > 6.0f ? 6.0f : v;
}

void kernels_bias_act(float *x, int m, int n, const float *bias, int relu6_on, const float *res)
{
    for (int i = 0; i < m; i++) {
        float *row = x + (size_t)i * n;
        for (int j = 0; j < n; j++) {
            float v = row[j] + bias[j];
            row[j] = (relu6_on ? relu6(v) : v) + (res ? res[(size_t)i * n + j] : 0.0f);
        }
    }
}

static void conv1x1_portable(const float *in, int m, const kernels_pw_t *w, int relu6_on,
                             const float *res, float *out)
{
    for (int n0 = 0; n0 < w->n; n0 += NR) {
        int cols = w->n - n0 < NR ? w->n - n0 : NR;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, cols, w->k, 1.0f, in, w->k,
                    w->panels + (size_t)n0 * w->k, panel_width(w->n, n0), 0.0f, out + n0, w->n);
    }
    kernels_bias_act(out, m, w->n, w->bias, relu6_on, res);
}

/* One MR x (NV * 16) output tile over the whole K. Accumulators live in registers (MR and
 * NV are constants after inlining, and there is no data-dependent control flow, which
 * clang needs to keep the array out of memory); bias, ReLU6 and the residual are applied
 * before the single store, the last vector masked to the panel's real width. */
INLINE AVX512 void tile_avx512(const float *a, int k, const float *panel, int pw,
                               const float *bias, int relu6_on, const float *res, float *c,
                               int ldc, int cols, int NV, int MR)
{
    __m512 acc[MR_MAX][4];
UNROLL
    for (int i = 0; i < MR; i++)
UNROLL
        for (int j = 0; j < NV; j++)
            acc[i][j] = _mm512_loadu_ps(bias + 16 * j);
    for (int p = 0; p < k; p++) {
        __m512 b[4];
UNROLL
        for (int j = 0; j < NV; j++)
            b[j] = _mm512_loadu_ps(panel + (size_t)p * pw + 16 * j);
UNROLL
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[(size_t)i * k + p]);
UNROLL
            for (int j = 0; j < NV; j++)
                acc[i][j] = _mm512_fmadd_ps(av, b[j], acc[i][j]);
        }
    }
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
    __mmask16 tail = (__mmask16)((1u << (cols - 16 * (NV - 1))) - 1u);
UNROLL
    for (int i = 0; i < MR; i++) {
UNROLL
        for (int j = 0; j < NV; j++) {
            __mmask16 mask = j == NV - 1 ? tail : (__mmask16)0xffff;
            __m512 v = acc[i][j];
            if (relu6_on)
                v = _mm512_min_ps(_mm512_max_ps(v, zero), six);
            if (res)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, res + (size_t)i * ldc + 16 * j));
            _mm512_mask_storeu_ps(c + (size_t)i * ldc + 16 * j, mask, v);
        }
    }
}

/* All row tiles of one panel with NV vectors; MR is chosen so that MR * NV accumulators,
 * the NV panel vectors and a broadcast fit the 32 registers. When m is not a multiple of
 * MR the last tile is the last MR rows, overlapping the previous one: out never aliases
 * in or res, so writing those rows twice gives the same values (needs m >= MR). */
INLINE AVX512 void panel_avx512(const float *in, int m, int k, const float *panel, int pw,
                                const float *bias, int relu6_on, const float *res, float *out,
                                int ldc, int cols, int NV, int MR)
{
    for (int i = 0; i < m; i += MR) {
        int row = i + MR <= m ? i : m - MR;
        tile_avx512(in + (size_t)row * k, k, panel, pw, bias, relu6_on,
                    res ? res + (size_t)row * ldc : NULL, out + (size_t)row * ldc, ldc, cols, NV,
                    MR);
    }
}

static AVX512 void conv1x1_avx512(const float *in, int m, const kernels_pw_t *w, int relu6_on,
                                  const float *res, float *out)
{
    for (int n0 = 0; n0 < w->n; n0 += NR) {
        int pw = panel_width(w->n, n0);
        int cols = w->n - n0 < NR ? w->n - n0 : NR;
        const float *panel = w->panels + (size_t)n0 * w->k;
        const float *r = res ? res + n0 : NULL;
        switch (pw / 16) {
        case 1:
            panel_avx512(in, m, w->k, panel, pw, w->bias + n0, relu6_on, r, out + n0, w->n,
                         cols, 1, MR_MAX);
            break;
        case 2:
            panel_avx512(in, m, w->k, panel, pw, w->bias + n0, relu6_on, r, out + n0, w->n,
                         cols, 2, 12);
            break;
        case 3:
            panel_avx512(in, m, w->k, panel, pw, w->bias + n0, relu6_on, r, out + n0, w->n,
                         cols, 3, 8);
            break;
        default:
            panel_avx512(in, m, w->k, panel, pw, w->bias + n0, relu6_on, r, out + n0, w->n,
                         cols, 4, 6);
            break;
        }
    }
}

void kernels_conv1x1(const float *in, int m, const kernels_pw_t *w, int relu6_on,
                     const float *res, float *out)
{
    /* Fewer rows than a tile only happen for tiny inputs: not worth a kernel of their own. */
    if (kernels_isa() == KERNELS_AVX512 && m >= MR_MAX)
        conv1x1_avx512(in, m, w, relu6_on, res, out);
    else
        conv1x1_portable(in, m, w, relu6_on, res, out);
}

void kernels_im2col3x3_s2(const float *in, int h, int w, int c, int y0, int y1, float *col)
{
    int wo = (w - 1) / 2 + 1, span = 3 * c;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < wo; x++)
            for (int ky = 0; ky < 3; ky++, col += span) {
                int iy = 2 * y - 1 + ky, ix = 2 * x - 1;
                ptrdiff_t at = ((ptrdiff_t)iy * w + ix) * c; /* index of the left tap */
                /* The three taps of a row are contiguous unless they cross the border. RGB,
                 * the only input the network has, gets a copy of constant size, which the
                 * compiler turns into a few vector moves; a loop of 9 floats cost as much as
                 * the stem's GEMM. */
                if (iy >= 0 && iy < h && ix >= 0 && ix + 2 < w) {
                    if (c == 3)
                        memcpy(col, in + at, 9 * sizeof(float));
                    else
                        memcpy(col, in + at, (size_t)span * sizeof(float));
                    continue;
                }
                for (int i = 0; i < span; i++) {
                    int tx = ix + i / c;
                    col[i] = iy >= 0 && iy < h && tx >= 0 && tx < w ? in[at + i] : 0.0f;
                }
            }
}

void kernels_conv3x3_reorder(const float *oihw, int cout, int cin, float *out)
{
    for (int o = 0; o < cout; o++)
        for (int i = 0; i < cin; i++)
            for (int t = 0; t < 9; t++)
                out[(size_t)o * 9 * cin + t * cin + i] = oihw[((size_t)o * cin + i) * 9 + t];
}

void kernels_dw_reorder(const float *c133, int c, float *out)
{
    for (int ch = 0; ch < c; ch++)
        for (int t = 0; t < 9; t++)
            out[(size_t)t * c + ch] = c133[(size_t)ch * 9 + t];
}

static void dw_row_portable(const float *const rows[3], int w, int c, int stride,
                            const float *weight, const float *bias, float *out)
{
    int wo = (w - 1) / stride + 1;
    for (int x = 0; x < wo; x++) {
        float *o = out + (size_t)x * c;
        memcpy(o, bias, (size_t)c * sizeof(float));
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) {
                int ix = x * stride - 1 + kx;
                if (ix < 0 || ix >= w)
                    continue;
                const float *px = rows[ky] + (size_t)ix * c, *wt = weight + (ky * 3 + kx) * c;
                for (int ch = 0; ch < c; ch++)
                    o[ch] += px[ch] * wt[ch];
            }
        for (int ch = 0; ch < c; ch++)
            o[ch] = relu6(o[ch]);
    }
}

/* Output vector x, skipping the taps outside the row: for the edges and leftovers. */
INLINE AVX512 void dw_pixel_avx512(const float *const rows[3], int x, int w, size_t c, int S,
                                   const __m512 k[9], __m512 acc, float *out)
{
    int ix = x * S - 1; /* the left tap's column */
UNROLL
    for (int ky = 0; ky < 3; ky++) {
        const float *p = rows[ky] + (size_t)(ix + 1) * c; /* the centre tap */
        if (ix >= 0)
            acc = _mm512_fmadd_ps(_mm512_loadu_ps(p - c), k[3 * ky], acc);
        acc = _mm512_fmadd_ps(_mm512_loadu_ps(p), k[3 * ky + 1], acc);
        if (ix + 2 < w)
            acc = _mm512_fmadd_ps(_mm512_loadu_ps(p + c), k[3 * ky + 2], acc);
    }
    acc = _mm512_min_ps(_mm512_max_ps(acc, _mm512_setzero_ps()), _mm512_set1_ps(6.0f));
    _mm512_storeu_ps(out + (size_t)x * c, acc);
}

/* DW_BLOCK interior output vectors from x on (every tap inside the row): each input vector
 * is loaded once for all the outputs that use it, and the DW_BLOCK accumulator chains are
 * independent, so the FMA latency overlaps. */
#define DW_BLOCK 4
INLINE AVX512 void dw_block_avx512(const float *const rows[3], int x, size_t c, int S,
                                   const __m512 k[9], __m512 b, float *out)
{
    __m512 acc[DW_BLOCK], v[(DW_BLOCK - 1) * 2 + 3];
    const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
UNROLL
    for (int i = 0; i < DW_BLOCK; i++)
        acc[i] = b;
UNROLL
    for (int ky = 0; ky < 3; ky++) {
        const float *p = rows[ky] + (size_t)(x * S - 1) * c;
UNROLL
        for (int j = 0; j < (DW_BLOCK - 1) * S + 3; j++)
            v[j] = _mm512_loadu_ps(p + j * c);
UNROLL
        for (int kx = 0; kx < 3; kx++)
UNROLL
            for (int i = 0; i < DW_BLOCK; i++) /* innermost: independent chains interleave */
                acc[i] = _mm512_fmadd_ps(v[i * S + kx], k[3 * ky + kx], acc[i]);
    }
UNROLL
    for (int i = 0; i < DW_BLOCK; i++)
        _mm512_storeu_ps(out + (size_t)(x + i) * c, _mm512_min_ps(_mm512_max_ps(acc[i], zero), six));
}

INLINE AVX512 void dw_row_stride_avx512(const float *const rows[3], int w, int c, int S,
                                        const float *weight, const float *bias, float *out)
{
    int wo = (w - 1) / S + 1;
    /* Interior outputs [1, hi) have all three taps inside the row. */
    int hi = w >= 2 ? imin((w - 2) / S + 1, wo) : 0;
    for (int c0 = 0; c0 < c; c0 += 16) {
        const float *r[3] = {rows[0] + c0, rows[1] + c0, rows[2] + c0};
        float *o = out + c0;
        __m512 k[9];
        for (int t = 0; t < 9; t++)
            k[t] = _mm512_loadu_ps(weight + t * c + c0);
        __m512 b = _mm512_loadu_ps(bias + c0);
        int x = 1;
        for (; x + DW_BLOCK <= hi; x += DW_BLOCK)
            dw_block_avx512(r, x, (size_t)c, S, k, b, o);
        dw_pixel_avx512(r, 0, w, (size_t)c, S, k, b, o);
        for (; x < wo; x++)
            dw_pixel_avx512(r, x, w, (size_t)c, S, k, b, o);
    }
}

static AVX512 void dw_row_avx512(const float *const rows[3], int w, int c, int stride,
                                 const float *weight, const float *bias, float *out)
{
    if (stride == 1)
        dw_row_stride_avx512(rows, w, c, 1, weight, bias, out);
    else
        dw_row_stride_avx512(rows, w, c, 2, weight, bias, out);
}

void kernels_dw3x3_row(const float *const rows[3], int w, int c, int stride, const float *weight,
                       const float *bias, float *out)
{
    if (kernels_isa() == KERNELS_AVX512)
        dw_row_avx512(rows, w, c, stride, weight, bias, out);
    else
        dw_row_portable(rows, w, c, stride, weight, bias, out);
}

void kernels_avgpool(const float *in, int m, int c, float *out)
{
    memset(out, 0, (size_t)c * sizeof(float));
    for (int i = 0; i < m; i++)
        for (int ch = 0; ch < c; ch++)
            out[ch] += in[(size_t)i * c + ch];
    for (int ch = 0; ch < c; ch++)
        out[ch] /= (float)m;
}
