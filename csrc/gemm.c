/* gemm.c -- the GEMM entry points. This first version is a plain loop nest ordered so the
 * inner loop runs along contiguous memory; packing, blocking, micro-kernels and threads
 * replace it (see gemm.h for the contract, gemm_ref.c for the oracle). */
#include "gemm.h"

#define GEMM_BODY(T)                                                                        \
    for (int64_t i = 0; i < m; i++) {                                                       \
        T *ci = c + i * ldc;                                                                \
        if (beta == 0) for (int64_t j = 0; j < n; j++) ci[j] = 0;                           \
        else if (beta != 1) for (int64_t j = 0; j < n; j++) ci[j] *= beta;                  \
        if (tb == BN_NO_TRANS) {                                                            \
            for (int64_t p = 0; p < k; p++) {                                               \
                T aip = alpha * (ta == BN_NO_TRANS ? a[i * lda + p] : a[p * lda + i]);      \
                const T *bp = b + p * ldb;                                                  \
                for (int64_t j = 0; j < n; j++) ci[j] += aip * bp[j];                       \
            }                                                                               \
        } else {                                                                            \
            for (int64_t j = 0; j < n; j++) {                                               \
                const T *bj = b + j * ldb;                                                  \
                T acc = 0;                                                                  \
                if (ta == BN_NO_TRANS) {                                                    \
                    const T *ai = a + i * lda;                                              \
                    for (int64_t p = 0; p < k; p++) acc += ai[p] * bj[p];                   \
                } else {                                                                    \
                    for (int64_t p = 0; p < k; p++) acc += a[p * lda + i] * bj[p];          \
                }                                                                           \
                ci[j] += alpha * acc;                                                       \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
    return BN_OK;

int bn_sgemm(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k,
             float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
             float beta, float *c, int64_t ldc)
{
    GEMM_BODY(float)
}

int bn_dgemm(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k,
             double alpha, const double *a, int64_t lda, const double *b, int64_t ldb,
             double beta, double *c, int64_t ldc)
{
    GEMM_BODY(double)
}
