/* watch.c -- see watch.h. One inotify descriptor, non-blocking, read at every turn of the
 * ventilator's loop (which waits at most 100 ms for uploads), so a file is in the stream
 * within about that of being closed. Directories are kept in a table indexed by watch
 * descriptor (the kernel hands them out in increasing order), holding each one's absolute
 * path. Paths to upload wait in `ready` until Redis has taken them, and files found by a
 * scan that changed recently wait in `settling` until they have been quiet for
 * WATCH_QUIET_SECONDS; a kernel queue overflow rescans every root, which the set of
 * uploaded paths makes harmless. */
#include "ventilator/watch.h"

#include "common/folder_set.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/script.h"
#include "common/uploads.h"
#include "ventilator/upload_once.lua.h" /* upload_once_lua, embedded by the build */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WATCH_BATCH 256 /* uploads pipelined in one round trip */
#define DIR_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_ONLYDIR)

/* ventilator/upload_once.lua: a path becomes an upload exactly once. */
static script_t upload_once = {upload_once_lua, ""};

typedef struct {
    char **items;
    size_t count, cap;
} paths_t;

struct watch_t {
    redis_t *redis;
    int fd;
    char *roots[WATCH_MAX_DIRS];
    int nroots;
    char **dirs; /* by watch descriptor */
    int ndirs;
    paths_t ready;
    paths_t settling; /* found by a scan while open for writing: taken once quiet */
};

static int paths_push(paths_t *p, const char *path)
{
    if (p->count == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        char **items = realloc(p->items, cap * sizeof *items);
        if (!items)
            return -1;
        p->items = items;
        p->cap = cap;
    }
    if (!(p->items[p->count] = strdup(path)))
        return -1;
    p->count++;
    return 0;
}

static bool quiet(const struct stat *st)
{
    return time(NULL) - st->st_mtim.tv_sec >= WATCH_QUIET_SECONDS;
}

/* A file found by a scan, not announced by an event. Whether someone still writes it, the
 * kernel knows: a read lease (F_SETLEASE) is refused with EAGAIN while the file is open
 * for writing anywhere. Then it is left alone (its directory is watched already, so its
 * writer's close brings an IN_CLOSE_WRITE); with no writer it is complete and taken now.
 * Where leases are not allowed (a file of another user without CAP_LEASE, some network
 * file systems) it is taken once it has been quiet for WATCH_QUIET_SECONDS. */
/* Queues path for upload; its key is the path, so one longer than a key may be is refused
 * here, said once, rather than cut or sent to be rejected downstream. */
static void make_ready(watch_t *self, const char *path)
{
    if (strlen(path) > KEY_IMAGE_MAX_LEN) {
        log_error("watch: %.80s...: a path of %zu bytes, longer than a key may be (%d)", path,
                  strlen(path), KEY_IMAGE_MAX_LEN);
        return;
    }
    paths_push(&self->ready, path);
}

static void found_file(watch_t *self, const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ELOOP) /* a symbolic link: no lease on what it names */
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    int leased = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? fcntl(fd, F_SETLEASE, F_RDLCK)
                                                            : (errno = EBADF, -1);
    int why = errno;
    if (leased == 0)
        fcntl(fd, F_SETLEASE, F_UNLCK);
    close(fd);
    if (leased == 0)
        make_ready(self, path);
    else if (why == EAGAIN)
        log_debug("watch: %s is being written; taken when closed", path);
    else if (why != EBADF)
        paths_push(&self->settling, path);
}

static void remember_dir(watch_t *self, int wd, const char *path)
{
    if (wd >= self->ndirs) {
        int n = wd + 64;
        char **dirs = realloc(self->dirs, (size_t) n * sizeof *dirs);
        if (!dirs)
            return;
        memset(dirs + self->ndirs, 0, (size_t) (n - self->ndirs) * sizeof *dirs);
        self->dirs = dirs;
        self->ndirs = n;
    }
    if (!self->dirs[wd]) /* a directory seen again (rescan) keeps its descriptor */
        self->dirs[wd] = strdup(path);
}

/* Watches dir (absolute), then takes what it holds, recursively: watching first, so that a
 * file closed during the scan is announced by an event if the scan misses it. A folder
 * already in seen (reached again through a link) is passed over. */
static int walk_tree(watch_t *self, const char *dir, int depth, folder_set_t *seen)
{
    struct stat dir_st;
    int first = stat(dir, &dir_st) == 0 ? folder_set_enter(seen, &dir_st) : 0;
    if (first == 0)
        return 0; /* gone already, or walked already */
    if (first < 0) {
        log_error("cannot watch %s: %s", dir, strerror(errno));
        return -1;
    }
    int wd = inotify_add_watch(self->fd, dir, DIR_EVENTS);
    if (wd < 0) {
        log_error("cannot watch %s: %s%s", dir, strerror(errno),
                  errno == ENOSPC ? " (raise fs.inotify.max_user_watches)" : "");
        return -1;
    }
    remember_dir(self, wd, dir);
    DIR *d = opendir(dir);
    if (!d)
        return 0; /* gone already */
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[PATH_MAX];
        if (e->d_name[0] == '.' || !folder_join(path, sizeof path, dir, e->d_name))
            continue;
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (folder_depth_ok(path, depth + 1))
                rc |= walk_tree(self, path, depth + 1, seen);
        } else if (S_ISREG(st.st_mode) && uploads_is_jpeg_name(e->d_name))
            found_file(self, path);
    }
    closedir(d);
    return rc;
}

/* Walks the tree at dir, each folder in it once. */
static int add_tree(watch_t *self, const char *dir, int depth)
{
    folder_set_t *seen = folder_set_new();
    int rc = seen ? walk_tree(self, dir, depth, seen) : -1;
    folder_set_destroy(&seen);
    return rc;
}

watch_t *watch_new(redis_t *redis)
{
    watch_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->redis = redis;
    self->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (self->fd < 0) {
        log_error("inotify: %s", strerror(errno));
        free(self);
        return NULL;
    }
    return self;
}

void watch_destroy(watch_t **self_p)
{
    watch_t *self = *self_p;
    if (!self)
        return;
    close(self->fd);
    for (int i = 0; i < self->nroots; i++)
        free(self->roots[i]);
    for (int i = 0; i < self->ndirs; i++)
        free(self->dirs[i]);
    free(self->dirs);
    for (size_t i = 0; i < self->ready.count; i++)
        free(self->ready.items[i]);
    free(self->ready.items);
    for (size_t i = 0; i < self->settling.count; i++)
        free(self->settling.items[i]);
    free(self->settling.items);
    free(self);
    *self_p = NULL;
}

int watch_add(watch_t *self, const char *dir)
{
    char absolute[PATH_MAX];
    struct stat st;
    if (!realpath(dir, absolute) || stat(absolute, &st) != 0 || !S_ISDIR(st.st_mode)) {
        log_error("--watch %s: %s", dir, errno ? strerror(errno) : "not a folder");
        return -1;
    }
    if (self->nroots == WATCH_MAX_DIRS) {
        log_error("--watch %s: at most %d folders", dir, WATCH_MAX_DIRS);
        return -1;
    }
    if (!(self->roots[self->nroots] = strdup(absolute)))
        return -1;
    self->nroots++;
    int rc = add_tree(self, absolute, 0);
    if (rc == 0)
        log_info("watching %s: %zu files to take, %zu settling", absolute, self->ready.count,
                 self->settling.count);
    return rc;
}

/* A folder moved away: its watches (and its subfolders') go, since the paths they stand for
 * are no longer where its files are. Moved within the tree, it is watched again under its
 * new path by the IN_MOVED_TO that follows. */
static void forget_tree(watch_t *self, const char *path)
{
    size_t n = strlen(path);
    for (int wd = 0; wd < self->ndirs; wd++) {
        const char *dir = self->dirs[wd];
        if (dir && strncmp(dir, path, n) == 0 && (dir[n] == '\0' || dir[n] == '/')) {
            inotify_rm_watch(self->fd, wd); /* its IN_IGNORED comes later, to no effect */
            free(self->dirs[wd]);
            self->dirs[wd] = NULL;
        }
    }
}

static void on_event(watch_t *self, const struct inotify_event *ev)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        log_warn("inotify queue overflowed; rescanning the watched folders");
        for (int i = 0; i < self->nroots; i++)
            add_tree(self, self->roots[i], 0);
        return;
    }
    if (ev->mask & IN_IGNORED) { /* the directory is gone */
        if (ev->wd >= 0 && ev->wd < self->ndirs) {
            free(self->dirs[ev->wd]);
            self->dirs[ev->wd] = NULL;
        }
        return;
    }
    if (ev->wd < 0 || ev->wd >= self->ndirs || !self->dirs[ev->wd] || !ev->len ||
        ev->name[0] == '.')
        return;
    char path[PATH_MAX];
    if (!folder_join(path, sizeof path, self->dirs[ev->wd], ev->name))
        return;
    if (ev->mask & IN_ISDIR) {
        if (ev->mask & IN_MOVED_FROM)
            forget_tree(self, path);
        if (ev->mask & (IN_CREATE | IN_MOVED_TO))
            add_tree(self, path, 1);
    } else if ((ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) && uploads_is_jpeg_name(ev->name)) {
        make_ready(self, path);
    }
}

static void read_events(watch_t *self)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(self->fd, buf, sizeof buf);
        if (n <= 0)
            return;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *) p;
            on_event(self, ev);
            p += sizeof *ev + ev->len;
        }
    }
}

/* Moves the settling files that have been quiet long enough to ready. */
static void check_settling(watch_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->settling.count; i++) {
        char *path = self->settling.items[i];
        struct stat st;
        if (stat(path, &st) != 0) {
            free(path);
            continue;
        }
        if (quiet(&st)) {
            make_ready(self, path);
            free(path);
            continue;
        }
        self->settling.items[kept++] = path;
    }
    self->settling.count = kept;
}

/* Uploads up to WATCH_BATCH ready paths in one pipelined round trip. */
static int upload_ready(watch_t *self)
{
    while (self->ready.count > 0) {
        size_t n = self->ready.count < WATCH_BATCH ? self->ready.count : WATCH_BATCH;
        char **batch = self->ready.items + self->ready.count - n;
        if (script_load(&upload_once, self->redis) != 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            char label[256];
            uploads_label_from_path(batch[i], label, sizeof label);
            const char *argv[] = {KEY_WATCHED, KEY_UPLOADS, KEY_COUNTERS, batch[i], label};
            const size_t lens[] = {strlen(argv[0]), strlen(argv[1]), strlen(argv[2]),
                                   strlen(batch[i]), strlen(label)};
            if (script_append(&upload_once, self->redis, 3, 5, argv, lens) != 0)
                return -1;
        }
        bool unknown = false;
        for (size_t i = 0; i < n; i++) {
            redisReply *r = NULL;
            if (redisGetReply(self->redis->ctx, (void **) &r) != REDIS_OK)
                return -1; /* the whole batch is tried again: SADD makes that harmless */
            if (script_unknown(&upload_once, r))
                unknown = true;
            else if (r->type == REDIS_REPLY_ERROR) /* this file only; not worth retrying */
                log_error("watch: uploading %s: %s", batch[i], r->str);
            else if (r->type == REDIS_REPLY_INTEGER && r->integer == 1)
                log_debug("watch: uploaded %s", batch[i]);
            freeReplyObject(r);
        }
        if (unknown) /* Redis restarted: load the script and send the batch again */
            continue;
        for (size_t i = 0; i < n; i++)
            free(batch[i]);
        self->ready.count -= n;
    }
    return 0;
}

int watch_poll(watch_t *self)
{
    read_events(self);
    if (self->settling.count > 0)
        check_settling(self);
    if (self->ready.count == 0)
        return 0;
    if (!self->redis->ctx || self->redis->ctx->err)
        return -1;
    return upload_ready(self);
}
