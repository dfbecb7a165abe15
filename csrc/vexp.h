/* vexp.h -- exp without branches or library calls, so that GCC vectorises the loops that
 * use it (libm's exp is a call per element, and takes a slow path setting errno whenever
 * the result underflows, which a confident softmax hits on most of its outputs).
 *
 * exp(x) = 2^n exp(r): n = round(x / ln 2), r = x - n ln 2 in two parts (Cody and Waite;
 * ln 2's high part has trailing zero bits, so n times it is exact), exp(r) on
 * |r| <= ln(2)/2 by its Taylor polynomial (degree 7 in float, 13 in double: the first
 * omitted term is below 0.1 ulp), and 2^n applied as two powers of two built from their
 * bits, so results up to the largest finite number come out right without a special case.
 * Accurate to about 1 ulp (tests/test_vexp.py compares with NumPy's exp).
 *
 * Flush to zero: exp(x) is 0 for x < BN_EXPF_FLUSH (-80, e^-80 = 1.8e-35) in float and
 * x < BN_EXP_FLUSH (-700, 9.9e-305) in double, so that neither the result nor anything
 * computed on the way is subnormal: x86 CPUs take a microcode assist of ~100 cycles for
 * every subnormal result, and a trained softmax produces them for most of its outputs
 * (softmax divides these values by a sum >= 1, so they stay normal up to 1500 classes).
 * These values are below any rounding of the sums and differences they enter (softmax
 * and sigmoid denominators >= 1, losses of order 1e-8 and above). Above 89 (710) the
 * result is inf; NaN gives NaN (it passes the clamps: comparisons with NaN are false).
 *
 * n is rounded by adding and subtracting 1.5 * 2^(mantissa bits): the integer is then in
 * the low bits of the sum, so no float-to-integer conversion (undefined for NaN) is needed.
 * The multiply-adds are written as fused ones (BN_FMAF / BN_FMA, parallel.h: one rounding,
 * on every vector width the same; a quarter fewer operations than a multiply and an add),
 * everything else is plain C arithmetic, one rounding per operation (the compiler never
 * contracts on its own, parallel.h): every vector width gives the same bits. The clamps
 * vectorise as selects only with -fno-trapping-math (CMakeLists). */
#ifndef BARENET_VEXP_H
#define BARENET_VEXP_H

#include <stdint.h>
#include <string.h>

#include "parallel.h" /* BN_FMAF, BN_FMA */

#define BN_EXPF_FLUSH -80.0f
#define BN_EXP_FLUSH -700.0

/* the common part: exp(x) = 2^n p for x in [BN_EXPF_FLUSH, 89] (or NaN), p = exp(r) */
BN_INLINE float bn_expf_reduced(float x, int32_t *n)
{
    const float shifter = 12582912.0f; /* 1.5 * 2^23 */
    const float t = BN_FMAF(x, 1.44269504088896341f, shifter);
    const float nf = t - shifter;
    uint32_t tb;
    memcpy(&tb, &t, sizeof tb);
    *n = (int32_t)(tb - 0x4B400000u); /* nf as an integer, in [-115, 129] */
    const float r = BN_FMAF(nf, 2.12194440e-4f, BN_FMAF(nf, -0.693359375f, x));
    float p = 1.0f / 5040.0f;
    p = BN_FMAF(p, r, 1.0f / 720.0f);
    p = BN_FMAF(p, r, 1.0f / 120.0f);
    p = BN_FMAF(p, r, 1.0f / 24.0f);
    p = BN_FMAF(p, r, 1.0f / 6.0f);
    p = BN_FMAF(p, r, 0.5f);
    p = BN_FMAF(p, r, 1.0f);
    return BN_FMAF(p, r, 1.0f);
}

/* 2^n as a float, for n in [-126, 127] */
BN_INLINE float bn_pow2f(int32_t n)
{
    const uint32_t b = (uint32_t)(n + 127) << 23;
    float s;
    memcpy(&s, &b, sizeof s);
    return s;
}

BN_INLINE float bn_expf(float x_in)
{
    float x = x_in < BN_EXPF_FLUSH ? BN_EXPF_FLUSH : x_in;
    x = x > 89.0f ? 89.0f : x; /* exp(89) rounds to inf */
    int32_t n;
    const float p = bn_expf_reduced(x, &n);
    const int32_t n1 = n / 2; /* 2^n = 2^n1 2^(n - n1), each a normal number */
    return x_in < BN_EXPF_FLUSH ? 0.0f : p * bn_pow2f(n1) * bn_pow2f(n - n1);
}

/* exp(x) of x <= 0 (or NaN), as bn_expf bit for bit: 2^n is then one normal number (n >=
 * -116), and p 2^n1 2^n2 = p 2^n exactly (products with powers of two giving normal
 * numbers are exact). A quarter fewer operations: the argument of sigmoid, tanh, a
 * softmax after its maximum, erf. */
BN_INLINE float bn_expf_nonpos(float x_in)
{
    const float x = x_in < BN_EXPF_FLUSH ? BN_EXPF_FLUSH : x_in;
    int32_t n;
    const float p = bn_expf_reduced(x, &n);
    return x_in < BN_EXPF_FLUSH ? 0.0f : p * bn_pow2f(n);
}

BN_INLINE double bn_exp_reduced(double x, int64_t *n)
{
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    const double t = BN_FMA(x, 1.4426950408889634074, shifter);
    const double nf = t - shifter;
    uint64_t tb;
    memcpy(&tb, &t, sizeof tb);
    *n = (int64_t)(tb - 0x4338000000000000u); /* in [-1010, 1025] */
    const double r = BN_FMA(nf, -1.42860682030941723212e-6, BN_FMA(nf, -6.93145751953125e-1, x));
    double p = 1.0 / 6227020800.0;
    p = BN_FMA(p, r, 1.0 / 479001600.0);
    p = BN_FMA(p, r, 1.0 / 39916800.0);
    p = BN_FMA(p, r, 1.0 / 3628800.0);
    p = BN_FMA(p, r, 1.0 / 362880.0);
    p = BN_FMA(p, r, 1.0 / 40320.0);
    p = BN_FMA(p, r, 1.0 / 5040.0);
    p = BN_FMA(p, r, 1.0 / 720.0);
    p = BN_FMA(p, r, 1.0 / 120.0);
    p = BN_FMA(p, r, 1.0 / 24.0);
    p = BN_FMA(p, r, 1.0 / 6.0);
    p = BN_FMA(p, r, 0.5);
    p = BN_FMA(p, r, 1.0);
    return BN_FMA(p, r, 1.0);
}

BN_INLINE double bn_pow2(int64_t n)
{
    const uint64_t b = (uint64_t)(n + 1023) << 52;
    double s;
    memcpy(&s, &b, sizeof s);
    return s;
}

BN_INLINE double bn_exp(double x_in)
{
    double x = x_in < BN_EXP_FLUSH ? BN_EXP_FLUSH : x_in;
    x = x > 710.0 ? 710.0 : x; /* exp(710) rounds to inf */
    int64_t n;
    const double p = bn_exp_reduced(x, &n);
    const int64_t n1 = n / 2;
    return x_in < BN_EXP_FLUSH ? 0.0 : p * bn_pow2(n1) * bn_pow2(n - n1);
}

BN_INLINE double bn_exp_nonpos(double x_in)
{
    const double x = x_in < BN_EXP_FLUSH ? BN_EXP_FLUSH : x_in;
    int64_t n;
    const double p = bn_exp_reduced(x, &n);
    return x_in < BN_EXP_FLUSH ? 0.0 : p * bn_pow2(n);
}

#endif
