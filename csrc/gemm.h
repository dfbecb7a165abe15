/* gemm.h -- row-major general matrix multiply, C = alpha * op(A) @ op(B) + beta * C,
 * in float (bn_sgemm) and double (bn_dgemm). op(A) is (M, K), op(B) is (K, N), C is (M, N).
 * Callers (mlp.c, the Cython bindings) validate shapes and leading dimensions; nothing here
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

/* The reference: three loops, K innermost, summing in the operand type. */
void bn_sgemm_ref(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k,
                  float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                  float beta, float *c, int64_t ldc);
void bn_dgemm_ref(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k,
                  double alpha, const double *a, int64_t lda, const double *b, int64_t ldb,
                  double beta, double *c, int64_t ldc);

#endif
