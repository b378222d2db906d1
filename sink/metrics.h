/* metrics.h -- the sink's once-a-second history of the pipeline, in a capped Redis stream.
 *
 * The sink sees every stored result and every heartbeat, so it is where a sample of the
 * whole pipeline can be taken cheaply: it notes each stored result's upload-to-stored
 * latency and each worker's last heartbeat as they pass, and once a second XADDs one
 * sample to fs:metrics (fields in README.md, "Redis keys"), trimmed with MAXLEN ~ so that
 * the stream holds about a day at the default length. Any Redis client or dashboard can
 * chart it; `fruitstream status` reads its newest sample for the rate and latency. */
#ifndef FS_METRICS_H
#define FS_METRICS_H

#include "common/redis.h"

#include <stdint.h>

/* Samples kept by default: a day at one a second. */
#define METRICS_DEFAULT_LENGTH 86400

typedef struct metrics_t metrics_t;

/* A collector writing samples capped at about `length` entries; worker_ttl_ms is how long
 * after its last heartbeat a worker still counts as live. NULL when memory runs out. */
metrics_t *metrics_new(long length, int64_t worker_ttl_ms);
void metrics_destroy(metrics_t **self_p);

/* Notes one stored result uploaded at uploaded_ms and stored at stored_ms. */
void metrics_stored(metrics_t *self, int64_t uploaded_ms, int64_t stored_ms);
/* Notes a heartbeat from `worker` at now_ms. */
void metrics_heartbeat(metrics_t *self, const char *worker, int64_t now_ms);

/* Once a second or more has passed since the last sample, reads fs:counters and appends
 * a sample covering the interval; otherwise does nothing. Returns 0, or -1 when Redis
 * failed (the interval then goes on into the next sample, tried a second later; the first
 * failure of a streak is logged, and the first success after it). */
int metrics_tick(metrics_t *self, redis_t *redis, int64_t now_ms);

/* The p-th percentile (0..100) of n values, sorting them in place; 0 when n is 0. */
double metrics_percentile(double *values, size_t n, double p);

#endif
