/* query.c -- `fruitstream query [--k N] FILE...`: which stored images each file is nearest
 * to, and so which label it most likely has.
 *
 * Loads the classifier once (model, gallery of stored projections, featurizer: see
 * cli/classify.h), then for each FILE prints `FILE<TAB>LABEL<TAB>VOTES` (the majority label
 * of its N nearest and how many of them have it) and N lines `<TAB>KEY<TAB>LABEL<TAB>
 * DISTANCE`, nearest first. A file that cannot be read or featurized is named on stderr,
 * the others are still answered, and the exit status is 1. Load and search times go to
 * the log (stderr). */
#include "cli/classify.h"
#include "common/clock.h"
#include "cli/commands.h"
#include "common/config.h"
#include "featurizer/featurizer.h"
#include "common/file.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/options.h"
#include "cli/private_redis.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void query_usage(FILE *out)
{
    fprintf(out,
            "usage: fruitstream query [options] FILE...\n"
            "For each JPEG: featurize it as a worker does, project it with the PCA model in\n"
            "%s, and print its nearest stored images and their majority label:\n"
            "  FILE<TAB>LABEL<TAB>VOTES, then N lines <TAB>KEY<TAB>LABEL<TAB>DISTANCE.\n\n"
            "  --k N            neighbours per file (default %d)\n"
            "  --size S         featurizer input side (default: that of the stored images)\n"
            "  --weights PATH   model.safetensors (default $%s, else %s)\n"
            "  --redis URL      Redis (default $REDIS_URL, else the data directory below)\n"
            "  --data-dir DIR   a `fruitstream run` data directory (default %s when it\n"
            "                   exists, else Redis at %s)\n",
            KEY_PCA_MODEL, QUERY_DEFAULT_K, CONFIG_WEIGHTS_ENV, config_weights_default(),
            PRIVATE_REDIS_DEFAULT_DIR, CONFIG_REDIS_DEFAULT);
}

/* Answers one file; -1 when it could not be read or featurized. */
static int answer(classifier_t *c, const char *path, size_t n, gallery_hit_t *hits,
                  file_buffer_t *file)
{
    char err[512];
    if (file_read(path, file) != 0) {
        fprintf(stderr, "fruitstream query: %s: %s\n", path, strerror(errno));
        return -1;
    }
    double t0 = clock_seconds();
    long found = classifier_run(c, file->data, file->len, n, hits, err, sizeof err);
    if (found < 0) {
        fprintf(stderr, "fruitstream query: %s: %s\n", path, err);
        return -1;
    }
    const gallery_t *g = classifier_gallery(c);
    int votes;
    const char *label = gallery_vote(g, hits, (size_t) found, &votes);
    printf("%s\t%s\t%d\n", path, label, votes);
    for (long i = 0; i < found; i++)
        printf("\t%s\t%s\t%.6g\n", gallery_key(g, hits[i].row), gallery_label(g, hits[i].row),
               hits[i].distance);
    log_debug("%s answered in %.1f ms", path, (clock_seconds() - t0) * 1e3);
    return 0;
}

int cmd_query(int argc, char **argv)
{
    static const struct option options[] = {
        {"k", required_argument, 0, 'k'},        {"size", required_argument, 0, 's'},
        {"weights", required_argument, 0, 'w'},  {"redis", required_argument, 0, 'R'},
        {"data-dir", required_argument, 0, 'D'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *url = NULL, *data_dir = NULL, *weights = NULL;
    int n = QUERY_DEFAULT_K, size = 0, c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (option_int("--k", optarg, 1, QUERY_MAX_K, &n) != 0)
                return 2;
            break;
        case 's':
            if (option_int("--size", optarg, FEATURIZER_MIN_SIZE, FEATURIZER_MAX_SIZE, &size))
                return 2;
            break;
        case 'w': weights = optarg; break;
        case 'R': url = optarg; break;
        case 'D': data_dir = optarg; break;
        case 'h': query_usage(stdout); return 0;
        default: query_usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        query_usage(stderr);
        return 2;
    }
    private_redis_t *server;
    redis_t *redis = private_redis_connect(url, data_dir, &server);
    if (!redis)
        return 1;
    char err[512];
    double t0 = clock_seconds();
    classifier_t *classifier =
        classifier_new(redis, config_weights_path(weights), (int) size, err, sizeof err);
    redis_destroy(&redis);
    private_redis_destroy(&server);
    if (!classifier) {
        log_error("%s", err);
        return 1;
    }
    const gallery_load_info_t *info = classifier_info(classifier);
    log_info("gallery: %zu stored images (%zu projected again with the current model, %zu "
             "skipped), S=%d, loaded in %.2f s",
             info->rows, info->reprojected, info->skipped, info->size, clock_seconds() - t0);
    gallery_hit_t *hits = malloc((size_t) n * sizeof *hits);
    file_buffer_t file = {0};
    int status = hits ? 0 : 1;
    t0 = clock_seconds();
    for (int i = optind; hits && i < argc; i++)
        if (answer(classifier, argv[i], (size_t) n, hits, &file) != 0)
            status = 1;
    log_info("%d files answered in %.3f s", argc - optind, clock_seconds() - t0);
    file_buffer_free(&file);
    free(hits);
    classifier_destroy(&classifier);
    return status;
}
