/* http_feed -- uploads images to `fruitstream serve`'s HTTP API as an app would, for
 * bench/section_35_serve.sh.
 *
 *   http_feed --port P --token-file F [--rate R --seconds S | --count N] [--prefix P] LIST
 *
 * POSTs the JPEGs listed in LIST (one path a line, cycled through) to
 * 127.0.0.1:P/v1/images?key=PREFIX<i>&label=<parent folder>, one request at a time on one
 * keep-alive connection, each answer read before the next request. With --rate, request i
 * is sent at start + i/R for S seconds; otherwise N requests as fast as they are answered.
 * Prints `sent N seconds S rate R lag_ms L failed F` (L: worst lag behind schedule). */
#include "common/clock.h"
#include "common/file.h"
#include "common/options.h"
#include "common/uploads.h"
#include "tests/tools/loopback.h"

#include <ctype.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bytes of a request's head: its line (key prefix, %-encoded label) and headers (token). */
#define HEAD_MAX 4096

typedef struct {
    char *data;
    size_t len;
    char label[3 * 256]; /* %-encoded for the query string */
} image_t;

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t) k;
    }
    return 0;
}

/* Reads one response (headers, then Content-Length bytes); its status, or -1. */
static int read_response(int fd)
{
    char buf[8192];
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        ssize_t k = recv(fd, buf + have, sizeof buf - 1 - have, 0);
        if (k <= 0)
            return -1;
        have += (size_t) k;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (!end && have == sizeof buf - 1)
            return -1;
    }
    int status = atoi(buf + 9);
    const char *cl = strcasestr(buf, "Content-Length:");
    size_t body = cl ? (size_t) atol(cl + 15) : 0, got = have - (size_t) (end + 4 - buf);
    while (got < body) {
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k <= 0)
            return -1;
        got += (size_t) k;
    }
    return status;
}

/* Writes s %-encoded for a query string into out (3 x strlen(s) + 1 bytes at most): labels
 * are folder names, "Apple Braeburn" among them, and a space would end the request line. */
static void percent_encode(const char *s, char *out)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (isalnum(c) || strchr("-._~", c))
            *out++ = (char) c;
        else
            out += sprintf(out, "%%%02X", c);
    }
    *out = '\0';
}

static const char about[] = "POSTs the JPEG files LIST names to fruitstream serve's HTTP API.";

int main(int argc, char **argv)
{
    int port = 0;
    int64_t count = 0;
    double rate = 0, seconds = 0;
    const char *token_file = NULL, *prefix = "http-";
    const option_t options[] = {
        OPTION_INT("port", &port, 1, 65535, "P", "the HTTP API's port on 127.0.0.1 (required)"),
        OPTION_STRING("token-file", &token_file, "F", "the bearer token's file (required)"),
        OPTION_REAL("rate", &rate, 0, 1000000000, "R",
                    "requests a second, for --seconds (default: one after the other)"),
        OPTION_REAL("seconds", &seconds, 0, 1000000000, "S",
                    "how long, with --rate (default none)"),
        OPTION_INT64("count", &count, 1, INT64_MAX / 2, "N",
                     "requests, without --rate (default none)"),
        OPTION_STRING("prefix", &prefix, "P", "the keys are P<number>"),
        OPTION_END};
    const options_spec_t spec = {"http_feed", "LIST", 1, 1, about, options, NULL};
    int first = options_parse(&spec, argc, argv);
    if (!port || !token_file || (rate > 0 ? seconds <= 0 : count <= 0)) {
        fprintf(stderr, "http_feed: give --port and --token-file, and --rate with --seconds "
                        "or --count\n");
        return 2;
    }
    if (rate > 0)
        count = (int64_t) (rate * seconds);
    char token[512] = "";
    FILE *tf = fopen(token_file, "r");
    if (!tf || !fgets(token, sizeof token, tf)) {
        perror(token_file);
        return 1;
    }
    fclose(tf);
    token[strcspn(token, "\r\n")] = '\0';
    FILE *list = fopen(argv[first], "r");
    if (!list) {
        perror(argv[first]);
        return 1;
    }
    image_t *images = NULL;
    size_t n = 0;
    char line[4096];
    while (n < 1000 && fgets(line, sizeof line, list)) {
        line[strcspn(line, "\n")] = '\0';
        images = realloc(images, (n + 1) * sizeof *images);
        if (!images || !(images[n].data = file_read_all(line, &images[n].len)))
            continue;
        char label[256];
        uploads_label_from_path(line, label, sizeof label);
        percent_encode(label, images[n].label);
        n++;
    }
    fclose(list);
    int fd = loopback_connect(port);
    if (!n || fd < 0) {
        fprintf(stderr, "http_feed: no images, or no server on port %d\n", port);
        return 1;
    }
    size_t largest = 0;
    for (size_t i = 0; i < n; i++)
        largest = images[i].len > largest ? images[i].len : largest;
    char *request = malloc(HEAD_MAX + largest);
    if (!request)
        return 1;
    double start = clock_seconds(), lag = 0;
    long sent = 0, failed = 0;
    for (long i = 0; i < count; i++) {
        if (rate > 0) {
            double due = start + (double) i / rate, t = clock_seconds();
            if (t < due)
                nanosleep(
                    &(struct timespec){(time_t) (due - t), (long) ((due - t) * 1e9) % 1000000000},
                    NULL);
            else if (t - due > lag)
                lag = t - due;
        }
        const image_t *im = &images[i % (long) n];
        char *head = request;
        int h = snprintf(head, HEAD_MAX,
                         "POST /v1/images?key=%s%ld&label=%s HTTP/1.1\r\nHost: localhost\r\n"
                         "Authorization: Bearer %s\r\nContent-Type: image/jpeg\r\n"
                         "Content-Length: %zu\r\n\r\n",
                         prefix, i, im->label, token, im->len);
        if (h < 0 || h >= HEAD_MAX) {
            fprintf(stderr, "http_feed: request head over %d bytes (key prefix too long?)\n",
                    HEAD_MAX);
            return 1;
        }
        memcpy(request + h, im->data, im->len);
        int status = send_all(fd, request, (size_t) h + im->len) == 0 ? read_response(fd) : -1;
        if (status < 0) { /* the server closed the connection: open another */
            close(fd);
            fd = loopback_connect(port);
            if (fd < 0)
                break;
        }
        if (status == 202)
            sent++;
        else
            failed++;
    }
    double took = clock_seconds() - start;
    printf("sent %ld seconds %.2f rate %.1f lag_ms %.0f failed %ld\n", sent, took,
           took > 0 ? (double) sent / took : 0.0, lag * 1e3, failed);
    close(fd);
    return failed ? 1 : 0;
}
