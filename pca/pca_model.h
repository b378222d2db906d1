/* pca_model.h -- the sink's published PCA model (fs:pca:model), read back.
 *
 * pca_store_publish writes the hash; this is its reader for everyone else (the sink reads
 * it back only there, to compare a model with the one published). The sink's pca_t holds
 * running sums; readers of Redis need only what it published. Two views:
 * - pca_model_t, to project with: the mean, the optional scale, the k axes and the
 *   version; it projects rows as the sink does (pca_project_rows: centred in double, one
 *   sgemm against float axes).
 * - pca_model_info_t, to show: the numbers and the explained-variance ratios, for the
 *   commands that print a model (pca, report, run's summary) or follow its options
 *   (export).
 * And the version alone, for a sink starting over a published model.
 * Both check what they read: a field missing or not a number, or an array of the wrong
 * size (a hash written by something else), is an error that names the field, never a
 * guess. */
#ifndef FS_PCA_MODEL_H
#define FS_PCA_MODEL_H

#include "common/redis.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pca_model_t pca_model_t;

/* Reads fs:pca:model; NULL with the reason in err when there is none or it is malformed. */
pca_model_t *pca_model_new(redis_t *redis, char *err, size_t errlen);
void pca_model_destroy(pca_model_t **self_p);

int pca_model_k(const pca_model_t *self);
int pca_model_dim(const pca_model_t *self);
uint64_t pca_model_version(const pca_model_t *self);

/* The published model's version; 0 when there is none or it is not a number (a sink's
 * versions go on from it). */
uint64_t pca_model_published_version(redis_t *redis);

/* The model's numbers. */
typedef struct {
    uint64_t version;
    long long n;            /* vectors the model was computed on */
    int k, dim;             /* k axes of dim values */
    bool standardize;       /* on the correlation matrix */
    double variance_target; /* the share k was chosen to explain; 0 when k was fixed */
    double explained;       /* the share the k axes explain */
    double *ratios;         /* k explained-variance ratios, largest first */
} pca_model_info_t;

/* Reads fs:pca:model's numbers; NULL with the reason in err when there is no model, the
 * read fails or the hash is malformed. */
pca_model_info_t *pca_model_info_new(redis_t *redis, char *err, size_t errlen);
void pca_model_info_destroy(pca_model_info_t **self_p);

/* out (n x k) = axes . ((rows - mean) * scale) for n row-major vectors of dim floats.
 * Returns 0, or -1 when memory runs out. */
int pca_model_project(const pca_model_t *self, const float *rows, size_t n, float *out);

#endif
