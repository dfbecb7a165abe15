/* layers.h -- forward and backward of each layer kind over a batch of samples, for both
 * precisions: dense and 2-D convolution on the GEMM (a convolution unfolds its input,
 * "im2col", into one row per output pixel and is a dense layer on those rows), max and
 * average pooling, flatten, inverted dropout. A sample's activations are (H, W, C),
 * channels last; flat vectors are (1, 1, n). The network code (net.h) chains them.
 * Loops over samples run on OpenMP threads when large; every sample is computed by one
 * thread in a fixed order, so results do not depend on the thread count.
 * Size letters: N samples, K = KH KW C values per unfolded row, F filters. */
#ifndef BARENET_LAYERS_H
#define BARENET_LAYERS_H

#include <stdint.h>

#include "ops/kinds.h"

/* the layer kinds, from the one list in ops/kinds.h (each is one file in csrc/ops/):
 *   dense        (H, W, IN) -> (H, W, OUT): z = x W + b per position, a = act(z)
 *   conv2d       (H, W, C) -> (OH, OW, F), weights (KH, KW, C, F), bias (F)
 *   maxpool2d, avgpool2d  (H, W, C) -> (OH, OW, C), windows without padding
 *   flatten      (H, W, C) -> (1, 1, C H W) in channels-first order (a sequence is
 *                described as (1, 1, T C): a copy in its stored order)
 *   dropout      inverted dropout when training, identity otherwise
 *   add, multiply  sum / elementwise product of inputs of the output's shape
 *   concatenate  inputs side by side along channels (same H, W)
 *   batchnorm    per channel: batch statistics when training, the running ones (the
 *                network's state) otherwise; scale and offset
 *   layernorm    per position, over its channels; scale and offset
 *   activation   a = act(x) elementwise
 *   simplernn, lstm, gru  recurrent layers on a sequence (1, T, C) -> (1, T, U) or (1, 1, U)
 *                per direction (ops/recurrent.c)
 *   embedding    token ids (1, T, 1) -> (1, T, D): rows of the table (V, D); with mask_out,
 *                the step mask id != 0 (padding id 0)
 *   masking      (1, T, C) -> (1, T, C): a step whose C values all equal mask_value is
 *                padding: mask 0 and its output zeros; other steps pass unchanged
 *   attention    multi-head self-attention (1, T, C) -> (1, T, C) (ops/attention.c)
 *   posembed     (1, T, C) -> (1, T, C): x + a position vector per step, from a table
 *                (max_len = table_rows, C) or, with w_offset < 0, the sinusoidal formula
 * Step masks: a sequence (1, T, C) may carry a mask (N, T) of the parameter type, 1 for a
 * valid step and 0 for padding, made by one node (mask_out) and read by the nodes that
 * name it (mask_from): recurrent kinds carry their state over padded steps, and the
 * sequence cross-entropy leaves them out. */
#define BN_KIND_ENUM(name, op) name,
typedef enum {
    BN_LAYER_KIND_LIST(BN_KIND_ENUM)
    BN_LAYER_KINDS /* how many kinds there are (not a kind) */
} bn_layer_kind;
#undef BN_KIND_ENUM

/* one node of the network's graph; Python fills every field from the layer's descriptor
 * (Layer.c_fields in barenet/layers); each kind's check (ops/ops.h) verifies them.
 * Elementwise kinds (dropout, flatten) may describe their input with any (h, w, c) of the
 * right size: that is the order in which they number its values. */
typedef struct {
    int64_t kind, activation;      /* bn_layer_kind; bn_activation (dense, conv) */
    int64_t in_h, in_w, in_c;      /* first input of one sample */
    int64_t out_h, out_w, out_c;   /* output of one sample */
    int64_t kh, kw, sh, sw;        /* window and strides (conv, pooling) */
    int64_t pad_top, pad_left;     /* zero padding before the input (conv) */
    int64_t w_offset, b_offset;    /* parameters in the flat buffer; b_offset < 0: no bias */
    int64_t stream;                /* dropout: which random stream its masks come from */
    int64_t first_input, n_inputs; /* its inputs: net->inputs[first_input ...] */
    int64_t s_offset;              /* its non-trainable state in the state buffer (-1: none) */
    int64_t mask_from;             /* the node whose step mask (N, T) it reads, -1: none; T is
                                    * the steps (in_w) of its input, all valid without one */
    int64_t table_rows;            /* embedding: rows V of its table (token ids 0..V-1) */
    int64_t mask_out;              /* 1: it computes a step mask of its output (a kind whose
                                    * bn_op makes_mask; 0 otherwise) */
    int64_t directions;            /* recurrent: 1, or 2 (bidirectional; outputs side by side) */
    int64_t go_backwards;          /* recurrent: 1 runs the sequence from its last step */
    int64_t return_sequences;      /* recurrent: 1 outputs every step (1, T, U), else (1, 1, U) */
    int64_t reset_after;           /* GRU: 1 (the reset gate acts after the recurrent product) */
    double rate;                   /* dropout rate, 0 <= rate < 1 */
    double momentum, eps;          /* normalisation: running-average momentum, epsilon */
    double mask_value;             /* masking: the value of a padded step's every feature */
    int64_t heads, key_dim;        /* attention: heads H, and D values per head of q, k, v */
    int64_t causal;                /* attention: 1: step i attends to steps j <= i only */
} bn_layer;

/* the training position that dropout masks depend on: mask element i of the dropout
 * layer with stream s comes from the stream (BN_STREAM_DROPOUT, epoch, batch, s) at index
 * (row + r) * S + (its channels-first position in the sample) for the r-th row given;
 * row is the first row's position in the batch (0 but for a part of a batch, bn_reduce) */
typedef struct {
    uint64_t seed;
    int64_t epoch, batch;
    int64_t row;
} bn_dropout;

/* z = in w + b, a = act(z) (softmax rows for act softmax); z may be NULL (predict), b NULL
 * (no bias). in (N, IN), w (IN, OUT), b (OUT), a and z (N, OUT). stats (2N) or NULL: a
 * softmax's row maxima and sums, for the cross-entropy (bn_softmax_rows). */
int bn_dense_forward_f64(double *a, double *z, const double *in, const double *w,
                         const double *b, int32_t act, double *stats, int64_t n, int64_t n_in,
                         int64_t n_out);
int bn_dense_forward_f32(float *a, float *z, const float *in, const float *w, const float *b,
                         int32_t act, float *stats, int64_t n, int64_t n_in, int64_t n_out);
/* *s1 = sum |w|, *s2 = sum w^2 over w (count) and, when dw is not NULL, dw += l1 sign(w) +
 * l2 w: in BN_PENALTY_BLOCKS fixed blocks on the threads, each summed in eight lanes of
 * doubles, the blocks' sums added in order (the same value for any thread count, with or
 * without dw) */
#define BN_PENALTY_BLOCKS 64
void bn_weight_penalty_f64(double *dw, const double *w, int64_t count, double l1, double l2,
                           double *s1, double *s2);
void bn_weight_penalty_f32(float *dw, const float *w, int64_t count, double l1, double l2,
                           double *s1, double *s2);
/* db (OUT) = the column sums of dz (N, OUT), each column in row order (a bias's gradient),
 * vectorised, columns split over the threads: the same bits for every thread count */
void bn_column_sums_f64(double *db, const double *dz, int64_t n, int64_t n_out);
void bn_column_sums_f32(float *db, const float *dz, int64_t n, int64_t n_out);
/* A weight gradient of at most BN_DW_GROUPED_MAX values over at least
 * BN_DW_GROUPED_MIN_ROWS rows is summed in BN_DW_GROUPS fixed blocks of rows, in parallel,
 * through a scratch of BN_DW_SCRATCH values (NULL: one GEMM, on one thread when small). */
#define BN_DW_GROUPS 8
#define BN_DW_GROUPED_MAX 4096
#define BN_DW_GROUPED_MIN_ROWS 4096
#define BN_DW_SCRATCH (BN_DW_GROUPS * BN_DW_GROUPED_MAX)
/* dw (IN, OUT) = in^T dz (in (N, IN), dz (N, OUT)), grouped as above when scratch is given,
 * and db (OUT) = the column sums of dz unless db is NULL, with bn_column_sums's bits: made
 * from dz's panels as the product packs them (gemm.h, bn_?gemm_sum_b), else by a pass over
 * dz. Returns 0, or BN_ENOMEM. */
int bn_weight_bias_gradient_f64(double *dw, double *db, double *scratch, const double *in,
                                const double *dz, int64_t n, int64_t n_in, int64_t n_out);
int bn_weight_bias_gradient_f32(float *dw, float *db, float *scratch, const float *in,
                                const float *dz, int64_t n, int64_t n_in, int64_t n_out);
/* from dz (N, OUT) = dloss/dz: dw = in^T dz + l1 sign(w) + l2 w, db = column sums of dz
 * (db NULL: no bias) and, when din is not NULL, din = dz w^T (N, IN) */
int bn_dense_backward_f64(double *dw, double *db, double *din, double *scratch,
                          const double *dz, const double *in, const double *w, double l1,
                          double l2, int64_t n, int64_t n_in, int64_t n_out);
int bn_dense_backward_f32(float *dw, float *db, float *din, float *scratch, const float *dz,
                          const float *in, const float *w, double l1, double l2, int64_t n,
                          int64_t n_in, int64_t n_out);
/* CSR rows as a dense layer's input (scipy.sparse input; kernels in sparse.h): batch row i
 * is row rows[i] of the matrix, or row i of indptr when rows is NULL */
typedef struct {
    const int64_t *indptr, *indices; /* (rows + 1), (nnz) */
    const void *data;                /* (nnz) of the parameter type */
    const int64_t *rows;             /* (N) or NULL */
} bn_csr_rows;
/* the dense layer on CSR rows x: forward as bn_dense_forward, backward without din */
int bn_dense_forward_csr_f64(double *a, double *z, const bn_csr_rows *x, const double *w,
                             const double *b, int32_t act, double *stats, int64_t n,
                             int64_t n_in, int64_t n_out);
int bn_dense_forward_csr_f32(float *a, float *z, const bn_csr_rows *x, const float *w,
                             const float *b, int32_t act, float *stats, int64_t n,
                             int64_t n_in, int64_t n_out);
int bn_dense_backward_csr_f64(double *dw, double *db, const double *dz, const bn_csr_rows *x,
                              const double *w, double l1, double l2, int64_t n, int64_t n_in,
                              int64_t n_out);
int bn_dense_backward_csr_f32(float *dw, float *db, const float *dz, const bn_csr_rows *x,
                              const float *w, double l1, double l2, int64_t n, int64_t n_in,
                              int64_t n_out);
/* in (N, H, W, C) -> a, z (N, OH, OW, F); cols (N OH OW, K) is scratch (unused for a 1x1
 * kernel with stride 1 and no padding) */
int bn_conv2d_forward_f64(double *a, double *z, double *cols, const double *in,
                          const double *w, const double *b, const bn_layer *ly, int64_t n);
int bn_conv2d_forward_f32(float *a, float *z, float *cols, const float *in, const float *w,
                          const float *b, const bn_layer *ly, int64_t n);
/* from dz (N, OH, OW, F): dw, db as dense on the unfolded rows, din (N, H, W, C) or NULL */
int bn_conv2d_backward_f64(double *dw, double *db, double *din, double *cols,
                           double *scratch, const double *dz, const double *in,
                           const double *w, const bn_layer *ly, double l1, double l2,
                           int64_t n);
int bn_conv2d_backward_f32(float *dw, float *db, float *din, float *cols, float *scratch,
                           const float *dz, const float *in, const float *w,
                           const bn_layer *ly, double l1, double l2, int64_t n);
/* max or average pooling (ly->kind): in (N, H, W, C) -> out (N, OH, OW, C). Max pooling
 * sends each window's gradient to its first maximum (window in row-major order); where
 * windows overlap, gradients add up. */
void bn_pool2d_forward_f64(double *out, const double *in, const bn_layer *ly, int64_t n);
void bn_pool2d_forward_f32(float *out, const float *in, const bn_layer *ly, int64_t n);
void bn_pool2d_backward_f64(double *din, const double *dout, const double *in,
                            const bn_layer *ly, int64_t n);
void bn_pool2d_backward_f32(float *din, const float *dout, const float *in, const bn_layer *ly,
                            int64_t n);
/* (N, HW, C) <-> (N, C, HW): flatten forward is hwc_to_chw, its backward chw_to_hwc (which
 * also turns channels-first network inputs into channels-last) */
void bn_hwc_to_chw_f64(double *out, const double *in, int64_t n, int64_t hw, int64_t c);
void bn_hwc_to_chw_f32(float *out, const float *in, int64_t n, int64_t hw, int64_t c);
void bn_chw_to_hwc_f64(double *out, const double *in, int64_t n, int64_t hw, int64_t c);
void bn_chw_to_hwc_f32(float *out, const float *in, int64_t n, int64_t hw, int64_t c);
/* d *= act'(z) elementwise, from a = act(z) and z (activations.h) */
void bn_times_dact_f64(double *d, const double *a, const double *z, int64_t count, int32_t act);
void bn_times_dact_f32(float *d, const float *a, const float *z, int64_t count, int32_t act);
/* out = in * keep / (1 - rate) (drop NULL: out = in); din likewise from dout */
void bn_dropout_forward_f64(double *out, const double *in, const bn_layer *ly,
                            const bn_dropout *drop, int64_t n);
void bn_dropout_forward_f32(float *out, const float *in, const bn_layer *ly,
                            const bn_dropout *drop, int64_t n);
void bn_dropout_backward_f64(double *din, const double *dout, const bn_layer *ly,
                             const bn_dropout *drop, int64_t n);
void bn_dropout_backward_f32(float *din, const float *dout, const bn_layer *ly,
                             const bn_dropout *drop, int64_t n);

#endif
