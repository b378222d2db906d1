/* keys.c -- `fruitstream keys DIR [--add NAME]`: makes the CURVE key directory that
 * --keys takes (common/curve.h describes its files), or adds a worker identity to it.
 * Prints the files it wrote, never a key: the secret files are for the machines that need
 * them (README, "Authentication"). */
#include "cli/commands.h"
#include "common/curve.h"
#include "common/log.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fruitstream keys DIR [--add NAME]\n"
            "Makes a CURVE key directory for --keys: DIR/%s.cert (public, for every machine)\n"
            "and DIR/%s.cert_secret (the ventilator's and the sink's machines only), a worker\n"
            "identity DIR/%s.cert + DIR/%s.cert_secret, and DIR/%s/, the public keys of the\n"
            "workers the ventilator and the sink admit. Never overwrites a secret key.\n\n"
            "  --add NAME   add the worker identity NAME (DIR/NAME.cert + _secret), authorised\n"
            "               in DIR/%s/ (a worker uses it with --cert NAME)\n"
            "  -h, --help   this text\n",
            CURVE_SERVER_NAME, CURVE_SERVER_NAME, CURVE_WORKER_NAME, CURVE_WORKER_NAME,
            CURVE_WORKERS_DIR, CURVE_WORKERS_DIR);
}

int cmd_keys(int argc, char **argv)
{
    static const struct option options[] = {
        {"add", required_argument, 0, 'a'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *add = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'a': add = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "fruitstream keys: give one DIR\n");
        usage(stderr);
        return 2;
    }
    const char *dir = argv[optind];
    char err[PATH_MAX + 256];
    if ((add ? curve_keys_add(dir, add, err, sizeof err) : curve_keys_make(dir, err, sizeof err)) !=
        0) {
        log_error("%s", err);
        return 1;
    }
    if (!add)
        printf("%s/%s.cert\n%s/%s.cert_secret\n", dir, CURVE_SERVER_NAME, dir, CURVE_SERVER_NAME);
    const char *name = add ? add : CURVE_WORKER_NAME;
    printf("%s/%s.cert\n%s/%s.cert_secret\n%s/%s/%s.cert\n", dir, name, dir, name, dir,
           CURVE_WORKERS_DIR, name);
    return 0;
}
