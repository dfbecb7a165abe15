/* net.h -- a network as a directed acyclic graph of layers (csrc/ops/: dense, 2-D
 * convolution, pooling, flatten, dropout, add, concatenate, multiply) over one flat
 * parameter buffer: forward (dropout only when training), loss and L1/L2 penalty, backward
 * (gradients of the mean loss, summed where a node's output feeds several nodes),
 * prediction, and whole epochs of mini-batch training with shuffling and an optimizer in
 * one call. Python lays out the nodes (in topological order: a node's inputs come before
 * it) and the parameters and validates every input and setting; bn_net_plan checks the
 * description once and lays out the workspaces; nothing here allocates.
 * Layout: a sample's activations are (H, W, C), channels last, so a convolution is one
 * GEMM over all the batch's output pixels; sequences are (1, T, C), flat vectors (1, 1, n).
 * Network inputs arrive channels first for images, (C, H, W) per row, and are transposed
 * once (net->input_chw). The last node is the output (dense); the loss reads it.
 * Size letters: N rows, B rows per batch, L nodes, S[l] values per sample of node l. */
#ifndef BARENET_NET_H
#define BARENET_NET_H

#include <stdint.h>

#include "layers.h"
#include "optimizers.h"

/* statuses beyond gemm.h's BN_OK / BN_ENOMEM and optimizers.h's BN_OPT_EINVAL */
#define BN_EINTERRUPTED 3 /* SIGINT arrived (interrupt.h); state rolled back */
#define BN_EDIVERGED 4    /* an epoch's loss was not finite; state rolled back */
#define BN_ENET 5         /* the network description is inconsistent (bn_net_plan) */
#define BN_EOVERFLOW 6    /* a size of the network overflows int64 (bn_net_plan) */
#define BN_EREDUCE 7      /* the reduce hook of data-parallel training failed (bn_reduce) */
#define BN_ENONFINITE_OUTPUT 8 /* generation: a row of probabilities is not finite */

/* where one node's buffers are; bn_net_plan fills it. Offsets count elements per batch
 * row: a buffer of node l in a workspace for n rows starts at n * offset. */
typedef struct {
    int64_t a, z;       /* training: its output, its kept pre-activation (-1: not kept) */
    int64_t d;          /* training: its gradient slot (-1: no gradient flows to it) */
    int64_t p;          /* prediction: its output (-1: the output array, or none) */
    int64_t p_src;      /* prediction: the node whose output it is (itself, or the input
                         * of an identity node such as dropout; -1: the network input) */
    int64_t needs_grad; /* it, or a node before it, has parameters */
    int64_t f;          /* training: its fixed-size scratch (not per row), after the
                         * weight gradients' scratch (-1: none) */
    int64_t m, pm;      /* the step mask it makes (mask_out), (T) per row, in the training
                         * and the prediction workspace (-1: none) */
    int64_t c;          /* its carried state in the carry buffer (N * carry_size): a block
                         * (N, carry_count) at N * c (-1: none) */
} bn_node_plan;

typedef struct {
    int64_t n_layers;          /* L */
    const bn_layer *layers;    /* (L) in topological order; the last one is dense */
    const int64_t *inputs;     /* the nodes' inputs (bn_layer.first_input, n_inputs): node
                                * indices below the reader's own, -1 = the network input */
    int64_t n_edges;           /* length of inputs */
    int64_t in_h, in_w, in_c;  /* the network input of one sample, channels last */
    int32_t input_chw;         /* 1: transpose input rows from (C, H, W) to (H, W, C) */
    int32_t loss;              /* bn_loss; the output activation suits it */
    int64_t n_params;          /* length of params and dparams */
    int64_t n_state;           /* length of the state buffer (running statistics) */
    /* filled by bn_net_plan (storage given by the caller) */
    bn_node_plan *plan;        /* (L) */
    int32_t *edge_acc;         /* (n_edges) 1: this input's gradient adds to a slot another
                                * reader wrote first (fan-out), through a temporary */
    int64_t max_size;          /* largest S[l], the network input's included */
    int64_t n_tmp;             /* temporaries a node needs for fan-out sums */
    /* per-row offsets of the training workspace's regions (the gathered rows xb at 0),
     * its elements per row, then the same for prediction */
    int64_t row_xt, row_yb, row_wb, row_stats, row_tmp, row_cols, train_row;
    int64_t prow_xt, prow_cols, predict_row;
    int64_t fixed_size;        /* the nodes' fixed-size scratch, after the per-row regions */
    int64_t carry_size;        /* values per row of the state recurrent nodes carry */
    int64_t y_size;            /* values per row of the targets y: S[L], or the output's
                                * steps for the sequence cross-entropy (class ids) */
} bn_net;

/* Check the description (every kind known, inputs before their readers, shapes and
 * parameter ranges consistent with each kind's rules, sizes without int64 overflow) and lay
 * out the workspaces into net's plan fields; scratch is (2L). BN_OK, BN_ENET or
 * BN_EOVERFLOW; a network is used only after BN_OK. */
int bn_net_plan(bn_net *net, int64_t *scratch);

typedef struct {
    int64_t batch_size; /* rows per step, 1..N (N: full batch) */
    int32_t shuffle;    /* draw a new row order each epoch (only when batch_size < N) */
    uint64_t seed;      /* for shuffling and dropout */
    int64_t epoch;      /* index of the first epoch to run: the random streams use it */
    double l1, l2;      /* penalty l1 sum|W| + l2/2 sum W^2 on the weights (not biases) */
    /* a learning rate per optimizer step (bn_step_lr), when warmup_steps or decay_steps is
     * above 0; otherwise opt->lr for every step */
    int64_t warmup_steps, decay_steps;
    double min_lr;
} bn_train_config;

/* Data-parallel training (barenet.distributed), a hook the epoch loop calls so that it
 * never leaves C for anything but the reduction. Each global batch of NB rows is cut into
 * `parts` contiguous parts, part k being the batch's rows [k NB / parts, (k+1) NB / parts);
 * this process computes parts first..last-1, each by its own forward and backward (dropout
 * masks at the rows' positions in the global batch, bn_dropout.row), and after each calls
 * fn(ctx, k, dparams, &loss, rows, NB) with that part's gradient (of its mean data loss +
 * penalty; zeros for a part of 0 rows) and its loss. After the call for part last-1, fn has
 * replaced dparams and loss by the global batch's (the rows-weighted sum over every part of
 * every process, sum_k rows_k / NB * part_k) and the optimizer steps with them. fn returns
 * BN_OK, BN_EINTERRUPTED (some process saw SIGINT: all of them return it at the same batch)
 * or BN_EREDUCE (ctx says why). With a hook the loop polls no interrupt flag itself (fn
 * agrees on it with the other processes) and n is the global data set's size on every
 * process. dparams is REAL * (float or double as the network). Networks with state (batch
 * normalisation) are not trained this way (barenet.distributed refuses them). */
typedef int (*bn_reduce_fn)(void *ctx, int64_t part, void *dparams, double *loss, int64_t rows,
                            int64_t batch_rows);
typedef struct {
    bn_reduce_fn fn;
    void *ctx;
    int64_t parts, first, last; /* 1 <= parts; 0 <= first < last <= parts */
} bn_reduce;

/* the learning rate of optimizer step `step` (counting from 0) from the base rate lr:
 * lr (step + 1) / warmup_steps during the warm-up, then a cosine from lr down to min_lr over
 * decay_steps steps, then min_lr (lr itself after the warm-up when decay_steps is 0) */
double bn_step_lr(double lr, int64_t step, int64_t warmup_steps, int64_t decay_steps,
                  double min_lr);

/* The state buffer (S) holds what layers keep that training does not optimise (batch
 * normalisation's running statistics): read when not training, updated once per training
 * step by bn_net_update_state. NULL when n_state is 0. */
/* Training workspace, in elements of the parameter type, for batches of up to b rows:
 * gathered rows xb (B, S[in]), the input made channels-last, yb (B, y_size), row weights wb
 * (B), a softmax's row statistics (2B), per node a and z (B, S[l]), the gradient slots
 * and fan-out temporaries (B, max S) each, the kinds' scratch (the convolutions' unfolded
 * input), the weight gradients' scratch (BN_DW_SCRATCH, layers.h) and the kinds'
 * fixed-size scratch (batch statistics). Row weights sw (N)
 * are optional everywhere (NULL: all ones). -1 when the size overflows int64. */
int64_t bn_net_workspace_size(const bn_net *net, int64_t b);
/* where the network's output (B, S[L]) starts in the training workspace */
int64_t bn_net_output_offset(const bn_net *net, int64_t b);
/* prediction needs less: the buffers of the nodes whose outputs are still to be read
 * (two for a chain), the input transposed and the kinds' scratch. -1 on overflow. */
int64_t bn_net_predict_workspace_size(const bn_net *net, int64_t n);

/* Inputs: x (N, S[in]) dense rows, or, when xs is not NULL, CSR rows xs (scipy.sparse
 * input; the first layer is then dense) and x is not read. */
/* forward through the training workspace (keeps every layer's output for backward);
 * drop NULL: no dropout */
int bn_net_forward_f64(const bn_net *net, double *work, const double *params,
                       const double *state, const double *x, const bn_csr_rows *xs, int64_t n,
                       const bn_dropout *drop);
int bn_net_forward_f32(const bn_net *net, float *work, const float *params,
                       const float *state, const float *x, const bn_csr_rows *xs, int64_t n,
                       const bn_dropout *drop);
/* data loss of the last forward against y (N, y_size), rows weighted by sw (N) or NULL */
double bn_net_loss_f64(const bn_net *net, const double *work, const double *y,
                       const double *sw, int64_t n);
double bn_net_loss_f32(const bn_net *net, const float *work, const float *y, const float *sw,
                       int64_t n);
/* AdamW's decoupled decay of the weights only (the kernels the penalty acts on):
 * w *= 1 - lr wd, the factor rounded once to the parameter type */
void bn_net_decay_weights_f64(const bn_net *net, double *params, double lr, double wd);
void bn_net_decay_weights_f32(const bn_net *net, float *params, double lr, double wd);
/* l1 sum|W| + l2/2 sum W^2 over the weights */
double bn_net_penalty_f64(const bn_net *net, const double *params, double l1, double l2);
double bn_net_penalty_f32(const bn_net *net, const float *params, double l1, double l2);
/* gradients of (mean data loss + penalty) into dparams; needs the workspace of a forward
 * on the same x with the same dropout */
int bn_net_backward_f64(const bn_net *net, double *dparams, double *work, const double *params,
                        const double *state, const double *x, const bn_csr_rows *xs, const double *y,
                        const double *sw, int64_t n, const bn_dropout *drop, double l1,
                        double l2);
int bn_net_backward_f32(const bn_net *net, float *dparams, float *work, const float *params,
                        const float *state, const float *x, const bn_csr_rows *xs, const float *y,
                        const float *sw, int64_t n, const bn_dropout *drop, double l1,
                        double l2);
/* output (N, S[L]) for x, no dropout, through the prediction workspace */
/* carry: (N * carry_size) the recurrent nodes' state, read as the initial state and
 * overwritten with the final one (a sequence continued over calls), or NULL (zeros) */
int bn_net_predict_f64(const bn_net *net, double *out, double *work, const double *params,
                       const double *state, const double *x, const bn_csr_rows *xs, int64_t n,
                       double *carry);
int bn_net_predict_f32(const bn_net *net, float *out, float *work, const float *params,
                       const float *state, const float *x, const bn_csr_rows *xs, int64_t n,
                       float *carry);
/* generation (generate.c): `steps` tokens per row, each sampled from the row of proba
 * (b, v: the prediction after the prompt, then overwritten step after step) with the
 * uniform number uniforms[t * b + i] (NULL when temperature is 0), written to
 * tokens[i * ldt + t] and fed back as x (b, 1) through a prediction with carry (after the
 * last token too when more: proba then holds the probabilities for a next call); top_k 0:
 * all tokens. scratch: 2 v doubles. BN_OK, BN_ENONFINITE_OUTPUT, or predict's status. */
int bn_net_generate_f64(const bn_net *net, double *proba, int64_t v, double *work,
                        const double *params, const double *state, double *x, double *carry,
                        int64_t b, int64_t steps, const double *uniforms, double temperature,
                        int64_t top_k, double *scratch, int64_t *tokens, int64_t ldt,
                        int more);
int bn_net_generate_f32(const bn_net *net, float *proba, int64_t v, float *work,
                        const float *params, const float *state, float *x, float *carry,
                        int64_t b, int64_t steps, const double *uniforms, double temperature,
                        int64_t top_k, double *scratch, int64_t *tokens, int64_t ldt,
                        int more);
/* the index of the first NaN or infinity among x's count values, or -1 (the input check
 * of a prediction, one vectorised pass) */
int64_t bn_first_nonfinite_f64(const double *x, int64_t count);
int64_t bn_first_nonfinite_f32(const float *x, int64_t count);
/* after a training forward on n rows (drop not NULL): the state's running statistics move
 * towards the batch's (each kind's update_state) */
void bn_net_update_state_f64(const bn_net *net, const double *work, double *state, int64_t n);
void bn_net_update_state_f32(const bn_net *net, const float *work, float *state, int64_t n);
/* `epochs` epochs from cfg->epoch (reduce NULL: one process, else see bn_reduce);
 * losses[e] is the mean over the epoch's batches of (data loss + penalty) before each
 * batch's update, weighted by batch rows. The workspace is
 * bn_net_workspace_size(net, cfg->batch_size); perm (N) and scratch (2N) serve
 * shuffling; state1/state2 are the optimizer's buffers (NULL where unused), state the
 * network's (NULL when n_state is 0). backup (3 n_params + n_state) keeps all of them at
 * the last completed epoch: when SIGINT arrives (BN_EINTERRUPTED: interrupt.h's flag,
 * polled before every batch and after every epoch; seen after an epoch, it stops there
 * with nothing to roll back), or an epoch's loss or the parameters or optimizer state after it are
 * not finite (BN_EDIVERGED; losses[*completed] holds that epoch's loss), params, state and
 * opt->step are rolled back to it. *completed counts the epochs that finished with a finite
 * loss and finite parameters and state. */
int bn_net_train_f64(const bn_net *net, const bn_train_config *cfg, bn_optimizer *opt,
                     double *losses, int64_t *completed, int64_t epochs, double *params,
                     double *state, double *dparams, double *state1, double *state2, double *backup,
                     double *work, int64_t *perm, uint64_t *scratch, const double *x,
                     const bn_csr_rows *xs, const double *y, const double *sw, int64_t n,
                     const bn_reduce *reduce);
int bn_net_train_f32(const bn_net *net, const bn_train_config *cfg, bn_optimizer *opt,
                     double *losses, int64_t *completed, int64_t epochs, float *params,
                     float *state, float *dparams, float *state1, float *state2, float *backup,
                     float *work, int64_t *perm, uint64_t *scratch, const float *x,
                     const bn_csr_rows *xs, const float *y, const float *sw, int64_t n,
                     const bn_reduce *reduce);

#endif
