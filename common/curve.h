/* curve.h -- CURVE security on the ZeroMQ sockets that cross machines: the ZeroMQ guide's
 * Ironhouse pattern, where both ends prove who they are and every frame is encrypted.
 *
 * A key directory, made by `fruitstream keys DIR`, holds certificates in CZMQ's zcert_save
 * format (a public file NAME.cert and a secret file NAME.cert_secret, mode 0600):
 *
 *   server.cert, server.cert_secret   the identity of the ventilator and the sink
 *   worker.cert, worker.cert_secret   a worker identity (`keys DIR --add NAME`: NAME.cert...)
 *   workers/NAME.cert                 public keys of the workers the servers admit
 *
 * The ventilator and the sink are CURVE servers: the server's secret key, and a zauth actor
 * that admits a client only if its public key is one of the certificates in workers/.
 * Workers are CURVE clients: their own keypair, and the server's public key, so they only
 * ever talk to the holder of the server's secret. A server binding without keys is allowed
 * only where no other machine can reach it (ipc://, loopback TCP) unless told it is on a
 * trusted network (--insecure), as Redis's protected mode does. Secret keys are never
 * printed; errors name the file. */
#ifndef FS_CURVE_H
#define FS_CURVE_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#define CURVE_SERVER_NAME "server"
#define CURVE_WORKER_NAME "worker" /* the worker identity `keys DIR` makes, --cert's default */
#define CURVE_WORKERS_DIR "workers"

typedef struct curve_t curve_t;

/* Makes a key directory: the server's keypair and the worker identity, whose public key
 * goes into workers/. Refuses (-1, err says which file) if either secret already exists. */
int curve_keys_make(const char *dir, char *err, size_t errlen);
/* Adds the worker identity NAME to an existing key directory, authorised in workers/.
 * Refuses if NAME's secret already exists or NAME is not a plain [A-Za-z0-9._-] name. */
int curve_keys_add(const char *dir, const char *name, char *err, size_t errlen);

/* The server side (ventilator, sink): loads DIR/server.cert with its secret and starts the
 * zauth actor admitting the keys in DIR/workers. Call after zsys_init, before binding. */
curve_t *curve_server_new(const char *dir, char *err, size_t errlen);
/* The client side (worker): DIR/NAME.cert with its secret, DIR/server.cert's public key. */
curve_t *curve_client_new(const char *dir, const char *name, char *err, size_t errlen);
void curve_destroy(curve_t **self_p);
/* Makes socket a CURVE server or client of self, before it binds or connects; a NULL self
 * leaves it plain. */
void curve_apply(curve_t *self, zsock_t *socket);

/* True for endpoints no other machine can reach: ipc://, inproc://, and tcp:// on
 * 127.0.0.0/8, localhost or [::1]. */
bool curve_endpoint_is_local(const char *endpoint);
/* For a server about to bind endpoint: with keys_dir, *curve_p = curve_server_new(keys_dir);
 * without, *curve_p = NULL if the endpoint is local or insecure is set. Otherwise logs why
 * it refuses (`exposes` says what an outsider could do) and returns -1. */
int curve_server_setup(const char *keys_dir, const char *endpoint, bool insecure,
                       const char *exposes, curve_t **curve_p);
/* For a client: with keys_dir, *curve_p = curve_client_new(keys_dir, name, or the worker
 * identity when name is NULL); without, *curve_p = NULL (plain). Logs why and returns -1
 * when the certificates cannot be loaded. */
int curve_client_setup(const char *keys_dir, const char *name, curve_t **curve_p);

#endif
