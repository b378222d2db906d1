/* private_redis.c -- see private_redis.h. The server's append-only file is rewritten only
 * past 1 GB and without compression: our data is mostly stored once and never changed, and
 * the float features do not compress, so early rewrites would burn a core for nothing. */
#include "cli/private_redis.h"

#include "common/config.h"
#include "common/defer.h"
#include "common/log.h"
#include "common/redis.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct private_redis_t {
    pid_t pid;
    char socket_path[108];
    char url[128];
};

static bool answers(const char *url)
{
    char err[256];
    redis_t *probe = redis_new(url, err, sizeof err);
    if (!probe)
        return false;
    redisReply *r = redisCommand(probe->ctx, "PING");
    bool ready = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    redis_destroy(&probe);
    return ready;
}

private_redis_t *private_redis_new(const char *data_dir)
{
    if (mkdir(data_dir, 0755) != 0 && errno != EEXIST) {
        log_error("cannot create data directory %s: %s", data_dir, strerror(errno));
        return NULL;
    }
    private_redis_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    unsetenv("REDIS_PASSWORD"); /* our own server wants none, nor do the roles we start */
    snprintf(self->socket_path, sizeof self->socket_path, "/tmp/fruitstream-%d.redis.sock",
             (int) getpid());
    snprintf(self->url, sizeof self->url, "unix://%s", self->socket_path);
    self->pid = fork();
    if (self->pid == 0) {
        signal(SIGINT, SIG_IGN); /* Ctrl-C is for our parent, which stops us in order */
        defer_to_workers();
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", self->socket_path,
               "--dir", data_dir, "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
               "--auto-aof-rewrite-min-size", "1gb", "--rdbcompression", "no", "--loglevel",
               "warning", "--logfile", "redis.log", (char *) NULL);
        fprintf(stderr, "fruitstream: cannot start redis-server: %s\n", strerror(errno));
        _exit(127);
    }
    for (int i = 0; self->pid > 0 && i < 300; i++) { /* 30 s: a big AOF takes a while */
        if (answers(self->url)) {
            log_info("private Redis on %s, data in %s", self->socket_path, data_dir);
            return self;
        }
        if (waitpid(self->pid, NULL, WNOHANG) == self->pid) {
            log_error("redis-server exited at start; see %s/redis.log", data_dir);
            self->pid = 0;
            break;
        }
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    if (self->pid > 0)
        log_error("redis-server did not answer on %s", self->socket_path);
    private_redis_destroy(&self);
    return NULL;
}

void private_redis_destroy(private_redis_t **self_p)
{
    private_redis_t *self = *self_p;
    if (!self)
        return;
    if (self->pid > 0) {
        kill(self->pid, SIGTERM);
        waitpid(self->pid, NULL, 0);
    }
    free(self);
    *self_p = NULL;
}

const char *private_redis_url(const private_redis_t *self)
{
    return self->url;
}

pid_t private_redis_pid(const private_redis_t *self)
{
    return self->pid;
}

const char *private_redis_resolve(const char *url, const char *data_dir, private_redis_t **started)
{
    *started = NULL;
    if (url)
        return url;
    if ((url = config_redis_url()))
        return url;
    struct stat st;
    if (!data_dir && stat(PRIVATE_REDIS_DEFAULT_DIR "/appendonlydir", &st) == 0)
        data_dir = PRIVATE_REDIS_DEFAULT_DIR;
    if (!data_dir)
        return CONFIG_REDIS_DEFAULT;
    *started = private_redis_new(data_dir);
    return *started ? private_redis_url(*started) : NULL;
}

redis_t *private_redis_connect(const char *url, const char *data_dir, private_redis_t **started)
{
    url = private_redis_resolve(url, data_dir, started);
    if (!url)
        return NULL;
    char err[512];
    redis_t *redis = redis_new(url, err, sizeof err);
    if (!redis) {
        log_error("%s", err);
        private_redis_destroy(started);
    }
    return redis;
}
