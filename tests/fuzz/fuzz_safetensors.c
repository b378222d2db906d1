/* fuzz_safetensors.c -- the safetensors reader (featurizer/safetensors.c) on any bytes. The
 * reader maps a file, so the bytes go into an anonymous memory file opened by its
 * /proc/self/fd path; every tensor it accepts is read end to end (ASan sees a read past
 * the mapping). */
#include "featurizer/safetensors.h"
#include "tests/fuzz/fuzz.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz.safetensors", 0);
    if (fd < 0)
        return 0;
    char path[64], err[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (write(fd, data, size) == (ssize_t) size) {
        safetensors_t *st = safetensors_open(path, err, sizeof err);
        volatile float sum = 0;
        for (size_t i = 0; st && i < safetensors_count(st); i++) {
            const safetensors_tensor_t *t = safetensors_at(st, i);
            for (size_t j = 0; j < t->count; j++)
                sum += t->data[j];
            if (safetensors_find(st, t->name) != t)
                __builtin_trap();
        }
        (void) sum;
        safetensors_destroy(&st);
    }
    close(fd);
    return 0;
}
