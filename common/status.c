/* status.c -- see status.h. Every read goes through one connection in a few round trips:
 * HGETALL of the counters and XREVRANGE of the newest sample, then SCAN rounds over
 * fs:worker:* with their HMGETs pipelined per round. A worker whose hash expires between
 * the SCAN and its HMGET is simply not listed. */
#include "common/status.h"

#include "common/clock.h"
#include "common/json_out.h"
#include "common/keys.h"

#include <stdlib.h>
#include <string.h>

/* A sample older than this no longer describes the pipeline (the sink has stopped). */
#define STATUS_SAMPLE_MAX_AGE_MS 5000
#define STATUS_SCAN_COUNT 1000

static bool failed_reply(redis_t *redis, redisReply *r, const char *what, char *err, size_t errlen)
{
    if (!redis_lost(redis, r) && r->type != REDIS_REPLY_ERROR)
        return false;
    snprintf(err, errlen, "reading %s from Redis failed: %s", what,
             r ? r->str : redis->ctx->errstr);
    return true;
}

/* Field `name` of a flat name/value array reply as text, or NULL. */
static const char *field(const redisReply *r, const char *name)
{
    const redisReply *v = redis_field(r, name);
    return v ? v->str : NULL;
}

static long long integer(const redisReply *r, const char *name)
{
    const char *v = field(r, name);
    return v ? atoll(v) : 0;
}

static int read_counters(redis_t *redis, status_t *s, char *err, size_t errlen)
{
    redisReply *r = redisCommand(redis->ctx, "HGETALL %s", KEY_COUNTERS);
    if (failed_reply(redis, r, KEY_COUNTERS, err, errlen)) {
        freeReplyObject(r);
        return -1;
    }
    s->uploaded = integer(r, "uploaded");
    s->stored = integer(r, "stored");
    s->failed = integer(r, "failed");
    s->duplicates = integer(r, "duplicates");
    s->retried = integer(r, "retried");
    s->malformed = integer(r, "malformed");
    s->backlog = integer(r, "backlog");
    s->in_flight = integer(r, "in_flight");
    freeReplyObject(r);
    return 0;
}

/* The newest fs:metrics sample, if it is recent enough to describe the pipeline. */
static int read_sample(redis_t *redis, status_t *s, char *err, size_t errlen)
{
    redisReply *r = redisCommand(redis->ctx, "XREVRANGE %s + - COUNT 1", KEY_METRICS);
    if (failed_reply(redis, r, KEY_METRICS, err, errlen)) {
        freeReplyObject(r);
        return -1;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        const redisReply *entry = r->element[0];
        int64_t at = atoll(entry->element[0]->str); /* the ID's time part */
        const redisReply *fields = entry->element[1];
        if (s->now_ms - at <= STATUS_SAMPLE_MAX_AGE_MS) {
            s->sampled = true;
            s->rate = field(fields, "rate") ? atof(field(fields, "rate")) : 0;
            s->p50_ms = field(fields, "p50_ms") ? atof(field(fields, "p50_ms")) : 0;
            s->p99_ms = field(fields, "p99_ms") ? atof(field(fields, "p99_ms")) : 0;
        }
    }
    freeReplyObject(r);
    return 0;
}

static void copy_text(char *to, size_t size, const redisReply *r)
{
    snprintf(to, size, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
}

static long long reply_integer(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
}

/* Adds the workers whose keys one SCAN round returned; their HMGETs go in one pipeline. */
static int add_workers(redis_t *redis, status_t *s, const redisReply *keys, char *err,
                       size_t errlen)
{
    size_t n = keys->elements;
    status_worker_t *grown = realloc(s->workers, (s->worker_count + n + 1) * sizeof *grown);
    if (!grown) {
        snprintf(err, errlen, "out of memory listing workers");
        return -1;
    }
    s->workers = grown;
    for (size_t i = 0; i < n; i++)
        redisAppendCommand(redis->ctx, "HMGET %s host isa pid size done failed rate seen_ms",
                           keys->element[i]->str);
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        /* Only a lost connection fails the list: a key under the prefix that is not a
         * heartbeat hash (an error reply) is skipped, and the replies after it still read. */
        if (redisGetReply(redis->ctx, (void **) &r) != REDIS_OK || redis_lost(redis, r)) {
            failed_reply(redis, r, "a worker's heartbeat", err, errlen);
            freeReplyObject(r);
            return -1;
        }
        redisReply **f = r->element;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 8 && f[7]->type == REDIS_REPLY_STRING) {
            status_worker_t *w = &s->workers[s->worker_count++];
            snprintf(w->id, sizeof w->id, "%s", keys->element[i]->str + strlen(KEY_WORKER_PREFIX));
            copy_text(w->host, sizeof w->host, f[0]);
            copy_text(w->isa, sizeof w->isa, f[1]);
            w->pid = reply_integer(f[2]);
            w->size = reply_integer(f[3]);
            w->done = reply_integer(f[4]);
            w->failed = reply_integer(f[5]);
            w->rate = f[6]->type == REDIS_REPLY_STRING ? atof(f[6]->str) : 0;
            w->seen_ms = reply_integer(f[7]);
        }
        freeReplyObject(r);
    }
    return 0;
}

static int compare_workers(const void *a, const void *b)
{
    return strcmp(((const status_worker_t *) a)->id, ((const status_worker_t *) b)->id);
}

static int read_workers(redis_t *redis, status_t *s, char *err, size_t errlen)
{
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(redis->ctx, "SCAN %s MATCH %s* COUNT %d", cursor,
                                     KEY_WORKER_PREFIX, STATUS_SCAN_COUNT);
        if (failed_reply(redis, r, "the workers", err, errlen) || r->type != REDIS_REPLY_ARRAY ||
            r->elements != 2) {
            freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        int rc = add_workers(redis, s, r->element[1], err, errlen);
        freeReplyObject(r);
        if (rc != 0)
            return -1;
    } while (strcmp(cursor, "0") != 0);
    if (s->worker_count > 1)
        qsort(s->workers, s->worker_count, sizeof *s->workers, compare_workers);
    return 0;
}

status_t *status_new(redis_t *redis, char *err, size_t errlen)
{
    status_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->now_ms = clock_unix_ms();
    if (!redis->ctx || read_counters(redis, self, err, errlen) != 0 ||
        read_sample(redis, self, err, errlen) != 0 || read_workers(redis, self, err, errlen) != 0) {
        if (!redis->ctx)
            snprintf(err, errlen, "not connected to Redis");
        status_destroy(&self);
        return NULL;
    }
    if (!self->sampled)
        for (size_t i = 0; i < self->worker_count; i++)
            self->rate += self->workers[i].rate;
    self->eta_s = self->rate > 0 ? (double) self->backlog / self->rate : -1;
    return self;
}

void status_destroy(status_t **self_p)
{
    status_t *self = *self_p;
    if (!self)
        return;
    free(self->workers);
    free(self);
    *self_p = NULL;
}

/* The json_pack calls below keep one key and its value a line, as the reply reads. */
/* clang-format off */
static json_t *worker_json(const status_t *self, const status_worker_t *w)
{
    return json_pack("{s:o, s:o, s:o, s:I, s:I, s:o, s:I, s:I, s:I, s:o}",
                     "id", json_out_string(w->id),
                     "host", json_out_string(w->host),
                     "isa", json_out_string(w->isa),
                     "pid", (json_int_t) w->pid,
                     "size", (json_int_t) w->size,
                     "rate", json_out_fixed(w->rate, 2),
                     "done", (json_int_t) w->done,
                     "failed", (json_int_t) w->failed,
                     "seen_ms", (json_int_t) w->seen_ms,
                     "last_seen_s",
                         json_out_fixed((double) (self->now_ms - w->seen_ms) / 1000.0, 1));
}

json_t *status_json(const status_t *self)
{
    json_t *workers = json_array();
    for (size_t i = 0; workers && i < self->worker_count; i++)
        json_out_append(&workers, worker_json(self, &self->workers[i]));
    /* p50_ms and p99_ms are whole milliseconds (integers); eta_s is null without a rate. */
    return json_pack("{s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}, s:o}",
                     "time_ms", (json_int_t) self->now_ms,
                     "counters",
                         "uploaded", (json_int_t) self->uploaded,
                         "stored", (json_int_t) self->stored,
                         "failed", (json_int_t) self->failed,
                         "duplicates", (json_int_t) self->duplicates,
                         "retried", (json_int_t) self->retried,
                         "malformed", (json_int_t) self->malformed,
                         "backlog", (json_int_t) self->backlog,
                         "in_flight", (json_int_t) self->in_flight,
                         "rate", json_out_fixed(self->rate, 2),
                         "p50_ms", json_out_fixed(self->p50_ms, 0),
                         "p99_ms", json_out_fixed(self->p99_ms, 0),
                         "eta_s", self->eta_s >= 0 ? json_out_fixed(self->eta_s, 1) : json_null(),
                     "workers", workers);
}
/* clang-format on */

int status_write_json(const status_t *self, FILE *out)
{
    json_t *json = status_json(self);
    char *line = json ? json_out_dumps(json) : NULL;
    json_decref(json);
    int rc = line && fprintf(out, "%s\n", line) > 0 ? 0 : -1;
    free(line);
    return rc;
}
