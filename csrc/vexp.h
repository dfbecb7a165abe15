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

BN_INLINE float bn_expf(float x_in)
{
    float x = x_in < BN_EXPF_FLUSH ? BN_EXPF_FLUSH : x_in;
    x = x > 89.0f ? 89.0f : x; /* exp(89) rounds to inf */
    const float shifter = 12582912.0f; /* 1.5 * 2^23 */
    const float t = BN_FMAF(x, 1.44269504088896341f, shifter);
    const float nf = t - shifter;
    uint32_t tb;
    memcpy(&tb, &t, sizeof tb);
    const int32_t n = (int32_t)(tb - 0x4B400000u); /* nf as an integer, in [-115, 129] */
    const float r = BN_FMAF(nf, 2.12194440e-4f, BN_FMAF(nf, -0.693359375f, x));
    float p = 1.0f / 5040.0f;
    p = BN_FMAF(p, r, 1.0f / 720.0f);
    p = BN_FMAF(p, r, 1.0f / 120.0f);
    p = BN_FMAF(p, r, 1.0f / 24.0f);
    p = BN_FMAF(p, r, 1.0f / 6.0f);
    p = BN_FMAF(p, r, 0.5f);
    p = BN_FMAF(p, r, 1.0f);
    p = BN_FMAF(p, r, 1.0f);
    const int32_t n1 = n / 2, n2 = n - n1; /* 2^n = 2^n1 2^n2, each a normal number */
    const uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    return x_in < BN_EXPF_FLUSH ? 0.0f : p * s1 * s2;
}

BN_INLINE double bn_exp(double x_in)
{
    double x = x_in < BN_EXP_FLUSH ? BN_EXP_FLUSH : x_in;
    x = x > 710.0 ? 710.0 : x; /* exp(710) rounds to inf */
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    const double t = BN_FMA(x, 1.4426950408889634074, shifter);
    const double nf = t - shifter;
    uint64_t tb;
    memcpy(&tb, &t, sizeof tb);
    const int64_t n = (int64_t)(tb - 0x4338000000000000u); /* in [-1010, 1025] */
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
    p = BN_FMA(p, r, 1.0);
    const int64_t n1 = n / 2, n2 = n - n1;
    const uint64_t b1 = (uint64_t)(n1 + 1023) << 52, b2 = (uint64_t)(n2 + 1023) << 52;
    double s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    return x_in < BN_EXP_FLUSH ? 0.0 : p * s1 * s2;
}

#endif
