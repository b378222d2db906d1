/* pipeline.h -- the whole pipeline on this machine, as child processes: what `fruitstream
 * run` and `fruitstream serve` both start.
 *
 * A pipeline_t owns a private redis-server (unless a Redis is named), the sink, the
 * ventilator and one worker process running --workers workers on as many threads, talking
 * over private ipc:// sockets unless --tasks/--results name TCP endpoints (then always with
 * CURVE keys). The commands differ only in what they feed it and when they stop it, so the
 * options they share are parsed here too (PIPELINE_LONG_OPTIONS + pipeline_option). */
#ifndef FS_PIPELINE_H
#define FS_PIPELINE_H

#include "common/isa.h"
#include "common/redis.h"

#include <stdbool.h>
#include <stdio.h>

#define PIPELINE_MAX_EXTRA_ARGS 64
#define PIPELINE_MAX_ALLOW 16 /* --allow-path folders passed on, at most */

typedef struct {
    const char *redis_url; /* NULL: a private redis-server over data_dir */
    const char *data_dir;
    const char *weights;
    int workers;
    const char *size;
    const char *k, *variance;
    bool standardize;
    const char *lease_ms;
    const char *keys;
    const char *tasks, *results; /* bind endpoints, or NULL for private ipc:// ones */
    const char *allow[PIPELINE_MAX_ALLOW]; /* --allow-path, handed to the ventilator */
    int allowed;
    /* more options for the ventilator (serve's --watch DIR, --max-image-bytes N) */
    const char *ventilator_args[PIPELINE_MAX_EXTRA_ARGS];
    int ventilator_argc;
    isa_t isa; /* the workers' kernels: FRUITSTREAM_ISA, which they inherit, or the best */
} pipeline_config_t;

/* Option codes of the shared options, above any short option's. */
enum {
    PIPELINE_OPT_REDIS = 1000, PIPELINE_OPT_DATA_DIR, PIPELINE_OPT_WORKERS, PIPELINE_OPT_SIZE,
    PIPELINE_OPT_WEIGHTS, PIPELINE_OPT_K, PIPELINE_OPT_VARIANCE, PIPELINE_OPT_STANDARDIZE,
    PIPELINE_OPT_LEASE_MS, PIPELINE_OPT_KEYS, PIPELINE_OPT_TASKS, PIPELINE_OPT_RESULTS,
    PIPELINE_OPT_ALLOW_PATH
};

/* getopt_long entries of the shared options, for a command's option table. */
#define PIPELINE_LONG_OPTIONS                                                              \
    {"redis", required_argument, 0, PIPELINE_OPT_REDIS},                                    \
        {"data-dir", required_argument, 0, PIPELINE_OPT_DATA_DIR},                          \
        {"workers", required_argument, 0, PIPELINE_OPT_WORKERS},                            \
        {"size", required_argument, 0, PIPELINE_OPT_SIZE},                                  \
        {"weights", required_argument, 0, PIPELINE_OPT_WEIGHTS},                            \
        {"k", required_argument, 0, PIPELINE_OPT_K},                                        \
        {"variance", required_argument, 0, PIPELINE_OPT_VARIANCE},                          \
        {"standardize", no_argument, 0, PIPELINE_OPT_STANDARDIZE},                          \
        {"lease-ms", required_argument, 0, PIPELINE_OPT_LEASE_MS},                          \
        {"keys", required_argument, 0, PIPELINE_OPT_KEYS},                                  \
        {"tasks", required_argument, 0, PIPELINE_OPT_TASKS},                                \
        {"results", required_argument, 0, PIPELINE_OPT_RESULTS},                            \
        {"allow-path", required_argument, 0, PIPELINE_OPT_ALLOW_PATH}

/* Defaults: $REDIS_URL or private, ./fruitstream-data, a worker per core, S = 224. */
void pipeline_config_defaults(pipeline_config_t *cfg);
/* Takes one parsed option: 1 if it was a shared one, 0 if not, -1 (the reason printed) for a
 * bad value. Numbers are checked here, strictly (common/options.h), though the roles read
 * them again: a typo fails the command before anything starts. */
int pipeline_option(pipeline_config_t *cfg, int code, const char *arg);
/* Prints the shared options' help lines. */
void pipeline_usage(FILE *out);
/* Resolves the weights and keys defaults and checks what can be checked before anything
 * starts (worker count, readable weights, FRUITSTREAM_ISA). 0, or -1 with the reason
 * logged. */
int pipeline_config_check(pipeline_config_t *cfg);

typedef enum { PIPELINE_SINK, PIPELINE_VENTILATOR, PIPELINE_WORKERS, PIPELINE_ROLES } pipeline_role_t;

typedef struct pipeline_t pipeline_t;

/* Chooses the endpoints (and CURVE keys for TCP ones) and starts the private Redis if one
 * is needed; no role yet. NULL with the reason logged. */
pipeline_t *pipeline_new(const pipeline_config_t *cfg);
/* What run and serve do first: pipeline_config_check, SIGINT/SIGTERM to stop_requested
 * (common/stop.h), pipeline_new, then a connection to its Redis (*redis) with the upload
 * stream's group made. NULL, with the reason logged and nothing left running, on failure. */
pipeline_t *pipeline_open(pipeline_config_t *cfg, redis_t **redis);
/* Starts the sink, the ventilator and the workers. */
void pipeline_start(pipeline_t *self);
/* -1 (logged) when a child exited on its own: without any of them the pipeline is broken. */
int pipeline_check_children(pipeline_t *self);
/* Stops one role with SIGTERM (SIGKILL after 60 s) and adds up the CPU time it used. */
void pipeline_stop(pipeline_t *self, pipeline_role_t role);
/* Stops what still runs (workers, ventilator, sink, then Redis) and removes the sockets. */
void pipeline_destroy(pipeline_t **self_p);

const char *pipeline_redis_url(const pipeline_t *self);
/* True when the Redis is ours (its CPU time then belongs in a summary). */
bool pipeline_owns_redis(const pipeline_t *self);
/* CPU seconds (user + system) a stopped role used. */
double pipeline_cpu(const pipeline_t *self, pipeline_role_t role);

#endif
