/* folder_set.h -- the folders a walk of a tree has entered, so that each is walked once.
 *
 * The walks (--dir, --watch, `fruitstream run DIR`) follow links to folders, as users lay
 * out trees with them. Whoever can write in a tree can also make a link to `.` or to a
 * folder above: two such links give 2^depth paths to walk and to upload. A folder is known
 * by its device and inode, so one reached again, through whatever link, is passed over. */
#ifndef FS_FOLDER_SET_H
#define FS_FOLDER_SET_H

#include <stddef.h>
#include <sys/stat.h>

typedef struct folder_set_t folder_set_t;

folder_set_t *folder_set_new(void);
void folder_set_destroy(folder_set_t **self_p);
/* 1 the first time the folder st describes is offered (it is then remembered), 0 when it
 * was entered before, -1 when there is no memory left to remember it. */
int folder_set_enter(folder_set_t *self, const struct stat *st);

#endif
