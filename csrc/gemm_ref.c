/* gemm_ref.c -- the naive GEMM: the oracle for every faster kernel and the fallback
 * for shapes not worth packing. Plain loops, no blocking, no threads. Written once for
 * both precisions (precision.h): bn_dgemm_ref and bn_sgemm_ref. */
#ifndef REAL
#include "gemm.h"

#define A_AT(i, p) (ta == BN_NO_TRANS ? a[(i) * lda + (p)] : a[(p) * lda + (i)])
#define B_AT(p, j) (tb == BN_NO_TRANS ? b[(p) * ldb + (j)] : b[(j) * ldb + (p)])

#define BN_PRECISION_FILE "gemm_ref.c"
#include "precision.h"

#else /* ---- per precision ---- */

void GEMM_REF(bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k, REAL alpha,
              const REAL *a, int64_t lda, const REAL *b, int64_t ldb, REAL beta, REAL *c,
              int64_t ldc)
{
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            REAL acc = (REAL)0;
            for (int64_t p = 0; p < k; p++) acc += A_AT(i, p) * B_AT(p, j);
            REAL *cij = &c[i * ldc + j];
            *cij = beta == (REAL)0 ? alpha * acc : alpha * acc + beta * *cij;
        }
    }
}

#endif
