/* gallery.c -- see gallery.h. Keys live in one growing arena of NUL-terminated strings,
 * labels in a small table (a few hundred distinct ones), so a million rows cost their
 * projections plus about 40 bytes each. */
#include "cli/gallery.h"

#include "common/keys.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GALLERY_LOAD_CHUNK 1000
/* Floats of distances computed at once: bounds the scratch to 64 MB however big. */
#define GALLERY_SCRATCH_FLOATS (16u << 20)

struct gallery_t {
    int k;
    size_t count, capacity;
    float *rows;     /* count x k */
    float *norms;    /* count: |row|^2 */
    size_t *key_at;  /* count: offset of the key in keys */
    uint32_t *label; /* count: index into labels */
    char *keys;
    size_t keys_len, keys_capacity;
    char **labels;
    size_t label_count;
};

gallery_t *gallery_new(int k)
{
    gallery_t *self = calloc(1, sizeof *self);
    if (self)
        self->k = k;
    return self;
}

void gallery_destroy(gallery_t **self_p)
{
    gallery_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->label_count; i++)
        free(self->labels[i]);
    free(self->labels);
    free(self->rows);
    free(self->norms);
    free(self->key_at);
    free(self->label);
    free(self->keys);
    free(self);
    *self_p = NULL;
}

/* Grows *p to hold `count` items of `size` bytes; -1 when memory runs out. */
static int grow(void *p, size_t count, size_t size)
{
    void *grown = realloc(*(void **) p, count * size);
    if (!grown)
        return -1;
    *(void **) p = grown;
    return 0;
}

static long label_index(gallery_t *self, const char *label)
{
    for (size_t i = self->label_count; i-- > 0;)
        if (strcmp(self->labels[i], label) == 0)
            return (long) i;
    char *copy = strdup(label);
    if (!copy || grow(&self->labels, self->label_count + 1, sizeof *self->labels) != 0) {
        free(copy);
        return -1;
    }
    self->labels[self->label_count] = copy;
    return (long) self->label_count++;
}

int gallery_add(gallery_t *self, const char *key, const char *label, const float *projection)
{
    size_t k = (size_t) self->k, key_len = strlen(key) + 1;
    if (self->count == self->capacity) {
        size_t capacity = self->capacity ? 2 * self->capacity : 1024;
        if (grow(&self->rows, capacity * k, sizeof(float)) != 0 ||
            grow(&self->norms, capacity, sizeof(float)) != 0 ||
            grow(&self->key_at, capacity, sizeof(size_t)) != 0 ||
            grow(&self->label, capacity, sizeof(uint32_t)) != 0)
            return -1;
        self->capacity = capacity;
    }
    if (self->keys_len + key_len > self->keys_capacity) {
        size_t capacity = 2 * (self->keys_len + key_len) + 4096;
        if (grow(&self->keys, capacity, 1) != 0)
            return -1;
        self->keys_capacity = capacity;
    }
    long l = label_index(self, label);
    if (l < 0)
        return -1;
    memcpy(self->keys + self->keys_len, key, key_len);
    self->key_at[self->count] = self->keys_len;
    self->keys_len += key_len;
    self->label[self->count] = (uint32_t) l;
    memcpy(self->rows + self->count * k, projection, k * sizeof(float));
    self->norms[self->count] = cblas_sdot(self->k, projection, 1, projection, 1);
    self->count++;
    return 0;
}

size_t gallery_count(const gallery_t *self)
{
    return self->count;
}
int gallery_k(const gallery_t *self)
{
    return self->k;
}
const char *gallery_key(const gallery_t *self, size_t row)
{
    return self->keys + self->key_at[row];
}
const float *gallery_row(const gallery_t *self, size_t row)
{
    return self->rows + row * (size_t) self->k;
}

const char *gallery_label(const gallery_t *self, size_t row)
{
    return self->labels[self->label[row]];
}

/* A bounded max-heap of the n nearest so far: the farthest kept is on top. */
static void heap_push(gallery_hit_t *heap, size_t *size, size_t n, gallery_hit_t hit)
{
    if (*size == n) {
        if (hit.distance >= heap[0].distance)
            return;
        size_t i = 0; /* replace the top and sift down */
        for (;;) {
            size_t child = 2 * i + 1;
            if (child >= n)
                break;
            if (child + 1 < n && heap[child + 1].distance > heap[child].distance)
                child++;
            if (heap[child].distance <= hit.distance)
                break;
            heap[i] = heap[child];
            i = child;
        }
        heap[i] = hit;
        return;
    }
    size_t i = (*size)++; /* append and sift up */
    while (i > 0 && heap[(i - 1) / 2].distance < hit.distance) {
        heap[i] = heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    heap[i] = hit;
}

static float distance(const float *a, const float *b, size_t k)
{
    double sum = 0;
    for (size_t i = 0; i < k; i++)
        sum += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
    return (float) sqrt(sum);
}

static int by_distance(const void *a, const void *b)
{
    const gallery_hit_t *x = a, *y = b;
    if (x->distance != y->distance)
        return (x->distance > y->distance) - (x->distance < y->distance);
    return (x->row > y->row) - (x->row < y->row);
}

long gallery_nearest(const gallery_t *self, const float *queries, size_t q, size_t n,
                     gallery_hit_t *hits)
{
    size_t count = self->count, k = (size_t) self->k;
    if (n > count)
        n = count;
    if (n == 0 || q == 0)
        return 0;
    size_t block = GALLERY_SCRATCH_FLOATS / count;
    block = block < 1 ? 1 : block > 64 ? 64 : block;
    float *dots = malloc(block * count * sizeof(float));
    if (!dots)
        return -1;
    for (size_t first = 0; first < q; first += block) {
        size_t b = q - first < block ? q - first : block;
        const float *qs = queries + first * k;
        /* dots (b x count) = queries (b x k) . rows^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) b, (int) count, (int) k, 1.0f,
                    qs, (int) k, self->rows, (int) k, 0.0f, dots, (int) count);
        for (size_t j = 0; j < b; j++) {
            float qnorm = cblas_sdot((int) k, qs + j * k, 1, qs + j * k, 1);
            const float *d = dots + j * count;
            gallery_hit_t *heap = hits + (first + j) * n;
            size_t size = 0;
            for (size_t i = 0; i < count; i++) {
                float squared = self->norms[i] + qnorm - 2 * d[i];
                heap_push(heap, &size, n, (gallery_hit_t){i, squared > 0 ? squared : 0});
            }
            /* The expanded form cancels badly near 0 (a stored copy of the query came out
             * at 0.01, not 0): the few kept get their distance summed directly. */
            for (size_t i = 0; i < n; i++)
                heap[i].distance = distance(qs + j * k, self->rows + heap[i].row * k, k);
            qsort(heap, n, sizeof *heap, by_distance);
        }
    }
    free(dots);
    return (long) n;
}

const char *gallery_vote(const gallery_t *self, const gallery_hit_t *hits, size_t n, int *votes)
{
    const char *best = NULL;
    *votes = 0;
    for (size_t i = 0; i < n; i++) { /* n is small: count each label over the hits */
        uint32_t l = self->label[hits[i].row];
        int c = 0;
        for (size_t j = 0; j < n; j++)
            c += self->label[hits[j].row] == l;
        if (c > *votes) { /* strictly more: a tie keeps the nearer hit's label */
            *votes = c;
            best = self->labels[l];
        }
    }
    return best ? best : "";
}

/* The fields gallery_load reads from each image hash, in HMGET order. */
enum { F_LABEL, F_PCA, F_VERSION, F_SIZE, F_STATUS, F_COUNT };

/* Whether an HMGET reply holds an image's fields: an fs:image:* key of another type
 * (anyone who can write to Redis can make one) answers with an error, and its row is
 * skipped like one without a projection, not taken as a failure of the whole load. */
static bool holds_image(const redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements == F_COUNT;
}

/* Reads the image hashes of one chunk of fs:stored entries and adds their rows, projecting
 * again from features those whose projection is missing or from another model version. */
static int load_chunk(redis_t *redis, const pca_model_t *model, gallery_t *g,
                      const redisReply *entries, size_t every, size_t *position,
                      gallery_load_info_t *info, float *scratch, char *err, size_t errlen)
{
    size_t n = 0, k = (size_t) g->k, dim = (size_t) pca_model_dim(model);
    const char *key_of[GALLERY_LOAD_CHUNK];
    for (size_t i = 0; i < entries->elements; i++)
        if ((*position)++ % every == 0)
            key_of[n++] = entries->element[i]->element[1]->element[1]->str;
    redisReply **hashes = calloc(n, sizeof *hashes), **features = calloc(n, sizeof *features);
    float *stale = malloc(n * dim * sizeof(float) + 1),
          *projected = malloc(n * k * sizeof(float) + 1);
    size_t *stale_at = malloc(n * sizeof(size_t) + 1), nstale = 0;
    int rc = hashes && features && stale && projected && stale_at ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        redisAppendCommand(redis->ctx, "HMGET %s%s label pca pca_version size status",
                           KEY_IMAGE_PREFIX, key_of[i]);
    }
    /* Every queued reply is read, even after a bad one, so that the connection (a server's,
     * kept for later requests) stays in step; only a broken connection stops the reading. */
    bool queued = rc == 0, broken = false;
    for (size_t i = 0; queued && !broken && i < n; i++) {
        broken = redisGetReply(redis->ctx, (void **) &hashes[i]) != REDIS_OK;
        if (broken)
            rc = -1;
    }
    char version[32];
    snprintf(version, sizeof version, "%llu", (unsigned long long) pca_model_version(model));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!holds_image(hashes[i]))
            continue;
        redisReply **f = hashes[i]->element;
        if (!f[F_STATUS]->str || strcmp(f[F_STATUS]->str, "ok") != 0)
            continue;
        bool current = f[F_PCA]->len == k * sizeof(float) && f[F_VERSION]->str &&
                       strcmp(f[F_VERSION]->str, version) == 0;
        if (!current) {
            redisAppendCommand(redis->ctx, "HGET %s%s features", KEY_IMAGE_PREFIX, key_of[i]);
            stale_at[nstale++] = i;
        }
        if (!info->size && f[F_SIZE]->str)
            info->size = atoi(f[F_SIZE]->str);
    }
    size_t usable = 0;
    for (size_t s = 0; rc == 0 && s < nstale; s++) {
        redisReply *r = NULL;
        if (redisGetReply(redis->ctx, (void **) &r) != REDIS_OK) {
            rc = -1;
            break;
        }
        features[stale_at[s]] = r;
        if (r->type == REDIS_REPLY_STRING && r->len == dim * sizeof(float))
            memcpy(stale + usable++ * dim, r->str, dim * sizeof(float));
    }
    if (rc == 0 && usable && pca_model_project(model, stale, usable, projected) != 0)
        rc = -1;
    usable = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!holds_image(hashes[i])) {
            info->skipped++;
            continue;
        }
        redisReply **f = hashes[i]->element;
        const float *row = NULL;
        bool ok = f[F_STATUS]->str && strcmp(f[F_STATUS]->str, "ok") == 0;
        if (ok && !features[i]) {
            row = memcpy(scratch, f[F_PCA]->str, k * sizeof(float));
        } else if (ok && features[i]->type == REDIS_REPLY_STRING &&
                   features[i]->len == dim * sizeof(float)) {
            row = projected + usable++ * k;
            info->reprojected++;
        }
        if (!row) {
            info->skipped++;
            continue;
        }
        if (gallery_add(g, key_of[i], f[F_LABEL]->str ? f[F_LABEL]->str : "", row) != 0)
            rc = -1;
        info->rows++;
    }
    if (rc != 0)
        snprintf(err, errlen, "reading stored images failed: %s",
                 redis->ctx->err ? redis->ctx->errstr : "out of memory or unexpected reply");
    for (size_t i = 0; hashes && i < n; i++)
        freeReplyObject(hashes[i]);
    for (size_t i = 0; features && i < n; i++)
        freeReplyObject(features[i]);
    free(hashes);
    free(features);
    free(stale);
    free(projected);
    free(stale_at);
    return rc;
}

gallery_t *gallery_load(redis_t *redis, const pca_model_t *model, size_t every,
                        gallery_load_info_t *info, char *err, size_t errlen)
{
    size_t position = 0;
    every = every ? every : 1;
    *info = (gallery_load_info_t){0};
    gallery_t *g = gallery_new(pca_model_k(model));
    float *scratch = malloc((size_t) pca_model_k(model) * sizeof(float));
    char after[64] = "-";
    int rc = g && scratch ? 0 : -1;
    while (rc == 0) {
        redisReply *range = redisCommand(redis->ctx, "XRANGE %s %s + COUNT %d", KEY_STORED, after,
                                         GALLERY_LOAD_CHUNK);
        if (redis_lost(redis, range) || range->type != REDIS_REPLY_ARRAY) {
            snprintf(err, errlen, "reading %s failed", KEY_STORED);
            freeReplyObject(range);
            rc = -1;
            break;
        }
        size_t got = range->elements;
        if (got)
            snprintf(after, sizeof after, "(%s", range->element[got - 1]->element[0]->str);
        rc = got ? load_chunk(redis, model, g, range, every, &position, info, scratch, err, errlen)
                 : 0;
        freeReplyObject(range);
        if (got < GALLERY_LOAD_CHUNK)
            break;
    }
    free(scratch);
    if (rc != 0 || !g) {
        if (!g)
            snprintf(err, errlen, "out of memory");
        gallery_destroy(&g);
    }
    return g;
}
