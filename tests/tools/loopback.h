/* loopback.h -- a TCP connection to 127.0.0.1:PORT, for the tools that play HTTP clients
 * (tests/tools/http_hostile.c, bench/http_feed.c). Header-only, as each tool is one file.
 * TCP_NODELAY: a request written in pieces must not wait for the server's delayed ACK
 * (40 ms a request, measured), which would measure the kernel rather than the server. */
#ifndef FS_LOOPBACK_H
#define FS_LOOPBACK_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

static inline int loopback_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((unsigned short) port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

#endif
