/* kernels_impl.h -- what kernels.c and the per-instruction-set objects share (not for
 * callers of kernels.h).
 *
 * Each instruction set contributes one kernels_t table, defined by kernels_simd.c compiled
 * for that set; kernels.c holds what does not depend on the vector width (weight packing,
 * reordering) and hands out the tables. */
#ifndef FS_KERNELS_IMPL_H
#define FS_KERNELS_IMPL_H

#include "common/isa.h"
#include "featurizer/kernels.h"

struct kernels_t {
    isa_t isa;
    int panel; /* outputs per packed 1x1 weight panel */
    int lanes; /* floats per vector: each panel is zero-padded to a multiple of it */
    void (*conv1x1)(const float *in, int m, const kernels_pw_t *w, int relu6, const float *res,
                    float *out);
    void (*stem_row)(const float *const rows[3], int w, const kernels_pw_t *weights, float *out);
    void (*dw3x3_rows)(const float *const *rows, int n, int w, int c, int stride,
                       const float *weight, const float *bias, float *const *out);
    void (*avgpool)(const float *in, int m, int c, float *out);
    void (*row_to_float)(float *dest, const uint8_t *src, size_t n);
    void (*row_scale)(float *dest, const float *src, float w, size_t n);
    void (*row_add_scaled)(float *dest, const float *src, float w, size_t n);
    void (*row_affine)(float *row, const float *scale, const float *offset, size_t n);
    void (*row_gather)(float *dest, const float *src, const int32_t *index, const float *weight,
                       int taps, size_t n);
};

struct kernels_pw_t {
    const kernels_t *kern; /* the path the panels were packed for */
    int k, n;
    /* Two pixels per GEMM row (kernels_pw_pairs): the panels and bias hold every output
     * twice, 2n columns, so that no lane of a vector is padding. */
    int pairs;
    float *panels; /* the panel of outputs n0 .. (kernels_panel_cols) starts at n0 * k */
    float *bias;   /* n (2n when paired) floats, zero-padded to a multiple of KERNELS_PAD */
};

/* Whether n outputs are computed two pixels at a time: when n ends in half a vector (24
 * outputs on 16 lanes), a pixel's outputs waste half their last vector, but a pair of
 * pixels fills whole vectors, the one straddling them mixing both pixels' inputs
 * (vf_halves). Only when the pair fits one panel. */
static inline int kernels_pw_pairs(const kernels_t *kern, int n)
{
    return n % kern->lanes == kern->lanes / 2 && 2 * n <= kern->panel;
}

/* Bias and panel padding that suits every path's vector width. */
#define KERNELS_PAD 16

/* The outputs of the panel starting at output n0 (of n): kern->panel, or what is left, but
 * for a panel followed by at most one vector: those two are split into two panels of whole
 * vectors (on AVX2, 32 outputs are two panels of 16, not 24 and 8), since a tile one vector
 * wide needs a broadcast per multiply-add (on a Zen 3, a GEMM of 8 outputs ran at 72
 * GFlop/s, of 16 at 95). Every panel but the last is a whole number of vectors. */
static inline int kernels_panel_cols(const kernels_t *kern, int n, int n0)
{
    int left = n - n0;
    if (left > kern->panel && left <= kern->panel + kern->lanes) {
        int vectors = (left + kern->lanes - 1) / kern->lanes;
        return (vectors + 1) / 2 * kern->lanes;
    }
    return left < kern->panel ? left : kern->panel;
}

/* Width in floats of the panel starting at output n0: its outputs, padded to a whole
 * number of vectors. */
static inline int kernels_panel_width(const kernels_t *kern, int n, int n0)
{
    int w = kernels_panel_cols(kern, n, n0);
    return (w + kern->lanes - 1) / kern->lanes * kern->lanes;
}

extern const kernels_t kernels_portable;
#if defined(__x86_64__)
extern const kernels_t kernels_avx2, kernels_avx512;
#elif defined(__aarch64__)
extern const kernels_t kernels_neon;
#endif

#endif
