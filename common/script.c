/* script.c -- see script.h. */
#include "common/script.h"

#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int script_load(script_t *script, redis_t *redis)
{
    if (script->sha[0])
        return 0;
    redisReply *r = redisCommand(redis->ctx, "SCRIPT LOAD %s", script->text);
    int ok = r && r->type == REDIS_REPLY_STRING && r->len == 40;
    if (ok)
        memcpy(script->sha, r->str, 41);
    else if (r)
        log_error("SCRIPT LOAD failed: %s", r->str ? r->str : "unexpected reply");
    freeReplyObject(r);
    return ok ? 0 : -1;
}

bool script_unknown(script_t *script, const redisReply *reply)
{
    bool unknown =
        reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0;
    if (unknown)
        script->sha[0] = '\0';
    return unknown;
}

int script_append(script_t *script, redis_t *redis, int nkeys, int argc, const char **argv,
                  const size_t *lens)
{
    const char **all = malloc((size_t) (argc + 3) * sizeof *all);
    size_t *all_lens = malloc((size_t) (argc + 3) * sizeof *all_lens);
    char numkeys[16];
    int rc = -1;
    if (all && all_lens) {
        snprintf(numkeys, sizeof numkeys, "%d", nkeys);
        all[0] = "EVALSHA", all[1] = script->sha, all[2] = numkeys;
        for (int i = 0; i < 3; i++)
            all_lens[i] = strlen(all[i]);
        memcpy(all + 3, argv, (size_t) argc * sizeof *argv);
        memcpy(all_lens + 3, lens, (size_t) argc * sizeof *lens);
        rc = redisAppendCommandArgv(redis->ctx, argc + 3, all, all_lens) == REDIS_OK ? 0 : -1;
    }
    free(all);
    free(all_lens);
    return rc;
}
