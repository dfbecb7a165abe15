/* pool2d.c -- max and average pooling as graph nodes: (H, W, C) -> (OH, OW, C) over
 * windows (KH, KW) moved by strides (SH, SW), without padding (kernels in layers.h). */
#ifndef REAL
#include "ops.h"

static int pool2d_check(const bn_net *net, const bn_layer *ly)
{
    int64_t in[3];
    bn_op_input_shape(net, ly, 0, in);
    return in[0] == ly->in_h && in[1] == ly->in_w && in[2] == ly->in_c && ly->kh >= 1
        && ly->kw >= 1 && ly->sh >= 1 && ly->sw >= 1 && ly->out_c == ly->in_c
        && ly->out_h >= 1 && ly->out_w >= 1
        && (ly->out_h - 1) * ly->sh + ly->kh <= ly->in_h
        && (ly->out_w - 1) * ly->sw + ly->kw <= ly->in_w
        /* max pooling's window offsets are kept as int32 in float networks */
        && ly->kh * ly->in_w * ly->in_c <= INT32_MAX;
}

#define BN_PRECISION_FILE "ops/pool2d.c"
#include "../precision.h"

const bn_op bn_op_maxpool2d = {
    .name = "maxpool2d",
    .min_inputs = 1,
    .max_inputs = 1,
    .check = pool2d_check,
    .forward = {pool2d_forward_f64, pool2d_forward_f32},
    .backward = {pool2d_backward_f64, pool2d_backward_f32},
};

const bn_op bn_op_avgpool2d = {
    .name = "avgpool2d",
    .min_inputs = 1,
    .max_inputs = 1,
    .check = pool2d_check,
    .forward = {pool2d_forward_f64, pool2d_forward_f32},
    .backward = {pool2d_backward_f64, pool2d_backward_f32},
};

#else /* ---- per precision ---- */

static int SFX(pool2d_forward)(const bn_op_args *g)
{
    SFX(bn_pool2d_forward)(g->a, g->in[0], g->ly, g->n);
    return BN_OK;
}

static int SFX(pool2d_backward)(const bn_op_args *g)
{
    if (g->din[0]) SFX(bn_pool2d_backward)(g->din[0], g->d, g->in[0], g->ly, g->n);
    return BN_OK;
}

#endif
