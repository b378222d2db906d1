/* test_ops.c -- the pieces behind status, query, report and retention that need no Redis:
 * the gallery's nearest neighbours equal a plain sort of every distance (several query
 * blocks, ties, n larger than the gallery), the vote, latency percentiles, retention
 * durations, SVG escaping and element counts. */
#include "cli/gallery.h"
#include "cli/svg.h"
#include "sink/metrics.h"
#include "sink/retain.h"
#include "tests/test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t row;
    double d;
} plain_t;

static int by_plain(const void *a, const void *b)
{
    const plain_t *x = a, *y = b;
    if (x->d != y->d)
        return (x->d > y->d) - (x->d < y->d);
    return (x->row > y->row) - (x->row < y->row);
}

static void nearest_equals_plain_sort(void)
{
    enum { ROWS = 1500, K = 24, Q = 70, N = 7 };
    gallery_t *g = gallery_new(K);
    static float rows[ROWS][K], queries[Q][K];
    srand(3);
    char key[32], label[16];
    for (int r = 0; r < ROWS; r++) {
        for (int j = 0; j < K; j++)
            rows[r][j] = (float) (rand() % 1000) / 100.0f;
        snprintf(key, sizeof key, "k%d", r);
        snprintf(label, sizeof label, "l%d", r % 9);
        CHECK(gallery_add(g, key, label, rows[r]) == 0, "add %d", r);
    }
    for (int q = 0; q < Q; q++)
        memcpy(queries[q], rows[(q * 37) % ROWS], sizeof queries[q]); /* stored copies */
    static gallery_hit_t hits[Q * N];
    CHECK(gallery_nearest(g, &queries[0][0], Q, N, hits) == N, "count");
    static plain_t all[ROWS];
    for (int q = 0; q < Q; q++) {
        for (int r = 0; r < ROWS; r++) {
            double s = 0;
            for (int j = 0; j < K; j++)
                s += ((double) rows[r][j] - queries[q][j]) * ((double) rows[r][j] - queries[q][j]);
            all[r] = (plain_t){(size_t) r, sqrt(s)};
        }
        qsort(all, ROWS, sizeof *all, by_plain);
        for (int i = 0; i < N; i++) {
            const gallery_hit_t *h = &hits[q * N + i];
            CHECK(fabs(h->distance - all[i].d) <= 1e-4 * (1 + all[i].d),
                  "query %d hit %d: %g, plain %g", q, i, h->distance, all[i].d);
        }
        CHECK(hits[q * N].row == (size_t) (q * 37) % ROWS && hits[q * N].distance == 0,
              "query %d: own copy not first at 0 (row %zu at %g)", q, hits[q * N].row,
              hits[q * N].distance);
    }
    gallery_hit_t many[ROWS + 10];
    CHECK(gallery_nearest(g, &queries[0][0], 1, ROWS + 10, many) == ROWS, "n > rows");
    for (int i = 1; i < ROWS; i++)
        CHECK(many[i - 1].distance <= many[i].distance, "order at %d", i);
    gallery_destroy(&g);
}

static void vote_majority_ties_nearest(void)
{
    gallery_t *g = gallery_new(1);
    const char *labels[] = {"apple", "kiwi", "kiwi", "apple", "pear"};
    for (int i = 0; i < 5; i++) {
        float v = (float) i;
        gallery_add(g, labels[i], labels[i], &v);
    }
    gallery_hit_t hits[5] = {{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, 4}};
    int votes;
    CHECK(strcmp(gallery_vote(g, hits, 5, &votes), "apple") == 0 && votes == 2,
          "2-2 tie goes to the nearer label, got %s %d", gallery_vote(g, hits, 5, &votes), votes);
    CHECK(strcmp(gallery_vote(g, hits + 1, 3, &votes), "kiwi") == 0 && votes == 2, "kiwi 2");
    CHECK(strcmp(gallery_label(g, 4), "pear") == 0 && strcmp(gallery_key(g, 1), "kiwi") == 0,
          "labels and keys kept");
    gallery_destroy(&g);
}

static void percentiles_nearest_rank(void)
{
    double v[100];
    for (int i = 0; i < 100; i++)
        v[i] = 100 - i; /* 100..1, unsorted */
    CHECK(metrics_percentile(v, 100, 50) == 50, "p50 %g", metrics_percentile(v, 100, 50));
    CHECK(metrics_percentile(v, 100, 99) == 99, "p99 %g", metrics_percentile(v, 100, 99));
    double one = 7;
    CHECK(metrics_percentile(&one, 1, 99) == 7 && metrics_percentile(&one, 1, 50) == 7, "one");
    CHECK(metrics_percentile(NULL, 0, 50) == 0, "none");
}

static void retain_durations(void)
{
    CHECK(retain_parse_duration("90") == 90000, "bare seconds");
    CHECK(retain_parse_duration("90s") == 90000, "s");
    CHECK(retain_parse_duration("15m") == 900000, "m");
    CHECK(retain_parse_duration("24h") == 86400000, "h");
    CHECK(retain_parse_duration("7d") == 604800000, "d");
    CHECK(retain_parse_duration("0.5s") == 500, "fraction");
    const char *bad[] = {"", "s", "-1h", "0", "10x", "10ms", "1h30m"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(retain_parse_duration(bad[i]) == -1, "\"%s\" accepted", bad[i]);
}

static size_t count(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, what)); p++)
        n++;
    return n;
}

static void svg_charts_escaped_and_complete(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    double x[3] = {1, 2, 3}, y[3] = {0.5, 0.9, 0.96};
    svg_series_t s[2] = {{"a<b & \"c\"", x, y, 3, svg_color(0)}, {"d", x, y, 2, svg_color(1)}};
    svg_rule_t rule = {0.95, "95%"};
    svg_line_chart(out, "l", "x", "y", s, 2, &rule, 1, 3, "k = 3");
    svg_scatter(out, "s", "x", "y", s, 2);
    const char *names[] = {"Apple <Red>", "Kiwi"};
    double values[] = {10, 5};
    svg_bars(out, "b", names, values, 2);
    fclose(out);
    CHECK(!strstr(text, "a<b") && strstr(text, "a&lt;b &amp; &quot;c&quot;") &&
              strstr(text, "Apple &lt;Red&gt;"),
          "text not escaped");
    CHECK(count(text, "<svg ") == 3 && count(text, "</svg>") == 3, "3 charts");
    CHECK(count(text, "class=\"series\"") == 2 && count(text, "class=\"rule\"") == 1 &&
              count(text, "class=\"mark\"") == 1,
          "line chart parts");
    CHECK(count(text, "<circle") == 5, "5 points, got %zu", count(text, "<circle"));
    CHECK(count(text, "<rect x=") == 2, "2 bars");
    CHECK(!strstr(text, "nan") && !strstr(text, "inf"), "non-finite coordinates");
    free(text);
}

int main(void)
{
    RUN(nearest_equals_plain_sort);
    RUN(vote_majority_ties_nearest);
    RUN(percentiles_nearest_rank);
    RUN(retain_durations);
    RUN(svg_charts_escaped_and_complete);
    TEST_DONE();
}
