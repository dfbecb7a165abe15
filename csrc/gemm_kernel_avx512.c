/* gemm_kernel_avx512.c -- AVX-512 micro-kernels for the large (packed) path: sgemm 6x32 and
 * dgemm 6x16 (rows of C in two zmm registers each, B vectors times broadcast A scalars; edge
 * tiles through masked loads and stores). Packing of A and B panels is AVX2 code
 * (gemm_kernel_avx2.c, at these widths); thin products keep the AVX2 kernels.
 * The only file built with -mavx512f; it runs only after cpu.c has seen the features. */
#include "cpu.h"

#include <immintrin.h>

/* ---- write-back of one row: c[0:n] = alpha * acc (+ beta * c), lanes >= n untouched ---- */

static inline void store_row_f32(float *c, __m512 lo, __m512 hi, __m512 va, float beta,
                                 __mmask16 mlo, __mmask16 mhi)
{
    lo = _mm512_mul_ps(va, lo);
    hi = _mm512_mul_ps(va, hi);
    if (beta != 0.0f) {
        __m512 vb = _mm512_set1_ps(beta);
        lo = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mlo, c), lo);
        hi = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mhi, c + 16), hi);
    }
    _mm512_mask_storeu_ps(c, mlo, lo);
    _mm512_mask_storeu_ps(c + 16, mhi, hi);
}

static inline void store_row_f64(double *c, __m512d lo, __m512d hi, __m512d va, double beta,
                                 __mmask8 mlo, __mmask8 mhi)
{
    lo = _mm512_mul_pd(va, lo);
    hi = _mm512_mul_pd(va, hi);
    if (beta != 0.0) {
        __m512d vb = _mm512_set1_pd(beta);
        lo = _mm512_fmadd_pd(vb, _mm512_maskz_loadu_pd(mlo, c), lo);
        hi = _mm512_fmadd_pd(vb, _mm512_maskz_loadu_pd(mhi, c + 8), hi);
    }
    _mm512_mask_storeu_pd(c, mlo, lo);
    _mm512_mask_storeu_pd(c + 8, mhi, hi);
}

/* the first w of `lanes` lanes (w may exceed lanes or be <= 0) */
static inline unsigned lane_mask(int64_t w, int lanes)
{
    return w >= lanes ? (1u << lanes) - 1u : w <= 0 ? 0u : (1u << w) - 1u;
}

/* ---- sgemm 6x32: 12 accumulators, per k step 2 loads of B and 6 broadcasts of A ---- */

void bn_sgemm_kernel_avx512_6x32(int64_t k, const float *pa, const float *pb, float *c,
                                 int64_t ldc, int64_t m, int64_t n, float alpha, float beta)
{
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();
    __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
    __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();
    __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    for (int64_t i = 0; i < m; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 31), _MM_HINT_T0);
    }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 4
#endif
    for (int64_t p = 0; p < k; p++) {
        __m512 b0 = _mm512_load_ps(pb), b1 = _mm512_load_ps(pb + 16), a;
        _mm_prefetch((const char *)(pa + 96), _MM_HINT_T0);
        a = _mm512_set1_ps(pa[0]);
        c00 = _mm512_fmadd_ps(a, b0, c00); c01 = _mm512_fmadd_ps(a, b1, c01);
        a = _mm512_set1_ps(pa[1]);
        c10 = _mm512_fmadd_ps(a, b0, c10); c11 = _mm512_fmadd_ps(a, b1, c11);
        a = _mm512_set1_ps(pa[2]);
        c20 = _mm512_fmadd_ps(a, b0, c20); c21 = _mm512_fmadd_ps(a, b1, c21);
        a = _mm512_set1_ps(pa[3]);
        c30 = _mm512_fmadd_ps(a, b0, c30); c31 = _mm512_fmadd_ps(a, b1, c31);
        a = _mm512_set1_ps(pa[4]);
        c40 = _mm512_fmadd_ps(a, b0, c40); c41 = _mm512_fmadd_ps(a, b1, c41);
        a = _mm512_set1_ps(pa[5]);
        c50 = _mm512_fmadd_ps(a, b0, c50); c51 = _mm512_fmadd_ps(a, b1, c51);
        pa += 6;
        pb += 32;
    }
    const __m512 va = _mm512_set1_ps(alpha);
    const __mmask16 ml = (__mmask16)lane_mask(n, 16), mh = (__mmask16)lane_mask(n - 16, 16);
    store_row_f32(c + 0 * ldc, c00, c01, va, beta, ml, mh);
    if (m > 1) store_row_f32(c + 1 * ldc, c10, c11, va, beta, ml, mh);
    if (m > 2) store_row_f32(c + 2 * ldc, c20, c21, va, beta, ml, mh);
    if (m > 3) store_row_f32(c + 3 * ldc, c30, c31, va, beta, ml, mh);
    if (m > 4) store_row_f32(c + 4 * ldc, c40, c41, va, beta, ml, mh);
    if (m > 5) store_row_f32(c + 5 * ldc, c50, c51, va, beta, ml, mh);
}

/* ---- dgemm 6x16: the same shape in doubles ---- */

void bn_dgemm_kernel_avx512_6x16(int64_t k, const double *pa, const double *pb, double *c,
                                 int64_t ldc, int64_t m, int64_t n, double alpha, double beta)
{
    __m512d c00 = _mm512_setzero_pd(), c01 = _mm512_setzero_pd();
    __m512d c10 = _mm512_setzero_pd(), c11 = _mm512_setzero_pd();
    __m512d c20 = _mm512_setzero_pd(), c21 = _mm512_setzero_pd();
    __m512d c30 = _mm512_setzero_pd(), c31 = _mm512_setzero_pd();
    __m512d c40 = _mm512_setzero_pd(), c41 = _mm512_setzero_pd();
    __m512d c50 = _mm512_setzero_pd(), c51 = _mm512_setzero_pd();
    for (int64_t i = 0; i < m; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 15), _MM_HINT_T0);
    }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 4
#endif
    for (int64_t p = 0; p < k; p++) {
        __m512d b0 = _mm512_load_pd(pb), b1 = _mm512_load_pd(pb + 8), a;
        _mm_prefetch((const char *)(pa + 48), _MM_HINT_T0);
        a = _mm512_set1_pd(pa[0]);
        c00 = _mm512_fmadd_pd(a, b0, c00); c01 = _mm512_fmadd_pd(a, b1, c01);
        a = _mm512_set1_pd(pa[1]);
        c10 = _mm512_fmadd_pd(a, b0, c10); c11 = _mm512_fmadd_pd(a, b1, c11);
        a = _mm512_set1_pd(pa[2]);
        c20 = _mm512_fmadd_pd(a, b0, c20); c21 = _mm512_fmadd_pd(a, b1, c21);
        a = _mm512_set1_pd(pa[3]);
        c30 = _mm512_fmadd_pd(a, b0, c30); c31 = _mm512_fmadd_pd(a, b1, c31);
        a = _mm512_set1_pd(pa[4]);
        c40 = _mm512_fmadd_pd(a, b0, c40); c41 = _mm512_fmadd_pd(a, b1, c41);
        a = _mm512_set1_pd(pa[5]);
        c50 = _mm512_fmadd_pd(a, b0, c50); c51 = _mm512_fmadd_pd(a, b1, c51);
        pa += 6;
        pb += 16;
    }
    const __m512d va = _mm512_set1_pd(alpha);
    const __mmask8 ml = (__mmask8)lane_mask(n, 8), mh = (__mmask8)lane_mask(n - 8, 8);
    store_row_f64(c + 0 * ldc, c00, c01, va, beta, ml, mh);
    if (m > 1) store_row_f64(c + 1 * ldc, c10, c11, va, beta, ml, mh);
    if (m > 2) store_row_f64(c + 2 * ldc, c20, c21, va, beta, ml, mh);
    if (m > 3) store_row_f64(c + 3 * ldc, c30, c31, va, beta, ml, mh);
    if (m > 4) store_row_f64(c + 4 * ldc, c40, c41, va, beta, ml, mh);
    if (m > 5) store_row_f64(c + 5 * ldc, c50, c51, va, beta, ml, mh);
}
