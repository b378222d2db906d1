/* isa.c -- see isa.h. CPU features come from the compiler's cpu-model builtins on x86-64
 * and from the auxiliary vector on ARM64 (where NEON, "asimd", is part of the base
 * architecture, so the check only guards against an odd kernel). */
#include "common/isa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#endif

/* A build made with FS_AVX512_GENERIC (`make avx512-generic`, for the tests) compiles the
 * AVX-512 path's kernels with generic 16-float vectors instead of AVX-512 instructions
 * (common/simd.h), for AVX2 + FMA: there that path alone is built, under a name of its own,
 * so that no test of it passes as the real one. */
#if defined(FS_AVX512_GENERIC)
static const char *const names[ISA_COUNT] = {"portable", "avx2", "avx512-generic", "neon"};
#define AVX512_NEEDS "avx2"
#else
static const char *const names[ISA_COUNT] = {"portable", "avx2", "avx512", "neon"};
#define AVX512_NEEDS "avx512f"
#endif

const char *isa_name(isa_t isa)
{
    return isa >= 0 && isa < ISA_COUNT ? names[isa] : "?";
}

int isa_parse(const char *name, isa_t *isa, char *err, size_t errlen)
{
    for (int i = 0; i < ISA_COUNT; i++)
        if (strcmp(name, names[i]) == 0) {
            *isa = (isa_t) i;
            return 0;
        }
    snprintf(err, errlen, "'%s' is not an instruction set: portable, avx2, avx512 or neon", name);
    return -1;
}

bool isa_built(isa_t isa)
{
#if defined(FS_AVX512_GENERIC)
    return isa == ISA_AVX512;
#else
    switch (isa) {
    case ISA_PORTABLE: return true;
#if defined(__x86_64__)
    case ISA_AVX2:
    case ISA_AVX512: return true;
#elif defined(__aarch64__)
    case ISA_NEON: return true;
#endif
    default: return false;
    }
#endif
}

bool isa_runs(isa_t isa)
{
    if (!isa_built(isa))
        return false;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (isa == ISA_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (isa == ISA_AVX512)
        return __builtin_cpu_supports(AVX512_NEEDS) && __builtin_cpu_supports("fma");
#elif defined(__aarch64__)
    if (isa == ISA_NEON)
        return (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
#endif
    return isa == ISA_PORTABLE;
}

isa_t isa_best(void)
{
    static const isa_t order[] = {ISA_AVX512, ISA_AVX2, ISA_NEON};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
        if (isa_runs(order[i]))
            return order[i];
    return ISA_PORTABLE;
}

int isa_from_env(isa_t *isa, char *err, size_t errlen)
{
    const char *want = getenv(ISA_ENV);
    char why[128];
    if (!want || !*want) {
        *isa = isa_best();
        return 0;
    }
    if (isa_parse(want, isa, why, sizeof why)) {
        snprintf(err, errlen, "%s=%s: %s", ISA_ENV, want, why);
        return -1;
    }
    if (!isa_runs(*isa)) {
        snprintf(err, errlen, "%s=%s: this %s (%s) cannot run it; it can run %s", ISA_ENV, want,
                 isa_built(*isa) ? "CPU" : "build's architecture", isa_cpu_flags(),
                 isa_name(isa_best()));
        return -1;
    }
    return 0;
}

const char *isa_cpu_flags(void)
{
#if defined(__x86_64__)
    static char flags[64];
    __builtin_cpu_init();
    snprintf(flags, sizeof flags, "x86-64%s%s%s", __builtin_cpu_supports("avx2") ? " avx2" : "",
             __builtin_cpu_supports("fma") ? " fma" : "",
             __builtin_cpu_supports("avx512f") ? " avx512f" : "");
    return flags;
#elif defined(__aarch64__)
    return isa_runs(ISA_NEON) ? "aarch64 asimd" : "aarch64";
#else
    return "generic";
#endif
}
