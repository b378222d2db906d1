/* aof.h -- keeps Redis's append-only file from growing without bound, and from being
 * rewritten for nothing.
 *
 * What the file holds beyond the data is waste: every checkpoint rewrites fs:pca:state (13
 * MB of running sums) and every refresh fs:pca:model (2 MB at k = 212), though only the
 * newest copy matters (1.8 GB an hour at one checkpoint each 30 s); so do the blobs of
 * uploads already stored, and the images --retain trimmed. A rewrite (BGREWRITEAOF) drops
 * the waste, but writes the whole data set again. Redis's own rule, a rewrite each time the
 * file has doubled since the last, counts growth, not waste: stored images are written once
 * and never changed, so most of what the file gains is data, and each rewrite wrote it all
 * again to drop little (bench/RESULTS.md, session 37: a rewrite of 1.2 GB of data took 5 to 9
 * s of a core on our test host, and shrank the file by a tenth). deploy/redis.conf turns that
 * rule off, and the sink bounds the file itself: after each checkpoint it reads INFO memory
 * and INFO persistence and asks for a rewrite when the waste, the file's size less the data's
 * (used_memory_dataset), is more than the limit and more than the data. Each rewrite then
 * drops at least as much as it writes, and the file stays under twice the data plus the
 * limit, plus a checkpoint. */
#ifndef FS_AOF_H
#define FS_AOF_H

#include "common/redis.h"

#include <stdint.h>

/* Default waste allowed in the file. */
#define AOF_DEFAULT_LIMIT (1024LL * 1024 * 1024)

/* Asks Redis to rewrite its append-only file when it has one holding more than limit bytes
 * beyond the data, and more than the data, and no rewrite is under way. Returns 1 when a
 * rewrite was asked for, 0 when none was needed (or limit is 0, or Redis keeps no such file,
 * or does not report the data's size), -1 when Redis failed. */
int aof_bound(redis_t *redis, int64_t limit);

#endif
