/* http_hostile -- clients that misbehave on purpose, for tests/integration/serve_http.sh.
 *
 *   http_hostile flood PORT N SECONDS   opens N connections to 127.0.0.1:PORT at once, each
 *                                       sending an unfinished request, and watches them
 *                                       for at most SECONDS
 *   http_hostile slow PORT SECONDS      sends a request one byte a second, for at most
 *                                       SECONDS
 *
 * Prints what the server did, one `name value` per line: `opened` (connections made),
 * `refused` (closed by the server within 0.5 s: over its limit), `cut` (closed later),
 * `open` (still open at the end), `last_close_s` (when the last one was closed), and for
 * slow, `bytes_sent`. Loopback only. */
#include "common/clock.h"
#include "tests/tools/loopback.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* True once the server has closed fd (end of file or reset); reads and drops anything. */
static bool closed_by_server(int fd)
{
    char buf[4096];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0)
        return false;
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static int flood(int port, int n, double seconds)
{
    struct rlimit rl = {(rlim_t) n + 64, (rlim_t) n + 64};
    setrlimit(RLIMIT_NOFILE, &rl);
    int *fds = calloc((size_t) n, sizeof *fds);
    double *opened_at = calloc((size_t) n, sizeof *opened_at);
    if (!fds || !opened_at)
        return 1;
    const char *head = "POST /v1/images HTTP/1.1\r\nHost: x\r\n"; /* never finished */
    int opened = 0, refused = 0, cut = 0;
    double t0 = clock_seconds(), last_close = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = loopback_connect(port);
        if (fds[i] < 0)
            continue;
        opened++;
        opened_at[i] = clock_seconds();
        send(fds[i], head, strlen(head), MSG_NOSIGNAL);
    }
    int open = opened;
    while (open > 0 && clock_seconds() - t0 < seconds) {
        for (int i = 0; i < n; i++)
            if (fds[i] >= 0 && closed_by_server(fds[i])) {
                if (clock_seconds() - opened_at[i] < 0.5)
                    refused++;
                else
                    cut++;
                last_close = clock_seconds() - t0;
                close(fds[i]);
                fds[i] = -1;
                open--;
            }
        usleep(20000);
    }
    printf("opened %d\nrefused %d\ncut %d\nopen %d\nlast_close_s %.1f\n", opened, refused, cut,
           open, last_close);
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    free(opened_at);
    return 0;
}

static int slow(int port, double seconds)
{
    const char *request = "POST /v1/images HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n";
    int fd = loopback_connect(port);
    if (fd < 0) {
        printf("opened 0\n");
        return 0;
    }
    double t0 = clock_seconds();
    size_t sent = 0, len = strlen(request);
    bool closed = false;
    while (!closed && clock_seconds() - t0 < seconds) {
        char c = sent < len ? request[sent] : 'x'; /* then a body, as slowly */
        if (send(fd, &c, 1, MSG_NOSIGNAL) == 1)
            sent++;
        for (int i = 0; i < 10 && !closed; i++) {
            closed = closed_by_server(fd);
            usleep(100000);
        }
    }
    printf("opened 1\nbytes_sent %zu\ncut %d\nopen %d\nlast_close_s %.1f\n", sent, closed, !closed,
           closed ? clock_seconds() - t0 : 0.0);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "flood") == 0)
        return flood(atoi(argv[2]), atoi(argv[3]), atof(argv[4]));
    if (argc == 4 && strcmp(argv[1], "slow") == 0)
        return slow(atoi(argv[2]), atof(argv[3]));
    fprintf(stderr, "usage: http_hostile flood PORT N SECONDS | slow PORT SECONDS\n");
    return 2;
}
