/* fuzz_image.c -- the JPEG loader (featurizer/image.c) on any bytes: decode, and when that
 * works, resize and normalise. The pixel limit is small so that a header declaring a huge
 * image is refused before anything grows, as the worker's --max-pixels does. */
#include "featurizer/image.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_SIZE 32
#define FUZZ_MAX_PIXELS (1L << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static image_loader_t *loader;
    static float input[FUZZ_SIZE * FUZZ_SIZE * 3];
    if (!loader)
        loader = image_loader_new(FUZZ_SIZE, FUZZ_MAX_PIXELS, isa_best());
    char err[256];
    if (loader && image_loader_decode(loader, data, size, err, sizeof err) == 0)
        image_loader_to_input(loader, input);
    return 0;
}
