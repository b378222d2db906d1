/* metrics.c -- see metrics.h. Latencies of one interval are kept in a growable array and
 * sorted once per sample (a few thousand values a second at most: cheaper than any
 * streaming quantile sketch, and exact). Live workers are a small CZMQ hash of id -> last
 * heartbeat, pruned at each sample: the sink does not SCAN the keyspace for them, which
 * with a million fs:image keys would cost Redis far more than the sample is worth. */
#include "sink/metrics.h"

#include "common/keys.h"
#include "common/log.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

/* Counters copied from fs:counters into each sample, in this order. */
static const char *const copied[] = {"uploaded", "stored", "failed", "backlog", "in_flight"};
#define COPIED (sizeof copied / sizeof *copied)

struct metrics_t {
    long length;
    int64_t worker_ttl_ms;
    double *latencies; /* ms, of results stored in the current interval */
    size_t count, capacity;
    zhashx_t *workers; /* id -> int64_t * last heartbeat ms */
    int64_t last_ms;   /* time of the last sample, 0 before the first */
    long long last_stored;
    int64_t tried_ms; /* time of the last failed try; 0 when the last try worked */
};

static void free_seen(void **item)
{
    free(*item);
    *item = NULL;
}

metrics_t *metrics_new(long length, int64_t worker_ttl_ms)
{
    metrics_t *self = calloc(1, sizeof *self);
    if (!self || !(self->workers = zhashx_new())) {
        free(self);
        return NULL;
    }
    zhashx_set_destructor(self->workers, free_seen);
    self->length = length;
    self->worker_ttl_ms = worker_ttl_ms;
    self->last_stored = -1;
    return self;
}

void metrics_destroy(metrics_t **self_p)
{
    metrics_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy(&self->workers);
    free(self->latencies);
    free(self);
    *self_p = NULL;
}

void metrics_stored(metrics_t *self, int64_t uploaded_ms, int64_t stored_ms)
{
    if (self->length <= 0 || uploaded_ms <= 0) /* no samples: nothing ever empties them */
        return; /* an entry without an upload time says nothing about latency */
    if (self->count == self->capacity) {
        size_t capacity = self->capacity ? 2 * self->capacity : 1024;
        double *grown = realloc(self->latencies, capacity * sizeof *grown);
        if (!grown)
            return; /* a sample short of a few latencies is better than no sink */
        self->latencies = grown;
        self->capacity = capacity;
    }
    self->latencies[self->count++] = (double) (stored_ms - uploaded_ms);
}

void metrics_heartbeat(metrics_t *self, const char *worker, int64_t now_ms)
{
    if (self->length <= 0) /* no samples: nothing ever prunes the workers seen */
        return;
    int64_t *seen = zhashx_lookup(self->workers, worker);
    if (seen) {
        *seen = now_ms;
        return;
    }
    if (!(seen = malloc(sizeof *seen)))
        return;
    *seen = now_ms;
    zhashx_insert(self->workers, worker, seen);
}

/* Forgets workers not heard from within the TTL; returns how many remain. */
static size_t live_workers(metrics_t *self, int64_t now_ms)
{
    zlistx_t *ids = zhashx_keys(self->workers);
    for (const char *id = zlistx_first(ids); id; id = zlistx_next(ids)) {
        const int64_t *seen = zhashx_lookup(self->workers, id);
        if (now_ms - *seen > self->worker_ttl_ms)
            zhashx_delete(self->workers, id);
    }
    zlistx_destroy(&ids);
    return zhashx_size(self->workers);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

double metrics_percentile(double *values, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(values, n, sizeof *values, compare_doubles);
    size_t rank = (size_t) (p / 100.0 * (double) n + 0.999999); /* nearest rank, 1-based */
    if (rank < 1)
        rank = 1;
    return values[(rank > n ? n : rank) - 1];
}

int metrics_tick(metrics_t *self, redis_t *redis, int64_t now_ms)
{
    if (self->length <= 0 || (self->last_ms && now_ms - self->last_ms < 1000) ||
        (self->tried_ms && now_ms - self->tried_ms < 1000))
        return 0;
    redisReply *r = redisCommand(redis->ctx, "HMGET %s %s %s %s %s %s", KEY_COUNTERS, copied[0],
                                 copied[1], copied[2], copied[3], copied[4]);
    if (redis_lost(redis, r) || r->type != REDIS_REPLY_ARRAY || r->elements != COPIED) {
        freeReplyObject(r);
        return -1;
    }
    char values[COPIED][32];
    for (size_t i = 0; i < COPIED; i++)
        snprintf(values[i], sizeof values[i], "%s",
                 r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : "0");
    freeReplyObject(r);
    long long stored = atoll(values[1]);
    double seconds = self->last_ms ? (double) (now_ms - self->last_ms) / 1000.0 : 0;
    double rate = seconds > 0 && self->last_stored >= 0 && stored >= self->last_stored
                      ? (double) (stored - self->last_stored) / seconds
                      : 0;
    double p50 = metrics_percentile(self->latencies, self->count, 50);
    double p99 = metrics_percentile(self->latencies, self->count, 99);
    r = redisCommand(redis->ctx,
                     "XADD %s MAXLEN ~ %ld * uploaded %s stored %s failed %s backlog %s "
                     "in_flight %s rate %.2f workers %lld p50_ms %.0f p99_ms %.0f latencies %lld",
                     KEY_METRICS, self->length, values[0], values[1], values[2], values[3],
                     values[4], rate, (long long) live_workers(self, now_ms), p50, p99,
                     (long long) self->count);
    int ok = !redis_lost(redis, r) && r->type == REDIS_REPLY_STRING;
    if (!ok && !self->tried_ms && r && r->type == REDIS_REPLY_ERROR) /* a failing streak starts */
        log_warn("XADD %s: %s; no samples until Redis takes them again", KEY_METRICS, r->str);
    freeReplyObject(r);
    if (!ok) {
        self->tried_ms = now_ms;
        return -1;
    }
    if (self->tried_ms)
        log_info("%s samples again", KEY_METRICS);
    self->tried_ms = 0;
    self->last_ms = now_ms;
    self->last_stored = stored;
    self->count = 0;
    return 0;
}
