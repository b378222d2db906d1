/* export.c -- `fruitstream export` writes what users take away.
 *
 * export rebuilds the PCA from the sink's checkpoint plus every vector stored after it
 * (pca/pca_store.h), so its projections use a model that includes every stored vector even
 * while the pipeline runs, then walks fs:stored in store order and writes one CSV row per
 * image: path,label,pca_1..pca_k (the Spark pipeline's result file), and/or f_1..f_1280.
 *
 * Keys and labels are whatever uploaders wrote, so the text fields are made safe to read:
 * the file is always valid UTF-8 (a byte that is not part of a valid UTF-8 sequence is
 * written as the four characters \xHH), and with --excel-safe a field starting with =, +,
 * -, @, TAB or CR gets a leading ' so that a spreadsheet shows it instead of running it
 * as a formula. Without --excel-safe keys stay as they are (valid UTF-8 ones byte for
 * byte), which is what a program reading the file wants.
 *
 * Its PCA merge runs on the instruction set the sink's does (the best one, or the one
 * FRUITSTREAM_ISA names), so that on one machine the two round alike. */
#include "cli/commands.h"
#include "common/config.h"
#include "common/isa.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/options.h"
#include "pca/pca.h"
#include "pca/pca_store.h"
#include "cli/private_redis.h"
#include "common/redis.h"
#include "common/utf8.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT_CHUNK 256
#define FEATURES 1280

typedef struct {
    const char *redis_url;
    const char *data_dir;
    const char *out;
    bool projections, features;
    bool excel_safe;
    pca_options_t pca;
    long long since; /* export only results stored after this seq */
} export_config_t;

static void export_usage(FILE *out)
{
    fprintf(out,
            "usage: fruitstream export [options]\n"
            "Writes every stored result as CSV: path,label,pca_1..pca_k, projected with a PCA\n"
            "model that includes every stored vector.\n\n"
            "  --out FILE       write here instead of standard output\n"
            "  --features       write path,label,f_1..f_1280 instead of projections\n"
            "  --with-features  write the projections and then the features\n"
            "  --k K            fixed number of components...\n"
            "  --variance V     ...or the smallest k explaining V (default: the sink's model,\n"
            "                   else 0.95)\n"
            "  --standardize    standardize features before PCA\n"
            "  --excel-safe     prefix a path or label starting with = + - @ with ' (so a\n"
            "                   spreadsheet does not run it as a formula); default: as is\n"
            "  --since SEQ      only the results stored after number SEQ (the log's\n"
            "                   \"last seq\" of the previous export): incremental archives\n"
            "  --redis URL      Redis (default $REDIS_URL, else the data directory below)\n"
            "  --data-dir DIR   read the results `fruitstream run` kept in DIR (default %s\n"
            "                   when it exists, else Redis at %s)\n",
            PRIVATE_REDIS_DEFAULT_DIR, CONFIG_REDIS_DEFAULT);
}

/* The sink's model options, so that export agrees with it unless told otherwise. */
static void options_from_model(redis_t *redis, pca_options_t *o)
{
    redisReply *r = redisCommand(redis->ctx, "HMGET %s k variance_target standardize",
                                 KEY_PCA_MODEL);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0]->str) {
        double target = atof(r->element[1]->str ? r->element[1]->str : "0");
        o->k = target > 0 ? 0 : atoi(r->element[0]->str);
        o->variance = target > 0 ? target : o->variance;
        o->standardize = r->element[2]->str && atoi(r->element[2]->str);
    }
    freeReplyObject(r);
}

static int parse_export_args(int argc, char **argv, export_config_t *cfg, bool *explicit_pca)
{
    static const struct option options[] = {
        {"out", required_argument, 0, 'o'},   {"features", no_argument, 0, 'f'},
        {"with-features", no_argument, 0, 'F'}, {"k", required_argument, 0, 'k'},
        {"excel-safe", no_argument, 0, 'x'},
        {"variance", required_argument, 0, 'v'}, {"standardize", no_argument, 0, 'S'},
        {"redis", required_argument, 0, 'R'}, {"data-dir", required_argument, 0, 'D'},
        {"since", required_argument, 0, 's'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    *cfg = (export_config_t){.projections = true, .pca = {FEATURES, 0, 0.95, false, ISA_PORTABLE}};
    *explicit_pca = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'o': cfg->out = optarg; break;
        case 'f': cfg->projections = false; cfg->features = true; break;
        case 'F': cfg->features = true; break;
        case 'x': cfg->excel_safe = true; break;
        case 'k':
            if (option_int("--k", optarg, 0, FEATURES, &cfg->pca.k) != 0)
                return -1;
            *explicit_pca = true;
            break;
        case 'v':
            if (option_real("--variance", optarg, 0, 1, &cfg->pca.variance) != 0)
                return -1;
            *explicit_pca = true;
            break;
        case 'S': cfg->pca.standardize = true; *explicit_pca = true; break;
        case 'R': cfg->redis_url = optarg; break;
        case 'D': cfg->data_dir = optarg; break;
        case 's': {
            int64_t since;
            if (option_int64("--since", optarg, 0, INT64_MAX, &since) != 0)
                return -1;
            cfg->since = since;
            break;
        }
        case 'h': export_usage(stdout); exit(0);
        default: export_usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        export_usage(stderr);
        return -1;
    }
    char err[256];
    if (isa_from_env(&cfg->pca.isa, err, sizeof err) != 0) {
        fprintf(stderr, "fruitstream export: %s\n", err);
        return -1;
    }
    return 0;
}

/* A CSV text field of len bytes: valid UTF-8 always (other bytes as \xHH), quoted when it
 * holds a comma, quote or line break, and with excel_safe no formula. */
static void put_field(FILE *out, const char *s, size_t len, bool excel_safe)
{
    const unsigned char *p = (const unsigned char *) s;
    bool quote = memchr(s, ',', len) || memchr(s, '"', len) || memchr(s, '\r', len) ||
                 memchr(s, '\n', len);
    if (quote)
        fputc('"', out);
    if (excel_safe && len > 0 && s[0] && strchr("=+-@\t\r", s[0]))
        fputc('\'', out);
    for (size_t i = 0; i < len;) {
        size_t n = utf8_length(p + i, len - i);
        if (n == 0) {
            fprintf(out, "\\x%02X", p[i]);
            i++;
            continue;
        }
        if (p[i] == '"')
            fputc('"', out);
        fwrite(p + i, 1, n, out);
        i += n;
    }
    if (quote)
        fputc('"', out);
}

static void put_header(FILE *out, const export_config_t *cfg, int k)
{
    fputs("path,label", out);
    for (int i = 1; cfg->projections && i <= k; i++)
        fprintf(out, ",pca_%d", i);
    for (int i = 1; cfg->features && i <= FEATURES; i++)
        fprintf(out, ",f_%d", i);
    fputc('\n', out);
}

/* Writes the rows of one chunk of fs:stored entries; returns rows written or -1. */
static long put_chunk(redis_t *redis, redisReply *entries, const export_config_t *cfg,
                      const pca_t *pca, FILE *out)
{
    int k = pca ? pca_k(pca) : 0;
    for (size_t i = 0; i < entries->elements; i++)
        redisAppendCommand(redis->ctx, "HMGET %s%s key label features", KEY_IMAGE_PREFIX,
                           entries->element[i]->element[1]->element[1]->str);
    float x[FEATURES], p[FEATURES];
    long rows = 0;
    for (size_t i = 0; i < entries->elements; i++) {
        redisReply *r = NULL;
        if (redisGetReply(redis->ctx, (void **) &r) != REDIS_OK)
            return -1;
        redisReply **f = r->element;
        if (r->type != REDIS_REPLY_ARRAY || !f[0]->str || !f[2]->str ||
            f[2]->len != sizeof x) {
            log_warn("stored entry %s has no features; skipped", entries->element[i]->element[0]->str);
            freeReplyObject(r);
            continue;
        }
        memcpy(x, f[2]->str, sizeof x);
        put_field(out, f[0]->str, f[0]->len, cfg->excel_safe);
        fputc(',', out);
        put_field(out, f[1]->str ? f[1]->str : "", f[1]->str ? f[1]->len : 0, cfg->excel_safe);
        if (cfg->projections) {
            pca_project(pca, x, p);
            for (int j = 0; j < k; j++)
                fprintf(out, ",%.9g", p[j]);
        }
        for (int j = 0; cfg->features && j < FEATURES; j++)
            fprintf(out, ",%.9g", x[j]);
        fputc('\n', out);
        rows++;
        freeReplyObject(r);
    }
    return rows;
}

int cmd_export(int argc, char **argv)
{
    export_config_t cfg;
    bool explicit_pca;
    if (parse_export_args(argc, argv, &cfg, &explicit_pca) != 0)
        return 2;
    private_redis_t *server;
    redis_t *redis = private_redis_connect(cfg.redis_url, cfg.data_dir, &server);
    if (!redis)
        return 1;
    char err[512];
    if (!explicit_pca)
        options_from_model(redis, &cfg.pca);
    pca_t *pca = NULL;
    int64_t applied = 0;
    int status = 1;
    if (cfg.projections) {
        pca = pca_store_load(redis, &cfg.pca, &applied, err, sizeof err);
        if (!pca)
            log_error("%s", err);
        else if (pca_refresh(pca) != 0)
            log_error("fewer than 2 stored vectors: no PCA model to project with");
        else
            status = 0;
    } else {
        status = 0;
    }
    FILE *out = status == 0 && cfg.out ? fopen(cfg.out, "w") : stdout;
    if (!out) {
        log_error("cannot write %s: %s", cfg.out, strerror(errno));
        status = 1;
    }
    long rows = 0;
    long long last_seq = cfg.since;
    if (status == 0) {
        put_header(out, &cfg, pca ? pca_k(pca) : 0);
        char after[64] = "-";
        if (cfg.since > 0)
            snprintf(after, sizeof after, "(%lld-1", cfg.since);
        for (;;) {
            redisReply *range = redisCommand(redis->ctx, "XRANGE %s %s + COUNT %d", KEY_STORED,
                                             after, EXPORT_CHUNK);
            if (!range || range->type != REDIS_REPLY_ARRAY) {
                log_error("reading %s failed", KEY_STORED);
                freeReplyObject(range);
                status = 1;
                break;
            }
            long n = range->elements ? put_chunk(redis, range, &cfg, pca, out) : 0;
            size_t got = range->elements;
            if (got) {
                snprintf(after, sizeof after, "(%s", range->element[got - 1]->element[0]->str);
                last_seq = atoll(after + 1);
            }
            freeReplyObject(range);
            if (n < 0) {
                status = 1;
                break;
            }
            rows += n;
            if (got < EXPORT_CHUNK)
                break;
        }
    }
    if (out && out != stdout && fclose(out) != 0)
        status = 1;
    if (status == 0)
        log_info("exported %ld images%s, last seq %lld (next: --since %lld)", rows,
                 pca ? "" : " (features only)", last_seq, last_seq);
    if (pca)
        log_info("PCA: n=%lld k=%d", (long long) pca_count(pca), pca_k(pca));
    pca_destroy(&pca);
    redis_destroy(&redis);
    private_redis_destroy(&server);
    return status;
}
