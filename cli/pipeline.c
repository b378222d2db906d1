/* pipeline.c -- see pipeline.h. A supervisor of child processes, nothing more: each role
 * is one of our programs, started from the directory this one runs from, talking over
 * ipc:// sockets named after our pid (or the TCP endpoints given, with CURVE keys:
 * --keys, else a key directory made once in --data-dir, so a pipeline never opens a port
 * to anyone who can reach it). Children ignore SIGINT: Ctrl-C reaches the whole process
 * group, and the parent stops them in its own order. */
#include "cli/pipeline.h"

#include "cli/private_redis.h"
#include "common/config.h"
#include "common/curve.h"
#include "common/log.h"
#include "common/options.h"
#include "common/stop.h"
#include "common/uploads.h"
#include "featurizer/featurizer.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct pipeline_t {
    pipeline_config_t cfg;
    char bin_dir[PATH_MAX];
    char redis_url[PATH_MAX];
    private_redis_t *redis_server;       /* ours, unless a Redis was named */
    char tasks[128], results[128];       /* where the roles bind */
    char tasks_at[128], results_at[128]; /* where the local workers connect */
    char keys[PATH_MAX];                 /* CURVE key directory, or "" */
    pid_t pid[PIPELINE_ROLES];           /* the workers: one process, a worker per thread */
    double cpu[PIPELINE_ROLES];          /* seconds, user + system, once stopped */
};

static const char *role_names[PIPELINE_ROLES] = {"the sink", "the ventilator", "the workers"};

void pipeline_config_defaults(pipeline_config_t *cfg)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *cfg = (pipeline_config_t){.data_dir = PRIVATE_REDIS_DEFAULT_DIR,
                               .workers = cores > 0 ? (int) cores : 1,
                               .size = FEATURIZER_DEFAULT_SIZE};
}

int pipeline_allow(void *target, const char *dir)
{
    pipeline_config_t *cfg = target;
    if (cfg->allowed == PIPELINE_MAX_ALLOW) {
        fprintf(stderr, "fruitstream: more than %d --allow-path\n", PIPELINE_MAX_ALLOW);
        return -1;
    }
    cfg->allow[cfg->allowed++] = dir;
    return 0;
}

int pipeline_config_check(pipeline_config_t *cfg)
{
    cfg->weights = config_weights_path(cfg->weights);
    cfg->keys = config_keys_dir(cfg->keys);
    if (access(cfg->weights, R_OK) != 0) {
        log_error("cannot read the weights %s: %s (set --weights or $%s)", cfg->weights,
                  strerror(errno), CONFIG_WEIGHTS_ENV);
        return -1;
    }
    char why[256];
    if (isa_from_env(&cfg->isa, why, sizeof why) != 0) { /* before any process starts */
        log_error("%s", why);
        return -1;
    }
    return 0;
}

/* Starts one of our programs, from the directory this one runs from, with argv. */
static pid_t spawn(const pipeline_t *self, const char *program, char *const argv[])
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", self->bin_dir, program);
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_IGN); /* Ctrl-C reaches the whole group; we stop children in order */
        stop_with_parent(parent);
        execv(path, argv);
        fprintf(stderr, "fruitstream: cannot start %s: %s\n", path, strerror(errno));
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

void pipeline_stop(pipeline_t *self, pipeline_role_t role)
{
    pid_t pid = self->pid[role];
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    int status;
    struct rusage ru;
    self->pid[role] = 0;
    for (int i = 0; i < 600; i++) { /* 60 s, then no more patience */
        pid_t done = wait4(pid, &status, WNOHANG, &ru);
        if (done == pid || (done < 0 && errno == ECHILD)) {
            if (done == pid)
                self->cpu[role] += cpu_seconds(&ru);
            return;
        }
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    log_warn("%s did not stop in 60 s; killing it", role_names[role]);
    kill(pid, SIGKILL);
    if (wait4(pid, &status, 0, &ru) == pid)
        self->cpu[role] += cpu_seconds(&ru);
}

/* Appends --keys DIR to a role's argv at n when CURVE is on; returns the new n. */
static int add_keys(pipeline_t *self, char **argv, int n)
{
    if (self->keys[0]) {
        argv[n++] = "--keys";
        argv[n++] = self->keys;
    }
    return n;
}

void pipeline_start(pipeline_t *self)
{
    /* The numbers as the roles read them again: %.17g gives a double back exactly. */
    char k[16], variance[32], lease_ms[32], size[16], threads[16];
    snprintf(k, sizeof k, "%d", self->cfg.k);
    snprintf(variance, sizeof variance, "%.17g", self->cfg.variance);
    snprintf(lease_ms, sizeof lease_ms, "%lld", (long long) self->cfg.lease_ms);
    snprintf(size, sizeof size, "%d", self->cfg.size);
    snprintf(threads, sizeof threads, "%d", self->cfg.workers);
    char *sink_argv[16] = {"fruitstream-sink", "--results", self->results, "--redis",
                           self->redis_url};
    int n = 5;
    if (self->cfg.k > 0) {
        sink_argv[n++] = "--k";
        sink_argv[n++] = k;
    }
    if (self->cfg.variance > 0) {
        sink_argv[n++] = "--variance";
        sink_argv[n++] = variance;
    }
    if (self->cfg.standardize)
        sink_argv[n++] = "--standardize";
    sink_argv[add_keys(self, sink_argv, n)] = NULL;
    self->pid[PIPELINE_SINK] = spawn(self, "fruitstream-sink", sink_argv);

    char *vent_argv[PIPELINE_MAX_EXTRA_ARGS + 2 * PIPELINE_MAX_ALLOW + 12] = {
        "fruitstream-ventilator", "--tasks", self->tasks, "--redis", self->redis_url};
    n = 5;
    if (self->cfg.lease_ms > 0) {
        vent_argv[n++] = "--lease-ms";
        vent_argv[n++] = lease_ms;
    }
    for (int i = 0; i < self->cfg.allowed; i++) {
        vent_argv[n++] = "--allow-path";
        vent_argv[n++] = (char *) self->cfg.allow[i];
    }
    for (int i = 0; i < self->cfg.ventilator_argc; i++)
        vent_argv[n++] = (char *) self->cfg.ventilator_args[i];
    vent_argv[add_keys(self, vent_argv, n)] = NULL;
    self->pid[PIPELINE_VENTILATOR] = spawn(self, "fruitstream-ventilator", vent_argv);

    char *argv[16] = {"fruitstream-worker",
                      "--tasks",
                      self->tasks_at,
                      "--results",
                      self->results_at,
                      "--weights",
                      (char *) self->cfg.weights,
                      "--size",
                      size,
                      "--threads",
                      threads,
                      "--id",
                      "local"};
    argv[add_keys(self, argv, 13)] = NULL;
    self->pid[PIPELINE_WORKERS] = spawn(self, "fruitstream-worker", argv);
}

int pipeline_check_children(pipeline_t *self)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        const char *what = "a child";
        if (self->redis_server && pid == private_redis_pid(self->redis_server)) {
            what = "redis-server";
            private_redis_reaped(self->redis_server);
        }
        for (int role = 0; role < PIPELINE_ROLES; role++)
            if (pid == self->pid[role]) {
                what = role_names[role];
                self->pid[role] = 0;
            }
        log_error("%s (pid %d) exited unexpectedly with status %d", what, (int) pid,
                  WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return -1;
    }
    return 0;
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

/* Copies the endpoint an option gave (when it gave one) into to: 0, or -1 after an error
 * naming the option when it does not fit, since a cut endpoint would be another one. */
static int take_endpoint(char *to, size_t size, const char *given, const char *option)
{
    if (given && strlen(given) >= size) {
        log_error("%s: an endpoint of more than %zu bytes", option, size - 1);
        return -1;
    }
    if (given)
        snprintf(to, size, "%s", given);
    return 0;
}

/* The roles' endpoints (private ipc:// ones unless --tasks/--results), and the CURVE key
 * directory: --keys, else, as soon as an endpoint is TCP, DATA-DIR/keys, made the first
 * time (workers elsewhere then need its server.cert and an identity: `keys DIR --add`). */
static int choose_endpoints(pipeline_t *self)
{
    snprintf(self->tasks, sizeof self->tasks, "ipc:///tmp/fruitstream-%d.tasks", (int) getpid());
    snprintf(self->results, sizeof self->results, "ipc:///tmp/fruitstream-%d.results",
             (int) getpid());
    if (take_endpoint(self->tasks, sizeof self->tasks, self->cfg.tasks, "--tasks") != 0 ||
        take_endpoint(self->results, sizeof self->results, self->cfg.results, "--results") != 0)
        return -1;
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

static void find_bin_dir(pipeline_t *self)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    snprintf(self->bin_dir, sizeof self->bin_dir, "%s", n > 0 ? exe : ".");
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

pipeline_t *pipeline_new(const pipeline_config_t *cfg)
{
    pipeline_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    find_bin_dir(self);
    if (choose_endpoints(self) != 0) {
        free(self);
        return NULL;
    }
    if (cfg->redis_url) {
        if (url_for_children(cfg->redis_url, self->redis_url, sizeof self->redis_url) != 0) {
            free(self);
            return NULL;
        }
    } else if ((self->redis_server = private_redis_new(cfg->data_dir)))
        snprintf(self->redis_url, sizeof self->redis_url, "%s",
                 private_redis_url(self->redis_server));
    else {
        free(self);
        return NULL;
    }
    return self;
}

pipeline_t *pipeline_open(pipeline_config_t *cfg, redis_t **redis)
{
    *redis = NULL;
    if (pipeline_config_check(cfg) != 0)
        return NULL;
    stop_catch_signals();
    pipeline_t *self = pipeline_new(cfg);
    if (!self)
        return NULL;
    char err[512];
    if (!(*redis = redis_new(self->redis_url, err, sizeof err)))
        log_error("%s", err);
    if (!*redis || uploads_ensure_group(*redis) != 0) {
        redis_destroy(redis);
        pipeline_destroy(&self);
    }
    return self;
}

void pipeline_destroy(pipeline_t **self_p)
{
    pipeline_t *self = *self_p;
    if (!self)
        return;
    pipeline_stop(self, PIPELINE_WORKERS);
    pipeline_stop(self, PIPELINE_VENTILATOR);
    pipeline_stop(self, PIPELINE_SINK);
    private_redis_destroy(&self->redis_server);
    remove_socket_file(self->tasks);
    remove_socket_file(self->results);
    free(self);
    *self_p = NULL;
}

const char *pipeline_redis_url(const pipeline_t *self)
{
    return self->redis_url;
}

bool pipeline_owns_redis(const pipeline_t *self)
{
    return self->redis_server != NULL;
}

double pipeline_cpu(const pipeline_t *self, pipeline_role_t role)
{
    return self->cpu[role];
}
