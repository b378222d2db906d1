/* report.c -- `fruitstream report --out report.html`: what the pipeline did, on one page.
 *
 * One self-contained HTML file: inline SVG charts (cli/svg.h), inline CSS, no script and
 * nothing fetched, so it opens anywhere, offline, and can be mailed. Sections: totals; the
 * explained-variance curve of the published model with its target line and chosen k (the
 * notebooks' plot); a scatter of the first two components coloured by label (a sample of
 * at most REPORT_SCATTER_POINTS stored images, projected with the current model); images per
 * label; throughput and latency over time from fs:metrics; the live workers; failures with
 * their reasons. Each section that has no data says so instead of drawing an empty chart. */
#include "cli/commands.h"
#include "cli/gallery.h"
#include "cli/private_redis.h"
#include "cli/svg.h"
#include "common/config.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/status.h"
#include "pca/pca_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPORT_SCATTER_POINTS 3000
#define REPORT_METRIC_POINTS 1500
#define REPORT_FAILURES 200

static const char about[] =
    "Writes one self-contained HTML page (inline SVG, no script): explained "
    "variance, a 2-D PCA scatter by label, images per label, throughput and "
    "latency over time (" KEY_METRICS "), the live workers and the failures with "
    "their reasons.";

static void heading(FILE *out, const char *id, const char *title)
{
    fprintf(out, "<h2 id=\"%s\">%s</h2>\n", id, title);
}

/* Text, escaped, between an opening and a closing tag. */
static void tagged(FILE *out, const char *open, const char *text, const char *close)
{
    fputs(open, out);
    svg_escape(out, text);
    fputs(close, out);
}

static void nothing(FILE *out, const char *why)
{
    tagged(out, "<p class=\"empty\">", why, "</p>\n");
}

static void section_totals(FILE *out, const status_t *s)
{
    heading(out, "totals", "Totals");
    fprintf(out,
            "<table><tr><th>uploaded</th><th>stored</th><th>failed</th><th>duplicates</th>"
            "<th>retried</th><th>backlog</th><th>in flight</th><th>images/s</th>"
            "<th>p50 ms</th><th>p99 ms</th></tr>\n<tr><td>%lld</td><td>%lld</td><td>%lld"
            "</td><td>%lld</td><td>%lld</td><td>%lld</td><td>%lld</td><td>%.1f</td>"
            "<td>%.0f</td><td>%.0f</td></tr></table>\n",
            s->uploaded, s->stored, s->failed, s->duplicates, s->retried, s->backlog, s->in_flight,
            s->rate, s->p50_ms, s->p99_ms);
}

static void section_variance(FILE *out, redis_t *redis)
{
    heading(out, "variance", "Explained variance");
    char err[512];
    pca_model_info_t *model = pca_model_info_new(redis, err, sizeof err);
    size_t k = model ? (size_t) model->k : 0;
    double *x = malloc((k + 1) * sizeof *x), *y = malloc((k + 1) * sizeof *y);
    if (!model || !x || !y) {
        nothing(out, model ? "Out of memory." : err);
    } else {
        double cumulative = 0, target = model->variance_target;
        x[0] = 0, y[0] = 0;
        for (size_t i = 0; i < k; i++) {
            cumulative += model->ratios[i];
            x[i + 1] = (double) (i + 1), y[i + 1] = cumulative;
        }
        fprintf(out,
                "<p>Model over n = %lld vectors: k = %zu components explain %.2f%% of the "
                "variance%s.</p>\n",
                model->n, k, 100 * cumulative,
                target > 0 ? " (the smallest k reaching the target)" : " (fixed k)");
        svg_series_t s = {"cumulative explained variance", x, y, k + 1, svg_color(0)};
        char rule_label[64], mark[32];
        snprintf(rule_label, sizeof rule_label, "%.0f%% target",
                 100 * (target > 0 ? target : 0.95));
        svg_rule_t rule = {target > 0 ? target : 0.95, rule_label};
        snprintf(mark, sizeof mark, "k = %zu", k);
        svg_line_chart(out, "chart-variance", "components", "cumulative explained variance", &s, 1,
                       &rule, 1, (double) k, mark);
    }
    free(x);
    free(y);
    pca_model_info_destroy(&model);
}

static int label_of(char (*labels)[128], size_t *count, const char *label)
{
    for (size_t i = 0; i < *count; i++)
        if (strcmp(labels[i], label) == 0)
            return (int) i;
    snprintf(labels[*count], sizeof labels[0], "%s", label);
    return (int) (*count)++;
}

static void section_scatter(FILE *out, redis_t *redis, long long stored)
{
    heading(out, "scatter", "First two principal components");
    char err[512];
    pca_model_t *model = pca_model_new(redis, err, sizeof err);
    gallery_load_info_t info;
    size_t every =
        stored > REPORT_SCATTER_POINTS ? (size_t) (stored / REPORT_SCATTER_POINTS) + 1 : 1;
    gallery_t *g = model && pca_model_k(model) >= 2
                       ? gallery_load(redis, model, every, &info, err, sizeof err)
                       : NULL;
    size_t n = g ? gallery_count(g) : 0;
    if (!n) {
        nothing(out, !model                   ? err
                     : pca_model_k(model) < 2 ? "The model has one component: no plane to plot."
                     : g                      ? "No stored image to plot yet."
                                              : err);
    } else {
        /* One series per label, points grouped by label. */
        char(*labels)[128] = calloc(n, sizeof *labels);
        int *which = malloc(n * sizeof *which);
        double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        svg_series_t *series = calloc(n, sizeof *series);
        size_t nlabels = 0, at = 0;
        if (labels && which && x && y && series) {
            for (size_t i = 0; i < n; i++)
                which[i] = label_of(labels, &nlabels, gallery_label(g, i));
            for (size_t l = 0; l < nlabels; l++) {
                series[l] = (svg_series_t){labels[l], x + at, y + at, 0, svg_color(l)};
                for (size_t i = 0; i < n; i++)
                    if (which[i] == (int) l) {
                        x[at] = gallery_row(g, i)[0], y[at] = gallery_row(g, i)[1];
                        at++, series[l].n++;
                    }
            }
            fprintf(out,
                    "<p>%zu of %lld stored images (every %zu%s), %zu labels, projected "
                    "with the current model.</p>\n",
                    n, stored, every, every == 1 ? ": all" : "", nlabels);
            svg_scatter(out, "chart-scatter", "PC 1", "PC 2", series, nlabels);
        }
        free(labels);
        free(which);
        free(x);
        free(y);
        free(series);
    }
    gallery_destroy(&g);
    pca_model_destroy(&model);
}

typedef struct {
    const char *name;
    double count;
} label_count_t;

static int by_count(const void *a, const void *b)
{
    const label_count_t *x = a, *y = b;
    return (x->count < y->count) - (x->count > y->count);
}

static void section_labels(FILE *out, redis_t *redis)
{
    heading(out, "labels", "Images per label");
    redisReply *r = redisCommand(redis->ctx, "HGETALL %s", KEY_LABELS);
    size_t n = r && r->type == REDIS_REPLY_ARRAY ? r->elements / 2 : 0;
    label_count_t *counts = malloc((n + 1) * sizeof *counts);
    const char **names = malloc((n + 1) * sizeof *names);
    double *values = malloc((n + 1) * sizeof *values);
    if (!n || !counts || !names || !values) {
        nothing(out, "No labelled image stored yet.");
    } else {
        for (size_t i = 0; i < n; i++)
            counts[i] = (label_count_t){r->element[2 * i]->str, atof(r->element[2 * i + 1]->str)};
        qsort(counts, n, sizeof *counts, by_count);
        for (size_t i = 0; i < n; i++)
            names[i] = counts[i].name, values[i] = counts[i].count;
        fprintf(out, "<p>%zu labels.</p>\n", n);
        svg_bars(out, "chart-labels", names, values, n);
    }
    free(counts);
    free(names);
    free(values);
    freeReplyObject(r);
}

/* A sample's field as a number. */
static double sample_field(const redisReply *fields, const char *name)
{
    const redisReply *v = redis_field(fields, name);
    return v && v->str ? atof(v->str) : 0;
}

static void section_metrics(FILE *out, redis_t *redis)
{
    heading(out, "throughput", "Throughput and latency over time");
    redisReply *r = redisCommand(redis->ctx, "XRANGE %s - +", KEY_METRICS);
    size_t total = r && r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
    size_t every = total > REPORT_METRIC_POINTS ? total / REPORT_METRIC_POINTS + 1 : 1, n = 0;
    double *t = malloc((total + 1) * sizeof *t), *rate = malloc((total + 1) * sizeof *rate);
    double *p50 = malloc((total + 1) * sizeof *p50), *p99 = malloc((total + 1) * sizeof *p99);
    if (!total || !t || !rate || !p50 || !p99) {
        nothing(out, "No samples in " KEY_METRICS " (is the sink running with "
                     "--metrics-length 0?).");
    } else {
        double t0 = atof(r->element[0]->element[0]->str) / 1000.0;
        for (size_t i = 0; i < total; i += every, n++) {
            const redisReply *e = r->element[i];
            t[n] = (atof(e->element[0]->str) / 1000.0 - t0) / 60.0;
            rate[n] = sample_field(e->element[1], "rate");
            p50[n] = sample_field(e->element[1], "p50_ms");
            p99[n] = sample_field(e->element[1], "p99_ms");
        }
        fprintf(out, "<p>%zu samples, one a second%s, over %.1f minutes.</p>\n", total,
                every > 1 ? " (a sample of them plotted)" : "", t[n - 1]);
        svg_series_t s = {"images/s", t, rate, n, svg_color(0)};
        svg_line_chart(out, "chart-throughput", "minutes", "images stored per second", &s, 1, NULL,
                       0, -1, NULL);
        svg_series_t l[2] = {{"p50 upload to stored", t, p50, n, svg_color(2)},
                             {"p99 upload to stored", t, p99, n, svg_color(3)}};
        svg_line_chart(out, "chart-latency", "minutes", "latency, ms", l, 2, NULL, 0, -1, NULL);
    }
    free(t);
    free(rate);
    free(p50);
    free(p99);
    freeReplyObject(r);
}

static void cell(FILE *out, const char *text)
{
    tagged(out, "<td>", text, "</td>");
}

static void section_workers(FILE *out, const status_t *s)
{
    heading(out, "workers", "Workers");
    if (!s->worker_count) {
        nothing(out, "No live worker (heartbeats expire 5 s after a worker stops).");
        return;
    }
    fputs("<table id=\"table-workers\"><tr><th>id</th><th>host</th><th>ISA</th><th>images/s</th>"
          "<th>done</th><th>failed</th><th>last seen</th></tr>\n",
          out);
    for (size_t i = 0; i < s->worker_count; i++) {
        const status_worker_t *w = &s->workers[i];
        fputs("<tr>", out);
        cell(out, w->id);
        cell(out, w->host);
        cell(out, w->isa);
        fprintf(out, "<td>%.1f</td><td>%lld</td><td>%lld</td><td>%.1f s ago</td></tr>\n", w->rate,
                w->done, w->failed, (double) (s->now_ms - w->seen_ms) / 1000.0);
    }
    fputs("</table>\n", out);
}

static void section_failures(FILE *out, redis_t *redis)
{
    heading(out, "failures", "Failures");
    /* SRANDMEMBER with a positive count: up to that many distinct members, never none of a
     * set that has some (a first SSCAN page can be empty on a large set). */
    redisReply *r = redisCommand(redis->ctx, "SRANDMEMBER %s %d", KEY_FAILED, REPORT_FAILURES);
    redisReply *count = redisCommand(redis->ctx, "SCARD %s", KEY_FAILED);
    const redisReply *keys = r && r->type == REDIS_REPLY_ARRAY ? r : NULL;
    long long total = count && count->type == REDIS_REPLY_INTEGER ? count->integer : 0;
    if (!keys || !keys->elements) {
        nothing(out, "No image failed.");
    } else {
        fprintf(out,
                "<p>%lld images could not be featurized; %zu of them:</p>\n"
                "<table id=\"table-failures\"><tr><th>key</th><th>reason</th></tr>\n",
                total, keys->elements);
        for (size_t i = 0; i < keys->elements; i++)
            redisAppendCommand(redis->ctx, "HGET %s%s error", KEY_IMAGE_PREFIX,
                               keys->element[i]->str);
        for (size_t i = 0; i < keys->elements; i++) {
            redisReply *e = NULL;
            if (redisGetReply(redis->ctx, (void **) &e) != REDIS_OK)
                break;
            fputs("<tr>", out);
            cell(out, keys->element[i]->str);
            cell(out, e->type == REDIS_REPLY_STRING ? e->str : "(trimmed)");
            fputs("</tr>\n", out);
            freeReplyObject(e);
        }
        fputs("</table>\n", out);
    }
    freeReplyObject(r);
    freeReplyObject(count);
}

static const char style[] =
    "body{font-family:sans-serif;margin:2em;max-width:780px;color:#222}"
    "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}"
    "th{background:#f3f3f3}.empty{color:#888;font-style:italic}svg{max-width:100%;height:auto}";

static int write_report(FILE *out, redis_t *redis, const status_t *s)
{
    char when[32];
    time_t now = (time_t) (s->now_ms / 1000);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&now, &tm));
    fprintf(out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>fruitstream report</title><style>%s</style></head><body>\n"
            "<h1>fruitstream report</h1><p>Taken %s.</p>\n",
            style, when);
    section_totals(out, s);
    section_variance(out, redis);
    section_scatter(out, redis, s->stored);
    section_labels(out, redis);
    section_metrics(out, redis);
    section_workers(out, s);
    section_failures(out, redis);
    fputs("</body></html>\n", out);
    return ferror(out) ? -1 : 0;
}

int cmd_report(int argc, char **argv)
{
    const char *url = NULL, *data_dir = NULL, *path = NULL;
    const option_t options[] = {
        OPTION_STRING("out", &path, "FILE", "the HTML file to write (required)"),
        PRIVATE_REDIS_OPTIONS(&url, &data_dir), OPTION_END};
    const options_spec_t spec = {"fruitstream report", .about = about, .options = options};
    options_parse(&spec, argc, argv);
    if (!path) {
        fprintf(stderr, "fruitstream report: --out FILE missing\n");
        return 2;
    }
    private_redis_t *server;
    redis_t *redis = private_redis_connect(url, data_dir, &server);
    if (!redis)
        return 1;
    char err[512];
    status_t *s = status_new(redis, err, sizeof err);
    FILE *out = s ? fopen(path, "w") : NULL;
    int status = 1;
    if (!s)
        log_error("%s", err);
    else if (!out)
        log_error("cannot write %s: %s", path, strerror(errno));
    else if (write_report(out, redis, s) != 0 || !redis->ctx || redis->ctx->err)
        log_error("writing the report %s failed", path);
    else
        status = 0;
    if (out && fclose(out) != 0)
        status = 1;
    if (status == 0)
        log_info("report written to %s", path);
    status_destroy(&s);
    redis_destroy(&redis);
    private_redis_destroy(&server);
    return status;
}
