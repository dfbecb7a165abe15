/* optimizers.h -- parameter updates: one pass over the flat parameter buffer, whose
 * layout the gradients and every optimizer state share. The formulas follow PyTorch's
 * conventions; src/barenet/optimizers.py holds the NumPy reference of each and validates the
 * hyper-parameters, which nothing here checks. */
#ifndef BARENET_OPTIMIZERS_H
#define BARENET_OPTIMIZERS_H

#include <stdint.h>

typedef enum {
    BN_OPT_SGD = 0,      /* no state */
    BN_OPT_MOMENTUM = 1, /* state1: velocity */
    BN_OPT_NESTEROV = 2, /* state1: velocity */
    BN_OPT_RMSPROP = 3,  /* state1: running mean of g^2 */
    BN_OPT_ADAM = 4,     /* state1: m (first moment), state2: v (second moment) */
    BN_OPT_ADAMW = 5     /* as Adam, plus decoupled weight decay */
} bn_optimizer_kind;

/* an optimizer's settings and step count; each kind reads only its own fields */
typedef struct {
    int32_t kind;  /* bn_optimizer_kind */
    double lr;     /* learning rate (the schedule's current value) */
    double momentum, rho, beta1, beta2, eps, weight_decay;
    int64_t step;  /* updates done so far; Adam's bias correction uses step + 1 */
    /* gradient clipping before each step (bn_clip_grads), 0: off */
    double clipvalue, clipnorm;
    /* AdamW: 1 when only the network's weights decay (not biases, normalisation scales,
     * embeddings): the step then decays nothing, the training loop decays the weights
     * first (bn_net_decay_weights in net.h) */
    int32_t decay_weights_only;
} bn_optimizer;

/* bn_optimizer_step_* returns 0, or this for an unknown kind or a missing state buffer */
#define BN_OPT_EINVAL 2

/* one update of params (count) from grads (count); state1/state2 are (count) buffers in
 * the params layout (see bn_optimizer_kind), NULL where unused. Arithmetic per element is
 * in the buffer's type (scalars such as the bias corrections are computed in double and
 * rounded once). Increments opt->step. Returns 0, or BN_OPT_EINVAL (nothing changed). */
int bn_optimizer_step_f64(bn_optimizer *opt, double *params, const double *grads,
                          double *state1, double *state2, int64_t count);
int bn_optimizer_step_f32(bn_optimizer *opt, float *params, const float *grads,
                          float *state1, float *state2, int64_t count);

/* Gradient clipping, in place: every value into [-clipvalue, clipvalue] (clipvalue > 0),
 * then, when clipnorm > 0 and the L2 norm of all the values exceeds it, all of them times
 * clipnorm / norm (one global norm, as PyTorch's clip_grad_norm_ and Keras's
 * global_clipnorm). The norm is summed in double in fixed blocks (bn_weight_penalty's), so
 * it does not depend on the thread count; the factor is rounded once to the buffer's type.
 * Returns the norm before scaling (0 when clipnorm is 0). */
double bn_clip_grads_f64(double *grads, int64_t count, double clipvalue, double clipnorm);
double bn_clip_grads_f32(float *grads, int64_t count, double clipvalue, double clipnorm);

#endif
