/* gemm_kernel_avx2.c -- AVX2+FMA micro-kernels: sgemm 6x16 and dgemm 6x8 (rows of C in
 * registers, B vectors broadcast-multiplied by A scalars); for thin products (small N) the
 * "cols" kernels sgemm 16x5 / dgemm 8x5 (columns of C in registers, transposed A read in
 * place) and the "rows" kernels sgemm 8x10 / dgemm 4x10 (A read in place along its rows);
 * and the transposing packers of full panels. The only file built with -mavx2 -mfma; it runs
 * only after cpu.c has seen the features. Contracts in cpu.h. */
#include "cpu.h"

#include <immintrin.h>
#include <math.h>

#if defined(_MSC_VER)
#define FORCE_INLINE static __forceinline
#else
#define FORCE_INLINE static inline __attribute__((always_inline))
#endif

/* ---- write-back helpers: one row of a full tile, or a partial tile through memory. Every
 * write-back of this file, vector or scalar, is c = alpha acc, then fma(beta, c, that):
 * a partial tile's or a thin kernel's edge has the bits of a full tile's lanes (fmaf is
 * one vfmadd here: -mfma, and no errno to set) ---- */

static inline void store_row_f32(float *c, __m256 lo, __m256 hi, __m256 va, float beta)
{
    lo = _mm256_mul_ps(va, lo);
    hi = _mm256_mul_ps(va, hi);
    if (beta != 0.0f) {
        __m256 vb = _mm256_set1_ps(beta);
        lo = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), lo);
        hi = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), hi);
    }
    _mm256_storeu_ps(c, lo);
    _mm256_storeu_ps(c + 8, hi);
}

static inline void store_row_f64(double *c, __m256d lo, __m256d hi, __m256d va, double beta)
{
    lo = _mm256_mul_pd(va, lo);
    hi = _mm256_mul_pd(va, hi);
    if (beta != 0.0) {
        __m256d vb = _mm256_set1_pd(beta);
        lo = _mm256_fmadd_pd(vb, _mm256_loadu_pd(c), lo);
        hi = _mm256_fmadd_pd(vb, _mm256_loadu_pd(c + 4), hi);
    }
    _mm256_storeu_pd(c, lo);
    _mm256_storeu_pd(c + 4, hi);
}

/* c[i, j] = t[i * ts + j] (+ beta * c[i, j]) for the m x n corner; t already holds alpha * acc */
static void store_partial_f32(float *c, int64_t ldc, const float *t, int64_t ts,
                              int64_t m, int64_t n, float beta)
{
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        const float *ti = t + i * ts;
        if (beta == 0.0f)
            for (int64_t j = 0; j < n; j++) ci[j] = ti[j];
        else
            for (int64_t j = 0; j < n; j++) ci[j] = fmaf(beta, ci[j], ti[j]);
    }
}

static void store_partial_f64(double *c, int64_t ldc, const double *t, int64_t ts,
                              int64_t m, int64_t n, double beta)
{
    for (int64_t i = 0; i < m; i++) {
        double *ci = c + i * ldc;
        const double *ti = t + i * ts;
        if (beta == 0.0)
            for (int64_t j = 0; j < n; j++) ci[j] = ti[j];
        else
            for (int64_t j = 0; j < n; j++) ci[j] = fma(beta, ci[j], ti[j]);
    }
}

/* ---- sgemm 6x16: 12 accumulators, per k step 2 loads of B and 6 broadcasts of A ---- */

void bn_sgemm_kernel_avx2_6x16(int64_t k, const float *pa, const float *pb, float *c,
                               int64_t ldc, int64_t m, int64_t n, float alpha, float beta)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int64_t i = 0; i < m; i++) _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    for (int64_t p = 0; p < k; p++) {
        __m256 b0 = _mm256_load_ps(pb), b1 = _mm256_load_ps(pb + 8), a;
        _mm_prefetch((const char *)(pa + 48), _MM_HINT_T0);
        a = _mm256_broadcast_ss(pa + 0);
        c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(pa + 1);
        c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(pa + 2);
        c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(pa + 3);
        c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(pa + 4);
        c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(pa + 5);
        c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
        pa += 6;
        pb += 16;
    }
    __m256 va = _mm256_set1_ps(alpha);
    if (m == 6 && n == 16) {
        store_row_f32(c + 0 * ldc, c00, c01, va, beta);
        store_row_f32(c + 1 * ldc, c10, c11, va, beta);
        store_row_f32(c + 2 * ldc, c20, c21, va, beta);
        store_row_f32(c + 3 * ldc, c30, c31, va, beta);
        store_row_f32(c + 4 * ldc, c40, c41, va, beta);
        store_row_f32(c + 5 * ldc, c50, c51, va, beta);
        return;
    }
    float t[6 * 16];
    store_row_f32(t + 0 * 16, c00, c01, va, 0.0f);
    store_row_f32(t + 1 * 16, c10, c11, va, 0.0f);
    store_row_f32(t + 2 * 16, c20, c21, va, 0.0f);
    store_row_f32(t + 3 * 16, c30, c31, va, 0.0f);
    store_row_f32(t + 4 * 16, c40, c41, va, 0.0f);
    store_row_f32(t + 5 * 16, c50, c51, va, 0.0f);
    store_partial_f32(c, ldc, t, 16, m, n, beta);
}

/* ---- dgemm 6x8: the same shape in doubles ---- */

void bn_dgemm_kernel_avx2_6x8(int64_t k, const double *pa, const double *pb, double *c,
                              int64_t ldc, int64_t m, int64_t n, double alpha, double beta)
{
    __m256d c00 = _mm256_setzero_pd(), c01 = _mm256_setzero_pd();
    __m256d c10 = _mm256_setzero_pd(), c11 = _mm256_setzero_pd();
    __m256d c20 = _mm256_setzero_pd(), c21 = _mm256_setzero_pd();
    __m256d c30 = _mm256_setzero_pd(), c31 = _mm256_setzero_pd();
    __m256d c40 = _mm256_setzero_pd(), c41 = _mm256_setzero_pd();
    __m256d c50 = _mm256_setzero_pd(), c51 = _mm256_setzero_pd();
    for (int64_t i = 0; i < m; i++) _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    for (int64_t p = 0; p < k; p++) {
        __m256d b0 = _mm256_load_pd(pb), b1 = _mm256_load_pd(pb + 4), a;
        _mm_prefetch((const char *)(pa + 48), _MM_HINT_T0);
        a = _mm256_broadcast_sd(pa + 0);
        c00 = _mm256_fmadd_pd(a, b0, c00); c01 = _mm256_fmadd_pd(a, b1, c01);
        a = _mm256_broadcast_sd(pa + 1);
        c10 = _mm256_fmadd_pd(a, b0, c10); c11 = _mm256_fmadd_pd(a, b1, c11);
        a = _mm256_broadcast_sd(pa + 2);
        c20 = _mm256_fmadd_pd(a, b0, c20); c21 = _mm256_fmadd_pd(a, b1, c21);
        a = _mm256_broadcast_sd(pa + 3);
        c30 = _mm256_fmadd_pd(a, b0, c30); c31 = _mm256_fmadd_pd(a, b1, c31);
        a = _mm256_broadcast_sd(pa + 4);
        c40 = _mm256_fmadd_pd(a, b0, c40); c41 = _mm256_fmadd_pd(a, b1, c41);
        a = _mm256_broadcast_sd(pa + 5);
        c50 = _mm256_fmadd_pd(a, b0, c50); c51 = _mm256_fmadd_pd(a, b1, c51);
        pa += 6;
        pb += 8;
    }
    __m256d va = _mm256_set1_pd(alpha);
    if (m == 6 && n == 8) {
        store_row_f64(c + 0 * ldc, c00, c01, va, beta);
        store_row_f64(c + 1 * ldc, c10, c11, va, beta);
        store_row_f64(c + 2 * ldc, c20, c21, va, beta);
        store_row_f64(c + 3 * ldc, c30, c31, va, beta);
        store_row_f64(c + 4 * ldc, c40, c41, va, beta);
        store_row_f64(c + 5 * ldc, c50, c51, va, beta);
        return;
    }
    double t[6 * 8];
    store_row_f64(t + 0 * 8, c00, c01, va, 0.0);
    store_row_f64(t + 1 * 8, c10, c11, va, 0.0);
    store_row_f64(t + 2 * 8, c20, c21, va, 0.0);
    store_row_f64(t + 3 * 8, c30, c31, va, 0.0);
    store_row_f64(t + 4 * 8, c40, c41, va, 0.0);
    store_row_f64(t + 5 * 8, c50, c51, va, 0.0);
    store_partial_f64(c, ldc, t, 8, m, n, beta);
}

/* ---- thin "cols" sgemm 16x5: 10 accumulators hold five columns of 16 rows; per k step 2
 * loads of A (in place, step sa) and 5 broadcasts of B. N = 10 fills two tiles exactly. ---- */

void bn_sgemm_kernel_avx2_cols_16x5(int64_t k, const float *a, int64_t sa, const float *pb,
                                    float *c, int64_t ldc, int64_t m, int64_t n, float alpha,
                                    float beta)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 2
#endif
    for (int64_t p = 0; p < k; p++) {
        __m256 a0 = _mm256_loadu_ps(a), a1 = _mm256_loadu_ps(a + 8), b;
        _mm_prefetch((const char *)(a + 8 * sa), _MM_HINT_T0);
        b = _mm256_broadcast_ss(pb + 0);
        c00 = _mm256_fmadd_ps(a0, b, c00); c01 = _mm256_fmadd_ps(a1, b, c01);
        b = _mm256_broadcast_ss(pb + 1);
        c10 = _mm256_fmadd_ps(a0, b, c10); c11 = _mm256_fmadd_ps(a1, b, c11);
        b = _mm256_broadcast_ss(pb + 2);
        c20 = _mm256_fmadd_ps(a0, b, c20); c21 = _mm256_fmadd_ps(a1, b, c21);
        b = _mm256_broadcast_ss(pb + 3);
        c30 = _mm256_fmadd_ps(a0, b, c30); c31 = _mm256_fmadd_ps(a1, b, c31);
        b = _mm256_broadcast_ss(pb + 4);
        c40 = _mm256_fmadd_ps(a0, b, c40); c41 = _mm256_fmadd_ps(a1, b, c41);
        a += sa;
        pb += 5;
    }
    /* t is the tile transposed: t[j * 16 + i] = alpha * C[i, j] */
    float t[5 * 16];
    __m256 va = _mm256_set1_ps(alpha);
    store_row_f32(t + 0 * 16, c00, c01, va, 0.0f);
    store_row_f32(t + 1 * 16, c10, c11, va, 0.0f);
    store_row_f32(t + 2 * 16, c20, c21, va, 0.0f);
    store_row_f32(t + 3 * 16, c30, c31, va, 0.0f);
    store_row_f32(t + 4 * 16, c40, c41, va, 0.0f);
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        if (beta == 0.0f)
            for (int64_t j = 0; j < n; j++) ci[j] = t[j * 16 + i];
        else
            for (int64_t j = 0; j < n; j++) ci[j] = fmaf(beta, ci[j], t[j * 16 + i]);
    }
}

/* ---- thin "cols" dgemm 8x5: the same in doubles ---- */

void bn_dgemm_kernel_avx2_cols_8x5(int64_t k, const double *a, int64_t sa, const double *pb,
                                   double *c, int64_t ldc, int64_t m, int64_t n, double alpha,
                                   double beta)
{
    __m256d c00 = _mm256_setzero_pd(), c01 = _mm256_setzero_pd();
    __m256d c10 = _mm256_setzero_pd(), c11 = _mm256_setzero_pd();
    __m256d c20 = _mm256_setzero_pd(), c21 = _mm256_setzero_pd();
    __m256d c30 = _mm256_setzero_pd(), c31 = _mm256_setzero_pd();
    __m256d c40 = _mm256_setzero_pd(), c41 = _mm256_setzero_pd();
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 2
#endif
    for (int64_t p = 0; p < k; p++) {
        __m256d a0 = _mm256_loadu_pd(a), a1 = _mm256_loadu_pd(a + 4), b;
        _mm_prefetch((const char *)(a + 8 * sa), _MM_HINT_T0);
        b = _mm256_broadcast_sd(pb + 0);
        c00 = _mm256_fmadd_pd(a0, b, c00); c01 = _mm256_fmadd_pd(a1, b, c01);
        b = _mm256_broadcast_sd(pb + 1);
        c10 = _mm256_fmadd_pd(a0, b, c10); c11 = _mm256_fmadd_pd(a1, b, c11);
        b = _mm256_broadcast_sd(pb + 2);
        c20 = _mm256_fmadd_pd(a0, b, c20); c21 = _mm256_fmadd_pd(a1, b, c21);
        b = _mm256_broadcast_sd(pb + 3);
        c30 = _mm256_fmadd_pd(a0, b, c30); c31 = _mm256_fmadd_pd(a1, b, c31);
        b = _mm256_broadcast_sd(pb + 4);
        c40 = _mm256_fmadd_pd(a0, b, c40); c41 = _mm256_fmadd_pd(a1, b, c41);
        a += sa;
        pb += 5;
    }
    double t[5 * 8];
    __m256d va = _mm256_set1_pd(alpha);
    store_row_f64(t + 0 * 8, c00, c01, va, 0.0);
    store_row_f64(t + 1 * 8, c10, c11, va, 0.0);
    store_row_f64(t + 2 * 8, c20, c21, va, 0.0);
    store_row_f64(t + 3 * 8, c30, c31, va, 0.0);
    store_row_f64(t + 4 * 8, c40, c41, va, 0.0);
    for (int64_t i = 0; i < m; i++) {
        double *ci = c + i * ldc;
        if (beta == 0.0)
            for (int64_t j = 0; j < n; j++) ci[j] = t[j * 8 + i];
        else
            for (int64_t j = 0; j < n; j++) ci[j] = fma(beta, ci[j], t[j * 8 + i]);
    }
}

/* ---- thin "rows" kernels for N <= 10 with A read in place along its rows: columns 0-7
 * (f32) / 0-7 in two vectors (f64) of each row in registers, and columns 8-9 of several rows
 * interleaved in one vector ([c(0,8) c(0,9) c(1,8) c(1,9) ...]) = a blend of the row
 * broadcasts times [b8 b9] repeated (one 64-bit / 128-bit broadcast), so N = 10 wastes no
 * lane. B's row p is at b + p * ldb (in place, or a padded copy). ---- */

/* [b[0] b[1]] repeated over a vector (one 64-bit broadcast load; the intrinsic takes the
 * address, so no double object is accessed from C) */
FORCE_INLINE __m256 pair_f32(const float *b)
{
    return _mm256_castpd_ps(_mm256_broadcast_sd((const double *)(const void *)b));
}

FORCE_INLINE __m256d pair_f64(const double *b)
{
    return _mm256_broadcast_pd((const __m128d *)b);
}

/* write back row r of the tile: columns 0-7 from lo (vector), 8.. from t8 (alpha applied) */
FORCE_INLINE void rows_store_f32(float *c, int64_t n, __m256 lo, const float *t8, __m256 va,
                                 float beta)
{
    if (n >= 8) {
        lo = _mm256_mul_ps(va, lo);
        if (beta != 0.0f) lo = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(c), lo);
        _mm256_storeu_ps(c, lo);
        for (int64_t j = 8; j < n; j++)
            c[j] = beta == 0.0f ? t8[j - 8] : fmaf(beta, c[j], t8[j - 8]);
        return;
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_mul_ps(va, lo));
    for (int64_t j = 0; j < n; j++) c[j] = beta == 0.0f ? t[j] : fmaf(beta, c[j], t[j]);
}

FORCE_INLINE void rows_8x10_f32(const int tail, int64_t k, const float *a, int64_t lda,
                                const float *pb, int64_t ldb, float *c, int64_t ldc, int64_t m, int64_t n,
                                float alpha, float beta)
{
    const float *r[8];
    for (int i = 0; i < 8; i++) r[i] = a + (i < m ? i : 0) * lda;
    __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(), c2 = _mm256_setzero_ps();
    __m256 c3 = _mm256_setzero_ps(), c4 = _mm256_setzero_ps(), c5 = _mm256_setzero_ps();
    __m256 c6 = _mm256_setzero_ps(), c7 = _mm256_setzero_ps();
    __m256 t03 = _mm256_setzero_ps(), t47 = _mm256_setzero_ps();   /* columns 8-9 */
    const int64_t d1 = r[1] - r[0], d2 = r[2] - r[0], d3 = r[3] - r[0];
    const int64_t d5 = r[5] - r[4], d6 = r[6] - r[4], d7 = r[7] - r[4];
    const float *a0 = r[0], *a4 = r[4];
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 2
#endif
    for (int64_t p = 0; p < k; p++, a0++, a4++) {
        __m256 b = _mm256_loadu_ps(pb), x0, x1, x2, x3;
        x0 = _mm256_broadcast_ss(a0);
        x1 = _mm256_broadcast_ss(a0 + d1);
        x2 = _mm256_broadcast_ss(a0 + d2);
        x3 = _mm256_broadcast_ss(a0 + d3);
        c0 = _mm256_fmadd_ps(x0, b, c0);
        c1 = _mm256_fmadd_ps(x1, b, c1);
        c2 = _mm256_fmadd_ps(x2, b, c2);
        c3 = _mm256_fmadd_ps(x3, b, c3);
        if (tail) {
            __m256 x01 = _mm256_blend_ps(x0, x1, 0x0C), x23 = _mm256_blend_ps(x2, x3, 0xC0);
            __m256 x = _mm256_blend_ps(x01, x23, 0xF0);   /* [x0 x0 x1 x1 x2 x2 x3 x3] */
            t03 = _mm256_fmadd_ps(x, pair_f32(pb + 8), t03);
        }
        x0 = _mm256_broadcast_ss(a4);
        x1 = _mm256_broadcast_ss(a4 + d5);
        x2 = _mm256_broadcast_ss(a4 + d6);
        x3 = _mm256_broadcast_ss(a4 + d7);
        c4 = _mm256_fmadd_ps(x0, b, c4);
        c5 = _mm256_fmadd_ps(x1, b, c5);
        c6 = _mm256_fmadd_ps(x2, b, c6);
        c7 = _mm256_fmadd_ps(x3, b, c7);
        if (tail) {
            __m256 x01 = _mm256_blend_ps(x0, x1, 0x0C), x23 = _mm256_blend_ps(x2, x3, 0xC0);
            __m256 x = _mm256_blend_ps(x01, x23, 0xF0);   /* [x0 x0 x1 x1 x2 x2 x3 x3] */
            t47 = _mm256_fmadd_ps(x, pair_f32(pb + 8), t47);
        }
        pb += ldb;
    }
    __m256 va = _mm256_set1_ps(alpha);
    if (tail && m == 8 && n == 10 && beta == 0.0f) {   /* the full tile of an N = 10 layer */
        _mm256_storeu_ps(c + 0 * ldc, _mm256_mul_ps(va, c0));
        _mm256_storeu_ps(c + 1 * ldc, _mm256_mul_ps(va, c1));
        _mm256_storeu_ps(c + 2 * ldc, _mm256_mul_ps(va, c2));
        _mm256_storeu_ps(c + 3 * ldc, _mm256_mul_ps(va, c3));
        _mm256_storeu_ps(c + 4 * ldc, _mm256_mul_ps(va, c4));
        _mm256_storeu_ps(c + 5 * ldc, _mm256_mul_ps(va, c5));
        _mm256_storeu_ps(c + 6 * ldc, _mm256_mul_ps(va, c6));
        _mm256_storeu_ps(c + 7 * ldc, _mm256_mul_ps(va, c7));
        __m256 u = _mm256_mul_ps(va, t03), w = _mm256_mul_ps(va, t47);
        __m128 u0 = _mm256_castps256_ps128(u), u1 = _mm256_extractf128_ps(u, 1);
        __m128 w0 = _mm256_castps256_ps128(w), w1 = _mm256_extractf128_ps(w, 1);
        _mm_storel_pi((__m64 *)(c + 0 * ldc + 8), u0);
        _mm_storeh_pi((__m64 *)(c + 1 * ldc + 8), u0);
        _mm_storel_pi((__m64 *)(c + 2 * ldc + 8), u1);
        _mm_storeh_pi((__m64 *)(c + 3 * ldc + 8), u1);
        _mm_storel_pi((__m64 *)(c + 4 * ldc + 8), w0);
        _mm_storeh_pi((__m64 *)(c + 5 * ldc + 8), w0);
        _mm_storel_pi((__m64 *)(c + 6 * ldc + 8), w1);
        _mm_storeh_pi((__m64 *)(c + 7 * ldc + 8), w1);
        return;
    }
    float t8[16];                                  /* t8[2 * i + (j - 8)] = alpha * C[i, j] */
    _mm256_storeu_ps(t8, _mm256_mul_ps(va, t03));
    _mm256_storeu_ps(t8 + 8, _mm256_mul_ps(va, t47));
    const __m256 rows[8] = {c0, c1, c2, c3, c4, c5, c6, c7};
    for (int64_t i = 0; i < m; i++) rows_store_f32(c + i * ldc, n, rows[i], t8 + 2 * i, va, beta);
}

void bn_sgemm_kernel_avx2_rows_8x10(int64_t k, const float *a, int64_t lda, const float *b,
                                    int64_t ldb, float *c, int64_t ldc, int64_t m, int64_t n,
                                    float alpha, float beta)
{
    if (n > 8) rows_8x10_f32(1, k, a, lda, b, ldb, c, ldc, m, n, alpha, beta);
    else rows_8x10_f32(0, k, a, lda, b, ldb, c, ldc, m, n, alpha, beta);
}

FORCE_INLINE void rows_store_f64(double *c, int64_t n, __m256d lo, __m256d hi,
                                 const double *t8, __m256d va, double beta)
{
    double t[10];
    _mm256_storeu_pd(t, _mm256_mul_pd(va, lo));
    _mm256_storeu_pd(t + 4, _mm256_mul_pd(va, hi));
    t[8] = t8[0];
    t[9] = t8[1];
    for (int64_t j = 0; j < n; j++) c[j] = beta == 0.0 ? t[j] : fma(beta, c[j], t[j]);
}

FORCE_INLINE void rows_4x10_f64(const int tail, int64_t k, const double *a, int64_t lda,
                                const double *pb, int64_t ldb, double *c, int64_t ldc, int64_t m, int64_t n,
                                double alpha, double beta)
{
    const double *r[4];
    for (int i = 0; i < 4; i++) r[i] = a + (i < m ? i : 0) * lda;
    __m256d c00 = _mm256_setzero_pd(), c01 = _mm256_setzero_pd();
    __m256d c10 = _mm256_setzero_pd(), c11 = _mm256_setzero_pd();
    __m256d c20 = _mm256_setzero_pd(), c21 = _mm256_setzero_pd();
    __m256d c30 = _mm256_setzero_pd(), c31 = _mm256_setzero_pd();
    __m256d t01 = _mm256_setzero_pd(), t23 = _mm256_setzero_pd();   /* columns 8-9 */
    const int64_t d1 = r[1] - r[0], d2 = r[2] - r[0], d3 = r[3] - r[0];
    const double *a0 = r[0];
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 2
#endif
    for (int64_t p = 0; p < k; p++, a0++) {
        __m256d b0 = _mm256_loadu_pd(pb), b1 = _mm256_loadu_pd(pb + 4), x0, x1;
        x0 = _mm256_broadcast_sd(a0);
        x1 = _mm256_broadcast_sd(a0 + d1);
        c00 = _mm256_fmadd_pd(x0, b0, c00); c01 = _mm256_fmadd_pd(x0, b1, c01);
        c10 = _mm256_fmadd_pd(x1, b0, c10); c11 = _mm256_fmadd_pd(x1, b1, c11);
        if (tail) t01 = _mm256_fmadd_pd(_mm256_blend_pd(x0, x1, 0xC), pair_f64(pb + 8), t01);
        x0 = _mm256_broadcast_sd(a0 + d2);
        x1 = _mm256_broadcast_sd(a0 + d3);
        c20 = _mm256_fmadd_pd(x0, b0, c20); c21 = _mm256_fmadd_pd(x0, b1, c21);
        c30 = _mm256_fmadd_pd(x1, b0, c30); c31 = _mm256_fmadd_pd(x1, b1, c31);
        if (tail) t23 = _mm256_fmadd_pd(_mm256_blend_pd(x0, x1, 0xC), pair_f64(pb + 8), t23);
        pb += ldb;
    }
    __m256d va = _mm256_set1_pd(alpha);
    if (tail && m == 4 && n == 10 && beta == 0.0) {    /* the full tile of an N = 10 layer */
        _mm256_storeu_pd(c + 0 * ldc, _mm256_mul_pd(va, c00));
        _mm256_storeu_pd(c + 0 * ldc + 4, _mm256_mul_pd(va, c01));
        _mm256_storeu_pd(c + 1 * ldc, _mm256_mul_pd(va, c10));
        _mm256_storeu_pd(c + 1 * ldc + 4, _mm256_mul_pd(va, c11));
        _mm256_storeu_pd(c + 2 * ldc, _mm256_mul_pd(va, c20));
        _mm256_storeu_pd(c + 2 * ldc + 4, _mm256_mul_pd(va, c21));
        _mm256_storeu_pd(c + 3 * ldc, _mm256_mul_pd(va, c30));
        _mm256_storeu_pd(c + 3 * ldc + 4, _mm256_mul_pd(va, c31));
        __m256d u = _mm256_mul_pd(va, t01), w = _mm256_mul_pd(va, t23);
        _mm_storeu_pd(c + 0 * ldc + 8, _mm256_castpd256_pd128(u));
        _mm_storeu_pd(c + 1 * ldc + 8, _mm256_extractf128_pd(u, 1));
        _mm_storeu_pd(c + 2 * ldc + 8, _mm256_castpd256_pd128(w));
        _mm_storeu_pd(c + 3 * ldc + 8, _mm256_extractf128_pd(w, 1));
        return;
    }
    double t8[8];                                  /* t8[2 * i + (j - 8)] = alpha * C[i, j] */
    _mm256_storeu_pd(t8, _mm256_mul_pd(va, t01));
    _mm256_storeu_pd(t8 + 4, _mm256_mul_pd(va, t23));
    const __m256d lo[4] = {c00, c10, c20, c30}, hi[4] = {c01, c11, c21, c31};
    for (int64_t i = 0; i < m; i++)
        rows_store_f64(c + i * ldc, n, lo[i], hi[i], t8 + 2 * i, va, beta);
}

void bn_dgemm_kernel_avx2_rows_4x10(int64_t k, const double *a, int64_t lda,
                                    const double *b, int64_t ldb, double *c, int64_t ldc,
                                    int64_t m, int64_t n, double alpha, double beta)
{
    if (n > 8) rows_4x10_f64(1, k, a, lda, b, ldb, c, ldc, m, n, alpha, beta);
    else rows_4x10_f64(0, k, a, lda, b, ldb, c, ldc, m, n, alpha, beta);
}

/* ---- packing of 6 lines contiguous along k (op(A) = A for the 6-row kernels) into
 * dst[p * 6 + r]: 8 (float) or 4 (double) steps at a time through in-register transposes. */

void bn_spack_avx2_6xk(const float *src, int64_t ld, int64_t kc, float *dst)
{
    const float *s0 = src, *s1 = src + ld, *s2 = src + 2 * ld, *s3 = src + 3 * ld;
    const float *s4 = src + 4 * ld, *s5 = src + 5 * ld;
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8, dst += 48) {
        __m256 r0 = _mm256_loadu_ps(s0 + p), r1 = _mm256_loadu_ps(s1 + p);
        __m256 r2 = _mm256_loadu_ps(s2 + p), r3 = _mm256_loadu_ps(s3 + p);
        __m256 r4 = _mm256_loadu_ps(s4 + p), r5 = _mm256_loadu_ps(s5 + p);
        __m256 u0 = _mm256_unpacklo_ps(r0, r1), u1 = _mm256_unpackhi_ps(r0, r1);
        __m256 u2 = _mm256_unpacklo_ps(r2, r3), u3 = _mm256_unpackhi_ps(r2, r3);
        /* v_q: rows 0-3 of step q (low half) and q + 4 (high half) */
        __m256 v0 = _mm256_shuffle_ps(u0, u2, 0x44), v1 = _mm256_shuffle_ps(u0, u2, 0xEE);
        __m256 v2 = _mm256_shuffle_ps(u1, u3, 0x44), v3 = _mm256_shuffle_ps(u1, u3, 0xEE);
        /* w: rows 4-5 of steps (0, 1 | 4, 5) and (2, 3 | 6, 7) */
        __m256 w0 = _mm256_unpacklo_ps(r4, r5), w1 = _mm256_unpackhi_ps(r4, r5);
        __m128 w0l = _mm256_castps256_ps128(w0), w0h = _mm256_extractf128_ps(w0, 1);
        __m128 w1l = _mm256_castps256_ps128(w1), w1h = _mm256_extractf128_ps(w1, 1);
        _mm_storeu_ps(dst + 0, _mm256_castps256_ps128(v0));
        _mm_storel_pi((__m64 *)(dst + 4), w0l);
        _mm_storeu_ps(dst + 6, _mm256_castps256_ps128(v1));
        _mm_storeh_pi((__m64 *)(dst + 10), w0l);
        _mm_storeu_ps(dst + 12, _mm256_castps256_ps128(v2));
        _mm_storel_pi((__m64 *)(dst + 16), w1l);
        _mm_storeu_ps(dst + 18, _mm256_castps256_ps128(v3));
        _mm_storeh_pi((__m64 *)(dst + 22), w1l);
        _mm_storeu_ps(dst + 24, _mm256_extractf128_ps(v0, 1));
        _mm_storel_pi((__m64 *)(dst + 28), w0h);
        _mm_storeu_ps(dst + 30, _mm256_extractf128_ps(v1, 1));
        _mm_storeh_pi((__m64 *)(dst + 34), w0h);
        _mm_storeu_ps(dst + 36, _mm256_extractf128_ps(v2, 1));
        _mm_storel_pi((__m64 *)(dst + 40), w1h);
        _mm_storeu_ps(dst + 42, _mm256_extractf128_ps(v3, 1));
        _mm_storeh_pi((__m64 *)(dst + 46), w1h);
    }
    for (; p < kc; p++, dst += 6) {
        dst[0] = s0[p]; dst[1] = s1[p]; dst[2] = s2[p];
        dst[3] = s3[p]; dst[4] = s4[p]; dst[5] = s5[p];
    }
}

void bn_dpack_avx2_6xk(const double *src, int64_t ld, int64_t kc, double *dst)
{
    const double *s0 = src, *s1 = src + ld, *s2 = src + 2 * ld, *s3 = src + 3 * ld;
    const double *s4 = src + 4 * ld, *s5 = src + 5 * ld;
    int64_t p = 0;
    for (; p + 4 <= kc; p += 4, dst += 24) {
        __m256d r0 = _mm256_loadu_pd(s0 + p), r1 = _mm256_loadu_pd(s1 + p);
        __m256d r2 = _mm256_loadu_pd(s2 + p), r3 = _mm256_loadu_pd(s3 + p);
        __m256d r4 = _mm256_loadu_pd(s4 + p), r5 = _mm256_loadu_pd(s5 + p);
        __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
        __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
        __m256d s01 = _mm256_unpacklo_pd(r4, r5), s23 = _mm256_unpackhi_pd(r4, r5);
        _mm256_storeu_pd(dst + 0, _mm256_permute2f128_pd(t0, t2, 0x20));
        _mm_storeu_pd(dst + 4, _mm256_castpd256_pd128(s01));
        _mm256_storeu_pd(dst + 6, _mm256_permute2f128_pd(t1, t3, 0x20));
        _mm_storeu_pd(dst + 10, _mm256_castpd256_pd128(s23));
        _mm256_storeu_pd(dst + 12, _mm256_permute2f128_pd(t0, t2, 0x31));
        _mm_storeu_pd(dst + 16, _mm256_extractf128_pd(s01, 1));
        _mm256_storeu_pd(dst + 18, _mm256_permute2f128_pd(t1, t3, 0x31));
        _mm_storeu_pd(dst + 22, _mm256_extractf128_pd(s23, 1));
    }
    for (; p < kc; p++, dst += 6) {
        dst[0] = s0[p]; dst[1] = s1[p]; dst[2] = s2[p];
        dst[3] = s3[p]; dst[4] = s4[p]; dst[5] = s5[p];
    }
}

/* ---- packing of 16 (float) / 8 (double) lines contiguous along k (op(B) = B^T for the
 * 6x16 / 6x8 kernels) into dst[p * NR + r], through 8x8 / 4x4 in-register transposes. */

/* rows r[0..7] (8 steps each) to dst[q * stride + 0..7], q < 8 */
static inline void transpose8_store_f32(const __m256 r[8], float *dst, int64_t stride)
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst + 0 * stride, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(dst + 1 * stride, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(dst + 2 * stride, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(dst + 3 * stride, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(dst + 4 * stride, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(dst + 5 * stride, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(dst + 6 * stride, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(dst + 7 * stride, _mm256_permute2f128_ps(s3, s7, 0x31));
}

/* nr (a multiple of 8) float lines into dst[p * nr + r], 8 lines at a time */
static void spack_lines(const float *src, int64_t ld, int64_t kc, float *dst, int nr)
{
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        for (int h = 0; h < nr / 8; h++) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (8 * h + i) * ld + p);
            transpose8_store_f32(r, dst + p * nr + 8 * h, nr);
        }
    }
    for (; p < kc; p++)
        for (int i = 0; i < nr; i++) dst[p * nr + i] = src[i * ld + p];
}

/* nr (a multiple of 4) double lines into dst[p * nr + r], 4 lines at a time */
static void dpack_lines(const double *src, int64_t ld, int64_t kc, double *dst, int nr)
{
    int64_t p = 0;
    for (; p + 4 <= kc; p += 4) {
        for (int h = 0; h < nr / 4; h++) {
            const double *s = src + 4 * h * ld + p;
            __m256d r0 = _mm256_loadu_pd(s), r1 = _mm256_loadu_pd(s + ld);
            __m256d r2 = _mm256_loadu_pd(s + 2 * ld), r3 = _mm256_loadu_pd(s + 3 * ld);
            __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
            __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
            double *d = dst + p * nr + 4 * h;
            _mm256_storeu_pd(d + 0 * nr, _mm256_permute2f128_pd(t0, t2, 0x20));
            _mm256_storeu_pd(d + 1 * nr, _mm256_permute2f128_pd(t1, t3, 0x20));
            _mm256_storeu_pd(d + 2 * nr, _mm256_permute2f128_pd(t0, t2, 0x31));
            _mm256_storeu_pd(d + 3 * nr, _mm256_permute2f128_pd(t1, t3, 0x31));
        }
    }
    for (; p < kc; p++)
        for (int i = 0; i < nr; i++) dst[p * nr + i] = src[i * ld + p];
}

/* the B packers of the AVX2 (NR 16 / 8) and AVX-512 (NR 32 / 16) kernels: plain AVX2 code */
void bn_spack_avx2_16xk(const float *src, int64_t ld, int64_t kc, float *dst)
{
    spack_lines(src, ld, kc, dst, 16);
}

void bn_spack_avx2_32xk(const float *src, int64_t ld, int64_t kc, float *dst)
{
    spack_lines(src, ld, kc, dst, 32);
}

void bn_dpack_avx2_8xk(const double *src, int64_t ld, int64_t kc, double *dst)
{
    dpack_lines(src, ld, kc, dst, 8);
}

void bn_dpack_avx2_16xk(const double *src, int64_t ld, int64_t kc, double *dst)
{
    dpack_lines(src, ld, kc, dst, 16);
}

/* ---- direct kernels for small products (cpu.h, bn_?gemm_direct): op(A) and B read where
 * they lie, nothing packed. A block is R rows (6, 4, 2 or 1) by V vectors of columns (2, 2,
 * 4, 8: 8 to 12 accumulators of AVX2's 16 registers, at least 8 independent chains to cover
 * the FMA latency); B's row p is loaded once for the R rows. Rows past the block's mb real
 * rows repeat its last row (read, computed, never stored); columns past n are masked in the
 * loads of B and C and in the stores, so nothing outside the operands is touched. Each
 * element of C is one chain of FMAs from zero over p = 0 .. k-1, then c = alpha acc (+ beta
 * c, fused as the packed kernels' full tiles do), then bias and relu as gemm.c's bias_act:
 * the packed path's bits. R, V and `full` (every vector inside n: no masks) are constants
 * at each call (always inlined), so unused accumulators vanish and the rest are named
 * registers. ---- */

/* the first `count` lanes (clamped to 0..8 or 0..4) */
static inline __m256i lanes_f32(int64_t count)
{
    const int c = count < 0 ? 0 : count > 8 ? 8 : (int)count;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline __m256i lanes_f64(int64_t count)
{
    const long long c = count < 0 ? 0 : count > 4 ? 4 : (long long)count;
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(c), _mm256_setr_epi64x(0, 1, 2, 3));
}

/* one vector of a row: c = alpha acc (+ beta c), then + bias and relu (z > 0 ? z : 0, NaN
 * to 0: MAXPS returns its second operand when either is NaN) */
FORCE_INLINE void direct_store_f32(float *c, __m256 acc, __m256 va, float beta, int full,
                                   __m256i mk, const float *bias, int relu)
{
    acc = _mm256_mul_ps(va, acc);
    if (beta != 0.0f)
        acc = _mm256_fmadd_ps(_mm256_set1_ps(beta),
                              full ? _mm256_loadu_ps(c) : _mm256_maskload_ps(c, mk), acc);
    if (bias) {
        acc = _mm256_add_ps(acc, full ? _mm256_loadu_ps(bias) : _mm256_maskload_ps(bias, mk));
        if (relu) acc = _mm256_max_ps(acc, _mm256_setzero_ps());
    }
    if (full) _mm256_storeu_ps(c, acc);
    else _mm256_maskstore_ps(c, mk, acc);
}

FORCE_INLINE void direct_store_f64(double *c, __m256d acc, __m256d va, double beta, int full,
                                   __m256i mk, const double *bias, int relu)
{
    acc = _mm256_mul_pd(va, acc);
    if (beta != 0.0)
        acc = _mm256_fmadd_pd(_mm256_set1_pd(beta),
                              full ? _mm256_loadu_pd(c) : _mm256_maskload_pd(c, mk), acc);
    if (bias) {
        acc = _mm256_add_pd(acc, full ? _mm256_loadu_pd(bias) : _mm256_maskload_pd(bias, mk));
        if (relu) acc = _mm256_max_pd(acc, _mm256_setzero_pd());
    }
    if (full) _mm256_storeu_pd(c, acc);
    else _mm256_maskstore_pd(c, mk, acc);
}

#define D_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define D_VECS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define D_GRID_V(v, X) X(0, v) X(1, v) X(2, v) X(3, v) X(4, v) X(5, v)
#define D_GRID(X)                                                                          \
    D_GRID_V(0, X) D_GRID_V(1, X) D_GRID_V(2, X) D_GRID_V(3, X) D_GRID_V(4, X)             \
    D_GRID_V(5, X) D_GRID_V(6, X) D_GRID_V(7, X)

/* the block of either type: REAL, with VEC (its register), SFX (its intrinsics' suffix:
 * ps, pd), LANES, BCAST (its broadcast) and LANES_MASK defined around it */
#define D_CAT2(x, y) x##y
#define D_CAT(x, y) D_CAT2(x, y)
#define D_SET0 D_CAT(_mm256_setzero_, SFX)()
#define DIRECT_BLOCK_BODY(REAL)                                                            \
    const REAL *ar0 = a, *ar1 = a + (mb > 1 ? 1 : mb - 1) * sa_i;                          \
    const REAL *ar2 = a + (mb > 2 ? 2 : mb - 1) * sa_i, *ar3 = a + (mb > 3 ? 3 : mb - 1) * sa_i; \
    const REAL *ar4 = a + (mb > 4 ? 4 : mb - 1) * sa_i, *ar5 = a + (mb > 5 ? 5 : mb - 1) * sa_i; \
    D_VECS(D_MASK)                                                                         \
    D_GRID(D_ZERO)                                                                         \
    for (int64_t p = 0, off = 0; p < k; p++, off += sa_p, b += ldb) {                      \
        D_VECS(D_LOAD)                                                                     \
        D_ROWS(D_ROW_FMAS)                                                                 \
    }                                                                                      \
    D_GRID(D_STORE)

#define D_MASK(v) const __m256i mk##v = LANES_MASK(cols - LANES * (v));
#define D_ZERO(r, v) VEC c##r##_##v = D_SET0;
/* row r's step, its A value broadcast just before its FMAs (one register for it: the
 * twelve accumulators, two vectors of B and it fit AVX2's sixteen without spilling) */
#define D_ROW_FMAS(r)                                                                      \
    if ((r) < R) {                                                                         \
        const VEC a##r = BCAST(ar##r + off);                                               \
        D_ROW_V(r, D_FMA)                                                                  \
    }
#define D_ROW_V(r, X) X(r, 0) X(r, 1) X(r, 2) X(r, 3) X(r, 4) X(r, 5) X(r, 6) X(r, 7)
#define D_LOAD(v)                                                                          \
    const VEC b##v = (v) >= V ? D_SET0                                                     \
                   : full ? D_CAT(_mm256_loadu_, SFX)(b + LANES * (v))                     \
                          : D_CAT(_mm256_maskload_, SFX)(b + LANES * (v), mk##v);
#define D_FMA(r, v)                                                                        \
    if ((r) < R && (v) < V) c##r##_##v = D_CAT(_mm256_fmadd_, SFX)(a##r, b##v, c##r##_##v);
#define D_STORE(r, v)                                                                      \
    if ((r) < R && (v) < V && (r) < mb && LANES * (v) < cols)                              \
        D_CAT(direct_store_, SFX)(c + (r) * ldc + LANES * (v), c##r##_##v, va, beta, full, \
                                  mk##v, bias ? bias + LANES * (v) : NULL, relu);

#define direct_store_ps direct_store_f32
#define direct_store_pd direct_store_f64

/* rows a[0 .. mb) (mb <= R) by columns [0, cols) of b and c (cols <= V LANES; full: cols
 * == V LANES) */
FORCE_INLINE void direct_block_f32(const int R, const int V, const int full, int64_t mb,
                                   int64_t k, const float *a, int64_t sa_i, int64_t sa_p,
                                   const float *b, int64_t ldb, float *c, int64_t ldc,
                                   int64_t cols, __m256 va, float beta, const float *bias,
                                   int relu)
{
#define VEC __m256
#define SFX ps
#define LANES 8
#define BCAST _mm256_broadcast_ss
#define LANES_MASK lanes_f32
    DIRECT_BLOCK_BODY(float)
#undef VEC
#undef SFX
#undef LANES
#undef BCAST
#undef LANES_MASK
}

FORCE_INLINE void direct_block_f64(const int R, const int V, const int full, int64_t mb,
                                   int64_t k, const double *a, int64_t sa_i, int64_t sa_p,
                                   const double *b, int64_t ldb, double *c, int64_t ldc,
                                   int64_t cols, __m256d va, double beta, const double *bias,
                                   int relu)
{
#define VEC __m256d
#define SFX pd
#define LANES 4
#define BCAST _mm256_broadcast_sd
#define LANES_MASK lanes_f64
    DIRECT_BLOCK_BODY(double)
#undef VEC
#undef SFX
#undef LANES
#undef BCAST
#undef LANES_MASK
}

/* rows [i, i + mb) in blocks of R rows by V vectors, across all n columns (the last block
 * of columns masked) */
#define DIRECT_ROWS(SUFFIX, LANES, RR, VV, I, MB)                                          \
    for (int64_t j = 0; j < n; j += (VV) * (LANES)) {                                      \
        const int64_t cols = n - j;                                                        \
        const float_or_double *bj = bias ? bias + j : NULL;                                \
        if (cols >= (VV) * (LANES))                                                        \
            direct_block_##SUFFIX(RR, VV, 1, MB, k, a + (I) * sa_i, sa_i, sa_p, b + j, ldb,\
                                  c + (I) * ldc + j, ldc, (VV) * (LANES), va, beta, bj,    \
                                  relu);                                                   \
        else                                                                               \
            direct_block_##SUFFIX(RR, VV, 0, MB, k, a + (I) * sa_i, sa_i, sa_p, b + j, ldb,\
                                  c + (I) * ldc + j, ldc, cols, va, beta, bj, relu);       \
    }

/* 6-row blocks (B's panel of 16 floats or 8 doubles walked down by them, in L1 across the
 * blocks), or all of them when m % 6 is 5; the one to four rows left: 4 rows by 2 vectors,
 * 2 by 4, 1 by 8 (B read once for them) */
#define DIRECT_KERNEL(SUFFIX, LANES)                                                       \
    const int64_t tiled = m % 6 == 5 ? m : m / 6 * 6, left = m - tiled;                    \
    for (int64_t j0 = 0; j0 < n; j0 += 2 * (LANES))                                        \
        for (int64_t i = 0; i < tiled; i += 6) {                                           \
            const int64_t cols = n - j0, mb = tiled - i < 6 ? tiled - i : 6;               \
            const float_or_double *bj = bias ? bias + j0 : NULL;                           \
            if (cols >= 2 * (LANES))                                                       \
                direct_block_##SUFFIX(6, 2, 1, mb, k, a + i * sa_i, sa_i, sa_p, b + j0,    \
                                      ldb, c + i * ldc + j0, ldc, 2 * (LANES), va, beta,   \
                                      bj, relu);                                           \
            else                                                                           \
                direct_block_##SUFFIX(6, 2, 0, mb, k, a + i * sa_i, sa_i, sa_p, b + j0,    \
                                      ldb, c + i * ldc + j0, ldc, cols, va, beta, bj,      \
                                      relu);                                               \
        }                                                                                  \
    if (left >= 3) {                                                                       \
        DIRECT_ROWS(SUFFIX, LANES, 4, 2, tiled, left)                                      \
    } else if (left == 2) {                                                                \
        DIRECT_ROWS(SUFFIX, LANES, 2, 4, tiled, 2)                                         \
    } else if (left == 1) {                                                                \
        DIRECT_ROWS(SUFFIX, LANES, 1, 8, tiled, 1)                                         \
    }

void bn_sgemm_direct_avx2(int64_t m, int64_t n, int64_t k, const float *a, int64_t sa_i,
                          int64_t sa_p, const float *b, int64_t ldb, float *c, int64_t ldc,
                          float alpha, float beta, const float *bias, int relu)
{
    typedef float float_or_double;
    const __m256 va = _mm256_set1_ps(alpha);
    DIRECT_KERNEL(f32, 8)
}

void bn_dgemm_direct_avx2(int64_t m, int64_t n, int64_t k, const double *a, int64_t sa_i,
                          int64_t sa_p, const double *b, int64_t ldb, double *c,
                          int64_t ldc, double alpha, double beta, const double *bias,
                          int relu)
{
    typedef double float_or_double;
    const __m256d va = _mm256_set1_pd(alpha);
    DIRECT_KERNEL(f64, 4)
}
