/* test_reference.c -- the featurizer against the reference features of
 * ../shared/reference (PyTorch 1.13, same weights and preprocessing): every one of the 286
 * images at S = 224 and S = 100 must reach cosine >= 0.99999 and max |diff| <= 1e-3. The
 * worst row of each size goes to stderr. Run on every instruction set built for this
 * architecture that the CPU can run (the others are skipped, visibly). Under AddressSanitizer,
 * which multiplies the time by ten, S = 224 runs on the best path only: the kernels do not
 * depend on the size, and the plain build checks every path at both sizes.
 *
 * `--first N` checks the first N images at S = 100 only, on every path, as
 * reference_100_subset_<isa>: for the ARM64 build, which tests/run.sh runs under qemu-user,
 * where the whole set would take some twenty minutes. Without it the test is the whole set. */
#include "common/file.h"
#include "featurizer/featurizer.h"
#include "tests/test.h"

#include <math.h>
#include <string.h>

#define NIMAGES 286

static int nimages = NIMAGES; /* images to check: the first nimages of images.txt */

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static void check_size(int size)
{
    char path[4096], err[512];
    const char *shared = test_shared_dir();
    snprintf(path, sizeof path, "%s/reference/features-%d.f32", shared, size);
    size_t len;
    float *ref = (float *) file_read_all(path, &len);
    CHECK(ref && len == (size_t) NIMAGES * FEATURE_DIM * sizeof(float), "%s: cannot read", path);
    snprintf(path, sizeof path, "%s/models/mobilenet_v2/model.safetensors", shared);
    featurizer_t *fz =
        featurizer_new(path, size, FEATURIZER_DEFAULT_MAX_PIXELS, test_isa, err, sizeof err);
    CHECK(fz, "featurizer_new: %s", err);
    snprintf(path, sizeof path, "%s/reference/images.txt", shared);
    FILE *list = fopen(path, "r");
    CHECK(list, "%s: cannot open", path);

    double worst_cos = 1, worst_diff = 0;
    int n = 0, bad = 0, worst_cos_row = -1, worst_diff_row = -1;
    char line[1024], bad_msg[2048] = "";
    while (n < nimages && fgets(line, sizeof line, list)) {
        line[strcspn(line, "\r\n")] = 0;
        snprintf(path, sizeof path, "%s/%s", shared, line);
        size_t jlen;
        char *jpeg = file_read_all(path, &jlen);
        float f[FEATURE_DIM];
        if (!jpeg)
            snprintf(err, sizeof err, "cannot read");
        int rc = jpeg ? featurizer_run(fz, jpeg, jlen, f, NULL, err, sizeof err) : -1;
        free(jpeg);
        if (rc) {
            if (!bad++)
                snprintf(bad_msg, sizeof bad_msg, "%s: %s", line, err);
            n++;
            continue;
        }
        const float *r = ref + (size_t) n * FEATURE_DIM;
        double dot = 0, na = 0, nb = 0, diff = 0;
        for (int i = 0; i < FEATURE_DIM; i++) {
            dot += (double) f[i] * r[i];
            na += (double) f[i] * f[i];
            nb += (double) r[i] * r[i];
            double d = fabs((double) f[i] - r[i]);
            if (!(d <= diff))
                diff = d;
        }
        double cos = dot / sqrt(na * nb);
        if (!(cos >= worst_cos))
            worst_cos = cos, worst_cos_row = n;
        if (diff > worst_diff)
            worst_diff = diff, worst_diff_row = n;
        if (!(cos >= 0.99999 && diff <= 1e-3) && !bad++)
            snprintf(bad_msg, sizeof bad_msg, "%s: cosine %.8f, max diff %.3g", line, cos, diff);
        n++;
    }
    fclose(list);
    featurizer_destroy(&fz);
    free(ref);
    fprintf(stderr,
            "S=%d %s: %d images, worst 1 - cosine %.3g (row %d), worst max|diff| %.3g (row %d)\n",
            size, isa_name(test_isa), n, 1 - worst_cos, worst_cos_row, worst_diff, worst_diff_row);
    CHECK(n == nimages, "images.txt has %d lines, expected %d", n, nimages);
    CHECK(bad == 0, "S=%d: %d of %d images off, first: %s", size, bad, n, bad_msg);
}

static void reference_224(void)
{
    check_size(224);
}

static void reference_100(void)
{
    check_size(100);
}

static void reference_100_subset(void)
{
    check_size(100);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        char *end = NULL;
        long first = 0;
        if (argc == 3 && strcmp(argv[1], "--first") == 0)
            first = strtol(argv[2], &end, 10);
        if (first < 1 || first > NIMAGES || *end) {
            fprintf(stderr, "usage: %s [--first N (1..%d)]\n", argv[0], NIMAGES);
            return 2;
        }
        nimages = (int) first;
        RUN_EACH_ISA(reference_100_subset);
        TEST_DONE();
    }
#ifdef UNDER_ASAN
    test_isa = isa_best();
    RUN(reference_224);
#else
    RUN_EACH_ISA(reference_224);
#endif
    RUN_EACH_ISA(reference_100);
    TEST_DONE();
}
