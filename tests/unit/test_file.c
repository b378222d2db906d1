/* test_file.c -- the one way every program reads a whole file (common/file.c): all of it,
 * through a reused buffer that grows as files get bigger; a file over the limit refused with
 * EFBIG as soon as the limit is passed; a folder or a missing path refused with the system's
 * own reason; and, from a descriptor, whatever a pipe delivers, however it is split, from
 * where the descriptor stands. */
#include "common/file.h"
#include "tests/test.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[128];

/* DIR/name holding len bytes, byte i being (i * 7 + seed) % 251; its path in path. */
static int write_file(const char *name, size_t len, int seed, char *path, size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    for (size_t i = 0; i < len; i++)
        fputc((int) ((i * 7 + (size_t) seed) % 251), f);
    return fclose(f);
}

static int holds_pattern(const file_buffer_t *buf, size_t len, int seed)
{
    if (buf->len != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char) buf->data[i] != (i * 7 + (size_t) seed) % 251)
            return 0;
    return 1;
}

static void whole_files_through_one_buffer(void)
{
    char big[256], small[256], empty[256];
    CHECK(write_file("big", 300000, 1, big, sizeof big) == 0 &&
              write_file("small", 1000, 2, small, sizeof small) == 0 &&
              write_file("empty", 0, 0, empty, sizeof empty) == 0,
          "cannot write the files under %s", dir);
    file_buffer_t buf = {0};
    CHECK(file_read(big, &buf, 1 << 20) == 0 && holds_pattern(&buf, 300000, 1),
          "300,000 bytes read as %zu", buf.len);
    char *kept = buf.data;
    CHECK(file_read(small, &buf, 1 << 20) == 0 && holds_pattern(&buf, 1000, 2),
          "1,000 bytes read as %zu", buf.len);
    CHECK(buf.data == kept, "a smaller file after a bigger one moved the buffer");
    CHECK(file_read(empty, &buf, 1 << 20) == 0 && buf.len == 0, "an empty file: %zu", buf.len);
    file_buffer_free(&buf);
    CHECK(buf.data == NULL && buf.len == 0 && buf.cap == 0, "a freed buffer is not empty");
    size_t len = 0;
    char *all = file_read_all(small, &len);
    CHECK(all && len == 1000 && all[999] == (char) ((999 * 7 + 2) % 251), "file_read_all: %zu",
          len);
    free(all);
}

static void over_the_limit_refused(void)
{
    char path[256];
    CHECK(write_file("limit", 70000, 3, path, sizeof path) == 0, "cannot write %s", path);
    file_buffer_t buf = {0};
    CHECK(file_read(path, &buf, 70000) == 0 && holds_pattern(&buf, 70000, 3),
          "exactly the limit refused (%s)", strerror(errno));
    errno = 0;
    CHECK(file_read(path, &buf, 69999) == -1 && errno == EFBIG && buf.len == 0,
          "one byte over the limit: rc/errno %s, len %zu", strerror(errno), buf.len);
    file_buffer_free(&buf);
}

static void folders_and_missing_paths_refused(void)
{
    file_buffer_t buf = {0};
    errno = 0;
    CHECK(file_read(dir, &buf, 1 << 20) == -1 && errno == EISDIR && buf.len == 0, "a folder: %s",
          strerror(errno));
    char missing[256];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    errno = 0;
    CHECK(file_read(missing, &buf, 1 << 20) == -1 && errno == ENOENT, "a missing file: %s",
          strerror(errno));
    file_buffer_free(&buf);
}

/* A child writes 200,000 bytes into a pipe in pieces of 1,000, more than the pipe holds: the
 * reader must take every piece until the end, and stop at the limit when there is one. */
static void pipes_read_to_the_end(void)
{
    for (int limited = 0; limited < 2; limited++) {
        int fds[2];
        CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
        pid_t child = fork();
        CHECK(child >= 0, "fork: %s", strerror(errno));
        if (child == 0) {
            close(fds[0]);
            char piece[1000];
            for (size_t done = 0; done < 200000; done += sizeof piece) {
                for (size_t i = 0; i < sizeof piece; i++)
                    piece[i] = (char) (((done + i) * 7 + 4) % 251);
                if (write(fds[1], piece, sizeof piece) != (ssize_t) sizeof piece)
                    _exit(limited ? 0 : 1); /* the limited reader closes its end early */
            }
            _exit(0);
        }
        close(fds[1]);
        file_buffer_t buf = {0};
        errno = 0;
        int rc = file_read_fd(fds[0], &buf, limited ? 100000 : 1 << 20);
        int why = errno;
        close(fds[0]);
        int status = 0;
        waitpid(child, &status, 0);
        if (limited) {
            CHECK(rc == -1 && why == EFBIG, "a pipe over the limit: rc %d, %s", rc, strerror(why));
        } else {
            CHECK(rc == 0 && holds_pattern(&buf, 200000, 4), "a pipe read as %zu bytes", buf.len);
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer failed");
        }
        file_buffer_free(&buf);
    }
}

static void descriptors_read_from_where_they_stand(void)
{
    char path[256];
    CHECK(write_file("offset", 5000, 5, path, sizeof path) == 0, "cannot write %s", path);
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    file_buffer_t buf = {0};
    int rc = lseek(fd, 1000, SEEK_SET) == 1000 ? file_read_fd(fd, &buf, 1 << 20) : -1;
    close(fd);
    CHECK(rc == 0 && buf.len == 4000 && (unsigned char) buf.data[0] == (1000 * 7 + 5) % 251,
          "from offset 1,000: rc %d, %zu bytes", rc, buf.len);
    file_buffer_free(&buf);
}

int main(void)
{
    if (test_tmpdir_make(dir, sizeof dir, "file") != 0)
        return 1;
    RUN(whole_files_through_one_buffer);
    RUN(over_the_limit_refused);
    RUN(folders_and_missing_paths_refused);
    RUN(pipes_read_to_the_end);
    RUN(descriptors_read_from_where_they_stand);
    if (test_tmpdir_remove(dir) != 0)
        return 1;
    TEST_DONE();
}
