/* test_pca.c -- the online PCA against a two-pass batch PCA computed here.
 *
 * The reference: mean and covariance (n - 1) of the same float vectors in double with plain
 * loops, then every eigenpair with LAPACKE_dsyev, signs fixed by the same rule as pca.c.
 * Data: a synthetic Gaussian with a known spectrum (random orthogonal axes, a large mean,
 * well-separated eigenvalues plus near-degenerate pairs), and the real MobileNetV2 features of
 * ../shared/reference, both fed in shuffled order and uneven batches. Each comparison prints
 * its measured errors on a `#` line. The merges run on the best instruction set this CPU
 * has; test_syrk holds every set's rank-k update to the error bound of its float sums. */
#include "pca/pca.h"
#include "tests/test.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

/* ---- random numbers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_uniform(void)
{
    return ((double) (rng_next() >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_gauss(void)
{
    return sqrt(-2 * log(rng_uniform())) * cos(6.283185307179586 * rng_uniform());
}

static void shuffle_rows(float *x, int n, int d)
{
    float *t = malloc((size_t) d * sizeof *t);
    for (int i = n - 1; i > 0; i--) {
        int j = (int) (rng_next() % (uint64_t) (i + 1));
        memcpy(t, x + (size_t) i * d, (size_t) d * sizeof *t);
        memcpy(x + (size_t) i * d, x + (size_t) j * d, (size_t) d * sizeof *t);
        memcpy(x + (size_t) j * d, t, (size_t) d * sizeof *t);
    }
    free(t);
}

/* n x d floats: mean + Q diag(sqrt(lambda)) z with Q a random orthogonal matrix (QR of a
 * Gaussian), z standard normal; `lambda` has d entries. */
static float *synthetic(int n, int d, const double *lambda, double mean_level)
{
    size_t dd = (size_t) d;
    double *q = malloc(dd * dd * sizeof *q), *tau = malloc(dd * sizeof *tau);
    double *z = malloc((size_t) n * dd * sizeof *z), *x = malloc((size_t) n * dd * sizeof *x);
    double *mu = malloc(dd * sizeof *mu);
    float *out = malloc((size_t) n * dd * sizeof *out);
    for (size_t i = 0; i < dd * dd; i++)
        q[i] = rng_gauss();
    LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, d, d, q, d, tau);
    LAPACKE_dorgqr(LAPACK_ROW_MAJOR, d, d, d, q, d, tau);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            z[(size_t) i * dd + j] = rng_gauss() * sqrt(lambda[j]);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, d, d, 1.0, z, d, q, d, 0.0, x, d);
    for (int j = 0; j < d; j++)
        mu[j] = mean_level * (1 + rng_uniform());
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            out[(size_t) i * dd + j] = (float) (x[(size_t) i * dd + j] + mu[j]);
    free(q);
    free(tau);
    free(z);
    free(x);
    free(mu);
    return out;
}

/* A spectrum decaying 40x over d/3 indices (consecutive gaps ~1% or more), with pairs of
 * eigenvalues 1e-4 apart at a few places. */
static double *spectrum(int d)
{
    double *l = malloc((size_t) d * sizeof *l);
    for (int i = 0; i < d; i++)
        l[i] = 40.0 * exp(-i * 3.7 / (d / 3.0)) + 0.05;
    for (int i = 6; i + 1 < d; i += 23)
        l[i + 1] = l[i] * (1 - 1e-4);
    return l;
}

/* Feeds rows to pca in batches cycling through uneven sizes. */
static void feed(pca_t *pca, const float *x, int n, int d)
{
    static const int sizes[] = {1, 7, 300, 2, 61, 256, 1000, 13};
    int at = 0;
    for (int s = 0; at < n; s++) {
        int b = sizes[s % 8];
        if (b > n - at)
            b = n - at;
        pca_add(pca, x + (size_t) at * d, (size_t) b);
        at += b;
    }
}

/* ---- the batch reference ---- */

typedef struct {
    int n, d;             /* n rows of d */
    double *mean, *scale; /* scale NULL unless standardized */
    double *values;       /* d, descending */
    double *axes;         /* d x d, row i = axis i */
    double total;
} batch_t;

/* The index of a's largest-magnitude entry (the first on ties). */
static int argmax_abs(const double *a, int d)
{
    int best = 0;
    for (int j = 1; j < d; j++)
        if (fabs(a[j]) > fabs(a[best]))
            best = j;
    return best;
}

static void fix_sign(double *a, int d)
{
    if (a[argmax_abs(a, d)] < 0)
        for (int j = 0; j < d; j++)
            a[j] = -a[j];
}

static void batch_pca(const float *x, int n, int d, bool standardize, batch_t *b)
{
    size_t dd = (size_t) d;
    b->n = n;
    b->d = d;
    b->mean = calloc(dd, sizeof *b->mean);
    b->scale = standardize ? malloc(dd * sizeof *b->scale) : NULL;
    b->values = malloc(dd * sizeof *b->values);
    b->axes = malloc(dd * dd * sizeof *b->axes);
    double *c = calloc(dd * dd, sizeof *c), *y = malloc(dd * sizeof *y);
    double *w = malloc(dd * sizeof *w);
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < dd; j++)
            b->mean[j] += x[(size_t) i * dd + j];
    for (size_t j = 0; j < dd; j++)
        b->mean[j] /= n;
    for (int i = 0; i < n; i++) {
        for (size_t j = 0; j < dd; j++)
            y[j] = x[(size_t) i * dd + j] - b->mean[j];
        for (size_t r = 0; r < dd; r++)
            for (size_t s = r; s < dd; s++)
                c[r * dd + s] += y[r] * y[s];
    }
    for (size_t r = 0; r < dd; r++)
        for (size_t s = r; s < dd; s++)
            c[r * dd + s] /= (n - 1);
    if (standardize) { /* the covariance of (x - mean) / std, i.e. the correlation matrix */
        for (size_t r = 0; r < dd; r++)
            b->scale[r] = c[r * dd + r] > 0 ? 1 / sqrt(c[r * dd + r]) : 1;
        for (size_t r = 0; r < dd; r++)
            for (size_t s = r; s < dd; s++)
                c[r * dd + s] *= b->scale[r] * b->scale[s];
    }
    b->total = 0;
    for (size_t r = 0; r < dd; r++)
        b->total += c[r * dd + r];
    LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'U', d, c, d, w); /* ascending, vectors in columns */
    for (int i = 0; i < d; i++) {
        b->values[i] = w[d - 1 - i];
        for (int j = 0; j < d; j++)
            b->axes[(size_t) i * dd + j] = c[(size_t) j * dd + (d - 1 - i)];
        fix_sign(b->axes + (size_t) i * dd, d);
    }
    free(c);
    free(y);
    free(w);
}

static void batch_free(batch_t *b)
{
    free(b->mean);
    free(b->scale);
    free(b->values);
    free(b->axes);
}

static int batch_k_for(const batch_t *b, double variance)
{
    double sum = 0;
    for (int i = 0; i < b->d; i++)
        if ((sum += b->values[i]) >= variance * b->total)
            return i + 1;
    return b->d;
}

/* sin of the largest principal angle between the row spaces of a and b (k x d, orthonormal
 * rows): the 2-norm of a's rows minus their projection on b's row space. */
static double subspace_sin(const double *a, const double *b, int k, int d)
{
    double *m = malloc((size_t) k * k * sizeof *m), *r = malloc((size_t) k * d * sizeof *r);
    double *s = malloc((size_t) k * sizeof *s), *sup = malloc((size_t) k * sizeof *sup);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, k, k, d, 1.0, a, d, b, d, 0.0, m, k);
    memcpy(r, a, (size_t) k * d * sizeof *r);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, d, k, -1.0, m, k, b, d, 1.0, r, d);
    LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', k, d, r, d, s, NULL, 1, NULL, 1, sup);
    double out = s[0];
    free(m);
    free(r);
    free(s);
    free(sup);
    return out;
}

static double dot(const double *a, const double *b, int d)
{
    double s = 0;
    for (int j = 0; j < d; j++)
        s += a[j] * b[j];
    return s;
}

/* The merges sum each block's products in float (pca/syrk.h), so the sums, and the total
 * variance, eigenvalues, ratios and scales made of them, carry float rounding where merges in
 * double agreed with the batch reference to 1e-9 and better. Measured here (the `#` lines,
 * a Zen 5's AVX-512 path): total variance 5.6e-9 relative at most, eigenvalues and ratios
 * 3.3e-7, scales 1.5e-7, projections per axis 1.6e-6 of their length. The bound leaves room
 * for other data and other CPUs' orders; what it is there to catch, a row merged twice or
 * left out, a block centred wrongly or rows centred in float (5e-5 on the synthetic data's
 * mean of 1e4), is above it. */
#define SUMS_ERR 1e-5

/* Is eigenvalue i (of d, descending) at least `gap` (relative) away from its neighbours? */
static bool separated(const double *v, int i, int d, double gap)
{
    if (i > 0 && v[i - 1] - v[i] < gap * v[i])
        return false;
    return !(i + 1 < d && v[i] - v[i + 1] < gap * v[i]);
}

/* The largest errors of projections against the batch reference, relative to the
 * projection's length. */
typedef struct {
    double axis;   /* per separated axis */
    double length; /* of the whole projection, rotation-invariant */
} proj_err_t;

/* Adds row's projection p (k floats) to *err: per axis on separated axes (sep), relative to
 * the projection's length, since the projection is computed in float, whose rounding is
 * relative to the whole vector (a coordinate near zero is off by about 1e-8 of the length,
 * not of itself); and the length itself over all k axes. */
static void projection_err(const batch_t *b, const float *row, const float *p, int k,
                           const bool *sep, proj_err_t *err)
{
    int d = b->d;
    double *q = malloc((size_t) k * sizeof *q), *y = malloc((size_t) d * sizeof *y);
    for (int j = 0; j < d; j++)
        y[j] = (row[j] - b->mean[j]) * (b->scale ? b->scale[j] : 1);
    double qn = 0, pn = 0;
    for (int i = 0; i < k; i++) {
        q[i] = dot(b->axes + (size_t) i * d, y, d);
        qn += q[i] * q[i];
        pn += (double) p[i] * p[i];
    }
    qn = sqrt(qn);
    pn = sqrt(pn);
    err->length = fmax(err->length, fabs(pn - qn) / qn);
    for (int i = 0; i < k; i++)
        if (sep[i])
            err->axis = fmax(err->axis, fabs(p[i] - q[i]) / qn);
    free(q);
    free(y);
}

/* Compares pca's model with b: the first min(k, nratios) ratios, the subspace, the
 * separated axes, the projections of the first nproj rows of x one at a time, and of all
 * b->n rows at once. */
static void compare(const char *label, pca_t *pca, const batch_t *b, const float *x, int nproj,
                    int nratios)
{
    int d = b->d, k = pca_k(pca);
    const double *axes = pca_axes(pca), *ratios = pca_variance_ratios(pca);
    CHECK(k > 0 && axes && ratios, "%s: no model", label);
    double total_err = fabs(pca_total_variance(pca) - b->total) / b->total;
    CHECK(total_err <= SUMS_ERR, "%s: total variance %.17g vs %.17g", label,
          pca_total_variance(pca), b->total);

    double ratio_err = 0, value_err = 0;
    for (int i = 0; i < k && i < nratios; i++) {
        double want = b->values[i] / b->total;
        double e = fabs(ratios[i] - want) / want;
        CHECK(e <= SUMS_ERR, "%s: ratio %d is %.17g, batch %.17g", label, i, ratios[i], want);
        ratio_err = fmax(ratio_err, e);
        e = fabs(pca_eigenvalues(pca)[i] - b->values[i]) / b->values[i];
        CHECK(e <= SUMS_ERR, "%s: eigenvalue %d is %.17g, batch %.17g", label, i,
              pca_eigenvalues(pca)[i], b->values[i]);
        value_err = fmax(value_err, e);
    }

    CHECK(k == d || separated(b->values, k - 1, d, 1e-3),
          "%s: test bug, k = %d splits a "
          "near-degenerate pair",
          label, k);
    /* The top-k subspace turns with the sums' rounding by that over the gap after eigenvalue
     * k: sin 2e-7 to 4e-5 measured. A wrong subspace is off by far more than the bound. */
    double sin_max = subspace_sin(axes, b->axes, k, d);
    CHECK(sin_max < 1e-3, "%s: largest principal angle sin %.3g", label, sin_max);

    double axis_err = 0;
    int nsep = 0;
    bool *sep = malloc((size_t) k * sizeof *sep);
    for (int i = 0; i < k; i++) {
        const double *a = axes + (size_t) i * d, *t = b->axes + (size_t) i * d;
        CHECK(fabs(dot(a, a, d) - 1) < 1e-12, "%s: axis %d not unit length", label, i);
        sep[i] = separated(b->values, i, d, 0.01);
        if (!sep[i])
            continue;
        nsep++;
        double c = dot(a, t, d);
        CHECK(c > 0, "%s: axis %d points the other way from batch (cos %.17g)", label, i, c);
        CHECK(1 - c <= 1e-6, "%s: axis %d: 1 - cos = %.3g", label, i, 1 - c);
        axis_err = fmax(axis_err, 1 - c);
    }

    /* One at a time (pca_project: sgemv) for the first nproj rows, then every row in one
     * pca_project_many call (sgemm per chunk of 256 rows, so chunk boundaries are crossed). */
    proj_err_t one = {0}, many = {0};
    float *p = malloc((size_t) b->n * k * sizeof *p);
    for (int r = 0; r < nproj; r++) {
        pca_project(pca, x + (size_t) r * d, p);
        projection_err(b, x + (size_t) r * d, p, k, sep, &one);
    }
    int rc = pca_project_many(pca, x, (size_t) b->n, p);
    for (int r = 0; rc == 0 && r < b->n; r++)
        projection_err(b, x + (size_t) r * d, p + (size_t) r * k, k, sep, &many);
    free(sep);
    free(p);
    CHECK(rc == 0, "%s: pca_project_many failed", label);
    printf("# %s: k %d, rel err of the total variance %.2g, max rel err of %d eigenvalues %.2g "
           "and ratios %.2g, sin(largest angle) %.2g, max 1-cos of %d separated axes %.2g, "
           "projections of %d rows one at a time: rel err %.2g, length %.2g; of %d at once: "
           "%.2g, %.2g\n",
           label, k, total_err, k < nratios ? k : nratios, value_err, ratio_err, sin_max, nsep,
           axis_err, nproj, one.axis, one.length, b->n, many.axis, many.length);
    /* The length, which no rotation within the subspace changes, is rounding in float in the
     * order of OpenBLAS's kernels for this CPU (sgemv one at a time, sgemm at once): on a Zen
     * 3 its ZEN, Haswell, Sandybridge, Nehalem and Prescott kernels gave 4e-8 to 2.7e-7 one
     * at a time and 1.2e-7 to 5e-7 at once, so the bound leaves room for other CPUs' orders.
     * Per axis, the axes' own rounding (SUMS_ERR) adds to it. What the bounds are there to
     * catch is far above them: rows centred in float lose digits to the synthetic data's mean
     * of 1e4 (5e-5), and a row or axis out of place is off by the whole length. */
    CHECK(one.axis <= SUMS_ERR, "%s: projection rel err %.3g", label, one.axis);
    CHECK(one.length <= 1e-6, "%s: projection length rel err %.3g", label, one.length);
    CHECK(many.axis <= SUMS_ERR, "%s: batched projection rel err %.3g", label, many.axis);
    CHECK(many.length <= 1e-6, "%s: batched projection length rel err %.3g", label, many.length);
}

/* ---- tests ---- */

static void test_synthetic(void)
{
    const int n = 3000, d = 400;
    double *l = spectrum(d);
    float *x = synthetic(n, d, l, 1e4); /* mean ~1e4-2e4 vs std <= ~6: cancellation-prone */
    shuffle_rows(x, n, d);
    batch_t b;
    batch_pca(x, n, d, false, &b);

    pca_t *fixed = pca_new(&(pca_options_t){.dim = d, .k = 200, .isa = isa_best()});
    pca_t *target = pca_new(&(pca_options_t){.dim = d, .variance = 0.9, .isa = isa_best()});
    feed(fixed, x, n, d);
    feed(target, x, n, d);
    CHECK(pca_count(fixed) == n, "count %lld", (long long) pca_count(fixed));
    CHECK(pca_refresh(fixed) == 0 && pca_refresh(target) == 0, "refresh failed");
    CHECK(pca_k(fixed) == 200, "k %d", pca_k(fixed));
    compare("synthetic d=400 k=200", fixed, &b, x, 200, 200);
    if (test_failed_now)
        return;
    int want = batch_k_for(&b, 0.9);
    CHECK(pca_k(target) == want, "variance 0.9: k %d, batch %d", pca_k(target), want);
    compare("synthetic d=400 variance 0.9", target, &b, x, 200, 200);
    if (test_failed_now)
        return;
    const double *mean = pca_mean(fixed);
    double mean_err = 0;
    for (int j = 0; j < d; j++)
        mean_err = fmax(mean_err, fabs(mean[j] - b.mean[j]) / fabs(b.mean[j]));
    CHECK(mean_err < 1e-13, "mean rel err %.3g", mean_err);
    CHECK(pca_scale(fixed) == NULL, "scale without standardize");
    pca_destroy(&fixed);
    pca_destroy(&target);
    CHECK(fixed == NULL, "destroy clears the pointer");
    batch_free(&b);
    free(x);
    free(l);
}

/* pca_row_check finds the first value pca_add cannot take, in unaligned bytes too. */
static void test_row_check(void)
{
    float limit = (float) PCA_VALUE_MAX; /* 1e15 rounds down to a float below it */
    const float bad[] = {nextafterf(limit, INFINITY), 1e20f, 3e38f, INFINITY, -INFINITY, NAN,
                         -nextafterf(limit, INFINITY)};
    unsigned char bytes[1 + 8 * sizeof(float)];
    float row[8] = {0, 6, -2.5f, limit, -limit, 1e-40f, 0, 0};
    memcpy(bytes + 1, row, sizeof row);
    CHECK(pca_row_check(row, 8) == -1, "a row of ordinary values and +-%g refused", limit);
    CHECK(pca_row_check(bytes + 1, 8) == -1, "the same row unaligned refused");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        row[6] = bad[i];
        memcpy(bytes + 1, row, sizeof row);
        CHECK(pca_row_check(row, 8) == 6, "%g at 6: check says %d", bad[i], pca_row_check(row, 8));
        CHECK(pca_row_check(bytes + 1, 8) == 6, "%g at 6, unaligned", bad[i]);
        CHECK(pca_row_check(row, 6) == -1, "only the first 6 values are checked");
    }
}

/* Values up to the limit pca_row_check allows, of mean zero: the largest products a
 * block's float sums can meet (the synthetic spectrum, scaled so that its largest value is
 * the limit). The sums stay finite and the model equals batch PCA's to SUMS_ERR; the same
 * data scaled to 1e19 made the refresh fail. */
static void test_value_limit(void)
{
    const int n = 1500, d = 64;
    float limit = (float) PCA_VALUE_MAX;
    double *l = spectrum(d);
    float *x = synthetic(n, d, l, 0);
    float top = 0; /* (fmax over fabs here crashes Debian 12's aarch64 gcc) */
    for (size_t i = 0; i < (size_t) n * d; i++)
        if (fabsf(x[i]) > top)
            top = fabsf(x[i]);
    for (size_t i = 0; i < (size_t) n * d; i++)
        x[i] = fminf(fmaxf((float) (x[i] * (limit / top)), -limit), limit);
    batch_t b;
    batch_pca(x, n, d, false, &b);
    pca_t *pca = pca_new(&(pca_options_t){.dim = d, .k = d / 2, .isa = isa_best()});
    feed(pca, x, n, d);
    CHECK(pca_refresh(pca) == 0, "refresh failed at values up to %g", limit);
    CHECK(isfinite(pca_total_variance(pca)), "total variance %g", pca_total_variance(pca));
    if (!test_failed_now)
        compare("values up to 1e15", pca, &b, x, 100, d / 2);
    pca_destroy(&pca);
    batch_free(&b);
    free(l);
    free(x);
}

static float *read_features(const char *name, int *rows)
{
    char path[512];
    snprintf(path, sizeof path, "%s/reference/%s", test_shared_dir(), name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    float *x = malloc(286 * 1280 * sizeof *x);
    *rows = (int) fread(x, 1280 * sizeof *x, 286, f);
    fclose(f);
    return x;
}

/* The 286 reference images' features at S = 224 and at S = 100: 572 real vectors. */
static void test_real_features(void)
{
    const int d = 1280;
    int n224 = 0, n100 = 0;
    float *a = read_features("features-224.f32", &n224);
    float *c = read_features("features-100.f32", &n100);
    CHECK(a && c && n224 == 286 && n100 == 286, "cannot read %s/reference/features-*.f32",
          test_shared_dir());
    int n = n224 + n100;
    float *x = malloc((size_t) n * d * sizeof *x);
    memcpy(x, a, (size_t) n224 * d * sizeof *x);
    memcpy(x + (size_t) n224 * d, c, (size_t) n100 * d * sizeof *x);
    free(a);
    free(c);
    shuffle_rows(x, n, d);
    batch_t b;
    batch_pca(x, n, d, false, &b);

    pca_t *pca = pca_new(&(pca_options_t){.dim = d, .variance = 0.95, .isa = isa_best()});
    feed(pca, x, n, d);
    CHECK(pca_refresh(pca) == 0, "refresh failed");
    int want = batch_k_for(&b, 0.95);
    CHECK(pca_k(pca) == want, "variance 0.95: k %d, batch %d", pca_k(pca), want);
    compare("real features (572 x 1280) variance 0.95", pca, &b, x, 100, 200);
    if (test_failed_now)
        return;
    pca_destroy(&pca);

    pca = pca_new(&(pca_options_t){.dim = d, .k = 250, .isa = isa_best()});
    feed(pca, x, n, d);
    CHECK(pca_refresh(pca) == 0, "refresh failed");
    compare("real features (572 x 1280) k=250", pca, &b, x, 100, 250);
    pca_destroy(&pca);
    batch_free(&b);
    free(x);
}

static void test_standardize(void)
{
    const int n = 2000, d = 200;
    double *l = spectrum(d);
    float *x = synthetic(n, d, l, 10.0);
    for (int i = 0; i < n; i++) { /* features on very different scales, and a constant one */
        for (int j = 0; j < d; j++)
            x[(size_t) i * d + j] *= (float) pow(10.0, (j % 5) - 2.0);
        x[(size_t) i * d + 17] = 3.25f;
    }
    batch_t b;
    batch_pca(x, n, d, true, &b);
    pca_t *pca = pca_new(
        &(pca_options_t){.dim = d, .variance = 0.8, .standardize = true, .isa = isa_best()});
    feed(pca, x, n, d);
    CHECK(pca_refresh(pca) == 0, "refresh failed");
    CHECK(fabs(pca_total_variance(pca) - (d - 1)) < 1e-10, "total variance %.17g, want %d",
          pca_total_variance(pca), d - 1);
    CHECK(pca_scale(pca) && pca_scale(pca)[17] == 1.0, "constant feature's scale is not 1");
    int want = batch_k_for(&b, 0.8);
    CHECK(pca_k(pca) == want, "variance 0.8: k %d, batch %d", pca_k(pca), want);
    compare("standardized d=200 variance 0.8", pca, &b, x, 200, 200);
    if (test_failed_now)
        return;
    double scale_err = 0;
    for (int j = 0; j < d; j++)
        scale_err = fmax(scale_err, fabs(pca_scale(pca)[j] - b.scale[j]) / b.scale[j]);
    CHECK(scale_err < SUMS_ERR, "scale rel err %.3g", scale_err);
    pca_destroy(&pca);
    batch_free(&b);
    free(x);
    free(l);
}

static unsigned char *state_of(const pca_t *pca, size_t *len)
{
    *len = pca_state_size(pca);
    unsigned char *s = malloc(*len);
    pca_state_write(pca, s);
    return s;
}

/* Checkpoint half-way (with rows pending in the block buffer), restore, continue: the sums and
 * the model equal those of the uninterrupted run bit for bit; so does feeding the same rows
 * all at once, since blocks are cut at fixed counts. */
static void test_state_round_trip(void)
{
    const int n = 1500, d = 150, half = 701;
    double *l = spectrum(d);
    float *x = synthetic(n, d, l, 50.0);
    pca_options_t o = {.dim = d, .k = 20, .isa = isa_best()};
    pca_t *whole = pca_new(&o), *first = pca_new(&o), *once = pca_new(&o);
    feed(whole, x, n, d);
    feed(first, x, half, d);
    pca_add(once, x, (size_t) n);

    size_t len;
    unsigned char *mid = state_of(first, &len);
    char err[200] = "";
    pca_t *second = pca_state_read(mid, len, &o, err, sizeof err);
    CHECK(second, "read failed: %s", err);
    CHECK(pca_count(second) == half, "restored count %lld", (long long) pca_count(second));
    feed(second, x + (size_t) half * d, n - half, d);
    CHECK(pca_count(second) == n, "count %lld", (long long) pca_count(second));

    size_t la, lb, lc;
    unsigned char *sa = state_of(whole, &la), *sb = state_of(second, &lb);
    unsigned char *sc = state_of(once, &lc);
    CHECK(la == lb && memcmp(sa, sb, la) == 0, "restored state differs from uninterrupted");
    CHECK(la == lc && memcmp(sa, sc, la) == 0, "batching changed the sums");
    CHECK(pca_refresh(whole) == 0 && pca_refresh(second) == 0, "refresh failed");
    CHECK(pca_k(whole) == pca_k(second) &&
              memcmp(pca_axes(whole), pca_axes(second), (size_t) pca_k(whole) * d * 8) == 0 &&
              memcmp(pca_eigenvalues(whole), pca_eigenvalues(second), 20 * 8) == 0,
          "restored model differs from uninterrupted");
    /* A state written after refresh (nothing pending) also reads back. */
    free(mid);
    mid = state_of(whole, &len);
    CHECK(len == 48 + 8 * (size_t) d + 8 * (size_t) d * (d + 1) / 2, "state size %zu", len);
    pca_t *again = pca_state_read(mid, len, &o, err, sizeof err);
    CHECK(again && pca_count(again) == n, "read after refresh: %s", err);
    printf("# state round trip: %zu-byte checkpoint at %d of %d vectors, restored run "
           "identical bit for bit\n",
           lb, half, n);
    pca_destroy(&again);
    pca_destroy(&whole);
    pca_destroy(&first);
    pca_destroy(&second);
    pca_destroy(&once);
    free(sa);
    free(sb);
    free(sc);
    free(mid);
    free(x);
    free(l);
}

static void expect_rejected(const unsigned char *s, size_t len, const pca_options_t *o,
                            const char *what, const char *word)
{
    char err[200] = "";
    pca_t *p = pca_state_read(s, len, o, err, sizeof err);
    CHECK(p == NULL, "%s accepted", what);
    CHECK(strstr(err, word), "%s: message \"%s\" does not say \"%s\"", what, err, word);
    printf("# %s rejected: %s\n", what, err);
}

static void test_state_rejects_corruption(void)
{
    const int d = 32;
    pca_options_t o = {.dim = d, .k = 3, .isa = isa_best()};
    pca_t *pca = pca_new(&o);
    float row[32];
    for (int i = 0; i < 300; i++) {
        for (int j = 0; j < d; j++)
            row[j] = (float) rng_gauss();
        pca_add(pca, row, 1);
    }
    size_t len;
    unsigned char *s = state_of(pca, &len);
    unsigned char *c = malloc(len + 1);

    expect_rejected(s, len - 1, &o, "truncated by one byte", "truncated");
    expect_rejected(s, 20, &o, "truncated header", "truncated");
    memcpy(c, s, len);
    c[len] = 0;
    expect_rejected(c, len + 1, &o, "trailing byte", "trailing");
    c[len / 2] ^= 0x10;
    expect_rejected(c, len, &o, "flipped payload bit", "checksum");
    memcpy(c, s, len);
    c[16] ^= 1; /* the count */
    expect_rejected(c, len, &o, "flipped count bit", "checksum");
    memcpy(c, s, len);
    c[0] = 'X';
    expect_rejected(c, len, &o, "bad magic", "magic");
    memcpy(c, s, len);
    c[8] = 9;
    expect_rejected(c, len, &o, "future version", "version");
    expect_rejected(s, len, &(pca_options_t){.dim = 33, .k = 3}, "other dim", "dim");
    if (test_failed_now)
        return;
    char err[200];
    pca_t *ok = pca_state_read(s, len, &o, err, sizeof err);
    CHECK(ok && pca_count(ok) == 300, "the intact state is rejected: %s", err);
    pca_destroy(&ok);
    pca_destroy(&pca);
    free(s);
    free(c);
}

static void test_signs(void)
{
    const int n = 40000, d = 40, k = 10;
    double *l = spectrum(d);
    float *x = synthetic(n, d, l, 1.0);
    pca_t *pca = pca_new(&(pca_options_t){.dim = d, .k = k, .isa = isa_best()});
    CHECK(pca_refresh(pca) == -1 && pca_version(pca) == 0 && pca_k(pca) == 0,
          "a model from no vectors");
    pca_add(pca, x, 1);
    CHECK(pca_refresh(pca) == -1 && pca_axes(pca) == NULL, "a model from one vector");
    pca_add(pca, x + d, (size_t) n / 2 - 1);
    CHECK(pca_refresh(pca) == 0 && pca_version(pca) == 1, "first refresh");
    double *before = malloc((size_t) k * d * sizeof *before);
    memcpy(before, pca_axes(pca), (size_t) k * d * sizeof *before);
    CHECK(pca_refresh(pca) == 0 && pca_version(pca) == 2, "second refresh");
    CHECK(memcmp(before, pca_axes(pca), (size_t) k * d * sizeof *before) == 0,
          "refreshing the same sums changed the axes");
    pca_add(pca, x + (size_t) n / 2 * d, (size_t) n / 2);
    CHECK(pca_refresh(pca) == 0, "third refresh");
    const double *after = pca_axes(pca);
    /* More data moves the axes; an axis keeps its sign as long as its largest loading stays
     * at the same index (where that index changes, the rule may legitimately flip it). */
    double min_cos = 1;
    int kept = 0;
    for (int i = 0; i < k; i++) {
        const double *a = after + (size_t) i * d, *p = before + (size_t) i * d;
        int m = argmax_abs(a, d);
        CHECK(a[m] > 0, "axis %d breaks the sign rule", i);
        if (m == argmax_abs(p, d) && separated(pca_eigenvalues(pca), i, k, 0.01)) {
            kept++;
            min_cos = fmin(min_cos, dot(p, a, d));
        }
    }
    printf("# signs: %d of %d axes separated and with the same largest loading at %d and "
           "%d vectors, min cos %.4f\n",
           kept, k, n / 2, n, min_cos);
    CHECK(kept > k / 2 && min_cos > 0.5, "an axis flipped between refreshes (cos %.3g)", min_cos);
    free(before);
    pca_destroy(&pca);
    free(x);
    free(l);
}

static void test_options(void)
{
    CHECK(pca_new(&(pca_options_t){.dim = 0, .k = 1}) == NULL, "dim 0 accepted");
    CHECK(pca_new(&(pca_options_t){.dim = 4, .k = 5}) == NULL, "k > dim accepted");
    CHECK(pca_new(&(pca_options_t){.dim = 4, .variance = 1.5}) == NULL, "variance 1.5 accepted");
    CHECK(pca_new(&(pca_options_t){.dim = 4}) == NULL, "neither k nor variance accepted");
    CHECK(pca_new(&(pca_options_t){.dim = 4, .k = 1, .isa = ISA_COUNT}) == NULL,
          "an instruction set that does not exist accepted");
    pca_t *p = pca_new(&(pca_options_t){.dim = 4, .variance = 1.0});
    CHECK(p && pca_options(p)->variance == 1.0, "variance 1.0 rejected");
    const float rows[] = {1, 2, 3, 4, 2, 2, 0, 1, 5, 1, 1, 1};
    pca_add(p, rows, 3);
    CHECK(pca_count(p) == 3 && pca_refresh(p) == 0, "refresh of 3 vectors");
    CHECK(pca_k(p) >= 2 && pca_k(p) <= 4, "k %d for 100%% of rank-2 data", pca_k(p));
    float out[3 * 4];
    CHECK(pca_project_many(p, rows, 3, out) == 0, "project_many");
    pca_destroy(&p);
}

int main(void)
{
    RUN(test_options);
    RUN(test_row_check);
    RUN(test_synthetic);
    RUN(test_value_limit);
    RUN(test_real_features);
    RUN(test_standardize);
    RUN(test_state_round_trip);
    RUN(test_state_rejects_corruption);
    RUN(test_signs);
    TEST_DONE();
}
