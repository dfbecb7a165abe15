"""The reference backend: the network's mathematics in NumPy, with the same operations
and names as the C core (csrc/mlp_impl.inc) and the same random numbers (barenet._rng).
It is the specification the compiled backend is tested against, so it favours clarity
over speed. Inputs arrive validated, C-contiguous and in the parameter dtype."""

import numpy as np

from . import _activations as act
from . import _rng

LOSS_BCE, LOSS_CROSS_ENTROPY, LOSS_MSE = 0, 1, 2


def layer_views(spec, params):
    """[(W (n_in, n_out), b (n_out,))] views into the flat buffer"""
    return [(params[w:w + n_in * n_out].reshape(n_in, n_out), params[b:b + n_out])
            for w, b, n_in, n_out in zip(spec.w_offsets, spec.b_offsets, spec.sizes[:-1],
                                         spec.sizes[1:])]


def dropout_scale(drop, layer, shape, dtype):
    """keep / (1 - rate) for each output of hidden layer `layer` (see bn_dropout in mlp.h)"""
    rate, seed, epoch, batch = drop
    stream = _rng.rng_stream(_rng.STREAM_DROPOUT, epoch, batch, layer)
    return _rng.dropout_mask(seed, stream, int(np.prod(shape)), rate, dtype).reshape(shape)


def dense_forward(x, w, b, activation):
    """z = x @ w + b, a = f(z)"""
    z = x @ w + b
    return act.FORWARD[activation](z), z


def dense_backward(dz, x, x_z, w, in_activation, keep, l1, l2):
    """dw (+ penalty gradient), db, and dloss/dz of the layer below, whose output x is
    (already multiplied by its dropout scale `keep`, when there is dropout)"""
    dw = x.T @ dz
    if l1 or l2:
        t = dw.dtype.type
        dw += t(l1) * np.sign(w) + t(l2) * w
    db = dz.sum(axis=0)
    if x_z is None:
        return dw, db, None
    dx = dz @ w.T
    if keep is None:
        dx *= act.DERIVATIVE[in_activation](x, x_z)
    else:
        unscaled = x * dx.dtype.type(1 - keep.rate)
        dx *= keep.mask * act.DERIVATIVE[in_activation](unscaled, x_z)
    return dw, db, dx


class _Keep:
    def __init__(self, rate, mask):
        self.rate, self.mask = rate, mask


def forward(spec, params, x, drop=None):
    """layer outputs [x, a1, ..., aL] and inputs [None, z1, ..., zL], with dropout on the
    hidden outputs when drop = (rate, seed, epoch, batch) has rate > 0"""
    acts, zs, keeps = [x], [None], [None]
    layers = layer_views(spec, params)
    for l, ((w, b), activation) in enumerate(zip(layers, spec.activations)):
        a, z = dense_forward(acts[-1], w, b, activation)
        keep = None
        if drop is not None and drop[0] > 0 and l < len(layers) - 1:
            keep = _Keep(drop[0], dropout_scale(drop, l, a.shape, a.dtype))
            a = a * keep.mask
        acts.append(a)
        zs.append(z)
        keeps.append(keep)
    return acts, zs, keeps


def loss(spec, acts, zs, y, sw=None):
    """mean data loss of a forward pass, (1/N) sum_i w_i l_i (csrc/losses.h)"""
    z, a = zs[-1], acts[-1]
    if spec.loss == LOSS_CROSS_ENTROPY:
        shifted = z - z.max(axis=1, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = -(y * log_softmax).sum(axis=1, dtype=np.float64)
    elif spec.loss == LOSS_MSE:
        rows = np.square(a - y).mean(axis=1, dtype=np.float64)
    else:
        rows = (np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))).mean(axis=1,
                                                                               dtype=np.float64)
    return float(np.mean(rows if sw is None else sw * rows))


def penalty(spec, params, l1, l2):
    """l1 sum|W| + l2/2 sum W^2 over the weights (not the biases)"""
    if not l1 and not l2:
        return 0.0
    ws = [w.astype(np.float64) for w, _ in layer_views(spec, params)]
    return l1 * sum(np.abs(w).sum() for w in ws) + 0.5 * l2 * sum((w * w).sum() for w in ws)


def dloss(spec, acts, zs, y, sw=None):
    """dloss/dz of the output layer"""
    a = acts[-1]
    t = a.dtype.type
    if spec.loss == LOSS_CROSS_ENTROPY:
        dz = (a - y) * t(1 / len(y))
    elif spec.loss == LOSS_MSE:
        dz = (a - y) * t(2 / a.size) * act.DERIVATIVE[spec.activations[-1]](a, zs[-1])
    else:
        dz = (a - y) * t(1 / a.size)
    return dz if sw is None else dz * sw[:, None]


def backward(spec, dparams, params, acts, zs, keeps, y, sw=None, l1=0.0, l2=0.0):
    """gradients of (mean data loss + penalty) into dparams, from the forward's weights"""
    layers = layer_views(spec, params)
    grads = layer_views(spec, dparams)
    dz = dloss(spec, acts, zs, y, sw)
    for l in range(len(layers) - 1, -1, -1):
        in_activation = spec.activations[l - 1] if l > 0 else None
        dw, db, dx = dense_backward(dz, acts[l], zs[l], layers[l][0], in_activation,
                                    keeps[l], l1, l2)
        grads[l][0][...] = dw
        grads[l][1][...] = db
        dz = dx


def predict(spec, params, x):
    """the output layer for x, without dropout"""
    a = x
    for (w, b), activation in zip(layer_views(spec, params), spec.activations):
        a, _ = dense_forward(a, w, b, activation)
    return a


def train(spec, cfg, optimizer, params, x, y, sw, epochs, lr):
    """`epochs` epochs of mini-batch training from cfg.epoch (bn_mlp_train in mlp.h);
    returns (losses, completed, status) with status "ok", or "interrupted" (Ctrl-C) /
    "diverged" (a non-finite epoch loss) after rolling the parameters and the optimizer
    state back to the last completed epoch"""
    n = len(x)
    b = min(cfg.batch_size, n)
    shuffled = cfg.shuffle and b < n
    dparams = np.empty_like(params)
    losses = np.empty(epochs)
    live = [params] + [s for s in (optimizer.state_arrays() or ()) if s is not None]
    for e in range(epochs):
        backup = [a.copy() for a in live], optimizer.step
        try:
            epoch = cfg.epoch + e
            order = (_rng.rng_permutation(cfg.seed, _rng.rng_stream(_rng.STREAM_SHUFFLE, epoch,
                                                                    0, 0), n)
                     if shuffled else None)
            total = 0.0
            for batch, start in enumerate(range(0, n, b)):
                rows = slice(start, start + b) if order is None else order[start:start + b]
                xb, yb, wb = x[rows], y[rows], None if sw is None else sw[rows]
                drop = (cfg.dropout, cfg.seed, epoch, batch)
                acts, zs, keeps = forward(spec, params, xb, drop)
                batch_loss = loss(spec, acts, zs, yb, wb) + penalty(spec, params, cfg.l1, cfg.l2)
                backward(spec, dparams, params, acts, zs, keeps, yb, wb, cfg.l1, cfg.l2)
                optimizer.update_numpy(params, dparams, lr)
                total += batch_loss * len(xb)
            losses[e] = total / n
            finite = np.isfinite(losses[e]) and all(np.isfinite(a).all() for a in live)
            status = "ok" if finite else "diverged"  # a NaN loss, or updates that overflowed
        except KeyboardInterrupt:
            status = "interrupted"
        if status != "ok":
            for a, saved in zip(live, backup[0]):
                a[...] = saved
            optimizer.step = backup[1]
            return losses, e, status
    return losses, epochs, "ok"


class Backend:
    """The NumPy reference, behind the interface network.py uses."""

    name = "numpy"

    def __init__(self, spec):
        self.spec = spec

    def predict(self, params, x):
        return predict(self.spec, params, x)

    def loss(self, params, x, y, l1=0.0, l2=0.0, sw=None, out=None):
        acts, zs, _ = forward(self.spec, params, x)
        if out is not None:
            out[...] = acts[-1]
        return loss(self.spec, acts, zs, y, sw) + penalty(self.spec, params, l1, l2)

    def loss_and_grad(self, params, x, y, dparams, l1=0.0, l2=0.0, sw=None):
        acts, zs, keeps = forward(self.spec, params, x)
        backward(self.spec, dparams, params, acts, zs, keeps, y, sw, l1, l2)
        return loss(self.spec, acts, zs, y, sw) + penalty(self.spec, params, l1, l2)

    def train(self, cfg, optimizer, params, x, y, epochs, lr, sw=None):
        # overflow while diverging is reported by the caller (TrainingDiverged), as in C
        with np.errstate(over="ignore", invalid="ignore"):
            return train(self.spec, cfg, optimizer, params, x, y, sw, epochs, lr)
