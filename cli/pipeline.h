/* pipeline.h -- the whole pipeline on this machine, as child processes: what `fruitstream
 * run` and `fruitstream serve` both start.
 *
 * A pipeline_t owns a private redis-server (unless a Redis is named), the sink, the
 * ventilator and one worker process running --workers workers on as many threads, talking
 * over private ipc:// sockets unless --tasks/--results name TCP endpoints (then always with
 * CURVE keys). The commands differ only in what they feed it and when they stop it, so the
 * options they share are defined here too (PIPELINE_OPTIONS, rows of their tables). */
#ifndef FS_PIPELINE_H
#define FS_PIPELINE_H

#include "common/config.h"
#include "common/isa.h"
#include "common/options.h"
#include "common/redis.h"
#include "featurizer/featurizer.h"

#include <stdbool.h>
#include <stdio.h>

#define PIPELINE_MAX_EXTRA_ARGS 64
#define PIPELINE_MAX_ALLOW 16 /* --allow-path folders passed on, at most */

typedef struct {
    const char *redis_url; /* NULL: a private redis-server over data_dir */
    const char *data_dir;
    const char *weights;
    int workers;
    int size;
    int k;           /* 0: the sink's default (variance) */
    double variance; /* 0: the sink's default */
    bool standardize;
    int64_t lease_ms; /* 0: the ventilator's default */
    const char *keys;
    const char *tasks, *results;           /* bind endpoints, or NULL for private ipc:// ones */
    const char *allow[PIPELINE_MAX_ALLOW]; /* --allow-path, handed to the ventilator */
    int allowed;
    /* more options for the ventilator (serve's --watch DIR, --max-image-bytes N) */
    const char *ventilator_args[PIPELINE_MAX_EXTRA_ARGS];
    int ventilator_argc;
    isa_t isa; /* the workers' kernels: FRUITSTREAM_ISA, which they inherit, or the best */
} pipeline_config_t;

/* The shared options, as rows of a command's option table (common/options.h). Numbers are
 * checked here, strictly, though the roles read them again: a typo fails the command
 * before anything starts. */
/* clang-format off */
#define PIPELINE_OPTIONS(cfg)                                                              \
    OPTION_REDIS(&(cfg)->redis_url,                                                        \
                 "use this Redis (default $REDIS_URL; else a private one)"),              \
    OPTION_STRING("data-dir", &(cfg)->data_dir, "DIR", "the private Redis's files"),       \
    OPTION_INT("workers", &(cfg)->workers, 1, CONFIG_MAX_WORKER_THREADS, "N",              \
               "local workers (default one per core)"),                                   \
    OPTION_INT("size", &(cfg)->size, FEATURIZER_MIN_SIZE, FEATURIZER_MAX_SIZE, "S",        \
               "network input side"),                                                     \
    OPTION_STRING("weights", &(cfg)->weights, "PATH", config_weights_help()),              \
    OPTION_INT("k", &(cfg)->k, 0, FEATURE_DIM, "K",                                        \
               "fixed number of PCA components (default none)"),                          \
    OPTION_REAL("variance", &(cfg)->variance, 0, 1, "V",                                   \
                "else the smallest k explaining V (default 0.95)"),                       \
    OPTION_FLAG("standardize", &(cfg)->standardize, "standardize features before PCA"),    \
    OPTION_INT64("lease-ms", &(cfg)->lease_ms, 100, INT64_MAX / 2, "MS",                   \
                 "re-send tasks not stored within MS (default 30000)"),                   \
    OPTION_STRING("tasks", &(cfg)->tasks, "ENDPOINT",                                      \
                  "bind the task socket here (default: a private ipc://)..."),            \
    OPTION_STRING("results", &(cfg)->results, "ENDPOINT",                                  \
                  "...and the result socket: tcp:// lets other machines' workers join, "  \
                  "always with CURVE keys"),                                              \
    OPTION_STRING("keys", &(cfg)->keys, "DIR",                                             \
                  "CURVE key directory (default $" CONFIG_KEYS_ENV "; with TCP endpoints "  \
                  "and none given, DATA-DIR/keys, made if missing)"),                     \
    OPTION_CALL("allow-path", pipeline_allow, (cfg), "DIR",                                \
                "also let the ventilator read files in DIR (a link to a file elsewhere "  \
                "needs that file's folder here)")
/* clang-format on */

/* Defaults: a private Redis (--redis's row makes $REDIS_URL the default when it is set),
 * ./fruitstream-data, a worker per core, S = 224. */
void pipeline_config_defaults(pipeline_config_t *cfg);
/* --allow-path DIR: the ventilator may read files in DIR (cfg: a pipeline_config_t *). 0,
 * or -1 after saying why. */
int pipeline_allow(void *cfg, const char *dir);
/* Resolves the weights and keys defaults and checks what can be checked before anything
 * starts (worker count, readable weights, FRUITSTREAM_ISA). 0, or -1 with the reason
 * logged. */
int pipeline_config_check(pipeline_config_t *cfg);

typedef enum {
    PIPELINE_SINK,
    PIPELINE_VENTILATOR,
    PIPELINE_WORKERS,
    PIPELINE_ROLES
} pipeline_role_t;

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
