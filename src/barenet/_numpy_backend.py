"""The reference backend: the network's mathematics in NumPy, with the same operations
and names as the C core (csrc/net_impl.inc, csrc/layers_impl.inc) and the same random
numbers (barenet._rng).
It is the specification the compiled backend is tested against, so it favours clarity
over speed. Inputs arrive validated, C-contiguous and in the parameter dtype."""

import numpy as np

from . import _activations as act
from . import _numpy_layers as nl
from . import _rng
from . import _sparse
from .layers import AVGPOOL2D, CONV2D, DENSE, FLATTEN, MAXPOOL2D
from .training import interrupt_pending

LOSS_BCE, LOSS_CROSS_ENTROPY, LOSS_MSE, LOSS_POISSON = 0, 1, 2, 3


def dropout_scale(drop, stream, shape, dtype):
    """keep / (1 - rate) for each value of a dropout layer's output (bn_dropout in
    layers.h), indexed in channels-first order, row by row"""
    rate, seed, epoch, batch = drop
    key = _rng.rng_stream(_rng.STREAM_DROPOUT, epoch, batch, stream)
    return _rng.dropout_mask(seed, key, int(np.prod(shape)), rate, dtype).reshape(shape)


def dense_forward(x, w, b):
    """z = x @ w + b"""
    return x @ w if b is None else x @ w + b


def dense_backward(dz, x, w, need_dx):
    """dw, db, dx of z = x @ w + b"""
    return x.T @ dz, dz.sum(axis=0), dz @ w.T if need_dx else None


def activate(z, activation):
    """a = f(z); softmax over the last axis (dense output layers only)"""
    return act.FORWARD[activation](z)


def layer_forward(layer, params, at, stream, x, drop):
    """(a, z) of one layer on its input x; z is None for layers without an activation"""
    if layer.kind in (DENSE, CONV2D):
        w, b = layer.views(params, at)
        if layer.kind == DENSE:
            z = dense_forward(x, w, None if b is None else b.reshape(-1))
        else:
            z = nl.conv2d_forward(x, w, b, layer.stride, layer.pads())
        return activate(z, layer.activation_id), z
    if layer.kind == MAXPOOL2D:
        return nl.maxpool2d_forward(x, layer.pool_size, layer.stride), None
    if layer.kind == AVGPOOL2D:
        return nl.avgpool2d_forward(x, layer.pool_size, layer.stride), None
    if layer.kind == FLATTEN:
        return nl.flatten_forward(x), None
    if drop is None or layer.rate == 0:  # dropout, when not training
        return x, None
    return x * dropout_scale((layer.rate,) + drop, stream, x.shape, x.dtype), None


def layer_backward(layer, params, at, stream, d, x, a, z, drop, is_output, need_dx):
    """(weight grad, bias grad, dloss/dx) of one layer from d = dloss/d(its output), or
    dloss/dz for the output layer (whose activation the loss gradient includes)"""
    if layer.kind in (DENSE, CONV2D):
        w, b = layer.views(params, at)
        dz = d if is_output else d * act.DERIVATIVE[layer.activation_id](a, z)
        if layer.kind == DENSE:
            dw, db, dx = dense_backward(dz, x, w, need_dx)
        else:
            dx, dw, db = nl.conv2d_backward(dz, x, w, layer.stride, layer.pads(), need_dx)
        return dw, db if b is not None else None, dx
    if not need_dx:
        return None, None, None
    if layer.kind == MAXPOOL2D:
        dx = nl.maxpool2d_backward(d, x, layer.pool_size, layer.stride)
    elif layer.kind == AVGPOOL2D:
        dx = nl.avgpool2d_backward(d, x, layer.pool_size, layer.stride)
    elif layer.kind == FLATTEN:
        dx = nl.flatten_backward(d, x.shape)
    elif drop is None or layer.rate == 0:
        dx = d
    else:
        dx = d * dropout_scale((layer.rate,) + drop, stream, d.shape, d.dtype)
    return None, None, dx


def rows_of(x, rows):
    """rows of the input: dense, or a CSR (checked, barenet._sparse) as a scipy matrix"""
    if not isinstance(x, _sparse.CSR):
        return x[rows]
    if isinstance(rows, slice):
        rows = np.arange(*rows.indices(x.shape[0]))
    return _sparse.batch(x, rows)


def forward(spec, params, x, drop=None):
    """layer inputs and outputs [x, a_0, ..., a_{L-1}] and pre-activations [None, z_0, ...],
    with dropout when drop = (seed, epoch, batch) is given. Sparse x (a CSR, or a scipy
    matrix of its rows) feeds a first dense layer: x @ w and x.T @ dz as scipy computes them"""
    if isinstance(x, _sparse.CSR):
        x = _sparse.batch(x)
    acts = [x if _sparse.is_sparse(x) else x.reshape((x.shape[0],) + spec.input_shape)]
    zs = [None]
    for layer, at, stream in zip(spec.layers, spec.offsets, spec.streams):
        a, z = layer_forward(layer, params, at, stream, acts[-1], drop)
        acts.append(a)
        zs.append(z)
    return acts, zs


def loss(spec, acts, zs, y, sw=None):
    """mean data loss of a forward pass, (1/N) sum_i w_i l_i (csrc/losses.h)"""
    z, a = zs[-1], acts[-1]
    if spec.loss == LOSS_CROSS_ENTROPY:
        shifted = z - z.max(axis=1, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = -(y * log_softmax).sum(axis=1, dtype=np.float64)
    elif spec.loss == LOSS_MSE:
        rows = np.square(a - y).mean(axis=1, dtype=np.float64)
    elif spec.loss == LOSS_POISSON:  # half Poisson deviance, mu = exp(z), 0 log 0 = 0
        y_log_y = y * np.log(np.where(y > 0, y, 1))
        rows = (np.exp(z) - y * z + y_log_y - y).mean(axis=1, dtype=np.float64)
    else:
        rows = (np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))).mean(axis=1,
                                                                               dtype=np.float64)
    return float(np.mean(rows if sw is None else sw * rows))


def _weights(spec, params):
    return [layer.views(params, at)[0] for layer, at in zip(spec.layers, spec.offsets)
            if layer.n_params]


def penalty(spec, params, l1, l2):
    """l1 sum|W| + l2/2 sum W^2 over the weights (not the biases)"""
    if not l1 and not l2:
        return 0.0
    ws = [w.astype(np.float64) for w in _weights(spec, params)]
    return l1 * sum(np.abs(w).sum() for w in ws) + 0.5 * l2 * sum((w * w).sum() for w in ws)


def dloss(spec, acts, zs, y, sw=None):
    """dloss/dz of the output layer"""
    a = acts[-1]
    t = a.dtype.type
    if spec.loss == LOSS_CROSS_ENTROPY:
        dz = (a - y) * t(1 / len(y))
    elif spec.loss == LOSS_MSE:
        dz = (a - y) * t(2 / a.size) * act.DERIVATIVE[spec.layers[-1].activation_id](a, zs[-1])
    else:  # binary cross-entropy, poisson
        dz = (a - y) * t(1 / a.size)
    return dz if sw is None else dz * sw[:, None]


def backward(spec, dparams, params, acts, zs, y, sw=None, l1=0.0, l2=0.0, drop=None):
    """gradients of (mean data loss + penalty) into dparams, from the forward's weights"""
    d = dloss(spec, acts, zs, y, sw)
    last = len(spec.layers) - 1
    first = next(i for i, layer in enumerate(spec.layers) if layer.n_params or i == last)
    for l in range(last, first - 1, -1):
        layer, at = spec.layers[l], spec.offsets[l]
        dw, db, d = layer_backward(layer, params, at, spec.streams[l], d, acts[l],
                                   acts[l + 1], zs[l + 1], drop, l == last, l > first)
        if dw is not None:
            w, _ = layer.views(params, at)
            gw, gb = layer.views(dparams, at)
            if l1 or l2:
                t = dw.dtype.type
                dw = dw + t(l1) * np.sign(w) + t(l2) * w
            gw[...] = dw
            if gb is not None:
                gb[...] = db.reshape(gb.shape)


def predict(spec, params, x):
    """the output layer for x, without dropout"""
    return forward(spec, params, x)[0][-1]


def train(spec, cfg, optimizer, params, x, y, sw, epochs, lr):
    """`epochs` epochs of mini-batch training from cfg.epoch (bn_net_train in net.h);
    returns (losses, completed, status) with status "ok", or "interrupted" (Ctrl-C seen
    before a batch, or after an epoch: then at that boundary) /
    "diverged" (a non-finite epoch loss) after rolling the parameters and the optimizer
    state back to the last completed epoch"""
    n = x.shape[0]
    b = min(cfg.batch_size, n)
    shuffled = cfg.shuffle and b < n
    dparams = np.empty_like(params)
    losses = np.empty(epochs)
    live = [params] + [s for s in (optimizer.state_arrays() or ()) if s is not None]
    for e in range(epochs):
        backup = [a.copy() for a in live], optimizer.step
        epoch = cfg.epoch + e
        order = (_rng.rng_permutation(cfg.seed, _rng.rng_stream(_rng.STREAM_SHUFFLE, epoch,
                                                                0, 0), n)
                 if shuffled else None)
        total = 0.0
        status = "ok"
        for batch, start in enumerate(range(0, n, b)):
            if interrupt_pending():  # Ctrl-C (training.catch_interrupts), as in C
                status = "interrupted"
                break
            rows = slice(start, start + b) if order is None else order[start:start + b]
            xb, yb, wb = rows_of(x, rows), y[rows], None if sw is None else sw[rows]
            drop = (cfg.seed, epoch, batch)
            acts, zs = forward(spec, params, xb, drop)
            batch_loss = loss(spec, acts, zs, yb, wb) + penalty(spec, params, cfg.l1, cfg.l2)
            backward(spec, dparams, params, acts, zs, yb, wb, cfg.l1, cfg.l2, drop)
            optimizer.update_numpy(params, dparams, lr)
            total += batch_loss * xb.shape[0]
        if status == "ok":
            losses[e] = total / n
            finite = np.isfinite(losses[e]) and all(np.isfinite(a).all() for a in live)
            status = "ok" if finite else "diverged"  # a NaN loss, or updates that overflowed
        if status != "ok":
            for a, saved in zip(live, backup[0]):
                a[...] = saved
            optimizer.step = backup[1]
            return losses, e, status
        if interrupt_pending():  # seen after the epoch: stop at this boundary
            return losses, e + 1, "interrupted"
    return losses, epochs, "ok"


class Backend:
    """The NumPy reference, behind the interface network.py uses."""

    name = "numpy"

    def __init__(self, spec):
        self.spec = spec

    def predict(self, params, x):
        return predict(self.spec, params, x)

    def loss(self, params, x, y, l1=0.0, l2=0.0, sw=None, out=None):
        acts, zs = forward(self.spec, params, x)
        if out is not None:
            out[...] = acts[-1]
        return loss(self.spec, acts, zs, y, sw) + penalty(self.spec, params, l1, l2)

    def workspace(self, n, dtype):
        """NumPy allocates as it goes: nothing to keep between loss_and_grad calls"""
        return None

    def loss_and_grad(self, params, x, y, dparams, l1=0.0, l2=0.0, sw=None, work=None):
        acts, zs = forward(self.spec, params, x)
        backward(self.spec, dparams, params, acts, zs, y, sw, l1, l2)
        return loss(self.spec, acts, zs, y, sw) + penalty(self.spec, params, l1, l2)

    def train(self, cfg, optimizer, params, x, y, epochs, lr, sw=None):
        # overflow while diverging is reported by the caller (TrainingDiverged), as in C
        with np.errstate(over="ignore", invalid="ignore"):
            return train(self.spec, cfg, optimizer, params, x, y, sw, epochs, lr)
