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
 * then arrives twice is stored once by the sink. A new entry whose image is stored already
 * gets no task: it is settled as a duplicate at once (settle.c). Nothing is lost if the
 * ventilator dies: what it had read stays pending in Redis and is re-sent when its lease
 * ends.
 *
 * An upload entry is input from anyone who can write the stream: what it names is read only
 * inside the --allow-path folders or from fs:blob:* (image_reader.c), and anything else
 * becomes a task carrying the reason, which the sink records as failed, and the stream goes
 * on. An entry whose key is too long or holds a NUL is refused: deleted and counted as
 * rejected, never cut to another key.
 *
 * With --watch it also adds every JPEG that appears under the folders named (watch.c),
 * checking for them at every turn of its loop; a watched folder is an allowed one. */
#include "common/clock.h"
#include "common/config.h"
#include "common/curve.h"
#include "common/defer.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/stop.h"
#include "common/uploads.h"
#include "common/wire.h"
#include "ventilator/image_reader.h"
#include "ventilator/settle.h"
#include "ventilator/watch.h"

#include "common/options.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Folders --allow-path may name, at most. */
#define VENTILATOR_MAX_ROOTS 64

typedef struct {
    const char *tasks_endpoint;
    const char *redis_url;
    const char *dir, *list;
    bool from_stdin;
    const char *consumer;
    int64_t lease_ms;
    int max_in_flight;
    int tasks_per_message;
    int64_t max_image_bytes;
    int64_t task_buffer;
    const char *keys;
    bool insecure;
    const char *allow[VENTILATOR_MAX_ROOTS]; /* --allow-path, and --dir */
    int allowed;
    const char *watch[WATCH_MAX_DIRS];
    int watches;
} ventilator_config_t;

typedef struct {
    ventilator_config_t cfg;
    redis_t *redis;
    zsock_t *tasks;
    curve_t *curve;         /* CURVE server with --keys, else NULL */
    watch_t *watch;         /* --watch folders, or NULL */
    image_reader_t *images; /* reads what an entry names, where it may */
    msgpack_sbuffer buf;
    int64_t in_flight; /* pending entries of the group */
    int64_t backlog;   /* entries not yet delivered */
    char claim_cursor[WIRE_ENTRY_MAX];
    int64_t sent, resent, already_stored;
} ventilator_t;

static const char about[] =
    "Reads uploads from Redis (" KEY_UPLOADS ") and pushes them to workers as "
    "tasks; re-sends any task whose result is not stored within the lease.";

/* --allow-path DIR, and the folder of --dir and --watch: path uploads may be read there. */
static int allow(void *target, const char *dir)
{
    ventilator_config_t *cfg = target;
    if (cfg->allowed == VENTILATOR_MAX_ROOTS) {
        fprintf(stderr, "fruitstream-ventilator: more than %d --allow-path\n",
                VENTILATOR_MAX_ROOTS);
        return -1;
    }
    cfg->allow[cfg->allowed++] = dir;
    return 0;
}

/* 0 when dir is a folder, else -1 after an error naming the option it was given to (the
 * check allow-path makes later would name --allow-path). */
static int check_folder(const char *option, const char *dir)
{
    struct stat st;
    const char *why = stat(dir, &st) != 0    ? strerror(errno)
                      : !S_ISDIR(st.st_mode) ? "not a folder"
                                             : NULL;
    if (why)
        fprintf(stderr, "fruitstream-ventilator: %s %s: %s\n", option, dir, why);
    return why ? -1 : 0;
}

static int take_dir(void *target, const char *dir)
{
    if (check_folder("--dir", dir) != 0)
        return -1;
    ((ventilator_config_t *) target)->dir = dir;
    return allow(target, dir);
}

static int take_watch(void *target, const char *dir)
{
    ventilator_config_t *cfg = target;
    if (check_folder("--watch", dir) != 0)
        return -1;
    if (cfg->watches == WATCH_MAX_DIRS) {
        fprintf(stderr, "fruitstream-ventilator: at most %d --watch\n", WATCH_MAX_DIRS);
        return -1;
    }
    cfg->watch[cfg->watches++] = dir;
    return allow(cfg, dir); /* its files may be read */
}

/* Reads the command line into cfg (options_parse ends the process for --help or a bad
 * option). */
static void parse_args(int argc, char **argv, ventilator_config_t *cfg)
{
    *cfg = (ventilator_config_t){.tasks_endpoint = CONFIG_TASKS_BIND,
                                 .redis_url = CONFIG_REDIS_DEFAULT,
                                 .consumer = "ventilator",
                                 .lease_ms = 30000,
                                 .max_in_flight = 64,
                                 .tasks_per_message = CONFIG_TASKS_PER_MESSAGE,
                                 .max_image_bytes = CONFIG_MAX_IMAGE_BYTES,
                                 .task_buffer = CONFIG_TASK_BUFFER};
    const option_t options[] = {
        OPTION_STRING("tasks", &cfg->tasks_endpoint, "ENDPOINT", "bind the task socket here"),
        OPTION_REDIS(&cfg->redis_url, CONFIG_REDIS_HELP),
        OPTION_CALL("dir", take_dir, cfg, "DIR",
                    "first upload every *.jpg/*.jpeg under DIR (label = folder)"),
        OPTION_STRING("list", &cfg->list, "FILE",
                      "first upload the paths listed in FILE (PATH[<TAB>LABEL])"),
        OPTION_FLAG("stdin", &cfg->from_stdin, "first upload the paths listed on standard input"),
        OPTION_CALL("watch", take_watch, cfg, "DIR",
                    "upload every JPEG that appears under DIR, once (recursive; label = "
                    "folder; key = absolute path; repeatable)"),
        OPTION_INT64("lease-ms", &cfg->lease_ms, 100, INT64_MAX / 2, "MS",
                     "re-send a task not stored after MS"),
        OPTION_INT("max-in-flight", &cfg->max_in_flight, 1, 1 << 20, "N",
                   "tasks delivered but not yet stored, at most"),
        OPTION_INT("tasks-per-message", &cfg->tasks_per_message, 1, CONFIG_MAX_TASKS_PER_MESSAGE,
                   "N",
                   "tasks sent together to one worker when that many are ready, 1 for each "
                   "on its own"),
        OPTION_CALL("allow-path", allow, cfg, "DIR",
                    "read `path` uploads only inside DIR (repeatable; --dir DIR allows DIR); "
                    "without any, path uploads fail"),
        OPTION_BYTES("max-image-bytes", &cfg->max_image_bytes, 1, CONFIG_MAX_IMAGE_BYTES_LIMIT, "N",
                     "larger images are recorded as failed; units K, M, G"),
        OPTION_BYTES("task-buffer", &cfg->task_buffer, 0, 1 << 30, "BYTES",
                     "kernel send buffer of each TCP task connection, 0 for the system's"),
        OPTION_STRING("consumer", &cfg->consumer, "NAME", "consumer name in the group"),
        OPTION_STRING(
            "keys", &cfg->keys, "DIR",
            "CURVE: admit only workers whose key is in DIR/workers (default $" CONFIG_KEYS_ENV
            "; make DIR with `fruitstream keys DIR`)"),
        OPTION_FLAG("insecure", &cfg->insecure, "allow a non-loopback TCP bind without --keys"),
        OPTION_END};
    const options_spec_t spec = {"fruitstream-ventilator", .about = about, .options = options};
    options_parse(&spec, argc, argv);
    cfg->keys = config_keys_dir(cfg->keys);
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
    long total = added < 0 ? -1 : uploads_finish(uploads); /* counts them as uploaded */
    uploads_destroy(&uploads);
    if (total < 0)
        return -1;
    if (total > 0)
        log_info("uploaded %ld images", total);
    return 0;
}

/* False for an entry deleted while pending: nothing left to do for it. */
static bool entry_is_live(const redisReply *entry)
{
    return entry->type == REDIS_REPLY_ARRAY && entry->elements == 2 &&
           entry->element[1]->type == REDIS_REPLY_ARRAY;
}

/* How many times the entry's fields name `name`. */
static int field_count(const redisReply *fields, const char *name)
{
    int n = 0;
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        n += fields->element[i]->str && strcmp(fields->element[i]->str, name) == 0;
    return n;
}

/* What is wrong with a live entry's key, or NULL (no key field: the entry ID serves). A
 * field named twice is refused too: this file reads the first, the sink's script the last,
 * and a result for such an entry could never be stored, only sent again and again. */
#define KEY_RULE_TEXT(n) #n
#define KEY_RULE(n) " (a key is 1 to " KEY_RULE_TEXT(n) " bytes, no NUL)"
static const char *key_problem(const redisReply *entry)
{
    const redisReply *fields = entry->element[1];
    if (field_count(fields, "key") > 1 || field_count(fields, "blob") > 1 ||
        field_count(fields, "path") > 1)
        return "a key, blob or path field named twice";
    const redisReply *key = redis_field(fields, "key");
    if (!key)
        return NULL;
    if (key->type != REDIS_REPLY_STRING || key->len == 0)
        return "an empty key" KEY_RULE(KEY_IMAGE_MAX_LEN);
    if (key->len > KEY_IMAGE_MAX_LEN)
        return "a key too long" KEY_RULE(KEY_IMAGE_MAX_LEN);
    return strlen(key->str) != key->len ? "a key holding a NUL byte" KEY_RULE(KEY_IMAGE_MAX_LEN)
                                        : NULL;
}

static bool sendable(const redisReply *entry)
{
    return entry_is_live(entry) && !key_problem(entry);
}

/* Drops the entries whose key cannot be an image key: acknowledged, deleted and counted as
 * rejected, with an error naming the entry. Cutting the key would make it another image's. */
static void refuse_bad_keys(ventilator_t *self, const redisReply *entries)
{
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *entry = entries->element[i];
        const char *why = entry_is_live(entry) ? key_problem(entry) : NULL;
        if (!why)
            continue;
        const char *id = entry->element[0]->str;
        log_error("upload entry %s refused: %s", id, why);
        redisAppendCommand(self->redis->ctx, "XACK %s %s %s", KEY_UPLOADS, GROUP_VENTILATORS, id);
        redisAppendCommand(self->redis->ctx, "XDEL %s %s", KEY_UPLOADS, id);
        redisAppendCommand(self->redis->ctx, "HINCRBY %s rejected 1", KEY_COUNTERS);
        for (int j = 0; j < 3; j++) {
            redisReply *r = NULL;
            if (redisGetReply(self->redis->ctx, (void **) &r) == REDIS_OK)
                redis_lost(self->redis, r);
            freeReplyObject(r);
        }
    }
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
    refuse_bad_keys(self, entries);
    bool *skip = calloc(entries->elements + 1, sizeof *skip); /* no task for these */
    if (!skip)
        return; /* out of memory: the entries stay pending and are re-sent */
    size_t sendable_count = 0;
    for (size_t i = 0; i < entries->elements; i++) {
        skip[i] = !sendable(entries->element[i]);
        sendable_count += !skip[i];
    }
    /* Only new entries: a re-sent one may have a result on its way, which the sink counts. */
    if (attempt == 1 && sendable_count > 0 &&
        settle_already_stored(self->redis, entries, skip, sendable_count, &self->already_stored) !=
            0) {
        free(skip);
        return; /* Redis lost: the entries stay pending and are re-sent */
    }
    size_t last = entries->elements;
    while (last > 0 && skip[last - 1])
        last--;
    for (size_t i = 0, in_message = 0; i < last && !stop_requested; i++) {
        const redisReply *entry = entries->element[i];
        if (skip[i])
            continue;
        const redisReply *fields = entry->element[1];
        wire_task_t task = {.attempt = attempt};
        snprintf(task.entry, sizeof task.entry, "%s", entry->element[0]->str);
        task.uploaded_ms = atoll(task.entry);
        const redisReply *label = redis_field(fields, "label");
        snprintf(task.key, sizeof task.key, "%s", uploads_entry_key(entry));
        snprintf(task.label, sizeof task.label, "%s", label ? label->str : "");
        if (image_reader_load(self->images, self->redis, fields, &task) != 0)
            break; /* Redis lost: the main loop reconnects; a message left open here is
                    * closed by the next send, and its tasks stay pending until then */
        if (task.error[0])
            log_warn("%s: %s", task.key, task.error);
        wire_encode_task(&self->buf, &task);
        in_message = (in_message + 1) % (size_t) self->cfg.tasks_per_message;
        if (send_when_ready(self, in_message != 0 && i + 1 < last ? ZMQ_SNDMORE : 0) != 0)
            break;
        self->sent++;
        self->in_flight++;
    }
    free(skip);
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
    redisReply *r =
        redisCommand(self->redis->ctx, "HSET %s backlog %lld in_flight %lld", KEY_COUNTERS,
                     (long long) self->backlog, (long long) self->in_flight);
    int rc = redis_lost(self->redis, r) ? -1 : 0;
    freeReplyObject(r);
    return rc;
}

/* Re-sends entries pending longer than the lease. */
static int reclaim_expired(ventilator_t *self)
{
    redisReply *r =
        redisCommand(self->redis->ctx, "XAUTOCLAIM %s %s %s %lld %s COUNT %d", KEY_UPLOADS,
                     GROUP_VENTILATORS, self->cfg.consumer, (long long) self->cfg.lease_ms,
                     self->claim_cursor, self->cfg.max_in_flight);
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
        freeReplyObject(
            redisCommand(self->redis->ctx, "HINCRBY %s retried %lld", KEY_COUNTERS, (long long) n));
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
    redisReply *r =
        redisCommand(self->redis->ctx, "XREADGROUP GROUP %s %s COUNT %lld BLOCK 100 STREAMS %s >",
                     GROUP_VENTILATORS, self->cfg.consumer, (long long) room, KEY_UPLOADS);
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
    self->images = image_reader_new(self->cfg.allow, self->cfg.allowed, self->cfg.max_image_bytes);
    if (!self->images)
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
    snprintf(self->claim_cursor, sizeof self->claim_cursor, "0-0");
    msgpack_sbuffer_init(&self->buf);
    self->tasks = zsock_new(ZMQ_PUSH);
    curve_apply(self->curve, self->tasks);
    zsock_set_sndhwm(self->tasks, VENTILATOR_PIPE_MESSAGES);
    int task_buffer = config_task_buffer_for(self->cfg.tasks_endpoint, (int) self->cfg.task_buffer);
    if (task_buffer > 0)
        zsock_set_sndbuf(self->tasks, task_buffer);
    if (zsock_bind(self->tasks, "%s", self->cfg.tasks_endpoint) < 0) {
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
    parse_args(argc, argv, &self->cfg);
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
    log_info("ventilator stopping: %lld tasks sent, %lld re-sent, %lld uploads already stored",
             (long long) self->sent, (long long) self->resent, (long long) self->already_stored);
    zsock_destroy(&self->tasks);
    watch_destroy(&self->watch);
    curve_destroy(&self->curve);
    msgpack_sbuffer_destroy(&self->buf);
    image_reader_destroy(&self->images);
    redis_destroy(&self->redis);
    return 0;
}
