/* gemm_kernel_generic.c -- portable C micro-kernels (4x8 tiles, float and double) for any
 * CPU; the compiler vectorises the inner loops with whatever the baseline ISA offers.
 * Contract (packed panels, edge tiles, beta == 0 never reads C) in cpu.h. */
#include "cpu.h"

#define MR 4
#define NR 8

void bn_sgemm_kernel_generic_4x8(int64_t k, const float *pa, const float *pb, float *c,
                                 int64_t ldc, int64_t m, int64_t n, float alpha, float beta)
{
    float acc[MR][NR] = {{0}};
    for (int64_t p = 0; p < k; p++) {
        const float *ap = pa + p * MR, *bp = pb + p * NR;
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) acc[i][j] += ap[i] * bp[j];
    }
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        if (beta == 0.0f)
            for (int64_t j = 0; j < n; j++) ci[j] = alpha * acc[i][j];
        else
            for (int64_t j = 0; j < n; j++) ci[j] = alpha * acc[i][j] + beta * ci[j];
    }
}

void bn_dgemm_kernel_generic_4x8(int64_t k, const double *pa, const double *pb, double *c,
                                 int64_t ldc, int64_t m, int64_t n, double alpha, double beta)
{
    double acc[MR][NR] = {{0}};
    for (int64_t p = 0; p < k; p++) {
        const double *ap = pa + p * MR, *bp = pb + p * NR;
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) acc[i][j] += ap[i] * bp[j];
    }
    for (int64_t i = 0; i < m; i++) {
        double *ci = c + i * ldc;
        if (beta == 0.0)
            for (int64_t j = 0; j < n; j++) ci[j] = alpha * acc[i][j];
        else
            for (int64_t j = 0; j < n; j++) ci[j] = alpha * acc[i][j] + beta * ci[j];
    }
}
