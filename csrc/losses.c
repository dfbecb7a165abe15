/* losses.c -- binary cross-entropy from the logits, in the stable form
 * max(z, 0) - y z + log(1 + exp(-|z|)), which equals the tutorial's
 * -[y log(p + 1e-8) + (1 - y) log(1 - p + 1e-8)] wherever that is finite and accurate.
 * Sums are accumulated in double in both precisions (a scalar, not an array). */
#include <math.h>

#include "losses.h"

double bn_loss_bce_f64(const double *z, const double *y, int64_t count)
{
    double sum = 0.0;
    for (int64_t i = 0; i < count; i++)
        sum += fmax(z[i], 0.0) - y[i] * z[i] + log1p(exp(-fabs(z[i])));
    return count > 0 ? sum / (double)count : 0.0;
}

double bn_loss_bce_f32(const float *z, const float *y, int64_t count)
{
    double sum = 0.0;
    for (int64_t i = 0; i < count; i++)
        sum += fmaxf(z[i], 0.0f) - y[i] * z[i] + log1pf(expf(-fabsf(z[i])));
    return count > 0 ? sum / (double)count : 0.0;
}

void bn_dloss_bce_f64(double *dz, const double *a, const double *y, int64_t count)
{
    double scale = 1.0 / (double)count;
    for (int64_t i = 0; i < count; i++) dz[i] = (a[i] - y[i]) * scale;
}

void bn_dloss_bce_f32(float *dz, const float *a, const float *y, int64_t count)
{
    float scale = 1.0f / (float)count;
    for (int64_t i = 0; i < count; i++) dz[i] = (a[i] - y[i]) * scale;
}
