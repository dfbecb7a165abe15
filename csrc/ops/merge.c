/* merge.c -- the nodes that join several inputs: add (sum, in input order), multiply
 * (elementwise product) and concatenate (side by side along channels). Add and multiply
 * take inputs of the output's shape; concatenate inputs of the same (H, W). */
#ifndef REAL
#include <string.h>

#include "ops.h"
#include "../parallel.h"

/* every input has the output's shape */
static int same_shape_check(const bn_net *net, const bn_layer *ly)
{
    for (int64_t i = 0; i < ly->n_inputs; i++) {
        int64_t in[3];
        bn_op_input_shape(net, ly, i, in);
        if (in[0] != ly->out_h || in[1] != ly->out_w || in[2] != ly->out_c) return 0;
    }
    return ly->in_h == ly->out_h && ly->in_w == ly->out_w && ly->in_c == ly->out_c;
}

/* inputs of the output's (H, W) whose channels add up to the output's */
static int concatenate_check(const bn_net *net, const bn_layer *ly)
{
    int64_t channels = 0;
    for (int64_t i = 0; i < ly->n_inputs; i++) {
        int64_t in[3];
        bn_op_input_shape(net, ly, i, in);
        if (in[0] != ly->out_h || in[1] != ly->out_w || in[2] < 1) return 0;
        channels += in[2];
    }
    return channels == ly->out_c;
}

#define BN_PRECISION_FILE "ops/merge.c"
#include "../precision.h"

const bn_op bn_op_add = {
    .name = "add",
    .min_inputs = 2,
    .max_inputs = BN_MAX_INPUTS,
    .check = same_shape_check,
    .forward = {add_forward_f64, add_forward_f32},
    .backward = {add_backward_f64, add_backward_f32},
};

const bn_op bn_op_multiply = {
    .name = "multiply",
    .min_inputs = 2,
    .max_inputs = BN_MAX_INPUTS,
    .check = same_shape_check,
    .forward = {multiply_forward_f64, multiply_forward_f32},
    .backward = {multiply_backward_f64, multiply_backward_f32},
};

const bn_op bn_op_concatenate = {
    .name = "concatenate",
    .min_inputs = 2,
    .max_inputs = BN_MAX_INPUTS,
    .check = concatenate_check,
    .forward = {concatenate_forward_f64, concatenate_forward_f32},
    .backward = {concatenate_backward_f64, concatenate_backward_f32},
};

#else /* ---- per precision ---- */

/* a[lo:hi] = x + y or x * y: the two-input case in a loop that vectorises (each element
 * one operation, as the general loop computes it) */
BN_VECTOR_CLONES
static void SFX(combine_two)(REAL *a, const REAL *x, const REAL *y, int64_t lo, int64_t hi,
                             int product)
{
    if (product)
        for (int64_t e = lo; e < hi; e++) a[e] = x[e] * y[e];
    else
        for (int64_t e = lo; e < hi; e++) a[e] = x[e] + y[e];
}

/* a = in[0] op in[1] op ... in input order, op the sum or (product) the product; each
 * element on one thread */
static void SFX(combine)(const bn_op_args *g, int product)
{
    const int64_t count = g->n * bn_op_out_size(g->ly), k = g->ly->n_inputs;
    REAL *a = g->a;
    const REAL *const *in = (const REAL *const *)g->in;
    const int nt = bn_threads_for(count / 4096, (double)(count * k));
    BN_PARALLEL_FOR(nt, for (int t = 0; t < nt; t++) {
        const int64_t lo = count * t / nt, hi = count * (t + 1) / nt;
        if (k == 2) {
            SFX(combine_two)(a, in[0], in[1], lo, hi, product);
            continue;
        }
        for (int64_t e = lo; e < hi; e++) {
            REAL v = in[0][e];
            for (int64_t i = 1; i < k; i++) v = product ? v * in[i][e] : v + in[i][e];
            a[e] = v;
        }
    });
}

/* ---- add: a = in[0] + in[1] + ... (in this order); dloss/d(in[i]) = d ---- */

static int SFX(add_forward)(const bn_op_args *g)
{
    SFX(combine)(g, 0);
    return BN_OK;
}

static int SFX(add_backward)(const bn_op_args *g)
{
    const int64_t count = g->n * bn_op_out_size(g->ly);
    for (int64_t i = 0; i < g->ly->n_inputs; i++)
        if (g->din[i]) bn_copy(g->din[i], g->d, count, sizeof(REAL));
    return BN_OK;
}

/* ---- multiply: a = in[0] * in[1] * ...; dloss/d(in[i]) = d * (the others' product) ---- */

static int SFX(multiply_forward)(const bn_op_args *g)
{
    SFX(combine)(g, 1);
    return BN_OK;
}

static int SFX(multiply_backward)(const bn_op_args *g)
{
    const int64_t count = g->n * bn_op_out_size(g->ly), k = g->ly->n_inputs;
    const REAL *d = g->d;
    const REAL *const *in = (const REAL *const *)g->in;
    for (int64_t i = 0; i < k; i++) {
        REAL *din = g->din[i];
        if (din == NULL) continue;
        for (int64_t e = 0; e < count; e++) {
            REAL prod = d[e];
            for (int64_t j = 0; j < k; j++)
                if (j != i) prod *= in[j][e];
            din[e] = prod;
        }
    }
    return BN_OK;
}

/* ---- concatenate along channels: a[p] = (in[0][p], in[1][p], ...) per position p ---- */

static int SFX(concatenate_forward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const int64_t positions = g->n * ly->out_h * ly->out_w, c = ly->out_c;
    int64_t at = 0;
    for (int64_t i = 0; i < ly->n_inputs; i++) {
        const REAL *src = g->in[i];
        REAL *a = g->a;
        int64_t shape[3];
        bn_op_input_shape(g->net, ly, i, shape);
        const int64_t ci = shape[2];
        for (int64_t p = 0; p < positions; p++)
            memcpy(a + p * c + at, src + p * ci, (size_t)ci * sizeof(REAL));
        at += ci;
    }
    return BN_OK;
}

static int SFX(concatenate_backward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const int64_t positions = g->n * ly->out_h * ly->out_w, c = ly->out_c;
    const REAL *d = g->d;
    int64_t at = 0;
    for (int64_t i = 0; i < ly->n_inputs; i++) {
        int64_t shape[3];
        bn_op_input_shape(g->net, ly, i, shape);
        const int64_t ci = shape[2];
        REAL *din = g->din[i];
        if (din)
            for (int64_t p = 0; p < positions; p++)
                memcpy(din + p * ci, d + p * c + at, (size_t)ci * sizeof(REAL));
        at += ci;
    }
    return BN_OK;
}

#endif
