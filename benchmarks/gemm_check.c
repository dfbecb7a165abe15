/* gemm_check.c -- check-then-time harness for barenet's GEMM: compares bn_?gemm (every
 * kernel, every op combination, random sizes 1..67, padded leading dimensions, alpha/beta
 * with beta == 0 over a NaN-filled C, 1 vs 2 threads bit for bit, the fused bias+activation)
 * against the naive bn_?gemm_ref, and only then times GFLOP/s. Build: see the command at the
 * end of this comment; run: ./gemm_check [quick].
 *   gcc -O3 -fopenmp -Icsrc -c csrc/gemm_kernel_avx2.c -mavx2 -mfma -o /tmp/k_avx2.o
 *   gcc -O3 -fopenmp -Icsrc -c csrc/gemm_kernel_avx512.c -mavx512f -mavx512vl -mavx512dq \
 *       -mfma -o /tmp/k_avx512.o
 *   gcc -O3 -fopenmp -Icsrc benchmarks/gemm_check.c csrc/gemm.c csrc/gemm_ref.c \
 *       csrc/gemm_kernel_generic.c csrc/cpu.c /tmp/k_avx2.o /tmp/k_avx512.o -lm \
 *       -o /tmp/gemm_check */
#define _POSIX_C_SOURCE 199309L   /* clock_gettime */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "activations.h"
#include "cpu.h"
#include "gemm.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double unif(void) { return (double)(rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0; }
static int64_t irange(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1)); }

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int failures = 0;

/* One random product in both dtypes, checked against the reference. Operands are stored
 * with leading dimensions larger than their width; C's padding must stay untouched. */
static void check_one(int64_t m, int64_t n, int64_t k, bn_trans ta, bn_trans tb,
                      double alpha, double beta, const char *kern)
{
    int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    int64_t lda = ac + irange(0, 5), ldb = bc + irange(0, 5), ldc = n + irange(0, 5);
    size_t na = (size_t)(ar * lda + 1), nb = (size_t)(br * ldb + 1), nc = (size_t)(m * ldc + 1);
    double *ad = malloc(na * 8), *bd = malloc(nb * 8), *cd = malloc(nc * 8), *rd = malloc(nc * 8);
    float *as = malloc(na * 4), *bs = malloc(nb * 4), *cs = malloc(nc * 4), *rs = malloc(nc * 4);
    double *absa = malloc(na * 8), *absb = malloc(nb * 8), *mag = malloc(nc * 8);
    for (size_t i = 0; i < na; i++) { ad[i] = unif(); as[i] = (float)ad[i]; absa[i] = fabs(ad[i]); }
    for (size_t i = 0; i < nb; i++) { bd[i] = unif(); bs[i] = (float)bd[i]; absb[i] = fabs(bd[i]); }
    for (size_t i = 0; i < nc; i++) {
        double v = beta == 0.0 ? NAN : unif();
        int pad = (int64_t)(i % (size_t)ldc) >= n;
        if (pad) v = 12345.0;                                  /* sentinel in the padding */
        cd[i] = rd[i] = v;
        cs[i] = rs[i] = (float)v;
        mag[i] = pad || beta == 0.0 ? 0.0 : fabs(v) * fabs(beta);
    }
    bn_dgemm_ref(ta, tb, m, n, k, fabs(alpha), absa, lda, absb, ldb, 1.0, mag, ldc);
    bn_dgemm_ref(ta, tb, m, n, k, alpha, ad, lda, bd, ldb, beta, rd, ldc);
    bn_sgemm_ref(ta, tb, m, n, k, (float)alpha, as, lda, bs, ldb, (float)beta, rs, ldc);
    int st = bn_dgemm(ta, tb, m, n, k, alpha, ad, lda, bd, ldb, beta, cd, ldc);
    int ss = bn_sgemm(ta, tb, m, n, k, (float)alpha, as, lda, bs, ldb, (float)beta, cs, ldc);
    int bad = st || ss;
    for (int64_t i = 0; i < m && !bad; i++) {
        for (int64_t j = 0; j < ldc && !bad; j++) {
            size_t x = (size_t)(i * ldc + j);
            double tol_d = 1e-15 * (k + 4) * mag[x] + 1e-300, tol_s = 1e-6 * (k + 4) * mag[x] + 1e-30;
            if (j >= n) {
                bad = cd[x] != 12345.0 || cs[x] != 12345.0f;
            } else if (!(fabs(cd[x] - rd[x]) <= tol_d) || !(fabs((double)cs[x] - rs[x]) <= tol_s)) {
                bad = 1;
            }
            if (bad && failures < 10)
                printf("  at (%lld,%lld): d %.17g vs %.17g, s %.9g vs %.9g\n", (long long)i,
                       (long long)j, cd[x], rd[x], cs[x], rs[x]);
        }
    }
    if (bad && failures++ < 10) {
        printf("FAIL %s m=%lld n=%lld k=%lld ta=%d tb=%d alpha=%g beta=%g lda=%lld ldb=%lld ldc=%lld\n",
               kern, (long long)m, (long long)n, (long long)k, ta, tb, alpha, beta,
               (long long)lda, (long long)ldb, (long long)ldc);
    }
    free(ad); free(bd); free(cd); free(rd); free(as); free(bs); free(cs); free(rs);
    free(absa); free(absb); free(mag);
}

/* 1 and 2 threads must give the same bits (K is never split between threads) */
static void check_threads(int64_t m, int64_t n, int64_t k, bn_trans ta, bn_trans tb, const char *kern)
{
    int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    float *a = malloc(ar * ac * 4), *b = malloc(br * bc * 4), *c1 = malloc(m * n * 4), *c2 = malloc(m * n * 4);
    double *ad = malloc(ar * ac * 8), *bd = malloc(br * bc * 8), *d1 = malloc(m * n * 8), *d2 = malloc(m * n * 8);
    for (int64_t i = 0; i < ar * ac; i++) ad[i] = a[i] = (float)unif();
    for (int64_t i = 0; i < br * bc; i++) bd[i] = b[i] = (float)unif();
    bn_set_num_threads(1);
    bn_sgemm(ta, tb, m, n, k, 1.0f, a, ac, b, bc, 0.0f, c1, n);
    bn_dgemm(ta, tb, m, n, k, 1.0, ad, ac, bd, bc, 0.0, d1, n);
    bn_set_num_threads(2);
    bn_sgemm(ta, tb, m, n, k, 1.0f, a, ac, b, bc, 0.0f, c2, n);
    bn_dgemm(ta, tb, m, n, k, 1.0, ad, ac, bd, bc, 0.0, d2, n);
    bn_set_num_threads(0);
    if (memcmp(c1, c2, m * n * 4) || memcmp(d1, d2, m * n * 8)) {
        failures++;
        printf("FAIL threads %s m=%lld n=%lld k=%lld ta=%d tb=%d: 1 and 2 threads differ\n", kern,
               (long long)m, (long long)n, (long long)k, ta, tb);
    }
    free(a); free(b); free(c1); free(c2); free(ad); free(bd); free(d1); free(d2);
}

/* fused bias+activation == gemm then the elementwise pass, bit for bit, with and without z */
static void check_fused(int64_t m, int64_t n, int64_t k, int32_t act, int with_z, const char *kern)
{
    int64_t lda = k + 3, ldb = n + 1, ldc = n + 2;
    float *a = malloc(m * lda * 4), *b = malloc(k * ldb * 4), *bias = malloc(n * 4);
    float *c = malloc(m * ldc * 4), *z = malloc(m * ldc * 4), *r = malloc(m * ldc * 4), *rz = malloc(m * ldc * 4);
    double *ad = malloc(m * lda * 8), *bd = malloc(k * ldb * 8), *biasd = malloc(n * 8);
    double *cd = malloc(m * ldc * 8), *zd = malloc(m * ldc * 8), *rd = malloc(m * ldc * 8), *rzd = malloc(m * ldc * 8);
    for (int64_t i = 0; i < m * lda; i++) ad[i] = a[i] = (float)unif();
    for (int64_t i = 0; i < k * ldb; i++) bd[i] = b[i] = (float)unif();
    for (int64_t i = 0; i < n; i++) biasd[i] = bias[i] = (float)unif();
    for (int64_t i = 0; i < m * ldc; i++) { c[i] = z[i] = r[i] = rz[i] = NAN; cd[i] = zd[i] = rd[i] = rzd[i] = NAN; }
    bn_sgemm_bias_act(m, n, k, a, lda, b, ldb, bias, act, c, ldc, with_z ? z : NULL, ldc);
    bn_dgemm_bias_act(m, n, k, ad, lda, bd, ldb, biasd, act, cd, ldc, with_z ? zd : NULL, ldc);
    bn_sgemm(BN_NO_TRANS, BN_NO_TRANS, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, r, ldc);
    bn_dgemm(BN_NO_TRANS, BN_NO_TRANS, m, n, k, 1.0, ad, lda, bd, ldb, 0.0, rd, ldc);
    int bad = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            int64_t x = i * ldc + j;
            float zs = r[x] + bias[j];
            double zz = rd[x] + biasd[j];
            if (c[x] != bn_act_f32(act, zs) || cd[x] != bn_act_f64(act, zz)) bad = 1;
            if (with_z && (z[x] != zs || zd[x] != zz)) bad = 1;
        }
    if (bad) {
        failures++;
        printf("FAIL fused %s m=%lld n=%lld k=%lld act=%d z=%d\n", kern, (long long)m,
               (long long)n, (long long)k, act, with_z);
    }
    free(a); free(b); free(bias); free(c); free(z); free(r); free(rz);
    free(ad); free(bd); free(biasd); free(cd); free(zd); free(rd); free(rzd);
}

static void check_all(const char *kern)
{
    static const double alphas[] = {1.0, -0.5, 2.5}, betas[] = {0.0, 1.0, 0.7};
    int before = failures;
    for (int t = 0; t < 1500; t++) {
        int64_t m = irange(1, 67), n = irange(1, 67), k = irange(1, 67);
        if (t % 50 == 0) k = 0;
        if (t % 97 == 0) { m = irange(100, 400); n = irange(1, 300); k = irange(200, 600); }
        if (t % 301 == 0) { m = irange(1, 20); n = irange(4081, 4300); k = irange(250, 300); }
        if (t % 149 == 0) { m = irange(1, 80); n = irange(1, 80); k = irange(801, 1700); }
        check_one(m, n, k, (bn_trans)(t & 1), (bn_trans)((t >> 1) & 1), alphas[t % 3],
                  betas[(t / 3) % 3], kern);
    }
    for (int t = 0; t < 4; t++) {
        bn_trans ta = (bn_trans)(t & 1), tb = (bn_trans)(t >> 1);
        check_threads(301, 203, 517, ta, tb, kern);
        check_threads(1000, 10, 128, ta, tb, kern);
        check_threads(128, 10, 900, ta, tb, kern);
        check_threads(37, 700, 300, ta, tb, kern);
        check_threads(600, 600, 40, ta, tb, kern);
    }
    for (int32_t act = 0; act <= 6; act++)
        for (int z = 0; z <= 1; z++) {
            check_fused(irange(1, 67), irange(1, 67), irange(1, 67), act, z, kern);
            check_fused(130, 10, 128, act, z, kern);
            check_fused(200, 300, 600, act, z, kern);
        }
    printf("check %-8s: %s\n", kern, failures == before ? "ok" : "FAILED");
}

/* ---- timing ---- */

static double time_gemm(int dbl, bn_trans ta, bn_trans tb, int64_t m, int64_t n, int64_t k)
{
    size_t sa = m * k, sb = k * n, sc = m * n;
    void *a = malloc(sa * 8), *b = malloc(sb * 8), *c = malloc(sc * 8);
    for (size_t i = 0; i < sa; i++) ((double *)a)[i] = 0;
    for (size_t i = 0; i < sa * (dbl ? 1 : 1); i++) { if (dbl) ((double *)a)[i] = unif(); else ((float *)a)[i] = (float)unif(); }
    for (size_t i = 0; i < sb; i++) { if (dbl) ((double *)b)[i] = unif(); else ((float *)b)[i] = (float)unif(); }
    int64_t lda = ta ? m : k, ldb = tb ? k : n;
    double flops = 2.0 * m * n * k, best = 1e30;
    int reps = (int)(2e8 / flops) + 1;
    for (int trial = 0; trial < 5; trial++) {
        double t0 = now();
        for (int r = 0; r < reps; r++) {
            if (dbl) bn_dgemm(ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, n);
            else bn_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
        }
        double t = (now() - t0) / reps;
        if (t < best) best = t;
    }
    free(a); free(b); free(c);
    return flops / best * 1e-9;
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && !strcmp(argv[1], "quick");
    int timing_only = argc > 1 && !strcmp(argv[1], "time");
    if (argc > 1 && !strcmp(argv[1], "crossover")) {     /* build with -DBN_PARALLEL_MIN_FLOPS=0 */
        static const int64_t cs[][3] = {{48, 48, 48}, {64, 64, 64}, {80, 80, 80}, {96, 96, 96},
                                        {112, 112, 112}, {128, 128, 128}, {128, 64, 128},
                                        {128, 128, 64}, {64, 256, 64}, {128, 10, 512},
                                        {256, 10, 128}, {512, 10, 128}, {1024, 10, 128}};
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            const int64_t m = cs[i][0], n = cs[i][1], k = cs[i][2];
            for (int dbl = 0; dbl <= 1; dbl++) {
                bn_set_num_threads(1);
                double g1 = time_gemm(dbl, 0, 0, m, n, k);
                bn_set_num_threads(2);
                double g2 = time_gemm(dbl, 0, 0, m, n, k);
                printf("%s %4lldx%4lldx%4lld  flops %9.0f  1 thr %6.1f  2 thr %6.1f  x%.2f\n",
                       dbl ? "f64" : "f32", (long long)m, (long long)n, (long long)k,
                       2.0 * m * n * k, g1, g2, g2 / g1);
            }
        }
        return 0;
    }
    if (!timing_only) {
        bn_cpu_force_kernel("generic");
        check_all("generic");
        if (bn_cpu_force_kernel("avx2") == 0) check_all("avx2_fma");
        else printf("check avx2_fma: skipped (CPU lacks AVX2/FMA)\n");
        if (bn_cpu_force_kernel("avx512") == 0) check_all("avx512");
        else printf("check avx512: skipped (CPU lacks AVX-512)\n");
        bn_cpu_force_kernel(NULL);
        if (failures) {
            printf("%d failures: not timing\n", failures);
            return 1;
        }
        if (quick) return 0;
    }
    printf("kernel %s, max threads %d\n", bn_cpu_kernel_name(), bn_get_num_threads());
    static const int64_t sq[] = {64, 128, 256, 512, 1024, 2048};
    for (int th = 1; th <= 2; th++) {
        bn_set_num_threads(th);
        for (int dbl = 0; dbl <= 1; dbl++) {
            printf("%d thr %s square:", th, dbl ? "f64" : "f32");
            for (int i = 0; i < 6; i++) printf(" %lld:%.1f", (long long)sq[i], time_gemm(dbl, 0, 0, sq[i], sq[i], sq[i]));
            printf("\n");
        }
    }
    static const struct { const char *name; int ta, tb; int64_t m, n, k; } net[] = {
        {"fwd1 128x784@784x256", 0, 0, 128, 256, 784}, {"fwd2 128x256@256x128", 0, 0, 128, 128, 256},
        {"fwd3 128x128@128x10", 0, 0, 128, 10, 128},   {"dW1 X^T@d1 784x128x256", 1, 0, 784, 256, 128},
        {"dW2 256x128x128 (T,N)", 1, 0, 256, 128, 128}, {"dW3 128x128x10 (T,N)", 1, 0, 128, 10, 128},
        {"dA2 d3@W3^T 128x10x128", 0, 1, 128, 128, 10}, {"dA1 d2@W2^T 128x128x256", 0, 1, 128, 256, 128},
        {"predict 10000x128@128x10", 0, 0, 10000, 10, 128},
    };
    for (int th = 1; th <= 2; th++) {
        bn_set_num_threads(th);
        for (size_t s = 0; s < sizeof net / sizeof net[0]; s++)
            printf("%d thr %-28s f32 %6.1f  f64 %6.1f\n", th, net[s].name,
                   time_gemm(0, net[s].ta, net[s].tb, net[s].m, net[s].n, net[s].k),
                   time_gemm(1, net[s].ta, net[s].tb, net[s].m, net[s].n, net[s].k));
    }
    return 0;
}
