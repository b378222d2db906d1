/* bench_featurizer.c -- single-thread featurizer speed, against the sgemm peak and the
 * multiply-add peak of each kernel path, measured in the same run.
 *
 *   build/bench/bench_featurizer [--images N] [--size S [--threads T]] [--weights PATH]
 *                                [DATA_DIR]
 *   build/bench/bench_featurizer --stages --size S [--runs R] [--weights PATH]
 *   build/bench/bench_featurizer --paths
 *   build/bench/bench_featurizer --peak
 *
 * Reads N Fruits-360 Test JPEGs (spread over the classes of DATA_DIR, default
 * $SHARED/data/fruits-360/Test) into memory, then for S = 224 and S = 100 featurizes them
 * all (after one warm-up pass) and prints images/s for decode + resize + network, the split
 * of the time, and the share of the sgemm peak the network reaches (network flops / network
 * time / peak). The peak is OpenBLAS sgemm on one thread, best of several, at 1024^3 and
 * at a typical 1x1-conv shape. The worker's peak resident memory is taken right after the
 * featurizer passes, before the sgemm buffers exist. The full run (and --peak, alone) also
 * prints, for every kernel path this CPU runs, the GFlop/s of a loop of nothing but
 * independent multiply-adds on registers in that path's instruction set (featurizer/peak.h):
 * the ceiling of any kernel on that path, against which a row of the bench that ran on it
 * is to be read (`peak isa=avx2 gflops=...`). With --size, only the images/s line for that
 * S is printed; --threads T then runs T featurizers at once on one copy of the weights, as
 * a worker's threads do, and prints their images/s together. The kernel path is
 * FRUITSTREAM_ISA's, or the best one; --paths prints those this CPU runs, best first, so
 * that a bench can time each. --stages times the network alone at S, stage by stage
 * (mobilenet_time_stages: the stem, each block's expand, depthwise and project, the head),
 * and prints each stage's time, GFlop/s and share of the path's FMA peak, then the same
 * summed over each kind of stage (stem, expand, depthwise, project, head): where a machine
 * loses its time. Results are `key=value` lines for bench/section_10_featurizer.sh
 * and bench/section_40_pipeline.sh. */
#include "common/clock.h"
#include "common/file.h"
#include "common/options.h"
#include "featurizer/featurizer.h"
#include "featurizer/kernels.h"
#include "featurizer/mobilenet.h"
#include "featurizer/peak.h"

#include <cblas.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BENCH_MAX_THREADS 64
#define BENCH_PEAK_SECONDS 0.5 /* per kernel path */

typedef struct {
    char **data;
    size_t *len;
    int n;
} images_t;

/* Every (total / want)-th file of the sorted glob, so all classes are represented. */
static int load_images(const char *dir, int want, images_t *im)
{
    char pattern[4200];
    glob_t g;
    snprintf(pattern, sizeof pattern, "%s/*/*.jpg", dir);
    if (glob(pattern, 0, NULL, &g) || g.gl_pathc == 0) {
        fprintf(stderr, "bench_featurizer: no JPEGs match %s\n", pattern);
        return -1;
    }
    size_t step = g.gl_pathc / (size_t) want > 0 ? g.gl_pathc / (size_t) want : 1;
    im->data = calloc((size_t) want, sizeof *im->data);
    im->len = calloc((size_t) want, sizeof *im->len);
    im->n = 0;
    for (size_t i = 0; i < g.gl_pathc && im->n < want; i += step)
        if ((im->data[im->n] = file_read_all(g.gl_pathv[i], &im->len[im->n])))
            im->n++;
    globfree(&g);
    return im->n ? 0 : -1;
}

/* One thread's share of bench_size: every image, a warm-up pass and two timed passes. */
typedef struct {
    featurizer_t *fz;
    const images_t *im;
    double best;              /* wall seconds of the faster timed pass */
    featurizer_timings_t sum; /* its stage times */
    int failed_image;         /* -1, or the image that failed */
    char err[256];
} bench_thread_t;

static void *bench_passes(void *arg)
{
    bench_thread_t *t = arg;
    const images_t *im = t->im;
    float features[FEATURE_DIM];
    t->best = 1e30;
    t->failed_image = -1;
    for (int pass = 0; pass < 3; pass++) { /* pass 0 warms up */
        featurizer_timings_t acc = {0, 0, 0}, one;
        double t0 = clock_seconds();
        for (int i = 0; i < im->n; i++) {
            if (featurizer_run(t->fz, im->data[i], im->len[i], features, &one, t->err,
                               sizeof t->err)) {
                t->failed_image = i;
                return NULL;
            }
            acc.decode_ms += one.decode_ms, acc.resize_ms += one.resize_ms;
            acc.net_ms += one.net_ms;
        }
        double wall = clock_seconds() - t0;
        if (pass > 0 && wall < t->best)
            t->best = wall, t->sum = acc;
    }
    return NULL;
}

/* Featurizes the images at S = size on `threads` threads at once, sharing one copy of the
 * weights as a worker's threads do; prints the images/s of all threads together and the
 * stage times of the first. *net_ms gets the first thread's network time per image. */
static int bench_size(const char *weights, int size, isa_t isa, int threads, const images_t *im,
                      double *net_ms)
{
    char err[512] = "cannot start threads";
    bench_thread_t t[BENCH_MAX_THREADS] = {0};
    pthread_t thread[BENCH_MAX_THREADS];
    int made = 0, started = 0;
    if ((t[0].fz =
             featurizer_new(weights, size, FEATURIZER_DEFAULT_MAX_PIXELS, isa, err, sizeof err)))
        for (made = 1; made < threads; made++)
            if (!(t[made].fz = featurizer_share(t[0].fz, err, sizeof err)))
                break;
    for (int i = 0; i < made; i++)
        t[i].im = im;
    if (made == threads) {
        for (started = 1; started < threads; started++)
            if (pthread_create(&thread[started], NULL, bench_passes, &t[started]) != 0)
                break;
        bench_passes(&t[0]);
        for (int i = 1; i < started; i++)
            pthread_join(thread[i], NULL);
    }
    double rate = 0;
    int failed = 0;
    for (int i = 0; i < started; i++) {
        if (t[i].failed_image >= 0 && !failed++)
            snprintf(err, sizeof err, "thread %d, image %d: %s", i, t[i].failed_image, t[i].err);
        rate += im->n / t[i].best;
    }
    for (int i = made - 1; i >= 0; i--) /* the weights' owner last */
        featurizer_destroy(&t[i].fz);
    if (started < threads || failed) {
        fprintf(stderr, "bench_featurizer: %s\n", err);
        return -1;
    }
    double n = im->n;
    featurizer_timings_t sum = t[0].sum;
    printf("ours size=%d images=%d ", size, im->n);
    if (threads > 1)
        printf("threads=%d ", threads);
    printf("images_per_s=%.1f net_images_per_s=%.1f decode_ms=%.4f resize_ms=%.4f "
           "net_ms=%.4f\n",
           rate, threads * n / (sum.net_ms / 1e3), sum.decode_ms / n, sum.resize_ms / n,
           sum.net_ms / n);
    *net_ms = sum.net_ms / n;
    return 0;
}

/* The kinds of stage bench_stages sums over: a stage's name after its block number. */
static const char *const stage_kinds[] = {"stem", "expand", "depthwise", "project", "head"};
#define STAGE_KINDS 5

/* Prints a stage line and adds its time and flops to its kind's sums. */
static void print_stage(const mobilenet_stage_t *st, int runs, double peak,
                        double sums[STAGE_KINDS][2])
{
    double us = st->seconds / runs * 1e6, gflops = st->flops / (us * 1e3);
    printf("stage name=%s us=%.1f gflops=%.1f peak_share=%.2f\n", st->name, us, gflops,
           gflops / peak);
    const char *dot = strchr(st->name, '.'), *kind = dot ? dot + 1 : st->name;
    for (int k = 0; k < STAGE_KINDS; k++)
        if (!strcmp(kind, stage_kinds[k]))
            sums[k][0] += us, sums[k][1] += st->flops;
}

/* The network alone at S = size on `isa`, each stage timed over `runs` runs after an untimed
 * one. The input is a fixed pattern in the normalised range: no kernel's work depends on
 * the values. */
static int bench_stages(const char *weights, int size, isa_t isa, int runs)
{
    char err[512];
    mobilenet_t *net = mobilenet_new(weights, size, isa, err, sizeof err);
    if (!net) {
        fprintf(stderr, "bench_featurizer: %s\n", err);
        return -1;
    }
    float *input = mobilenet_input(net), features[MOBILENET_FEATURES];
    for (size_t i = 0; i < (size_t) size * size * 3; i++)
        input[i] = (float) (i % 251) / 62.75f - 2.0f;
    mobilenet_run(net, features);
    mobilenet_time_stages(net);
    for (int r = 0; r < runs; r++)
        mobilenet_run(net, features);
    double peak = peak_gflops(isa, BENCH_PEAK_SECONDS), sums[STAGE_KINDS][2] = {{0}}, total = 0;
    int n;
    const mobilenet_stage_t *stage = mobilenet_stages(net, &n);
    printf("stages size=%d isa=%s runs=%d peak_gflops=%.1f\n", size, isa_name(isa), runs, peak);
    for (int i = 0; i < n; i++)
        print_stage(&stage[i], runs, peak, sums);
    for (int k = 0; k < STAGE_KINDS; k++)
        total += sums[k][0];
    for (int k = 0; k < STAGE_KINDS; k++) {
        double gflops = sums[k][1] / (sums[k][0] * 1e3);
        printf("stages kind=%s us=%.1f time_share=%.2f gflops=%.1f peak_share=%.2f\n",
               stage_kinds[k], sums[k][0], sums[k][0] / total, gflops, gflops / peak);
    }
    mobilenet_destroy(&net);
    return 0;
}

/* Best-of-5 single-thread sgemm GFlop/s for C (m x n) = A (m x k) B (k x n). */
static double sgemm_gflops(int m, int n, int k)
{
    float *a = calloc((size_t) m * k, sizeof *a), *b = calloc((size_t) k * n, sizeof *b);
    float *c = calloc((size_t) m * n, sizeof *c);
    double best = 1e30;
    for (size_t i = 0; i < (size_t) m * k; i++)
        a[i] = (float) (i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t) k * n; i++)
        b[i] = (float) (i % 5) * 0.1f;
    for (int rep = 0; rep < 6; rep++) {
        double t0 = clock_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c,
                    n);
        double t = clock_seconds() - t0;
        if (rep > 0 && t < best)
            best = t;
    }
    free(a), free(b), free(c);
    return 2.0 * m * n * k / best / 1e9;
}

/* The kernel paths this CPU runs into path[], the best (the default) first; their count. */
static int runnable_paths(isa_t path[ISA_COUNT])
{
    int n = 0;
    path[n++] = isa_best();
    for (int i = ISA_COUNT - 1; i >= 0; i--) /* within one architecture, later is faster */
        if ((isa_t) i != path[0] && isa_runs((isa_t) i))
            path[n++] = (isa_t) i;
    return n;
}

/* `paths avx512 avx2 portable`. */
static int print_paths(void)
{
    isa_t path[ISA_COUNT];
    int n = runnable_paths(path);
    printf("paths");
    for (int i = 0; i < n; i++)
        printf(" %s", isa_name(path[i]));
    printf("\n");
    return 0;
}

/* `peak isa=avx512 gflops=249.7`, a line per path, in the order of --paths. */
static int print_peaks(void)
{
    isa_t path[ISA_COUNT];
    int n = runnable_paths(path);
    for (int i = 0; i < n; i++) {
        printf("peak isa=%s gflops=%.1f\n", isa_name(path[i]),
               peak_gflops(path[i], BENCH_PEAK_SECONDS));
        fflush(stdout);
    }
    return 0;
}

static const char about[] = "Featurizer speed; DATA_DIR defaults to $SHARED/data/fruits-360/Test.";

int main(int argc, char **argv)
{
    const char *shared = getenv("SHARED") && *getenv("SHARED") ? getenv("SHARED") : "../shared";
    char weights[4096], data[4096];
    const char *weights_flag = NULL;
    int want = 300, only_size = 0, threads = 1, runs = 50;
    bool paths = false, peaks = false, stages = false;
    const option_t options[] = {
        OPTION_INT("images", &want, 1, 1000000, "N", "JPEGs to read, spread over the classes"),
        OPTION_INT("size", &only_size, FEATURIZER_MIN_SIZE, FEATURIZER_MAX_SIZE, "S",
                   "time this S alone (default: 224 and 100, then the sgemm and FMA peaks)"),
        OPTION_INT("threads", &threads, 1, BENCH_MAX_THREADS, "T",
                   "featurizers at once on one copy of the weights, with --size"),
        OPTION_STRING("weights", &weights_flag, "PATH",
                      "MobileNetV2 safetensors (default "
                      "$SHARED/models/mobilenet_v2/model.safetensors)"),
        OPTION_FLAG("stages", &stages,
                    "with --size: time the network alone, stage by stage (no images read)"),
        OPTION_INT("runs", &runs, 1, 100000, "R", "network runs timed with --stages"),
        OPTION_FLAG("paths", &paths, "print the kernel paths this CPU runs, best first"),
        OPTION_FLAG("peak", &peaks,
                    "print each path's multiply-add peak (GFlop/s of a register-only FMA "
                    "loop, one thread), as the full run does"),
        OPTION_END};
    const options_spec_t spec = {"bench_featurizer", "[DATA_DIR]", 0, 1, about, options, NULL};
    int first = options_parse(&spec, argc, argv);
    if (weights_flag)
        snprintf(weights, sizeof weights, "%s", weights_flag);
    else
        snprintf(weights, sizeof weights, "%s/models/mobilenet_v2/model.safetensors", shared);
    if (first < argc)
        snprintf(data, sizeof data, "%s", argv[first]);
    else
        snprintf(data, sizeof data, "%s/data/fruits-360/Test", shared);
    images_t im;
    if (threads > 1 && !only_size) {
        fprintf(stderr, "bench_featurizer: --threads takes 1..%d, with --size\n",
                BENCH_MAX_THREADS);
        return 2;
    }
    if (stages && !only_size) {
        fprintf(stderr, "bench_featurizer: --stages needs --size\n");
        return 2;
    }
    if (paths)
        return print_paths();
    if (peaks)
        return print_peaks();
    isa_t isa;
    char why[256];
    if (isa_from_env(&isa, why, sizeof why) != 0) {
        fprintf(stderr, "bench_featurizer: %s\n", why);
        return 2;
    }
    if (stages)
        return bench_stages(weights, only_size, isa, runs) ? 1 : 0;
    if (want < 1 || load_images(data, want, &im))
        return 1;
    printf("kernels isa=%s cpu=%s\n", isa_name(isa), isa_cpu_flags());
    if (only_size > 0) { /* one rate alone, for bench/section_40_pipeline.sh */
        double ms;
        return bench_size(weights, only_size, isa, threads, &im, &ms) ? 1 : 0;
    }
    static const int sizes[2] = {224, 100};
    double net_ms[2];
    for (int s = 0; s < 2; s++)
        if (bench_size(weights, sizes[s], isa, 1, &im, &net_ms[s]))
            return 1;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("worker max_rss_mb=%.1f\n", ru.ru_maxrss / 1024.0);
    openblas_set_num_threads(1);
    double peak = sgemm_gflops(1024, 1024, 1024);
    printf("sgemm peak_gflops=%.1f conv_gflops=%.1f\n", peak, sgemm_gflops(12544, 96, 16));
    print_peaks();
    for (int s = 0; s < 2; s++) {
        char err[512];
        mobilenet_t *net = mobilenet_new(weights, sizes[s], isa, err, sizeof err);
        if (!net)
            return 1;
        double gflops = mobilenet_flops(net) / (net_ms[s] / 1e3) / 1e9;
        printf("network size=%d gflop_per_image=%.3f gflops=%.1f peak_share=%.2f\n", sizes[s],
               mobilenet_flops(net) / 1e9, gflops, gflops / peak);
        mobilenet_destroy(&net);
    }
    for (int i = 0; i < im.n; i++)
        free(im.data[i]);
    free(im.data), free(im.len);
    return 0;
}
