/* activations.h -- activation ids shared by Python (barenet/_activations.py mirrors the
 * numbers), the fused GEMM write-back and the layer code, with their scalar forms.
 * Derivatives take both the output a = f(z) and the input z: most are cheapest from a (as
 * in the tutorial: relu' = (a > 0), sigmoid' = a (1 - a), tanh' = 1 - a^2), gelu needs z.
 * Softmax is not elementwise: the layer code applies it to whole rows (bn_softmax_rows).
 * Everything here is branch-free with constant act (exp from vexp.h, erf from verf.h), so
 * a loop over one activation vectorises; tanh still calls libm. */
#ifndef BARENET_ACTIVATIONS_H
#define BARENET_ACTIVATIONS_H

#include <math.h>
#include <stdint.h>

#include "verf.h"
#include "vexp.h"

typedef enum {
    BN_ACT_IDENTITY = 0,
    BN_ACT_RELU = 1,
    BN_ACT_SIGMOID = 2,
    BN_ACT_TANH = 3,
    BN_ACT_LEAKY_RELU = 4, /* slope BN_LEAKY_SLOPE for z < 0 */
    BN_ACT_GELU = 5,       /* exact form z * Phi(z) */
    BN_ACT_SOFTMAX = 6,    /* rows; output layer only, with cross-entropy */
    BN_ACT_EXP = 7,        /* exp(z): the Poisson loss's output (log link) */
} bn_activation;

#define BN_LEAKY_SLOPE 0.01
#define BN_SQRT1_2 0.70710678118654752440
#define BN_INV_SQRT_2PI 0.39894228040143267794

/* sigmoid without overflow, and without a branch (so loops of it vectorise): exp is only
 * taken of a non-positive number; 1 / (1 + e^-z) for z >= 0, e^z / (1 + e^z) below */
BN_INLINE double bn_sigmoid_f64(double z)
{
    const double e = bn_exp_nonpos(z >= 0.0 ? -z : z);
    return (z >= 0.0 ? 1.0 : e) / (1.0 + e);
}

BN_INLINE float bn_sigmoid_f32(float z)
{
    const float e = bn_expf_nonpos(z >= 0.0f ? -z : z);
    return (z >= 0.0f ? 1.0f : e) / (1.0f + e);
}

/* f(z) for the elementwise activations (softmax rows are done elsewhere) */
BN_INLINE double bn_act_f64(int32_t act, double z)
{
    switch (act) {
    case BN_ACT_RELU: return z > 0.0 ? z : 0.0;
    case BN_ACT_SIGMOID: return bn_sigmoid_f64(z);
    case BN_ACT_TANH: return tanh(z);
    case BN_ACT_LEAKY_RELU: return z > 0.0 ? z : BN_LEAKY_SLOPE * z;
    case BN_ACT_GELU: return 0.5 * z * (1.0 + bn_erf(z * BN_SQRT1_2));
    case BN_ACT_EXP: return bn_exp(z);
    default: return z;
    }
}

BN_INLINE float bn_act_f32(int32_t act, float z)
{
    switch (act) {
    case BN_ACT_RELU: return z > 0.0f ? z : 0.0f;
    case BN_ACT_SIGMOID: return bn_sigmoid_f32(z);
    case BN_ACT_TANH: return tanhf(z);
    case BN_ACT_LEAKY_RELU: return z > 0.0f ? z : (float)BN_LEAKY_SLOPE * z;
    case BN_ACT_GELU: return 0.5f * z * (1.0f + bn_erff(z * (float)BN_SQRT1_2));
    case BN_ACT_EXP: return bn_expf(z);
    default: return z;
    }
}

/* f'(z), from a = f(z) for all but gelu (so the layers need not keep z), gelu from z */
BN_INLINE double bn_dact_f64(int32_t act, double a, double z)
{
    switch (act) {
    case BN_ACT_RELU: return a > 0.0 ? 1.0 : 0.0;
    case BN_ACT_SIGMOID: return a * (1.0 - a);
    case BN_ACT_TANH: return 1.0 - a * a;
    case BN_ACT_LEAKY_RELU: return a > 0.0 ? 1.0 : BN_LEAKY_SLOPE; /* a > 0 iff z > 0 */
    case BN_ACT_GELU: { /* Phi(z) + z phi(z), phi's exp(-z^2 / 2) the one erf computes */
        double ex;
        const double r = bn_erf_exp(z * BN_SQRT1_2, &ex);
        return 0.5 * (1.0 + r) + z * BN_INV_SQRT_2PI * ex;
    }
    case BN_ACT_EXP: return a;
    default: return 1.0;
    }
}

BN_INLINE float bn_dact_f32(int32_t act, float a, float z)
{
    switch (act) {
    case BN_ACT_RELU: return a > 0.0f ? 1.0f : 0.0f;
    case BN_ACT_SIGMOID: return a * (1.0f - a);
    case BN_ACT_TANH: return 1.0f - a * a;
    case BN_ACT_LEAKY_RELU: return a > 0.0f ? 1.0f : (float)BN_LEAKY_SLOPE;
    case BN_ACT_GELU: {
        float ex;
        const float r = bn_erff_exp(z * (float)BN_SQRT1_2, &ex);
        return 0.5f * (1.0f + r) + z * (float)BN_INV_SQRT_2PI * ex;
    }
    case BN_ACT_EXP: return a;
    default: return 1.0f;
    }
}

#endif
