/* featurize.c -- `fruitstream featurize [--size S] [--weights PATH] [--max-pixels N] FILE...`
 *
 * Prints one line per image, `PATH<TAB>v1 v2 ... v1280` (%.9g: enough digits to give back
 * the exact float). A file that cannot be read or decoded gets a line on stderr,
 * `fruitstream featurize: PATH: reason`, and the others still run; the exit status is then
 * 1. One featurizer serves all files and each file is read into one buffer that only
 * grows, so a long list allocates nothing per file. */
#include "cli/commands.h"
#include "common/config.h"
#include "common/file.h"
#include "common/options.h"
#include "featurizer/featurizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "fruitstream featurize"

static const char about[] =
    "Prints `FILE<TAB>v1 v2 ...` per JPEG: its MobileNetV2 features at input S x S.";

static void print_features(const char *path, const float *f)
{
    fputs(path, stdout);
    for (int i = 0; i < FEATURE_DIM; i++)
        printf("%c%.9g", i ? ' ' : '\t', f[i]);
    putchar('\n');
}

int cmd_featurize(int argc, char **argv)
{
    const char *weights = NULL;
    int size = FEATURIZER_DEFAULT_SIZE;
    int64_t max_pixels = FEATURIZER_DEFAULT_MAX_PIXELS;
    const option_t options[] = {OPTION_INT("size", &size, FEATURIZER_MIN_SIZE, FEATURIZER_MAX_SIZE,
                                           "S", "network input side"),
                                OPTION_STRING("weights", &weights, "PATH", config_weights_help()),
                                OPTION_INT64("max-pixels", &max_pixels, 1,
                                             FEATURIZER_MAX_PIXELS_LIMIT, "N",
                                             "reject JPEGs larger than N pixels"),
                                OPTION_END};
    const options_spec_t spec = {PROG,
                                 "FILE...",
                                 1,
                                 OPTIONS_ANY_NUMBER,
                                 about,
                                 options,
                                 ISA_ENV_HELP("the kernels' instruction set")};
    int first = options_parse(&spec, argc, argv);

    char err[512];
    isa_t isa;
    featurizer_t *fz = isa_from_env(&isa, err, sizeof err) != 0
                           ? NULL
                           : featurizer_new(config_weights_path(weights), size, (long) max_pixels,
                                            isa, err, sizeof err);
    if (!fz) {
        fprintf(stderr, PROG ": %s\n", err);
        return 1;
    }
    file_buffer_t buf = {0};
    float features[FEATURE_DIM];
    int status = 0;
    for (int i = first; i < argc; i++) {
        const char *path = argv[i];
        if (file_read(path, &buf, CONFIG_MAX_IMAGE_BYTES)) {
            fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
            status = 1;
        } else if (featurizer_run(fz, buf.data, buf.len, features, NULL, err, sizeof err)) {
            fprintf(stderr, PROG ": %s: %s\n", path, err);
            status = 1;
        } else {
            print_features(path, features);
        }
    }
    file_buffer_free(&buf);
    featurizer_destroy(&fz);
    if (file_finish_output(stdout) != 0) {
        fprintf(stderr, PROG ": writing the features: %s\n", strerror(errno));
        status = 1;
    }
    return status;
}
