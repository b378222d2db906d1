/* log.h -- levelled logging to stderr, one line per event.
 *
 * Every line carries a timestamp, the program's identity (set once with log_init) and the
 * level: `2026-11-23T11:00:00.123 worker[1234] WARN decode failed: ...`. The level
 * threshold comes from log_init or the FRUITSTREAM_LOG_LEVEL environment variable
 * (debug, info, warn, error). */
#ifndef FS_LOG_H
#define FS_LOG_H

typedef enum { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR } log_level_t;

void log_init(const char *ident);
/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int log_level_parse(const char *name);
/* Sets the threshold by name; -1 (and a message on stderr naming the program) when the name
 * is not a level. */
int log_set_level_name(const char *name);
void log_msg(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
