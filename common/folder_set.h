/* folder_set.h -- what the walks of a tree share: the folders entered, so that each is
 * walked once, and the limits on the paths they take, each skip named in a warning.
 *
 * The walks (--dir, --watch, `fruitstream run DIR`) follow links to folders, as users lay
 * out trees with them. Whoever can write in a tree can also make a link to `.` or to a
 * folder above: two such links give 2^depth paths to walk and to upload. A folder is known
 * by its device and inode, so one reached again, through whatever link, is passed over. */
#ifndef FS_FOLDER_SET_H
#define FS_FOLDER_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* How deep a walk goes below the folder it was given. */
#define FOLDER_MAX_DEPTH 64

typedef struct folder_set_t folder_set_t;

folder_set_t *folder_set_new(void);
void folder_set_destroy(folder_set_t **self_p);
/* 1 the first time the folder st describes is offered (it is then remembered), 0 when it
 * was entered before, -1 when there is no memory left to remember it. */
int folder_set_enter(folder_set_t *self, const struct stat *st);

/* What a walk passes over is named in a warning, never skipped silently. out = dir/name, or
 * false, with a warning, when that does not fit in outlen (PATH_MAX). */
bool folder_join(char *out, size_t outlen, const char *dir, const char *name);
/* Whether a walk may enter the folder path at depth (the folder it was given is at 0), or
 * false, with a warning, deeper than FOLDER_MAX_DEPTH. */
bool folder_depth_ok(const char *path, int depth);

#endif
