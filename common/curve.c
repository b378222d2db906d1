/* curve.c -- see curve.h. Certificates are written with CZMQ's zcert and read back by a
 * small reader of their two keys here (load_cert says why); clients are checked by CZMQ's
 * zauth actor against the certificates in DIR/workers (zcertstore, which rereads the folder
 * when it changes). This file adds what they leave to the caller: files that must not be
 * overwritten or left readable, errors that name the file, and the rule on where a server
 * may bind without keys. */
#include "common/curve.h"

#include "common/file.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CURVE_NAME_MAX 64
#define CURVE_ZAP_DOMAIN "fruitstream"

struct curve_t {
    zcert_t *cert;       /* our keypair */
    char server_key[41]; /* clients: the server's public key, Z85 */
    zactor_t *auth;      /* servers: the zauth actor */
};

/* DIR/NAME.cert, and the secret file beside it. */
static void cert_paths(const char *dir, const char *name, char *pub, char *secret)
{
    snprintf(pub, PATH_MAX, "%s/%s.cert", dir, name);
    snprintf(secret, PATH_MAX, "%s/%s.cert_secret", dir, name);
}

static bool name_is_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > CURVE_NAME_MAX || name[0] == '.' || strcmp(name, CURVE_SERVER_NAME) == 0)
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* Creates the secret file empty, mode 0600, failing if it exists: nothing is overwritten,
 * and the secret is never in a file others could read, whatever the umask. */
static int claim_secret_file(const char *secret, char *err, size_t errlen)
{
    int fd = open(secret, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s%s", secret, strerror(errno),
                 errno == EEXIST ? " (not overwriting a secret key; remove it first to "
                                   "replace it)"
                                 : "");
        return -1;
    }
    close(fd);
    return 0;
}

/* Writes a new keypair as DIR/NAME.cert + DIR/NAME.cert_secret, and its public part also
 * into DIR/workers/NAME.cert when authorise is set. */
static int make_identity(const char *dir, const char *name, bool authorise, char *err,
                         size_t errlen)
{
    char pub[PATH_MAX], secret[PATH_MAX], allowed[PATH_MAX];
    cert_paths(dir, name, pub, secret);
    if (claim_secret_file(secret, err, errlen) != 0)
        return -1;
    zcert_t *cert = zcert_new();
    int rc = cert ? 0 : -1;
    if (cert) {
        zcert_set_meta(cert, "name", "%s", name);
        zcert_set_meta(cert, "role", "%s", authorise ? "worker" : "server");
        rc = zcert_save_secret(cert, secret) || chmod(secret, 0600) || zcert_save_public(cert, pub);
        snprintf(allowed, sizeof allowed, "%s/%s/%s.cert", dir, CURVE_WORKERS_DIR, name);
        if (rc == 0 && authorise)
            rc = zcert_save_public(cert, allowed);
    }
    zcert_destroy(&cert);
    if (rc != 0) {
        snprintf(err, errlen, "cannot write the certificate %s: %s", pub, strerror(errno));
        unlink(secret);
    }
    return rc;
}

static int make_dir(const char *path, mode_t mode, char *err, size_t errlen)
{
    if (mkdir(path, mode) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int curve_keys_make(const char *dir, char *err, size_t errlen)
{
    char workers[PATH_MAX], pub[PATH_MAX], secret[PATH_MAX];
    snprintf(workers, sizeof workers, "%s/%s", dir, CURVE_WORKERS_DIR);
    /* The folder holds secrets: only its owner may list it. */
    if (make_dir(dir, 0700, err, errlen) != 0 || make_dir(workers, 0755, err, errlen) != 0)
        return -1;
    /* Check both secrets before writing either, so a refusal leaves nothing half made. */
    const char *names[] = {CURVE_SERVER_NAME, CURVE_WORKER_NAME};
    for (int i = 0; i < 2; i++) {
        cert_paths(dir, names[i], pub, secret);
        if (access(secret, F_OK) == 0) {
            snprintf(err, errlen,
                     "%s already exists: not overwriting a secret key (`keys "
                     "DIR --add NAME` adds a worker identity)",
                     secret);
            return -1;
        }
    }
    return make_identity(dir, CURVE_SERVER_NAME, false, err, errlen) == 0 &&
                   make_identity(dir, CURVE_WORKER_NAME, true, err, errlen) == 0
               ? 0
               : -1;
}

int curve_keys_add(const char *dir, const char *name, char *err, size_t errlen)
{
    if (!name_is_valid(name)) {
        snprintf(err, errlen,
                 "bad identity name \"%s\": use 1..%d of A-Z a-z 0-9 . _ -, not "
                 "starting with a dot, and not \"%s\"",
                 name, CURVE_NAME_MAX, CURVE_SERVER_NAME);
        return -1;
    }
    char pub[PATH_MAX], secret[PATH_MAX];
    cert_paths(dir, CURVE_SERVER_NAME, pub, secret);
    if (access(pub, F_OK) != 0) {
        snprintf(err, errlen,
                 "%s: %s (make the key directory with `fruitstream keys %s` "
                 "first)",
                 pub, strerror(errno), dir);
        return -1;
    }
    return make_identity(dir, name, true, err, errlen);
}

/* The most a certificate file may hold: zcert_save writes a few hundred bytes. */
#define CURVE_CERT_MAX 65536
#define CURVE_Z85_KEY 40 /* characters of a 32-byte key in Z85 */

/* The 32-byte key written as `name = "<Z85>"` (quoted with " or ', or not quoted) in the
 * `curve` section of a zcert file's text, decoded into key: false when there is none or it
 * is not 40 characters of Z85. zconfig's format: a line starting in column 0 names a
 * section, the indented lines below it are its entries, '#' starts a comment. */
static bool cert_key(const char *text, const char *name, byte *key)
{
    bool in_curve = false;
    size_t name_len = strlen(name);
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        const char *p = line + strspn(line, " \t"), *end = line + len;
        if (p == line && p < end && *p != '#') /* a section */
            in_curve = len >= 5 && strncmp(line, "curve", 5) == 0 &&
                       line + 5 + strspn(line + 5, " \t\r") == end;
        else if (in_curve && p < end && strncmp(p, name, name_len) == 0) {
            p += name_len;
            p += strspn(p, " \t");
            if (*p == '=') {
                p++;
                p += strspn(p, " \t");
                char quote = *p == '"' || *p == '\'' ? *p++ : 0;
                char z85[CURVE_Z85_KEY + 1] = "";
                if (end - p >= CURVE_Z85_KEY) {
                    memcpy(z85, p, CURVE_Z85_KEY);
                    p += CURVE_Z85_KEY;
                }
                if (quote && *p++ != quote)
                    return false;
                p += strspn(p, " \t\r");
                return z85[0] && p == end && zmq_z85_decode(key, z85) != NULL;
            }
        }
        line = *end ? end + 1 : end;
    }
    return false;
}

static bool all_zero(const byte *key)
{
    for (int i = 0; i < 32; i++)
        if (key[i])
            return false;
    return true;
}

/* Loads DIR/NAME.cert, or with need_secret DIR/NAME.cert_secret, which holds both keys.
 * The file is read here rather than by zcert_load: CZMQ's zconfig parser prints the line it
 * chokes on to stdout (`E (zconfig): (10) invalid syntax '?= "<secret>"'`), for a damaged
 * secret file the secret key itself, where no CZMQ log setting reaches. Errors name the
 * file that is missing, unreadable or damaged, never its content. */
static zcert_t *load_cert(const char *dir, const char *name, bool need_secret, char *err,
                          size_t errlen)
{
    char pub[PATH_MAX], secret[PATH_MAX];
    cert_paths(dir, name, pub, secret);
    const char *file = need_secret ? secret : pub;
    /* Only a regular file, checked on what was opened (a check of the path before opening
     * it could be answered by one file and the open by another swapped in between): opened
     * without O_NONBLOCK, a FIFO planted there would wait for a writer for ever. */
    struct stat st;
    file_buffer_t text = {0};
    const char *why = NULL;
    int fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || fstat(fd, &st) != 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (file_read_fd(fd, &text, CURVE_CERT_MAX) != 0)
        why = errno == EFBIG ? "larger than any certificate" : strerror(errno);
    else if (text.len == text.cap) /* no room for the NUL the reader ends the text with */
        why = "larger than any certificate";
    if (fd >= 0)
        close(fd);
    if (why) {
        snprintf(err, errlen, "cannot read the certificate %s: %s", file, why);
        file_buffer_free(&text);
        return NULL;
    }
    if (need_secret && (st.st_mode & 077))
        log_warn("%s can be read by other users (mode %03o): chmod 600 it", secret,
                 (unsigned) (st.st_mode & 0777));
    text.data[text.len] = '\0';
    byte public_key[32], secret_key[32] = {0};
    zcert_t *cert = NULL;
    if (memchr(text.data, 0, text.len) == NULL && cert_key(text.data, "public-key", public_key) &&
        !all_zero(public_key) &&
        (!need_secret || (cert_key(text.data, "secret-key", secret_key) && !all_zero(secret_key))))
        cert = zcert_new_from(public_key, secret_key);
    else
        snprintf(err, errlen, "%s is not a CURVE certificate (zcert format)", file);
    explicit_bzero(secret_key, sizeof secret_key);
    explicit_bzero(text.data, text.len);
    file_buffer_free(&text);
    return cert;
}

/* How many certificates DIR/workers holds, or -1 (err set) when it is no folder. */
static int count_workers(const char *workers, char *err, size_t errlen)
{
    DIR *d = opendir(workers);
    if (!d) {
        snprintf(err, errlen, "cannot read the folder of worker keys %s: %s", workers,
                 strerror(errno));
        return -1;
    }
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

curve_t *curve_server_new(const char *dir, char *err, size_t errlen)
{
    char workers[PATH_MAX];
    snprintf(workers, sizeof workers, "%s/%s", dir, CURVE_WORKERS_DIR);
    int allowed = count_workers(workers, err, errlen);
    if (allowed < 0)
        return NULL;
    curve_t *self = calloc(1, sizeof *self);
    if (!self || !(self->cert = load_cert(dir, CURVE_SERVER_NAME, true, err, errlen))) {
        free(self);
        return NULL;
    }
    /* zauth answers libzmq's ZAP requests for every socket of this process; it must run
     * before the socket binds, or libzmq would let CURVE clients in unchecked. */
    self->auth = zactor_new(zauth, NULL);
    if (!self->auth) {
        snprintf(err, errlen, "cannot start the authentication actor");
        curve_destroy(&self);
        return NULL;
    }
    zstr_sendx(self->auth, "CURVE", workers, NULL);
    zsock_wait(self->auth);
    if (allowed == 0)
        log_warn("%s holds no worker keys: no worker can connect until one is added", workers);
    log_info("CURVE on: admitting the %d worker keys in %s", allowed, workers);
    return self;
}

curve_t *curve_client_new(const char *dir, const char *name, char *err, size_t errlen)
{
    curve_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    zcert_t *server = load_cert(dir, CURVE_SERVER_NAME, false, err, errlen);
    if (server)
        snprintf(self->server_key, sizeof self->server_key, "%s", zcert_public_txt(server));
    zcert_destroy(&server);
    if (!self->server_key[0] || !(self->cert = load_cert(dir, name, true, err, errlen))) {
        curve_destroy(&self);
        return NULL;
    }
    log_info("CURVE on: identity %s/%s.cert", dir, name);
    return self;
}

void curve_destroy(curve_t **self_p)
{
    curve_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy(&self->auth);
    zcert_destroy(&self->cert);
    free(self);
    *self_p = NULL;
}

void curve_apply(curve_t *self, zsock_t *socket)
{
    if (!self)
        return;
    zcert_apply(self->cert, socket);
    if (self->auth) {
        zsock_set_zap_domain(socket, CURVE_ZAP_DOMAIN);
        zsock_set_curve_server(socket, 1);
    } else {
        zsock_set_curve_serverkey(socket, self->server_key);
    }
}

bool curve_endpoint_is_local(const char *endpoint)
{
    if (strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0)
        return true;
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return false;
    const char *host = endpoint + 6, *colon = strrchr(host, ':');
    char name[64];
    size_t n = colon ? (size_t) (colon - host) : 0;
    if (n == 0 || n >= sizeof name)
        return false;
    memcpy(name, host, n);
    name[n] = '\0';
    if (strcmp(name, "localhost") == 0)
        return true;
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, name, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    if (name[0] == '[' && name[n - 1] == ']') {
        name[n - 1] = '\0';
        return inet_pton(AF_INET6, name + 1, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
    }
    return false;
}

int curve_server_setup(const char *keys_dir, const char *endpoint, bool insecure,
                       const char *exposes, curve_t **curve_p)
{
    *curve_p = NULL;
    if (keys_dir) {
        char err[PATH_MAX + 256];
        if (!(*curve_p = curve_server_new(keys_dir, err, sizeof err))) {
            log_error("%s", err);
            return -1;
        }
        return 0;
    }
    if (curve_endpoint_is_local(endpoint))
        return 0;
    if (insecure) {
        log_warn("%s is open to anyone who can reach it (--insecure, no --keys)", endpoint);
        return 0;
    }
    log_error("refusing to bind %s without --keys: it can be reached from other machines, "
              "and anyone who connects could %s. Make keys with `fruitstream keys DIR` and "
              "give --keys DIR (or FRUITSTREAM_KEYS) here and to the workers; or bind "
              "127.0.0.1 or ipc://; or, on a network you trust, pass --insecure",
              endpoint, exposes);
    return -1;
}

int curve_client_setup(const char *keys_dir, const char *name, curve_t **curve_p)
{
    char err[PATH_MAX + 256];
    *curve_p = NULL;
    if (keys_dir && !(*curve_p = curve_client_new(keys_dir, name ? name : CURVE_WORKER_NAME, err,
                                                  sizeof err))) {
        log_error("%s", err);
        return -1;
    }
    return 0;
}
