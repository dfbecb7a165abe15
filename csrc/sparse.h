/* sparse.h -- a CSR matrix X (scipy.sparse input to the first layer) times dense matrices,
 * in float (_f32) and double (_f64): the dense layer's forward with bias and activation
 * fused, and its weight gradient, on a mini-batch given as a list of rows of X (shuffled
 * batches need no copy of X). Python (barenet/_sparse.py) validates; nothing here checks.
 * Bit-identical for any thread count; no allocation; every call returns BN_OK (gemm.h).
 *
 * Sizes: NB batch rows, IN features (columns of X), OUT units.
 * X: indptr (n_rows + 1), indices (nnz), data (nnz) as scipy stores it, with int64 indices:
 * row r's entries are [indptr[r], indptr[r + 1]), columns in [0, IN); duplicate columns in
 * a row are added. rows (NB) picks the batch: batch row i is row rows[i] of X (repeats
 * allowed, each in [0, n_rows)); rows == NULL means rows 0..NB-1 (so indptr + start gives
 * the contiguous batch starting at row `start`). */
#ifndef BARENET_SPARSE_H
#define BARENET_SPARSE_H

#include <stdint.h>

/* z = X[rows] @ w + bias, a = act(z): same contract as bn_?gemm_bias_act (activation ids of
 * activations.h; BN_ACT_SOFTMAX acts as the identity, the layer code applies it to rows).
 * Each row of z sums bias-free: 0, then data * (row of w) for the row's entries in stored
 * order, then + bias, as scipy's X[rows] @ w + bias does.
 * w (IN, OUT), bias (OUT) or NULL, a (NB, OUT), z (NB, OUT) or NULL (may not alias a). */
int bn_csr_dense_bias_act_f32(int64_t nb, int64_t n_in, int64_t n_out, const int64_t *indptr,
                              const int64_t *indices, const float *data, const int64_t *rows,
                              const float *w, const float *bias, int32_t act, float *a,
                              float *z);
int bn_csr_dense_bias_act_f64(int64_t nb, int64_t n_in, int64_t n_out, const int64_t *indptr,
                              const int64_t *indices, const double *data, const int64_t *rows,
                              const double *w, const double *bias, int32_t act, double *a,
                              double *z);

/* dw = X[rows]^T @ dz, overwriting all of dw (rows of features absent from the batch are
 * zero). Row c of dw sums data * (row i of dz) over the batch's entries in column c, batch
 * rows i in order (as scipy's X[rows].T @ dz does).
 * dz (NB, OUT), dw (IN, OUT). */
int bn_csr_t_dense_f32(int64_t nb, int64_t n_in, int64_t n_out, const int64_t *indptr,
                       const int64_t *indices, const float *data, const int64_t *rows,
                       const float *dz, float *dw);
int bn_csr_t_dense_f64(int64_t nb, int64_t n_in, int64_t n_out, const int64_t *indptr,
                       const int64_t *indices, const double *data, const int64_t *rows,
                       const double *dz, double *dw);

#endif
