/* redis.c -- see redis.h. Connections use a 10 s command timeout so a hung server shows up
 * as an error instead of a silent stall, and SELECT the address's database on every
 * (re)connect. */
#include "redis.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int parse_port_db(const char *s, redis_address_t *a, char *err, size_t errlen)
{
    /* s is what follows the host: "", ":PORT", ":PORT/DB" or "/DB" */
    char *end;
    if (*s == ':') {
        long port = strtol(s + 1, &end, 10);
        if (end == s + 1 || port <= 0 || port > 65535) {
            snprintf(err, errlen, "bad port in Redis URL near \"%s\"", s);
            return -1;
        }
        a->port = (int) port;
        s = end;
    }
    if (*s == '/' && s[1]) {
        long db = strtol(s + 1, &end, 10);
        if (*end || db < 0) {
            snprintf(err, errlen, "bad database number in Redis URL near \"%s\"", s);
            return -1;
        }
        a->db = (int) db;
    } else if (*s && strcmp(s, "/") != 0) {
        snprintf(err, errlen, "unexpected \"%s\" in Redis URL", s);
        return -1;
    }
    return 0;
}

int redis_address_parse(const char *url, redis_address_t *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->port = REDIS_DEFAULT_PORT;
    const char *path = NULL;
    if (strncmp(url, "unix://", 7) == 0)
        path = url + 7;
    else if (url[0] == '/')
        path = url;
    if (path) {
        const char *query = strstr(path, "?db=");
        size_t len = query ? (size_t) (query - path) : strlen(path);
        if (len == 0 || len >= sizeof a->socket) {
            snprintf(err, errlen, "bad unix socket path in Redis URL \"%s\"", url);
            return -1;
        }
        memcpy(a->socket, path, len);
        a->db = query ? atoi(query + 4) : 0;
        return 0;
    }
    const char *host = strncmp(url, "redis://", 8) == 0 ? url + 8 : url;
    size_t len = strcspn(host, ":/");
    if (len == 0 || len >= sizeof a->host) {
        snprintf(err, errlen, "no host in Redis URL \"%s\"", url);
        return -1;
    }
    memcpy(a->host, host, len);
    return parse_port_db(host + len, a, err, errlen);
}

void redis_address_format(const redis_address_t *a, char *out, size_t outlen)
{
    if (a->socket[0])
        snprintf(out, outlen, "unix://%s?db=%d", a->socket, a->db);
    else
        snprintf(out, outlen, "redis://%s:%d/%d", a->host, a->port, a->db);
}

static redisContext *connect_address(const redis_address_t *a, char *err, size_t errlen)
{
    struct timeval timeout = {10, 0};
    struct timeval connect_timeout = {2, 0};
    redisContext *ctx = a->socket[0] ? redisConnectUnixWithTimeout(a->socket, connect_timeout)
                                     : redisConnectWithTimeout(a->host, a->port, connect_timeout);
    char where[600];
    redis_address_format(a, where, sizeof where);
    if (!ctx || ctx->err) {
        snprintf(err, errlen, "cannot connect to Redis at %s: %s", where,
                 ctx ? ctx->errstr : "out of memory");
        redisFree(ctx);
        return NULL;
    }
    redisSetTimeout(ctx, timeout);
    if (a->db) {
        redisReply *r = redisCommand(ctx, "SELECT %d", a->db);
        bool ok = r && r->type != REDIS_REPLY_ERROR;
        if (!ok)
            snprintf(err, errlen, "Redis at %s: SELECT %d failed: %s", where, a->db,
                     r ? r->str : ctx->errstr);
        freeReplyObject(r);
        if (!ok) {
            redisFree(ctx);
            return NULL;
        }
    }
    return ctx;
}

redis_t *redis_new(const char *url, char *err, size_t errlen)
{
    redis_t *self = calloc(1, sizeof *self);
    if (!self || redis_address_parse(url, &self->address, err, errlen) != 0 ||
        !(self->ctx = connect_address(&self->address, err, errlen))) {
        free(self);
        return NULL;
    }
    return self;
}

redis_t *redis_new_waiting(const char *url, volatile int *stop, char *err, size_t errlen)
{
    redis_t *self = redis_new(url, err, errlen);
    if (self)
        return self;
    redis_address_t address;
    if (redis_address_parse(url, &address, err, errlen) != 0)
        return NULL;
    log_warn("%s; waiting for it", err);
    self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->address = address;
    if (redis_reconnect(self, stop) != 0) {
        snprintf(err, errlen, "stopped while waiting for Redis");
        redis_destroy(&self);
    }
    return self;
}

void redis_destroy(redis_t **self_p)
{
    if (!*self_p)
        return;
    redisFree((*self_p)->ctx);
    free(*self_p);
    *self_p = NULL;
}

int redis_reconnect(redis_t *self, volatile int *stop)
{
    redisFree(self->ctx);
    self->ctx = NULL;
    char err[512];
    for (int attempt = 0; !*stop; attempt++) {
        self->ctx = connect_address(&self->address, err, sizeof err);
        if (self->ctx) {
            log_info("reconnected to Redis");
            return 0;
        }
        if (attempt % 25 == 0)
            log_warn("%s; retrying", err);
        nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    }
    return -1;
}

bool redis_lost(const redis_t *self, const redisReply *reply)
{
    return !reply || !self->ctx || self->ctx->err;
}

const char *redis_url_from_env(void)
{
    const char *url = getenv("REDIS_URL");
    return url && *url ? url : NULL;
}
