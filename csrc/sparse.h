/* sparse.h -- products of a CSR matrix X (scipy.sparse input to the first layer) with dense
 * matrices, in float (_f32) and double (_f64): the dense layer's forward with the bias and
 * activation fused, and its weight gradient. A mini-batch is a list of rows of X, so
 * shuffled batches need no copy of X. Python (barenet/_sparse.py) validates the structure
 * (indptr non-decreasing from 0, indices in [0, IN), rows in [0, n_rows), int64 indices);
 * nothing here checks it. Results are bit-identical for any thread count: each output
 * element is summed by one thread, in a fixed order. No allocation; every call returns
 * BN_OK (gemm.h).
 *
 * Sizes: NB batch rows, IN features (columns of X), OUT units.
 * X: indptr (n_rows + 1), indices (nnz), data (nnz), row r's entries at [indptr[r],
 * indptr[r + 1]); duplicate column entries in a row are added. rows (NB) picks the batch:
 * batch row i is row rows[i] of X (repeats allowed); rows == NULL means rows 0..NB-1. */
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
