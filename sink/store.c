/* store.c -- see store.h. The batch is stored by one Lua script, sink/store.lua, which
 * holds the rules of what is stored, rejected or counted; this file formats its arguments,
 * pipelines its calls and reads their outcomes. When Redis has forgotten the script (after
 * a restart) it is loaded again and the batch repeated, which the script makes harmless.
 *
 * Each script call runs in a MULTI/EXEC transaction of its own:
 *
 *   MULTI
 *   DEL <staging keys>                            (only when some item is ok)
 *   HSET fs:staging:<i> status ok key K ... pca P features F
 *                                                 (for each ok item i of the call)
 *   EVALSHA <store.lua> ...
 *   DEL <staging keys>
 *   EXEC
 *
 * so that the feature blobs, and every field the script does not decide, reach Redis as
 * arguments of plain commands, never through Lua (store.lua says why), and no other client
 * ever sees a staging hash: the transaction makes them from nothing and leaves nothing,
 * whatever the script did. */
#include "sink/store.h"

#include "common/clock.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/script.h"
#include "sink/store.lua.h" /* store_lua: sink/store.lua, embedded by the build */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Items per script call. A batch of more is sent as several pipelined calls, so that Redis
 * runs the first while the rest are still arriving, as with one call per item. */
#define STORE_CALL_ITEMS 64
/* The script's layout (sink/store.lua explains each): keys and arguments ahead of the
 * items', and keys and arguments per item. */
#define BATCH_KEYS 5
#define BATCH_ARGS 2
#define ITEM_KEYS 2
#define ITEM_FIELDS 9

static script_t store_script;

/* The script: sink/store.lua behind one line that gives it the constants it shares with
 * this file, so that each is defined once. */
static const char *script_text(void)
{
    static char text[sizeof store_lua + 256];
    if (!text[0])
        snprintf(text, sizeof text,
                 "local BATCH_KEYS, BATCH_ARGS, ITEM_KEYS, ITEM_FIELDS, BLOB_PREFIX = %d, %d, %d, "
                 "%d, '%s' local NEW, DUPLICATE, FAILED, REJECTED = %d, %d, %d, %d\n%s",
                 BATCH_KEYS, BATCH_ARGS, ITEM_KEYS, ITEM_FIELDS, KEY_BLOB_PREFIX, STORE_NEW,
                 STORE_DUPLICATE, STORE_FAILED, STORE_REJECTED, store_lua);
    return text;
}

/* The formatted numbers, image key and staging key of one item; argv points into them. */
typedef struct {
    char image_key[sizeof KEY_IMAGE_PREFIX + WIRE_KEY_MAX];
    char staging_key[sizeof KEY_STAGING_PREFIX + 16];
    char numbers[7][32];
} item_text_t;

/* One command argument: bytes and their length. */
typedef struct {
    const char *data;
    size_t len;
} arg_t;

static arg_t text_arg(const char *s)
{
    return (arg_t){s, strlen(s)};
}

/* Formats item i of its call and fills its ITEM_FIELDS script arguments (and their lengths)
 * and its ITEM_KEYS keys. */
static void item_args(const store_item_t *item, size_t i, item_text_t *t, const char **argv,
                      size_t *lens, const char **keys, size_t *key_lens)
{
    const wire_result_t *r = item->result;
    snprintf(t->image_key, sizeof t->image_key, "%s%s", KEY_IMAGE_PREFIX, r->key);
    snprintf(t->staging_key, sizeof t->staging_key, "%s%zu", KEY_STAGING_PREFIX, i);
    snprintf(t->numbers[0], 32, "%.3f", r->decode_ms);
    snprintf(t->numbers[1], 32, "%.3f", r->resize_ms);
    snprintf(t->numbers[2], 32, "%.3f", r->net_ms);
    snprintf(t->numbers[3], 32, "%lld", (long long) r->uploaded_ms);
    snprintf(t->numbers[4], 32, "%llu", (unsigned long long) item->pca_version);
    snprintf(t->numbers[5], 32, "%lld", (long long) r->size);
    snprintf(t->numbers[6], 32, "%lld", (long long) r->attempt);
    const arg_t fields[ITEM_FIELDS] = {
        text_arg(r->entry),          text_arg(r->key),        text_arg(r->label),
        text_arg(r->ok ? "1" : "0"), text_arg(r->error),      text_arg(r->worker),
        text_arg(t->numbers[3]),     text_arg(t->numbers[5]), text_arg(t->numbers[6])};
    for (int f = 0; f < ITEM_FIELDS; f++) {
        argv[f] = fields[f].data;
        lens[f] = fields[f].len;
    }
    keys[0] = t->image_key, key_lens[0] = strlen(t->image_key);
    keys[1] = t->staging_key, key_lens[1] = strlen(t->staging_key);
}

/* Appends HSET <staging key> with every field of an ok item's image hash but the `seq` the
 * script hands out: the blobs (pca empty before the first model) binary, with their lengths,
 * last, so that the hash grows past a few hundred bytes only once. */
static int append_staging(redis_t *redis, const store_item_t *item, const item_text_t *t,
                          const char *stored_ms)
{
    const wire_result_t *r = item->result;
    const arg_t args[] = {text_arg("HSET"),
                          text_arg(t->staging_key),
                          text_arg("status"),
                          text_arg("ok"),
                          text_arg("key"),
                          text_arg(r->key),
                          text_arg("label"),
                          text_arg(r->label),
                          text_arg("worker"),
                          text_arg(r->worker),
                          text_arg("uploaded_ms"),
                          text_arg(t->numbers[3]),
                          text_arg("stored_ms"),
                          text_arg(stored_ms),
                          text_arg("size"),
                          text_arg(t->numbers[5]),
                          text_arg("attempt"),
                          text_arg(t->numbers[6]),
                          text_arg("decode_ms"),
                          text_arg(t->numbers[0]),
                          text_arg("resize_ms"),
                          text_arg(t->numbers[1]),
                          text_arg("net_ms"),
                          text_arg(t->numbers[2]),
                          text_arg("pca_version"),
                          text_arg(t->numbers[4]),
                          text_arg("pca"),
                          {item->projection ? (const char *) item->projection : "",
                           item->projection ? (size_t) item->k * sizeof(float) : 0},
                          text_arg("features"),
                          {(const char *) r->features, r->features_len}};
    enum { argc = sizeof args / sizeof *args };
    const char *argv[argc];
    size_t lens[argc];
    for (int i = 0; i < argc; i++)
        argv[i] = args[i].data, lens[i] = args[i].len;
    return redisAppendCommandArgv(redis->ctx, argc, argv, lens) == REDIS_OK ? 0 : -1;
}

/* Appends DEL of the staging keys of the call's ok items (there is at least one). */
static int append_unstage(redis_t *redis, const store_item_t *items, size_t n,
                          const item_text_t *text)
{
    const char *argv[1 + STORE_CALL_ITEMS];
    size_t lens[1 + STORE_CALL_ITEMS], at = 1;
    argv[0] = "DEL", lens[0] = 3;
    for (size_t i = 0; i < n; i++)
        if (items[i].result->ok)
            argv[at] = text[i].staging_key, lens[at++] = strlen(text[i].staging_key);
    return redisAppendCommandArgv(redis->ctx, (int) at, argv, lens) == REDIS_OK ? 0 : -1;
}

/* The ok items of a call: those with blobs to stage. */
static size_t staged_items(const store_item_t *items, size_t n)
{
    size_t staged = 0;
    for (size_t i = 0; i < n; i++)
        staged += items[i].result->ok;
    return staged;
}

/* Appends the transaction of one script call for n items (at most STORE_CALL_ITEMS);
 * 0, or -1 when out of memory. */
static int append_call(redis_t *redis, const store_item_t *items, size_t n)
{
    size_t nkeys = BATCH_KEYS + ITEM_KEYS * n, argc = nkeys + BATCH_ARGS + ITEM_FIELDS * n;
    size_t staged = staged_items(items, n);
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    item_text_t *text = malloc((n ? n : 1) * sizeof *text);
    char stored_ms[24];
    int rc = argv && lens && text ? 0 : -1;
    if (rc == 0) {
        snprintf(stored_ms, sizeof stored_ms, "%lld", (long long) clock_unix_ms());
        const char *head[BATCH_KEYS] = {KEY_STORED, KEY_COUNTERS, KEY_LABELS, KEY_UPLOADS,
                                        KEY_FAILED};
        for (size_t i = 0; i < BATCH_KEYS; i++)
            argv[i] = head[i], lens[i] = strlen(head[i]);
        argv[nkeys] = GROUP_VENTILATORS, lens[nkeys] = strlen(GROUP_VENTILATORS);
        argv[nkeys + 1] = stored_ms, lens[nkeys + 1] = strlen(stored_ms);
        for (size_t i = 0; i < n; i++) {
            size_t at = nkeys + BATCH_ARGS + ITEM_FIELDS * i, key = BATCH_KEYS + ITEM_KEYS * i;
            item_args(&items[i], i, &text[i], argv + at, lens + at, argv + key, lens + key);
        }
        rc = redisAppendCommand(redis->ctx, "MULTI") == REDIS_OK ? 0 : -1;
        if (rc == 0 && staged)
            rc = append_unstage(redis, items, n, text);
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (items[i].result->ok)
                rc = append_staging(redis, &items[i], &text[i], stored_ms);
        if (rc == 0)
            rc = script_append(&store_script, redis, (int) nkeys, (int) argc, argv, lens);
        if (rc == 0 && staged)
            rc = append_unstage(redis, items, n, text);
        if (rc == 0)
            rc = redisAppendCommand(redis->ctx, "EXEC") == REDIS_OK ? 0 : -1;
    }
    free(argv);
    free(lens);
    free(text);
    return rc;
}

/* Reads one script call's reply into its items: 0; 1 when Redis does not know the script;
 * 2 when the call failed on its items' account (an error raised inside the script); -1
 * when Redis cannot store now (a passing state: out of memory, loading...), Redis's reply
 * in err. */
static int read_outcomes(const redisReply *r, store_item_t *items, size_t n, char *err,
                         size_t errlen)
{
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 * n) {
        for (size_t i = 0; i < n; i++) {
            items[i].outcome = (store_outcome_t) r->element[2 * i]->integer;
            items[i].seq = r->element[2 * i + 1]->integer;
            if (items[i].outcome == STORE_REJECTED)
                log_warn("rejected a result for %.200s from %.128s: entry %.64s is not a "
                         "pending upload of that key, or the image key holds something "
                         "else",
                         items[i].result->key, items[i].result->worker, items[i].result->entry);
        }
        return 0;
    }
    if (script_unknown(&store_script, r))
        return 1;
    const char *why = r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply";
    if (redis_error_kind(r) != REDIS_ERROR_COMMAND) { /* the caller says it, once */
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    log_error("storing %zu results failed: %s", n, why);
    return 2;
}

/* Reads the replies of one call's transaction (MULTI's, one per command queued, EXEC's)
 * into its items: as read_outcomes, or -2 when the connection was lost. A command Redis
 * refused to queue (out of memory, say) aborts the transaction; its reply says why. */
static int read_call(redis_t *redis, store_item_t *items, size_t n, char *err, size_t errlen)
{
    size_t staged = staged_items(items, n), queued = staged ? staged + 3 : 1;
    size_t script = staged ? staged + 1 : 0; /* the script's reply within EXEC's */
    redisReply *refusal = NULL;
    int rc = -2;
    for (size_t i = 0; i < queued + 2; i++) {
        redisReply *r = NULL;
        if (redisGetReply(redis->ctx, (void **) &r) != REDIS_OK || redis_lost(redis, r)) {
            freeReplyObject(r);
            rc = -2;
            break;
        }
        if (i == queued + 1) /* EXEC */
            rc = read_outcomes(r->type == REDIS_REPLY_ARRAY && r->elements == queued
                                   ? r->element[script]
                               : refusal ? refusal
                                         : r,
                               items, n, err, errlen);
        if (r->type == REDIS_REPLY_ERROR && !refusal)
            refusal = r;
        else
            freeReplyObject(r);
    }
    freeReplyObject(refusal);
    return rc;
}

/* Whether any of a call's items is still to be settled. */
static bool call_pending(const store_item_t *items, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (items[i].outcome == STORE_PENDING)
            return true;
    return false;
}

/* Items in the script call that starts at item `at` of n. */
static size_t call_items(size_t n, size_t at)
{
    return n - at < STORE_CALL_ITEMS ? n - at : STORE_CALL_ITEMS;
}

/* err gets why the connection is gone. */
static int lost(const redis_t *redis, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s",
             redis->ctx && redis->ctx->err ? redis->ctx->errstr : "the connection was lost");
    return -1;
}

/* Sends the items as pipelined script calls and reads their outcomes; refused[c] tells
 * whether call c failed on its items' account. 0, or -1 as store_batch. */
static int store_calls(redis_t *redis, store_item_t *items, size_t n, bool *refused, char *err,
                       size_t errlen)
{
    if (!store_script.text)
        store_script.text = script_text();
    if (script_load(&store_script, redis) != 0) {
        snprintf(err, errlen, "cannot load the store script");
        return -1;
    }
    /* A call whose items are settled (stored by an earlier try of this batch) is not sent.
     * Each call is sent as soon as it is formatted, so that Redis runs it while the next
     * one is formatted, rather than wait for the whole batch. */
    for (size_t at = 0; at < n; at += STORE_CALL_ITEMS) {
        refused[at / STORE_CALL_ITEMS] = false;
        if (!call_pending(items + at, call_items(n, at)))
            continue;
        if (append_call(redis, items + at, call_items(n, at)) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (int sent = 0; !sent;)
            if (redisBufferWrite(redis->ctx, &sent) != REDIS_OK)
                return lost(redis, err, errlen);
    }
    int rc = 0;
    bool unknown_script = false;
    for (size_t at = 0; at < n; at += STORE_CALL_ITEMS) {
        if (!call_pending(items + at, call_items(n, at)))
            continue;
        int got = read_call(redis, items + at, call_items(n, at), err, errlen);
        if (got == -2) /* the caller reconnects and repeats the batch */
            return lost(redis, err, errlen);
        unknown_script |= got == 1;
        refused[at / STORE_CALL_ITEMS] = got == 2;
        if (got < 0)
            rc = -1;
    }
    if (unknown_script)
        return store_calls(redis, items, n, refused, err, errlen);
    return rc;
}

/* A result the script failed on, alone: rejected and counted, so that it never blocks the
 * others nor comes back. */
static int reject(redis_t *redis, store_item_t *item, char *err, size_t errlen)
{
    log_error("rejected the result for %.200s (entry %.64s): Redis refused to store it",
              item->result->key, item->result->entry);
    item->outcome = STORE_REJECTED;
    item->seq = 0;
    redisReply *r = redisCommand(redis->ctx, "HINCRBY %s rejected 1", KEY_COUNTERS);
    bool gone = redis_lost(redis, r);
    freeReplyObject(r);
    return gone ? lost(redis, err, errlen) : 0;
}

int store_batch(redis_t *redis, store_item_t *items, size_t n, char *err, size_t errlen)
{
    bool refused[(SINK_STORE_MAX + STORE_CALL_ITEMS - 1) / STORE_CALL_ITEMS];
    if (n == 0)
        return 0;
    if (n > SINK_STORE_MAX) {
        snprintf(err, errlen, "%zu results, more than the %d of a batch", n, SINK_STORE_MAX);
        return -1;
    }
    if (store_calls(redis, items, n, refused, err, errlen) != 0)
        return -1;
    /* A call the script failed on: each of its items again on its own, so that the one it
     * cannot take is rejected and the others stored (repeating a store is harmless). */
    for (size_t at = 0; at < n; at += STORE_CALL_ITEMS) {
        size_t count = call_items(n, at);
        for (size_t i = 0; refused[at / STORE_CALL_ITEMS] && i < count; i++)
            if (items[at + i].outcome == STORE_PENDING &&
                (count == 1 ? reject(redis, items + at, err, errlen)
                            : store_batch(redis, items + at + i, 1, err, errlen)) != 0)
                return -1;
    }
    return 0;
}
