/* fruitstream-worker -- featurizes images: PULL tasks, PUSH their results, repeat.
 *
 * Workers hold no state worth keeping: start one on any machine that can reach the
 * ventilator and the sink, stop it whenever. A task message holds a few tasks, one per
 * frame (the ventilator's --tasks-per-message); their results go out together as one
 * message, so that this process, its ZeroMQ I/O thread and the sink wake once per message
 * rather than once per image. The task socket's receive high-water mark is 1, so ZeroMQ
 * queues at most one message beyond the one being worked on; the kernel's socket buffer
 * below it holds more (--task-buffer sets it for TCP), and the ventilator's in-flight cap
 * bounds all of it (README, "Flow control"). SIGTERM or SIGINT lets the current message's
 * images finish and their results go out, then the worker exits 0: that is how operators
 * scale down. A heartbeat goes to the sink every second, even when idle, so Redis knows
 * who is alive. */
#include "clock.h"
#include "config.h"
#include "featurizer.h"
#include "log.h"
#include "stop.h"
#include "wire.h"

#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *tasks_endpoint;
    const char *results_endpoint;
    const char *weights;
    int size;
    long max_pixels;
    int task_buffer;
    char id[WIRE_NAME_MAX];
} worker_config_t;

typedef struct {
    int64_t done, failed, malformed;
    int64_t done_at_last_beat;
    double last_beat;
} worker_stats_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fruitstream-worker [options]\n"
            "Pulls image tasks from the ventilator, computes MobileNetV2 features, pushes\n"
            "results to the sink. SIGTERM/SIGINT: finish the current image, then exit 0.\n\n"
            "  --tasks ENDPOINT     ventilator's task socket (default %s)\n"
            "  --results ENDPOINT   sink's result socket (default %s)\n"
            "  --weights PATH       MobileNetV2 safetensors (default $%s or %s)\n"
            "  --size S             network input side (default %d)\n"
            "  --max-pixels N       reject larger images (default %ld)\n"
            "  --task-buffer BYTES  kernel receive buffer of a TCP task connection (default %d;\n"
            "                       0: the system's)\n"
            "  --id NAME            worker id in results and heartbeats (default HOST:PID)\n"
            "  --log-level LEVEL    debug, info, warn or error (default info)\n"
            "  -h, --help           this text\n",
            CONFIG_TASKS_CONNECT, CONFIG_RESULTS_CONNECT, CONFIG_WEIGHTS_ENV,
            CONFIG_WEIGHTS_DEFAULT, FEATURIZER_DEFAULT_SIZE, FEATURIZER_DEFAULT_MAX_PIXELS,
            CONFIG_TASK_BUFFER);
}

static int parse_args(int argc, char **argv, worker_config_t *cfg)
{
    static const struct option options[] = {
        {"tasks", required_argument, 0, 't'},   {"results", required_argument, 0, 'r'},
        {"weights", required_argument, 0, 'w'}, {"size", required_argument, 0, 's'},
        {"max-pixels", required_argument, 0, 'm'}, {"id", required_argument, 0, 'i'},
        {"task-buffer", required_argument, 0, 'B'},
        {"log-level", required_argument, 0, 'l'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    *cfg = (worker_config_t){CONFIG_TASKS_CONNECT, CONFIG_RESULTS_CONNECT, NULL,
                             FEATURIZER_DEFAULT_SIZE, FEATURIZER_DEFAULT_MAX_PIXELS,
                             CONFIG_TASK_BUFFER, ""};
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 't': cfg->tasks_endpoint = optarg; break;
        case 'r': cfg->results_endpoint = optarg; break;
        case 'w': cfg->weights = optarg; break;
        case 's': cfg->size = atoi(optarg); break;
        case 'm': cfg->max_pixels = atol(optarg); break;
        case 'B': cfg->task_buffer = atoi(optarg); break;
        case 'i': snprintf(cfg->id, sizeof cfg->id, "%s", optarg); break;
        case 'l':
            if (log_set_level_name(optarg) != 0)
                return -1;
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc || cfg->size < 32 || cfg->max_pixels <= 0 || cfg->task_buffer < 0) {
        fprintf(stderr, "fruitstream-worker: bad arguments (--size must be >= 32)\n");
        usage(stderr);
        return -1;
    }
    if (!cfg->id[0]) {
        char host[64] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(cfg->id, sizeof cfg->id, "%s:%d", host, (int) getpid());
    }
    cfg->weights = config_weights_path(cfg->weights);
    return 0;
}

/* Turns one task into its result; result->features points into features. */
static void featurize(featurizer_t *featurizer, const worker_config_t *cfg,
                      const wire_task_t *task, float *features, wire_result_t *result)
{
    memset(result, 0, sizeof *result);
    memcpy(result->entry, task->entry, sizeof result->entry);
    memcpy(result->key, task->key, sizeof result->key);
    memcpy(result->label, task->label, sizeof result->label);
    snprintf(result->worker, sizeof result->worker, "%s", cfg->id);
    result->uploaded_ms = task->uploaded_ms;
    result->attempt = task->attempt;
    result->size = cfg->size;
    if (task->error[0]) {
        snprintf(result->error, sizeof result->error, "%s", task->error);
        return;
    }
    featurizer_timings_t t;
    if (featurizer_run(featurizer, task->image, task->image_len, features, &t, result->error,
                       sizeof result->error) != 0)
        return;
    result->ok = true;
    result->features = (const uint8_t *) features;
    result->features_len = FEATURE_DIM * sizeof(float);
    result->decode_ms = t.decode_ms;
    result->resize_ms = t.resize_ms;
    result->net_ms = t.net_ms;
}

/* Featurizes the task in one frame and adds its result to `done`; a frame that is not a
 * task is dropped and counted. */
static void work_on(zframe_t *frame, featurizer_t *featurizer, const worker_config_t *cfg,
                    worker_stats_t *stats, msgpack_sbuffer *buf, zmsg_t *done)
{
    static float features[FEATURE_DIM];
    char err[256];
    wire_msg_t msg;
    int decoded = wire_decode(zframe_data(frame), zframe_size(frame), &msg, err, sizeof err);
    if (decoded != 0 || msg.type != WIRE_TASK) {
        stats->malformed++;
        log_warn("dropped a malformed task (%lld so far): %s", (long long) stats->malformed,
                 decoded != 0 ? err : "not a task");
        return;
    }
    wire_result_t result;
    featurize(featurizer, cfg, &msg.task, features, &result);
    if (result.ok)
        stats->done++;
    else {
        stats->failed++;
        log_warn("%s: %s", result.key, result.error);
    }
    wire_encode_result(buf, &result);
    zmsg_addmem(done, buf->data, buf->size);
}

/* Sends the results of one task message as one message, and destroys it. Blocks while the
 * sink is unreachable; only a stop signal during that wait gives up, and the ventilator then
 * re-sends the tasks when their lease runs out. */
static void send_results(void *results, zmsg_t **message_p)
{
    for (zframe_t *frame = zmsg_first(*message_p); frame;) {
        zframe_t *next = zmsg_next(*message_p);
        int flags = next ? ZMQ_SNDMORE : 0;
        while (zmq_send(results, zframe_data(frame), zframe_size(frame), flags) < 0 &&
               errno == EINTR && !stop_requested)
            ;
        frame = next;
    }
    zmsg_destroy(message_p);
}

static void send_heartbeat(void *results, const worker_config_t *cfg, worker_stats_t *stats,
                           msgpack_sbuffer *buf)
{
    double now = clock_seconds();
    wire_heartbeat_t beat = {.pid = getpid(), .size = cfg->size, .done = stats->done,
                             .failed = stats->failed};
    snprintf(beat.worker, sizeof beat.worker, "%s", cfg->id);
    gethostname(beat.host, sizeof beat.host - 1);
    beat.rate = (double) (stats->done - stats->done_at_last_beat) / (now - stats->last_beat);
    wire_encode_heartbeat(buf, &beat);
    /* Never wait for a heartbeat: if the sink is away, the next one will do. */
    zmq_send(zsock_resolve(results), buf->data, buf->size, ZMQ_DONTWAIT);
    stats->done_at_last_beat = stats->done;
    stats->last_beat = now;
}

int main(int argc, char **argv)
{
    log_init("worker");
    worker_config_t cfg;
    if (parse_args(argc, argv, &cfg) != 0)
        return 2;
    char err[512];
    featurizer_t *featurizer =
        featurizer_new(cfg.weights, cfg.size, cfg.max_pixels, err, sizeof err);
    if (!featurizer) {
        log_error("%s", err);
        return 1;
    }
    stop_catch_signals();
    zsys_init();
    zsock_t *tasks = zsock_new(ZMQ_PULL);
    zsock_t *results = zsock_new(ZMQ_PUSH);
    zsock_set_rcvhwm(tasks, 1);
    int task_buffer = config_task_buffer_for(cfg.tasks_endpoint, cfg.task_buffer);
    if (task_buffer > 0)
        zsock_set_rcvbuf(tasks, task_buffer);
    zsock_set_linger(results, 10000); /* let the last results reach the sink on exit */
    if (zsock_connect(tasks, "%s", cfg.tasks_endpoint) != 0 ||
        zsock_connect(results, "%s", cfg.results_endpoint) != 0) {
        log_error("cannot connect to %s / %s: %s", cfg.tasks_endpoint, cfg.results_endpoint,
                  zmq_strerror(zmq_errno()));
        return 1;
    }
    log_info("worker %s: S=%d, tasks from %s, results to %s", cfg.id, cfg.size,
             cfg.tasks_endpoint, cfg.results_endpoint);

    zpoller_t *poller = zpoller_new(tasks, NULL);
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    worker_stats_t stats = {.last_beat = clock_seconds()};
    send_heartbeat(results, &cfg, &stats, &buf);
    while (!stop_requested) {
        if (clock_seconds() - stats.last_beat >= 1.0)
            send_heartbeat(results, &cfg, &stats, &buf);
        if (!zpoller_wait(poller, 250))
            continue;
        zmsg_t *message = zmsg_recv(tasks); /* all its tasks; a stop waits for them */
        if (!message)
            continue;
        zmsg_t *done = zmsg_new();
        for (zframe_t *frame = zmsg_first(message); frame; frame = zmsg_next(message))
            work_on(frame, featurizer, &cfg, &stats, &buf, done);
        zmsg_destroy(&message);
        if (zmsg_size(done) > 0)
            send_results(zsock_resolve(results), &done);
        zmsg_destroy(&done);
    }
    log_info("worker %s stopping: %lld done, %lld failed", cfg.id, (long long) stats.done,
             (long long) stats.failed);
    msgpack_sbuffer_destroy(&buf);
    zpoller_destroy(&poller);
    zsock_destroy(&tasks);
    zsock_destroy(&results);
    featurizer_destroy(&featurizer);
    return 0;
}
