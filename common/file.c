/* file.c -- see file.h. */
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int file_read_fd(int fd, file_buffer_t *buf, size_t max)
{
    buf->len = 0;
    int failed = 0;
    while (!failed && buf->len <= max) {
        if (buf->len == buf->cap) {
            size_t cap = buf->cap ? 2 * buf->cap : 1 << 16;
            char *data = realloc(buf->data, cap);
            if (!data) {
                failed = ENOMEM;
                break;
            }
            buf->data = data;
            buf->cap = cap;
        }
        ssize_t n = read(fd, buf->data + buf->len, buf->cap - buf->len);
        if (n > 0)
            buf->len += (size_t) n;
        else if (n == 0)
            break;
        else if (errno != EINTR)
            failed = errno; /* EISDIR for a folder */
    }
    if (!failed && buf->len > max)
        failed = EFBIG;
    if (failed) {
        buf->len = 0;
        errno = failed;
        return -1;
    }
    return 0;
}

int file_read(const char *path, file_buffer_t *buf, size_t max)
{
    buf->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = file_read_fd(fd, buf, max);
    int why = errno;
    close(fd);
    errno = why;
    return rc;
}

char *file_read_all(const char *path, size_t *len)
{
    file_buffer_t buf = {0};
    if (file_read(path, &buf, SIZE_MAX) != 0) {
        file_buffer_free(&buf);
        return NULL;
    }
    *len = buf.len;
    return buf.data;
}

void file_buffer_free(file_buffer_t *buf)
{
    free(buf->data);
    *buf = (file_buffer_t){0};
}

int file_finish_output(FILE *out)
{
    errno = 0;
    bool failed = fflush(out) != 0 || ferror(out);
    int why = errno ? errno : EIO; /* an earlier write's error leaves only the flag */
    if (out != stdout && fclose(out) != 0 && !failed) {
        failed = true;
        why = errno;
    }
    errno = failed ? why : 0;
    return failed ? -1 : 0;
}
