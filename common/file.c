/* file.c -- see file.h. */
#include "common/file.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int file_read(const char *path, file_buffer_t *buf, size_t max)
{
    buf->len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    for (;;) {
        if (buf->len == buf->cap) {
            size_t cap = buf->cap ? 2 * buf->cap : 1 << 16;
            char *data = realloc(buf->data, cap);
            if (!data) {
                fclose(f);
                buf->len = 0;
                errno = ENOMEM;
                return -1;
            }
            buf->data = data;
            buf->cap = cap;
        }
        errno = 0;
        size_t n = fread(buf->data + buf->len, 1, buf->cap - buf->len, f);
        buf->len += n;
        if (n == 0 || buf->len > max)
            break;
    }
    /* the read's own errno (EISDIR for a folder), else EIO */
    int failed = ferror(f) ? (errno ? errno : EIO) : buf->len > max ? EFBIG : 0;
    fclose(f);
    if (failed) {
        buf->len = 0;
        errno = failed;
        return -1;
    }
    return 0;
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
