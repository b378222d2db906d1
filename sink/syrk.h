/* syrk.h -- C += A^T A on the upper triangle: the online PCA's one hot loop.
 *
 * The sink merges every block of feature vectors into the co-moment matrix with this rank-k
 * update (about 1.6 MFlop per vector at dim 1280). OpenBLAS's dsyrk runs its AVX2 kernel
 * here, since the environment pins OpenBLAS to the Haswell core type; on a CPU with
 * AVX-512 our own kernel does the same arithmetic twice as wide. Without AVX-512, or for a
 * dimension that is not a multiple of 8, it is cblas_dsyrk. Either way every element of C
 * on or above the diagonal becomes C + sum_k A[k][i] A[k][j], summed over k in order. */
#ifndef FS_SYRK_H
#define FS_SYRK_H

#include <stdbool.h>
#include <stddef.h>

/* a is k x n row-major; c is n x n row-major, of which the upper triangle is updated (the
 * AVX-512 kernel also writes the symmetric values just below the diagonal of each 8 x 8
 * diagonal block; nothing reads the lower triangle). pack holds n * k doubles. */
void syrk_upper_add(int n, int k, const double *a, double *c, double *pack);

/* For tests and benchmarks: use cblas_dsyrk even where the AVX-512 kernel could run. */
void syrk_force_blas(bool force);

#endif
