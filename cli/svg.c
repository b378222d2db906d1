/* svg.c -- see svg.h. Every chart maps data to a plot box with the same helper (linear
 * scales from the data's range, padded when flat), so axes and points agree. */
#include "cli/svg.h"

#include <float.h>
#include <math.h>

#define SVG_W 720
#define SVG_H 300
#define LEFT 64
#define RIGHT 16
#define TOP 16
#define BOTTOM 40

typedef struct {
    double x0, x1, y0, y1;
    int w, h; /* plot box */
} frame_t;

static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                                      "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"};

const char *svg_color(size_t i)
{
    return palette[i % (sizeof palette / sizeof *palette)];
}

void svg_escape(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        default: fputc(*s, out);
        }
    }
}

static double px(const frame_t *f, double x)
{
    return LEFT + (x - f->x0) / (f->x1 - f->x0) * f->w;
}

static double py(const frame_t *f, double y)
{
    return TOP + f->h - (y - f->y0) / (f->y1 - f->y0) * f->h;
}

/* The range of every series' points, widened when flat so that scales never divide by 0. */
static frame_t frame_of(const svg_series_t *series, size_t nseries)
{
    frame_t f = {DBL_MAX, -DBL_MAX, DBL_MAX, -DBL_MAX, SVG_W - LEFT - RIGHT, SVG_H - TOP - BOTTOM};
    for (size_t s = 0; s < nseries; s++)
        for (size_t i = 0; i < series[s].n; i++) {
            f.x0 = fmin(f.x0, series[s].x[i]), f.x1 = fmax(f.x1, series[s].x[i]);
            f.y0 = fmin(f.y0, series[s].y[i]), f.y1 = fmax(f.y1, series[s].y[i]);
        }
    if (f.x0 > f.x1)
        f.x0 = 0, f.x1 = 1, f.y0 = 0, f.y1 = 1;
    if (f.x1 - f.x0 < 1e-12)
        f.x0 -= 1, f.x1 += 1;
    if (f.y1 - f.y0 < 1e-12)
        f.y0 -= 1, f.y1 += 1;
    return f;
}

/* A tick label short enough for the margin: 4 significant digits, thousands as "k". */
static void tick(double v, char *out, size_t size)
{
    if (fabs(v) >= 1e4)
        snprintf(out, size, "%.4gk", v / 1000);
    else
        snprintf(out, size, "%.4g", v);
}

static void open_chart(FILE *out, const char *id, const char *kind, const frame_t *f,
                       const char *x_label, const char *y_label)
{
    fprintf(out,
            "<svg id=\"%s\" class=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" "
            "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
            "font-size=\"11\">\n",
            id, kind, SVG_W, SVG_H, SVG_W, SVG_H);
    fprintf(out,
            "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
            "fill=\"none\" stroke=\"#999\"/>\n",
            LEFT, TOP, f->w, f->h);
    for (int t = 0; t <= 4; t++) { /* five ticks per axis */
        double x = f->x0 + (f->x1 - f->x0) * t / 4, y = f->y0 + (f->y1 - f->y0) * t / 4;
        char xt[32], yt[32];
        tick(x, xt, sizeof xt);
        tick(y, yt, sizeof yt);
        fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", px(f, x),
                TOP + f->h + 14, xt);
        fprintf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", LEFT - 4,
                py(f, y) + 4, yt);
    }
    fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", LEFT + f->w / 2, SVG_H - 6);
    svg_escape(out, x_label);
    fprintf(out,
            "</text>\n<text x=\"12\" y=\"%d\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 12 %d)\">",
            TOP + f->h / 2, TOP + f->h / 2);
    svg_escape(out, y_label);
    fputs("</text>\n", out);
}

static void legend(FILE *out, const svg_series_t *series, size_t nseries, size_t most)
{
    for (size_t s = 0; s < nseries && s < most; s++) {
        fprintf(out, "<text class=\"legend\" x=\"%d\" y=\"%zu\" fill=\"%s\">", LEFT + 8,
                TOP + 14 + 13 * s, series[s].color);
        svg_escape(out, series[s].name);
        fputs("</text>\n", out);
    }
}

void svg_line_chart(FILE *out, const char *id, const char *x_label, const char *y_label,
                    const svg_series_t *series, size_t nseries, const svg_rule_t *rules,
                    size_t nrules, double x_mark, const char *mark_label)
{
    frame_t f = frame_of(series, nseries);
    for (size_t r = 0; r < nrules; r++)
        f.y0 = fmin(f.y0, rules[r].y), f.y1 = fmax(f.y1, rules[r].y);
    open_chart(out, id, "svg-line", &f, x_label, y_label);
    for (size_t s = 0; s < nseries; s++) {
        fprintf(out, "<path class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" d=\"",
                series[s].color);
        for (size_t i = 0; i < series[s].n; i++)
            fprintf(out, "%c%.1f %.1f", i ? 'L' : 'M', px(&f, series[s].x[i]),
                    py(&f, series[s].y[i]));
        fputs("\"/>\n", out);
    }
    for (size_t r = 0; r < nrules; r++) {
        fprintf(out,
                "<line class=\"rule\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"#d62728\" stroke-dasharray=\"4 3\"/>\n<text x=\"%d\" y=\"%.1f\" "
                "text-anchor=\"end\" fill=\"#d62728\">",
                LEFT, LEFT + f.w, py(&f, rules[r].y), py(&f, rules[r].y), LEFT + f.w - 4,
                py(&f, rules[r].y) - 4);
        svg_escape(out, rules[r].label);
        fputs("</text>\n", out);
    }
    if (mark_label && x_mark >= f.x0 && x_mark <= f.x1) {
        fprintf(out,
                "<line class=\"mark\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" "
                "stroke=\"#2ca02c\" stroke-dasharray=\"4 3\"/>\n<text x=\"%.1f\" y=\"%d\" "
                "text-anchor=\"end\" fill=\"#2ca02c\">",
                px(&f, x_mark), px(&f, x_mark), TOP, TOP + f.h, px(&f, x_mark) - 4, TOP + f.h - 6);
        svg_escape(out, mark_label);
        fputs("</text>\n", out);
    }
    if (nseries > 1)
        legend(out, series, nseries, nseries);
    fputs("</svg>\n", out);
}

void svg_scatter(FILE *out, const char *id, const char *x_label, const char *y_label,
                 const svg_series_t *series, size_t nseries)
{
    frame_t f = frame_of(series, nseries);
    open_chart(out, id, "svg-scatter", &f, x_label, y_label);
    for (size_t s = 0; s < nseries; s++) {
        fprintf(out, "<g fill=\"%s\" fill-opacity=\"0.7\"><title>", series[s].color);
        svg_escape(out, series[s].name);
        fputs("</title>\n", out);
        for (size_t i = 0; i < series[s].n; i++)
            fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\"/>", px(&f, series[s].x[i]),
                    py(&f, series[s].y[i]));
        fputs("</g>\n", out);
    }
    fputs("</svg>\n", out);
}

void svg_bars(FILE *out, const char *id, const char *const *names, const double *values, size_t n)
{
    const int bar = 14, label_w = 180, h = TOP + (int) n * bar + 8;
    double most = 0;
    for (size_t i = 0; i < n; i++)
        most = fmax(most, values[i]);
    fprintf(out,
            "<svg id=\"%s\" class=\"svg-bars\" xmlns=\"http://www.w3.org/2000/svg\" "
            "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
            "font-size=\"11\">\n",
            id, SVG_W, h, SVG_W, h);
    for (size_t i = 0; i < n; i++) {
        double w = most > 0 ? values[i] / most * (SVG_W - label_w - 60) : 0;
        int y = TOP + (int) i * bar;
        fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", label_w - 4, y + 10);
        svg_escape(out, names[i]);
        fprintf(out,
                "</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
                "fill=\"%s\"/><text x=\"%.1f\" y=\"%d\">%.0f</text>\n",
                label_w, y, w, bar - 3, svg_color(i), label_w + w + 4, y + 10, values[i]);
    }
    fputs("</svg>\n", out);
}
