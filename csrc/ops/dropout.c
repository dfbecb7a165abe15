/* dropout.c -- inverted dropout as a graph node: while training each value is zeroed with
 * probability `rate` and the others scaled by 1 / (1 - rate), the mask drawn from the
 * counter-based generator at the value's channels-first position (layers.h, bn_dropout);
 * the identity when not training (prediction skips it). */
#ifndef REAL
#include "ops.h"

static int dropout_check(const bn_net *net, const bn_layer *ly)
{
    int64_t in[3];
    bn_op_input_shape(net, ly, 0, in);
    return in[0] * in[1] * in[2] == bn_op_in_size(ly) && bn_op_out_size(ly) == bn_op_in_size(ly)
        && ly->rate >= 0.0 && ly->rate < 1.0;
}

#define BN_PRECISION_FILE "ops/dropout.c"
#include "../precision.h"

const bn_op bn_op_dropout = {
    .name = "dropout",
    .min_inputs = 1,
    .max_inputs = 1,
    .check = dropout_check,
    .identity_in_predict = 1,
    .forward = {dropout_forward_f64, dropout_forward_f32},
    .backward = {dropout_backward_f64, dropout_backward_f32},
};

#else /* ---- per precision ---- */

static int SFX(dropout_forward)(const bn_op_args *g)
{
    SFX(bn_dropout_forward)(g->a, g->in[0], g->ly, g->drop, g->n);
    return BN_OK;
}

static int SFX(dropout_backward)(const bn_op_args *g)
{
    if (g->din[0]) SFX(bn_dropout_backward)(g->din[0], g->d, g->ly, g->drop, g->n);
    return BN_OK;
}

#endif
