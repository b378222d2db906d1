/* http.h -- the HTTP API of `fruitstream serve` for apps (libmicrohttpd).
 *
 *   POST /v1/images[?key=K&label=L]  JPEG body -> 202 {"key": K}; stored as `upload` does
 *   GET  /v1/images/KEY[?features=1] -> status (pending, ok, failed + reason), label,
 *                                       worker, timings, PCA projection (and features)
 *   GET  /v1/status                  -> what `fruitstream status --json` prints
 *   POST /v1/classify[?k=N]          JPEG body -> its N (5) nearest stored images and their
 *                                       majority label (`fruitstream query`'s answer)
 *   GET  /healthz                    -> 200 when Redis answers, else 503; no token needed
 *
 * Every other route needs `Authorization: Bearer TOKEN` (the token file's first line).
 * Errors are JSON {"error": "...", "status": N}: 400, 401, 404, 405, 413, 503.
 *
 * classify featurizes the image in this process, on the server's thread, with a classifier
 * (cli/classify.h: featurizer, PCA model, gallery of stored projections) loaded at the first
 * request; the image is not stored. So that new images and a refreshed model are seen, the
 * first request that finds the model and gallery older than classify_reload_seconds starts
 * loading them again on a thread of its own, and is answered at once with the ones loaded;
 * the first request after that thread is done has the new ones. (Loading 22,688 stored
 * images takes 0.8 s, during which the server thread would answer no request at all.) That
 * thread first reads their stamp (cli/classify.h) and loads nothing when it is the one
 * loaded: a server without new images or model reads three small replies each time. */
#ifndef FS_HTTP_H
#define FS_HTTP_H

#define HTTP_DEFAULT_MAX_CONNECTIONS 64
#define HTTP_DEFAULT_REQUEST_SECONDS 30
#define HTTP_DEFAULT_CLASSIFY_RELOAD_SECONDS 30

typedef struct {
    const char *listen;          /* [ADDR]:PORT; ADDR defaults to 127.0.0.1, PORT 0 picks one */
    const char *token_file;      /* the bearer token, required */
    long max_body;               /* larger bodies get 413 */
    int max_connections;         /* connections at once; more are closed at once */
    int request_seconds;         /* a request (headers and body) taking longer is cut off */
    const char *weights;         /* classify's featurizer: the workers' weights */
    int size;                    /* ...and input side S (0: the stored images') */
    int classify_reload_seconds; /* the age at which its model and gallery are reloaded */
} http_config_t;

typedef struct http_server_t http_server_t;

/* Reads the token, binds and starts serving on a thread of its own; it talks to the Redis
 * at redis_url. NULL with the reason logged. Logs the address it listens on. */
http_server_t *http_server_new(const http_config_t *cfg, const char *redis_url);
/* Cuts off the connections whose request has taken longer than request_seconds (slow
 * clients). Call it every fraction of a second; NULL does nothing. */
void http_server_sweep(http_server_t *self);
/* Stops taking connections, ends those open, and frees. */
void http_server_destroy(http_server_t **self_p);

#endif
