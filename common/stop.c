/* stop.c -- see stop.h. */
#include "common/stop.h"

#include <czmq.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

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

void stop_with_parent(pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        _exit(1); /* the parent died before the signal was armed */
}
