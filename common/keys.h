/* keys.h -- every Redis key fruitstream reads or writes, defined once.
 *
 * All keys start with "fs:". README.md ("Redis keys") documents each with its type and
 * fields; a change here is a change there.
 *
 * The upload stream is the single way work enters the system: `fruitstream upload`, a run
 * over a folder, or any app back-end XADDs an entry; the ventilator reads it through a
 * consumer group; the sink XACKs an entry only once its result is stored. */
#ifndef FS_KEYS_H
#define FS_KEYS_H

/* Stream of uploads. Entry fields: key, label (optional), and either path (a file the
 * ventilator can read) or blob (a Redis key holding the JPEG bytes). */
#define KEY_UPLOADS "fs:uploads"
/* The ventilators' consumer group on KEY_UPLOADS. */
#define GROUP_VENTILATORS "fs:ventilators"
/* Longest image key, in bytes. Checked where a key enters (fruitstream upload, the
 * ventilator's lists, upload stream entries): a longer key, or one holding a NUL byte, is
 * refused with an error, never cut (two keys cut to the same bytes would be one image). */
#define KEY_IMAGE_MAX_LEN 1024
/* Prefix of blob keys: fs:blob:<image key> holds uploaded JPEG bytes until stored. */
#define KEY_BLOB_PREFIX "fs:blob:"
/* Prefix of result hashes: fs:image:<image key> (fields in README). */
#define KEY_IMAGE_PREFIX "fs:image:"
/* Prefix of the sink's staging hashes, fs:staging:<n> (n < 64): a stored result's fields
 * (all but seq) on their way into its fs:image hash. Made, moved and deleted inside one
 * MULTI/EXEC of the sink's (sink/store.c): no other client ever sees one. */
#define KEY_STAGING_PREFIX "fs:staging:"
/* Stream of stored images in store order: entry ID <seq>-1, field key. Feeds the PCA's
 * catch-up after a restart and `fruitstream export`. */
#define KEY_STORED "fs:stored"
/* Set of image keys whose featurization failed (reasons are in their fs:image hash). */
#define KEY_FAILED "fs:failed"
/* Hash of run counters: uploaded, stored, failed, duplicates, retried, malformed,
 * rejected, seq (sink/ventilator), backlog and in_flight (ventilator, refreshed every
 * second). */
#define KEY_COUNTERS "fs:counters"
/* Hash label -> number of stored images with that label. */
#define KEY_LABELS "fs:labels"
/* Hash: the online PCA's running sums (checkpoint) and the last stored seq they include. */
#define KEY_PCA_STATE "fs:pca:state"
/* Hash: the current PCA model (mean, axes, eigenvalues, ratios, n, k, version, options). */
#define KEY_PCA_MODEL "fs:pca:model"
/* Set of the paths the ventilator's watched folders (--watch) have uploaded: a file is
 * uploaded once, across restarts, whatever events it causes. */
#define KEY_WATCHED "fs:watched"
/* Prefix of worker heartbeats: fs:worker:<id>, a hash that expires unless renewed. */
#define KEY_WORKER_PREFIX "fs:worker:"
/* Stream of once-a-second pipeline samples from the sink (fields in README), capped with
 * MAXLEN ~ (sink --metrics-length). */
#define KEY_METRICS "fs:metrics"

#endif
