/* pca_store.c -- see pca_store.h. Arrays travel as little-endian binary strings (float64 for
 * the model, float32 for features, as stored); hashes hold scalars as decimal text so that
 * redis-cli shows them. */
#include "pca/pca_store.h"

#include "common/clock.h"
#include "common/keys.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CATCH_UP_CHUNK 512

/* Reads up to CATCH_UP_CHUNK entries of fs:stored after seq `after` into *reply. */
static int read_stored(redis_t *redis, int64_t after, redisReply **reply)
{
    *reply = redisCommand(redis->ctx, "XRANGE %s (%lld-1 + COUNT %d", KEY_STORED, (long long) after,
                          CATCH_UP_CHUNK);
    if (redis_lost(redis, *reply) || (*reply)->type != REDIS_REPLY_ARRAY) {
        if (*reply && (*reply)->type == REDIS_REPLY_ERROR)
            log_error("XRANGE %s: %s", KEY_STORED, (*reply)->str);
        freeReplyObject(*reply);
        *reply = NULL;
        return -1;
    }
    return 0;
}

int pca_store_catch_up(redis_t *redis, pca_t *pca, int64_t *applied, int64_t upto)
{
    int dim = pca_options(pca)->dim;
    float *rows = malloc(sizeof(float) * (size_t) dim * CATCH_UP_CHUNK);
    int rc = 0;
    while (upto < 0 || *applied < upto) {
        redisReply *range;
        if (!rows || read_stored(redis, *applied, &range) != 0) {
            rc = -1;
            break;
        }
        size_t n = 0, count = range->elements;
        int64_t last = *applied;
        for (size_t i = 0; i < count; i++) {
            redisReply *entry = range->element[i];
            int64_t seq = atoll(entry->element[0]->str);
            if (upto >= 0 && seq > upto) {
                count = i;
                break;
            }
            redisAppendCommand(redis->ctx, "HGET %s%s features", KEY_IMAGE_PREFIX,
                               entry->element[1]->element[1]->str);
        }
        for (size_t i = 0; i < count; i++) {
            redisReply *r = NULL;
            if (redisGetReply(redis->ctx, (void **) &r) != REDIS_OK) {
                rc = -1;
                break;
            }
            int64_t seq = atoll(range->element[i]->element[0]->str);
            if (r->type == REDIS_REPLY_STRING && r->len == (size_t) dim * sizeof(float) &&
                pca_row_check(r->str, dim) < 0)
                memcpy(rows + n++ * (size_t) dim, r->str, r->len);
            else
                log_error("stored result #%lld has no features of %d floats the PCA takes; "
                          "left out of the PCA",
                          (long long) seq, dim);
            last = seq;
            freeReplyObject(r);
        }
        freeReplyObject(range);
        if (rc != 0)
            break;
        pca_add(pca, rows, n);
        *applied = last;
        if (count < CATCH_UP_CHUNK) {
            /* Every number up to `upto` was handed out before the caller asked, so one with
             * no entry is a gap (a store script that failed midway) that never fills:
             * counting it as applied keeps the next catch-up from rereading vectors the
             * caller adds after this one. */
            if (upto > *applied)
                *applied = upto;
            break;
        }
    }
    free(rows);
    return rc;
}

pca_t *pca_store_load(redis_t *redis, const pca_options_t *options, int64_t *checkpointed,
                      int64_t *applied, char *err, size_t errlen)
{
    redisReply *r = redisCommand(redis->ctx, "HMGET %s seq data", KEY_PCA_STATE);
    if (redis_lost(redis, r) || r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "cannot read %s: %s", KEY_PCA_STATE,
                 r && r->type == REDIS_REPLY_ERROR ? r->str : "connection lost");
        freeReplyObject(r);
        return NULL;
    }
    pca_t *pca;
    *applied = 0;
    if (r->element[1]->type == REDIS_REPLY_STRING) {
        *applied = atoll(r->element[0]->str ? r->element[0]->str : "0");
        char why[256];
        pca = pca_state_read(r->element[1]->str, r->element[1]->len, options, why, sizeof why);
        if (!pca)
            snprintf(err, errlen, "checkpoint %s is unusable: %s", KEY_PCA_STATE, why);
    } else {
        pca = pca_new(options);
    }
    freeReplyObject(r);
    if (!pca)
        return NULL;
    int64_t from = *applied;
    if (checkpointed)
        *checkpointed = from;
    if (pca_store_catch_up(redis, pca, applied, -1) != 0) {
        snprintf(err, errlen, "reading stored vectors after #%lld failed", (long long) from);
        pca_destroy(&pca);
        return NULL;
    }
    if (*applied > from)
        log_info("PCA: checkpoint had %lld vectors, added %lld stored after it", (long long) from,
                 (long long) (*applied - from));
    return pca;
}

static int reply_ok(redis_t *redis, redisReply *r, const char *what)
{
    int ok = !redis_lost(redis, r) && r->type != REDIS_REPLY_ERROR;
    if (!ok)
        log_error("writing %s failed: %s", what, r ? r->str : redis->ctx->errstr);
    freeReplyObject(r);
    return ok ? 0 : -1;
}

int pca_store_checkpoint(redis_t *redis, const void *state, size_t size, int64_t applied)
{
    redisReply *r =
        redisCommand(redis->ctx, "HSET %s seq %lld data %b saved_ms %lld", KEY_PCA_STATE,
                     (long long) applied, state, size, (long long) clock_unix_ms());
    return reply_ok(redis, r, KEY_PCA_STATE);
}

/* The fields of fs:pca:model that describe the model itself, as pca_store_publish writes
 * them: every field but `version` and `updated_ms`. The small ones come first
 * (MODEL_SCALARS), so that a model can be compared with the published one without reading
 * the arrays when they already differ. */
enum {
    F_N,
    F_K,
    F_DIM,
    F_STANDARDIZE,
    F_TARGET,
    F_TOTAL,
    F_EXPLAINED,
    F_MEAN, /* the arrays from here on */
    F_SCALE,
    F_AXES,
    F_EIGENVALUES,
    F_RATIOS,
    MODEL_FIELDS
};
#define MODEL_SCALARS F_MEAN
static const char *const model_field_names[MODEL_FIELDS] = {
    "n",         "k",    "dim",   "standardize", "variance_target", "total_variance",
    "explained", "mean", "scale", "axes",        "eigenvalues",     "ratios"};

/* The values of those fields for one model; value[] points into text or into the model. */
typedef struct {
    char text[MODEL_SCALARS][32];
    const char *value[MODEL_FIELDS];
    size_t len[MODEL_FIELDS];
} model_fields_t;

static void model_fields(const pca_t *pca, model_fields_t *f)
{
    const pca_options_t *o = pca_options(pca);
    size_t k = (size_t) pca_k(pca), dim = (size_t) o->dim;
    double explained = 0;
    for (size_t i = 0; i < k; i++)
        explained += pca_variance_ratios(pca)[i];
    snprintf(f->text[F_N], 32, "%lld", (long long) pca_count(pca));
    snprintf(f->text[F_K], 32, "%d", (int) k);
    snprintf(f->text[F_DIM], 32, "%d", o->dim);
    snprintf(f->text[F_STANDARDIZE], 32, "%d", o->standardize ? 1 : 0);
    snprintf(f->text[F_TARGET], 32, "%.6g", o->k ? 0.0 : o->variance);
    snprintf(f->text[F_TOTAL], 32, "%.17g", pca_total_variance(pca));
    snprintf(f->text[F_EXPLAINED], 32, "%.17g", explained);
    for (int i = 0; i < MODEL_SCALARS; i++)
        f->value[i] = f->text[i], f->len[i] = strlen(f->text[i]);
    const double *scale = pca_scale(pca);
    const struct {
        const void *data;
        size_t doubles;
    } arrays[] = {{pca_mean(pca), dim},
                  {scale ? (const void *) scale : "", scale ? dim : 0},
                  {pca_axes(pca), k * dim},
                  {pca_eigenvalues(pca), k},
                  {pca_variance_ratios(pca), k}};
    for (int i = MODEL_SCALARS; i < MODEL_FIELDS; i++)
        f->value[i] = arrays[i - MODEL_SCALARS].data,
        f->len[i] = arrays[i - MODEL_SCALARS].doubles * sizeof(double);
}

/* Whether the published model's fields [from, to) are byte for byte f's, read together
 * with its version (into *version). */
static bool published_fields_are(redis_t *redis, const model_fields_t *f, int from, int to,
                                 uint64_t *version)
{
    const char *argv[3 + MODEL_FIELDS] = {"HMGET", KEY_PCA_MODEL, "version"};
    for (int i = from; i < to; i++)
        argv[3 + i - from] = model_field_names[i];
    redisReply *r = redisCommandArgv(redis->ctx, 3 + to - from, argv, NULL);
    bool same = !redis_lost(redis, r) && r->type == REDIS_REPLY_ARRAY &&
                r->elements == (size_t) (1 + to - from) &&
                r->element[0]->type == REDIS_REPLY_STRING;
    for (int i = from; same && i < to; i++) {
        const redisReply *e = r->element[1 + i - from];
        same = e->type == REDIS_REPLY_STRING && e->len == f->len[i] &&
               memcmp(e->str, f->value[i], f->len[i]) == 0;
    }
    if (same)
        *version = strtoull(r->element[0]->str, NULL, 10);
    freeReplyObject(r);
    return same;
}

/* The version under which fs:pca:model already holds this very model, or 0: a sink
 * restarted over unchanged sums computes the model it published before stopping. The
 * arrays are read only when every scalar, n first, is the same. */
static uint64_t published_version_of(redis_t *redis, const model_fields_t *f)
{
    uint64_t scalars_version = 0, arrays_version = 0;
    if (!published_fields_are(redis, f, 0, MODEL_SCALARS, &scalars_version) ||
        !published_fields_are(redis, f, MODEL_SCALARS, MODEL_FIELDS, &arrays_version) ||
        arrays_version != scalars_version)
        return 0;
    return arrays_version;
}

int pca_store_publish(redis_t *redis, pca_t *pca)
{
    model_fields_t f;
    model_fields(pca, &f);
    uint64_t published = published_version_of(redis, &f);
    if (published > 0) {
        pca_set_version(pca, published);
        return 1;
    }
    char version[32], updated_ms[32];
    snprintf(version, sizeof version, "%llu", (unsigned long long) pca_version(pca));
    snprintf(updated_ms, sizeof updated_ms, "%lld", (long long) clock_unix_ms());
    const char *argv[6 + 2 * MODEL_FIELDS] = {"HSET",  KEY_PCA_MODEL, "version",
                                              version, "updated_ms",  updated_ms};
    size_t lens[6 + 2 * MODEL_FIELDS];
    for (int i = 0; i < 6; i++)
        lens[i] = strlen(argv[i]);
    for (int i = 0; i < MODEL_FIELDS; i++) {
        argv[6 + 2 * i] = model_field_names[i], lens[6 + 2 * i] = strlen(model_field_names[i]);
        argv[7 + 2 * i] = f.value[i], lens[7 + 2 * i] = f.len[i];
    }
    redisReply *r = redisCommandArgv(redis->ctx, 6 + 2 * MODEL_FIELDS, argv, lens);
    return reply_ok(redis, r, KEY_PCA_MODEL);
}
