/* dense.c -- the dense layer as a graph node: z = x W + b at every position of its input
 * (a flat vector, or each step of a sequence), a = act(z); weights (IN, OUT), bias (OUT).
 * The kernels are in layers.h (GEMM with the bias and activation fused); a first dense
 * node may read CSR rows (scipy.sparse input). Derivatives come from a, except gelu's
 * (and the output's logits, which the loss reads), so only those keep z. */
#ifndef REAL
#include "ops.h"

#include "../activations.h"

static int64_t dense_weight_count(const bn_layer *ly) { return ly->in_c * ly->out_c; }

static int64_t dense_param_count(const bn_layer *ly)
{
    return ly->in_c * ly->out_c + (ly->b_offset >= 0 ? ly->out_c : 0);
}

static int dense_keeps_z(const bn_layer *ly, int is_output)
{
    return is_output || ly->activation == BN_ACT_GELU;
}

static int dense_check(const bn_net *net, const bn_layer *ly)
{
    int64_t in[3];
    bn_op_input_shape(net, ly, 0, in);
    return in[0] == ly->in_h && in[1] == ly->in_w && in[2] == ly->in_c
        && ly->out_h == ly->in_h && ly->out_w == ly->in_w
        && ly->activation >= BN_ACT_IDENTITY && ly->activation <= BN_ACT_EXP
        && (ly->b_offset < 0 || ly->b_offset == ly->w_offset + ly->in_c * ly->out_c);
}

#define BN_PRECISION_FILE "ops/dense.c"
#include "../precision.h"

const bn_op bn_op_dense = {
    .name = "dense",
    .min_inputs = 1,
    .max_inputs = 1,
    .param_count = dense_param_count,
    .weight_count = dense_weight_count,
    .keeps_z = dense_keeps_z,
    .check = dense_check,
    .forward = {dense_forward_f64, dense_forward_f32},
    .backward = {dense_backward_f64, dense_backward_f32},
};

#else /* ---- per precision ---- */

static int SFX(dense_forward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const REAL *p = g->params, *w = p + ly->w_offset;
    const REAL *b = ly->b_offset < 0 ? NULL : p + ly->b_offset;
    const int64_t rows = g->n * ly->in_h * ly->in_w; /* (N H W, IN) */
    if (g->xs)
        return SFX(bn_dense_forward_csr)(g->a, g->z, g->xs, w, b, (int32_t)ly->activation,
                                         g->stats, rows, ly->in_c, ly->out_c);
    return SFX(bn_dense_forward)(g->a, g->z, g->in[0], w, b, (int32_t)ly->activation,
                                 g->stats, rows, ly->in_c, ly->out_c);
}

static int SFX(dense_backward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    REAL *dp = g->dparams, *dw = dp + ly->w_offset;
    REAL *db = ly->b_offset < 0 ? NULL : dp + ly->b_offset;
    const REAL *w = (const REAL *)g->params + ly->w_offset;
    const int64_t rows = g->n * ly->in_h * ly->in_w;
    if (!g->is_output) /* d becomes dloss/dz */
        SFX(bn_times_dact)(g->d, g->a, g->zk, rows * ly->out_c, (int32_t)ly->activation);
    if (g->xs)
        return SFX(bn_dense_backward_csr)(dw, db, g->d, g->xs, w, g->l1, g->l2, rows,
                                          ly->in_c, ly->out_c);
    return SFX(bn_dense_backward)(dw, db, g->din[0], g->dw_scratch, g->d, g->in[0], w, g->l1,
                                  g->l2, rows, ly->in_c, ly->out_c);
}

#endif
