/* cpu.h -- run-time CPU feature detection and the choice of GEMM micro-kernels.
 * Features are detected once; BARENET_DISABLE_CPU_FEATURES (comma-separated, case-
 * insensitive) =AVX512 falls back to the AVX2 kernels, =AVX2 (or FMA) to the generic ones,
 * and bn_cpu_force_kernel lets tests pick one. The micro-kernel contract is written here;
 * the blocking loops live in gemm.c. */
#ifndef BARENET_CPU_H
#define BARENET_CPU_H

#include <stdint.h>

/* Micro-kernel contract (one MR x NR tile of C, row stride ldc):
 *   c[0:m, 0:n] = alpha * pa @ pb + beta * c[0:m, 0:n],  1 <= m <= MR, 1 <= n <= NR,
 * where pa is an A micro-panel packed k-major (MR values per step, rows >= m zero-padded)
 * and pb a B micro-panel packed k-major (NR values per step, columns >= n zero-padded),
 * pb 64-byte aligned (kernels may use aligned vector loads on it). Edge tiles (m < MR or n < NR) are handled inside the kernel.
 * beta == 0 never reads c. k may be 0 (then c = beta * c, or 0 if beta == 0). */
typedef void (*bn_sgemm_ukernel)(int64_t k, const float *pa, const float *pb,
                                 float *c, int64_t ldc, int64_t m, int64_t n,
                                 float alpha, float beta);
typedef void (*bn_dgemm_ukernel)(int64_t k, const double *pa, const double *pb,
                                 double *c, int64_t ldc, int64_t m, int64_t n,
                                 double alpha, double beta);

/* Thin micro-kernels for small N (the output layer, N = 10 or 1): the whole K in one call,
 * the large operand op(A) read in place, never packed; only op(B) (small) may be packed.
 * _cols (MR x NR tile, columns of C in registers; for transposed A, whose op(A) columns are
 *   contiguous): c[0:m, 0:n] = alpha * sum_p a[p * sa + 0:MR] (x) pb[p * NR + 0:NR] + beta * c.
 *   All MR values a[p * sa + r] must be readable (rows >= m are computed and dropped).
 * _rows (MR x 10 tile, rows of C in registers; for plain A, rows a + r * lda, r < m):
 *   c[0:m, 0:n] = alpha * A[0:m, 0:k] @ B + beta * c, n <= 10, with B's row p at b + p * ldb:
 *   its 8 first values are read, and the 2 next ones too when n > 8 (so B is read in place
 *   when it has exactly 10 columns, else a zero-padded copy with ldb = 10 is passed). */
typedef void (*bn_sgemm_ukernel_cols)(int64_t k, const float *a, int64_t sa, const float *pb,
                                      float *c, int64_t ldc, int64_t m, int64_t n,
                                      float alpha, float beta);
typedef void (*bn_dgemm_ukernel_cols)(int64_t k, const double *a, int64_t sa, const double *pb,
                                      double *c, int64_t ldc, int64_t m, int64_t n,
                                      double alpha, double beta);
typedef void (*bn_sgemm_ukernel_rows)(int64_t k, const float *a, int64_t lda, const float *b,
                                      int64_t ldb, float *c, int64_t ldc, int64_t m, int64_t n,
                                      float alpha, float beta);
typedef void (*bn_dgemm_ukernel_rows)(int64_t k, const double *a, int64_t lda,
                                      const double *b, int64_t ldb, double *c, int64_t ldc,
                                      int64_t m, int64_t n, double alpha, double beta);

/* Packing of a full micro-panel whose lines are contiguous along k (MR rows of op(A) = A,
 * or NR columns of op(B) = B^T): dst[p * W + r] = src[r * ld + p], p < kc, r < W = MR or NR;
 * NULL where the generic C loop serves. */
typedef void (*bn_spack_lines)(const float *src, int64_t ld, int64_t kc, float *dst);
typedef void (*bn_dpack_lines)(const double *src, int64_t ld, int64_t kc, double *dst);

typedef struct { bn_sgemm_ukernel fn; int mr, nr; bn_spack_lines pack_a, pack_bt; } bn_sgemm_ukr;
typedef struct { bn_dgemm_ukernel fn; int mr, nr; bn_dpack_lines pack_a, pack_bt; } bn_dgemm_ukr;
typedef struct {
    bn_sgemm_ukernel_cols cols; int mr_cols, nr_cols;
    bn_sgemm_ukernel_rows rows; int mr_rows;
} bn_sgemm_thin;
typedef struct {
    bn_dgemm_ukernel_cols cols; int mr_cols, nr_cols;
    bn_dgemm_ukernel_rows rows; int mr_rows;
} bn_dgemm_thin;

/* Direct kernels for small products, nothing packed: the whole
 *   c[0:m, 0:n] = alpha * op(A) @ B + beta * c,  op(A)[i][p] = a[i * sa_i + p * sa_p],
 * B's row p at b + p * ldb (n values read in place). Each element of C is one chain of FMAs
 * over p = 0, 1, ..., k - 1 from zero, then alpha times it (plus beta c), exactly as the
 * packed kernel of the same set computes it for one K block: the same bits (gemm.c calls
 * it once per K block of a deeper product, beta 1 after the first). With bias
 * (n values, or NULL) the write-back then adds it, and applies relu if relu is nonzero, as
 * gemm.c's fused write-back does (same operations, same bits). */
typedef void (*bn_sgemm_direct)(int64_t m, int64_t n, int64_t k, const float *a, int64_t sa_i,
                                int64_t sa_p, const float *b, int64_t ldb, float *c,
                                int64_t ldc, float alpha, float beta, const float *bias,
                                int relu);
typedef void (*bn_dgemm_direct)(int64_t m, int64_t n, int64_t k, const double *a,
                                int64_t sa_i, int64_t sa_p, const double *b, int64_t ldb,
                                double *c, int64_t ldc, double alpha, double beta,
                                const double *bias, int relu);

/* One instruction set's kernels; thin and direct kernels are NULL when the set has none. */
typedef struct {
    const char *name;           /* "avx512", "avx2_fma" or "generic" */
    bn_sgemm_ukr sgemm;
    bn_dgemm_ukr dgemm;
    bn_sgemm_thin sgemm_thin;
    bn_dgemm_thin dgemm_thin;
    bn_sgemm_direct sgemm_direct;
    bn_dgemm_direct dgemm_direct;
} bn_kernel_set;

/* The kernels in use (chosen at first call from the CPU and the environment). */
const bn_kernel_set *bn_cpu_kernels(void);
/* Name of the kernels in use, for `barenet info`: "avx512", "avx2_fma" or "generic". */
const char *bn_cpu_kernel_name(void);
/* Force "generic", "avx2" (alias "avx2_fma") or "avx512"; NULL or "" returns to the automatic
 * choice. Returns 0, or -1 if the name is unknown or the CPU lacks the features (choice
 * unchanged). */
int bn_cpu_force_kernel(const char *name);
/* 1 if the CPU (and OS) supports AVX2 and FMA, ignoring the environment override. */
int bn_cpu_has_avx2_fma(void);
/* 1 if the CPU (and OS: opmask and ZMM state) supports AVX-512 F, DQ and VL besides AVX2+FMA. */
int bn_cpu_has_avx512(void);

/* The micro-kernels (gemm_kernel_generic.c, gemm_kernel_avx2.c, gemm_kernel_avx512.c). */
void bn_sgemm_kernel_generic_4x8(int64_t k, const float *pa, const float *pb, float *c,
                                 int64_t ldc, int64_t m, int64_t n, float alpha, float beta);
void bn_dgemm_kernel_generic_4x8(int64_t k, const double *pa, const double *pb, double *c,
                                 int64_t ldc, int64_t m, int64_t n, double alpha, double beta);
#if defined(__x86_64__) || defined(_M_X64)
void bn_sgemm_kernel_avx2_6x16(int64_t k, const float *pa, const float *pb, float *c,
                               int64_t ldc, int64_t m, int64_t n, float alpha, float beta);
void bn_dgemm_kernel_avx2_6x8(int64_t k, const double *pa, const double *pb, double *c,
                              int64_t ldc, int64_t m, int64_t n, double alpha, double beta);
void bn_sgemm_kernel_avx2_cols_16x5(int64_t k, const float *a, int64_t sa, const float *pb,
                                    float *c, int64_t ldc, int64_t m, int64_t n, float alpha,
                                    float beta);
void bn_dgemm_kernel_avx2_cols_8x5(int64_t k, const double *a, int64_t sa, const double *pb,
                                   double *c, int64_t ldc, int64_t m, int64_t n, double alpha,
                                   double beta);
void bn_spack_avx2_6xk(const float *src, int64_t ld, int64_t kc, float *dst);
void bn_dpack_avx2_6xk(const double *src, int64_t ld, int64_t kc, double *dst);
void bn_spack_avx2_16xk(const float *src, int64_t ld, int64_t kc, float *dst);
void bn_dpack_avx2_8xk(const double *src, int64_t ld, int64_t kc, double *dst);
/* the same transposing packers at the AVX-512 kernels' widths (plain AVX2 code) */
void bn_spack_avx2_32xk(const float *src, int64_t ld, int64_t kc, float *dst);
void bn_dpack_avx2_16xk(const double *src, int64_t ld, int64_t kc, double *dst);
void bn_sgemm_kernel_avx2_rows_8x10(int64_t k, const float *a, int64_t lda, const float *b,
                                    int64_t ldb, float *c, int64_t ldc, int64_t m, int64_t n,
                                    float alpha, float beta);
void bn_dgemm_kernel_avx2_rows_4x10(int64_t k, const double *a, int64_t lda,
                                    const double *b, int64_t ldb, double *c, int64_t ldc,
                                    int64_t m, int64_t n, double alpha, double beta);
void bn_sgemm_direct_avx2(int64_t m, int64_t n, int64_t k, const float *a, int64_t sa_i,
                          int64_t sa_p, const float *b, int64_t ldb, float *c, int64_t ldc,
                          float alpha, float beta, const float *bias, int relu);
void bn_dgemm_direct_avx2(int64_t m, int64_t n, int64_t k, const double *a, int64_t sa_i,
                          int64_t sa_p, const double *b, int64_t ldb, double *c,
                          int64_t ldc, double alpha, double beta, const double *bias,
                          int relu);
void bn_sgemm_kernel_avx512_6x32(int64_t k, const float *pa, const float *pb, float *c,
                                 int64_t ldc, int64_t m, int64_t n, float alpha, float beta);
void bn_dgemm_kernel_avx512_6x16(int64_t k, const double *pa, const double *pb, double *c,
                                 int64_t ldc, int64_t m, int64_t n, double alpha, double beta);
void bn_sgemm_direct_avx512(int64_t m, int64_t n, int64_t k, const float *a, int64_t sa_i,
                            int64_t sa_p, const float *b, int64_t ldb, float *c, int64_t ldc,
                            float alpha, float beta, const float *bias, int relu);
void bn_dgemm_direct_avx512(int64_t m, int64_t n, int64_t k, const double *a, int64_t sa_i,
                            int64_t sa_p, const double *b, int64_t ldb, double *c,
                            int64_t ldc, double alpha, double beta, const double *bias,
                            int relu);
#endif

#endif
