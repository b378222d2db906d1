/* pca.h -- online PCA of a stream of float vectors, up to date at every moment.
 *
 * (Design notes live at the top of pca.c.) A pca_t holds the running count, mean and
 * co-moment matrix of every vector added, in double precision (each block's products summed
 * in float: pca/syrk.h); its memory does not depend on how many vectors it has seen.
 * pca_refresh turns those sums into a model (principal axes, eigenvalues, explained variance
 * ratios) equal to batch PCA of all vectors added so far, to float rounding. */
#ifndef FS_PCA_H
#define FS_PCA_H

#include "common/isa.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int dim;          /* vector length (1280 for our features) */
    int k;            /* fixed number of components, or 0 to use `variance` */
    double variance;  /* with k == 0: smallest k whose explained variance reaches this */
    bool standardize; /* scale each feature to unit variance first (StandardScaler + PCA) */
    isa_t isa;        /* instruction set of the merge's rank-k update (syrk.h), one this CPU
                       * runs: isa_from_env() in programs; zero is the portable path */
} pca_options_t;

typedef struct pca_t pca_t;

pca_t *pca_new(const pca_options_t *options);
void pca_destroy(pca_t **self_p);

/* The largest magnitude pca_add takes. Each block's products are summed in float
 * (syrk.h): a value this large, centred on its block's mean, gives products of at most
 * 4e30 and sums of a block of 256 of at most about 1e33, far below float's 3.4e38, where a
 * sum would become infinite and spoil every later model (or its refresh). MobileNetV2's
 * features lie in [0, 6]; only a forged vector comes near the limit. */
#define PCA_VALUE_MAX 1e15

/* The index of the first of dim floats at row (which may be unaligned: a frame's bytes)
 * that pca_add cannot take, NaN, infinite or beyond +-PCA_VALUE_MAX; -1 when there is none.
 * Callers check every vector from outside the process before adding it. */
int pca_row_check(const void *row, int dim);

/* Merges n row-major vectors of dim floats into the running sums; every value must pass
 * pca_row_check. */
void pca_add(pca_t *self, const float *rows, size_t n);

/* A copy of the running sums (no model) whose next refresh makes model version
 * `version + 1`: the sink refreshes such a snapshot on another thread while it keeps adding
 * to the original. NULL when memory runs out. */
pca_t *pca_snapshot(const pca_t *self, uint64_t version);

/* Recomputes the model from the sums (LAPACK); the model version goes up by one.
 * Returns 0, or -1 when there are fewer than 2 vectors (no model yet). */
int pca_refresh(pca_t *self);

int64_t pca_count(const pca_t *self);    /* vectors added */
uint64_t pca_version(const pca_t *self); /* 0 until the first successful refresh */
/* Gives the current model another version: the one it was published under before. */
void pca_set_version(pca_t *self, uint64_t version);
int pca_k(const pca_t *self); /* components of the current model, 0 if none */
const pca_options_t *pca_options(const pca_t *self);

/* The current model (valid until the next refresh or destroy). */
const double *pca_mean(const pca_t *self);        /* dim: mean at the last refresh */
const double *pca_scale(const pca_t *self);       /* dim: 1/std dev, or NULL if not standardized */
const double *pca_axes(const pca_t *self);        /* k x dim, row i = axis i, unit length */
const double *pca_eigenvalues(const pca_t *self); /* k, descending, denominator n - 1 */
const double *pca_variance_ratios(const pca_t *self); /* k: eigenvalue / total variance */
double pca_total_variance(const pca_t *self);

/* Projects one vector on the current model's k axes: out[i] = axis_i . ((x - mean) * scale).
 * Centred in double, then multiplied in float (twice the rate of double, on a float copy of
 * the axes made at refresh): one vector alone through sgemv, pca_project_many through sgemm,
 * which sums in another order. On test_pca's data, with each of OpenBLAS's x86-64 kernels a
 * Zen 3 runs, within 4e-8 to 2.7e-7 of the projection's length of the exact value one at a
 * time, 1.2e-7 to 5e-7 in batches (test_pca holds both to 1e-6). NaNs when there is no model
 * yet or memory runs out. */
void pca_project(const pca_t *self, const float *x, float *out);
/* The same for n row-major vectors at once (one BLAS-3 call per 256 rows, much cheaper per
 * vector than pca_project): out is n x k. Returns 0, or -1 (out untouched) when there is no
 * model yet or memory runs out. */
int pca_project_many(const pca_t *self, const float *rows, size_t n, float *out);
/* What pca_project_many does, for any model (pca_model.c projects with it too, so a reader
 * of the published model gets the sink's numbers): out (n x k) = axes . ((rows - mean) *
 * scale), mean and scale (NULL: none) in double, the k x dim axes in float, one sgemm per 256
 * rows even for one: OpenBLAS's sgemm sums each output in one order whatever the number of
 * rows, so a row projects to the same floats alone or in a batch (serve.sh: a stored image
 * classified again finds itself at distance 0). Returns 0, or -1 when memory runs out. */
int pca_project_rows(const double *mean, const double *scale, const float *axes, int k, int dim,
                     const float *rows, size_t n, float *out);

/* The running sums as a self-describing little-endian byte string (checkpoints), and back.
 * pca_state_read fails with a message on a malformed or mismatched buffer. */
size_t pca_state_size(const pca_t *self);
void pca_state_write(const pca_t *self, void *buffer);
pca_t *pca_state_read(const void *buffer, size_t len, const pca_options_t *options, char *err,
                      size_t errlen);

#endif
