/* classify.h -- "which fruit is this?": a JPEG's nearest stored images.
 *
 * A classifier holds what answering takes: the featurizer (the worker's, same weights and
 * input size S as the stored images), the current PCA model and the gallery of stored
 * projections (cli/gallery.h), all loaded once, so a long-lived process answers each image
 * in one featurization plus one pass over the gallery. `fruitstream query` uses one for
 * its files; a server can keep one. */
#ifndef FS_CLASSIFY_H
#define FS_CLASSIFY_H

#include "cli/gallery.h"
#include "common/redis.h"

#include <stddef.h>

#define QUERY_DEFAULT_K 5 /* nearest images a query answers with, unless told */
#define QUERY_MAX_K 1000

typedef struct classifier_t classifier_t;
/* What a classifier reads from Redis: the current model and the gallery under it. Loading
 * them is the slow part (22,688 stored images: 0.8 s), so a server loads the next on a
 * thread of its own and has its classifier adopt them when ready. */
typedef struct classifier_data_t classifier_data_t;

/* Loads the model and the gallery from Redis and the featurizer from weights_path at input
 * size `size` (0: the size the stored images were featurized at). NULL with the reason. */
classifier_t *classifier_new(redis_t *redis, const char *weights_path, int size, char *err,
                             size_t errlen);
void classifier_destroy(classifier_t **self_p);

/* The model and the gallery as they are now in Redis; NULL with the reason. Touches no
 * classifier: any thread may load them, over a connection of its own. `stamp` is what
 * classifier_stamp_read (below) gave just before, or NULL to have it read here first. */
classifier_data_t *classifier_data_load(redis_t *redis, const char *stamp, char *err,
                                        size_t errlen);
/* What the model and the gallery in Redis are now, as a line that changes whenever either
 * does: the model's version, and fs:stored's length and newest entry ID (an entry ID is never
 * given twice, so an image stored or removed changes one of them). Reading it is three small
 * commands where loading reads every stored image, so a server checks it before loading
 * again. 0, or -1 when Redis cannot say. (An image hash changed behind its stream entry's
 * back is not seen: only the sink writes them.) */
#define CLASSIFIER_STAMP_MAX 128
int classifier_stamp_read(redis_t *redis, char stamp[CLASSIFIER_STAMP_MAX]);
void classifier_data_destroy(classifier_data_t **self_p);
/* Answers from *data_p (taken: it is NULL after) from now on; the featurizer is kept unless
 * the stored images' input size changed. 0, or -1 with the reason and self unchanged. */
int classifier_adopt(classifier_t *self, classifier_data_t **data_p, char *err, size_t errlen);

const gallery_t *classifier_gallery(const classifier_t *self);
/* The stamp (classifier_stamp_read) of the model and gallery it answers from, read before
 * they were loaded: "" when it could not be read. */
const char *classifier_stamp(const classifier_t *self);
/* What loading found: rows, how many were projected again, the size S. */
const gallery_load_info_t *classifier_info(const classifier_t *self);

/* Featurizes the JPEG, projects it, and fills hits with its n nearest stored images,
 * nearest first. Returns how many (min(n, gallery size)), or -1 with the reason in err. */
long classifier_run(classifier_t *self, const void *jpeg, size_t len, size_t n, gallery_hit_t *hits,
                    char *err, size_t errlen);

#endif
