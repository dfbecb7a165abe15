"""L-BFGS training: scipy.optimize.minimize(method="L-BFGS-B") on a network's full-batch
objective (mean data loss + l1/l2 penalty, no dropout), whose value and gradient come from
the backend in one call (forward + backward in C on the compiled backend). The caller
validates X, y and sample_weight (network.py, barenet.sklearn); this module owns the scipy
loop, float32 <-> float64, non-finite trial points and Ctrl-C. Only it imports scipy."""

import contextlib

import numpy as np

from ._numpy_backend import penalty
from ._validation import check_bool, check_int, check_nonnegative_float
from .training import History, catch_interrupts, interrupt_pending

VERBOSE_EVERY = 10   # with verbose, an "Iteration k, Loss: x" line every this many iterations
BAD_STEP = 1e4       # a non-finite trial point reports f_ref + BAD_STEP (1 + |f_ref|)


def _scipy_optimize():
    try:
        import scipy.optimize
    except ImportError as exc:
        raise ImportError("optimizer='lbfgs' needs scipy: pip install scipy") from exc
    return scipy.optimize


def _blas_threads(net):
    """one BLAS thread during the scipy loop when the network runs on the compiled core:
    BLAS then serves only L-BFGS-B's own O(m n) vector work, where threads do not pay and,
    with the cores busy, cost ~10x (this 2-core machine under load: 0.7 ms vs 8 ms per
    scipy iteration for 7,510 parameters). The NumPy backend's GEMMs use BLAS, so there it
    is left alone, as it is when threadpoolctl (a scikit-learn dependency, not barenet's)
    is not installed."""
    if net.backend != "compiled":
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


class _Objective:
    """(f, g) at a float64 point x for scipy: x is cast into a buffer of the network's dtype,
    the backend evaluates loss and gradient there, and f = loss_scale * loss + extra_l2 *
    ||W||^2, g = grad_scale * gradient come back in float64. Trial points whose loss or
    gradient is not finite (a line search overshooting into overflow) report a value far
    above the last finite one and a zero gradient, so the line search backs off."""

    def __init__(self, net, X, y, sw, loss_scale, grad_scale, extra_l2):
        self.backend, self.spec = net._backend, net._spec
        self.X, self.y, self.sw, self.l1, self.l2 = X, y, sw, net.l1, net.l2
        self.loss_scale, self.grad_scale, self.extra_l2 = loss_scale, grad_scale, extra_l2
        self.params = np.empty_like(net._params)    # (P,) the trial point, network dtype
        self.dparams = np.empty_like(net._params)   # (P,) its gradient, network dtype
        self.work = self.backend.workspace(X.shape[0], net.dtype)  # reused by every call
        self.n_fun = 0
        self.n_nonfinite = 0
        self.f_ref = None                           # the last finite f
        self.f0 = None                              # f at the starting point
        self.last = None                            # (x, f) of the last finite evaluation

    def _sum_w2(self):
        """sum of the squared weights (not biases), in float64"""
        return penalty(self.spec, self.params, 0.0, 2.0)

    def __call__(self, x):
        if interrupt_pending():  # Ctrl-C: stop before evaluating (train() takes the flag)
            raise KeyboardInterrupt("barenet: L-BFGS interrupted")
        self.n_fun += 1
        with np.errstate(over="ignore", invalid="ignore"):
            np.copyto(self.params, x, casting="unsafe")
            loss = self.backend.loss_and_grad(self.params, self.X, self.y, self.dparams,
                                              self.l1, self.l2, self.sw, work=self.work)
            f = self.loss_scale * loss
            if self.extra_l2:
                f += self.extra_l2 * self._sum_w2()
            g = self.dparams.astype(np.float64)
            g *= self.grad_scale
        if np.isfinite(f) and np.isfinite(g).all() and np.isfinite(self.params).all():
            self.f_ref = f
            if self.f0 is None:
                self.f0 = f
            self.last = (np.array(x, dtype=np.float64), f)
            return f, g
        self.n_nonfinite += 1
        if self.f_ref is None:
            from .network import TrainingDiverged
            raise TrainingDiverged("the loss at the starting parameters is not finite "
                                   f"({loss}); the network keeps its parameters", epoch=0,
                                   history=History())
        g[...] = 0.0
        return self.f_ref + BAD_STEP * (1.0 + abs(self.f_ref)), g

    def value_at(self, x):
        """f at an accepted iterate x: the last evaluation's (old scipy's callback gets x
        only; the accepted point is the line search's last evaluation)"""
        if self.last is not None and np.array_equal(self.last[0], x):
            return self.last[1]
        return self(x)[0]


def train(net, X, y, sample_weight=None, *, max_iter, max_fun=15000, tol=1e-5, verbose=False,
          loss_scale=1.0, grad_scale=1.0, extra_l2=0.0):
    """Minimise net's objective on (X, y) with L-BFGS-B, full batch, from net's parameters;
    the network ends at the final iterate. X, y, sample_weight must be validated already,
    C-contiguous and of the network's dtype. Dropout is not applied (the caller refuses it).

    max_iter and max_fun bound iterations and loss evaluations (scipy's maxiter and maxfun;
    scipy checks maxfun between iterations, so the last line search may exceed it by a
    few); tol is scipy's gtol: stop when every component of the gradient is <= tol in
    absolute value (scipy also stops when f falls by a relative 2.2e-9 or less).
    loss_scale, grad_scale and extra_l2 (for barenet.sklearn) change what scipy sees into
    f = loss_scale * loss + extra_l2 * ||W||^2 and g = grad_scale * gradient.

    Returns a History of the objective f after each iteration (so len(history) == n_iter),
    with attributes n_iter, n_fun (loss evaluations), final_loss (f at the final point, also
    after 0 iterations), status (scipy's: 0 converged on gtol or ftol, 1 max_iter or
    max_fun reached, 2 a failed line search or other; None if interrupted), converged
    (status == 0) and message (scipy's, plus a note when trial points gave a non-finite
    loss). Ctrl-C
    leaves the network at the last accepted iterate and re-raises KeyboardInterrupt with
    the history so far as its `history` attribute. A non-finite loss at the start raises
    TrainingDiverged.
    """
    optimize = _scipy_optimize()
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    max_fun = check_int(max_fun, "max_fun", minimum=1)
    tol = check_nonnegative_float(tol, "tol")
    verbose = check_bool(verbose, "verbose")
    objective = _Objective(net, X, y, sample_weight, float(loss_scale), float(grad_scale),
                           float(extra_l2))
    x0 = net._params.astype(np.float64)
    accepted = x0.copy()   # the last accepted iterate
    history = History()

    def callback(intermediate_result):
        if isinstance(intermediate_result, optimize.OptimizeResult):   # scipy >= 1.11
            x, f = intermediate_result.x, float(intermediate_result.fun)
        else:
            x = intermediate_result
            f = float(objective.value_at(x))
        accepted[...] = x
        history.append(f)
        k = len(history)
        if verbose and (k == 1 or k % VERBOSE_EVERY == 0):
            print(f"Iteration {k}, Loss: {f:.4f}", flush=True)
        if interrupt_pending():  # Ctrl-C: stop at this accepted iterate
            raise KeyboardInterrupt("barenet: L-BFGS interrupted")

    def finish(x, n_iter, status, message):
        net._params[...] = x
        history.n_iter, history.n_fun = n_iter, objective.n_fun
        history.status, history.converged, history.message = status, status == 0, message
        history.final_loss = history[-1] if history else objective.f0

    try:
        # Ctrl-C only sets a flag (training.catch_interrupts) that the objective and the
        # callback poll, so the KeyboardInterrupt comes at an accepted iterate or before an
        # evaluation, never inside scipy's or this module's bookkeeping; one that arrives
        # after the last poll is raised on leaving the with block, the run complete
        with _blas_threads(net), catch_interrupts(history) as interrupts:
            try:
                result = optimize.minimize(objective, x0, method="L-BFGS-B", jac=True,
                                           callback=callback,
                                           options={"maxiter": max_iter, "maxfun": max_fun,
                                                    "gtol": tol})
            except KeyboardInterrupt:
                interrupts.take()
                raise
    except KeyboardInterrupt as exc:
        finish(accepted, len(history), None, "interrupted (KeyboardInterrupt)")
        exc.history = history
        raise
    message = result.message
    if isinstance(message, bytes):   # old scipy
        message = message.decode()
    if objective.n_nonfinite:
        message += (f" ({objective.n_nonfinite} trial point(s) gave a non-finite loss and "
                    "were stepped back from)")
    # result.x is the last accepted iterate (scipy restores it after a failed line search);
    # `accepted` is the same point, taken from the callback whatever scipy returns
    finish(accepted, min(int(result.nit), max_iter), int(result.status), message)
    if verbose:
        print(f"L-BFGS: {history.n_iter} iterations, {history.n_fun} loss evaluations, "
              f"loss {history.final_loss:.4f}: {message}", flush=True)
    return history
