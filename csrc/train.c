/* train.c -- whole epochs of mini-batch training in one call (net.h, bn_net_train):
 * shuffling, gathering each batch's rows, forward, loss, backward and the optimizer step
 * per batch, the epoch's loss, and the rollback to the last good epoch on Ctrl-C or
 * divergence; data-parallel training computes parts of each batch and hands their
 * gradients to a reduce hook (net.h, bn_reduce). The graph itself is run by graph.c. Both precisions from one source. */
#ifndef REAL
#include <math.h>
#include <string.h>

#include "gemm.h"
#include "interrupt.h"
#include "net.h"
#include "optimizers.h"
#include "parallel.h"
#include "rng.h"

double bn_step_lr(double lr, int64_t step, int64_t warmup_steps, int64_t decay_steps,
                  double min_lr)
{
    if (step < warmup_steps) return lr * (double)(step + 1) / (double)warmup_steps;
    if (decay_steps <= 0) return lr;
    const int64_t t = step - warmup_steps;
    if (t >= decay_steps) return min_lr;
    const double pi = 3.14159265358979323846;
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + cos(pi * (double)t / (double)decay_steps));
}

#define BN_PRECISION_FILE "train.c"
#include "precision.h"

#else /* ---- per precision ---- */

/* rows perm[0..nb) of x, y and sw into xb (NB, IN) (unless xb is NULL: CSR input), yb
 * (NB, y_size) and wb (NB) */
static void SFX(gather_rows)(REAL *xb, REAL *yb, REAL *wb, const REAL *x, const REAL *y,
                             const REAL *sw, const int64_t *perm, int64_t nb, int64_t n_in,
                             int64_t n_out)
{
    for (int64_t i = 0; i < nb; i++) {
        if (xb) memcpy(xb + i * n_in, x + perm[i] * n_in, (size_t)n_in * sizeof(REAL));
        memcpy(yb + i * n_out, y + perm[i] * n_out, (size_t)n_out * sizeof(REAL));
        if (sw) wb[i] = sw[perm[i]];
    }
}

/* copy params, the optimizer state (count each) and the network's state (n_state) to
 * (save) or from (restore) the backup (3 count + n_state) */
static void SFX(backup_state)(REAL *backup, REAL *params, REAL *state1, REAL *state2,
                              REAL *state, int64_t count, int64_t n_state, int restore)
{
    REAL *live[4] = {params, state1, state2, state};
    for (int i = 0; i < 4; i++) {
        const int64_t size = i < 3 ? count : n_state;
        if (live[i] == NULL || size == 0) continue;
        REAL *saved = backup + i * count;
        if (restore) bn_copy(live[i], saved, size, sizeof(REAL));
        else bn_copy(saved, live[i], size, sizeof(REAL));
    }
}

/* 1 if every element of the non-NULL buffers is finite (each buffer's ranges on threads) */
static int SFX(all_finite)(const REAL *params, const REAL *state1, const REAL *state2,
                           const REAL *state, int64_t count, int64_t n_state)
{
    const REAL *bufs[4] = {params, state1, state2, state};
    int bad = 0;
    for (int i = 0; i < 4 && !bad; i++) {
        const int64_t size = i < 3 ? count : n_state;
        const REAL *buf = bufs[i];
        if (buf == NULL) continue;
        BN_PARALLEL_RANGES(size, 4096, (double)size, lo, hi,
            int ok = 1;
            for (int64_t j = lo; j < hi; j++) ok &= isfinite(buf[j]) != 0;
            if (!ok) {
                BN_OMP_CRITICAL
                bad = 1;
            });
    }
    return !bad;
}

/* forward, loss + penalty (into *loss), backward (into dparams) and the state's update
 * for np rows: rows perm[0..np) of the data when perm is not NULL (gathered into the head
 * of the workspace), else rows at..at+np read in place; the rows sit at position row of
 * batch `batch` (dropout masks) */
static int SFX(train_part)(const bn_net *net, const bn_train_config *cfg, double *loss,
                           const REAL *params, REAL *state, REAL *dparams, REAL *work,
                           const int64_t *perm, int64_t at, int64_t np, int64_t epoch,
                           int64_t batch, int64_t row, const REAL *x, const bn_csr_rows *xs,
                           const REAL *y, const REAL *sw)
{
    const int64_t n_in = net->in_h * net->in_w * net->in_c;
    const int64_t n_out = net->y_size; /* values per row of y */
    const REAL *xb = xs ? NULL : x + at * n_in, *yb = y + at * n_out;
    const REAL *wb = sw ? sw + at : NULL;
    bn_csr_rows xsb; /* CSR input: the part's rows are picked, not copied */
    if (xs) {
        xsb = *xs;
        if (perm) xsb.rows = perm;
        else xsb.indptr = xs->indptr + at;
    }
    if (perm) { /* the workspace for np rows: xb at 0, then yb and wb */
        REAL *gx = work, *gy = work + np * net->row_yb, *gw = work + np * net->row_wb;
        SFX(gather_rows)(xs ? NULL : gx, gy, gw, x, y, sw, perm, np, n_in, n_out);
        xb = xs ? NULL : gx;
        yb = gy;
        wb = sw ? gw : NULL;
    }
    const bn_csr_rows *xsp = xs ? &xsb : NULL;
    const bn_dropout drop = {cfg->seed, epoch, batch, row};
    int status = SFX(bn_net_forward)(net, work, params, state, xb, xsp, np, &drop);
    if (status != BN_OK) return status;
    *loss = SFX(bn_net_loss)(net, work, yb, wb, np)
          + SFX(bn_net_penalty)(net, params, cfg->l1, cfg->l2);
    status = SFX(bn_net_backward)(net, dparams, work, params, state, xb, xsp, yb, wb, np,
                                  &drop, cfg->l1, cfg->l2);
    if (status != BN_OK) return status;
    if (state) SFX(bn_net_update_state)(net, work, state, np);
    return BN_OK;
}

int SFX(bn_net_train)(const bn_net *net, const bn_train_config *cfg, bn_optimizer *opt,
                      double *losses, int64_t *completed, int64_t epochs, REAL *params,
                      REAL *state, REAL *dparams, REAL *state1, REAL *state2, REAL *backup, REAL *work,
                      int64_t *perm, uint64_t *scratch, const REAL *x,
                      const bn_csr_rows *xs, const REAL *y, const REAL *sw, int64_t n,
                      const bn_reduce *reduce)
{
    const int64_t parts = reduce ? reduce->parts : 1;
    const int64_t first = reduce ? reduce->first : 0, last = reduce ? reduce->last : 1;
    const int64_t b = cfg->batch_size < n ? cfg->batch_size : n;
    const int shuffled = cfg->shuffle && b < n;
    int64_t saved_step = opt->step;
    const double base_lr = opt->lr;
    const int scheduled = cfg->warmup_steps > 0 || cfg->decay_steps > 0;
    int status = BN_OK;
    *completed = 0;
    if (backup)
        SFX(backup_state)(backup, params, state1, state2, state, net->n_params, net->n_state, 0);
    for (int64_t e = 0; e < epochs && status == BN_OK; e++) {
        const int64_t epoch = cfg->epoch + e;
        double total = 0.0;
        if (shuffled)
            bn_rng_permutation(perm, scratch, cfg->seed,
                               bn_rng_stream(BN_STREAM_SHUFFLE, (uint64_t)epoch, 0, 0), n);
        for (int64_t start = 0, batch = 0; start < n; start += b, batch++) {
            /* interrupt.h: rolled back below to the last completed epoch; with a reduce
             * hook the processes agree on it inside the hook instead */
            if (!reduce && bn_interrupt_pending()) { status = BN_EINTERRUPTED; break; }
            const int64_t nb = n - start < b ? n - start : b;
            double loss = 0.0;
            for (int64_t k = first; k < last; k++) { /* one part of the batch (net.h) */
                const int64_t lo = k * nb / parts, np = (k + 1) * nb / parts - lo;
                const int64_t at = start + lo; /* the part's first row in the epoch's order */
                if (np == 0) {
                    memset(dparams, 0, (size_t)net->n_params * sizeof(REAL));
                    loss = 0.0;
                } else {
                    status = SFX(train_part)(net, cfg, &loss, params, state, dparams, work,
                                             shuffled ? perm + at : NULL, at, np, epoch,
                                             batch, lo, x, xs, y, sw);
                    if (status != BN_OK) break;
                }
                if (reduce) status = reduce->fn(reduce->ctx, k, dparams, &loss, np, nb);
                if (status != BN_OK) break;
            }
            if (status != BN_OK) break;
            if (opt->clipvalue > 0 || opt->clipnorm > 0)
                SFX(bn_clip_grads)(dparams, net->n_params, opt->clipvalue, opt->clipnorm);
            if (scheduled)
                opt->lr = bn_step_lr(base_lr, opt->step, cfg->warmup_steps, cfg->decay_steps,
                                     cfg->min_lr);
            if (opt->decay_weights_only && opt->kind == BN_OPT_ADAMW && opt->weight_decay > 0)
                SFX(bn_net_decay_weights)(net, params, opt->lr, opt->weight_decay);
            status = SFX(bn_optimizer_step)(opt, params, dparams, state1, state2, net->n_params);
            if (status != BN_OK) break;
            total += loss * (double)nb;
        }
        if (status != BN_OK) break;
        losses[e] = total / (double)n;
        if (!isfinite(losses[e])
            || !SFX(all_finite)(params, state1, state2, state, net->n_params, net->n_state)) {
            status = BN_EDIVERGED; /* a NaN loss, or updates that overflowed */
            break;
        }
        *completed = e + 1;
        saved_step = opt->step;
        /* a SIGINT during the epoch's last batch (or, for the last epoch, at any time after
         * the check before that batch): stop at this epoch boundary, nothing to roll back */
        if (!reduce && bn_interrupt_pending()) return BN_EINTERRUPTED;
        if (backup && e + 1 < epochs)
            SFX(backup_state)(backup, params, state1, state2, state, net->n_params,
                              net->n_state, 0);
    }
    if (status != BN_OK && backup) { /* back to the last completed epoch */
        SFX(backup_state)(backup, params, state1, state2, state, net->n_params, net->n_state,
                          1);
        opt->step = saved_step;
    }
    return status;
}

#endif
