/* pull_frames -- an outsider on a ventilator's task port, for tests/integration/curve.sh.
 *
 *   pull_frames ENDPOINT [bind]
 *
 * Connects a PULL socket to ENDPOINT, as a worker would (or with `bind` binds it, as a sink
 * does, for tests/integration/task_limits.sh), and prints a line `frame N BYTES`
 * for every frame that arrives, at once, until it is killed. With $FRUITSTREAM_KEYS it is
 * a CURVE client, the identity $FS_CERT (default worker) of that key directory; without, a
 * plain one. */
#include "common/config.h"
#include "common/curve.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int bind = argc == 3 && strcmp(argv[2], "bind") == 0;
    if (argc != 2 && !bind) {
        fprintf(stderr, "usage: pull_frames ENDPOINT [bind]\n");
        return 2;
    }
    curve_t *curve;
    if (curve_client_setup(config_keys_dir(NULL), getenv("FS_CERT"), &curve) != 0)
        return 1;
    zsock_t *in = zsock_new(ZMQ_PULL);
    curve_apply(curve, in);
    if (bind ? zsock_bind(in, "%s", argv[1]) < 0 : zsock_connect(in, "%s", argv[1]) != 0) {
        fprintf(stderr, "pull_frames: cannot %s %s\n", bind ? "bind" : "connect to", argv[1]);
        return 1;
    }
    for (long n = 1;; n++) {
        zframe_t *frame = zframe_recv(in);
        if (!frame)
            break;
        printf("frame %ld %zu\n", n, zframe_size(frame));
        fflush(stdout);
        zframe_destroy(&frame);
    }
    zsock_destroy(&in);
    curve_destroy(&curve);
    return 0;
}
