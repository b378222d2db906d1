/* classify.c -- see classify.h. */
#include "cli/classify.h"

#include "common/isa.h"
#include "featurizer/featurizer.h"
#include "pca/pca_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct classifier_t {
    featurizer_t *featurizer;
    pca_model_t *model;
    gallery_t *gallery;
    gallery_load_info_t info;
    float *projection; /* k */
    char *weights_path;
    int size; /* the input size asked for, or 0: the stored images' */
};

/* Loads the current model and gallery into self, replacing what it held, and a featurizer
 * for them unless the one it has fits (same input size): weights are the costly part and
 * do not change while the pipeline runs. 0, or -1 with the reason (self answers nothing
 * until a load succeeds). */
static int load(classifier_t *self, redis_t *redis, char *err, size_t errlen)
{
    pca_model_destroy(&self->model);
    gallery_destroy(&self->gallery);
    free(self->projection);
    self->projection = NULL;
    isa_t isa;
    if (!(self->model = pca_model_new(redis, err, errlen)) ||
        !(self->gallery = gallery_load(redis, self->model, 1, &self->info, err, errlen)) ||
        isa_from_env(&isa, err, errlen) != 0)
        return -1;
    int size = self->size        ? self->size
               : self->info.size ? self->info.size
                                 : FEATURIZER_DEFAULT_SIZE;
    if (pca_model_dim(self->model) != FEATURE_DIM) {
        snprintf(err, errlen, "the PCA model is over %d features, the featurizer makes %d",
                 pca_model_dim(self->model), FEATURE_DIM);
        return -1;
    }
    if (self->featurizer && featurizer_size(self->featurizer) != size)
        featurizer_destroy(&self->featurizer);
    if (!self->featurizer &&
        !(self->featurizer = featurizer_new(self->weights_path, size, FEATURIZER_DEFAULT_MAX_PIXELS,
                                            isa, err, errlen)))
        return -1;
    if (!(self->projection = malloc((size_t) pca_model_k(self->model) * sizeof(float)))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
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
    if (load(self, redis, err, errlen) != 0)
        classifier_destroy(&self);
    return self;
}

int classifier_reload(classifier_t *self, redis_t *redis, char *err, size_t errlen)
{
    return load(self, redis, err, errlen);
}

void classifier_destroy(classifier_t **self_p)
{
    classifier_t *self = *self_p;
    if (!self)
        return;
    featurizer_destroy(&self->featurizer);
    pca_model_destroy(&self->model);
    gallery_destroy(&self->gallery);
    free(self->projection);
    free(self->weights_path);
    free(self);
    *self_p = NULL;
}

const gallery_t *classifier_gallery(const classifier_t *self)
{
    return self->gallery;
}
const gallery_load_info_t *classifier_info(const classifier_t *self)
{
    return &self->info;
}

long classifier_run(classifier_t *self, const void *jpeg, size_t len, size_t n, gallery_hit_t *hits,
                    char *err, size_t errlen)
{
    float features[FEATURE_DIM];
    if (featurizer_run(self->featurizer, jpeg, len, features, NULL, err, errlen) != 0)
        return -1;
    long found = -1;
    if (pca_model_project(self->model, features, 1, self->projection) == 0)
        found = gallery_nearest(self->gallery, self->projection, 1, n, hits);
    if (found < 0)
        snprintf(err, errlen, "out of memory");
    return found;
}
