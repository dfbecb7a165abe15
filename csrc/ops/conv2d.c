/* conv2d.c -- 2-D convolution as a graph node: (H, W, C) -> (OH, OW, F), weights
 * (KH, KW, C, F), bias (F); its input unfolded into one row per output pixel (cols, the
 * kind's scratch) and a dense layer on those rows (kernels in layers.h). */
#ifndef REAL
#include "ops.h"

#include "../activations.h"

static int64_t conv2d_weight_count(const bn_layer *ly)
{
    return ly->kh * ly->kw * ly->in_c * ly->out_c;
}

static int64_t conv2d_param_count(const bn_layer *ly)
{
    return conv2d_weight_count(ly) + (ly->b_offset >= 0 ? ly->out_c : 0);
}

/* the unfolded input, one row (KH KW C) per output pixel */
static int64_t conv2d_scratch(const bn_layer *ly)
{
    return ly->out_h * ly->out_w * ly->kh * ly->kw * ly->in_c;
}

static int conv2d_keeps_z(const bn_layer *ly, int is_output)
{
    return is_output || ly->activation == BN_ACT_GELU;
}

static int conv2d_check(const bn_net *net, const bn_layer *ly)
{
    int64_t in[3];
    bn_op_input_shape(net, ly, 0, in);
    /* windows reaching past the input read zeros (im2col), so any output size is safe */
    return in[0] == ly->in_h && in[1] == ly->in_w && in[2] == ly->in_c && ly->kh >= 1
        && ly->kw >= 1 && ly->sh >= 1 && ly->sw >= 1 && ly->pad_top >= 0 && ly->pad_left >= 0
        && ly->out_h >= 1 && ly->out_w >= 1 && ly->activation >= BN_ACT_IDENTITY && ly->activation <= BN_ACT_EXP
        && ly->activation != BN_ACT_SOFTMAX
        && (ly->b_offset < 0 || ly->b_offset == ly->w_offset + conv2d_weight_count(ly));
}

#define BN_PRECISION_FILE "ops/conv2d.c"
#include "../precision.h"

const bn_op bn_op_conv2d = {
    .name = "conv2d",
    .min_inputs = 1,
    .max_inputs = 1,
    .param_count = conv2d_param_count,
    .weight_count = conv2d_weight_count,
    .scratch = conv2d_scratch,
    .keeps_z = conv2d_keeps_z,
    .check = conv2d_check,
    .forward = {conv2d_forward_f64, conv2d_forward_f32},
    .backward = {conv2d_backward_f64, conv2d_backward_f32},
};

#else /* ---- per precision ---- */

static int SFX(conv2d_forward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const REAL *p = g->params;
    return SFX(bn_conv2d_forward)(g->a, g->z, g->cols, g->in[0], p + ly->w_offset,
                                  ly->b_offset < 0 ? NULL : p + ly->b_offset, ly, g->n);
}

static int SFX(conv2d_backward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    REAL *dp = g->dparams;
    if (!g->is_output)
        SFX(bn_times_dact)(g->d, g->a, g->zk, g->n * bn_op_out_size(ly),
                           (int32_t)ly->activation);
    return SFX(bn_conv2d_backward)(dp + ly->w_offset, ly->b_offset < 0 ? NULL
                                   : dp + ly->b_offset, g->din[0], g->cols, g->dw_scratch,
                                   g->d, g->in[0], (const REAL *)g->params + ly->w_offset, ly,
                                   g->l1, g->l2, g->n);
}

#endif
