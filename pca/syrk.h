/* syrk.h -- C += A^T A on the upper triangle: the online PCA's one hot loop.
 *
 * The sink merges every block of feature vectors into the co-moment matrix with this rank-k
 * update (about 1.6 MFlop per vector at dim 1280). A is the block's b float rows centred on
 * a vector of doubles, and optionally one extra row (the merge's mean correction): the
 * kernel centres the rows as it packs them, so the centred block never exists as a whole.
 * It is one kernel source compiled once per instruction set (syrk_simd.c; common/simd.h
 * explains the scheme), and the caller says which set to run, as for the featurizer's
 * kernels. Whatever the set, every element of C on or above the diagonal becomes
 * C + sum_k A[k][i] A[k][j], summed over k in order, as OpenBLAS's dsyrk computes it (to
 * rounding: test_syrk holds every set to that plain sum). */
#ifndef FS_SYRK_H
#define FS_SYRK_H

#include "common/isa.h"

#include <stddef.h>

/* c += A^T A, where A's rows are (double) rows[i] - centre for i < b (rows is b x n floats,
 * row-major; centre n doubles), then extra (n doubles) unless it is NULL: k = b + 1 rows,
 * or b. c is n x n row-major, of which the upper triangle is updated (the kernels also write
 * the symmetric values just below the diagonal within the diagonal blocks of up to 8 x 8;
 * nothing reads the lower triangle). pack holds syrk_pack_size(n, k) doubles. isa must be
 * a set this CPU runs (isa_runs). */
void syrk_centred_add(isa_t isa, int n, int b, const float *rows, const double *centre,
                      const double *extra, double *c, double *pack);

/* Doubles of scratch syrk_centred_add needs for n columns and k rows, whatever the set. */
size_t syrk_pack_size(int n, int k);

#endif
