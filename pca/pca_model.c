/* pca_model.c -- see pca_model.h. Projections go through pca_project_rows, the sink's own
 * arithmetic: the mean and scale stay in double, as published, and the axes are floats.
 *
 * Each view reads its fields with one HMGET, from a list of their names that is also where
 * the error messages get them. A number must be the whole field and within range; an array
 * must hold exactly as many LE float64 as k and dim say. */
#include "pca/pca_model.h"

#include "common/keys.h"
#include "pca/pca.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds that keep k x dim arrays within reason whatever the hash says. */
#define MODEL_DIM_MAX (1 << 16)
/* The most fields one view reads. */
#define FIELDS_MAX 8

struct pca_model_t {
    int k, dim;
    uint64_t version;
    double *mean;  /* dim */
    double *scale; /* dim, or NULL when not standardized */
    float *axes;   /* k x dim */
};

/* The text of a string reply, or NULL (a field the hash lacks is a nil reply). */
static const char *text_of(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? r->str : NULL;
}

/* A field that is a whole integer in [lo, hi]: 0, or -1. */
static int read_integer(const redisReply *r, long long lo, long long hi, long long *out)
{
    const char *s = text_of(r);
    char *end = NULL;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || end == s || *end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* A field that is a whole finite number in [lo, hi]: 0, or -1. */
static int read_real(const redisReply *r, double lo, double hi, double *out)
{
    const char *s = text_of(r);
    char *end = NULL;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Whether a binary reply holds count LE float64. */
static bool holds_doubles(const redisReply *r, size_t count)
{
    return r->type == REDIS_REPLY_STRING && r->len == count * sizeof(double);
}

/* A new array of the count LE float64 a reply holds (holds_doubles checked already); NULL
 * when memory runs out. */
static double *new_doubles(const redisReply *r, size_t count)
{
    double *out = malloc(count * sizeof *out);
    if (out)
        memcpy(out, r->str, count * sizeof *out);
    return out;
}

/* The same into floats. */
static float *new_floats(const redisReply *r, size_t count)
{
    float *out = malloc(count * sizeof *out);
    for (size_t i = 0; out && i < count; i++) {
        double d;
        memcpy(&d, r->str + i * sizeof d, sizeof d);
        out[i] = (float) d;
    }
    return out;
}

/* HMGET fs:pca:model with count (<= FIELDS_MAX) fields, the first of them `version`: the
 * array reply, or NULL with why in err (no model yet when there is no version). */
static redisReply *read_fields(redis_t *redis, const char *const *fields, size_t count, char *err,
                               size_t errlen)
{
    const char *argv[2 + FIELDS_MAX] = {"HMGET", KEY_PCA_MODEL};
    for (size_t i = 0; i < count; i++)
        argv[i + 2] = fields[i];
    redisReply *r = redisCommandArgv(redis->ctx, (int) count + 2, argv, NULL);
    if (redis_lost(redis, r) || r->type != REDIS_REPLY_ARRAY || r->elements != count) {
        snprintf(err, errlen, "reading %s failed: %s", KEY_PCA_MODEL,
                 r && r->type == REDIS_REPLY_ERROR ? r->str : redis->ctx->errstr);
        freeReplyObject(r);
        return NULL;
    }
    if (!text_of(r->element[0])) {
        snprintf(err, errlen, "no PCA model in %s yet", KEY_PCA_MODEL);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Whether a read failed, memory having run out (oom) or fields[bad] being unusable (bad
 * >= 0); if so, err says which. */
static bool read_failed(bool oom, int bad, const char *const *fields, char *err, size_t errlen)
{
    if (oom)
        snprintf(err, errlen, "out of memory reading %s", KEY_PCA_MODEL);
    else if (bad >= 0)
        snprintf(err, errlen,
                 "%s is malformed: field %s is missing, out of range or of the wrong size",
                 KEY_PCA_MODEL, fields[bad]);
    return oom || bad >= 0;
}

enum { M_VERSION, M_K, M_DIM, M_MEAN, M_SCALE, M_AXES, M_COUNT };
static const char *const model_fields[M_COUNT] = {"version", "k", "dim", "mean", "scale", "axes"};
_Static_assert(M_COUNT <= FIELDS_MAX, "read_fields takes FIELDS_MAX fields at most");

pca_model_t *pca_model_new(redis_t *redis, char *err, size_t errlen)
{
    redisReply *r = read_fields(redis, model_fields, M_COUNT, err, errlen);
    if (!r)
        return NULL;
    redisReply **f = r->element;
    pca_model_t *self = calloc(1, sizeof *self);
    long long version = 0, k = 0, dim = 0;
    bool scaled = f[M_SCALE]->type == REDIS_REPLY_STRING && f[M_SCALE]->len > 0;
    /* every size is checked before anything is allocated for it */
    int bad = read_integer(f[M_VERSION], 0, LLONG_MAX, &version)     ? M_VERSION
              : read_integer(f[M_DIM], 1, MODEL_DIM_MAX, &dim)       ? M_DIM
              : read_integer(f[M_K], 1, dim, &k)                     ? M_K
              : !holds_doubles(f[M_MEAN], (size_t) dim)              ? M_MEAN
              : scaled && !holds_doubles(f[M_SCALE], (size_t) dim)   ? M_SCALE
              : !holds_doubles(f[M_AXES], (size_t) k * (size_t) dim) ? M_AXES
                                                                     : -1;
    bool oom = !self;
    if (self && bad < 0) {
        self->version = (uint64_t) version, self->k = (int) k, self->dim = (int) dim;
        self->mean = new_doubles(f[M_MEAN], (size_t) dim);
        self->scale = scaled ? new_doubles(f[M_SCALE], (size_t) dim) : NULL;
        self->axes = new_floats(f[M_AXES], (size_t) k * (size_t) dim);
        oom = !self->mean || !self->axes || (scaled && !self->scale);
    }
    if (read_failed(oom, bad, model_fields, err, errlen))
        pca_model_destroy(&self);
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

uint64_t pca_model_published_version(redis_t *redis)
{
    static const char *const version_field[] = {"version"};
    char err[256];
    long long version = 0;
    redisReply *r = read_fields(redis, version_field, 1, err, sizeof err);
    if (r && read_integer(r->element[0], 0, LLONG_MAX, &version) != 0)
        version = 0;
    freeReplyObject(r);
    return (uint64_t) version;
}

enum { I_VERSION, I_N, I_K, I_DIM, I_STANDARDIZE, I_TARGET, I_EXPLAINED, I_RATIOS, I_COUNT };
static const char *const info_fields[I_COUNT] = {
    "version", "n", "k", "dim", "standardize", "variance_target", "explained", "ratios"};
_Static_assert(I_COUNT <= FIELDS_MAX, "read_fields takes FIELDS_MAX fields at most");

pca_model_info_t *pca_model_info_new(redis_t *redis, char *err, size_t errlen)
{
    redisReply *r = read_fields(redis, info_fields, I_COUNT, err, errlen);
    if (!r)
        return NULL;
    redisReply **f = r->element;
    pca_model_info_t *self = calloc(1, sizeof *self);
    long long version = 0, n = 0, k = 0, dim = 0, standardize = 0;
    double target = 0, explained = 0;
    /* explained is a sum of k ratios: it may pass 1 by a rounding */
    int bad = read_integer(f[I_VERSION], 0, LLONG_MAX, &version)   ? I_VERSION
              : read_integer(f[I_N], 0, LLONG_MAX, &n)             ? I_N
              : read_integer(f[I_DIM], 1, MODEL_DIM_MAX, &dim)     ? I_DIM
              : read_integer(f[I_K], 1, dim, &k)                   ? I_K
              : read_integer(f[I_STANDARDIZE], 0, 1, &standardize) ? I_STANDARDIZE
              : read_real(f[I_TARGET], 0, 1, &target)              ? I_TARGET
              : read_real(f[I_EXPLAINED], 0, 1 + 1e-9, &explained) ? I_EXPLAINED
              : !holds_doubles(f[I_RATIOS], (size_t) k)            ? I_RATIOS
                                                                   : -1;
    bool oom = !self;
    if (self && bad < 0) {
        self->version = (uint64_t) version, self->n = n, self->k = (int) k, self->dim = (int) dim;
        self->standardize = standardize != 0;
        self->variance_target = target, self->explained = explained;
        self->ratios = new_doubles(f[I_RATIOS], (size_t) k);
        oom = !self->ratios;
    }
    if (read_failed(oom, bad, info_fields, err, errlen))
        pca_model_info_destroy(&self);
    freeReplyObject(r);
    return self;
}

void pca_model_info_destroy(pca_model_info_t **self_p)
{
    pca_model_info_t *self = *self_p;
    if (!self)
        return;
    free(self->ratios);
    free(self);
    *self_p = NULL;
}
