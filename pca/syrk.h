/* syrk.h -- C += A^T A on the upper triangle: the online PCA's one hot loop.
 *
 * The sink merges every block of feature vectors into the co-moment matrix with this rank-k
 * update (about 1.6 MFlop per vector at dim 1280). A is the block's b float rows centred on
 * a vector of doubles, and optionally one extra row (the merge's mean correction): the
 * kernel centres the rows as it packs them, so the centred block never exists as a whole.
 * It is one kernel source compiled once per instruction set (syrk_simd.c; common/simd.h
 * explains the scheme), and the caller says which set to run, as for the featurizer's
 * kernels.
 *
 * Precision. The block's products are summed in single precision, and each sum is then
 * added to C in double: the one product the sink forms per vector runs at the float rate,
 * twice the double one, which is what lets a sink on AVX2 keep up with 20,000 vectors a
 * second (bench/RESULTS.md, session 38). The centred values are rounded to float after
 * centring in double, so a large mean costs nothing; the extra row's products are formed in
 * double. What is lost: each element of a block's sum carries the error of a float sum of b
 * terms, at most about b * 2^-24 of the sum of their magnitudes and in practice 1e-7 to
 * 1e-6 of it, and these errors, independent from block to block, average out over the
 * stream's blocks in C. Whatever the set, every element of C on or above the diagonal
 * becomes C + (double) (the float sum, in order, of A[kk][i] A[kk][j] over the b centred
 * rows) + e[i] e[j] for the extra row e (test_syrk holds every set to the bound of that sum,
 * and the extra row's products to double rounding). Float's range is the other cost: a
 * block whose centred values reach about 1e17 overflows its sums, so pca_add's callers keep
 * every value within PCA_VALUE_MAX (pca.h). */
#ifndef FS_SYRK_H
#define FS_SYRK_H

#include "common/isa.h"

#include <stddef.h>

/* c += A^T A, where A's rows are (float) ((double) rows[i] - centre) for i < b (rows is b x n
 * floats, row-major; centre n doubles), then extra (n doubles, kept in double) unless it is
 * NULL. c is n x n row-major, of which the upper triangle is updated (the kernels also write
 * the symmetric values just below the diagonal within the diagonal blocks of up to 16 x 16;
 * nothing reads the lower triangle). pack holds syrk_pack_size(n, b) floats. isa must be a
 * set this CPU runs (isa_runs). */
void syrk_centred_add(isa_t isa, int n, int b, const float *rows, const double *centre,
                      const double *extra, double *c, float *pack);

/* Floats of scratch syrk_centred_add needs for n columns and b rows, whatever the set. */
size_t syrk_pack_size(int n, int b);

#endif
