/* bench_pca.c -- how fast the sink's online PCA absorbs and serves 1280-float vectors.
 *
 *   bench_pca [--vectors N] [--refresh-every R] [--threads T]
 *   bench_pca --paths     the instruction sets this CPU runs, best first
 *
 * First, for each instruction set this CPU runs (only the one FRUITSTREAM_ISA names, when it
 * is set): pca_add throughput in batches of 256 (and of 1, 64, 1024 on the first set) with
 * the GFlop/s of its rank-k update, and their share of the set's single-precision FMA peak
 * (featurizer/peak.h; the update's products are summed in float, pca/syrk.h), measured
 * first. Then, for OpenBLAS with 1 and then 2 threads
 * (or only T): pca_refresh time for k = 128 and for 95% of the variance, projection cost,
 * checkpoint write/read time, and the overall rate of "add everything, refresh every R
 * vectors" on the first set. Last, per set, the sink's own PCA work per vector -- merge
 * plus batched projection on the 95% model, one thread as the sink runs it -- against the
 * target of 20,000 vectors/s. The data has the spectrum of the real features
 * (../shared/reference/pca-test-224.txt; a geometric tail past the 300 listed eigenvalues),
 * on the coordinate axes: speed does not depend on the axes' orientation. */
#include "common/clock.h"
#include "common/isa.h"
#include "common/options.h"
#include "featurizer/featurizer.h"
#include "featurizer/peak.h"
#include "pca/pca.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 88172645463325252ull;
static double uniform(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double) (rng >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void)
{
    return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
}

/* FEATURE_DIM eigenvalues: the reference's first 300, then a geometric tail holding the rest of the
 * variance (or a plain geometric spectrum without the reference file). */
static void spectrum(double *l)
{
    char path[512];
    const char *shared = getenv("SHARED");
    snprintf(path, sizeof path, "%s/reference/pca-test-224.txt",
             shared && *shared ? shared : "../shared");
    FILE *f = fopen(path, "r");
    int have = 0;
    double cum = 0, total = 0;
    char line[256];
    while (f && have < FEATURE_DIM && fgets(line, sizeof line, f)) {
        int idx;
        double v, r, c;
        if (line[0] != '#' && sscanf(line, "%d %lf %lf %lf", &idx, &v, &r, &c) == 4) {
            l[have++] = v;
            cum = c;
            total = v / r;
        }
    }
    if (f)
        fclose(f);
    if (have == 0) {
        fprintf(stderr, "bench_pca: no %s, using a geometric spectrum\n", path);
        for (int i = 0; i < FEATURE_DIM; i++)
            l[i] = 20 * pow(0.99, i);
        return;
    }
    /* Tail l[have] * q^j, j = 0.. with sum (1 - cum) * total: solve for q by bisection. */
    double rest = (1 - cum) * total, first = l[have - 1] * 0.99, lo = 0, hi = 1;
    for (int it = 0; it < 100; it++) {
        double q = (lo + hi) / 2, s = first * (1 - pow(q, FEATURE_DIM - have)) / (1 - q);
        (s < rest ? (lo = q) : (hi = q));
    }
    for (int i = have; i < FEATURE_DIM; i++)
        l[i] = first * pow(lo, i - have);
}

static float *make_data(int n)
{
    double l[FEATURE_DIM];
    spectrum(l);
    float *x = malloc((size_t) n * FEATURE_DIM * sizeof *x);
    for (int j = 0; j < FEATURE_DIM; j++)
        l[j] = sqrt(l[j]);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < FEATURE_DIM;
             j++) /* eigenvalue j on coordinate (j * 7) % FEATURE_DIM, mean ~0.5 */
            x[(size_t) i * FEATURE_DIM + (size_t) (j * 7) % FEATURE_DIM] =
                (float) (0.5 + l[j] * gauss());
    return x;
}

/* Vectors per second of wall time and per second of this thread's CPU time, best of 3
 * runs: n vectors in batches of `batch` (n is a multiple of the 256-row block, so nothing is
 * left pending and the time is all merging). */
static double add_rate(isa_t isa, const float *x, int n, int batch, double *cpu_rate)
{
    double best = 1e30, best_cpu = 1e30;
    for (int r = 0; r < 3; r++) {
        pca_t *p = pca_new(&(pca_options_t){.dim = FEATURE_DIM, .k = 128, .isa = isa});
        double t = clock_seconds(), c = clock_thread_cpu_seconds();
        for (int at = 0; at < n; at += batch)
            pca_add(p, x + (size_t) at * FEATURE_DIM, (size_t) batch);
        best = fmin(best, clock_seconds() - t);
        best_cpu = fmin(best_cpu, clock_thread_cpu_seconds() - c);
        pca_destroy(&p);
    }
    *cpu_rate = n / best_cpu;
    return n / best;
}

/* peak: the set's multiply-add peak in floats, measured in this run, so that a reader can
 * tell a slow kernel from a slow moment of a shared host. The update's flops: the upper
 * triangle's n (n + 1) / 2 sums of a product and an addition per vector (the extra row of
 * each block, in double, is a 256th more and not counted). */
static void print_add_rate(isa_t isa, int batch, double rate, double cpu_rate, double peak)
{
    double gflops = cpu_rate * FEATURE_DIM * (FEATURE_DIM + 1.0) / 1e9;
    printf("pca_add %-8s batches of %4d: %6.0f vectors/s, %6.0f per CPU second (rank-k "
           "update %.1f GFlop per CPU second, %.0f%% of the float FMA peak %.1f)\n",
           isa_name(isa), batch, rate, cpu_rate, gflops, 100 * gflops / peak, peak);
}

static double refresh_seconds(pca_t *p, int repeat)
{
    double best = 1e30;
    for (int r = 0; r < repeat; r++) {
        double t = clock_seconds();
        pca_refresh(p);
        best = fmin(best, clock_seconds() - t);
    }
    return best;
}

/* Seconds per vector of pca_project_many over all n vectors, best of 3; *cpu: the same in
 * this thread's CPU time (all of it with one OpenBLAS thread). */
static double project_many_seconds(const pca_t *p, const float *x, int n, float *outs, double *cpu)
{
    double best = 1e30;
    *cpu = 1e30;
    for (int r = 0; r < 3; r++) {
        double t = clock_seconds(), c = clock_thread_cpu_seconds();
        pca_project_many(p, x, (size_t) n, outs);
        best = fmin(best, (clock_seconds() - t) / n);
        *cpu = fmin(*cpu, (clock_thread_cpu_seconds() - c) / n);
    }
    return best;
}

/* What depends on OpenBLAS's threads: refresh, projection; checkpoints; the overall rate
 * on `isa`. Returns the batched projection's seconds per vector on the 95% model, in wall
 * time, and in *cpu this thread's CPU time. */
static double run(int threads, isa_t isa, const float *x, int n, int every, double *cpu)
{
    openblas_set_num_threads(threads);
    printf("-- OpenBLAS %d thread%s\n", threads, threads > 1 ? "s" : "");

    pca_t *p = pca_new(&(pca_options_t){.dim = FEATURE_DIM, .k = 128, .isa = isa});
    pca_t *v = pca_new(&(pca_options_t){.dim = FEATURE_DIM, .variance = 0.95, .isa = isa});
    pca_add(p, x, (size_t) n);
    pca_add(v, x, (size_t) n);
    double tk = refresh_seconds(p, 3), tv = refresh_seconds(v, 3);
    printf("pca_refresh, k = 128: %.0f ms; variance 0.95 (k = %d): %.0f ms\n", 1e3 * tk, pca_k(v),
           1e3 * tv);

    float out[FEATURE_DIM];
    int reps = 2000;
    double t = clock_seconds();
    for (int i = 0; i < reps; i++)
        pca_project(p, x + (size_t) (i % n) * FEATURE_DIM, out);
    double one = (clock_seconds() - t) / reps;
    float *outs = malloc((size_t) n * FEATURE_DIM * sizeof *outs);
    double many = project_many_seconds(p, x, n, outs, cpu);
    t = clock_seconds();
    for (int i = 0; i < reps; i++)
        pca_project(v, x + (size_t) (i % n) * FEATURE_DIM, out);
    double one_v = (clock_seconds() - t) / reps;
    double many_v = project_many_seconds(v, x, n, outs, cpu);
    free(outs);
    printf("projection, k = 128: %.1f us one at a time, %.2f us each in batches; "
           "k = %d: %.1f us, %.2f us\n",
           1e6 * one, 1e6 * many, pca_k(v), 1e6 * one_v, 1e6 * many_v);

    size_t len = pca_state_size(v);
    unsigned char *buf = malloc(len);
    t = clock_seconds();
    pca_state_write(v, buf);
    double tw = clock_seconds() - t;
    char err[200];
    t = clock_seconds();
    pca_t *back = pca_state_read(buf, len, pca_options(v), err, sizeof err);
    double tr = clock_seconds() - t;
    printf("checkpoint: %.1f MB, write %.0f ms, read %.0f ms%s\n", len / 1e6, 1e3 * tw, 1e3 * tr,
           back ? "" : " (READ FAILED)");
    pca_destroy(&back);
    free(buf);
    pca_destroy(&p);

    /* Overall, best of 2: add in batches of 256, refresh (variance 0.95) every `every`. */
    double cpu_rate;
    double rate256 = add_rate(isa, x, n, 256, &cpu_rate);
    int total = 5 * every, refreshes = 0;
    double overall = 0;
    for (int r = 0; r < 2; r++) {
        pca_destroy(&v);
        v = pca_new(&(pca_options_t){.dim = FEATURE_DIM, .variance = 0.95, .isa = isa});
        refreshes = 0;
        t = clock_seconds();
        for (int at = 0; at < total; at += 256) {
            pca_add(v, x + (size_t) (at % n) * FEATURE_DIM, 256);
            if ((at + 256) % every == 0 && pca_refresh(v) == 0)
                refreshes++;
        }
        overall = fmax(overall, total / (clock_seconds() - t));
    }
    printf("overall on %s, add + refresh (variance 0.95) every %d vectors: %.0f vectors/s "
           "(%d refreshes; estimate from the parts: %.0f)\n",
           isa_name(isa), every, overall, refreshes, every / (every / rate256 + tv));
    static const int es[] = {10000, 25000, 50000, 100000};
    for (int i = 0; i < 4; i++)
        printf("  estimate with refresh every %6d: %.0f vectors/s\n", es[i],
               es[i] / (es[i] / rate256 + tv));
    pca_destroy(&v);
    return many_v;
}

/* The instruction sets to measure: FRUITSTREAM_ISA's, or every one this CPU runs, best
 * first. Returns how many, or -1 with a message. */
static int paths(isa_t *out)
{
    char err[256];
    int n = 0;
    if (getenv(ISA_ENV) && *getenv(ISA_ENV)) {
        if (isa_from_env(&out[0], err, sizeof err) != 0) {
            fprintf(stderr, "bench_pca: %s\n", err);
            return -1;
        }
        return 1;
    }
    out[n++] = isa_best();
    for (int i = ISA_COUNT - 1; i >= 0; i--)
        if ((isa_t) i != out[0] && isa_runs((isa_t) i))
            out[n++] = (isa_t) i;
    return n;
}

int main(int argc, char **argv)
{
    int n = 10240, every = 10240, threads = 0;
    isa_t isas[ISA_COUNT];
    int nisas = paths(isas);
    if (nisas < 0)
        return 2;
    bool print_paths = false;
    const option_t options[] = {
        OPTION_INT("vectors", &n, 1024, 1 << 30, "N", "distinct vectors, a multiple of 1024"),
        OPTION_INT("refresh-every", &every, 256, 1 << 30, "R",
                   "refresh every R vectors, a multiple of 256"),
        OPTION_INT("threads", &threads, 1, 1024, "T", "OpenBLAS threads (default: 1, then 2)"),
        OPTION_FLAG("paths", &print_paths, "print the instruction sets this CPU runs, best first"),
        OPTION_END};
    const options_spec_t spec = {"bench_pca",
                                 .about = "How fast the sink's online PCA absorbs and serves "
                                          "vectors.",
                                 .options = options};
    options_parse(&spec, argc, argv);
    if (print_paths) {
        for (int i = 0; i < nisas; i++)
            printf("%s%s", i ? " " : "", isa_name(isas[i]));
        printf("\n");
        return 0;
    }
    if (n % 1024 || every % 256) {
        fprintf(stderr,
                "bench_pca: --vectors and --refresh-every must be multiples of 1024 and 256\n");
        return 2;
    }
    float *x = make_data(n);
    printf("online PCA of %d-float vectors (%d of them, cycled), block merge every 256; "
           "CPU %s\n",
           FEATURE_DIM, n, isa_cpu_flags());
    printf("-- rank-k update (one thread whatever OpenBLAS has)\n");
    double rates[ISA_COUNT], cpu_rates[ISA_COUNT], cpu_rate;
    static const int batches[] = {1, 64, 1024};
    for (int i = 0; i < nisas; i++) {
        double peak = peak_gflops(isas[i], 0.5);
        rates[i] = add_rate(isas[i], x, n, 256, &cpu_rates[i]);
        print_add_rate(isas[i], 256, rates[i], cpu_rates[i], peak);
        for (int b = 0; i == 0 && b < 3; b++) {
            double rate = add_rate(isas[i], x, n, batches[b], &cpu_rate);
            print_add_rate(isas[i], batches[b], rate, cpu_rate, peak);
        }
    }
    double project_cpu,
        project = run(threads > 0 ? threads : 1, isas[0], x, n, every, &project_cpu);
    double project_cpu2;
    if (threads == 0)
        run(2, isas[0], x, n, every, &project_cpu2);
    printf("-- the sink's PCA work per vector: merge + batched projection (variance 0.95), "
           "OpenBLAS %d thread%s\n",
           threads > 0 ? threads : 1, threads > 1 ? "s" : "");
    for (int i = 0; i < nisas; i++) {
        double rate = 1 / (1 / rates[i] + project);
        printf("sink PCA on %-8s %6.0f vectors/s, %6.0f per CPU second (target >= 20000: %s)\n",
               isa_name(isas[i]), rate, 1 / (1 / cpu_rates[i] + project_cpu),
               rate >= 20000 ? "met" : "MISSED");
    }
    free(x);
    return 0;
}
