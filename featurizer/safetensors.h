/* safetensors.h -- read-only access to a .safetensors file.
 *
 * The file is memory-mapped; its JSON header is parsed once and every tensor's dtype, shape
 * and byte range are checked against the file (ranges inside the data section, not
 * overlapping, sizes equal to the product of the shape). Tensors point into the mapping, so
 * they live as long as the safetensors_t. Only F32 tensors are accepted: that is all the
 * MobileNetV2 weights use. */
#ifndef FS_SAFETENSORS_H
#define FS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define SAFETENSORS_MAX_DIMS 8

typedef struct {
    const char *name;
    int ndim;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    size_t count;      /* number of elements */
    const float *data; /* little-endian F32, inside the mapping */
} safetensors_tensor_t;

typedef struct safetensors_t safetensors_t;

/* Opens and validates path. On failure returns NULL with err = "PATH: what is wrong". */
safetensors_t *safetensors_open(const char *path, char *err, size_t errlen);
void safetensors_destroy(safetensors_t **self_p);

size_t safetensors_count(const safetensors_t *self);
const safetensors_tensor_t *safetensors_at(const safetensors_t *self, size_t index);
/* NULL when there is no tensor of that name. */
const safetensors_tensor_t *safetensors_find(const safetensors_t *self, const char *name);
const char *safetensors_path(const safetensors_t *self);

#endif
