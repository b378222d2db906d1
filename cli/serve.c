/* serve.c -- `fruitstream serve`: the pipeline on this machine as a live service.
 *
 * It starts what `fruitstream run` starts (cli/pipeline.c: a private Redis unless one is
 * named, the sink, the ventilator, the local workers) and then, instead of feeding a
 * folder and waiting for it, stays up taking uploads from every way in at once: the upload
 * stream (`fruitstream upload`, any app back-end), watched folders (--watch, handed to the
 * ventilator, which owns them: ventilator/watch.c) and, with --http, an HTTP API in this
 * process (cli/http.c). On a terminal it keeps a status line up to date; in the background
 * it logs the same figures every STATUS_LOG_SECONDS when they change.
 *
 * SIGINT or SIGTERM drains it: the HTTP API stops taking requests, the ventilator stops
 * sending tasks (and watching), the tasks already sent are given up to DRAIN_SECONDS to be
 * stored, then the workers, the sink (which publishes its final model) and the private
 * Redis stop. Whatever was accepted and not yet featurized stays in the upload stream and
 * is taken up by the next start. */
#include "cli/commands.h"
#include "cli/http.h"
#include "cli/pipeline.h"
#include "common/clock.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/options.h"
#include "common/redis.h"
#include "common/stop.h"
#include "common/uploads.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STATUS_LOG_SECONDS 10.0
#define DRAIN_SECONDS 15.0

typedef struct {
    pipeline_config_t pipeline;
    http_config_t http;
    int watches;
} serve_config_t;

static const char about[] =
    "Runs the pipeline on this machine as a service taking uploads (the upload "
    "stream, watched folders, HTTP) until SIGINT or SIGTERM, then drains and "
    "stops.";

/* Passes an option and its value on to the ventilator. */
static int to_ventilator(pipeline_config_t *p, const char *option, const char *value)
{
    if (p->ventilator_argc + 2 > PIPELINE_MAX_EXTRA_ARGS) {
        fprintf(stderr, "fruitstream serve: too many --watch\n");
        return -1;
    }
    p->ventilator_args[p->ventilator_argc++] = option;
    p->ventilator_args[p->ventilator_argc++] = value;
    return 0;
}

static int take_watch(void *target, const char *dir)
{
    serve_config_t *cfg = target;
    cfg->watches++;
    return to_ventilator(&cfg->pipeline, "--watch", dir);
}

/* --max-image-bytes: the ventilator's limit, and the HTTP API's body limit. */
static int take_max_image(void *target, const char *value)
{
    serve_config_t *cfg = target;
    int64_t bytes;
    if (option_bytes("--max-image-bytes", value, 1, CONFIG_MAX_IMAGE_BYTES_LIMIT, &bytes) != 0)
        return -1;
    cfg->http.max_body = (long) bytes;
    return to_ventilator(&cfg->pipeline, "--max-image-bytes", value);
}

/* Reads the command line into cfg: 0, or -1 after saying why (options_parse itself ends
 * the process for --help or a bad option). */
static int parse_args(int argc, char **argv, serve_config_t *cfg)
{
    *cfg =
        (serve_config_t){.http = {.max_body = CONFIG_MAX_IMAGE_BYTES,
                                  .max_connections = HTTP_DEFAULT_MAX_CONNECTIONS,
                                  .request_seconds = HTTP_DEFAULT_REQUEST_SECONDS,
                                  .classify_reload_seconds = HTTP_DEFAULT_CLASSIFY_RELOAD_SECONDS}};
    pipeline_config_defaults(&cfg->pipeline);
    const option_t options[] = {
        PIPELINE_OPTIONS(&cfg->pipeline),
        OPTION_CALL("watch", take_watch, cfg, "DIR",
                    "upload every JPEG that appears under DIR (recursive; label = parent "
                    "folder; key = absolute path; repeatable)"),
        OPTION_CALL("max-image-bytes", take_max_image, cfg, "N",
                    "larger images are refused (HTTP: 413) or recorded as failed (default "
                    "64M)"),
        OPTION_STRING("http", &cfg->http.listen, "ADDR:PORT",
                      "serve the HTTP API here (ADDR defaults to 127.0.0.1)"),
        OPTION_STRING("http-token-file", &cfg->http.token_file, "FILE",
                      "the bearer token every route but /healthz requires (required with "
                      "--http)"),
        OPTION_INT("http-max-connections", &cfg->http.max_connections, 1, 100000, "N",
                   "connections at once, more are refused"),
        OPTION_INT("http-timeout", &cfg->http.request_seconds, 1, 86400, "S",
                   "a request taking longer is cut off"),
        OPTION_INT("classify-reload", &cfg->http.classify_reload_seconds, 1, 86400, "S",
                   "/v1/classify loads the PCA model and stored images again once they are "
                   "S seconds old, in the background"),
        OPTION_END};
    const options_spec_t spec = {"fruitstream serve", .about = about, .options = options};
    options_parse(&spec, argc, argv);
    if (cfg->http.listen && !cfg->http.token_file) {
        fprintf(stderr, "fruitstream serve: --http needs --http-token-file\n");
        return -1;
    }
    return 0;
}

typedef struct {
    long long stored, failed, backlog, in_flight;
} figures_t;

/* The counters the status line shows: one HMGET, cheap enough for every tick (the full
 * snapshot of `fruitstream status`, common/status.h, also scans the workers). */
static int read_figures(redis_t *redis, figures_t *f)
{
    redisReply *r =
        redisCommand(redis->ctx, "HMGET %s stored failed backlog in_flight", KEY_COUNTERS);
    int rc = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
        long long *out[] = {&f->stored, &f->failed, &f->backlog, &f->in_flight};
        for (size_t i = 0; i < 4; i++)
            *out[i] = r->element[i]->str ? atoll(r->element[i]->str) : 0;
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}

/* Shows the figures: rewritten in place on a terminal, a log line when they change
 * otherwise. */
static void show_status(redis_t *redis, bool tty, double *last, figures_t *before)
{
    double now = clock_seconds();
    if (now - *last < (tty ? 0.5 : STATUS_LOG_SECONDS))
        return;
    figures_t f;
    if (!redis->ctx || read_figures(redis, &f) != 0) {
        /* one attempt a tick: the loop must go on watching the children and HTTP */
        char err[512];
        *last = now;
        if ((!redis->ctx || redis->ctx->err) && redis_reconnect_once(redis, err, sizeof err))
            log_warn("status: %s", err);
        return;
    }
    double rate =
        *last > 0 ? (double) (f.stored + f.failed - before->stored - before->failed) / (now - *last)
                  : 0.0;
    if (tty)
        fprintf(stderr, "\rstored %lld  failed %lld  backlog %lld  in flight %lld  %.0f images/s  ",
                f.stored, f.failed, f.backlog, f.in_flight, rate);
    else if (memcmp(&f, before, sizeof f) != 0)
        log_info("stored %lld, failed %lld, backlog %lld, in flight %lld, %.0f images/s", f.stored,
                 f.failed, f.backlog, f.in_flight, rate);
    *before = f;
    *last = now;
}

/* The group's pending entries: tasks sent and not yet stored. -1 if unknown. */
static long long in_flight(redis_t *redis)
{
    if (!redis->ctx)
        return -1;
    redisReply *r = redisCommand(redis->ctx, "XPENDING %s %s", KEY_UPLOADS, GROUP_VENTILATORS);
    long long n = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
                          r->element[0]->type == REDIS_REPLY_INTEGER
                      ? r->element[0]->integer
                      : -1;
    freeReplyObject(r);
    return n;
}

/* With the ventilator stopped, waits for the tasks it sent to be stored: until none is in
 * flight, DRAIN_SECONDS pass, or two seconds go by without one stored (a task queued in
 * the ventilator's socket died with it; its lease brings it back at the next start). */
static void drain(redis_t *redis)
{
    double start = clock_seconds(), moved = start;
    long long before = in_flight(redis), now = before;
    while (now > 0 && clock_seconds() - start < DRAIN_SECONDS && clock_seconds() - moved < 2) {
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
        now = in_flight(redis);
        if (now != before)
            moved = clock_seconds();
        before = now;
    }
    if (now != 0)
        log_warn("drained with %lld tasks still in flight: they are sent again at the next "
                 "start",
                 now);
}

int cmd_serve(int argc, char **argv)
{
    serve_config_t cfg;
    if (parse_args(argc, argv, &cfg) != 0)
        return 2;
    redis_t *redis;
    pipeline_t *pipeline = pipeline_open(&cfg.pipeline, &redis);
    if (!pipeline)
        return 1;
    pipeline_start(pipeline);
    cfg.http.weights = cfg.pipeline.weights; /* classify featurizes as the workers do */
    cfg.http.size = cfg.pipeline.size;
    http_server_t *http =
        cfg.http.listen ? http_server_new(&cfg.http, pipeline_redis_url(pipeline)) : NULL;
    int status = cfg.http.listen && !http ? 1 : 0;
    if (status == 0)
        log_info("serving: %d workers, %d watched folders, HTTP %s, Redis %s", cfg.pipeline.workers,
                 cfg.watches, cfg.http.listen ? cfg.http.listen : "off",
                 pipeline_redis_url(pipeline));
    bool tty = isatty(STDERR_FILENO);
    double last = 0;
    figures_t figures = {0};
    while (status == 0 && !stop_requested) {
        if (pipeline_check_children(pipeline) != 0) {
            status = 1;
            break;
        }
        http_server_sweep(http);
        show_status(redis, tty, &last, &figures);
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    if (tty && last > 0)
        fputc('\n', stderr);
    log_info("stopping: %s", stop_requested ? "asked to" : "a process of the pipeline failed");
    http_server_destroy(&http);
    pipeline_stop(pipeline, PIPELINE_VENTILATOR);
    if (status == 0)
        drain(redis);
    pipeline_stop(pipeline, PIPELINE_WORKERS);
    pipeline_stop(pipeline, PIPELINE_SINK);
    redisReply *left = redis->ctx ? redisCommand(redis->ctx, "XLEN %s", KEY_UPLOADS) : NULL;
    if (left && left->type == REDIS_REPLY_INTEGER && read_figures(redis, &figures) == 0)
        log_info("stopped: %lld stored, %lld failed, %lld waiting for the next start",
                 figures.stored, figures.failed, left->integer);
    freeReplyObject(left);
    redis_destroy(&redis);
    pipeline_destroy(&pipeline);
    return status;
}
