/* syrk.c -- see syrk.h. Hands the call to the object of syrk_simd.c compiled for the chosen
 * instruction set. */
#include "pca/syrk.h"
#include "pca/syrk_impl.h"

void syrk_centred_add(isa_t isa, int n, int b, const float *rows, const double *centre,
                      const double *extra, double *c, float *pack)
{
    switch (isa) {
#if defined(__x86_64__)
    case ISA_AVX512: syrk_centred_add_avx512(n, b, rows, centre, extra, c, pack); return;
    case ISA_AVX2: syrk_centred_add_avx2(n, b, rows, centre, extra, c, pack); return;
#elif defined(__aarch64__)
    case ISA_NEON: syrk_centred_add_neon(n, b, rows, centre, extra, c, pack); return;
#endif
    default: /* ISA_PORTABLE, the only set built everywhere */
        syrk_centred_add_portable(n, b, rows, centre, extra, c, pack);
        return;
    }
}

size_t syrk_pack_size(int n, int b)
{
    return (size_t) (n + SYRK_PANEL_MAX - 1) / SYRK_PANEL_MAX * SYRK_PANEL_MAX * (size_t) b;
}
