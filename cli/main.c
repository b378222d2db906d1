/* fruitstream -- the front command: `fruitstream SUBCOMMAND [options]`.
 *
 * What people type. Each subcommand lives in its own file under cli/ and parses its own
 * options; this file only dispatches and prints the overview. */
#include "cli/commands.h"
#include "common/log.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
} commands[] = {
    {"run", cmd_run, "featurize a folder end to end (Redis, sink, ventilator, workers)"},
    {"serve", cmd_serve, "run the pipeline as a service: uploads, watched folders, HTTP API"},
    {"featurize", cmd_featurize, "print the feature vectors of JPEG files"},
    {"upload", cmd_upload, "add images to the upload stream of a running pipeline"},
    {"status", cmd_status, "show counters and live workers"},
    {"query", cmd_query, "nearest stored images and majority label of JPEG files"},
    {"report", cmd_report, "write an HTML report: PCA, labels, throughput, workers, failures"},
    {"export", cmd_export, "write stored results as CSV (PCA projections or features)"},
    {"pca", cmd_pca, "show the PCA model: n, k, explained variance"},
    {"keys", cmd_keys, "make CURVE keys that authenticate workers to the ventilator and sink"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fruitstream COMMAND [options]   (fruitstream COMMAND --help for more)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nThe roles also run alone, on any machine: fruitstream-ventilator, "
                 "fruitstream-worker, fruitstream-sink.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            log_init(commands[i].name);
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "fruitstream: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
