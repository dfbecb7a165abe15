/* losses.h -- loss values and their gradients with respect to the output layer's
 * pre-activation z (the "delta" that backward starts from). Mean over all N*O entries.
 * bce: binary cross-entropy on a sigmoid output, computed from the logits z. */
#ifndef BARENET_LOSSES_H
#define BARENET_LOSSES_H

#include <stdint.h>

typedef enum { BN_LOSS_BCE = 0 } bn_loss;

double bn_loss_bce_f64(const double *z, const double *y, int64_t count);
double bn_loss_bce_f32(const float *z, const float *y, int64_t count);
/* dz = (a - y) / count, with a = sigmoid(z) already computed by forward */
void bn_dloss_bce_f64(double *dz, const double *a, const double *y, int64_t count);
void bn_dloss_bce_f32(float *dz, const float *a, const float *y, int64_t count);

#endif
