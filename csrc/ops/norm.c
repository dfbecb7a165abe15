/* norm.c -- the normalisation kinds, per channel c of a sample (H, W, C) with scale gamma
 * and offset beta (parameters gamma (C) at w_offset, beta (C) at b_offset):
 *   batch normalisation  over the batch's rows (N H W) for each channel: when training,
 *                        the batch's mean and (biased) variance, kept in the node's fixed
 *                        scratch for backward and update_state, which moves the running
 *                        statistics of the state (mean (C), variance (C) at s_offset) as
 *                        Keras does: r = momentum r + (1 - momentum) batch; otherwise the
 *                        running statistics;
 *   layer normalisation  over the channels of each position (a vector's values, a
 *                        sequence step's channels); backward recomputes each row's
 *                        statistics from the input, and sums the parameters' gradients
 *                        over BN_NORM_GROUPS fixed blocks of rows (on threads, into the
 *                        node's fixed scratch), then adds the blocks in order.
 * y = gamma (x - mean) / sqrt(var + eps) + beta. Statistics are summed in double, in row
 * order; every sum over rows runs on one thread or over fixed blocks added in order, so
 * results do not depend on the thread count. A layer normalisation row's sums over its
 * channels run in BN_ROW_LANES interleaved lanes added in lane order: a fixed order, so
 * every vector width (parallel.h's clones) gives the same bits. */
#ifndef REAL
#include <math.h>
#include <stddef.h>

#include "../checked.h"
#include "../parallel.h"
#include "ops.h"

#define BN_NORM_LANES 64 /* channels whose sums are kept at once */
#define BN_NORM_GROUPS 8 /* layer normalisation's backward: blocks of rows summed apart */
#define BN_ROW_LANES 16  /* layer normalisation: a row's sums kept in this many interleaved
                          * partial sums (value j in lane j % 16), so that the loops over a
                          * row vectorise; the lanes are then added in lane order */

/* the lanes' partial sums, added in lane order */
static inline double lanes_total(const double *acc)
{
    double s = 0.0;
    for (int l = 0; l < BN_ROW_LANES; l++) s += acc[l];
    return s;
}

static int64_t norm_param_count(const bn_layer *ly) { return 2 * ly->in_c; }

static int64_t batchnorm_state_count(const bn_layer *ly) { return 2 * ly->in_c; }

/* mean, variance and 1 / sqrt(variance + eps) of the batch, per channel */
static int64_t batchnorm_fixed(const bn_layer *ly) { return 3 * ly->in_c; }

/* layer normalisation's backward: each block of rows' sums of dgamma and dbeta (C each) */
static int64_t layernorm_fixed(const bn_layer *ly)
{
    return bn_size_mul3(BN_NORM_GROUPS, 2, ly->in_c);
}

static int norm_check(const bn_net *net, const bn_layer *ly)
{
    int64_t in[3];
    bn_op_input_shape(net, ly, 0, in);
    return in[0] == ly->in_h && in[1] == ly->in_w && in[2] == ly->in_c && ly->out_h == ly->in_h
        && ly->out_w == ly->in_w && ly->out_c == ly->in_c && ly->eps > 0.0
        && ly->momentum >= 0.0 && ly->momentum <= 1.0 && ly->b_offset == ly->w_offset + ly->in_c;
}

#define BN_PRECISION_FILE "ops/norm.c"
#include "../precision.h"

const bn_op bn_op_batchnorm = {
    .name = "batchnorm",
    .min_inputs = 1,
    .max_inputs = 1,
    .param_count = norm_param_count,
    .state_count = batchnorm_state_count,
    .fixed = batchnorm_fixed,
    .check = norm_check,
    .forward = {batchnorm_forward_f64, batchnorm_forward_f32},
    .backward = {batchnorm_backward_f64, batchnorm_backward_f32},
    .update_state = {batchnorm_update_state_f64, batchnorm_update_state_f32},
};

const bn_op bn_op_layernorm = {
    .name = "layernorm",
    .min_inputs = 1,
    .max_inputs = 1,
    .param_count = norm_param_count,
    .fixed = layernorm_fixed,
    .check = norm_check,
    .adds_into = 1,
    .forward = {layernorm_forward_f64, layernorm_forward_f32},
    .backward = {layernorm_backward_f64, layernorm_backward_f32},
};

#else /* ---- per precision ---- */

/* ---- batch normalisation ---- */

/* mean, var (C) of x (rows, C) per channel, in double in row order; inv = 1/sqrt(var+eps) */
static void SFX(channel_statistics)(REAL *mean, REAL *var, REAL *inv, const REAL *x,
                                    int64_t rows, int64_t c, double eps)
{
    for (int64_t j0 = 0; j0 < c; j0 += BN_NORM_LANES) {
        const int64_t lanes = c - j0 < BN_NORM_LANES ? c - j0 : BN_NORM_LANES;
        double sum[BN_NORM_LANES] = {0}, sq[BN_NORM_LANES] = {0};
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < lanes; j++) sum[j] += (double)x[r * c + j0 + j];
        for (int64_t j = 0; j < lanes; j++) sum[j] /= (double)rows;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < lanes; j++) {
                const double dev = (double)x[r * c + j0 + j] - sum[j];
                sq[j] += dev * dev;
            }
        for (int64_t j = 0; j < lanes; j++) {
            const double v = sq[j] / (double)rows;
            mean[j0 + j] = (REAL)sum[j];
            var[j0 + j] = (REAL)v;
            inv[j0 + j] = (REAL)(1.0 / sqrt(v + eps));
        }
    }
}

/* a = gamma ((x - mean) inv) + beta, per channel */
static void SFX(normalise)(REAL *a, const REAL *x, const REAL *mean, const REAL *inv,
                           const REAL *gamma, const REAL *beta, int64_t rows, int64_t c)
{
    const int nt = bn_threads_for(rows / 64, (double)(rows * c));
    BN_PARALLEL_FOR(nt, for (int t = 0; t < nt; t++) {
        for (int64_t r = rows * t / nt; r < rows * (t + 1) / nt; r++)
            for (int64_t j = 0; j < c; j++)
                a[r * c + j] = gamma[j] * ((x[r * c + j] - mean[j]) * inv[j]) + beta[j];
    });
}

static int SFX(batchnorm_forward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const int64_t c = ly->in_c, rows = g->n * ly->in_h * ly->in_w;
    const REAL *p = g->params, *gamma = p + ly->w_offset, *beta = p + ly->b_offset;
    REAL *mean, *inv;
    if (g->drop) { /* training: the batch's statistics, kept for backward */
        mean = g->fixed;
        inv = mean + 2 * c;
        SFX(channel_statistics)(mean, mean + c, inv, g->in[0], rows, c, ly->eps);
        SFX(normalise)(g->a, g->in[0], mean, inv, gamma, beta, rows, c);
        return BN_OK;
    }
    const REAL *running = (const REAL *)g->state + ly->s_offset; /* mean (C), var (C) */
    for (int64_t j0 = 0; j0 < c; j0 += BN_NORM_LANES) {
        const int64_t lanes = c - j0 < BN_NORM_LANES ? c - j0 : BN_NORM_LANES;
        REAL m[BN_NORM_LANES], k[BN_NORM_LANES];
        for (int64_t j = 0; j < lanes; j++) {
            m[j] = running[j0 + j];
            k[j] = (REAL)(1.0 / sqrt((double)running[c + j0 + j] + ly->eps));
        }
        /* the block's channels of every row */
        const REAL *x = (const REAL *)g->in[0] + j0, *gb = gamma + j0, *bb = beta + j0;
        REAL *a = (REAL *)g->a + j0;
        const int nt = bn_threads_for(rows / 64, (double)(rows * lanes));
        BN_PARALLEL_FOR(nt, for (int t = 0; t < nt; t++) {
            for (int64_t r = rows * t / nt; r < rows * (t + 1) / nt; r++)
                for (int64_t j = 0; j < lanes; j++)
                    a[r * c + j] = gb[j] * ((x[r * c + j] - m[j]) * k[j]) + bb[j];
        });
    }
    return BN_OK;
}

static int SFX(batchnorm_backward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const int64_t c = ly->in_c, rows = g->n * ly->in_h * ly->in_w;
    const REAL *gamma = (const REAL *)g->params + ly->w_offset;
    REAL *dgamma = (REAL *)g->dparams + ly->w_offset, *dbeta = (REAL *)g->dparams + ly->b_offset;
    const REAL *x = g->in[0], *d = g->d;
    REAL *dx = g->din[0];
    const REAL *running = g->state ? (const REAL *)g->state + ly->s_offset : NULL;
    const REAL *fixed = g->fixed;
    for (int64_t j0 = 0; j0 < c; j0 += BN_NORM_LANES) {
        const int64_t lanes = c - j0 < BN_NORM_LANES ? c - j0 : BN_NORM_LANES;
        REAL m[BN_NORM_LANES], k[BN_NORM_LANES];
        double sd[BN_NORM_LANES] = {0}, sdx[BN_NORM_LANES] = {0};
        for (int64_t j = 0; j < lanes; j++) {
            m[j] = g->drop ? fixed[j0 + j] : running[j0 + j];
            k[j] = g->drop ? fixed[2 * c + j0 + j]
                           : (REAL)(1.0 / sqrt((double)running[c + j0 + j] + ly->eps));
        }
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < lanes; j++) {
                const REAL dv = d[r * c + j0 + j];
                const REAL xhat = (x[r * c + j0 + j] - m[j]) * k[j];
                sd[j] += (double)dv;
                sdx[j] += (double)(dv * xhat);
            }
        for (int64_t j = 0; j < lanes; j++) {
            dgamma[j0 + j] = (REAL)sdx[j];
            dbeta[j0 + j] = (REAL)sd[j];
        }
        if (dx == NULL) continue;
        /* per channel: dx = scale (N d - sum d - xhat sum d xhat) with batch statistics
         * (scale = gamma inv / N), dx = d gamma inv with the running ones */
        REAL scale[BN_NORM_LANES], s1[BN_NORM_LANES], s2[BN_NORM_LANES];
        for (int64_t j = 0; j < lanes; j++) {
            scale[j] = (REAL)((double)gamma[j0 + j] * (double)k[j]
                              / (g->drop ? (double)rows : 1.0));
            s1[j] = (REAL)sd[j];
            s2[j] = (REAL)sdx[j];
        }
        const REAL rn = (REAL)rows;
        const int training = g->drop != NULL;
        const int nt = bn_threads_for(rows / 64, (double)(rows * lanes));
        BN_PARALLEL_FOR(nt, for (int t = 0; t < nt; t++) {
            for (int64_t r = rows * t / nt; r < rows * (t + 1) / nt; r++) {
                const REAL *xr = x + r * c + j0, *dr = d + r * c + j0;
                REAL *out = dx + r * c + j0;
                if (!training) {
                    for (int64_t j = 0; j < lanes; j++) out[j] = dr[j] * scale[j];
                    continue;
                }
                for (int64_t j = 0; j < lanes; j++) {
                    const REAL xhat = (xr[j] - m[j]) * k[j];
                    out[j] = scale[j] * (rn * dr[j] - s1[j] - xhat * s2[j]);
                }
            }
        });
    }
    return BN_OK;
}

static int SFX(batchnorm_update_state)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const int64_t c = ly->in_c;
    const REAL *batch = g->fixed; /* mean (C), var (C) */
    REAL *running = (REAL *)g->state + ly->s_offset;
    for (int64_t j = 0; j < 2 * c; j++)
        running[j] = (REAL)(ly->momentum * (double)running[j]
                            + (1.0 - ly->momentum) * (double)batch[j]);
    return BN_OK;
}

/* ---- layer normalisation ---- */

/* mean and 1 / sqrt(var + eps) of one row's c values, in double over the row's lanes */
static inline void SFX(row_statistics)(REAL *mean, REAL *inv, const REAL *x, int64_t c,
                                       double eps)
{
    const int64_t body = c - c % BN_ROW_LANES;
    double acc[BN_ROW_LANES] = {0};
    for (int64_t j = 0; j < body; j += BN_ROW_LANES)
        for (int l = 0; l < BN_ROW_LANES; l++) acc[l] += (double)x[j + l];
    for (int64_t j = body; j < c; j++) acc[j - body] += (double)x[j];
    const double m = lanes_total(acc) / (double)c;
    for (int l = 0; l < BN_ROW_LANES; l++) acc[l] = 0.0;
    for (int64_t j = 0; j < body; j += BN_ROW_LANES)
        for (int l = 0; l < BN_ROW_LANES; l++) {
            const double dev = (double)x[j + l] - m;
            acc[l] += dev * dev;
        }
    for (int64_t j = body; j < c; j++) {
        const double dev = (double)x[j] - m;
        acc[j - body] += dev * dev;
    }
    *mean = (REAL)m;
    *inv = (REAL)(1.0 / sqrt(lanes_total(acc) / (double)c + eps));
}

/* rows [r0, r1) of the forward */
BN_VECTOR_CLONES
static void SFX(layernorm_rows)(const REAL *restrict x, REAL *restrict a,
                                const REAL *restrict gamma, const REAL *restrict beta,
                                int64_t c, double eps, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        REAL mean, inv;
        SFX(row_statistics)(&mean, &inv, x + r * c, c, eps);
        const REAL *xr = x + r * c;
        REAL *ar = a + r * c;
        for (int64_t j = 0; j < c; j++) ar[j] = gamma[j] * ((xr[j] - mean) * inv) + beta[j];
    }
}

static int SFX(layernorm_forward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const int64_t c = ly->in_c, rows = g->n * ly->in_h * ly->in_w;
    const REAL *p = g->params, *gamma = p + ly->w_offset, *beta = p + ly->b_offset;
    const REAL *x = g->in[0];
    REAL *a = g->a;
    const int nt = bn_threads_for(rows / 64, (double)(rows * c));
    BN_PARALLEL_FOR(nt, for (int t = 0; t < nt; t++) {
        SFX(layernorm_rows)(x, a, gamma, beta, c, ly->eps, rows * t / nt,
                            rows * (t + 1) / nt);
    });
    return BN_OK;
}

/* one row's step of the backward at channel j, its sums into lane l */
#define BN_LN_BACK_STEP(j, l)                                                            \
    do {                                                                                 \
        const REAL xhat = (xr[j] - mean) * inv, dxhat = dr[j] * gamma[j];                \
        pg[j] += dr[j] * xhat;                                                           \
        pb[j] += dr[j];                                                                  \
        a1[l] += (double)dxhat;                                                          \
        a2[l] += (double)(dxhat * xhat);                                                 \
    } while (0)

/* the rows [r0, r1) of one block of the backward: the block's dgamma and dbeta sums into
 * pg and pb (C each), dx when wanted */
BN_VECTOR_CLONES
static void SFX(layernorm_back_rows)(const REAL *restrict x, const REAL *restrict d,
                                     const REAL *restrict gamma, REAL *restrict dx,
                                     REAL *restrict pg, REAL *restrict pb, int64_t c,
                                     double eps, int64_t r0, int64_t r1, int add)
{
    const int64_t body = c - c % BN_ROW_LANES;
    for (int64_t j = 0; j < c; j++) pg[j] = pb[j] = 0;
    for (int64_t r = r0; r < r1; r++) {
        REAL mean, inv;
        SFX(row_statistics)(&mean, &inv, x + r * c, c, eps);
        const REAL *xr = x + r * c, *dr = d + r * c;
        double a1[BN_ROW_LANES] = {0}, a2[BN_ROW_LANES] = {0};
        for (int64_t j = 0; j < body; j += BN_ROW_LANES)
            for (int l = 0; l < BN_ROW_LANES; l++) BN_LN_BACK_STEP(j + l, l);
        for (int64_t j = body; j < c; j++) BN_LN_BACK_STEP(j, j - body);
        if (dx == NULL) continue;
        const REAL s1 = (REAL)lanes_total(a1), s2 = (REAL)lanes_total(a2);
        const REAL scale = (REAL)((double)inv / (double)c), cn = (REAL)c;
        REAL *out = dx + r * c;
        for (int64_t j = 0; j < c; j++) {
            const REAL xhat = (xr[j] - mean) * inv;
            const REAL v = scale * (cn * (dr[j] * gamma[j]) - s1 - xhat * s2);
            out[j] = add ? out[j] + v : v; /* add: a fan-out's later writer (ops.h) */
        }
    }
}
#undef BN_LN_BACK_STEP

static int SFX(layernorm_backward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const int64_t c = ly->in_c, rows = g->n * ly->in_h * ly->in_w;
    const REAL *gamma = (const REAL *)g->params + ly->w_offset;
    REAL *dgamma = (REAL *)g->dparams + ly->w_offset, *dbeta = (REAL *)g->dparams + ly->b_offset;
    const REAL *x = g->in[0], *d = g->d;
    REAL *dx = g->din[0], *part = g->fixed; /* (groups, 2, C) */
    if (part == NULL) return BN_ENET;        /* the plan gives every layernorm its blocks */
    const int nt = bn_threads_for(BN_NORM_GROUPS, 4.0 * (double)(rows * c));
    BN_PARALLEL_FOR(nt, for (int grp = 0; grp < BN_NORM_GROUPS; grp++) {
        REAL *pg = part + 2 * c * grp;
        SFX(layernorm_back_rows)(x, d, gamma, dx, pg, pg + c, c, ly->eps,
                                 rows * grp / BN_NORM_GROUPS, rows * (grp + 1) / BN_NORM_GROUPS,
                                 g->din_add[0]);
    });
    for (int64_t j = 0; j < c; j++) { /* the blocks' sums, in block order */
        REAL sg = part[j], sb = part[c + j];
        for (int grp = 1; grp < BN_NORM_GROUPS; grp++) {
            sg += part[2 * c * grp + j];
            sb += part[2 * c * grp + c + j];
        }
        dgamma[j] = sg;
        dbeta[j] = sb;
    }
    return BN_OK;
}

#endif
