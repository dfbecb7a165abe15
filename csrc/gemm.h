/* gemm.h -- row-major general matrix multiply, C = alpha * op(A) @ op(B) + beta * C,
 * in float (bn_sgemm) and double (bn_dgemm). op(A) is (M, K), op(B) is (K, N), C is (M, N).
 * Callers (layers.c, the Cython bindings) validate shapes and leading dimensions; nothing here
 * checks them. beta == 0 never reads C (NaN in C is overwritten). Returns 0, or BN_ENOMEM.
 * The naive bn_?gemm_ref stays forever as the oracle and the fallback for awkward shapes. */
#ifndef BARENET_GEMM_H
#define BARENET_GEMM_H

#include <stdint.h>

#define BN_OK 0
#define BN_ENOMEM 1

typedef enum { BN_NO_TRANS = 0, BN_TRANS = 1 } bn_trans;

int bn_sgemm(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k,
             float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
             float beta, float *c, int64_t ldc);
int bn_dgemm(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k,
             double alpha, const double *a, int64_t lda, const double *b, int64_t ldb,
             double beta, double *c, int64_t ldc);

/* Dense-layer forward in one pass (op N, N): Z = A @ B + bias, C = act(Z), with the bias and
 * the activation (ids and scalar forms in activations.h) applied in the write-back of each tile
 * while it is in cache. a (m, k), b (k, n), bias (n) or NULL, c (m, n); if z != NULL it
 * receives Z (m, n) too (z may not alias c). Equals bn_?gemm (alpha 1, beta 0) followed by
 * the elementwise pass, bit for bit. BN_ACT_SOFTMAX is row-wise, not fused: it acts as the
 * identity here (the layer code applies it to whole rows). Returns 0, or BN_ENOMEM. */
int bn_sgemm_bias_act(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                      const float *b, int64_t ldb, const float *bias, int32_t act,
                      float *c, int64_t ldc, float *z, int64_t ldz);
int bn_dgemm_bias_act(int64_t m, int64_t n, int64_t k, const double *a, int64_t lda,
                      const double *b, int64_t ldb, const double *bias, int32_t act,
                      double *c, int64_t ldc, double *z, int64_t ldz);

/* A weight gradient and its bias's in one pass over B (op B plain): C = alpha op(A) @ B +
 * beta C as bn_?gemm, and bsum (n) = the sums of B's columns over its k rows, each added in
 * row order from 0 (the bits of a plain loop down the rows), made from B's panels as the
 * product packs them instead of in a second pass over B. *summed is 1 when bsum was made;
 * 0 when the product took a path that packs no panels of B (few rows, few columns), and the
 * caller sums the columns itself. Returns 0, or BN_ENOMEM. */
int bn_sgemm_sum_b(bn_trans ta, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                   int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                   float *bsum, int *summed);
int bn_dgemm_sum_b(bn_trans ta, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                   int64_t lda, const double *b, int64_t ldb, double beta, double *c,
                   int64_t ldc, double *bsum, int *summed);

/* op(B) packed once for many products that share it (a recurrent layer's steps: 28 products
 * of 64 rows against the same 128 x 512 weights). The packed path copies op(B) into panels on
 * every call; bn_?gemm_pack_b makes those panels once for products of m rows with these
 * ta, tb, n, k, b and ldb, and bn_?gemm_pb is bn_?gemm reading them (pb NULL: bn_?gemm).
 * Products that would not read packed panels (the direct and thin paths read B in place)
 * make pack_b pack nothing and set *out NULL; with B packed once, the direct path keeps
 * only products of at most half the packed kernel's rows (gemm.c, direct_fits); a pb whose operands or layout differ from
 * the product's is ignored (B packed as usual). Same bits as bn_?gemm in every case. The
 * packed panels copy B: they are stale once B changes. Free with bn_gemm_packed_b_free
 * (NULL is fine). Returns 0, or BN_ENOMEM. */
typedef struct bn_packed_b bn_packed_b;
int bn_sgemm_pack_b(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k, const float *b,
                    int64_t ldb, bn_packed_b **out);
int bn_dgemm_pack_b(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k, const double *b,
                    int64_t ldb, bn_packed_b **out);
int bn_sgemm_pb(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k, float alpha,
                const float *a, int64_t lda, const float *b, int64_t ldb, const bn_packed_b *pb,
                float beta, float *c, int64_t ldc);
int bn_dgemm_pb(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k, double alpha,
                const double *a, int64_t lda, const double *b, int64_t ldb,
                const bn_packed_b *pb, double beta, double *c, int64_t ldc);
void bn_gemm_packed_b_free(bn_packed_b *p);

/* Threads: n > 0 sets barenet's thread count, n <= 0 returns to the default (the environment
 * variable BARENET_NUM_THREADS, else omp_get_max_threads()). The count in effect never exceeds
 * omp_get_max_threads(), so threadpoolctl / omp_set_num_threads limit barenet too; inside an
 * OpenMP parallel region it is 1 (a product called by a team's thread runs on it). Products
 * below a measured size run on one thread. Results are bit-identical for any thread count. */
void bn_set_num_threads(int n);
int bn_get_num_threads(void);

/* Frees the calling thread's packing buffers (they are otherwise kept for reuse). */
void bn_gemm_free_buffers(void);

/* The reference: three loops, K innermost, summing in the operand type. */
void bn_sgemm_ref(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k,
                  float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                  float beta, float *c, int64_t ldc);
void bn_dgemm_ref(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k,
                  double alpha, const double *a, int64_t lda, const double *b, int64_t ldb,
                  double beta, double *c, int64_t ldc);

#endif
