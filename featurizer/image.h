/* image.h -- JPEG bytes to the network's normalised input tensor.
 *
 * An image_loader_t owns a TurboJPEG handle and the buffers one image needs; they grow to
 * the largest image seen and are then reused, so steady-state loading allocates nothing.
 * Decoding follows the reference preprocessing (../shared/reference/README.md): libjpeg-turbo
 * defaults (accurate integer IDCT, fancy upsampling), every colour space (RGB/YCbCr,
 * grayscale, CMYK/YCCK) to 8-bit RGB, baseline and progressive. Then, as float 0..255, a
 * separable resize to S x S (bilinear, half-pixel centres; when shrinking along an axis by
 * f = in/out > 1 the triangle filter is widened to support f, weights normalised to sum 1,
 * edges clamped), and x / 255, minus mean, over std per channel (ImageNet constants). */
#ifndef FS_IMAGE_H
#define FS_IMAGE_H

#include "common/isa.h"

#include <stddef.h>
#include <stdint.h>

typedef struct image_loader_t image_loader_t;

/* size: network input side S; max_pixels: largest width*height accepted; isa: the
 * instruction set of the resize's row loops (the network's). NULL when out of memory or
 * for a set this binary has no kernels for. */
image_loader_t *image_loader_new(int size, long max_pixels, isa_t isa);
void image_loader_destroy(image_loader_t **self_p);

/* Decodes one JPEG into the loader's RGB8 buffer. Returns 0, or -1 with a one-line reason
 * (empty, not a JPEG, truncated/corrupt, too many pixels: "image is 9000x9000, more than
 * the limit of 67108864 pixels"). The header is checked before any pixel buffer grows. */
int image_loader_decode(image_loader_t *self, const void *jpeg, size_t len, char *err,
                        size_t errlen);
int image_loader_width(const image_loader_t *self);
int image_loader_height(const image_loader_t *self);
const uint8_t *image_loader_rgb(const image_loader_t *self); /* height x width x 3 */

/* Resizes and normalises the last decoded image into input: S x S x 3 floats, HWC. */
void image_loader_to_input(image_loader_t *self, float *input);

/* The resize alone, exposed for tests and benchmarks: in is h x w x c floats (HWC), out is
 * oh x ow x c; scratch holds at least h * ow * c floats. Same rule as above. */
void image_resize(const float *in, int w, int h, int c, float *out, int ow, int oh, float *scratch,
                  isa_t isa);

#endif
