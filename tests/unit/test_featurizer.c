/* test_featurizer.c -- the featurizer's failure paths: bad weights files (missing,
 * truncated, one tensor's shape changed: modified copies in a fresh /tmp directory, never
 * in the repository) make featurizer_new fail with a message naming the file and the
 * problem; bad JPEGs (empty, garbage, truncated) make featurizer_run fail with a reason,
 * and a valid image featurized afterwards gives bit-identical features (no state left
 * behind by the failures). A featurizer sharing another's weights, run on its own thread at
 * the same time as the other, gives both the very features one featurizer alone gives.
 * The network's stage timing (for bench_featurizer --stages) names every stage, counts the
 * network's flops once, times every stage once started, and changes no feature. */
#include "common/file.h"
#include "featurizer/featurizer.h"
#include "tests/test.h"

#include "common/clock.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    return (f && fclose(f) == 0 && ok) ? 0 : -1;
}

static const char *weights_path(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/models/mobilenet_v2/model.safetensors", test_shared_dir());
    return path;
}

/* featurizer_new must fail on path with an error mentioning path and `problem`. */
static const char *expect_new_fails(const char *path, const char *problem)
{
    static char err[512];
    err[0] = 0;
    featurizer_t *fz =
        featurizer_new(path, 224, FEATURIZER_DEFAULT_MAX_PIXELS, isa_best(), err, sizeof err);
    if (fz) {
        featurizer_destroy(&fz);
        return "featurizer_new succeeded";
    }
    if (!strstr(err, path) || !strstr(err, problem)) {
        fprintf(stderr, "error was: %s\n", err);
        return "error does not name the file and the problem";
    }
    fprintf(stderr, "expected failure: %s\n", err);
    return NULL;
}

static void test_missing_weights(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/no-such-model.safetensors", tmpdir);
    const char *why = expect_new_fails(path, "No such file");
    CHECK(!why, "%s", why);
}

static void test_truncated_weights(void)
{
    size_t len;
    char *data = file_read_all(weights_path(), &len), path[128];
    CHECK(data, "%s: cannot read", weights_path());
    snprintf(path, sizeof path, "%s/truncated.safetensors", tmpdir);
    int rc = write_file(path, data, len / 2);
    free(data);
    CHECK(rc == 0, "%s: cannot write", path);
    const char *why = expect_new_fails(path, "");
    unlink(path);
    CHECK(!why, "%s", why);
}

static void test_changed_shape(void)
{
    static const char from[] =
        "\"features.3.conv.1.0.weight\":{\"dtype\":\"F32\",\"shape\":[144,1,3,3]";
    static const char to[] =
        "\"features.3.conv.1.0.weight\":{\"dtype\":\"F32\",\"shape\":[144,3,3,1]";
    size_t len;
    char *data = file_read_all(weights_path(), &len), path[128];
    CHECK(data && len > 4096, "%s: cannot read", weights_path());
    char *at = memmem(data, 4096, from, sizeof from - 1);
    if (at)
        memcpy(at, to, sizeof to - 1); /* same size: the file stays valid safetensors */
    snprintf(path, sizeof path, "%s/reshaped.safetensors", tmpdir);
    int rc = at ? write_file(path, data, len) : -1;
    free(data);
    CHECK(at, "tensor features.3.conv.1.0.weight not found in the header");
    CHECK(rc == 0, "%s: cannot write", path);
    const char *why = expect_new_fails(
        path, "features.3.conv.1.0.weight: shape [144,3,3,1], expected [144,1,3,3]");
    unlink(path);
    CHECK(!why, "%s", why);
}

static void test_bad_size(void)
{
    char err[256] = "";
    featurizer_t *fz = featurizer_new(weights_path(), 0, FEATURIZER_DEFAULT_MAX_PIXELS, isa_best(),
                                      err, sizeof err);
    CHECK(!fz && err[0], "size 0 accepted");
}

static void test_bad_jpegs_leave_no_trace(void)
{
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/data/fruits-360/Test/Banana/100_100.jpg", test_shared_dir());
    size_t len;
    char *jpeg = file_read_all(path, &len);
    CHECK(jpeg && len > 100, "%s: cannot read", path);
    featurizer_t *fz = featurizer_new(weights_path(), 224, FEATURIZER_DEFAULT_MAX_PIXELS,
                                      isa_best(), err, sizeof err);
    CHECK(fz, "featurizer_new: %s", err);
    CHECK(featurizer_size(fz) == 224, "size %d", featurizer_size(fz));
    float before[FEATURE_DIM], after[FEATURE_DIM];
    featurizer_timings_t t;
    int ok = featurizer_run(fz, jpeg, len, before, &t, err, sizeof err) == 0;
    CHECK(ok, "valid image: %s", err);
    CHECK(t.decode_ms >= 0 && t.resize_ms >= 0 && t.net_ms > 0, "timings %g %g %g", t.decode_ms,
          t.resize_ms, t.net_ms);

    static const char garbage[] = "this is not a JPEG, just some text of a reasonable length";
    const struct {
        const char *what;
        const void *data;
        size_t len;
    } bad[] = {
        {"zero bytes", jpeg, 0},
        {"garbage", garbage, sizeof garbage},
        {"truncated", jpeg, len / 2},
        {"header only", jpeg, 20},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        int rc = featurizer_run(fz, bad[i].data, bad[i].len, after, NULL, err, sizeof err);
        if (rc != -1 || !err[0])
            featurizer_destroy(&fz), free(jpeg);
        CHECK(rc == -1, "%s: accepted", bad[i].what);
        CHECK(err[0], "%s: no message", bad[i].what);
        fprintf(stderr, "%s: %s\n", bad[i].what, err);
    }
    ok = featurizer_run(fz, jpeg, len, after, NULL, err, sizeof err) == 0;
    featurizer_destroy(&fz);
    free(jpeg);
    CHECK(ok, "valid image after the bad ones: %s", err);
    CHECK(memcmp(before, after, sizeof before) == 0, "features changed after failed runs");
}

#define SHARED_IMAGES 6
#define SHARED_PASSES 3

typedef struct {
    featurizer_t *fz;
    char *jpeg[SHARED_IMAGES];
    size_t len[SHARED_IMAGES];
    float features[SHARED_PASSES][SHARED_IMAGES][FEATURE_DIM];
    int failures;
} shared_job_t;

static void *featurize_all(void *arg)
{
    shared_job_t *job = arg;
    char err[256];
    for (int p = 0; p < SHARED_PASSES; p++)
        for (int i = 0; i < SHARED_IMAGES; i++)
            job->failures += featurizer_run(job->fz, job->jpeg[i], job->len[i], job->features[p][i],
                                            NULL, err, sizeof err) != 0;
    return NULL;
}

static void test_shared_weights_on_threads(void)
{
    static const char *files[SHARED_IMAGES] = {"Banana/100_100.jpg", "Kiwi/33_100.jpg",
                                               "Limes/113_100.jpg",  "Cocos/0_100.jpg",
                                               "Lemon/321_100.jpg",  "Apple Braeburn/321_100.jpg"};
    static shared_job_t jobs[2];
    char path[4096], err[512];
    float alone[SHARED_IMAGES][FEATURE_DIM];
    jobs[0].fz = featurizer_new(weights_path(), 224, FEATURIZER_DEFAULT_MAX_PIXELS, isa_best(), err,
                                sizeof err);
    CHECK(jobs[0].fz, "featurizer_new: %s", err);
    jobs[1].fz = featurizer_share(jobs[0].fz, err, sizeof err);
    CHECK(jobs[1].fz, "featurizer_share: %s", err);
    CHECK(featurizer_size(jobs[1].fz) == 224, "shared size %d", featurizer_size(jobs[1].fz));
    int readable = 1, alone_ok = 1;
    for (int i = 0; i < SHARED_IMAGES; i++) {
        snprintf(path, sizeof path, "%s/data/fruits-360/Test/%s", test_shared_dir(), files[i]);
        jobs[0].jpeg[i] = jobs[1].jpeg[i] = file_read_all(path, &jobs[0].len[i]);
        jobs[1].len[i] = jobs[0].len[i];
        readable &= jobs[0].jpeg[i] != NULL;
        alone_ok &= jobs[0].jpeg[i] && featurizer_run(jobs[0].fz, jobs[0].jpeg[i], jobs[0].len[i],
                                                      alone[i], NULL, err, sizeof err) == 0;
    }
    pthread_t thread;
    int started =
        readable && alone_ok && pthread_create(&thread, NULL, featurize_all, &jobs[1]) == 0;
    if (started) {
        featurize_all(&jobs[0]);
        pthread_join(thread, NULL);
    }
    int same = 1;
    for (int j = 0; j < 2 && started; j++)
        for (int p = 0; p < SHARED_PASSES; p++)
            for (int i = 0; i < SHARED_IMAGES; i++)
                same &= memcmp(jobs[j].features[p][i], alone[i], sizeof alone[i]) == 0;
    featurizer_destroy(&jobs[1].fz); /* the sharer first, then the weights' owner */
    featurizer_destroy(&jobs[0].fz);
    for (int i = 0; i < SHARED_IMAGES; i++)
        free(jobs[0].jpeg[i]);
    CHECK(readable && alone_ok, "cannot read or featurize the test images: %s", err);
    CHECK(started, "cannot start a thread");
    CHECK(jobs[0].failures == 0 && jobs[1].failures == 0, "failed runs: %d and %d",
          jobs[0].failures, jobs[1].failures);
    CHECK(same, "features on two threads sharing weights differ from one featurizer's");
}

/* Whether none of the n stages has any time on its clock. */
static bool no_stage_timed(const mobilenet_stage_t *st, int n)
{
    for (int i = 0; i < n; i++)
        if (st[i].seconds != 0)
            return false;
    return true;
}

static void test_stage_timing(void)
{
    char err[512];
    mobilenet_t *net = mobilenet_new(weights_path(), 100, isa_best(), err, sizeof err);
    CHECK(net, "mobilenet_new: %s", err);
    if (!net)
        return;
    int n;
    const mobilenet_stage_t *st = mobilenet_stages(net, &n);
    CHECK(n == MOBILENET_MAX_STAGES, "%d stages", n);
    CHECK(!strcmp(st[0].name, "stem") && !strcmp(st[1].name, "1.depthwise") &&
              !strcmp(st[2].name, "1.project") && !strcmp(st[3].name, "2.expand") &&
              !strcmp(st[n - 2].name, "17.project") && !strcmp(st[n - 1].name, "head"),
          "stage names %s %s %s %s .. %s %s", st[0].name, st[1].name, st[2].name, st[3].name,
          st[n - 2].name, st[n - 1].name);
    double flops = 0;
    int positive = 1;
    for (int i = 0; i < n; i++)
        flops += st[i].flops, positive &= st[i].flops > 0;
    CHECK(positive && fabs(flops - mobilenet_flops(net)) <= 1e-9 * flops,
          "stage flops sum to %.0f, the network's are %.0f", flops, mobilenet_flops(net));

    float *input = mobilenet_input(net), untimed[MOBILENET_FEATURES], timed[MOBILENET_FEATURES];
    for (int i = 0; i < 100 * 100 * 3; i++)
        input[i] = (float) (i % 97) / 24.25f - 2.0f;
    mobilenet_run(net, untimed);
    CHECK(no_stage_timed(st, n), "stages timed before mobilenet_time_stages");

    mobilenet_time_stages(net);
    double start = clock_seconds();
    mobilenet_run(net, timed);
    mobilenet_run(net, timed);
    double wall = clock_seconds() - start, sum = 0;
    int timed_all = 1;
    for (int i = 0; i < n; i++) {
        sum += st[i].seconds;
        if (st[i].seconds <= 0)
            timed_all = 0, fprintf(stderr, "stage %s: %g s\n", st[i].name, st[i].seconds);
    }
    CHECK(timed_all, "a stage was not timed");
    CHECK(sum <= wall && sum >= 0.5 * wall, "stages sum to %g s of the runs' %g s", sum, wall);
    CHECK(!memcmp(untimed, timed, sizeof timed), "timing changed the features");

    mobilenet_t *shared = mobilenet_share(net, err, sizeof err);
    CHECK(shared, "mobilenet_share: %s", err);
    if (shared) {
        const mobilenet_stage_t *sst = mobilenet_stages(shared, &n);
        memcpy(mobilenet_input(shared), input, 100 * 100 * 3 * sizeof(float));
        mobilenet_run(shared, timed);
        CHECK(no_stage_timed(sst, n), "a shared network times its stages without being asked");
        mobilenet_destroy(&shared);
    }
    mobilenet_destroy(&net);
}

int main(void)
{
    if (test_tmpdir_make(tmpdir, sizeof tmpdir, "featurizer") != 0)
        return 1;
    RUN(test_missing_weights);
    RUN(test_truncated_weights);
    RUN(test_changed_shape);
    RUN(test_bad_size);
    RUN(test_bad_jpegs_leave_no_trace);
    RUN(test_shared_weights_on_threads);
    RUN(test_stage_timing);
    if (test_tmpdir_remove(tmpdir) != 0)
        return 1;
    TEST_DONE();
}
