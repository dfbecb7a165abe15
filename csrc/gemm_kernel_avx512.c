/* gemm_kernel_avx512.c -- AVX-512 micro-kernels for the large (packed) path: sgemm 6x32 and
 * dgemm 6x16 (rows of C in two zmm registers each, B vectors times broadcast A scalars; edge
 * tiles through masked loads and stores), and the direct kernels for small products (8-row
 * tiles, and 1-4 row tiles for predictions). Packing of A and B panels is AVX2 code
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

/* ---- a few rows (one to four: a prediction's, or those left under the 8-row tiles): R
 * rows (4, 2 or 1) by S_V vectors of columns (4, 8, 8), B's row p loaded once for the R
 * rows, at least 8 independent chains to cover the FMA latency. Each element of C is the
 * same chain of FMAs from zero over p = 0 .. k-1 with the same write-back as in the 8-row
 * tiles, so the same bits; no row is computed twice. R and `full` (all vectors inside n:
 * no masks) are constants at each call (always inlined), so unused chains vanish and the
 * accumulators are named registers (an array of them was kept in memory by GCC). ---- */
#define S_V (R == 4 ? 4 : 8) /* vectors of columns per call for R rows */
#define SMALL_V8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define SMALL_INLINE static inline __attribute__((always_inline))

SMALL_INLINE void small_rows_f32(const int R, const int full, int64_t k, const float *a,
                                 int64_t sa_i, int64_t sa_p, const float *b, int64_t ldb, float *c,
                                 int64_t ldc, int64_t cols, __m512 va, float beta, const float *bias,
                                 int relu)
{
#define S_INIT(v)                                                                          \
    const __mmask16 mk##v = (__mmask16)lane_mask(cols - 16 * v, 16);                       \
    __m512 x##v = _mm512_setzero_ps(), y##v = x##v, z##v = x##v, w##v = x##v;
#define S_STEP(v)                                                                          \
    if (v < S_V) {                                                                         \
        const __m512 bv = full ? _mm512_loadu_ps(b + 16 * v) : _mm512_maskz_loadu_ps(mk##v, b + 16 * v);\
        x##v = _mm512_fmadd_ps(p0, bv, x##v);                                              \
        if (R > 1) y##v = _mm512_fmadd_ps(p1, bv, y##v);                                   \
        if (R > 2) z##v = _mm512_fmadd_ps(p2, bv, z##v);                                   \
        if (R > 2) w##v = _mm512_fmadd_ps(p3, bv, w##v);                                   \
    }
#define S_STORE(v)                                                                         \
    if (v < S_V && 16 * v < cols) {                                                        \
        const float *bv = bias ? bias + 16 * v : NULL;                                     \
        store_row1_f32(c + 16 * v, x##v, va, beta, mk##v, bv, relu);                   \
        if (R > 1) store_row1_f32(c + ldc + 16 * v, y##v, va, beta, mk##v, bv, relu);  \
        if (R > 2) store_row1_f32(c + 2 * ldc + 16 * v, z##v, va, beta, mk##v, bv, relu); \
        if (R > 2) store_row1_f32(c + 3 * ldc + 16 * v, w##v, va, beta, mk##v, bv, relu); \
    }
    SMALL_V8(S_INIT)
    for (int64_t p = 0; p < k; p++, b += ldb) {
        const float *ap = a + p * sa_p;
        const __m512 p0 = _mm512_set1_ps(ap[0]);
        const __m512 p1 = R > 1 ? _mm512_set1_ps(ap[sa_i]) : p0;
        const __m512 p2 = R > 2 ? _mm512_set1_ps(ap[2 * sa_i]) : p0;
        const __m512 p3 = R > 2 ? _mm512_set1_ps(ap[3 * sa_i]) : p0;
        SMALL_V8(S_STEP)
    }
    SMALL_V8(S_STORE)
#undef S_INIT
#undef S_STEP
#undef S_STORE
}

SMALL_INLINE void small_rows_f64(const int R, const int full, int64_t k, const double *a,
                                 int64_t sa_i, int64_t sa_p, const double *b, int64_t ldb, double *c,
                                 int64_t ldc, int64_t cols, __m512d va, double beta, const double *bias,
                                 int relu)
{
#define S_INIT(v)                                                                          \
    const __mmask8 mk##v = (__mmask8)lane_mask(cols - 8 * v, 8);                           \
    __m512d x##v = _mm512_setzero_pd(), y##v = x##v, z##v = x##v, w##v = x##v;
#define S_STEP(v)                                                                          \
    if (v < S_V) {                                                                         \
        const __m512d bv = full ? _mm512_loadu_pd(b + 8 * v) : _mm512_maskz_loadu_pd(mk##v, b + 8 * v);\
        x##v = _mm512_fmadd_pd(p0, bv, x##v);                                              \
        if (R > 1) y##v = _mm512_fmadd_pd(p1, bv, y##v);                                   \
        if (R > 2) z##v = _mm512_fmadd_pd(p2, bv, z##v);                                   \
        if (R > 2) w##v = _mm512_fmadd_pd(p3, bv, w##v);                                   \
    }
#define S_STORE(v)                                                                         \
    if (v < S_V && 8 * v < cols) {                                                        \
        const double *bv = bias ? bias + 8 * v : NULL;                                     \
        store_row1_f64(c + 8 * v, x##v, va, beta, mk##v, bv, relu);                   \
        if (R > 1) store_row1_f64(c + ldc + 8 * v, y##v, va, beta, mk##v, bv, relu);  \
        if (R > 2) store_row1_f64(c + 2 * ldc + 8 * v, z##v, va, beta, mk##v, bv, relu); \
        if (R > 2) store_row1_f64(c + 3 * ldc + 8 * v, w##v, va, beta, mk##v, bv, relu); \
    }
    SMALL_V8(S_INIT)
    for (int64_t p = 0; p < k; p++, b += ldb) {
        const double *ap = a + p * sa_p;
        const __m512d p0 = _mm512_set1_pd(ap[0]);
        const __m512d p1 = R > 1 ? _mm512_set1_pd(ap[sa_i]) : p0;
        const __m512d p2 = R > 2 ? _mm512_set1_pd(ap[2 * sa_i]) : p0;
        const __m512d p3 = R > 2 ? _mm512_set1_pd(ap[3 * sa_i]) : p0;
        SMALL_V8(S_STEP)
    }
    SMALL_V8(S_STORE)
#undef S_INIT
#undef S_STEP
#undef S_STORE
}

/* rows [i0, m) (fewer than BN_DIRECT_ROWS) four, two or one at a time (4 rows by 4
 * vectors, 2 or 1 by 8: B is read from L2 once per group, so 5 to 7 rows stay in one
 * 8-row tile, which reads it once); S_V vectors of LANES columns per call */
#define SMALL_CALL(SUFFIX, RR, LANES)                                                      \
    do {                                                                                   \
        const int R = RR;                                                                  \
        for (int64_t j = 0; j < n; j += S_V * LANES) {                                     \
            const int64_t cols = n - j;                                                    \
            if (cols >= S_V * LANES)                                                       \
                small_rows_##SUFFIX(RR, 1, k, a + i * sa_i, sa_i, sa_p, b + j, ldb,        \
                                    c + i * ldc + j, ldc, cols, va, beta,                  \
                                    bias ? bias + j : NULL, relu);                         \
            else                                                                           \
                small_rows_##SUFFIX(RR, 0, k, a + i * sa_i, sa_i, sa_p, b + j, ldb,        \
                                    c + i * ldc + j, ldc, cols, va, beta,                  \
                                    bias ? bias + j : NULL, relu);                         \
        }                                                                                  \
        i += RR;                                                                           \
    } while (0)
#define SMALL_ROWS(SUFFIX, LANES)                                                          \
    for (int64_t i = i0; i < m;) {                                                         \
        if (m - i >= 4) SMALL_CALL(SUFFIX, 4, LANES);                                      \
        else if (m - i >= 2) SMALL_CALL(SUFFIX, 2, LANES);                                 \
        else SMALL_CALL(SUFFIX, 1, LANES);                                                 \
    }

void bn_sgemm_direct_avx512(int64_t m, int64_t n, int64_t k, const float *a, int64_t sa_i,
                            int64_t sa_p, const float *b, int64_t ldb, float *c, int64_t ldc,
                            float alpha, float beta, const float *bias, int relu)
{
    const __m512 va = _mm512_set1_ps(alpha);
    /* rows from i0: SMALL_ROWS; 5 to 7 rows left take one 8-row tile */
    const int64_t i0 = m % BN_DIRECT_ROWS > 4 ? m : m / BN_DIRECT_ROWS * BN_DIRECT_ROWS;
    SMALL_ROWS(f32, 16)
    m = i0;
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
    /* rows from i0: SMALL_ROWS; 5 to 7 rows left take one 8-row tile */
    const int64_t i0 = m % BN_DIRECT_ROWS > 4 ? m : m / BN_DIRECT_ROWS * BN_DIRECT_ROWS;
    SMALL_ROWS(f64, 8)
    m = i0;
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
