/* retain.h -- bounded Redis for a continuous stream: the sink trims old stored vectors.
 *
 * A stored image costs about 7 KB in Redis (its 1280 features, its projection, metadata),
 * so a stream that never ends fills any Redis. With --retain COUNT the sink keeps the
 * newest COUNT stored images; with --retain-age DURATION those stored within DURATION;
 * older ones lose their fs:image hash and their fs:stored entry. The PCA still counts them:
 * it holds running sums, and an image is trimmed only once a checkpoint (fs:pca:state)
 * includes it, so a restarted sink never needs a trimmed vector. Export first what must be
 * kept (`fruitstream export --since SEQ`). A key uploaded again after its image was trimmed
 * is stored, and counted, again: the duplicate check only sees what is kept. */
#ifndef FS_RETAIN_H
#define FS_RETAIN_H

#include "common/redis.h"

#include <stdint.h>

/* Images trimmed per call at most, so that one call holds Redis briefly. */
#define RETAIN_MAX_PER_CALL 2000

typedef struct {
    int64_t count;  /* keep the newest COUNT stored images; 0: no limit */
    int64_t age_ms; /* keep images stored within this many ms; 0: no limit */
} retain_options_t;

/* Parses "90", "90s", "15m", "24h" or "7d" into ms; -1 when malformed or not positive. */
int64_t retain_parse_duration(const char *text);

/* Trims stored images older than the options allow, never past seq `checkpointed`, at most
 * RETAIN_MAX_PER_CALL of them per call, so that trimming never stalls storing for long (the
 * sink calls it once a second, and again at once while calls trim that many). Returns how
 * many were trimmed, or -1 when Redis failed. */
long retain_trim(redis_t *redis, const retain_options_t *options, int64_t newest_seq,
                 int64_t checkpointed, int64_t now_ms);

#endif
