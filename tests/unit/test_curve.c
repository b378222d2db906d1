/* test_curve.c -- `fruitstream keys`' files (which exist, what each holds, modes, no
 * overwrite), errors that name the file, what the certificate reader takes and refuses,
 * which endpoints count as local, and a CURVE
 * server that lets an authorised client in, keeps a plain and an unauthorised one out, and
 * refuses a key once it is removed from workers/. */
#include "common/curve.h"
#include "tests/test.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64], dir[128];

static char *path_of(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static int mode_of(const char *name)
{
    struct stat st;
    return stat(path_of(name), &st) == 0 ? (int) (st.st_mode & 0777) : -1;
}

static bool file_has(const char *name, const char *text)
{
    FILE *f = fopen(path_of(name), "r");
    char buf[4096] = "";
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    return strstr(buf, text) != NULL;
}

/* The public key of DIR/NAME, Z85, into out. */
static void public_of(const char *name, char out[41])
{
    zcert_t *cert = zcert_load(path_of(name));
    snprintf(out, 41, "%s", cert ? zcert_public_txt(cert) : "");
    zcert_destroy(&cert);
}

static void keys_make_writes_the_files(void)
{
    char err[512];
    CHECK(curve_keys_make(dir, err, sizeof err) == 0, "keys: %s", err);
    struct stat st;
    CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700, "dir mode %o", st.st_mode & 0777);
    const char *secrets[] = {"server.cert_secret", "worker.cert_secret"};
    const char *publics[] = {"server.cert", "worker.cert", "workers/worker.cert"};
    for (int i = 0; i < 2; i++) {
        CHECK(mode_of(secrets[i]) == 0600, "%s mode %o", secrets[i], mode_of(secrets[i]));
        CHECK(file_has(secrets[i], "secret-key = \"") && file_has(secrets[i], "public-key"),
              "%s lacks its keys", secrets[i]);
    }
    for (int i = 0; i < 3; i++)
        CHECK(file_has(publics[i], "public-key = \"") && !file_has(publics[i], "secret-key"),
              "%s: public key only expected", publics[i]);
    char server[41], worker[41], allowed[41];
    public_of("server.cert", server);
    public_of("worker.cert", worker);
    public_of("workers/worker.cert", allowed);
    CHECK(strlen(server) == 40 && strlen(worker) == 40, "keys not loadable");
    CHECK(strcmp(worker, allowed) == 0, "workers/ holds another key than worker.cert");
    CHECK(strcmp(server, worker) != 0, "server and worker share a key");
}

static void keys_never_overwrite_a_secret(void)
{
    char err[512], before[41], after[41];
    public_of("server.cert", before);
    CHECK(curve_keys_make(dir, err, sizeof err) != 0, "made keys over existing ones");
    CHECK(strstr(err, "server.cert_secret"), "error does not name the file: %s", err);
    public_of("server.cert", after);
    CHECK(strcmp(before, after) == 0, "server key changed");
    CHECK(curve_keys_add(dir, "w2", err, sizeof err) == 0, "add: %s", err);
    CHECK(mode_of("w2.cert_secret") == 0600 && file_has("workers/w2.cert", "public-key"),
          "w2 files");
    CHECK(curve_keys_add(dir, "w2", err, sizeof err) != 0 && strstr(err, "w2.cert_secret"),
          "added w2 twice, or no file named: %s", err);
    const char *bad[] = {"", "../x", "a/b", ".hidden", "server", "sp ace"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(curve_keys_add(dir, bad[i], err, sizeof err) != 0, "accepted \"%s\"", bad[i]);
    char other[160];
    snprintf(other, sizeof other, "%s/none", root);
    CHECK(curve_keys_add(other, "w3", err, sizeof err) != 0 && strstr(err, "server.cert"),
          "added to a directory with no server: %s", err);
}

static void errors_name_the_file(void)
{
    char err[512], missing[160];
    snprintf(missing, sizeof missing, "%s/none", root);
    CHECK(!curve_client_new(missing, "worker", err, sizeof err) && strstr(err, "none/server.cert"),
          "missing dir: %s", err);
    CHECK(!curve_client_new(dir, "nobody", err, sizeof err) && strstr(err, "nobody.cert_secret"),
          "missing identity: %s", err);
    CHECK(!curve_server_new(missing, err, sizeof err) && strstr(err, "none/workers"),
          "server without workers/: %s", err);
    FILE *f = fopen(path_of("broken.cert_secret"), "w");
    fputs("curve\n    public-key = \"too short\"\n", f); /* zconfig syntax, no key */
    fclose(f);
    CHECK(!curve_client_new(dir, "broken", err, sizeof err) &&
              strstr(err, "broken.cert_secret is not a CURVE certificate"),
          "broken: %s", err);
}

static void write_file(const char *name, const char *text, size_t len)
{
    FILE *f = fopen(path_of(name), "w");
    if (f) {
        fwrite(text, 1, len, f);
        fclose(f);
    }
    chmod(path_of(name), 0600);
}

/* The certificate reader takes zconfig's variations of the file zcert_save writes (CRLF
 * line ends, either quote or none, spaces around '=') and refuses, naming the file, a key
 * outside the curve section, of the wrong length or not Z85, a secret file without its
 * secret key, a file holding a NUL byte, one larger than any certificate, and a FIFO
 * (without waiting for a writer). */
static void cert_reader_takes_zconfig_and_refuses_the_rest(void)
{
    char pub[41], sec[41], text[512], err[512];
    FILE *f = fopen(path_of("worker.cert_secret"), "r");
    char line[256];
    pub[0] = sec[0] = '\0';
    while (f && fgets(line, sizeof line, f)) {
        sscanf(line, " public-key = \"%40[^\"]\"", pub);
        sscanf(line, " secret-key = \"%40[^\"]\"", sec);
    }
    if (f)
        fclose(f);
    CHECK(strlen(pub) == 40 && strlen(sec) == 40, "keys not found in worker.cert_secret");
    const char *good[] = {
        "# c\r\nmetadata\r\n    name = \"x\"\r\ncurve\r\n    public-key = '%s'\r\n"
        "    secret-key=\"%s\"\r\n",
        "curve\n  public-key =   %s\n\n  # comment\n  secret-key = \"%s\"   \n"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        snprintf(text, sizeof text, good[i], pub, sec);
        write_file("variant.cert_secret", text, strlen(text));
        curve_t *client = curve_client_new(dir, "variant", err, sizeof err);
        CHECK(client, "variant %zu refused: %s", i, err);
        curve_destroy(&client);
    }
    const char *bad[] = {
        "metadata\n    public-key = \"%s\"\n    secret-key = \"%s\"\n",   /* no curve */
        "curve\n    public-key = \"%.39s\"\n    secret-key = \"%s\"\n",   /* 39 */
        "curve\n    public-key = \"%s\"\n    secret-key = \"%s,\"\n",     /* 41 */
        "curve\n    public-key = \"%s\"\n    secret-key = \"%s\n",        /* unclosed */
        "curve\n    public-key = \"%s\"\n    secret = \"%s\"\n",          /* no secret */
        "curve\n    public-key = \"%s\"\n    secret-key ?= \"%s\"\n",     /* damaged */
        "curves\n    public-key = \"%s\"\n    secret-key = \"%s\"\n",     /* section */
        "curve\n    public-key = \"%s\"\n    secret-key = \"%.39s,\"\n"}; /* not Z85 */
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(text, sizeof text, bad[i], pub, sec);
        write_file("bad.cert_secret", text, strlen(text));
        CHECK(!curve_client_new(dir, "bad", err, sizeof err) &&
                  strstr(err, "bad.cert_secret is not a CURVE certificate") && !strstr(err, sec) &&
                  !strstr(err, pub),
              "bad variant %zu: %s", i, err);
    }
    int n = snprintf(text, sizeof text, "curve\n    public-key = \"%s\"\n", pub);
    text[n] = '\0'; /* a NUL byte, then the secret key's line */
    n += 1 + snprintf(text + n + 1, sizeof text - (size_t) n - 1, "    secret-key = \"%s\"\n", sec);
    write_file("bad.cert_secret", text, (size_t) n);
    CHECK(!curve_client_new(dir, "bad", err, sizeof err) &&
              strstr(err, "bad.cert_secret is not a CURVE certificate"),
          "NUL byte: %s", err);
    unlink(path_of("bad.cert_secret"));
    alarm(10); /* a FIFO opened for reading would wait for a writer: fail, never hang */
    CHECK(mkfifo(path_of("bad.cert_secret"), 0600) == 0 &&
              !curve_client_new(dir, "bad", err, sizeof err) &&
              strstr(err, "bad.cert_secret: not a regular file"),
          "FIFO: %s", err);
    alarm(0);
    unlink(path_of("bad.cert_secret"));
    static char big[70000];
    memset(big, '#', sizeof big);
    write_file("bad.cert_secret", big, sizeof big);
    CHECK(!curve_client_new(dir, "bad", err, sizeof err) &&
              strstr(err, "bad.cert_secret: larger than any certificate"),
          "large file: %s", err);
}

static void local_endpoints(void)
{
    const char *local[] = {"ipc:///tmp/x",      "inproc://x",           "tcp://127.0.0.1:5557",
                           "tcp://127.1.2.3:1", "tcp://localhost:5557", "tcp://[::1]:5557"};
    const char *open[] = {"tcp://*:5557",    "tcp://0.0.0.0:5557", "tcp://10.0.0.1:5557",
                          "tcp://eth0:5557", "tcp://[::]:5557",    "tcp://128.0.0.1:1",
                          "tcp://127.0.0.1", "pgm://127.0.0.1:1",  "tcp://127.0.0.1x:1"};
    for (size_t i = 0; i < sizeof local / sizeof *local; i++)
        CHECK(curve_endpoint_is_local(local[i]), "%s should be local", local[i]);
    for (size_t i = 0; i < sizeof open / sizeof *open; i++)
        CHECK(!curve_endpoint_is_local(open[i]), "%s should not be local", open[i]);
}

/* A PULL socket connected to endpoint as client (NULL: plain), waiting ms to receive. */
static zsock_t *client_socket(curve_t *client, const char *endpoint, int ms)
{
    zsock_t *in = zsock_new(ZMQ_PULL);
    curve_apply(client, in);
    zsock_set_rcvtimeo(in, ms);
    zsock_connect(in, "%s", endpoint);
    return in;
}

static void only_authorised_clients_get_in(void)
{
    char err[512], endpoint[160];
    snprintf(endpoint, sizeof endpoint, "ipc://%s/push", root);
    CHECK(curve_keys_add(dir, "rogue", err, sizeof err) == 0, "add: %s", err);
    unlink(path_of("workers/rogue.cert"));
    curve_t *server = curve_server_new(dir, err, sizeof err);
    curve_t *good = curve_client_new(dir, "w2", err, sizeof err);
    curve_t *rogue = curve_client_new(dir, "rogue", err, sizeof err);
    CHECK(server && good && rogue, "load: %s", err);
    zsock_t *out = zsock_new(ZMQ_PUSH);
    curve_apply(server, out);
    zsock_set_sndtimeo(out, 2000);
    CHECK(zsock_bind(out, "%s", endpoint) == 0, "bind %s", endpoint);
    /* An unauthorised and a plain client connect: the PUSH still has no peer to send to. */
    zsock_t *rogue_in = client_socket(rogue, endpoint, 200);
    zsock_t *plain_in = client_socket(NULL, endpoint, 200);
    zclock_sleep(300);
    int early = zmq_send(zsock_resolve(out), "early", 5, ZMQ_DONTWAIT);
    zsock_t *good_in = client_socket(good, endpoint, 2000);
    int sent = zmq_send(zsock_resolve(out), "hello", 5, 0);
    char *good_got = zstr_recv(good_in), *rogue_got = zstr_recv(rogue_in);
    char *plain_got = zstr_recv(plain_in);
    bool ok = early < 0 && sent == 5 && good_got && strcmp(good_got, "hello") == 0 && !rogue_got &&
              !plain_got;
    /* Revoked: w2's key leaves workers/, and a new connection with it is refused. */
    zsock_destroy(&good_in);
    unlink(path_of("workers/w2.cert"));
    zsock_t *revoked_in = client_socket(good, endpoint, 300);
    zclock_sleep(300);
    int revoked_sent = zmq_send(zsock_resolve(out), "late", 4, ZMQ_DONTWAIT);
    char *revoked_got = zstr_recv(revoked_in);
    ok = ok && revoked_sent < 0 && revoked_got == NULL;
    free(revoked_got);
    zsock_destroy(&revoked_in);
    free(good_got);
    free(rogue_got);
    free(plain_got);
    zsock_destroy(&rogue_in);
    zsock_destroy(&plain_in);
    zsock_destroy(&out);
    curve_destroy(&server);
    curve_destroy(&good);
    curve_destroy(&rogue);
    CHECK(ok,
          "early send %d (want -1), sent %d, after revoking %d; only the authorised "
          "client should receive",
          early, sent, revoked_sent);
}

int main(void)
{
    if (test_tmpdir_make(root, sizeof root, "curve") != 0)
        return 1;
    snprintf(dir, sizeof dir, "%s/keys", root);
    RUN(keys_make_writes_the_files);
    RUN(keys_never_overwrite_a_secret);
    RUN(errors_name_the_file);
    RUN(cert_reader_takes_zconfig_and_refuses_the_rest);
    RUN(local_endpoints);
    RUN(only_authorised_clients_get_in);
    if (test_tmpdir_remove(root) != 0)
        return 1;
    TEST_DONE();
}
