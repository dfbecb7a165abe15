/* losses.h -- loss values, and their gradients with respect to the output layer's
 * pre-activation z (the "delta" that backward starts from). Rows may carry weights w (N),
 * NULL meaning all ones; every loss is (1/N) sum_i w_i l_i, with l_i the row's loss:
 *   bce            binary cross-entropy on a sigmoid output, from the logits, averaged over
 *                  the row's K outputs (so the unweighted loss is the mean over all N*K)
 *   cross_entropy  categorical cross-entropy on a softmax output, from the logits by
 *                  log-sum-exp; y rows are probability vectors (one-hot for labels)
 *   mse            squared error averaged over the row's K outputs, on any elementwise output
 *   poisson        half Poisson deviance on an exp output, from the logits z (mu = e^z),
 *                  averaged over the row's K outputs: e^z - y z + y log y - y (0 log 0 = 0)
 *   sparse_ce      categorical cross-entropy of a softmax over K classes at each of a row's
 *                  T steps (T = 1: a vector output), the targets class ids y (N, T); with a
 *                  step mask m (N, T) the loss is (1/V) sum_{i,t} w_i m_it l_it, V = sum m
 *                  (N T without a mask; 0 when no step is valid)
 * Values are accumulated in double in both precisions (a scalar, not an array). */
#ifndef BARENET_LOSSES_H
#define BARENET_LOSSES_H

#include <stdint.h>

typedef enum {
    BN_LOSS_BCE = 0,
    BN_LOSS_CROSS_ENTROPY = 1,
    BN_LOSS_MSE = 2,
    BN_LOSS_POISSON = 3,
    BN_LOSS_SPARSE_CE = 4,
} bn_loss;

/* z, a, y (N, K); w (N) or NULL */
double bn_loss_bce_f64(const double *z, const double *y, const double *w, int64_t n, int64_t k);
double bn_loss_bce_f32(const float *z, const float *y, const float *w, int64_t n, int64_t k);
/* cross-entropy from the logits z and the rows' statistics that bn_softmax_rows kept while
 * computing the softmax (stats: maxima (N), then sums of exp(z - max) (N)) */
double bn_loss_cross_entropy_f64(const double *z, const double *y, const double *w,
                                 const double *stats, int64_t n, int64_t k);
double bn_loss_cross_entropy_f32(const float *z, const float *y, const float *w,
                                 const float *stats, int64_t n, int64_t k);
double bn_loss_poisson_f64(const double *z, const double *y, const double *w, int64_t n,
                           int64_t k);
double bn_loss_poisson_f32(const float *z, const float *y, const float *w, int64_t n,
                           int64_t k);
double bn_loss_mse_f64(const double *a, const double *y, const double *w, int64_t n, int64_t k);
double bn_loss_mse_f32(const float *a, const float *y, const float *w, int64_t n, int64_t k);

/* row-wise softmax: a = softmax(z) (N, K); a may be z. stats (2N) or NULL: each row's
 * maximum (stats[i]) and sum of exp(z - max) (stats[N + i]), for the cross-entropy */
void bn_softmax_rows_f64(double *a, const double *z, int64_t n, int64_t k, double *stats);
void bn_softmax_rows_f32(float *a, const float *z, int64_t n, int64_t k, float *stats);

/* dz = (a - y) * w_i * scale: bce and poisson (scale 1/(N*K)), softmax cross-entropy
 * (scale 1/N) */
void bn_dloss_logits_f64(double *dz, const double *a, const double *y, const double *w,
                         int64_t n, int64_t k, double scale);
void bn_dloss_logits_f32(float *dz, const float *a, const float *y, const float *w,
                         int64_t n, int64_t k, float scale);
/* sparse_ce: z, a (N, T, K) logits and softmax, y (N, T) class ids in 0..K-1, w (N) or
 * NULL, mask (N, T) or NULL, stats (2 N T) as bn_softmax_rows keeps them over N T rows */
double bn_loss_sparse_ce_f64(const double *z, const double *y, const double *w,
                             const double *mask, const double *stats, int64_t n, int64_t t,
                             int64_t k);
double bn_loss_sparse_ce_f32(const float *z, const float *y, const float *w, const float *mask,
                             const float *stats, int64_t n, int64_t t, int64_t k);
/* its gradient: dz = (a - onehot(y)) w_i m_it / V */
void bn_dloss_sparse_ce_f64(double *dz, const double *a, const double *y, const double *w,
                            const double *mask, int64_t n, int64_t t, int64_t k);
void bn_dloss_sparse_ce_f32(float *dz, const float *a, const float *y, const float *w,
                            const float *mask, int64_t n, int64_t t, int64_t k);
/* mse: dz = 2 (a - y) w_i / (N*K) * f'(z), with f the output's elementwise activation */
void bn_dloss_mse_f64(double *dz, const double *a, const double *z, const double *y,
                      const double *w, int32_t act, int64_t n, int64_t k);
void bn_dloss_mse_f32(float *dz, const float *a, const float *z, const float *y,
                      const float *w, int32_t act, int64_t n, int64_t k);

#endif
