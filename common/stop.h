/* stop.h -- how every long-running program learns that it should stop.
 *
 * SIGINT and SIGTERM set stop_requested (and czmq's zsys_interrupted, so a blocking czmq
 * call returns at once); main loops check the flag, finish what they hold, and exit 0.
 * stop_catch_signals replaces czmq's own handler, and must run before zsys_init.
 * A program started by another (`fruitstream run` starts the roles and Redis) is also told
 * to stop, by SIGTERM, when its parent dies, however it dies: kill -9 of `run` must not
 * leave a pipeline working on without it. */
#ifndef FS_STOP_H
#define FS_STOP_H

#include <sys/types.h>

extern volatile int stop_requested;

void stop_catch_signals(void);

/* In a child just forked by parent, before exec: SIGTERM when parent dies (the setting
 * outlives exec), and exit at once if it is already gone. */
void stop_with_parent(pid_t parent);

#endif
