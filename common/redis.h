/* redis.h -- where Redis is, and a connection to it that comes back after a restart.
 *
 * Addresses are URLs: redis://HOST[:PORT][/DB], unix://PATH[?db=DB], or a bare PATH to a
 * socket. A redis_t remembers its address; when a command fails with an I/O error (Redis
 * restarted, connection dropped) the caller calls redis_reconnect, which retries until it
 * succeeds or the process is asked to stop. Commands themselves are plain hiredis calls on
 * redis->ctx, so what each caller sends stays visible where it is sent. */
#ifndef FS_REDIS_H
#define FS_REDIS_H

#include <hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#define REDIS_DEFAULT_PORT 6379

typedef struct {
    char host[256];
    int port;
    char socket[256]; /* non-empty for a unix socket */
    int db;
} redis_address_t;

typedef struct {
    redis_address_t address;
    redisContext *ctx;
} redis_t;

int redis_address_parse(const char *url, redis_address_t *address, char *err, size_t errlen);
/* "redis://127.0.0.1:6379/0" or "unix:///tmp/x.sock?db=0", for messages and child processes. */
void redis_address_format(const redis_address_t *address, char *out, size_t outlen);

/* Connects once; NULL with a reason on failure. */
redis_t *redis_new(const char *url, char *err, size_t errlen);
/* Connects, waiting for Redis to come up if it is not there yet; NULL with a reason only
 * for a malformed URL or when *stop becomes non-zero first. */
redis_t *redis_new_waiting(const char *url, volatile int *stop, char *err, size_t errlen);
void redis_destroy(redis_t **self_p);
/* Drops the connection and connects again, retrying every 200 ms (logging every few
 * seconds) until it works or *stop becomes non-zero. Returns 0 when connected. */
int redis_reconnect(redis_t *self, volatile int *stop);
/* True when a reply means the connection is gone (NULL reply or context error). */
bool redis_lost(const redis_t *self, const redisReply *reply);

/* REDIS_URL from the environment, or NULL. */
const char *redis_url_from_env(void);

#endif
