/* graph.c -- the executor of a network's graph (net.h): bn_net_plan checks the nodes and
 * lays out the workspaces once; forward runs the nodes in order, backward in reverse,
 * summing gradients where a node's output feeds several nodes; prediction keeps only the
 * outputs still to be read. Each kind is reached through its table entry (ops/ops.h).
 * The epoch loop is in train.c. Both precisions come from one source (precision.h). */
#ifndef REAL
#include <float.h>
#include <stddef.h>
#include <string.h>

#include "activations.h"
#include "checked.h"
#include "gemm.h"
#include "losses.h"
#include "net.h"
#include "ops/ops.h"
#include "parallel.h"

/* values per sample of node l's output; l = -1 is the network's input */
static int64_t size_of(const bn_net *net, int64_t l)
{
    if (l < 0) return net->in_h * net->in_w * net->in_c;
    const bn_layer *ly = &net->layers[l];
    return ly->out_h * ly->out_w * ly->out_c;
}

/* the input must go from channels-first to channels-last (an image with several channels) */
static int transposes_input(const bn_net *net)
{
    return net->input_chw && net->in_c > 1 && net->in_h * net->in_w > 1;
}

static int64_t input_of(const bn_net *net, const bn_layer *ly, int64_t i)
{
    return net->inputs[ly->first_input + i];
}

/* does node l (the output: is_output) keep z? */
static int keeps_z(const bn_net *net, int64_t l)
{
    const bn_layer *ly = &net->layers[l];
    return bn_op_keeps_z(bn_op_of(ly->kind), ly, l == net->n_layers - 1);
}

/* values per row of node l's kept z (the kind's kept count, else its output's size) */
static int64_t z_size(const bn_net *net, int64_t l)
{
    const bn_op *op = bn_op_of(net->layers[l].kind);
    return op->kept ? op->kept(&net->layers[l]) : size_of(net, l);
}

/* the checks of bn_net_plan that need no arithmetic on sizes */
static int check_nodes(const bn_net *net)
{
    const int64_t L = net->n_layers;
    if (L < 1 || net->layers == NULL || net->inputs == NULL || net->n_params < 0
        || net->n_state < 0
        || net->in_h < 1 || net->in_w < 1 || net->in_c < 1)
        return 0;
    for (int64_t l = 0; l < L; l++) {
        const bn_layer *ly = &net->layers[l];
        const bn_op *op = bn_op_of(ly->kind);
        if (op == NULL || ly->n_inputs < op->min_inputs || ly->n_inputs > op->max_inputs
            || ly->first_input < 0 || ly->first_input > net->n_edges - ly->n_inputs)
            return 0;
        if (ly->in_h < 1 || ly->in_w < 1 || ly->in_c < 1 || ly->out_h < 1 || ly->out_w < 1
            || ly->out_c < 1)
            return 0;
        for (int64_t i = 0; i < ly->n_inputs; i++) {
            const int64_t j = input_of(net, ly, i);
            if (j < -1 || j >= l) return 0; /* inputs come first: no cycles */
        }
        /* step masks: made by a kind that can, read from an earlier maker with as many
         * steps as the reader's input */
        if (ly->mask_out != 0 && (ly->mask_out != 1 || !op->makes_mask)) return 0;
        if (ly->mask_from < -1 || ly->mask_from >= l) return 0;
        if (ly->mask_from >= 0) {
            const bn_layer *src = &net->layers[ly->mask_from];
            if (src->mask_out != 1 || src->out_w != ly->in_w) return 0;
        }
    }
    const bn_layer *out = &net->layers[L - 1];
    switch ((bn_loss)net->loss) {
    case BN_LOSS_BCE: case BN_LOSS_CROSS_ENTROPY: case BN_LOSS_MSE: case BN_LOSS_POISSON:
        if (out->mask_from >= 0) return 0; /* only the sequence cross-entropy masks steps */
        break;
    case BN_LOSS_SPARSE_CE:
        if (out->activation != BN_ACT_SOFTMAX || out->out_c < 2) return 0;
        break;
    default: return 0; /* not a loss: the value comes from outside */
    }
    return out->kind == BN_LAYER_DENSE;
}

/* sizes, parameter ranges and each kind's own rules; BN_OK, BN_ENET or BN_EOVERFLOW */
static int check_sizes(const bn_net *net)
{
    for (int64_t l = 0; l < net->n_layers; l++) {
        const bn_layer *ly = &net->layers[l];
        const bn_op *op = bn_op_of(ly->kind);
        /* every product the kinds form from their fields (counts, scratch, windows);
         * -1 (an operand below 0, or an overflow) carries through (checked.h) */
        const int64_t sizes[] = {
            bn_size_mul3(ly->in_h, ly->in_w, ly->in_c),
            bn_size_mul3(ly->out_h, ly->out_w, ly->out_c),
            bn_size_mul(bn_size_mul3(ly->kh, ly->kw, ly->in_c), ly->out_c),
            bn_size_add(bn_size_mul(ly->in_c, ly->out_c), ly->out_c),
            bn_size_mul3(bn_size_mul3(ly->out_h, ly->out_w, ly->kh), ly->kw, ly->in_c),
            bn_size_mul3(bn_size_add(ly->kh, 1), bn_size_add(ly->in_w, 1), ly->in_c),
            bn_size_mul(ly->out_h, ly->sh), bn_size_mul(ly->out_w, ly->sw),
            bn_size_mul(bn_size_add(ly->pad_top, ly->pad_left), 4),
        };
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            if (sizes[k] < 0) return BN_EOVERFLOW;
        const int64_t count = bn_op_count(op->param_count, ly);
        if (count > 0 && (ly->w_offset < 0 || ly->w_offset > net->n_params - count))
            return BN_ENET;
        const int64_t kept = bn_op_count(op->state_count, ly);
        if (kept > 0 && (ly->s_offset < 0 || ly->s_offset > net->n_state - kept))
            return BN_ENET;
        if (bn_op_count(op->fixed, ly) < 0 || bn_op_count(op->scratch, ly) < 0
            || bn_op_count(op->kept, ly) < 0 || bn_op_count(op->carry_count, ly) < 0)
            return BN_EOVERFLOW;
        if (!op->check(net, ly)) return BN_ENET;
    }
    if (bn_size_mul3(net->in_h, net->in_w, net->in_c) < 0) return BN_EOVERFLOW;
    return BN_OK;
}

/* gradient flow: needs_grad, and which inputs' gradients add to an earlier writer's */
static void plan_gradients(bn_net *net, int64_t *written)
{
    const int64_t L = net->n_layers;
    for (int64_t l = 0; l < L; l++) {
        const bn_layer *ly = &net->layers[l];
        int64_t needs = bn_op_count(bn_op_of(ly->kind)->param_count, ly) > 0;
        for (int64_t i = 0; i < ly->n_inputs; i++) {
            const int64_t j = input_of(net, ly, i);
            if (j >= 0 && net->plan[j].needs_grad) needs = 1;
        }
        net->plan[l].needs_grad = needs;
        written[l] = 0;
    }
    /* backward visits nodes from the last, each node's inputs in order: the first visit of
     * an edge into j writes j's gradient, later ones add to it */
    net->n_tmp = 0;
    for (int64_t l = L - 1; l >= 0; l--) {
        const bn_layer *ly = &net->layers[l];
        int64_t adds = 0;
        for (int64_t i = 0; i < ly->n_inputs; i++) {
            const int64_t e = ly->first_input + i, j = net->inputs[e];
            net->edge_acc[e] = 0;
            if (j < 0 || !net->plan[j].needs_grad || !net->plan[l].needs_grad) continue;
            if (written[j]) {
                net->edge_acc[e] = 1;
                adds++;
            }
            written[j] = 1;
        }
        if (adds > net->n_tmp) net->n_tmp = adds;
    }
}

/* Gradient slots, one (B, max S) each. Visiting nodes from the last, a node's gradient
 * slot is taken at the first visit of an edge into it and freed once the node itself has
 * been visited; a slot is free again when its holder's index is above the visit. For a
 * chain this is two slots, used in turn. holder (L) is scratch. Returns the slot count. */
static int64_t plan_gradient_slots(bn_net *net, int64_t *holder)
{
    const int64_t L = net->n_layers;
    int64_t slots = 0;
    for (int64_t l = 0; l < L; l++) net->plan[l].d = -1;
    for (int64_t l = L - 1; l >= 0; l--) {
        const bn_layer *ly = &net->layers[l];
        for (int64_t i = -1; i < ly->n_inputs; i++) {
            const int64_t j = i < 0 ? (l == L - 1 ? l : -1) : input_of(net, ly, i);
            if (j < 0 || !net->plan[j].needs_grad || net->plan[j].d >= 0) continue;
            int64_t s = 0;
            while (s < slots && holder[s] <= l) s++; /* held by a node not yet visited */
            if (s == slots) slots++;
            holder[s] = j;
            net->plan[j].d = s;
        }
    }
    return slots;
}

/* Prediction buffers: a node's output lives from its own forward to the last forward that
 * reads it (through identity nodes too); a buffer is free again after that. last (L) and
 * holder (L) are scratch. Returns the buffer count. */
static int64_t plan_predict_buffers(bn_net *net, int64_t *last, int64_t *holder)
{
    const int64_t L = net->n_layers;
    for (int64_t l = 0; l < L; l++) {
        const bn_layer *ly = &net->layers[l];
        const int64_t j = input_of(net, ly, 0);
        net->plan[l].p_src = bn_op_of(ly->kind)->identity_in_predict
                           ? (j < 0 ? -1 : net->plan[j].p_src) : l;
        last[l] = l;
        net->plan[l].p = -1;
    }
    for (int64_t l = 0; l < L; l++) {
        const bn_layer *ly = &net->layers[l];
        for (int64_t i = 0; i < ly->n_inputs; i++) {
            const int64_t j = input_of(net, ly, i), src = j < 0 ? -1 : net->plan[j].p_src;
            if (src >= 0 && last[src] < l) last[src] = l;
        }
    }
    int64_t buffers = 0;
    for (int64_t l = 0; l < L - 1; l++) { /* the last node writes the caller's array */
        if (net->plan[l].p_src != l) continue;
        int64_t s = 0;
        while (s < buffers && last[holder[s]] >= l) s++;
        if (s == buffers) buffers++;
        holder[s] = l;
        net->plan[l].p = s;
    }
    return buffers;
}

int bn_net_plan(bn_net *net, int64_t *scratch)
{
    if (!check_nodes(net)) return BN_ENET;
    int status = check_sizes(net);
    if (status != BN_OK) return status;
    const int64_t L = net->n_layers, s_in = size_of(net, -1);
    const bn_layer *out = &net->layers[L - 1];
    const int64_t s_out = size_of(net, L - 1), xt = transposes_input(net) ? s_in : 0;
    const int64_t positions = out->out_h * out->out_w; /* the output's softmax rows */
    int64_t max_size = s_in, max_scratch = 0, at;
    net->y_size = net->loss == BN_LOSS_SPARSE_CE ? positions : s_out;
    /* training: xb, xt, yb, wb, stats (2 per position), the step masks, then each node's
     * a and z */
    net->row_xt = s_in;
    net->row_yb = bn_size_add(net->row_xt, xt);
    net->row_wb = bn_size_add(net->row_yb, net->y_size);
    if (net->row_wb < 0)
        return BN_EOVERFLOW;
    net->row_stats = net->row_wb + 1;
    at = bn_size_add(net->row_stats, bn_size_mul(2, positions));
    for (int64_t l = 0; l < L; l++) {
        const bn_layer *ly = &net->layers[l];
        net->plan[l].m = ly->mask_out ? at : -1;
        if (ly->mask_out && (at = bn_size_add(at, ly->out_w)) < 0) return BN_EOVERFLOW;
    }
    if (at < 0) return BN_EOVERFLOW;
    for (int64_t l = 0; l < L; l++) {
        const bn_layer *ly = &net->layers[l];
        const int64_t s = size_of(net, l), k = bn_op_count(bn_op_of(ly->kind)->scratch, ly);
        if (s > max_size) max_size = s;
        if (k > max_scratch) max_scratch = k;
        net->plan[l].a = at;
        if ((at = bn_size_add(at, s)) < 0) return BN_EOVERFLOW;
        net->plan[l].z = keeps_z(net, l) ? at : -1;
        if (keeps_z(net, l) && (at = bn_size_add(at, z_size(net, l))) < 0) return BN_EOVERFLOW;
    }
    net->max_size = max_size;
    /* then the gradient slots, the fan-out temporaries, the kinds' scratch */
    plan_gradients(net, scratch);
    const int64_t slots = plan_gradient_slots(net, scratch);
    for (int64_t l = 0; l < L; l++)
        if (net->plan[l].d >= 0) net->plan[l].d = at + net->plan[l].d * max_size;
    net->row_tmp = bn_size_add(at, bn_size_mul(slots, max_size));
    net->row_cols = bn_size_add(net->row_tmp, bn_size_mul(net->n_tmp, max_size));
    net->train_row = bn_size_add(net->row_cols, max_scratch);
    if (net->train_row < 0)
        return BN_EOVERFLOW;
    /* prediction: the buffers, the input made channels-last, the step masks, the kinds'
     * scratch */
    const int64_t buffers = plan_predict_buffers(net, scratch, scratch + L);
    int64_t p_size = 1; /* the largest output a buffer holds (the input is read in place) */
    for (int64_t l = 0; l < L; l++)
        if (net->plan[l].p >= 0 && size_of(net, l) > p_size) p_size = size_of(net, l);
    for (int64_t l = 0; l < L; l++)
        if (net->plan[l].p >= 0) net->plan[l].p *= p_size;
    net->prow_xt = bn_size_mul(buffers, p_size);
    at = bn_size_add(net->prow_xt, xt);
    for (int64_t l = 0; l < L; l++) {
        const bn_layer *ly = &net->layers[l];
        net->plan[l].pm = ly->mask_out ? at : -1;
        if (ly->mask_out) at = bn_size_add(at, ly->out_w);
    }
    net->prow_cols = at;
    net->predict_row = bn_size_add(net->prow_cols, max_scratch);
    if (net->predict_row < 0)
        return BN_EOVERFLOW;
    /* the nodes' fixed-size scratch, after the weight gradients' */
    net->fixed_size = 0;
    for (int64_t l = 0; l < L; l++) {
        const bn_layer *ly = &net->layers[l];
        const int64_t k = bn_op_count(bn_op_of(ly->kind)->fixed, ly);
        net->plan[l].f = k > 0 ? net->fixed_size : -1;
        if ((net->fixed_size = bn_size_add(net->fixed_size, k)) < 0) return BN_EOVERFLOW;
    }
    /* the state recurrent nodes carry over prediction calls, node after node */
    net->carry_size = 0;
    for (int64_t l = 0; l < L; l++) {
        const bn_layer *ly = &net->layers[l];
        const int64_t k = bn_op_count(bn_op_of(ly->kind)->carry_count, ly);
        net->plan[l].c = k > 0 ? net->carry_size : -1;
        if ((net->carry_size = bn_size_add(net->carry_size, k)) < 0) return BN_EOVERFLOW;
    }
    return BN_OK;
}

/* the training workspace for b rows: b * train_row, the weight gradients' scratch, the
 * nodes' fixed-size scratch */
int64_t bn_net_workspace_size(const bn_net *net, int64_t b)
{
    return bn_size_add(bn_size_add(bn_size_mul(b, net->train_row), BN_DW_SCRATCH),
                       net->fixed_size);
}

/* where node l's fixed-size scratch is in a workspace for n rows, or -1 */
static int64_t fixed_offset(const bn_net *net, int64_t l, int64_t n)
{
    const int64_t f = net->plan[l].f;
    return f < 0 ? -1 : n * net->train_row + BN_DW_SCRATCH + f;
}

int64_t bn_net_output_offset(const bn_net *net, int64_t b)
{
    return b * net->plan[net->n_layers - 1].a;
}

int64_t bn_net_predict_workspace_size(const bn_net *net, int64_t n)
{
    return bn_size_mul(n, net->predict_row); /* -1 when it does not fit (checked.h) */
}

#define BN_PRECISION_FILE "graph.c"
#include "precision.h"

#else /* ---- per precision ---- */

/* the input rows as the nodes read them: x, or x made channels-last in xt; none for CSR
 * input (xs) */
static const REAL *SFX(input_rows)(const bn_net *net, REAL *xt, const REAL *x,
                                   const bn_csr_rows *xs, int64_t n)
{
    if (xs || !transposes_input(net)) return xs ? NULL : x;
    SFX(bn_chw_to_hwc)(xt, x, n, net->in_h * net->in_w, net->in_c);
    return xt;
}

/* node l's call in the training workspace for n rows (in: its inputs' pointers, filled
 * here; xin: the network input's rows): its output, kept z, scratch, fixed scratch */
static void SFX(training_call)(bn_op_args *g, const bn_net *net, int64_t l, REAL *work,
                               const REAL *params, const REAL *state, const REAL *xin,
                               const bn_csr_rows *xs, const bn_dropout *drop, int64_t n,
                               const void **in)
{
    const bn_layer *ly = &net->layers[l];
    const bn_node_plan *pl = &net->plan[l];
    for (int64_t i = 0; i < ly->n_inputs; i++) {
        const int64_t j = input_of(net, ly, i);
        in[i] = j < 0 ? (const void *)xin : (const void *)(work + n * net->plan[j].a);
    }
    REAL *a = work + n * pl->a, *z = pl->z >= 0 ? work + n * pl->z : NULL; /* (N, S[l]) */
    *g = (bn_op_args){
        .net = net, .ly = ly, .n = n, .in = in,
        .xs = xs && input_of(net, ly, 0) < 0 ? xs : NULL,
        .a = a, .z = z, .zk = z ? z : a, /* f'(a) needs no z */
        .cols = work + n * net->row_cols, .dw_scratch = work + n * net->train_row,
        .params = params, .drop = drop,
        .state = (void *)state, /* read only when not training; update_state writes it */
        .fixed = pl->f < 0 ? NULL : work + fixed_offset(net, l, n),
        .mask = ly->mask_from < 0 ? NULL : work + n * net->plan[ly->mask_from].m,
        .mask_out = pl->m < 0 ? NULL : work + n * pl->m,
    };
}

int SFX(bn_net_forward)(const bn_net *net, REAL *work, const REAL *params, const REAL *state,
                        const REAL *x, const bn_csr_rows *xs, int64_t n,
                        const bn_dropout *drop)
{
    const REAL *xin = SFX(input_rows)(net, work + n * net->row_xt, x, xs, n);
    const void *in[BN_MAX_INPUTS];
    for (int64_t l = 0; l < net->n_layers; l++) {
        bn_op_args g;
        SFX(training_call)(&g, net, l, work, params, state, xin, xs, drop, n, in);
        g.stats = l == net->n_layers - 1 ? work + n * net->row_stats : NULL;
        int status = bn_op_of(g.ly->kind)->forward[IS_F32](&g);
        if (status != BN_OK) return status;
    }
    return BN_OK;
}

void SFX(bn_net_update_state)(const bn_net *net, const REAL *work, REAL *state, int64_t n)
{
    const void *in[BN_MAX_INPUTS];
    for (int64_t l = 0; l < net->n_layers; l++) {
        const bn_op *op = bn_op_of(net->layers[l].kind);
        if (op->update_state[IS_F32] == NULL) continue;
        /* the kinds read their inputs and fixed scratch here, and write only the state */
        bn_op_args g;
        SFX(training_call)(&g, net, l, (REAL *)work, NULL, state, NULL, NULL, NULL, n, in);
        op->update_state[IS_F32](&g);
    }
}

/* the step mask of the output's steps (training workspace for n rows), or NULL */
static const REAL *SFX(output_mask)(const bn_net *net, const REAL *work, int64_t n)
{
    const int64_t from = net->layers[net->n_layers - 1].mask_from;
    return from < 0 ? NULL : work + n * net->plan[from].m;
}

double SFX(bn_net_loss)(const bn_net *net, const REAL *work, const REAL *y, const REAL *sw,
                        int64_t n)
{
    const bn_node_plan *out = &net->plan[net->n_layers - 1];
    const bn_layer *ly = &net->layers[net->n_layers - 1];
    const int64_t k = size_of(net, net->n_layers - 1);
    const REAL *a = work + n * out->a, *z = work + n * out->z;
    switch ((bn_loss)net->loss) {
    case BN_LOSS_SPARSE_CE:
        return SFX(bn_loss_sparse_ce)(z, y, sw, SFX(output_mask)(net, work, n),
                                      work + n * net->row_stats, n, net->y_size, ly->out_c);
    case BN_LOSS_CROSS_ENTROPY:
        return SFX(bn_loss_cross_entropy)(z, y, sw, work + n * net->row_stats, n, k);
    case BN_LOSS_MSE: return SFX(bn_loss_mse)(a, y, sw, n, k);
    case BN_LOSS_POISSON: return SFX(bn_loss_poisson)(z, y, sw, n, k);
    case BN_LOSS_BCE: return SFX(bn_loss_bce)(z, y, sw, n, k);
    }
    return NAN; /* no such loss (bn_net_plan's caller checks it) */
}

void SFX(bn_net_decay_weights)(const bn_net *net, REAL *params, double lr, double wd)
{
    const REAL factor = (REAL)(1.0 - lr * wd);
    for (int64_t l = 0; l < net->n_layers; l++) {
        const bn_layer *ly = &net->layers[l];
        const int64_t count = bn_op_count(bn_op_of(ly->kind)->weight_count, ly);
        REAL *w = params + ly->w_offset;
        BN_PARALLEL_RANGES(count, 4096, (double)count, lo, hi,
            for (int64_t i = lo; i < hi; i++) w[i] *= factor;);
    }
}

double SFX(bn_net_penalty)(const bn_net *net, const REAL *params, double l1, double l2)
{
    double a1 = 0.0, a2 = 0.0;
    if (l1 == 0.0 && l2 == 0.0) return 0.0;
    for (int64_t l = 0; l < net->n_layers; l++) {
        const bn_layer *ly = &net->layers[l];
        const int64_t count = bn_op_count(bn_op_of(ly->kind)->weight_count, ly);
        double s1, s2;
        if (count == 0) continue;
        SFX(bn_weight_penalty)(NULL, params + ly->w_offset, count, 0.0, 0.0, &s1, &s2);
        a1 += s1;
        a2 += s2;
    }
    return l1 * a1 + 0.5 * l2 * a2;
}

/* dst += src, count values */
static void SFX(add_into)(REAL *dst, const REAL *src, int64_t count)
{
    BN_PARALLEL_RANGES(count, 4096, (double)count, lo, hi,
        for (int64_t i = lo; i < hi; i++) dst[i] += src[i];);
}

int SFX(bn_net_backward)(const bn_net *net, REAL *dparams, REAL *work, const REAL *params,
                         const REAL *state, const REAL *x, const bn_csr_rows *xs, const REAL *y, const REAL *sw,
                         int64_t n, const bn_dropout *drop, double l1, double l2)
{
    const int64_t L = net->n_layers, k = size_of(net, L - 1);
    const bn_layer *out_layer = &net->layers[L - 1];
    const bn_node_plan *out = &net->plan[L - 1];
    REAL *d = work + n * out->d; /* (N, S[L-1]): dloss/dz of the output */
    const REAL *a = work + n * out->a, *logits = work + n * out->z;
    switch ((bn_loss)net->loss) {
    case BN_LOSS_CROSS_ENTROPY:
        SFX(bn_dloss_logits)(d, a, y, sw, n, k, (REAL)(1.0 / (double)n));
        break;
    case BN_LOSS_MSE:
        SFX(bn_dloss_mse)(d, a, logits, y, sw, (int32_t)out_layer->activation, n, k);
        break;
    case BN_LOSS_BCE: case BN_LOSS_POISSON: /* the same form from the logits */
        SFX(bn_dloss_logits)(d, a, y, sw, n, k, (REAL)(1.0 / ((double)n * (double)k)));
        break;
    case BN_LOSS_SPARSE_CE:
        SFX(bn_dloss_sparse_ce)(d, a, y, sw, SFX(output_mask)(net, work, n), n, net->y_size,
                                out_layer->out_c);
        break;
    }
    const REAL *xin = transposes_input(net) ? work + n * net->row_xt : x;
    REAL *tmp = work + n * net->row_tmp; /* (n_tmp, N, max S) */
    const void *in[BN_MAX_INPUTS];
    void *din[BN_MAX_INPUTS];
    int din_add[BN_MAX_INPUTS];
    for (int64_t l = L - 1; l >= 0; l--) {
        const bn_layer *ly = &net->layers[l];
        const bn_node_plan *pl = &net->plan[l];
        if (!pl->needs_grad) continue; /* nothing before it has parameters */
        bn_op_args g;
        SFX(training_call)(&g, net, l, work, params, state, xin, xs, drop, n, in);
        int64_t t = 0;
        const int adds = bn_op_of(ly->kind)->adds_into;
        for (int64_t i = 0; i < ly->n_inputs; i++) {
            const int64_t e = ly->first_input + i, j = net->inputs[e];
            din_add[i] = 0;
            if (j < 0 || !net->plan[j].needs_grad) din[i] = NULL;
            else if (net->edge_acc[e] && !adds) din[i] = tmp + (t++) * n * net->max_size;
            else { /* its slot: written, or added to when another writer came first */
                din[i] = work + n * net->plan[j].d;
                din_add[i] = net->edge_acc[e];
            }
        }
        g.dparams = dparams;
        g.d = work + n * pl->d;
        g.din = din;
        g.din_add = din_add;
        g.is_output = l == L - 1;
        g.l1 = l1;
        g.l2 = l2;
        int status = bn_op_of(ly->kind)->backward[IS_F32](&g);
        if (status != BN_OK) return status;
        for (int64_t i = 0; i < ly->n_inputs; i++) { /* fan-out: add to the first writer's */
            const int64_t e = ly->first_input + i, j = net->inputs[e];
            if (din[i] != NULL && net->edge_acc[e] && !din_add[i])
                SFX(add_into)(work + n * net->plan[j].d, din[i], n * size_of(net, j));
        }
    }
    return BN_OK;
}

/* blocks of 1024 values tested without a branch (so the loop vectorises), then the block
 * that holds a bad value scanned for it */
BN_VECTOR_CLONES
int64_t SFX(bn_first_nonfinite)(const REAL *x, int64_t count)
{
    const REAL largest = (REAL)(IS_F32 ? FLT_MAX : DBL_MAX);
    for (int64_t at = 0; at < count; at += 1024) {
        const int64_t end = count - at < 1024 ? count : at + 1024;
        int bad = 0;
        for (int64_t i = at; i < end; i++) bad |= !(FABS(x[i]) <= largest); /* NaN: false */
        if (bad)
            for (int64_t i = at; i < end; i++)
                if (!(FABS(x[i]) <= largest)) return i;
    }
    return -1;
}

int SFX(bn_net_predict)(const bn_net *net, REAL *out, REAL *work, const REAL *params,
                        const REAL *state, const REAL *x, const bn_csr_rows *xs, int64_t n,
                        REAL *carry)
{
    const int64_t L = net->n_layers;
    const REAL *xin = SFX(input_rows)(net, work + n * net->prow_xt, x, xs, n);
    const void *in[BN_MAX_INPUTS];
    for (int64_t l = 0; l < L; l++) {
        const bn_layer *ly = &net->layers[l];
        const bn_node_plan *pl = &net->plan[l];
        if (pl->p_src != l) continue; /* the identity when not training (dropout) */
        for (int64_t i = 0; i < ly->n_inputs; i++) {
            const int64_t j = input_of(net, ly, i), src = j < 0 ? -1 : net->plan[j].p_src;
            in[i] = src < 0 ? (const void *)xin : (const void *)(work + n * net->plan[src].p);
        }
        bn_op_args g = {0};
        g.net = net;
        g.ly = ly;
        g.n = n;
        g.in = in;
        g.xs = xs && input_of(net, ly, 0) < 0 ? xs : NULL;
        g.a = l == L - 1 ? out : work + n * pl->p;
        g.cols = work + n * net->prow_cols;
        g.params = params;
        g.state = (void *)state;
        g.mask = ly->mask_from < 0 ? NULL : work + n * net->plan[ly->mask_from].pm;
        g.mask_out = pl->pm < 0 ? NULL : work + n * pl->pm;
        g.carry = carry && pl->c >= 0 ? carry + n * pl->c : NULL;
        int status = bn_op_of(ly->kind)->forward[IS_F32](&g);
        if (status != BN_OK) return status;
    }
    return BN_OK;
}

#endif
