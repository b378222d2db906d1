/* file.h -- reading a whole file into memory, the one way every program does it, and
 * finishing an output so that a write that failed (a full disk, a closed pipe) is an error.
 *
 * A file_buffer_t grows to the largest file read into it and is then reused, so a loop
 * over many files allocates only while files keep getting bigger. Works on pipes and
 * special files too (no reliance on the file's reported size). */
#ifndef FS_FILE_H
#define FS_FILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    char *data;
    size_t len; /* bytes of the last file read */
    size_t cap;
} file_buffer_t;

/* Reads all of path into buf, refusing (EFBIG) a file of more than max bytes as soon as it
 * has read that much. Returns 0, or -1 with errno set (buf->len is then 0). */
int file_read(const char *path, file_buffer_t *buf, size_t max);
/* The same from an open descriptor, read from where it stands; the caller closes it. For a
 * caller that must check what it opened (fstat) before reading it. */
int file_read_fd(int fd, file_buffer_t *buf, size_t max);
/* The whole file in memory the caller frees; NULL with errno set on failure. */
char *file_read_all(const char *path, size_t *len);
/* Frees the buffer's memory and empties it. */
void file_buffer_free(file_buffer_t *buf);
/* Flushes out and closes it (standard output is only flushed): 0 when everything written to
 * it got out, else -1 with errno set. */
int file_finish_output(FILE *out);

#endif
