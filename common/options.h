/* options.h -- the command line of every program: strict numbers, and one table-driven
 * parser with its generated usage text.
 *
 * atoi and atof read "224x" as 224, "1e6" as 1 and "abc" as 0, and wrap what does not fit:
 * a typo then runs with a value nobody asked for. The option_* readers read the whole string
 * or refuse it, check the range, and the refusal names the option and the value:
 *   fruitstream-worker: --size: "224x" is not a whole number
 * Each returns 0 and stores the value, or -1 (after printing why, on stderr) leaving *out
 * as it was. Ranges are inclusive, except a real's lower bound (every real option wants a
 * value above something: a variance above 0, seconds above 0).
 *
 * A program describes its options once, as a table of option_t rows (the OPTION_* macros
 * below, one per kind of value), and options_parse does the rest: getopt_long, the number
 * readers above, --log-level and -h/--help for every program, $REDIS_URL for --redis, the
 * count of operands, and the usage text, generated from the same table so that it cannot
 * disagree with what is parsed:
 *
 *   worker_config_t cfg = {.size = FEATURIZER_DEFAULT_SIZE, ...};
 *   const option_t options[] = {
 *       OPTION_INT("size", &cfg.size, FEATURIZER_MIN_SIZE, FEATURIZER_MAX_SIZE, "S",
 *                  "network input side"),
 *       OPTION_END};
 *   const options_spec_t spec = {"fruitstream-worker", .about = "...", .options = options};
 *   int first = options_parse(&spec, argc, argv); // argv[first..argc-1]: the operands
 *
 * A usage line shows the default from the value the option would otherwise keep, unless
 * its help text names the default itself (holds "(default"): a computed default, an
 * environment variable, or none to show; or says "(required". */
#ifndef FS_OPTIONS_H
#define FS_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The program name errors start with (default "fruitstream"); options_parse sets it. */
void option_set_program(const char *program);

int option_int64(const char *option, const char *value, int64_t min, int64_t max, int64_t *out);
int option_int(const char *option, const char *value, int min, int max, int *out);
/* A count of bytes, with an optional unit K, M or G (powers of 1024): "16K", "64M". */
int option_bytes(const char *option, const char *value, int64_t min, int64_t max, int64_t *out);
/* A real number in (above, max]: finite, the whole string. */
int option_real(const char *option, const char *value, double above, double max, double *out);

/* The parsing alone, for numbers that are not options (a port in a URL): the whole of s
 * as a decimal integer that fits in int64_t; no sign other than a leading '-', no spaces. */
bool option_parse_int64(const char *s, int64_t *out);

typedef enum {
    OPTION_KIND_END,    /* ends a table */
    OPTION_KIND_FLAG,   /* bool *: true when given */
    OPTION_KIND_STRING, /* const char **: the argument as it is */
    OPTION_KIND_REDIS,  /* const char **: a Redis URL; $REDIS_URL before the argument */
    OPTION_KIND_INT,    /* int *, in [min, max] */
    OPTION_KIND_INT64,  /* int64_t *, in [min, max] */
    OPTION_KIND_BYTES,  /* int64_t *, in [min, max], units K, M, G allowed */
    OPTION_KIND_REAL,   /* double *, in (min, max] */
    OPTION_KIND_CALL,   /* call(value, argument) for each time it is given */
} option_kind_t;

/* Takes an option's argument (a repeated option appends to a list, say): 0, or -1 after
 * printing why on stderr. */
typedef int (*option_call_t)(void *target, const char *arg);

typedef struct {
    const char *name; /* "size" for --size */
    option_kind_t kind;
    void *value;      /* where the value goes; OPTION_KIND_CALL: the target handed to call */
    int64_t min, max; /* the range of a number */
    const char *arg;  /* the argument's name in the usage ("N", "PATH"); NULL for a flag */
    const char *help; /* one sentence, wrapped to fit; "(default" or "(required" in it: no
                       * default added */
    option_call_t call;
} option_t;

/* One row of a table per kind. OPTION_ROW_ makes the compiler check that ptr points to the
 * kind's type T (the conditional's two sides must have compatible types). */
#define OPTION_ROW_(kind_, T, ptr, ...)                                                            \
    {                                                                                              \
        .kind = kind_, .value = (1 ? (ptr) : (T *) 0), __VA_ARGS__                                 \
    }
#define OPTION_FLAG(name_, ptr, help_)                                                             \
    OPTION_ROW_(OPTION_KIND_FLAG, bool, ptr, .name = name_, .help = help_)
#define OPTION_STRING(name_, ptr, arg_, help_)                                                     \
    OPTION_ROW_(OPTION_KIND_STRING, const char *, ptr, .name = name_, .arg = arg_, .help = help_)
#define OPTION_REDIS(ptr, help_)                                                                   \
    OPTION_ROW_(OPTION_KIND_REDIS, const char *, ptr, .name = "redis", .arg = "URL", .help = help_)
#define OPTION_INT(name_, ptr, min_, max_, arg_, help_)                                            \
    OPTION_ROW_(OPTION_KIND_INT, int, ptr, .name = name_, .min = min_, .max = max_, .arg = arg_,   \
                .help = help_)
#define OPTION_INT64(name_, ptr, min_, max_, arg_, help_)                                          \
    OPTION_ROW_(OPTION_KIND_INT64, int64_t, ptr, .name = name_, .min = min_, .max = max_,          \
                .arg = arg_, .help = help_)
#define OPTION_BYTES(name_, ptr, min_, max_, arg_, help_)                                          \
    OPTION_ROW_(OPTION_KIND_BYTES, int64_t, ptr, .name = name_, .min = min_, .max = max_,          \
                .arg = arg_, .help = help_)
/* A real above `above` (whole numbers, as every real option's bounds are) up to max. */
#define OPTION_REAL(name_, ptr, above, max_, arg_, help_)                                          \
    OPTION_ROW_(OPTION_KIND_REAL, double, ptr, .name = name_, .min = above, .max = max_,           \
                .arg = arg_, .help = help_)
#define OPTION_CALL(name_, fn, target, arg_, help_)                                                \
    OPTION_ROW_(OPTION_KIND_CALL, void, target, .name = name_, .arg = arg_, .help = help_,         \
                .call = fn)
#define OPTION_END                                                                                 \
    {                                                                                              \
        .kind = OPTION_KIND_END                                                                    \
    }

/* Operands (the arguments that are not options) a program takes, at most: any number. */
#define OPTIONS_ANY_NUMBER (-1)

typedef struct {
    const char *program;            /* "fruitstream-worker", "fruitstream run" */
    const char *operands;           /* after "[options]" in the usage line: "[DIR]", "FILE..." */
    int min_operands, max_operands; /* how many; max OPTIONS_ANY_NUMBER for no limit */
    const char *about;              /* the paragraph under the usage line */
    const option_t *options;        /* ended by OPTION_END; --log-level, --help come after */
    const char *epilogue;           /* a paragraph after the options, or NULL */
} options_spec_t;

/* Parses argv[1..argc-1] by the table (operands may come between options) and returns the
 * index in argv of the first operand (argc when there is none). Like every program's
 * command line before anything starts, it ends the process when there is nothing to run:
 * status 0 after --help (the usage printed on stdout), 2 after a bad command line (why on
 * stderr, and for an unknown option the usage too). */
int options_parse(const options_spec_t *spec, int argc, char **argv);

/* The usage text options_parse prints for --help. */
void options_usage(const options_spec_t *spec, FILE *out);

#endif
