/* mobilenet.h -- the MobileNetV2 feature network (torchvision layout, batch norm folded),
 * planned for one input size.
 *
 * mobilenet_new reads the weights from a safetensors file, checks every tensor's shape
 * against the architecture, repacks them for the kernels (the file is closed afterwards)
 * and allocates every buffer the given size needs; mobilenet_run then allocates nothing. */
#ifndef FS_MOBILENET_H
#define FS_MOBILENET_H

#include "common/isa.h"

#include <stddef.h>

/* Channels of the last layer, average-pooled into the feature vector. */
#define MOBILENET_FEATURES 1280
#define MOBILENET_MAX_SIZE 4096

typedef struct mobilenet_t mobilenet_t;

/* size: input side S (1 .. MOBILENET_MAX_SIZE); isa: the kernels' instruction set, which
 * the CPU must be able to run (isa_runs). NULL with "PATH: problem" in err on failure, e.g.
 * "m.safetensors: features.3.conv.1.0.weight: shape [144,1,3,4], expected [144,1,3,3]". */
mobilenet_t *mobilenet_new(const char *weights_path, int size, isa_t isa, char *err, size_t errlen);
/* A second network on the weights of `model`, with buffers of its own, for another thread:
 * runs of the two may overlap. `model` must be destroyed after every network sharing it.
 * NULL with the reason in err when out of memory. */
mobilenet_t *mobilenet_share(const mobilenet_t *model, char *err, size_t errlen);
void mobilenet_destroy(mobilenet_t **self_p);

/* The input tensor to fill before mobilenet_run: S x S x 3 floats, HWC, normalised. */
float *mobilenet_input(mobilenet_t *self);
/* Runs the network on the input and writes the average-pooled MOBILENET_FEATURES floats. */
void mobilenet_run(mobilenet_t *self, float *features);

int mobilenet_size(const mobilenet_t *self);
isa_t mobilenet_isa(const mobilenet_t *self);
/* Floating-point operations of one run (2 per multiply-add, convolutions only). */
double mobilenet_flops(const mobilenet_t *self);

#endif
