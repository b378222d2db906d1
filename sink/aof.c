/* aof.c -- see aof.h. INFO persistence and INFO memory are each a few hundred bytes of
 * "name:value" lines. */
#include "sink/aof.h"

#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The integer after "\r\nNAME:" in an INFO reply, or -1 when absent. */
static long long info_field(const char *info, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = info; (p = strstr(p, name)) != NULL; p += len)
        if ((p == info || p[-1] == '\n') && p[len] == ':')
            return atoll(p + len + 1);
    return -1;
}

/* An error reply to INFO or BGREWRITEAOF (a user without @admin rights, a save in
 * progress) skips this checkpoint's bound, saying why, rather than going through
 * redis_lost, which ends the program on a refusal such as NOPERM: storing results does not
 * need these commands. */
static bool refused(redisReply *r, const char *command)
{
    if (!r || r->type != REDIS_REPLY_ERROR)
        return false;
    log_warn("%s: %s (the append-only file is not bounded this time)", command, r->str);
    freeReplyObject(r);
    return true;
}

/* The reply to INFO section as a string the caller frees with freeReplyObject; NULL with
 * *rc set: 0 when Redis refused it (said), -1 when Redis failed. */
static redisReply *info(redis_t *redis, const char *section, int *rc)
{
    redisReply *r = redisCommand(redis->ctx, "INFO %s", section);
    char command[32];
    snprintf(command, sizeof command, "INFO %s", section);
    *rc = 0;
    if (refused(r, command))
        return NULL;
    if (redis_lost(redis, r) || r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        *rc = -1;
        return NULL;
    }
    return r;
}

int aof_bound(redis_t *redis, int64_t limit)
{
    if (limit <= 0)
        return 0;
    int rc;
    redisReply *r = info(redis, "persistence", &rc);
    if (!r)
        return rc;
    long long enabled = info_field(r->str, "aof_enabled"),
              rewriting = info_field(r->str, "aof_rewrite_in_progress"),
              scheduled = info_field(r->str, "aof_rewrite_scheduled"),
              current = info_field(r->str, "aof_current_size");
    freeReplyObject(r);
    if (enabled != 1 || rewriting != 0 || scheduled > 0 || current < 0)
        return 0;
    if (!(r = info(redis, "memory", &rc)))
        return rc;
    long long data = info_field(r->str, "used_memory_dataset");
    freeReplyObject(r);
    long long waste = current - data;
    if (data < 0 || waste <= (limit > data ? limit : data))
        return 0;
    log_info("append-only file (%lld MB) holds %lld MB beyond the data (%lld MB): asking Redis "
             "to rewrite it",
             current >> 20, waste >> 20, data >> 20);
    r = redisCommand(redis->ctx, "BGREWRITEAOF");
    if (refused(r, "BGREWRITEAOF"))
        return 0;
    rc = redis_lost(redis, r) ? -1 : 1;
    freeReplyObject(r);
    return rc;
}
