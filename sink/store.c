/* store.c -- see store.h. The script is sent with EVALSHA; when Redis does not know it
 * (scripts are not persisted, so after a restart) it is loaded again with SCRIPT LOAD and
 * the batch repeated, which the script makes harmless. */
#include "store.h"

#include "clock.h"
#include "keys.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* KEYS: 1 image hash, 2 stored stream, 3 counters, 4 labels, 5 uploads stream, 6 failed set
 * ARGV: 1 entry, 2 group, 3 key, 4 label, 5 ok, 6 features, 7 error, 8 worker, 9 decode_ms,
 *       10 resize_ms, 11 net_ms, 12 uploaded_ms, 13 stored_ms, 14 pca, 15 pca_version,
 *       16 size, 17 attempt
 * Returns {outcome, seq}. */
static const char store_script[] =
    "local function finish()\n"
    "  redis.call('XACK', KEYS[5], ARGV[2], ARGV[1])\n"
    "  local e = redis.call('XRANGE', KEYS[5], ARGV[1], ARGV[1])\n"
    "  if e[1] then\n"
    "    local f = e[1][2]\n"
    "    for i = 1, #f, 2 do if f[i] == 'blob' then redis.call('DEL', f[i + 1]) end end\n"
    "    redis.call('XDEL', KEYS[5], ARGV[1])\n"
    "  end\n"
    "end\n"
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  finish()\n"
    "  redis.call('HINCRBY', KEYS[3], 'duplicates', 1)\n"
    "  return {0, tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')}\n"
    "end\n"
    "local common = {'key', ARGV[3], 'label', ARGV[4], 'worker', ARGV[8],\n"
    "  'uploaded_ms', ARGV[12], 'stored_ms', ARGV[13], 'size', ARGV[16], 'attempt', ARGV[17]}\n"
    "if ARGV[5] ~= '1' then\n"
    "  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[7], unpack(common))\n"
    "  redis.call('SADD', KEYS[6], ARGV[3])\n"
    "  redis.call('HINCRBY', KEYS[3], 'failed', 1)\n"
    "  finish()\n"
    "  return {2, 0}\n"
    "end\n"
    "local seq = redis.call('HINCRBY', KEYS[3], 'seq', 1)\n"
    "redis.call('HSET', KEYS[1], 'status', 'ok', 'seq', seq, 'features', ARGV[6],\n"
    "  'decode_ms', ARGV[9], 'resize_ms', ARGV[10], 'net_ms', ARGV[11],\n"
    "  'pca', ARGV[14], 'pca_version', ARGV[15], unpack(common))\n"
    "redis.call('XADD', KEYS[2], seq .. '-1', 'key', ARGV[3])\n"
    "redis.call('HINCRBY', KEYS[3], 'stored', 1)\n"
    "if ARGV[4] ~= '' then redis.call('HINCRBY', KEYS[4], ARGV[4], 1) end\n"
    "finish()\n"
    "return {1, seq}\n";

static char script_sha[41];

/* SHA1 of the script, asked of Redis once per process (SCRIPT LOAD also caches it). */
static int load_script(redis_t *redis)
{
    redisReply *r = redisCommand(redis->ctx, "SCRIPT LOAD %s", store_script);
    int ok = r && r->type == REDIS_REPLY_STRING && r->len == 40;
    if (ok)
        memcpy(script_sha, r->str, 41);
    else if (r)
        log_error("SCRIPT LOAD failed: %s", r->str ? r->str : "unexpected reply");
    freeReplyObject(r);
    return ok ? 0 : -1;
}

typedef struct {
    char image_key[sizeof KEY_IMAGE_PREFIX + WIRE_KEY_MAX];
    char numbers[8][32];
} item_args_t;

static void append_item(redis_t *redis, const store_item_t *item, int64_t stored_ms)
{
    const wire_result_t *r = item->result;
    item_args_t a;
    snprintf(a.image_key, sizeof a.image_key, "%s%s", KEY_IMAGE_PREFIX, r->key);
    snprintf(a.numbers[0], 32, "%.3f", r->decode_ms);
    snprintf(a.numbers[1], 32, "%.3f", r->resize_ms);
    snprintf(a.numbers[2], 32, "%.3f", r->net_ms);
    snprintf(a.numbers[3], 32, "%lld", (long long) r->uploaded_ms);
    snprintf(a.numbers[4], 32, "%lld", (long long) stored_ms);
    snprintf(a.numbers[5], 32, "%llu", (unsigned long long) item->pca_version);
    snprintf(a.numbers[6], 32, "%lld", (long long) r->size);
    snprintf(a.numbers[7], 32, "%lld", (long long) r->attempt);
    const char *argv[] = {"EVALSHA", script_sha, "6", a.image_key, KEY_STORED, KEY_COUNTERS,
                          KEY_LABELS, KEY_UPLOADS, KEY_FAILED, r->entry, GROUP_VENTILATORS,
                          r->key, r->label, r->ok ? "1" : "0", (const char *) r->features,
                          r->error, r->worker, a.numbers[0], a.numbers[1], a.numbers[2],
                          a.numbers[3], a.numbers[4], (const char *) item->projection,
                          a.numbers[5], a.numbers[6], a.numbers[7]};
    size_t argc = sizeof argv / sizeof *argv;
    size_t lens[sizeof argv / sizeof *argv];
    for (size_t i = 0; i < argc; i++)
        lens[i] = argv[i] ? strlen(argv[i]) : 0;
    lens[14] = r->ok ? r->features_len : 0;
    lens[22] = item->projection ? (size_t) item->k * sizeof(float) : 0;
    if (!item->projection)
        argv[22] = "";
    if (!r->ok)
        argv[14] = "";
    redisAppendCommandArgv(redis->ctx, (int) argc, argv, lens);
}

int store_batch(redis_t *redis, store_item_t *items, size_t n)
{
    if (!script_sha[0] && load_script(redis) != 0)
        return -1;
    int64_t stored_ms = clock_unix_ms();
    for (size_t i = 0; i < n; i++)
        append_item(redis, &items[i], stored_ms);
    int rc = 0;
    bool unknown_script = false;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(redis->ctx, (void **) &r) != REDIS_OK) {
            freeReplyObject(r);
            return -1; /* connection lost: the caller reconnects and repeats the batch */
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[0]->type == REDIS_REPLY_INTEGER) {
            items[i].outcome = (store_outcome_t) r->element[0]->integer;
            items[i].seq = r->element[1]->integer;
        } else if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            unknown_script = true;
        } else {
            log_error("storing %s failed: %s", items[i].result->key,
                      r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            rc = -1;
        }
        freeReplyObject(r);
    }
    if (unknown_script) {
        script_sha[0] = '\0';
        return store_batch(redis, items, n);
    }
    return rc;
}
