/* pca_model.c -- see pca_model.h. Projections go through pca_project_rows, the sink's own
 * arithmetic: the mean and scale stay in double, as published, and the axes are floats. */
#include "pca/pca_model.h"

#include "common/keys.h"
#include "pca/pca.h"

#include <stdlib.h>
#include <string.h>

struct pca_model_t {
    int k, dim;
    uint64_t version;
    double *mean;  /* dim */
    double *scale; /* dim, or NULL when not standardized */
    float *axes;   /* k x dim */
};

/* Whether a binary reply holds count LE float64. */
static bool holds_doubles(const redisReply *r, size_t count)
{
    return r->type == REDIS_REPLY_STRING && r->len == count * sizeof(double);
}

/* Copies count LE float64 from a binary reply into doubles; -1 when the size is wrong. */
static int read_doubles(const redisReply *r, size_t count, double *out)
{
    if (!holds_doubles(r, count))
        return -1;
    memcpy(out, r->str, count * sizeof(double));
    return 0;
}

/* The same into floats. */
static int read_floats(const redisReply *r, size_t count, float *out)
{
    if (!holds_doubles(r, count))
        return -1;
    for (size_t i = 0; i < count; i++) {
        double d;
        memcpy(&d, r->str + i * sizeof d, sizeof d);
        out[i] = (float) d;
    }
    return 0;
}

pca_model_t *pca_model_new(redis_t *redis, char *err, size_t errlen)
{
    redisReply *r =
        redisCommand(redis->ctx, "HMGET %s version k dim mean scale axes", KEY_PCA_MODEL);
    if (redis_lost(redis, r) || r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
        snprintf(err, errlen, "reading %s failed: %s", KEY_PCA_MODEL,
                 r && r->type == REDIS_REPLY_ERROR ? r->str : redis->ctx->errstr);
        freeReplyObject(r);
        return NULL;
    }
    redisReply **f = r->element;
    pca_model_t *self = calloc(1, sizeof *self);
    if (!self || f[0]->type != REDIS_REPLY_STRING) {
        snprintf(err, errlen, "no PCA model in %s yet", KEY_PCA_MODEL);
        freeReplyObject(r);
        free(self);
        return NULL;
    }
    self->version = strtoull(f[0]->str, NULL, 10);
    self->k = f[1]->str ? atoi(f[1]->str) : 0;
    self->dim = f[2]->str ? atoi(f[2]->str) : 0;
    size_t k = (size_t) self->k, dim = (size_t) self->dim;
    bool scaled = f[4]->type == REDIS_REPLY_STRING && f[4]->len > 0;
    self->mean = malloc(dim * sizeof(double) + 1);
    self->scale = scaled ? malloc(dim * sizeof(double)) : NULL;
    self->axes = malloc(k * dim * sizeof(float) + 1);
    if (self->k < 1 || self->dim < 1 || !self->mean || !self->axes || (scaled && !self->scale) ||
        read_doubles(f[3], dim, self->mean) != 0 ||
        (scaled && read_doubles(f[4], dim, self->scale) != 0) ||
        read_floats(f[5], k * dim, self->axes) != 0) {
        snprintf(err, errlen, "%s is malformed (k=%d dim=%d, arrays of the wrong size)",
                 KEY_PCA_MODEL, self->k, self->dim);
        pca_model_destroy(&self);
    }
    freeReplyObject(r);
    return self;
}

void pca_model_destroy(pca_model_t **self_p)
{
    pca_model_t *self = *self_p;
    if (!self)
        return;
    free(self->mean);
    free(self->scale);
    free(self->axes);
    free(self);
    *self_p = NULL;
}

int pca_model_k(const pca_model_t *self)
{
    return self->k;
}
int pca_model_dim(const pca_model_t *self)
{
    return self->dim;
}
uint64_t pca_model_version(const pca_model_t *self)
{
    return self->version;
}

int pca_model_project(const pca_model_t *self, const float *rows, size_t n, float *out)
{
    return pca_project_rows(self->mean, self->scale, self->axes, self->k, self->dim, rows, n, out);
}
