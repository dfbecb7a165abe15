/* net.h -- a feed-forward network as a list of layers (dense, 2-D convolution, max and
 * average pooling, flatten, dropout) over one flat parameter buffer: forward (dropout only
 * when training), loss and L1/L2 penalty, backward (gradients of the mean loss, all from
 * the forward pass's weights), prediction, and whole epochs of mini-batch training with
 * shuffling and an optimizer in one call. Python lays out the layers and parameters and
 * validates every input and setting; this code trusts them and allocates nothing.
 * Layout: a sample's activations are (H, W, C), channels last, so a convolution is one
 * GEMM over all the batch's output pixels; flat vectors are (1, 1, n). Network inputs
 * arrive channels first, (C, H, W) per row, and are transposed once (net->input_chw).
 * Size letters: N rows, B rows per batch, L layers, S[l] values per sample after layer l. */
#ifndef BARENET_NET_H
#define BARENET_NET_H

#include <stdint.h>

#include "layers.h"
#include "optimizers.h"

/* statuses beyond gemm.h's BN_OK / BN_ENOMEM and optimizers.h's BN_OPT_EINVAL */
#define BN_EINTERRUPTED 3 /* SIGINT arrived (interrupt.h); state rolled back */
#define BN_EDIVERGED 4    /* an epoch's loss was not finite; state rolled back */

typedef struct {
    int64_t n_layers;        /* L */
    const bn_layer *layers;  /* (L); the last one is dense */
    int32_t input_chw;       /* 1: transpose input rows from (C, H, W) to (H, W, C) */
    int32_t loss;            /* bn_loss; the output activation suits it */
    int64_t n_params;        /* length of params and dparams */
} bn_net;

typedef struct {
    int64_t batch_size; /* rows per step, 1..N (N: full batch) */
    int32_t shuffle;    /* draw a new row order each epoch (only when batch_size < N) */
    uint64_t seed;      /* for shuffling and dropout */
    int64_t epoch;      /* index of the first epoch to run: the random streams use it */
    double l1, l2;      /* penalty l1 sum|W| + l2/2 sum W^2 on the weights (not biases) */
} bn_train_config;

/* Training workspace, in elements of the parameter type, for batches of up to b rows:
 * gathered rows xb (B, S[in]), yb (B, S[L]) and row weights wb (B), per layer a and z
 * (B, S[l]), the convolutions' unfolded input (B OH OW, KH KW C), two deltas, and the
 * weight gradients' scratch (BN_DW_SCRATCH, layers.h). Row weights
 * sw (N) are optional everywhere (NULL: all ones). Returns -1 when the size does not fit
 * in int64 (checked.h): the caller must refuse the network then. */
int64_t bn_net_workspace_size(const bn_net *net, int64_t b);
/* where the network's output (B, S[L]) starts in the training workspace */
int64_t bn_net_output_offset(const bn_net *net, int64_t b);
/* prediction needs less: two (N, max S) ping-pong buffers, the input transposed and the
 * unfolded convolution input; -1 when that does not fit in int64 */
int64_t bn_net_predict_workspace_size(const bn_net *net, int64_t n);

/* Inputs: x (N, S[in]) dense rows, or, when xs is not NULL, CSR rows xs (scipy.sparse
 * input; the first layer is then dense) and x is not read. */
/* forward through the training workspace (keeps every layer's output for backward);
 * drop NULL: no dropout */
int bn_net_forward_f64(const bn_net *net, double *work, const double *params,
                       const double *x, const bn_csr_rows *xs, int64_t n,
                       const bn_dropout *drop);
int bn_net_forward_f32(const bn_net *net, float *work, const float *params,
                       const float *x, const bn_csr_rows *xs, int64_t n,
                       const bn_dropout *drop);
/* data loss of the last forward against y (N, S[L]), rows weighted by sw (N) or NULL */
double bn_net_loss_f64(const bn_net *net, const double *work, const double *y,
                       const double *sw, int64_t n);
double bn_net_loss_f32(const bn_net *net, const float *work, const float *y, const float *sw,
                       int64_t n);
/* l1 sum|W| + l2/2 sum W^2 over the weights */
double bn_net_penalty_f64(const bn_net *net, const double *params, double l1, double l2);
double bn_net_penalty_f32(const bn_net *net, const float *params, double l1, double l2);
/* gradients of (mean data loss + penalty) into dparams; needs the workspace of a forward
 * on the same x with the same dropout */
int bn_net_backward_f64(const bn_net *net, double *dparams, double *work, const double *params,
                        const double *x, const bn_csr_rows *xs, const double *y,
                        const double *sw, int64_t n, const bn_dropout *drop, double l1,
                        double l2);
int bn_net_backward_f32(const bn_net *net, float *dparams, float *work, const float *params,
                        const float *x, const bn_csr_rows *xs, const float *y,
                        const float *sw, int64_t n, const bn_dropout *drop, double l1,
                        double l2);
/* output (N, S[L]) for x, no dropout, through the prediction workspace */
int bn_net_predict_f64(const bn_net *net, double *out, double *work, const double *params,
                       const double *x, const bn_csr_rows *xs, int64_t n);
int bn_net_predict_f32(const bn_net *net, float *out, float *work, const float *params,
                       const float *x, const bn_csr_rows *xs, int64_t n);
/* `epochs` epochs from cfg->epoch; losses[e] is the mean over the epoch's batches of
 * (data loss + penalty) before each batch's update, weighted by batch rows. The workspace
 * is bn_net_workspace_size(net, cfg->batch_size); perm (N) and scratch (2N) serve
 * shuffling; state1/state2 are the optimizer's buffers (NULL where unused). backup
 * (3 * n_params) keeps the state at the last completed epoch: when SIGINT arrives
 * (BN_EINTERRUPTED: interrupt.h's flag, polled before every batch and after every epoch;
 * seen after an epoch, it stops there with nothing to roll back), or an epoch's loss or the parameters or optimizer state after it are
 * not finite (BN_EDIVERGED; losses[*completed] holds that epoch's loss), params, state and
 * opt->step are rolled back to it. *completed counts the epochs that finished with a finite
 * loss and finite parameters and state. */
int bn_net_train_f64(const bn_net *net, const bn_train_config *cfg, bn_optimizer *opt,
                     double *losses, int64_t *completed, int64_t epochs, double *params,
                     double *dparams, double *state1, double *state2, double *backup,
                     double *work, int64_t *perm, uint64_t *scratch, const double *x,
                     const bn_csr_rows *xs, const double *y, const double *sw, int64_t n);
int bn_net_train_f32(const bn_net *net, const bn_train_config *cfg, bn_optimizer *opt,
                     double *losses, int64_t *completed, int64_t epochs, float *params,
                     float *dparams, float *state1, float *state2, float *backup,
                     float *work, int64_t *perm, uint64_t *scratch, const float *x,
                     const bn_csr_rows *xs, const float *y, const float *sw, int64_t n);

#endif
