/* kernels.h -- the compute kernels of the MobileNetV2 featurizer, separate from the graph.
 *
 * Tensors are flat float arrays with explicit shapes, HWC layout ([H][W][C]), so a
 * spatial region of whole rows is one contiguous (pixels x channels) matrix. Kernels never
 * allocate (except the 1x1 weight pack, built once at load).
 *
 * The kernels exist once per instruction set (portable, AVX2, AVX-512, NEON: see
 * common/isa.h), as tables of the same functions compiled from one source. A caller picks
 * a table with kernels_get and passes it along: packed weights remember the table they
 * were packed for, so a network runs on one path from load to features, and several paths
 * can live in one process (the tests run each path the CPU can run side by side). */
#ifndef FS_KERNELS_H
#define FS_KERNELS_H

#include "common/isa.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kernels_t kernels_t;

/* The kernels of `isa`; NULL when this binary has no such path (another architecture).
 * Running them on a CPU without the instructions is the caller's error: check isa_runs. */
const kernels_t *kernels_get(isa_t isa);
isa_t kernels_isa(const kernels_t *kern);

/* 1x1 convolution weights, packed once for kern's GEMM: k inputs, n outputs. */
typedef struct kernels_pw_t kernels_pw_t;

/* weight is O x I (n x k, torchvision's OIHW with H = W = 1, or any O x I matrix), bias n
 * floats. NULL when out of memory. */
kernels_pw_t *kernels_pw_new(const kernels_t *kern, int k, int n, const float *weight,
                             const float *bias);
void kernels_pw_destroy(kernels_pw_t **self_p);
size_t kernels_pw_bytes(const kernels_pw_t *self);

/* out[m][n] = act(sum_k in[m][k] * w[k][n] + bias[n]) + res[m][n], on the path w was packed
 * for: act is ReLU6 when relu6 is set, res may be NULL. in is m x k, out and res m x n, all
 * row-major and dense; out must not overlap in or res. */
void kernels_conv1x1(const float *in, int m, const kernels_pw_t *w, int relu6, const float *res,
                     float *out);

/* One output row of the network's stem, a 3x3 convolution of stride 2 and padding 1 over an
 * RGB input w pixels wide, with bias and ReLU6, on the path `weights` were packed for:
 * rows[0..2] are the input rows 2y-1 .. 2y+1, each w x 3 floats (a zero row for the
 * padding above or below); weights are kernels_pw_new(kern, 27, cout, ...) of the
 * kernels_conv3x3_reorder'ed weights; out is ((w - 1) / 2 + 1) x cout. */
void kernels_stem_row(const float *const rows[3], int w, const kernels_pw_t *weights, float *out);

/* Reorders a 3x3 convolution's OIHW weights (cout x cin x 3 x 3) into the O x (ky, kx, I)
 * matrix the stem reads, ready for kernels_pw_new(kern, 9 * cin, cout, ...). */
void kernels_conv3x3_reorder(const float *oihw, int cout, int cin, float *out);

/* Output rows y .. y + n - 1 (1 <= n <= KERNELS_DW_ROWS) of a 3x3 depthwise convolution
 * (padding 1, stride 1 or 2) with bias and ReLU6: rows[0 .. (n - 1) * stride + 2] are the
 * input rows y*stride-1 on, each w x c floats (pass a zero row for the padding above or
 * below); out[i] is output row y + i, ((w - 1) / stride + 1) x c. Several rows at once
 * load each shared input row once for all of them. weight is 9 x c (tap-major, see
 * kernels_dw_reorder). c must be a multiple of 16. */
#define KERNELS_DW_ROWS 4
void kernels_dw3x3_rows(const kernels_t *kern, const float *const *rows, int n, int w, int c,
                        int stride, const float *weight, const float *bias, float *const *out);

/* torchvision's depthwise weights (c x 1 x 3 x 3) to the 9 x c layout above. */
void kernels_dw_reorder(const float *c133, int c, float *out);

/* out[c] = mean over the m rows of in (m x c). */
void kernels_avgpool(const kernels_t *kern, const float *in, int m, int c, float *out);

/* The row loops of the image resize and normalisation (featurizer/image.c), over n values:
 * dest = src as floats; dest = w * src; dest += w * src; row = row * scale + offset
 * (elementwise). Rows must not overlap. */
void kernels_row_to_float(const kernels_t *kern, float *dest, const uint8_t *src, size_t n);
void kernels_row_scale(const kernels_t *kern, float *dest, const float *src, float w, size_t n);
void kernels_row_add_scaled(const kernels_t *kern, float *dest, const float *src, float w,
                            size_t n);
void kernels_row_affine(const kernels_t *kern, float *row, const float *scale, const float *offset,
                        size_t n);
/* The resize's horizontal pass over one row: dest[j] = sum over k < taps of
 * weight[k * n + j] * src[index[k * n + j]], j < n, the taps summed in order. Each output
 * value has its own index and weight per tap (zero weights pad the shorter sums). */
void kernels_row_gather(const kernels_t *kern, float *dest, const float *src, const int32_t *index,
                        const float *weight, int taps, size_t n);

#endif
