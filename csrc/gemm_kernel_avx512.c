/* gemm_kernel_avx512.c -- AVX-512 micro-kernels for the large (packed) path: sgemm 6x32 and
 * dgemm 6x16 (rows of C in two zmm registers each, B vectors times broadcast A scalars; edge
 * tiles through masked loads and stores), and the transposing packers of full B^T panels of
 * those widths. A panels (6 rows) use the AVX2 packers; thin products keep the AVX2 kernels.
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

/* ---- packing of 32 (float) / 16 (double) lines contiguous along k (op(B) = B^T) into
 * dst[p * NR + r], through 8x8 / 4x4 in-register transposes of 8 / 4 lines at a time. ---- */

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

void bn_spack_avx512_32xk(const float *src, int64_t ld, int64_t kc, float *dst)
{
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        for (int h = 0; h < 4; h++) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (8 * h + i) * ld + p);
            transpose8_store_f32(r, dst + p * 32 + 8 * h, 32);
        }
    }
    for (; p < kc; p++)
        for (int i = 0; i < 32; i++) dst[p * 32 + i] = src[i * ld + p];
}

void bn_dpack_avx512_16xk(const double *src, int64_t ld, int64_t kc, double *dst)
{
    int64_t p = 0;
    for (; p + 4 <= kc; p += 4) {
        for (int h = 0; h < 4; h++) {
            const double *s = src + 4 * h * ld + p;
            __m256d r0 = _mm256_loadu_pd(s), r1 = _mm256_loadu_pd(s + ld);
            __m256d r2 = _mm256_loadu_pd(s + 2 * ld), r3 = _mm256_loadu_pd(s + 3 * ld);
            __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
            __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
            double *d = dst + p * 16 + 4 * h;
            _mm256_storeu_pd(d + 0, _mm256_permute2f128_pd(t0, t2, 0x20));
            _mm256_storeu_pd(d + 16, _mm256_permute2f128_pd(t1, t3, 0x20));
            _mm256_storeu_pd(d + 32, _mm256_permute2f128_pd(t0, t2, 0x31));
            _mm256_storeu_pd(d + 48, _mm256_permute2f128_pd(t1, t3, 0x31));
        }
    }
    for (; p < kc; p++)
        for (int i = 0; i < 16; i++) dst[p * 16 + i] = src[i * ld + p];
}
