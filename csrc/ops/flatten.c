/* flatten.c -- (H, W, C) -> (1, 1, C H W) in channels-first order, the order a user's
 * image rows have (Python describes a sequence as (1, 1, T C): a copy). */
#ifndef REAL
#include "ops.h"

static int flatten_check(const bn_net *net, const bn_layer *ly)
{
    int64_t in[3];
    bn_op_input_shape(net, ly, 0, in);
    return in[0] * in[1] * in[2] == bn_op_in_size(ly) && ly->out_h == 1 && ly->out_w == 1
        && ly->out_c == bn_op_in_size(ly);
}

#define BN_PRECISION_FILE "ops/flatten.c"
#include "../precision.h"

const bn_op bn_op_flatten = {
    .name = "flatten",
    .min_inputs = 1,
    .max_inputs = 1,
    .check = flatten_check,
    .forward = {flatten_forward_f64, flatten_forward_f32},
    .backward = {flatten_backward_f64, flatten_backward_f32},
};

#else /* ---- per precision ---- */

static int SFX(flatten_forward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    SFX(bn_hwc_to_chw)(g->a, g->in[0], g->n, ly->in_h * ly->in_w, ly->in_c);
    return BN_OK;
}

static int SFX(flatten_backward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    if (g->din[0]) SFX(bn_chw_to_hwc)(g->din[0], g->d, g->n, ly->in_h * ly->in_w, ly->in_c);
    return BN_OK;
}

#endif
