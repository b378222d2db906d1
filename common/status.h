/* status.h -- one snapshot of a running pipeline, read from Redis, and its JSON form.
 *
 * What `fruitstream status` shows and what an HTTP status endpoint would serve: the run
 * counters (fs:counters), the newest once-a-second sample of the sink (fs:metrics: rate
 * and upload-to-stored latency), the ETA of the backlog at that rate, and one record per
 * live worker (fs:worker:<id>, found with SCAN, never KEYS, which would block Redis on a
 * keyspace of a million images). */
#ifndef FS_STATUS_H
#define FS_STATUS_H

#include "common/redis.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char id[128];
    char host[128];
    char isa[16];
    long long pid, size, done, failed;
    double rate;     /* images/s, as the worker last reported */
    int64_t seen_ms; /* Unix ms of its last heartbeat */
} status_worker_t;

typedef struct {
    int64_t now_ms; /* when the snapshot was taken */
    long long uploaded, stored, failed, duplicates, retried, malformed, backlog, in_flight;
    /* From the newest fs:metrics sample when it is recent, else rate = sum of workers'. */
    bool sampled;
    double rate, p50_ms, p99_ms;
    double eta_s; /* backlog / rate; -1 when there is no rate to divide by */
    status_worker_t *workers;
    size_t worker_count;
} status_t;

/* Takes a snapshot; NULL with the reason in err when Redis cannot be read. */
status_t *status_new(redis_t *redis, char *err, size_t errlen);
void status_destroy(status_t **self_p);

/* The snapshot as one JSON object: {"time_ms", "counters": {...}, "workers": [...]},
 * worker fields id, host, isa, pid, size, rate, done, failed, seen_ms, last_seen_s (caller
 * json_decrefs); NULL when memory ran out. */
json_t *status_json(const status_t *self);
/* Writes status_json's object as one line of compact JSON; -1 when that failed. */
int status_write_json(const status_t *self, FILE *out);

#endif
