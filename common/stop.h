/* stop.h -- how every long-running program learns that it should stop.
 *
 * SIGINT and SIGTERM set stop_requested (and czmq's zsys_interrupted, so a blocking czmq
 * call returns at once); main loops check the flag, finish what they hold, and exit 0.
 * stop_catch_signals replaces czmq's own handler, and must run before zsys_init. */
#ifndef FS_STOP_H
#define FS_STOP_H

extern volatile int stop_requested;

void stop_catch_signals(void);

#endif
