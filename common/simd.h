/* simd.h -- the handful of vector operations our kernels are written in.
 *
 * A kernel source named *_simd.c is written once against this header and compiled once per
 * instruction set of the target (the Makefile passes -DSIMD_ISA_<name> and that set's
 * compiler flags): avx512, avx2 and portable on x86-64; neon and portable on ARM64. So the
 * paths cannot drift apart: they are the same lines of C, differing only in the vector
 * width SIMD_W, the register budget SIMD_REGS the tiles are sized for, and the few
 * operations below.
 *
 * Arithmetic uses GCC vector extensions (`a * b + c`, a scalar operand is broadcast); the
 * Makefile compiles these objects with -ffp-contract=fast, so multiply-adds become FMA
 * instructions where the set has them. Intrinsics appear only where C has no operator:
 * min, max, broadcast (`(vf){0} + s` would cost an addition per broadcast, since adding
 * zero is not an identity for -0.0), vf_halves, the low half of one vector with the high
 * half of another (one blend), and vf_gather, lanes loaded from scattered indices. The
 * portable path is plain GCC vectors of 4 floats, which the compiler lowers to whatever the
 * baseline has (SSE2 on x86-64, NEON on ARM64, scalar elsewhere). In a build made with
 * FS_AVX512_GENERIC (`make avx512-generic`, for the tests) the AVX-512 path is plain GCC
 * vectors too, of 16 floats, compiled for AVX2: its tile shapes, register budget and edges
 * are then checked on a CPU without AVX-512, its few intrinsics aside.
 *
 * SIMD_FN(name) gives each object's functions a name of its own (name_avx2, ...), and
 * SIMD_ISA the isa_t of the set being compiled.
 *
 * Double precision (the sink's rank-k update) has vd, a GCC vector of SIMD_WD = SIMD_W / 2
 * doubles (as wide as vf), with vd_load and vd_store, and vd_widen, half of a vf's lanes
 * as doubles; a scalar operand is broadcast. */
#ifndef FS_SIMD_H
#define FS_SIMD_H

#include "common/isa.h"

#include <stdint.h>
#include <string.h>

/* Kernels keep their accumulator arrays in registers by inlining tiles whose sizes are then
 * constants, and by unrolling the constant-count loops over them fully; each compiler has
 * its own spelling of the latter (clang 14's plain `unroll` left some of them as loops over
 * an array on the stack). */
#define INLINE static inline __attribute__((always_inline))
#if defined(__clang__)
#define UNROLL _Pragma("clang loop unroll(full)")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif

#if defined(SIMD_ISA_avx512) && !defined(FS_AVX512_GENERIC)
#include <immintrin.h>
#define SIMD_W 16
#define SIMD_REGS 32
#define SIMD_ISA ISA_AVX512
#define SIMD_FN(name) name##_avx512
typedef __m512 vf;
static inline vf vf_set1(float s)
{
    return _mm512_set1_ps(s);
}
static inline vf vf_max(vf a, vf b)
{
    return _mm512_max_ps(a, b);
}
static inline vf vf_min(vf a, vf b)
{
    return _mm512_min_ps(a, b);
}
static inline vf vf_halves(vf lo, vf hi)
{
    return _mm512_mask_blend_ps(0xFF00, lo, hi);
}
#elif defined(SIMD_ISA_avx2)
#include <immintrin.h>
#define SIMD_W 8
#define SIMD_REGS 16
#define SIMD_ISA ISA_AVX2
#define SIMD_FN(name) name##_avx2
typedef __m256 vf;
static inline vf vf_set1(float s)
{
    return _mm256_set1_ps(s);
}
static inline vf vf_max(vf a, vf b)
{
    return _mm256_max_ps(a, b);
}
static inline vf vf_min(vf a, vf b)
{
    return _mm256_min_ps(a, b);
}
static inline vf vf_halves(vf lo, vf hi)
{
    return _mm256_blend_ps(lo, hi, 0xF0);
}
#elif defined(SIMD_ISA_neon)
#include <arm_neon.h>
#define SIMD_W 4
#define SIMD_REGS 32
#define SIMD_ISA ISA_NEON
#define SIMD_FN(name) name##_neon
typedef float32x4_t vf;
static inline vf vf_set1(float s)
{
    return vdupq_n_f32(s);
}
static inline vf vf_max(vf a, vf b)
{
    return vmaxq_f32(a, b);
}
static inline vf vf_min(vf a, vf b)
{
    return vminq_f32(a, b);
}
static inline vf vf_halves(vf lo, vf hi)
{
    return vcombine_f32(vget_low_f32(lo), vget_high_f32(hi));
}
#elif defined(SIMD_ISA_portable) || defined(SIMD_ISA_avx512)
/* Plain GCC vectors: the portable path's 4 floats or, in a build made with
 * FS_AVX512_GENERIC (isa.c), the AVX-512 path's 16 on a CPU without AVX-512, to test its
 * tile shapes and edges there. */
#if defined(SIMD_ISA_portable)
#define SIMD_W 4
#define SIMD_REGS 16
#define SIMD_ISA ISA_PORTABLE
#define SIMD_FN(name) name##_portable
#else
#define SIMD_W 16
#define SIMD_REGS 32
#define SIMD_ISA ISA_AVX512
#define SIMD_FN(name) name##_avx512
#endif
typedef float vf __attribute__((vector_size(SIMD_W * sizeof(float))));
typedef int vi_ __attribute__((vector_size(SIMD_W * sizeof(int))));
static inline vf vf_set1(float s)
{
    return s - (vf){0}; /* s broadcast: subtracting +0 changes no value, -0 included */
}
static inline vf vf_max(vf a, vf b)
{
    vi_ m = a > b;
    return (vf) ((m & (vi_) a) | (~m & (vi_) b));
}
static inline vf vf_min(vf a, vf b)
{
    vi_ m = a < b;
    return (vf) ((m & (vi_) a) | (~m & (vi_) b));
}
static inline vf vf_halves(vf lo, vf hi)
{
#if SIMD_W == 4
    return __builtin_shufflevector(lo, hi, 0, 1, 6, 7);
#else
    return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 24, 25, 26, 27, 28, 29, 30, 31);
#endif
}
#else
#error "compile *_simd.c with -DSIMD_ISA_<portable|avx2|avx512|neon> (see the Makefile)"
#endif

#define SIMD_WD (SIMD_W / 2)
typedef double vd __attribute__((vector_size(SIMD_W * sizeof(float))));

/* Whole vectors from and to memory of any alignment (memcpy compiles to one unaligned
 * move): vf_load and vf_store on floats, vd_load and vd_store on doubles. */
#define SIMD_MEMORY_OPS(v, elem)                                                                   \
    static inline v v##_load(const elem *p)                                                        \
    {                                                                                              \
        v x;                                                                                       \
        memcpy(&x, p, sizeof x);                                                                   \
        return x;                                                                                  \
    }                                                                                              \
    static inline void v##_store(elem *p, v x)                                                     \
    {                                                                                              \
        memcpy(p, &x, sizeof x);                                                                   \
    }
SIMD_MEMORY_OPS(vf, float)
SIMD_MEMORY_OPS(vd, double)

/* Half h (0 or 1) of the SIMD_W floats of v, widened to a vd of doubles: how a kernel that
 * sums in float adds its sums to doubles. */
#if SIMD_WD == 8
#define SIMD_HALF_LANES(h)                                                                         \
    8 * (h), 8 * (h) + 1, 8 * (h) + 2, 8 * (h) + 3, 8 * (h) + 4, 8 * (h) + 5, 8 * (h) + 6,         \
        8 * (h) + 7
#elif SIMD_WD == 4
#define SIMD_HALF_LANES(h) 4 * (h), 4 * (h) + 1, 4 * (h) + 2, 4 * (h) + 3
#else
#define SIMD_HALF_LANES(h) 2 * (h), 2 * (h) + 1
#endif
#define vd_widen(v, h)                                                                             \
    __builtin_convertvector(__builtin_shufflevector(v, v, SIMD_HALF_LANES(h)), vd)

/* The first n (< SIMD_W) lanes, the rest zero: for the last vector of a row. */
static inline vf vf_load_part(const float *p, int n)
{
    vf v = {0};
    memcpy(&v, p, (size_t) n * sizeof(float));
    return v;
}

static inline void vf_store_part(float *p, vf v, int n)
{
    memcpy(p, &v, (size_t) n * sizeof(float));
}

/* base[index[0]], ..., base[index[SIMD_W - 1]]: the x86 sets have a gather instruction;
 * elsewhere the lanes are loaded one by one. */
static inline vf vf_gather(const float *base, const int32_t *index)
{
#if defined(SIMD_ISA_avx512) && !defined(FS_AVX512_GENERIC)
    return _mm512_i32gather_ps(_mm512_loadu_si512(index), base, 4);
#elif defined(SIMD_ISA_avx2)
    return _mm256_i32gather_ps(base, _mm256_loadu_si256((const __m256i *) index), 4);
#else
    float lanes[SIMD_W];
    for (int i = 0; i < SIMD_W; i++)
        lanes[i] = base[index[i]];
    return vf_load(lanes);
#endif
}

static inline vf vf_relu6(vf v)
{
    return vf_min(vf_max(v, (vf){0}), vf_set1(6.0f));
}

#endif
