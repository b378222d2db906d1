/* test_kernels.c -- every kernel against a plain-loop version written here from the
 * PyTorch definitions (OIHW weights, padding 1), on random tensors of odd sizes, once per
 * kernel path the CPU can run (portable always, AVX-512 when present). */
#include "kernels.h"
#include "../test.h"

#include <math.h>
#include <string.h>

static unsigned rng_state = 12345;

static float *random_floats(size_t n)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        rng_state = rng_state * 1664525u + 1013904223u;
        v[i] = (float)(rng_state >> 8) / (float)(1u << 24) * 4.0f - 2.0f;
    }
    return v;
}

static float relu6_ref(float v)
{
    return fminf(fmaxf(v, 0.0f), 6.0f);
}

/* Largest |a - b| / (1 + |b|). */
static double max_err(const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (!(e <= worst))
            worst = e;
    }
    return worst;
}

static const int sizes[] = {1, 7, 13, 29};
#define NSIZES (int)(sizeof sizes / sizeof *sizes)

/* Each test body runs once per available path; name says which. */
static int set_path(int isa)
{
    return kernels_set_isa((kernels_isa_t)isa);
}

static void test_conv1x1(void)
{
    static const int ks[] = {3, 16, 27, 48}, ns[] = {16, 24, 48, 80, 144};
    for (int isa = 0; isa < 2; isa++) {
        if (set_path(isa))
            continue;
        for (int si = 0; si < NSIZES; si++)
            for (int ki = 0; ki < 4; ki++)
                for (int ni = 0; ni < 5; ni++)
                    for (int mode = 0; mode < 3; mode++) { /* plain, relu6, residual */
                        int m = sizes[si] * sizes[si], k = ks[ki], n = ns[ni];
                        float *in = random_floats((size_t)m * k), *w = random_floats((size_t)n * k);
                        float *bias = random_floats(n), *res = random_floats((size_t)m * n);
                        float *out = malloc((size_t)m * n * sizeof *out);
                        float *ref = malloc((size_t)m * n * sizeof *ref);
                        for (int i = 0; i < m; i++)
                            for (int o = 0; o < n; o++) {
                                float s = bias[o];
                                for (int j = 0; j < k; j++)
                                    s += in[i * k + j] * w[o * k + j];
                                ref[i * n + o] = (mode == 1 ? relu6_ref(s) : s) +
                                                 (mode == 2 ? res[i * n + o] : 0.0f);
                            }
                        kernels_pw_t *pw = kernels_pw_new(k, n, w, bias);
                        kernels_conv1x1(in, m, pw, mode == 1, mode == 2 ? res : NULL, out);
                        double e = max_err(out, ref, (size_t)m * n);
                        kernels_pw_destroy(&pw);
                        free(in), free(w), free(bias), free(res), free(out), free(ref);
                        CHECK(pw == NULL, "destroy did not clear the pointer");
                        CHECK(e < 1e-5, "%s m=%d k=%d n=%d mode=%d: error %g",
                              kernels_isa_name(isa), m, k, n, mode, e);
                    }
    }
}

static void test_bias_act(void)
{
    int m = 29, n = 24;
    float *x = random_floats((size_t)m * n), *bias = random_floats(n);
    float *res = random_floats((size_t)m * n), *ref = malloc((size_t)m * n * sizeof *ref);
    for (int mode = 0; mode < 3; mode++) {
        float *y = malloc((size_t)m * n * sizeof *y);
        memcpy(y, x, (size_t)m * n * sizeof *y);
        for (int i = 0; i < m * n; i++) {
            float v = x[i] + bias[i % n];
            ref[i] = (mode == 1 ? relu6_ref(v) : v) + (mode == 2 ? res[i] : 0.0f);
        }
        kernels_bias_act(y, m, n, bias, mode == 1, mode == 2 ? res : NULL);
        double e = max_err(y, ref, (size_t)m * n);
        free(y);
        CHECK(e == 0, "mode %d: error %g", mode, e);
    }
    free(x), free(bias), free(res), free(ref);
}

static void test_conv3x3_s2(void)
{
    for (int isa = 0; isa < 2; isa++) {
        if (set_path(isa))
            continue;
        for (int si = 0; si < NSIZES; si++)
            for (int shape = 0; shape < 2; shape++) {
                /* RGB has a copy of its own in im2col: check it and the general one. */
                int h = sizes[si], w = shape ? sizes[si] + 1 : sizes[si], cin = 3 + shape;
                int cout = 32;
                int ho = (h - 1) / 2 + 1, wo = (w - 1) / 2 + 1;
                float *in = random_floats((size_t)h * w * cin);
                float *wt = random_floats((size_t)cout * cin * 9), *bias = random_floats(cout);
                float *mat = malloc((size_t)cout * cin * 9 * sizeof *mat);
                float *col = malloc((size_t)ho * wo * 9 * cin * sizeof *col);
                float *out = malloc((size_t)ho * wo * cout * sizeof *out);
                float *ref = malloc((size_t)ho * wo * cout * sizeof *ref);
                for (int y = 0; y < ho; y++)
                    for (int x = 0; x < wo; x++)
                        for (int o = 0; o < cout; o++) {
                            float s = bias[o];
                            for (int i = 0; i < cin; i++)
                                for (int ky = 0; ky < 3; ky++)
                                    for (int kx = 0; kx < 3; kx++) {
                                        int iy = 2 * y - 1 + ky, ix = 2 * x - 1 + kx;
                                        if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                            s += in[(iy * w + ix) * cin + i] *
                                                 wt[((o * cin + i) * 3 + ky) * 3 + kx];
                                    }
                            ref[(y * wo + x) * cout + o] = relu6_ref(s);
                        }
                kernels_conv3x3_reorder(wt, cout, cin, mat);
                kernels_pw_t *pw = kernels_pw_new(9 * cin, cout, mat, bias);
                /* Two bands, as the network runs it. */
                int mid = ho / 2;
                kernels_im2col3x3_s2(in, h, w, cin, 0, mid, col);
                kernels_conv1x1(col, mid * wo, pw, 1, NULL, out);
                kernels_im2col3x3_s2(in, h, w, cin, mid, ho, col);
                kernels_conv1x1(col, (ho - mid) * wo, pw, 1, NULL, out + (size_t)mid * wo * cout);
                double e = max_err(out, ref, (size_t)ho * wo * cout);
                kernels_pw_destroy(&pw);
                free(in), free(wt), free(bias), free(mat), free(col), free(out), free(ref);
                CHECK(e < 1e-5, "%s %dx%d: error %g", kernels_isa_name(isa), h, w, e);
            }
    }
}

static void check_depthwise(int stride)
{
    static const int channels[] = {16, 48, 96};
    for (int isa = 0; isa < 2; isa++) {
        if (set_path(isa))
            continue;
        for (int si = 0; si < NSIZES; si++)
            for (int ci = 0; ci < 3; ci++) {
                int h = sizes[si], w = sizes[si] + 2, c = channels[ci];
                int ho = (h - 1) / stride + 1, wo = (w - 1) / stride + 1;
                float *in = random_floats((size_t)h * w * c), *wt = random_floats((size_t)c * 9);
                float *bias = random_floats(c), *zero = calloc((size_t)w * c, sizeof(float));
                float *packed = malloc((size_t)c * 9 * sizeof *packed);
                float *out = malloc((size_t)ho * wo * c * sizeof *out);
                float *ref = malloc((size_t)ho * wo * c * sizeof *ref);
                for (int y = 0; y < ho; y++)
                    for (int x = 0; x < wo; x++)
                        for (int ch = 0; ch < c; ch++) {
                            float s = bias[ch];
                            for (int ky = 0; ky < 3; ky++)
                                for (int kx = 0; kx < 3; kx++) {
                                    int iy = y * stride - 1 + ky, ix = x * stride - 1 + kx;
                                    if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                        s += in[(iy * w + ix) * c + ch] * wt[ch * 9 + ky * 3 + kx];
                                }
                            ref[(y * wo + x) * c + ch] = relu6_ref(s);
                        }
                kernels_dw_reorder(wt, c, packed);
                for (int y = 0; y < ho; y++) {
                    const float *rows[3];
                    for (int r = 0; r < 3; r++) {
                        int iy = y * stride - 1 + r;
                        rows[r] = iy >= 0 && iy < h ? in + (size_t)iy * w * c : zero;
                    }
                    kernels_dw3x3_row(rows, w, c, stride, packed, bias, out + (size_t)y * wo * c);
                }
                double e = max_err(out, ref, (size_t)ho * wo * c);
                free(in), free(wt), free(bias), free(zero), free(packed), free(out), free(ref);
                CHECK(e < 1e-5, "%s stride %d %dx%dx%d: error %g", kernels_isa_name(isa), stride,
                      h, w, c, e);
            }
    }
}

static void test_depthwise_stride1(void)
{
    check_depthwise(1);
}

static void test_depthwise_stride2(void)
{
    check_depthwise(2);
}

static void test_avgpool(void)
{
    for (int si = 0; si < NSIZES; si++) {
        int m = sizes[si] * sizes[si], c = 48;
        float *in = random_floats((size_t)m * c), out[48], ref[48];
        for (int ch = 0; ch < c; ch++) {
            double s = 0;
            for (int i = 0; i < m; i++)
                s += in[i * c + ch];
            ref[ch] = (float)(s / m);
        }
        kernels_avgpool(in, m, c, out);
        free(in);
        double e = max_err(out, ref, (size_t)c);
        CHECK(e < 1e-5, "m=%d: error %g", m, e);
    }
}

int main(void)
{
    kernels_isa_t best = kernels_isa();
    fprintf(stderr, "test_kernels: best path on this CPU: %s\n", kernels_isa_name(best));
    RUN(test_conv1x1);
    RUN(test_bias_act);
    RUN(test_conv3x3_s2);
    RUN(test_depthwise_stride1);
    RUN(test_depthwise_stride2);
    RUN(test_avgpool);
    kernels_set_isa(best);
    TEST_DONE();
}
