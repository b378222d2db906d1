/* feed_results -- a synthetic stream of worker results, as fast as the sink takes them.
 *
 *   feed_results --pending REDIS_URL COUNT [FIRST]
 *   feed_results [--wait REDIS_URL] [--per-message M] ENDPOINT COUNT [FIRST]
 *
 * The sink stores only results of pending upload entries, so the first form comes first:
 * it adds the COUNT entries the results will answer (IDs N+1-1 and keys bench/N.jpg, N from
 * FIRST on, 0 unless given, so that feeds one after another do not repeat keys) and makes
 * them pending, as a ventilator's read would. The second pushes COUNT RESULT frames for
 * those keys to the sink's result socket, M to a message (default CONFIG_TASKS_PER_MESSAGE:
 * a worker sends the results of a task message back as one message, and under load the
 * ventilator's messages hold that many tasks), then exits. Their 1280-float features are
 * drawn from a low-rank model plus noise (so the PCA has a realistic spectrum to chase) and
 * precomputed, so the feeder itself costs little next to the sink it measures. With --wait
 * it then watches fs:counters' `stored` on one connection until the sink has stored all
 * COUNT, and prints on stdout the seconds from the first send to the last store, then the
 * CPU seconds the feeder itself used meanwhile (all its threads, ZeroMQ's I/O thread too):
 * a benchmark needs no polling processes of its own on the cores the sink is measured on,
 * and sees what the feeder took of them. */
#include "common/clock.h"
#include "common/config.h"
#include "common/keys.h"
#include "common/options.h"
#include "common/redis.h"
#include "common/uploads.h"
#include "common/wire.h"
#include "featurizer/featurizer.h"

#include <czmq.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RANK 32
#define DISTINCT 512

static float gaussian(void)
{
    double u = (rand() + 1.0) / (RAND_MAX + 2.0), v = (rand() + 1.0) / (RAND_MAX + 2.0);
    return (float) (sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

/* The upload entries the results answer, pending in the group. */
static int add_pending(const char *url, int64_t first, int64_t count)
{
    char err[512];
    redis_t *redis = redis_new(url, err, sizeof err);
    if (!redis || uploads_ensure_group(redis) != 0) {
        fprintf(stderr, "feed_results: %s\n", redis ? "cannot create the group" : err);
        redis_destroy(&redis);
        return 1;
    }
    int rc = 0;
    for (int64_t i = 0; i < count && rc == 0; i += 1000) {
        int64_t n = count - i < 1000 ? count - i : 1000;
        for (int64_t j = i; j < i + n; j++)
            redisAppendCommand(redis->ctx, "XADD %s %lld-1 key bench/%lld.jpg", KEY_UPLOADS,
                               (long long) (first + j) + 1, (long long) (first + j));
        redisAppendCommand(redis->ctx, "XREADGROUP GROUP %s feeder COUNT %lld STREAMS %s >",
                           GROUP_VENTILATORS, (long long) n, KEY_UPLOADS);
        for (int64_t j = 0; j <= n; j++) {
            redisReply *r = NULL;
            if (redisGetReply(redis->ctx, (void **) &r) != REDIS_OK ||
                r->type == REDIS_REPLY_ERROR) {
                fprintf(stderr, "feed_results: %s\n", r ? r->str : redis->ctx->errstr);
                rc = 1;
            }
            freeReplyObject(r);
        }
    }
    redis_destroy(&redis);
    return rc;
}

/* fs:counters' `stored`, or -1 when Redis does not answer. */
static int64_t stored_count(redis_t *redis)
{
    redisReply *r = redisCommand(redis->ctx, "HGET %s stored", KEY_COUNTERS);
    int64_t n = !r ? -1 : r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
    freeReplyObject(r);
    return n;
}

/* Polls `stored` every WAIT_POLL_MS until it reaches target; the time it did, or a
 * negative number once it has not moved for WAIT_STALL_S (the sink died) or Redis is gone. */
#define WAIT_POLL_MS 5
#define WAIT_STALL_S 30
static double wait_stored(redis_t *redis, int64_t target)
{
    int64_t last = -1;
    double moved = clock_seconds();
    for (;;) {
        int64_t n = stored_count(redis);
        if (n < 0)
            return -1;
        if (n >= target)
            return clock_seconds();
        if (n != last)
            last = n, moved = clock_seconds();
        else if (clock_seconds() - moved > WAIT_STALL_S)
            return -1;
        zclock_sleep(WAIT_POLL_MS);
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: feed_results --pending REDIS_URL COUNT [FIRST]\n"
                    "       feed_results [--wait REDIS_URL] [--per-message M] ENDPOINT COUNT "
                    "[FIRST]\n");
    return 2;
}

int main(int argc, char **argv)
{
    int64_t count, first = 0, per_message = CONFIG_TASKS_PER_MESSAGE;
    const char *pending = NULL, *wait = NULL;
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) { /* flags and their values */
        if (strcmp(argv[i], "--pending") == 0 && i == 1)
            pending = argv[i + 1];
        else if (strcmp(argv[i], "--wait") == 0 && !pending)
            wait = argv[i + 1];
        else if (strcmp(argv[i], "--per-message") != 0 || pending ||
                 option_int64("--per-message", argv[i + 1], 1, CONFIG_MAX_TASKS_PER_MESSAGE,
                              &per_message))
            return usage();
    }
    const char *endpoint = !pending && i < argc ? argv[i++] : NULL;
    if (argc < i + 1 || argc > i + 2 || option_int64("COUNT", argv[i], 1, INT64_MAX / 2, &count) ||
        (argc == i + 2 && option_int64("FIRST", argv[i + 1], 0, INT64_MAX / 2, &first)))
        return usage();
    if (pending)
        return add_pending(pending, first, count);
    char err[512];
    redis_t *redis = NULL;
    int64_t target = 0;
    if (wait &&
        (!(redis = redis_new(wait, err, sizeof err)) || (target = stored_count(redis)) < 0)) {
        fprintf(stderr, "feed_results: %s\n", redis ? "Redis does not answer" : err);
        redis_destroy(&redis);
        return 1;
    }
    target += count;
    static float basis[RANK][FEATURE_DIM], vectors[DISTINCT][FEATURE_DIM];
    srand(1);
    for (int r = 0; r < RANK; r++)
        for (int j = 0; j < FEATURE_DIM; j++)
            basis[r][j] = gaussian() / (float) (1 + r);
    for (int v = 0; v < DISTINCT; v++)
        for (int j = 0; j < FEATURE_DIM; j++) {
            float x = 0.1f * gaussian();
            for (int r = 0; r < RANK; r++)
                x += basis[r][j] * (float) ((v * 31 + r * 17) % 13 - 6) / 6.0f;
            vectors[v][j] = fabsf(x);
        }
    zsock_t *results = zsock_new_push(endpoint);
    if (!results) {
        fprintf(stderr, "feed_results: cannot connect to %s\n", endpoint);
        redis_destroy(&redis);
        return 1;
    }
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    double t0 = clock_seconds(), cpu0 = clock_process_cpu_seconds();
    for (int64_t i = 0; i < count; i++) {
        wire_result_t r = {.ok = true,
                           .size = 224,
                           .attempt = 1,
                           .features = (const uint8_t *) vectors[i % DISTINCT],
                           .features_len = sizeof vectors[0],
                           .uploaded_ms = clock_unix_ms()};
        snprintf(r.entry, sizeof r.entry, "%lld-1", (long long) (first + i) + 1);
        snprintf(r.key, sizeof r.key, "bench/%lld.jpg", (long long) (first + i));
        snprintf(r.label, sizeof r.label, "label%lld", (long long) i % 10);
        snprintf(r.worker, sizeof r.worker, "feeder");
        wire_encode_result(&buf, &r);
        bool last = (i + 1) % per_message == 0 || i + 1 == count; /* of its message */
        zmq_send(zsock_resolve(results), buf.data, buf.size, last ? 0 : ZMQ_SNDMORE);
    }
    fprintf(stderr, "feed_results: %lld results sent, %lld to a message, in %.2f s\n",
            (long long) count, (long long) per_message, clock_seconds() - t0);
    msgpack_sbuffer_destroy(&buf);
    int rc = 0;
    if (wait) {
        double done = wait_stored(redis, target);
        if (done < 0) {
            fprintf(stderr, "feed_results: the sink stopped storing before all %lld\n",
                    (long long) count);
            rc = 1;
        } else {
            printf("%.3f %.3f\n", done - t0, clock_process_cpu_seconds() - cpu0);
        }
    }
    redis_destroy(&redis);
    zsock_set_linger(results, 60000);
    zsock_destroy(&results);
    return rc;
}
