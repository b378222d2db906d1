/* project.c -- see project.h. */
#include "pca/project.h"

#include <cblas.h>
#include <stdlib.h>

#define PROJECT_CHUNK 256 /* rows per sgemm: 1.3 MB of scratch at dim 1280 */

/* rows (n x dim floats) -> y, centred (and scaled) in double, then rounded to float. */
static void centre_rows(size_t dim, const double *mean, const double *scale, const float *rows,
                        size_t n, float *y)
{
    for (size_t i = 0; i < n; i++, rows += dim, y += dim)
        if (scale)
            for (size_t j = 0; j < dim; j++)
                y[j] = (float) ((rows[j] - mean[j]) * scale[j]);
        else
            for (size_t j = 0; j < dim; j++)
                y[j] = (float) (rows[j] - mean[j]);
}

int project_rows(int dim, int k, const double *mean, const double *scale, const float *axes,
                 const float *rows, size_t n, float *out)
{
    size_t d = (size_t) dim;
    size_t chunk = n < PROJECT_CHUNK ? n : PROJECT_CHUNK;
    float *y = malloc(chunk * d * sizeof *y + 1);
    if (!y)
        return -1;
    for (size_t at = 0; at < n; at += chunk) {
        size_t m = n - at < chunk ? n - at : chunk;
        centre_rows(d, mean, scale, rows + at * d, m, y);
        if (m == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, k, dim, 1.0f, axes, dim, y, 1, 0.0f,
                        out + at * (size_t) k, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) m, k, dim, 1.0f, y, dim,
                        axes, dim, 0.0f, out + at * (size_t) k, k);
    }
    free(y);
    return 0;
}
