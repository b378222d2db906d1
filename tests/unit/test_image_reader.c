/* test_image_reader.c -- what an upload entry can make the ventilator read
 * (ventilator/image_reader.c), file by file: only regular files inside the allowed folders,
 * never a FIFO (which would block), a folder, a link out, a neighbour whose name merely
 * starts like an allowed folder's, nor more than the size limit. The whole pipeline's view
 * of the same rules is tests/integration/hostile_uploads.sh. */
#include "tests/test.h"
#include "ventilator/image_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_BYTES 64

static char dir[64];      /* a fresh folder: allowed/ inside it is the allowed one */
static char allowed[128]; /* dir/allowed */
static image_reader_t *reader;

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Loads an entry of one field (name: value) into task. */
static int load(const char *name, const char *value, wire_task_t *task)
{
    redisReply field = {.type = REDIS_REPLY_STRING, .str = (char *) name, .len = strlen(name)};
    redisReply text = {.type = REDIS_REPLY_STRING, .str = (char *) value, .len = strlen(value)};
    redisReply *pair[2] = {&field, &text};
    redisReply fields = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = pair};
    memset(task, 0, sizeof *task);
    return image_reader_load(reader, NULL, &fields, task); /* no Redis: no blob is read */
}

/* Loads the file at dir/rel; "" when it was read, else the reason. */
static const char *load_path(const char *rel, wire_task_t *task)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    load("path", path, task);
    return task->error;
}

static void test_file_inside_is_read(void)
{
    wire_task_t task;
    const char *why = load_path("allowed/a.jpg", &task);
    CHECK(!why[0], "refused: %s", why);
    CHECK(task.image_len == 5 && memcmp(task.image, "apple", 5) == 0, "read %zu bytes",
          task.image_len);
}

static void test_outside_refused(void)
{
    wire_task_t task;
    const char *why = load_path("outside.jpg", &task);
    CHECK(strstr(why, "--allow-path") && task.image_len == 0, "outside: \"%s\"", why);
    why = load_path("allowed/../outside.jpg", &task);
    CHECK(strstr(why, "--allow-path"), "dot-dot: \"%s\"", why);
    why = load_path("allowed/link-out.jpg", &task);
    CHECK(strstr(why, "--allow-path"), "a link out: \"%s\"", why);
    why = load_path("allowed2/b.jpg", &task); /* its name starts with the allowed one's */
    CHECK(strstr(why, "--allow-path"), "a neighbour folder: \"%s\"", why);
}

static void test_link_inside_is_read(void)
{
    wire_task_t task;
    const char *why = load_path("allowed/link-in.jpg", &task);
    CHECK(!why[0] && task.image_len == 5, "a link to a file inside: \"%s\"", why);
}

static void test_not_regular_refused(void)
{
    wire_task_t task;
    const char *why = load_path("allowed/fifo.jpg", &task); /* would block if opened */
    CHECK(strstr(why, "not a regular file"), "FIFO: \"%s\"", why);
    why = load_path("allowed/sub.jpg", &task);
    CHECK(strstr(why, "not a regular file"), "folder: \"%s\"", why);
    why = load_path("allowed/missing.jpg", &task);
    CHECK(strstr(why, "No such file"), "missing: \"%s\"", why);
}

static void test_too_large_refused(void)
{
    wire_task_t task;
    const char *why = load_path("allowed/big.jpg", &task);
    CHECK(strstr(why, "--max-image-bytes") && task.image_len == 0, "big: \"%s\"", why);
}

static void test_bad_entries_refused(void)
{
    wire_task_t task;
    load("blob", "fs:image:precious", &task);
    CHECK(strstr(task.error, "is not a fs:blob:* key"), "blob: \"%s\"", task.error);
    load("label", "Apple", &task);
    CHECK(strstr(task.error, "neither path nor blob"), "no source: \"%s\"", task.error);
}

static void test_new_refuses_a_file_as_folder(void)
{
    char file[160];
    snprintf(file, sizeof file, "%s/allowed/a.jpg", dir);
    const char *folders[] = {allowed, file};
    image_reader_t *r = image_reader_new(folders, 2, MAX_BYTES);
    CHECK(r == NULL, "a file taken for an allowed folder");
}

int main(void)
{
    if (test_tmpdir_make(dir, sizeof dir, "reader") != 0)
        return 1;
    char path[256], target[256];
    snprintf(allowed, sizeof allowed, "%s/allowed", dir);
    mkdir(allowed, 0700);
    snprintf(path, sizeof path, "%s/allowed2", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/allowed/sub.jpg", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/allowed/a.jpg", dir);
    write_file(path, "apple");
    snprintf(path, sizeof path, "%s/allowed2/b.jpg", dir);
    write_file(path, "berry");
    snprintf(path, sizeof path, "%s/outside.jpg", dir);
    write_file(path, "secret");
    char big[MAX_BYTES + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(path, sizeof path, "%s/allowed/big.jpg", dir);
    write_file(path, big);
    snprintf(path, sizeof path, "%s/allowed/fifo.jpg", dir);
    mkfifo(path, 0600);
    snprintf(target, sizeof target, "%s/outside.jpg", dir);
    snprintf(path, sizeof path, "%s/allowed/link-out.jpg", dir);
    if (symlink(target, path) != 0)
        return 1;
    snprintf(target, sizeof target, "%s/allowed/a.jpg", dir);
    snprintf(path, sizeof path, "%s/allowed/link-in.jpg", dir);
    if (symlink(target, path) != 0)
        return 1;

    const char *folders[] = {allowed};
    reader = image_reader_new(folders, 1, MAX_BYTES);
    if (!reader)
        return 1;
    RUN(test_file_inside_is_read);
    RUN(test_outside_refused);
    RUN(test_link_inside_is_read);
    RUN(test_not_regular_refused);
    RUN(test_too_large_refused);
    RUN(test_bad_entries_refused);
    RUN(test_new_refuses_a_file_as_folder);
    image_reader_destroy(&reader);

    if (test_tmpdir_remove(dir) != 0)
        return 1;
    TEST_DONE();
}
