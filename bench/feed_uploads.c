/* feed_uploads -- uploads at a steady rate, the way an app back-end would add them.
 *
 *   feed_uploads [--rate R] [--count N] [--seconds T] [--prefix P] [--path-only]
 *                [--redis URL] LIST
 *
 * LIST names JPEG files, one per line; they are read into memory once, then uploaded in
 * turn, round and round, each time under a new key PREFIX<number> (label = the file's
 * folder). An upload is what `fruitstream upload` does: SET fs:blob:<key> to the bytes and
 * XADD an entry naming it (--path-only: an entry naming the file instead, nothing else).
 * With --rate the i-th upload is sent at start + i/R (so a late one does not shift the
 * rest); without, as fast as Redis takes them (pipelined). Stops after N uploads or T
 * seconds, adds the count to fs:counters uploaded, and prints `uploads N seconds S rate R`
 * and the largest lag behind schedule. */
#include "common/clock.h"
#include "common/config.h"
#include "common/file.h"
#include "common/keys.h"
#include "common/options.h"
#include "common/redis.h"
#include "common/uploads.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char *path, *label, *bytes;
    size_t len;
} image_t;

static void sleep_until(double t)
{
    double wait = t - clock_seconds();
    if (wait <= 0)
        return;
    struct timespec ts = {(time_t) wait, (long) ((wait - (double) (time_t) wait) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Reads the replies of `pending` pipelined commands; -1 on a lost connection or an error. */
static int collect(redis_t *redis, int pending)
{
    int rc = 0;
    for (; pending > 0; pending--) {
        redisReply *r = NULL;
        if (redisGetReply(redis->ctx, (void **) &r) != REDIS_OK) {
            fprintf(stderr, "feed_uploads: %s\n", redis->ctx->errstr);
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "feed_uploads: %s\n", r->str);
            rc = -1;
        }
        freeReplyObject(r);
    }
    return rc;
}

static const char about[] = "Uploads the JPEG files LIST names, round and round.";

int main(int argc, char **argv)
{
    double rate = 0, seconds = 0;
    int64_t count = 0;
    const char *prefix = "feed-", *url = CONFIG_REDIS_DEFAULT;
    bool path_only = false;
    const option_t options[] = {
        OPTION_REAL("rate", &rate, 0, 1000000000, "R",
                    "uploads a second (default: as fast as Redis takes them)"),
        OPTION_INT64("count", &count, 1, INT64_MAX, "N", "stop after N uploads (default none)"),
        OPTION_REAL("seconds", &seconds, 0, 1000000000, "T",
                    "stop after T seconds (default none; N or T required)"),
        OPTION_STRING("prefix", &prefix, "P", "the keys are P<number>"),
        OPTION_FLAG("path-only", &path_only, "upload each file's path, not its bytes"),
        OPTION_REDIS(&url, CONFIG_REDIS_HELP),
        OPTION_END};
    const options_spec_t spec = {"feed_uploads", "LIST", 1, 1, about, options, NULL};
    int first = options_parse(&spec, argc, argv);
    if (count <= 0 && seconds <= 0) {
        fprintf(stderr, "feed_uploads: give --count N or --seconds T\n");
        return 2;
    }
    const char *list_path = argv[first];
    FILE *list = fopen(list_path, "r");
    if (!list) {
        perror(list_path);
        return 1;
    }
    image_t *images = NULL;
    size_t n_images = 0, cap = 0;
    char line[PATH_MAX];
    while (fgets(line, sizeof line, list)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        if (n_images == cap &&
            !(images = realloc(images, (cap = cap ? 2 * cap : 256) * sizeof *images))) {
            fprintf(stderr, "feed_uploads: out of memory\n");
            return 1;
        }
        image_t *im = &images[n_images];
        char label[256];
        uploads_label_from_path(line, label, sizeof label);
        im->path = realpath(line, NULL);
        im->label = strdup(label);
        im->bytes = path_only ? NULL : file_read_all(line, &im->len);
        if (!im->path || (!path_only && !im->bytes)) {
            fprintf(stderr, "feed_uploads: cannot read %s\n", line);
            return 1;
        }
        n_images++;
    }
    fclose(list);
    if (n_images == 0) {
        fprintf(stderr, "feed_uploads: %s lists no files\n", list_path);
        return 1;
    }
    char err[512];
    redis_t *redis = redis_new(url, err, sizeof err);
    if (!redis || uploads_ensure_group(redis) != 0) {
        fprintf(stderr, "feed_uploads: %s\n", redis ? "cannot create the consumer group" : err);
        return 1;
    }
    double start = clock_seconds(), worst_lag = 0;
    long sent = 0;
    int pending = 0, rc = 0;
    while ((count <= 0 || sent < count) && (seconds <= 0 || clock_seconds() - start < seconds)) {
        if (rate > 0) {
            double due = start + (double) sent / rate;
            sleep_until(due);
            double lag = clock_seconds() - due;
            if (lag > worst_lag)
                worst_lag = lag;
        }
        const image_t *im = &images[(size_t) sent % n_images];
        char key[64];
        snprintf(key, sizeof key, "%s%ld", prefix, sent);
        if (path_only) {
            redisAppendCommand(redis->ctx, "XADD %s * key %s label %s path %s", KEY_UPLOADS, key,
                               im->label, im->path);
            pending++;
        } else {
            redisAppendCommand(redis->ctx, "SET %s%s %b", KEY_BLOB_PREFIX, key, im->bytes, im->len);
            redisAppendCommand(redis->ctx, "XADD %s * key %s label %s blob %s%s", KEY_UPLOADS, key,
                               im->label, KEY_BLOB_PREFIX, key);
            pending += 2;
        }
        sent++;
        /* at a fixed rate every upload goes out at once; flat out, 512 commands at a time */
        if (rate > 0 || pending >= 512) {
            if ((rc = collect(redis, pending)) != 0)
                break;
            pending = 0;
        }
    }
    if (rc == 0)
        rc = collect(redis, pending);
    double elapsed = clock_seconds() - start;
    freeReplyObject(redisCommand(redis->ctx, "HINCRBY %s uploaded %ld", KEY_COUNTERS, sent));
    printf("uploads %ld seconds %.3f rate %.1f max_lag_ms %.1f\n", sent, elapsed,
           (double) sent / elapsed, worst_lag * 1000);
    redis_destroy(&redis);
    for (size_t i = 0; i < n_images; i++) {
        free(images[i].path);
        free(images[i].label);
        free(images[i].bytes);
    }
    free(images);
    return rc == 0 ? 0 : 1;
}
