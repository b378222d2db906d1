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
#include "cli/commands.h"
#include "cli/private_redis.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/file.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/options.h"
#include "common/utf8.h"
#include "featurizer/featurizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char about[] =
    "For each JPEG: featurize it as a worker does, project it with the PCA model in " KEY_PCA_MODEL
    ", and print its nearest stored images and their majority label:\n"
    "  FILE<TAB>LABEL<TAB>VOTES, then N lines <TAB>KEY<TAB>LABEL<TAB>DISTANCE.\n"
    "In names, a tab, line break, backslash, other control byte or byte that is not UTF-8 is "
    "written \\t, \\n, \\r, \\\\ or \\xHH.";

/* Writes a file name, key or label as one field: whatever bytes a stored key or label holds
 * (anyone who can upload chooses them), they cannot end the field or the line and so forge
 * another neighbour. */
static void put_name(const char *s)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        size_t n = utf8_length(p + i, len - i);
        if (n == 0 || p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\') {
            const char *named = p[i] == '\t'   ? "\\t"
                                : p[i] == '\n' ? "\\n"
                                : p[i] == '\r' ? "\\r"
                                : p[i] == '\\' ? "\\\\"
                                               : NULL;
            if (named)
                fputs(named, stdout);
            else
                printf("\\x%02X", p[i]);
            i++;
            continue;
        }
        fwrite(p + i, 1, n, stdout);
        i += n;
    }
}

/* Answers one file; -1 when it could not be read or featurized. */
static int answer(classifier_t *c, const char *path, size_t n, gallery_hit_t *hits,
                  file_buffer_t *file)
{
    char err[512];
    if (file_read(path, file, CONFIG_MAX_IMAGE_BYTES) != 0) {
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
    put_name(path);
    putchar('\t');
    put_name(label);
    printf("\t%d\n", votes);
    for (long i = 0; i < found; i++) {
        putchar('\t');
        put_name(gallery_key(g, hits[i].row));
        putchar('\t');
        put_name(gallery_label(g, hits[i].row));
        printf("\t%.6g\n", hits[i].distance);
    }
    log_debug("%s answered in %.1f ms", path, (clock_seconds() - t0) * 1e3);
    return 0;
}

int cmd_query(int argc, char **argv)
{
    const char *url = NULL, *data_dir = NULL, *weights = NULL;
    int n = QUERY_DEFAULT_K, size = 0;
    const option_t options[] = {
        OPTION_INT("k", &n, 1, QUERY_MAX_K, "N", "neighbours per file"),
        OPTION_INT("size", &size, FEATURIZER_MIN_SIZE, FEATURIZER_MAX_SIZE, "S",
                   "featurizer input side (default: that of the stored images)"),
        OPTION_STRING("weights", &weights, "PATH", config_weights_help()),
        PRIVATE_REDIS_OPTIONS(&url, &data_dir), OPTION_END};
    const options_spec_t spec = {
        "fruitstream query", "FILE...", 1, OPTIONS_ANY_NUMBER, about, options, NULL};
    int first = options_parse(&spec, argc, argv);
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
    for (int i = first; hits && i < argc; i++)
        if (answer(classifier, argv[i], (size_t) n, hits, &file) != 0)
            status = 1;
    if (file_finish_output(stdout) != 0) {
        log_error("writing the answers: %s", strerror(errno));
        status = 1;
    }
    log_info("%d files answered in %.3f s", argc - first, clock_seconds() - t0);
    file_buffer_free(&file);
    free(hits);
    classifier_destroy(&classifier);
    return status;
}
