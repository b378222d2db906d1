/* gallery.h -- the stored images' PCA projections in memory, and their nearest neighbours.
 *
 * A gallery is n rows of k floats (one per stored image, in the current model's basis)
 * with their keys and labels. A query is answered exactly, by brute force on BLAS: the
 * squared distance |g - q|^2 = |g|^2 + |q|^2 - 2 g.q takes one sgemm for a block of
 * queries against every row (row norms are kept), then a bounded heap per query keeps the
 * nearest. At a million rows of k = 212 that is 850 MB read per block of queries: memory
 * bandwidth, not arithmetic, bounds it, so queries are answered in blocks.
 *
 * Loading from Redis walks fs:stored in store order and reads each image's `pca` field.
 * A projection made with an older model version than the current one is in another basis
 * (the axes move, and their signs may flip, at every refresh), so it cannot be compared:
 * such rows are projected again from their `features` with the current model, which costs
 * reading 5 KB instead of 0.8 KB for each of them. */
#ifndef FS_GALLERY_H
#define FS_GALLERY_H

#include "common/redis.h"
#include "pca/pca_model.h"

#include <stddef.h>

typedef struct gallery_t gallery_t;

typedef struct {
    size_t row;     /* gallery row */
    float distance; /* Euclidean, in the projection space */
} gallery_hit_t;

/* What gallery_load found. */
typedef struct {
    size_t rows;        /* rows loaded */
    size_t reprojected; /* of which projected again from their features */
    size_t skipped;     /* stored entries without a usable hash (trimmed, damaged) */
    int size;           /* featurizer input side S of the stored images, 0 if unknown */
} gallery_load_info_t;

gallery_t *gallery_new(int k);
void gallery_destroy(gallery_t **self_p);

/* Appends one row: k floats. Returns 0, or -1 when memory runs out. */
int gallery_add(gallery_t *self, const char *key, const char *label, const float *projection);
/* The projection under `model` of every `every`-th stored image (1: all of them, in store
 * order); NULL with the reason in err. */
gallery_t *gallery_load(redis_t *redis, const pca_model_t *model, size_t every,
                        gallery_load_info_t *info, char *err, size_t errlen);

size_t gallery_count(const gallery_t *self);
int gallery_k(const gallery_t *self);
const char *gallery_key(const gallery_t *self, size_t row);
const char *gallery_label(const gallery_t *self, size_t row);
const float *gallery_row(const gallery_t *self, size_t row);

/* For each of q queries (row-major, q x k), the n nearest rows, nearest first, into
 * hits[i * n .. i * n + n). Returns how many each query got (min(n, count)), or -1 when
 * memory runs out. */
long gallery_nearest(const gallery_t *self, const float *queries, size_t q, size_t n,
                     gallery_hit_t *hits);

/* The label most of the n hits have (ties: the one of the nearer hit) and how many have it. */
const char *gallery_vote(const gallery_t *self, const gallery_hit_t *hits, size_t n, int *votes);

#endif
