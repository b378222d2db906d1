/* pca_model.h -- the sink's published PCA model (fs:pca:model), read back to project with.
 *
 * The sink's pca_t holds running sums; readers of Redis need only what pca_store_publish
 * wrote: the mean, the optional scale, the k axes and the version, and projects rows as
 * the sink does (pca_project_rows: centred in double, one sgemm against float axes). */
#ifndef FS_PCA_MODEL_H
#define FS_PCA_MODEL_H

#include "common/redis.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pca_model_t pca_model_t;

/* Reads fs:pca:model; NULL with the reason in err when there is none or it is malformed. */
pca_model_t *pca_model_new(redis_t *redis, char *err, size_t errlen);
void pca_model_destroy(pca_model_t **self_p);

int pca_model_k(const pca_model_t *self);
int pca_model_dim(const pca_model_t *self);
uint64_t pca_model_version(const pca_model_t *self);

/* out (n x k) = axes . ((rows - mean) * scale) for n row-major vectors of dim floats.
 * Returns 0, or -1 when memory runs out. */
int pca_model_project(const pca_model_t *self, const float *rows, size_t n, float *out);

#endif
