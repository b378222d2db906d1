/* fruitstream-ventilator -- hands out uploads as tasks to whatever workers are connected.
 *
 * Work comes from the upload stream (fs:uploads), read through a consumer group; --dir,
 * --list and --stdin first add their images to that stream, so batch runs and live uploads
 * take the same path. The loop keeps at most --max-in-flight entries delivered but not yet
 * stored (the group's pending list, which the sink clears as it stores), reads only as many
 * new entries as that allows, and sends each as one TASK frame on a PUSH socket, a few to a
 * message (--tasks-per-message); the in-flight cap is what bounds the tasks queued at
 * workers, since socket buffers hold more than ZeroMQ's pipes (README, "Flow control").
 * Every second it re-sends the entries whose lease ran out (XAUTOCLAIM: a worker died, or a
 * message was lost) and writes backlog and in-flight counts to fs:counters. A result that
 * then arrives twice is stored once by the sink. Nothing is lost if the ventilator dies:
 * what it had read stays pending in Redis and is re-sent when its lease ends. With --watch
 * it also adds every JPEG that appears under the folders named (watch.c), checking for
 * them at every turn of its loop. */
#include "clock.h"
#include "config.h"
#include "curve.h"
#include "defer.h"
#include "keys.h"
#include "log.h"
#include "redis.h"
#include "stop.h"
#include "uploads.h"
#include "watch.h"
#include "wire.h"

#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *tasks_endpoint;
    const char *redis_url;
    const char *dir, *list;
    bool from_stdin;
    const char *consumer;
    int64_t lease_ms;
    int max_in_flight;
    int tasks_per_message;
    long max_image_bytes;
    int task_buffer;
    const char *keys;
    bool insecure;
    const char *watch[WATCH_MAX_DIRS];
    int watches;
} ventilator_config_t;

typedef struct {
    ventilator_config_t cfg;
    redis_t *redis;
    zsock_t *tasks;
    curve_t *curve;       /* CURVE server with --keys, else NULL */
    watch_t *watch;       /* --watch folders, or NULL */
    msgpack_sbuffer buf;
    char *image;          /* file or blob bytes of the task being built */
    int64_t in_flight;    /* pending entries of the group */
    int64_t backlog;      /* entries not yet delivered */
    char claim_cursor[WIRE_ENTRY_MAX];
    int64_t sent, resent;
} ventilator_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fruitstream-ventilator [options]\n"
            "Reads uploads from Redis (%s) and pushes them to workers as tasks; re-sends any\n"
            "task whose result is not stored within the lease.\n\n"
            "  --tasks ENDPOINT        bind the task socket here (default %s)\n"
            "  --redis URL             Redis (default $REDIS_URL or %s)\n"
            "  --dir DIR               first upload every *.jpg/*.jpeg under DIR (label = folder)\n"
            "  --list FILE             first upload the paths listed in FILE (PATH[<TAB>LABEL])\n"
            "  --stdin                 first upload the paths listed on standard input\n"
            "  --watch DIR             upload every JPEG that appears under DIR, once\n"
            "                          (recursive; label = folder; key = absolute path)\n"
            "  --lease-ms MS           re-send a task not stored after MS (default 30000)\n"
            "  --max-in-flight N       tasks delivered but not yet stored, at most (default 64)\n"
            "  --tasks-per-message N   tasks sent together to one worker when that many are\n"
            "                          ready (default 4; 1: each on its own)\n"
            "  --max-image-bytes N     larger files are recorded as failed (default 67108864)\n"
            "  --task-buffer BYTES     kernel send buffer of each TCP task connection (default\n"
            "                          %d; 0: the system's)\n"
            "  --consumer NAME         consumer name in the group (default ventilator)\n"
            "  --keys DIR              CURVE: admit only workers whose key is in DIR/workers\n"
            "                          (default $%s; make DIR with `fruitstream keys DIR`)\n"
            "  --insecure              allow a non-loopback TCP bind without --keys\n"
            "  --log-level LEVEL       debug, info, warn or error (default info)\n"
            "  -h, --help              this text\n",
            KEY_UPLOADS, CONFIG_TASKS_BIND, CONFIG_REDIS_DEFAULT, CONFIG_TASK_BUFFER,
            CONFIG_KEYS_ENV);
}

static int parse_args(int argc, char **argv, ventilator_config_t *cfg)
{
    static const struct option options[] = {
        {"tasks", required_argument, 0, 't'}, {"redis", required_argument, 0, 'R'},
        {"dir", required_argument, 0, 'd'}, {"list", required_argument, 0, 'L'},
        {"stdin", no_argument, 0, 'i'}, {"lease-ms", required_argument, 0, 'e'},
        {"max-in-flight", required_argument, 0, 'f'},
        {"tasks-per-message", required_argument, 0, 'g'},
        {"max-image-bytes", required_argument, 0, 'b'}, {"consumer", required_argument, 0, 'c'},
        {"task-buffer", required_argument, 0, 'B'},
        {"keys", required_argument, 0, 'K'}, {"insecure", no_argument, 0, 'I'},
        {"log-level", required_argument, 0, 'l'}, {"help", no_argument, 0, 'h'},
        {"watch", required_argument, 0, 'W'},
        {0, 0, 0, 0}};
    const char *env_url = redis_url_from_env();
    *cfg = (ventilator_config_t){.tasks_endpoint = CONFIG_TASKS_BIND,
                                 .redis_url = env_url ? env_url : CONFIG_REDIS_DEFAULT,
                                 .consumer = "ventilator", .lease_ms = 30000,
                                 .max_in_flight = 64, .tasks_per_message = 4,
                                 .max_image_bytes = 64L << 20,
                                 .task_buffer = CONFIG_TASK_BUFFER};
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 't': cfg->tasks_endpoint = optarg; break;
        case 'R': cfg->redis_url = optarg; break;
        case 'd': cfg->dir = optarg; break;
        case 'L': cfg->list = optarg; break;
        case 'i': cfg->from_stdin = true; break;
        case 'e': cfg->lease_ms = atoll(optarg); break;
        case 'f': cfg->max_in_flight = atoi(optarg); break;
        case 'g': cfg->tasks_per_message = atoi(optarg); break;
        case 'b': cfg->max_image_bytes = atol(optarg); break;
        case 'B': cfg->task_buffer = atoi(optarg); break;
        case 'c': cfg->consumer = optarg; break;
        case 'K': cfg->keys = optarg; break;
        case 'I': cfg->insecure = true; break;
        case 'W':
            if (cfg->watches == WATCH_MAX_DIRS) {
                fprintf(stderr, "fruitstream-ventilator: at most %d --watch\n", WATCH_MAX_DIRS);
                return -1;
            }
            cfg->watch[cfg->watches++] = optarg;
            break;
        case 'l':
            if (log_set_level_name(optarg) != 0)
                return -1;
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc || cfg->lease_ms < 100 || cfg->max_in_flight < 1 ||
        cfg->tasks_per_message < 1 || cfg->max_image_bytes < 1 || cfg->task_buffer < 0) {
        fprintf(stderr, "fruitstream-ventilator: bad arguments (lease >= 100 ms, "
                        "max-in-flight >= 1, tasks-per-message >= 1)\n");
        usage(stderr);
        return -1;
    }
    cfg->keys = config_keys_dir(cfg->keys);
    return 0;
}

/* Adds --dir/--list/--stdin to the upload stream. */
static int enqueue_inputs(ventilator_t *self)
{
    uploads_t *uploads = uploads_new(self->redis);
    long added = 0;
    if (self->cfg.dir && added >= 0)
        added = uploads_add_tree(uploads, self->cfg.dir);
    if (self->cfg.list && added >= 0) {
        FILE *in = fopen(self->cfg.list, "r");
        if (!in) {
            log_error("%s: %s", self->cfg.list, strerror(errno));
            added = -1;
        } else {
            added = uploads_add_list(uploads, in, self->cfg.list);
            fclose(in);
        }
    }
    if (self->cfg.from_stdin && added >= 0)
        added = uploads_add_list(uploads, stdin, "stdin");
    long total = uploads_count(uploads);
    uploads_destroy(&uploads);
    if (added < 0)
        return -1;
    if (total > 0) {
        log_info("uploaded %ld images", total);
        freeReplyObject(redisCommand(self->redis->ctx, "HINCRBY %s uploaded %ld", KEY_COUNTERS,
                                     total));
    }
    return 0;
}

/* Finds a field's value in a stream entry's flat field list, or NULL. */
static const redisReply *entry_field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; fields && i + 1 < fields->elements; i += 2)
        if (strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1];
    return NULL;
}

/* Loads the image bytes an entry points to; on failure task->error says why. Returns -1,
 * with no task to send, when Redis is unreachable: that is no reason to fail the image, and
 * the entry stays pending until its lease runs out and it is re-sent. */
static int load_image(ventilator_t *self, const redisReply *fields, wire_task_t *task)
{
    const redisReply *path = entry_field(fields, "path"), *blob = entry_field(fields, "blob");
    if (blob) {
        redisReply *r = redisCommand(self->redis->ctx, "GET %b", blob->str, blob->len);
        if (redis_lost(self->redis, r)) {
            freeReplyObject(r);
            return -1;
        }
        if (r && r->type == REDIS_REPLY_STRING && (long) r->len <= self->cfg.max_image_bytes) {
            memcpy(self->image, r->str, r->len);
            task->image = (const uint8_t *) self->image;
            task->image_len = r->len;
        } else {
            snprintf(task->error, sizeof task->error, "blob %s: %s", blob->str,
                     r->type == REDIS_REPLY_STRING ? "too large" : "missing");
        }
        freeReplyObject(r);
        return 0;
    }
    if (!path) {
        snprintf(task->error, sizeof task->error, "upload entry has neither path nor blob");
        return 0;
    }
    FILE *f = fopen(path->str, "rb");
    if (!f) {
        snprintf(task->error, sizeof task->error, "%s: %s", path->str, strerror(errno));
        return 0;
    }
    size_t n = fread(self->image, 1, (size_t) self->cfg.max_image_bytes + 1, f);
    if (ferror(f))
        snprintf(task->error, sizeof task->error, "%s: read error", path->str);
    else if ((long) n > self->cfg.max_image_bytes)
        snprintf(task->error, sizeof task->error, "%s: larger than %ld bytes", path->str,
                 self->cfg.max_image_bytes);
    fclose(f);
    task->image = (const uint8_t *) self->image;
    task->image_len = task->error[0] ? 0 : n;
    return 0;
}

/* False for an entry deleted while pending: nothing left to do for it. */
static bool entry_is_live(const redisReply *entry)
{
    return entry->type == REDIS_REPLY_ARRAY && entry->elements == 2 &&
           entry->element[1]->type == REDIS_REPLY_ARRAY;
}

/* Sends one frame, waiting (and staying responsive to signals) until a worker can take it.
 * flags: ZMQ_SNDMORE when more tasks follow in the same message. While every worker's pipe
 * is full it retries every VENTILATOR_SEND_RETRY_MS rather than polling for room, which
 * would wake it for each message a worker takes. The pipes hold VENTILATOR_PIPE_MESSAGES
 * messages each, so one worker can still be fed that many per pause (3,200 tasks/s at 4
 * per message), and the workers have enough queued to cover it. */
#define VENTILATOR_SEND_RETRY_MS 5
#define VENTILATOR_PIPE_MESSAGES 4

static int send_when_ready(ventilator_t *self, int flags)
{
    void *socket = zsock_resolve(self->tasks);
    while (!stop_requested) {
        if (zmq_send(socket, self->buf.data, self->buf.size, ZMQ_DONTWAIT | flags) >= 0)
            return 0;
        if (errno != EAGAIN && errno != EINTR) {
            log_error("sending a task failed: %s", zmq_strerror(errno));
            return -1;
        }
        zclock_sleep(VENTILATOR_SEND_RETRY_MS);
    }
    return -1;
}

/* Sends every entry of an XREADGROUP/XAUTOCLAIM entry list as a task, --tasks-per-message
 * to a ZeroMQ message: one frame per task, so one worker gets them all, and the processes
 * on both ends wake once per message rather than once per task. On a machine where a
 * wake-up costs tens of microseconds, that is most of what moving a task costs. */
static void send_entries(ventilator_t *self, const redisReply *entries, int64_t attempt)
{
    size_t last = entries->elements;
    while (last > 0 && !entry_is_live(entries->element[last - 1]))
        last--;
    for (size_t i = 0, in_message = 0; i < last && !stop_requested; i++) {
        const redisReply *entry = entries->element[i];
        if (!entry_is_live(entry))
            continue;
        const redisReply *fields = entry->element[1];
        wire_task_t task = {.attempt = attempt};
        snprintf(task.entry, sizeof task.entry, "%s", entry->element[0]->str);
        task.uploaded_ms = atoll(task.entry);
        const redisReply *key = entry_field(fields, "key"), *label = entry_field(fields, "label");
        snprintf(task.key, sizeof task.key, "%s", key ? key->str : task.entry);
        snprintf(task.label, sizeof task.label, "%s", label ? label->str : "");
        if (load_image(self, fields, &task) != 0)
            return; /* Redis lost: the main loop reconnects; a message left open here is
                     * closed by the next send, and its tasks stay pending until then */
        if (task.error[0])
            log_warn("%s: %s", task.key, task.error);
        wire_encode_task(&self->buf, &task);
        in_message = (in_message + 1) % (size_t) self->cfg.tasks_per_message;
        if (send_when_ready(self, in_message != 0 && i + 1 < last ? ZMQ_SNDMORE : 0) != 0)
            return;
        self->sent++;
        self->in_flight++;
    }
}

/* Reads the group's pending count and the stream's length: processed entries are deleted
 * by the sink, so the stream holds exactly the backlog plus what is in flight. */
static int refresh_counts(ventilator_t *self)
{
    redisAppendCommand(self->redis->ctx, "XPENDING %s %s", KEY_UPLOADS, GROUP_VENTILATORS);
    redisAppendCommand(self->redis->ctx, "XLEN %s", KEY_UPLOADS);
    redisReply *pending = NULL, *length = NULL;
    int rc = -1;
    if (redisGetReply(self->redis->ctx, (void **) &pending) == REDIS_OK &&
        redisGetReply(self->redis->ctx, (void **) &length) == REDIS_OK &&
        pending->type == REDIS_REPLY_ARRAY && pending->elements >= 1 &&
        length->type == REDIS_REPLY_INTEGER) {
        self->in_flight = pending->element[0]->integer;
        self->backlog = length->integer - self->in_flight;
        rc = 0;
    }
    freeReplyObject(pending);
    freeReplyObject(length);
    return rc;
}

/* Refreshes the counts and writes them where operators look. */
static int publish_counts(ventilator_t *self)
{
    if (refresh_counts(self) != 0)
        return -1;
    redisReply *r = redisCommand(self->redis->ctx, "HSET %s backlog %lld in_flight %lld",
                                 KEY_COUNTERS, (long long) self->backlog,
                                 (long long) self->in_flight);
    int rc = redis_lost(self->redis, r) ? -1 : 0;
    freeReplyObject(r);
    return rc;
}

/* Re-sends entries pending longer than the lease. */
static int reclaim_expired(ventilator_t *self)
{
    redisReply *r = redisCommand(self->redis->ctx, "XAUTOCLAIM %s %s %s %lld %s COUNT %d",
                                 KEY_UPLOADS, GROUP_VENTILATORS, self->cfg.consumer,
                                 (long long) self->cfg.lease_ms, self->claim_cursor,
                                 self->cfg.max_in_flight);
    if (redis_lost(self->redis, r) || r->type != REDIS_REPLY_ARRAY || r->elements < 2) {
        if (r && r->type == REDIS_REPLY_ERROR)
            log_error("XAUTOCLAIM: %s", r->str);
        freeReplyObject(r);
        return -1;
    }
    snprintf(self->claim_cursor, sizeof self->claim_cursor, "%s", r->element[0]->str);
    size_t n = r->element[1]->elements;
    if (n > 0) {
        log_warn("re-sending %zu tasks whose lease of %lld ms ran out", n,
                 (long long) self->cfg.lease_ms);
        self->resent += (int64_t) n;
        freeReplyObject(redisCommand(self->redis->ctx, "HINCRBY %s retried %lld", KEY_COUNTERS,
                                     (long long) n));
        self->in_flight -= (int64_t) n; /* send_entries counts them again */
        send_entries(self, r->element[1], 2);
    }
    freeReplyObject(r);
    return 0;
}

/* Room to read new entries: the in-flight cap minus what is in flight. Once the cap is
 * reached, the ventilator waits until a quarter of it is free again and then reads that
 * many at once, checking every VENTILATOR_REFILL_MS: at full load this costs Redis and this
 * process a wake-up per batch of tasks instead of several per task, and the workers still
 * have three quarters of the cap queued. */
#define VENTILATOR_REFILL_MS 10

static int64_t room_to_read(ventilator_t *self)
{
    int64_t refill = self->cfg.max_in_flight / 4 > 0 ? self->cfg.max_in_flight / 4 : 1;
    int64_t room = self->cfg.max_in_flight - self->in_flight;
    if (room >= refill)
        return room;
    if (refresh_counts(self) != 0)
        return -1;
    room = self->cfg.max_in_flight - self->in_flight;
    if (room >= refill)
        return room;
    zclock_sleep(VENTILATOR_REFILL_MS);
    return 0;
}

/* Reads as many new entries as the in-flight cap allows, waiting briefly for some. */
static int dispatch_new(ventilator_t *self)
{
    int64_t room = room_to_read(self);
    if (room <= 0)
        return (int) room;
    redisReply *r = redisCommand(self->redis->ctx,
                                 "XREADGROUP GROUP %s %s COUNT %lld BLOCK 100 STREAMS %s >",
                                 GROUP_VENTILATORS, self->cfg.consumer, (long long) room,
                                 KEY_UPLOADS);
    if (redis_lost(self->redis, r)) {
        freeReplyObject(r);
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        log_error("XREADGROUP: %s", r->str);
        /* the group vanishes if Redis lost its data: create it again */
        if (strncmp(r->str, "NOGROUP", 7) == 0)
            uploads_ensure_group(self->redis);
        else
            zclock_sleep(500);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        send_entries(self, r->element[0]->element[1], 1);
    }
    freeReplyObject(r);
    return 0;
}

static int ventilator_setup(ventilator_t *self)
{
    /* First, so that a refusal to bind comes at once, not after waiting for Redis. */
    if (curve_server_setup(self->cfg.keys, self->cfg.tasks_endpoint, self->cfg.insecure,
                           "take the tasks, image bytes included", &self->curve) != 0)
        return -1;
    char err[512];
    self->redis = redis_new_waiting(self->cfg.redis_url, &stop_requested, err, sizeof err);
    if (!self->redis) {
        log_error("%s", err);
        return -1;
    }
    if (uploads_ensure_group(self->redis) != 0 || enqueue_inputs(self) != 0)
        return -1;
    if (self->cfg.watches > 0 && !(self->watch = watch_new(self->redis)))
        return -1;
    for (int i = 0; i < self->cfg.watches; i++)
        if (watch_add(self->watch, self->cfg.watch[i]) != 0)
            return -1;
    self->image = malloc((size_t) self->cfg.max_image_bytes + 1);
    snprintf(self->claim_cursor, sizeof self->claim_cursor, "0-0");
    msgpack_sbuffer_init(&self->buf);
    self->tasks = zsock_new(ZMQ_PUSH);
    curve_apply(self->curve, self->tasks);
    zsock_set_sndhwm(self->tasks, VENTILATOR_PIPE_MESSAGES);
    int task_buffer = config_task_buffer_for(self->cfg.tasks_endpoint, self->cfg.task_buffer);
    if (task_buffer > 0)
        zsock_set_sndbuf(self->tasks, task_buffer);
    if (!self->image || zsock_bind(self->tasks, "%s", self->cfg.tasks_endpoint) < 0) {
        log_error("cannot bind task socket %s: %s", self->cfg.tasks_endpoint,
                  zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    log_init("ventilator");
    static ventilator_t ventilator;
    ventilator_t *self = &ventilator;
    if (parse_args(argc, argv, &self->cfg) != 0)
        return 2;
    stop_catch_signals();
    defer_to_workers();
    zsys_init();
    if (ventilator_setup(self) != 0)
        return 1;
    log_info("ventilator: tasks on %s, lease %lld ms, at most %d in flight",
             self->cfg.tasks_endpoint, (long long) self->cfg.lease_ms, self->cfg.max_in_flight);
    double last_tick = 0;
    while (!stop_requested) {
        int rc = 0;
        if (clock_seconds() - last_tick >= 1.0) {
            rc = publish_counts(self);
            if (rc == 0)
                rc = reclaim_expired(self);
            last_tick = clock_seconds();
        }
        if (rc == 0 && self->watch)
            rc = watch_poll(self->watch);
        if (rc == 0)
            rc = dispatch_new(self);
        if (rc != 0 && !stop_requested) {
            log_warn("lost Redis (%s); reconnecting",
                     self->redis->ctx ? self->redis->ctx->errstr : "no connection");
            if (redis_reconnect(self->redis, &stop_requested) == 0)
                uploads_ensure_group(self->redis);
        }
    }
    if (self->redis->ctx)
        publish_counts(self); /* leave no stale figures behind */
    log_info("ventilator stopping: %lld tasks sent, %lld re-sent", (long long) self->sent,
             (long long) self->resent);
    zsock_destroy(&self->tasks);
    watch_destroy(&self->watch);
    curve_destroy(&self->curve);
    msgpack_sbuffer_destroy(&self->buf);
    free(self->image);
    redis_destroy(&self->redis);
    return 0;
}
