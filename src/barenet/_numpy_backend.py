"""The reference backend: the network's mathematics in NumPy, with the same operations
and names as the C core (csrc/graph.c, csrc/train.c, csrc/layers_impl.inc) and the same random
numbers (barenet._rng).
It is the specification the compiled backend is tested against, so it favours clarity
over speed. Inputs arrive validated, C-contiguous and in the parameter dtype."""

import numpy as np

from . import _activations as act
from . import _rng
from . import _sparse
from . import schedules
from .training import interrupt_pending

LOSS_BCE, LOSS_CROSS_ENTROPY, LOSS_MSE, LOSS_POISSON, LOSS_SPARSE_CE = (
    "binary_crossentropy", "categorical_crossentropy", "mse", "poisson",
    "sparse_categorical_crossentropy")


def rows_of(x, rows):
    """rows of the input: dense, or a CSR (checked, barenet._sparse) as a scipy matrix"""
    if not isinstance(x, _sparse.CSR):
        return x[rows]
    if isinstance(rows, slice):
        rows = np.arange(*rows.indices(x.shape[0]))
    return _sparse.batch(x, rows)


def _layer_kwargs(spec, l, acts, state, carry=None):
    """the keywords layer l's forward and backward take beyond the common ones: its state
    views, its input's step mask, its carried state"""
    layer = spec.layers[l]
    kwargs = {"state": spec.state_views(state, l)} if layer.n_state else {}
    if layer.uses_mask:
        kwargs["mask"] = spec.mask_of(acts, l)
    if carry is not None and getattr(layer, "carry_size", 0):
        kwargs["carry"] = spec.carry_view(carry, acts[0].shape[0], l)
    return kwargs


def forward(spec, params, x, drop=None, state=None, carry=None):
    """every node's output and what it keeps for backward (a pre-activation z, batch
    statistics), [x, a_0, ..., a_{L-1}] and [None, z_0, ...] (index l + 1 for node l, 0 for
    the network input), in the nodes' order. carry (N * carry_size), when given, is the
    recurrent layers' state carried in and out (not training). Training when drop = (seed, epoch, batch) is
    given (dropout, batch statistics); state is the network's state buffer (running
    statistics). Each layer computes itself (its reference forward, barenet.layers);
    sparse x (a CSR, or a scipy matrix of its rows) feeds a first dense layer: x @ w and
    x.T @ dz as scipy computes them"""
    if isinstance(x, _sparse.CSR):
        x = _sparse.batch(x)
    acts = [x if _sparse.is_sparse(x) else x.reshape((x.shape[0],) + spec.input_shape)]
    zs = [None]
    for l, (layer, at, stream, parents) in enumerate(zip(spec.layers, spec.offsets,
                                                         spec.streams, spec.edges)):
        kwargs = _layer_kwargs(spec, l, acts, state, carry)
        a, z = layer.forward(params, at, [acts[p + 1] for p in parents], drop, stream, **kwargs)
        acts.append(a)
        zs.append(z)
    return acts, zs


def update_state(spec, state, zs):
    """after a training step: each stateful layer's running statistics from what its
    forward kept (bn_net_update_state)"""
    for l, layer in enumerate(spec.layers):
        if layer.n_state:
            layer.update_state(spec.state_views(state, l), zs[l + 1])


def loss(spec, acts, zs, y, sw=None):
    """mean data loss of a forward pass, (1/N) sum_i w_i l_i (csrc/losses.h)"""
    z, a = zs[-1], acts[-1]
    if spec.loss == LOSS_SPARSE_CE:
        return _sparse_ce(spec, acts, z, y, sw)
    n = a.shape[0]  # a sequence output's values in one row per sample, as C has them
    z, a, y = (v if v is None else v.reshape(n, -1) for v in (z, a, y))
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


def _steps(spec, acts, y):
    """(class ids (N, T), the output's step mask (N, T) or None, V the valid steps)"""
    ids = y.reshape(y.shape[0], -1).astype(np.int64)
    mask = spec.mask_of(acts, len(spec.layers) - 1)
    valid = ids.size if mask is None else float(mask.sum(dtype=np.float64))
    return ids, mask, valid


def _sparse_ce(spec, acts, z, y, sw):
    """(1/V) sum_{i,t} w_i m_it (-log softmax(z_it)[y_it]) (csrc/losses.h, sparse_ce)"""
    ids, mask, valid = _steps(spec, acts, y)
    z = z.reshape(ids.shape + (-1,))
    zmax = z.max(axis=-1, keepdims=True)
    log_sum = np.log(np.exp(z - zmax).sum(axis=-1))
    picked = np.take_along_axis(z, ids[..., None], axis=-1)[..., 0]
    steps = (log_sum - (picked - zmax[..., 0])).astype(np.float64)
    if mask is not None:
        steps = steps * mask
    if sw is not None:
        steps = steps * sw[:, None]
    return float(steps.sum() / valid) if valid else 0.0


def _dsparse_ce(spec, acts, y, sw):
    """dz = (softmax - onehot(y)) w_i m_it / V"""
    ids, mask, valid = _steps(spec, acts, y)
    a = acts[-1]
    t = a.dtype.type
    scale = np.full(ids.shape, t(1 / valid) if valid else t(0), dtype=a.dtype)
    if sw is not None:
        scale = scale * sw[:, None]
    if mask is not None:
        scale = scale * mask
    dz = a.reshape(ids.shape + (-1,)) * scale[..., None]
    np.put_along_axis(dz, ids[..., None], np.take_along_axis(dz, ids[..., None], axis=-1)
                      - scale[..., None], axis=-1)
    return dz.reshape(a.shape)


def _weights(spec, params):
    """the weights the penalty acts on (Dense and Conv2D kernels)"""
    return [layer.views(params, at)[0] for layer, at in zip(spec.layers, spec.offsets)
            if layer.penalised]


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
    if spec.loss == LOSS_SPARSE_CE:
        return _dsparse_ce(spec, acts, y, sw)
    shape, n = a.shape, a.shape[0]
    a, y, z_out = a.reshape(n, -1), y.reshape(n, -1), zs[-1]
    z_out = None if z_out is None else z_out.reshape(n, -1)
    return _dloss_rows(spec, a, z_out, y, sw, t).reshape(shape)


def _dloss_rows(spec, a, z, y, sw, t):
    """dloss/dz of rows (N, S)"""
    if spec.loss == LOSS_CROSS_ENTROPY:
        dz = (a - y) * t(1 / len(y))
    elif spec.loss == LOSS_MSE:
        dz = (a - y) * t(2 / a.size) * act.DERIVATIVE[spec.layers[-1].activation](a, z)
    else:  # binary cross-entropy, poisson
        dz = (a - y) * t(1 / a.size)
    return dz if sw is None else dz * sw[:, None]


def needs_grad(spec):
    """per node: it, or a node before it, has parameters (else no gradient flows to it)"""
    needs = []
    for layer, parents in zip(spec.layers, spec.edges):
        needs.append(bool(layer.n_params) or any(p >= 0 and needs[p] for p in parents))
    return needs


def backward(spec, dparams, params, acts, zs, y, sw=None, l1=0.0, l2=0.0, drop=None,
             state=None):
    """gradients of (mean data loss + penalty) into dparams, from the forward's weights:
    the nodes in reverse order, each node's input gradients added up where a node feeds
    several (in the order the C core adds them: readers from the last, inputs in order)"""
    last = len(spec.layers) - 1
    needs = needs_grad(spec)
    grads = {last: dloss(spec, acts, zs, y, sw)}
    for l in range(last, -1, -1):
        if not needs[l]:
            continue
        layer, at, parents = spec.layers[l], spec.offsets[l], spec.edges[l]
        need = [p >= 0 and needs[p] for p in parents]
        kwargs = _layer_kwargs(spec, l, acts, state)
        dw, db, dxs = layer.backward(params, at, grads.pop(l), [acts[p + 1] for p in parents],
                                     acts[l + 1], zs[l + 1], drop, spec.streams[l], l == last,
                                     need, **kwargs)
        for p, n, dx in zip(parents, need, dxs):
            if n:
                grads[p] = dx if p not in grads else grads[p] + dx
        if dw is not None:
            w, _ = layer.views(params, at)
            gw, gb = layer.views(dparams, at)
            if (l1 or l2) and layer.penalised:
                t = dw.dtype.type
                dw = dw + t(l1) * np.sign(w) + t(l2) * w
            gw[...] = dw.reshape(gw.shape)
            if gb is not None:
                gb[...] = db.reshape(gb.shape)


def predict(spec, params, x, state=None, carry=None):
    """the output layer for x, not training (carry: as for forward)"""
    return forward(spec, params, x, state=state, carry=carry)[0][-1]


def step_lr(lr, step, cfg):
    """the learning rate of optimizer step `step` (bn_step_lr in csrc/train.c)"""
    if cfg.warmup_steps <= 0 and cfg.decay_steps <= 0:
        return lr
    return schedules.step_lr(lr, step, cfg.warmup_steps, cfg.decay_steps, cfg.min_lr)


def train(spec, cfg, optimizer, params, x, y, sw, epochs, lr, state=None, reduce=None):
    """`epochs` epochs of mini-batch training from cfg.epoch (bn_net_train in net.h);
    returns (losses, completed, status) with status "ok", or "interrupted" (Ctrl-C seen
    before a batch, or after an epoch: then at that boundary) /
    "diverged" (a non-finite epoch loss) after rolling the parameters and the optimizer
    state back to the last completed epoch. reduce: data-parallel training, as in
    _compiled_backend.Backend.train (net.h, bn_reduce): parts first..last-1 of each batch,
    each part's gradient handed to the reduction, which leaves the global one"""
    n = x.shape[0]
    b = min(cfg.batch_size, n)
    shuffled = cfg.shuffle and b < n
    dparams = np.empty_like(params)
    losses = np.empty(epochs)
    parts, first, last = (1, 0, 1) if reduce is None else (reduce.parts, reduce.first,
                                                           reduce.last)
    fn = None if reduce is None else reduce.bind(dparams)
    live = [params] + [s for s in (optimizer.state_arrays() or ()) if s is not None]
    if state is not None and state.size:
        live.append(state)
    for e in range(epochs):
        backup = [a.copy() for a in live], optimizer.step
        epoch = cfg.epoch + e
        order = (_rng.rng_permutation(cfg.seed, _rng.rng_stream(_rng.STREAM_SHUFFLE, epoch,
                                                                0, 0), n)
                 if shuffled else None)
        total = 0.0
        status = "ok"
        for batch, start in enumerate(range(0, n, b)):
            if fn is None and interrupt_pending():  # Ctrl-C (training.catch_interrupts)
                status = "interrupted"
                break
            nb = min(b, n - start)
            for k in range(first, last):  # one part of the batch (net.h, bn_reduce)
                lo, hi = k * nb // parts, (k + 1) * nb // parts
                at = start + lo
                if hi == lo:
                    dparams[...] = 0
                    batch_loss = 0.0
                else:
                    rows = (slice(at, at + hi - lo) if order is None
                            else order[at:at + hi - lo])
                    xb, yb, wb = rows_of(x, rows), y[rows], None if sw is None else sw[rows]
                    drop = (cfg.seed, epoch, batch, lo)
                    acts, zs = forward(spec, params, xb, drop, state)
                    batch_loss = (loss(spec, acts, zs, yb, wb)
                                  + penalty(spec, params, cfg.l1, cfg.l2))
                    backward(spec, dparams, params, acts, zs, yb, wb, cfg.l1, cfg.l2, drop,
                             state)
                    update_state(spec, state, zs)
                if fn is not None:
                    batch_loss = fn(k, batch_loss, hi - lo, nb)
                    if batch_loss is None:  # some process saw Ctrl-C
                        status = "interrupted"
                        break
            if status != "ok":
                break
            rate = step_lr(lr, optimizer.step, cfg)
            decays = getattr(optimizer, "decay", "all") == "weights"
            if decays and optimizer.weight_decay > 0:  # bn_net_decay_weights
                optimizer.decay_weights(_weights(spec, params), rate)
            optimizer.update_numpy(params, dparams, rate, weights_decayed=decays)
            total += batch_loss * nb
        if status == "ok":
            losses[e] = total / n
            finite = np.isfinite(losses[e]) and all(np.isfinite(a).all() for a in live)
            status = "ok" if finite else "diverged"  # a NaN loss, or updates that overflowed
        if status != "ok":
            for a, saved in zip(live, backup[0]):
                a[...] = saved
            optimizer.step = backup[1]
            return losses, e, status
        if fn is None and interrupt_pending():  # seen after the epoch: stop at this boundary
            return losses, e + 1, "interrupted"
    return losses, epochs, "ok"


class Backend:
    """The NumPy reference, behind the interface network.py uses."""

    name = "numpy"

    def __init__(self, spec, state):
        self.spec = spec
        self.state = state  # the network's state buffer (running statistics), updated in place

    def release_memory(self):
        """nothing is kept between calls here"""

    def first_nonfinite(self, x):
        """the flat index of the first NaN or infinity in the dense rows x, or -1"""
        bad = ~np.isfinite(x.reshape(-1))
        return int(np.argmax(bad)) if bad.any() else -1

    def predict(self, params, x, out=None, carry=None):
        result = predict(self.spec, params, x, self.state, carry)
        result = result.reshape(result.shape[0], -1)
        if out is None:
            return result
        out[...] = result
        return out

    def generate_steps(self, params, proba, x, carry, out, temperature, top_k, rng):
        """generation's tokens after the prompt: _generate.sampled_steps, the loop the
        compiled backend runs in C (csrc/generate.c)"""
        from ._generate import sampled_steps
        sampled_steps(self, params, proba, x, carry, out, temperature, top_k, rng)

    def forward_all(self, params, x):
        """every node's output for x, not training: one (n, *output_shape) array per node
        (copies: an identity node's output would otherwise be its input)"""
        acts, _ = forward(self.spec, params, x, state=self.state)
        return [np.array(a, copy=True) for a in acts[1:]]

    def loss(self, params, x, y, l1=0.0, l2=0.0, sw=None, out=None):
        acts, zs = forward(self.spec, params, x, state=self.state)
        if out is not None:
            out[...] = acts[-1].reshape(out.shape)
        return loss(self.spec, acts, zs, y, sw) + penalty(self.spec, params, l1, l2)

    def workspace(self, n, dtype):
        """NumPy allocates as it goes: nothing to keep between loss_and_grad calls"""
        return None

    def loss_and_grad(self, params, x, y, dparams, l1=0.0, l2=0.0, sw=None, work=None,
                      drop=None):
        """drop = (seed, epoch, batch): as a training step there sees it (dropout masks,
        batch statistics), without updating the state"""
        acts, zs = forward(self.spec, params, x, drop, self.state)
        backward(self.spec, dparams, params, acts, zs, y, sw, l1, l2, drop, self.state)
        return loss(self.spec, acts, zs, y, sw) + penalty(self.spec, params, l1, l2)

    def train(self, cfg, optimizer, params, x, y, epochs, lr, sw=None, reduce=None):
        # overflow while diverging is reported by the caller (TrainingDiverged), as in C
        with np.errstate(over="ignore", invalid="ignore"):
            return train(self.spec, cfg, optimizer, params, x, y, sw, epochs, lr, self.state,
                         reduce)
