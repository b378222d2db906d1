/* redis.h -- where Redis is, and a connection to it that comes back after a restart.
 *
 * Addresses are URLs: redis://[USER][:PASSWORD]@HOST[:PORT][/DB],
 * unix://[USER][:PASSWORD]@/PATH[?db=DB] (unix:///PATH[?db=DB] without credentials), or a
 * bare PATH to a socket. USER and PASSWORD may be %-encoded. Without a password in the URL,
 * $REDIS_PASSWORD is used. With a password, every connection starts with AUTH (AUTH USER
 * PASSWORD for an ACL user), then SELECT DB, or PING: a connection that works is one
 * Redis accepted. A password is never printed: addresses in messages show it as ***.
 *
 * A redis_t remembers its address; when a command fails with an I/O error (Redis
 * restarted, connection dropped) the caller calls redis_reconnect, which retries until it
 * succeeds or the process is asked to stop. Fatal replies (NOAUTH, WRONGPASS, NOPERM: wrong
 * credentials or rights; a database that does not exist) are not cured by waiting:
 * redis_reconnect and redis_lost end the process there, with one error line and status 1
 * (what was in flight stays pending in Redis). Commands themselves are plain hiredis calls
 * on redis->ctx, so what each caller sends stays visible where it is sent. */
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
    char user[128];     /* ACL user, or empty for "default" */
    char password[256]; /* empty: no AUTH */
} redis_address_t;

typedef struct {
    redis_address_t address;
    redisContext *ctx;
} redis_t;

/* Parses url (and $REDIS_PASSWORD when it has no password). Errors never quote a password. */
int redis_address_parse(const char *url, redis_address_t *address, char *err, size_t errlen);
/* "redis://127.0.0.1:6379/0" or "unix:///tmp/x.sock?db=0". With a password: redact puts
 * "USER:***@" for messages; otherwise the password is left out (a child process gets it in
 * $REDIS_PASSWORD, where other users cannot read it as they can a command line). */
void redis_address_format(const redis_address_t *address, bool redact, char *out, size_t outlen);

/* The kinds of error reply: the command's own fault (a bad argument), Redis's passing state
 * (loading, out of memory, read-only replica...: try again later), or fatal (see above). */
typedef enum {
    REDIS_ERROR_NONE,
    REDIS_ERROR_COMMAND,
    REDIS_ERROR_TRANSIENT,
    REDIS_ERROR_FATAL
} redis_error_t;
redis_error_t redis_error_kind(const redisReply *reply);

/* Connects once; NULL with a reason on failure. */
redis_t *redis_new(const char *url, char *err, size_t errlen);
/* Connects, waiting for Redis to come up if it is not there yet; NULL with a reason only
 * for a malformed URL or when *stop becomes non-zero first. */
redis_t *redis_new_waiting(const char *url, volatile int *stop, char *err, size_t errlen);
void redis_destroy(redis_t **self_p);
/* Drops the connection and connects again, retrying every 200 ms (logging every few
 * seconds) until it works or *stop becomes non-zero. Called on a connection that was still
 * sound (Redis answered, with an error: full, loading, or refusing the data), it first waits
 * 200 ms, so that a caller retrying a refused command never spins. Returns 0 when
 * connected; otherwise the redis_t has no connection (ctx NULL). */
int redis_reconnect(redis_t *self, volatile int *stop);
/* One attempt of the above, for a loop with other work to do: 0 when connected, else -1
 * with why in err and no connection. */
int redis_reconnect_once(redis_t *self, char *err, size_t errlen);
/* True when a reply means the connection is gone (NULL reply or context error). A fatal
 * error reply ends the process here, saying what and where. */
bool redis_lost(const redis_t *self, const redisReply *reply);

/* The value of field `name` in a flat name/value array reply (HGETALL, the fields of a
 * stream entry), or NULL when the reply is not such an array or has no such field. */
const redisReply *redis_field(const redisReply *reply, const char *name);

#endif
