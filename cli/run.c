/* run.c -- `fruitstream run [DIR]`: the whole pipeline on one machine, start to finish.
 *
 * A supervisor, nothing more: it starts a private redis-server (append-only file in
 * --data-dir, so results survive) unless --redis/REDIS_URL names one, then the sink, the
 * ventilator and a worker process running --workers workers on as many threads (one copy
 * of the weights between them), as child processes talking over ipc:// sockets, adds
 * every image of DIR to the upload stream (the same path live uploads take), shows progress
 * until the stream is empty (the sink deletes each entry once its result is stored), stops
 * the children in order (workers, ventilator, then the sink, which publishes its final PCA
 * model), and prints a summary. Ctrl-C stops everything the same way. With --tasks and
 * --results on TCP, workers on other machines can join; the roles then always use CURVE
 * keys (--keys, else a key directory made once in --data-dir), so a run never opens a port
 * to anyone who can reach it. */
#include "clock.h"
#include "commands.h"
#include "config.h"
#include "curve.h"
#include "isa.h"
#include "keys.h"
#include "featurizer.h"
#include "log.h"
#include "options.h"
#include "private_redis.h"
#include "redis.h"
#include "uploads.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* --allow-path folders run passes on, at most. */
#define RUN_MAX_ALLOW 16

typedef struct {
    const char *dir;
    const char *redis_url;
    const char *data_dir;
    const char *weights;
    int workers;
    const char *size;
    const char *k, *variance;
    bool standardize;
    const char *lease_ms;
    const char *keys;
    const char *tasks, *results; /* bind endpoints, or NULL for private ipc:// ones */
    const char *allow[RUN_MAX_ALLOW]; /* --allow-path, handed to the ventilator */
    int allowed;
} run_config_t;

typedef struct {
    run_config_t cfg;
    char bin_dir[PATH_MAX];
    char redis_url[PATH_MAX];
    private_redis_t *redis_server; /* ours, unless a Redis was named */
    char tasks[128], results[128];       /* where the roles bind */
    char tasks_at[128], results_at[128]; /* where the local workers connect */
    char keys[PATH_MAX];                 /* CURVE key directory, or "" */
    pid_t sink_pid, ventilator_pid;
    pid_t workers_pid; /* one process, a worker per thread */
    double workers_cpu, sink_cpu, ventilator_cpu; /* seconds, user + system, once stopped */
    isa_t isa; /* the workers' kernels: FRUITSTREAM_ISA, which they inherit, or the best */
} run_t;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void) sig;
    interrupted = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fruitstream run [options] [DIR]\n"
            "Featurizes every *.jpg/*.jpeg under DIR (default $%s or %s; label = parent\n"
            "folder) with local workers, stores results and the PCA model in Redis, and prints\n"
            "a summary. Ctrl-C stops everything cleanly.\n\n"
            "  --redis URL         use this Redis (default $REDIS_URL; else a private one)\n"
            "  --data-dir DIR      the private Redis's files (default ./fruitstream-data)\n"
            "  --workers N         local workers (default: number of cores)\n"
            "  --size S            network input side (default 224)\n"
            "  --weights PATH      MobileNetV2 safetensors (default $%s or %s)\n"
            "  --k K | --variance V   PCA components: fixed, or to explain V (default 0.95)\n"
            "  --standardize       standardize features before PCA\n"
            "  --lease-ms MS       re-send tasks not stored within MS (default 30000)\n"
            "  --tasks ENDPOINT    bind the task socket here (default: a private ipc://)...\n"
            "  --results ENDPOINT  ...and the result socket: tcp:// lets other machines'\n"
            "                      workers join, always with CURVE keys\n"
            "  --keys DIR          CURVE key directory (default $%s; with TCP endpoints and\n"
            "                      none given, DATA-DIR/keys, made if missing)\n"
            "  --allow-path DIR    also let the ventilator read files in DIR (DIR is allowed;\n"
            "                      a link in DIR to a file elsewhere needs its folder here)\n"
            "  -h, --help          this text\n",
            CONFIG_DATA_ENV, CONFIG_DATA_DEFAULT, CONFIG_WEIGHTS_ENV, config_weights_default(),
            CONFIG_KEYS_ENV);
}

static int parse_args(int argc, char **argv, run_config_t *cfg)
{
    static const struct option options[] = {
        {"redis", required_argument, 0, 'R'}, {"data-dir", required_argument, 0, 'D'},
        {"workers", required_argument, 0, 'w'}, {"size", required_argument, 0, 's'},
        {"weights", required_argument, 0, 'W'}, {"k", required_argument, 0, 'k'},
        {"variance", required_argument, 0, 'v'}, {"standardize", no_argument, 0, 'S'},
        {"lease-ms", required_argument, 0, 'e'}, {"allow-path", required_argument, 0, 'A'},
        {"keys", required_argument, 0, 'K'}, {"tasks", required_argument, 0, 't'},
        {"results", required_argument, 0, 'r'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *cfg = (run_config_t){.redis_url = redis_url_from_env(), .data_dir = PRIVATE_REDIS_DEFAULT_DIR,
                          .workers = cores > 0 ? (int) cores : 1, .size = "224"};
    int c, number;
    double real;
    int64_t lease;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'R': cfg->redis_url = optarg; break;
        case 'D': cfg->data_dir = optarg; break;
        /* the roles read these again; checking them here fails the run before it starts */
        case 'w':
            if (option_int("--workers", optarg, 1, CONFIG_MAX_WORKER_THREADS, &cfg->workers))
                return -1;
            break;
        case 's':
            if (option_int("--size", optarg, FEATURIZER_MIN_SIZE, FEATURIZER_MAX_SIZE, &number))
                return -1;
            cfg->size = optarg;
            break;
        case 'W': cfg->weights = optarg; break;
        case 'k':
            if (option_int("--k", optarg, 0, FEATURE_DIM, &number) != 0)
                return -1;
            cfg->k = optarg;
            break;
        case 'v':
            if (option_real("--variance", optarg, 0, 1, &real) != 0)
                return -1;
            cfg->variance = optarg;
            break;
        case 'S': cfg->standardize = true; break;
        case 'e':
            if (option_int64("--lease-ms", optarg, 100, INT64_MAX / 2, &lease) != 0)
                return -1;
            cfg->lease_ms = optarg;
            break;
        case 'A':
            if (cfg->allowed == RUN_MAX_ALLOW) {
                fprintf(stderr, "fruitstream run: more than %d --allow-path\n", RUN_MAX_ALLOW);
                return -1;
            }
            cfg->allow[cfg->allowed++] = optarg;
            break;
        case 'K': cfg->keys = optarg; break;
        case 't': cfg->tasks = optarg; break;
        case 'r': cfg->results = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc - 1) {
        fprintf(stderr, "fruitstream run: give at most one DIR\n");
        return -1;
    }
    cfg->dir = config_data_path(optind < argc ? argv[optind] : NULL);
    cfg->weights = config_weights_path(cfg->weights);
    cfg->keys = config_keys_dir(cfg->keys);
    return 0;
}

/* Starts one of our programs, from the directory this one runs from, with argv. */
static pid_t spawn(const run_t *self, const char *program, char *const argv[])
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", self->bin_dir, program);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_IGN); /* Ctrl-C reaches the whole group; we stop children in order */
        execv(path, argv);
        fprintf(stderr, "fruitstream run: cannot start %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    if (pid < 0)
        log_error("fork: %s", strerror(errno));
    return pid;
}

static double cpu_seconds(const struct rusage *ru)
{
    return (double) ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
           (double) ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
}

/* Stops a child with SIGTERM (SIGKILL after 60 s) and adds the CPU time it used to *cpu. */
static void stop_child(pid_t *pid, const char *what, double *cpu)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    int status;
    struct rusage ru;
    for (int i = 0; i < 600; i++) { /* 60 s, then no more patience */
        pid_t done = wait4(*pid, &status, WNOHANG, &ru);
        if (done == *pid || (done < 0 && errno == ECHILD)) {
            if (done == *pid)
                *cpu += cpu_seconds(&ru);
            *pid = 0;
            return;
        }
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    log_warn("%s did not stop in 60 s; killing it", what);
    kill(*pid, SIGKILL);
    if (wait4(*pid, &status, 0, &ru) == *pid)
        *cpu += cpu_seconds(&ru);
    *pid = 0;
}

/* Appends --keys DIR to a role's argv at n when CURVE is on; returns the new n. */
static int add_keys(run_t *self, char **argv, int n)
{
    if (self->keys[0]) {
        argv[n++] = "--keys";
        argv[n++] = self->keys;
    }
    return n;
}

static void start_roles(run_t *self)
{
    char *sink_argv[16] = {"fruitstream-sink", "--results", self->results, "--redis",
                           self->redis_url};
    int n = 5;
    if (self->cfg.k) {
        sink_argv[n++] = "--k";
        sink_argv[n++] = (char *) self->cfg.k;
    }
    if (self->cfg.variance) {
        sink_argv[n++] = "--variance";
        sink_argv[n++] = (char *) self->cfg.variance;
    }
    if (self->cfg.standardize)
        sink_argv[n++] = "--standardize";
    sink_argv[add_keys(self, sink_argv, n)] = NULL;
    self->sink_pid = spawn(self, "fruitstream-sink", sink_argv);

    char *vent_argv[12 + 2 * RUN_MAX_ALLOW] = {"fruitstream-ventilator", "--tasks", self->tasks,
                                               "--redis", self->redis_url, "--allow-path",
                                               (char *) self->cfg.dir};
    n = 7;
    for (int i = 0; i < self->cfg.allowed; i++) {
        vent_argv[n++] = "--allow-path";
        vent_argv[n++] = (char *) self->cfg.allow[i];
    }
    if (self->cfg.lease_ms) {
        vent_argv[n++] = "--lease-ms";
        vent_argv[n++] = (char *) self->cfg.lease_ms;
    }
    vent_argv[add_keys(self, vent_argv, n)] = NULL;
    self->ventilator_pid = spawn(self, "fruitstream-ventilator", vent_argv);

    char threads[16];
    snprintf(threads, sizeof threads, "%d", self->cfg.workers);
    char *argv[16] = {"fruitstream-worker", "--tasks", self->tasks_at, "--results",
                      self->results_at, "--weights", (char *) self->cfg.weights, "--size",
                      (char *) self->cfg.size, "--threads", threads, "--id", "local"};
    argv[add_keys(self, argv, 13)] = NULL;
    self->workers_pid = spawn(self, "fruitstream-worker", argv);
}

typedef struct {
    long long stored, failed, duplicates, backlog;
} progress_t;

static int read_progress(redis_t *redis, progress_t *p)
{
    redisReply *c = redisCommand(redis->ctx, "HMGET %s stored failed duplicates", KEY_COUNTERS);
    redisReply *len = redisCommand(redis->ctx, "XLEN %s", KEY_UPLOADS);
    int rc = -1;
    if (c && c->type == REDIS_REPLY_ARRAY && len && len->type == REDIS_REPLY_INTEGER) {
        p->stored = c->element[0]->str ? atoll(c->element[0]->str) : 0;
        p->failed = c->element[1]->str ? atoll(c->element[1]->str) : 0;
        p->duplicates = c->element[2]->str ? atoll(c->element[2]->str) : 0;
        p->backlog = len->integer;
        rc = 0;
    }
    freeReplyObject(c);
    freeReplyObject(len);
    return rc;
}

/* A child that exits on its own ends the run: without any of them it cannot finish. */
static int check_children(run_t *self)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        const char *what = pid == self->sink_pid ? "sink"
                         : pid == self->ventilator_pid ? "ventilator"
                         : self->redis_server && pid == private_redis_pid(self->redis_server)
                             ? "redis-server" : "the workers";
        log_error("%s (pid %d) exited unexpectedly with status %d", what, (int) pid,
                  WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        if (pid == self->workers_pid)
            self->workers_pid = 0;
        return -1;
    }
    return 0;
}

static int monitor(run_t *self, redis_t *redis, long total, const progress_t *start,
                   progress_t *now)
{
    bool tty = isatty(STDERR_FILENO);
    double last_print = 0, t0 = clock_seconds();
    while (!interrupted) {
        if (check_children(self) != 0)
            return -1;
        if (read_progress(redis, now) != 0) {
            log_error("lost Redis");
            return -1;
        }
        long long done = (now->stored - start->stored) + (now->failed - start->failed) +
                         (now->duplicates - start->duplicates);
        double elapsed = clock_seconds() - t0;
        if (now->backlog == 0 || clock_seconds() - last_print >= (tty ? 0.5 : 10.0)) {
            fprintf(stderr, "%s%lld/%ld images  %lld failed  %.0f images/s  %.0f s%s",
                    tty ? "\r" : "", done, total, now->failed - start->failed,
                    elapsed >= 1 ? (double) done / elapsed : 0.0, elapsed, tty ? "  " : "\n");
            last_print = clock_seconds();
        }
        if (now->backlog == 0) {
            if (tty)
                fputc('\n', stderr);
            return 0;
        }
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    if (tty)
        fputc('\n', stderr);
    return -1;
}

/* user + system CPU seconds of the Redis server since it started, or -1. */
static double redis_cpu_seconds(redis_t *redis)
{
    redisReply *r = redisCommand(redis->ctx, "INFO cpu");
    double total = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *sys = strstr(r->str, "used_cpu_sys:");
        const char *user = strstr(r->str, "used_cpu_user:");
        if (sys && user)
            total = atof(sys + strlen("used_cpu_sys:")) + atof(user + strlen("used_cpu_user:"));
    }
    freeReplyObject(r);
    return total;
}

/* The summary; the cpu line says where the machine's time went, which is how the cost of
 * the plumbing (sink, ventilator, Redis) is measured against the workers'. */
static void print_summary(const run_t *self, redis_t *redis, long long images, long long failed,
                          double seconds)
{
    redisReply *labels = redisCommand(redis->ctx, "HLEN %s", KEY_LABELS);
    redisReply *model = redisCommand(redis->ctx, "HMGET %s n k explained", KEY_PCA_MODEL);
    printf("images: %lld\nclasses: %lld\nfailed: %lld\nseconds: %.1f\nimages/s: %.1f\n", images,
           labels && labels->type == REDIS_REPLY_INTEGER ? labels->integer : 0, failed, seconds,
           seconds > 0 ? (double) images / seconds : 0.0);
    printf("kernels: %s (cpu: %s)\n", isa_name(self->isa), isa_cpu_flags());
    if (model && model->type == REDIS_REPLY_ARRAY && model->element[0]->str)
        printf("pca: n=%s k=%s explained=%s\n", model->element[0]->str, model->element[1]->str,
               model->element[2]->str);
    freeReplyObject(labels);
    freeReplyObject(model);
    printf("cpu seconds: workers %.2f (%.3f ms/image), sink %.2f, ventilator %.2f",
           self->workers_cpu, images > 0 ? self->workers_cpu * 1e3 / (double) images : 0.0,
           self->sink_cpu, self->ventilator_cpu);
    double redis_cpu = self->redis_server ? redis_cpu_seconds(redis) : -1;
    if (redis_cpu >= 0)
        printf(", redis %.2f", redis_cpu);
    printf("\n");
}

/* ZeroMQ leaves an ipc:// endpoint's socket file behind when its process is stopped. */
static void remove_socket_file(const char *endpoint)
{
    const char *prefix = "ipc://";
    if (strncmp(endpoint, prefix, strlen(prefix)) == 0)
        unlink(endpoint + strlen(prefix));
}

/* Where a worker on this machine connects to reach a socket bound at endpoint: the same,
 * with a wildcard host (*, 0.0.0.0, [::]) made loopback. */
static void local_connect(const char *endpoint, char *out, size_t outlen)
{
    const char *wild[] = {"tcp://*:", "tcp://0.0.0.0:", "tcp://[::]:"};
    const char *loop[] = {"tcp://127.0.0.1:", "tcp://127.0.0.1:", "tcp://[::1]:"};
    for (int i = 0; i < 3; i++)
        if (strncmp(endpoint, wild[i], strlen(wild[i])) == 0) {
            snprintf(out, outlen, "%s%s", loop[i], endpoint + strlen(wild[i]));
            return;
        }
    snprintf(out, outlen, "%s", endpoint);
}

/* The roles' endpoints (private ipc:// ones unless --tasks/--results), and the CURVE key
 * directory: --keys, else, as soon as an endpoint is TCP, DATA-DIR/keys, made the first
 * time (workers elsewhere then need its server.cert and an identity: `keys DIR --add`). */
static int choose_endpoints(run_t *self)
{
    snprintf(self->tasks, sizeof self->tasks, "ipc:///tmp/fruitstream-%d.tasks", (int) getpid());
    snprintf(self->results, sizeof self->results, "ipc:///tmp/fruitstream-%d.results",
             (int) getpid());
    if (self->cfg.tasks)
        snprintf(self->tasks, sizeof self->tasks, "%s", self->cfg.tasks);
    if (self->cfg.results)
        snprintf(self->results, sizeof self->results, "%s", self->cfg.results);
    local_connect(self->tasks, self->tasks_at, sizeof self->tasks_at);
    local_connect(self->results, self->results_at, sizeof self->results_at);
    bool tcp = strncmp(self->tasks, "tcp://", 6) == 0 || strncmp(self->results, "tcp://", 6) == 0;
    if (self->cfg.keys || !tcp) {
        snprintf(self->keys, sizeof self->keys, "%s", self->cfg.keys ? self->cfg.keys : "");
        return 0;
    }
    char err[PATH_MAX + 256] = "", server[PATH_MAX + 32];
    snprintf(self->keys, sizeof self->keys, "%s/keys", self->cfg.data_dir);
    snprintf(server, sizeof server, "%s/%s.cert_secret", self->keys, CURVE_SERVER_NAME);
    if (access(server, F_OK) == 0)
        return 0;
    if (mkdir(self->cfg.data_dir, 0700) != 0 && errno != EEXIST)
        snprintf(err, sizeof err, "%s: %s", self->cfg.data_dir, strerror(errno));
    else if (curve_keys_make(self->keys, err, sizeof err) == 0)
        err[0] = '\0';
    if (err[0]) {
        log_error("cannot make CURVE keys for the TCP endpoints: %s", err);
        return -1;
    }
    log_info("made CURVE keys in %s for the TCP endpoints", self->keys);
    return 0;
}

/* The URL the roles get: the same address without its password, which goes in
 * $REDIS_PASSWORD instead (any local user can read a command line). */
static int url_for_children(const char *url, char *out, size_t outlen)
{
    redis_address_t address;
    char err[512];
    if (redis_address_parse(url, &address, err, sizeof err) != 0) {
        log_error("%s", err);
        return -1;
    }
    if (address.password[0])
        setenv("REDIS_PASSWORD", address.password, 1);
    redis_address_format(&address, false, out, outlen);
    return 0;
}

static void find_bin_dir(run_t *self)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    snprintf(self->bin_dir, sizeof self->bin_dir, "%s", n > 0 ? exe : ".");
}

int cmd_run(int argc, char **argv)
{
    static run_t run;
    run_t *self = &run;
    if (parse_args(argc, argv, &self->cfg) != 0)
        return 2;
    struct stat st;
    if (stat(self->cfg.dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        log_error("%s is not a folder of images", self->cfg.dir);
        return 1;
    }
    if (access(self->cfg.weights, R_OK) != 0) {
        log_error("cannot read the weights %s: %s (set --weights or $%s)", self->cfg.weights,
                  strerror(errno), CONFIG_WEIGHTS_ENV);
        return 1;
    }
    char why[256];
    if (isa_from_env(&self->isa, why, sizeof why) != 0) { /* before any process starts */
        log_error("%s", why);
        return 1;
    }
    find_bin_dir(self);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (choose_endpoints(self) != 0)
        return 1;
    if (self->cfg.redis_url) {
        if (url_for_children(self->cfg.redis_url, self->redis_url, sizeof self->redis_url) != 0)
            return 2;
    } else if ((self->redis_server = private_redis_new(self->cfg.data_dir)))
        snprintf(self->redis_url, sizeof self->redis_url, "%s",
                 private_redis_url(self->redis_server));
    else
        return 1;

    char err[512];
    redis_t *redis = redis_new(self->redis_url, err, sizeof err);
    int status = 1;
    progress_t start = {0}, now = {0};
    double t0 = clock_seconds();
    long total = -1;
    if (!redis) {
        log_error("%s", err);
    } else if (uploads_ensure_group(redis) == 0 && read_progress(redis, &start) == 0) {
        start_roles(self);
        uploads_t *uploads = uploads_new(redis);
        total = uploads_add_tree(uploads, self->cfg.dir);
        uploads_destroy(&uploads);
        if (total >= 0) {
            freeReplyObject(redisCommand(redis->ctx, "HINCRBY %s uploaded %ld", KEY_COUNTERS,
                                         total));
            log_info("%ld images from %s, %d workers", total, self->cfg.dir, self->cfg.workers);
            status = monitor(self, redis, total, &start, &now) == 0 ? 0 : 1;
        }
    }
    double seconds = clock_seconds() - t0;
    stop_child(&self->workers_pid, "the workers", &self->workers_cpu);
    stop_child(&self->ventilator_pid, "the ventilator", &self->ventilator_cpu);
    stop_child(&self->sink_pid, "the sink", &self->sink_cpu);
    if (redis && total >= 0)
        print_summary(self, redis,
                      (now.stored - start.stored) + (now.failed - start.failed) +
                          (now.duplicates - start.duplicates),
                      now.failed - start.failed, seconds);
    if (interrupted)
        fprintf(stderr, "fruitstream run: interrupted; what was stored stays in Redis\n");
    redis_destroy(&redis);
    private_redis_destroy(&self->redis_server);
    remove_socket_file(self->tasks);
    remove_socket_file(self->results);
    return interrupted ? 130 : status;
}
