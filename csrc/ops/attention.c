/* attention.c -- two sequence kinds for Transformers (src/barenet/attention.py holds their
 * Python classes and NumPy reference):
 *   attention  multi-head self-attention (1, T, C) -> (1, T, C): the projections
 *              Q = x Wq + bq, K = x Wk + bk, V = x Wv + bv as GEMMs over all N T tokens,
 *              per (row, head) the scores S = Q K^T / sqrt(D) and their softmax P (causal:
 *              the entries j > i are never computed; a step the mask marks as padding gets
 *              no weight as a key), dropout on P (counter-based, as Dropout: stream
 *              (BN_STREAM_DROPOUT, epoch, batch, ly->stream), index ((row H + h) T + i) T + j),
 *              O = P V, then out = O Wo + bo. A query whose keys are all masked gets P = 0.
 *   posembed   x + a position vector per step: row t of a table (max_len, C), or, with
 *              w_offset < 0, the sinusoidal vector PE[t, 2i] = sin(t / 10000^(2i/C)),
 *              PE[t, 2i+1] = cos(same angle).
 * Prediction with a carry continues a sequence over calls: attention with table_rows =
 * max_len > 0 (causal) carries per row [steps seen, K (max_len, E), V (max_len, E)], appends
 * this call's keys and values and lets its steps attend to every cached step; posembed
 * carries its steps seen, so positions continue.
 * Parameters of attention at w_offset: Wq, Wk, Wv (C, E), Wo (E, C), then (b_offset) bq, bk,
 * bv (E), bo (C). Training keeps Q, K, V, O (T, E) and P (H, T, T) per row in z: O(T^2)
 * per head (a causal block of queries writes P up to its last key; the rest is never
 * read). Rows run a chunk at a time (attention_chunk); within a chunk the (row, head)
 * pairs run on threads, each element summed by one thread in a fixed order, so results do
 * not depend on the thread count.
 * Size letters: N rows, T steps, C channels, H heads, D key_dim, E = H D, R = N T. */
#ifndef REAL
#include <math.h>
#include <string.h>

#include "../activations.h"
#include "../checked.h"
#include "../parallel.h"
#include "../rng.h"
#include "../vexp.h"
#include "ops.h"

static int64_t attention_e(const bn_layer *ly) { return bn_size_mul(ly->heads, ly->key_dim); }

static int64_t attention_weight_count(const bn_layer *ly)
{
    return bn_size_mul3(4, ly->in_c, attention_e(ly));
}

static int64_t attention_param_count(const bn_layer *ly)
{
    const int64_t biases = bn_size_add(bn_size_mul(3, attention_e(ly)), ly->in_c);
    return bn_size_add(attention_weight_count(ly), ly->b_offset >= 0 ? biases : 0);
}

/* kept per row: Q, K, V, O (T, E) and P (H, T, T) */
static int64_t attention_kept(const bn_layer *ly)
{
    return bn_size_add(bn_size_mul3(4, ly->in_w, attention_e(ly)),
                       bn_size_mul3(ly->heads, ly->in_w, ly->in_w));
}

/* rows of queries per block: the scores are computed a block at a time, as GEMMs, so a
 * causal block never reaches past its last query's step and the scratch holds one block */
#define BN_ATTENTION_BLOCK 32

/* a query row's max, sum and dot product over its keys run in this many interleaved lanes
 * (key j in lane j % 16), added in lane order: a fixed order, so the loops vectorise and
 * every vector width (parallel.h's clones) gives the same bits; the lanes follow the key's
 * index, so a row gives the same bits with and without a key/value cache */
#define BN_ATT_LANES 16

static int64_t attention_block(const bn_layer *ly)
{
    return ly->in_w < BN_ATTENTION_BLOCK ? ly->in_w : BN_ATTENTION_BLOCK;
}

/* A layer runs over its rows (samples) a chunk at a time: a chunk's projections, heads and
 * output projection one after the other, while its Q, K, V and O (4 T E values per row)
 * are still in the core's L2 cache (this budget: every x86 core these machines have holds
 * at least 1 MiB) instead of coming back from memory, as over a whole batch they would
 * (32 rows of the GPT example's layer, one thread: the per-head work 20 % faster in chunks
 * of 4 rows). Each value is computed as without chunks: the same bits. */
#define BN_ATTENTION_CHUNK_BYTES (1 << 20)

static int64_t attention_chunk(const bn_layer *ly, int64_t n, size_t value_bytes)
{
    const double row = 4.0 * (double)ly->in_w * (double)attention_e(ly) * (double)value_bytes;
    const double rows = (double)BN_ATTENTION_CHUNK_BYTES / row;
    return rows < 1.0 ? 1 : rows >= (double)n ? n : (int64_t)rows;
}

/* the steps a query can see at most: T, or max_len with a cache */
static int64_t attention_width(const bn_layer *ly)
{
    return ly->table_rows > ly->in_w ? ly->table_rows : ly->in_w;
}

/* per head: one block of scores (block, width), then at attention_block(ly) * width the
 * keys (forward) or values (backward) transposed, (key_dim, width) */
static int64_t attention_head_scratch(const bn_layer *ly)
{
    return bn_size_mul(bn_size_add(attention_block(ly), ly->key_dim), attention_width(ly));
}

/* scratch per row: dQ, dK, dV, dO (training) or Q, K, V, O (prediction), (T, E) each, and
 * H slots of attention_head_scratch: a thread's (row, head) pairs reuse one slot, its own,
 * which stays in its core's cache from pair to pair (the threads never outnumber the pairs
 * of a chunk, so N H slots always suffice; a slot per pair, cold when its pair begins,
 * took the GPT benchmark's step ~0.9 % longer, mostly in transposing the keys) */
static int64_t attention_scratch(const bn_layer *ly)
{
    return bn_size_add(bn_size_mul3(4, ly->in_w, attention_e(ly)),
                       bn_size_mul(ly->heads, attention_head_scratch(ly)));
}

/* the key/value cache carried over prediction calls (table_rows = max_len > 0): the number
 * of steps seen, then K and V of up to max_len steps, (max_len, E) each */
static int64_t attention_carry_count(const bn_layer *ly)
{
    if (ly->table_rows <= 0) return 0;
    return bn_size_add(1, bn_size_mul3(2, ly->table_rows, attention_e(ly)));
}

static int attention_keeps_z(const bn_layer *ly, int is_output)
{
    (void)ly;
    (void)is_output;
    return 1;
}

/* (an elementwise kind before it may describe the same values as (1, 1, T C)) */
static int attention_check(const bn_net *net, const bn_layer *ly)
{
    int64_t in[3];
    bn_op_input_shape(net, ly, 0, in);
    return in[0] * in[1] * in[2] == bn_op_in_size(ly) && ly->in_h == 1
        && ly->out_h == 1 && ly->out_w == ly->in_w && ly->out_c == ly->in_c && ly->heads >= 1
        && ly->key_dim >= 1 && (ly->causal == 0 || ly->causal == 1) && ly->rate >= 0.0
        && ly->table_rows >= 0 && (ly->table_rows == 0 || ly->causal == 1)
        && ly->rate < 1.0 && attention_param_count(ly) > 0 && attention_kept(ly) > 0
        && attention_scratch(ly) > 0
        && (ly->b_offset < 0 || ly->b_offset == ly->w_offset + attention_weight_count(ly));
}

/* the steps seen so far, carried over prediction calls (positions continue) */
static int64_t posembed_carry_count(const bn_layer *ly)
{
    (void)ly;
    return 1;
}

static int64_t posembed_param_count(const bn_layer *ly)
{
    return ly->w_offset >= 0 ? bn_size_mul(ly->table_rows, ly->in_c) : 0;
}

static int posembed_check(const bn_net *net, const bn_layer *ly)
{
    int64_t in[3];
    bn_op_input_shape(net, ly, 0, in);
    return in[0] * in[1] * in[2] == bn_op_in_size(ly) && ly->in_h == 1
        && ly->out_h == 1 && ly->out_w == ly->in_w && ly->out_c == ly->in_c
        && ly->table_rows >= ly->in_w && bn_size_mul(ly->table_rows, ly->in_c) > 0
        && ly->b_offset < 0;
}

/* the sinusoidal position vector's value j of step t, in double */
static double posembed_sin(int64_t t, int64_t j, int64_t c)
{
    const double angle = (double)t * pow(10000.0, -(double)(2 * (j / 2)) / (double)c);
    return j % 2 ? cos(angle) : sin(angle);
}

#define BN_PRECISION_FILE "ops/attention.c"
#include "../precision.h"

const bn_op bn_op_attention = {
    .name = "attention",
    .min_inputs = 1,
    .max_inputs = 1,
    .param_count = attention_param_count,
    .weight_count = attention_weight_count,
    .scratch = attention_scratch,
    .carry_count = attention_carry_count,
    .keeps_z = attention_keeps_z,
    .kept = attention_kept,
    .check = attention_check,
    .forward = {attention_forward_f64, attention_forward_f32},
    .backward = {attention_backward_f64, attention_backward_f32},
};

const bn_op bn_op_posembed = {
    .name = "posembed",
    .min_inputs = 1,
    .max_inputs = 1,
    .param_count = posembed_param_count,
    .carry_count = posembed_carry_count,
    .check = posembed_check,
    .forward = {posembed_forward_f64, posembed_forward_f32},
    .backward = {posembed_backward_f64, posembed_backward_f32},
};

#else /* ---- per precision ---- */

/* the parameters of an attention node */
typedef struct {
    const REAL *wq, *wk, *wv, *wo; /* (C, E) x3, (E, C) */
    const REAL *bq, *bk, *bv, *bo; /* (E) x3, (C); NULL without biases */
} SFX(attention_params);

static SFX(attention_params) SFX(attention_unpack)(const bn_layer *ly, const REAL *params)
{
    const int64_t c = ly->in_c, e = ly->heads * ly->key_dim;
    const REAL *w = params + ly->w_offset, *b = ly->b_offset >= 0 ? params + ly->b_offset : NULL;
    return (SFX(attention_params)){w, w + c * e, w + 2 * c * e, w + 3 * c * e,
                                   b, b ? b + e : NULL, b ? b + 2 * e : NULL,
                                   b ? b + 3 * e : NULL};
}

/* the dropout factor of weight (i, j) of head h of batch row s: keep / (1 - rate), or 1
 * when not training */
static inline REAL SFX(attention_keep)(const bn_dropout *drop, uint64_t stream, REAL scale,
                                       double rate, int64_t at)
{
    if (!drop || rate == 0.0) return 1;
    return bn_dropout_keep(drop->seed, stream, (uint64_t)at, rate) ? scale : 0;
}

/* the lanes' maxima, acc[l] = max(acc[l], x[j]) over the j of lane l in [0, n) that the
 * mask m keeps (m NULL: every one); the last keys as one whole vector padded with -inf */
BN_INLINE void SFX(att_max_into)(REAL *restrict acc, const REAL *restrict x,
                                 const REAL *restrict m, int64_t n)
{
    int64_t j = 0;
    REAL v[BN_ATT_LANES];
    if (m == NULL) {
        for (; j + BN_ATT_LANES <= n; j += BN_ATT_LANES)
            for (int l = 0; l < BN_ATT_LANES; l++)
                acc[l] = x[j + l] > acc[l] ? x[j + l] : acc[l];
        for (int l = 0; l < BN_ATT_LANES; l++) v[l] = l < n - j ? x[j + l] : -INFINITY;
    } else {
        for (; j + BN_ATT_LANES <= n; j += BN_ATT_LANES)
            for (int l = 0; l < BN_ATT_LANES; l++) {
                const REAL u = m[j + l] == 0 ? -INFINITY : x[j + l];
                acc[l] = u > acc[l] ? u : acc[l];
            }
        for (int l = 0; l < BN_ATT_LANES; l++) v[l] = -INFINITY;
        for (int64_t l = 0; l < n - j; l++)
            if (m[j + l] != 0) v[l] = x[j + l];
    }
    for (int l = 0; l < BN_ATT_LANES; l++) acc[l] = v[l] > acc[l] ? v[l] : acc[l];
}

/* out[r] for the m rows of a block from their lanes (lanes[l][r]), as vectors across the
 * rows: the lanes' maximum (sum 0) or their sum in lane order (sum 1) */
BN_INLINE void SFX(att_rows_reduce)(REAL *restrict out,
                                    const REAL (*restrict lanes)[BN_ATTENTION_BLOCK], int64_t m,
                                    int sum)
{
    for (int64_t r = 0; r < m; r++) out[r] = lanes[0][r];
    for (int l = 1; l < BN_ATT_LANES; l++)
        for (int64_t r = 0; r < m; r++)
            out[r] = sum ? out[r] + lanes[l][r] : lanes[l][r] > out[r] ? lanes[l][r] : out[r];
}

/* The softmax of the m <= BN_ATTENTION_BLOCK rows of a block of scores sc (leading
 * dimension ld) in place: row r over its keys [0, jn) (jn = jn0 + r causal, else jn0), 0
 * from jn up to width. A row's max over the keys it may see (those before off are cached,
 * always seen; from off on, ms marks padding with 0), its exponentials shifted by it,
 * padding set to 0, all scaled by 1 / their sum; a row that sees no key becomes 0. Key j
 * is in lane j % BN_ATT_LANES, and a row's sum adds its lanes in lane order; the rows'
 * lanes are kept side by side (lanes[l][r]) so that the maxima and sums of all rows
 * reduce together, as vectors across the rows, instead of sixteen scalar steps per row;
 * the last keys of a row are one vector padded with -inf, not a scalar loop (a causal
 * block of 32 rows of 1-128 keys, gcc -O3 AVX-512: 1.96 -> 1.50 ns per score). */
BN_VECTOR_CLONES
static void SFX(attention_softmax_block)(REAL *restrict sc, int64_t ld, int64_t m, int64_t jn0,
                                         int causal, int64_t width, const REAL *restrict ms,
                                         int64_t off)
{
    REAL lanes[BN_ATT_LANES][BN_ATTENTION_BLOCK];
    REAL top[BN_ATTENTION_BLOCK], total[BN_ATTENTION_BLOCK];
    int any[BN_ATTENTION_BLOCK];
    for (int64_t r = 0; r < m; r++) {
        const REAL *pi = sc + r * ld;
        const int64_t jn = causal ? jn0 + r : jn0;
        const int64_t seen = ms == NULL || off > jn ? jn : off; /* [0, seen): no mask */
        any[r] = seen > 0;
        for (int64_t j = seen; j < jn && !any[r]; j++) any[r] = ms[j - off] != 0;
        REAL acc[BN_ATT_LANES];
        for (int l = 0; l < BN_ATT_LANES; l++) acc[l] = -INFINITY;
        SFX(att_max_into)(acc, pi, NULL, seen); /* a max: the same in any order */
        SFX(att_max_into)(acc, pi + seen, ms ? ms + (seen - off) : NULL, jn - seen);
        for (int l = 0; l < BN_ATT_LANES; l++) lanes[l][r] = acc[l];
    }
    SFX(att_rows_reduce)(top, (const REAL (*)[BN_ATTENTION_BLOCK])lanes, m, 0);
    for (int64_t r = 0; r < m; r++) {
        REAL *pi = sc + r * ld;
        const int64_t jn = causal ? jn0 + r : jn0;
        const int64_t seen = ms == NULL || off > jn ? jn : off;
        const REAL t = any[r] ? top[r] : 0;
        REAL acc[BN_ATT_LANES];
        for (int l = 0; l < BN_ATT_LANES; l++) acc[l] = 0;
        int64_t j = 0;
        if (seen == jn) { /* no padding among the keys: the exponentials and their sum */
            for (; j + BN_ATT_LANES <= jn; j += BN_ATT_LANES)
                for (int l = 0; l < BN_ATT_LANES; l++) {
                    const REAL v = EXP_NONPOS(pi[j + l] - t);
                    pi[j + l] = v;
                    acc[l] += v;
                }
        } else {
            for (; j + BN_ATT_LANES <= jn; j += BN_ATT_LANES)
                for (int l = 0; l < BN_ATT_LANES; l++) {
                    const int64_t k = j + l;
                    const REAL v = k >= seen && ms[k - off] == 0 ? 0 : EXP_NONPOS(pi[k] - t);
                    pi[k] = v;
                    acc[l] += v;
                }
        }
        if (j < jn) { /* the last keys as one whole vector, -inf past them (exp: 0) */
            REAL v[BN_ATT_LANES];
            const int64_t rest = jn - j;
            for (int l = 0; l < BN_ATT_LANES; l++) v[l] = l < rest ? pi[j + l] : -INFINITY;
            for (int64_t l = 0; seen < jn && l < rest; l++) /* padding */
                if (j + l >= seen && ms[j + l - off] == 0) v[l] = -INFINITY;
            for (int l = 0; l < BN_ATT_LANES; l++) {
                v[l] = EXP_NONPOS(v[l] - t);
                acc[l] += v[l];
            }
            for (int64_t l = 0; l < rest; l++) pi[j + l] = v[l];
        }
        for (int l = 0; l < BN_ATT_LANES; l++) lanes[l][r] = acc[l];
    }
    SFX(att_rows_reduce)(total, (const REAL (*)[BN_ATTENTION_BLOCK])lanes, m, 1);
    for (int64_t r = 0; r < m; r++) {
        REAL *pi = sc + r * ld;
        const int64_t jn = causal ? jn0 + r : jn0;
        const REAL inv = any[r] ? 1 / total[r] : 0;
        for (int64_t j = 0; j < jn; j++) pi[j] *= inv;
        for (int64_t j = jn; j < width; j++) pi[j] = 0;
    }
}

/* dS of the m <= BN_ATTENTION_BLOCK rows of a block from P (p, leading dimension ldp) and
 * dP (in ds, leading dimension ldd, dropout factors applied), in place: row r over its
 * keys [0, jn) (jn = jn0 + r causal, else jn0), dS = P (dP - sum_j P dP) scale, the sum
 * in lanes as the softmax's and reduced as there; 0 from jn up to width */
BN_VECTOR_CLONES
static void SFX(attention_ds_block)(const REAL *restrict p, int64_t ldp, REAL *restrict ds,
                                    int64_t ldd, int64_t m, int64_t jn0, int causal,
                                    int64_t width, REAL scale)
{
    REAL lanes[BN_ATT_LANES][BN_ATTENTION_BLOCK], dot[BN_ATTENTION_BLOCK];
    for (int64_t r = 0; r < m; r++) {
        const REAL *pi = p + r * ldp, *dsi = ds + r * ldd;
        const int64_t jn = causal ? jn0 + r : jn0;
        REAL acc[BN_ATT_LANES] = {0};
        int64_t j = 0;
        for (; j + BN_ATT_LANES <= jn; j += BN_ATT_LANES)
            for (int l = 0; l < BN_ATT_LANES; l++) acc[l] += pi[j + l] * dsi[j + l];
        for (int l = 0; l < BN_ATT_LANES; l++) /* the last keys: key j + l in lane l */
            acc[l] += l < jn - j ? pi[j + l] * dsi[j + l] : 0;
        for (int l = 0; l < BN_ATT_LANES; l++) lanes[l][r] = acc[l];
    }
    SFX(att_rows_reduce)(dot, (const REAL (*)[BN_ATTENTION_BLOCK])lanes, m, 1);
    for (int64_t r = 0; r < m; r++) {
        const REAL *pi = p + r * ldp;
        REAL *dsi = ds + r * ldd;
        const int64_t jn = causal ? jn0 + r : jn0;
        for (int64_t j = 0; j < jn; j++) dsi[j] = pi[j] * (dsi[j] - dot[r]) * scale;
        for (int64_t j = jn; j < width; j++) dsi[j] = 0;
    }
}

/* dst (dk, ldt) = the first kn rows of src (kn, dk; ld e) transposed: a head's keys or values
 * laid out once for the products that read them transposed (Q K^T, dO V^T), which would
 * otherwise transpose them again for every block of queries */
static void SFX(attention_transpose)(REAL *restrict dst, int64_t ldt, const REAL *restrict src,
                                     int64_t e, int64_t kn, int64_t dk)
{
    for (int64_t j = 0; j < kn; j++)
        for (int64_t d = 0; d < dk; d++) dst[d * ldt + j] = src[j * e + d];
}

/* one (row, head) of the forward: for each block of queries [i0, i1), the scores
 * S = scale Q K^T against the keys [0, kn) the block can see (one GEMM), the softmax of
 * each query's row over its keys (causal: j < off + i + 1; masked keys get weight 0,
 * entries past a query's last key are set to 0, never computed into the softmax), the
 * weights kept in p (training) or in the block buffer, dropout applied on a copy, then
 * O = P' V (one GEMM). ks, vs: the keys and values of this row and head (ld e), off: the
 * cached steps before this call's first (0 without a cache); kt (dk, width): the keys
 * transposed, made here. */
static int SFX(attention_head_forward)(const bn_layer *ly, int64_t sh, int64_t off,
                                       const REAL *qh, const REAL *ks, const REAL *vs,
                                       const REAL *ms, REAL *oh, REAL *p, REAL *blk, REAL *kt,
                                       int64_t width, int64_t ld, const bn_dropout *drop,
                                       uint64_t stream)
{
    const int64_t t = ly->in_w, dk = ly->key_dim, e = ly->heads * dk, bm = attention_block(ly);
    const int causal = (int)ly->causal;
    const double rate = ly->rate;
    const int dropping = drop && rate != 0.0;
    const REAL keep_scale = (REAL)(1.0 / (1.0 - rate)), scale = (REAL)(1.0 / sqrt((double)dk));
    SFX(attention_transpose)(kt, width, ks, e, causal ? off + t : t, dk);
    for (int64_t i0 = 0; i0 < t; i0 += bm) {
        const int64_t i1 = i0 + bm < t ? i0 + bm : t, kn = causal ? off + i1 : t;
        REAL *sc = p ? p + i0 * t : blk; /* (i1 - i0, kn), leading dimension ld */
        int status = GEMM(BN_NO_TRANS, BN_NO_TRANS, i1 - i0, kn, dk, scale, qh + i0 * e, e, kt,
                          width, 0, sc, ld);
        if (status != BN_OK) return status;
        SFX(attention_softmax_block)(sc, ld, i1 - i0, causal ? off + i0 + 1 : t, causal, kn,
                                     ms, off);
        const REAL *pw = sc;
        if (dropping) { /* P' = P times the dropout factors, in the block buffer */
            for (int64_t i = i0; i < i1; i++)
                for (int64_t j = 0; j < kn; j++)
                    blk[(i - i0) * kn + j] = sc[(i - i0) * ld + j]
                        * SFX(attention_keep)(drop, stream, keep_scale, rate, (sh * t + i) * t + j);
            pw = blk;
        }
        status = GEMM(BN_NO_TRANS, BN_NO_TRANS, i1 - i0, dk, kn, 1, pw, dropping ? kn : ld, vs,
                      e, 0, oh + i0 * e, e);
        if (status != BN_OK) return status;
    }
    return BN_OK;
}

static int SFX(attention_forward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const int64_t n = g->n, t = ly->in_w, c = ly->in_c, h = ly->heads, dk = ly->key_dim;
    const int64_t e = h * dk, r = n * t;
    const SFX(attention_params) w = SFX(attention_unpack)(ly, g->params);
    const REAL *x = g->in[0], *mask = g->mask; /* (R, C), (N, T) or NULL */
    REAL *cols = g->cols, *base = g->z ? (REAL *)g->z : cols;
    REAL *q = base, *k = q + r * e, *v = k + r * e, *o = v + r * e; /* (R, E) each */
    REAL *p = g->z ? o + r * e : NULL;                     /* (N, H, T, T), training only */
    REAL *blocks = g->z ? cols : cols + 4 * r * e; /* a slot per thread (attention_scratch) */
    const bn_dropout *drop = g->drop;
    const uint64_t stream = drop ? bn_rng_stream(BN_STREAM_DROPOUT, (uint64_t)drop->epoch,
                                                 (uint64_t)drop->batch, (uint64_t)ly->stream)
                                 : 0;
    /* with a cache (prediction with a carry): row s's block is [steps seen, K (L, E),
     * V (L, E)]; this call's steps are appended and attend to every cached step */
    REAL *cache = g->carry && ly->table_rows > 0 ? (REAL *)g->carry : NULL;
    const int64_t cl = ly->table_rows, cn = 1 + 2 * cl * e, width = cache ? cl : t;
    const int64_t head_size = attention_head_scratch(ly);
    const int64_t kt_at = attention_block(ly) * attention_width(ly);
    for (int64_t s = 0; cache && s < n; s++) { /* every row checked before any is changed */
        const REAL seen = cache[s * cn];
        if (!(seen >= 0 && (int64_t)seen <= cl - t)) return BN_ENET; /* Python checks it */
    }
    const int64_t chunk = attention_chunk(ly, n, sizeof(REAL));
    int status = BN_OK;
    for (int64_t s0 = 0; s0 < n && status == BN_OK; s0 += chunk) {
        const int64_t s1 = s0 + chunk < n ? s0 + chunk : n, r0 = s0 * t, rc = (s1 - s0) * t;
        const REAL *xc = x + r0 * c;
        status = GEMM_BIAS_ACT(rc, e, c, xc, c, w.wq, e, w.bq, BN_ACT_IDENTITY, q + r0 * e, e,
                               NULL, 0);
        if (status == BN_OK)
            status = GEMM_BIAS_ACT(rc, e, c, xc, c, w.wk, e, w.bk, BN_ACT_IDENTITY, k + r0 * e,
                                   e, NULL, 0);
        if (status == BN_OK)
            status = GEMM_BIAS_ACT(rc, e, c, xc, c, w.wv, e, w.bv, BN_ACT_IDENTITY, v + r0 * e,
                                   e, NULL, 0);
        if (status != BN_OK) return status;
        for (int64_t s = s0; cache && s < s1; s++) {
            REAL *cs = cache + s * cn;
            const int64_t off = (int64_t)cs[0];
            memcpy(cs + 1 + off * e, k + s * t * e, (size_t)(t * e) * sizeof(REAL));
            memcpy(cs + 1 + (cl + off) * e, v + s * t * e, (size_t)(t * e) * sizeof(REAL));
        }
        const int64_t items = (s1 - s0) * h;
        BN_PARALLEL_PARTS(items, 1, 2.0 * (double)items * (double)(t * width) * (double)dk,
                          th, lo, hi,
            REAL *slot = blocks + th * head_size; /* this thread's, reused pair after pair */
            for (int64_t sh = s0 * h + lo; sh < s0 * h + hi; sh++) {
                const int64_t s = sh / h, hd = (sh % h) * dk;
                const REAL *cs = cache ? cache + s * cn : NULL;
                const int64_t off = cs ? (int64_t)cs[0] : 0; /* keys before off: cached */
                const REAL *ks = cs ? cs + 1 : k + s * t * e;
                const REAL *vs = cs ? cs + 1 + cl * e : v + s * t * e;
                if (SFX(attention_head_forward)(ly, sh, off, q + s * t * e + hd, ks + hd,
                                                vs + hd, mask ? mask + s * t : NULL,
                                                o + s * t * e + hd, p ? p + sh * t * t : NULL,
                                                slot, slot + kt_at, width, p ? t : width, drop,
                                                stream) != BN_OK) {
                    BN_OMP_CRITICAL
                    status = BN_ENOMEM;
                }
            });
        if (status != BN_OK) return status;
        for (int64_t s = s0; cache && s < s1; s++) cache[s * cn] += (REAL)t;
        status = GEMM_BIAS_ACT(rc, c, e, o + r0 * e, e, w.wo, c, w.bo, BN_ACT_IDENTITY,
                               (REAL *)g->a + r0 * c, c, NULL, 0);
    }
    return status;
}

/* one (row, head) of the backward, a block of queries [i0, i1) at a time against the keys
 * [0, kn) it saw: dV += P'^T dO (P' = P times the dropout factors, in the block buffer),
 * dP = dO V^T times the factors (into the buffer), dS = P (dP - rowsum(P dP)) scale,
 * dQ = dS K, dK += dS^T Q. The blocks go from the last to the first: the last sees every
 * key, so its products write dK and dV whole (beta 0) and the others add to them, with no
 * pass to clear them first; vt (dk, T): the values transposed, made here */
static int SFX(attention_head_backward)(const bn_layer *ly, int64_t sh, const REAL *qh,
                                        const REAL *kh, const REAL *vh, const REAL *doh,
                                        const REAL *p, REAL *dqh, REAL *dkh, REAL *dvh,
                                        REAL *blk, REAL *vt, const bn_dropout *drop,
                                        uint64_t stream)
{
    const int64_t t = ly->in_w, dk = ly->key_dim, e = ly->heads * dk, bm = attention_block(ly);
    const int causal = (int)ly->causal;
    const double rate = ly->rate;
    const int dropping = drop && rate != 0.0;
    const REAL keep_scale = (REAL)(1.0 / (1.0 - rate)), scale = (REAL)(1.0 / sqrt((double)dk));
    SFX(attention_transpose)(vt, t, vh, e, t, dk);
    for (int64_t i0 = (t - 1) / bm * bm; i0 >= 0; i0 -= bm) {
        const int64_t i1 = i0 + bm < t ? i0 + bm : t, m = i1 - i0, kn = causal ? i1 : t;
        const REAL add = i1 < t; /* 0 for the last block (kn = T): dK, dV written whole */
        const REAL *pb = p + i0 * t; /* (m, kn), leading dimension t */
        const REAL *pw = pb;
        int64_t ldw = t;
        if (dropping) {
            for (int64_t i = i0; i < i1; i++)
                for (int64_t j = 0; j < kn; j++)
                    blk[(i - i0) * kn + j] = pb[(i - i0) * t + j]
                        * SFX(attention_keep)(drop, stream, keep_scale, rate, (sh * t + i) * t + j);
            pw = blk;
            ldw = kn;
        }
        int status = GEMM(BN_TRANS, BN_NO_TRANS, kn, dk, m, 1, pw, ldw, doh + i0 * e, e, add,
                          dvh, e);
        if (status == BN_OK)
            status = GEMM(BN_NO_TRANS, BN_NO_TRANS, m, kn, dk, 1, doh + i0 * e, e, vt, t, 0,
                          blk, kn);
        if (status != BN_OK) return status;
        for (int64_t i = i0; dropping && i < i1; i++)
            for (int64_t j = 0; j < (causal ? i + 1 : t); j++)
                blk[(i - i0) * kn + j] *= SFX(attention_keep)(drop, stream, keep_scale, rate,
                                                              (sh * t + i) * t + j);
        SFX(attention_ds_block)(pb, t, blk, kn, m, causal ? i0 + 1 : t, causal, kn, scale);
        status = GEMM(BN_NO_TRANS, BN_NO_TRANS, m, dk, kn, 1, blk, kn, kh, e, 0, dqh + i0 * e, e);
        if (status == BN_OK)
            status = GEMM(BN_TRANS, BN_NO_TRANS, kn, dk, m, 1, blk, kn, qh + i0 * e, e, add,
                          dkh, e);
        if (status != BN_OK) return status;
    }
    return BN_OK;
}

static int SFX(attention_backward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const int64_t n = g->n, t = ly->in_w, c = ly->in_c, h = ly->heads, dk = ly->key_dim;
    const int64_t e = h * dk, r = n * t;
    const SFX(attention_params) w = SFX(attention_unpack)(ly, g->params);
    const REAL *x = g->in[0], *dy = g->d;                          /* (R, C) each */
    const REAL *q = g->zk, *k = q + r * e, *v = k + r * e, *o = v + r * e, *p = o + r * e;
    REAL *dq = g->cols, *dkk = dq + r * e, *dv = dkk + r * e, *dout = dv + r * e; /* (R, E) */
    REAL *blocks = dout + r * e;                 /* a slot per thread (attention_scratch) */
    REAL *dw = (REAL *)g->dparams + ly->w_offset;
    REAL *dwq = dw, *dwk = dw + c * e, *dwv = dw + 2 * c * e, *dwo = dw + 3 * c * e;
    REAL *db = ly->b_offset >= 0 ? (REAL *)g->dparams + ly->b_offset : NULL;
    /* the output projection's weights: dWo = O^T dy, dbo */
    int status = SFX(bn_weight_bias_gradient)(dwo, db ? db + 3 * e : NULL, NULL, o, dy, r, e, c);
    if (status != BN_OK) return status;
    const bn_dropout *drop = g->drop;
    const uint64_t stream = drop ? bn_rng_stream(BN_STREAM_DROPOUT, (uint64_t)drop->epoch,
                                                 (uint64_t)drop->batch, (uint64_t)ly->stream)
                                 : 0;
    const int64_t head_size = attention_head_scratch(ly);
    const int64_t vt_at = attention_block(ly) * attention_width(ly);
    const REAL *dproj[3] = {dq, dkk, dv}, *wproj[3] = {w.wq, w.wk, w.wv};
    REAL *din = g->din[0];
    /* a chunk of rows at a time (attention_chunk): dO = dy Wo^T, the heads, then
     * dx = dQ Wq^T + dK Wk^T + dV Wv^T while dQ, dK, dV are in the cache */
    const int64_t chunk = attention_chunk(ly, n, sizeof(REAL));
    for (int64_t s0 = 0; s0 < n && status == BN_OK; s0 += chunk) {
        const int64_t s1 = s0 + chunk < n ? s0 + chunk : n, r0 = s0 * t, rc = (s1 - s0) * t;
        status = GEMM(BN_NO_TRANS, BN_TRANS, rc, e, c, 1, dy + r0 * c, c, w.wo, c, 0,
                      dout + r0 * e, e);
        if (status != BN_OK) return status;
        const int64_t items = (s1 - s0) * h;
        BN_PARALLEL_PARTS(items, 1, 4.0 * (double)items * (double)(t * t) * (double)dk,
                          th, lo, hi,
            REAL *slot = blocks + th * head_size; /* this thread's, reused pair after pair */
            for (int64_t sh = s0 * h + lo; sh < s0 * h + hi; sh++) {
                const int64_t at = (sh / h) * t * e + (sh % h) * dk;
                if (SFX(attention_head_backward)(ly, sh, q + at, k + at, v + at, dout + at,
                                                 p + sh * t * t, dq + at, dkk + at, dv + at,
                                                 slot, slot + vt_at, drop, stream) != BN_OK) {
                    BN_OMP_CRITICAL
                    status = BN_ENOMEM;
                }
            });
        for (int m = 0; m < 3 && din && status == BN_OK; m++)
            status = GEMM(BN_NO_TRANS, BN_TRANS, rc, c, e, 1, dproj[m] + r0 * e, e, wproj[m], e,
                          m ? 1 : 0, din + r0 * c, c);
    }
    if (status != BN_OK) return status;
    /* the input projections' weights: dW = x^T dQ (K, V), db, over all rows */
    REAL *dwproj[3] = {dwq, dwk, dwv};
    for (int m = 0; m < 3 && status == BN_OK; m++) {
        status = SFX(bn_weight_bias_gradient)(dwproj[m], db ? db + m * e : NULL, NULL, x,
                                              dproj[m], r, c, e);
    }
    if (status != BN_OK) return status;
    if (g->l1 != 0.0 || g->l2 != 0.0) {
        double s1, s2;
        SFX(bn_weight_penalty)(dw, w.wq, 4 * c * e, g->l1, g->l2, &s1, &s2);
    }
    return status;
}

static int SFX(posembed_forward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const int64_t t = ly->in_w, c = ly->in_c;
    const REAL *x = g->in[0], *table = ly->w_offset >= 0
                                      ? (const REAL *)g->params + ly->w_offset : NULL;
    REAL *a = g->a, *carry = g->carry; /* carry (N, 1): the steps seen, or NULL */
    for (int64_t s = 0; s < g->n; s++) {
        const int64_t off = carry ? (int64_t)carry[s] : 0;
        if (carry && !(carry[s] >= 0 && off <= ly->table_rows - t)) return BN_ENET;
        for (int64_t i = 0; i < t; i++)
            for (int64_t j = 0; j < c; j++) {
                const REAL pe = table ? table[(off + i) * c + j]
                                      : (REAL)posembed_sin(off + i, j, c);
                a[(s * t + i) * c + j] = x[(s * t + i) * c + j] + pe;
            }
        if (carry) carry[s] += (REAL)t;
    }
    return BN_OK;
}

static int SFX(posembed_backward)(const bn_op_args *g)
{
    const bn_layer *ly = g->ly;
    const int64_t t = ly->in_w, c = ly->in_c, size = t * c;
    const REAL *dy = g->d;
    if (ly->w_offset >= 0) { /* the table's rows t.. get no gradient */
        REAL *dtable = (REAL *)g->dparams + ly->w_offset;
        memset(dtable, 0, (size_t)(ly->table_rows * c) * sizeof(REAL));
        /* each thread sums its columns of dy over the samples, in sample order */
        BN_PARALLEL_RANGES(size, 256, (double)(g->n * size), lo, hi,
            for (int64_t s = 0; s < g->n; s++)
                for (int64_t i = lo; i < hi; i++) dtable[i] += dy[s * size + i];);
    }
    if (g->din[0]) bn_copy(g->din[0], dy, g->n * size, sizeof(REAL));
    return BN_OK;
}

#endif
