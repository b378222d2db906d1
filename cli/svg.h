/* svg.h -- small inline-SVG charts for the HTML report: lines, scatter, bars.
 *
 * No JavaScript, no external file, no library: each chart is one <svg> element with a
 * class naming its kind (svg-line, svg-scatter, svg-bars), axes with a few tick labels, and
 * one <path>/<circle>/<rect> per series, point or bar, so that a test can count them. Text
 * is escaped for XML. Sizes are fixed (720 x 300) and scale with the page (viewBox). */
#ifndef FS_SVG_H
#define FS_SVG_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    const char *name; /* legend text */
    const double *x, *y;
    size_t n;
    const char *color; /* CSS colour */
} svg_series_t;

/* A horizontal reference line across a line chart (e.g. the 95% variance target). */
typedef struct {
    double y;
    const char *label;
} svg_rule_t;

/* Writes text with &, <, >, " escaped. */
void svg_escape(FILE *out, const char *text);
/* The i-th of a fixed palette of distinguishable colours (wraps around). */
const char *svg_color(size_t i);

/* Line chart of the series; rules (may be NULL) drawn dashed; x_mark >= x min draws a
 * vertical marker labelled mark_label (e.g. the chosen k). */
void svg_line_chart(FILE *out, const char *id, const char *x_label, const char *y_label,
                    const svg_series_t *series, size_t nseries, const svg_rule_t *rules,
                    size_t nrules, double x_mark, const char *mark_label);
/* Scatter plot: one <circle> per point, coloured by its series (one series per label). */
void svg_scatter(FILE *out, const char *id, const char *x_label, const char *y_label,
                 const svg_series_t *series, size_t nseries);
/* Horizontal bars, one <rect> per name, longest first as given. */
void svg_bars(FILE *out, const char *id, const char *const *names, const double *values, size_t n);

#endif
