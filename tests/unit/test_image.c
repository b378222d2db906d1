/* test_image.c -- the image loader: resize rule, decoding of every kind of JPEG the
 * reference set holds, CMYK, and rejection of broken or oversized input.
 *
 * The resize is checked against the rule written out the plainest way, in double precision
 * and without separability: output (oy, ox) is the sum over all input pixels of
 * wy(y) * wx(x) * in(y, x), each axis's weights being the triangle of half-width max(f, 1)
 * around (i + 0.5) * f, normalised to sum 1. (That the rule is torch's own was checked by
 * hand against torch.nn.functional.interpolate: see the commit that added this file.) */
#include "common/clock.h"
#include "common/file.h"
#include "featurizer/image.h"
#include "tests/test.h"

#include <math.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>

static const float mean[3] = {0.485f, 0.456f, 0.406f};
static const float stddev[3] = {0.229f, 0.224f, 0.225f};

/* A tiny deterministic generator, so that failures reproduce. */
static unsigned long long rng_state = 42;
static unsigned random_u32(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned) (rng_state >> 33);
}

/* Reads a whole file under the shared directory; *len gets its size. NULL if missing. */
static unsigned char *read_shared(const char *relative, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", test_shared_dir(), relative);
    return (unsigned char *) file_read_all(path, len);
}

static const char *fruit = "data/fruits-360/Test/Apple Braeburn/321_100.jpg";

/* The weights of output sample i over all in input samples, the plain way. */
static void reference_weights(int in, int out, int i, double *weights)
{
    double scale = (double) in / out;
    double support = scale > 1.0 ? scale : 1.0;
    double center = (i + 0.5) * scale;
    double total = 0.0;
    for (int j = 0; j < in; j++) {
        double distance = fabs(j + 0.5 - center) / support;
        weights[j] = distance < 1.0 ? 1.0 - distance : 0.0;
        total += weights[j];
    }
    for (int j = 0; j < in; j++)
        weights[j] /= total;
}

static void reference_resize(const float *in, int w, int h, int c, double *out, int ow, int oh)
{
    double *wx = malloc(sizeof(double) * w), *wy = malloc(sizeof(double) * h);
    for (int oy = 0; oy < oh; oy++) {
        reference_weights(h, oh, oy, wy);
        for (int ox = 0; ox < ow; ox++) {
            reference_weights(w, ow, ox, wx);
            for (int ch = 0; ch < c; ch++) {
                double sum = 0.0;
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        sum += wy[y] * wx[x] * in[((size_t) y * w + x) * c + ch];
                out[((size_t) oy * ow + ox) * c + ch] = sum;
            }
        }
    }
    free(wx);
    free(wy);
}

/* Largest error of image_resize against the reference on random 0..256 data, relative to
 * that range. (Relative to each value it would be meaningless near 0: the weights are
 * computed in single precision like torch's, so a weight off by 1e-6 on a neighbour of 255
 * moves a value of 1 by 2.5e-4.) */
static double resize_error(int w, int h, int c, int ow, int oh)
{
    size_t in_len = (size_t) w * h * c, out_len = (size_t) ow * oh * c;
    float *in = malloc(sizeof(float) * in_len), *out = malloc(sizeof(float) * out_len);
    float *scratch = malloc(sizeof(float) * h * ow * c);
    double *expected = malloc(sizeof(double) * out_len);
    for (size_t i = 0; i < in_len; i++)
        in[i] = (float) (random_u32() % 25600) / 100.0f;
    image_resize(in, w, h, c, out, ow, oh, scratch, test_isa);
    reference_resize(in, w, h, c, expected, ow, oh);
    double worst = 0.0;
    for (size_t i = 0; i < out_len; i++) {
        double error = fabs(out[i] - expected[i]) / 256.0;
        if (error > worst)
            worst = error;
    }
    free(in);
    free(out);
    free(scratch);
    free(expected);
    return worst;
}

static void resize_matches_plain_rule(void)
{
    static const int cases[][5] = {
        /* w, h, c -> ow, oh */
        {37, 23, 3, 17, 29},     {5, 200, 3, 64, 3},      {100, 100, 3, 224, 224},
        {333, 251, 3, 224, 224}, {640, 480, 3, 100, 100}, {1, 1, 4, 5, 4},
        {10, 13, 2, 1, 1},       {3, 7, 1, 11, 2},        {224, 100, 3, 224, 224},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int *k = cases[i];
        double error = resize_error(k[0], k[1], k[2], k[3], k[4]);
        CHECK(error < 1e-4, "%dx%dx%d -> %dx%d: relative error %g", k[0], k[1], k[2], k[3], k[4],
              error);
    }
}

static void resize_to_same_size_is_exact(void)
{
    float in[7 * 5 * 3], out[7 * 5 * 3], scratch[7 * 5 * 3];
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        in[i] = (float) (random_u32() % 25600) / 100.0f;
    image_resize(in, 7, 5, 3, out, 7, 5, scratch, test_isa);
    CHECK(memcmp(in, out, sizeof in) == 0, "7x5 -> 7x5 changed the data");
}

/* Decodes relative (under the shared directory) with a fresh loader. */
static image_loader_t *decode_shared(const char *relative, int size, char *err, size_t errlen)
{
    size_t len = 0;
    unsigned char *bytes = read_shared(relative, &len);
    if (!bytes) {
        snprintf(err, errlen, "cannot read %s/%s", test_shared_dir(), relative);
        return NULL;
    }
    image_loader_t *loader = image_loader_new(size, 1L << 26, test_isa);
    if (image_loader_decode(loader, bytes, len, err, errlen) != 0)
        image_loader_destroy(&loader);
    free(bytes);
    return loader;
}

static void decodes_reference_images(void)
{
    static const struct {
        const char *path;
        int width, height;
    } images[] = {
        {"reference/images/gray_00.jpg", 100, 100},
        {"reference/images/prog_00.jpg", 100, 100},
        {"reference/images/big_00.jpg", 333, 251},
        {"data/fruits-360/Test/Apple Braeburn/321_100.jpg", 100, 100},
    };
    for (size_t i = 0; i < sizeof images / sizeof images[0]; i++) {
        char err[256] = "";
        image_loader_t *loader = decode_shared(images[i].path, 224, err, sizeof err);
        CHECK(loader, "%s: %s", images[i].path, err);
        int width = image_loader_width(loader), height = image_loader_height(loader);
        image_loader_destroy(&loader);
        CHECK(width == images[i].width && height == images[i].height, "%s: %dx%d, expected %dx%d",
              images[i].path, width, height, images[i].width, images[i].height);
    }
}

static void grayscale_gives_equal_channels(void)
{
    char err[256] = "";
    image_loader_t *loader = decode_shared("reference/images/gray_00.jpg", 224, err, sizeof err);
    CHECK(loader, "%s", err);
    const uint8_t *rgb = image_loader_rgb(loader);
    size_t pixels = (size_t) image_loader_width(loader) * image_loader_height(loader);
    size_t unequal = 0, distinct_levels = 0;
    int seen[256] = {0};
    for (size_t i = 0; i < pixels; i++) {
        unequal += rgb[3 * i] != rgb[3 * i + 1] || rgb[3 * i] != rgb[3 * i + 2];
        distinct_levels += !seen[rgb[3 * i]]++;
    }
    image_loader_destroy(&loader);
    CHECK(unequal == 0, "%zu pixels with R, G, B not equal", unequal);
    CHECK(distinct_levels > 10, "only %zu grey levels: not a real picture?", distinct_levels);
}

/* to_input must be the resize of the decoded pixels, normalised; checked at a size that
 * enlarges, one that copies and one that shrinks. */
static void to_input_is_normalised_resize(void)
{
    static const struct {
        const char *path;
        int size;
    } cases[] = {
        {"data/fruits-360/Test/Apple Braeburn/321_100.jpg", 224},
        {"data/fruits-360/Test/Apple Braeburn/321_100.jpg", 100},
        {"reference/images/big_00.jpg", 224},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char err[256] = "";
        int size = cases[c].size;
        image_loader_t *loader = decode_shared(cases[c].path, size, err, sizeof err);
        CHECK(loader, "%s", err);
        int w = image_loader_width(loader), h = image_loader_height(loader);
        size_t in_len = (size_t) w * h * 3, out_len = (size_t) size * size * 3;
        float *pixels = malloc(sizeof(float) * in_len);
        float *expected = malloc(sizeof(float) * out_len);
        float *scratch = malloc(sizeof(float) * h * size * 3);
        float *input = malloc(sizeof(float) * out_len);
        for (size_t i = 0; i < in_len; i++)
            pixels[i] = image_loader_rgb(loader)[i];
        image_resize(pixels, w, h, 3, expected, size, size, scratch, test_isa);
        image_loader_to_input(loader, input);
        /* Twice: the second call must not depend on state left by the first. */
        image_loader_to_input(loader, input);
        double worst = 0.0;
        for (size_t i = 0; i < out_len; i++) {
            double want = (expected[i] / 255.0 - mean[i % 3]) / stddev[i % 3];
            double error = fabs(input[i] - want);
            if (error > worst)
                worst = error;
        }
        image_loader_destroy(&loader);
        free(pixels);
        free(expected);
        free(scratch);
        free(input);
        CHECK(worst < 1e-5, "%s at S=%d: max abs difference %g", cases[c].path, size, worst);
    }
}

/* A 32x32 CMYK JPEG of four flat 16x16 squares, written by TurboJPEG itself (which marks
 * it Adobe, inverted CMYK, like Photoshop does), must come back as R = C * K / 255 etc. */
static void cmyk_decodes_to_rgb(void)
{
    static const unsigned char colours[4][4] = {
        {255, 0, 0, 255}, {200, 100, 50, 128}, {255, 255, 255, 0}, {255, 255, 255, 255}};
    unsigned char cmyk[32 * 32 * 4];
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++)
            memcpy(cmyk + (y * 32 + x) * 4, colours[(y / 16) * 2 + x / 16], 4);
    tjhandle compressor = tjInitCompress();
    CHECK(compressor, "tjInitCompress failed");
    unsigned char *jpeg = NULL;
    unsigned long jpeg_len = 0;
    int rc =
        tjCompress2(compressor, cmyk, 32, 0, 32, TJPF_CMYK, &jpeg, &jpeg_len, TJSAMP_444, 100, 0);
    tjDestroy(compressor);
    CHECK(rc == 0, "tjCompress2 failed");

    image_loader_t *loader = image_loader_new(224, 1L << 26, test_isa);
    char err[256] = "";
    rc = image_loader_decode(loader, jpeg, jpeg_len, err, sizeof err);
    tjFree(jpeg);
    int worst = 0;
    for (int square = 0; rc == 0 && square < 4; square++) {
        /* The middle of each square, away from the ringing at its borders. */
        int x = (square % 2) * 16 + 8, y = (square / 2) * 16 + 8;
        const uint8_t *pixel = image_loader_rgb(loader) + (y * 32 + x) * 3;
        for (int ch = 0; ch < 3; ch++) {
            int want = (colours[square][ch] * colours[square][3] + 127) / 255;
            int error = abs(pixel[ch] - want);
            if (error > worst)
                worst = error;
        }
    }
    image_loader_destroy(&loader);
    CHECK(rc == 0, "decode failed: %s", err);
    CHECK(worst <= 3, "a channel is off by %d", worst);
}

/* Decoding bytes must fail with a message, leave no image, and not break the loader. */
static int rejects(image_loader_t *loader, const void *bytes, size_t len, char *err, size_t errlen)
{
    err[0] = '\0';
    return image_loader_decode(loader, bytes, len, err, errlen) == -1 && err[0] &&
           !strchr(err, '\n') && image_loader_width(loader) == 0;
}

static void broken_input_is_rejected(void)
{
    size_t len = 0;
    unsigned char *good = read_shared(fruit, &len);
    CHECK(good, "cannot read %s", fruit);
    unsigned char *bad = malloc(len);
    image_loader_t *loader = image_loader_new(224, 1L << 26, test_isa);
    char err[256];
    int empty = rejects(loader, good, 0, err, sizeof err);
    for (size_t i = 0; i < len; i++)
        bad[i] = (unsigned char) random_u32();
    int noise = rejects(loader, bad, len, err, sizeof err);
    bad[0] = 0xFF;
    bad[1] = 0xD8;
    int noise_after_marker = rejects(loader, bad, len, err, sizeof err);
    int half = rejects(loader, good, len / 2, err, sizeof err);
    char half_err[256];
    snprintf(half_err, sizeof half_err, "%s", err);
    /* Overwrite 32 bytes in the middle of the entropy-coded data with an 0xFF 0x00 stuffed
     * run ending in a bogus marker: libjpeg reports that as corrupt data. */
    memcpy(bad, good, len);
    for (size_t i = len / 2; i < len / 2 + 32; i++)
        bad[i] = (i - len / 2) % 2 ? 0x00 : 0xFF;
    bad[len / 2 + 31] = 0x01;
    int corrupt = rejects(loader, bad, len, err, sizeof err);
    /* Everything up to the frame header, then end-of-image: a "tables-only" stream. */
    size_t frame = 2;
    while (frame + 4 < len && !(good[frame] == 0xFF && good[frame + 1] == 0xC0))
        frame += 2 + (size_t) (good[frame + 2] << 8 | good[frame + 3]);
    memcpy(bad, good, frame);
    bad[frame] = 0xFF;
    bad[frame + 1] = 0xD9;
    int tables_only = rejects(loader, bad, frame + 2, err, sizeof err);
    /* A good image still decodes after all that. */
    int recovers = image_loader_decode(loader, good, len, err, sizeof err) == 0 &&
                   image_loader_width(loader) == 100;
    image_loader_destroy(&loader);
    free(good);
    free(bad);
    CHECK(empty, "empty input not rejected");
    CHECK(noise && noise_after_marker, "random bytes not rejected");
    CHECK(half && strstr(half_err, "truncated"), "first half of a JPEG: %s", half_err);
    CHECK(corrupt, "corrupt JPEG not rejected");
    CHECK(tables_only, "JPEG without a frame not rejected");
    CHECK(recovers, "a good JPEG fails after bad ones: %s", err);
}

/* Random damage anywhere: any outcome is fine as long as nothing crashes (run under ASan). */
static void random_damage_does_not_crash(void)
{
    size_t len = 0;
    unsigned char *good = read_shared(fruit, &len);
    CHECK(good, "cannot read %s", fruit);
    unsigned char *bad = malloc(len);
    image_loader_t *loader = image_loader_new(64, 1L << 26, test_isa);
    float *input = malloc(sizeof(float) * 64 * 64 * 3);
    char err[256];
    int failures = 0;
    for (int round = 0; round < 200; round++) {
        memcpy(bad, good, len);
        for (int k = 0; k < 1 + round % 8; k++)
            bad[random_u32() % len] = (unsigned char) random_u32();
        size_t cut = round % 3 == 0 ? random_u32() % len : len;
        if (image_loader_decode(loader, bad, cut, err, sizeof err) != 0)
            failures++;
        image_loader_to_input(loader, input);
    }
    image_loader_destroy(&loader);
    free(good);
    free(bad);
    free(input);
    CHECK(failures > 0, "200 damaged JPEGs and not one rejected");
}

static void too_many_pixels_is_rejected(void)
{
    size_t len = 0;
    unsigned char *jpeg = read_shared(fruit, &len);
    CHECK(jpeg, "cannot read %s", fruit);
    char err[256] = "";
    image_loader_t *loader = image_loader_new(224, 100 * 100 - 1, test_isa);
    int small_limit = rejects(loader, jpeg, len, err, sizeof err) && strstr(err, "limit");
    char small_err[256];
    snprintf(small_err, sizeof small_err, "%s", err);
    image_loader_destroy(&loader);

    /* Claim 60000 x 60000 in the frame header: refused from the header alone, before any
     * 10 GB buffer is attempted. */
    for (size_t i = 0; i + 9 < len; i++)
        if (jpeg[i] == 0xFF && (jpeg[i + 1] == 0xC0 || jpeg[i + 1] == 0xC2)) {
            jpeg[i + 5] = jpeg[i + 7] = 60000 >> 8;
            jpeg[i + 6] = jpeg[i + 8] = 60000 & 0xFF;
            break;
        }
    loader = image_loader_new(224, 1L << 26, test_isa);
    int huge = rejects(loader, jpeg, len, err, sizeof err) &&
               strstr(err, "60000x60000, more than the limit of 67108864 pixels");
    image_loader_destroy(&loader);
    char huge_err[256];
    snprintf(huge_err, sizeof huge_err, "%s", err);

    /* 1 x 60000: few pixels, but resized to 224 its first pass is 224 x 60000 (161 MB of
     * floats), past a limit of 2^20 pixels: refused from the header too. */
    for (size_t i = 0; i + 9 < len; i++)
        if (jpeg[i] == 0xFF && (jpeg[i + 1] == 0xC0 || jpeg[i + 1] == 0xC2)) {
            jpeg[i + 7] = 0;
            jpeg[i + 8] = 1;
            break;
        }
    loader = image_loader_new(224, 1L << 20, test_isa);
    int thin = rejects(loader, jpeg, len, err, sizeof err) &&
               strstr(err, "1x60000: resizing it to 224 makes 224x60000 pixels");
    image_loader_destroy(&loader);
    free(jpeg);
    CHECK(small_limit, "100x100 with a limit of 9999: %s", small_err);
    CHECK(huge, "60000x60000: %s", huge_err);
    CHECK(thin, "1x60000: %s", err);
}

/* Appends one marker segment. */
static size_t put_segment(unsigned char *out, size_t at, int marker, const unsigned char *payload,
                          size_t len)
{
    out[at++] = 0xFF;
    out[at++] = (unsigned char) marker;
    out[at++] = (unsigned char) ((len + 2) >> 8);
    out[at++] = (unsigned char) (len + 2);
    memcpy(out + at, payload, len);
    return at + len;
}

/* One scan of the progressive grayscale image make_scan_bomb writes: its header, then one
 * Huffman code per block or run: for a DC scan a zero difference per block,
 * for an AC scan a single end-of-band run over every block (symbol r << 4, r extra bits of
 * 0: a run of 2^r). Coefficients stay zero, so refinement scans are empty bands too. */
static size_t put_scan(unsigned char *out, size_t at, int ss, int se, int ah, int al,
                       int log2_blocks)
{
    const unsigned char header[] = {
        1, 1, 0x00, (unsigned char) ss, (unsigned char) se, (unsigned char) (ah << 4 | al)};
    at = put_segment(out, at, 0xDA, header, sizeof header);
    size_t bits = ss == 0 ? (size_t) 1 << log2_blocks : 1 + (size_t) log2_blocks;
    size_t bytes = (bits + 7) / 8; /* zero bits, padded with ones */
    memset(out + at, 0, bytes);
    if (bits % 8)
        out[at + bytes - 1] = (unsigned char) (0xFF >> (bits % 8));
    return at + bytes;
}

/* A progressive grayscale JPEG of 2^log2_side blocks a side (8 * 2^log2_side pixels, at most
 * 2^7) whose scans are all cheap for the file but each a pass over the whole image: the
 * "scan bomb". valid: a correct progression of 883 scans (DC, then each of the 63 AC
 * coefficients in a first scan and 13 refinements), which libjpeg decodes without a
 * warning. Otherwise the first AC scan repeated `repeats` times, which libjpeg also takes
 * without a warning (a first scan again, Ah 0). Returns a malloc'd buffer, its size in *len. */
static unsigned char *make_scan_bomb(int log2_side, int valid, int repeats, size_t *len)
{
    int log2_blocks = 2 * log2_side, side = 8 << log2_side;
    int scans = valid ? 63 * 14 : repeats;
    unsigned char *out = malloc(1024 + ((size_t) 1 << log2_blocks) / 8 + (size_t) scans * 16);
    size_t at = 0;
    out[at++] = 0xFF;
    out[at++] = 0xD8;
    unsigned char quant[65] = {0};
    memset(quant + 1, 1, 64);
    at = put_segment(out, at, 0xDB, quant, sizeof quant);
    const unsigned char frame[] = {8,
                                   (unsigned char) (side >> 8),
                                   (unsigned char) side,
                                   (unsigned char) (side >> 8),
                                   (unsigned char) side,
                                   1,
                                   1,
                                   0x11,
                                   0};
    at = put_segment(out, at, 0xC2, frame, sizeof frame);
    unsigned char table[18] = {0x00, 1};                  /* one code, '0', for the one symbol */
    at = put_segment(out, at, 0xC4, table, sizeof table); /* DC: category 0 */
    table[0] = 0x10;
    table[17] = (unsigned char) (log2_blocks << 4); /* AC: end-of-band run of 2^log2_blocks */
    at = put_segment(out, at, 0xC4, table, sizeof table);
    at = put_scan(out, at, 0, 0, 0, 0, log2_blocks);
    for (int k = 1; k <= 63 && valid; k++) {
        at = put_scan(out, at, k, k, 0, 13, log2_blocks);
        for (int al = 12; al >= 0; al--)
            at = put_scan(out, at, k, k, al + 1, al, log2_blocks);
    }
    for (int i = 0; i < repeats && !valid; i++)
        at = put_scan(out, at, 1, 1, 0, 0, log2_blocks);
    out[at++] = 0xFF;
    out[at++] = 0xD9;
    *len = at;
    return out;
}

/* A progressive JPEG costs one pass over the image per scan, and a scan can take 2 bytes:
 * without a limit, a 600 KB file of 5000 scans over 8000x8000 pixels took 38 s. Refused
 * past 500 scans (TJFLAG_LIMITSCANS). Neither bomb warns, and both decoded before. */
static void scan_bombs_are_rejected(void)
{
    char err[256], valid_err[256];
    image_loader_t *loader = image_loader_new(224, 1L << 26, test_isa);
    size_t len = 0;
    unsigned char *bomb = make_scan_bomb(2, 1, 0, &len); /* 32x32, 883 scans, no warning */
    int valid = rejects(loader, bomb, len, valid_err, sizeof valid_err) &&
                strstr(valid_err, "more than 500 scans");
    free(bomb);
    /* 1024x1024 and 100000 repeated scans in 200 KB: about 12 s to decode them all. */
    bomb = make_scan_bomb(7, 0, 100000, &len);
    double start = clock_seconds();
    int bogus = rejects(loader, bomb, len, err, sizeof err);
    double took = clock_seconds() - start;
    free(bomb);
    /* The loader still decodes a normal 100x100 JPEG after both. */
    size_t good_len = 0;
    unsigned char *good = read_shared(fruit, &good_len);
    int recovers = good && image_loader_decode(loader, good, good_len, err, sizeof err) == 0 &&
                   image_loader_width(loader) == 100;
    free(good);
    image_loader_destroy(&loader);
    CHECK(valid, "883-scan progressive JPEG: %s", valid_err[0] ? valid_err : "decoded");
    CHECK(bogus && took < 2.0, "100000 repeated scans: %s after %.1f s",
          bogus ? "rejected" : "decoded", took);
    CHECK(recovers, "a good JPEG fails after the scan bombs: %s", err);
}

int main(void)
{
    RUN_EACH_ISA(resize_matches_plain_rule);
    RUN_EACH_ISA(resize_to_same_size_is_exact);
    RUN_EACH_ISA(to_input_is_normalised_resize);
    test_isa = isa_best();
    RUN(decodes_reference_images);
    RUN(grayscale_gives_equal_channels);
    RUN(cmyk_decodes_to_rgb);
    RUN(broken_input_is_rejected);
    RUN(random_damage_does_not_crash);
    RUN(too_many_pixels_is_rejected);
    RUN(scan_bombs_are_rejected);
    TEST_DONE();
}
