/* settle.h -- new upload entries whose image is already stored get no task: their results
 * would only be counted as duplicates. settle_stored.lua, which this runs, says how each is
 * settled and why. */
#ifndef FS_SETTLE_H
#define FS_SETTLE_H

#include "common/redis.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Settles those of the m entries of an XREADGROUP entry list not marked in skip[] whose
 * image is already stored, marks them in skip[] too and adds their number to *settled. -1
 * when Redis is lost; on any other failure nothing is settled, and every entry gets its task
 * as before. Only for entries read for the first time: a re-sent one may have a result on
 * its way, which the sink counts. */
int settle_already_stored(redis_t *redis, const redisReply *entries, bool *skip, size_t m,
                          int64_t *settled);

#endif
