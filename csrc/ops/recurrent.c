/* recurrent.c -- the recurrent kinds simplernn, lstm and gru on a sequence (1, T, C), one
 * or two directions (bidirectional: the second runs the other way and its sequence output is
 * put back in time order), in Keras's gate order and weight layout (barenet/recurrent.py is
 * the NumPy reference and says the mathematics; docs/recurrent.md the mappings).
 * Parameters: every direction's kernel Wx (C, G U) and recurrent kernel Wh (U, G U) from
 * w_offset, then every direction's bias (G U; GRU's reset_after bias (2, G U)) at b_offset.
 * GRU with reset_after = 0 (Keras's original form) multiplies r h by the candidate's
 * recurrent kernel, so its step is two GEMMs with a gate pass after each.
 * Forward (prediction, and GRU's training): the input projection P = x Wx + b of all N T
 * steps is one GEMM; per step one GEMM R = h Wh (N, U) x (U, G U), then one pass over the
 * rows applies the gates. Training LSTM and SimpleRNN fold the projection into the steps:
 * each step's product is [x_t, 1, h_{t-1}] [Wx; b; Wh] (the kept row below, K = C + 1 + U),
 * which is P_t + R_t, so P is never written by one pass and read back by the next; the gate
 * pass reads the hot product and writes the gates. Backward runs
 * the steps in reverse (backpropagation through time); then one GEMM over all steps gives
 * every weight gradient and the bias's: forward keeps, for each step, the row
 * [x_t, 1, h_{t-1}] (C + 1 + U values), and [dWx; db; dWh] = rows^T dP (GRU: its candidate's
 * recurrent part apart). What backward needs is kept in the node's z region (the kind's
 * `kept` count); the current state and the step's products use the shared scratch. GEMMs
 * are deterministic and each row's pass runs on one thread, so results do not depend on the
 * thread count.
 * Size letters: N rows, T steps, C input channels, U units, G gates, D directions. */
#ifndef REAL
#include <string.h>

#include "ops.h"

#include "../activations.h"
#include "../checked.h"
#include "../parallel.h"

static int64_t rnn_gates(const bn_layer *ly)
{
    return ly->kind == BN_LAYER_LSTM ? 4 : ly->kind == BN_LAYER_GRU ? 3 : 1;
}

/* U, or -1 for a descriptor whose directions do not divide its width */
static int64_t rnn_units(const bn_layer *ly)
{
    if (ly->directions < 1 || ly->directions > 2 || ly->out_c % ly->directions) return -1;
    return ly->out_c / ly->directions;
}

/* values per direction: weights (C + U) G U, biases G U (GRU 2 G U) */
static int64_t rnn_weights_per_direction(const bn_layer *ly)
{
    const int64_t u = rnn_units(ly);
    return bn_size_mul3(bn_size_add(ly->in_c, u), rnn_gates(ly), u);
}

static int64_t rnn_bias_per_direction(const bn_layer *ly)
{
    return bn_size_mul3(rnn_gates(ly), rnn_units(ly),
                        ly->kind == BN_LAYER_GRU && ly->reset_after ? 2 : 1);
}

static int64_t rnn_weight_count(const bn_layer *ly)
{
    return bn_size_mul(ly->directions, rnn_weights_per_direction(ly));
}

static int64_t rnn_param_count(const bn_layer *ly)
{
    return bn_size_mul(ly->directions, bn_size_add(rnn_weights_per_direction(ly),
                                                   rnn_bias_per_direction(ly)));
}

/* L: the values of a step's row of the weights' product, x_t, 1 and h_{t-1} (C + 1 + U) */
static int64_t rnn_step_row(const bn_layer *ly)
{
    return bn_size_add(bn_size_add(ly->in_c, 1), rnn_units(ly));
}

/* what one direction keeps per row from forward to backward: the gates of every step
 * (T G U), the weights' product row of every step (T L), LSTM's c after every step or
 * GRU's recurrent product of the candidate (T U), LSTM's initial c (U) */
static int64_t rnn_kept_per_direction(const bn_layer *ly)
{
    const int64_t u = rnn_units(ly), t = ly->in_w, g = rnn_gates(ly);
    const int64_t aux = ly->kind == BN_LAYER_SIMPLERNN ? 0 : bn_size_mul(t, u);
    const int64_t c0 = ly->kind == BN_LAYER_LSTM ? u : 0;
    const int64_t steps = bn_size_mul(t, bn_size_add(bn_size_mul(g, u), rnn_step_row(ly)));
    return bn_size_add(bn_size_add(steps, aux), c0);
}

/* kept per row: every direction's part (backward recomputes the input dropout's mask and
 * reads the dropped input from the kept rows) */
static int64_t rnn_kept(const bn_layer *ly)
{
    return bn_size_mul(ly->directions, rnn_kept_per_direction(ly));
}

/* scratch per row: R (G U), h and c (U each), then prediction's P (T G U) or, training
 * with dropout, the input after dropout (T C); backward's dh, dc and the next dh (3 U) fit
 * in it */
static int64_t rnn_scratch(const bn_layer *ly)
{
    const int64_t u = rnn_units(ly), gu = bn_size_mul(rnn_gates(ly), u);
    const int64_t rest = ly->rate > 0.0 && ly->in_c > gu ? ly->in_c : gu;
    return bn_size_add(bn_size_add(gu, bn_size_mul(u, 2)), bn_size_mul(ly->in_w, rest));
}

/* fixed scratch (training), for the direction forward or backward is working on: forward's
 * [Wx; b; Wh] (L, G U) (LSTM, SimpleRNN); backward's Wh^T (G U, U) during the steps, then
 * the weights' gradients (L, G U) */
static int64_t rnn_fixed(const bn_layer *ly)
{
    return bn_size_mul3(rnn_step_row(ly), rnn_gates(ly), rnn_units(ly));
}

/* carried state per row: h (and LSTM's c) of every direction */
static int64_t rnn_carry_count(const bn_layer *ly)
{
    return bn_size_mul3(ly->directions, rnn_units(ly), ly->kind == BN_LAYER_LSTM ? 2 : 1);
}

/* the layer as its input dropout numbers the masks: a sequence's values in stored order,
 * as Dropout's */
static bn_layer rnn_dropout_flat(const bn_layer *ly)
{
    bn_layer flat = *ly;
    flat.in_h = flat.in_w = 1;
    flat.in_c = ly->in_w * ly->in_c;
    return flat;
}

static int rnn_keeps_z(const bn_layer *ly, int is_output)
{
    (void)ly;
    (void)is_output;
    return 1;
}

static int rnn_check(const bn_net *net, const bn_layer *ly)
{
    int64_t in[3];
    bn_op_input_shape(net, ly, 0, in);
    const int64_t u = rnn_units(ly);
    if (u < 1 || rnn_param_count(ly) < 0 || rnn_kept(ly) < 0 || rnn_scratch(ly) < 0) return 0;
    const int act_ok = ly->kind == BN_LAYER_SIMPLERNN
        ? (ly->activation == BN_ACT_TANH || ly->activation == BN_ACT_RELU
           || ly->activation == BN_ACT_SIGMOID || ly->activation == BN_ACT_LEAKY_RELU
           || ly->activation == BN_ACT_IDENTITY)
        : ly->activation == BN_ACT_TANH;
    return in[0] == 1 && in[1] == ly->in_w && in[2] == ly->in_c && ly->in_h == 1
        && ly->out_h == 1 && ly->out_w == (ly->return_sequences ? ly->in_w : 1)
        && (ly->go_backwards == 0 || ly->go_backwards == 1)
        && (ly->return_sequences == 0 || ly->return_sequences == 1)
        && (ly->kind == BN_LAYER_GRU ? ly->reset_after == 0 || ly->reset_after == 1
                                     : ly->reset_after == 0)
        && act_ok
        && ly->rate >= 0.0 && ly->rate < 1.0
        && ly->b_offset == ly->w_offset + rnn_weight_count(ly);
}

/* tanh from the vectorisable exp: sign(x) (1 - e) / (1 + e), e = exp(-2 |x|) */
static inline double rnn_tanh_f64(double x)
{
    const double e = bn_exp_nonpos(-2.0 * (x < 0.0 ? -x : x)), t = (1.0 - e) / (1.0 + e);
    return x < 0.0 ? -t : t;
}

static inline float rnn_tanh_f32(float x)
{
    const float e = bn_expf_nonpos(-2.0f * (x < 0.0f ? -x : x)), t = (1.0f - e) / (1.0f + e);
    return x < 0.0f ? -t : t;
}

/* the cells' row loops are inlined into each vector clone of their callers */
#if defined(__GNUC__) || defined(__clang__)
#define BN_RNN_INLINE static inline __attribute__((always_inline))
#else
#define BN_RNN_INLINE static inline
#endif

#define BN_PRECISION_FILE "ops/recurrent.c"
#include "../precision.h"

#define BN_RNN_OP(op_name, kind_name)                                         \
    const bn_op op_name = {                                                   \
        .name = kind_name,                                                    \
        .min_inputs = 1,                                                      \
        .max_inputs = 1,                                                      \
        .param_count = rnn_param_count,                                       \
        .weight_count = rnn_weight_count,                                     \
        .scratch = rnn_scratch,                                               \
        .fixed = rnn_fixed,                                                   \
        .carry_count = rnn_carry_count,                                       \
        .keeps_z = rnn_keeps_z,                                               \
        .kept = rnn_kept,                                                     \
        .check = rnn_check,                                                   \
        .forward = {rnn_forward_f64, rnn_forward_f32},                        \
        .backward = {rnn_backward_f64, rnn_backward_f32},                     \
    };
BN_RNN_OP(bn_op_simplernn, "simplernn")
BN_RNN_OP(bn_op_lstm, "lstm")
BN_RNN_OP(bn_op_gru, "gru")
#undef BN_RNN_OP

#else /* ---- per precision ---- */

/* one direction's buffers for n rows */
typedef struct {
    int64_t n, t, c, u, g, gu, d, l; /* l: L = C + 1 + U */
    int back, reverse_out;       /* runs from the last step; sequence output in time order */
    const REAL *wx, *wh, *b_in, *b_rec; /* (C, GU), (U, GU), (GU), (GU) or NULL */
    REAL *p;                     /* (N, T, GU) P, then the gates, then dP in backward */
    const REAL *wk;              /* training LSTM and SimpleRNN: [Wx; b; Wh] (L, GU), each
                                  * step's product [x_t, 1, h_{t-1}] wk is the whole P_t + R_t
                                  * (no input projection); NULL: P apart */
    REAL *xh;                    /* (N, T, L) each step's x, 1, h before it (training), or NULL */
    REAL *hp;                    /* xh + C + 1: h before each step, row stride L, or NULL */
    REAL *aux;                   /* (N, T, U) LSTM c after each step / GRU R_n, or NULL */
    REAL *c0;                    /* (N, U) LSTM's initial c (training), or NULL */
    const bn_packed_b *pw;       /* the steps' Wh (forward) or Wh^T (backward) in the GEMM's
                                  * panels, packed once for all steps; NULL: read in place */
} SFX(rnn_dir);

static SFX(rnn_dir) SFX(rnn_direction)(const bn_op_args *g, int64_t d)
{
    const bn_layer *ly = g->ly;
    SFX(rnn_dir) r = {.n = g->n, .t = ly->in_w, .c = ly->in_c, .u = rnn_units(ly),
                      .g = rnn_gates(ly), .d = d};
    r.gu = r.g * r.u;
    r.l = rnn_step_row(ly);
    r.back = (int)(ly->go_backwards != d);
    r.reverse_out = d == 1;
    const REAL *p = g->params;
    r.wx = p + ly->w_offset + d * rnn_weights_per_direction(ly);
    r.wh = r.wx + r.c * r.gu;
    r.b_in = p + ly->b_offset + d * rnn_bias_per_direction(ly);
    r.b_rec = ly->kind == BN_LAYER_GRU && ly->reset_after ? r.b_in + r.gu : NULL;
    if (g->z) {
        REAL *base = (REAL *)g->z + r.n * d * rnn_kept_per_direction(ly);
        r.p = base;
        r.xh = r.p + r.n * r.t * r.gu;
        r.hp = r.xh + r.c + 1;
        r.aux = ly->kind == BN_LAYER_SIMPLERNN ? NULL : r.xh + r.n * r.t * r.l;
        r.c0 = ly->kind == BN_LAYER_LSTM ? r.aux + r.n * r.t * r.u : NULL;
    } else { /* prediction: P in the scratch */
        r.p = g->cols;
    }
    return r;
}

/* the input after dropout: in the scratch after R, h and c (rnn_scratch) while training
 * with a rate, else the input; *flat the dropout's numbering (rnn_dropout_flat) */
static const REAL *SFX(rnn_input)(const bn_op_args *g, bn_layer *flat)
{
    const bn_layer *ly = g->ly;
    *flat = rnn_dropout_flat(ly);
    if (g->z == NULL || g->drop == NULL || ly->rate == 0.0) return g->in[0];
    const int64_t u = rnn_units(ly);
    return (REAL *)g->cols + g->n * (rnn_gates(ly) * u + 2 * u);
}

/* the gates' pre-activations: P_t + R_t, or R_t alone when it holds P_t (folded: a
 * constant at every call, so the loops specialise) */
#define RNN_PRE(folded, pt, rt, k) ((folded) ? (rt)[k] : (pt)[k] + (rt)[k])

/* one step of the cell on row i's P_t (read unless folded; the gates written there), R,
 * h and c (updated in place); kept: aux_t (LSTM c, GRU R_n) or NULL */
BN_RNN_INLINE void SFX(lstm_row)(REAL *restrict pt, int folded, const REAL *restrict rt,
                                 REAL *restrict h, REAL *restrict c, REAL *restrict aux,
                                 int64_t u)
{
    for (int64_t j = 0; j < u; j++) {
        const REAL i = SFX(bn_sigmoid)(RNN_PRE(folded, pt, rt, j));
        const REAL f = SFX(bn_sigmoid)(RNN_PRE(folded, pt, rt, u + j));
        const REAL gg = SFX(rnn_tanh)(RNN_PRE(folded, pt, rt, 2 * u + j));
        const REAL o = SFX(bn_sigmoid)(RNN_PRE(folded, pt, rt, 3 * u + j));
        const REAL cn = f * c[j] + i * gg;
        pt[j] = i;
        pt[u + j] = f;
        pt[2 * u + j] = gg;
        pt[3 * u + j] = o;
        c[j] = cn;
        h[j] = o * SFX(rnn_tanh)(cn);
    }
    if (aux) memcpy(aux, c, (size_t)u * sizeof(REAL));
}

BN_RNN_INLINE void SFX(gru_row)(REAL *restrict pt, const REAL *restrict rt,
                                const REAL *restrict b_rec, REAL *restrict h,
                                REAL *restrict aux, int64_t u)
{
    for (int64_t j = 0; j < u; j++) {
        const REAL z = SFX(bn_sigmoid)(pt[j] + (rt[j] + b_rec[j]));
        const REAL r = SFX(bn_sigmoid)(pt[u + j] + (rt[u + j] + b_rec[u + j]));
        const REAL rn = rt[2 * u + j] + b_rec[2 * u + j];
        const REAL nn = SFX(rnn_tanh)(pt[2 * u + j] + r * rn);
        pt[j] = z;
        pt[u + j] = r;
        pt[2 * u + j] = nn;
        if (aux) aux[j] = rn;
        h[j] = z * h[j] + (1 - z) * nn;
    }
}

BN_RNN_INLINE void SFX(simplernn_row)(REAL *restrict pt, int folded,
                                      const REAL *restrict rt, REAL *restrict h, int32_t act,
                                      int64_t u)
{
    switch (act) { /* the loops vectorise per activation */
    case BN_ACT_TANH:
        for (int64_t j = 0; j < u; j++) pt[j] = SFX(rnn_tanh)(RNN_PRE(folded, pt, rt, j));
        break;
    case BN_ACT_SIGMOID:
        for (int64_t j = 0; j < u; j++) pt[j] = SFX(bn_sigmoid)(RNN_PRE(folded, pt, rt, j));
        break;
    default:
        for (int64_t j = 0; j < u; j++) pt[j] = ACT(act, RNN_PRE(folded, pt, rt, j));
        break;
    }
    memcpy(h, pt, (size_t)u * sizeof(REAL));
}

/* the gate pass of step ti over rows i0..i1 (one thread's share): R (N, GU) (P_t + R_t
 * when r->wk), h and c (N, U) updated in place; a padded row (mask 0) keeps its state */
BN_VECTOR_CLONES
static void SFX(rnn_rows_forward)(const SFX(rnn_dir) *r, int kind, int32_t act,
                                  const REAL *rr, REAL *h, REAL *c, const REAL *mask,
                                  int64_t ti, int64_t i0, int64_t i1)
{
    const int64_t t = r->t, u = r->u, gu = r->gu;
    for (int64_t i = i0; i < i1; i++) {
        REAL *pt = r->p + (i * t + ti) * gu, *hi = h + i * u, *ci = c + i * u;
        REAL *aux = r->aux ? r->aux + (i * t + ti) * u : NULL;
        if (mask && mask[i * t + ti] == 0) { /* the state carries over */
            if (aux && kind == BN_LAYER_LSTM) memcpy(aux, ci, (size_t)u * sizeof(REAL));
            continue;
        }
        const REAL *rt = rr + i * gu;
        if (kind == BN_LAYER_GRU) SFX(gru_row)(pt, rt, r->b_rec, hi, aux, u);
        else if (kind == BN_LAYER_LSTM && r->wk) SFX(lstm_row)(pt, 1, rt, hi, ci, aux, u);
        else if (kind == BN_LAYER_LSTM) SFX(lstm_row)(pt, 0, rt, hi, ci, aux, u);
        else if (r->wk) SFX(simplernn_row)(pt, 1, rt, hi, act, u);
        else SFX(simplernn_row)(pt, 0, rt, hi, act, u);
    }
}

/* GRU with reset_after 0, the pass before the candidate's product: z, r into pt, r h
 * into rh (N, U) (and aux when kept); padded rows are left alone */
BN_VECTOR_CLONES
static void SFX(gru1_rows_gates)(const SFX(rnn_dir) *r, const REAL *rr, const REAL *h,
                                 REAL *rh, const REAL *mask, int64_t ti, int64_t i0,
                                 int64_t i1)
{
    const int64_t t = r->t, u = r->u, gu = r->gu;
    for (int64_t i = i0; i < i1; i++) {
        if (mask && mask[i * t + ti] == 0) { /* kept r h: 0, so dW_hn gets nothing */
            if (r->aux) memset(r->aux + (i * t + ti) * u, 0, (size_t)u * sizeof(REAL));
            continue;
        }
        REAL *restrict pt = r->p + (i * t + ti) * gu, *restrict rhi = rh + i * u;
        const REAL *restrict rt = rr + i * gu, *restrict hi = h + i * u;
        for (int64_t j = 0; j < u; j++) {
            pt[j] = SFX(bn_sigmoid)(pt[j] + rt[j]);
            pt[u + j] = SFX(bn_sigmoid)(pt[u + j] + rt[u + j]);
            rhi[j] = pt[u + j] * hi[j];
        }
        if (r->aux) memcpy(r->aux + (i * t + ti) * u, rhi, (size_t)u * sizeof(REAL));
    }
}

/* ... and after it: n = tanh(P_n + (r h) W_hn), h = z h + (1 - z) n */
BN_VECTOR_CLONES
static void SFX(gru1_rows_state)(const SFX(rnn_dir) *r, const REAL *rr, REAL *h,
                                 const REAL *mask, int64_t ti, int64_t i0, int64_t i1)
{
    const int64_t t = r->t, u = r->u, gu = r->gu;
    for (int64_t i = i0; i < i1; i++) {
        if (mask && mask[i * t + ti] == 0) continue;
        REAL *restrict pt = r->p + (i * t + ti) * gu, *restrict hi = h + i * u;
        const REAL *restrict rt = rr + i * gu;
        for (int64_t j = 0; j < u; j++) {
            const REAL z = pt[j], nn = SFX(rnn_tanh)(pt[2 * u + j] + rt[2 * u + j]);
            pt[2 * u + j] = nn;
            hi[j] = z * hi[j] + (1 - z) * nn;
        }
    }
}

/* all steps of rows i0..i1 (one thread's share: a row's recurrence never reads another
 * row, so the threads need no barrier between steps); x (N, T, C) the input, rr (N, GU),
 * h and c (N, U) */
static int SFX(rnn_forward_rows)(const bn_op_args *g, const SFX(rnn_dir) *r, const REAL *x,
                                 REAL *rr, REAL *h, REAL *c, int from_zero, int64_t i0,
                                 int64_t i1)
{
    const bn_layer *ly = g->ly;
    const int64_t t = r->t, u = r->u, gu = r->gu, width = ly->out_c, m = i1 - i0;
    const int32_t act = (int32_t)ly->activation;
    const int kind = (int)ly->kind;
    const REAL *mask = g->mask; /* (N, T) 1 valid, 0 padded; NULL all valid */
    REAL *out = g->a;
    REAL *rri = rr + i0 * gu, *hi = h + i0 * u, *ci = c + i0 * u; /* this share's rows */
    int status = BN_OK;
    if (r->xh) /* the kept rows' x_t and 1 (h_{t-1} at each step) */
        for (int64_t q = i0 * t; q < i1 * t; q++) {
            memcpy(r->xh + q * r->l, x + q * r->c, (size_t)r->c * sizeof(REAL));
            r->xh[q * r->l + r->c] = 1;
        }
    for (int64_t s = 0; s < t; s++) {
        const int64_t ti = r->back ? t - 1 - s : s, o = r->reverse_out ? t - 1 - s : s;
        if (r->hp)
            for (int64_t i = i0; i < i1; i++)
                memcpy(r->hp + (i * t + ti) * r->l, h + i * u, (size_t)u * sizeof(REAL));
        if (kind == BN_LAYER_GRU && !ly->reset_after) { /* two products, c holds r h */
            status = GEMM(BN_NO_TRANS, BN_NO_TRANS, m, 2 * u, u, 1, hi, u, r->wh, gu, 0, rri,
                          gu);
            if (status != BN_OK) return status;
            SFX(gru1_rows_gates)(r, rr, h, c, mask, ti, i0, i1);
            status = GEMM(BN_NO_TRANS, BN_NO_TRANS, m, u, u, 1, ci, u, r->wh + 2 * u, gu, 0,
                          rri + 2 * u, gu);
            if (status != BN_OK) return status;
            SFX(gru1_rows_state)(r, rr, h, mask, ti, i0, i1);
        } else {
            if (r->wk) /* P_t + R_t = [x_t, 1, h_{t-1}] [Wx; b; Wh] */
                status = GEMM_PB(BN_NO_TRANS, BN_NO_TRANS, m, gu, r->l, 1,
                                 r->xh + (i0 * t + ti) * r->l, t * r->l, r->wk, gu, r->pw, 0,
                                 rri, gu);
            else if (s == 0 && from_zero) /* h = 0: nothing to multiply */
                memset(rri, 0, (size_t)(m * gu) * sizeof(REAL));
            else
                status = GEMM_PB(BN_NO_TRANS, BN_NO_TRANS, m, gu, u, 1, hi, u, r->wh, gu, r->pw,
                                 0, rri, gu);
            if (status != BN_OK) return status;
            SFX(rnn_rows_forward)(r, kind, act, rr, h, c, mask, ti, i0, i1);
        }
        if (ly->return_sequences)
            for (int64_t i = i0; i < i1; i++)
                memcpy(out + (i * t + o) * width + r->d * u, h + i * u,
                       (size_t)u * sizeof(REAL));
    }
    return BN_OK;
}

/* one direction's forward over all steps; out (N, T, D U) or (N, D U) */
static int SFX(rnn_direction_forward)(const bn_op_args *g, const REAL *x, int64_t d)
{
    const bn_layer *ly = g->ly;
    SFX(rnn_dir) r = SFX(rnn_direction)(g, d);
    const int64_t n = r.n, t = r.t, u = r.u, gu = r.gu, width = ly->out_c;
    REAL *rr = (REAL *)g->cols + (g->z ? 0 : n * t * gu); /* (N, GU) */
    REAL *h = rr + n * gu, *c = h + n * u;                /* (N, U) each */
    REAL *out = g->a;
    const int kind = (int)ly->kind;
    const int64_t states = kind == BN_LAYER_LSTM ? 2 : 1, carried = ly->directions * u * states;
    REAL *carry = g->carry ? (REAL *)g->carry + d * u * states : NULL; /* row i at i carried */
    int status = BN_OK;
    if (r.xh && kind != BN_LAYER_GRU && g->fixed) { /* training: [Wx; b; Wh] in fixed */
        REAL *wk = g->fixed;
        memcpy(wk, r.wx, (size_t)(r.c * gu) * sizeof(REAL));
        memcpy(wk + r.c * gu, r.b_in, (size_t)gu * sizeof(REAL));
        memcpy(wk + (r.c + 1) * gu, r.wh, (size_t)(u * gu) * sizeof(REAL));
        r.wk = wk;
    } else { /* the input projection of every step: one GEMM */
        status = GEMM_BIAS_ACT(n * t, gu, r.c, x, r.c, r.wx, gu, r.b_in, BN_ACT_IDENTITY, r.p,
                               gu, NULL, 0);
        if (status != BN_OK) return status;
    }
    memset(h, 0, (size_t)(2 * n * u) * sizeof(REAL));
    if (carry) /* the state a previous call left */
        for (int64_t i = 0; i < n; i++) {
            memcpy(h + i * u, carry + i * carried, (size_t)u * sizeof(REAL));
            if (states == 2) memcpy(c + i * u, carry + i * carried + u, (size_t)u * sizeof(REAL));
        }
    if (r.c0) memcpy(r.c0, c, (size_t)(n * u) * sizeof(REAL));
    /* the steps: the rows split over the threads once, each thread running all steps of its
     * rows (its per-step products on one thread); the same bits for any split (cpu.h). Wh
     * packed for the steps' products once (GRU's reset_after 0 multiplies two parts of it) */
    const int nt = bn_threads_for(n, (double)t * (double)(n * gu) * (2.0 * (double)u + 30.0));
    bn_packed_b *pw = NULL;
    if (r.wk)
        status = GEMM_PACK_B(BN_NO_TRANS, BN_NO_TRANS, (n + nt - 1) / nt, gu, r.l, r.wk, gu, &pw);
    else if (!(kind == BN_LAYER_GRU && !ly->reset_after))
        status = GEMM_PACK_B(BN_NO_TRANS, BN_NO_TRANS, (n + nt - 1) / nt, gu, u, r.wh, gu, &pw);
    if (status != BN_OK) return status;
    r.pw = pw;
    BN_PARALLEL_FOR(nt, for (int th = 0; th < nt; th++) {
        const int part = SFX(rnn_forward_rows)(g, &r, x, rr, h, c, carry == NULL, n * th / nt,
                                               n * (th + 1) / nt);
        if (part != BN_OK) {
            BN_OMP_CRITICAL
            status = part;
        }
    });
    bn_gemm_packed_b_free(pw);
    if (status != BN_OK) return status;
    if (!ly->return_sequences)
        for (int64_t i = 0; i < n; i++)
            memcpy(out + i * width + d * u, h + i * u, (size_t)u * sizeof(REAL));
    if (carry)
        for (int64_t i = 0; i < n; i++) {
            memcpy(carry + i * carried, h + i * u, (size_t)u * sizeof(REAL));
            if (states == 2) memcpy(carry + i * carried + u, c + i * u, (size_t)u * sizeof(REAL));
        }
    return BN_OK;
}

static int SFX(rnn_forward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    bn_layer flat;
    const REAL *x = SFX(rnn_input)(g, &flat);
    if (x != g->in[0]) SFX(bn_dropout_forward)((REAL *)x, g->in[0], &flat, g->drop, g->n);
    for (int64_t d = 0; d < ly->directions; d++) {
        const int status = SFX(rnn_direction_forward)(g, x, d);
        if (status != BN_OK) return status;
    }
    return BN_OK;
}

/* row i of step backward: from dh and dc (updated to dc before the step), the kept gates
 * pt (become dP), aux, h_prev, c_prev; dh2 = the part of dh_prev not through Wh */
BN_RNN_INLINE void SFX(lstm_row_backward)(REAL *restrict pt, const REAL *restrict dh,
                                          REAL *restrict dc, REAL *restrict dh2,
                                          const REAL *restrict c_new,
                                          const REAL *restrict c_prev, int64_t u)
{
    for (int64_t j = 0; j < u; j++) {
        const REAL i = pt[j], f = pt[u + j], gg = pt[2 * u + j], o = pt[3 * u + j];
        const REAL tc = SFX(rnn_tanh)(c_new[j]);
        const REAL dcj = dc[j] + dh[j] * o * (1 - tc * tc);
        pt[j] = dcj * gg * (i * (1 - i));
        pt[u + j] = dcj * c_prev[j] * (f * (1 - f));
        pt[2 * u + j] = dcj * i * (1 - gg * gg);
        pt[3 * u + j] = dh[j] * tc * (o * (1 - o));
        dc[j] = dcj * f;
        dh2[j] = 0;
    }
}

BN_RNN_INLINE void SFX(gru_row_backward)(REAL *restrict pt, REAL *restrict aux,
                                         const REAL *restrict dh, REAL *restrict dh2,
                                         const REAL *restrict h_prev, int64_t u)
{
    for (int64_t j = 0; j < u; j++) {
        const REAL z = pt[j], r = pt[u + j], nn = pt[2 * u + j];
        const REAL dz = dh[j] * (h_prev[j] - nn) * (z * (1 - z));
        const REAL dn = dh[j] * (1 - z) * (1 - nn * nn);
        pt[j] = dz;
        pt[u + j] = dn * aux[j] * (r * (1 - r));
        pt[2 * u + j] = dn;
        aux[j] = dn * r; /* dR_n */
        dh2[j] = dh[j] * z;
    }
}

BN_RNN_INLINE void SFX(simplernn_row_backward)(REAL *restrict pt, const REAL *restrict dh,
                                               REAL *restrict dh2, int32_t act, int64_t u)
{
    for (int64_t j = 0; j < u; j++) {
        pt[j] = dh[j] * DACT(act, pt[j], 0);
        dh2[j] = 0;
    }
}

/* backward through step s (time ti; tp the time of step s - 1) over rows i0..i1: dh, dc
 * (N, U) in, dc updated, dh2 (N, U) the part of dh_prev that does not go through Wh; the
 * kept gates become dP (and GRU's aux dR_n); a padded row passes dh and dc through */
BN_VECTOR_CLONES
static void SFX(rnn_rows_backward)(const SFX(rnn_dir) *r, int kind, int32_t act,
                                   const REAL *dh, REAL *dc, REAL *dh2, const REAL *mask,
                                   int64_t s, int64_t ti, int64_t tp, int64_t i0, int64_t i1)
{
    const int64_t t = r->t, u = r->u, gu = r->gu;
    for (int64_t i = i0; i < i1; i++) {
        REAL *pt = r->p + (i * t + ti) * gu, *dh2i = dh2 + i * u;
        const REAL *dhi = dh + i * u;
        REAL *aux = r->aux ? r->aux + (i * t + ti) * u : NULL;
        if (mask && mask[i * t + ti] == 0) { /* nothing happened at this step */
            memset(pt, 0, (size_t)gu * sizeof(REAL));
            if (kind == BN_LAYER_GRU) memset(aux, 0, (size_t)u * sizeof(REAL));
            memcpy(dh2i, dhi, (size_t)u * sizeof(REAL));
            continue;
        }
        if (kind == BN_LAYER_LSTM) {
            const REAL *c_prev = s == 0 ? r->c0 + i * u : r->aux + (i * t + tp) * u;
            SFX(lstm_row_backward)(pt, dhi, dc + i * u, dh2i, aux, c_prev, u);
        } else if (kind == BN_LAYER_GRU) {
            SFX(gru_row_backward)(pt, aux, dhi, dh2i, r->hp + (i * t + ti) * r->l, u);
        } else {
            SFX(simplernn_row_backward)(pt, dhi, dh2i, act, u);
        }
    }
}

/* GRU with reset_after 0, backward through step ti before the candidate's product:
 * dz, dn into pt (r stays for the second pass), dh2 = dh z; padded rows: pt 0, dh2 = dh */
BN_VECTOR_CLONES
static void SFX(gru1_rows_back_gates)(const SFX(rnn_dir) *r, const REAL *dh, REAL *dh2,
                                      const REAL *mask, int64_t ti, int64_t i0, int64_t i1)
{
    const int64_t t = r->t, u = r->u, gu = r->gu;
    for (int64_t i = i0; i < i1; i++) {
        REAL *restrict pt = r->p + (i * t + ti) * gu, *restrict dh2i = dh2 + i * u;
        const REAL *restrict dhi = dh + i * u, *restrict hp = r->hp + (i * t + ti) * r->l;
        if (mask && mask[i * t + ti] == 0) {
            memset(pt, 0, (size_t)gu * sizeof(REAL));
            memcpy(dh2i, dhi, (size_t)u * sizeof(REAL));
            continue;
        }
        for (int64_t j = 0; j < u; j++) {
            const REAL z = pt[j], nn = pt[2 * u + j];
            pt[j] = dhi[j] * (hp[j] - nn) * (z * (1 - z));
            pt[2 * u + j] = dhi[j] * (1 - z) * (1 - nn * nn);
            dh2i[j] = dhi[j] * z;
        }
    }
}

/* ... and after drh = dn W_hn^T (N, U): dr into pt, dh2 += drh r (padded rows: all 0) */
BN_VECTOR_CLONES
static void SFX(gru1_rows_back_reset)(const SFX(rnn_dir) *r, const REAL *drh, REAL *dh2,
                                      int64_t ti, int64_t i0, int64_t i1)
{
    const int64_t t = r->t, u = r->u, gu = r->gu;
    for (int64_t i = i0; i < i1; i++) {
        REAL *restrict pt = r->p + (i * t + ti) * gu, *restrict dh2i = dh2 + i * u;
        const REAL *restrict d = drh + i * u, *restrict hp = r->hp + (i * t + ti) * r->l;
        for (int64_t j = 0; j < u; j++) {
            const REAL rg = pt[u + j];
            pt[u + j] = d[j] * hp[j] * (rg * (1 - rg));
            dh2i[j] += d[j] * rg;
        }
    }
}

/* backpropagation through all steps of rows i0..i1 (one thread's share, no barrier between
 * steps); dh, dc, dh2 (N, U); wht (GU, U) Wh^T */
static int SFX(rnn_backward_rows)(const bn_op_args *g, const SFX(rnn_dir) *r, REAL *dh,
                                  REAL *dc, REAL *dh2, const REAL *wht, int64_t i0, int64_t i1)
{
    const bn_layer *ly = g->ly;
    const int64_t t = r->t, u = r->u, gu = r->gu, width = ly->out_c, m = i1 - i0;
    const int kind = (int)ly->kind;
    const int32_t act = (int32_t)ly->activation;
    const REAL *dout = g->d;
    const REAL *mask = g->mask;
    const int gru1 = kind == BN_LAYER_GRU && !ly->reset_after;
    int status;
    for (int64_t s = t - 1; s >= 0; s--) {
        const int64_t ti = r->back ? t - 1 - s : s, o = r->reverse_out ? t - 1 - s : s;
        const int64_t tp = r->back ? ti + 1 : ti - 1; /* the step before (s > 0) */
        const REAL *pt = r->p + (i0 * t + ti) * gu;   /* this share's dP_t, row stride T GU */
        if (ly->return_sequences)
            for (int64_t i = i0; i < i1; i++) {
                const REAL *di = dout + (i * t + o) * width + r->d * u;
                for (int64_t j = 0; j < u; j++) dh[i * u + j] += di[j];
            }
        if (gru1) { /* dc holds drh = dn W_hn^T */
            SFX(gru1_rows_back_gates)(r, dh, dh2, mask, ti, i0, i1);
            status = GEMM(BN_NO_TRANS, BN_NO_TRANS, m, u, u, 1, pt + 2 * u, t * gu,
                          wht + 2 * u * u, u, 0, dc + i0 * u, u);
            if (status != BN_OK) return status;
            SFX(gru1_rows_back_reset)(r, dc, dh2, ti, i0, i1);
        } else {
            SFX(rnn_rows_backward)(r, kind, act, dh, dc, dh2, mask, s, ti, tp, i0, i1);
        }
        if (s == 0) break; /* the initial state gets no gradient */
        /* dh_prev = dh2 + dR_t Wh^T */
        REAL *dh2i = dh2 + i0 * u;
        if (kind == BN_LAYER_GRU) {
            status = GEMM(BN_NO_TRANS, BN_NO_TRANS, m, u, 2 * u, 1, pt, t * gu, wht, u, 1,
                          dh2i, u);
            if (status == BN_OK && !gru1)
                status = GEMM(BN_NO_TRANS, BN_NO_TRANS, m, u, u, 1, r->aux + (i0 * t + ti) * u,
                              t * u, wht + 2 * u * u, u, 1, dh2i, u);
        } else {
            status = GEMM_PB(BN_NO_TRANS, BN_NO_TRANS, m, u, gu, 1, pt, t * gu, wht, u, r->pw, 1,
                             dh2i, u);
        }
        if (status != BN_OK) return status;
        REAL *swap = dh;
        dh = dh2;
        dh2 = swap;
    }
    return BN_OK;
}

static int SFX(rnn_direction_backward)(const bn_op_args *g, int64_t d)
{
    const bn_layer *ly = g->ly;
    SFX(rnn_dir) r = SFX(rnn_direction)(g, d);
    const int64_t n = r.n, t = r.t, u = r.u, gu = r.gu, width = ly->out_c;
    const int kind = (int)ly->kind;
    REAL *dh = g->cols, *dc = dh + n * u, *dh2 = dc + n * u; /* (N, U) each */
    const REAL *dout = g->d;
    REAL *dp = g->dparams;
    REAL *dwx = dp + ly->w_offset + d * rnn_weights_per_direction(ly), *dwh = dwx + r.c * gu;
    REAL *db = dp + ly->b_offset + d * rnn_bias_per_direction(ly);
    REAL *wht = g->fixed; /* (GU, U): Wh^T, so that each step's product reads it plainly */
    for (int64_t k = 0; k < gu; k++)
        for (int64_t j = 0; j < u; j++) wht[k * u + j] = r.wh[j * gu + k];
    memset(dh, 0, (size_t)(2 * n * u) * sizeof(REAL));
    if (!ly->return_sequences)
        for (int64_t i = 0; i < n; i++)
            memcpy(dh + i * u, dout + i * width + d * u, (size_t)u * sizeof(REAL));
    /* the steps in reverse: the rows split over the threads once, as in forward; Wh^T
     * packed for the steps' products once (GRU multiplies parts of it) */
    const int nt = bn_threads_for(n, (double)t * (double)(n * gu) * (2.0 * (double)u + 30.0));
    bn_packed_b *pw = NULL;
    int status = kind == BN_LAYER_GRU ? BN_OK
               : GEMM_PACK_B(BN_NO_TRANS, BN_NO_TRANS, (n + nt - 1) / nt, u, gu, wht, u, &pw);
    if (status != BN_OK) return status;
    r.pw = pw;
    BN_PARALLEL_FOR(nt, for (int th = 0; th < nt; th++) {
        const int part = SFX(rnn_backward_rows)(g, &r, dh, dc, dh2, wht, n * th / nt,
                                                n * (th + 1) / nt);
        if (part != BN_OK) {
            BN_OMP_CRITICAL
            status = part;
        }
    });
    bn_gemm_packed_b_free(pw);
    if (status != BN_OK) return status;
    /* the weights' gradients over all steps at once, into the fixed scratch (Wh^T is done
     * with): [dWx; db; dWh] = xh^T dP, each of dWx, dWh the same products as on their own.
     * GRU's candidate takes its recurrent part from R_n's dR (aux) or from r h (aux) */
    const int64_t rows = n * t, c = r.c, l = r.l;
    REAL *dw = g->fixed; /* (L, GU) */
    if (kind == BN_LAYER_GRU) {
        const int after = (int)ly->reset_after;
        status = GEMM(BN_TRANS, BN_NO_TRANS, l, 2 * u, rows, 1, r.xh, l, r.p, gu, 0, dw, gu);
        if (status == BN_OK)
            status = GEMM(BN_TRANS, BN_NO_TRANS, c + 1, u, rows, 1, r.xh, l, r.p + 2 * u, gu, 0,
                          dw + 2 * u, gu);
        if (status == BN_OK)
            status = GEMM(BN_TRANS, BN_NO_TRANS, u, u, rows, 1, after ? r.hp : r.aux,
                          after ? l : u, after ? r.aux : r.p + 2 * u, after ? u : gu, 0,
                          dw + (c + 1) * gu + 2 * u, gu);
    } else {
        status = GEMM(BN_TRANS, BN_NO_TRANS, l, gu, rows, 1, r.xh, l, r.p, gu, 0, dw, gu);
    }
    if (status != BN_OK) return status;
    bn_copy(dwx, dw, c * gu, (int64_t)sizeof(REAL));
    memcpy(db, dw + c * gu, (size_t)gu * sizeof(REAL));
    bn_copy(dwh, dw + (c + 1) * gu, u * gu, (int64_t)sizeof(REAL));
    if (kind == BN_LAYER_GRU && ly->reset_after) { /* the recurrent bias: dR's sums */
        memcpy(db + gu, db, (size_t)(2 * u) * sizeof(REAL));
        SFX(bn_column_sums)(db + gu + 2 * u, r.aux, rows, u);
    }
    if (g->din[0]) /* dx (+)= dP Wx^T */
        status = GEMM(BN_NO_TRANS, BN_TRANS, rows, r.c, gu, 1, r.p, gu, r.wx, gu,
                      d == 0 ? 0 : 1, g->din[0], r.c);
    return status;
}

static int SFX(rnn_backward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    for (int64_t d = 0; d < ly->directions; d++) {
        const int status = SFX(rnn_direction_backward)(g, d);
        if (status != BN_OK) return status;
    }
    if (g->l1 != 0.0 || g->l2 != 0.0) {
        double s1, s2;
        SFX(bn_weight_penalty)((REAL *)g->dparams + ly->w_offset,
                               (const REAL *)g->params + ly->w_offset, rnn_weight_count(ly),
                               g->l1, g->l2, &s1, &s2);
    }
    if (g->din[0] && g->drop && ly->rate > 0.0) {
        const bn_layer flat = rnn_dropout_flat(ly);
        SFX(bn_dropout_backward)(g->din[0], g->din[0], &flat, g->drop, g->n);
    }
    return BN_OK;
}

#endif
