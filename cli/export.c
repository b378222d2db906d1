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
#include "cli/private_redis.h"
#include "common/config.h"
#include "common/file.h"
#include "common/isa.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/options.h"
#include "common/redis.h"
#include "common/utf8.h"
#include "featurizer/featurizer.h"
#include "pca/pca.h"
#include "pca/pca_model.h"
#include "pca/pca_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT_CHUNK 256

typedef struct {
    const char *redis_url, *data_dir; /* where the results are (cli/private_redis.h) */
    const char *out;
    bool projections, features;
    bool excel_safe;
    pca_options_t pca;
    int64_t since; /* export only results stored after this seq */
} export_config_t;

static const char about[] =
    "Writes every stored result as CSV: path,label,pca_1..pca_k, projected with "
    "a PCA model that includes every stored vector.";

/* The sink's model options, so that export agrees with it unless told otherwise (the
 * defaults stay when it has no usable model). */
static void options_from_model(redis_t *redis, pca_options_t *o)
{
    char err[512];
    pca_model_info_t *model = pca_model_info_new(redis, err, sizeof err);
    if (model) {
        o->k = model->variance_target > 0 ? 0 : model->k;
        o->variance = model->variance_target > 0 ? model->variance_target : o->variance;
        o->standardize = model->standardize;
    } else {
        log_info("%s: export chooses k by its own defaults", err);
    }
    pca_model_info_destroy(&model);
}

/* Reads the command line into cfg: 0, or -1 after saying why. The PCA
 * options start out of their range, so that *explicit_pca tells whether one was given. */
static int parse_export_args(int argc, char **argv, export_config_t *cfg, bool *explicit_pca)
{
    *cfg = (export_config_t){.projections = true, .pca = {FEATURE_DIM, -1, 0, false, ISA_PORTABLE}};
    bool features_only = false;
    *explicit_pca = false;
    const option_t options[] = {
        OPTION_STRING("out", &cfg->out, "FILE", "write here instead of standard output"),
        OPTION_FLAG("features", &features_only,
                    "write path,label,f_1..f_1280 instead of projections"),
        OPTION_FLAG("with-features", &cfg->features, "write the projections and then the features"),
        OPTION_INT("k", &cfg->pca.k, 0, FEATURE_DIM, "K",
                   "fixed number of components... (default: the sink's model)"),
        OPTION_REAL("variance", &cfg->pca.variance, 0, 1, "V",
                    "...or the smallest k explaining V (default: the sink's model, else "
                    "0.95)"),
        OPTION_FLAG("standardize", &cfg->pca.standardize, "standardize features before PCA"),
        OPTION_FLAG("excel-safe", &cfg->excel_safe,
                    "prefix a path or label starting with = + - @ with ' (so a spreadsheet "
                    "does not run it as a formula); default: as is"),
        OPTION_INT64("since", &cfg->since, 0, INT64_MAX, "SEQ",
                     "only the results stored after number SEQ (the log's \"last seq\" of "
                     "the previous export): incremental archives (default: all)"),
        PRIVATE_REDIS_OPTIONS(&cfg->redis_url, &cfg->data_dir),
        OPTION_END};
    const options_spec_t spec = {"fruitstream export", .about = about, .options = options};
    options_parse(&spec, argc, argv);
    cfg->features = cfg->features || features_only;
    cfg->projections = !features_only;
    *explicit_pca = cfg->pca.k >= 0 || cfg->pca.variance > 0 || cfg->pca.standardize;
    cfg->pca.k = cfg->pca.k < 0 ? 0 : cfg->pca.k;
    cfg->pca.variance = cfg->pca.variance > 0 ? cfg->pca.variance : 0.95;
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
    bool quote =
        memchr(s, ',', len) || memchr(s, '"', len) || memchr(s, '\r', len) || memchr(s, '\n', len);
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
    for (int i = 1; cfg->features && i <= FEATURE_DIM; i++)
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
    float x[FEATURE_DIM], p[FEATURE_DIM];
    long rows = 0;
    for (size_t i = 0; i < entries->elements; i++) {
        redisReply *r = NULL;
        if (redisGetReply(redis->ctx, (void **) &r) != REDIS_OK)
            return -1;
        redisReply **f = r->element;
        if (r->type != REDIS_REPLY_ARRAY || !f[0]->str || !f[2]->str || f[2]->len != sizeof x) {
            log_warn("stored entry %s has no features; skipped",
                     entries->element[i]->element[0]->str);
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
        for (int j = 0; cfg->features && j < FEATURE_DIM; j++)
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
        pca = pca_store_load(redis, &cfg.pca, NULL, &applied, err, sizeof err);
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
            snprintf(after, sizeof after, "(%lld-1", (long long) cfg.since);
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
    if (out && file_finish_output(out) != 0 && status == 0) {
        log_error("writing %s: %s", cfg.out ? cfg.out : "standard output", strerror(errno));
        status = 1;
    }
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
