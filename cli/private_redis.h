/* private_redis.h -- a redis-server of our own, over a data directory that outlives it.
 *
 * `fruitstream run` starts one when no Redis is named, so that results survive the run in
 * --data-dir; `export`, `pca` and `status` start one over the same directory to read them
 * back, or use the one running there. It listens only on a unix socket in /tmp, keeps an
 * append-only file, and is stopped (and so flushed) by private_redis_destroy. There is
 * never more than one per directory (DIR/fruitstream.lock; private_redis.c says why). */
#ifndef FS_PRIVATE_REDIS_H
#define FS_PRIVATE_REDIS_H

#include "common/config.h"
#include "common/options.h"
#include "common/redis.h"

#include <sys/types.h>

#define PRIVATE_REDIS_DEFAULT_DIR "fruitstream-data"

typedef struct private_redis_t private_redis_t;

/* Starts redis-server over data_dir (created if missing) and waits until it answers.
 * NULL with a message logged on failure, or when the directory is in use by another server
 * (the message names it). */
private_redis_t *private_redis_new(const char *data_dir);
/* Stops the server if it is ours (SIGTERM, so it flushes its files) and waits for it. */
void private_redis_destroy(private_redis_t **self_p);
const char *private_redis_url(const private_redis_t *self);
pid_t private_redis_pid(const private_redis_t *self); /* 0 when not ours */
/* The caller has reaped the server (waitpid): destroy must not signal that pid, which the
 * system may have given to another process by then. */
void private_redis_reaped(private_redis_t *self);

/* The Redis a command should use: url if given, else $REDIS_URL, else the server over
 * data_dir (when given, or when the default directory holds a previous run): the one
 * running there, or a private one started for the purpose; else the default address.
 * *started is that server, to destroy afterwards, or NULL. Returns the URL, or NULL when no
 * server over data_dir could be reached or started. */
const char *private_redis_resolve(const char *url, const char *data_dir, private_redis_t **started);

/* private_redis_resolve, then a connection to it; NULL with the reason logged. */
redis_t *private_redis_connect(const char *url, const char *data_dir, private_redis_t **started);

/* `--redis URL` and `--data-dir DIR`, as rows of an option table (common/options.h), for
 * the commands that read what a pipeline stored: url and data_dir are const char ** for
 * private_redis_connect. */
/* clang-format off */
#define PRIVATE_REDIS_OPTIONS(url, data_dir)                                               \
    OPTION_REDIS(url, "Redis (default $REDIS_URL, else the data directory below)"),        \
    OPTION_STRING("data-dir", data_dir, "DIR",                                              \
                  "a `fruitstream run` data directory (default " PRIVATE_REDIS_DEFAULT_DIR \
                  " when it exists, else Redis at " CONFIG_REDIS_DEFAULT ")")
/* clang-format on */

#endif
