/* upload.c -- `fruitstream upload` puts images into a running pipeline. It talks to Redis
 * only: an upload is a blob plus an entry in the upload stream (common/uploads.h), exactly
 * what an app back-end would write. */
#include "cli/commands.h"
#include "cli/private_redis.h"
#include "common/config.h"
#include "common/file.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/uploads.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_upload(int argc, char **argv)
{
    const char *label = NULL, *key = NULL, *url = CONFIG_REDIS_DEFAULT;
    bool path_only = false;
    int64_t max_bytes = CONFIG_MAX_IMAGE_BYTES;
    const option_t options[] = {
        OPTION_STRING("label", &label, "L",
                      "label of every file (default: its parent folder's name)"),
        OPTION_STRING("key", &key, "K", "image key, with a single FILE (default: the path)"),
        OPTION_FLAG("path-only", &path_only,
                    "send the path instead of the bytes (the ventilator must be able to read "
                    "it)"),
        OPTION_BYTES("max-image-bytes", &max_bytes, 1, CONFIG_MAX_IMAGE_BYTES_LIMIT, "N",
                     "refuse a larger file without sending it (default 64M, the ventilator's "
                     "default); units K, M, G"),
        OPTION_REDIS(&url, CONFIG_REDIS_HELP),
        OPTION_END};
    const options_spec_t spec = {"fruitstream upload",
                                 "FILE...",
                                 1,
                                 OPTIONS_ANY_NUMBER,
                                 "Adds images to the upload stream " KEY_UPLOADS
                                 " of a running pipeline.",
                                 options,
                                 NULL};
    int first = options_parse(&spec, argc, argv);
    if (key && argc - first != 1) {
        fprintf(stderr, "fruitstream upload: --key only with one FILE\n");
        return 2;
    }
    private_redis_t *no_server = NULL; /* uploads go to a running pipeline's Redis */
    redis_t *redis = private_redis_connect(url, NULL, &no_server);
    if (!redis || uploads_ensure_group(redis) != 0) {
        redis_destroy(&redis);
        return 1;
    }
    uploads_t *uploads = uploads_new(redis);
    file_buffer_t file = {0};
    int status = 0;
    for (int i = first; i < argc; i++) {
        const char *path = argv[i];
        char derived[256];
        if (!label)
            uploads_label_from_path(path, derived, sizeof derived);
        const char *this_label = label ? label : derived;
        if (path_only) {
            uploads_add_path(uploads, key ? key : path, this_label, path);
            continue;
        }
        if (file_read(path, &file, (size_t) max_bytes) != 0) {
            fprintf(stderr, "fruitstream upload: %s: %s\n", path,
                    errno == EFBIG ? "larger than --max-image-bytes" : strerror(errno));
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
