/* generate.c -- generation's token loop (net.h, bn_net_generate): a token sampled from each
 * row of the last prediction, fed back as the next step's input through a one-step
 * prediction with the recurrent state carried, step after step, without returning to
 * Python between tokens. The sampling is barenet/_generate.py's _sample (the NumPy
 * reference, and the NumPy backend's) operation for operation, so both give the same
 * tokens: T = 0 takes the first largest probability (a NaN first, as NumPy's argmax);
 * otherwise the weights are w_j = p_j in double when T = 1 without top_k, else (p_j / max p)
 * in double raised to 1 / T, those below the top_k-th largest set to 0; their running sum
 * S_j is taken left to right, and the token is the count of j with S_j < u S_(V-1), at most
 * V - 1, u the row's uniform number in [0, 1). A total that is not finite (NaN or infinite
 * probabilities) is BN_ENONFINITE_OUTPUT, as _sample raises. */
#ifndef REAL
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "gemm.h"
#include "net.h"

/* the k-th largest (1 <= k <= v) of a[0:v] (no NaN), reordering a: quickselect */
static double kth_largest(double *a, int64_t v, int64_t k)
{
    int64_t lo = 0, hi = v - 1;
    const int64_t want = k - 1; /* its index in descending order */
    while (lo < hi) {
        const double pivot = a[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) { /* Hoare: [lo, j] >= pivot >= [i, hi] */
            while (a[i] > pivot) i++;
            while (a[j] < pivot) j--;
            if (i <= j) {
                const double t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else return pivot; /* between the two parts: equal to the pivot */
    }
    return a[lo];
}

#define BN_PRECISION_FILE "generate.c"
#include "precision.h"

#else /* ---- per precision ---- */

/* the token of one row p[0:v] (see the top; top_k 0: all); w and sel: v doubles each */
static int SFX(sample_row)(const REAL *p, int64_t v, double temperature, int64_t top_k,
                           double u, double *w, double *sel, int64_t *token)
{
    if (temperature == 0.0) {
        int64_t best = 0;
        for (int64_t j = 0; j < v; j++) {
            if (isnan(p[j])) {
                best = j;
                break;
            }
            if (p[j] > p[best]) best = j;
        }
        *token = best;
        return BN_OK;
    }
    const int masked = top_k > 0 && top_k < v; /* top_k 0: none */
    if (temperature == 1.0 && top_k == 0) {
        for (int64_t j = 0; j < v; j++) w[j] = (double)p[j];
    } else {
        REAL top = p[0];
        for (int64_t j = 1; j < v; j++) /* NumPy's max: NaN if any is */
            if (isnan(p[j]) || (!isnan(top) && p[j] > top)) top = p[j];
        const double scale = (double)top, power = 1.0 / temperature;
        for (int64_t j = 0; j < v; j++) {
            w[j] = (double)p[j] / scale;
            if (temperature != 1.0) w[j] = pow(w[j], power);
        }
        if (masked) {
            for (int64_t j = 0; j < v; j++) {
                if (isnan(w[j])) return BN_ENONFINITE_OUTPUT; /* its total would be NaN */
                sel[j] = w[j];
            }
            const double kth = kth_largest(sel, v, top_k);
            for (int64_t j = 0; j < v; j++)
                if (w[j] < kth) w[j] = 0.0;
        }
    }
    for (int64_t j = 1; j < v; j++) w[j] += w[j - 1];
    const double total = w[v - 1];
    if (!isfinite(total)) return BN_ENONFINITE_OUTPUT;
    const double target = u * total;
    int64_t count = 0;
    for (int64_t j = 0; j < v; j++) count += w[j] < target;
    *token = count < v - 1 ? count : v - 1;
    return BN_OK;
}

int SFX(bn_net_generate)(const bn_net *net, REAL *proba, int64_t v, REAL *work,
                         const REAL *params, const REAL *state, REAL *x, REAL *carry, int64_t b,
                         int64_t steps, const double *uniforms, double temperature,
                         int64_t top_k, double *scratch, int64_t *tokens, int64_t ldt,
                         int more)
{
    for (int64_t t = 0; t < steps; t++) {
        for (int64_t i = 0; i < b; i++) {
            int64_t token = 0;
            const int status = SFX(sample_row)(proba + i * v, v, temperature, top_k,
                                               uniforms ? uniforms[t * b + i] : 0.0, scratch,
                                               scratch + v, &token);
            if (status != BN_OK) return status;
            tokens[i * ldt + t] = token;
            x[i] = (REAL)token;
        }
        if (t + 1 < steps || more) { /* the next token's probabilities */
            const int status = SFX(bn_net_predict)(net, proba, work, params, state, x, NULL, b,
                                                   carry);
            if (status != BN_OK) return status;
        }
    }
    return BN_OK;
}

#endif
