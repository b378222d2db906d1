/* options.c -- see options.h. strtoll/strtod do the reading; what they let through
 * (leading spaces, a '+', trailing text, overflow clamped to the limits, hexadecimal and
 * "inf"/"nan" for reals) is refused here. options_parse turns a table into getopt_long's
 * (an option's code is its row's index plus OPTIONS_FIRST_CODE, above every character) and
 * each value it returns into a call of the reader the row's kind names. */
#include "common/options.h"

#include "common/config.h"
#include "common/log.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPTIONS_MAX 64 /* rows of a table, at most */
#define OPTIONS_FIRST_CODE 256
#define OPTIONS_WIDTH 80      /* of the usage text */
#define OPTIONS_NAME_WIDTH 24 /* "--name ARG" longer than this: its help on the next line */

static const char *program = "fruitstream";

void option_set_program(const char *name)
{
    program = name;
}

/* Digits only, after an optional '-': what a person types for a number. */
static bool plain_number(const char *s, bool real)
{
    if (*s == '-')
        s++;
    if (!isdigit((unsigned char) *s) && !(real && *s == '.'))
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char) *s) &&
            !(real && (*s == '.' || *s == 'e' || *s == 'E' || *s == '-' || *s == '+')))
            return false;
    return true;
}

bool option_parse_int64(const char *s, int64_t *out)
{
    if (!s || !plain_number(s, false))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end)
        return false;
    *out = (int64_t) v;
    return true;
}

static int out_of_range(const char *option, const char *value, int64_t min, int64_t max)
{
    fprintf(stderr, "%s: %s: %s is not in %lld..%lld\n", program, option, value, (long long) min,
            (long long) max);
    return -1;
}

int option_int64(const char *option, const char *value, int64_t min, int64_t max, int64_t *out)
{
    int64_t v;
    if (!option_parse_int64(value, &v)) {
        fprintf(stderr, "%s: %s: \"%s\" is not a whole number%s\n", program, option, value,
                value && plain_number(value, false) ? " that fits in 64 bits" : "");
        return -1;
    }
    if (v < min || v > max)
        return out_of_range(option, value, min, max);
    *out = v;
    return 0;
}

int option_int(const char *option, const char *value, int min, int max, int *out)
{
    int64_t v;
    if (option_int64(option, value, min, max, &v) != 0)
        return -1;
    *out = (int) v;
    return 0;
}

int option_bytes(const char *option, const char *value, int64_t min, int64_t max, int64_t *out)
{
    char digits[32];
    size_t len = 0;
    while (value[len] && len + 1 < sizeof digits && isdigit((unsigned char) value[len]))
        digits[len] = value[len], len++;
    digits[len] = '\0';
    const char *unit = value + len;
    int shift = !*unit         ? 0
                : unit[1]      ? -1
                : *unit == 'K' ? 10
                : *unit == 'M' ? 20
                : *unit == 'G' ? 30
                               : -1;
    int64_t v;
    if (len == 0 || shift < 0 || !option_parse_int64(digits, &v) || v > (INT64_MAX >> shift)) {
        fprintf(stderr,
                "%s: %s: \"%s\" is not a number of bytes (digits, then K, M or G "
                "if wanted)\n",
                program, option, value);
        return -1;
    }
    v <<= shift;
    if (v < min || v > max)
        return out_of_range(option, value, min, max);
    *out = v;
    return 0;
}

int option_real(const char *option, const char *value, double above, double max, double *out)
{
    char *end = NULL;
    double v = 0;
    if (value && plain_number(value, true)) {
        errno = 0;
        v = strtod(value, &end);
    }
    if (!end || *end || errno != 0 || !isfinite(v)) {
        fprintf(stderr, "%s: %s: \"%s\" is not a number\n", program, option, value);
        return -1;
    }
    if (!(v > above && v <= max)) {
        fprintf(stderr, "%s: %s: %s is not in (%g, %g]\n", program, option, value, above, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int take_log_level(void *unused, const char *level)
{
    (void) unused;
    return log_set_level_name(level);
}

/* Every program's --log-level; --help is getopt's 'h'. */
static const option_t log_level_row = OPTION_CALL("log-level", take_log_level, NULL, "LEVEL",
                                                  "debug, info, warn or error (default info)");

/* The rows of spec, then --log-level; returns how many. A longer table is a mistake in the
 * program, not in its command line. */
static size_t collect(const options_spec_t *spec, const option_t **rows)
{
    size_t n = 0;
    for (const option_t *o = spec->options; o && o->kind != OPTION_KIND_END; o++) {
        if (n == OPTIONS_MAX - 1) {
            fprintf(stderr, "%s: more than %d options in its table\n", spec->program,
                    OPTIONS_MAX - 1);
            abort();
        }
        rows[n++] = o;
    }
    rows[n++] = &log_level_row;
    return n;
}

static int take(const option_t *o, const char *arg)
{
    char option[64];
    snprintf(option, sizeof option, "--%s", o->name);
    switch (o->kind) {
    case OPTION_KIND_FLAG: *(bool *) o->value = true; return 0;
    case OPTION_KIND_STRING:
    case OPTION_KIND_REDIS: *(const char **) o->value = arg; return 0;
    case OPTION_KIND_INT: return option_int(option, arg, (int) o->min, (int) o->max, o->value);
    case OPTION_KIND_INT64: return option_int64(option, arg, o->min, o->max, o->value);
    case OPTION_KIND_BYTES: return option_bytes(option, arg, o->min, o->max, o->value);
    case OPTION_KIND_REAL:
        return option_real(option, arg, (double) o->min, (double) o->max, o->value);
    case OPTION_KIND_CALL: return o->call(o->value, arg);
    case OPTION_KIND_END: break;
    }
    return -1;
}

/* Checks the number of operands argv[first..argc-1]; 0, or -1 after saying why. */
static int count_operands(const options_spec_t *spec, int argc, char **argv, int first)
{
    int n = argc - first;
    if (n < spec->min_operands) {
        fprintf(stderr, "%s: %s missing\n", spec->program,
                spec->operands ? spec->operands : "an argument");
        return -1;
    }
    if (spec->max_operands != OPTIONS_ANY_NUMBER && n > spec->max_operands) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", spec->program,
                argv[first + spec->max_operands]);
        return -1;
    }
    return 0;
}

int options_parse(const options_spec_t *spec, int argc, char **argv)
{
    const option_t *rows[OPTIONS_MAX];
    struct option longs[OPTIONS_MAX + 2];
    size_t n = collect(spec, rows);
    for (size_t i = 0; i < n; i++) {
        longs[i] = (struct option){
            rows[i]->name, rows[i]->kind == OPTION_KIND_FLAG ? no_argument : required_argument,
            NULL, OPTIONS_FIRST_CODE + (int) i};
        const char *url = rows[i]->kind == OPTION_KIND_REDIS ? config_redis_url() : NULL;
        if (url)
            *(const char **) rows[i]->value = url;
    }
    longs[n] = (struct option){"help", no_argument, NULL, 'h'};
    longs[n + 1] = (struct option){0};
    option_set_program(spec->program);
    optind = 0; /* glibc: start afresh, whatever was parsed before */
    opterr = 0; /* the messages below name the program, not argv[0] */
    int c;
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        if (c == 'h') {
            options_usage(spec, stdout);
            exit(0);
        }
        if (c == ':') {
            fprintf(stderr, "%s: %s needs a value\n", spec->program, argv[optind - 1]);
            exit(2);
        }
        if (c == '?') {
            /* glibc sets optopt for a known long option given a value it does not take
             * (--help=1): its code, not a character */
            const char *arg = argv[optind - 1];
            if (strncmp(arg, "--", 2) == 0 && optopt)
                fprintf(stderr, "%s: %.*s takes no value\n", spec->program, (int) strcspn(arg, "="),
                        arg);
            else if (optopt)
                fprintf(stderr, "%s: unknown option \"-%c\"\n", spec->program, optopt);
            else
                fprintf(stderr, "%s: unknown option \"%s\"\n", spec->program, arg);
            options_usage(spec, stderr);
            exit(2);
        }
        if (take(rows[c - OPTIONS_FIRST_CODE], optarg) != 0)
            exit(2);
    }
    if (count_operands(spec, argc, argv, optind) != 0)
        exit(2);
    return optind;
}

/* Writes text from column `at`, wrapped to OPTIONS_WIDTH at spaces, continuation lines
 * indented by indent; a newline in text is kept, and so are the spaces that start a line;
 * a tab is written as a space where no line may break. */
static void put_wrapped(FILE *out, const char *text, int at, int indent)
{
    int column = at;
    bool line_start = true;
    while (*text) {
        if (*text == '\n') {
            fprintf(out, "\n%*s", indent, "");
            column = indent;
            line_start = true;
            text++;
            continue;
        }
        size_t spaces = strspn(text, " ");
        if (line_start && spaces) {
            fprintf(out, "%.*s", (int) spaces, text);
            column += (int) spaces;
        }
        text += spaces;
        size_t word = strcspn(text, " \n");
        if (!word)
            continue;
        if (!line_start && column + 1 + (int) word > OPTIONS_WIDTH) {
            fprintf(out, "\n%*s", indent, "");
            column = indent;
        } else if (!line_start) {
            fputc(' ', out);
            column++;
        }
        for (size_t i = 0; i < word; i++) /* a tab: a space that does not break */
            fputc(text[i] == '\t' ? ' ' : text[i], out);
        column += (int) word;
        text += word;
        line_start = false;
    }
    fputc('\n', out);
}

/* The default a row's usage line shows, from its value, into buf; "" for none. */
static void default_text(const option_t *o, char *buf, size_t len)
{
    buf[0] = '\0';
    if (o->help && (strstr(o->help, "(default") || strstr(o->help, "(required")))
        return;
    switch (o->kind) {
    case OPTION_KIND_STRING:
        if (*(const char **) o->value)
            snprintf(buf, len, "%s", *(const char **) o->value);
        break;
    case OPTION_KIND_INT: snprintf(buf, len, "%d", *(int *) o->value); break;
    case OPTION_KIND_INT64: snprintf(buf, len, "%" PRId64, *(int64_t *) o->value); break;
    case OPTION_KIND_REAL: snprintf(buf, len, "%g", *(double *) o->value); break;
    case OPTION_KIND_BYTES: { /* in the largest unit that divides it: 16384 as 16K */
        int64_t v = *(int64_t *) o->value;
        char unit[2] = "";
        for (const char *u = "KMG"; *u && v != 0 && v % 1024 == 0; u++) {
            v /= 1024;
            unit[0] = *u;
        }
        snprintf(buf, len, "%" PRId64 "%s", v, unit);
        break;
    }
    default: break; /* flags, calls, and a Redis URL, which may hold a password */
    }
}

static void usage_line(FILE *out, const char *names, const char *help, int column)
{
    int at = fprintf(out, "  %s", names);
    if (at + 2 > column) {
        fputc('\n', out);
        at = 0;
    }
    fprintf(out, "%*s", column - at, "");
    put_wrapped(out, help, column, column);
}

void options_usage(const options_spec_t *spec, FILE *out)
{
    const option_t *rows[OPTIONS_MAX];
    size_t n = collect(spec, rows);
    char names[OPTIONS_MAX][96];
    int widest = (int) strlen("-h, --help");
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(names[i], sizeof names[i], "--%s%s%s", rows[i]->name,
                         rows[i]->arg ? " " : "", rows[i]->arg ? rows[i]->arg : "");
        if (w > widest && w <= OPTIONS_NAME_WIDTH)
            widest = w;
    }
    fprintf(out, "usage: %s [options]%s%s\n", spec->program, spec->operands ? " " : "",
            spec->operands ? spec->operands : "");
    if (spec->about)
        put_wrapped(out, spec->about, 0, 0);
    fputc('\n', out);
    for (size_t i = 0; i < n; i++) {
        char help[1024], def[512];
        default_text(rows[i], def, sizeof def);
        snprintf(help, sizeof help, "%s%s%s%s", rows[i]->help ? rows[i]->help : "",
                 def[0] ? " (default\t" : "", def, def[0] ? ")" : "");
        usage_line(out, names[i], help, widest + 4);
    }
    usage_line(out, "-h, --help", "this text", widest + 4);
    if (spec->epilogue) {
        fputc('\n', out);
        put_wrapped(out, spec->epilogue, 0, 0);
    }
}
