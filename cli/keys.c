/* keys.c -- `fruitstream keys DIR [--add NAME]`: makes the CURVE key directory that
 * --keys takes (common/curve.h describes its files), or adds a worker identity to it.
 * Prints the files it wrote, never a key: the secret files are for the machines that need
 * them (README, "Authentication"). */
#include "cli/commands.h"
#include "common/curve.h"
#include "common/log.h"
#include "common/options.h"

#include <limits.h>
#include <stdio.h>

static const char about[] =
    "Makes a CURVE key directory for --keys: DIR/" CURVE_SERVER_NAME ".cert (public, for "
    "every machine) and DIR/" CURVE_SERVER_NAME ".cert_secret (the ventilator's and the "
    "sink's machines only), a worker identity DIR/" CURVE_WORKER_NAME
    ".cert + DIR/" CURVE_WORKER_NAME ".cert_secret, and DIR/" CURVE_WORKERS_DIR
    "/, the public keys of "
    "the workers the ventilator and the sink admit. Never overwrites a secret key.";

int cmd_keys(int argc, char **argv)
{
    const char *add = NULL;
    const option_t options[] = {
        OPTION_STRING("add", &add, "NAME",
                      "add the worker identity NAME (DIR/NAME.cert + _secret), authorised in "
                      "DIR/" CURVE_WORKERS_DIR "/ (a worker uses it with --cert NAME)"),
        OPTION_END};
    const options_spec_t spec = {"fruitstream keys", "DIR", 1, 1, about, options, NULL};
    int first = options_parse(&spec, argc, argv);
    const char *dir = argv[first];
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
