/* run.c -- `fruitstream run [DIR]`: the whole pipeline on one machine, start to finish.
 *
 * A supervisor, nothing more (cli/pipeline.c starts and stops the children, as it does
 * for `serve`): it starts a private redis-server (append-only file in
 * --data-dir, so results survive) unless --redis/REDIS_URL names one, then the sink, the
 * ventilator and a worker process running --workers workers on as many threads (one copy
 * of the weights between them), as child processes talking over ipc:// sockets, adds
 * every image of DIR to the upload stream (the same path live uploads take), shows progress
 * until the stream is empty (the sink deletes each entry once its result is stored), stops
 * the children in order (workers, ventilator, then the sink, which publishes its final PCA
 * model), and prints a summary. Ctrl-C stops everything the same way. With --tasks and
 * --results on TCP, workers on other machines can join; the roles then always use CURVE
 * keys (--keys, else a key directory made once in --data-dir), so a run never opens a port
 * to anyone who can reach it. */
#include "cli/commands.h"
#include "cli/pipeline.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/isa.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/stop.h"
#include "common/uploads.h"
#include "pca/pca_model.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *dir;
    pipeline_config_t pipeline;
} run_config_t;

static const char about[] =
    "Featurizes every *.jpg/*.jpeg under DIR (default $" CONFIG_DATA_ENV " or " CONFIG_DATA_DEFAULT
    "; label = parent folder) with local workers, stores results and the "
    "PCA model in Redis, and prints a summary. Ctrl-C stops everything cleanly.";

/* Reads the command line into cfg: 0, or -1 after saying why (options_parse itself ends
 * the process for --help or a bad option). */
static int parse_args(int argc, char **argv, run_config_t *cfg)
{
    pipeline_config_defaults(&cfg->pipeline);
    const option_t options[] = {PIPELINE_OPTIONS(&cfg->pipeline), OPTION_END};
    const options_spec_t spec = {"fruitstream run", "[DIR]", 0, 1, about, options, NULL};
    int first = options_parse(&spec, argc, argv);
    cfg->dir = config_data_path(first < argc ? argv[first] : NULL);
    /* the ventilator may read the files of DIR */
    return pipeline_allow(&cfg->pipeline, cfg->dir);
}

typedef struct {
    long long stored, failed, duplicates, backlog;
} progress_t;

/* The backlog is read first: an upload leaves the stream in the same script that counts it,
 * so counters read after a backlog of 0 include every upload. Read the other way round,
 * the last ones settled between the two reads were missing from the summary. */
static int read_progress(redis_t *redis, progress_t *p)
{
    redisReply *len = redisCommand(redis->ctx, "XLEN %s", KEY_UPLOADS);
    redisReply *c = redisCommand(redis->ctx, "HMGET %s stored failed duplicates", KEY_COUNTERS);
    int rc = -1;
    if (c && c->type == REDIS_REPLY_ARRAY && len && len->type == REDIS_REPLY_INTEGER) {
        p->stored = c->element[0]->str ? atoll(c->element[0]->str) : 0;
        p->failed = c->element[1]->str ? atoll(c->element[1]->str) : 0;
        p->duplicates = c->element[2]->str ? atoll(c->element[2]->str) : 0;
        p->backlog = len->integer;
        rc = 0;
    }
    freeReplyObject(c);
    freeReplyObject(len);
    return rc;
}

static int monitor(pipeline_t *pipeline, redis_t *redis, long total, const progress_t *start,
                   progress_t *now)
{
    bool tty = isatty(STDERR_FILENO);
    double last_print = 0, t0 = clock_seconds();
    while (!stop_requested) {
        if (pipeline_check_children(pipeline) != 0)
            return -1;
        if (read_progress(redis, now) != 0) {
            log_error("lost Redis");
            return -1;
        }
        long long done = (now->stored - start->stored) + (now->failed - start->failed) +
                         (now->duplicates - start->duplicates);
        double elapsed = clock_seconds() - t0;
        if (now->backlog == 0 || clock_seconds() - last_print >= (tty ? 0.5 : 10.0)) {
            fprintf(stderr, "%s%lld/%ld images  %lld failed  %.0f images/s  %.0f s%s",
                    tty ? "\r" : "", done, total, now->failed - start->failed,
                    elapsed >= 1 ? (double) done / elapsed : 0.0, elapsed, tty ? "  " : "\n");
            last_print = clock_seconds();
        }
        if (now->backlog == 0) {
            if (tty)
                fputc('\n', stderr);
            return 0;
        }
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    if (tty)
        fputc('\n', stderr);
    return -1;
}

/* user + system CPU seconds of the Redis server since it started, or -1. */
static double redis_cpu_seconds(redis_t *redis)
{
    redisReply *r = redisCommand(redis->ctx, "INFO cpu");
    double total = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *sys = strstr(r->str, "used_cpu_sys:");
        const char *user = strstr(r->str, "used_cpu_user:");
        if (sys && user)
            total = atof(sys + strlen("used_cpu_sys:")) + atof(user + strlen("used_cpu_user:"));
    }
    freeReplyObject(r);
    return total;
}

/* The summary; the cpu line says where the machine's time went, which is how the cost of
 * the plumbing (sink, ventilator, Redis) is measured against the workers'. images counts
 * every upload settled, duplicates (images stored before, not featurized again) included;
 * the workers' CPU per image is over the others. */
static void print_summary(const pipeline_t *pipeline, const pipeline_config_t *cfg, redis_t *redis,
                          long long images, long long failed, long long duplicates, double seconds)
{
    redisReply *labels = redisCommand(redis->ctx, "HLEN %s", KEY_LABELS);
    char err[512];
    pca_model_info_t *model = pca_model_info_new(redis, err, sizeof err);
    printf("images: %lld\nclasses: %lld\nfailed: %lld\nduplicates: %lld\nseconds: %.1f\n"
           "images/s: %.1f\n",
           images, labels && labels->type == REDIS_REPLY_INTEGER ? labels->integer : 0, failed,
           duplicates, seconds, seconds > 0 ? (double) images / seconds : 0.0);
    printf("kernels: %s (cpu: %s)\n", isa_name(cfg->isa), isa_cpu_flags());
    if (model)
        printf("pca: n=%lld k=%d explained=%.17g\n", model->n, model->k, model->explained);
    else
        printf("pca: none (%s)\n", err);
    freeReplyObject(labels);
    pca_model_info_destroy(&model);
    double workers_cpu = pipeline_cpu(pipeline, PIPELINE_WORKERS);
    long long featurized = images - duplicates;
    printf("cpu seconds: workers %.2f (%.3f ms/image), sink %.2f, ventilator %.2f", workers_cpu,
           featurized > 0 ? workers_cpu * 1e3 / (double) featurized : 0.0,
           pipeline_cpu(pipeline, PIPELINE_SINK), pipeline_cpu(pipeline, PIPELINE_VENTILATOR));
    double redis_cpu = pipeline_owns_redis(pipeline) ? redis_cpu_seconds(redis) : -1;
    if (redis_cpu >= 0)
        printf(", redis %.2f", redis_cpu);
    printf("\n");
}

int cmd_run(int argc, char **argv)
{
    run_config_t cfg;
    if (parse_args(argc, argv, &cfg) != 0)
        return 2;
    struct stat st;
    if (stat(cfg.dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        log_error("%s is not a folder of images", cfg.dir);
        return 1;
    }
    redis_t *redis;
    pipeline_t *pipeline = pipeline_open(&cfg.pipeline, &redis);
    if (!pipeline)
        return 1;
    int status = 1;
    progress_t start = {0}, now = {0};
    double t0 = clock_seconds();
    long total = -1;
    if (read_progress(redis, &start) == 0) {
        pipeline_start(pipeline);
        uploads_t *uploads = uploads_new(redis);
        total = uploads_add_tree(uploads, cfg.dir);
        if (total >= 0 && uploads_finish(uploads) < 0) /* counts them as uploaded */
            total = -1;
        uploads_destroy(&uploads);
        if (total >= 0) {
            log_info("%ld images from %s, %d workers", total, cfg.dir, cfg.pipeline.workers);
            status = monitor(pipeline, redis, total, &start, &now) == 0 ? 0 : 1;
        }
    }
    double seconds = clock_seconds() - t0;
    pipeline_stop(pipeline, PIPELINE_WORKERS);
    pipeline_stop(pipeline, PIPELINE_VENTILATOR);
    pipeline_stop(pipeline, PIPELINE_SINK);
    if (total >= 0)
        print_summary(pipeline, &cfg.pipeline, redis,
                      (now.stored - start.stored) + (now.failed - start.failed) +
                          (now.duplicates - start.duplicates),
                      now.failed - start.failed, now.duplicates - start.duplicates, seconds);
    if (stop_requested)
        fprintf(stderr, "fruitstream run: interrupted; what was stored stays in Redis\n");
    redis_destroy(&redis);
    pipeline_destroy(&pipeline);
    return stop_requested ? 130 : status;
}
