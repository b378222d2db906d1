/* uploads.h -- putting work into the upload stream (fs:uploads).
 *
 * This is the one way in: the ventilator's --dir/--list/--stdin, `fruitstream run DIR` and
 * `fruitstream upload` all come here, and so can any app back-end with a Redis client.
 * An entry names the image by key and says where its bytes are: `path` (a file the
 * ventilator reads) or `blob` (a Redis key holding the JPEG, written before the entry).
 * Entries are sent in pipelined batches; uploads_flush waits for them all. A key longer
 * than KEY_IMAGE_MAX_LEN (or empty) is refused with an error and not queued; the others go
 * on, and uploads_refused counts the refusals. */
#ifndef FS_UPLOADS_H
#define FS_UPLOADS_H

#include "common/redis.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct uploads_t uploads_t;

uploads_t *uploads_new(redis_t *redis);
/* Flushes, then frees. */
void uploads_destroy(uploads_t **self_p);

/* Creates the ventilators' consumer group (and the stream) if missing. 0 or -1. */
int uploads_ensure_group(redis_t *redis);

/* Queues an entry for the file at path (made absolute), keyed by key. label may be NULL. */
int uploads_add_path(uploads_t *self, const char *key, const char *label, const char *path);
/* Stores bytes under fs:blob:<key> and queues an entry naming that blob. */
int uploads_add_blob(uploads_t *self, const char *key, const char *label, const void *bytes,
                     size_t len);
/* Every *.jpg / *.jpeg under dir, recursively, in sorted order; key = the path as found
 * under dir, label = its parent folder's name. Returns the number queued, or -1. */
long uploads_add_tree(uploads_t *self, const char *dir);
/* One key per line: a path, optionally followed by a TAB and a label (default: the parent
 * folder's name). Blank lines are skipped; a line holding a NUL byte is refused (counted by
 * uploads_refused). Returns the number queued, or -1 (also when reading `in` failed). */
long uploads_add_list(uploads_t *self, FILE *in, const char *what);
/* Waits for every queued entry to be acknowledged by Redis. 0, or -1 on error. */
int uploads_flush(uploads_t *self);
/* Flushes, then adds the entries queued to the `uploaded` counter. Returns how many were
 * queued, or -1 on error (then nothing is counted). */
long uploads_finish(uploads_t *self);
long uploads_refused(const uploads_t *self);

/* The image key a live upload entry (ID and fields, as XREADGROUP gives it) names: its `key`
 * field, or its ID when it has none. */
const char *uploads_entry_key(const redisReply *entry);

/* True for a *.jpg or *.jpeg name, in any case: what a folder's images are. */
bool uploads_is_jpeg_name(const char *name);
/* The parent folder's name of path ("a/Banana/1.jpg" -> "Banana"), in out. */
void uploads_label_from_path(const char *path, char *out, size_t outlen);

#endif
