/* fruitstream-sink -- collects results, stores each once in Redis, keeps the online PCA.
 *
 * One loop: wait for results on the PULL socket, drain up to a batch of them, project the
 * good ones on the current PCA model, store the batch with one pipelined round trip
 * (sink/store.c), then add the newly stored vectors to the PCA in sequence order
 * (pca/pca_store.c explains why order makes restarts exact). A store thread stores each
 * batch while the loop receives the next one and adds the one before. The model is
 * refreshed every N vectors (but no sooner than G seconds after the last refresh) or every T
 * seconds, and the running sums are checkpointed with it.
 * Heartbeats from workers become expiring fs:worker:<id> hashes. A frame that does not
 * decode is dropped and counted in fs:counters. When Redis goes away the sink waits for
 * it, holding its batch; ZeroMQ's high-water marks then hold the workers back.
 * SIGINT/SIGTERM: finish the batch, publish a final model and checkpoint, exit 0. Run one
 * sink per Redis. The PCA's rank-k update runs on the best instruction set the CPU has, or
 * the one FRUITSTREAM_ISA names; the sink logs which. */
#include "common/clock.h"
#include "common/config.h"
#include "common/curve.h"
#include "common/defer.h"
#include "common/isa.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/options.h"
#include "common/redis.h"
#include "common/stop.h"
#include "common/wire.h"
#include "featurizer/featurizer.h"
#include "pca/pca.h"
#include "pca/pca_model.h"
#include "pca/pca_store.h"
#include "sink/aof.h"
#include "sink/metrics.h"
#include "sink/retain.h"
#include "sink/store.h"

#include <cblas.h>
#include <czmq.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SINK_MAX_BATCH SINK_STORE_MAX
/* the longest result a worker sends fits in a frame the result socket accepts */
_Static_assert(FEATURE_DIM * 4 + WIRE_KEY_MAX + WIRE_LABEL_MAX + WIRE_NAME_MAX + WIRE_ERROR_MAX +
                       WIRE_ENTRY_MAX + 1024 <=
                   WIRE_RESULT_FRAME_MAX,
               "WIRE_RESULT_FRAME_MAX is too small for a RESULT");

typedef struct {
    const char *results_endpoint;
    const char *redis_url;
    pca_options_t pca;
    int batch;
    int gather_ms;
    int64_t refresh_every;
    double refresh_seconds;
    int refresh_min_seconds;
    int heartbeat_ttl;
    int blas_threads;
    const char *keys;
    bool insecure;
    int64_t metrics_length;
    retain_options_t retain;
    int64_t aof_limit_mb;
} sink_config_t;

/* Results received together, stored with one round trip, then added to the PCA. */
typedef struct {
    zframe_t *frames[SINK_MAX_BATCH]; /* kept alive: items point into them */
    wire_msg_t msgs[SINK_MAX_BATCH];
    store_item_t items[SINK_MAX_BATCH];
    float *projections; /* batch x k */
    size_t n;
    bool storing;      /* the store thread has it */
    int64_t stored_ms; /* when it was stored: where its new results' latency ends */
} batch_t;

/* A model refresh running on its own thread, over a snapshot of the sums. */
typedef struct {
    pthread_t thread;
    bool running;
    atomic_int done;
    pca_t *snapshot; /* sums as of `applied`; becomes the model */
    int64_t applied;
    int refreshed; /* pca_refresh's result */
    void *state;   /* the snapshot's sums, serialized for the checkpoint */
    size_t state_size;
} refresher_t;

typedef struct {
    sink_config_t cfg;
    redis_t *redis;       /* heartbeats, counters, catch-up, model, checkpoints */
    redis_t *store_redis; /* the store thread's own connection */
    pthread_t store_thread;
    batch_t *in_store;      /* the batch the store thread stores */
    pca_t *pca;             /* running sums of every stored vector, in seq order */
    pca_t *model;           /* the last refreshed snapshot: projects results, or NULL */
    uint64_t first_version; /* the published model's version when we started */
    int64_t applied;        /* last stored seq included in pca */
    int64_t applied_at_refresh;
    double refreshed_at;
    refresher_t refresher;
    batch_t batches[2]; /* one being stored while the other is received, then enters the PCA */
    int current;        /* the one to receive into */
    float *rows;        /* batch x dim scratch: vectors to project or to add */
    int64_t malformed;  /* messages dropped as malformed since the start */
    int64_t malformed_unsent;   /* ...not yet added to fs:counters */
    int64_t malformed_unlogged; /* ...since the last warning */
    double malformed_logged_at;
    int last_batch;       /* frames in the last batch received */
    metrics_t *metrics;   /* the once-a-second samples in fs:metrics */
    int64_t checkpointed; /* last seq the newest checkpoint includes */
    double trimmed_at;    /* when retain_trim last ran */
} sink_t;

static const char about[] = "Collects worker results, stores them in Redis exactly once, keeps an "
                            "online PCA.";

static int take_retain_age(void *target, const char *duration)
{
    if ((*(int64_t *) target = retain_parse_duration(duration)) >= 0)
        return 0;
    fprintf(stderr, "fruitstream-sink: --retain-age takes a number with a unit s, m, h or d "
                    "(90s, 15m, 24h, 7d)\n");
    return -1;
}

/* Reads the command line into cfg: 0, or -1 after saying why (options_parse itself ends
 * the process for --help or a bad option). */
static int parse_args(int argc, char **argv, sink_config_t *cfg)
{
    *cfg = (sink_config_t){.results_endpoint = CONFIG_RESULTS_BIND,
                           .redis_url = CONFIG_REDIS_DEFAULT,
                           .pca = {FEATURE_DIM, 0, 0.95, false, ISA_PORTABLE},
                           .batch = 1024,
                           .gather_ms = 25,
                           .refresh_every = 20000,
                           .refresh_seconds = 30.0,
                           .refresh_min_seconds = 10,
                           .heartbeat_ttl = 5,
                           .blas_threads = 1,
                           .metrics_length = METRICS_DEFAULT_LENGTH,
                           .aof_limit_mb = AOF_DEFAULT_LIMIT >> 20};
    const option_t options[] = {
        OPTION_STRING("results", &cfg->results_endpoint, "ENDPOINT", "bind the result socket here"),
        OPTION_REDIS(&cfg->redis_url, CONFIG_REDIS_HELP),
        OPTION_INT("k", &cfg->pca.k, 0, cfg->pca.dim, "K",
                   "fixed number of PCA components (default none)"),
        OPTION_REAL("variance", &cfg->pca.variance, 0, 1, "V", "else the smallest k explaining V"),
        OPTION_FLAG("standardize", &cfg->pca.standardize,
                    "scale features to unit variance before PCA"),
        OPTION_INT64("refresh-every", &cfg->refresh_every, 1, INT64_MAX, "N",
                     "refresh the model and checkpoint the sums every N vectors..."),
        OPTION_REAL("refresh-seconds", &cfg->refresh_seconds, 0, 1000000000, "T",
                    "...or every T seconds"),
        OPTION_INT("refresh-min-seconds", &cfg->refresh_min_seconds, 0, 1000000000, "G",
                   "...but N vectors start one no sooner than G seconds after the last"),
        OPTION_INT("batch", &cfg->batch, 1, SINK_MAX_BATCH, "N",
                   "results stored per round trip, at most"),
        OPTION_INT("gather-ms", &cfg->gather_ms, 0, 60000, "MS",
                   "when results come a few at a time, wait this long for more to store "
                   "with them, 0 for never"),
        OPTION_INT("blas-threads", &cfg->blas_threads, 1, 1024, "N",
                   "OpenBLAS threads for the PCA; Redis and the workers need the other "
                   "cores"),
        OPTION_STRING(
            "keys", &cfg->keys, "DIR",
            "CURVE: admit only workers whose key is in DIR/workers (default $" CONFIG_KEYS_ENV
            "; make DIR with `fruitstream keys DIR`)"),
        OPTION_FLAG("insecure", &cfg->insecure, "allow a non-loopback TCP bind without --keys"),
        OPTION_INT64("metrics-length", &cfg->metrics_length, 0, INT64_MAX, "N",
                     "samples kept in " KEY_METRICS ", one a second, 0 for none"),
        OPTION_INT64("retain", &cfg->retain.count, 0, INT64_MAX, "COUNT",
                     "keep only the newest COUNT stored images' hashes in Redis, the PCA "
                     "still counting the others (default all)"),
        OPTION_CALL("retain-age", take_retain_age, &cfg->retain.age_ms, "DURATION",
                    "keep only those stored within DURATION (90s, 15m, 24h, 7d)"),
        OPTION_INT64("aof-limit", &cfg->aof_limit_mb, 0, INT64_MAX >> 20, "MB",
                     "ask Redis to rewrite its append-only file once it holds MB, and the "
                     "data's size, beyond the data, 0 for never"),
        OPTION_END};
    const options_spec_t spec = {
        "fruitstream-sink", .about = about, .options = options,
        .epilogue = ISA_ENV_HELP("the instruction set of the PCA's rank-k update")};
    options_parse(&spec, argc, argv);
    cfg->keys = config_keys_dir(cfg->keys);
    char err[256];
    if (isa_from_env(&cfg->pca.isa, err, sizeof err) != 0) {
        fprintf(stderr, "fruitstream-sink: %s\n", err);
        return -1;
    }
    return 0;
}

/* Runs a Redis write until it works, reconnecting in between; gives up only on stop, and
 * does not try at all once a stop left no connection (Redis down while stopping). */
#define UNTIL_WRITTEN(self, call)                                                                  \
    while ((self)->redis->ctx && (call) != 0) {                                                    \
        if (redis_reconnect((self)->redis, &stop_requested) != 0)                                  \
            break;                                                                                 \
    }

/* A flood of malformed messages (a peer gone wrong, or hostile) costs neither a Redis round
 * trip nor a log line each: they are added to fs:counters once a batch (flush_malformed),
 * and at most one warning a second names a reason, the rest counted in the next. */
static void count_malformed(sink_t *self, const char *why)
{
    self->malformed++;
    self->malformed_unsent++;
    if (clock_seconds() - self->malformed_logged_at < 1.0) {
        self->malformed_unlogged++;
        return;
    }
    log_warn("dropped a malformed message (%lld so far): %s", (long long) self->malformed, why);
    self->malformed_logged_at = clock_seconds();
}

static void flush_malformed(sink_t *self)
{
    if (self->malformed_unsent > 0 && self->redis->ctx) {
        redisReply *r = redisCommand(self->redis->ctx, "HINCRBY %s malformed %lld", KEY_COUNTERS,
                                     (long long) self->malformed_unsent);
        if (r && r->type == REDIS_REPLY_INTEGER)
            self->malformed_unsent = 0; /* else again with the next batch */
        freeReplyObject(r);
    }
    if (self->malformed_unlogged > 0 && clock_seconds() - self->malformed_logged_at >= 1.0) {
        log_warn("dropped %lld more malformed messages (%lld so far)",
                 (long long) self->malformed_unlogged, (long long) self->malformed);
        self->malformed_logged_at = clock_seconds();
        self->malformed_unlogged = 0;
    }
}

static void record_heartbeat(sink_t *self, const wire_heartbeat_t *b)
{
    redisAppendCommand(self->redis->ctx,
                       "HSET %s%s host %s pid %lld size %lld done %lld failed %lld rate %.2f "
                       "isa %s seen_ms %lld",
                       KEY_WORKER_PREFIX, b->worker, b->host, (long long) b->pid,
                       (long long) b->size, (long long) b->done, (long long) b->failed, b->rate,
                       b->isa, (long long) clock_unix_ms());
    metrics_heartbeat(self->metrics, b->worker, clock_unix_ms());
    redisAppendCommand(self->redis->ctx, "EXPIRE %s%s %d", KEY_WORKER_PREFIX, b->worker,
                       self->cfg.heartbeat_ttl);
    for (int i = 0; i < 2; i++) {
        redisReply *r = NULL;
        if (redisGetReply(self->redis->ctx, (void **) &r) == REDIS_OK)
            freeReplyObject(r);
    }
}

/* Results already waiting in a drain that make the batch worth storing without waiting. */
#define SINK_GATHER_ENOUGH 32

/* Adds the frames already waiting to the batch, up to --batch; returns the new count. */
static int drain(const sink_t *self, batch_t *b, zsock_t *results, int n)
{
    while (n < self->cfg.batch) {
        zframe_t *frame = zframe_recv_nowait(results);
        if (!frame)
            break;
        b->frames[n++] = frame;
    }
    return n;
}

/* Receives up to a batch of frames: waits for the first, drains what has arrived, and,
 * while results come in faster than one per batch but not yet SINK_GATHER_ENOUGH at a
 * time, sleeps --gather-ms and drains again. Sleeping through that window, rather than
 * waking for each frame, is what makes batches: under load the sink, and Redis behind it,
 * wake once per window instead of once per result, on cores the workers need. A lone
 * result is stored at once, and a flood never waits. */
static int receive_batch(sink_t *self, batch_t *b, zsock_t *results, zpoller_t *poller)
{
    if (!zpoller_wait(poller, 200))
        return 0;
    int n = drain(self, b, results, 0);
    bool lone = n == 1 && self->last_batch <= 1;
    if (self->cfg.gather_ms > 0 && n < SINK_GATHER_ENOUGH && n < self->cfg.batch && !lone) {
        zclock_sleep(self->cfg.gather_ms);
        n = drain(self, b, results, n);
    }
    self->last_batch = n;
    return n;
}

/* Decodes frames into store items; heartbeats and malformed frames are handled here. A
 * result whose features hold NaN, Inf or a value no feature comes near is stored as failed:
 * it would poison the PCA sums (pca_row_check). */
static size_t prepare_items(sink_t *self, batch_t *b, int nframes)
{
    size_t n = 0;
    int dim = self->cfg.pca.dim;
    char err[256];
    for (int i = 0; i < nframes; i++) {
        wire_msg_t *msg = &b->msgs[n];
        zframe_t *frame = b->frames[i];
        if (wire_decode(zframe_data(frame), zframe_size(frame), msg, err, sizeof err) != 0) {
            count_malformed(self, err);
        } else if (msg->type == WIRE_HEARTBEAT) {
            record_heartbeat(self, &msg->heartbeat);
        } else if (msg->type != WIRE_RESULT) {
            count_malformed(self, "a task sent to the sink");
        } else if (msg->result.ok && msg->result.features_len != (size_t) dim * sizeof(float)) {
            snprintf(err, sizeof err, "result for %s has %zu bytes of features, expected %zu",
                     msg->result.key, msg->result.features_len, (size_t) dim * sizeof(float));
            count_malformed(self, err);
        } else {
            wire_result_t *r = &msg->result;
            int bad = r->ok ? pca_row_check(r->features, dim) : -1;
            if (bad >= 0) {
                float v;
                memcpy(&v, r->features + (size_t) bad * sizeof v, sizeof v);
                r->ok = false;
                snprintf(r->error, sizeof r->error,
                         "feature %d is %g, outside the PCA's range [-%g, %g]", bad, (double) v,
                         PCA_VALUE_MAX, PCA_VALUE_MAX);
            }
            b->items[n] = (store_item_t){.result = r, .outcome = STORE_PENDING};
            b->frames[n] = frame; /* keep the frame: the item points into it */
            n++;
            continue;
        }
        zframe_destroy(&frame);
    }
    return n;
}

/* Projects the good results on the current model, all in one BLAS call. */
static void project_items(sink_t *self, batch_t *b)
{
    int dim = self->cfg.pca.dim, k = self->model ? pca_k(self->model) : 0;
    size_t good = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->items[i].result->ok)
            memcpy(self->rows + good++ * (size_t) dim, b->items[i].result->features,
                   (size_t) dim * sizeof(float));
    bool projected =
        k > 0 && good > 0 && pca_project_many(self->model, self->rows, good, b->projections) == 0;
    good = 0;
    for (size_t i = 0; i < b->n; i++) {
        store_item_t *item = &b->items[i];
        item->k = k;
        item->pca_version = self->model ? pca_version(self->model) : 0;
        if (projected && item->result->ok)
            item->projection = b->projections + good++ * (size_t) k;
    }
}

/* How often a store that keeps failing is said again. */
#define SINK_STALL_REPORT_S 60.0

/* Stores a batch on the store thread's connection until it works or the sink is stopped,
 * trying again every 200 ms (the store script makes a repeat harmless) and reconnecting
 * when the connection is gone. A result Redis refuses is rejected inside store_batch, so
 * this loop waits only on Redis itself: while Redis is away or full it says so once, then
 * once a minute, and once more when the batch is stored. */
static void store_until_stored(redis_t *redis, batch_t *b)
{
    char err[512];
    int failures = 0;
    double since = 0, said = 0;
    while (store_batch(redis, b->items, b->n, err, sizeof err) != 0) {
        double now = clock_seconds();
        if (failures++ == 0) {
            since = said = now;
            log_warn("cannot store %zu results (%s); trying again every 200 ms", b->n, err);
        } else if (now - said >= SINK_STALL_REPORT_S) {
            said = now;
            log_warn("still cannot store %zu results after %.0f s (%s)", b->n, now - since, err);
        }
        zclock_sleep(200);
        if (stop_requested ||
            ((!redis->ctx || redis->ctx->err) && redis_reconnect(redis, &stop_requested) != 0))
            return; /* unstored: their upload entries stay pending, to be sent again */
    }
    b->stored_ms = clock_unix_ms();
    if (failures > 0)
        log_info("stored %zu results after %d attempts in %.1f s", b->n, failures + 1,
                 clock_seconds() - since);
}

static void *store_in_background(void *arg)
{
    sink_t *self = arg;
    store_until_stored(self->store_redis, self->in_store);
    return NULL;
}

/* Batches smaller than this are stored right here: under a light load there is nothing
 * to overlap, and starting a thread would cost more than it saves. */
#define SINK_THREAD_MIN_BATCH 32

/* Hands a batch to the store thread: Redis runs the store script over it (the round trip
 * is mostly Redis's own time) while this thread adds the previous batch to the PCA and
 * receives the next. A small batch, or one without a thread, is stored right here. */
static void start_storing(sink_t *self, batch_t *b)
{
    self->in_store = b;
    b->storing = b->n >= SINK_THREAD_MIN_BATCH &&
                 pthread_create(&self->store_thread, NULL, store_in_background, self) == 0;
    if (!b->storing)
        store_until_stored(self->store_redis, b);
}

static void finish_storing(sink_t *self, batch_t *b)
{
    if (b->storing)
        pthread_join(self->store_thread, NULL);
    b->storing = false;
    for (size_t i = 0; i < b->n; i++)
        if (b->items[i].outcome == STORE_NEW)
            metrics_stored(self->metrics, b->items[i].result->uploaded_ms, b->stored_ms);
}

static void release(batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        zframe_destroy(&b->frames[i]);
    b->n = 0;
}

/* Adds the batch's new vectors to the PCA in seq order, reading from Redis any stored
 * vector the batch does not hold (a result stored before a lost reply, say). */
static void apply_to_pca(sink_t *self, batch_t *b)
{
    int dim = self->cfg.pca.dim;
    size_t rows = 0;
    int64_t newest = self->applied;
    for (size_t i = 0; i < b->n; i++) {
        store_item_t *item = &b->items[i];
        if (item->seq > newest)
            newest = item->seq;
        if (item->outcome != STORE_NEW || item->seq <= self->applied + (int64_t) rows)
            continue;
        if (item->seq > self->applied + (int64_t) rows + 1) {
            pca_add(self->pca, self->rows, rows);
            self->applied += (int64_t) rows;
            rows = 0;
            UNTIL_WRITTEN(
                self, pca_store_catch_up(self->redis, self->pca, &self->applied, item->seq - 1));
        }
        memcpy(self->rows + rows++ * (size_t) dim, item->result->features,
               (size_t) dim * sizeof(float));
    }
    pca_add(self->pca, self->rows, rows);
    self->applied += (int64_t) rows;
    if (newest > self->applied)
        UNTIL_WRITTEN(self, pca_store_catch_up(self->redis, self->pca, &self->applied, newest));
}

static void *refresh_in_background(void *arg)
{
    refresher_t *r = arg;
    r->refreshed = pca_refresh(r->snapshot);
    r->state_size = pca_state_size(r->snapshot);
    r->state = malloc(r->state_size);
    if (r->state)
        pca_state_write(r->snapshot, r->state);
    atomic_store(&r->done, 1);
    return NULL;
}

/* Snapshots the sums (a 13 MB copy) and refreshes the snapshot on another thread: the
 * eigendecomposition of the dim x dim covariance would otherwise stall every result behind
 * it. */
static void start_refresh(sink_t *self)
{
    refresher_t *r = &self->refresher;
    uint64_t version = self->model ? pca_version(self->model) : self->first_version;
    r->snapshot = pca_snapshot(self->pca, version);
    if (!r->snapshot)
        return;
    r->applied = self->applied;
    r->state = NULL;
    atomic_store(&r->done, 0);
    r->running = pthread_create(&r->thread, NULL, refresh_in_background, r) == 0;
    if (!r->running)
        pca_destroy(&r->snapshot);
    self->applied_at_refresh = self->applied;
    self->refreshed_at = clock_seconds();
}

/* Waits for the refresh, adopts its model, publishes it and checkpoints its sums. */
static void finish_refresh(sink_t *self)
{
    refresher_t *r = &self->refresher;
    pthread_join(r->thread, NULL);
    r->running = false;
    if (r->refreshed == 0) {
        pca_destroy(&self->model);
        self->model = r->snapshot;
        int published = -1;
        UNTIL_WRITTEN(self, (published = pca_store_publish(self->redis, self->model)) < 0);
        /* no connection left: a stop came while Redis was away, and nothing was written */
        log_info("PCA model v%llu: n=%lld k=%d%s", (unsigned long long) pca_version(self->model),
                 (long long) pca_count(self->model), pca_k(self->model),
                 !self->redis->ctx ? " (not published: Redis is away)"
                 : published == 1  ? " (as published before)"
                                   : "");
    } else {
        pca_destroy(&r->snapshot);
    }
    /* none when the sums are the checkpoint's (a start with nothing stored since): 13 MB */
    if (r->state && r->applied != self->checkpointed) {
        UNTIL_WRITTEN(self, pca_store_checkpoint(self->redis, r->state, r->state_size, r->applied));
        self->checkpointed = r->applied;
        if (self->redis->ctx) /* none when a stop came while Redis was away */
            aof_bound(self->redis, self->cfg.aof_limit_mb << 20);
    }
    free(r->state);
    r->state = NULL;
    r->snapshot = NULL;
}

/* Every N vectors or T seconds a refresh starts; one finished is adopted. With `now`, the
 * refresh runs to the end before returning, and covers every vector applied. A refresh and
 * its checkpoint cost the same at any rate (a few tenths of a second of CPU for the sink and
 * Redis together, 13 MB written), so N vectors wait for G seconds since the last one: at
 * 20,000 vectors a second, one every 20,000 would take a sixth of the 2 cores a sink and
 * Redis may share, and send every reader of the model projecting all stored images again
 * each second. The T seconds rule keeps a slow stream's model fresh and is not held back. */
static void refresh_and_checkpoint(sink_t *self, bool now)
{
    refresher_t *r = &self->refresher;
    if (r->running && (now || atomic_load(&r->done)))
        finish_refresh(self);
    if (r->running || self->applied <= self->applied_at_refresh)
        return;
    double since = clock_seconds() - self->refreshed_at;
    if (now || since >= self->cfg.refresh_seconds ||
        (self->applied - self->applied_at_refresh >= self->cfg.refresh_every &&
         since >= self->cfg.refresh_min_seconds)) {
        start_refresh(self);
        if (now && r->running)
            finish_refresh(self);
    }
}

static int sink_setup(sink_t *self)
{
    char err[512];
    if (!(self->redis = redis_new_waiting(self->cfg.redis_url, &stop_requested, err, sizeof err)) ||
        !(self->store_redis =
              redis_new_waiting(self->cfg.redis_url, &stop_requested, err, sizeof err))) {
        log_error("%s", err);
        return -1;
    }
    while (!(self->pca = pca_store_load(self->redis, &self->cfg.pca, &self->checkpointed,
                                        &self->applied, err, sizeof err))) {
        log_error("%s", err);
        if (stop_requested || redis_reconnect(self->redis, &stop_requested) != 0)
            return -1;
    }
    self->first_version = pca_model_published_version(self->redis); /* versions go on */
    self->refreshed_at = clock_seconds();
    refresh_and_checkpoint(self, true); /* a model to project with, from the start */
    size_t floats = (size_t) SINK_MAX_BATCH * (size_t) self->cfg.pca.dim;
    self->batches[0].projections = malloc(floats * sizeof(float));
    self->batches[1].projections = malloc(floats * sizeof(float));
    self->rows = malloc(floats * sizeof(float));
    self->metrics = metrics_new((long) self->cfg.metrics_length, self->cfg.heartbeat_ttl * 1000LL);
    return self->batches[0].projections && self->batches[1].projections && self->rows &&
                   self->metrics
               ? 0
               : -1;
}

int main(int argc, char **argv)
{
    log_init("sink");
    static sink_t sink;
    sink_t *self = &sink;
    if (parse_args(argc, argv, &self->cfg) != 0)
        return 2;
    stop_catch_signals();
    defer_to_workers();
    /* A batch's commands (megabytes in hiredis's buffer) and each refresh's matrices are
     * allocated and freed again and again: from the heap, kept, they reuse the same pages;
     * each mapped afresh, every page of them would cost a fault again (tens of us under
     * some hypervisors). */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    zsys_init();
    /* Idle OpenBLAS threads spin in sched_yield: on a machine shared with Redis and
     * workers, extra threads cost more than they give. */
    openblas_set_num_threads(self->cfg.blas_threads);
    curve_t *curve; /* first, so that a refusal to bind comes before waiting for Redis */
    if (curve_server_setup(self->cfg.keys, self->cfg.results_endpoint, self->cfg.insecure,
                           "store forged results", &curve) != 0 ||
        sink_setup(self) != 0)
        return 1;
    zsock_t *results = zsock_new(ZMQ_PULL);
    curve_apply(curve, results);
    zsock_set_maxmsgsize(results, WIRE_RESULT_FRAME_MAX); /* before bind: wire.h says why */
    if (zsock_bind(results, "%s", self->cfg.results_endpoint) < 0) {
        log_error("cannot bind results socket %s: %s", self->cfg.results_endpoint,
                  zmq_strerror(zmq_errno()));
        return 1;
    }
    log_info("sink: results on %s, PCA has %lld vectors, rank-k update on %s",
             self->cfg.results_endpoint, (long long) self->applied, isa_name(self->cfg.pca.isa));
    zpoller_t *poller = zpoller_new(results, NULL);
    /* While one batch is being stored, the previous one enters the PCA and the next one is
     * received: Redis need not wait for this thread between batches. Batches are stored
     * strictly one after the other, so sequence numbers still come in order. */
    batch_t *storing = NULL;
    while (!stop_requested) {
        batch_t *b = &self->batches[self->current];
        b->n = prepare_items(self, b, receive_batch(self, b, results, poller));
        flush_malformed(self); /* counted before the batch's results are */
        if (b->n > 0)
            project_items(self, b);
        batch_t *stored = storing;
        if (stored)
            finish_storing(self, stored);
        storing = NULL;
        if (b->n > 0) {
            start_storing(self, b);
            storing = b;
            self->current ^= 1;
        }
        if (stored) {
            apply_to_pca(self, stored);
            release(stored);
        }
        refresh_and_checkpoint(self, false);
        /* Heartbeats, samples and trims do not retry: a connection they found broken (Redis
         * restarted while the sink was idle) is made again here, waiting as for a batch. */
        if (self->redis->ctx && self->redis->ctx->err)
            redis_reconnect(self->redis, &stop_requested);
        if (!self->redis->ctx) /* a stop came while Redis was away */
            continue;
        metrics_tick(self->metrics, self->redis, clock_unix_ms());
        if (clock_seconds() - self->trimmed_at >= 1.0 &&
            retain_trim(self->redis, &self->cfg.retain, self->applied, self->checkpointed,
                        clock_unix_ms()) < RETAIN_MAX_PER_CALL)
            self->trimmed_at = clock_seconds(); /* else more to trim: again next turn */
    }
    if (storing) {
        finish_storing(self, storing);
        apply_to_pca(self, storing);
        release(storing);
    }
    if (self->redis->ctx) {
        flush_malformed(self);
        refresh_and_checkpoint(self, true);
        log_info("sink stopping: PCA has %lld vectors", (long long) self->applied);
    } else if (self->refresher.running) {
        finish_refresh(self); /* joined before its snapshot is freed; nowhere to write it */
    }
    zpoller_destroy(&poller);
    zsock_destroy(&results);
    curve_destroy(&curve);
    pca_destroy(&self->pca);
    pca_destroy(&self->model);
    metrics_destroy(&self->metrics);
    redis_destroy(&self->redis);
    redis_destroy(&self->store_redis);
    free(self->batches[0].projections);
    free(self->batches[1].projections);
    free(self->rows);
    return 0;
}
