/* retain.c -- see retain.h. Each call reads the oldest entries of fs:stored (one XRANGE),
 * decides how many of them may go (by seq for a count, by each image's stored_ms for an
 * age: entries are in store order, so the first one young enough ends the walk, and when
 * the oldest is young enough nothing more is read), then
 * UNLINKs their image hashes and XTRIMs the stream up to the last one, in one pipeline.
 * UNLINK frees the 7 KB values on Redis's background thread. */
#include "sink/retain.h"

#include "common/keys.h"
#include "common/log.h"
#include "common/options.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int64_t retain_parse_duration(const char *text)
{
    static const struct {
        char suffix;
        double ms;
    } units[] = {{'s', 1000}, {'m', 60e3}, {'h', 3600e3}, {'d', 86400e3}};
    char number[64];
    size_t len = strlen(text);
    double unit = 1000, v;
    if (len == 0 || len >= sizeof number)
        return -1;
    memcpy(number, text, len + 1);
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (tolower((unsigned char) text[len - 1]) == units[i].suffix) {
            unit = units[i].ms;
            number[len - 1] = '\0';
        }
    /* the one strict number reader: finite, the whole string, in range (no NaN, no 1e300) */
    if (option_real("--retain-age", number, 0, (double) INT64_MAX / unit, &v) != 0)
        return -1;
    return (int64_t) (v * unit);
}

/* How many of the oldest `entries` are older than age_ms (their stored_ms); -1 on error. */
static long too_old(redis_t *redis, const redisReply *entries, size_t n, int64_t age_ms,
                    int64_t now_ms)
{
    for (size_t i = 0; i < n; i++)
        redisAppendCommand(redis->ctx, "HGET %s%s stored_ms", KEY_IMAGE_PREFIX,
                           entries->element[i]->element[1]->element[1]->str);
    long old = -1;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(redis->ctx, (void **) &r) != REDIS_OK)
            return -1;
        /* A hash already gone (trimmed before a crash) counts as old. */
        int64_t stored_ms = r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
        if (old < 0 && stored_ms > now_ms - age_ms)
            old = (long) i;
        freeReplyObject(r);
    }
    return old < 0 ? (long) n : old;
}

/* The oldest entries of fs:stored up to seq upto, at most count; NULL when Redis failed. */
static redisReply *oldest(redis_t *redis, int64_t upto, int count)
{
    redisReply *range = redisCommand(redis->ctx, "XRANGE %s - %lld-1 COUNT %d", KEY_STORED,
                                     (long long) upto, count);
    if (redis_lost(redis, range) || range->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(range);
        return NULL;
    }
    return range;
}

long retain_trim(redis_t *redis, const retain_options_t *o, int64_t newest_seq,
                 int64_t checkpointed, int64_t now_ms)
{
    int64_t upto = checkpointed; /* never a vector the checkpoint does not include */
    if (o->count > 0 && newest_seq - o->count < upto)
        upto = newest_seq - o->count;
    if ((!o->count && !o->age_ms) || upto < 1)
        return 0;
    /* By age, the oldest entry alone tells whether any is to go. Usually none is, and a
     * whole range with an HGET per entry, every second, would be work for nothing. */
    if (o->age_ms > 0) {
        redisReply *first = oldest(redis, upto, 1);
        long old = !first ? -1 : first->elements ? too_old(redis, first, 1, o->age_ms, now_ms) : 0;
        freeReplyObject(first);
        if (old <= 0)
            return old;
    }
    redisReply *range = oldest(redis, upto, RETAIN_MAX_PER_CALL);
    if (!range)
        return -1;
    long n = (long) range->elements;
    if (n > 0 && o->age_ms > 0)
        n = too_old(redis, range, (size_t) n, o->age_ms, now_ms);
    long trimmed = n;
    if (n > 0) {
        for (long i = 0; i < n; i++)
            redisAppendCommand(redis->ctx, "UNLINK %s%s", KEY_IMAGE_PREFIX,
                               range->element[i]->element[1]->element[1]->str);
        /* MINID is inclusive: keep from the entry after the last one trimmed. */
        redisAppendCommand(redis->ctx, "XTRIM %s MINID %lld-1", KEY_STORED,
                           atoll(range->element[n - 1]->element[0]->str) + 1);
        for (long i = 0; i <= n; i++) {
            redisReply *r = NULL;
            if (redisGetReply(redis->ctx, (void **) &r) != REDIS_OK ||
                r->type == REDIS_REPLY_ERROR) {
                log_warn("trimming stored images failed: %s", r ? r->str : redis->ctx->errstr);
                trimmed = -1;
            }
            freeReplyObject(r);
        }
    }
    freeReplyObject(range);
    return trimmed;
}
