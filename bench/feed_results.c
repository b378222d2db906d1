/* feed_results -- a synthetic stream of worker results, as fast as the sink takes them.
 *
 *   feed_results ENDPOINT COUNT [FIRST]
 *
 * Pushes COUNT RESULT messages with distinct keys (bench/FIRST.jpg on, FIRST 0 unless
 * given, so that feeds one after another do not repeat keys) and 1280-float features drawn from a
 * low-rank model plus noise (so the PCA has a realistic spectrum to chase) to the sink's
 * result socket, then exits. The feature vectors are precomputed, so the feeder itself
 * costs little next to the sink it measures. */
#include "clock.h"
#include "wire.h"

#include <czmq.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define DIM 1280
#define RANK 32
#define DISTINCT 512

static float gaussian(void)
{
    double u = (rand() + 1.0) / (RAND_MAX + 2.0), v = (rand() + 1.0) / (RAND_MAX + 2.0);
    return (float) (sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: feed_results ENDPOINT COUNT [FIRST]\n");
        return 2;
    }
    long count = atol(argv[2]), first = argc > 3 ? atol(argv[3]) : 0;
    static float basis[RANK][DIM], vectors[DISTINCT][DIM];
    srand(1);
    for (int r = 0; r < RANK; r++)
        for (int j = 0; j < DIM; j++)
            basis[r][j] = gaussian() / (float) (1 + r);
    for (int v = 0; v < DISTINCT; v++)
        for (int j = 0; j < DIM; j++) {
            float x = 0.1f * gaussian();
            for (int r = 0; r < RANK; r++)
                x += basis[r][j] * (float) ((v * 31 + r * 17) % 13 - 6) / 6.0f;
            vectors[v][j] = fabsf(x);
        }
    zsock_t *results = zsock_new_push(argv[1]);
    if (!results) {
        fprintf(stderr, "feed_results: cannot connect to %s\n", argv[1]);
        return 1;
    }
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    double t0 = clock_seconds();
    for (long i = 0; i < count; i++) {
        wire_result_t r = {.ok = true, .size = 224, .attempt = 1,
                           .features = (const uint8_t *) vectors[i % DISTINCT],
                           .features_len = sizeof vectors[0], .uploaded_ms = clock_unix_ms()};
        snprintf(r.entry, sizeof r.entry, "%ld-1", i + 1);
        snprintf(r.key, sizeof r.key, "bench/%ld.jpg", first + i);
        snprintf(r.label, sizeof r.label, "label%ld", i % 10);
        snprintf(r.worker, sizeof r.worker, "feeder");
        wire_encode_result(&buf, &r);
        zmq_send(zsock_resolve(results), buf.data, buf.size, 0);
    }
    fprintf(stderr, "feed_results: %ld results sent in %.2f s\n", count, clock_seconds() - t0);
    msgpack_sbuffer_destroy(&buf);
    zsock_set_linger(results, 60000);
    zsock_destroy(&results);
    return 0;
}
