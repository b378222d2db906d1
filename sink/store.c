/* store.c -- see store.h. The batch is stored by one Lua script, sink/store.lua, which
 * holds the rules of what is stored, rejected or counted; this file formats its arguments,
 * pipelines its calls and reads their outcomes. When Redis has forgotten the script (after
 * a restart) it is loaded again and the batch repeated, which the script makes harmless. */
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
 * items', and arguments per item. */
#define BATCH_KEYS 5
#define BATCH_ARGS 2
#define ITEM_FIELDS 15

static script_t store_script;

/* The script: sink/store.lua behind one line that gives it the constants it shares with
 * this file, so that each is defined once. */
static const char *script_text(void)
{
    static char text[sizeof store_lua + 256];
    if (!text[0])
        snprintf(text, sizeof text,
                 "local BATCH_KEYS, BATCH_ARGS, ITEM_FIELDS, BLOB_PREFIX = %d, %d, %d, '%s' "
                 "local NEW, DUPLICATE, FAILED, REJECTED = %d, %d, %d, %d\n%s",
                 BATCH_KEYS, BATCH_ARGS, ITEM_FIELDS, KEY_BLOB_PREFIX, STORE_NEW, STORE_DUPLICATE,
                 STORE_FAILED, STORE_REJECTED, store_lua);
    return text;
}

/* The formatted numbers and image key of one item; argv points into them. */
typedef struct {
    char image_key[sizeof KEY_IMAGE_PREFIX + WIRE_KEY_MAX];
    char numbers[7][32];
} item_text_t;

/* One script argument: bytes and their length. */
typedef struct {
    const char *data;
    size_t len;
} arg_t;

static arg_t text_arg(const char *s)
{
    return (arg_t){s, strlen(s)};
}

/* Fills the ITEM_FIELDS arguments of one item (and their lengths) and its image key. */
static void item_args(const store_item_t *item, item_text_t *t, const char **argv, size_t *lens,
                      const char **key, size_t *key_len)
{
    const wire_result_t *r = item->result;
    snprintf(t->image_key, sizeof t->image_key, "%s%s", KEY_IMAGE_PREFIX, r->key);
    snprintf(t->numbers[0], 32, "%.3f", r->decode_ms);
    snprintf(t->numbers[1], 32, "%.3f", r->resize_ms);
    snprintf(t->numbers[2], 32, "%.3f", r->net_ms);
    snprintf(t->numbers[3], 32, "%lld", (long long) r->uploaded_ms);
    snprintf(t->numbers[4], 32, "%llu", (unsigned long long) item->pca_version);
    snprintf(t->numbers[5], 32, "%lld", (long long) r->size);
    snprintf(t->numbers[6], 32, "%lld", (long long) r->attempt);
    /* Features and projection are binary floats with given lengths; everything else is
     * text, measured with strlen (which would read past the floats). */
    const arg_t fields[ITEM_FIELDS] = {
        text_arg(r->entry),
        text_arg(r->key),
        text_arg(r->label),
        text_arg(r->ok ? "1" : "0"),
        {(const char *) r->features, r->ok ? r->features_len : 0},
        text_arg(r->error),
        text_arg(r->worker),
        text_arg(t->numbers[0]),
        text_arg(t->numbers[1]),
        text_arg(t->numbers[2]),
        text_arg(t->numbers[3]),
        {(const char *) item->projection, item->projection ? (size_t) item->k * sizeof(float) : 0},
        text_arg(t->numbers[4]),
        text_arg(t->numbers[5]),
        text_arg(t->numbers[6])};
    for (int i = 0; i < ITEM_FIELDS; i++) {
        argv[i] = fields[i].len ? fields[i].data : "";
        lens[i] = fields[i].len;
    }
    *key = t->image_key;
    *key_len = strlen(t->image_key);
}

/* Appends one script call for the n items; 0, or -1 when out of memory. */
static int append_batch(redis_t *redis, const store_item_t *items, size_t n)
{
    size_t nkeys = BATCH_KEYS + n, argc = nkeys + BATCH_ARGS + ITEM_FIELDS * n;
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
            size_t at = nkeys + BATCH_ARGS + ITEM_FIELDS * i;
            item_args(&items[i], &text[i], argv + at, lens + at, &argv[BATCH_KEYS + i],
                      &lens[BATCH_KEYS + i]);
        }
        rc = script_append(&store_script, redis, (int) nkeys, (int) argc, argv, lens);
    }
    free(argv);
    free(lens);
    free(text);
    return rc;
}

/* Reads one script call's reply into its items: 0; 1 when Redis does not know the script;
 * 2 when the call failed on its items' account (an error raised inside the script); -1
 * when Redis cannot store now (a passing state: out of memory, loading...). */
static int read_outcomes(redisReply *r, store_item_t *items, size_t n)
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
    log_error("storing %zu results failed: %s", n,
              r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    return redis_error_kind(r) == REDIS_ERROR_COMMAND ? 2 : -1;
}

/* Items in the script call that starts at item `at` of n. */
static size_t call_items(size_t n, size_t at)
{
    return n - at < STORE_CALL_ITEMS ? n - at : STORE_CALL_ITEMS;
}

/* Sends the items as pipelined script calls and reads their outcomes; refused[c] tells
 * whether call c failed on its items' account. 0, or -1 as store_batch. */
static int store_calls(redis_t *redis, store_item_t *items, size_t n, bool *refused)
{
    if (!store_script.text)
        store_script.text = script_text();
    if (script_load(&store_script, redis) != 0)
        return -1;
    for (size_t at = 0; at < n; at += STORE_CALL_ITEMS) {
        if (append_batch(redis, items + at, call_items(n, at)) != 0) {
            log_error("out of memory storing a batch of %zu results", n);
            return -1;
        }
    }
    int rc = 0;
    bool unknown_script = false;
    for (size_t at = 0; at < n; at += STORE_CALL_ITEMS) {
        redisReply *r = NULL;
        if (redisGetReply(redis->ctx, (void **) &r) != REDIS_OK || redis_lost(redis, r)) {
            freeReplyObject(r);
            return -1; /* connection lost: the caller reconnects and repeats the batch */
        }
        int got = read_outcomes(r, items + at, call_items(n, at));
        unknown_script |= got == 1;
        refused[at / STORE_CALL_ITEMS] = got == 2;
        if (got < 0)
            rc = -1;
        freeReplyObject(r);
    }
    if (unknown_script)
        return store_calls(redis, items, n, refused);
    return rc;
}

/* A result the script failed on, alone: rejected and counted, so that it never blocks the
 * others nor comes back. */
static int reject(redis_t *redis, store_item_t *item)
{
    log_error("rejected the result for %.200s (entry %.64s): Redis refused to store it",
              item->result->key, item->result->entry);
    item->outcome = STORE_REJECTED;
    item->seq = 0;
    redisReply *r = redisCommand(redis->ctx, "HINCRBY %s rejected 1", KEY_COUNTERS);
    bool lost = redis_lost(redis, r);
    freeReplyObject(r);
    return lost ? -1 : 0;
}

int store_batch(redis_t *redis, store_item_t *items, size_t n)
{
    bool refused[(SINK_STORE_MAX + STORE_CALL_ITEMS - 1) / STORE_CALL_ITEMS];
    if (n == 0)
        return 0;
    if (n > SINK_STORE_MAX || store_calls(redis, items, n, refused) != 0)
        return -1;
    /* A call the script failed on: each of its items again on its own, so that the one it
     * cannot take is rejected and the others stored (repeating a store is harmless). */
    for (size_t at = 0; at < n; at += STORE_CALL_ITEMS) {
        size_t count = call_items(n, at);
        for (size_t i = 0; refused[at / STORE_CALL_ITEMS] && i < count; i++)
            if ((count == 1 ? reject(redis, items + at) : store_batch(redis, items + at + i, 1)) !=
                0)
                return -1;
    }
    return 0;
}
