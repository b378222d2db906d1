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
 * scale down. The exit is bounded even when the sink is unreachable (a dead machine, a cut
 * link): a blocked send gives up once a stop is asked for, checked every WORKER_SEND_WAIT_MS
 * on every thread, and unsent results are dropped after WORKER_LINGER_MS; their tasks come
 * back through the ventilator's lease. A heartbeat goes to the sink every second, even when idle, so Redis knows
 * who is alive. With --threads N the process runs N such workers on N threads, each with
 * its own sockets, id and heartbeat, and one copy of the weights between them: two
 * processes' copies (2 x 14 MB) crowd a shared L3 cache that holds one copy easily. The
 * kernels run on the best instruction set the CPU has, or the one FRUITSTREAM_ISA names;
 * the worker logs it and reports it in every heartbeat. */
#include "common/clock.h"
#include "common/config.h"
#include "common/curve.h"
#include "common/isa.h"
#include "common/log.h"
#include "common/options.h"
#include "common/stop.h"
#include "common/wire.h"
#include "featurizer/featurizer.h"

#include <czmq.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long a stopping worker still tries to deliver its last results: long enough for a
 * reachable sink on a LAN, short enough for systemd's and Kubernetes' stop timeouts. */
#define WORKER_LINGER_MS 2000
/* A send blocked on an unreachable sink wakes this often to see whether a stop was asked
 * for: a signal interrupts only the thread it lands on, not the other workers' threads. */
#define WORKER_SEND_WAIT_MS 250
/* The largest task frame the task socket takes (ZMQ_MAXMSGSIZE, which limits each frame):
 * the largest image the ventilator can send (its --max-image-bytes at most) and the task's
 * other fields. A larger frame makes ZeroMQ drop the connection instead of receiving it
 * (without a limit one 2 GB frame was taken whole, and the worker grew with whatever a peer
 * sent), and, as after any protocol error, not make it again; see link_t for what the
 * worker does then. Only a ventilator gone wrong sends one. */
#define WORKER_MAX_TASK_FRAME (CONFIG_MAX_IMAGE_BYTES_LIMIT + WIRE_TASK_FIELDS_MAX)
/* How long a connection ZeroMQ dropped may go without a retry before the worker makes the
 * socket anew (link_t); the wait doubles from one remake to the next while the new
 * connections keep failing, up to the second figure. */
#define WORKER_RELINK_SECONDS 1.0
#define WORKER_RELINK_MAX_SECONDS 60.0

typedef struct {
    const char *tasks_endpoint;
    const char *results_endpoint;
    const char *weights;
    int size;
    int64_t max_pixels;
    int64_t task_buffer;
    int threads;
    isa_t isa;
    char id[WIRE_NAME_MAX];
    const char *keys, *cert;
    curve_t *curve; /* CURVE client with --keys, else NULL */
} worker_config_t;

/* One worker: a thread of its own, with its own featurizer (the weights shared), sockets,
 * id and counts. */
typedef struct {
    const worker_config_t *cfg;
    featurizer_t *featurizer;
    char id[WIRE_NAME_MAX];
    int64_t done, failed, malformed;
    int64_t done_at_last_beat;
    double last_beat;
    int status; /* the thread's exit status: 0, or 1 when it could not make its sockets */
    float features[FEATURE_DIM];
} worker_t;

static const char about[] =
    "Pulls image tasks from the ventilator, computes MobileNetV2 features, "
    "pushes results to the sink. SIGTERM/SIGINT: finish the current images, "
    "then exit 0 within a few seconds, even if the sink is unreachable.";

/* Reads the command line into cfg: 0, or -1 after saying why (options_parse itself ends
 * the process for --help or a bad option). */
static int parse_args(int argc, char **argv, worker_config_t *cfg)
{
    *cfg = (worker_config_t){.tasks_endpoint = CONFIG_TASKS_CONNECT,
                             .results_endpoint = CONFIG_RESULTS_CONNECT,
                             .size = FEATURIZER_DEFAULT_SIZE,
                             .max_pixels = FEATURIZER_DEFAULT_MAX_PIXELS,
                             .task_buffer = CONFIG_TASK_BUFFER,
                             .threads = 1,
                             .cert = CURVE_WORKER_NAME};
    const char *id = NULL;
    const option_t options[] = {
        OPTION_STRING("tasks", &cfg->tasks_endpoint, "ENDPOINT", "ventilator's task socket"),
        OPTION_STRING("results", &cfg->results_endpoint, "ENDPOINT", "sink's result socket"),
        OPTION_STRING("weights", &cfg->weights, "PATH", config_weights_help()),
        OPTION_INT("size", &cfg->size, FEATURIZER_MIN_SIZE, FEATURIZER_MAX_SIZE, "S",
                   "network input side"),
        OPTION_INT64("max-pixels", &cfg->max_pixels, 1, FEATURIZER_MAX_PIXELS_LIMIT, "N",
                     "reject larger images"),
        OPTION_BYTES("task-buffer", &cfg->task_buffer, 0, 1 << 30, "BYTES",
                     "kernel receive buffer of a TCP task connection, 0 for the system's"),
        OPTION_INT("threads", &cfg->threads, 1, CONFIG_MAX_WORKER_THREADS, "N",
                   "workers to run, on as many threads sharing one copy of the weights; "
                   "their ids are NAME-1 .. NAME-N"),
        OPTION_STRING("id", &id, "NAME", "worker id in results and heartbeats (default HOST:PID)"),
        OPTION_STRING("keys", &cfg->keys, "DIR",
                      "CURVE: authenticate with DIR/NAME.cert (+ _secret) and trust only "
                      "DIR/server.cert (default $" CONFIG_KEYS_ENV ")"),
        OPTION_STRING("cert", &cfg->cert, "NAME", "which identity of DIR"),
        OPTION_END};
    const options_spec_t spec = {"fruitstream-worker", .about = about, .options = options,
                                 .epilogue = ISA_ENV_HELP("the kernels' instruction set")};
    options_parse(&spec, argc, argv);
    char err[256];
    if (isa_from_env(&cfg->isa, err, sizeof err) != 0) {
        fprintf(stderr, "fruitstream-worker: %s\n", err);
        return -1;
    }
    if (id && strlen(id) >= sizeof cfg->id) { /* cut, two workers could share an id */
        fprintf(stderr, "fruitstream-worker: --id: longer than %zu bytes\n", sizeof cfg->id - 1);
        return -1;
    }
    if (id)
        snprintf(cfg->id, sizeof cfg->id, "%s", id);
    else {
        char host[64] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(cfg->id, sizeof cfg->id, "%s:%d", host, (int) getpid());
    }
    cfg->weights = config_weights_path(cfg->weights);
    cfg->keys = config_keys_dir(cfg->keys);
    return 0;
}

/* Turns one task into its result; result->features points into features. */
static void featurize(worker_t *self, const wire_task_t *task, wire_result_t *result)
{
    const worker_config_t *cfg = self->cfg;
    memset(result, 0, sizeof *result);
    memcpy(result->entry, task->entry, sizeof result->entry);
    memcpy(result->key, task->key, sizeof result->key);
    memcpy(result->label, task->label, sizeof result->label);
    memcpy(result->worker, self->id, sizeof result->worker);
    result->uploaded_ms = task->uploaded_ms;
    result->attempt = task->attempt;
    result->size = cfg->size;
    if (task->error[0]) {
        snprintf(result->error, sizeof result->error, "%s", task->error);
        return;
    }
    featurizer_timings_t t;
    if (featurizer_run(self->featurizer, task->image, task->image_len, self->features, &t,
                       result->error, sizeof result->error) != 0)
        return;
    result->ok = true;
    result->features = (const uint8_t *) self->features;
    result->features_len = FEATURE_DIM * sizeof(float);
    result->decode_ms = t.decode_ms;
    result->resize_ms = t.resize_ms;
    result->net_ms = t.net_ms;
}

/* Featurizes the task in one frame and adds its result to `done`; a frame that is not a
 * task is dropped and counted. */
static void work_on(worker_t *self, zframe_t *frame, msgpack_sbuffer *buf, zmsg_t *done)
{
    char err[256];
    wire_msg_t msg;
    int decoded = wire_decode(zframe_data(frame), zframe_size(frame), &msg, err, sizeof err);
    if (decoded != 0 || msg.type != WIRE_TASK) {
        self->malformed++;
        log_warn("%s: dropped a malformed task (%lld so far): %s", self->id,
                 (long long) self->malformed, decoded != 0 ? err : "not a task");
        return;
    }
    wire_result_t result;
    featurize(self, &msg.task, &result);
    if (result.ok)
        self->done++;
    else {
        self->failed++;
        log_warn("%s: %s", result.key, result.error);
    }
    wire_encode_result(buf, &result);
    zmsg_addmem(done, buf->data, buf->size);
}

/* Sends the results of one task message as one message, and destroys it. Waits while the
 * sink is unreachable; only a stop gives up, and the ventilator then re-sends the tasks when
 * their lease runs out. */
static void send_results(void *results, zmsg_t **message_p)
{
    for (zframe_t *frame = zmsg_first(*message_p); frame;) {
        zframe_t *next = zmsg_next(*message_p);
        int flags = next ? ZMQ_SNDMORE : 0, rc;
        while ((rc = zmq_send(results, zframe_data(frame), zframe_size(frame), flags)) < 0 &&
               (errno == EINTR || errno == EAGAIN) && !stop_requested)
            ;
        if (rc < 0) /* a stop: the rest is not tried frame by frame, the lease re-sends it */
            break;
        frame = next;
    }
    zmsg_destroy(message_p);
}

static void send_heartbeat(void *results, worker_t *self, msgpack_sbuffer *buf)
{
    double now = clock_seconds();
    wire_heartbeat_t beat = {
        .pid = getpid(), .size = self->cfg->size, .done = self->done, .failed = self->failed};
    memcpy(beat.worker, self->id, sizeof beat.worker);
    snprintf(beat.isa, sizeof beat.isa, "%s", isa_name(self->cfg->isa));
    gethostname(beat.host, sizeof beat.host - 1);
    beat.rate = (double) (self->done - self->done_at_last_beat) / (now - self->last_beat);
    wire_encode_heartbeat(buf, &beat);
    /* Never wait for a heartbeat: if the sink is away, the next one will do. */
    zmq_send(zsock_resolve(results), buf->data, buf->size, ZMQ_DONTWAIT);
    self->done_at_last_beat = self->done;
    self->last_beat = now;
}

/* A socket to a peer (the ventilator's tasks, or the sink's result socket) and a monitor of
 * its connection. After a connection error (the peer restarting, a cut link) ZeroMQ retries
 * by itself; after a protocol error (a frame over WORKER_MAX_TASK_FRAME, a handshake the
 * peer refused) it drops the connection for good, and the worker would idle, still sending
 * heartbeats, or send its results nowhere, until restarted. The monitor tells the two
 * apart: a disconnection not followed by a retry within `wait` seconds makes the worker
 * make the socket anew, which connects again (so a worker whose key is allowed later gets
 * in within a minute). The wait doubles while that keeps happening, up to
 * WORKER_RELINK_MAX_SECONDS, and is back to WORKER_RELINK_SECONDS only once a connection
 * has lasted that long: a peer that completes each handshake and then breaks the protocol
 * makes the worker connect anew, and warn, once a minute, not once a second. */
typedef struct {
    int type;             /* ZMQ_PULL for tasks, ZMQ_PUSH for results */
    const char *what;     /* "task" or "result", for messages */
    const char *endpoint; /* the peer's */
    zsock_t *socket;
    zsock_t *monitor; /* PAIR: the socket's connection events */
    double lost_at;   /* when a disconnection came with no retry since, else 0 */
    double up_at;     /* when the last handshake succeeded, else 0 */
    double wait;
    int made; /* sockets made so far, for the monitor's inproc address */
} link_t;

/* The options of a link's socket, before it connects. */
static void link_configure(const link_t *link, const worker_config_t *cfg, zsock_t *socket)
{
    if (link->type == ZMQ_PULL) {
        zsock_set_rcvhwm(socket, 1);
        zsock_set_maxmsgsize(socket, (int) WORKER_MAX_TASK_FRAME);
        int task_buffer = config_task_buffer_for(cfg->tasks_endpoint, (int) cfg->task_buffer);
        if (task_buffer > 0)
            zsock_set_rcvbuf(socket, task_buffer);
    } else {
        zsock_set_linger(socket, WORKER_LINGER_MS); /* the last results, if the sink is there */
        zsock_set_sndtimeo(socket, WORKER_SEND_WAIT_MS);
    }
    curve_apply(cfg->curve, socket);
}

/* Makes the link's socket (and its monitor) and connects it: 0, or -1 with why in err. */
static int link_make(link_t *link, const worker_t *self, char *err, size_t errlen)
{
    zsock_t *socket = zsock_new(link->type);
    char address[96];
    snprintf(address, sizeof address, "inproc://worker-%s-monitor-%p-%d", link->what, (void *) self,
             link->made++);
    if (!socket ||
        zmq_socket_monitor(zsock_resolve(socket), address,
                           ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECT_RETRIED |
                               ZMQ_EVENT_CONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0 ||
        !(link->monitor = zsock_new_pair(address))) {
        snprintf(err, errlen, "cannot make the %s socket: %s", link->what,
                 zmq_strerror(zmq_errno()));
        zsock_destroy(&socket);
        return -1;
    }
    zsock_set_rcvtimeo(link->monitor, 0); /* read when checked, never waited for */
    link_configure(link, self->cfg, socket);
    if (zsock_connect(socket, "%s", link->endpoint) != 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", link->endpoint,
                 zmq_strerror(zmq_errno()));
        zsock_destroy(&socket);
        zsock_destroy(&link->monitor);
        return -1;
    }
    link->socket = socket;
    link->lost_at = link->up_at = 0;
    return 0;
}

/* Monitoring stops before the socket closes: the events of its closing, sent by ZeroMQ's I/O
 * thread towards a monitor about to go, were lost memory (LeakSanitizer, on a loaded machine). */
static void link_destroy(link_t *link)
{
    if (link->socket)
        zmq_socket_monitor(zsock_resolve(link->socket), NULL, 0);
    zsock_destroy(&link->socket);
    zsock_destroy(&link->monitor);
}

/* Reads the connection events that came, and makes the socket anew when ZeroMQ has given
 * up on its connection. 0, or -1 (err set) when the new one cannot be made. */
static int link_check(link_t *link, const worker_t *self, char *err, size_t errlen)
{
    double now = clock_seconds();
    for (zmsg_t *event; (event = zmsg_recv(link->monitor)); zmsg_destroy(&event)) {
        zframe_t *head = zmsg_first(event);
        uint16_t kind = 0;
        if (head && zframe_size(head) >= sizeof kind)
            memcpy(&kind, zframe_data(head), sizeof kind);
        if (kind == ZMQ_EVENT_DISCONNECTED)
            link->lost_at = link->lost_at ? link->lost_at : now;
        else if (kind == ZMQ_EVENT_CONNECT_RETRIED || kind == ZMQ_EVENT_CONNECTED)
            link->lost_at = 0;
        else if (kind == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            link->up_at = now;
    }
    double end = link->lost_at ? link->lost_at : now; /* of the last connection */
    if (link->up_at && end - link->up_at >= WORKER_RELINK_MAX_SECONDS)
        link->wait = WORKER_RELINK_SECONDS; /* it lasted */
    if (!link->lost_at || now - link->lost_at < link->wait)
        return 0;
    log_warn("%s: ZeroMQ dropped the %s connection to %s after a protocol error (a frame too "
             "large or malformed, or a handshake refused) and will not make it again: "
             "connecting anew after %.0f s",
             self->id, link->what, link->endpoint, link->wait);
    link->wait =
        link->wait * 2 < WORKER_RELINK_MAX_SECONDS ? link->wait * 2 : WORKER_RELINK_MAX_SECONDS;
    link_destroy(link);
    return link_make(link, self, err, errlen);
}

/* One worker's life: connect, then receive, featurize and send until told to stop. Runs on
 * its own thread (the first worker on the main thread); self->status tells how it ended. */
static void *worker_run(void *arg)
{
    worker_t *self = arg;
    const worker_config_t *cfg = self->cfg;
    char err[512];
    link_t tasks = {.type = ZMQ_PULL,
                    .what = "task",
                    .endpoint = cfg->tasks_endpoint,
                    .wait = WORKER_RELINK_SECONDS};
    link_t results = {.type = ZMQ_PUSH,
                      .what = "result",
                      .endpoint = cfg->results_endpoint,
                      .wait = WORKER_RELINK_SECONDS};
    if (link_make(&tasks, self, err, sizeof err) != 0 ||
        link_make(&results, self, err, sizeof err) != 0) {
        log_error("%s", err);
        link_destroy(&tasks);
        self->status = 1;
        return NULL;
    }
    log_info("worker %s: S=%d, %s kernels, tasks from %s, results to %s", self->id, cfg->size,
             isa_name(cfg->isa), cfg->tasks_endpoint, cfg->results_endpoint);

    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    self->last_beat = clock_seconds();
    send_heartbeat(results.socket, self, &buf);
    while (!stop_requested) {
        if (clock_seconds() - self->last_beat >= 1.0)
            send_heartbeat(results.socket, self, &buf);
        if (link_check(&tasks, self, err, sizeof err) != 0 ||
            link_check(&results, self, err, sizeof err) != 0) {
            log_error("%s: %s", self->id, err);
            self->status = 1;
            break;
        }
        zmq_pollitem_t waiting = {zsock_resolve(tasks.socket), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&waiting, 1, 250) <= 0) /* none in 250 ms, or a signal */
            continue;
        /* One message, frame by frame. At most CONFIG_MAX_TASKS_PER_MESSAGE frames are
         * featurized (no ventilator sends more); the rest are received and dropped, counted.
         * A stop ends the message after the current frame: the results done so far go out,
         * and the tasks left are re-sent when their lease runs out. */
        zmsg_t *done = zmsg_new();
        size_t frames = 0, excess = 0;
        for (bool more = true; more;) {
            zframe_t *frame = zframe_recv(tasks.socket);
            if (!frame)
                break;
            more = zframe_more(frame);
            if (frames < CONFIG_MAX_TASKS_PER_MESSAGE) {
                frames++;
                work_on(self, frame, &buf, done);
            } else
                excess++;
            zframe_destroy(&frame);
            if (stop_requested)
                break;
        }
        if (excess > 0) {
            self->malformed += (int64_t) excess;
            log_warn("%s: dropped %zu task frames of one message past the %d a message may "
                     "hold (%lld malformed so far)",
                     self->id, excess, CONFIG_MAX_TASKS_PER_MESSAGE, (long long) self->malformed);
        }
        if (zmsg_size(done) > 0)
            send_results(zsock_resolve(results.socket), &done);
        zmsg_destroy(&done);
    }
    log_info("worker %s stopping: %lld done, %lld failed", self->id, (long long) self->done,
             (long long) self->failed);
    msgpack_sbuffer_destroy(&buf);
    link_destroy(&tasks);
    link_destroy(&results);
    return NULL;
}

/* Ids, and featurizers sharing the first one's weights, for workers 1 .. threads - 1. */
static int workers_prepare(worker_t *workers, const worker_config_t *cfg, char *err, size_t errlen)
{
    for (int i = 0; i < cfg->threads; i++) {
        workers[i].cfg = cfg;
        if (cfg->threads == 1)
            memcpy(workers[i].id, cfg->id, sizeof workers[i].id);
        else if (snprintf(workers[i].id, sizeof workers[i].id, "%s-%d", cfg->id, i + 1) >=
                 (int) sizeof workers[i].id) {
            snprintf(err, errlen, "--id %s is too long for %d threads", cfg->id, cfg->threads);
            return -1;
        }
        if (i > 0 &&
            !(workers[i].featurizer = featurizer_share(workers[0].featurizer, err, errlen)))
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    log_init("worker");
    worker_config_t cfg;
    if (parse_args(argc, argv, &cfg) != 0)
        return 2;
    char err[512];
    if (curve_client_setup(cfg.keys, cfg.cert, &cfg.curve) != 0)
        return 1;
    if (!cfg.keys && !(curve_endpoint_is_local(cfg.tasks_endpoint) &&
                       curve_endpoint_is_local(cfg.results_endpoint)))
        log_warn("no --keys: tasks and results cross the network unauthenticated, in clear");
    worker_t *workers = calloc((size_t) cfg.threads, sizeof *workers);
    if (!workers)
        return 1;
    workers[0].featurizer =
        featurizer_new(cfg.weights, cfg.size, (long) cfg.max_pixels, cfg.isa, err, sizeof err);
    int status = 0;
    if (!workers[0].featurizer || workers_prepare(workers, &cfg, err, sizeof err) != 0) {
        log_error("%s", err);
        status = 1;
    } else {
        stop_catch_signals();
        zsys_init();
        pthread_t threads[CONFIG_MAX_WORKER_THREADS];
        int started = 1;
        while (started < cfg.threads &&
               pthread_create(&threads[started], NULL, worker_run, &workers[started]) == 0)
            started++;
        if (started < cfg.threads) {
            log_error("could start only %d of %d threads", started, cfg.threads);
            stop_requested = 1;
        }
        worker_run(&workers[0]);
        for (int i = 1; i < started; i++)
            pthread_join(threads[i], NULL);
        for (int i = 0; i < started; i++)
            status |= workers[i].status;
        status |= started < cfg.threads;
    }
    for (int i = cfg.threads - 1; i >= 0; i--) /* the weights' owner, workers[0], last */
        featurizer_destroy(&workers[i].featurizer);
    free(workers);
    curve_destroy(&cfg.curve);
    return status;
}
