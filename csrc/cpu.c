/* cpu.c -- detects AVX2+FMA and AVX-512 once (compiler builtins, or cpuid, plus xgetbv for
 * the OS-saved register state) and picks the GEMM micro-kernels; the environment variable
 * BARENET_DISABLE_CPU_FEATURES and bn_cpu_force_kernel override the choice. Nothing here is
 * compiled with AVX flags. */
#include "cpu.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <immintrin.h>
#include <intrin.h>
#endif

static const bn_kernel_set generic_set = {
    "generic",
    {bn_sgemm_kernel_generic_4x8, 4, 8, 0, 0},
    {bn_dgemm_kernel_generic_4x8, 4, 8, 0, 0},
    {0, 0, 0, 0, 0},
    {0, 0, 0, 0, 0},
    0, /* no direct small-product kernels */
    0,
};

#if defined(__x86_64__) || defined(_M_X64)
static const bn_kernel_set avx2_set = {
    "avx2_fma",
    {bn_sgemm_kernel_avx2_6x16, 6, 16, bn_spack_avx2_6xk, bn_spack_avx2_16xk},
    {bn_dgemm_kernel_avx2_6x8, 6, 8, bn_dpack_avx2_6xk, bn_dpack_avx2_8xk},
    {bn_sgemm_kernel_avx2_cols_16x5, 16, 5, bn_sgemm_kernel_avx2_rows_8x10, 8},
    {bn_dgemm_kernel_avx2_cols_8x5, 8, 5, bn_dgemm_kernel_avx2_rows_4x10, 4},
    bn_sgemm_direct_avx2,
    bn_dgemm_direct_avx2,
};

/* AVX-512 for the large products; A panels (6 rows) and thin products stay AVX2 */
static const bn_kernel_set avx512_set = {
    "avx512",
    {bn_sgemm_kernel_avx512_6x32, 6, 32, bn_spack_avx2_6xk, bn_spack_avx2_32xk},
    {bn_dgemm_kernel_avx512_6x16, 6, 16, bn_dpack_avx2_6xk, bn_dpack_avx2_16xk},
    {bn_sgemm_kernel_avx2_cols_16x5, 16, 5, bn_sgemm_kernel_avx2_rows_8x10, 8},
    {bn_dgemm_kernel_avx2_cols_8x5, 8, 5, bn_dgemm_kernel_avx2_rows_4x10, 4},
    bn_sgemm_direct_avx512,
    bn_dgemm_direct_avx512,
};
#endif

static const bn_kernel_set *volatile chosen = 0;   /* set once; races only rewrite the same value */

int bn_cpu_has_avx2_fma(void)
{
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();   /* libgcc/compiler-rt also check that the OS saves YMM state */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#elif defined(_M_X64) && defined(_MSC_VER)
    int r[4];
    __cpuid(r, 1);
    int fma = (r[2] >> 12) & 1, osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1;
    if (!(fma && osxsave && avx)) return 0;
    if ((_xgetbv(0) & 6) != 6) return 0;           /* XMM and YMM state enabled by the OS */
    __cpuidex(r, 7, 0);
    return (r[1] >> 5) & 1;                         /* AVX2 */
#else
    return 0;
#endif
}

int bn_cpu_has_avx512(void)
{
    if (!bn_cpu_has_avx2_fma()) return 0;           /* also: the OS saves YMM state (OSXSAVE) */
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
    if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
          __builtin_cpu_supports("avx512vl")))
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & 0xE6) == 0xE6;                     /* XMM, YMM, opmask, ZMM0-15 and ZMM16-31 */
#elif defined(_M_X64) && defined(_MSC_VER)
    int r[4];
    __cpuidex(r, 7, 0);
    int f = (r[1] >> 16) & 1, dq = (r[1] >> 17) & 1, vl = (r[1] >> 31) & 1;
    return f && dq && vl && (_xgetbv(0) & 0xE6) == 0xE6;
#else
    return 0;
#endif
}

/* features listed in BARENET_DISABLE_CPU_FEATURES (comma-separated, any case) */
enum { NO_AVX2 = 1, NO_AVX512 = 2 };
static int env_disabled(void)
{
    const char *s = getenv("BARENET_DISABLE_CPU_FEATURES");
    int off = 0;
    if (!s) return 0;
    while (*s) {
        char tok[32];
        size_t len = 0;
        while (*s == ',' || *s == ' ') s++;
        while (*s && *s != ',' && *s != ' ') {
            if (len + 1 < sizeof tok) tok[len++] = (char)toupper((unsigned char)*s);
            s++;
        }
        tok[len] = '\0';
        if (!strcmp(tok, "AVX2") || !strcmp(tok, "FMA")) off |= NO_AVX2 | NO_AVX512;
        if (!strncmp(tok, "AVX512", 6)) off |= NO_AVX512;       /* AVX512, AVX512F, ... */
    }
    return off;
}

static const bn_kernel_set *automatic_choice(void)
{
#if defined(__x86_64__) || defined(_M_X64)
    const int off = env_disabled();
    if (!(off & NO_AVX512) && bn_cpu_has_avx512()) return &avx512_set;
    if (!(off & NO_AVX2) && bn_cpu_has_avx2_fma()) return &avx2_set;
#endif
    return &generic_set;
}

const bn_kernel_set *bn_cpu_kernels(void)
{
    const bn_kernel_set *k = chosen;
    if (!k) chosen = k = automatic_choice();
    return k;
}

const char *bn_cpu_kernel_name(void) { return bn_cpu_kernels()->name; }

int bn_cpu_force_kernel(const char *name)
{
    if (!name || !*name) {
        chosen = automatic_choice();
        return 0;
    }
    if (!strcmp(name, "generic")) {
        chosen = &generic_set;
        return 0;
    }
#if defined(__x86_64__) || defined(_M_X64)
    if ((!strcmp(name, "avx2") || !strcmp(name, "avx2_fma")) && bn_cpu_has_avx2_fma()) {
        chosen = &avx2_set;
        return 0;
    }
    if (!strcmp(name, "avx512") && bn_cpu_has_avx512()) {
        chosen = &avx512_set;
        return 0;
    }
#endif
    return -1;
}
