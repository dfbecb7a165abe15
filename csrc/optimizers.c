/* optimizers.c -- optimizer steps over flat buffers (see optimizers.h). */
#include "optimizers.h"

void bn_sgd_step_f64(double *params, const double *grads, int64_t count, double lr)
{
    for (int64_t i = 0; i < count; i++) params[i] -= lr * grads[i];
}

void bn_sgd_step_f32(float *params, const float *grads, int64_t count, float lr)
{
    for (int64_t i = 0; i < count; i++) params[i] -= lr * grads[i];
}
