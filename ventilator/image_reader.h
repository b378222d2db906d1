/* image_reader.h -- the bytes an upload entry names, read only where the ventilator may.
 *
 * An upload entry is input from anyone who can write the stream, so what it names is
 * checked before anything is read (README, "What the ventilator reads"): a `path` only
 * inside the allowed folders, only a regular file, opened without blocking and measured
 * with fstat before reading; a `blob` only from fs:blob:*, measured with STRLEN before GET.
 * Anything else leaves the task carrying the reason, which the sink records as failed. */
#ifndef FS_IMAGE_READER_H
#define FS_IMAGE_READER_H

#include "common/redis.h"
#include "common/wire.h"

#include <stdint.h>

typedef struct image_reader_t image_reader_t;

/* A reader of images of up to max_bytes, from files inside the nfolders folders named (each
 * resolved now) and from blobs. NULL, with an error logged, when a folder is not one. */
image_reader_t *image_reader_new(const char *const *folders, int nfolders, int64_t max_bytes);
void image_reader_destroy(image_reader_t **self_p);

/* Loads the image that an upload entry's fields (a flat name/value array) name into task:
 * task->image points into the reader's buffer, valid until the next call, or task->error
 * says why there is none. Returns -1, with no task to send, when Redis is lost: that is no
 * reason to fail the image. */
int image_reader_load(image_reader_t *self, redis_t *redis, const redisReply *fields,
                      wire_task_t *task);

#endif
