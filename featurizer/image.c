/* image.c -- JPEG bytes to the network's normalised input tensor.
 *
 * Decoding goes through the TurboJPEG API with flags 0 (accurate integer IDCT, fancy
 * upsampling), the libjpeg-turbo defaults the reference preprocessing used. TurboJPEG turns
 * YCbCr, RGB and grayscale JPEGs into RGB itself (grayscale as R = G = B). It cannot turn
 * CMYK or YCCK into RGB, so those are decoded to CMYK and converted here with the rule
 * libjpeg-turbo's own djpeg uses when writing PPM (cmyk.h) and that Pillow uses for JPEGs:
 * the stored values are taken to follow Adobe's inverted convention (255 = no ink, as
 * Photoshop and libjpeg itself write them), so R = C * K / 255, G = M * K / 255,
 * B = Y * K / 255, rounded. The JPEG header is read first and width * height checked against
 * max_pixels before any pixel buffer grows. Any warning from the decoder -- which is how
 * libjpeg reports a truncated file or corrupt entropy data -- fails the image: a partially
 * decoded picture would silently yield a wrong feature vector. After any TurboJPEG failure
 * the handle is replaced, because TurboJPEG 2.1 leaves it unusable (see turbojpeg_fail).
 *
 * Resizing is separable, in float on 0..255 values: a horizontal pass from the image into
 * a scratch buffer (h x S), then a vertical pass into the output (S x S). Along each axis the
 * output sample i sits at centre (i + 0.5) * f in input coordinates, f = in / out, and takes
 * a triangle filter of half-width max(f, 1) over the input samples in reach, weights
 * normalised to sum 1 (which is what clamps the edges). That is torch's
 * interpolate(mode="bilinear", align_corners=False, antialias=True) and, when enlarging,
 * plain half-pixel bilinear. The per-axis filters (first input index, tap count and weights
 * of each output sample) depend only on (in, out), so the loader keeps one per axis and
 * rebuilds it only when the image size changes; filters and scratch are prepared during
 * decode, where a failed allocation can still be reported, so image_loader_to_input never
 * allocates and never fails. (image_resize, for tests and benchmarks, builds and frees its
 * filters per call.) The weights are computed in single precision exactly as torch computes
 * them, which brings our inputs to within ~1e-6 of torch's instead of ~3e-5. Taps whose
 * weight is exactly zero are trimmed: enlarging then costs two taps per sample, and an axis
 * already of size S is a plain copy. The horizontal pass reads each RGB8 row converted to
 * floats in a small row buffer; the vertical pass sums whole scratch rows. Those row loops
 * (convert, scale, accumulate, normalise) are vector kernels of the network's instruction
 * set (kernels.h), and so is the horizontal pass: its filter is spread once over the RGB
 * values of a row (an input index and a weight per tap and output value, filter_spread),
 * so that a vector of output values gathers its inputs tap by tap (kernels_row_gather).
 *
 * Normalisation, (x / 255 - mean) / std, is done as x * a + b per channel on each output
 * row while it is still in cache; it differs from the two-step form by an ulp or so. */
#include "featurizer/image.h"

#include "featurizer/kernels.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

/* How one axis is resampled: output sample i reads count[i] inputs from first[i] on, with
 * weights weights[i * max_taps ...]. For the horizontal pass the same is also spread over
 * the channels of a row (filter_spread): for tap k < taps and output value j (pixel j / c,
 * channel j % c), gather_index[k * n + j] is the input value it reads and gather_weight
 * its weight (0 past the pixel's count, reading its last input again), n = out * c.
 * Arrays grow and are reused. */
typedef struct {
    int in, out;
    int max_taps;
    int *first;
    int *count;
    float *weights;
    size_t first_capacity, count_capacity, weight_capacity;
    int channels, taps; /* what the gather tables were spread for; 0 when not */
    int32_t *gather_index;
    float *gather_weight;
    size_t gather_index_capacity, gather_weight_capacity;
} filter_t;

struct image_loader_t {
    int size;
    const kernels_t *kern; /* the row loops' instruction set */
    long max_pixels;
    tjhandle tj;
    int width, height;
    uint8_t *rgb;
    size_t rgb_capacity;
    uint8_t *cmyk;
    size_t cmyk_capacity;
    float *row; /* one decoded row as floats, the horizontal pass's input */
    size_t row_capacity;
    float *scratch; /* the horizontal pass's output, height x S x 3 */
    size_t scratch_capacity;
    filter_t horizontal, vertical;
    /* (x / 255 - mean) / std as x * scale + offset, laid out along one output row
     * (S pixels x RGB) so that normalising a row is one elementwise pass. */
    float *norm_scale, *norm_offset;
};

static const float mean[3] = {0.485f, 0.456f, 0.406f};
static const float stddev[3] = {0.229f, 0.224f, 0.225f};

/* Grows *buf to hold at least need bytes; contents are not kept. */
static int grow(void **buf, size_t *capacity, size_t need)
{
    if (need <= *capacity)
        return 0;
    void *bigger = malloc(need);
    if (!bigger)
        return -1;
    free(*buf);
    *buf = bigger;
    *capacity = need;
    return 0;
}

static float triangle(float x)
{
    x = fabsf(x);
    return x < 1.0f ? 1.0f - x : 0.0f;
}

/* Fills filter for resampling in samples to out. Returns -1 if memory runs out.
 *
 * The arithmetic follows torch's _compute_weights_aa step for step, single precision where
 * it is single precision, so that our inputs match the reference's to float rounding of
 * the pixel sums rather than differing by rounding of the weights too. */
static int filter_prepare(filter_t *filter, int in, int out)
{
    if (filter->in == in && filter->out == out)
        return 0;
    float scale = (float) in / (float) out;
    float support = scale >= 1.0f ? scale : 1.0f;
    float inverse = scale >= 1.0f ? 1.0f / scale : 1.0f;
    /* A window [center - support + 0.5, center + support + 0.5) holds at most this many. */
    int max_taps = (int) ceilf(2.0f * support) + 1;
    filter->in = filter->out = 0;
    if (grow((void **) &filter->first, &filter->first_capacity, (size_t) out * sizeof(int)) ||
        grow((void **) &filter->count, &filter->count_capacity, (size_t) out * sizeof(int)) ||
        grow((void **) &filter->weights, &filter->weight_capacity,
             (size_t) out * (size_t) max_taps * sizeof(float)))
        return -1;
    for (int i = 0; i < out; i++) {
        float center = (float) (scale * (i + 0.5));
        int lo = (int) (center - support + 0.5);
        int hi = (int) (center + support + 0.5);
        if (lo < 0)
            lo = 0;
        if (hi > in)
            hi = in;
        float *weights = filter->weights + (size_t) i * max_taps;
        float total = 0.0f;
        for (int j = lo; j < hi; j++) {
            weights[j - lo] = triangle((float) ((j - center + 0.5) * inverse));
            total += weights[j - lo];
        }
        for (int j = 0; j < hi - lo; j++)
            weights[j] /= total;
        /* Zero-weight taps at either end add nothing; skip them. */
        while (hi - lo > 1 && weights[0] == 0.0f) {
            memmove(weights, weights + 1, (size_t) (hi - lo - 1) * sizeof *weights);
            lo++;
        }
        while (hi - lo > 1 && weights[hi - lo - 1] == 0.0f)
            hi--;
        filter->first[i] = lo;
        filter->count[i] = hi - lo;
    }
    filter->in = in;
    filter->out = out;
    filter->max_taps = max_taps;
    filter->channels = 0;
    return 0;
}

/* Spreads a prepared filter over rows of c channels (see filter_t), unless it is already.
 * Returns -1 if memory runs out. */
static int filter_spread(filter_t *filter, int c)
{
    if (filter->channels == c)
        return 0;
    int taps = 1;
    for (int x = 0; x < filter->out; x++)
        taps = filter->count[x] > taps ? filter->count[x] : taps;
    size_t n = (size_t) filter->out * c, values = (size_t) taps * n;
    if (grow((void **) &filter->gather_index, &filter->gather_index_capacity,
             values * sizeof(int32_t)) ||
        grow((void **) &filter->gather_weight, &filter->gather_weight_capacity,
             values * sizeof(float)))
        return -1;
    for (int k = 0; k < taps; k++)
        for (int x = 0; x < filter->out; x++) {
            int last = filter->count[x] - 1, tap = k < last ? k : last;
            float weight = k <= last ? filter->weights[(size_t) x * filter->max_taps + k] : 0.0f;
            for (int ch = 0; ch < c; ch++) {
                size_t j = (size_t) k * n + (size_t) x * c + ch;
                filter->gather_index[j] = (int32_t) ((filter->first[x] + tap) * c + ch);
                filter->gather_weight[j] = weight;
            }
        }
    filter->channels = c;
    filter->taps = taps;
    return 0;
}

static void filter_release(filter_t *filter)
{
    free(filter->first);
    free(filter->count);
    free(filter->weights);
    free(filter->gather_index);
    free(filter->gather_weight);
    memset(filter, 0, sizeof *filter);
}

/* One row of the horizontal pass: row holds filter->in pixels of c floats, dest gets
 * filter->out; the filter is spread for c channels. */
static void resample_row(const kernels_t *kern, const filter_t *filter, const float *row, int c,
                         float *dest)
{
    kernels_row_gather(kern, dest, row, filter->gather_index, filter->gather_weight, filter->taps,
                       (size_t) filter->out * c);
}

/* Output row y of the vertical pass: a weighted sum of whole rows of in (each row_len
 * floats), accumulated row by row so that every loop runs over contiguous memory. */
static void resample_column_row(const kernels_t *kern, const filter_t *filter, int y,
                                const float *in, size_t row_len, float *dest)
{
    const float *weights = filter->weights + (size_t) y * filter->max_taps;
    const float *src = in + (size_t) filter->first[y] * row_len;
    kernels_row_scale(kern, dest, src, weights[0], row_len);
    for (int k = 1; k < filter->count[y]; k++)
        kernels_row_add_scaled(kern, dest, src + (size_t) k * row_len, weights[k], row_len);
}

void image_resize(const float *in, int w, int h, int c, float *out, int ow, int oh, float *scratch,
                  isa_t isa)
{
    filter_t horizontal = {0}, vertical = {0};
    if (filter_prepare(&horizontal, w, ow) || filter_spread(&horizontal, c) ||
        filter_prepare(&vertical, h, oh)) {
        /* No way to report it through this test-and-benchmark entry point. */
        fprintf(stderr, "image_resize: out of memory for %dx%d -> %dx%d filters\n", w, h, ow, oh);
        abort();
    }
    const kernels_t *kern = kernels_get(isa);
    for (int y = 0; y < h; y++)
        resample_row(kern, &horizontal, in + (size_t) y * w * c, c, scratch + (size_t) y * ow * c);
    size_t row_len = (size_t) ow * c;
    for (int y = 0; y < oh; y++)
        resample_column_row(kern, &vertical, y, scratch, row_len, out + (size_t) y * row_len);
    filter_release(&horizontal);
    filter_release(&vertical);
}

image_loader_t *image_loader_new(int size, long max_pixels, isa_t isa)
{
    if (size <= 0 || max_pixels <= 0 || !kernels_get(isa))
        return NULL;
    image_loader_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->size = size;
    self->max_pixels = max_pixels;
    self->kern = kernels_get(isa);
    self->tj = tjInitDecompress();
    self->norm_scale = malloc((size_t) size * 3 * sizeof(float));
    self->norm_offset = malloc((size_t) size * 3 * sizeof(float));
    if (!self->tj || !self->norm_scale || !self->norm_offset) {
        image_loader_destroy(&self);
        return NULL;
    }
    for (int i = 0; i < size * 3; i++) {
        self->norm_scale[i] = 1.0f / (255.0f * stddev[i % 3]);
        self->norm_offset[i] = -mean[i % 3] / stddev[i % 3];
    }
    return self;
}

void image_loader_destroy(image_loader_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    image_loader_t *self = *self_p;
    if (self->tj)
        tjDestroy(self->tj);
    free(self->norm_scale);
    free(self->norm_offset);
    free(self->rgb);
    free(self->cmyk);
    free(self->row);
    free(self->scratch);
    filter_release(&self->horizontal);
    filter_release(&self->vertical);
    free(self);
    *self_p = NULL;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Reports TurboJPEG's error after what, then replaces the decompressor: TurboJPEG 2.1
 * leaves a handle whose header read failed stuck in the middle of reading a header, so
 * that every later call on it fails too (a good JPEG after a garbage one would be refused).
 * Failures are rare, so the cost of a new handle does not matter; if it cannot be made, the
 * next decode tries again. */
static int turbojpeg_fail(image_loader_t *self, char *err, size_t errlen, const char *what)
{
    fail(err, errlen, "%s: %s", what, tjGetErrorStr2(self->tj));
    tjDestroy(self->tj);
    self->tj = tjInitDecompress();
    return -1;
}

/* Adobe-inverted CMYK to RGB, as libjpeg-turbo's cmyk_to_rgb(): round(C * K / 255). */
static void cmyk_to_rgb(const uint8_t *cmyk, uint8_t *rgb, size_t pixels)
{
    for (size_t i = 0; i < pixels; i++, cmyk += 4, rgb += 3) {
        unsigned k = cmyk[3];
        rgb[0] = (uint8_t) ((cmyk[0] * k * 2 + 255) / 510);
        rgb[1] = (uint8_t) ((cmyk[1] * k * 2 + 255) / 510);
        rgb[2] = (uint8_t) ((cmyk[2] * k * 2 + 255) / 510);
    }
}

/* Makes the filters and scratch buffer for a width x height image ready, so that
 * image_loader_to_input cannot fail. */
static int prepare_resize(image_loader_t *self, int width, int height)
{
    if (width == self->size && height == self->size)
        return 0;
    if (filter_prepare(&self->horizontal, width, self->size) ||
        filter_spread(&self->horizontal, 3) ||
        filter_prepare(&self->vertical, height, self->size) ||
        grow((void **) &self->row, &self->row_capacity, (size_t) width * 3 * sizeof(float)))
        return -1;
    return grow((void **) &self->scratch, &self->scratch_capacity,
                (size_t) height * self->size * 3 * sizeof(float));
}

int image_loader_decode(image_loader_t *self, const void *jpeg, size_t len, char *err,
                        size_t errlen)
{
    self->width = self->height = 0;
    if (len == 0)
        return fail(err, errlen, "empty file");
    const unsigned char *bytes = jpeg;
    if (len < 2 || bytes[0] != 0xFF || bytes[1] != 0xD8)
        return fail(err, errlen, "not a JPEG (no FF D8 start-of-image marker)");

    if (!self->tj && !(self->tj = tjInitDecompress()))
        return fail(err, errlen, "cannot create a TurboJPEG decompressor");

    /* TurboJPEG 2.1 returns success without filling these in for a tables-only stream
     * (SOI, tables, EOI: no frame), which a damaged JPEG can turn into. */
    int width = 0, height = 0, subsampling = -1, colorspace = -1;
    if (tjDecompressHeader3(self->tj, bytes, (unsigned long) len, &width, &height, &subsampling,
                            &colorspace) != 0)
        return turbojpeg_fail(self, err, errlen, "bad JPEG header");
    if (width <= 0 || height <= 0 || colorspace < 0)
        return fail(err, errlen, "no image in the JPEG (its header has no frame)");
    if ((long long) width * height > self->max_pixels)
        return fail(err, errlen, "image is %dx%d, more than the limit of %ld pixels", width, height,
                    self->max_pixels);
    /* the resize's first pass makes a height x size image: a tall thin one (1 x 65500 is
     * few pixels) would otherwise cost far more memory than the limit allows */
    if ((long long) height * self->size > self->max_pixels)
        return fail(err, errlen,
                    "image is %dx%d: resizing it to %d makes %dx%d pixels, more than the limit of "
                    "%ld",
                    width, height, self->size, self->size, height, self->max_pixels);

    size_t pixels = (size_t) width * height;
    int is_cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
    if (grow((void **) &self->rgb, &self->rgb_capacity, pixels * 3) ||
        (is_cmyk && grow((void **) &self->cmyk, &self->cmyk_capacity, pixels * 4)) ||
        prepare_resize(self, width, height))
        return fail(err, errlen, "out of memory for a %dx%d image", width, height);

    /* Warnings (premature end of data, corrupt entropy data) make tjDecompress2 return -1
     * too, with error code TJERR_WARNING; we reject them like fatal errors, and say which.
     * TJFLAG_STOPONWARNING stops at the first one instead of decoding on to the end for an
     * image we reject anyway: the outcome for every input is the same, only sooner.
     * TJFLAG_LIMITSCANS refuses a progressive JPEG of more than 500 scans ("has more than 500
     * scans"): each scan is a pass over the whole image, and a 600 KB file of 5000 cheap
     * scans over 8000x8000 pixels took 38 s to decode (at the 64 MiB file limit, hours),
     * with a stop request waiting for it. Real encoders write about ten. */
    if (tjDecompress2(self->tj, bytes, (unsigned long) len, is_cmyk ? self->cmyk : self->rgb, width,
                      0, height, is_cmyk ? TJPF_CMYK : TJPF_RGB,
                      TJFLAG_LIMITSCANS | TJFLAG_STOPONWARNING) != 0)
        return turbojpeg_fail(self, err, errlen,
                              tjGetErrorCode(self->tj) == TJERR_WARNING
                                  ? "truncated or corrupt JPEG"
                                  : "undecodable JPEG");
    if (is_cmyk)
        cmyk_to_rgb(self->cmyk, self->rgb, pixels);
    self->width = width;
    self->height = height;
    return 0;
}

int image_loader_width(const image_loader_t *self)
{
    return self->width;
}

int image_loader_height(const image_loader_t *self)
{
    return self->height;
}

const uint8_t *image_loader_rgb(const image_loader_t *self)
{
    return self->rgb;
}

void image_loader_to_input(image_loader_t *self, float *input)
{
    int size = self->size;
    size_t row_len = (size_t) size * 3;
    if (self->width == 0) {
        /* No image: never decoded, or the last decode failed. Keep the output defined. */
        memset(input, 0, (size_t) size * row_len * sizeof *input);
        return;
    }
    if (self->width == size && self->height == size) {
        for (int y = 0; y < size; y++) {
            float *dest = input + (size_t) y * row_len;
            kernels_row_to_float(self->kern, dest, self->rgb + (size_t) y * row_len, row_len);
            kernels_row_affine(self->kern, dest, self->norm_scale, self->norm_offset, row_len);
        }
        return;
    }
    size_t in_row_len = (size_t) self->width * 3;
    for (int y = 0; y < self->height; y++) {
        kernels_row_to_float(self->kern, self->row, self->rgb + (size_t) y * in_row_len,
                             in_row_len);
        resample_row(self->kern, &self->horizontal, self->row, 3,
                     self->scratch + (size_t) y * row_len);
    }
    for (int y = 0; y < size; y++) {
        float *dest = input + (size_t) y * row_len;
        resample_column_row(self->kern, &self->vertical, y, self->scratch, row_len, dest);
        kernels_row_affine(self->kern, dest, self->norm_scale, self->norm_offset, row_len);
    }
}
