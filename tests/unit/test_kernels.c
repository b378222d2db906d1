/* test_kernels.c -- every kernel against a plain-loop version written here from the
 * PyTorch definitions (OIHW weights, padding 1), on random tensors of odd sizes, once per
 * instruction set built for this architecture (the ones the CPU lacks are skipped, and
 * say so). */
#include "featurizer/kernels.h"
#include "tests/test.h"

#include <math.h>
#include <string.h>

static unsigned rng_state = 12345;

static float *random_floats(size_t n)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        rng_state = rng_state * 1664525u + 1013904223u;
        v[i] = (float) (rng_state >> 8) / (float) (1u << 24) * 4.0f - 2.0f;
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
        double e = fabs((double) a[i] - b[i]) / (1.0 + fabs((double) b[i]));
        if (!(e <= worst))
            worst = e;
    }
    return worst;
}

/* 33: rows 35 wide, so that the depthwise test crosses the 16-output spans of the
 * 16-register paths at stride 1 (spans end at 17, 33, 35) and at stride 2 (a last span of
 * only the right-edge output). */
static const int sizes[] = {1, 7, 13, 29, 33};
#define NSIZES (int) (sizeof sizes / sizeof *sizes)

static void test_conv1x1(void)
{
    /* 20 and 24 end in a partial vector on some paths; 80 and 144 span several panels; 20,
     * 32, 64 and 80 end in a panel and at most one vector, split in two panels on some path
     * (kernels_panel_cols); 2, 4, 8 and 24 end in half a vector on some path, where two
     * pixels share a GEMM row (the odd sizes below leave a last pixel alone). */
    static const int ks[] = {3, 16, 27, 48}, ns[] = {2, 4, 8, 16, 20, 24, 32, 48, 64, 80, 144};
    const kernels_t *kern = kernels_get(test_isa);
    for (int si = 0; si < NSIZES; si++)
        for (int ki = 0; ki < 4; ki++)
            for (int ni = 0; ni < (int) (sizeof ns / sizeof *ns); ni++)
                for (int mode = 0; mode < 3; mode++) { /* plain, relu6, residual */
                    int m = sizes[si] * sizes[si], k = ks[ki], n = ns[ni];
                    float *in = random_floats((size_t) m * k), *w = random_floats((size_t) n * k);
                    float *bias = random_floats(n), *res = random_floats((size_t) m * n);
                    float *out = malloc((size_t) m * n * sizeof *out);
                    float *ref = malloc((size_t) m * n * sizeof *ref);
                    for (int i = 0; i < m; i++)
                        for (int o = 0; o < n; o++) {
                            float s = bias[o];
                            for (int j = 0; j < k; j++)
                                s += in[i * k + j] * w[o * k + j];
                            ref[i * n + o] = (mode == 1 ? relu6_ref(s) : s) +
                                             (mode == 2 ? res[i * n + o] : 0.0f);
                        }
                    kernels_pw_t *pw = kernels_pw_new(kern, k, n, w, bias);
                    kernels_conv1x1(in, m, pw, mode == 1, mode == 2 ? res : NULL, out);
                    double e = max_err(out, ref, (size_t) m * n);
                    kernels_pw_destroy(&pw);
                    free(in), free(w), free(bias), free(res), free(out), free(ref);
                    CHECK(pw == NULL, "destroy did not clear the pointer");
                    CHECK(e < 1e-5, "m=%d k=%d n=%d mode=%d: error %g", m, k, n, mode, e);
                }
}

static void test_stem(void)
{
    /* The network's; one ending in a partial vector; two ending in half a vector on some
     * path (paired pixels). */
    static const int couts[] = {32, 20, 24, 4};
    const kernels_t *kern = kernels_get(test_isa);
    for (int si = 0; si < NSIZES; si++)
        for (int shape = 0; shape < 4; shape++) {
            /* Even and odd widths: an odd one has a right-edge pixel with padding. */
            int h = sizes[si], w = sizes[si] + shape % 2, cin = 3, cout = couts[shape];
            int ho = (h - 1) / 2 + 1, wo = (w - 1) / 2 + 1;
            float *in = random_floats((size_t) h * w * cin);
            float *wt = random_floats((size_t) cout * cin * 9), *bias = random_floats(cout);
            float *mat = malloc((size_t) cout * cin * 9 * sizeof *mat);
            float *zero = calloc((size_t) w * cin, sizeof *zero);
            float *out = malloc((size_t) ho * wo * cout * sizeof *out);
            float *ref = malloc((size_t) ho * wo * cout * sizeof *ref);
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
            kernels_pw_t *pw = kernels_pw_new(kern, 9 * cin, cout, mat, bias);
            for (int y = 0; y < ho; y++) {
                const float *rows[3];
                for (int r = 0; r < 3; r++) {
                    int iy = 2 * y - 1 + r;
                    rows[r] = iy >= 0 && iy < h ? in + (size_t) iy * w * cin : zero;
                }
                kernels_stem_row(rows, w, pw, out + (size_t) y * wo * cout);
            }
            double e = max_err(out, ref, (size_t) ho * wo * cout);
            kernels_pw_destroy(&pw);
            free(in), free(wt), free(bias), free(mat), free(zero), free(out), free(ref);
            CHECK(e < 1e-5, "%dx%d -> %d: error %g", h, w, cout, e);
        }
}

/* The depthwise rows are sizes[] + 2 wide, all odd, and also 4 and 8: at stride 1 an even
 * row's interior outputs fill whole blocks of 2 or 4 with none left over. */
static const int dw_even_widths[] = {4, 8};
#define NDW_WIDTHS (NSIZES + (int) (sizeof dw_even_widths / sizeof *dw_even_widths))

static void check_depthwise(int stride)
{
    static const int channels[] = {16, 48, 96};
    const kernels_t *kern = kernels_get(test_isa);
    for (int si = 0; si < NDW_WIDTHS; si++)
        for (int ci = 0; ci < 3; ci++) {
            int w = si < NSIZES ? sizes[si] + 2 : dw_even_widths[si - NSIZES];
            int h = w - 2, c = channels[ci];
            int ho = (h - 1) / stride + 1, wo = (w - 1) / stride + 1;
            float *in = random_floats((size_t) h * w * c), *wt = random_floats((size_t) c * 9);
            float *bias = random_floats(c), *zero = calloc((size_t) w * c, sizeof(float));
            float *packed = malloc((size_t) c * 9 * sizeof *packed);
            float *out = malloc((size_t) ho * wo * c * sizeof *out);
            float *ref = malloc((size_t) ho * wo * c * sizeof *ref);
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
            /* Calls of KERNELS_DW_ROWS, ..., 2, 1 rows in turn (the last maybe fewer). */
            for (int y = 0, call = 0, n; y < ho; y += n, call++) {
                n = KERNELS_DW_ROWS - call % KERNELS_DW_ROWS;
                n = n < ho - y ? n : ho - y;
                const float *rows[(KERNELS_DW_ROWS - 1) * 2 + 3];
                float *outs[KERNELS_DW_ROWS];
                for (int i = 0; i < n; i++)
                    outs[i] = out + (size_t) (y + i) * wo * c;
                for (int r = 0; r < (n - 1) * stride + 3; r++) {
                    int iy = y * stride - 1 + r;
                    rows[r] = iy >= 0 && iy < h ? in + (size_t) iy * w * c : zero;
                }
                kernels_dw3x3_rows(kern, rows, n, w, c, stride, packed, bias, outs);
            }
            double e = max_err(out, ref, (size_t) ho * wo * c);
            free(in), free(wt), free(bias), free(zero), free(packed), free(out), free(ref);
            CHECK(e < 1e-5, "stride %d %dx%dx%d: error %g", stride, h, w, c, e);
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
        int m = sizes[si] * sizes[si], c = 50; /* 50: a partial vector on every path */
        float *in = random_floats((size_t) m * c), out[50], ref[50];
        for (int ch = 0; ch < c; ch++) {
            double s = 0;
            for (int i = 0; i < m; i++)
                s += in[i * c + ch];
            ref[ch] = (float) (s / m);
        }
        kernels_avgpool(kernels_get(test_isa), in, m, c, out);
        free(in);
        double e = max_err(out, ref, (size_t) c);
        CHECK(e < 1e-5, "m=%d: error %g", m, e);
    }
}

int main(void)
{
    fprintf(stderr, "test_kernels: CPU %s, best path %s\n", isa_cpu_flags(), isa_name(isa_best()));
    RUN_EACH_ISA(test_conv1x1);
    RUN_EACH_ISA(test_stem);
    RUN_EACH_ISA(test_depthwise_stride1);
    RUN_EACH_ISA(test_depthwise_stride2);
    RUN_EACH_ISA(test_avgpool);
    TEST_DONE();
}
