/* activations.h -- activation ids shared by Python (barenet/_activations.py mirrors the
 * numbers), the fused GEMM write-back and the layer code, plus scalar forms used in
 * those loops. Derivatives are written from the layer's *output* a = f(z), as in the
 * tutorial: relu' = (a > 0), sigmoid' = a (1 - a), tanh' = 1 - a^2. */
#ifndef BARENET_ACTIVATIONS_H
#define BARENET_ACTIVATIONS_H

#include <math.h>
#include <stdint.h>

typedef enum {
    BN_ACT_IDENTITY = 0,
    BN_ACT_RELU = 1,
    BN_ACT_SIGMOID = 2,
    BN_ACT_TANH = 3,
} bn_activation;

/* sigmoid without overflow: exp is only taken of a non-positive number */
static inline double bn_sigmoid_f64(double z)
{
    if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

static inline float bn_sigmoid_f32(float z)
{
    if (z >= 0.0f) return 1.0f / (1.0f + expf(-z));
    float e = expf(z);
    return e / (1.0f + e);
}

static inline double bn_act_f64(int32_t act, double z)
{
    switch (act) {
    case BN_ACT_RELU: return z > 0.0 ? z : 0.0;
    case BN_ACT_SIGMOID: return bn_sigmoid_f64(z);
    case BN_ACT_TANH: return tanh(z);
    default: return z;
    }
}

static inline float bn_act_f32(int32_t act, float z)
{
    switch (act) {
    case BN_ACT_RELU: return z > 0.0f ? z : 0.0f;
    case BN_ACT_SIGMOID: return bn_sigmoid_f32(z);
    case BN_ACT_TANH: return tanhf(z);
    default: return z;
    }
}

/* f'(z) expressed through a = f(z) */
static inline double bn_dact_f64(int32_t act, double a)
{
    switch (act) {
    case BN_ACT_RELU: return a > 0.0 ? 1.0 : 0.0;
    case BN_ACT_SIGMOID: return a * (1.0 - a);
    case BN_ACT_TANH: return 1.0 - a * a;
    default: return 1.0;
    }
}

static inline float bn_dact_f32(int32_t act, float a)
{
    switch (act) {
    case BN_ACT_RELU: return a > 0.0f ? 1.0f : 0.0f;
    case BN_ACT_SIGMOID: return a * (1.0f - a);
    case BN_ACT_TANH: return 1.0f - a * a;
    default: return 1.0f;
    }
}

#endif
