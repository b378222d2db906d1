/* store.h -- writes results into Redis, each exactly once.
 *
 * One Lua script (sink/store.lua, run by store.c) stores up to 64 results atomically per
 * call. For each: it checks the result against its upload entry (pending in the group,
 * naming the same key); if its image key is already stored, it only acknowledges the entry
 * again (a duplicate); if the entry does not vouch for it, it is rejected and nothing is
 * touched; otherwise it gets the next sequence number, its fs:image hash is written and it
 * is appended to fs:stored. Then it bumps the counters, and acknowledges and deletes the
 * upload entries and their blobs. A batch costs one round trip: one script call per 64
 * results, pipelined, each in a MULTI/EXEC that also hands Redis the results' feature
 * blobs (store.c). */
#ifndef FS_STORE_H
#define FS_STORE_H

#include "common/redis.h"
#include "common/wire.h"

#include <stdint.h>

/* Results stored_batch takes at once, at most. */
#define SINK_STORE_MAX 1024

/* STORE_REJECTED: no pending upload entry names this result's entry and key (made up,
 * stale, another upload's), or Redis refused it: nothing stored, counted as rejected.
 * STORE_PENDING: not settled yet, what an item must hold when first given to store_batch. */
typedef enum {
    STORE_PENDING = -1,
    STORE_NEW = 1,
    STORE_DUPLICATE = 0,
    STORE_FAILED = 2,
    STORE_REJECTED = 3
} store_outcome_t;

typedef struct {
    const wire_result_t *result;
    const float *projection; /* k floats, or NULL before the first PCA model */
    int k;
    uint64_t pca_version;
    /* filled by store_batch: */
    store_outcome_t outcome;
    int64_t seq; /* STORE_NEW: its sequence number; STORE_DUPLICATE: the stored one's */
} store_item_t;

/* Stores the items (at most SINK_STORE_MAX) and reads the outcomes. Returns 0, or -1 with
 * the reason in err when the connection was lost or Redis cannot store for now (out of
 * memory, loading...: call again with the same items, after reconnecting if
 * redis->ctx->err is set). A call again sends only the items still STORE_PENDING: those
 * settled before are not sent twice, so they are not counted again as duplicates. Those
 * passing failures are left for the caller to report. */
int store_batch(redis_t *redis, store_item_t *items, size_t n, char *err, size_t errlen);

#endif
