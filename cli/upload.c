/* upload.c -- `fruitstream upload` puts images into a running pipeline. It talks to Redis
 * only: an upload is a blob plus an entry in the upload stream (common/uploads.h), exactly
 * what an app back-end would write. */
#include "cli/commands.h"
#include "common/config.h"
#include "common/file.h"
#include "common/keys.h"
#include "common/log.h"
#include "cli/private_redis.h"
#include "common/redis.h"
#include "common/uploads.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_upload(int argc, char **argv)
{
    static const struct option options[] = {
        {"label", required_argument, 0, 'L'}, {"key", required_argument, 0, 'k'},
        {"path-only", no_argument, 0, 'p'},   {"redis", required_argument, 0, 'R'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *label = NULL, *key = NULL, *url = redis_url_from_env();
    bool path_only = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'L': label = optarg; break;
        case 'k': key = optarg; break;
        case 'p': path_only = true; break;
        case 'R': url = optarg; break;
        case 'h':
        default:
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: fruitstream upload [options] FILE...\n"
                    "Adds images to the upload stream %s of a running pipeline.\n\n"
                    "  --label L      label of every file (default: its parent folder's name)\n"
                    "  --key K        image key, with a single FILE (default: the path)\n"
                    "  --path-only    send the path instead of the bytes (the ventilator must\n"
                    "                 be able to read it)\n"
                    "  --redis URL    Redis (default $REDIS_URL or %s)\n",
                    KEY_UPLOADS, CONFIG_REDIS_DEFAULT);
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind >= argc || (key && argc - optind != 1)) {
        fprintf(stderr, "fruitstream upload: give FILE... (and --key only with one FILE)\n");
        return 2;
    }
    private_redis_t *no_server = NULL; /* uploads go to a running pipeline's Redis */
    redis_t *redis = private_redis_connect(url ? url : CONFIG_REDIS_DEFAULT, NULL, &no_server);
    if (!redis || uploads_ensure_group(redis) != 0) {
        redis_destroy(&redis);
        return 1;
    }
    uploads_t *uploads = uploads_new(redis);
    file_buffer_t file = {0};
    int status = 0;
    for (int i = optind; i < argc; i++) {
        const char *path = argv[i];
        char derived[256];
        if (!label)
            uploads_label_from_path(path, derived, sizeof derived);
        const char *this_label = label ? label : derived;
        if (path_only) {
            uploads_add_path(uploads, key ? key : path, this_label, path);
            continue;
        }
        if (file_read(path, &file) != 0) {
            fprintf(stderr, "fruitstream upload: %s: %s\n", path, strerror(errno));
            status = 1;
            continue;
        }
        uploads_add_blob(uploads, key ? key : path, this_label, file.data, file.len);
    }
    file_buffer_free(&file);
    long count = uploads_finish(uploads);
    if (uploads_refused(uploads) > 0)
        status = 1;
    if (count < 0) {
        status = 1;
        count = 0;
    }
    uploads_destroy(&uploads);
    redis_destroy(&redis);
    fprintf(stderr, "uploaded %ld images\n", count);
    return status;
}
