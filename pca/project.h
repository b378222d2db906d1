/* project.h -- rows of features onto a PCA model's axes: the one projection the sink
 * (pca.c, on its live model) and the readers of the published model (pca_model.c) share,
 * so that a vector projected again by `query` lands where the sink stored it.
 *
 * Each chunk of rows is centred (and scaled) in double, where a large mean cannot cancel
 * the digits that matter, rounded to float, then multiplied by the float axes in one sgemm
 * (twice dgemm's rate): every coordinate is within about 1e-7 of the projection's length of
 * the exact value, the precision of the float32 it is stored as. */
#ifndef FS_PCA_PROJECT_H
#define FS_PCA_PROJECT_H

#include <stddef.h>

/* out (n x k) = axes (k x dim, row-major) . ((rows - mean) * scale) for n row-major rows of
 * dim floats; scale may be NULL (no scaling). Scratch is one chunk of at most 256 rows.
 * Returns 0, or -1 (out untouched) when memory runs out. */
int project_rows(int dim, int k, const double *mean, const double *scale, const float *axes,
                 const float *rows, size_t n, float *out);

#endif
