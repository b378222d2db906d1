/* isa.h -- which vector instruction set the compute kernels run on.
 *
 * The featurizer's kernels and the sink's rank-k update are each written once and compiled
 * once per instruction set of the target architecture (see simd.h): portable, AVX2 + FMA and
 * AVX-512 on x86-64; portable and NEON on ARM64. This module says which of those paths were
 * built into this binary, which the CPU can run, and which one is in use: the best one the
 * CPU supports, unless the environment variable FRUITSTREAM_ISA names another. Asking for a
 * path the CPU lacks, or one not built for this architecture, is an error, never a silent
 * fallback. */
#ifndef FS_ISA_H
#define FS_ISA_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { ISA_PORTABLE, ISA_AVX2, ISA_AVX512, ISA_NEON, ISA_COUNT } isa_t;

#define ISA_ENV "FRUITSTREAM_ISA"
/* A usage text's note on ISA_ENV; what: "the kernels' instruction set", say. */
#define ISA_ENV_HELP(what)                                                                         \
    "Environment: " ISA_ENV "=portable|avx2|avx512|neon forces " what " (default: the best "       \
    "this CPU runs; an error if it cannot run the one named)."

/* "portable", "avx2", "avx512", "neon". */
const char *isa_name(isa_t isa);

/* The path named `name`; -1 (and a message in err naming the choices) if there is none. */
int isa_parse(const char *name, isa_t *isa, char *err, size_t errlen);

/* Built into this binary for its architecture. */
bool isa_built(isa_t isa);

/* Built, and the CPU has every instruction it uses. */
bool isa_runs(isa_t isa);

/* The fastest path that runs here. */
isa_t isa_best(void);

/* The path FRUITSTREAM_ISA asks for, or isa_best() when it is unset or empty; -1 with a
 * message naming the variable and value when it names no path or one this CPU cannot run. */
int isa_from_env(isa_t *isa, char *err, size_t errlen);

/* The CPU flags that matter here, e.g. "avx2 fma avx512f" (for logs and benchmarks). */
const char *isa_cpu_flags(void);

#endif
