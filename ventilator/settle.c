/* settle.c -- see settle.h. One EVALSHA of settle_stored.lua per batch of entries read,
 * with each entry's image hash as a key, so the check and the settling are one atomic step
 * against a sink storing the same image. */
#include "ventilator/settle.h"

#include "common/keys.h"
#include "common/log.h"
#include "common/script.h"
#include "common/uploads.h"
#include "ventilator/settle_stored.lua.h" /* settle_stored_lua, embedded by the build */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static script_t settle_stored = {settle_stored_lua, ""};

/* Appends one settle_stored call for the m entries not marked in skip[] (its layout:
 * ventilator/settle_stored.lua). 0, or -1 when out of memory. */
static int append_settle_call(redis_t *redis, const redisReply *entries, const bool *skip, size_t m)
{
    size_t argc = 4 + 2 * m;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    char(*images)[sizeof KEY_IMAGE_PREFIX + KEY_IMAGE_MAX_LEN] = malloc((m + 1) * sizeof *images);
    int rc = -1;
    if (argv && lens && images) {
        const char **keys = argv, **args = argv + 2 + m;
        keys[0] = KEY_UPLOADS;
        keys[1] = KEY_COUNTERS;
        args[0] = GROUP_VENTILATORS;
        args[1] = KEY_BLOB_PREFIX;
        for (size_t i = 0, j = 0; i < entries->elements; i++) {
            if (skip[i])
                continue;
            snprintf(images[j], sizeof images[j], KEY_IMAGE_PREFIX "%s",
                     uploads_entry_key(entries->element[i]));
            keys[2 + j] = images[j];
            args[2 + j] = entries->element[i]->element[0]->str;
            j++;
        }
        for (size_t i = 0; i < argc; i++)
            lens[i] = strlen(argv[i]);
        rc = script_append(&settle_stored, redis, (int) (2 + m), (int) argc, argv, lens);
    }
    free(argv);
    free(lens);
    free(images);
    return rc;
}

int settle_already_stored(redis_t *redis, const redisReply *entries, bool *skip, size_t m,
                          int64_t *settled)
{
    for (int tries = 0; tries < 2; tries++) { /* a second time after Redis forgot the script */
        if (script_load(&settle_stored, redis) != 0 ||
            append_settle_call(redis, entries, skip, m) != 0)
            return 0;
        redisReply *r = NULL;
        if (redisGetReply(redis->ctx, (void **) &r) != REDIS_OK) {
            freeReplyObject(r);
            return -1;
        }
        bool unknown = script_unknown(&settle_stored, r);
        if (r->type == REDIS_REPLY_ERROR && !unknown)
            log_error("settling already stored uploads: %s", r->str);
        else if (r->type == REDIS_REPLY_ARRAY)
            for (size_t i = 0, j = 0; i < entries->elements && j < r->elements; i++)
                if (!skip[i] && r->element[j++]->integer == 1) {
                    skip[i] = true;
                    (*settled)++;
                }
        freeReplyObject(r);
        if (!unknown)
            return 0;
    }
    return 0;
}
