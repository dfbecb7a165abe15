/* mlp.c -- workspace layout and the two precisions of the network code. The body lives
 * once in mlp_impl.inc and is compiled for double and for float (one source for both
 * types, rather than two copies that drift apart). */
#include <stddef.h>

#include "mlp.h"

static int64_t max_width(const bn_mlp *net)
{
    int64_t w = 0;
    for (int64_t l = 1; l <= net->n_layers; l++)
        if (net->sizes[l] > w) w = net->sizes[l];
    return w;
}

/* training workspace for b rows: xb, yb, wb, then a[l], z[l] for l = 1..L, two deltas */
static int64_t yb_offset(const bn_mlp *net, int64_t b)
{
    return b * net->sizes[0];
}

static int64_t wb_offset(const bn_mlp *net, int64_t b)
{
    return yb_offset(net, b) + b * net->sizes[net->n_layers];
}

static int64_t a_offset(const bn_mlp *net, int64_t b, int64_t l)
{
    int64_t off = wb_offset(net, b) + b;
    for (int64_t i = 1; i < l; i++) off += 2 * b * net->sizes[i];
    return off;
}

static int64_t z_offset(const bn_mlp *net, int64_t b, int64_t l)
{
    return a_offset(net, b, l) + b * net->sizes[l];
}

static int64_t delta_offset(const bn_mlp *net, int64_t b)
{
    return a_offset(net, b, net->n_layers + 1);
}

int64_t bn_mlp_workspace_size(const bn_mlp *net, int64_t b)
{
    return delta_offset(net, b) + 2 * b * max_width(net);
}

int64_t bn_mlp_output_offset(const bn_mlp *net, int64_t b)
{
    return a_offset(net, b, net->n_layers);
}

int64_t bn_mlp_predict_workspace_size(const bn_mlp *net, int64_t n)
{
    return 2 * n * max_width(net);
}

#define REAL double
#define SFX(name) name##_f64
#define GEMM bn_dgemm
#define GEMM_BIAS_ACT bn_dgemm_bias_act
#define DACT bn_dact_f64
#define SOFTMAX_ROWS bn_softmax_rows_f64
#define LOSS_BCE bn_loss_bce_f64
#define LOSS_CROSS_ENTROPY bn_loss_cross_entropy_f64
#define LOSS_MSE bn_loss_mse_f64
#define DLOSS_LOGITS bn_dloss_logits_f64
#define DLOSS_MSE bn_dloss_mse_f64
#define OPTIMIZER_STEP bn_optimizer_step_f64
#include "mlp_impl.inc"
#undef REAL
#undef SFX
#undef GEMM
#undef GEMM_BIAS_ACT
#undef DACT
#undef SOFTMAX_ROWS
#undef LOSS_BCE
#undef LOSS_CROSS_ENTROPY
#undef LOSS_MSE
#undef DLOSS_LOGITS
#undef DLOSS_MSE
#undef OPTIMIZER_STEP

#define REAL float
#define SFX(name) name##_f32
#define GEMM bn_sgemm
#define GEMM_BIAS_ACT bn_sgemm_bias_act
#define DACT bn_dact_f32
#define SOFTMAX_ROWS bn_softmax_rows_f32
#define LOSS_BCE bn_loss_bce_f32
#define LOSS_CROSS_ENTROPY bn_loss_cross_entropy_f32
#define LOSS_MSE bn_loss_mse_f32
#define DLOSS_LOGITS bn_dloss_logits_f32
#define DLOSS_MSE bn_dloss_mse_f32
#define OPTIMIZER_STEP bn_optimizer_step_f32
#include "mlp_impl.inc"
