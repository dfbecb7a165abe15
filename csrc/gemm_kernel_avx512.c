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

/* ---- direct kernels for small products (cpu.h, bn_?gemm_direct): 8x32 (float) and 8x16
 * (double) tiles with op(A) and B read where they lie. 16 accumulators: AVX-512 has 32
 * registers. Rows past m repeat the last row (read, computed, never stored); columns past n
 * are masked in the loads of B and the stores of C, so nothing outside the operands is
 * touched. Tiles walk down a panel of B's columns, which stays in L1 across them. ---- */

#define BN_DIRECT_ROWS 8

/* the direct kernels' write-back: c = alpha acc (+ beta c), then, when bias is given, plus
 * bias and relu if asked: the operations of gemm.c's bias_act in the same order, so the
 * same bits, done while the row is still in registers */
static inline __m512 epilogue_f32(__m512 v, const float *bias, int relu, __mmask16 m)
{
    if (bias) {
        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias));
        if (relu) v = _mm512_max_ps(v, _mm512_setzero_ps()); /* z > 0 ? z : 0, NaN to 0 */
    }
    return v;
}

static inline __m512d epilogue_f64(__m512d v, const double *bias, int relu, __mmask8 m)
{
    if (bias) {
        v = _mm512_add_pd(v, _mm512_maskz_loadu_pd(m, bias));
        if (relu) v = _mm512_max_pd(v, _mm512_setzero_pd());
    }
    return v;
}

/* a0..a7: the tile's rows of op(A), rows past m repeating the last */
#define DIRECT_ROW_POINTERS(REAL)                                                         \
    const REAL *a0, *a1, *a2, *a3, *a4, *a5, *a6, *a7;                                    \
    {                                                                                     \
        const REAL *ar[BN_DIRECT_ROWS];                                                   \
        for (int r = 0; r < BN_DIRECT_ROWS; r++)                                          \
            ar[r] = a + (i + (r < mb ? r : mb - 1)) * sa_i;                               \
        a0 = ar[0], a1 = ar[1], a2 = ar[2], a3 = ar[3];                                   \
        a4 = ar[4], a5 = ar[5], a6 = ar[6], a7 = ar[7];                                   \
    }

/* one row's step: acc_r0/acc_r1 += a_r[p] * (b0, b1) */
#define DIRECT_STEP(SET1, FMA, r)                                                         \
    do {                                                                                  \
        const __typeof__(b0) ap = SET1(a##r[off]);                                        \
        c##r##0 = FMA(ap, b0, c##r##0);                                                   \
        c##r##1 = FMA(ap, b1, c##r##1);                                                   \
    } while (0)

/* the 8-row tile of either type: REAL, VEC (its register), its intrinsics, the row store,
 * LANES per vector; two vectors per row */
#define DIRECT_TILE(REAL, VEC, SET1, FMA, ZERO, LOADZ, STORE_ROW, LANES)                  \
    DIRECT_ROW_POINTERS(REAL);                                                            \
    VEC c00 = ZERO(), c01 = ZERO(), c10 = ZERO(), c11 = ZERO();                           \
    VEC c20 = ZERO(), c21 = ZERO(), c30 = ZERO(), c31 = ZERO();                           \
    VEC c40 = ZERO(), c41 = ZERO(), c50 = ZERO(), c51 = ZERO();                           \
    VEC c60 = ZERO(), c61 = ZERO(), c70 = ZERO(), c71 = ZERO();                           \
    const REAL *bp = b + j;                                                               \
    for (int64_t p = 0, off = 0; p < k; p++, off += sa_p, bp += ldb) {                    \
        const VEC b0 = LOADZ(ml, bp), b1 = LOADZ(mh, bp + LANES);                         \
        DIRECT_STEP(SET1, FMA, 0);                                                        \
        DIRECT_STEP(SET1, FMA, 1);                                                        \
        DIRECT_STEP(SET1, FMA, 2);                                                        \
        DIRECT_STEP(SET1, FMA, 3);                                                        \
        DIRECT_STEP(SET1, FMA, 4);                                                        \
        DIRECT_STEP(SET1, FMA, 5);                                                        \
        DIRECT_STEP(SET1, FMA, 6);                                                        \
        DIRECT_STEP(SET1, FMA, 7);                                                        \
    }                                                                                     \
    REAL *ci = c + i * ldc + j;                                                           \
    STORE_ROW(ci, c00, c01, va, beta, ml, mh, bj, relu);                                  \
    if (mb > 1) STORE_ROW(ci + ldc, c10, c11, va, beta, ml, mh, bj, relu);                \
    if (mb > 2) STORE_ROW(ci + 2 * ldc, c20, c21, va, beta, ml, mh, bj, relu);            \
    if (mb > 3) STORE_ROW(ci + 3 * ldc, c30, c31, va, beta, ml, mh, bj, relu);            \
    if (mb > 4) STORE_ROW(ci + 4 * ldc, c40, c41, va, beta, ml, mh, bj, relu);            \
    if (mb > 5) STORE_ROW(ci + 5 * ldc, c50, c51, va, beta, ml, mh, bj, relu);            \
    if (mb > 6) STORE_ROW(ci + 6 * ldc, c60, c61, va, beta, ml, mh, bj, relu);            \
    if (mb > 7) STORE_ROW(ci + 7 * ldc, c70, c71, va, beta, ml, mh, bj, relu)

/* the same with one vector per row, for a last panel of at most LANES columns */
#define DIRECT_STEP1(SET1, FMA, r) c##r##0 = FMA(SET1(a##r[off]), b0, c##r##0)

#define DIRECT_TILE1(REAL, VEC, SET1, FMA, ZERO, LOADZ, STORE_ROW1)                       \
    DIRECT_ROW_POINTERS(REAL);                                                            \
    VEC c00 = ZERO(), c10 = ZERO(), c20 = ZERO(), c30 = ZERO();                           \
    VEC c40 = ZERO(), c50 = ZERO(), c60 = ZERO(), c70 = ZERO();                           \
    const REAL *bp = b + j;                                                               \
    for (int64_t p = 0, off = 0; p < k; p++, off += sa_p, bp += ldb) {                    \
        const VEC b0 = LOADZ(ml, bp);                                                     \
        DIRECT_STEP1(SET1, FMA, 0);                                                       \
        DIRECT_STEP1(SET1, FMA, 1);                                                       \
        DIRECT_STEP1(SET1, FMA, 2);                                                       \
        DIRECT_STEP1(SET1, FMA, 3);                                                       \
        DIRECT_STEP1(SET1, FMA, 4);                                                       \
        DIRECT_STEP1(SET1, FMA, 5);                                                       \
        DIRECT_STEP1(SET1, FMA, 6);                                                       \
        DIRECT_STEP1(SET1, FMA, 7);                                                       \
    }                                                                                     \
    REAL *ci = c + i * ldc + j;                                                           \
    STORE_ROW1(ci, c00, va, beta, ml, bj, relu);                                          \
    if (mb > 1) STORE_ROW1(ci + ldc, c10, va, beta, ml, bj, relu);                        \
    if (mb > 2) STORE_ROW1(ci + 2 * ldc, c20, va, beta, ml, bj, relu);                    \
    if (mb > 3) STORE_ROW1(ci + 3 * ldc, c30, va, beta, ml, bj, relu);                    \
    if (mb > 4) STORE_ROW1(ci + 4 * ldc, c40, va, beta, ml, bj, relu);                    \
    if (mb > 5) STORE_ROW1(ci + 5 * ldc, c50, va, beta, ml, bj, relu);                    \
    if (mb > 6) STORE_ROW1(ci + 6 * ldc, c60, va, beta, ml, bj, relu);                    \
    if (mb > 7) STORE_ROW1(ci + 7 * ldc, c70, va, beta, ml, bj, relu)

static inline void store_row1_f32(float *c, __m512 acc, __m512 va, float beta, __mmask16 m,
                                  const float *bias, int relu)
{
    acc = _mm512_mul_ps(va, acc);
    if (beta != 0.0f)
        acc = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m, c), acc);
    _mm512_mask_storeu_ps(c, m, epilogue_f32(acc, bias, relu, m));
}

static inline void store_row1_f64(double *c, __m512d acc, __m512d va, double beta, __mmask8 m,
                                  const double *bias, int relu)
{
    acc = _mm512_mul_pd(va, acc);
    if (beta != 0.0)
        acc = _mm512_fmadd_pd(_mm512_set1_pd(beta), _mm512_maskz_loadu_pd(m, c), acc);
    _mm512_mask_storeu_pd(c, m, epilogue_f64(acc, bias, relu, m));
}

/* both vectors of a row of the wide tile */
static inline void store_row2_f32(float *c, __m512 lo, __m512 hi, __m512 va, float beta,
                                  __mmask16 ml, __mmask16 mh, const float *bias, int relu)
{
    store_row1_f32(c, lo, va, beta, ml, bias, relu);
    store_row1_f32(c + 16, hi, va, beta, mh, bias ? bias + 16 : NULL, relu);
}

static inline void store_row2_f64(double *c, __m512d lo, __m512d hi, __m512d va, double beta,
                                  __mmask8 ml, __mmask8 mh, const double *bias, int relu)
{
    store_row1_f64(c, lo, va, beta, ml, bias, relu);
    store_row1_f64(c + 8, hi, va, beta, mh, bias ? bias + 8 : NULL, relu);
}

void bn_sgemm_direct_avx512(int64_t m, int64_t n, int64_t k, const float *a, int64_t sa_i,
                            int64_t sa_p, const float *b, int64_t ldb, float *c, int64_t ldc,
                            float alpha, float beta, const float *bias, int relu)
{
    const __m512 va = _mm512_set1_ps(alpha);
    for (int64_t j = 0; j < n; j += 32) {
        const float *bj = bias ? bias + j : NULL;
        const __mmask16 ml = (__mmask16)lane_mask(n - j, 16);
        const __mmask16 mh = (__mmask16)lane_mask(n - j - 16, 16);
        for (int64_t i = 0; i < m; i += BN_DIRECT_ROWS) {
            const int64_t mb = m - i < BN_DIRECT_ROWS ? m - i : BN_DIRECT_ROWS;
            if (n - j <= 16) {
                DIRECT_TILE1(float, __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_setzero_ps,
                             _mm512_maskz_loadu_ps, store_row1_f32);
            } else {
                DIRECT_TILE(float, __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_setzero_ps,
                            _mm512_maskz_loadu_ps, store_row2_f32, 16);
            }
        }
    }
}

void bn_dgemm_direct_avx512(int64_t m, int64_t n, int64_t k, const double *a, int64_t sa_i,
                            int64_t sa_p, const double *b, int64_t ldb, double *c,
                            int64_t ldc, double alpha, double beta, const double *bias,
                            int relu)
{
    const __m512d va = _mm512_set1_pd(alpha);
    for (int64_t j = 0; j < n; j += 16) {
        const double *bj = bias ? bias + j : NULL;
        const __mmask8 ml = (__mmask8)lane_mask(n - j, 8);
        const __mmask8 mh = (__mmask8)lane_mask(n - j - 8, 8);
        for (int64_t i = 0; i < m; i += BN_DIRECT_ROWS) {
            const int64_t mb = m - i < BN_DIRECT_ROWS ? m - i : BN_DIRECT_ROWS;
            if (n - j <= 8) {
                DIRECT_TILE1(double, __m512d, _mm512_set1_pd, _mm512_fmadd_pd,
                             _mm512_setzero_pd, _mm512_maskz_loadu_pd, store_row1_f64);
            } else {
                DIRECT_TILE(double, __m512d, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_setzero_pd,
                            _mm512_maskz_loadu_pd, store_row2_f64, 8);
            }
        }
    }
}
