/* image_reader.c -- see image_reader.h.
 *
 * A path is trusted only once resolved: realpath gives where it really leads, which must lie
 * inside an allowed folder (resolved once, at the start) and be a regular file before it is
 * opened, since opening a FIFO or a device can block or do something. Between that check
 * and the open the file can be swapped, so it is opened without following a link and
 * without blocking, and checked again once open: its type and size by fstat, where the
 * descriptor really points by /proc/self/fd. It is then read to the size fstat gave, plus
 * one byte to see whether it grew. A blob is read only from our own prefix, its length
 * asked first so that a huge value is refused before it is fetched. */
#include "ventilator/image_reader.h"

#include "common/keys.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct image_reader_t {
    int64_t max_bytes;
    char *image;             /* max_bytes + 1: the bytes of the last image loaded */
    char (*roots)[PATH_MAX]; /* the allowed folders, resolved */
    int nroots;
};

image_reader_t *image_reader_new(const char *const *folders, int nfolders, int64_t max_bytes)
{
    image_reader_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max_bytes = max_bytes;
    self->image = malloc((size_t) max_bytes + 1);
    self->roots = calloc(nfolders > 0 ? (size_t) nfolders : 1, sizeof *self->roots);
    if (!self->image || !self->roots) {
        log_error("out of memory for a %lld-byte image buffer", (long long) max_bytes);
        image_reader_destroy(&self);
        return NULL;
    }
    for (; self->nroots < nfolders; self->nroots++) {
        const char *folder = folders[self->nroots];
        char *resolved = self->roots[self->nroots];
        struct stat st;
        const char *why = !realpath(folder, resolved) || stat(resolved, &st) != 0 ? strerror(errno)
                          : !S_ISDIR(st.st_mode)                                  ? "not a folder"
                                                                                  : NULL;
        if (why) {
            log_error("--allow-path %s: %s", folder, why);
            image_reader_destroy(&self);
            return NULL;
        }
    }
    return self;
}

void image_reader_destroy(image_reader_t **self_p)
{
    image_reader_t *self = *self_p;
    if (!self)
        return;
    free(self->image);
    free(self->roots);
    free(self);
    *self_p = NULL;
}

/* True when the resolved path lies inside one of the allowed folders. */
static bool allowed(const image_reader_t *self, const char *resolved)
{
    for (int i = 0; i < self->nroots; i++) {
        size_t len = strlen(self->roots[i]);
        if (strncmp(resolved, self->roots[i], len) == 0 &&
            (resolved[len] == '/' || (len == 1 && resolved[0] == '/')))
            return true;
    }
    return false;
}

/* Reads the blob an entry names, if it is one of ours and not too large. */
static int load_blob(image_reader_t *self, redis_t *redis, const redisReply *blob,
                     wire_task_t *task)
{
    if (blob->len <= strlen(KEY_BLOB_PREFIX) || strlen(blob->str) != blob->len ||
        strncmp(blob->str, KEY_BLOB_PREFIX, strlen(KEY_BLOB_PREFIX)) != 0) {
        snprintf(task->error, sizeof task->error, "blob \"%.64s\" is not a %s* key", blob->str,
                 KEY_BLOB_PREFIX);
        return 0;
    }
    redisReply *r = redisCommand(redis->ctx, "STRLEN %b", blob->str, blob->len);
    if (redis_lost(redis, r)) {
        freeReplyObject(r);
        return -1;
    }
    long long len = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    if (len <= 0 || len > self->max_bytes) {
        snprintf(task->error, sizeof task->error, "blob %.200s: %s", blob->str,
                 len < 0    ? "not a string"
                 : len == 0 ? "missing or empty"
                            : "too large");
        return 0;
    }
    /* at most max_bytes + 1 bytes, however much the blob has grown since STRLEN */
    r = redisCommand(redis->ctx, "GETRANGE %b 0 %lld", blob->str, blob->len,
                     (long long) self->max_bytes);
    if (redis_lost(redis, r)) {
        freeReplyObject(r);
        return -1;
    }
    if (r->type == REDIS_REPLY_STRING && r->len > 0 && (int64_t) r->len <= self->max_bytes) {
        memcpy(self->image, r->str, r->len);
        task->image = (const uint8_t *) self->image;
        task->image_len = r->len;
    } else {
        snprintf(task->error, sizeof task->error, "blob %.200s: changed while read", blob->str);
    }
    freeReplyObject(r);
    return 0;
}

/* Why the file at path may not be read, or NULL; resolved is its real path. A FIFO, a
 * device or a folder is refused before it is opened: opening some of them blocks or
 * does something. */
static const char *refuse_path(const image_reader_t *self, const char *path, char *resolved)
{
    struct stat st;
    if (!realpath(path, resolved))
        return strerror(errno);
    if (!allowed(self, resolved))
        return "not inside a folder the ventilator may read (--allow-path)";
    if (stat(resolved, &st) != 0)
        return strerror(errno);
    return S_ISREG(st.st_mode) ? NULL : "not a regular file";
}

/* Reads a regular file inside the allowed folders: opened without blocking and without
 * following a link put in its place since, checked again once open (type, size, where the
 * descriptor really points), then read to the size fstat gave. */
static void load_file(image_reader_t *self, const char *path, wire_task_t *task)
{
    char resolved[PATH_MAX], opened[PATH_MAX + 1], fd_path[64];
    const char *why = refuse_path(self, path, resolved);
    int fd = why ? -1 : open(resolved, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    if (!why && fd < 0)
        why = strerror(errno);
    if (!why && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)))
        why = "not a regular file";
    if (!why) {
        snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(fd_path, opened, sizeof opened - 1);
        opened[n > 0 ? n : 0] = '\0';
        if (n <= 0) /* no /proc: what was opened cannot be checked, so it is not read */
            why = "cannot tell which file was opened (/proc/self/fd)";
        else if (!allowed(self, opened))
            why = "not inside a folder the ventilator may read (--allow-path)";
    }
    if (!why && st.st_size > self->max_bytes)
        why = "larger than --max-image-bytes";
    size_t got = 0;
    while (!why && got <= (size_t) st.st_size) { /* one byte more: did it grow? */
        ssize_t n = read(fd, self->image + got, (size_t) st.st_size + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            why = strerror(errno);
        else if (n == 0)
            break;
        got += (size_t) n;
    }
    if (!why && got != (size_t) st.st_size)
        why = "changed while read";
    if (fd >= 0)
        close(fd);
    if (why)
        snprintf(task->error, sizeof task->error, "%.200s: %s", path, why);
    task->image = (const uint8_t *) self->image;
    task->image_len = why ? 0 : got;
}

int image_reader_load(image_reader_t *self, redis_t *redis, const redisReply *fields,
                      wire_task_t *task)
{
    const redisReply *path = redis_field(fields, "path"), *blob = redis_field(fields, "blob");
    if (blob)
        return load_blob(self, redis, blob, task);
    if (!path)
        snprintf(task->error, sizeof task->error, "upload entry has neither path nor blob");
    else if (strlen(path->str) != path->len)
        snprintf(task->error, sizeof task->error, "path holds a NUL byte");
    else
        load_file(self, path->str, task);
    return 0;
}
