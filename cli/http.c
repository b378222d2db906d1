/* http.c -- see http.h. libmicrohttpd runs the server on one internal thread (epoll), so
 * requests are handled one at a time and share one Redis connection that only that thread
 * touches; every handler does a few Redis round trips, so one thread keeps up with what the
 * workers can featurize by a wide margin. The one slow load, classify's model and gallery,
 * is done again on a thread of its own, with a connection of its own.
 *
 * What a hostile client can cost is bounded:
 * - connections: at most max_connections at once; the accept policy closes any other at
 *   once (libmicrohttpd's own limit, set above ours, would instead stop accepting and leave
 *   a flood waiting in the kernel's backlog); each holds at most 32 KB of headers;
 * - time: libmicrohttpd cuts a connection idle for request_seconds, and http_server_sweep
 *   cuts one whose request has lasted longer than that however steadily it trickles in
 *   (a client sending a byte a second is never idle). Connections are tracked from
 *   libmicrohttpd's connection notifications; cutting is a shutdown(2) of the socket, after
 *   which libmicrohttpd closes it as it would any dropped connection;
 * - memory: a body is refused with 413 from its Content-Length before it is read, and
 *   dropped if it grows past max_body without one; all bodies held at once share
 *   HTTP_BODY_BUDGET bytes, beyond which new uploads get 503 "busy".
 * The token is compared in constant time and never logged. */
#include "cli/http.h"

#include "cli/classify.h"
#include "common/clock.h"
#include "common/json_out.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/options.h"
#include "common/redis.h"
#include "common/status.h"
#include "common/uploads.h"
#include "common/wire.h"

#include <arpa/inet.h>
#include <cblas.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

/* Bodies held at once, across connections (a few of the largest images). */
#define HTTP_BODY_BUDGET (256L << 20)
#define HTTP_TOKEN_MAX 512

/* A connection, from libmicrohttpd's STARTED notification to its CLOSED one. */
typedef struct conn_t {
    int fd;
    double since; /* start of the current request (connection start, or the last one's end) */
    bool cut;
    struct conn_t *prev, *next;
} conn_t;

/* classify's model and gallery, loaded again on a thread of its own (see classifier_of). */
typedef struct {
    pthread_t thread;
    bool running;          /* started and not yet joined */
    atomic_int done;       /* the thread has finished */
    const char *redis_url; /* it connects on its own: the server thread's is not shared */
    char since[CLASSIFIER_STAMP_MAX]; /* the stamp of what the classifier has */
    classifier_data_t *data;          /* what it loaded, or NULL: unchanged, or failed */
    double seconds;                   /* how long that took */
    char err[512];                    /* why it failed */
} reload_t;

/* A request, from its first call to its completion. */
typedef struct {
    char *body;
    size_t len, reserved; /* reserved: bytes of the body budget held */
    bool takes_body;      /* an authorised POST: only such a request is given memory */
    bool too_big;
} request_t;

struct http_server_t {
    http_config_t cfg;
    struct MHD_Daemon *daemon;
    char token[HTTP_TOKEN_MAX];
    char redis_url[512];
    redis_t *redis;           /* the server thread's; NULL while Redis is away */
    double reconnect_at;      /* while Redis is away, not before this (clock_seconds) */
    long budget;              /* body bytes that may still be held */
    classifier_t *classifier; /* classify's, loaded at its first request */
    double classifier_at;     /* when its model and gallery last began loading (clock_seconds) */
    reload_t reload;
    pthread_mutex_t lock; /* the connection list, shared with http_server_sweep */
    conn_t *conns;
    int nconns;
};

/* ---- responses ------------------------------------------------------------------------- */

/* Sends body (stolen) as one line of JSON (common/json_out.h); NULL, out of memory while
 * building it, drops the connection. */
static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, json_t *body)
{
    char *text = body ? json_out_dumps(body) : NULL;
    json_decref(body);
    size_t len = text ? strlen(text) : 0;
    char *line = text ? realloc(text, len + 2) : NULL;
    if (!line) {
        free(text);
        return MHD_NO;
    }
    memcpy(line + len, "\n", 2);
    struct MHD_Response *r = MHD_create_response_from_buffer(len + 1, line, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(line);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, const char *message)
{
    return respond(
        c, status,
        json_pack("{s:o, s:i}", "error", json_out_string(message), "status", (int) status));
}

/* ---- Redis ------------------------------------------------------------------------------ */

/* The connection, made again if it was lost; NULL when Redis does not answer (503). While
 * it is away, connecting is tried at most once a second: a connection attempt can take
 * seconds, and the server thread answers nothing meanwhile. */
static redis_t *redis_of(http_server_t *self)
{
    if (self->redis && self->redis->ctx && !self->redis->ctx->err)
        return self->redis;
    redis_destroy(&self->redis);
    if (clock_seconds() < self->reconnect_at)
        return NULL;
    char err[512];
    self->redis = redis_new(self->redis_url, err, sizeof err);
    if (!self->redis) {
        log_warn("http: %s", err);
        self->reconnect_at = clock_seconds() + 1.0;
    }
    return self->redis;
}

/* Drops the connection after a failed command, so the next request connects again. */
static void redis_failed(http_server_t *self, redisReply *r)
{
    if (!self->redis)
        return;
    if (r)
        redis_lost(self->redis, r); /* a fatal reply ends the program there */
    /* NULL: a failure of the caller's that may not be Redis's; only a broken connection
     * is dropped, a working one kept for the next request */
    if (!self->redis->ctx || self->redis->ctx->err)
        redis_destroy(&self->redis);
}

/* ---- routes ----------------------------------------------------------------------------- */

static bool valid_text(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n >= max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static enum MHD_Result post_image(http_server_t *self, struct MHD_Connection *c, request_t *req)
{
    const char *key = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "key");
    const char *label = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "label");
    if (key && !valid_text(key, WIRE_KEY_MAX - sizeof KEY_IMAGE_PREFIX))
        return respond_error(c, MHD_HTTP_BAD_REQUEST,
                             "key: 1 to 1000 bytes, no control characters");
    if (label && label[0] && !valid_text(label, WIRE_LABEL_MAX))
        return respond_error(c, MHD_HTTP_BAD_REQUEST,
                             "label: under 256 bytes, no control characters");
    if (req->len < 3 || memcmp(req->body, "\xff\xd8\xff", 3) != 0)
        return respond_error(c, MHD_HTTP_BAD_REQUEST, "the body is not a JPEG image");
    char made[64];
    if (!key) { /* a key nobody else picks: http/ and 16 random bytes in hex */
        unsigned char r[16];
        if (getrandom(r, sizeof r, 0) != (ssize_t) sizeof r)
            return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "no randomness for a key");
        int n = snprintf(made, sizeof made, "http/");
        for (size_t i = 0; i < sizeof r; i++)
            n += snprintf(made + n, sizeof made - (size_t) n, "%02x", r[i]);
        key = made;
    }
    redis_t *redis = redis_of(self);
    if (!redis)
        return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "Redis is not answering");
    uploads_t *uploads = uploads_new(redis);
    long added = -1;
    if (uploads) {
        uploads_add_blob(uploads, key, label ? label : "", req->body, req->len);
        added = uploads_finish(uploads);
        uploads_destroy(&uploads);
    }
    if (added != 1) {
        redis_failed(self, NULL);
        return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "Redis did not take the upload");
    }
    return respond(c, MHD_HTTP_ACCEPTED,
                   json_pack("{s:o, s:s}", "key", json_out_string(key), "status", "pending"));
}

/* The little-endian float32 array of a hash field as a JSON array of numbers, each to the
 * 9 digits that tell floats apart (null for NaN and infinity, which JSON lacks). */
static json_t *floats(const redisReply *v)
{
    json_t *array = json_array();
    for (size_t i = 0; array && v && i + 4 <= v->len; i += 4) {
        float f;
        memcpy(&f, v->str + i, 4);
        json_out_append(&array, json_out_digits(f, 9));
    }
    return array;
}

/* Adds a result's fields to *body: strings as strings, numbers as numbers, arrays decoded.
 * Out of memory leaves *body NULL (json_out_set). */
static void add_result(json_t **body, const redisReply *h, bool features)
{
    static const char *texts[] = {"status", "label", "error", "worker"};
    static const char *numbers[] = {"size",        "attempt",     "seq",
                                    "pca_version", "uploaded_ms", "stored_ms"};
    static const char *timings[] = {"decode_ms", "resize_ms", "net_ms"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        const redisReply *v = redis_field(h, texts[i]);
        if (v && (v->len > 0 || i < 2))
            json_out_set(body, texts[i], json_out_text(v->str, v->len));
    }
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++) {
        const redisReply *v = redis_field(h, numbers[i]);
        if (v && v->len > 0)
            json_out_set(body, numbers[i], json_integer(atoll(v->str)));
    }
    json_t *times = json_object();
    for (size_t i = 0; i < sizeof timings / sizeof *timings; i++) {
        const redisReply *v = redis_field(h, timings[i]);
        json_out_set(&times, timings[i], json_out_fixed(v ? atof(v->str) : 0.0, 3));
    }
    const redisReply *up = redis_field(h, "uploaded_ms"), *st = redis_field(h, "stored_ms");
    if (up && st)
        json_out_set(&times, "upload_to_stored_ms", json_integer(atoll(st->str) - atoll(up->str)));
    json_out_set(body, "timings", times);
    json_out_set(body, "pca", floats(redis_field(h, "pca")));
    if (features)
        json_out_set(body, "features", floats(redis_field(h, "features")));
}

static enum MHD_Result get_image(http_server_t *self, struct MHD_Connection *c, const char *key)
{
    if (!valid_text(key, WIRE_KEY_MAX))
        return respond_error(c, MHD_HTTP_BAD_REQUEST, "no valid image key in the path");
    const char *f = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "features");
    bool features = f && (strcmp(f, "1") == 0 || strcmp(f, "true") == 0);
    redis_t *redis = redis_of(self);
    if (!redis)
        return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "Redis is not answering");
    redisReply *h = redisCommand(redis->ctx, "HGETALL %s%s", KEY_IMAGE_PREFIX, key);
    if (!h || h->type != REDIS_REPLY_ARRAY) {
        redis_failed(self, h);
        freeReplyObject(h);
        return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "Redis is not answering");
    }
    json_t *body = json_pack("{s:o}", "key", json_out_string(key));
    unsigned status = MHD_HTTP_OK;
    if (h->elements > 0) {
        add_result(&body, h, features);
    } else { /* not stored: waiting, if its blob or its watched path is known */
        redisReply *w = redisCommand(redis->ctx, "EVAL %s 2 %s%s %s %s",
                                     "return redis.call('EXISTS', KEYS[1]) + "
                                     "redis.call('SISMEMBER', KEYS[2], ARGV[1])",
                                     KEY_BLOB_PREFIX, key, KEY_WATCHED, key);
        if (w && w->type == REDIS_REPLY_INTEGER && w->integer > 0)
            json_out_set(&body, "status", json_string("pending"));
        else
            status = w && w->type == REDIS_REPLY_INTEGER ? MHD_HTTP_NOT_FOUND
                                                         : MHD_HTTP_SERVICE_UNAVAILABLE;
        redis_failed(self, w);
        freeReplyObject(w);
    }
    freeReplyObject(h);
    if (status != MHD_HTTP_OK) {
        json_decref(body);
        return respond_error(
            c, status, status == MHD_HTTP_NOT_FOUND ? "no such image" : "Redis is not answering");
    }
    return respond(c, status, body);
}

/* `fruitstream status --json`'s object (common/status.h). */
static enum MHD_Result get_status(http_server_t *self, struct MHD_Connection *c)
{
    redis_t *redis = redis_of(self);
    char err[256];
    status_t *status = redis ? status_new(redis, err, sizeof err) : NULL;
    if (!status) {
        redis_failed(self, NULL);
        return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "Redis is not answering");
    }
    json_t *body = status_json(status);
    status_destroy(&status);
    return respond(c, MHD_HTTP_OK, body);
}

/* Loads the model and gallery again, unless their stamp says they are what the classifier
 * has: an idle server then reads three small replies, not every stored image. */
static void *reload_in_background(void *arg)
{
    reload_t *r = arg;
    double start = clock_seconds();
    char now[CLASSIFIER_STAMP_MAX];
    redis_t *redis = redis_new(r->redis_url, r->err, sizeof r->err);
    bool stamped = redis && classifier_stamp_read(redis, now) == 0;
    if (!stamped)
        now[0] = '\0'; /* unknown: then any stamp read later differs */
    bool unchanged = stamped && r->since[0] && strcmp(now, r->since) == 0;
    r->data = redis && !unchanged ? classifier_data_load(redis, now, r->err, sizeof r->err) : NULL;
    r->seconds = clock_seconds() - start;
    redis_destroy(&redis);
    atomic_store(&r->done, 1);
    return NULL;
}

/* Tells the operator what classify answers from now on. */
static void log_loaded(const classifier_t *classifier, double seconds)
{
    const char *stamp = classifier_stamp(classifier);
    log_info("classify: loaded %s (%zu images in the gallery) in %.2f s",
             stamp[0] ? stamp : "the model and stored images",
             gallery_count(classifier_gallery(classifier)), seconds);
}

/* Joins the reload thread, and has the classifier adopt what it loaded; a reload that
 * failed keeps the model and gallery there were, and says why. */
static void finish_reload(http_server_t *self)
{
    reload_t *r = &self->reload;
    pthread_join(r->thread, NULL);
    r->running = false;
    if (r->data && classifier_adopt(self->classifier, &r->data, r->err, sizeof r->err) == 0)
        log_loaded(self->classifier, r->seconds); /* r->data taken, adopted or not */
    if (r->err[0])
        log_warn("classify keeps the model and gallery it has: loading them again failed (%s)",
                 r->err);
}

/* The classifier (see http.h for when its model and gallery are loaded again); NULL with
 * why when there is none. */
static classifier_t *classifier_of(http_server_t *self, redis_t *redis, char *err, size_t errlen)
{
    reload_t *r = &self->reload;
    if (r->running && atomic_load(&r->done))
        finish_reload(self);
    double now = clock_seconds();
    if (!self->classifier) {
        self->classifier = classifier_new(redis, self->cfg.weights, self->cfg.size, err, errlen);
        self->classifier_at = now;
        if (self->classifier)
            log_loaded(self->classifier, clock_seconds() - now);
    } else if (!r->running && now - self->classifier_at >= self->cfg.classify_reload_seconds) {
        self->classifier_at = now;
        snprintf(r->since, sizeof r->since, "%s", classifier_stamp(self->classifier));
        r->err[0] = '\0';
        atomic_store(&r->done, 0);
        r->running = pthread_create(&r->thread, NULL, reload_in_background, r) == 0;
    }
    return self->classifier;
}

static enum MHD_Result post_classify(http_server_t *self, struct MHD_Connection *c,
                                     const request_t *req)
{
    const char *k_arg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "k");
    int64_t k = QUERY_DEFAULT_K;
    if (k_arg && (!option_parse_int64(k_arg, &k) || k < 1 || k > QUERY_MAX_K))
        return respond_error(c, MHD_HTTP_BAD_REQUEST, "k must be a whole number in 1..1000");
    if (req->len < 2 || (unsigned char) req->body[0] != 0xFF ||
        (unsigned char) req->body[1] != 0xD8) /* before loading anything for it */
        return respond_error(c, MHD_HTTP_BAD_REQUEST, "the body is not a JPEG");
    redis_t *redis = redis_of(self);
    if (!redis)
        return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "Redis is not answering");
    char err[512];
    classifier_t *classifier = classifier_of(self, redis, err, sizeof err);
    if (!classifier)
        return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, err);
    gallery_hit_t *hits = malloc((size_t) k * sizeof *hits);
    long found =
        hits ? classifier_run(classifier, req->body, req->len, (size_t) k, hits, err, sizeof err)
             : -1;
    if (found < 0) {
        free(hits);
        return respond_error(c, MHD_HTTP_BAD_REQUEST, hits ? err : "out of memory");
    }
    const gallery_t *g = classifier_gallery(classifier);
    int votes = 0;
    const char *label = found > 0 ? gallery_vote(g, hits, (size_t) found, &votes) : "";
    json_t *nearest = json_array();
    for (long i = 0; nearest && i < found; i++) {
        size_t row = hits[i].row;
        json_out_append(&nearest,
                        json_pack("{s:o, s:o, s:o}", "key", json_out_string(gallery_key(g, row)),
                                  "label", json_out_string(gallery_label(g, row)), "distance",
                                  json_out_digits(hits[i].distance, 6)));
    }
    free(hits);
    return respond(c, MHD_HTTP_OK,
                   json_pack("{s:o, s:i, s:o}", "label", json_out_string(label), "votes", votes,
                             "nearest", nearest));
}

static enum MHD_Result get_health(http_server_t *self, struct MHD_Connection *c)
{
    redis_t *redis = redis_of(self);
    redisReply *r = redis ? redisCommand(redis->ctx, "PING") : NULL;
    bool ok = r && r->type == REDIS_REPLY_STATUS;
    redis_failed(self, r);
    freeReplyObject(r);
    if (!ok)
        return respond_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "Redis is not answering");
    return respond(c, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1));
}

/* ---- request handling ------------------------------------------------------------------- */

static bool authorized(const http_server_t *self, struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    size_t n = strlen(h), m = strlen(self->token);
    unsigned char diff = n != m;
    for (size_t i = 0; i < m; i++) /* constant time in the token's length */
        diff |= (unsigned char) (self->token[i] ^ (i < n ? h[i] : 0));
    return diff == 0;
}

#define IMAGES_PREFIX "/v1/images/"

/* The answer to a request that is refused before its body is read, or NULL status 0. */
static unsigned refuse_early(http_server_t *self, struct MHD_Connection *c, const char *url,
                             const char *method, request_t *req, const char **why)
{
    bool post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
    const char *length =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    long long declared = length ? atoll(length) : 0;
    /* Only the POST routes take a body: any other request announcing one is refused before
     * it is read, so that nobody, with a token or without, holds the uploads' memory. */
    bool announces_body =
        declared > 0 ||
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (strcmp(url, "/healthz") == 0) {
        if (!get)
            return *why = "use GET", MHD_HTTP_METHOD_NOT_ALLOWED;
        return announces_body ? (*why = "a GET request takes no body", MHD_HTTP_BAD_REQUEST) : 0;
    }
    if (!authorized(self, c))
        return *why = "a valid bearer token is required", MHD_HTTP_UNAUTHORIZED;
    if (strcmp(url, "/v1/images") == 0 || strcmp(url, "/v1/classify") == 0) {
        if (!post)
            return *why = "use POST", MHD_HTTP_METHOD_NOT_ALLOWED;
    } else if (strncmp(url, IMAGES_PREFIX, strlen(IMAGES_PREFIX)) == 0 ||
               strcmp(url, "/v1/status") == 0) {
        if (!get)
            return *why = "use GET", MHD_HTTP_METHOD_NOT_ALLOWED;
        return announces_body ? (*why = "a GET request takes no body", MHD_HTTP_BAD_REQUEST) : 0;
    } else {
        return *why = "no such route", MHD_HTTP_NOT_FOUND;
    }
    req->takes_body = true;
    if (declared > self->cfg.max_body)
        return *why = "image larger than the limit", MHD_HTTP_CONTENT_TOO_LARGE;
    if (declared > self->budget)
        return *why = "busy: too many uploads in progress", MHD_HTTP_SERVICE_UNAVAILABLE;
    if (declared > 0 && !(req->body = malloc((size_t) declared)))
        return *why = "out of memory", MHD_HTTP_SERVICE_UNAVAILABLE;
    req->reserved = (size_t) declared;
    self->budget -= declared;
    return 0;
}

/* Adds a piece of the body; false for a request that takes none, or once it is past max_body
 * (the rest is then dropped). */
static bool take_body(http_server_t *self, request_t *req, const char *data, size_t n)
{
    if (!req->takes_body || req->too_big || req->len + n > (size_t) self->cfg.max_body) {
        req->too_big = true;
        return false;
    }
    if (req->len + n > req->reserved) { /* no Content-Length: grow within the budget */
        size_t want = req->reserved ? req->reserved : 65536;
        while (want < req->len + n)
            want *= 2;
        if ((long) (want - req->reserved) > self->budget) {
            req->too_big = true;
            return false;
        }
        char *body = realloc(req->body, want);
        if (!body) {
            req->too_big = true;
            return false;
        }
        self->budget -= (long) (want - req->reserved);
        req->body = body;
        req->reserved = want;
    }
    memcpy(req->body + req->len, data, n);
    req->len += n;
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void) version;
    http_server_t *self = cls;
    request_t *req = *req_cls;
    if (!req) { /* the headers are in: refuse now what will be refused anyway */
        if (!(req = calloc(1, sizeof *req)))
            return MHD_NO;
        *req_cls = req;
        const char *why = NULL;
        unsigned status = refuse_early(self, c, url, method, req, &why);
        return status ? respond_error(c, status, why) : MHD_YES;
    }
    if (*upload_data_size > 0) {
        bool kept = take_body(self, req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        /* a body without Content-Length past the limit: not worth reading to its end to
         * say 413; the connection is dropped */
        return kept ? MHD_YES : MHD_NO;
    }
    if (req->too_big)
        return respond_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "image larger than the limit");
    if (strcmp(url, "/healthz") == 0)
        return get_health(self, c);
    if (strcmp(url, "/v1/status") == 0)
        return get_status(self, c);
    if (strcmp(url, "/v1/images") == 0)
        return post_image(self, c, req);
    if (strcmp(url, "/v1/classify") == 0)
        return post_classify(self, c, req);
    return get_image(self, c, url + strlen(IMAGES_PREFIX));
}

static conn_t *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void) toe;
    http_server_t *self = cls;
    request_t *req = *req_cls;
    if (req) {
        self->budget += (long) req->reserved;
        free(req->body);
        free(req);
        *req_cls = NULL;
    }
    conn_t *conn = conn_of(c);
    if (conn) { /* the next request on this connection gets a fresh allowance of time */
        pthread_mutex_lock(&self->lock);
        conn->since = clock_seconds();
        pthread_mutex_unlock(&self->lock);
    }
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    http_server_t *self = cls;
    pthread_mutex_lock(&self->lock);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_t *conn = calloc(1, sizeof *conn);
        if (conn && info) {
            *conn = (conn_t){.fd = info->connect_fd, .since = clock_seconds(), .next = self->conns};
            if (self->conns)
                self->conns->prev = conn;
            self->conns = conn;
            *socket_context = conn;
            self->nconns++;
        } else {
            free(conn);
        }
    } else if (*socket_context) { /* closed: before libmicrohttpd closes the socket */
        conn_t *conn = *socket_context;
        if (conn->prev)
            conn->prev->next = conn->next;
        else
            self->conns = conn->next;
        if (conn->next)
            conn->next->prev = conn->prev;
        free(conn);
        *socket_context = NULL;
        self->nconns--;
    }
    pthread_mutex_unlock(&self->lock);
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void) addr;
    (void) addrlen;
    http_server_t *self = cls;
    pthread_mutex_lock(&self->lock);
    bool room = self->nconns < self->cfg.max_connections;
    pthread_mutex_unlock(&self->lock);
    return room ? MHD_YES : MHD_NO;
}

void http_server_sweep(http_server_t *self)
{
    if (!self)
        return;
    double now = clock_seconds();
    pthread_mutex_lock(&self->lock);
    for (conn_t *conn = self->conns; conn; conn = conn->next)
        if (!conn->cut && now - conn->since > self->cfg.request_seconds) {
            shutdown(conn->fd, SHUT_RDWR);
            conn->cut = true;
        }
    pthread_mutex_unlock(&self->lock);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void) cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("http: %s", line);
}

/* The first line of the token file, trailing blanks removed. */
static int read_token(http_server_t *self)
{
    FILE *f = fopen(self->cfg.token_file, "r");
    if (!f) {
        log_error("cannot read the HTTP token file %s: %s", self->cfg.token_file, strerror(errno));
        return -1;
    }
    bool got = fgets(self->token, sizeof self->token, f) != NULL;
    fclose(f);
    size_t n = got ? strlen(self->token) : 0;
    while (n > 0 && isspace((unsigned char) self->token[n - 1]))
        self->token[--n] = '\0';
    if (n < 16) {
        log_error("the HTTP token in %s is shorter than 16 characters", self->cfg.token_file);
        return -1;
    }
    return 0;
}

/* [ADDR]:PORT, ADDR numeric (IPv4, or IPv6 in brackets), default 127.0.0.1. */
static int parse_listen(const char *listen, struct sockaddr_storage *sa, bool *ipv6)
{
    const char *colon = strrchr(listen, ':');
    char host[64] = "127.0.0.1";
    const char *port = colon ? colon + 1 : listen;
    if (colon && colon > listen) {
        const char *h = listen;
        size_t n = (size_t) (colon - listen);
        if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
            h++;
            n -= 2;
        }
        if (n >= sizeof host)
            return -1;
        snprintf(host, sizeof host, "%.*s", (int) n, h);
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535)
        return -1;
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, NULL, &hints, &ai) != 0)
        return -1;
    memcpy(sa, ai->ai_addr, ai->ai_addrlen);
    *ipv6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (*ipv6)
        ((struct sockaddr_in6 *) sa)->sin6_port = htons((uint16_t) p);
    else
        ((struct sockaddr_in *) sa)->sin_port = htons((uint16_t) p);
    return 0;
}

http_server_t *http_server_new(const http_config_t *cfg, const char *redis_url)
{
    http_server_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    self->budget = HTTP_BODY_BUDGET > cfg->max_body ? HTTP_BODY_BUDGET : cfg->max_body;
    snprintf(self->redis_url, sizeof self->redis_url, "%s", redis_url);
    self->reload.redis_url = self->redis_url;
    /* classify's BLAS calls are small (one image against the gallery), and serve's workers
     * have the cores: OpenBLAS's own threads would spin between requests, on sched_yield,
     * for about 130 ms of a core after each one. */
    openblas_set_num_threads(1);
    pthread_mutex_init(&self->lock, NULL);
    struct sockaddr_storage sa;
    bool ipv6 = false;
    if (read_token(self) != 0) {
        http_server_destroy(&self);
        return NULL;
    }
    if (parse_listen(cfg->listen, &sa, &ipv6) != 0) {
        log_error("--http %s: give [ADDR]:PORT with a numeric address", cfg->listen);
        http_server_destroy(&self);
        return NULL;
    }
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
    self->daemon = MHD_start_daemon(
        flags, 0, on_accept, self, on_request, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) cfg->max_connections + 16,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) cfg->request_seconds,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 32768, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, self, MHD_OPTION_NOTIFY_CONNECTION, on_connection, self,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, self, MHD_OPTION_END);
    if (!self->daemon) {
        log_error("cannot serve HTTP on %s: %s", cfg->listen, strerror(errno));
        http_server_destroy(&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    char host[64] = "";
    if (ipv6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &sa)->sin6_addr, host, sizeof host);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *) &sa)->sin_addr, host, sizeof host);
    log_info("HTTP API on %s%s%s:%u, at most %d connections, %d s a request", ipv6 ? "[" : "", host,
             ipv6 ? "]" : "", info ? (unsigned) info->port : 0, cfg->max_connections,
             cfg->request_seconds);
    return self;
}

void http_server_destroy(http_server_t **self_p)
{
    http_server_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon)
        MHD_stop_daemon(self->daemon);
    redis_destroy(&self->redis);
    if (self->reload.running)
        finish_reload(self);
    classifier_destroy(&self->classifier);
    pthread_mutex_destroy(&self->lock);
    memset(self->token, 0, sizeof self->token);
    free(self);
    *self_p = NULL;
}
