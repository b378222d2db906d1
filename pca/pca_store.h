/* pca_store.h -- the online PCA's life in Redis: checkpoints, catch-up, published model.
 *
 * Every stored result has a sequence number (fs:stored). The PCA includes exactly the
 * results numbered 1..applied; a checkpoint (fs:pca:state) saves the running sums with that
 * number. Loading takes the checkpoint and adds every result stored after it, so a sink that
 * crashed rereads only what came after its last checkpoint and counts nothing twice. The
 * same load gives `fruitstream export` a model that includes every stored vector. */
#ifndef FS_PCA_STORE_H
#define FS_PCA_STORE_H

#include "common/redis.h"
#include "pca/pca.h"

#include <stdint.h>

/* The checkpointed PCA plus every vector stored after it; *applied = last seq included, and
 * *checkpointed (unless NULL) the last seq the checkpoint itself includes (0 without one).
 * NULL with a reason when Redis fails or the checkpoint is unreadable. */
pca_t *pca_store_load(redis_t *redis, const pca_options_t *options, int64_t *checkpointed,
                      int64_t *applied, char *err, size_t errlen);
/* Adds stored vectors with seq in (*applied, upto] (upto < 0: all), reading them from Redis;
 * then *applied = upto, as numbers in that range without an entry are gaps. Returns 0, or
 * -1 when Redis fails (what was added so far stays added, *applied says). */
int pca_store_catch_up(redis_t *redis, pca_t *pca, int64_t *applied, int64_t upto);
/* Writes running sums serialized by pca_state_write, which include every stored result up
 * to seq `applied`, into fs:pca:state. */
int pca_store_checkpoint(redis_t *redis, const void *state, size_t size, int64_t applied);
/* Writes the current model into fs:pca:model: 0, or -1 when Redis fails. When fs:pca:model
 * already holds this very model (every field but version and updated_ms the same bytes, as
 * when a sink restarted over unchanged sums recomputes the model it published before
 * stopping), writes nothing, gives pca the published version and returns 1: readers tell
 * stale projections by the version, and a new one would have them project every stored
 * image again for nothing. */
int pca_store_publish(redis_t *redis, pca_t *pca);

#endif
