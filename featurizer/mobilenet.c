/* mobilenet.c -- MobileNetV2 (width 1.0, features only) as one layer table plus a runner.
 *
 * The architecture lives in the `blocks` table below (the model README's table); tensor
 * names and expected shapes are derived from it, so a weights file is checked against the
 * same description the runner uses. Weights are repacked at load (kernels_pw_new for 1x1
 * convolutions, tap-major for depthwise) and the safetensors mapping is then released.
 *
 * Activations are HWC and ping-pong between two buffers sized for the largest layer.
 * Each inverted-residual block runs over bands of output rows: the expand 1x1 conv writes
 * the rows it needs into a ring of expanded rows (each expanded row is computed once, and
 * the ring is only as tall as one band needs), the depthwise conv turns them into the
 * band's rows, and the project 1x1 conv (with the residual add fused) writes the band out.
 * Block 1 has no expansion: the stem writes its rows into block 1's ring instead, so the
 * stem's output (112 x 112 x 32 at S = 224, 1.6 MB) never goes to memory either.
 * Band heights are planned once per input size so that ring + depthwise output take at most
 * half of this CPU's L2 (band_bytes): the 6x-expanded tensor, the largest data of the
 * network, never goes to memory, and the other half holds weights and block rows.
 * Weights are only read once loaded, so networks made by mobilenet_share run on other
 * threads with buffers of their own and the same weights.
 *
 * plan() also lists the stages (one per kernel call site, with its flops) that
 * mobilenet_time_stages times, so the flops a benchmark divides by are the ones counted
 * here, once. */
#include "featurizer/mobilenet.h"

#include "common/clock.h"
#include "common/cpu_cache.h"
#include "featurizer/kernels.h"
#include "featurizer/safetensors.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBLOCKS 17
#define STEM_OUT 32
#define HEAD_IN 320
/* The stem, block 1's depthwise and project, three stages per later block, the head. */
_Static_assert(MOBILENET_MAX_STAGES == 1 + 2 + 3 * (NBLOCKS - 1) + 1, "one entry per stage");
#define BAND_BYTES_UNKNOWN_L2 (512 * 1024) /* half the 1 MiB L2 of most server cores */
/* Bounds on the band, well outside the sizes measured (256 to 768 KiB): an L2 reported as
 * tiny or huge is not followed that far. */
#define BAND_BYTES_MIN (64 * 1024)
#define BAND_BYTES_MAX (2048 * 1024)

/* features.1 .. features.17: output channels, stride, expansion factor. */
static const struct {
    int cout, stride, expand;
} blocks[NBLOCKS] = {
    {16, 1, 1}, {24, 2, 6},  {24, 1, 6},  {32, 2, 6},  {32, 1, 6},  {32, 1, 6},
    {64, 2, 6}, {64, 1, 6},  {64, 1, 6},  {64, 1, 6},  {96, 1, 6},  {96, 1, 6},
    {96, 1, 6}, {160, 2, 6}, {160, 1, 6}, {160, 1, 6}, {320, 1, 6},
};

typedef struct {
    int cin, hidden, cout, stride;
    int h, w, ho, wo;     /* input and output grids at the planned size */
    int band;             /* output rows per band */
    int ring_rows;        /* expanded rows the ring holds */
    int stage;            /* its first stage: expand (when it has one), depthwise, project */
    kernels_pw_t *expand; /* NULL when the block has no expansion */
    float *dw_weight;     /* 9 x hidden */
    float *dw_bias;
    kernels_pw_t *project;
} block_t;

struct mobilenet_t {
    int size;
    const kernels_t *kern; /* the instruction set every layer runs on */
    int shares_weights;    /* made by mobilenet_share: the weights belong to another network */
    int stem_h, stem_w;
    kernels_pw_t *stem;
    block_t block[NBLOCKS];
    kernels_pw_t *head;
    int head_h, head_w;
    double flops;
    mobilenet_stage_t stage[MOBILENET_MAX_STAGES];
    int nstages;
    bool timing;                                           /* mobilenet_time_stages was called */
    size_t act_floats, ring_floats, dw_floats, row_floats; /* buffer sizes, from plan() */
    char *buffers; /* one allocation holding the seven below (alloc_buffers) */
    float *input, *act[2], *ring, *dw_out, *zero_row, *head_out;
};

static int out_side(int side, int stride)
{
    return (side - 1) / stride + 1;
}

static int imin(int a, int b)
{
    return a < b ? a : b;
}

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void format_shape(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t used = (size_t) snprintf(buf, len, "[");
    for (int i = 0; i < ndim && used < len; i++)
        used +=
            (size_t) snprintf(buf + used, len - used, "%s%lld", i ? "," : "", (long long) shape[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
}

/* The data of tensor `prefix.suffix`, checked to have exactly the expected shape. */
static const float *find_tensor(const safetensors_t *st, const char *prefix, const char *suffix,
                                int ndim, const int64_t *expected, char *err, size_t errlen)
{
    char name[96];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    const safetensors_tensor_t *t = safetensors_find(st, name);
    if (!t) {
        fail(err, errlen, "%s: %s: missing", safetensors_path(st), name);
        return NULL;
    }
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == expected[i];
    if (!same) {
        char got[128], want[128];
        format_shape(got, sizeof got, t->ndim, t->shape);
        format_shape(want, sizeof want, ndim, expected);
        fail(err, errlen, "%s: %s: shape %s, expected %s", safetensors_path(st), name, got, want);
        return NULL;
    }
    return t->data;
}

/* A convolution's weight [o, i, k, k] and bias [o]; *used counts the tensors read. */
static int find_conv(const safetensors_t *st, const char *prefix, int o, int i, int k,
                     const float **weight, const float **bias, int *used, char *err, size_t errlen)
{
    const int64_t wshape[4] = {o, i, k, k}, bshape[1] = {o};
    *weight = find_tensor(st, prefix, "weight", 4, wshape, err, errlen);
    *bias = *weight ? find_tensor(st, prefix, "bias", 1, bshape, err, errlen) : NULL;
    *used += 2;
    return *bias ? 0 : -1;
}

/* A 1x1 convolution (or, with k = 3, the stem reordered to (ky, kx, c) rows), packed. */
static kernels_pw_t *load_pointwise(const kernels_t *kern, const safetensors_t *st,
                                    const char *prefix, int o, int i, int k, int *used, char *err,
                                    size_t errlen)
{
    const float *weight, *bias;
    if (find_conv(st, prefix, o, i, k, &weight, &bias, used, err, errlen))
        return NULL;
    kernels_pw_t *pw;
    if (k == 1) {
        pw = kernels_pw_new(kern, i, o, weight, bias);
    } else {
        float *mat = malloc((size_t) o * i * 9 * sizeof *mat);
        if (mat)
            kernels_conv3x3_reorder(weight, o, i, mat);
        pw = mat ? kernels_pw_new(kern, 9 * i, o, mat, bias) : NULL;
        free(mat);
    }
    if (!pw)
        fail(err, errlen, "%s: %s: out of memory", safetensors_path(st), prefix);
    return pw;
}

static int load_block(const kernels_t *kern, const safetensors_t *st, int index, block_t *b,
                      int *used, char *err, size_t errlen)
{
    char prefix[64];
    int expand = b->hidden != b->cin;
    if (expand) {
        snprintf(prefix, sizeof prefix, "features.%d.conv.0.0", index);
        if (!(b->expand =
                  load_pointwise(kern, st, prefix, b->hidden, b->cin, 1, used, err, errlen)))
            return -1;
    }
    const float *weight, *bias;
    snprintf(prefix, sizeof prefix, "features.%d.conv.%d.0", index, expand);
    if (find_conv(st, prefix, b->hidden, 1, 3, &weight, &bias, used, err, errlen))
        return -1;
    b->dw_weight = malloc((size_t) b->hidden * 9 * sizeof(float));
    b->dw_bias = malloc((size_t) b->hidden * sizeof(float));
    if (!b->dw_weight || !b->dw_bias) {
        fail(err, errlen, "%s: %s: out of memory", safetensors_path(st), prefix);
        return -1;
    }
    kernels_dw_reorder(weight, b->hidden, b->dw_weight);
    memcpy(b->dw_bias, bias, (size_t) b->hidden * sizeof(float));
    snprintf(prefix, sizeof prefix, "features.%d.conv.%d", index, expand + 1);
    b->project = load_pointwise(kern, st, prefix, b->cout, b->hidden, 1, used, err, errlen);
    return b->project ? 0 : -1;
}

static int load_weights(mobilenet_t *self, const safetensors_t *st, char *err, size_t errlen)
{
    int used = 0;
    const kernels_t *kern = self->kern;
    if (!(self->stem =
              load_pointwise(kern, st, "features.0.0", STEM_OUT, 3, 3, &used, err, errlen)))
        return -1;
    for (int i = 0; i < NBLOCKS; i++)
        if (load_block(kern, st, i + 1, &self->block[i], &used, err, errlen))
            return -1;
    if (!(self->head = load_pointwise(kern, st, "features.18.0", MOBILENET_FEATURES, HEAD_IN, 1,
                                      &used, err, errlen)))
        return -1;
    if (safetensors_count(st) != (size_t) used) {
        fail(err, errlen, "%s: %zu tensors, expected the %d of MobileNetV2", safetensors_path(st),
             safetensors_count(st), used);
        return -1;
    }
    return 0;
}

/* The bytes a band's ring and depthwise output may take: half the L2. Measured on a Zen 5
 * (1 MiB L2): half is as fast as a quarter with AVX2 and 7% faster with AVX-512, and
 * three quarters is no faster; a Zen 3's L2 is 512 KiB, an Arm Neoverse V2's 2 MiB. */
static size_t band_bytes(void)
{
    size_t l2 = cpu_cache_l2_bytes();
    if (l2 == 0)
        return BAND_BYTES_UNKNOWN_L2;
    size_t half = l2 / 2;
    return half < BAND_BYTES_MIN ? BAND_BYTES_MIN : half > BAND_BYTES_MAX ? BAND_BYTES_MAX : half;
}

/* Appends a stage of `flops` to the table and to the network's total. */
static void add_stage(mobilenet_t *self, int block, const char *what, double flops)
{
    mobilenet_stage_t *st = &self->stage[self->nstages];
    if (block)
        snprintf(st->name, sizeof st->name, "%d.%s", block, what);
    else
        snprintf(st->name, sizeof st->name, "%s", what);
    st->flops = flops;
    st->seconds = 0;
    self->flops += flops;
    self->nstages++;
}

/* Grids, band heights, stages with their flops, and buffer sizes for input side S. */
static void plan(mobilenet_t *self)
{
    int s = self->size;
    self->stem_h = out_side(s, 2);
    self->stem_w = out_side(s, 2);
    self->flops = 0;
    self->nstages = 0;
    add_stage(self, 0, "stem", 2.0 * self->stem_h * self->stem_w * 27 * STEM_OUT);
    self->act_floats = 0;
    self->ring_floats = self->dw_floats = 0;
    self->row_floats = (size_t) s * 3; /* the zero row stands for the stem's padding too */
    size_t band_limit = band_bytes();
    int h = self->stem_h, w = self->stem_w, c = STEM_OUT;
    for (int i = 0; i < NBLOCKS; i++) {
        block_t *b = &self->block[i];
        b->cin = c;
        b->hidden = c * blocks[i].expand;
        b->cout = blocks[i].cout;
        b->stride = blocks[i].stride;
        b->h = h, b->w = w;
        b->ho = out_side(h, b->stride), b->wo = out_side(w, b->stride);
        size_t in_row = (size_t) b->w * b->hidden, out_row = (size_t) b->wo * b->hidden;
        b->band = b->ho;
        for (;;) {
            b->ring_rows = imin((b->band - 1) * b->stride + 3, b->h);
            size_t bytes = (b->ring_rows * in_row + b->band * out_row) * sizeof(float);
            if (bytes <= band_limit || b->band == 1)
                break;
            b->band--;
        }
        if ((size_t) b->ring_rows * in_row > self->ring_floats)
            self->ring_floats = (size_t) b->ring_rows * in_row;
        if ((size_t) b->band * out_row > self->dw_floats)
            self->dw_floats = (size_t) b->band * out_row;
        if (in_row > self->row_floats)
            self->row_floats = in_row;
        if ((size_t) b->ho * b->wo * b->cout > self->act_floats)
            self->act_floats = (size_t) b->ho * b->wo * b->cout;
        b->stage = self->nstages;
        if (b->hidden != b->cin)
            add_stage(self, i + 1, "expand", 2.0 * h * w * b->cin * b->hidden);
        add_stage(self, i + 1, "depthwise", 2.0 * b->ho * b->wo * b->hidden * 9);
        add_stage(self, i + 1, "project", 2.0 * b->ho * b->wo * b->hidden * b->cout);
        h = b->ho, w = b->wo, c = b->cout;
    }
    self->head_h = h, self->head_w = w;
    add_stage(self, 0, "head", 2.0 * h * w * HEAD_IN * MOBILENET_FEATURES);
}

/* Every buffer one run writes, for the planned size, in one zeroed allocation; NULL (self
 * destroyed) when out of memory.
 *
 * Each buffer starts on a page of its own plus a skew, a multiple of 64 bytes below 512,
 * chosen so that each pair a kernel reads from and writes to starts at a different offset
 * modulo 512, and not 256 apart either (192, 576 or 960 channels move the offset by 256
 * from pixel to pixel): ring and depthwise output, depthwise output and block output, the
 * two activation buffers, activations and ring, the image (and zero row) and ring. On a
 * Zen 3, a depthwise pass whose input and output sat at the same offset modulo 512 ran
 * 1.5x slower (the 14 x 14 x 384 layer: 38.5 us, 25.5 us skewed), loads waiting on stores
 * to other addresses that look alike in their low bits; the rows of most layers are
 * multiples of 512 bytes, so every pixel of a page-aligned pair collided. */
static mobilenet_t *alloc_buffers(mobilenet_t *self, char *err, size_t errlen)
{
    enum { PAGE = 4096, NBUF = 7 };
    float **buf[NBUF] = {&self->input,  &self->act[0],   &self->act[1],  &self->ring,
                         &self->dw_out, &self->zero_row, &self->head_out};
    size_t floats[NBUF] = {(size_t) self->size * self->size * 3,
                           self->act_floats,
                           self->act_floats,
                           self->ring_floats,
                           self->dw_floats,
                           self->row_floats,
                           (size_t) self->head_h * self->head_w * MOBILENET_FEATURES};
    static const size_t skew[NBUF] = {448, 64, 192, 0, 128, 320, 384};
    size_t offset[NBUF], end = 0;
    for (int i = 0; i < NBUF; i++) {
        offset[i] = (end + PAGE - 1) / PAGE * PAGE + skew[i];
        end = offset[i] + floats[i] * sizeof(float);
    }
    self->buffers = aligned_alloc(PAGE, (end + PAGE - 1) / PAGE * PAGE);
    if (!self->buffers) {
        fail(err, errlen, "out of memory for the %dx%d network buffers", self->size, self->size);
        mobilenet_destroy(&self);
        return NULL;
    }
    memset(self->buffers, 0, end);
    for (int i = 0; i < NBUF; i++)
        *buf[i] = (float *) (self->buffers + offset[i]);
    return self;
}

mobilenet_t *mobilenet_new(const char *weights_path, int size, isa_t isa, char *err, size_t errlen)
{
    if (size < 1 || size > MOBILENET_MAX_SIZE) {
        fail(err, errlen, "input size %d is not in 1..%d", size, MOBILENET_MAX_SIZE);
        return NULL;
    }
    if (!isa_runs(isa)) {
        fail(err, errlen, "this CPU (%s) cannot run the %s kernels", isa_cpu_flags(),
             isa_name(isa));
        return NULL;
    }
    mobilenet_t *self = calloc(1, sizeof *self);
    if (!self) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    self->size = size;
    self->kern = kernels_get(isa);
    plan(self);
    safetensors_t *st = safetensors_open(weights_path, err, errlen);
    int rc = st ? load_weights(self, st, err, errlen) : -1;
    safetensors_destroy(&st);
    if (rc) {
        mobilenet_destroy(&self);
        return NULL;
    }
    return alloc_buffers(self, err, errlen);
}

mobilenet_t *mobilenet_share(const mobilenet_t *model, char *err, size_t errlen)
{
    mobilenet_t *self = malloc(sizeof *self);
    if (!self) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    *self = *model; /* plan and weight pointers; the buffers are replaced below */
    self->buffers = NULL;
    self->shares_weights = 1;
    self->timing = false;
    for (int i = 0; i < self->nstages; i++)
        self->stage[i].seconds = 0;
    return alloc_buffers(self, err, errlen);
}

void mobilenet_destroy(mobilenet_t **self_p)
{
    mobilenet_t *self = *self_p;
    if (!self)
        return;
    if (!self->shares_weights) {
        kernels_pw_destroy(&self->stem);
        for (int i = 0; i < NBLOCKS; i++) {
            kernels_pw_destroy(&self->block[i].expand);
            free(self->block[i].dw_weight);
            free(self->block[i].dw_bias);
            kernels_pw_destroy(&self->block[i].project);
        }
        kernels_pw_destroy(&self->head);
    }
    free(self->buffers);
    free(self);
    *self_p = NULL;
}

float *mobilenet_input(mobilenet_t *self)
{
    return self->input;
}

int mobilenet_size(const mobilenet_t *self)
{
    return self->size;
}

isa_t mobilenet_isa(const mobilenet_t *self)
{
    return kernels_isa(self->kern);
}

double mobilenet_flops(const mobilenet_t *self)
{
    return self->flops;
}

void mobilenet_time_stages(mobilenet_t *self)
{
    self->timing = true;
    for (int i = 0; i < self->nstages; i++)
        self->stage[i].seconds = 0;
}

const mobilenet_stage_t *mobilenet_stages(const mobilenet_t *self, int *n)
{
    *n = self->nstages;
    return self->stage;
}

/* A stage's start time, when stages are timed (else 0, and no clock is read). */
static double stage_start(const mobilenet_t *self)
{
    return self->timing ? clock_seconds() : 0;
}

static void stage_stop(mobilenet_t *self, int stage, double start)
{
    if (self->timing)
        self->stage[stage].seconds += clock_seconds() - start;
}

/* Stem output rows [from, to), from the input image, into block 1's ring slots. */
static void stem_rows(mobilenet_t *self, const block_t *b, int from, int to)
{
    size_t in_row = (size_t) self->size * 3, ring_row = (size_t) b->w * b->hidden;
    for (int y = from; y < to; y++) {
        const float *rows[3];
        for (int r = 0; r < 3; r++) {
            int iy = 2 * y - 1 + r;
            rows[r] = iy >= 0 && iy < self->size ? self->input + iy * in_row : self->zero_row;
        }
        kernels_stem_row(rows, self->size, self->stem, self->ring + (y % b->ring_rows) * ring_row);
    }
}

/* Expanded rows [from, to) of the block input into their ring slots (row y in slot
 * y % ring_rows), one GEMM per contiguous run of slots. */
static void expand_rows(mobilenet_t *self, const block_t *b, const float *in, int from, int to)
{
    size_t ring_row = (size_t) b->w * b->hidden;
    while (from < to) {
        int slot = from % b->ring_rows, n = imin(to - from, b->ring_rows - slot);
        kernels_conv1x1(in + (size_t) from * b->w * b->cin, n * b->w, b->expand, 1, NULL,
                        self->ring + slot * ring_row);
        from += n;
    }
}

/* Input row iy of the depthwise conv: its ring slot, or the zero row outside the image. */
static const float *dw_input_row(const mobilenet_t *self, const block_t *b, int iy)
{
    if (iy < 0 || iy >= b->h)
        return self->zero_row;
    return self->ring + (size_t) (iy % b->ring_rows) * b->w * b->hidden;
}

/* One block, from `in` (the image for block 1, whose ring the stem fills) to `out`. */
static void run_block(mobilenet_t *self, const block_t *b, const float *in, float *out)
{
    int residual = b->stride == 1 && b->cin == b->cout;
    int dw_stage = b->stage + (b->expand != NULL);
    int filled = 0; /* ring rows [0, filled) have been computed */
    size_t dw_row = (size_t) b->wo * b->hidden, out_row = (size_t) b->wo * b->cout;
    for (int o0 = 0; o0 < b->ho; o0 += b->band) {
        int o1 = imin(o0 + b->band, b->ho);
        int need = imin((o1 - 1) * b->stride + 2, b->h);
        double start = stage_start(self);
        if (b->expand) {
            expand_rows(self, b, in, filled, need);
            stage_stop(self, b->stage, start);
        } else {
            stem_rows(self, b, filled, need);
            stage_stop(self, 0, start);
        }
        filled = need;
        start = stage_start(self);
        for (int y = o0; y < o1; y += KERNELS_DW_ROWS) { /* the last call maybe fewer */
            int n = imin(KERNELS_DW_ROWS, o1 - y);
            const float *rows[(KERNELS_DW_ROWS - 1) * 2 + 3];
            float *outs[KERNELS_DW_ROWS];
            for (int r = 0; r < (n - 1) * b->stride + 3; r++)
                rows[r] = dw_input_row(self, b, y * b->stride - 1 + r);
            for (int i = 0; i < n; i++)
                outs[i] = self->dw_out + (y + i - o0) * dw_row;
            kernels_dw3x3_rows(self->kern, rows, n, b->w, b->hidden, b->stride, b->dw_weight,
                               b->dw_bias, outs);
        }
        stage_stop(self, dw_stage, start);
        start = stage_start(self);
        kernels_conv1x1(self->dw_out, (o1 - o0) * b->wo, b->project, 0,
                        residual ? in + o0 * out_row : NULL, out + o0 * out_row);
        stage_stop(self, dw_stage + 1, start);
    }
}

void mobilenet_run(mobilenet_t *self, float *features)
{
    const float *in = self->input;
    for (int i = 0; i < NBLOCKS; i++) {
        run_block(self, &self->block[i], in, self->act[i % 2]);
        in = self->act[i % 2];
    }
    int m = self->head_h * self->head_w;
    double start = stage_start(self);
    kernels_conv1x1(in, m, self->head, 1, NULL, self->head_out);
    kernels_avgpool(self->kern, self->head_out, m, MOBILENET_FEATURES, features);
    stage_stop(self, self->nstages - 1, start);
}
