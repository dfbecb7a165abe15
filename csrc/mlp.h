/* mlp.h -- a dense multi-layer perceptron over one flat parameter buffer: forward, backward
 * (gradients of the mean loss, all from the forward pass's weights), and whole full-batch
 * training in one call. Python lays out the parameters and validates every input; this
 * code trusts both. Size letters: N rows, L weight layers, W[l] = sizes[l] widths. */
#ifndef BARENET_MLP_H
#define BARENET_MLP_H

#include <stdint.h>

typedef struct {
    int64_t n_layers;           /* L */
    const int64_t *sizes;       /* (L+1) widths: sizes[0] inputs, sizes[L] outputs */
    const int64_t *w_offsets;   /* (L) where layer l's weights (W[l], W[l+1]) start */
    const int64_t *b_offsets;   /* (L) where layer l's bias (W[l+1]) starts */
    const int32_t *activations; /* (L) bn_activation of each layer's output */
    int32_t loss;               /* bn_loss; the output activation matches it */
    int64_t n_params;           /* length of params and dparams */
} bn_mlp;

/* Workspace, in elements of the parameter type, for a batch of n rows:
 * a[1..L] (N, W[l]) layer outputs, z (N, W[L]) output logits, two (N, max W) deltas. */
int64_t bn_mlp_workspace_size(const bn_mlp *net, int64_t n);
/* where a[L], the network's output (N, W[L]), starts in the workspace */
int64_t bn_mlp_output_offset(const bn_mlp *net, int64_t n);

/* forward: fills the workspace; the output is at bn_mlp_output_offset */
int bn_mlp_forward_f64(const bn_mlp *net, double *work, const double *params,
                       const double *x, int64_t n);
int bn_mlp_forward_f32(const bn_mlp *net, float *work, const float *params,
                       const float *x, int64_t n);
/* loss of the last forward against y (N, W[L]) */
double bn_mlp_loss_f64(const bn_mlp *net, const double *work, const double *y, int64_t n);
double bn_mlp_loss_f32(const bn_mlp *net, const float *work, const float *y, int64_t n);
/* backward: gradients of the mean loss into dparams (same layout as params); needs the
 * workspace of a forward on the same x */
int bn_mlp_backward_f64(const bn_mlp *net, double *dparams, double *work, const double *params,
                        const double *x, const double *y, int64_t n);
int bn_mlp_backward_f32(const bn_mlp *net, float *dparams, float *work, const float *params,
                        const float *x, const float *y, int64_t n);
/* epochs of full-batch gradient descent; losses[e] is the loss before epoch e's update */
int bn_mlp_train_full_batch_f64(const bn_mlp *net, double *losses, double *params,
                                double *dparams, double *work, const double *x,
                                const double *y, int64_t n, int64_t epochs, double lr);
int bn_mlp_train_full_batch_f32(const bn_mlp *net, double *losses, float *params,
                                float *dparams, float *work, const float *x,
                                const float *y, int64_t n, int64_t epochs, float lr);

#endif
