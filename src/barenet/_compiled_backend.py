"""The compiled backend: allocates the workspaces, then hands each whole operation to
the C core through barenet._core. Inputs arrive validated, C-contiguous and in the
parameter dtype (network.py)."""

import numpy as np

from . import _core
from ._sparse import CSR

PREDICT_CHUNK = 8192       # at most this many rows per C call in predict and loss...
WORKSPACE_BYTES = 64 << 20  # ...and fewer when their workspace would exceed this (CNNs)
PREDICT_WORK_BYTES = 4 << 20  # predict: rows per C call so that the workspace fits this
#   (the layers' outputs stay in cache from one layer to the next; at least one row)
GENERATE_CHUNK = 256  # generate: tokens per C call (Ctrl-C is seen between calls)
KEEP_WORK_BYTES = 16 << 20  # a prediction workspace up to this size is kept for the next call
KEEP_TRAIN_BYTES = 1 << 30  # a training workspace up to this size is kept for the next call
#   (a train call per batch would otherwise have the kernel zero a fresh one each time:
#   227 MiB for a 4-block GPT at batch 32, a fifth of its step; docs/training.md)


def _input(x, start=0, stop=None):
    """rows start:stop of the input as the core's arguments: (dense rows or None, the CSR
    arrays as keywords); a CSR's rows are a slice of indptr, its entries are not copied"""
    if not isinstance(x, CSR):
        return x[start:stop], {}
    stop = x.shape[0] if stop is None else min(stop, x.shape[0])
    return None, dict(indptr=x.indptr[start:stop + 1], indices=x.indices, data=x.data)


class Backend:
    """The C core, behind the interface network.py uses."""

    name = "compiled"

    def __init__(self, spec, state):
        self.spec = spec
        self.state = state  # the network's state buffer (running statistics), updated in place
        nodes, inputs = spec.c_nodes()
        self.core = _core.Net(nodes, inputs, spec.input_hwc, len(spec.input_shape) == 3,
                              spec.loss_name, spec.n_params, spec.n_state)
        self._work = None  # the prediction workspace kept between calls (_predict_work)
        self._train = {}   # the training buffers kept between calls (_train_buffers)
        self._rows = {}    # rows per C call of a prediction, by the rows asked for

    def _chunk(self, n, size, limit=WORKSPACE_BYTES):
        """rows per C call: large GEMMs, a bounded workspace; size(b) is the workspace of
        b rows in elements"""
        per_row = max(1, size(2) - size(1))
        return max(1, min(n, PREDICT_CHUNK, limit // (8 * per_row)))

    def first_nonfinite(self, x):
        """the flat index of the first NaN or infinity in the dense rows x, or -1 (one
        vectorised pass in C)"""
        return _core.first_nonfinite(x)

    def _predict_work(self, rows, dtype):
        """the prediction workspace for `rows` rows: the one kept from an earlier call when
        it is large enough (calls on one network never overlap: network.py's lock), else a
        new one, kept when at most KEEP_WORK_BYTES"""
        need = max(1, self.core.predict_workspace_size(rows))
        work = self._work
        if work is not None and work.dtype == dtype and work.size >= need:
            return work
        work = np.empty(need, dtype=dtype)
        if need * work.itemsize <= KEEP_WORK_BYTES:
            self._work = work
        return work

    def _train_buffers(self, rows, params):
        """(dparams, backup, work) for a train call on batches of `rows`: the ones kept from
        an earlier call when they fit (calls on one network never overlap: network.py's
        lock), else new ones, kept when together at most KEEP_TRAIN_BYTES. Nothing in them
        is read before the core writes it."""
        sizes = (params.size, 3 * params.size + self.state.size,
                 self.core.workspace_size(rows))
        kept = self._train.get(params.dtype)
        if kept is not None and all(a.size >= n for a, n in zip(kept, sizes)):
            return kept[0][:sizes[0]], kept[1][:sizes[1]], kept[2]
        self._train.pop(params.dtype, None)  # freed before the new ones are made
        bufs = tuple(np.empty(n, dtype=params.dtype) for n in sizes)
        if sum(sizes) * params.itemsize <= KEEP_TRAIN_BYTES:
            self._train[params.dtype] = bufs
        return bufs

    def release_memory(self):
        """drops the workspaces kept between calls"""
        self._work = None
        self._train.clear()

    def predict(self, params, x, out=None, carry=None):
        """the output for x (n, out_size), into out (validated by the caller) when given;
        carry (n * carry_size): the recurrent layers' state, read as the initial state and
        overwritten with the final one (one C call for all rows then)"""
        n = x.shape[0]
        if out is None:
            out = np.empty((n, self.spec.out_size), dtype=params.dtype)
        if carry is not None:  # one call: generation's step after step, a kept workspace
            self.core.predict(out, self._predict_work(n, params.dtype), params, self.state, x,
                              carry=carry)
            return out
        rows = self._rows.get(n)
        if rows is None:
            rows = self._rows[n] = self._chunk(n, self.core.predict_workspace_size,
                                               PREDICT_WORK_BYTES)
            if len(self._rows) > 64:  # many sizes seen: keep the last only
                self._rows = {n: rows}
        work = self._predict_work(rows, params.dtype)
        if rows >= n and not isinstance(x, CSR):  # one call, nothing sliced
            self.core.predict(out, work, params, self.state, x)
            return out
        for start in range(0, n, rows):
            xs, csr = _input(x, start, start + rows)
            self.core.predict(out[start:start + rows], work, params, self.state, xs, **csr)
        return out

    def generate_steps(self, params, proba, x, carry, out, temperature, top_k, rng):
        """_generate.sampled_steps in C (csrc/generate.c), GENERATE_CHUNK tokens per call:
        the same uniform numbers drawn in the same order (one per row and token), the same
        tokens"""
        from ._generate import NONFINITE
        b, steps = out.shape
        work = self._predict_work(b, params.dtype)
        scratch = np.empty(2 * proba.shape[1])
        for first in range(0, steps, GENERATE_CHUNK):
            k = min(GENERATE_CHUNK, steps - first)
            uniforms = rng.random(k * b) if temperature != 0 else np.empty(0)
            if not self.core.generate(proba, work, params, self.state, x, carry, uniforms,
                                      temperature, top_k or 0, scratch, out, first, k,
                                      first + k < steps):
                raise ValueError(NONFINITE)

    def forward_all(self, params, x):
        """every node's output for x, not training: a list with one (n, *output_shape)
        array per node, in the user's layout (images channels first). The forward pass runs
        through the training workspace, which keeps every node's output (predict's keeps
        only the ones still to be read), in chunks of rows as loss does."""
        n = x.shape[0]
        layers = self.spec.layers
        outs = [np.empty((n,) + tuple(layer.output_shape), dtype=params.dtype)
                for layer in layers]
        offsets = [a for a, _ in self.core.node_offsets()]
        rows = self._chunk(n, self.core.workspace_size)
        work = np.empty(self.core.workspace_size(rows), dtype=params.dtype)
        for start in range(0, n, rows):
            m = min(rows, n - start)
            xs, csr = _input(x, start, start + m)
            self.core.forward(work, params, self.state, xs, m, **csr)
            for out, layer, a in zip(outs, layers, offsets):
                shape = tuple(layer.output_shape)
                block = work[m * a:m * a + m * int(np.prod(shape))]
                if len(shape) == 3:  # an image, (H, W, C) per sample in C
                    c, h, w = shape
                    block = block.reshape(m, h, w, c).transpose(0, 3, 1, 2)
                out[start:start + m] = block.reshape((m,) + shape)
        return outs

    def loss(self, params, x, y, l1=0.0, l2=0.0, sw=None, out=None):
        """in chunks of rows, so a large validation set needs no large workspace: every
        loss is a mean over rows, so chunk means weighted by chunk rows give it exactly.
        With out (N, W[L]), the forward pass's outputs are kept there too."""
        n, k = x.shape[0], self.spec.out_size
        rows = self._chunk(n, self.core.workspace_size)
        work = np.empty(self.core.workspace_size(rows), dtype=params.dtype)
        total = 0.0
        for start in range(0, n, rows):
            part = slice(start, start + rows)
            m = len(y[part])
            xs, csr = _input(x, start, start + rows)
            total += m * self.core.evaluate(work, params, self.state, xs, y[part], 0.0, 0.0,
                                            None, None if sw is None else sw[part], **csr)
            if out is not None:
                first = self.core.output_offset(m)
                out[part] = work[first:first + m * k].reshape(m, k)
        return total / n + (self.core.penalty(params, l1, l2) if l1 or l2 else 0.0)

    def workspace(self, n, dtype):
        """a workspace for loss_and_grad on n rows, for callers that evaluate many times
        (L-BFGS): allocated once, its pages are not faulted in again at every call"""
        return np.empty(self.core.workspace_size(n), dtype=dtype)

    def loss_and_grad(self, params, x, y, dparams, l1=0.0, l2=0.0, sw=None, work=None,
                      drop=None):
        """drop = (seed, epoch, batch): as a training step there sees it (dropout masks,
        batch statistics), without updating the state"""
        if work is None:
            work = self.workspace(x.shape[0], params.dtype)
        xs, csr = _input(x)
        return self.core.evaluate(work, params, self.state, xs, y, l1, l2, dparams, sw,
                                  drop=drop, **csr)

    def train(self, cfg, optimizer, params, x, y, epochs, lr, sw=None, reduce=None):
        """(losses, completed, status) of bn_net_train (net.h): status "ok", or
        "interrupted" / "diverged" with the state rolled back to the last completed epoch.
        reduce: data-parallel training (barenet.distributed), an object with parts, first,
        last and bind(dparams) -> fn(part, loss, rows, batch_rows) (net.h, bn_reduce)"""
        losses = np.empty(epochs)
        if epochs == 0:
            return losses, 0, "ok"
        n = x.shape[0]
        b = min(cfg.batch_size, n)
        shuffled = cfg.shuffle and b < n
        dparams, backup, work = self._train_buffers(b, params)
        perm = np.empty(n if shuffled else 1, dtype=np.int64)
        scratch = np.empty(2 * n if shuffled else 1, dtype=np.uint64)
        state = optimizer.state_arrays() or (None, None)
        empty = np.empty(0, dtype=params.dtype)
        state1, state2 = (empty if s is None else s for s in state)
        config = dict(batch_size=b, shuffle=int(shuffled), seed=cfg.seed, epoch=cfg.epoch,
                      l1=cfg.l1, l2=cfg.l2, warmup_steps=cfg.warmup_steps,
                      decay_steps=cfg.decay_steps, min_lr=cfg.min_lr)
        xs, csr = _input(x)
        step, completed, status = self.core.train(
            losses, params, self.state, dparams, state1, state2, backup, work, perm, scratch,
            xs, y, config, dict(optimizer.c_config(lr)), sw, **csr,
            reduce=None if reduce is None else (reduce.bind(dparams), reduce.parts,
                                                reduce.first, reduce.last))
        optimizer.step = step
        return losses, completed, status
