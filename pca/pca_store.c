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
            if (r->type == REDIS_REPLY_STRING && r->len == (size_t) dim * sizeof(float))
                memcpy(rows + n++ * (size_t) dim, r->str, r->len);
            else
                log_error("stored result #%lld has no features of %d floats; left out of the PCA",
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

pca_t *pca_store_load(redis_t *redis, const pca_options_t *options, int64_t *applied, char *err,
                      size_t errlen)
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

int pca_store_publish(redis_t *redis, const pca_t *pca)
{
    const pca_options_t *o = pca_options(pca);
    size_t k = (size_t) pca_k(pca), dim = (size_t) o->dim;
    double explained = 0;
    for (size_t i = 0; i < k; i++)
        explained += pca_variance_ratios(pca)[i];
    const double *scale = pca_scale(pca);
    redisReply *r = redisCommand(
        redis->ctx,
        "HSET %s version %llu n %lld k %d dim %d standardize %d variance_target %.6g "
        "total_variance %.17g explained %.17g updated_ms %lld "
        "mean %b scale %b axes %b eigenvalues %b ratios %b",
        KEY_PCA_MODEL, (unsigned long long) pca_version(pca), (long long) pca_count(pca), (int) k,
        o->dim, o->standardize ? 1 : 0, o->k ? 0.0 : o->variance, pca_total_variance(pca),
        explained, (long long) clock_unix_ms(), pca_mean(pca), dim * sizeof(double),
        scale ? (const void *) scale : "", scale ? dim * sizeof(double) : 0, pca_axes(pca),
        k * dim * sizeof(double), pca_eigenvalues(pca), k * sizeof(double),
        pca_variance_ratios(pca), k * sizeof(double));
    return reply_ok(redis, r, KEY_PCA_MODEL);
}
