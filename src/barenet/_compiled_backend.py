"""The compiled backend: allocates the workspaces, then hands each whole operation to
the C core through barenet._core. Inputs arrive validated, C-contiguous and in the
parameter dtype (network.py)."""

import numpy as np

from . import _core


class Backend:
    """The C core, behind the interface network.py uses."""

    name = "compiled"

    def __init__(self, spec):
        self.spec = spec
        self.core = _core.MLP(
            np.asarray(spec.sizes, dtype=np.int64),
            np.asarray(spec.w_offsets, dtype=np.int64),
            np.asarray(spec.b_offsets, dtype=np.int64),
            np.asarray(spec.activations, dtype=np.int32),
            spec.loss,
            spec.n_params,
        )

    def _workspace(self, n, dtype):
        return np.empty(self.core.workspace_size(n), dtype=dtype)

    def _output(self, work, n):
        start = self.core.output_offset(n)
        return work[start:start + n * self.spec.sizes[-1]].reshape(n, self.spec.sizes[-1])

    def predict(self, params, x):
        work = self._workspace(x.shape[0], params.dtype)
        self.core.forward(work, params, x)
        return self._output(work, x.shape[0]).copy()

    def loss(self, params, x, y):
        work = self._workspace(x.shape[0], params.dtype)
        self.core.forward(work, params, x)
        return self.core.loss(work, y)

    def loss_and_grad(self, params, x, y, dparams):
        work = self._workspace(x.shape[0], params.dtype)
        self.core.forward(work, params, x)
        loss = self.core.loss(work, y)
        self.core.backward(dparams, work, params, x, y)
        return loss

    def train_full_batch(self, params, x, y, epochs, lr):
        losses = np.empty(epochs)
        if epochs == 0:
            return losses
        dparams = np.empty_like(params)
        work = self._workspace(x.shape[0], params.dtype)
        self.core.train_full_batch(losses, params, dparams, work, x, y, epochs, lr)
        return losses
