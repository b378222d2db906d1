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

/* Stage timing, for benchmarks that ask where a run's time goes. A stage is one kernel call
 * site: the stem, each block's expand (blocks 2 to 17), depthwise and project
 * convolutions, and the head with the average pool; their flops add up to
 * mobilenet_flops. */
#define MOBILENET_MAX_STAGES 52
typedef struct {
    char name[16];  /* "stem", "2.expand", "2.depthwise", "2.project", ..., "head" */
    double flops;   /* of one run */
    double seconds; /* summed over the runs since mobilenet_time_stages */
} mobilenet_stage_t;

/* From now on, every mobilenet_run adds each stage's time to its entry, which starts at 0:
 * a clock read around each kernel call (a few dozen per run). Until this is called, and in
 * a network made by mobilenet_share, runs read no clock. */
void mobilenet_time_stages(mobilenet_t *self);
/* The stage table, in the order the stages run; *n gets its length. Owned by self. */
const mobilenet_stage_t *mobilenet_stages(const mobilenet_t *self, int *n);

#endif
