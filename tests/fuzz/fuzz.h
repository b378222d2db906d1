/* fuzz.h -- the one entry point every fuzz target defines (libFuzzer's), and what the
 * replay driver (tests/fuzz/replay.c) calls when the target is built without libFuzzer.
 *
 * A target must accept any bytes: it may reject them, never crash, leak, or read or write
 * out of bounds (ASan and UBSan watch). */
#ifndef FS_FUZZ_H
#define FS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
