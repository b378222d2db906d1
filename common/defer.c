/* defer.c -- see defer.h. */
#include "common/defer.h"

#include "common/log.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

void defer_to_workers(void)
{
    struct sched_param param = {.sched_priority = 0};
    if (sched_setscheduler(0, SCHED_BATCH, &param) != 0)
        log_warn("cannot switch to SCHED_BATCH: %s", strerror(errno));
}
