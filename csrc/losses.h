/* losses.h -- loss values, and their gradients with respect to the output layer's
 * pre-activation z (the "delta" that backward starts from).
 *   bce            binary cross-entropy on a sigmoid output, from the logits; mean over
 *                  all N*O entries
 *   cross_entropy  categorical cross-entropy on a softmax output, from the logits by
 *                  log-sum-exp; y rows are probability vectors (one-hot for labels);
 *                  mean over the N rows
 *   mse            mean squared error over all N*O entries, on any elementwise output
 * Values are accumulated in double in both precisions (a scalar, not an array). */
#ifndef BARENET_LOSSES_H
#define BARENET_LOSSES_H

#include <stdint.h>

typedef enum { BN_LOSS_BCE = 0, BN_LOSS_CROSS_ENTROPY = 1, BN_LOSS_MSE = 2 } bn_loss;

double bn_loss_bce_f64(const double *z, const double *y, int64_t count);
double bn_loss_bce_f32(const float *z, const float *y, int64_t count);
double bn_loss_cross_entropy_f64(const double *z, const double *y, int64_t n, int64_t k);
double bn_loss_cross_entropy_f32(const float *z, const float *y, int64_t n, int64_t k);
double bn_loss_mse_f64(const double *a, const double *y, int64_t count);
double bn_loss_mse_f32(const float *a, const float *y, int64_t count);

/* row-wise softmax, in place: z (N, K) -> a (N, K) */
void bn_softmax_rows_f64(double *a, const double *z, int64_t n, int64_t k);
void bn_softmax_rows_f32(float *a, const float *z, int64_t n, int64_t k);

/* dz = (a - y) * scale: bce (scale 1/(N*O)) and softmax cross-entropy (scale 1/N) */
void bn_dloss_logits_f64(double *dz, const double *a, const double *y, int64_t count,
                         double scale);
void bn_dloss_logits_f32(float *dz, const float *a, const float *y, int64_t count,
                         float scale);
/* mse: dz = 2 (a - y) / count * f'(z), with f the output's elementwise activation */
void bn_dloss_mse_f64(double *dz, const double *a, const double *z, const double *y,
                      int32_t act, int64_t count);
void bn_dloss_mse_f32(float *dz, const float *a, const float *z, const float *y,
                      int32_t act, int64_t count);

#endif
