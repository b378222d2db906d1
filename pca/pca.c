/* pca.c -- online PCA that equals batch PCA of every vector seen, to float rounding.
 *
 * Running sums. A pca_t keeps, in double precision, the number n of merged vectors, their
 * mean m and their co-moment M2 = sum_i (x_i - m)(x_i - m)^T (a dim x dim matrix of which
 * only the upper triangle, in row-major order, is kept up to date). Nothing else about past
 * vectors is stored, so memory is O(dim^2) whatever the length of the stream.
 *
 * Merging. pca_add copies incoming rows into a block buffer of PCA_BLOCK rows; whenever the
 * buffer is full (or, when it is empty, straight from the caller's rows) a block of b rows is
 * merged with Chan, Golub & LeVeque's pairwise update:
 *     mb = mean of the block (double),      delta = mb - m,      n' = n + b,
 *     M2' = M2 + Xc^T Xc + delta delta^T * n b / n',     m' = m + delta * b / n',
 * where Xc holds the block's rows centred on mb. The two products are one rank-k update
 * (syrk.h, on the instruction set the options name) of the (b + 1) x dim matrix
 * [Xc; sqrt(n b / n') delta^T] into M2. Centring on the block's own mean before multiplying
 * is what keeps this stable: no sum of squares of raw values is ever formed, so a large mean
 * does not cancel catastrophically, and the rank-1 correction is the exact algebraic
 * identity for pooling two groups' co-moments. The update sums Xc^T Xc in float (the
 * sink's one large cost, at twice the double rate) and adds it, and the correction, to M2 in
 * double: each block's sums carry float rounding, about 1e-7 of them, which does not grow
 * with the stream, since M2 and the mean accumulate in double (syrk.h).
 * Block boundaries fall at every PCA_BLOCK-th vector counted from the first, whatever the
 * caller's batch sizes, so the sums (and the model) are bit-identical however the stream is
 * batched (on one instruction set; another rounds differently). Pending rows are not lost:
 * pca_count and pca_state_* include them, and pca_refresh merges them first, so every
 * getter reflects every vector added.
 *
 * Model. pca_refresh forms the covariance C = M2 / (n - 1) (or, with `standardize`, the
 * correlation matrix D C D with D = diag(1/sqrt(C_jj)); a feature of zero variance gets
 * scale 1 as in scikit-learn's StandardScaler: its centred values are all exactly zero, so it
 * adds nothing to the model either way). The total variance is the trace. Then LAPACK:
 * dsytrd reduces C to tridiagonal T = Q^T C Q once; dsterf gives all eigenvalues of T in
 * O(dim^2), which fixes k (given, or the smallest k whose cumulative explained variance
 * reaches `variance`); dstemr computes only the top k eigenvectors of T (MRRR), and dormtr
 * applies Q to them. This is exactly what LAPACKE_dsyevr does with range 'I', minus a
 * second reduction when k depends on the spectrum, so the model is batch PCA of these sums.
 * Eigenvalues are reported from dsterf, the same numbers the choice of k was made on.
 *
 * Signs. An eigenvector is defined only up to sign; each axis is flipped so that its entry
 * of largest magnitude is positive (the first such entry on ties), so that refreshes agree.
 *
 * Checkpoint format (all integers and doubles little-endian, IEEE-754):
 *     offset  0  8 bytes  magic "FSPCASUM"
 *             8  u32      format version (1)
 *            12  u32      dim
 *            16  i64      n, vectors merged into the sums
 *            24  u32      p, pending (not yet merged) rows, p < PCA_BLOCK
 *            28  u32      0 (reserved)
 *            32  u64      payload length in bytes
 *            40  u64      FNV-1a 64 of bytes 0..39 followed by the payload
 *            48  payload: mean (dim f64), upper triangle of M2 row by row
 *                         (dim (dim + 1) / 2 f64), then the p pending rows (p x dim f32).
 * Pending rows are stored as they came, so restoring and continuing reproduces the
 * uninterrupted computation bit for bit. */
#include "pca/pca.h"
#include "pca/syrk.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCA_BLOCK 256
#define STATE_MAGIC "FSPCASUM"
#define STATE_VERSION 1u
#define STATE_HEADER 48

struct pca_t {
    pca_options_t options;
    int dim;
    int64_t n;      /* vectors merged into mean and m2 */
    double *mean;   /* dim */
    double *m2;     /* dim x dim, upper triangle valid */
    float *pending; /* PCA_BLOCK x dim rows not merged yet */
    int npending;
    double *block_mean; /* dim, the merge's scratch: the block's mean */
    double *correction; /* dim, and sqrt(n b / n') delta */
    float *packed;      /* the block centred, as syrk_centred_add packs it */

    /* The model of the last successful refresh. */
    uint64_t version;
    int k;
    double *model_mean;  /* dim */
    double *model_scale; /* dim, or NULL without standardisation */
    double *axes;        /* k x dim */
    float *axes_f;       /* the same in float, what projections multiply (sgemm) */
    double *eigenvalues; /* k */
    double *ratios;      /* k */
    double total_variance;
};

pca_t *pca_new(const pca_options_t *options)
{
    if (!options || options->dim <= 0 || options->k < 0 || options->k > options->dim)
        return NULL;
    if (options->k == 0 && !(options->variance > 0 && options->variance <= 1))
        return NULL;
    if (!isa_runs(options->isa))
        return NULL;
    pca_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    size_t dim = (size_t) options->dim;
    self->options = *options;
    self->dim = options->dim;
    self->mean = calloc(dim, sizeof *self->mean);
    self->m2 = calloc(dim * dim, sizeof *self->m2);
    self->pending = malloc(PCA_BLOCK * dim * sizeof *self->pending);
    self->block_mean = malloc(dim * sizeof *self->block_mean);
    self->correction = malloc(dim * sizeof *self->correction);
    self->packed = malloc(syrk_pack_size(options->dim, PCA_BLOCK) * sizeof *self->packed);
    if (!self->mean || !self->m2 || !self->pending || !self->block_mean || !self->correction ||
        !self->packed)
        pca_destroy(&self);
    return self;
}

static void free_model(pca_t *self)
{
    free(self->model_mean);
    free(self->model_scale);
    free(self->axes);
    free(self->axes_f);
    free(self->eigenvalues);
    free(self->ratios);
}

void pca_destroy(pca_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pca_t *self = *self_p;
    free(self->mean);
    free(self->m2);
    free(self->pending);
    free(self->block_mean);
    free(self->correction);
    free(self->packed);
    free_model(self);
    free(self);
    *self_p = NULL;
}

pca_t *pca_snapshot(const pca_t *self, uint64_t version)
{
    pca_t *copy = pca_new(&self->options);
    if (!copy)
        return NULL;
    size_t dim = (size_t) self->dim;
    copy->n = self->n;
    copy->npending = self->npending;
    copy->version = version;
    memcpy(copy->mean, self->mean, dim * sizeof *copy->mean);
    memcpy(copy->m2, self->m2, dim * dim * sizeof *copy->m2);
    memcpy(copy->pending, self->pending, (size_t) self->npending * dim * sizeof *copy->pending);
    return copy;
}

/* Merges b rows into the sums (Chan et al.; see the top of the file). */
static void merge_block(pca_t *self, const float *rows, int b)
{
    size_t dim = (size_t) self->dim;
    double *mb = self->block_mean, *corr = self->correction;
    for (size_t j = 0; j < dim; j++)
        mb[j] = 0;
    for (int i = 0; i < b; i++)
        for (size_t j = 0; j < dim; j++)
            mb[j] += rows[(size_t) i * dim + j];
    for (size_t j = 0; j < dim; j++)
        mb[j] /= b;

    double n_a = (double) self->n, n_new = n_a + b;
    double w = sqrt(n_a * b / n_new);
    for (size_t j = 0; j < dim; j++) {
        double d = mb[j] - self->mean[j];
        self->mean[j] += d * (b / n_new);
        corr[j] = w * d;
    }
    syrk_centred_add(self->options.isa, self->dim, b, rows, mb, self->n > 0 ? corr : NULL, self->m2,
                     self->packed);
    self->n += b;
}

static void flush(pca_t *self)
{
    if (self->npending > 0)
        merge_block(self, self->pending, self->npending);
    self->npending = 0;
}

int pca_row_check(const void *row, int dim)
{
    const unsigned char *bytes = row;
    for (int i = 0; i < dim; i++) {
        float v;
        memcpy(&v, bytes + (size_t) i * sizeof v, sizeof v);
        if (!(fabsf(v) <= PCA_VALUE_MAX)) /* NaN fails every comparison */
            return i;
    }
    return -1;
}

void pca_add(pca_t *self, const float *rows, size_t n)
{
    size_t dim = (size_t) self->dim;
    while (n > 0) {
        if (self->npending == 0 && n >= PCA_BLOCK) {
            merge_block(self, rows, PCA_BLOCK);
            rows += PCA_BLOCK * dim;
            n -= PCA_BLOCK;
            continue;
        }
        size_t take = (size_t) (PCA_BLOCK - self->npending);
        if (take > n)
            take = n;
        memcpy(self->pending + (size_t) self->npending * dim, rows, take * dim * sizeof *rows);
        self->npending += (int) take;
        rows += take * dim;
        n -= take;
        if (self->npending == PCA_BLOCK)
            flush(self);
    }
}

/* Flips each of the k rows of axes so that its largest-magnitude entry is positive. */
static void fix_signs(double *axes, int k, int dim)
{
    for (int i = 0; i < k; i++) {
        double *a = axes + (size_t) i * dim;
        int best = 0;
        for (int j = 1; j < dim; j++)
            if (fabs(a[j]) > fabs(a[best]))
                best = j;
        if (a[best] < 0)
            for (int j = 0; j < dim; j++)
                a[j] = -a[j];
    }
}

/* The number of leading eigenvalues (of `desc`, descending) the options ask for. */
static int choose_k(const pca_options_t *o, const double *desc, int dim, double total)
{
    if (o->k > 0)
        return o->k;
    double target = o->variance * total, sum = 0;
    for (int i = 0; i < dim; i++) {
        sum += desc[i];
        if (sum >= target)
            return i + 1;
    }
    return dim; /* rounding kept the sum just below a target of 100% */
}

int pca_refresh(pca_t *self)
{
    flush(self);
    if (self->n < 2)
        return -1;
    int dim = self->dim, k = 0;
    size_t d = (size_t) dim;
    int ok = 0;
    /* Workspace: the covariance (column-major lower == row-major upper), T's diagonal and
     * off-diagonal twice (dstemr destroys its copy), tau, all eigenvalues (dsterf, then
     * descending), dstemr's eigenvalue array (dim long: it is also its workspace; the
     * reported eigenvalues are dsterf's, equal to rounding, the numbers k was chosen on). */
    double *c = malloc(d * d * sizeof *c);
    double *work = malloc(7 * d * sizeof *work);
    double *mean = malloc(d * sizeof *mean);
    double *scale = self->options.standardize ? malloc(d * sizeof *scale) : NULL;
    double *axes = NULL, *values = NULL, *ratios = NULL, *z = NULL;
    float *axes_f = NULL;
    lapack_int *isuppz = NULL;
    if (!c || !work || !mean || (self->options.standardize && !scale))
        goto done;
    double *diag = work, *off = work + d, *diag2 = work + 2 * d, *off2 = work + 3 * d;
    double *tau = work + 4 * d, *all = work + 5 * d, *w = work + 6 * d;

    double inv = 1.0 / (double) (self->n - 1);
    for (size_t i = 0; i < d; i++)
        for (size_t j = i; j < d; j++)
            c[i * d + j] = self->m2[i * d + j] * inv;
    if (scale) {
        for (size_t i = 0; i < d; i++)
            scale[i] = c[i * d + i] > 0 ? 1.0 / sqrt(c[i * d + i]) : 1.0;
        for (size_t i = 0; i < d; i++)
            for (size_t j = i; j < d; j++)
                c[i * d + j] *= scale[i] * scale[j];
    }
    double total = 0;
    for (size_t i = 0; i < d; i++)
        total += c[i * d + i];
    memcpy(mean, self->mean, d * sizeof *mean);

    if (LAPACKE_dsytrd(LAPACK_COL_MAJOR, 'L', dim, c, dim, diag, off, tau) != 0)
        goto done;
    memcpy(all, diag, d * sizeof *all);
    memcpy(off2, off, d * sizeof *off2);
    if (LAPACKE_dsterf(dim, all, off2) != 0) /* ascending */
        goto done;
    for (size_t i = 0; i < d / 2; i++) {
        double t = all[i];
        all[i] = all[d - 1 - i];
        all[d - 1 - i] = t;
    }
    k = choose_k(&self->options, all, dim, total);

    axes = malloc((size_t) k * d * sizeof *axes);
    axes_f = malloc((size_t) k * d * sizeof *axes_f);
    z = malloc((size_t) k * d * sizeof *z);
    values = malloc((size_t) k * sizeof *values);
    ratios = malloc((size_t) k * sizeof *ratios);
    isuppz = malloc(2 * (size_t) k * sizeof *isuppz);
    if (!axes || !axes_f || !z || !values || !ratios || !isuppz)
        goto done;
    memcpy(diag2, diag, d * sizeof *diag2);
    memcpy(off2, off, d * sizeof *off2);
    lapack_int found = 0;
    lapack_logical tryrac = 1;
    if (LAPACKE_dstemr(LAPACK_COL_MAJOR, 'V', 'I', dim, diag2, off2, 0, 0, dim - k + 1, dim, &found,
                       w, z, dim, k, isuppz, &tryrac) != 0 ||
        found != k)
        goto done;
    if (LAPACKE_dormtr(LAPACK_COL_MAJOR, 'L', 'L', 'N', dim, k, c, dim, tau, z, dim) != 0)
        goto done;
    for (int i = 0; i < k; i++) { /* column k-1-i of z (ascending) is axis i */
        memcpy(axes + (size_t) i * d, z + (size_t) (k - 1 - i) * d, d * sizeof *axes);
        values[i] = all[i];
        ratios[i] = total > 0 ? all[i] / total : 0;
    }
    fix_signs(axes, k, dim);
    for (size_t i = 0; i < (size_t) k * d; i++)
        axes_f[i] = (float) axes[i];

    free_model(self);
    self->model_mean = mean;
    self->model_scale = scale;
    self->axes = axes;
    self->axes_f = axes_f;
    self->eigenvalues = values;
    self->ratios = ratios;
    self->total_variance = total;
    self->k = k;
    self->version++;
    mean = scale = axes = values = ratios = NULL;
    axes_f = NULL;
    ok = 1;
done:
    free(c);
    free(work);
    free(mean);
    free(scale);
    free(axes);
    free(axes_f);
    free(values);
    free(ratios);
    free(z);
    free(isuppz);
    return ok ? 0 : -1;
}

int64_t pca_count(const pca_t *self)
{
    return self->n + self->npending;
}
uint64_t pca_version(const pca_t *self)
{
    return self->version;
}
void pca_set_version(pca_t *self, uint64_t version)
{
    self->version = version;
}
int pca_k(const pca_t *self)
{
    return self->k;
}
const pca_options_t *pca_options(const pca_t *self)
{
    return &self->options;
}
const double *pca_mean(const pca_t *self)
{
    return self->model_mean;
}
const double *pca_scale(const pca_t *self)
{
    return self->model_scale;
}
const double *pca_axes(const pca_t *self)
{
    return self->axes;
}
const double *pca_eigenvalues(const pca_t *self)
{
    return self->eigenvalues;
}
const double *pca_variance_ratios(const pca_t *self)
{
    return self->ratios;
}
double pca_total_variance(const pca_t *self)
{
    return self->total_variance;
}

/* rows (n x dim floats) -> y, centred (and scaled) in double, where a large mean cannot
 * cancel the digits that matter, then rounded to the float the sgemm multiplies. */
static void centre_rows(const double *mean, const double *scale, size_t d, const float *rows,
                        size_t n, float *y)
{
    for (size_t i = 0; i < n; i++, rows += d, y += d)
        if (scale)
            for (size_t j = 0; j < d; j++)
                y[j] = (float) ((rows[j] - mean[j]) * scale[j]);
        else
            for (size_t j = 0; j < d; j++)
                y[j] = (float) (rows[j] - mean[j]);
}

int pca_project_rows(const double *mean, const double *scale, const float *axes, int k, int dim,
                     const float *rows, size_t n, float *out)
{
    size_t d = (size_t) dim, chunk = n < PCA_BLOCK ? n : PCA_BLOCK;
    float *y = malloc(chunk * d * sizeof *y + 1);
    if (!y)
        return -1;
    for (size_t at = 0; at < n; at += chunk) {
        size_t m = n - at < chunk ? n - at : chunk;
        centre_rows(mean, scale, d, rows + at * d, m, y);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) m, k, dim, 1.0f, y, dim, axes,
                    dim, 0.0f, out + at * (size_t) k, k);
    }
    free(y);
    return 0;
}

int pca_project_many(const pca_t *self, const float *rows, size_t n, float *out)
{
    if (self->k == 0)
        return -1;
    return pca_project_rows(self->model_mean, self->model_scale, self->axes_f, self->k, self->dim,
                            rows, n, out);
}

void pca_project(const pca_t *self, const float *x, float *out)
{
    /* sgemv: sgemm packs all k x dim axes for one row (bench_pca on a Zen 3, k = 128: 64 us
     * against 18). */
    float *y = self->k ? malloc((size_t) self->dim * sizeof *y) : NULL;
    if (!y) {
        for (int i = 0; i < self->k; i++)
            out[i] = NAN;
        return;
    }
    centre_rows(self->model_mean, self->model_scale, (size_t) self->dim, x, 1, y);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, self->k, self->dim, 1.0f, self->axes_f, self->dim, y,
                1, 0.0f, out, 1);
    free(y);
}

/* ---- checkpoints ---- */

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#define FNV_OFFSET 0xcbf29ce484222325ull

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char) (v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char) (v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t) p[i] << (8 * i);
    return v;
}
static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t) p[i] << (8 * i);
    return v;
}
static void put_f64(unsigned char *p, double x)
{
    uint64_t v;
    memcpy(&v, &x, sizeof v);
    put_u64(p, v);
}
static double get_f64(const unsigned char *p)
{
    uint64_t v = get_u64(p);
    double x;
    memcpy(&x, &v, sizeof x);
    return x;
}

static size_t payload_size(size_t dim, size_t pending)
{
    return 8 * dim + 8 * (dim * (dim + 1) / 2) + 4 * pending * dim;
}

size_t pca_state_size(const pca_t *self)
{
    return STATE_HEADER + payload_size((size_t) self->dim, (size_t) self->npending);
}

void pca_state_write(const pca_t *self, void *buffer)
{
    unsigned char *b = buffer, *p = b + STATE_HEADER;
    size_t d = (size_t) self->dim;
    size_t payload = payload_size(d, (size_t) self->npending);
    memcpy(b, STATE_MAGIC, 8);
    put_u32(b + 8, STATE_VERSION);
    put_u32(b + 12, (uint32_t) self->dim);
    put_u64(b + 16, (uint64_t) self->n);
    put_u32(b + 24, (uint32_t) self->npending);
    put_u32(b + 28, 0);
    put_u64(b + 32, payload);
    for (size_t j = 0; j < d; j++, p += 8)
        put_f64(p, self->mean[j]);
    for (size_t i = 0; i < d; i++)
        for (size_t j = i; j < d; j++, p += 8)
            put_f64(p, self->m2[i * d + j]);
    for (size_t i = 0; i < (size_t) self->npending * d; i++, p += 4) {
        uint32_t v;
        memcpy(&v, &self->pending[i], sizeof v);
        put_u32(p, v);
    }
    uint64_t h = fnv1a(FNV_OFFSET, b, 40);
    put_u64(b + 40, fnv1a(h, b + STATE_HEADER, payload));
}

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    int n = snprintf(err, errlen, "pca checkpoint: ");
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t) n < errlen)
        vsnprintf(err + n, errlen - (size_t) n, fmt, ap);
    va_end(ap);
}

pca_t *pca_state_read(const void *buffer, size_t len, const pca_options_t *options, char *err,
                      size_t errlen)
{
    const unsigned char *b = buffer;
    if (!buffer || len < STATE_HEADER) {
        fail(err, errlen, "truncated: %zu bytes, the header alone is %d", len, STATE_HEADER);
        return NULL;
    }
    if (memcmp(b, STATE_MAGIC, 8) != 0) {
        fail(err, errlen, "bad magic (not a PCA checkpoint)");
        return NULL;
    }
    uint32_t version = get_u32(b + 8), dim = get_u32(b + 12), npending = get_u32(b + 24);
    uint64_t n = get_u64(b + 16), payload = get_u64(b + 32);
    if (version != STATE_VERSION) {
        fail(err, errlen, "format version %u, expected %u", version, STATE_VERSION);
        return NULL;
    }
    if (!options || dim != (uint32_t) options->dim) {
        fail(err, errlen, "dim %u does not match the configured dim %d", dim,
             options ? options->dim : 0);
        return NULL;
    }
    if (npending >= PCA_BLOCK || n > (uint64_t) INT64_MAX) {
        fail(err, errlen, "corrupt header (count %llu, pending %u)", (unsigned long long) n,
             npending);
        return NULL;
    }
    size_t expect = payload_size(dim, npending);
    if (payload != expect) {
        fail(err, errlen, "payload length %llu, expected %zu for dim %u",
             (unsigned long long) payload, expect, dim);
        return NULL;
    }
    if (len != STATE_HEADER + expect) {
        fail(err, errlen, "%s: %zu bytes, expected %zu",
             len < STATE_HEADER + expect ? "truncated" : "trailing bytes", len,
             STATE_HEADER + expect);
        return NULL;
    }
    uint64_t h = fnv1a(fnv1a(FNV_OFFSET, b, 40), b + STATE_HEADER, expect);
    if (h != get_u64(b + 40)) {
        fail(err, errlen, "checksum mismatch (corrupt data)");
        return NULL;
    }
    pca_t *self = pca_new(options);
    if (!self) {
        fail(err, errlen, "invalid options or out of memory");
        return NULL;
    }
    const unsigned char *p = b + STATE_HEADER;
    size_t d = dim;
    self->n = (int64_t) n;
    self->npending = (int) npending;
    for (size_t j = 0; j < d; j++, p += 8)
        self->mean[j] = get_f64(p);
    for (size_t i = 0; i < d; i++)
        for (size_t j = i; j < d; j++, p += 8)
            self->m2[i * d + j] = get_f64(p);
    for (size_t i = 0; i < npending * d; i++, p += 4) {
        uint32_t v = get_u32(p);
        memcpy(&self->pending[i], &v, sizeof v);
    }
    return self;
}
