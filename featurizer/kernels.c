/* kernels.c -- the parts of the kernels that do not depend on the vector width: handing
 * out each instruction set's table (kernels_simd.c, compiled once per set), packing 1x1
 * weights into the panels that set's GEMM tiles read, reordering 3x3 weights.
 *
 * A packed panel holds up to kern->panel outputs (kernels_panel_cols says how many) for
 * every input, k rows of its width padded with zeros to a whole number of vectors, so that
 * the GEMM streams one contiguous block per panel and never needs a partial load of
 * weights. Weights whose outputs end in half a vector are packed with every output twice
 * (kernels_pw_pairs), for a GEMM that computes two pixels per row. */
#include "featurizer/kernels_impl.h"

#include <stdlib.h>
#include <string.h>

const kernels_t *kernels_get(isa_t isa)
{
    switch (isa) {
    case ISA_PORTABLE: return &kernels_portable;
#if defined(__x86_64__)
    case ISA_AVX2: return &kernels_avx2;
    case ISA_AVX512: return &kernels_avx512;
#elif defined(__aarch64__)
    case ISA_NEON: return &kernels_neon;
#endif
    default: return NULL;
    }
}

isa_t kernels_isa(const kernels_t *kern)
{
    return kern->isa;
}

kernels_pw_t *kernels_pw_new(const kernels_t *kern, int k, int n, const float *weight,
                             const float *bias)
{
    kernels_pw_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    int pairs = kernels_pw_pairs(kern, n), cols = pairs ? 2 * n : n; /* packed outputs */
    int npad = (cols + KERNELS_PAD - 1) / KERNELS_PAD * KERNELS_PAD;
    self->kern = kern;
    self->k = k;
    self->n = n;
    self->pairs = pairs;
    self->panels = calloc((size_t) k * npad, sizeof(float));
    self->bias = calloc((size_t) npad, sizeof(float));
    if (!self->panels || !self->bias) {
        kernels_pw_destroy(&self);
        return NULL;
    }
    for (int n0 = 0, pc; n0 < cols; n0 += pc) {
        int pw = kernels_panel_width(kern, cols, n0);
        float *panel = self->panels + (size_t) n0 * k;
        pc = kernels_panel_cols(kern, cols, n0);
        for (int o = n0; o < n0 + pc; o++)
            for (int i = 0; i < k; i++)
                panel[(size_t) i * pw + (o - n0)] = weight[(size_t) (o % n) * k + i];
    }
    for (int o = 0; o < cols; o++)
        self->bias[o] = bias[o % n];
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
    size_t cols = (size_t) self->n * (self->pairs ? 2 : 1);
    size_t npad = (cols + KERNELS_PAD - 1) / KERNELS_PAD * KERNELS_PAD;
    return ((size_t) self->k + 1) * npad * sizeof(float);
}

void kernels_conv1x1(const float *in, int m, const kernels_pw_t *w, int relu6, const float *res,
                     float *out)
{
    w->kern->conv1x1(in, m, w, relu6, res, out);
}

void kernels_dw3x3_rows(const kernels_t *kern, const float *const *rows, int n, int w, int c,
                        int stride, const float *weight, const float *bias, float *const *out)
{
    kern->dw3x3_rows(rows, n, w, c, stride, weight, bias, out);
}

void kernels_avgpool(const kernels_t *kern, const float *in, int m, int c, float *out)
{
    kern->avgpool(in, m, c, out);
}

void kernels_row_to_float(const kernels_t *kern, float *dest, const uint8_t *src, size_t n)
{
    kern->row_to_float(dest, src, n);
}

void kernels_row_scale(const kernels_t *kern, float *dest, const float *src, float w, size_t n)
{
    kern->row_scale(dest, src, w, n);
}

void kernels_row_add_scaled(const kernels_t *kern, float *dest, const float *src, float w, size_t n)
{
    kern->row_add_scaled(dest, src, w, n);
}

void kernels_row_affine(const kernels_t *kern, float *row, const float *scale, const float *offset,
                        size_t n)
{
    kern->row_affine(row, scale, offset, n);
}

void kernels_row_gather(const kernels_t *kern, float *dest, const float *src, const int32_t *index,
                        const float *weight, int taps, size_t n)
{
    kern->row_gather(dest, src, index, weight, taps, n);
}

void kernels_stem_row(const float *const rows[3], int w, const kernels_pw_t *weights, float *out)
{
    weights->kern->stem_row(rows, w, weights, out);
}

void kernels_conv3x3_reorder(const float *oihw, int cout, int cin, float *out)
{
    for (int o = 0; o < cout; o++)
        for (int i = 0; i < cin; i++)
            for (int t = 0; t < 9; t++)
                out[(size_t) o * 9 * cin + t * cin + i] = oihw[((size_t) o * cin + i) * 9 + t];
}

void kernels_dw_reorder(const float *c133, int c, float *out)
{
    for (int ch = 0; ch < c; ch++)
        for (int t = 0; t < 9; t++)
            out[(size_t) t * c + ch] = c133[(size_t) ch * 9 + t];
}
