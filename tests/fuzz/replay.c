/* replay.c -- runs a fuzz target over its corpus without libFuzzer, so `make test` checks
 * every seed under each build (plain, and ASan + UBSan) with any compiler.
 *
 *   test_fuzz_NAME [FILE|DIR]...    (default: tests/fuzz/corpus/NAME)
 *
 * Feeds every file to LLVMFuzzerTestOneInput once; a crash is the test failing. Prints
 * `ok fuzz_NAME_corpus` with the number of inputs, or FAIL when there are none. */
#include "common/file.h"
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FUZZ_NAME
#error "compile with -DFUZZ_NAME=\"wire\" (the target's name)"
#endif

static int replay_path(const char *path, file_buffer_t *buf)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        if (file_read(path, buf, SIZE_MAX) != 0)
            return -1;
        LLVMFuzzerTestOneInput((const uint8_t *) buf->data, buf->len);
        return 1;
    }
    DIR *dir = opendir(path);
    struct dirent *e;
    int n = 0;
    while (dir && (e = readdir(dir))) {
        char sub[4096];
        if (e->d_name[0] == '.' ||
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int) sizeof sub)
            continue;
        int got = replay_path(sub, buf);
        n += got > 0 ? got : 0;
    }
    if (dir)
        closedir(dir);
    return dir ? n : -1;
}

int main(int argc, char **argv)
{
    const char *fallback = "tests/fuzz/corpus/" FUZZ_NAME;
    file_buffer_t buf = {0};
    int inputs = 0;
    for (int i = 1; i < argc || (argc == 1 && i == 1); i++) {
        const char *path = argc > 1 ? argv[i] : fallback;
        int n = replay_path(path, &buf);
        if (n < 0)
            fprintf(stderr, "replay: cannot read %s\n", path);
        inputs += n > 0 ? n : 0;
    }
    file_buffer_free(&buf);
    if (inputs == 0) {
        printf("FAIL fuzz_%s_corpus: no inputs\n", FUZZ_NAME);
        return 1;
    }
    printf("ok fuzz_%s_corpus (%d inputs)\n", FUZZ_NAME, inputs);
    return 0;
}
