"""Sequential (a list of layers) and NeuralNetwork (the tutorial's multi-layer perceptron,
a Sequential of Dense layers): the facade over barenet's backends. It validates every
input (barenet._validation), owns the one flat parameter buffer that `weights` and
`biases` view, keeps the optimizer state and the epoch count between `train` calls, and
hands whole operations (an epoch, many epochs, a prediction) to the chosen
backend, the C core or the NumPy reference, which never see unvalidated data."""

import contextvars
import copy
import functools
import math
import threading
import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, TypeVar, Union, cast

import numpy as np

from . import _backend, _sparse
from . import optimizers as _optimizers
from ._typing import ArrayLike, DTypeLike, MatrixLike, PathLike, Schedule
from ._validation import (check_bool, check_choice, check_dtype, check_int, check_layer_sizes,
                          check_nonnegative_float, check_param_values, check_positive_float,
                          check_class_ids, check_rate, check_sample_weight, check_X_shaped,
                          check_y_binary,
                          check_y_categorical, check_y_regression, MAX_PARAM_BYTES, MAX_PARAMS, MAX_SEED,
                          MAX_STEP)
from .layers import EMBEDDING, MAX_TOKEN_IDS, Dense, Dropout, Layer
from .schedules import get_schedule
from .training import (EarlyStopping, History, Progress, catch_interrupts, get_early_stopping,
                       interrupted)

if TYPE_CHECKING:
    from .graph import Node
    from .text import Vocabulary

SPARSE_CE = "sparse_categorical_crossentropy"
LOSSES = ("binary_crossentropy", "categorical_crossentropy", "mse", "poisson", SPARSE_CE)
LOSS_ALIASES = {"bce": "binary_crossentropy", "cross_entropy": "categorical_crossentropy",
                "crossentropy": "categorical_crossentropy"}
# False while building a model whose parameters are copied in right after (generate's
# twin): its layers' initialisers (an LSTM's QR, ...) are not run
_INITIALISE = contextvars.ContextVar("barenet_initialise", default=True)
EPOCHS_PER_CALL = 4096  # at most this many epochs per backend call (its losses buffer)
HIDDEN_ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "gelu", "identity")
OUTPUT_ACTIVATIONS = ("sigmoid", "softmax", "identity", "tanh", "relu", "leaky_relu", "gelu",
                      "exp")


class TrainingDiverged(ArithmeticError):
    """The training loss became NaN or infinite. The network keeps the parameters (and
    optimizer state) of the last epoch whose loss was finite; `epoch` is the failing
    epoch's index within the train call and `history` the losses up to it."""

    def __init__(self, message: str, epoch: Optional[int] = None,
                 history: Optional[History] = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.history = history


@dataclass(frozen=True)
class Spec:
    """What a backend needs to know about the network: its built layers in an order where
    each comes after its inputs, each one's input indices (edges; -1 is the network input),
    where each one's parameters start in the flat buffer, each layer's dropout stream, the
    input shape and the loss's name."""
    layers: tuple
    offsets: tuple
    streams: tuple
    input_shape: tuple
    loss: str
    n_params: int
    edges: tuple
    state_offsets: tuple = ()
    n_state: int = 0
    masks: tuple = ()  # per layer: the layer whose step mask its input carries, or -1

    @classmethod
    def from_layers(cls, layers, input_shape, loss, edges=None):
        """edges None: a chain, each layer reading the one before"""
        offsets, streams, states, at, dropouts, kept = [], [], [], 0, 0, 0
        for layer in layers:
            offsets.append(at)
            streams.append(dropouts)
            states.append(kept)
            dropouts += bool(layer.uses_stream)  # Dropout, attention, recurrent dropout
            at += layer.n_params
            kept += layer.n_state
        if edges is None:
            edges = [(i - 1,) for i in range(len(layers))]
        edges = tuple(tuple(int(p) for p in parents) for parents in edges)
        return cls(tuple(layers), tuple(offsets), tuple(streams), tuple(input_shape), loss, at,
                   edges, tuple(states), kept, _step_masks(layers, edges))

    @property
    def carry_offsets(self):
        """per layer, where its carried state starts in a row of the carry buffer (-1: it
        carries none), and the values per row (csrc/graph.c, plan c)"""
        offsets, at = [], 0
        for layer in self.layers:
            size = getattr(layer, "carry_size", 0)
            offsets.append(at if size else -1)
            at += size
        return offsets, at

    def carry_view(self, carry, n, l):
        """layer l's block (n, carry_size) of a carry buffer for n rows"""
        offsets, _ = self.carry_offsets
        size = self.layers[l].carry_size
        return carry[n * offsets[l]:n * (offsets[l] + size)].reshape(n, size)

    def mask_of(self, acts, l):
        """the step mask (N, T) that layer l's input carries, from a forward pass's outputs
        acts ([x, a_0, ...]), or None"""
        src = self.masks[l]
        if src < 0:
            return None
        return self.layers[src].compute_mask([acts[p + 1] for p in self.edges[src]])

    def state_views(self, state, l):
        """layer l's views of the state buffer (() without state)"""
        return self.layers[l].state_views(state, self.state_offsets[l])

    @property
    def in_size(self):
        return math.prod(self.input_shape)

    @property
    def out_size(self):
        """values per sample of the output"""
        return math.prod(self.layers[-1].output_shape)

    @property
    def y_size(self):
        """values per row of the targets the backends get: class ids per step for the
        sparse cross-entropy, else the output's size"""
        if self.loss == SPARSE_CE:
            shape = self.layers[-1].output_shape
            return shape[0] if len(shape) == 2 else 1
        return self.out_size

    def c_nodes(self):
        """(the nodes as dicts of bn_layer fields by name, the int64 input indices they
        point into: -1 is the network input) for barenet._core.Net"""
        nodes, inputs = [], []
        for layer, at, stream, parents, st in zip(self.layers, self.offsets, self.streams,
                                                  self.edges, self.state_offsets):
            node = layer.c_fields(at, stream)
            node.update(first_input=len(inputs), n_inputs=len(parents),
                        s_offset=st if layer.n_state else -1, mask_from=-1)
            if layer.uses_mask or layer is self.layers[-1]:  # the output's: the loss's
                node["mask_from"] = self.masks[len(nodes)]
            inputs.extend(parents)
            nodes.append(node)
        return nodes, np.array(inputs, dtype=np.int64)

    @property
    def loss_name(self):
        return self.loss

    @property
    def input_hwc(self):
        """the network input of one sample as (h, w, c), channels last"""
        from .layers import _hwc
        return _hwc(self.input_shape)

    def readers_of_input(self):
        """the layers that read the network input"""
        return [layer for layer, parents in zip(self.layers, self.edges) if -1 in parents]


def _step_masks(layers, edges):
    """per layer, the layer whose step mask its (first) input carries, or -1: a mask starts
    at a layer that makes one (Embedding(mask_zero=True)) and goes on through layers whose
    output keeps the input's steps (Layer.passes_mask)"""
    carried, reads = [], []  # the mask each layer's output carries; the one it reads
    for l, (layer, parents) in enumerate(zip(layers, edges)):
        first = parents[0]
        mask_in = carried[first] if first >= 0 else -1
        reads.append(mask_in)
        carried.append(l if layer.makes_mask else (mask_in if layer.passes_mask() else -1))
    return tuple(reads)


@dataclass(frozen=True)
class TrainConfig:
    """The settings of a training run that the backends read (bn_train_config in net.h)"""
    batch_size: int
    shuffle: bool
    seed: int
    epoch: int
    l1: float
    l2: float
    # a learning rate per optimizer step (schedules.WarmupCosine; bn_step_lr), 0: none
    warmup_steps: int = 0
    decay_steps: int = 0
    min_lr: float = 0.0


def _acquire(busy, owner, what):
    """take a network's lock for the call `what`, or raise the RuntimeError of _exclusive"""
    if not busy.acquire(blocking=False):
        raise RuntimeError(f"this {owner} is in use by another thread ({what} was called "
                           "while another call on it is running); give each thread its own "
                           "network or serialise the calls")


class _ParamList(list):
    """The list of weight (or bias) views. Assigning an element copies into the flat buffer
    after checking the shape and the values (check_param_values: finite and within the
    network's dtype), so `net.weights[0] = W` works and stays shared; a slice assignment
    (`net.weights[0:2] = [W0, W1]`) checks every value before it writes any. Like every
    call that changes the network, it takes the network's lock (_exclusive), so it raises
    RuntimeError while another thread trains. (Writing into a view, `net.weights[0][...] =
    W`, is plain NumPy and cannot be guarded.) The list itself has one entry per layer
    with parameters: appending, inserting or deleting entries raises TypeError."""

    def __init__(self, views, name, busy, owner):
        super().__init__(views)
        self._name = name
        self._busy = busy    # the network's lock
        self._owner = owner  # its class name, for the message

    def __setitem__(self, index, value):
        _acquire(self._busy, self._owner, f"{self._name}[{index!r}] = ...")
        try:
            self._assign(index, value)
        finally:
            self._busy.release()

    def _assign(self, index, value):
        if isinstance(index, slice):
            views = list.__getitem__(self, index)
            positions = range(len(self))[index]
            step = f":{positions.step}" if positions.step != 1 else ""
            where = f"{self._name}[{positions.start}:{positions.stop}{step}]"
            try:
                values = list(value)
            except TypeError:
                raise TypeError(f"{where} = ... needs a sequence of {len(views)} arrays; got "
                                f"{type(value).__name__}") from None
            if len(values) != len(views):
                raise ValueError(f"{where} = ... needs {len(views)} arrays (the list keeps "
                                 f"one entry per layer); got {len(values)}")
            checked = [self._check(i, v, a) for i, v, a in zip(positions, views, values)]
        else:
            view = list.__getitem__(self, index)
            checked = [self._check(index, view, value)]
            views = [view]
        for view, arr in zip(views, checked):
            view[...] = arr

    def _derived(self, views, name):
        """another list over views of the same parameters (the estimators' coefs_ and 1-D
        intercepts_), checked and written the same way"""
        return type(self)(views, name, self._busy, self._owner)

    def _check(self, index, view, value):
        if view is None:
            raise ValueError(f"{self._name}[{index}] is None: that layer has no bias")
        return check_param_values(value, view.shape, view.dtype, f"{self._name}[{index}]")

    def _fixed_length(self, *args, **kwargs):
        raise TypeError(f"{self._name} has one entry per layer with parameters: assign its "
                        f"elements ({self._name}[i] = array) instead of changing the list")

    def __reduce_ex__(self, protocol):  # copies and pickles are plain lists of arrays
        return list, (list(self),)

    __delitem__ = __iadd__ = __imul__ = append = extend = insert = pop = remove = clear = \
        sort = reverse = _fixed_length


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _exclusive(method: _Method) -> _Method:
    """One thread at a time per network: a second thread that calls in while another is
    inside (training, say) gets a RuntimeError instead of corrupting the parameters. The
    same thread may re-enter (backward calls gradient)."""

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        _acquire(self._busy, type(self).__name__, f"{type(self).__name__}.{method.__name__}")
        try:
            return method(self, *args, **kwargs)
        finally:
            self._busy.release()

    return cast(_Method, guarded)


def _check_input_shape(shape: Any) -> tuple[int, ...]:
    """(n,), (T, C) or (C, H, W) of positive ints -> tuple"""
    items = (shape,) if isinstance(shape, (int, np.integer)) else shape
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise TypeError(f"input_shape must be (n,), (T, C) or (C, H, W); got {shape!r}")
    items = tuple(items)
    if len(items) not in (1, 2, 3) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
            for v in items):
        raise ValueError("input_shape must be (n,), (T, C) or (C, H, W) of ints >= 1; got "
                         f"{shape!r}")
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
        if layer.min_inputs > 1:
            raise ValueError(f"layers[{i}] is {layer!r}, which joins several nodes: build the "
                             "model with the functional API (barenet.Input, calling layers "
                             "on nodes, barenet.Model)")
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


def _infer_loss(output_activation, loss, sequence=False):
    """the loss's name; a softmax over the steps of a sequence output takes class ids per
    step (sparse_categorical_crossentropy, also for loss="categorical_crossentropy")"""
    if sequence and output_activation == "softmax" and LOSS_ALIASES.get(loss, loss) in (
            None, "categorical_crossentropy"):
        return SPARSE_CE
    if loss is None:
        return {"sigmoid": "binary_crossentropy", "softmax": "categorical_crossentropy",
                "exp": "poisson"}.get(output_activation, "mse")
    if not isinstance(loss, str) or LOSS_ALIASES.get(loss, loss) not in LOSSES:
        names = ", ".join(map(repr, list(LOSSES) + list(LOSS_ALIASES)))
        raise ValueError(f"loss must be one of {names} or None; got {loss!r}")
    loss = LOSS_ALIASES.get(loss, loss)
    required = {"binary_crossentropy": "sigmoid", "categorical_crossentropy": "softmax",
                "poisson": "exp", SPARSE_CE: "softmax"}
    if loss in required and output_activation != required[loss]:
        raise ValueError(f"loss {loss!r} needs output_activation={required[loss]!r} (it is "
                         f"computed from the logits); got {output_activation!r}")
    if loss == "mse" and output_activation == "softmax":
        raise ValueError("loss 'mse' with a softmax output is not supported; use "
                         "'categorical_crossentropy'")
    return loss


def _check_tokens_and_masks(spec, dtype):
    """Embedding reads the model's input, its ids fit the dtype; a step mask reaches the
    loss only for the sequence cross-entropy"""
    for layer, parents in zip(spec.layers, spec.edges):
        if layer.kind == EMBEDDING:
            if parents != (-1,):
                raise ValueError(f"{layer._where()} must read the model's input (token ids); "
                                 "it reads another layer's output")
            if layer.input_dim > MAX_TOKEN_IDS[dtype]:
                raise ValueError(f"{layer._where()} has input_dim={layer.input_dim}, more "
                                 f"token ids than {dtype.name} holds exactly "
                                 f"({MAX_TOKEN_IDS[dtype]}); use dtype='float64'")
    if spec.masks[-1] >= 0 and spec.loss != SPARSE_CE:
        raise ValueError(f"the output {spec.layers[-1]!r} carries a step mask (from "
                         f"{spec.layers[spec.masks[-1]]!r}), which only the sequence "
                         "cross-entropy (a softmax output per step) leaves out of the loss; "
                         f"loss {spec.loss!r} would count the padded steps")


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
        come as ``(N, *input_shape)`` or flattened as (N, prod(input_shape)).
    loss, l1, l2, dtype, seed, backend
        As for NeuralNetwork (loss None infers it from the output activation; l1/l2 act on
        the weights of Dense and Conv2D layers).
    """

    def __init__(self, layers: Sequence[Layer], *, input_shape: Union[int, Sequence[int]],
                 loss: Optional[str] = None, l1: float = 0.0, l2: float = 0.0,
                 dtype: DTypeLike = "float64", seed: Optional[int] = None,
                 backend: Optional[str] = None) -> None:
        input_shape = _check_input_shape(input_shape)
        layers = build_layers(layers, input_shape)
        self.input_shape = input_shape
        self._setup(layers, loss, l1, l2, dtype, seed, backend)

    def _setup(self, layers, loss, l1, l2, dtype, seed, backend, edges=None):
        """the state every model shares, once its layers are built (edges: each layer's
        input indices, None for a chain)"""
        out = layers[-1]
        if len(out.output_shape) not in (1, 2):
            raise ValueError(f"the output layer {out!r} gives shape {out.output_shape} per "
                             "sample; the output must be a vector (n,) or a sequence (T, n): "
                             "put Flatten() before it")
        if out.activation == "softmax" and out.n_out < 2:
            raise ValueError("a softmax output needs at least 2 outputs; for one output use "
                             "a sigmoid")
        self.layers = layers
        self.output_activation = out.activation
        self.loss_name = _infer_loss(out.activation, loss, len(out.output_shape) == 2)
        self.l1 = check_nonnegative_float(l1, "l1")
        self.l2 = check_nonnegative_float(l2, "l2")
        self.dtype = check_dtype(dtype)
        self.seed = None if seed is None else check_int(seed, "seed", minimum=0,
                                                         maximum=MAX_SEED)
        self._spec = Spec.from_layers(layers, self.input_shape, self.loss_name, edges)
        _check_tokens_and_masks(self._spec, self.dtype)
        if self._spec.n_params > MAX_PARAMS:
            raise ValueError(f"this network needs {self._spec.n_params} parameters; barenet "
                             f"handles at most {MAX_PARAMS} (2**62)")
        if self._spec.n_params * self.dtype.itemsize > MAX_PARAM_BYTES:
            raise ValueError(f"this network needs {self._spec.n_params} parameters, "
                             f"{self._spec.n_params * self.dtype.itemsize} bytes in "
                             f"{self.dtype.name}: more than any process can address (barenet "
                             f"refuses parameter buffers over {MAX_PARAM_BYTES} bytes, "
                             "128 TiB)")
        self._params = np.zeros(self._spec.n_params, dtype=self.dtype)
        # what layers keep that training does not optimise (batch normalisation's running
        # statistics); the backends read it, training updates it, save/load carry it
        self._state = np.zeros(self._spec.n_state, dtype=self.dtype)
        for l, layer in enumerate(layers):
            layer.init_state(self._spec.state_views(self._state, l))
        self._backend = _backend.backend_class(backend)(self._spec, self._state)
        self._busy = threading.RLock()
        self._make_views()
        rng = None if self.seed is None else np.random.default_rng(self.seed)
        if _INITIALISE.get():  # a twin whose parameters are copied in skips the draws
            for layer, views in zip(self._param_layers, zip(self._weights, self._biases)):
                layer.initialise(views, rng)
        self._stream_seed = None if self.seed is None else self.seed
        self._epochs_done = 0
        self._optimizer = None
        self._optimizer_name = None

    @property
    def vocabulary(self) -> Optional["Vocabulary"]:
        """the barenet.text.Vocabulary of the model's token ids, or None: saved in the
        model file and restored by load. Assigning anything else raises TypeError."""
        return self.__dict__.get("_vocabulary")

    @vocabulary.setter
    def vocabulary(self, vocabulary: Optional["Vocabulary"]) -> None:
        from .text import Vocabulary
        if vocabulary is not None and not isinstance(vocabulary, Vocabulary):
            raise TypeError("vocabulary must be a barenet.text.Vocabulary or None; got "
                            f"{type(vocabulary).__name__}")
        self.__dict__["_vocabulary"] = vocabulary

    @property
    def dropout(self) -> float:
        """the largest dropout rate of the model's layers that draw dropout masks (Dropout,
        MultiHeadAttention(dropout=...); 0: none)"""
        return max([layer.rate for layer in self.layers if layer.uses_stream], default=0.0)

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
        owner = type(self).__name__
        self._weights = _ParamList(ws, "weights", self._busy, owner)
        self._biases = _ParamList(bs, "biases", self._busy, owner)

    @property
    def weights(self) -> list[np.ndarray]:
        """per layer with parameters, its weights as a view into the flat parameter buffer:
        (n_in, n_out) for Dense, (KH, KW, C, F) for Conv2D. `weights[i] = W` copies W in
        after checking it; like set_params it raises RuntimeError while another thread
        trains the network."""
        return self._weights

    @property
    def biases(self) -> list[Optional[np.ndarray]]:
        """per layer with parameters, its bias as a view into the flat parameter buffer:
        (1, n_out) for Dense, (F,) for Conv2D (None for a layer without bias)"""
        return self._biases

    @property
    def backend(self) -> str:
        """'compiled' or 'numpy': the implementation this network runs on"""
        return self._backend.name

    @property
    def n_params(self) -> int:
        return self._spec.n_params

    @property
    def optimizer(self) -> Optional[_optimizers.Optimizer]:
        """the optimizer of the last `train` call (its state carries over), or None"""
        return self._optimizer

    @property
    def _optimizer(self):
        return self.__dict__.get("_optimizer_object")

    @_optimizer.setter
    def _optimizer(self, opt):
        """every assignment (train, io.load) claims the new optimizer for this network
        (ValueError if another network owns it) and releases the previous one"""
        old = self._optimizer
        if opt is not None:
            opt.claim(self)
        self.__dict__["_optimizer_object"] = opt
        if old is not None and old is not opt:
            old.release(self)

    def get_params(self) -> np.ndarray:
        """a copy of all parameters as one flat vector (layer by layer: W then b)"""
        return self._params.copy()

    @_exclusive
    def set_params(self, params: ArrayLike) -> None:
        """overwrite all parameters from a flat vector laid out as get_params() returns;
        ValueError (nothing written) for a wrong shape, NaN, infinity or a value beyond the
        network's dtype (1e300 in a float32 network)"""
        self._params[...] = check_param_values(params, self._params.shape, self.dtype,
                                               "params")

    # -- inputs ----------------------------------------------------------------------------
    def _X(self, X, name="X"):
        """validated input rows: a C-contiguous (n, prod(input_shape)) array, or for a
        scipy.sparse matrix (CSR, or CSC converted once) a checked CSR (barenet._sparse)"""
        if _sparse.is_sparse(X):
            readers = self._spec.readers_of_input()
            if len(readers) != 1 or not isinstance(readers[0], Dense) \
                    or len(self.input_shape) != 1:
                raise TypeError(f"{name} is a scipy.sparse matrix, which only a first Dense "
                                "layer takes (as the only reader of a vector input); this "
                                f"model's input is read by {', '.join(map(repr, readers))}: "
                                f"pass a dense array ({name}.toarray())")
            return _sparse.check_sparse_X(X, self.dtype, n_features=self._spec.in_size,
                                          name=name)
        X = check_X_shaped(X, self.dtype, self.input_shape, self.layers[0], name=name)
        for layer in self._spec.readers_of_input():
            if layer.kind == EMBEDDING:
                check_class_ids(X, X.shape, layer.input_dim, self.dtype,
                                name=f"{name} (token ids for {layer!r})")
        return X

    def _y(self, y, n_rows, name="y"):
        n_out = self._spec.out_size
        if self.loss_name == SPARSE_CE:
            shape = self.layers[-1].output_shape
            y = check_class_ids(y, (n_rows,) + shape[:-1], shape[-1], self.dtype, name=name)
            return y.reshape(n_rows, -1)
        shape = self.layers[-1].output_shape
        if len(shape) == 2 and np.shape(y) == (n_rows,) + shape:  # per step: one row each
            y = np.asarray(y).reshape(n_rows, -1)
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

    def _X_predict(self, X, check_input):
        """_X for a prediction, its common case first: a C-contiguous array of the network's
        dtype and input shape passes with one vectorised scan for NaN/infinity in C (none
        when check_input is False); anything else (and a bad value, for its message) goes
        through _X, as does the input of an Embedding (token ids, checked there)"""
        plain = self.__dict__.get("_plain_input")
        if plain is None:
            plain = self.__dict__["_plain_input"] = not any(
                layer.kind == EMBEDDING for layer in self._spec.readers_of_input())
        if plain and type(X) is np.ndarray and X.dtype == self.dtype \
                and X.flags.c_contiguous:
            shape, size = self.input_shape, self._spec.in_size
            if X.ndim == 2 and X.shape[1] == size and X.shape[0] > 0 or \
                    X.ndim == 1 + len(shape) and X.shape[1:] == shape and X.shape[0] > 0:
                x = X.reshape(X.shape[0], size)
                if not check_input or self._backend.first_nonfinite(x) < 0:
                    return x
        return self._X(X)

    def _out(self, out, x, shape):
        """out= of predict: a writable C-contiguous array of `shape` and the dtype, apart
        from the input rows x and the parameters"""
        if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != self.dtype \
                or not out.flags.c_contiguous or not out.flags.writeable:
            got = (f"{out.dtype} {out.shape}" + ("" if out.flags.c_contiguous else
                                                 ", not C-contiguous")
                   + ("" if out.flags.writeable else ", read-only")
                   if isinstance(out, np.ndarray) else type(out).__name__)
            raise ValueError(f"out must be a writable C-contiguous {self.dtype} array of "
                             f"shape {shape}; got {got}")
        if np.may_share_memory(out, x) or np.may_share_memory(out, self._params):
            raise ValueError("out must not overlap X or the network's parameters")
        return out

    # -- computation -----------------------------------------------------------------------
    @_exclusive
    def forward(self, X: MatrixLike,
                return_all: bool = False) -> Union[np.ndarray, list[np.ndarray]]:
        """The output layer's activations for X, shape (n, n_outputs) ((n, T, n_outputs)
        for a sequence output), not training (no dropout; batch normalisation uses its
        running statistics). With return_all=True, every layer's output instead, from the
        same single pass: a list with one ``(n, *layer.output_shape)`` array per entry of
        `layers`, in that order (images channels first; the last entry is the output),
        equal on both backends."""
        X = self._X(X)
        if check_bool(return_all, "return_all"):
            return self._backend.forward_all(self._params, X)
        return self._output(self._backend.predict(self._params, X))

    def _output(self, out):
        """the backend's output rows in the output layer's shape, (n, T, k) per step"""
        return out.reshape((out.shape[0],) + self.layers[-1].output_shape)

    @_exclusive
    def predict(self, X: MatrixLike, *, out: Optional[np.ndarray] = None,
                check_input: bool = True) -> np.ndarray:
        """output activations (probabilities for sigmoid/softmax), shape (n, n_outputs)
        ((n, T, n_outputs) for a sequence output): the fast path (the prediction workspace
        keeps only what is still to be read; it records nothing; docs/inference.md).

        out: an array to write them into (C-contiguous, that shape, the network's dtype),
        returned; repeated calls then allocate nothing. check_input=False skips the scan of
        X for NaN and infinity (for callers that checked already; a NaN then only gives NaN
        outputs); shape and dtype are checked and converted either way."""
        x = self._X_predict(X, check_input)
        shape = self.layers[-1].output_shape
        if out is None:
            res = self._backend.predict(self._params, x)
            return res if len(shape) == 1 else res.reshape((res.shape[0],) + shape)
        out = self._out(out, x, (x.shape[0],) + shape)
        self._backend.predict(self._params, x, out.reshape(x.shape[0], -1))
        return out

    @_exclusive
    def generate(self, prompt_ids: ArrayLike, steps: int, temperature: float = 1.0,
                 top_k: Optional[int] = None, seed: Optional[int] = None) -> np.ndarray:
        """Sample `steps` tokens after `prompt_ids` from a language model (token ids in, an
        Embedding first; a softmax over the vocabulary at every step out; recurrent layers
        that carry their state, or causal attention), one token at a time: the state
        (recurrent layers, attention's key/value cache) is carried from token to token,
        never recomputed from the prefix. A causal attention model without max_len uses a
        cache of its input length T while the prefix fits, then predicts the last T tokens
        again for each further token (docs/attention.md).

        Parameters
        ----------
        prompt_ids : (P,) or (B, P) integer token ids
            B prompts of one length.
        steps : int
            How many tokens to draw.
        temperature : float >= 0
            > 0 scales the log-probabilities by 1 / temperature (below 1: more likely
            tokens); 0 takes the most likely token (greedy).
        top_k : int or None
            Draw only among the top_k most likely tokens (None: all).
        seed : int or None
            For the draws (None: fresh randomness).

        Returns
        -------
        ndarray
            The new tokens, (steps,) for a 1-D prompt, else (B, steps); the model is not
            changed. Decode them with a barenet.text vocabulary."""
        from ._generate import generate
        return generate(self, prompt_ids, steps, temperature, top_k, seed)

    @_exclusive
    def predict_classes(self, X: MatrixLike) -> np.ndarray:
        """class labels, shape (n,): argmax of a softmax (or several sigmoid) outputs, or
        probability > 0.5 for a single sigmoid output"""
        if self.output_activation not in ("sigmoid", "softmax"):
            raise ValueError("predict_classes needs a sigmoid or softmax output; this network's "
                             f"output is {self.output_activation!r} (use predict)")
        return self._classes(self.predict(X))

    def _classes(self, proba):
        if proba.ndim == 3:  # a class per step
            return proba.argmax(axis=-1).astype(np.int64)
        if proba.shape[1] == 1:
            return (proba[:, 0] > 0.5).astype(np.int64)
        return proba.argmax(axis=1).astype(np.int64)

    @_exclusive
    def loss(self, X: MatrixLike, y: ArrayLike,
             sample_weight: Optional[ArrayLike] = None) -> float:
        """the training objective on (X, y): mean data loss + the l1/l2 penalty; with
        sample_weight the data loss is (1/N) sum_i w_i l_i"""
        X, y = self._Xy(X, y)
        sw = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        return self._backend.loss(self._params, X, y, self.l1, self.l2, sw)

    @_exclusive
    def gradient(self, X: MatrixLike, y: ArrayLike,
                 sample_weight: Optional[ArrayLike] = None) -> tuple[float, np.ndarray]:
        """(loss, flat gradient of the loss) at the current parameters, without dropout"""
        X, y = self._Xy(X, y)
        sw = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        dparams = np.empty_like(self._params)
        loss = self._backend.loss_and_grad(self._params, X, y, dparams, self.l1, self.l2, sw)
        return loss, dparams

    @_exclusive
    def loss_and_grad(self, params: ArrayLike, X: MatrixLike, y: ArrayLike,
                      sample_weight: Optional[ArrayLike] = None) -> tuple[float, np.ndarray]:
        """(loss, flat gradient) of the training objective (mean data loss + l1/l2 penalty,
        without dropout) at `params`, a flat vector in get_params()'s layout, leaving the
        network's own parameters unchanged: the objective for scipy.optimize.minimize(...,
        jac=True). params may be any real dtype; it is evaluated in the network's dtype and
        the gradient comes back in it."""
        arr = np.asarray(params)
        if arr.shape != self._params.shape:
            raise ValueError(f"params must be a flat vector of shape {self._params.shape} "
                             f"(this network's n_params); got shape {arr.shape}")
        p = check_param_values(arr, self._params.shape, self.dtype, "params")
        X, y = self._Xy(X, y)
        sw = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        dparams = np.empty_like(self._params)
        loss = self._backend.loss_and_grad(p, X, y, dparams, self.l1, self.l2, sw)
        return loss, dparams

    @_exclusive
    def backward(self, X: MatrixLike, y: ArrayLike, learning_rate: float = 0.01,
                 sample_weight: Optional[ArrayLike] = None) -> float:
        """one full-batch gradient-descent step on (X, y); returns the loss before it.
        All gradients come from the current weights, then every layer is updated."""
        lr = check_positive_float(learning_rate, "learning_rate")
        loss, dparams = self.gradient(X, y, sample_weight)
        self._params -= self.dtype.type(lr) * dparams
        return loss

    # -- training --------------------------------------------------------------------------
    def _optimizer_for(self, optimizer):
        """the optimizer a train call would use: the previous one again when given the same
        name (its state continues), else a new one for the name, or the given object;
        checked (its type, its name, no other network owning it), nothing changed yet"""
        if isinstance(optimizer, str) and self._optimizer is not None \
                and self._optimizer_name == optimizer:
            opt = self._optimizer
        else:
            opt = _optimizers.get_optimizer(optimizer)
        opt.check_owner(self)
        return opt

    def _use_optimizer(self, opt, optimizer):
        """make opt (from _optimizer_for) this network's optimizer, with state buffers sized
        for this network; claiming it comes first, so a lost race changes nothing"""
        self._optimizer = opt
        opt.ensure_state(self._spec.n_params, self.dtype)
        self._optimizer_name = optimizer if isinstance(optimizer, str) else None

    def _check_distributed(self, distributed, lbfgs):
        """distributed=: None or a barenet.distributed.MPI this training can use"""
        if distributed is None:
            return None
        from . import distributed as _distributed
        if not isinstance(distributed, _distributed.MPI):
            raise TypeError("distributed must be None or a barenet.distributed.MPI, got "
                            f"{type(distributed).__name__}")
        if lbfgs:
            raise ValueError("distributed training needs a mini-batch optimizer, not 'lbfgs'")
        if self._spec.n_state:
            raise ValueError("distributed training does not support BatchNormalization (each "
                             "rank's batch statistics would differ from one process's)")
        if self._spec.masks and self._spec.masks[-1] >= 0:
            raise ValueError("distributed training does not support a loss over masked steps "
                             "(its mean is over the batch's valid steps, which the ranks' "
                             "shares of a batch do not know)")
        return distributed

    def _check_epochs(self, epochs, minimum):
        """epochs as an int: at most MAX_STEP (2**62) per call, and no more than the epoch
        counter (int64 in C) can still count after the epochs this network has done"""
        epochs = check_int(epochs, "epochs", minimum=minimum)
        room = min(MAX_STEP, 2**63 - 1 - self._epochs_done)
        if epochs > room:
            raise ValueError(f"epochs must be <= {room} (at most 2**62 per call, and the "
                             "epoch counter is an int64; this network has done "
                             f"{self._epochs_done}); got {epochs}")
        return epochs

    @staticmethod
    def _scheduled_lr(schedule, base, epoch, epochs):
        """the schedule's learning rate for `epoch`, checked"""
        lr = schedule(epoch, base, epochs)
        try:
            return check_positive_float(lr, "learning rate")
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"lr_schedule returned an invalid learning rate for epoch "
                            f"{epoch}: {exc}") from None

    def _accuracy(self, proba, y, X=None):
        """accuracy of predicted classes against validated targets y (X: the inputs, for
        the step mask of a sequence output: the valid steps count, each once)"""
        if self.loss_name == SPARSE_CE:
            right = proba.reshape(y.shape + (-1,)).argmax(axis=-1) == y
            src = self._spec.masks[-1]
            if src >= 0 and X is not None:  # the mask comes from an Embedding of the input
                valid = self._spec.layers[src].compute_mask([X]).astype(bool)
                return float(right[valid].mean()) if valid.any() else 0.0
            return float(right.mean())
        truth = (y[:, 0] > 0.5).astype(np.int64) if y.shape[1] == 1 else y.argmax(axis=1)
        return float(np.mean(self._classes(proba) == truth))

    @_exclusive
    def train(self, X: MatrixLike, y: ArrayLike, epochs: int = 1000,
              learning_rate: float = 0.01, verbose: bool = True, *,
              batch_size: Optional[int] = None,
              optimizer: Union[str, _optimizers.Optimizer, _optimizers.LBFGS] = "sgd",
              shuffle: bool = True,
              validation_data: Optional[tuple[MatrixLike, ArrayLike]] = None,
              early_stopping: Union[None, bool, int, EarlyStopping] = None,
              lr_schedule: Union[None, str, Schedule] = None,
              sample_weight: Optional[ArrayLike] = None, on_divergence: str = "raise",
              record_trajectory: bool = False, distributed: Any = None) -> History:
        """Train on (X, y) and return a History: the list of per-epoch training losses (each
        the mean over the epoch's batches of the loss before that batch's update, so with
        batch_size=None exactly the tutorial's per-epoch loss), carrying validation metrics.

        Parameters
        ----------
        X : array-like or scipy.sparse CSR/CSC matrix
            The inputs, of shape (n,) + input_shape or flattened (n, prod(input_shape)).
            Sparse matrices feed a model whose first layer is Dense.
        y : array-like
            Targets: (n, n_outputs), or (n,) for one output; class labels or one-hot rows
            for a softmax output.
        epochs : int, default 1000
            Passes over the data (0 to 2**62).
        learning_rate : float, default 0.01
            The base rate (finite, > 0); an lr_schedule scales it per epoch or step.
        verbose : bool, default True
            Print ``Epoch e, Loss: x`` every 100 epochs in full-batch training and every
            epoch in mini-batch training (a progress bar on a terminal), with validation
            metrics when there are any.
        batch_size : int or None, default None
            Rows per update; None means full batch (the tutorial). Otherwise the last
            batch of an epoch may be smaller.
        optimizer : str or optimizer object, default "sgd"
            "sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "lbfgs", or an object
            from barenet.optimizers; its state carries over to the next train call. An
            optimizer object serves one network: passing one that another network trains
            with raises ValueError. "lbfgs" (or barenet.optimizers.LBFGS(max_fun, tol))
            trains full batch with scipy's L-BFGS-B for at most `epochs` iterations.
        shuffle : bool, default True
            Reshuffle the rows every epoch (mini-batches); False takes them in order.
        validation_data : (X_val, y_val) or None
            Evaluated after every epoch: val_loss, and val_accuracy for classifiers.
        early_stopping : None, bool, int or EarlyStopping
            True means EarlyStopping(), an int its patience.
        lr_schedule : None, "step", "exponential", "cosine", a schedule object or callable
            The learning rate of each epoch, ``f(epoch, lr, epochs)``.
        sample_weight : array-like (n,) or None
            Weighs the rows' losses: each batch minimises (1/B) sum_i w_i l_i.
        on_divergence : {"raise", "warn"}, default "raise"
            What a NaN or infinite epoch loss does (below).
        record_trajectory : bool, default False
            Keep the parameters before training and after every epoch in
            ``history.trajectory`` (Notes), for barenet.plot.loss_landscape.

        Returns
        -------
        History
            The per-epoch training losses with ``metrics``, ``best_epoch`` and
            ``stopped_epoch``; with "lbfgs" the loss after each iteration and ``n_iter``,
            ``n_fun``, ``converged`` and ``message``.

        Raises
        ------
        ValueError, TypeError
            A refused argument (nothing has changed, see Notes).
        TrainingDiverged
            The loss became NaN or infinite (on_divergence="raise").
        KeyboardInterrupt
            Ctrl-C, with the network at an epoch boundary and ``history`` attached.

        Notes
        -----
        Every argument is checked before anything changes: a call refused with ValueError
        or TypeError (epochs outside 0..2**62 or beyond what the int64 epoch counter can
        still count, batch_size < 1, a learning rate that is not finite and > 0, bad data or
        validation_data, early stopping on "val_loss" without validation_data, an
        lr_schedule whose rate for the first epoch is not finite and > 0 or that raises, an
        optimizer owned by another network, ...) leaves the network exactly as it was: parameters, optimizer and its
        state and step, epoch count and random stream.

        If an epoch's loss is NaN or infinite, training stops with the parameters of the
        last finite epoch and raises TrainingDiverged (on_divergence="raise") or warns and
        returns the history so far ("warn"). An lr_schedule that fails at a later epoch
        stops training there the same way (its exception carries `history`). Ctrl-C (in
        the main thread, with Python's default SIGINT handler) stops training between
        batches, or between epochs when it arrives during validation or early stopping, at
        the last completed epoch (or the best one, under early stopping with restore), and
        raises KeyboardInterrupt, whose `history` attribute holds the history so far. A
        Ctrl-C that arrives as the call ends still raises KeyboardInterrupt, with the
        finished history.

        record_trajectory=True keeps the path gradient descent took: `history.trajectory`
        is then an array (1 + epochs done, n_params), row 0 the parameters before the call
        and row i those after its i-th epoch (the rows of get_params(); under early
        stopping with restore the network ends at row best_epoch + 1). The epochs then run
        one per backend call, as with validation data; barenet.plot.loss_landscape draws
        the path. Off (the default), nothing is copied and `history.trajectory` is None.
        Not with optimizer="lbfgs" (ValueError).

        distributed=barenet.distributed.MPI(...) trains data-parallel over MPI: every rank
        calls train with the same data (an array or barenet.distributed.load_npy's
        memory map), network and arguments, computes its share of each batch and gets the
        same parameters (docs/distributed.md). Not with "lbfgs", BatchNormalization or a
        loss over masked steps.
        """
        try:
            X, y = self._Xy(X, y)
            sw = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        except KeyboardInterrupt as exc:  # Ctrl-C while checking the data: nothing done
            setattr(exc, "history", History())   # (KeyboardInterrupt declares no history)
            raise
        return self._train(X, y, sw, epochs, learning_rate, verbose, batch_size=batch_size,
                           optimizer=optimizer, shuffle=shuffle, validation_data=validation_data,
                           early_stopping=early_stopping, lr_schedule=lr_schedule,
                           on_divergence=on_divergence, record_trajectory=record_trajectory,
                           distributed=distributed)

    @_exclusive
    def _train(self, X, y, sw, epochs, learning_rate, verbose, *, batch_size=None,
               optimizer="sgd", shuffle=True, validation_data=None, early_stopping=None,
               lr_schedule=None, on_divergence="raise", record_trajectory=False,
               distributed=None):
        """train() on X, y, sw as _Xy and check_sample_weight return them (validated once:
        barenet.sklearn calls this epoch by epoch). All the other arguments are checked
        here before the network changes."""
        lbfgs = isinstance(optimizer, _optimizers.LBFGS) or (
            isinstance(optimizer, str) and optimizer.strip().lower() == "lbfgs")
        dist = self._check_distributed(distributed, lbfgs)
        if lbfgs:
            if check_bool(record_trajectory, "record_trajectory"):
                raise ValueError("record_trajectory=True needs a first-order optimizer (the "
                                 "path of one epoch per step); optimizer='lbfgs' has none")
            return self._train_lbfgs(X, y, sw, epochs, learning_rate, verbose, shuffle,
                                     optimizer, batch_size, validation_data, early_stopping,
                                     lr_schedule, on_divergence)
        # -- checks: nothing below changes the network until every one has passed ---------
        epochs = self._check_epochs(epochs, 0)
        lr = check_positive_float(learning_rate, "learning_rate")
        verbose = check_bool(verbose, "verbose")
        shuffle = check_bool(shuffle, "shuffle")
        on_divergence = check_choice(on_divergence, "on_divergence", ("raise", "warn"))
        record_trajectory = check_bool(record_trajectory, "record_trajectory")
        n = X.shape[0]
        batch = n if batch_size is None else min(check_int(batch_size, "batch_size", minimum=1), n)
        schedule = get_schedule(lr_schedule)
        stopper = get_early_stopping(early_stopping)
        validation = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("validation_data must be a tuple (X_val, y_val)")
            validation = self._Xy(*validation_data, names=("validation_data[0]",
                                                             "validation_data[1]"))
        monitor = None
        if stopper is not None:
            monitor = stopper.monitor if stopper.monitor != "auto" else (
                "val_loss" if validation is not None else "loss")
            if monitor == "val_loss" and validation is None:
                raise ValueError("early stopping on 'val_loss' needs validation_data")
        opt = self._optimizer_for(optimizer)
        lr0 = None  # the first epoch's rate: a schedule that fails there is refused here
        if schedule is not None and epochs:
            lr0 = (opt.learning_rate_for(lr) if getattr(schedule, "per_step", False)
                   else self._scheduled_lr(schedule, opt.learning_rate_for(lr), 0, epochs))
        if dist is not None:  # every rank must run the same training (a collective)
            dist.check_same([n, X[:1].size, y[:1].size, batch, epochs, shuffle, lr,
                             self._params.size, validation is not None, stopper is not None,
                             self._epochs_done, sw is not None, schedule is not None,
                             bool(record_trajectory)], "the training arguments")
            verbose = verbose and dist.rank == 0

        history = History()
        try:
            with catch_interrupts(history) as interrupts:
                # -- from here on the network changes --------------------------------------
                self._use_optimizer(opt, optimizer)
                if self._stream_seed is None and ((shuffle and batch < n) or self.dropout > 0):
                    self._stream_seed = int(np.random.randint(0, 2**63 - 1, dtype=np.int64))
                if dist is not None:  # rank 0's parameters, optimizer state and seed
                    position = np.array([self._stream_seed or 0, self._stream_seed is not None,
                                         opt.step], dtype=np.int64)
                    dist.broadcast([self._params, *(opt.state_arrays() or ()), position])
                    self._stream_seed = int(position[0]) if position[1] else None
                    opt.step = int(position[2])
                cfg = TrainConfig(batch_size=batch, shuffle=shuffle,
                                  seed=self._stream_seed or 0, epoch=self._epochs_done,
                                  l1=self.l1, l2=self.l2,
                                  **(schedule.step_config() if getattr(schedule, "per_step",
                                                                       False) else {}))
                print_every = 100 if batch == n else 1
                trajectory = [self._params.copy()] if record_trajectory else None
                per_epoch = (validation is not None or stopper is not None
                             or schedule is not None or record_trajectory)
                progress = Progress(epochs, print_every, bar=batch < n) if verbose else None
                try:
                    self._train_loop(X, y, sw, epochs, lr, lr0, cfg, opt, schedule, stopper,
                                     monitor, validation, per_epoch, print_every, progress,
                                     history, on_divergence, interrupts, trajectory, dist)
                finally:
                    if progress is not None:
                        progress.close()
                    if trajectory is not None:
                        history.trajectory = np.stack(trajectory)
        except KeyboardInterrupt as exc:  # Python's own, just after its handler came back
            if not hasattr(exc, "history"):
                exc.history = history
            raise
        return history

    def _train_lbfgs(self, X, y, sw, epochs, learning_rate, verbose, shuffle, optimizer,
                     batch_size, validation_data, early_stopping, lr_schedule, on_divergence):
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
        if self._spec.n_state:
            raise ValueError("optimizer='lbfgs' needs a deterministic loss: this network has "
                             "BatchNormalization, whose training uses batch statistics")
        epochs = check_int(epochs, "epochs", minimum=1, maximum=MAX_STEP)
        check_positive_float(learning_rate, "learning_rate")  # unused, but checked as ever
        check_bool(shuffle, "shuffle")
        verbose = check_bool(verbose, "verbose")
        on_divergence = check_choice(on_divergence, "on_divergence", ("raise", "warn"))
        opt = optimizer if isinstance(optimizer, _optimizers.LBFGS) else _optimizers.LBFGS()
        try:
            return _lbfgs.train(self, X, y, sw, max_iter=epochs, max_fun=opt.max_fun,
                                tol=opt.tol, verbose=verbose)
        except TrainingDiverged as exc:
            if on_divergence == "raise":
                raise
            warnings.warn(str(exc), RuntimeWarning, stacklevel=3)
            return exc.history if exc.history is not None else History()

    def _train_loop(self, X, y, sw, epochs, lr, lr0, cfg, opt, schedule, stopper, monitor,
                    validation, per_epoch, print_every, progress, history, on_divergence,
                    interrupts, trajectory=None, dist=None):
        """the epochs of one train call: C (or NumPy) runs chunks of epochs; between chunks
        come the schedule, validation, progress output, early stopping and the Ctrl-C poll.
        Whatever ends the call early leaves the network at an epoch boundary: the last
        completed epoch, or the best one under early stopping with restore. A trajectory
        (a list, with record_trajectory) gets the parameters after each epoch."""
        classifier = self.output_activation in ("sigmoid", "softmax")
        restore = stopper is not None and stopper.restore_best_weights
        best, best_params, waited = np.inf, None, 0

        def end_early(exc):
            if restore and best_params is not None:
                self._params[...] = best_params
            if not hasattr(exc, "history"):
                try:
                    exc.history = history
                except AttributeError:  # an exception type without a __dict__
                    pass
            return exc

        e = 0
        while e < epochs:
            if per_epoch:
                k = 1
            elif progress is not None:
                k = min(print_every - e % print_every, epochs - e)
            else:
                k = epochs - e
            k = min(k, EPOCHS_PER_CALL)
            lr_e = opt.learning_rate_for(lr)
            if schedule is not None and not getattr(schedule, "per_step", False):
                try:
                    lr_e = lr0 if e == 0 else self._scheduled_lr(schedule, lr_e, e, epochs)
                except Exception as exc:
                    raise end_early(exc)
            losses, completed, status = self._backend.train(
                replace(cfg, epoch=self._epochs_done), opt, self._params, X, y, k, lr_e, sw,
                reduce=dist)
            if dist is not None:  # every rank at the same place with the same parameters
                dist.check_chunk(completed, status, self._params)
            self._epochs_done += completed
            history.extend(losses[:completed].tolist())
            history.metrics["lr"].extend([lr_e] * completed)
            if trajectory is not None and completed:  # one epoch per chunk (per_epoch)
                trajectory.append(self._params.copy())
            if status == "interrupted" and completed < k:  # rolled back inside the chunk
                interrupts.take()
                if progress is not None:
                    progress.update(history, e, e + completed)
                raise end_early(interrupted(history, "barenet: training interrupted after "
                                                     f"epoch {e + completed - 1}"))
            # "interrupted" after the chunk's last epoch: its bookkeeping first, then the poll
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
                proba = np.empty((Xv.shape[0], self._spec.out_size), dtype=self.dtype)
                # one forward pass for both
                history.record("val_loss", self._backend.loss(self._params, Xv, yv, out=proba))
                if classifier:
                    history.record("val_accuracy", self._accuracy(proba, yv, Xv))
            if progress is not None:
                progress.update(history, e, e + k)
            e += k
            stop = False
            if stopper is not None:
                value = history.metrics[monitor][-1]
                if value < best - stopper.min_delta:
                    best, waited, history.best_epoch = value, 0, e - 1
                    if restore:
                        best_params = self._params.copy()
                else:
                    waited += 1
                    if waited >= stopper.patience:
                        history.stopped_epoch = e - 1
                        stop = True
            if dist is not None:  # the ranks agree on stopping and on Ctrl-C
                stop = dist.agree(stop, "agreeing on early stopping")
                if dist.agree(interrupts.take(), "agreeing on Ctrl-C"):
                    raise end_early(interrupted(history, "barenet: training interrupted "
                                                         f"after epoch {e - 1}"))
            if interrupts.take():  # Ctrl-C seen by C after the chunk, or during the above
                raise end_early(interrupted(history, "barenet: training interrupted after "
                                                     f"epoch {e - 1}"))
            if stop:
                break
        if restore and best_params is not None:
            self._params[...] = best_params

    @_exclusive
    def release_memory(self) -> None:
        """drop the buffers the compiled backend keeps between calls: the training workspace
        (kept up to 1 GiB, so that one train call per batch does not pay for a fresh one each
        time) and the prediction workspace (up to 16 MiB). The next call allocates again."""
        self._backend.release_memory()

    # -- files -----------------------------------------------------------------------------
    @_exclusive
    def save(self, path: PathLike, *, include_optimizer: bool = True,
             format: str = "npz") -> None:
        """Write the network to path in barenet's model format (barenet.io): settings,
        parameters and, unless include_optimizer=False, the optimizer state and training
        position, so that training continues after load exactly as without the break.
        format "npz" (barenet's .npz) or "safetensors" (the same description in the
        safetensors metadata, each layer's tensors by name; load reads either).
        The write is atomic: a crash never leaves a damaged file where a good one was."""
        from . import io
        io.save(self, path, include_optimizer=check_bool(include_optimizer,
                                                          "include_optimizer"), format=format)

    @classmethod
    def load(cls, path: PathLike, *, backend: Optional[str] = None) -> "Sequential":
        """Read a network written by save(); it may run on either backend. Anything wrong
        with the file raises barenet.ModelFileError (a ValueError) naming the problem;
        loading never executes code from the file."""
        from . import io
        return io.load(path, backend=backend)

    @_exclusive
    def to_onnx(self, path: Optional[PathLike] = None, *, opset: Optional[int] = None,
                flat_input: bool = False) -> Any:
        """Write the network as an ONNX file (and return the onnx.ModelProto): see
        barenet.onnx.export, which this calls (needs ``pip install barenet[onnx]``)."""
        from . import onnx as _onnx
        return _onnx.export(self, path, opset=opset, flat_input=flat_input)

    @_exclusive
    def load_torch_state_dict(self, state_dict: Any,
                              mapping: Optional[Any] = None) -> None:
        """Copy a PyTorch state_dict's Linear, Conv2d, BatchNorm (with running
        statistics), LayerNorm, Embedding, RNN/LSTM/GRU and MultiheadAttention weights into
        this network's Dense, Conv2D, BatchNormalization, LayerNormalization, Embedding,
        SimpleRNN/LSTM/GRU/Bidirectional and MultiHeadAttention layers: see
        barenet._torch_import.load_state_dict."""
        from . import _torch_import
        _torch_import.load_state_dict(self, state_dict, mapping)

    def __repr__(self) -> str:
        layers = ", ".join(map(repr, self.layers))
        return (f"Sequential([{layers}], input_shape={self.input_shape}, "
                f"loss={self.loss_name!r}, dtype={self.dtype.name!r}, backend={self.backend!r})")


class Model(Sequential):
    """A network given as a graph of layers (Keras's functional API): residual blocks,
    concatenations, several branches. Build it by calling layers on nodes:

        x = barenet.Input((1, 28, 28))
        h = Conv2D(16, 3, padding="same", activation="relu")(x)
        h = Add()([Conv2D(16, 3, padding="same")(h), h])
        out = Dense(10, activation="softmax")(Flatten()(h))
        model = barenet.Model(x, out)

    The layers run in an order where each comes after its inputs; gradients are summed
    where a layer's output feeds several layers. One input and one output (a Dense layer
    giving a vector); everything Sequential does works the same (training options, both
    backends, save/load, L-BFGS, history). `layers` lists the layers in that order.

    Parameters
    ----------
    inputs : the node barenet.Input returned
    outputs : the output layer's node
    loss, l1, l2, dtype, seed, backend
        As for Sequential.
    """

    def __init__(self, inputs: "Node", outputs: "Node", *, loss: Optional[str] = None,
                 l1: float = 0.0, l2: float = 0.0, dtype: DTypeLike = "float64",
                 seed: Optional[int] = None, backend: Optional[str] = None) -> None:
        from .graph import topological
        layers, edges = topological(inputs, outputs)
        for i, layer in enumerate(layers):
            layer.index = i
            if i < len(layers) - 1 and getattr(layer, "activation", None) == "softmax":
                raise ValueError(f"{layer!r} (layer {i}): softmax is only supported on the "
                                 "output layer")
        if not isinstance(layers[-1], Dense):
            raise ValueError(f"the output layer must be Dense; got {layers[-1]!r}")
        self.input_shape = inputs.shape
        self._setup(layers, loss, l1, l2, dtype, seed, backend, edges)

    @property
    def edges(self) -> tuple[tuple[int, ...], ...]:
        """each layer's input indices into `layers` (-1: the model input)"""
        return self._spec.edges

    def __repr__(self) -> str:
        return (f"Model({len(self.layers)} layers, input_shape={self.input_shape}, "
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

    def __init__(self, layer_sizes: Sequence[int], *, activation: str = "relu",
                 output_activation: str = "sigmoid", loss: Optional[str] = None,
                 dropout: float = 0.0, l1: float = 0.0, l2: float = 0.0,
                 dtype: DTypeLike = "float64", seed: Optional[int] = None,
                 backend: Optional[str] = None) -> None:
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
        layers: list[Layer] = []
        shape = self.input_shape
        for i, n_out in enumerate(sizes[1:]):
            hidden = i < len(sizes) - 2
            layers.append(Dense(n_out, activation if hidden else output_activation))
            if hidden and dropout > 0:  # stream i: the mask of hidden layer i, as always
                layers.append(Dropout(dropout))
        for i, layer in enumerate(layers):
            shape = layer.build(shape, i)
        self._setup(layers, loss, l1, l2, dtype, seed, backend)
        self.activations: list[np.ndarray] = []   # forward(X) records them
        self.layer_inputs: list[np.ndarray] = []

    # -- the tutorial's forward and helpers -------------------------------------------
    @_exclusive
    def forward(self, X: MatrixLike,
                return_all: bool = False) -> Union[np.ndarray, list[np.ndarray]]:
        """The output layer's activations for X, shape (n, n_outputs), not training (no
        dropout), recording what the tutorial's forward records:

        * ``activations``: [X, a_1, ..., a_L], each layer's output (n, layer_sizes[i]);
          activations[0] is X as the network computes with it (its dtype, (n, n_inputs));
        * ``layer_inputs``: [z_1, ..., z_L], each ``z = activations[i] @ weights[i] +
          biases[i]``, (n, layer_sizes[i + 1]).

        The layers' outputs come from one pass of the chosen backend, which keeps every
        layer's output (the compiled core's training workspace); each z is then computed
        from the recorded input and the weights in NumPy (the core keeps z only where
        backward needs it). `predict` is the fast path and records nothing.
        return_all=True returns every layer's output (Sequential.forward)."""
        return_all = check_bool(return_all, "return_all")
        X = self._X(X)
        outs = self._backend.forward_all(self._params, X)
        x0 = _sparse.batch(X) if isinstance(X, _sparse.CSR) else X
        acts = [x0] + [out for out, layer in zip(outs, self.layers) if isinstance(layer, Dense)]
        zs = [np.asarray(a @ w) + b for a, w, b in zip(acts, self._weights, self._biases)]
        self.activations, self.layer_inputs = acts, zs
        return outs if return_all else acts[-1]

    def sigmoid(self, x: np.ndarray) -> np.ndarray:
        """The tutorial's helper, ``1 / (1 + np.exp(-np.clip(x, -500, 500)))`` (the clip
        keeps np.exp from overflowing). The network's own sigmoid is computed in C, without
        the clip and without overflow."""
        return 1 / (1 + np.exp(-np.clip(x, -500, 500)))

    def sigmoid_derivative(self, x: np.ndarray) -> np.ndarray:
        """The tutorial's helper, ``x * (1 - x)``: the sigmoid's derivative written from
        its output, so x is an activation a = sigmoid(z), not z."""
        return x * (1 - x)

    def relu(self, x: np.ndarray) -> np.ndarray:
        """The tutorial's helper, ``np.maximum(0, x)``."""
        return np.maximum(0, x)

    def relu_derivative(self, x: np.ndarray) -> np.ndarray:
        """The tutorial's helper, ``(x > 0).astype(float)``: 1.0 where x > 0, else 0.0
        (float64, whatever x's dtype); x may be z or the ReLU's output a, which are
        positive at the same places."""
        return (x > 0).astype(float)

    def __repr__(self) -> str:
        return (f"NeuralNetwork({list(self.layer_sizes)}, activation={self.activation!r}, "
                f"output_activation={self.output_activation!r}, loss={self.loss_name!r}, "
                f"dtype={self.dtype.name!r}, backend={self.backend!r})")
