/* activation.c -- an activation function as a node of its own (after a normalisation, or
 * on the sum of a residual connection): a = act(x) elementwise, its derivative from a (gelu
 * from x, its input). Softmax stays with the dense output layer. */
#ifndef REAL
#include <string.h>

#include "ops.h"
#include "../activations.h"
#include "../parallel.h"

static int activation_check(const bn_net *net, const bn_layer *ly)
{
    int64_t in[3];
    bn_op_input_shape(net, ly, 0, in);
    return in[0] == ly->in_h && in[1] == ly->in_w && in[2] == ly->in_c && ly->out_h == ly->in_h
        && ly->out_w == ly->in_w && ly->out_c == ly->in_c && ly->activation >= BN_ACT_IDENTITY
        && ly->activation <= BN_ACT_EXP && ly->activation != BN_ACT_SOFTMAX;
}

#define BN_PRECISION_FILE "ops/activation.c"
#include "../precision.h"

const bn_op bn_op_activation = {
    .name = "activation",
    .min_inputs = 1,
    .max_inputs = 1,
    .check = activation_check,
    .forward = {activation_forward_f64, activation_forward_f32},
    .backward = {activation_backward_f64, activation_backward_f32},
};

#else /* ---- per precision ---- */

/* a[i0:i1] = act(x[i0:i1]); a constant activation per loop, so each loop vectorises */
BN_VECTOR_CLONES
static void SFX(activation_range)(REAL *a, const REAL *x, int64_t i0, int64_t i1, int32_t act)
{
#define BN_APPLY(ACT_ID) for (int64_t i = i0; i < i1; i++) a[i] = ACT(ACT_ID, x[i])
    switch ((bn_activation)act) {
    case BN_ACT_IDENTITY: memcpy(a + i0, x + i0, (size_t)(i1 - i0) * sizeof(REAL)); break;
    case BN_ACT_RELU: BN_APPLY(BN_ACT_RELU); break;
    case BN_ACT_LEAKY_RELU: BN_APPLY(BN_ACT_LEAKY_RELU); break;
    case BN_ACT_SIGMOID: BN_APPLY(BN_ACT_SIGMOID); break;
    case BN_ACT_TANH: BN_APPLY(BN_ACT_TANH); break;
    case BN_ACT_GELU: BN_APPLY(BN_ACT_GELU); break;
    case BN_ACT_EXP: BN_APPLY(BN_ACT_EXP); break;
    case BN_ACT_SOFTMAX: BN_APPLY(BN_ACT_IDENTITY); break; /* refused by the check */
    }
#undef BN_APPLY
}

static int SFX(activation_forward)(const bn_op_args *g)
{
    const int64_t count = g->n * bn_op_out_size(g->ly);
    const int32_t act = (int32_t)g->ly->activation;
    const REAL *x = g->in[0];
    REAL *a = g->a;
    const int nt = bn_threads_for(count / 4096, (double)count);
    BN_PARALLEL_FOR(nt, for (int t = 0; t < nt; t++)
        SFX(activation_range)(a, x, count * t / nt, count * (t + 1) / nt, act););
    return BN_OK;
}

static int SFX(activation_backward)(const bn_op_args *g)
{
    REAL *dx = g->din[0];
    if (dx == NULL) return BN_OK;
    const int64_t count = g->n * bn_op_out_size(g->ly);
    bn_copy(dx, g->d, count, sizeof(REAL));
    SFX(bn_times_dact)(dx, g->a, g->in[0], count, (int32_t)g->ly->activation);
    return BN_OK;
}

#endif
