/* script.h -- a Lua script run in Redis by its SHA1 (EVALSHA).
 *
 * The scripts live in .lua files beside the code that runs them, so they read, diff and
 * lint as Lua; the build embeds each one as a C string (Makefile: DIR/NAME.lua becomes the
 * header DIR/NAME.lua.h, which defines `static const char NAME_lua[]`). A script is
 * loaded with SCRIPT LOAD on first use and then sent by its SHA1 alone. Redis forgets
 * scripts when it restarts (they are not persisted) or on SCRIPT FLUSH: a NOSCRIPT reply
 * (script_unknown) tells the caller to load it again and repeat the call, which every
 * script of ours makes harmless. */
#ifndef FS_SCRIPT_H
#define FS_SCRIPT_H

#include "common/redis.h"

#include <stdbool.h>

typedef struct {
    const char *text; /* the whole script; the caller owns it */
    char sha[41];     /* its SHA1 once loaded, else "" */
} script_t;

/* Loads the script unless it is loaded: 0, or -1 after logging Redis's reply. */
int script_load(script_t *script, redis_t *redis);
/* True for Redis's "NOSCRIPT" reply; the script is then marked as not loaded. */
bool script_unknown(script_t *script, const redisReply *reply);
/* Appends EVALSHA sha numkeys keys... args... to the connection's pipeline (hiredis
 * redisAppendCommandArgv: reply read later with redisGetReply); the script must be loaded.
 * Argument lengths are given, so binary arguments pass. 0, or -1 when out of memory. */
int script_append(script_t *script, redis_t *redis, int nkeys, int argc, const char **argv,
                  const size_t *lens);

#endif
