/* defer.h -- lets the featurizing workers keep their cores when a plumbing process wakes.
 *
 * The ventilator, the sink and a private Redis wake hundreds of times a second, each time
 * for tens of microseconds. On a machine whose cores all run workers, every such wake-up
 * preempted a worker at once, hundreds of times a second, which costs
 * the worker its cached weights and activations on top of the plumbing's own time. Under
 * SCHED_BATCH a process still gets its fair share of CPU, but its wake-ups do not preempt:
 * it runs when the scheduler's tick next ends a worker's slice, together with whatever
 * else woke meanwhile. The workers' queues hold tens of milliseconds of work, so that
 * delay costs them nothing; on an idle core a batch process runs at once as before. */
#ifndef FS_DEFER_H
#define FS_DEFER_H

/* Puts the calling thread, and the threads and programs it starts afterwards, under
 * SCHED_BATCH. Call it before starting threads. A failure is logged and otherwise
 * harmless. */
void defer_to_workers(void);

#endif
