"""Sequential (a list of layers) and NeuralNetwork (the tutorial's multi-layer perceptron,
a Sequential of Dense layers): the facade over barenet's backends. It validates every
input (barenet._validation), owns the one flat parameter buffer that `weights` and
`biases` view, keeps the optimizer state and the epoch count between `train` calls, and
hands whole operations (an epoch, many epochs, a prediction) to the chosen
backend, the C core or the NumPy reference, which never see unvalidated data."""

import copy
import functools
import threading
import warnings
from dataclasses import dataclass, replace

import numpy as np

from . import _backend, _sparse
from . import optimizers as _optimizers
from ._validation import (check_bool, check_choice, check_dtype, check_int, check_layer_sizes,
                          check_nonnegative_float, check_positive_float, check_rate,
                          check_sample_weight, check_X_shaped, check_y_binary, check_y_categorical,
                          check_y_regression, MAX_PARAMS, MAX_SEED)
from .layers import C_FIELDS, DROPOUT, Dense, Dropout, Layer
from .schedules import get_schedule
from .training import History, Progress, get_early_stopping

LOSSES = {"binary_crossentropy": 0, "categorical_crossentropy": 1, "mse": 2, "poisson": 3}
LOSS_ALIASES = {"bce": "binary_crossentropy", "cross_entropy": "categorical_crossentropy",
                "crossentropy": "categorical_crossentropy"}
HIDDEN_ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "gelu", "identity")
OUTPUT_ACTIVATIONS = ("sigmoid", "softmax", "identity", "tanh", "relu", "leaky_relu", "gelu",
                      "exp")


class TrainingDiverged(ArithmeticError):
    """The training loss became NaN or infinite. The network keeps the parameters (and
    optimizer state) of the last epoch whose loss was finite; `epoch` is the failing
    epoch's index within the train call and `history` the losses up to it."""

    def __init__(self, message, epoch=None, history=None):
        super().__init__(message)
        self.epoch = epoch
        self.history = history


@dataclass(frozen=True)
class Spec:
    """What a backend needs to know about the network: its built layers, where each one's
    parameters start in the flat buffer, each layer's dropout stream, the input shape and
    the loss id."""
    layers: tuple
    offsets: tuple
    streams: tuple
    input_shape: tuple
    loss: int
    n_params: int

    @classmethod
    def from_layers(cls, layers, input_shape, loss):
        offsets, streams, at, dropouts = [], [], 0, 0
        for layer in layers:
            offsets.append(at)
            streams.append(dropouts)
            dropouts += layer.kind == DROPOUT
            at += layer.n_params
        return cls(tuple(layers), tuple(offsets), tuple(streams), tuple(input_shape), loss, at)

    @property
    def in_size(self):
        return int(np.prod(self.input_shape))

    @property
    def out_size(self):
        return self.layers[-1].output_shape[0]

    def c_layers(self):
        """(int64 (L, len(C_FIELDS)) rows of bn_layer fields, float64 (L,) dropout rates)"""
        rows = [layer.c_fields(at, stream)
                for layer, at, stream in zip(self.layers, self.offsets, self.streams)]
        fields = np.array([[row[f] for f in C_FIELDS] for row in rows], dtype=np.int64)
        return fields, np.array([layer.rate for layer in self.layers], dtype=np.float64)


@dataclass(frozen=True)
class TrainConfig:
    """The settings of a training run that the backends read (bn_train_config in net.h)"""
    batch_size: int
    shuffle: bool
    seed: int
    epoch: int
    l1: float
    l2: float


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


def _exclusive(method):
    """One thread at a time per network: a second thread that calls in while another is
    inside (training, say) gets a RuntimeError instead of corrupting the parameters. The
    same thread may re-enter (backward calls gradient)."""

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        if not self._busy.acquire(blocking=False):
            raise RuntimeError(f"this {type(self).__name__} is in use by another thread "
                               f"({type(self).__name__}.{method.__name__} was called while another "
                               "call on it is running); give each thread its own network "
                               "or serialise the calls")
        try:
            return method(self, *args, **kwargs)
        finally:
            self._busy.release()

    return guarded


def _check_input_shape(shape):
    """(n,) or (C, H, W) of positive ints -> tuple"""
    items = (shape,) if isinstance(shape, (int, np.integer)) else shape
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise TypeError(f"input_shape must be (n,) or (C, H, W); got {shape!r}")
    items = tuple(items)
    if len(items) not in (1, 3) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
            for v in items):
        raise ValueError(f"input_shape must be (n,) or (C, H, W) of ints >= 1; got {shape!r}")
    return tuple(int(v) for v in items)


def build_layers(layers, input_shape):
    """copies of the layers, checked and built in order for input_shape: TypeError for
    something that is not a layer, ValueError naming the layer for a shape it cannot take
    or a size beyond barenet.layers.MAX_SAMPLE_VALUES (Layer.build)"""
    if isinstance(layers, Layer) or not hasattr(layers, "__iter__"):
        raise TypeError("layers must be a list of barenet.layers objects, e.g. "
                        "[Flatten(), Dense(10, activation='softmax')]")
    layers = [copy.deepcopy(layer) for layer in layers]
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"layers[{i}] must be a barenet.layers object (Dense, Conv2D, "
                            f"...); got {layer!r}")
    if not layers or not isinstance(layers[-1], Dense):
        raise ValueError("the last layer must be Dense (the output layer); got "
                         f"{layers[-1] if layers else 'no layers'!r}")
    shape = input_shape
    for i, layer in enumerate(layers):
        if i < len(layers) - 1 and getattr(layer, "activation", None) == "softmax":
            raise ValueError(f"{layer!r} (layer {i}): softmax is only supported on the "
                             "output layer")
        shape = layer.build(shape, i)
    return layers


def _infer_loss(output_activation, loss):
    if loss is None:
        return {"sigmoid": "binary_crossentropy", "softmax": "categorical_crossentropy",
                "exp": "poisson"}.get(output_activation, "mse")
    if not isinstance(loss, str) or LOSS_ALIASES.get(loss, loss) not in LOSSES:
        names = ", ".join(map(repr, list(LOSSES) + list(LOSS_ALIASES)))
        raise ValueError(f"loss must be one of {names} or None; got {loss!r}")
    loss = LOSS_ALIASES.get(loss, loss)
    required = {"binary_crossentropy": "sigmoid", "categorical_crossentropy": "softmax",
                "poisson": "exp"}
    if loss in required and output_activation != required[loss]:
        raise ValueError(f"loss {loss!r} needs output_activation={required[loss]!r} (it is "
                         f"computed from the logits); got {output_activation!r}")
    if loss == "mse" and output_activation == "softmax":
        raise ValueError("loss 'mse' with a softmax output is not supported; use "
                         "'categorical_crossentropy'")
    return loss


class Sequential:
    """A feed-forward network given as a list of layers (barenet.layers: Dense, Conv2D,
    MaxPool2D, AvgPool2D, Flatten, Dropout), on the compiled core or the NumPy reference.
    Training, prediction, history, save/load and both backends are NeuralNetwork's, which
    is a Sequential of Dense layers.

    Parameters
    ----------
    layers : list of barenet.layers objects
        Built in order for `input_shape`; the last must be Dense (its activation is the
        output's: sigmoid, softmax, identity, ...). The layers are copied, so one list can
        build several models.
    input_shape : tuple
        One sample's shape: (C, H, W) for images (channels first), (n,) for vectors. X may
        come as (N, *input_shape) or flattened as (N, prod(input_shape)).
    loss, l1, l2, dtype, seed, backend
        As for NeuralNetwork (loss None infers it from the output activation; l1/l2 act on
        the weights of Dense and Conv2D layers).
    """

    def __init__(self, layers, *, input_shape, loss=None, l1=0.0, l2=0.0, dtype="float64",
                 seed=None, backend=None):
        input_shape = _check_input_shape(input_shape)
        layers = build_layers(layers, input_shape)
        self.input_shape = input_shape
        self._setup(layers, loss, l1, l2, dtype, seed, backend)

    def _setup(self, layers, loss, l1, l2, dtype, seed, backend):
        """the state every model shares, once its layers are built"""
        out = layers[-1]
        if out.activation == "softmax" and out.n_out < 2:
            raise ValueError("a softmax output needs at least 2 outputs; for one output use "
                             "a sigmoid")
        self.layers = layers
        self.output_activation = out.activation
        self.loss_name = _infer_loss(out.activation, loss)
        self.l1 = check_nonnegative_float(l1, "l1")
        self.l2 = check_nonnegative_float(l2, "l2")
        self.dtype = check_dtype(dtype)
        self.seed = None if seed is None else check_int(seed, "seed", minimum=0,
                                                         maximum=MAX_SEED)
        self._spec = Spec.from_layers(layers, self.input_shape, LOSSES[self.loss_name])
        if self._spec.n_params > MAX_PARAMS:
            raise ValueError(f"this network needs {self._spec.n_params} parameters; barenet "
                             f"handles at most {MAX_PARAMS} (2**62)")
        self._backend = _backend.backend_class(backend)(self._spec)
        self._params = np.zeros(self._spec.n_params, dtype=self.dtype)
        self._make_views()
        rng = None if self.seed is None else np.random.default_rng(self.seed)
        for layer, views in zip(self._param_layers, zip(self._weights, self._biases)):
            layer.initialise(views, rng)
        self._stream_seed = None if self.seed is None else self.seed
        self._epochs_done = 0
        self._optimizer = None
        self._optimizer_name = None
        self._busy = threading.RLock()

    @property
    def dropout(self):
        """the largest dropout rate of the model's Dropout layers (0: none)"""
        return max([layer.rate for layer in self.layers if layer.kind == DROPOUT], default=0.0)

    # -- parameters ------------------------------------------------------------------------
    def _make_views(self):
        self._param_layers = [layer for layer in self.layers if layer.n_params]
        ws, bs = [], []
        for layer, at in zip(self.layers, self._spec.offsets):
            if layer.n_params:
                w, b = layer.views(self._params, at)
                ws.append(w)
                bs.append(b)
        assert self._spec.n_params == self._params.size
        self._weights = _ParamList(ws, "weights")
        self._biases = _ParamList(bs, "biases")

    @property
    def weights(self):
        """per layer with parameters, its weights as a view into the flat parameter buffer:
        (n_in, n_out) for Dense, (KH, KW, C, F) for Conv2D"""
        return self._weights

    @property
    def biases(self):
        """per layer with parameters, its bias as a view into the flat parameter buffer:
        (1, n_out) for Dense, (F,) for Conv2D (None for a layer without bias)"""
        return self._biases

    @property
    def backend(self):
        """'compiled' or 'numpy': the implementation this network runs on"""
        return self._backend.name

    @property
    def n_params(self):
        return self._spec.n_params

    @property
    def optimizer(self):
        """the optimizer of the last `train` call (its state carries over), or None"""
        return self._optimizer

    def get_params(self):
        """a copy of all parameters as one flat vector (layer by layer: W then b)"""
        return self._params.copy()

    @_exclusive
    def set_params(self, params):
        """overwrite all parameters from a flat vector laid out as get_params() returns"""
        arr = np.asarray(params)
        if arr.shape != self._params.shape:
            raise ValueError(f"params must have shape {self._params.shape}; got {arr.shape}")
        if arr.dtype.kind not in "biuf" or not np.isfinite(arr).all():
            raise ValueError("params must hold finite real numbers")
        self._params[...] = arr

    # -- inputs ----------------------------------------------------------------------------
    def _X(self, X, name="X"):
        """validated input rows: a C-contiguous (n, prod(input_shape)) array, or for a
        scipy.sparse matrix (CSR, or CSC converted once) a checked CSR (barenet._sparse)"""
        if _sparse.is_sparse(X):
            if not isinstance(self.layers[0], Dense):
                raise TypeError(f"{name} is a scipy.sparse matrix, which only a first Dense "
                                f"layer takes; this model starts with {self.layers[0]!r}: "
                                f"pass a dense array ({name}.toarray())")
            return _sparse.check_sparse_X(X, self.dtype, n_features=self._spec.in_size,
                                          name=name)
        return check_X_shaped(X, self.dtype, self.input_shape, self.layers[0], name=name)

    def _y(self, y, n_rows, name="y"):
        n_out = self._spec.out_size
        if self.loss_name == "binary_crossentropy":
            return check_y_binary(y, n_rows, n_out, self.dtype, name=name)
        if self.loss_name == "categorical_crossentropy":
            return check_y_categorical(y, n_rows, n_out, self.dtype, name=name)
        y = check_y_regression(y, n_rows, n_out, self.dtype, name=name)
        if self.loss_name == "poisson" and y.size and y.min() < 0:
            raise ValueError(f"{name} must hold counts or rates >= 0 for the poisson loss; got "
                             f"values down to {y.min()}")
        return y

    def _Xy(self, X, y, names=("X", "y")):
        X = self._X(X, names[0])
        return X, self._y(y, X.shape[0], names[1])

    # -- computation -----------------------------------------------------------------------
    @_exclusive
    def forward(self, X):
        """the output layer's activations for X, shape (n, n_outputs), without dropout"""
        return self._backend.predict(self._params, self._X(X))

    def predict(self, X):
        """output activations (probabilities for sigmoid/softmax), shape (n, n_outputs)"""
        return self.forward(X)

    @_exclusive
    def predict_classes(self, X):
        """class labels, shape (n,): argmax of a softmax (or several sigmoid) outputs, or
        probability > 0.5 for a single sigmoid output"""
        if self.output_activation not in ("sigmoid", "softmax"):
            raise ValueError("predict_classes needs a sigmoid or softmax output; this network's "
                             f"output is {self.output_activation!r} (use predict)")
        return self._classes(self.predict(X))

    def _classes(self, proba):
        if proba.shape[1] == 1:
            return (proba[:, 0] > 0.5).astype(np.int64)
        return proba.argmax(axis=1).astype(np.int64)

    @_exclusive
    def loss(self, X, y, sample_weight=None):
        """the training objective on (X, y): mean data loss + the l1/l2 penalty; with
        sample_weight the data loss is (1/N) sum_i w_i l_i"""
        X, y = self._Xy(X, y)
        sw = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        return self._backend.loss(self._params, X, y, self.l1, self.l2, sw)

    @_exclusive
    def gradient(self, X, y, sample_weight=None):
        """(loss, flat gradient of the loss) at the current parameters, without dropout"""
        X, y = self._Xy(X, y)
        sw = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        dparams = np.empty_like(self._params)
        loss = self._backend.loss_and_grad(self._params, X, y, dparams, self.l1, self.l2, sw)
        return loss, dparams

    @_exclusive
    def loss_and_grad(self, params, X, y, sample_weight=None):
        """(loss, flat gradient) of the training objective (mean data loss + l1/l2 penalty,
        without dropout) at `params`, a flat vector in get_params()'s layout, leaving the
        network's own parameters unchanged: the objective for scipy.optimize.minimize(...,
        jac=True). params may be any real dtype; it is evaluated in the network's dtype and
        the gradient comes back in it."""
        arr = np.asarray(params)
        if arr.shape != self._params.shape:
            raise ValueError(f"params must be a flat vector of shape {self._params.shape} "
                             f"(this network's n_params); got shape {arr.shape}")
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"params must hold real numbers; got dtype {arr.dtype}")
        with np.errstate(over="ignore"):
            p = np.ascontiguousarray(arr, dtype=self.dtype)
        if not np.isfinite(p).all():
            raise ValueError(f"params must hold finite numbers (in {self.dtype.name}); got NaN "
                             "or infinity")
        X, y = self._Xy(X, y)
        sw = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        dparams = np.empty_like(self._params)
        loss = self._backend.loss_and_grad(p, X, y, dparams, self.l1, self.l2, sw)
        return loss, dparams

    @_exclusive
    def backward(self, X, y, learning_rate=0.01, sample_weight=None):
        """one full-batch gradient-descent step on (X, y); returns the loss before it.
        All gradients come from the current weights, then every layer is updated."""
        lr = check_positive_float(learning_rate, "learning_rate")
        loss, dparams = self.gradient(X, y, sample_weight)
        self._params -= self.dtype.type(lr) * dparams
        return loss

    # -- training --------------------------------------------------------------------------
    def _resolve_optimizer(self, optimizer):
        """the optimizer for this train call: the previous one again when given the same
        name (its state continues), else a new one (or the given object), with state
        buffers sized for this network"""
        if isinstance(optimizer, str) and self._optimizer is not None \
                and self._optimizer_name == optimizer:
            opt = self._optimizer
        else:
            opt = _optimizers.get_optimizer(optimizer)
        opt.ensure_state(self._spec.n_params, self.dtype)
        self._optimizer_name = optimizer if isinstance(optimizer, str) else None
        return opt

    def _accuracy(self, proba, y):
        """accuracy of predicted classes against validated targets y"""
        truth = (y[:, 0] > 0.5).astype(np.int64) if y.shape[1] == 1 else y.argmax(axis=1)
        return float(np.mean(self._classes(proba) == truth))

    @_exclusive
    def train(self, X, y, epochs=1000, learning_rate=0.01, verbose=True, *, batch_size=None,
              optimizer="sgd", shuffle=True, validation_data=None, early_stopping=None,
              lr_schedule=None, sample_weight=None, on_divergence="raise"):
        """Train on (X, y) and return a History: the list of per-epoch training losses (each
        the mean over the epoch's batches of the loss before that batch's update, so with
        batch_size=None exactly the tutorial's per-epoch loss), carrying validation metrics.

        batch_size None means full batch (the tutorial); otherwise rows are reshuffled each
        epoch (shuffle=True) and split into batches, the last one smaller. `optimizer` is a
        name ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw") or an object from
        barenet.optimizers; its state carries over to the next train call. "lbfgs" (or
        barenet.optimizers.LBFGS(max_fun, tol)) trains full batch with scipy's L-BFGS-B for
        at most `epochs` iterations; the History then holds the loss after each iteration
        and n_iter, n_fun, converged and message attributes. With verbose, a
        line `Epoch e, Loss: x` is printed every 100 epochs in full-batch training and every
        epoch in mini-batch training, with validation metrics when there are any.
        sample_weight (n,) weighs the rows' losses: each batch minimises (1/B) sum_i w_i l_i.

        If an epoch's loss is NaN or infinite, training stops with the parameters of the
        last finite epoch and raises TrainingDiverged (on_divergence="raise") or warns and
        returns the history so far ("warn"). Ctrl-C stops training between batches at the
        last completed epoch (or the best one, under early stopping with restore) and
        raises KeyboardInterrupt, whose `history` attribute holds the history so far.
        """
        X, y = self._Xy(X, y)
        sw = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        return self._train(X, y, sw, epochs, learning_rate, verbose, batch_size=batch_size,
                           optimizer=optimizer, shuffle=shuffle, validation_data=validation_data,
                           early_stopping=early_stopping, lr_schedule=lr_schedule,
                           on_divergence=on_divergence)

    @_exclusive
    def _train(self, X, y, sw, epochs, learning_rate, verbose, *, batch_size=None,
               optimizer="sgd", shuffle=True, validation_data=None, early_stopping=None,
               lr_schedule=None, on_divergence="raise"):
        """train() on X, y, sw as _Xy and check_sample_weight return them (validated once:
        barenet.sklearn calls this epoch by epoch)"""
        if isinstance(optimizer, _optimizers.LBFGS) or (isinstance(optimizer, str)
                                                       and optimizer.strip().lower() == "lbfgs"):
            return self._train_lbfgs(X, y, sw, epochs, verbose, optimizer, batch_size,
                                     validation_data, early_stopping, lr_schedule,
                                     on_divergence)
        epochs = check_int(epochs, "epochs", minimum=0)
        lr = check_positive_float(learning_rate, "learning_rate")
        verbose = check_bool(verbose, "verbose")
        shuffle = check_bool(shuffle, "shuffle")
        on_divergence = check_choice(on_divergence, "on_divergence", ("raise", "warn"))
        n = X.shape[0]
        batch = n if batch_size is None else min(check_int(batch_size, "batch_size", minimum=1), n)
        schedule = get_schedule(lr_schedule)
        stopper = get_early_stopping(early_stopping)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("validation_data must be a tuple (X_val, y_val)")
            Xv, yv = self._Xy(*validation_data, names=("validation_data[0]",
                                                         "validation_data[1]"))
        opt = self._resolve_optimizer(optimizer)
        self._optimizer = opt
        if self._stream_seed is None and ((shuffle and batch < n) or self.dropout > 0):
            self._stream_seed = int(np.random.randint(0, 2**63 - 1, dtype=np.int64))
        cfg = TrainConfig(batch_size=batch, shuffle=shuffle, seed=self._stream_seed or 0,
                          epoch=self._epochs_done, l1=self.l1, l2=self.l2)

        history = History()
        print_every = 100 if batch == n else 1
        per_epoch = validation_data is not None or stopper is not None or schedule is not None
        monitor = None
        if stopper is not None:
            monitor = stopper.monitor if stopper.monitor != "auto" else (
                "val_loss" if validation_data is not None else "loss")
            if monitor == "val_loss" and validation_data is None:
                raise ValueError("early stopping on 'val_loss' needs validation_data")
        validation = None if validation_data is None else (Xv, yv)
        progress = Progress(epochs, print_every, bar=batch < n) if verbose else None
        try:
            self._train_loop(X, y, sw, epochs, lr, cfg, opt, schedule, stopper, monitor,
                             validation, per_epoch, print_every, progress, history,
                             on_divergence)
        finally:
            if progress is not None:
                progress.close()
        return history

    def _train_lbfgs(self, X, y, sw, epochs, verbose, optimizer, batch_size, validation_data,
                     early_stopping, lr_schedule, on_divergence):
        """train() with optimizer="lbfgs": full batch, through barenet._lbfgs"""
        from . import _lbfgs
        options = {"batch_size": batch_size, "validation_data": validation_data,
                   "early_stopping": early_stopping, "lr_schedule": lr_schedule}
        given = [name for name, value in options.items() if value is not None]
        if given:
            raise ValueError(f"optimizer='lbfgs' trains full batch without {', '.join(given)}; "
                             "leave them at None (or use a first-order optimizer)")
        if self.dropout > 0:
            raise ValueError("optimizer='lbfgs' needs a deterministic loss: this network has "
                             f"dropout {self.dropout}")
        epochs = check_int(epochs, "epochs", minimum=1)
        on_divergence = check_choice(on_divergence, "on_divergence", ("raise", "warn"))
        opt = optimizer if isinstance(optimizer, _optimizers.LBFGS) else _optimizers.LBFGS()
        try:
            return _lbfgs.train(self, X, y, sw, max_iter=epochs, max_fun=opt.max_fun,
                                tol=opt.tol, verbose=check_bool(verbose, "verbose"))
        except TrainingDiverged as exc:
            if on_divergence == "raise":
                raise
            warnings.warn(str(exc), RuntimeWarning, stacklevel=3)
            return exc.history if exc.history is not None else History()

    def _train_loop(self, X, y, sw, epochs, lr, cfg, opt, schedule, stopper, monitor,
                    validation, per_epoch, print_every, progress, history, on_divergence):
        """the epochs of one train call: C (or NumPy) runs chunks of epochs; between chunks
        come the schedule, validation, progress output and early stopping"""
        classifier = self.output_activation in ("sigmoid", "softmax")
        best, best_params, waited = np.inf, None, 0
        e = 0
        while e < epochs:
            if per_epoch:
                k = 1
            elif progress is not None:
                k = min(print_every - e % print_every, epochs - e)
            else:
                k = epochs - e
            base = opt.learning_rate_for(lr)
            lr_e = base
            if schedule is not None:
                lr_e = schedule(e, base, epochs)
                try:
                    lr_e = check_positive_float(lr_e, "learning rate")
                except (TypeError, ValueError) as exc:
                    raise type(exc)(f"lr_schedule returned an invalid learning rate for epoch "
                                    f"{e}: {exc}") from None
            losses, completed, status = self._backend.train(
                replace(cfg, epoch=self._epochs_done), opt, self._params, X, y, k, lr_e, sw)
            self._epochs_done += completed
            history.extend(losses[:completed].tolist())
            history.metrics["lr"].extend([lr_e] * completed)
            if status == "interrupted":
                if stopper is not None and stopper.restore_best_weights and best_params is not None:
                    self._params[...] = best_params
                if progress is not None:
                    progress.update(history, e, e + completed)
                interrupt = KeyboardInterrupt("barenet: training interrupted after epoch "
                                              f"{e + completed - 1}")
                interrupt.history = history
                raise interrupt
            if status == "diverged":
                bad = e + completed
                if progress is not None:
                    progress.update(history, e, bad)
                what = (f"the training loss became {losses[completed]}"
                        if not np.isfinite(losses[completed])
                        else "the parameters became NaN or infinite")
                message = (f"{what} at epoch {bad}; the network keeps the parameters of "
                           f"epoch {bad - 1}" if bad else
                           f"{what} at epoch 0; the network keeps its parameters from before "
                           "training")
                message += f". Try a lower learning_rate (now {lr_e:g})."
                if on_divergence == "raise":
                    raise TrainingDiverged(message, epoch=bad, history=history)
                warnings.warn(message, RuntimeWarning, stacklevel=3)
                history.stopped_epoch = bad
                break
            if validation:
                Xv, yv = validation
                proba = np.empty(yv.shape, dtype=self.dtype)  # one forward pass for both
                history.record("val_loss", self._backend.loss(self._params, Xv, yv, out=proba))
                if classifier:
                    history.record("val_accuracy", self._accuracy(proba, yv))
            if progress is not None:
                progress.update(history, e, e + k)
            e += k
            if stopper is not None:
                value = history.metrics[monitor][-1]
                if value < best - stopper.min_delta:
                    best, waited, history.best_epoch = value, 0, e - 1
                    if stopper.restore_best_weights:
                        best_params = self._params.copy()
                else:
                    waited += 1
                    if waited >= stopper.patience:
                        history.stopped_epoch = e - 1
                        break
        if stopper is not None and stopper.restore_best_weights and best_params is not None:
            self._params[...] = best_params

    # -- files -----------------------------------------------------------------------------
    @_exclusive
    def save(self, path, *, include_optimizer=True):
        """Write the network to path in barenet's model format (barenet.io): settings,
        parameters and, unless include_optimizer=False, the optimizer state and training
        position, so that training continues after load exactly as without the break.
        The write is atomic: a crash never leaves a damaged file where a good one was."""
        from . import io
        io.save(self, path, include_optimizer=check_bool(include_optimizer,
                                                          "include_optimizer"))

    @classmethod
    def load(cls, path, *, backend=None):
        """Read a network written by save(); it may run on either backend. Anything wrong
        with the file raises barenet.ModelFileError (a ValueError) naming the problem;
        loading never executes code from the file."""
        from . import io
        return io.load(path, backend=backend)

    def __repr__(self):
        layers = ", ".join(map(repr, self.layers))
        return (f"Sequential([{layers}], input_shape={self.input_shape}, "
                f"loss={self.loss_name!r}, dtype={self.dtype.name!r}, backend={self.backend!r})")


class NeuralNetwork(Sequential):
    """A dense feed-forward network on a compiled core, starting from the classic NumPy
    tutorial: ReLU hidden layers and a sigmoid output trained on binary cross-entropy by
    full-batch gradient descent, unless told otherwise.

    Parameters
    ----------
    layer_sizes : sequence of int
        Widths from the input to the output layer, e.g. ``[2, 4, 1]``.
    activation : {"relu", "leaky_relu", "sigmoid", "tanh", "gelu", "identity"}
        Activation of the hidden layers (leaky_relu has slope 0.01; gelu is the exact erf
        form). Keyword-only, like everything after layer_sizes.
    output_activation : {"sigmoid", "softmax", "identity", "exp", "tanh", "relu", ...}
    loss : {"binary_crossentropy", "categorical_crossentropy", "mse", "poisson"} or None
        None infers it: sigmoid -> binary cross-entropy (mean over all outputs), softmax ->
        categorical cross-entropy (mean over rows; y as integer labels or one-hot rows),
        exp -> poisson (half Poisson deviance ``e^z - y z + y log y - y`` of the mean
        ``e^z``, averaged over all outputs; y >= 0), anything else -> mean squared error.
        Both cross-entropies are computed from the
        logits z, stably: binary as ``max(z, 0) - y z + log(1 + exp(-|z|))``, which equals
        the tutorial's ``-mean(y log(p + 1e-8) + (1 - y) log(1 - p + 1e-8))`` to ~1e-8
        wherever that is finite; categorical by log-sum-exp.
    dropout : float in [0, 1)
        Inverted dropout on every hidden layer's output, during training only.
    l1, l2 : float >= 0
        Penalty ``l1 * sum|W| + l2 / 2 * sum W**2`` on the weights (not the biases), added
        to the loss that training minimises and reports.
    dtype : {"float64", "float32"}
        Precision of the parameters and of every computation on them.
    seed : int or None
        None draws the initial weights from NumPy's global state exactly as the tutorial does
        (and, when training first needs one, a seed for shuffling and dropout); an int draws
        from ``np.random.default_rng(seed)`` and makes whole training runs reproducible,
        identical between the two backends up to float rounding.
    backend : {"auto", "compiled", "numpy"} or None
        Which implementation runs; None reads ``BARENET_BACKEND`` (default "auto").
    """

    def __init__(self, layer_sizes, *, activation="relu", output_activation="sigmoid",
                 loss=None, dropout=0.0, l1=0.0, l2=0.0, dtype="float64", seed=None,
                 backend=None):
        sizes = check_layer_sizes(layer_sizes)
        if activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"activation must be one of {HIDDEN_ACTIVATIONS}; "
                             f"got {activation!r}")
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"output_activation must be one of {OUTPUT_ACTIVATIONS}; "
                             f"got {output_activation!r}")
        if output_activation == "softmax" and sizes[-1] < 2:
            raise ValueError("a softmax output needs at least 2 outputs (layer_sizes[-1] >= 2); "
                             "for one output use output_activation='sigmoid'")
        _infer_loss(output_activation, loss)
        dropout = check_rate(dropout, "dropout")
        self.layer_sizes = sizes
        self.activation = activation
        self.input_shape = (sizes[0],)
        layers, shape = [], self.input_shape
        for i, n_out in enumerate(sizes[1:]):
            hidden = i < len(sizes) - 2
            layers.append(Dense(n_out, activation if hidden else output_activation))
            if hidden and dropout > 0:  # stream i: the mask of hidden layer i, as always
                layers.append(Dropout(dropout))
        for i, layer in enumerate(layers):
            shape = layer.build(shape, i)
        self._setup(layers, loss, l1, l2, dtype, seed, backend)

    def __repr__(self):
        return (f"NeuralNetwork({list(self.layer_sizes)}, activation={self.activation!r}, "
                f"output_activation={self.output_activation!r}, loss={self.loss_name!r}, "
                f"dtype={self.dtype.name!r}, backend={self.backend!r})")
