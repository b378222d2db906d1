/* aof.c -- see aof.h. INFO persistence is a few hundred bytes of "name:value" lines. */
#include "sink/aof.h"

#include "common/log.h"

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

int aof_bound(redis_t *redis, int64_t limit)
{
    if (limit <= 0)
        return 0;
    redisReply *r = redisCommand(redis->ctx, "INFO persistence");
    if (refused(r, "INFO persistence"))
        return 0;
    if (redis_lost(redis, r) || r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return -1;
    }
    long long enabled = info_field(r->str, "aof_enabled"),
              rewriting = info_field(r->str, "aof_rewrite_in_progress"),
              scheduled = info_field(r->str, "aof_rewrite_scheduled"),
              current = info_field(r->str, "aof_current_size"),
              base = info_field(r->str, "aof_base_size");
    freeReplyObject(r);
    if (enabled != 1 || rewriting != 0 || scheduled > 0 || current < 0 || base < 0 ||
        current - base <= (limit > base ? limit : base))
        return 0;
    log_info("append-only file grew %lld MB past its last rewrite (%lld MB): asking Redis to "
             "rewrite it",
             (current - base) >> 20, base >> 20);
    r = redisCommand(redis->ctx, "BGREWRITEAOF");
    if (refused(r, "BGREWRITEAOF"))
        return 0;
    int rc = redis_lost(redis, r) ? -1 : 1;
    freeReplyObject(r);
    return rc;
}
