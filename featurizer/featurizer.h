/* featurizer.h -- one JPEG in, one 1280-float MobileNetV2 feature vector out.
 *
 * A featurizer holds everything one image needs: the weights (read from a safetensors file
 * and repacked; its own, or borrowed from another featurizer), a JPEG decoder, and every
 * activation buffer, planned once for the input size S given at creation. featurizer_run
 * allocates nothing; a worker creates one featurizer and feeds it images one after
 * another. It runs on the calling thread only: a machine is used by one featurizer per
 * core, on threads of one process that share the weights (featurizer_share). The kernels'
 * instruction set is chosen at creation (isa_from_env gives the one the user asked for). */
#ifndef FS_FEATURIZER_H
#define FS_FEATURIZER_H

#include "common/isa.h"
#include "featurizer/mobilenet.h"

#include <stddef.h>

/* The length of a feature vector, for every program that makes, carries or reduces one. */
#define FEATURE_DIM MOBILENET_FEATURES
#define FEATURIZER_DEFAULT_SIZE 224
#define FEATURIZER_DEFAULT_MAX_PIXELS (64L * 1024 * 1024)
/* The input sides and pixel limits the options accept: the network halves its input five
 * times, so below 32 nothing is left to see. */
#define FEATURIZER_MIN_SIZE 32
#define FEATURIZER_MAX_SIZE MOBILENET_MAX_SIZE
#define FEATURIZER_MAX_PIXELS_LIMIT (1LL << 36)

typedef struct {
    double decode_ms; /* JPEG bytes -> RGB8 */
    double resize_ms; /* RGB8 -> normalised S x S float input */
    double net_ms;    /* the network and the average pool */
} featurizer_timings_t;

typedef struct featurizer_t featurizer_t;

/* Loads and validates the weights at weights_path for input size S x S, to run on the
 * kernels of `isa` (which this CPU must be able to run). Images whose JPEG header declares
 * more than max_pixels pixels are rejected before anything is allocated for them. Returns
 * NULL and a message naming the file and the problem in err on failure. */
featurizer_t *featurizer_new(const char *weights_path, int size, long max_pixels, isa_t isa,
                             char *err, size_t errlen);
/* A featurizer for another thread on the weights of `model` (one copy of them in memory
 * and in the caches, however many threads), with its own decoder and buffers. `model` must
 * be destroyed after every featurizer sharing it. NULL with the reason in err. */
featurizer_t *featurizer_share(const featurizer_t *model, char *err, size_t errlen);
void featurizer_destroy(featurizer_t **self_p);

/* Featurizes one JPEG held in memory into features[FEATURE_DIM]. Returns 0, or -1 with a
 * one-line reason in err (corrupt data, unsupported format, too many pixels...). timings may
 * be NULL. */
int featurizer_run(featurizer_t *self, const void *jpeg, size_t len, float *features,
                   featurizer_timings_t *timings, char *err, size_t errlen);

int featurizer_size(const featurizer_t *self);
isa_t featurizer_isa(const featurizer_t *self);

#endif
