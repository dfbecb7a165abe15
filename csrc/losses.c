/* losses.c -- loss values and output deltas (see losses.h). Binary cross-entropy uses the
 * stable form max(z, 0) - y z + log(1 + exp(-|z|)), equal to the tutorial's
 * -[y log(p + 1e-8) + (1 - y) log(1 - p + 1e-8)] wherever that is finite and accurate;
 * cross-entropy uses log softmax(z)_j = z_j - max(z) - log(sum exp(z - max(z))). */
#include <math.h>

#include "activations.h"
#include "losses.h"

double bn_loss_bce_f64(const double *z, const double *y, int64_t count)
{
    double sum = 0.0;
    for (int64_t i = 0; i < count; i++)
        sum += fmax(z[i], 0.0) - y[i] * z[i] + log1p(exp(-fabs(z[i])));
    return sum / (double)count;
}

double bn_loss_bce_f32(const float *z, const float *y, int64_t count)
{
    double sum = 0.0;
    for (int64_t i = 0; i < count; i++)
        sum += fmaxf(z[i], 0.0f) - y[i] * z[i] + log1pf(expf(-fabsf(z[i])));
    return sum / (double)count;
}

double bn_loss_cross_entropy_f64(const double *z, const double *y, int64_t n, int64_t k)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double *zi = z + i * k, *yi = y + i * k;
        double zmax = zi[0], s = 0.0, dot = 0.0, ysum = 0.0;
        for (int64_t j = 1; j < k; j++) zmax = fmax(zmax, zi[j]);
        for (int64_t j = 0; j < k; j++) s += exp(zi[j] - zmax);
        for (int64_t j = 0; j < k; j++) { dot += yi[j] * (zi[j] - zmax); ysum += yi[j]; }
        sum += ysum * log(s) - dot; /* -sum_j y_j log softmax_j */
    }
    return sum / (double)n;
}

double bn_loss_cross_entropy_f32(const float *z, const float *y, int64_t n, int64_t k)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *zi = z + i * k, *yi = y + i * k;
        float zmax = zi[0], s = 0.0f, dot = 0.0f, ysum = 0.0f;
        for (int64_t j = 1; j < k; j++) zmax = fmaxf(zmax, zi[j]);
        for (int64_t j = 0; j < k; j++) s += expf(zi[j] - zmax);
        for (int64_t j = 0; j < k; j++) { dot += yi[j] * (zi[j] - zmax); ysum += yi[j]; }
        sum += (double)(ysum * logf(s) - dot);
    }
    return sum / (double)n;
}

double bn_loss_mse_f64(const double *a, const double *y, int64_t count)
{
    double sum = 0.0;
    for (int64_t i = 0; i < count; i++) sum += (a[i] - y[i]) * (a[i] - y[i]);
    return sum / (double)count;
}

double bn_loss_mse_f32(const float *a, const float *y, int64_t count)
{
    double sum = 0.0;
    for (int64_t i = 0; i < count; i++) {
        float d = a[i] - y[i];
        sum += d * d;
    }
    return sum / (double)count;
}

void bn_softmax_rows_f64(double *a, const double *z, int64_t n, int64_t k)
{
    for (int64_t i = 0; i < n; i++) {
        const double *zi = z + i * k;
        double *ai = a + i * k, zmax = zi[0], s = 0.0;
        for (int64_t j = 1; j < k; j++) zmax = fmax(zmax, zi[j]);
        for (int64_t j = 0; j < k; j++) { ai[j] = exp(zi[j] - zmax); s += ai[j]; }
        for (int64_t j = 0; j < k; j++) ai[j] /= s;
    }
}

void bn_softmax_rows_f32(float *a, const float *z, int64_t n, int64_t k)
{
    for (int64_t i = 0; i < n; i++) {
        const float *zi = z + i * k;
        float *ai = a + i * k, zmax = zi[0], s = 0.0f;
        for (int64_t j = 1; j < k; j++) zmax = fmaxf(zmax, zi[j]);
        for (int64_t j = 0; j < k; j++) { ai[j] = expf(zi[j] - zmax); s += ai[j]; }
        for (int64_t j = 0; j < k; j++) ai[j] /= s;
    }
}

void bn_dloss_logits_f64(double *dz, const double *a, const double *y, int64_t count,
                         double scale)
{
    for (int64_t i = 0; i < count; i++) dz[i] = (a[i] - y[i]) * scale;
}

void bn_dloss_logits_f32(float *dz, const float *a, const float *y, int64_t count,
                         float scale)
{
    for (int64_t i = 0; i < count; i++) dz[i] = (a[i] - y[i]) * scale;
}

void bn_dloss_mse_f64(double *dz, const double *a, const double *z, const double *y,
                      int32_t act, int64_t count)
{
    double scale = 2.0 / (double)count;
    for (int64_t i = 0; i < count; i++)
        dz[i] = (a[i] - y[i]) * scale * bn_dact_f64(act, a[i], z[i]);
}

void bn_dloss_mse_f32(float *dz, const float *a, const float *z, const float *y,
                      int32_t act, int64_t count)
{
    float scale = 2.0f / (float)count;
    for (int64_t i = 0; i < count; i++)
        dz[i] = (a[i] - y[i]) * scale * bn_dact_f32(act, a[i], z[i]);
}
