/* mlp.h -- a dense multi-layer perceptron over one flat parameter buffer: forward (with
 * inverted dropout when training), loss and L1/L2 penalty, backward (gradients of the mean
 * loss, all from the forward pass's weights), and whole epochs of mini-batch training with
 * shuffling and an optimizer in one call. Python lays out the parameters and validates
 * every input and setting; this code trusts them and allocates nothing.
 * Size letters: N rows, B rows per batch, L weight layers, W[l] = sizes[l] widths. */
#ifndef BARENET_MLP_H
#define BARENET_MLP_H

#include <stdint.h>

#include "optimizers.h"

/* statuses beyond gemm.h's BN_OK / BN_ENOMEM and optimizers.h's BN_OPT_EINVAL */
#define BN_EINTERRUPTED 3 /* SIGINT arrived (interrupt.h); state rolled back */
#define BN_EDIVERGED 4    /* an epoch's loss was not finite; state rolled back */

typedef struct {
    int64_t n_layers;           /* L */
    const int64_t *sizes;       /* (L+1) widths: sizes[0] inputs, sizes[L] outputs */
    const int64_t *w_offsets;   /* (L) where layer l's weights (W[l], W[l+1]) start */
    const int64_t *b_offsets;   /* (L) where layer l's bias (W[l+1]) starts */
    const int32_t *activations; /* (L) bn_activation of each layer's output */
    int32_t loss;               /* bn_loss; the output activation suits it */
    int64_t n_params;           /* length of params and dparams */
} bn_mlp;

/* inverted dropout on the hidden layers' outputs; rate 0 turns it off. The mask of layer l
 * is drawn from the stream (BN_STREAM_DROPOUT, epoch, batch, l) at index row * W + col. */
typedef struct {
    double rate;
    uint64_t seed;
    int64_t epoch, batch;
} bn_dropout;

typedef struct {
    int64_t batch_size; /* rows per step, 1..N (N: full batch) */
    int32_t shuffle;    /* draw a new row order each epoch (only when batch_size < N) */
    uint64_t seed;      /* for shuffling and dropout */
    int64_t epoch;      /* index of the first epoch to run: the random streams use it */
    double dropout;     /* rate, 0 <= rate < 1 */
    double l1, l2;      /* penalty l1 sum|W| + l2/2 sum W^2 on the weights (not biases) */
} bn_train_config;

/* Training workspace, in elements of the parameter type, for batches of up to b rows:
 * gathered rows xb (B, W[0]), yb (B, W[L]) and row weights wb (B), per layer a and z
 * (B, W[l]), two deltas. Row weights sw (N) are optional everywhere (NULL: all ones). */
int64_t bn_mlp_workspace_size(const bn_mlp *net, int64_t b);
/* where a[L], the network's output (B, W[L]), starts in the training workspace */
int64_t bn_mlp_output_offset(const bn_mlp *net, int64_t b);
/* prediction needs less: two (N, max W) ping-pong buffers */
int64_t bn_mlp_predict_workspace_size(const bn_mlp *net, int64_t n);

/* forward through the training workspace (keeps a and z of every layer for backward) */
int bn_mlp_forward_f64(const bn_mlp *net, double *work, const double *params,
                       const double *x, int64_t n, const bn_dropout *drop);
int bn_mlp_forward_f32(const bn_mlp *net, float *work, const float *params,
                       const float *x, int64_t n, const bn_dropout *drop);
/* data loss of the last forward against y (N, W[L]), rows weighted by sw (N) or NULL */
double bn_mlp_loss_f64(const bn_mlp *net, const double *work, const double *y,
                       const double *sw, int64_t n);
double bn_mlp_loss_f32(const bn_mlp *net, const float *work, const float *y, const float *sw,
                       int64_t n);
/* l1 sum|W| + l2/2 sum W^2 over the weights */
double bn_mlp_penalty_f64(const bn_mlp *net, const double *params, double l1, double l2);
double bn_mlp_penalty_f32(const bn_mlp *net, const float *params, double l1, double l2);
/* gradients of (mean data loss + penalty) into dparams; needs the workspace of a forward
 * on the same x with the same dropout */
int bn_mlp_backward_f64(const bn_mlp *net, double *dparams, double *work, const double *params,
                        const double *x, const double *y, const double *sw, int64_t n,
                        const bn_dropout *drop, double l1, double l2);
int bn_mlp_backward_f32(const bn_mlp *net, float *dparams, float *work, const float *params,
                        const float *x, const float *y, const float *sw, int64_t n,
                        const bn_dropout *drop, double l1, double l2);
/* output (N, W[L]) for x, no dropout, through the prediction workspace */
int bn_mlp_predict_f64(const bn_mlp *net, double *out, double *work, const double *params,
                       const double *x, int64_t n);
int bn_mlp_predict_f32(const bn_mlp *net, float *out, float *work, const float *params,
                       const float *x, int64_t n);
/* `epochs` epochs from cfg->epoch; losses[e] is the mean over the epoch's batches of
 * (data loss + penalty) before each batch's update, weighted by batch rows. The workspace
 * is bn_mlp_workspace_size(net, cfg->batch_size); perm (N) and scratch (2N) serve
 * shuffling; state1/state2 are the optimizer's buffers (NULL where unused). backup
 * (3 * n_params) keeps the state at the last completed epoch: when SIGINT arrives
 * (BN_EINTERRUPTED), or an epoch's loss or the parameters or optimizer state after it are
 * not finite (BN_EDIVERGED; losses[*completed] holds that epoch's loss), params, state and
 * opt->step are rolled back to it. *completed counts the epochs that finished with a finite
 * loss and finite parameters and state. */
int bn_mlp_train_f64(const bn_mlp *net, const bn_train_config *cfg, bn_optimizer *opt,
                     double *losses, int64_t *completed, int64_t epochs, double *params,
                     double *dparams, double *state1, double *state2, double *backup,
                     double *work, int64_t *perm, uint64_t *scratch, const double *x,
                     const double *y, const double *sw, int64_t n);
int bn_mlp_train_f32(const bn_mlp *net, const bn_train_config *cfg, bn_optimizer *opt,
                     double *losses, int64_t *completed, int64_t epochs, float *params,
                     float *dparams, float *state1, float *state2, float *backup,
                     float *work, int64_t *perm, uint64_t *scratch, const float *x,
                     const float *y, const float *sw, int64_t n);

#endif
