/* embedding.c -- token ids (1, T, 1) -> (1, T, D): row id of the table (V, D) at every
 * step. The ids arrive as values of the parameter type (Python checked that they are
 * integers in 0..V-1; exact in float32 below 2**24, which Python also checks). With
 * mask_out, the output's step mask is id != 0 (id 0 is padding). No gradient flows to the
 * ids; the table's gradient is the sum of the rows' gradients per id, in row order. */
#ifndef REAL
#include <string.h>

#include "../checked.h"
#include "ops.h"

static int64_t embedding_param_count(const bn_layer *ly)
{
    return bn_size_mul(ly->table_rows, ly->out_c);
}

static int embedding_check(const bn_net *net, const bn_layer *ly)
{
    int64_t in[3];
    bn_op_input_shape(net, ly, 0, in);
    return in[0] * in[1] * in[2] == bn_op_in_size(ly) && ly->in_h == 1 && ly->in_c == 1
        && ly->out_h == 1 && ly->out_w == ly->in_w && ly->table_rows >= 1
        && embedding_param_count(ly) > 0 && ly->b_offset < 0;
}

#define BN_PRECISION_FILE "ops/embedding.c"
#include "../precision.h"

const bn_op bn_op_embedding = {
    .name = "embedding",
    .min_inputs = 1,
    .max_inputs = 1,
    .param_count = embedding_param_count,
    .makes_mask = 1,
    .check = embedding_check,
    .forward = {embedding_forward_f64, embedding_forward_f32},
    .backward = {embedding_backward_f64, embedding_backward_f32},
};

#else /* ---- per precision ---- */

static int SFX(embedding_forward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const int64_t rows = g->n * ly->in_w, d = ly->out_c, v = ly->table_rows;
    const REAL *ids = g->in[0], *table = (const REAL *)g->params + ly->w_offset;
    REAL *a = g->a, *mask = g->mask_out;
    for (int64_t r = 0; r < rows; r++) { /* ids outside 0..V-1 never reach here (Python) */
        const REAL id = ids[r];
        if (!(id >= 0 && id < (REAL)v)) return BN_ENET;
        memcpy(a + r * d, table + (int64_t)id * d, (size_t)d * sizeof(REAL));
        if (mask) mask[r] = id != 0 ? 1 : 0;
    }
    return BN_OK;
}

static int SFX(embedding_backward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const int64_t rows = g->n * ly->in_w, d = ly->out_c;
    const REAL *ids = g->in[0], *dy = g->d;
    REAL *dtable = (REAL *)g->dparams + ly->w_offset;
    memset(dtable, 0, (size_t)(ly->table_rows * d) * sizeof(REAL));
    for (int64_t r = 0; r < rows; r++) {
        REAL *dst = dtable + (int64_t)ids[r] * d;
        const REAL *src = dy + r * d;
        for (int64_t j = 0; j < d; j++) dst[j] += src[j];
    }
    if (g->din[0]) memset(g->din[0], 0, (size_t)(rows * ly->in_c) * sizeof(REAL));
    return BN_OK;
}

#endif
