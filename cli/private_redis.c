/* private_redis.c -- see private_redis.h. The server takes fruitstream's Redis settings
 * from deploy/redis.conf, which says why each; the build embeds that file, and each of its
 * lines becomes a `--name value...` argument of redis-server, after the address and before
 * the logging that are this server's own. jemalloc is asked for huge pages too
 * (MALLOC_CONF=thp:always, as that file says), unless the caller set a MALLOC_CONF.
 *
 * One server per directory. Two servers over one append-only file would both append to it,
 * and one that starts while the other is halfway through a write finds a short last
 * command and truncates the file there (Redis's aof-load-truncated), under the other's
 * feet: the next start then fails on a broken command. So whoever starts the server first
 * takes an flock on DIR/fruitstream.lock and writes the server's URL into it, and the
 * server inherits that descriptor: the lock lasts while either lives (a server whose
 * parent was killed is sent SIGTERM, and holds it until it has flushed its file and
 * exited) and goes with the last of them, whatever the way it ends. A pipeline
 * (private_redis_new) refuses a directory in use; the commands that only read
 * (private_redis_resolve) use the server already there. The lock file is opened without
 * following a link or blocking, and must be a regular file, so that nothing planted in the
 * directory makes a command hang. */
#include "cli/private_redis.h"

#include "common/config.h"
#include "common/defer.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/stop.h"
#include "deploy/redis.conf.h" /* redis_conf: deploy/redis.conf, embedded by the build */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOCK_FILE "fruitstream.lock"
#define START_TRIES 300 /* of 100 ms: 30 s, as a big append-only file takes a while */
#define ARGS_MAX 64     /* redis-server's arguments, ours and deploy/redis.conf's */

struct private_redis_t {
    pid_t pid;   /* our server, or 0 for one already running over the directory */
    int lock_fd; /* DIR/fruitstream.lock, locked, when the server is ours; else -1 */
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

static void pause_100ms(void)
{
    nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
}

/* Opens data_dir's lock file with `flags` (created if missing): never through a link, never
 * blocking, and only a regular file. The descriptor, or -1 with the reason logged. */
static int open_lock_file(const char *data_dir, int flags)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/" LOCK_FILE, data_dir) >= (int) sizeof path) {
        log_error("data directory path too long: %s", data_dir);
        return -1;
    }
    int fd = open(path, flags | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        fd = -1;
        errno = EINVAL;
    }
    if (fd < 0)
        log_error("cannot open %s as a regular file: %s", path, strerror(errno));
    return fd;
}

/* Takes data_dir's lock. Returns its descriptor (close-on-exec), or -1 with errno
 * EWOULDBLOCK when another process holds it, or another errno (logged) when it cannot be
 * tried. */
static int lock_dir(const char *data_dir)
{
    int fd = open_lock_file(data_dir, O_RDWR);
    if (fd < 0) {
        errno = EINVAL;
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e != EWOULDBLOCK)
            log_error("cannot lock %s/" LOCK_FILE ": %s", data_dir, strerror(e));
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The URL of the server running over data_dir, as its starter wrote it into the lock
 * file, into url; false while there is none (not yet written, or not one of ours). */
static bool holder_url(const char *data_dir, char *url, size_t len)
{
    int fd = open_lock_file(data_dir, O_RDONLY);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, url, len - 1);
    close(fd);
    if (n <= 0)
        return false;
    url[n] = '\0';
    char *end = strchr(url, '\n');
    if (!end || strncmp(url, "unix:///", 8) != 0)
        return false;
    *end = '\0';
    return true;
}

/* redis-server's command line for a server over data_dir on socket_path: the address, the
 * settings of deploy/redis.conf, the logging. Each line `name value...` of the file becomes
 * `--name value...`, and `""` an empty argument; comments and blank lines are skipped. Made
 * before the fork, so that the child only execs. */
typedef struct {
    const char *argv[ARGS_MAX];
    char conf[sizeof redis_conf];
    char options[ARGS_MAX][48]; /* "--name" of each setting */
} server_args_t;

static void server_args(server_args_t *a, const char *socket_path, const char *data_dir)
{
    const char *head[] = {"redis-server", "--port", "0",     "--unixsocket",
                          socket_path,    "--dir",  data_dir};
    const char *tail[] = {"--loglevel", "warning", "--logfile", "redis.log", NULL};
    const int max = ARGS_MAX - (int) (sizeof tail / sizeof *tail);
    int argc = 0, settings = 0;
    for (size_t i = 0; i < sizeof head / sizeof *head; i++)
        a->argv[argc++] = head[i];
    memcpy(a->conf, redis_conf, sizeof redis_conf);
    char *line_end = NULL;
    for (char *line = strtok_r(a->conf, "\n", &line_end); line;
         line = strtok_r(NULL, "\n", &line_end)) {
        char *word_end = NULL, *name = strtok_r(line, " \t", &word_end);
        if (!name || name[0] == '#' || argc >= max)
            continue;
        snprintf(a->options[settings], sizeof a->options[settings], "--%s", name);
        a->argv[argc++] = a->options[settings++];
        for (char *word = strtok_r(NULL, " \t", &word_end); word && argc < max;
             word = strtok_r(NULL, " \t", &word_end))
            a->argv[argc++] = strcmp(word, "\"\"") == 0 ? "" : word;
    }
    for (size_t i = 0; i < sizeof tail / sizeof *tail; i++)
        a->argv[argc++] = tail[i];
}

/* Starts our server over data_dir, whose lock self->lock_fd holds. */
static bool start_server(private_redis_t *self, const char *data_dir)
{
    snprintf(self->socket_path, sizeof self->socket_path, "/tmp/fruitstream-%d.redis.sock",
             (int) getpid());
    snprintf(self->url, sizeof self->url, "unix://%s", self->socket_path);
    char line[sizeof self->url + 1];
    int n = snprintf(line, sizeof line, "%s\n", self->url);
    if (ftruncate(self->lock_fd, 0) != 0 || pwrite(self->lock_fd, line, (size_t) n, 0) != n) {
        log_error("cannot write %s/" LOCK_FILE ": %s", data_dir, strerror(errno));
        return false;
    }
    static server_args_t args;
    server_args(&args, self->socket_path, data_dir);
    pid_t parent = getpid();
    self->pid = fork();
    if (self->pid == 0) {
        signal(SIGINT, SIG_IGN);          /* Ctrl-C is for our parent, which stops us in order */
        stop_with_parent(parent);         /* SIGTERM: Redis flushes its file and exits */
        fcntl(self->lock_fd, F_SETFD, 0); /* the server holds the lock too (see the top) */
        defer_to_workers();
        setenv("MALLOC_CONF", "thp:always", 0); /* huge pages (deploy/redis.conf) */
        execvp("redis-server", (char **) args.argv);
        fprintf(stderr, "fruitstream: cannot start redis-server: %s\n", strerror(errno));
        _exit(127);
    }
    for (int i = 0; self->pid > 0 && i < START_TRIES; i++) {
        if (answers(self->url)) {
            log_info("private Redis on %s, data in %s", self->socket_path, data_dir);
            return true;
        }
        if (waitpid(self->pid, NULL, WNOHANG) == self->pid) {
            log_error("redis-server exited at start; see %s/redis.log", data_dir);
            self->pid = 0;
            return false;
        }
        pause_100ms();
    }
    if (self->pid > 0)
        log_error("redis-server did not answer on %s", self->socket_path);
    return false;
}

/* data_dir's server: a new one of ours, or with `join` the one already running over it
 * (waiting while it starts). NULL with the reason logged. */
static private_redis_t *open_dir(const char *data_dir, bool join)
{
    if (mkdir(data_dir, 0755) != 0 && errno != EEXIST) {
        log_error("cannot create data directory %s: %s", data_dir, strerror(errno));
        return NULL;
    }
    private_redis_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->lock_fd = -1;
    unsetenv("REDIS_PASSWORD"); /* our own server wants none, nor do the roles we start */
    bool in_use = false;
    for (int i = 0; i < START_TRIES; i++) {
        if ((self->lock_fd = lock_dir(data_dir)) >= 0) {
            if (!start_server(self, data_dir))
                private_redis_destroy(&self);
            return self;
        }
        if (!(in_use = errno == EWOULDBLOCK))
            break;
        bool named = holder_url(data_dir, self->url, sizeof self->url);
        if (!join) {
            log_error("data directory %s is in use by another fruitstream (its Redis: %s); "
                      "name that Redis with --redis, or choose another --data-dir",
                      data_dir, named ? self->url : "starting");
            break;
        }
        if (named && answers(self->url)) {
            log_info("data directory %s is in use: reading from its Redis at %s", data_dir,
                     self->url);
            return self;
        }
        pause_100ms();
    }
    if (join && in_use)
        log_error("data directory %s is in use, and its Redis did not answer", data_dir);
    free(self);
    return NULL;
}

private_redis_t *private_redis_new(const char *data_dir)
{
    return open_dir(data_dir, false);
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
    if (self->lock_fd >= 0)
        close(self->lock_fd);
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

void private_redis_reaped(private_redis_t *self)
{
    self->pid = 0;
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
    *started = open_dir(data_dir, true);
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
