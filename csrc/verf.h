/* verf.h -- erf without branches or library calls, so that the GELU loops (activations.h)
 * vectorise under BN_VECTOR_CLONES as vexp.h's exp does (libm's erff is a call per element).
 *
 * Two pieces, both always computed and one selected (a select vectorises, a branch does not),
 * on a = |x|, the sign put back at the end (erf is odd; copysign keeps -0 and NaN):
 *   a < 1:      erf(a) = a + a (S(a^2) - 1), S close to the minimax polynomial for
 *               erf(a) / a in relative error (written so: a + a (S - 1) rounds about as
 *               well as a itself);
 *   1 <= a:     erf(a) = 1 - exp(-a^2) E(a), E a polynomial approximating
 *               erfcx(a) = exp(a^2) erfc(a), in a - 2.5 (float) or in 2 / (2 + a) - 11/24
 *               (double: that variable follows erfcx's 1 / a tail, degree 12 instead of
 *               more than 20 in a), weighted so that the error of exp(-a^2) E(a), which is
 *               what the result sees, is small;
 *   a >= A_max: a is clamped to A_max, where erf already rounds to 1 (4 in float,
 *               6 in double), so inf gives +-1 and no special case is needed.
 * exp is bn_expf / bn_exp (vexp.h, ~1 ulp). The rounding of a^2 gives exp(-a^2) a relative
 * error of up to a^2 eps / 2: at a = 1 that is 0.1 ulp of the result, and beyond, erfc(a)
 * falls much faster than a^2 grows.
 *
 * Accuracy, measured by benchmarks/erf_check.c (tests/test_verf.py checks GELU with it):
 *   bn_erff: at most 0.99 ulp over every float in [-10, 10] against glibc's double erf
 *            (libm's erff: 0.97); the fits' own error is below 3e-9;
 *   bn_erf:  at most 1.27 ulp (relative error < 2.9e-16) on 2e7 random doubles in [-10, 10]
 *            and near 0 against long double erfl (libm's erf: 1.19 by the same measure);
 *            the fits' own error is below 1e-17.
 * (With a multiply and an add for each fused multiply-add: 1.31 and 1.48 ulp.)
 * The worst cases sit near a = 1, where the two pieces meet. The fits are weighted least
 * squares on Chebyshev nodes in 50-digit arithmetic (mpmath): benchmarks/erf_fit.py.
 * NaN gives NaN (the clamp and the select pass it: comparisons with NaN are false).
 * The polynomials and the final a + a (S - 1), 1 - exp E are fused multiply-adds
 * (BN_FMAF / BN_FMA, parallel.h), the rest plain C arithmetic (the core is built with
 * -ffp-contract=off): one rounding per operation, every vector width the same bits. */
#ifndef BARENET_VERF_H
#define BARENET_VERF_H

#include <math.h>

#include "vexp.h"

/* erf(x), and in *ex exp(-x^2), which the erf uses for |x| >= 1 and GELU's derivative needs
 * too (x = z / sqrt(2): exp(-z^2 / 2)): computed once for both. Up to the clamp it is the
 * exp(-a^2) of the formula above; beyond it exp(-x^2) is smaller still, and erf rounds to
 * +-1 all the same. */
BN_INLINE float bn_erff_exp(float x, float *ex)
{
    const float ax = fabsf(x);
    const float a = ax > 4.0f ? 4.0f : ax; /* erf(4) = 1 - 1.5e-8 rounds to 1 */
    /* a < 1: a S(a^2), relative error of S < 1.3e-9 */
    const float t = a * a;
    float s = 7.8472591269656872e-5f;
    s = BN_FMAF(s, t, -8.0081893231656352e-4f);
    s = BN_FMAF(s, t, 5.1880988894004592e-3f);
    s = BN_FMAF(s, t, -2.6853691099714645e-2f);
    s = BN_FMAF(s, t, 1.1283582247992895e-1f);
    s = BN_FMAF(s, t, -3.7612625567399252e-1f);
    s = BN_FMAF(s, t, 1.2837916568932250e-1f); /* S - 1: a + a (S - 1) rounds as a does */
    /* 1 <= a <= 4: 1 - exp(-a^2) E(a - 2.5), |exp(-a^2) (E - erfcx)| < 2.9e-9 */
    const float u = a - 2.5f;
    float e = 1.0278949880124336e-4f;
    e = BN_FMAF(e, u, 2.0199949480752204e-4f);
    e = BN_FMAF(e, u, 4.9352203120727605e-4f);
    e = BN_FMAF(e, u, -7.0826443115847654e-4f);
    e = BN_FMAF(e, u, 2.2914316562022917e-3f);
    e = BN_FMAF(e, u, -8.1197038304347860e-3f);
    e = BN_FMAF(e, u, 2.4923344882557613e-2f);
    e = BN_FMAF(e, u, -7.4340788276620072e-2f);
    e = BN_FMAF(e, u, 2.1080754763992336e-1f);
    *ex = bn_expf_nonpos(-(ax * ax));
    const float r = a < 1.0f ? BN_FMAF(a, s, a) : BN_FMAF(-*ex, e, 1.0f);
    return copysignf(r, x);
}

BN_INLINE float bn_erff(float x)
{
    float ex;
    return bn_erff_exp(x, &ex);
}

BN_INLINE double bn_erf_exp(double x, double *ex)
{
    const double ax = fabs(x);
    const double a = ax > 6.0 ? 6.0 : ax; /* erf(6) = 1 - 2e-17 rounds to 1 */
    /* a < 1: a + a (S(a^2) - 1), relative error of S < 1e-17 */
    const double t = a * a;
    double s = -7.7768291373628105931e-10;
    s = BN_FMA(s, t, 1.3709519207384054734e-8);
    s = BN_FMA(s, t, -1.6205964194101387582e-7);
    s = BN_FMA(s, t, 1.6447084274239356277e-6);
    s = BN_FMA(s, t, -1.4924708324571507839e-5);
    s = BN_FMA(s, t, 1.2055293361789940774e-4);
    s = BN_FMA(s, t, -8.5483259218328840198e-4);
    s = BN_FMA(s, t, 5.2239776059559766634e-3);
    s = BN_FMA(s, t, -2.6866170643090833844e-2);
    s = BN_FMA(s, t, 1.1283791670944049985e-1);
    s = BN_FMA(s, t, -3.7612638903183516095e-1);
    s = BN_FMA(s, t, 1.2837916709551256551e-1);
    /* 1 <= a <= 6: 1 - exp(-a^2) E(2 / (2 + a) - 11/24), |exp(-a^2) (E - erfcx)| < 7e-19 */
    const double v = 2.0 / (2.0 + a) - 0.45833333333333333333;
    double e = -5.2021248878740706220e-2;
    e = BN_FMA(e, v, 8.0645291853969566275e-2);
    e = BN_FMA(e, v, -2.7389119581400760732e-3);
    e = BN_FMA(e, v, -9.4967635360721503096e-2);
    e = BN_FMA(e, v, 4.6087728948454998805e-2);
    e = BN_FMA(e, v, 1.1621457943718094358e-1);
    e = BN_FMA(e, v, -8.9779056393535646158e-2);
    e = BN_FMA(e, v, -2.0586173351319625221e-1);
    e = BN_FMA(e, v, 1.0464967671851466358e-1);
    e = BN_FMA(e, v, 6.1807837021570088527e-1);
    e = BN_FMA(e, v, 8.8843554259663768311e-1);
    e = BN_FMA(e, v, 7.7708912659692694106e-1);
    e = BN_FMA(e, v, 2.2142954022993167961e-1);
    *ex = bn_exp_nonpos(-(ax * ax));
    const double r = a < 1.0 ? BN_FMA(a, s, a) : BN_FMA(-*ex, e, 1.0);
    return copysign(r, x);
}

BN_INLINE double bn_erf(double x)
{
    double ex;
    return bn_erf_exp(x, &ex);
}

#endif
