"""NeuralNetwork: the tutorial's multi-layer perceptron as a facade over barenet's backends.
It validates every input (barenet._validation), owns the one flat parameter buffer that
`weights` and `biases` view, and hands whole operations to the chosen backend (the C core
or the NumPy reference), which never see unvalidated data."""

from dataclasses import dataclass

import numpy as np

from . import _activations, _backend
from ._validation import (check_bool, check_dtype, check_int, check_layer_sizes,
                          check_positive_float, check_X, check_y_binary)

LOSS_BCE = 0
HIDDEN_ACTIVATIONS = ("relu", "sigmoid", "tanh", "identity")
OUTPUT_ACTIVATIONS = ("sigmoid",)


@dataclass(frozen=True)
class Spec:
    """Everything a backend needs to know about the network's shape: layer widths,
    activation ids, where each layer's weights and bias start in the flat buffer."""
    sizes: tuple
    activations: tuple
    w_offsets: tuple
    b_offsets: tuple
    loss: int
    n_params: int

    @classmethod
    def build(cls, sizes, hidden, output, loss):
        w_offsets, b_offsets, at = [], [], 0
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            w_offsets.append(at)
            at += n_in * n_out
            b_offsets.append(at)
            at += n_out
        acts = [_activations.IDS[hidden]] * (len(sizes) - 2) + [_activations.IDS[output]]
        return cls(tuple(sizes), tuple(acts), tuple(w_offsets), tuple(b_offsets), loss, at)


class _ParamList(list):
    """The list of weight (or bias) views. Assigning an element copies into the flat buffer
    after checking the shape, so `net.weights[0] = W` works and stays shared."""

    def __init__(self, views, name):
        super().__init__(views)
        self._name = name

    def __setitem__(self, index, value):
        view = list.__getitem__(self, index)
        arr = np.asarray(value)
        if arr.shape != view.shape:
            raise ValueError(f"{self._name}[{index}] must have shape {view.shape}; "
                             f"got {arr.shape}")
        if arr.dtype.kind not in "biuf" or not np.isfinite(arr).all():
            raise ValueError(f"{self._name}[{index}] must hold finite real numbers")
        view[...] = arr


class NeuralNetwork:
    """A dense feed-forward network: ReLU hidden layers and a sigmoid output trained on binary
    cross-entropy, as in the classic NumPy tutorial, on a compiled core.

    Parameters
    ----------
    layer_sizes : sequence of int
        Widths from the input to the output layer, e.g. ``[2, 4, 1]``.
    activation : {"relu", "sigmoid", "tanh", "identity"}, keyword-only
        Activation of the hidden layers.
    output_activation : {"sigmoid"}, keyword-only
        Activation of the output layer (more come with more losses).
    dtype : {"float64", "float32"}, keyword-only
        Precision of the parameters and of every computation on them.
    seed : int or None, keyword-only
        None draws the initial weights from NumPy's global state exactly as the tutorial
        does (``np.random.randn(n_in, n_out) * np.sqrt(2 / n_in)``); an int draws them from
        ``np.random.default_rng(seed)`` and leaves the global state alone.
    backend : {"auto", "compiled", "numpy"} or None, keyword-only
        Which implementation runs; None reads ``BARENET_BACKEND`` (default "auto").

    The loss is binary cross-entropy computed from the output logits z in the stable form
    ``max(z, 0) - y z + log(1 + exp(-|z|))``. It equals the tutorial's
    ``-mean(y log(p + 1e-8) + (1 - y) log(1 - p + 1e-8))`` to within about 1e-8 wherever
    the latter is finite, stays finite where the tutorial's saturates, and its gradient with
    respect to z is exactly ``sigmoid(z) - y`` (divided by the number of entries).
    """

    def __init__(self, layer_sizes, *, activation="relu", output_activation="sigmoid",
                 dtype="float64", seed=None, backend=None):
        self.layer_sizes = check_layer_sizes(layer_sizes)
        if activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"activation must be one of {HIDDEN_ACTIVATIONS}; "
                             f"got {activation!r}")
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"output_activation must be one of {OUTPUT_ACTIVATIONS}; "
                             f"got {output_activation!r}")
        self.activation = activation
        self.output_activation = output_activation
        self.dtype = check_dtype(dtype)
        if seed is not None:
            seed = check_int(seed, "seed", minimum=0)
        self.seed = seed
        self._spec = Spec.build(self.layer_sizes, activation, output_activation, LOSS_BCE)
        self._backend = _backend.backend_class(backend)(self._spec)
        self._params = np.zeros(self._spec.n_params, dtype=self.dtype)
        self._make_views()
        self._initialise(seed)

    # -- parameters ------------------------------------------------------------------------
    def _make_views(self):
        spec, p = self._spec, self._params
        ws, bs = [], []
        for w, b, n_in, n_out in zip(spec.w_offsets, spec.b_offsets, spec.sizes[:-1],
                                     spec.sizes[1:]):
            ws.append(p[w:w + n_in * n_out].reshape(n_in, n_out))
            bs.append(p[b:b + n_out].reshape(1, n_out))
        self._weights = _ParamList(ws, "weights")
        self._biases = _ParamList(bs, "biases")

    def _initialise(self, seed):
        """He-normal weights, zero biases"""
        rng = None if seed is None else np.random.default_rng(seed)
        for w in self._weights:
            n_in, n_out = w.shape
            draw = (np.random.randn(n_in, n_out) if rng is None
                    else rng.standard_normal((n_in, n_out)))
            w[...] = draw * np.sqrt(2.0 / n_in)
        for b in self._biases:
            b[...] = 0

    @property
    def weights(self):
        """per layer, a (n_in, n_out) view into the flat parameter buffer"""
        return self._weights

    @property
    def biases(self):
        """per layer, a (1, n_out) view into the flat parameter buffer"""
        return self._biases

    @property
    def backend(self):
        """'compiled' or 'numpy': the implementation this network runs on"""
        return self._backend.name

    @property
    def n_params(self):
        return self._spec.n_params

    def get_params(self):
        """a copy of all parameters as one flat vector (layer by layer: W then b)"""
        return self._params.copy()

    def set_params(self, params):
        """overwrite all parameters from a flat vector laid out as get_params() returns"""
        arr = np.asarray(params)
        if arr.shape != self._params.shape:
            raise ValueError(f"params must have shape {self._params.shape}; got {arr.shape}")
        if arr.dtype.kind not in "biuf" or not np.isfinite(arr).all():
            raise ValueError("params must hold finite real numbers")
        self._params[...] = arr

    # -- computation -----------------------------------------------------------------------
    def _X(self, X, name="X"):
        return check_X(X, self.dtype, n_features=self.layer_sizes[0], name=name)

    def _Xy(self, X, y):
        X = self._X(X)
        return X, check_y_binary(y, X.shape[0], self.layer_sizes[-1], self.dtype)

    def forward(self, X):
        """the output layer's activations for X, shape (n, n_outputs)"""
        return self._backend.predict(self._params, self._X(X))

    def predict(self, X):
        """output probabilities, shape (n, n_outputs), as the tutorial's predict"""
        return self.forward(X)

    def loss(self, X, y):
        """mean binary cross-entropy of the network on (X, y)"""
        X, y = self._Xy(X, y)
        return self._backend.loss(self._params, X, y)

    def gradient(self, X, y):
        """(loss, flat gradient of the mean loss) at the current parameters"""
        X, y = self._Xy(X, y)
        dparams = np.empty_like(self._params)
        loss = self._backend.loss_and_grad(self._params, X, y, dparams)
        return loss, dparams

    def backward(self, X, y, learning_rate=0.01):
        """one full-batch gradient-descent step on (X, y); returns the loss before it.
        All gradients come from the current weights, then every layer is updated."""
        lr = check_positive_float(learning_rate, "learning_rate")
        loss, dparams = self.gradient(X, y)
        self._params -= self.dtype.type(lr) * dparams
        return loss

    def train(self, X, y, epochs=1000, learning_rate=0.01, verbose=True):
        """full-batch gradient descent; returns the per-epoch losses (each measured before
        that epoch's update) and, when verbose, prints `Epoch e, Loss: x` every 100 epochs"""
        X, y = self._Xy(X, y)
        epochs = check_int(epochs, "epochs", minimum=0)
        lr = check_positive_float(learning_rate, "learning_rate")
        verbose = check_bool(verbose, "verbose")
        if not verbose:
            return self._backend.train_full_batch(self._params, X, y, epochs, lr).tolist()
        losses = []
        for start in range(0, epochs, 100):  # C runs 100 epochs per call between prints
            chunk = self._backend.train_full_batch(self._params, X, y,
                                                   min(100, epochs - start), lr)
            print(f"Epoch {start}, Loss: {chunk[0]:.4f}")
            losses.extend(chunk.tolist())
        return losses

    def __repr__(self):
        return (f"NeuralNetwork({list(self.layer_sizes)}, activation={self.activation!r}, "
                f"output_activation={self.output_activation!r}, dtype={self.dtype.name!r}, "
                f"backend={self.backend!r})")
