/* folder_set.c -- see folder_set.h. An open-addressing hash set of (device, inode) pairs,
 * grown at half full: a tree of a million folders costs a few tens of megabytes. */
#include "common/folder_set.h"

#include "common/log.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    dev_t dev;
    ino_t ino;
    bool used;
} folder_id_t;

struct folder_set_t {
    folder_id_t *slots;
    size_t cap; /* a power of two */
    size_t count;
};

folder_set_t *folder_set_new(void)
{
    return calloc(1, sizeof(folder_set_t));
}

void folder_set_destroy(folder_set_t **self_p)
{
    folder_set_t *self = *self_p;
    if (!self)
        return;
    free(self->slots);
    free(self);
    *self_p = NULL;
}

static size_t slot_of(const folder_set_t *self, dev_t dev, ino_t ino)
{
    uint64_t h = ((uint64_t) ino * 0x9E3779B97F4A7C15u) ^ ((uint64_t) dev * 0xC2B2AE3D27D4EB4Fu);
    size_t i = (size_t) (h ^ (h >> 29)) & (self->cap - 1);
    while (self->slots[i].used && (self->slots[i].dev != dev || self->slots[i].ino != ino))
        i = (i + 1) & (self->cap - 1);
    return i;
}

static bool grow(folder_set_t *self)
{
    folder_set_t bigger = {.cap = self->cap ? 2 * self->cap : 64};
    if (!(bigger.slots = calloc(bigger.cap, sizeof *bigger.slots)))
        return false;
    for (size_t i = 0; i < self->cap; i++)
        if (self->slots[i].used)
            bigger.slots[slot_of(&bigger, self->slots[i].dev, self->slots[i].ino)] = self->slots[i];
    bigger.count = self->count;
    free(self->slots);
    *self = bigger;
    return true;
}

int folder_set_enter(folder_set_t *self, const struct stat *st)
{
    if (2 * (self->count + 1) > self->cap && !grow(self))
        return -1;
    folder_id_t *slot = &self->slots[slot_of(self, st->st_dev, st->st_ino)];
    if (slot->used)
        return 0;
    *slot = (folder_id_t){.dev = st->st_dev, .ino = st->st_ino, .used = true};
    self->count++;
    return 1;
}

/* The warnings give the reason first: a log line is cut at 1 KB, and such paths are longer. */
bool folder_join(char *out, size_t outlen, const char *dir, const char *name)
{
    if (snprintf(out, outlen, "%s/%s", dir, name) < (int) outlen)
        return true;
    log_warn("skipped, a path of %zu bytes or more: %s/%s", outlen, dir, name);
    return false;
}

bool folder_depth_ok(const char *path, int depth)
{
    if (depth <= FOLDER_MAX_DEPTH)
        return true;
    log_warn("skipped, folders nested deeper than %d: %s", FOLDER_MAX_DEPTH, path);
    return false;
}
