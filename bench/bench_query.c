/* bench_query -- how fast `fruitstream query` searches, and how right it is.
 *
 *   bench_query synthetic ROWS [K]   search latency over ROWS synthetic stored projections
 *   bench_query loo DATA_DIR [N]     leave-one-out accuracy of the N-nearest vote (default 5)
 *                                    over every image a `fruitstream run` stored in DATA_DIR,
 *                                    each against all the others
 *
 * synthetic: a gallery of ROWS rows of K floats (212: k at 95% variance on the Test split)
 * drawn around 131 class centres; prints the median time of one query (what `query` pays
 * per file, featurization aside) and the time per query in blocks of 64, and the gallery's
 * memory. loo: loads the gallery as `query --data-dir` does (model and stored projections from
 * the directory's Redis, older versions projected again) and asks each row for its N + 1
 * nearest, dropping itself. The Redis is found as `query` finds it (cli/private_redis.h):
 * the one a `serve` or `run` keeps over the directory, else one started and stopped here,
 * never a second server over its files. */
#include "cli/gallery.h"
#include "cli/private_redis.h"
#include "common/clock.h"
#include "pca/pca_model.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLASSES 131
#define NEIGHBOURS 5

static float uniform(void)
{
    return (float) rand() / (float) RAND_MAX - 0.5f;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static int synthetic(size_t rows, int k)
{
    gallery_t *g = gallery_new(k);
    float *centres = malloc((size_t) CLASSES * k * sizeof(float)), *row = malloc(k * sizeof(float));
    if (!g || !centres || !row)
        return 1;
    srand(1);
    for (size_t i = 0; i < (size_t) CLASSES * k; i++)
        centres[i] = 4 * uniform();
    char key[64], label[32];
    double t0 = clock_seconds();
    for (size_t r = 0; r < rows; r++) {
        size_t c = r % CLASSES;
        for (int j = 0; j < k; j++)
            row[j] = centres[c * k + j] + uniform();
        snprintf(key, sizeof key, "synthetic/%zu.jpg", r);
        snprintf(label, sizeof label, "class%zu", c);
        if (gallery_add(g, key, label, row) != 0)
            return 1;
    }
    fprintf(stderr, "bench_query: %zu rows built in %.1f s\n", rows, clock_seconds() - t0);
    enum { SINGLE = 21, BLOCK = 64 };
    float *queries = malloc((size_t) BLOCK * k * sizeof(float));
    gallery_hit_t *hits = malloc((size_t) BLOCK * NEIGHBOURS * sizeof *hits);
    double times[SINGLE];
    for (int i = 0; i < BLOCK * k; i++)
        queries[i] = centres[(i / k) % CLASSES * k + i % k] + uniform();
    for (int i = 0; i < SINGLE; i++) {
        t0 = clock_seconds();
        gallery_nearest(g, queries + (size_t) (i % BLOCK) * k, 1, NEIGHBOURS, hits);
        times[i] = clock_seconds() - t0;
    }
    qsort(times, SINGLE, sizeof *times, compare_doubles);
    t0 = clock_seconds();
    gallery_nearest(g, queries, BLOCK, NEIGHBOURS, hits);
    double block = clock_seconds() - t0;
    printf("query rows=%zu k=%d: one query %.2f ms (median of %d), %.2f ms per query in blocks "
           "of %d, gallery %.0f MB\n",
           rows, k, times[SINGLE / 2] * 1e3, SINGLE, block / BLOCK * 1e3, BLOCK,
           (double) rows * ((double) k * 4 + 4 + 8 + 4 + 24) / 1e6);
    free(queries);
    free(hits);
    free(centres);
    free(row);
    gallery_destroy(&g);
    return 0;
}

static int leave_one_out(const char *data_dir, size_t n)
{
    char err[512] = "no Redis over the data directory (see above)";
    unsetenv("REDIS_URL"); /* the directory's Redis, whatever the environment names */
    private_redis_t *started;
    redis_t *redis = private_redis_connect(NULL, data_dir, &started);
    pca_model_t *model = redis ? pca_model_new(redis, err, sizeof err) : NULL;
    gallery_load_info_t info;
    double t0 = clock_seconds();
    gallery_t *g = model ? gallery_load(redis, model, 1, &info, err, sizeof err) : NULL;
    if (!g) {
        fprintf(stderr, "bench_query: %s\n", err);
        pca_model_destroy(&model);
        redis_destroy(&redis);
        private_redis_destroy(&started);
        return 1;
    }
    double load = clock_seconds() - t0;
    size_t rows = gallery_count(g), k = (size_t) gallery_k(g), block = 256, right = 0;
    gallery_hit_t *hits = malloc(block * (n + 1) * sizeof *hits),
                  *others = malloc(n * sizeof *others);
    t0 = clock_seconds();
    for (size_t first = 0; first < rows; first += block) {
        size_t b = rows - first < block ? rows - first : block;
        gallery_nearest(g, gallery_row(g, first), b, n + 1, hits);
        for (size_t i = 0; i < b; i++) {
            size_t m = 0;
            for (size_t j = 0; j <= n && m < n; j++)
                if (hits[i * (n + 1) + j].row != first + i)
                    others[m++] = hits[i * (n + 1) + j];
            int votes;
            right += strcmp(gallery_vote(g, others, m, &votes), gallery_label(g, first + i)) == 0;
        }
    }
    printf("leave-one-out: %zu images, k=%zu, %zu-nearest vote right for %zu (%.2f%%); "
           "gallery loaded in %.2f s (%zu projected again), searched in %.1f s\n",
           rows, k, n, right, 100.0 * (double) right / (double) rows, load, info.reprojected,
           clock_seconds() - t0);
    free(hits);
    free(others);
    gallery_destroy(&g);
    pca_model_destroy(&model);
    redis_destroy(&redis);
    private_redis_destroy(&started);
    return 0;
}

int main(int argc, char **argv)
{
    openblas_set_num_threads(1);
    if (argc >= 3 && strcmp(argv[1], "synthetic") == 0)
        return synthetic(strtoul(argv[2], NULL, 10), argc > 3 ? atoi(argv[3]) : 212);
    if (argc >= 3 && strcmp(argv[1], "loo") == 0)
        return leave_one_out(argv[2], argc > 3 ? strtoul(argv[3], NULL, 10) : NEIGHBOURS);
    fprintf(stderr, "usage: bench_query synthetic ROWS [K] | loo DATA_DIR [N]\n");
    return 2;
}
