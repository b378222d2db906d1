/* config.h -- defaults shared by every program, and where the big inputs are found.
 *
 * The weights and the data set are never part of the repository: they are read from the
 * workspace's shared folder by default, or from wherever the user points (a flag, else an
 * environment variable, else the default below). */
#ifndef FS_CONFIG_H
#define FS_CONFIG_H

/* Where the ventilator binds its task socket and the sink its result socket... */
#define CONFIG_TASKS_BIND "tcp://*:5557"
#define CONFIG_RESULTS_BIND "tcp://*:5558"
/* ...and where a worker on the same machine finds them. */
#define CONFIG_TASKS_CONNECT "tcp://127.0.0.1:5557"
#define CONFIG_RESULTS_CONNECT "tcp://127.0.0.1:5558"

/* Kernel buffer of each end of a TCP task connection, bytes. ZeroMQ's high-water marks
 * count only its own queues; beneath them an autotuned TCP buffer can hold every task in
 * flight. 16 KB keeps a worker's queue to a few tasks with no loss of throughput on a
 * LAN; a long-latency link needs about rate x task size x round trip. Set on tcp://
 * endpoints only: on ipc:// it does not shorten the queue and costs the ventilator CPU. */
#define CONFIG_TASK_BUFFER 16384

/* Most workers one process runs, on as many threads (worker --threads; fruitstream run
 * passes its --workers there). */
#define CONFIG_MAX_WORKER_THREADS 256
/* The default limit on one image file's bytes: the ventilator's --max-image-bytes, the
 * HTTP API's body limit, and what upload, query and featurize read of a file. */
#define CONFIG_MAX_IMAGE_BYTES (64L << 20)
/* The most --max-image-bytes accepts (ventilator, serve, upload): the largest image a task
 * can carry, which a worker's task socket must still take. */
#define CONFIG_MAX_IMAGE_BYTES_LIMIT (1L << 30)
/* The ventilator's default --tasks-per-message. A worker sends the results of one task
 * message back as one message, so a loaded sink receives results this many to a message. */
#define CONFIG_TASKS_PER_MESSAGE 4
/* The most tasks the ventilator puts in one ZeroMQ message (its --tasks-per-message); a
 * worker handles no more frames of one message than this. */
#define CONFIG_MAX_TASKS_PER_MESSAGE 1024

#define CONFIG_REDIS_DEFAULT "redis://127.0.0.1:6379/0"
/* The help of a --redis option that falls back on the default above. */
#define CONFIG_REDIS_HELP "Redis (default $REDIS_URL or " CONFIG_REDIS_DEFAULT ")"
#define CONFIG_WEIGHTS_ENV "FRUITSTREAM_WEIGHTS"
#define CONFIG_DATA_ENV "FRUITSTREAM_DATA"
#define CONFIG_DATA_DEFAULT "../shared/data/fruits-360/Test"
#define CONFIG_KEYS_ENV "FRUITSTREAM_KEYS"

/* The weights' default path: relative to the project root, or the one `make WEIGHTS=PATH`
 * (or `make install WEIGHTS=PATH`) compiled into config.c, the only file that knows it. */
const char *config_weights_default(void);
/* The help text of a --weights option, with its default ($FRUITSTREAM_WEIGHTS, else the
 * path above). */
const char *config_weights_help(void);
/* flag if given, else $FRUITSTREAM_WEIGHTS, else config_weights_default(). */
const char *config_weights_path(const char *flag);
/* flag if given, else $FRUITSTREAM_DATA, else the Fruits-360 Test split. */
const char *config_data_path(const char *flag);
/* $REDIS_URL if set and not empty, else NULL: the Redis the user named for every program. */
const char *config_redis_url(void);
/* flag if given, else $FRUITSTREAM_KEYS, else NULL: the CURVE key directory, or none. */
const char *config_keys_dir(const char *flag);
/* The kernel buffer to give a task socket on this endpoint: task_buffer on tcp://, else 0
 * (leave the system's; see CONFIG_TASK_BUFFER for why). */
int config_task_buffer_for(const char *endpoint, int task_buffer);

#endif
