/* stop.c -- see stop.h. */
#include "common/stop.h"

#include <czmq.h>
#include <signal.h>

volatile int stop_requested;

static void on_stop_signal(int sig)
{
    (void) sig;
    stop_requested = 1;
    zsys_interrupted = 1;
}

void stop_catch_signals(void)
{
    zsys_handler_set(NULL);
    struct sigaction action = {.sa_handler = on_stop_signal};
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    /* A write to a Redis that just died must fail with EPIPE (and the role reconnect), not
     * kill the process: hiredis writes with plain write(2). */
    signal(SIGPIPE, SIG_IGN);
}
