/* net.c -- workspace layout and the two precisions of the network code. The body lives
 * once in net_impl.inc and is compiled for double and for float (one source for both
 * types, rather than two copies that drift apart). */
#include <stddef.h>

#include "activations.h"
#include "checked.h"
#include "net.h"

/* Every size below goes through checked.h: -1 when it does not fit in int64 (or a part of
 * it did not), so bn_net_workspace_size and bn_net_predict_workspace_size return -1 for a
 * network whose workspace cannot exist, and Python refuses it before anything runs. When
 * they return a size >= 0, every offset into that workspace is smaller, so the offset
 * functions used by net_impl.inc cannot be -1 there. */

/* values per sample of layer l's output; l = -1 is the network's input */
static int64_t size_of(const bn_net *net, int64_t l)
{
    const bn_layer *ly = &net->layers[l < 0 ? 0 : l];
    return l < 0 ? bn_size_mul3(ly->in_h, ly->in_w, ly->in_c)
                 : bn_size_mul3(ly->out_h, ly->out_w, ly->out_c);
}

/* the larger of two sizes; -1 when either is -1 */
static int64_t size_max(int64_t a, int64_t b)
{
    return a < 0 || b < 0 ? -1 : (a > b ? a : b);
}

/* which dense and convolution layers keep z (their pre-activation): the output layer, whose
 * logits the losses read, and gelu layers, whose derivative needs z; every other
 * activation's derivative comes from its output a (activations.h), so z is not stored */
static int keeps_z(const bn_net *net, int64_t l)
{
    const bn_layer *ly = &net->layers[l];
    if (ly->kind != BN_LAYER_DENSE && ly->kind != BN_LAYER_CONV2D) return 0;
    return l == net->n_layers - 1 || ly->activation == BN_ACT_GELU;
}

/* the input must go from channels-first to channels-last (an image with several channels) */
static int transposes_input(const bn_net *net)
{
    const bn_layer *ly = &net->layers[0];
    return net->input_chw && ly->in_c > 1 && (ly->in_h > 1 || ly->in_w > 1);
}

static int64_t max_size(const bn_net *net)
{
    int64_t s = 0;
    for (int64_t l = 0; l < net->n_layers; l++) s = size_max(s, size_of(net, l));
    return s;
}

/* values per sample of the largest unfolded convolution input (0 without convolutions) */
static int64_t max_cols(const bn_net *net)
{
    int64_t s = 0;
    for (int64_t l = 0; l < net->n_layers; l++) {
        const bn_layer *ly = &net->layers[l];
        if (ly->kind == BN_LAYER_CONV2D)
            s = size_max(s, bn_size_mul(bn_size_mul3(ly->out_h, ly->out_w, ly->kh),
                                        bn_size_mul(ly->kw, ly->in_c)));
    }
    return s;
}

/* training workspace for b rows: xb, xt (only when transposing), yb, wb, then a[l] and
 * z[l] (only where kept) for l = 0..L-1, cols, two deltas, the weight gradients' scratch */
static int64_t xt_offset(const bn_net *net, int64_t b) { return bn_size_mul(b, size_of(net, -1)); }

static int64_t yb_offset(const bn_net *net, int64_t b)
{
    return bn_size_add(xt_offset(net, b),
                       transposes_input(net) ? bn_size_mul(b, size_of(net, -1)) : 0);
}

static int64_t wb_offset(const bn_net *net, int64_t b)
{
    return bn_size_add(yb_offset(net, b), bn_size_mul(b, size_of(net, net->n_layers - 1)));
}

static int64_t a_offset(const bn_net *net, int64_t b, int64_t l)
{
    int64_t off = bn_size_add(wb_offset(net, b), b);
    for (int64_t i = 0; i < l; i++)
        off = bn_size_add(off, bn_size_mul3(keeps_z(net, i) ? 2 : 1, b, size_of(net, i)));
    return off;
}

static int64_t z_offset(const bn_net *net, int64_t b, int64_t l)
{
    return bn_size_add(a_offset(net, b, l), bn_size_mul(b, size_of(net, l)));
}

static int64_t cols_offset(const bn_net *net, int64_t b)
{
    return a_offset(net, b, net->n_layers);
}

static int64_t delta_offset(const bn_net *net, int64_t b)
{
    return bn_size_add(cols_offset(net, b), bn_size_mul(b, max_cols(net)));
}

/* after the deltas: the weight gradients' scratch (layers.h) */
static int64_t scratch_offset(const bn_net *net, int64_t b)
{
    return bn_size_add(delta_offset(net, b), bn_size_mul3(2, b, max_size(net)));
}

/* after the scratch: a softmax output's row statistics for the cross-entropy (2B) */
static int64_t stats_offset(const bn_net *net, int64_t b)
{
    return bn_size_add(scratch_offset(net, b), BN_DW_SCRATCH);
}

int64_t bn_net_workspace_size(const bn_net *net, int64_t b)
{
    return bn_size_add(stats_offset(net, b), bn_size_mul(2, b));
}

int64_t bn_net_output_offset(const bn_net *net, int64_t b)
{
    return a_offset(net, b, net->n_layers - 1);
}

/* prediction: two ping-pong buffers (N, max S), xt (N, S[in]) when transposing, cols */
int64_t bn_net_predict_workspace_size(const bn_net *net, int64_t n)
{
    const int64_t per_row = bn_size_add(
        bn_size_add(bn_size_mul(2, max_size(net)),
                    transposes_input(net) ? size_of(net, -1) : 0),
        max_cols(net));
    return bn_size_mul(n, per_row);
}

#define REAL double
#define SFX(name) name##_f64
#define DACT bn_dact_f64
#define LOSS_BCE bn_loss_bce_f64
#define LOSS_CROSS_ENTROPY bn_loss_cross_entropy_f64
#define LOSS_MSE bn_loss_mse_f64
#define LOSS_POISSON bn_loss_poisson_f64
#define DLOSS_LOGITS bn_dloss_logits_f64
#define DLOSS_MSE bn_dloss_mse_f64
#define OPTIMIZER_STEP bn_optimizer_step_f64
#include "net_impl.inc"
#undef REAL
#undef SFX
#undef DACT
#undef LOSS_BCE
#undef LOSS_CROSS_ENTROPY
#undef LOSS_MSE
#undef LOSS_POISSON
#undef DLOSS_LOGITS
#undef DLOSS_MSE
#undef OPTIMIZER_STEP

#define REAL float
#define SFX(name) name##_f32
#define DACT bn_dact_f32
#define LOSS_BCE bn_loss_bce_f32
#define LOSS_CROSS_ENTROPY bn_loss_cross_entropy_f32
#define LOSS_MSE bn_loss_mse_f32
#define LOSS_POISSON bn_loss_poisson_f32
#define DLOSS_LOGITS bn_dloss_logits_f32
#define DLOSS_MSE bn_dloss_mse_f32
#define OPTIMIZER_STEP bn_optimizer_step_f32
#include "net_impl.inc"
