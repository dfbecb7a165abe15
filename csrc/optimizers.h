/* optimizers.h -- parameter updates: one pass over the flat parameter buffer, whose
 * layout the gradients and every optimizer state share. */
#ifndef BARENET_OPTIMIZERS_H
#define BARENET_OPTIMIZERS_H

#include <stdint.h>

/* plain gradient descent: params -= lr * grads */
void bn_sgd_step_f64(double *params, const double *grads, int64_t count, double lr);
void bn_sgd_step_f32(float *params, const float *grads, int64_t count, float lr);

#endif
