/* watch.h -- watched folders (`--watch DIR`): every JPEG that appears under DIR goes into
 * the upload stream once.
 *
 * A file is taken when it is complete: when a writer closes it (inotify IN_CLOSE_WRITE) or
 * it is moved in (IN_MOVED_TO), never on creation, so a file written slowly is not read
 * half-written. Subfolders are watched too, new ones as they appear (and what they already
 * hold is taken). Files present at start are taken as well, unless a writer still has them
 * open (then they are taken when it closes them).
 * The key is the file's absolute path, the label its parent folder's name, and the entry
 * names the path (the ventilator reads the file). Each path is added to the set
 * fs:watched in the same script that adds its entry, so a file is uploaded once across
 * restarts, however many events it causes; the set keeps one member per file ever taken. */
#ifndef FS_WATCH_H
#define FS_WATCH_H

#include "common/redis.h"

#define WATCH_QUIET_SECONDS 2
#define WATCH_MAX_DIRS 16 /* --watch folders, at most */

typedef struct watch_t watch_t;

/* Uploads go to redis (the caller's connection, reconnected by the caller). */
watch_t *watch_new(redis_t *redis);
void watch_destroy(watch_t **self_p);
/* Watches dir and everything under it, and takes the files it holds. 0, or -1 logged. */
int watch_add(watch_t *self, const char *dir);
/* Handles what happened since the last call, without waiting. 0, or -1 when Redis was
 * lost (what could not be uploaded is kept and tried again at the next call). */
int watch_poll(watch_t *self);

#endif
