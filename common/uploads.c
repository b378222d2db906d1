/* uploads.c -- see uploads.h. Commands are appended to the connection and their replies
 * collected every UPLOADS_PIPELINE entries, so a folder of 100,000 images goes in a few
 * seconds with bounded memory: the tree is walked one directory at a time (sorted, so two
 * runs enqueue in the same order) and nothing is kept once sent. */
#include "common/uploads.h"

#include "common/folder_set.h"
#include "common/keys.h"
#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define UPLOADS_PIPELINE 256

struct uploads_t {
    redis_t *redis;
    int pending;  /* replies not yet read */
    long count;   /* entries queued */
    long refused; /* keys refused (too long, empty) */
    int failed;   /* a reply was an error */
};

uploads_t *uploads_new(redis_t *redis)
{
    uploads_t *self = calloc(1, sizeof *self);
    if (self)
        self->redis = redis;
    return self;
}

void uploads_destroy(uploads_t **self_p)
{
    if (!*self_p)
        return;
    uploads_flush(*self_p);
    free(*self_p);
    *self_p = NULL;
}

int uploads_ensure_group(redis_t *redis)
{
    redisReply *r =
        redisCommand(redis->ctx, "XGROUP CREATE %s %s 0 MKSTREAM", KEY_UPLOADS, GROUP_VENTILATORS);
    int ok = r && (r->type != REDIS_REPLY_ERROR || strncmp(r->str, "BUSYGROUP", 9) == 0);
    if (!ok)
        log_error("XGROUP CREATE %s %s: %s", KEY_UPLOADS, GROUP_VENTILATORS,
                  r ? r->str : redis->ctx->errstr);
    freeReplyObject(r);
    return ok ? 0 : -1;
}

int uploads_flush(uploads_t *self)
{
    for (; self->pending > 0; self->pending--) {
        redisReply *r = NULL;
        if (redisGetReply(self->redis->ctx, (void **) &r) != REDIS_OK) {
            log_error("upload failed: %s", self->redis->ctx->errstr);
            self->pending = 0;
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            log_error("upload failed: %s", r->str);
            self->failed = 1;
        }
        freeReplyObject(r);
    }
    int rc = self->failed ? -1 : 0;
    self->failed = 0;
    return rc;
}

static int after_append(uploads_t *self, int commands)
{
    self->pending += commands;
    self->count++;
    return self->pending >= UPLOADS_PIPELINE ? uploads_flush(self) : 0;
}

void uploads_label_from_path(const char *path, char *out, size_t outlen)
{
    const char *end = strrchr(path, '/');
    const char *start = end;
    while (start && start > path && start[-1] != '/')
        start--;
    if (!end || !start || end == start) {
        snprintf(out, outlen, "%s", "");
        return;
    }
    snprintf(out, outlen, "%.*s", (int) (end - start), start);
}

/* False, with an error naming the key, for a key that cannot be an image key. It is
 * refused rather than cut: two long keys cut to the same bytes would be one image. */
static bool key_ok(uploads_t *self, const char *key)
{
    size_t len = strlen(key);
    if (len >= 1 && len <= KEY_IMAGE_MAX_LEN)
        return true;
    log_error("key \"%.60s%s\" refused: %zu bytes, a key is 1 to %d", key, len > 60 ? "..." : "",
              len, KEY_IMAGE_MAX_LEN);
    self->refused++;
    return false;
}

/* Queues a path whose absolute form is already known. */
static int add_absolute(uploads_t *self, const char *key, const char *label, const char *path,
                        const char *absolute)
{
    if (!key_ok(self, key))
        return 0;
    char derived[256];
    if (!label) {
        uploads_label_from_path(path, derived, sizeof derived);
        label = derived;
    }
    redisAppendCommand(self->redis->ctx, "XADD %s * key %s label %s path %s", KEY_UPLOADS, key,
                       label, absolute);
    return after_append(self, 1);
}

int uploads_add_path(uploads_t *self, const char *key, const char *label, const char *path)
{
    char absolute[PATH_MAX];
    if (!realpath(path, absolute)) {
        log_warn("%s: %s; queued anyway so that it is recorded as failed", path, strerror(errno));
        snprintf(absolute, sizeof absolute, "%s", path);
    }
    return add_absolute(self, key, label, path, absolute);
}

int uploads_add_blob(uploads_t *self, const char *key, const char *label, const void *bytes,
                     size_t len)
{
    if (!key_ok(self, key))
        return 0;
    redisAppendCommand(self->redis->ctx, "SET %s%s %b", KEY_BLOB_PREFIX, key, bytes, len);
    redisAppendCommand(self->redis->ctx, "XADD %s * key %s label %s blob %s%s", KEY_UPLOADS, key,
                       label ? label : "", KEY_BLOB_PREFIX, key);
    return after_append(self, 2);
}

const char *uploads_entry_key(const redisReply *entry)
{
    const redisReply *key = redis_field(entry->element[1], "key");
    return key ? key->str : entry->element[0]->str;
}

bool uploads_is_jpeg_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0);
}

static int compare_names(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Adds the JPEGs under dir (as the user named it: keys and labels come from it), whose
 * absolute form is absolute_dir. Paths below are built from these two rather than asked of
 * realpath, and the type of each entry comes from the directory listing where the file
 * system gives it: for a large tree that saves a stat, a getcwd and a readlink per path
 * component per file, most of the time it took. */
static int add_tree(uploads_t *self, const char *dir, const char *absolute_dir, int depth,
                    folder_set_t *seen)
{
    struct stat dir_st;
    int first = stat(dir, &dir_st) == 0 ? folder_set_enter(seen, &dir_st) : -1;
    if (first <= 0) {
        if (first == 0)
            log_warn("%s: a folder walked already (reached again through a link); skipped", dir);
        else
            log_error("%s: %s", dir, strerror(errno));
        return first == 0 ? 0 : -1;
    }
    struct dirent **names;
    int n = scandir(dir, &names, NULL, compare_names);
    if (n < 0) {
        log_error("%s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char path[PATH_MAX], absolute[PATH_MAX];
        if (name[0] == '.' || !folder_join(path, sizeof path, dir, name) ||
            !folder_join(absolute, sizeof absolute, absolute_dir, name))
            continue;
        unsigned char type = names[i]->d_type;
        struct stat st;
        if (type == DT_UNKNOWN || type == DT_LNK) /* follow links, as stat does */
            type = stat(path, &st) != 0  ? DT_UNKNOWN
                   : S_ISDIR(st.st_mode) ? DT_DIR
                   : S_ISREG(st.st_mode) ? DT_REG
                                         : DT_UNKNOWN;
        if (type == DT_DIR && folder_depth_ok(path, depth + 1) &&
            add_tree(self, path, absolute, depth + 1, seen) != 0)
            rc = -1;
        else if (type == DT_REG && uploads_is_jpeg_name(name) && rc == 0)
            rc = add_absolute(self, path, NULL, path, absolute);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

long uploads_add_tree(uploads_t *self, const char *dir)
{
    size_t len = strlen(dir);
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%.*s", (int) (len > 1 && dir[len - 1] == '/' ? len - 1 : len),
             dir);
    char absolute[PATH_MAX];
    if (!realpath(root, absolute)) {
        log_error("%s: %s", root, strerror(errno));
        return -1;
    }
    long before = self->count; /* queued: refused keys are not */
    folder_set_t *seen = folder_set_new();
    int rc = seen ? add_tree(self, root, absolute, 0, seen) : -1;
    folder_set_destroy(&seen);
    return uploads_flush(self) == 0 && rc == 0 ? self->count - before : -1;
}

long uploads_add_list(uploads_t *self, FILE *in, const char *what)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long before = self->count, lineno = 0; /* queued: refused keys are not */
    int rc = 0;
    while ((len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (memchr(line, '\0', (size_t) len)) { /* it would cut the key short */
            log_error("%s:%ld: a NUL byte in the line; refused", what, lineno);
            self->refused++;
            continue;
        }
        char *tab = strchr(line, '\t');
        if (tab)
            *tab = '\0';
        if (!*line) {
            log_warn("%s:%ld: empty path, skipped", what, lineno);
            continue;
        }
        if ((rc = uploads_add_path(self, line, tab ? tab + 1 : NULL, line)) != 0)
            break;
    }
    if (ferror(in)) { /* a folder given as a list, a disk error: not the end of the list */
        log_error("%s: %s", what, strerror(errno));
        rc = -1;
    }
    free(line);
    return uploads_flush(self) == 0 && rc == 0 ? self->count - before : -1;
}

long uploads_finish(uploads_t *self)
{
    if (uploads_flush(self) != 0)
        return -1;
    if (self->count > 0) {
        redisReply *r =
            redisCommand(self->redis->ctx, "HINCRBY %s uploaded %ld", KEY_COUNTERS, self->count);
        bool ok = r && r->type == REDIS_REPLY_INTEGER;
        freeReplyObject(r);
        if (!ok)
            return -1;
    }
    return self->count;
}

long uploads_refused(const uploads_t *self)
{
    return self->refused;
}
