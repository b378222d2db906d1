/* classify.c -- see classify.h. */
#include "cli/classify.h"

#include "common/isa.h"
#include "common/keys.h"
#include "featurizer/featurizer.h"
#include "pca/pca_model.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What answering reads from Redis: the model and the stored images' projections under it. */
struct classifier_data_t {
    pca_model_t *model;
    gallery_t *gallery;
    gallery_load_info_t info;
    char stamp[CLASSIFIER_STAMP_MAX]; /* read before the model and gallery: "" if unknown */
};

struct classifier_t {
    featurizer_t *featurizer;
    classifier_data_t *data;
    float *projection; /* k */
    char *weights_path;
    int size; /* the input size asked for, or 0: the stored images' */
};

classifier_data_t *classifier_data_load(redis_t *redis, const char *stamp, char *err, size_t errlen)
{
    classifier_data_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (stamp)
        snprintf(self->stamp, sizeof self->stamp, "%s", stamp);
    else if (classifier_stamp_read(redis, self->stamp) != 0)
        self->stamp[0] = '\0'; /* then any stamp read later differs */
    if (!(self->model = pca_model_new(redis, err, errlen)) ||
        !(self->gallery = gallery_load(redis, self->model, 1, &self->info, err, errlen)))
        classifier_data_destroy(&self);
    else if (pca_model_dim(self->model) != FEATURE_DIM) {
        snprintf(err, errlen, "the PCA model is over %d features, the featurizer makes %d",
                 pca_model_dim(self->model), FEATURE_DIM);
        classifier_data_destroy(&self);
    }
    return self;
}

int classifier_stamp_read(redis_t *redis, char stamp[CLASSIFIER_STAMP_MAX])
{
    unsigned long long version = pca_model_published_version(redis);
    redisReply *len = redisCommand(redis->ctx, "XLEN %s", KEY_STORED), *last = NULL;
    if (!redis_lost(redis, len))
        last = redisCommand(redis->ctx, "XREVRANGE %s + - COUNT 1", KEY_STORED);
    bool ok = last && !redis_lost(redis, last) && len->type == REDIS_REPLY_INTEGER &&
              last->type == REDIS_REPLY_ARRAY;
    const char *id = "-"; /* no entry */
    if (ok && last->elements == 1) {
        const redisReply *entry = last->element[0];
        ok = entry->type == REDIS_REPLY_ARRAY && entry->elements == 2 &&
             entry->element[0]->type == REDIS_REPLY_STRING && entry->element[0]->len < 48;
        id = ok ? entry->element[0]->str : id;
    }
    if (ok)
        snprintf(stamp, CLASSIFIER_STAMP_MAX, "model v%llu, %lld stored, newest %s", version,
                 len->integer, id);
    freeReplyObject(len);
    freeReplyObject(last);
    return ok ? 0 : -1;
}

void classifier_data_destroy(classifier_data_t **self_p)
{
    classifier_data_t *self = *self_p;
    if (!self)
        return;
    pca_model_destroy(&self->model);
    gallery_destroy(&self->gallery);
    free(self);
    *self_p = NULL;
}

int classifier_adopt(classifier_t *self, classifier_data_t **data_p, char *err, size_t errlen)
{
    classifier_data_t *data = *data_p;
    *data_p = NULL;
    isa_t isa;
    int size = self->size        ? self->size
               : data->info.size ? data->info.size
                                 : FEATURIZER_DEFAULT_SIZE;
    featurizer_t *featurizer =
        self->featurizer && featurizer_size(self->featurizer) == size ? self->featurizer : NULL;
    float *projection = malloc((size_t) pca_model_k(data->model) * sizeof(float));
    if (!projection)
        snprintf(err, errlen, "out of memory");
    else if (!featurizer && isa_from_env(&isa, err, errlen) == 0)
        featurizer = featurizer_new(self->weights_path, size, FEATURIZER_DEFAULT_MAX_PIXELS, isa,
                                    err, errlen);
    if (!projection || !featurizer) {
        free(projection);
        classifier_data_destroy(&data);
        return -1;
    }
    if (featurizer != self->featurizer)
        featurizer_destroy(&self->featurizer);
    self->featurizer = featurizer;
    classifier_data_destroy(&self->data);
    self->data = data;
    free(self->projection);
    self->projection = projection;
    return 0;
}

classifier_t *classifier_new(redis_t *redis, const char *weights_path, int size, char *err,
                             size_t errlen)
{
    classifier_t *self = calloc(1, sizeof *self);
    if (!self || !(self->weights_path = strdup(weights_path))) {
        snprintf(err, errlen, "out of memory");
        classifier_destroy(&self);
        return NULL;
    }
    self->size = size;
    classifier_data_t *data = classifier_data_load(redis, NULL, err, errlen);
    if (!data || classifier_adopt(self, &data, err, errlen) != 0)
        classifier_destroy(&self);
    return self;
}

void classifier_destroy(classifier_t **self_p)
{
    classifier_t *self = *self_p;
    if (!self)
        return;
    featurizer_destroy(&self->featurizer);
    classifier_data_destroy(&self->data);
    free(self->projection);
    free(self->weights_path);
    free(self);
    *self_p = NULL;
}

const gallery_t *classifier_gallery(const classifier_t *self)
{
    return self->data->gallery;
}
const char *classifier_stamp(const classifier_t *self)
{
    return self->data->stamp;
}
const gallery_load_info_t *classifier_info(const classifier_t *self)
{
    return &self->data->info;
}

long classifier_run(classifier_t *self, const void *jpeg, size_t len, size_t n, gallery_hit_t *hits,
                    char *err, size_t errlen)
{
    float features[FEATURE_DIM];
    if (featurizer_run(self->featurizer, jpeg, len, features, NULL, err, errlen) != 0)
        return -1;
    long found = -1;
    if (pca_model_project(self->data->model, features, 1, self->projection) == 0)
        found = gallery_nearest(self->data->gallery, self->projection, 1, n, hits);
    if (found < 0)
        snprintf(err, errlen, "out of memory");
    return found;
}
