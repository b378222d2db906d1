/* log.c -- see log.h. Lines are formatted into one buffer and written with a single
 * write(2), so lines from several processes sharing a terminal never interleave. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "fruitstream";
static log_level_t log_threshold = LOG_LEVEL_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

void log_init(const char *ident)
{
    log_ident = ident;
    int level = log_level_parse(getenv("FRUITSTREAM_LOG_LEVEL"));
    if (level >= 0)
        log_threshold = (log_level_t) level;
}

int log_set_level_name(const char *name)
{
    int level = log_level_parse(name);
    if (level < 0) {
        fprintf(stderr, "%s: unknown log level \"%s\" (debug, info, warn, error)\n", log_ident,
                name);
        return -1;
    }
    log_threshold = (log_level_t) level;
    return 0;
}

void log_msg(log_level_t level, const char *fmt, ...)
{
    if (level < log_threshold)
        return;
    char line[1024];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t) snprintf(line + n, sizeof line - n, ".%03d %s[%d] %s ", (int) (tv.tv_usec / 1000),
                           log_ident, (int) getpid(), level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int body = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    n = body < 0 ? n : n + (size_t) body;
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, n);
    (void) ignored;
}
