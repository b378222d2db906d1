/* syrk_impl.h -- what syrk.c and the per-instruction-set objects of syrk_simd.c share (not
 * for callers of syrk.h).
 *
 * syrk_simd.c, compiled once per instruction set, defines one syrk_centred_add_<isa> each;
 * syrk.c hands the caller's choice to the right one. */
#ifndef FS_SYRK_IMPL_H
#define FS_SYRK_IMPL_H

/* Columns are packed in panels of at most this many (zero-padded): syrk_pack_size
 * allows for the widest. */
#define SYRK_PANEL_MAX 16

void syrk_centred_add_portable(int n, int b, const float *rows, const double *centre,
                               const double *extra, double *c, float *pack);
#if defined(__x86_64__)
void syrk_centred_add_avx2(int n, int b, const float *rows, const double *centre,
                           const double *extra, double *c, float *pack);
void syrk_centred_add_avx512(int n, int b, const float *rows, const double *centre,
                             const double *extra, double *c, float *pack);
#elif defined(__aarch64__)
void syrk_centred_add_neon(int n, int b, const float *rows, const double *centre,
                           const double *extra, double *c, float *pack);
#endif

#endif
