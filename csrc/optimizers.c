/* optimizers.c -- optimizer steps over flat buffers (see optimizers.h): one fused loop
 * per kind, simple enough for the compiler to vectorise. The float and double versions are
 * the same code with the scalars rounded to the buffer's type; the NumPy reference in
 * src/barenet/optimizers.py performs the same operations in the same order. GCC vectorises
 * the loops that take a square root only when built with -fno-math-errno (the results do not
 * change: sqrt here never sees a negative number, so errno is never set anyway). */
#include "optimizers.h"

#include <math.h>
#include <stddef.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "gemm.h" /* bn_get_num_threads */

/* below this many parameters a step stays on one thread (a parallel region costs more) */
#define BN_OPT_PARALLEL_MIN 65536

/* The loops are compiled twice where GCC can dispatch at load time (ifunc): for AVX2 and
 * for the baseline, so a wheel built for any x86-64 still steps 8 floats at a time here. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define BN_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define BN_VECTOR_CLONES
#endif

void bn_sgd_step_f64(double *params, const double *grads, int64_t count, double lr)
{
    for (int64_t i = 0; i < count; i++) params[i] -= lr * grads[i];
}

void bn_sgd_step_f32(float *params, const float *grads, int64_t count, float lr)
{
    for (int64_t i = 0; i < count; i++) params[i] -= lr * grads[i];
}

/* 1 if `kind` is known and has the state buffers it needs (none when count is 0) */
static int valid(int32_t kind, const void *state1, const void *state2, int64_t count)
{
    switch (kind) {
    case BN_OPT_SGD: return 1;
    case BN_OPT_MOMENTUM: case BN_OPT_NESTEROV: case BN_OPT_RMSPROP:
        return count <= 0 || state1 != 0;
    case BN_OPT_ADAM: case BN_OPT_ADAMW: return count <= 0 || (state1 != 0 && state2 != 0);
    default: return 0;
    }
}

BN_VECTOR_CLONES
static void step_range_f64(const bn_optimizer *opt, double *restrict p, const double *restrict g,
                          double *restrict s1, double *restrict s2, int64_t count)
{
    const double lr = opt->lr, mu = opt->momentum, rho = opt->rho, eps = opt->eps;
    switch (opt->kind) {
    case BN_OPT_SGD:
        /* p -= lr g */
        for (int64_t i = 0; i < count; i++) p[i] -= lr * g[i];
        break;
    case BN_OPT_MOMENTUM:
        /* v = mu v + g; p -= lr v */
        for (int64_t i = 0; i < count; i++) {
            s1[i] = mu * s1[i] + g[i];
            p[i] -= lr * s1[i];
        }
        break;
    case BN_OPT_NESTEROV:
        /* v = mu v + g; p -= lr (g + mu v) */
        for (int64_t i = 0; i < count; i++) {
            s1[i] = mu * s1[i] + g[i];
            p[i] -= lr * (g[i] + mu * s1[i]);
        }
        break;
    case BN_OPT_RMSPROP: {
        const double one_minus_rho = 1.0 - rho;
        /* s = rho s + (1-rho) g^2; p -= lr g / (sqrt(s) + eps) */
        for (int64_t i = 0; i < count; i++) {
            s1[i] = rho * s1[i] + one_minus_rho * g[i] * g[i];
            p[i] -= lr * (g[i] / (sqrt(s1[i]) + eps));
        }
        break;
    }
    case BN_OPT_ADAM: case BN_OPT_ADAMW: {
        const double t = (double)(opt->step + 1);
        const double b1 = opt->beta1, b2 = opt->beta2;
        const double one_minus_b1 = 1.0 - b1, one_minus_b2 = 1.0 - b2;
        const double step_size = lr / (1.0 - pow(b1, t));
        const double sqrt_bc2 = sqrt(1.0 - pow(b2, t));
        /* AdamW's p -= lr wd p, as p *= 1 - lr wd; Adam multiplies by exactly 1 */
        const double decay = opt->kind == BN_OPT_ADAMW ? 1.0 - lr * opt->weight_decay : 1.0;
        /* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
         * p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps), computed as PyTorch does:
         * p -= (lr / (1-b1^t)) (m / (sqrt(v) / sqrt(1-b2^t) + eps)) */
        for (int64_t i = 0; i < count; i++) {
            s1[i] = b1 * s1[i] + one_minus_b1 * g[i];
            s2[i] = b2 * s2[i] + one_minus_b2 * g[i] * g[i];
            p[i] = p[i] * decay - step_size * (s1[i] / (sqrt(s2[i]) / sqrt_bc2 + eps));
        }
        break;
    }
    }
}

int bn_optimizer_step_f64(bn_optimizer *opt, double *p, const double *g, double *s1, double *s2,
                          int64_t count)
{
    if (!valid(opt->kind, s1, s2, count)) return BN_OPT_EINVAL;
    const int nt = count >= BN_OPT_PARALLEL_MIN ? bn_get_num_threads() : 1;
#ifdef _OPENMP
    if (nt > 1) { /* elementwise: each thread a contiguous slice, same results any count */
#pragma omp parallel num_threads(nt)
        {
            const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
            const int64_t lo = count * t / T, hi = count * (t + 1) / T;
            step_range_f64(opt, p + lo, g + lo, s1 ? s1 + lo : NULL, s2 ? s2 + lo : NULL,
                           hi - lo);
        }
        opt->step++;
        return 0;
    }
#endif
    (void)nt;
    step_range_f64(opt, p, g, s1, s2, count);
    opt->step++;
    return 0;
}

BN_VECTOR_CLONES
static void step_range_f32(const bn_optimizer *opt, float *restrict p, const float *restrict g,
                          float *restrict s1, float *restrict s2, int64_t count)
{
    const float lr = (float)opt->lr, mu = (float)opt->momentum, rho = (float)opt->rho;
    const float eps = (float)opt->eps;
    switch (opt->kind) {
    case BN_OPT_SGD:
        /* p -= lr g */
        for (int64_t i = 0; i < count; i++) p[i] -= lr * g[i];
        break;
    case BN_OPT_MOMENTUM:
        /* v = mu v + g; p -= lr v */
        for (int64_t i = 0; i < count; i++) {
            s1[i] = mu * s1[i] + g[i];
            p[i] -= lr * s1[i];
        }
        break;
    case BN_OPT_NESTEROV:
        /* v = mu v + g; p -= lr (g + mu v) */
        for (int64_t i = 0; i < count; i++) {
            s1[i] = mu * s1[i] + g[i];
            p[i] -= lr * (g[i] + mu * s1[i]);
        }
        break;
    case BN_OPT_RMSPROP: {
        const float one_minus_rho = (float)(1.0 - opt->rho);
        /* s = rho s + (1-rho) g^2; p -= lr g / (sqrt(s) + eps) */
        for (int64_t i = 0; i < count; i++) {
            s1[i] = rho * s1[i] + one_minus_rho * g[i] * g[i];
            p[i] -= lr * (g[i] / (sqrtf(s1[i]) + eps));
        }
        break;
    }
    case BN_OPT_ADAM: case BN_OPT_ADAMW: {
        const double t = (double)(opt->step + 1);
        const float b1 = (float)opt->beta1, b2 = (float)opt->beta2;
        const float one_minus_b1 = (float)(1.0 - opt->beta1);
        const float one_minus_b2 = (float)(1.0 - opt->beta2);
        const float step_size = (float)(opt->lr / (1.0 - pow(opt->beta1, t)));
        const float sqrt_bc2 = (float)sqrt(1.0 - pow(opt->beta2, t));
        /* AdamW's p -= lr wd p, as p *= 1 - lr wd; Adam multiplies by exactly 1 */
        const float decay = opt->kind == BN_OPT_ADAMW
                          ? (float)(1.0 - opt->lr * opt->weight_decay) : 1.0f;
        /* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
         * p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps), computed as PyTorch does:
         * p -= (lr / (1-b1^t)) (m / (sqrt(v) / sqrt(1-b2^t) + eps)) */
        for (int64_t i = 0; i < count; i++) {
            s1[i] = b1 * s1[i] + one_minus_b1 * g[i];
            s2[i] = b2 * s2[i] + one_minus_b2 * g[i] * g[i];
            p[i] = p[i] * decay - step_size * (s1[i] / (sqrtf(s2[i]) / sqrt_bc2 + eps));
        }
        break;
    }
    }
}

int bn_optimizer_step_f32(bn_optimizer *opt, float *p, const float *g, float *s1, float *s2,
                          int64_t count)
{
    if (!valid(opt->kind, s1, s2, count)) return BN_OPT_EINVAL;
    const int nt = count >= BN_OPT_PARALLEL_MIN ? bn_get_num_threads() : 1;
#ifdef _OPENMP
    if (nt > 1) { /* elementwise: each thread a contiguous slice, same results any count */
#pragma omp parallel num_threads(nt)
        {
            const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
            const int64_t lo = count * t / T, hi = count * (t + 1) / T;
            step_range_f32(opt, p + lo, g + lo, s1 ? s1 + lo : NULL, s2 ? s2 + lo : NULL,
                           hi - lo);
        }
        opt->step++;
        return 0;
    }
#endif
    (void)nt;
    step_range_f32(opt, p, g, s1, s2, count);
    opt->step++;
    return 0;
}
