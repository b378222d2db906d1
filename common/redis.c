/* redis.c -- see redis.h. Connections use a 10 s command timeout so a hung server shows up
 * as an error instead of a silent stall, and AUTH and SELECT on every (re)connect. */
#include "common/redis.h"

#include "common/log.h"
#include "common/options.h"

#include <ctype.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int parse_port_db(const char *s, redis_address_t *a, char *err, size_t errlen)
{
    /* s is what follows the host: "", ":PORT", ":PORT/DB" or "/DB" */
    char number[32];
    int64_t v;
    if (*s == ':') {
        size_t len = strcspn(s + 1, "/");
        snprintf(number, sizeof number, "%.*s", (int) len, s + 1);
        if (len >= sizeof number || !option_parse_int64(number, &v) || v <= 0 || v > 65535) {
            /* not echoed: without its '@', "USER:PASSWORD" reads as "HOST:PORT" */
            snprintf(err, errlen,
                     "bad port in Redis URL (want redis://[USER[:PASSWORD]@]HOST"
                     "[:PORT][/DB], a port from 1 to 65535)");
            return -1;
        }
        a->port = (int) v;
        s += 1 + len;
    }
    if (*s == '/' && s[1]) {
        if (!option_parse_int64(s + 1, &v) || v < 0 || v > INT32_MAX) {
            snprintf(err, errlen, "bad database number in Redis URL (want /DB, 0 or more)");
            return -1;
        }
        a->db = (int) v;
    } else if (*s && strcmp(s, "/") != 0) {
        snprintf(err, errlen,
                 "unexpected text after the host in Redis URL (want redis://"
                 "[USER[:PASSWORD]@]HOST[:PORT][/DB])");
        return -1;
    }
    return 0;
}

/* Copies len bytes of s into out, decoding %XX; -1 when malformed or too long. */
static int percent_decode(const char *s, size_t len, char *out, size_t outlen)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned int byte = (unsigned char) s[i];
        if (s[i] == '%') {
            if (i + 2 >= len || !isxdigit((unsigned char) s[i + 1]) ||
                !isxdigit((unsigned char) s[i + 2]) || sscanf(s + i + 1, "%2x", &byte) != 1)
                return -1;
            i += 2;
        }
        if (byte == 0 || n + 1 >= outlen)
            return -1;
        out[n++] = (char) byte;
    }
    out[n] = '\0';
    return 0;
}

/* Reads "[USER][:PASSWORD]" (len bytes at s) into the address. */
static int parse_credentials(const char *s, size_t len, redis_address_t *a, char *err,
                             size_t errlen)
{
    const char *colon = memchr(s, ':', len);
    size_t user_len = colon ? (size_t) (colon - s) : len;
    if (percent_decode(s, user_len, a->user, sizeof a->user) != 0 ||
        (colon &&
         percent_decode(colon + 1, len - user_len - 1, a->password, sizeof a->password) != 0)) {
        snprintf(err, errlen, "bad user or password in Redis URL (too long, or a bad %%-escape)");
        return -1;
    }
    return 0;
}

static int parse_socket(const char *path, redis_address_t *a, char *err, size_t errlen)
{
    const char *query = strchr(path, '?');
    size_t len = query ? (size_t) (query - path) : strlen(path);
    if (len == 0 || len >= sizeof a->socket || path[0] != '/') {
        snprintf(err, errlen, "bad unix socket path in Redis URL (want unix:///PATH[?db=N])");
        return -1;
    }
    memcpy(a->socket, path, len);
    int64_t db = 0;
    if (query && (strncmp(query, "?db=", 4) != 0 || !option_parse_int64(query + 4, &db) || db < 0 ||
                  db > INT32_MAX)) {
        snprintf(err, errlen, "bad \"%.40s\" in Redis URL (want ?db=N)", query);
        return -1;
    }
    a->db = (int) db;
    return 0;
}

int redis_address_parse(const char *url, redis_address_t *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->port = REDIS_DEFAULT_PORT;
    int rc;
    if (strncmp(url, "unix://", 7) == 0 || url[0] == '/') {
        const char *rest = url[0] == '/' ? url : url + 7;
        const char *at = rest[0] == '/' ? NULL : strstr(rest, "@/");
        if (rest[0] != '/' && !at) {
            snprintf(err, errlen, "bad unix socket URL (want unix://[USER][:PASSWORD]@/PATH)");
            return -1;
        }
        rc = (!at || parse_credentials(rest, (size_t) (at - rest), a, err, errlen) == 0) &&
                     parse_socket(at ? at + 1 : rest, a, err, errlen) == 0
                 ? 0
                 : -1;
    } else {
        const char *host = strncmp(url, "redis://", 8) == 0 ? url + 8 : url;
        const char *at = strrchr(host, '@');
        if (at && parse_credentials(host, (size_t) (at - host), a, err, errlen) != 0)
            return -1;
        host = at ? at + 1 : host;
        size_t len = strcspn(host, ":/");
        if (len == 0 || len >= sizeof a->host) {
            snprintf(err, errlen, "no host in Redis URL");
            return -1;
        }
        memcpy(a->host, host, len);
        rc = parse_port_db(host + len, a, err, errlen);
    }
    const char *password = getenv("REDIS_PASSWORD");
    if (rc == 0 && !a->password[0] && password && *password &&
        snprintf(a->password, sizeof a->password, "%s", password) >= (int) sizeof a->password) {
        snprintf(err, errlen, "$REDIS_PASSWORD is longer than %zu bytes", sizeof a->password - 1);
        rc = -1;
    }
    return rc;
}

void redis_address_format(const redis_address_t *a, bool redact, char *out, size_t outlen)
{
    char credentials[160] = "";
    if (a->user[0] || (redact && a->password[0]))
        snprintf(credentials, sizeof credentials, "%s%s@", a->user,
                 redact && a->password[0] ? ":***" : "");
    if (a->socket[0])
        snprintf(out, outlen, "unix://%s%s?db=%d", credentials, a->socket, a->db);
    else
        snprintf(out, outlen, "redis://%s%s:%d/%d", credentials, a->host, a->port, a->db);
}

redis_error_t redis_error_kind(const redisReply *r)
{
    static const char *const fatal[] = {
        "NOAUTH",   "WRONGPASS",           "NOPERM", "ERR DB index", "ERR invalid DB index",
        "ERR AUTH", "ERR Client sent AUTH"};
    static const char *const transient[] = {"LOADING",     "BUSY",       "OOM",
                                            "READONLY",    "MASTERDOWN", "TRYAGAIN",
                                            "CLUSTERDOWN", "MISCONF",    "NOREPLICAS"};
    if (!r || r->type != REDIS_REPLY_ERROR)
        return REDIS_ERROR_NONE;
    for (size_t i = 0; i < sizeof fatal / sizeof *fatal; i++)
        if (strncmp(r->str, fatal[i], strlen(fatal[i])) == 0)
            return REDIS_ERROR_FATAL;
    for (size_t i = 0; i < sizeof transient / sizeof *transient; i++)
        if (strncmp(r->str, transient[i], strlen(transient[i])) == 0)
            return REDIS_ERROR_TRANSIENT;
    return REDIS_ERROR_COMMAND;
}

/* The first command of a connection: AUTH when there is a password, then SELECT DB, or a
 * PING, so that a server that wants a password says so now (NOAUTH) and not at the first
 * real command. 0, or -1 with err set and *fatal when waiting will not help. */
static int greet(redisContext *ctx, const redis_address_t *a, const char *where, char *err,
                 size_t errlen, bool *fatal)
{
    redisReply *r = NULL;
    const char *doing = "AUTH";
    if (a->password[0])
        r = a->user[0] ? redisCommand(ctx, "AUTH %s %s", a->user, a->password)
                       : redisCommand(ctx, "AUTH %s", a->password);
    if (!a->password[0] || (r && r->type != REDIS_REPLY_ERROR)) {
        freeReplyObject(r);
        doing = a->db ? "SELECT" : "PING";
        r = a->db ? redisCommand(ctx, "SELECT %d", a->db) : redisCommand(ctx, "PING");
    }
    int rc = r && r->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (rc != 0) {
        *fatal = redis_error_kind(r) == REDIS_ERROR_FATAL; /* not "max clients", say */
        snprintf(err, errlen, "Redis at %s: %s failed: %s", where, doing, r ? r->str : ctx->errstr);
    }
    freeReplyObject(r);
    return rc;
}

static redisContext *connect_address(const redis_address_t *a, char *err, size_t errlen,
                                     bool *fatal)
{
    struct timeval timeout = {10, 0};
    struct timeval connect_timeout = {2, 0};
    *fatal = false;
    redisContext *ctx = a->socket[0] ? redisConnectUnixWithTimeout(a->socket, connect_timeout)
                                     : redisConnectWithTimeout(a->host, a->port, connect_timeout);
    char where[600];
    redis_address_format(a, true, where, sizeof where);
    if (!ctx || ctx->err) {
        snprintf(err, errlen, "cannot connect to Redis at %s: %s", where,
                 ctx ? ctx->errstr : "out of memory");
        redisFree(ctx);
        return NULL;
    }
    redisSetTimeout(ctx, timeout);
    if (greet(ctx, a, where, err, errlen, fatal) != 0) {
        redisFree(ctx);
        return NULL;
    }
    return ctx;
}

/* Ends the process on a fatal error: waiting would only repeat it. */
static void die(const char *err)
{
    log_error("%s; stopping (fatal: check the Redis URL's user and password, "
              "$REDIS_PASSWORD, and the user's rights)",
              err);
    _exit(1);
}

/* Connects once; *fatal when the failure is one waiting will not cure. */
static redis_t *connect_url(const char *url, char *err, size_t errlen, bool *fatal)
{
    redis_t *self = calloc(1, sizeof *self);
    *fatal = true;
    if (!self || redis_address_parse(url, &self->address, err, errlen) != 0 ||
        !(self->ctx = connect_address(&self->address, err, errlen, fatal))) {
        free(self);
        return NULL;
    }
    return self;
}

redis_t *redis_new(const char *url, char *err, size_t errlen)
{
    bool fatal;
    return connect_url(url, err, errlen, &fatal);
}

redis_t *redis_new_waiting(const char *url, volatile int *stop, char *err, size_t errlen)
{
    bool fatal;
    redis_t *self = connect_url(url, err, errlen, &fatal);
    if (self || fatal)
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

int redis_reconnect_once(redis_t *self, char *err, size_t errlen)
{
    redisFree(self->ctx);
    self->ctx = NULL;
    bool fatal;
    self->ctx = connect_address(&self->address, err, errlen, &fatal);
    if (fatal)
        die(err);
    if (!self->ctx)
        return -1;
    log_info("reconnected to Redis");
    return 0;
}

int redis_reconnect(redis_t *self, volatile int *stop)
{
    if (self->ctx && !self->ctx->err)
        nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    redisFree(self->ctx);
    self->ctx = NULL; /* none at all, should a stop come before the next connection */
    char err[512];
    for (int attempt = 0; !*stop; attempt++) {
        if (redis_reconnect_once(self, err, sizeof err) == 0)
            return 0;
        if (attempt % 25 == 0)
            log_warn("%s; retrying", err);
        nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    }
    return -1;
}

bool redis_lost(const redis_t *self, const redisReply *reply)
{
    if (redis_error_kind(reply) == REDIS_ERROR_FATAL) {
        char where[600], err[1024];
        redis_address_format(&self->address, true, where, sizeof where);
        snprintf(err, sizeof err, "Redis at %s: %s", where, reply->str);
        die(err);
    }
    return !reply || !self->ctx || self->ctx->err;
}

const redisReply *redis_field(const redisReply *reply, const char *name)
{
    for (size_t i = 0; reply && reply->type == REDIS_REPLY_ARRAY && i + 1 < reply->elements; i += 2)
        if (reply->element[i]->str && strcmp(reply->element[i]->str, name) == 0)
            return reply->element[i + 1];
    return NULL;
}
