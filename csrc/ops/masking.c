/* masking.c -- padding in a sequence of values (1, T, C): a step whose C values all equal
 * mask_value is padding. Its step mask is 0 and its output zeros; every other step passes
 * unchanged with mask 1 (Keras's Masking). The mask goes to mask_out when the node makes
 * one (Python always asks it to); the gradient flows through the valid steps only. */
#ifndef REAL
#include <string.h>

#include "ops.h"

static int masking_check(const bn_net *net, const bn_layer *ly)
{
    int64_t in[3];
    bn_op_input_shape(net, ly, 0, in);
    return in[0] == ly->in_h && in[1] == ly->in_w && in[2] == ly->in_c && ly->in_h == 1
        && ly->out_h == 1 && ly->out_w == ly->in_w && ly->out_c == ly->in_c
        && ly->mask_out == 1;
}

#define BN_PRECISION_FILE "ops/masking.c"
#include "../precision.h"

const bn_op bn_op_masking = {
    .name = "masking",
    .min_inputs = 1,
    .max_inputs = 1,
    .makes_mask = 1,
    .check = masking_check,
    .forward = {masking_forward_f64, masking_forward_f32},
    .backward = {masking_backward_f64, masking_backward_f32},
};

#else /* ---- per precision ---- */

static int SFX(masking_forward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const int64_t steps = g->n * ly->in_w, c = ly->in_c;
    const REAL *x = g->in[0], v = (REAL)ly->mask_value;
    REAL *a = g->a, *mask = g->mask_out;
    for (int64_t r = 0; r < steps; r++) {
        const REAL *xr = x + r * c;
        int valid = 0;
        for (int64_t j = 0; j < c && !valid; j++) valid = xr[j] != v;
        if (valid) memcpy(a + r * c, xr, (size_t)c * sizeof(REAL));
        else memset(a + r * c, 0, (size_t)c * sizeof(REAL));
        mask[r] = (REAL)valid;
    }
    return BN_OK;
}

static int SFX(masking_backward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const int64_t steps = g->n * ly->in_w, c = ly->in_c;
    const REAL *mask = g->mask_out, *d = g->d;
    REAL *dx = g->din[0];
    if (dx == NULL) return BN_OK;
    for (int64_t r = 0; r < steps; r++) {
        if (mask[r] != 0) memcpy(dx + r * c, d + r * c, (size_t)c * sizeof(REAL));
        else memset(dx + r * c, 0, (size_t)c * sizeof(REAL));
    }
    return BN_OK;
}

#endif
