/* status.c -- `fruitstream status`: how a running pipeline is doing.
 *
 * One snapshot (common/status.h) printed as text, as JSON (--json), or, with --watch,
 * again every second: on a terminal the screen is redrawn in place; otherwise each
 * snapshot is printed as plain lines after the last, so a log or a pipe reads cleanly.
 * Redis unreachable, at the start or while watching, is exit status 1. */
#include "common/status.h"
#include "cli/commands.h"
#include "cli/private_redis.h"
#include "common/config.h"
#include "common/keys.h"
#include "common/redis.h"
#include "common/stop.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char about[] =
    "Shows the counters (" KEY_COUNTERS "), rate and latency (newest sample of " KEY_METRICS
    "), the backlog's ETA, and the live workers (" KEY_WORKER_PREFIX "*).";

/* "12.3 s", "4 min 05 s", "2 h 10 min", or "-" when unknown. */
static void format_duration(double seconds, char *out, size_t size)
{
    long s = (long) (seconds + 0.5);
    if (seconds < 0)
        snprintf(out, size, "-");
    else if (seconds < 60)
        snprintf(out, size, "%.1f s", seconds);
    else if (s < 3600)
        snprintf(out, size, "%ld min %02ld s", s / 60, s % 60);
    else
        snprintf(out, size, "%ld h %02ld min", s / 3600, s % 3600 / 60);
}

static void print_text(const status_t *s, FILE *out)
{
    char when[32], eta[32];
    time_t now = (time_t) (s->now_ms / 1000);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
    format_duration(s->eta_s, eta, sizeof eta);
    fprintf(out, "fruitstream status at %s\n", when);
    fprintf(out,
            "uploaded %lld  stored %lld  failed %lld  duplicates %lld  retried %lld  "
            "malformed %lld\n",
            s->uploaded, s->stored, s->failed, s->duplicates, s->retried, s->malformed);
    fprintf(out, "backlog %lld  in flight %lld  rate %.1f images/s  ETA %s\n", s->backlog,
            s->in_flight, s->rate, eta);
    if (s->sampled)
        fprintf(out, "latency upload->stored: p50 %.0f ms  p99 %.0f ms\n", s->p50_ms, s->p99_ms);
    else
        fprintf(out, "latency upload->stored: no recent sample in %s\n", KEY_METRICS);
    fprintf(out, "workers: %zu live\n", s->worker_count);
    if (s->worker_count)
        fprintf(out, "  %-24s %-20s %-8s %9s %9s %7s %10s\n", "ID", "HOST", "ISA", "IMAGES/S",
                "DONE", "FAILED", "LAST SEEN");
    for (size_t i = 0; i < s->worker_count; i++) {
        const status_worker_t *w = &s->workers[i];
        fprintf(out, "  %-24s %-20s %-8s %9.1f %9lld %7lld %8.1f s\n", w->id, w->host, w->isa,
                w->rate, w->done, w->failed, (double) (s->now_ms - w->seen_ms) / 1000.0);
    }
}

/* Takes and prints one snapshot; -1 when Redis could not be read. */
static int show(redis_t *redis, bool json, bool redraw)
{
    char err[512];
    status_t *s = status_new(redis, err, sizeof err);
    if (!s) {
        fprintf(stderr, "fruitstream status: %s\n", err);
        return -1;
    }
    if (redraw)
        fputs("\033[H\033[2J", stdout); /* cursor home, clear screen */
    if (json)
        status_write_json(s, stdout);
    else
        print_text(s, stdout);
    fflush(stdout);
    status_destroy(&s);
    return 0;
}

int cmd_status(int argc, char **argv)
{
    const char *url = NULL, *data_dir = NULL;
    bool watch = false, json = false;
    const option_t options[] = {
        OPTION_FLAG("watch", &watch,
                    "refresh every second until Ctrl-C (redrawn in place on a terminal, "
                    "plain lines otherwise)"),
        OPTION_FLAG("json", &json,
                    "one JSON object: counters, workers (with --watch, one a "
                    "line)"),
        PRIVATE_REDIS_OPTIONS(&url, &data_dir), OPTION_END};
    const options_spec_t spec = {"fruitstream status", .about = about, .options = options};
    options_parse(&spec, argc, argv);
    private_redis_t *server;
    redis_t *redis = private_redis_connect(url, data_dir, &server);
    if (!redis)
        return 1;
    stop_catch_signals();
    bool redraw = watch && !json && isatty(STDOUT_FILENO);
    int status = 0;
    for (bool first = true; !stop_requested; first = false) {
        if (!first && !redraw && !json)
            putchar('\n');
        if (show(redis, json, redraw) != 0) {
            status = 1;
            break;
        }
        if (!watch)
            break;
        for (int i = 0; i < 10 && !stop_requested; i++)
            usleep(100 * 1000);
    }
    redis_destroy(&redis);
    private_redis_destroy(&server);
    return status;
}
