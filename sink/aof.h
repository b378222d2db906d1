/* aof.h -- keeps the sink's checkpoints from growing Redis's append-only file without bound.
 *
 * Every checkpoint rewrites fs:pca:state (13 MB of running sums) and every refresh
 * fs:pca:model (2 MB at k = 212): a Redis with an append-only file appends all of it, every
 * --refresh-seconds, though only the newest copy matters: 1.8 GB an hour at one checkpoint
 * each 30 s. Redis's own auto-rewrite may be off or set far higher on a shared server, so
 * after each checkpoint the sink reads INFO persistence and, when the file has grown more
 * than a limit past its last rewrite, and more than that rewrite's size, asks for one
 * (BGREWRITEAOF), which keeps only the current values. A rewrite writes the whole data set
 * again: with a fixed step alone, a 50 GB data set would be rewritten after every GB stored;
 * growing past its own size too, as Redis's auto-rewrite does at its default 100%, the file
 * is rewritten each time the data set has doubled at most. The file then stays under twice
 * its rewritten size, or that size plus the limit, plus one checkpoint. */
#ifndef FS_AOF_H
#define FS_AOF_H

#include "common/redis.h"

#include <stdint.h>

/* Default growth allowed past the last rewrite: Redis's auto-rewrite minimum in
 * `fruitstream run`'s private server too. */
#define AOF_DEFAULT_LIMIT (1024LL * 1024 * 1024)

/* Asks Redis to rewrite its append-only file when it has one that has grown more than
 * limit bytes, and more than its rewritten size, since its last rewrite, and no rewrite is
 * under way. Returns 1 when a rewrite was asked for, 0 when none was needed (or limit is 0,
 * or Redis keeps no such file), -1 when Redis failed. */
int aof_bound(redis_t *redis, int64_t limit);

#endif
