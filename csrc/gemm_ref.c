/* gemm_ref.c -- the naive GEMM: the oracle for every faster kernel and the fallback
 * for shapes not worth packing. Plain loops, no blocking, no threads. */
#include "gemm.h"

#define A_AT(i, p) (ta == BN_NO_TRANS ? a[(i) * lda + (p)] : a[(p) * lda + (i)])
#define B_AT(p, j) (tb == BN_NO_TRANS ? b[(p) * ldb + (j)] : b[(j) * ldb + (p)])

void bn_sgemm_ref(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k,
                  float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                  float beta, float *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int64_t p = 0; p < k; p++) acc += A_AT(i, p) * B_AT(p, j);
            float *cij = &c[i * ldc + j];
            *cij = beta == 0.0f ? alpha * acc : alpha * acc + beta * *cij;
        }
    }
}

void bn_dgemm_ref(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k,
                  double alpha, const double *a, int64_t lda, const double *b, int64_t ldb,
                  double beta, double *c, int64_t ldc)
{
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double acc = 0.0;
            for (int64_t p = 0; p < k; p++) acc += A_AT(i, p) * B_AT(p, j);
            double *cij = &c[i * ldc + j];
            *cij = beta == 0.0 ? alpha * acc : alpha * acc + beta * *cij;
        }
    }
}
