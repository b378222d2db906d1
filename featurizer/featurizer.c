/* featurizer.c -- JPEG bytes to a 1280-float MobileNetV2 feature vector.
 *
 * Glue between the image loader (decode, resize, normalise: featurizer/image.h) and the
 * network (featurizer/mobilenet.h): the loader writes straight into the network's input
 * tensor, so one image costs no copies and no allocation once the loader's buffers have
 * grown to the largest image seen. Each stage is timed with CLOCK_MONOTONIC. A featurizer
 * is used by one thread at a time, and each layer runs on that thread alone: the GEMMs of
 * one image are too small to split well, so a worker runs one featurizer per thread
 * (worker --threads), all reading one copy of the weights (featurizer_share). */
#include "featurizer/featurizer.h"

#include "common/clock.h"
#include "featurizer/image.h"
#include "featurizer/mobilenet.h"

#include <stdio.h>
#include <stdlib.h>

struct featurizer_t {
    image_loader_t *loader;
    mobilenet_t *net;
    long max_pixels;
};

/* A featurizer around `net` (owned from here on; NULL passes the failure through). */
static featurizer_t *featurizer_around(mobilenet_t *net, long max_pixels, char *err, size_t errlen)
{
    if (!net)
        return NULL;
    featurizer_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        mobilenet_destroy(&net);
        return NULL;
    }
    self->net = net;
    self->max_pixels = max_pixels;
    self->loader = image_loader_new(mobilenet_size(net), max_pixels, mobilenet_isa(net));
    if (!self->loader) {
        snprintf(err, errlen, "out of memory for the image loader");
        featurizer_destroy(&self);
    }
    return self;
}

featurizer_t *featurizer_new(const char *weights_path, int size, long max_pixels, isa_t isa,
                             char *err, size_t errlen)
{
    return featurizer_around(mobilenet_new(weights_path, size, isa, err, errlen), max_pixels, err,
                             errlen);
}

featurizer_t *featurizer_share(const featurizer_t *model, char *err, size_t errlen)
{
    return featurizer_around(mobilenet_share(model->net, err, errlen), model->max_pixels, err,
                             errlen);
}

void featurizer_destroy(featurizer_t **self_p)
{
    featurizer_t *self = *self_p;
    if (!self)
        return;
    image_loader_destroy(&self->loader);
    mobilenet_destroy(&self->net);
    free(self);
    *self_p = NULL;
}

int featurizer_run(featurizer_t *self, const void *jpeg, size_t len, float *features,
                   featurizer_timings_t *timings, char *err, size_t errlen)
{
    double t0 = clock_seconds();
    if (image_loader_decode(self->loader, jpeg, len, err, errlen))
        return -1;
    double t1 = clock_seconds();
    image_loader_to_input(self->loader, mobilenet_input(self->net));
    double t2 = clock_seconds();
    mobilenet_run(self->net, features);
    double t3 = clock_seconds();
    if (timings) {
        timings->decode_ms = (t1 - t0) * 1e3;
        timings->resize_ms = (t2 - t1) * 1e3;
        timings->net_ms = (t3 - t2) * 1e3;
    }
    return 0;
}

int featurizer_size(const featurizer_t *self)
{
    return mobilenet_size(self->net);
}

isa_t featurizer_isa(const featurizer_t *self)
{
    return mobilenet_isa(self->net);
}
