/* store.c -- see store.h. The script is sent with EVALSHA; when Redis does not know it
 * (scripts are not persisted, so after a restart) it is loaded again with SCRIPT LOAD and
 * the batch repeated, which the script makes harmless. */
#include "sink/store.h"

#include "common/clock.h"
#include "common/keys.h"
#include "common/log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A result is trusted only as far as its upload entry vouches for it: the entry must still
 * be in the stream, pending in the ventilators' group (a task was sent for it) and name
 * the same key. Anything else is rejected and counted, touching nothing: a result made up
 * by a peer, or naming another upload's entry, must neither be stored nor delete that
 * upload. A result arriving again after its entry was stored and deleted finds its image
 * already stored: a duplicate, as before. A result whose fs:image key holds something
 * other than a hash is rejected too (writing there would fail the whole call). The checks run with redis.pcall, so an entry ID
 * Redis refuses rejects that one result instead of failing the whole call. Only blobs named
 * fs:blob:* are deleted with their entry: a blob field naming any other key is not ours.
 *
 * One call stores a whole batch: the per-call cost of EVALSHA and of each command inside
 * is what limits Redis here, so per item the script runs only the commands that differ from
 * item to item, and counters, labels, XACK and XDEL are written once per batch. The
 * sequence counter alone moves item by item, before the item's XADD: should the script
 * fail midway, the counter is never behind a number already used, and the repeat goes on.
 * KEYS: 1 stored stream, 2 counters, 3 labels, 4 uploads stream, 5 failed set, then the
 *       image hash of each item
 * ARGV: 1 group, 2 stored_ms, then ITEM_FIELDS per item: entry, key, label, ok, features,
 *       error, worker, decode_ms, resize_ms, net_ms, uploaded_ms, pca, pca_version, size,
 *       attempt
 * Returns {outcome, seq} per item, flattened (outcome: STORE_NEW, _DUPLICATE, _FAILED,
 * _REJECTED). */
/* Items per script call. A batch of more is sent as several pipelined calls, so that Redis
 * runs the first while the rest are still arriving, as with one call per item. */
#define STORE_CALL_ITEMS 64
#define ITEM_FIELDS 15
#define BATCH_KEYS 5
#define BATCH_ARGS 2
#define TEXT(x) #x
#define NUMBER(x) TEXT(x)
static const char store_script[] =
    "local stored, counters, labels, uploads, failed_set = KEYS[1], KEYS[2], KEYS[3],\n"
    "  KEYS[4], KEYS[5]\n"
    "local group, stored_ms = ARGV[1], ARGV[2]\n"
    "local blob_prefix = '" KEY_BLOB_PREFIX "'\n"
    "local stored_count, failed, duplicates, rejected = 0, 0, 0, 0\n"
    "local per_label, entries, out = {}, {}, {}\n"
    "-- the fields a failed and a stored result share, as multiple values (no table per item)\n"
    "local function common(a)\n"
    "  return 'key', ARGV[a + 2], 'label', ARGV[a + 3], 'worker', ARGV[a + 7],\n"
    "    'uploaded_ms', ARGV[a + 11], 'stored_ms', stored_ms, 'size', ARGV[a + 14],\n"
    "    'attempt', ARGV[a + 15]\n"
    "end\n"
    "-- the blob of the pending upload entry naming key ('' if none), or nil\n"
    "local function upload_of(entry, key)\n"
    "  local p = redis.pcall('XPENDING', uploads, group, entry, entry, 1)\n"
    "  if type(p) ~= 'table' or p.err or not p[1] then return nil end\n"
    "  local e = redis.call('XRANGE', uploads, entry, entry)\n"
    "  if not e[1] then return nil end\n"
    "  local f, named, blob = e[1][2], entry, ''\n"
    "  for j = 1, #f, 2 do\n"
    "    if f[j] == 'key' then named = f[j + 1] elseif f[j] == 'blob' then blob = f[j + 1] end\n"
    "  end\n"
    "  if named ~= key then return nil end\n"
    "  return blob\n"
    "end\n"
    "for i = 1, #KEYS - " NUMBER(BATCH_KEYS) " do\n"
    "  local image = KEYS[" NUMBER(BATCH_KEYS) " + i]\n"
    "  local a = " NUMBER(BATCH_ARGS) " + (i - 1) * " NUMBER(ITEM_FIELDS) "\n"
    "  local entry, key, label = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]\n"
    "  local blob = upload_of(entry, key)\n"
    "  if blob and blob:sub(1, #blob_prefix) == blob_prefix then redis.call('DEL', blob) end\n"
    "  if blob then entries[#entries + 1] = entry end\n"
    "  local kind = redis.call('TYPE', image).ok\n"
    "  if kind == 'hash' then\n"
    "    duplicates = duplicates + 1\n"
    "    out[2 * i - 1], out[2 * i] = 0, tonumber(redis.call('HGET', image, 'seq') or '0')\n"
    "  elseif not blob or kind ~= 'none' then -- no entry vouches for it, or no room for it\n"
    "    rejected = rejected + 1\n"
    "    out[2 * i - 1], out[2 * i] = 3, 0\n"
    "  elseif ARGV[a + 4] ~= '1' then\n"
    "    redis.call('HSET', image, 'status', 'failed', 'error', ARGV[a + 6], common(a))\n"
    "    redis.call('SADD', failed_set, key)\n"
    "    failed = failed + 1\n"
    "    out[2 * i - 1], out[2 * i] = 2, 0\n"
    "  else\n"
    "    local seq = redis.call('HINCRBY', counters, 'seq', 1)\n"
    "    stored_count = stored_count + 1\n"
    "    -- XADD first: should it fail, no image hash is left to pass later for a duplicate\n"
    "    redis.call('XADD', stored, seq .. '-1', 'key', key)\n"
    "    redis.call('HSET', image, 'status', 'ok', 'seq', seq, 'features', ARGV[a + 5],\n"
    "      'decode_ms', ARGV[a + 8], 'resize_ms', ARGV[a + 9], 'net_ms', ARGV[a + 10],\n"
    "      'pca', ARGV[a + 12], 'pca_version', ARGV[a + 13], common(a))\n"
    "    if label ~= '' then per_label[label] = (per_label[label] or 0) + 1 end\n"
    "    out[2 * i - 1], out[2 * i] = 1, seq\n"
    "  end\n"
    "end\n"
    "if stored_count > 0 then redis.call('HINCRBY', counters, 'stored', stored_count) end\n"
    "if failed > 0 then redis.call('HINCRBY', counters, 'failed', failed) end\n"
    "if duplicates > 0 then redis.call('HINCRBY', counters, 'duplicates', duplicates) end\n"
    "if rejected > 0 then redis.call('HINCRBY', counters, 'rejected', rejected) end\n"
    "for label, n in pairs(per_label) do redis.call('HINCRBY', labels, label, n) end\n"
    "if #entries > 0 then\n"
    "  redis.call('XACK', uploads, group, unpack(entries))\n"
    "  redis.call('XDEL', uploads, unpack(entries))\n"
    "end\n"
    "return out\n";

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
static void item_args(const store_item_t *item, item_text_t *t, const char **argv,
                      size_t *lens, const char **key, size_t *key_len)
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
        text_arg(r->entry), text_arg(r->key), text_arg(r->label), text_arg(r->ok ? "1" : "0"),
        {(const char *) r->features, r->ok ? r->features_len : 0}, text_arg(r->error),
        text_arg(r->worker), text_arg(t->numbers[0]), text_arg(t->numbers[1]),
        text_arg(t->numbers[2]), text_arg(t->numbers[3]),
        {(const char *) item->projection, item->projection ? (size_t) item->k * sizeof(float) : 0},
        text_arg(t->numbers[4]), text_arg(t->numbers[5]), text_arg(t->numbers[6])};
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
    size_t nkeys = BATCH_KEYS + n, argc = 3 + nkeys + BATCH_ARGS + ITEM_FIELDS * n;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    item_text_t *text = malloc((n ? n : 1) * sizeof *text);
    char numkeys[24], stored_ms[24];
    int rc = argv && lens && text ? 0 : -1;
    if (rc == 0) {
        snprintf(numkeys, sizeof numkeys, "%zu", nkeys);
        snprintf(stored_ms, sizeof stored_ms, "%lld", (long long) clock_unix_ms());
        const char *head[3 + BATCH_KEYS] = {"EVALSHA", script_sha, numkeys, KEY_STORED,
                                            KEY_COUNTERS, KEY_LABELS, KEY_UPLOADS, KEY_FAILED};
        for (size_t i = 0; i < 3 + BATCH_KEYS; i++)
            argv[i] = head[i], lens[i] = strlen(head[i]);
        size_t args = 3 + nkeys;
        argv[args] = GROUP_VENTILATORS, lens[args] = strlen(GROUP_VENTILATORS);
        argv[args + 1] = stored_ms, lens[args + 1] = strlen(stored_ms);
        for (size_t i = 0; i < n; i++) {
            size_t at = args + BATCH_ARGS + ITEM_FIELDS * i;
            item_args(&items[i], &text[i], argv + at, lens + at, &argv[3 + BATCH_KEYS + i],
                      &lens[3 + BATCH_KEYS + i]);
        }
        rc = redisAppendCommandArgv(redis->ctx, (int) argc, argv, lens) == REDIS_OK ? 0 : -1;
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
                         "else", items[i].result->key, items[i].result->worker,
                         items[i].result->entry);
        }
        return 0;
    }
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0)
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
    if (!script_sha[0] && load_script(redis) != 0)
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
    if (unknown_script) {
        script_sha[0] = '\0';
        return store_calls(redis, items, n, refused);
    }
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
            if ((count == 1 ? reject(redis, items + at)
                            : store_batch(redis, items + at + i, 1)) != 0)
                return -1;
    }
    return 0;
}
