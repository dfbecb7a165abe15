/* erf_check.c -- accuracy harness for verf.h's erf (the GELU activation's): bn_erff on every
 * float in [0, 10] (erf is odd and the sign is put back exactly: copysign) against glibc's
 * double erf, and bn_erf on random doubles in [-10, 10], in [-1.25, 1.25] and of tiny
 * magnitude against long double erfl; errors in ulps of the exact value rounded to the type,
 * beside libm's own erff / erf; then the special values. No timing: instruction counts of
 * GELU training are measured with callgrind. Build and run (about a minute for the floats;
 * "quick" takes every 97th):
 *   gcc -O2 -ffp-contract=off -fno-trapping-math -Icsrc benchmarks/erf_check.c -lm \
 *       -o /tmp/erf_check && /tmp/erf_check [quick] */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "verf.h"

#define CHUNK 4096

/* the loops as the core's: vectorised calls over a chunk */
static void erff_chunk(float *y, const float *x, int n)
{
    for (int i = 0; i < n; i++) y[i] = bn_erff(x[i]);
}

static void erf_chunk(double *y, const double *x, int n)
{
    for (int i = 0; i < n; i++) y[i] = bn_erf(x[i]);
}

/* one ulp at v's magnitude for a type of `bits` mantissa bits and minimum exponent emin */
static double ulp_at(double v, int bits, int emin)
{
    int e;
    frexp(fabs(v), &e); /* |v| = m 2^e, m in [0.5, 1) */
    return ldexp(1.0, (e < emin ? emin : e) - bits);
}

static void check_float(uint32_t step)
{
    float x[CHUNK], y[CHUNK];
    double worst = 0, at = 0, libm_worst = 0;
    long n = 0, over1 = 0;
    const uint32_t last = 0x41200000u; /* 10.0f */
    for (uint32_t b0 = 0; b0 <= last; b0 += CHUNK * step) {
        int m = 0;
        for (uint32_t b = b0; m < CHUNK && b <= last; b += step, m++) memcpy(&x[m], &b, 4);
        erff_chunk(y, x, m);
        for (int i = 0; i < m; i++) {
            const double want = erf((double)x[i]), ulp = ulp_at(want, 24, -125);
            const double u = fabs((double)y[i] - want) / ulp;
            const double ul = fabs((double)erff(x[i]) - want) / ulp;
            if (u > worst) { worst = u; at = x[i]; }
            if (ul > libm_worst) libm_worst = ul;
            over1 += u > 1.0;
            n++;
        }
    }
    printf("bn_erff: %ld floats in [0, 10]: max %.3f ulp (at %.9g), %ld above 1 ulp; "
           "libm erff max %.3f ulp\n", n, worst, at, over1, libm_worst);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double uniform(void) /* splitmix64, [0, 1) */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

static void check_double(long total)
{
    double x[CHUNK], y[CHUNK], worst = 0, at = 0, libm_worst = 0;
    long over1 = 0;
    for (long k = 0; k < total; k += CHUNK) {
        for (int i = 0; i < CHUNK; i++) {
            const double r = uniform();
            x[i] = i % 3 == 0 ? 20 * r - 10
                 : i % 3 == 1 ? 2.5 * r - 1.25
                              : ldexp(r - 0.5, -(int)(60 * uniform()));
        }
        erf_chunk(y, x, CHUNK);
        for (int i = 0; i < CHUNK; i++) {
            const long double want = erfl((long double)x[i]);
            const double ulp = ulp_at((double)want, 53, -1021);
            const double u = (double)fabsl((long double)y[i] - want) / ulp;
            const double ul = (double)fabsl((long double)erf(x[i]) - want) / ulp;
            if (u > worst) { worst = u; at = x[i]; }
            if (ul > libm_worst) libm_worst = ul;
            over1 += u > 1.0;
        }
    }
    printf("bn_erf: %ld doubles: max %.3f ulp (at %.17g), %ld above 1 ulp; libm erf max "
           "%.3f ulp\n", total, worst, at, over1, libm_worst);
}

int main(int argc, char **argv)
{
    const int quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    check_float(quick ? 97 : 1);
    check_double(quick ? 1000000 : 20000000);
    const double special[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 1e-300, 5e-324, 3.9, 4.0,
                              5.9, 6.0};
    for (unsigned i = 0; i < sizeof special / sizeof *special; i++) {
        const double v = special[i];
        printf("x = %-8g bn_erff %-14.9g (libm %-14.9g) bn_erf %-22.17g (libm %.17g)\n", v,
               (double)bn_erff((float)v), (double)erff((float)v), bn_erf(v), erf(v));
        printf("x = %-8g bn_erff %-14.9g (libm %-14.9g) bn_erf %-22.17g (libm %.17g)\n", -v,
               (double)bn_erff((float)-v), (double)erff((float)-v), bn_erf(-v), erf(-v));
    }
    return 0;
}
