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

/* offset of a[l] (l = 1..L) */
static int64_t act_offset(const bn_mlp *net, int64_t n, int64_t l)
{
    int64_t off = 0;
    for (int64_t i = 1; i < l; i++) off += n * net->sizes[i];
    return off;
}

static int64_t logits_offset(const bn_mlp *net, int64_t n)
{
    return act_offset(net, n, net->n_layers + 1);
}

static int64_t delta_offset(const bn_mlp *net, int64_t n)
{
    return logits_offset(net, n) + n * net->sizes[net->n_layers];
}

int64_t bn_mlp_workspace_size(const bn_mlp *net, int64_t n)
{
    return delta_offset(net, n) + 2 * n * max_width(net);
}

int64_t bn_mlp_output_offset(const bn_mlp *net, int64_t n)
{
    return act_offset(net, n, net->n_layers);
}

#define REAL double
#define SFX(name) name##_f64
#define GEMM bn_dgemm
#define ACT bn_act_f64
#define DACT bn_dact_f64
#define LOSS_BCE bn_loss_bce_f64
#define DLOSS_BCE bn_dloss_bce_f64
#define SGD_STEP bn_sgd_step_f64
#include "mlp_impl.inc"
#undef REAL
#undef SFX
#undef GEMM
#undef ACT
#undef DACT
#undef LOSS_BCE
#undef DLOSS_BCE
#undef SGD_STEP

#define REAL float
#define SFX(name) name##_f32
#define GEMM bn_sgemm
#define ACT bn_act_f32
#define DACT bn_dact_f32
#define LOSS_BCE bn_loss_bce_f32
#define DLOSS_BCE bn_dloss_bce_f32
#define SGD_STEP bn_sgd_step_f32
#include "mlp_impl.inc"
