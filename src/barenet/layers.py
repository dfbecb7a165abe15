"""Layers: what a network is made of. A layer is described by the user (units, kernel
size, ...), then built by its model for its input shape, which fixes its output shape, its
parameter count and where its parameters sit in the model's one flat buffer. Shapes are as
the user sees them: (n,) for vectors, (T, C) for sequences, (C, H, W) for images (channels
first). Each layer kind is one class here that owns its shapes, parameters, its descriptor
for the C core (c_fields: the bn_layer fields of csrc/layers.h by name; the kinds' C code
is in csrc/ops/) and its NumPy reference (forward, backward), which the NumPy backend runs.
Layers are chained by Sequential or called on nodes of a graph (barenet.graph, Model).

Size limits: building a layer refuses (ValueError naming the layer) any layer whose input,
output, padded input or unfolded convolution input would hold more than MAX_SAMPLE_VALUES
values per sample, and every size argument (units, filters, kernel_size, stride, padding,
pool_size) must be at most MAX_SAMPLE_VALUES. All sizes are exact Python integers, so no
size wraps; the C core checks its own workspace arithmetic again (csrc/checked.h)."""

import math
from typing import Optional, Sequence, Union

import numpy as np

from . import _activations
from . import _numpy_layers as nl
from . import _rng
from . import _sparse

# the layer kinds by the names the C core's table knows them by (csrc/layers.h,
# bn_layer_kind; barenet._core.LAYER_KINDS maps them to its numbers)
DENSE, CONV2D, MAXPOOL2D, AVGPOOL2D, FLATTEN, DROPOUT, EMBEDDING, MASKING = (
    "dense", "conv2d", "maxpool2d", "avgpool2d", "flatten", "dropout", "embedding", "masking")

# token ids travel as values of the model's dtype: float32 holds every integer below 2**24
MAX_TOKEN_IDS = {np.dtype(np.float32): 2**24, np.dtype(np.float64): 2**53}

# The most values one sample may occupy in any one place of any layer: its input, its
# output, a convolution's zero-padded input (the NumPy reference materialises it) and its
# unfolded input (OH OW KH KW C, the GEMM's operand). 2**27 values are 1 GiB in float64
# (512 MiB in float32), so the compiled backend predicts one row in at most 4 GiB (two
# layer outputs, the transposed input and one unfolded input) whatever the geometry, and
# its workspace offsets stay far from int64's limit. Bigger layers are refused when built.
MAX_SAMPLE_VALUES = 2**27


def _check_size_arg(value, name, layer, minimum=1):
    """an int in [minimum, MAX_SAMPLE_VALUES] (not a bool) -> int; ValueError otherwise"""
    if (not isinstance(value, (int, np.integer)) or isinstance(value, bool)
            or not minimum <= value <= MAX_SAMPLE_VALUES):
        raise ValueError(f"{layer}: {name} must be an int >= {minimum} and <= "
                         f"{MAX_SAMPLE_VALUES} (barenet.layers.MAX_SAMPLE_VALUES); got {value!r}")
    return int(value)


def _pair(value, name, layer, minimum=1):
    """an int or a pair of ints, each in [minimum, MAX_SAMPLE_VALUES], as a pair"""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                  and minimum <= v <= MAX_SAMPLE_VALUES for v in items):
        raise ValueError(f"{layer}: {name} must be an int >= {minimum} and <= "
                         f"{MAX_SAMPLE_VALUES} (barenet.layers.MAX_SAMPLE_VALUES) or a pair of "
                         f"them; got {value!r}")
    return int(items[0]), int(items[1])


def _hwc(shape):
    """(h, w, c), as the C core stores a sample (channels last), of a user's shape: a flat
    vector (n,), a sequence (T, C) or a channels-first image (C, H, W)"""
    if len(shape) == 1:
        return (1, 1, shape[0])
    if len(shape) == 2:
        return (1, shape[0], shape[1])
    return (shape[1], shape[2], shape[0])


def _flat_hwc(shape):
    """(1, 1, n): how elementwise kinds describe any input to C, numbering its values in the
    user's order (channels first for images)"""
    return (1, 1, int(np.prod(shape)))


def _rank_name(shape):
    return {1: "a vector (n,)", 2: "a sequence (T, C)", 3: "an image (C, H, W)"}[len(shape)]


def dropout_scale(rate, drop, stream, shape, dtype):
    """keep / (1 - rate) for each value of a dropout output of `shape` (N, ...): the masks
    of bn_dropout (layers.h), values numbered row by row in the user's order (channels
    first for images). drop = (seed, epoch, batch) or (seed, epoch, batch, row): the rows'
    first position in the batch (a part of a batch, bn_dropout.row)."""
    seed, epoch, batch = drop[:3]
    row = drop[3] if len(drop) > 3 else 0
    key = _rng.rng_stream(_rng.STREAM_DROPOUT, epoch, batch, stream)
    size = int(np.prod(shape[1:]))
    return _rng.dropout_mask(seed, key, shape[0] * size, rate, dtype,
                             start=row * size).reshape(shape)


def _check_activation(activation, layer, allow_softmax):
    if activation is None:
        activation = "identity"
    if activation not in _activations.NAMES or (activation == "softmax" and not allow_softmax):
        names = [n for n in _activations.NAMES if allow_softmax or n != "softmax"]
        raise ValueError(f"{layer}: activation must be one of {names}; got {activation!r}")
    return activation


# every public layer class by name, for save/load (Layer.__init_subclass__)
KINDS: dict[str, type["Layer"]] = {}


class Layer:
    """Base of every layer kind. A kind is one class that owns its output shape, its
    parameters (count, views into the model's flat buffer, initialiser), the descriptor it
    hands to the C core (c_fields) and its NumPy reference (forward, backward), which the
    NumPy backend runs with no per-kind switch. Subclasses set `kind` (the C table's name)
    and override what differs from a parameter-free, one-input layer.

    Calling a layer on a node (`Dense(10)(x)`, barenet.Input) builds a graph for
    barenet.Model; each layer object is one node of one model."""

    kind: Optional[str] = None
    n_params = 0
    n_state = 0       # values of the model's state buffer it keeps (running statistics)
    rate = 0.0        # dropout rate (Dropout's own); every layer has one for the C rows
    index = None      # position in the model, set by build (for error messages)
    min_inputs = max_inputs = 1
    penalised = False # the l1/l2 penalty acts on its weights (views()[0])
    makes_mask = False  # it computes a step mask of its output (Embedding(mask_zero=True))
    uses_mask = False   # it reads its input's step mask (forward/backward get mask=)

    @property
    def uses_stream(self):
        """it draws dropout masks, so it gets its own random stream (Spec.streams): a layer
        with a dropout rate (a recurrent layer's input dropout); Dropout and
        MultiHeadAttention always"""
        return self.rate > 0

    def __init_subclass__(cls, **kwargs):
        """a public layer class registers itself by name for save/load"""
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            KINDS[cls.__name__] = cls

    def build(self, input_shape, index):
        """fix the shapes for input_shape (a list of shapes for a multi-input layer);
        returns the output shape. ValueError when the input does not suit the layer or the
        layer would exceed MAX_SAMPLE_VALUES."""
        shapes = input_shape if self.max_inputs > 1 else [input_shape]
        self.input_shapes = [tuple(shape) for shape in shapes]
        self.input_shape, self.index = self.input_shapes[0], index
        self.output_shape = self._output_shape(self.input_shape if self.max_inputs == 1
                                               else self.input_shapes)
        for what, values in self.sample_sizes().items():
            if values > MAX_SAMPLE_VALUES:
                raise ValueError(
                    f"{self._where()}: its {what} would hold {values} values per sample "
                    f"for the input shape {self.input_shape}; barenet allows at most "
                    f"{MAX_SAMPLE_VALUES} (barenet.layers.MAX_SAMPLE_VALUES) in any one "
                    "layer")
        return self.output_shape

    def _output_shape(self, shape):
        return shape

    def sample_sizes(self):
        """{what: values per sample} of the places this built layer fills (exact ints)"""
        return {"input": math.prod(self.input_shape), "output": math.prod(self.output_shape)}

    def _where(self):
        return f"{self!r} (layer {self.index})"

    def __call__(self, inputs):
        """this layer applied to a node (or, for a merge layer, a list of nodes) of a
        graph: the node of its output (barenet.Model)"""
        from .graph import call_layer
        return call_layer(self, inputs)

    def views(self, flat, start):
        """views of this layer's parameters in flat: (weights, bias), or () without any"""
        return ()

    def initialise(self, views, rng):
        pass

    def state_views(self, flat, start):
        """views of this layer's part of the model's state buffer, or () without any"""
        return ()

    def init_state(self, views):
        pass

    def update_state(self, views, kept):
        """after a training step, from what the training forward kept"""

    def passes_mask(self):
        """whether its output keeps its (first) input's steps, so a step mask of the input
        is the output's too: a sequence in and out with the same number of steps"""
        shapes = self.input_shape, self.output_shape
        return all(len(s) == 2 for s in shapes) and shapes[0][0] == shapes[1][0]

    def compute_mask(self, xs):
        """the step mask (N, T) of its output from its inputs, when makes_mask"""
        raise NotImplementedError

    def c_fields(self, start, stream):
        """this layer's bn_layer fields (csrc/layers.h) by name, when its parameters start at
        `start`; fields not given are 0 (the graph's inputs are the model's to add)"""
        (ih, iw, ic), (oh, ow, oc) = _hwc(self.input_shape), _hwc(self.output_shape)
        return dict(kind=self.kind, in_h=ih, in_w=iw, in_c=ic, out_h=oh, out_w=ow, out_c=oc,
                    w_offset=start, b_offset=-1, stream=stream, rate=float(self.rate))

    def config(self):
        """the constructor's arguments, for save/load"""
        return {}

    # -- the NumPy reference --------------------------------------------------------------
    def forward(self, params, at, xs, drop, stream):
        """(a, kept) on the inputs xs (a list of ``(N, *shape)`` arrays): the output and what
        backward needs beyond it (a pre-activation z, batch statistics; None if nothing).
        drop = (seed, epoch, batch) while training, None otherwise; at is where the
        parameters start in params. Layers with state take it as a keyword (state=)."""
        return xs[0], None

    def backward(self, params, at, d, xs, a, z, drop, stream, is_output, need):
        """(dw, db, dxs) from d = dloss/da (dloss/dz for the output layer, whose activation
        the loss gradient includes): the parameters' gradients (None without) and, for
        each input i with need[i], dloss/d(input i) (else None)"""
        return None, None, [d if n else None for n in need]


class Dense(Layer):
    """A fully connected layer on flat inputs (n_in,): z = x @ W + b, a = activation(z),
    with W of shape (n_in, n_out) and b of shape (1, n_out) viewed from the flat parameter
    buffer. Weights start He-normal (``randn * sqrt(2 / n_in)``), biases at zero."""

    kind = DENSE
    penalised = True

    def __init__(self, units: int, activation: str = "identity", *,
                 use_bias: bool = True) -> None:
        self.n_out = _check_size_arg(units, "units", "Dense")
        self.n_in = None
        self.activation = _check_activation(activation, f"Dense({units})", allow_softmax=True)
        self.use_bias = bool(use_bias)

    @property
    def units(self):
        return self.n_out

    def _output_shape(self, shape):
        if len(shape) == 3:
            raise ValueError(f"{self._where()} needs a flat input (n,) or a sequence (T, C); "
                             f"it gets an image of shape {shape}: put Flatten() before it")
        self.n_in = shape[-1]
        return tuple(shape[:-1]) + (self.n_out,)

    @property
    def n_params(self):
        return self.n_in * self.n_out + (self.n_out if self.use_bias else 0)

    def views(self, flat, start):
        """(W (n_in, n_out), b (1, n_out)) views of flat (b None without a bias)"""
        mid = start + self.n_in * self.n_out
        w = flat[start:mid].reshape(self.n_in, self.n_out)
        return w, (flat[mid:mid + self.n_out].reshape(1, self.n_out) if self.use_bias else None)

    def initialise(self, views, rng):
        """He-normal weights (the tutorial's np.random.randn(n_in, n_out) * sqrt(2 / n_in)
        from NumPy's global state when rng is None), zero biases"""
        w, b = views
        draw = (np.random.randn(self.n_in, self.n_out) if rng is None
                else rng.standard_normal((self.n_in, self.n_out)))
        w[...] = draw * np.sqrt(2.0 / self.n_in)
        if b is not None:
            b[...] = 0

    def c_fields(self, start, stream):
        row = super().c_fields(start, stream)
        row.update(activation=self.activation,
                   b_offset=start + self.n_in * self.n_out if self.use_bias else -1)
        return row

    def config(self):
        return {"units": self.n_out, "activation": self.activation, "use_bias": self.use_bias}

    def forward(self, params, at, xs, drop, stream):
        """z = x @ W + b on the last axis, a = activation(z)"""
        w, b = self.views(params, at)
        x = xs[0]
        z = x @ w if b is None else x @ w + b.reshape(-1)
        if _sparse.is_sparse(x):
            z = np.asarray(z)
        return _activations.FORWARD[self.activation](z), z

    def backward(self, params, at, d, xs, a, z, drop, stream, is_output, need):
        w, b = self.views(params, at)
        x = xs[0]
        dz = d if is_output else d * _activations.DERIVATIVE[self.activation](a, z)
        if _sparse.is_sparse(x):
            dw = np.asarray(x.T @ dz)
        else:
            dw = x.reshape(-1, self.n_in).T @ dz.reshape(-1, self.n_out)
        db = dz.reshape(-1, self.n_out).sum(axis=0) if b is not None else None
        return dw, db, [dz @ w.T if need[0] else None]

    def __repr__(self):
        if self.n_in is None:
            return f"Dense({self.n_out}, activation={self.activation!r})"
        return f"Dense({self.n_in}, {self.n_out}, activation={self.activation!r})"


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in every framework) on (C, H, W) inputs:
    ``z[f, y, x] = b[f] + sum_{i,j,c} W[i, j, c, f] * x_padded[c, y*sh + i, x*sw + j]``,
    a = activation(z), output (filters, OH, OW). Weights have shape (KH, KW, C, filters)
    (height, width, in-channels, filters: the GEMM's layout), biases (filters,). padding
    "valid" (none), "same" (output ceil(H / stride); TensorFlow's split, the odd pixel at
    the bottom/right), an int or a pair (ph, pw) of zeros on both sides. He-normal weights
    (fan-in KH KW C), zero biases."""

    kind = CONV2D
    penalised = True

    def __init__(self, filters: int, kernel_size: Union[int, Sequence[int]],
                 stride: Union[int, Sequence[int]] = 1,
                 padding: Union[str, int, Sequence[int]] = "valid", *,
                 activation: str = "identity", use_bias: bool = True) -> None:
        name = f"Conv2D({filters!r}, {kernel_size!r})"
        self.filters = _check_size_arg(filters, "filters", name)
        self.kernel_size = _pair(kernel_size, "kernel_size", name)
        self.stride = _pair(stride, "stride", name)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"{name}: padding must be 'valid', 'same', an int or a pair; "
                                 f"got {padding!r}")
        else:
            padding = _pair(padding, "padding", name, minimum=0)
        self.padding = padding
        self.activation = _check_activation(activation, name, allow_softmax=False)
        self.use_bias = bool(use_bias)

    def pads(self):
        """(top, bottom, left, right) zeros for the built input"""
        _, h, w = self.input_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        if self.padding == "valid":
            return 0, 0, 0, 0
        if self.padding == "same":
            out = []
            for size, k, s in ((h, kh, sh), (w, kw, sw)):
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                out += [total // 2, total - total // 2]
            return tuple(out)
        ph, pw = self.padding
        return ph, ph, pw, pw

    def _output_shape(self, shape):
        if len(shape) != 3:
            raise ValueError(f"{self._where()} needs an image input (C, H, W); it gets shape "
                             f"{shape}")
        c, h, w = shape
        self.in_channels = c
        top, bottom, left, right = self.pads()
        oh = (h + top + bottom - self.kernel_size[0]) // self.stride[0] + 1
        ow = (w + left + right - self.kernel_size[1]) // self.stride[1] + 1
        if oh < 1 or ow < 1:
            raise ValueError(f"{self._where()}: its {self.kernel_size} kernel does not fit its "
                             f"input (C, H, W) = {shape} with padding {self.padding!r}")
        return (self.filters, oh, ow)

    def sample_sizes(self):
        c, h, w = self.input_shape
        top, bottom, left, right = self.pads()
        _, oh, ow = self.output_shape
        (kh, kw) = self.kernel_size
        return {**super().sample_sizes(),
                "zero-padded input": c * (h + top + bottom) * (w + left + right),
                "unfolded input (OH OW KH KW C)": oh * ow * kh * kw * c}

    @property
    def n_params(self):
        kh, kw = self.kernel_size
        return kh * kw * self.in_channels * self.filters + (self.filters if self.use_bias else 0)

    def views(self, flat, start):
        """(W (KH, KW, C, filters), b (filters,)) views of flat (b None without a bias)"""
        kh, kw = self.kernel_size
        mid = start + kh * kw * self.in_channels * self.filters
        w = flat[start:mid].reshape(kh, kw, self.in_channels, self.filters)
        return w, (flat[mid:mid + self.filters] if self.use_bias else None)

    def initialise(self, views, rng):
        w, b = views
        draw = np.random.randn(*w.shape) if rng is None else rng.standard_normal(w.shape)
        w[...] = draw * np.sqrt(2.0 / (w.shape[0] * w.shape[1] * w.shape[2]))
        if b is not None:
            b[...] = 0

    def c_fields(self, start, stream):
        row = super().c_fields(start, stream)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, _, left, _ = self.pads()
        row.update(activation=self.activation, kh=kh, kw=kw, sh=sh, sw=sw, pad_top=top,
                   pad_left=left,
                   b_offset=start + kh * kw * self.in_channels * self.filters
                   if self.use_bias else -1)
        return row

    def config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size),
                "stride": list(self.stride),
                "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
                "activation": self.activation, "use_bias": self.use_bias}

    def forward(self, params, at, xs, drop, stream):
        w, b = self.views(params, at)
        z = nl.conv2d_forward(xs[0], w, b, self.stride, self.pads())
        return _activations.FORWARD[self.activation](z), z

    def backward(self, params, at, d, xs, a, z, drop, stream, is_output, need):
        w, b = self.views(params, at)
        dz = d if is_output else d * _activations.DERIVATIVE[self.activation](a, z)
        dx, dw, db = nl.conv2d_backward(dz, xs[0], w, self.stride, self.pads(), need[0])
        return dw, db if b is not None else None, [dx]

    def __repr__(self):
        return (f"Conv2D({self.filters}, {self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding!r}, activation={self.activation!r})")


class _Pool2D(Layer):
    """pooling over windows of pool_size, moved by stride (default: pool_size), no padding;
    output (C, (H - KH) // SH + 1, (W - KW) // SW + 1)"""

    def __init__(self, pool_size: Union[int, Sequence[int]] = 2,
                 stride: Union[None, int, Sequence[int]] = None) -> None:
        name = f"{type(self).__name__}({pool_size!r})"
        self.pool_size = _pair(pool_size, "pool_size", name)
        self.stride = self.pool_size if stride is None else _pair(stride, "stride", name)

    def _output_shape(self, shape):
        if len(shape) != 3:
            raise ValueError(f"{self._where()} needs an image input (C, H, W); it gets shape "
                             f"{shape}")
        c, h, w = shape
        (kh, kw), (sh, sw) = self.pool_size, self.stride
        if kh > h or kw > w:
            raise ValueError(f"{self._where()}: its {self.pool_size} window is larger than "
                             f"its input (C, H, W) = {shape}")
        return (c, (h - kh) // sh + 1, (w - kw) // sw + 1)

    def c_fields(self, start, stream):
        row = super().c_fields(start, stream)
        row.update(kh=self.pool_size[0], kw=self.pool_size[1], sh=self.stride[0],
                   sw=self.stride[1])
        return row

    def config(self):
        return {"pool_size": list(self.pool_size), "stride": list(self.stride)}

    def __repr__(self):
        return f"{type(self).__name__}({self.pool_size}, stride={self.stride})"


class MaxPool2D(_Pool2D):
    """the maximum of each window; its gradient goes to the window's first maximum"""

    kind = MAXPOOL2D

    def forward(self, params, at, xs, drop, stream):
        return nl.maxpool2d_forward(xs[0], self.pool_size, self.stride), None

    def backward(self, params, at, d, xs, a, z, drop, stream, is_output, need):
        return None, None, [nl.maxpool2d_backward(d, xs[0], self.pool_size, self.stride)
                            if need[0] else None]


class AvgPool2D(_Pool2D):
    """the mean of each window"""

    kind = AVGPOOL2D

    def forward(self, params, at, xs, drop, stream):
        return nl.avgpool2d_forward(xs[0], self.pool_size, self.stride), None

    def backward(self, params, at, d, xs, a, z, drop, stream, is_output, need):
        return None, None, [nl.avgpool2d_backward(d, xs[0], self.pool_size, self.stride)
                            if need[0] else None]


class Flatten(Layer):
    """(C, H, W) -> (C H W,), in channels-first order (as x.reshape(n, -1))"""

    kind = FLATTEN

    def _output_shape(self, shape):
        return (math.prod(shape),)

    def c_fields(self, start, stream):
        row = super().c_fields(start, stream)
        if len(self.input_shape) != 3:  # a sequence or vector: its stored order already
            row.update(zip(("in_h", "in_w", "in_c"), _flat_hwc(self.input_shape)))
        return row

    def forward(self, params, at, xs, drop, stream):
        return nl.flatten_forward(xs[0]), None

    def backward(self, params, at, d, xs, a, z, drop, stream, is_output, need):
        return None, None, [nl.flatten_backward(d, xs[0].shape) if need[0] else None]

    def __repr__(self):
        return "Flatten()"


class Dropout(Layer):
    """Inverted dropout: while training, each value is zeroed with probability `rate` and
    the others are scaled by 1 / (1 - rate); identity otherwise. Masks come from barenet's
    counter-based generator, so both backends draw the same ones."""

    kind = DROPOUT
    uses_stream = True

    def __init__(self, rate: float) -> None:
        from ._validation import check_rate
        self.rate = check_rate(rate, "Dropout rate")

    def config(self):
        return {"rate": self.rate}

    def c_fields(self, start, stream):
        row = super().c_fields(start, stream)
        if len(self.input_shape) != 3:  # masks in the stored order, as for a vector: the
            # input described flat (how dropout numbers its values), the output as it is (a
            # sequence stays (1, T, C) for the kinds that read it)
            row.update(zip(("in_h", "in_w", "in_c"), _flat_hwc(self.input_shape)))
        return row

    def forward(self, params, at, xs, drop, stream):
        x = xs[0]
        if drop is None or self.rate == 0:  # the identity when not training
            return x, None
        return x * dropout_scale(self.rate, drop, stream, x.shape, x.dtype), None

    def backward(self, params, at, d, xs, a, z, drop, stream, is_output, need):
        if not need[0]:
            return None, None, [None]
        if drop is None or self.rate == 0:
            return None, None, [d]
        return None, None, [d * dropout_scale(self.rate, drop, stream, d.shape, d.dtype)]

    def __repr__(self):
        return f"Dropout({self.rate})"


class Activation(Layer):
    """An activation function as a layer of its own, applied elementwise (after a
    normalisation, or on a residual sum): ``Activation("relu")``. Any of the hidden
    activations (relu, leaky_relu, sigmoid, tanh, gelu, identity, exp); softmax belongs to
    the Dense output layer."""

    kind = "activation"

    def __init__(self, activation: str) -> None:
        self.activation = _check_activation(activation, f"Activation({activation!r})",
                                            allow_softmax=False)

    def c_fields(self, start, stream):
        row = super().c_fields(start, stream)
        row.update(activation=self.activation)
        return row

    def forward(self, params, at, xs, drop, stream):
        return _activations.FORWARD[self.activation](xs[0]), None

    def backward(self, params, at, d, xs, a, z, drop, stream, is_output, need):
        if not need[0]:
            return None, None, [None]
        return None, None, [d * _activations.DERIVATIVE[self.activation](a, xs[0])]

    def config(self):
        return {"activation": self.activation}

    def __repr__(self):
        return f"Activation({self.activation!r})"


class _GlobalPooling1D(Layer):
    """a sequence (T, C) -> (C,): one pooling window over all steps (in C, a 2-D pooling
    kind with a 1 x T window)"""

    def _output_shape(self, shape):
        if len(shape) != 2:
            raise ValueError(f"{self._where()} needs a sequence input (T, C); it gets "
                             f"{_rank_name(shape)} of shape {shape}")
        return (shape[1],)

    def c_fields(self, start, stream):
        row = super().c_fields(start, stream)
        steps = self.input_shape[0]
        row.update(kh=1, kw=steps, sh=1, sw=steps)
        return row

    def __repr__(self):
        return f"{type(self).__name__}()"


class GlobalAveragePooling1D(_GlobalPooling1D):
    """the mean over the steps of a sequence (N, T, C) -> (N, C)"""

    kind = AVGPOOL2D

    def forward(self, params, at, xs, drop, stream):
        x = xs[0]
        return x.sum(axis=1) * x.dtype.type(1.0 / x.shape[1]), None

    def backward(self, params, at, d, xs, a, z, drop, stream, is_output, need):
        if not need[0]:
            return None, None, [None]
        x = xs[0]
        share = d * x.dtype.type(1.0 / x.shape[1])
        return None, None, [np.repeat(share[:, None, :], x.shape[1], axis=1)]


class GlobalMaxPooling1D(_GlobalPooling1D):
    """the maximum over the steps of a sequence (N, T, C) -> (N, C); the gradient goes to
    the first step that holds it"""

    kind = MAXPOOL2D

    def forward(self, params, at, xs, drop, stream):
        return xs[0].max(axis=1), None

    def backward(self, params, at, d, xs, a, z, drop, stream, is_output, need):
        if not need[0]:
            return None, None, [None]
        x = xs[0]
        first = x.argmax(axis=1)                                   # (N, C)
        dx = np.zeros_like(x)
        np.put_along_axis(dx, first[:, None, :], d[:, None, :], axis=1)
        return None, None, [dx]


def _channels_last(x):
    """(rows, C): the values of x (N, ...) as the C core holds them, one row per position,
    channels last (an image (N, C, H, W) is transposed)"""
    if x.ndim == 4:
        return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])
    return x.reshape(-1, x.shape[-1])


def _back_to(rows, x):
    """_channels_last undone: rows (rows, C) in the shape and layout of x"""
    if x.ndim == 4:
        n, c, h, w = x.shape
        return np.ascontiguousarray(rows.reshape(n, h, w, c).transpose(0, 3, 1, 2))
    return rows.reshape(x.shape)


class _Normalization(Layer):
    """scale gamma and offset beta per channel (the channel axis: the first of an image
    (C, H, W), the last of a vector or sequence), y = gamma (x - mean) / sqrt(var + eps) +
    beta. Parameters (gamma (C), beta (C)) start at ones and zeros."""

    def __init__(self, epsilon: float = 1e-3) -> None:
        from ._validation import check_positive_float
        self.epsilon = check_positive_float(epsilon, f"{type(self).__name__} epsilon")

    def _output_shape(self, shape):
        self.channels = shape[0] if len(shape) == 3 else shape[-1]
        return shape

    @property
    def n_params(self):
        return 2 * self.channels

    def views(self, flat, start):
        """(gamma (C,), beta (C,)) views of flat"""
        c = self.channels
        return flat[start:start + c], flat[start + c:start + 2 * c]

    def initialise(self, views, rng):
        views[0][...] = 1
        views[1][...] = 0

    def c_fields(self, start, stream):
        row = super().c_fields(start, stream)
        row.update(b_offset=start + self.channels, eps=self.epsilon)
        return row

    @staticmethod
    def _normalise(x2, mean, inv, gamma, beta):
        """gamma ((x - mean) inv) + beta in x's dtype, as the C core computes it"""
        return gamma * ((x2 - mean) * inv) + beta


class BatchNormalization(_Normalization):
    """Batch normalisation (Keras's BatchNormalization): per channel, while training, the
    batch's mean and variance (biased) over all rows and positions; otherwise the running
    mean and variance, which each training step moves as ``running = momentum * running +
    (1 - momentum) * batch`` (they start at 0 and 1). The running statistics are the
    model's state: saved with it, not trained by the optimizer. Works on vectors, sequences
    and images. predict, loss and gradient use the running statistics; L-BFGS (which needs
    a deterministic loss) is not available for models with it."""

    kind = "batchnorm"

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3) -> None:
        super().__init__(epsilon)
        from ._validation import check_nonnegative_float
        momentum = check_nonnegative_float(momentum, "BatchNormalization momentum")
        if momentum > 1:
            raise ValueError(f"BatchNormalization momentum must be in [0, 1]; got {momentum}")
        self.momentum = momentum

    @property
    def n_state(self):
        return 2 * self.channels

    def state_views(self, flat, start):
        """(running mean (C,), running variance (C,)) views of the state buffer"""
        c = self.channels
        return flat[start:start + c], flat[start + c:start + 2 * c]

    def init_state(self, views):
        views[0][...] = 0
        views[1][...] = 1

    def c_fields(self, start, stream):
        row = super().c_fields(start, stream)
        row.update(momentum=self.momentum)
        return row

    def _batch_statistics(self, x2):
        """mean, variance (float64, biased) and 1 / sqrt(var + eps) per channel, summed in
        double in row order, as csrc/ops/norm.c does"""
        mean = x2.sum(axis=0, dtype=np.float64) / x2.shape[0]
        var = np.square(x2.astype(np.float64) - mean).sum(axis=0) / x2.shape[0]
        return mean, var, 1.0 / np.sqrt(var + self.epsilon)

    def forward(self, params, at, xs, drop, stream, state=None):
        gamma, beta = self.views(params, at)
        x = xs[0]
        t = x.dtype.type
        x2 = _channels_last(x)
        if drop is not None:
            mean, var, inv = self._batch_statistics(x2)
            kept = (mean.astype(x.dtype), var.astype(x.dtype), inv.astype(x.dtype))
        else:
            running_mean, running_var = state
            inv = (1.0 / np.sqrt(running_var.astype(np.float64) + self.epsilon)).astype(x.dtype)
            kept = (running_mean, None, inv)
        a2 = self._normalise(x2, kept[0], kept[2], gamma, beta)
        return _back_to(a2.astype(x.dtype, copy=False), x), kept

    def backward(self, params, at, d, xs, a, kept, drop, stream, is_output, need,
                 state=None):
        gamma, _ = self.views(params, at)
        x = xs[0]
        mean, _, inv = kept
        x2, d2 = _channels_last(x), _channels_last(d)
        xhat = (x2 - mean) * inv
        sd = d2.sum(axis=0, dtype=np.float64)
        sdx = (d2 * xhat).sum(axis=0, dtype=np.float64)
        dgamma, dbeta = sdx.astype(x.dtype), sd.astype(x.dtype)
        if not need[0]:
            return dgamma, dbeta, [None]
        rows = x2.shape[0]
        t = x.dtype.type
        if drop is None:  # the running statistics: an affine map per channel
            scale = (gamma.astype(np.float64) * inv.astype(np.float64)).astype(x.dtype)
            dx2 = d2 * scale
        else:
            scale = (gamma.astype(np.float64) * inv.astype(np.float64) / rows).astype(x.dtype)
            dx2 = scale * (t(rows) * d2 - sd.astype(x.dtype) - xhat * sdx.astype(x.dtype))
        return dgamma, dbeta, [_back_to(dx2, x)]

    def update_state(self, views, kept):
        mean, var, _ = kept
        m = self.momentum
        for running, batch in zip(views, (mean, var)):
            running[...] = (m * running.astype(np.float64)
                            + (1.0 - m) * batch.astype(np.float64)).astype(running.dtype)

    def config(self):
        return {"momentum": self.momentum, "epsilon": self.epsilon}

    def __repr__(self):
        return f"BatchNormalization(momentum={self.momentum}, epsilon={self.epsilon})"


class LayerNormalization(_Normalization):
    """Layer normalisation (Keras's LayerNormalization on the last axis): each position's
    channels (a vector's values, each step of a sequence) normalised by their own mean and
    (biased) variance, then scaled and offset per channel. Vectors and sequences."""

    kind = "layernorm"

    def _output_shape(self, shape):
        if len(shape) == 3:
            raise ValueError(f"{self._where()} normalises the last axis of vectors (n,) and "
                             f"sequences (T, C); it gets an image of shape {shape}")
        return super()._output_shape(shape)

    def _row_statistics(self, x2):
        """mean and 1 / sqrt(var + eps) of each row, in double, in x's dtype"""
        mean = x2.sum(axis=1, dtype=np.float64, keepdims=True) / x2.shape[1]
        var = np.square(x2.astype(np.float64) - mean).sum(axis=1, keepdims=True) / x2.shape[1]
        return mean.astype(x2.dtype), (1.0 / np.sqrt(var + self.epsilon)).astype(x2.dtype)

    def forward(self, params, at, xs, drop, stream):
        gamma, beta = self.views(params, at)
        x = xs[0]
        x2 = _channels_last(x)
        mean, inv = self._row_statistics(x2)
        return _back_to(self._normalise(x2, mean, inv, gamma, beta), x), None

    def backward(self, params, at, d, xs, a, kept, drop, stream, is_output, need):
        gamma, _ = self.views(params, at)
        x = xs[0]
        x2, d2 = _channels_last(x), _channels_last(d)
        mean, inv = self._row_statistics(x2)
        xhat = (x2 - mean) * inv
        dgamma, dbeta = (d2 * xhat).sum(axis=0), d2.sum(axis=0)
        if not need[0]:
            return dgamma, dbeta, [None]
        c = x2.shape[1]
        t = x.dtype.type
        dxhat = d2 * gamma
        s1 = dxhat.sum(axis=1, dtype=np.float64, keepdims=True).astype(x.dtype)
        s2 = (dxhat * xhat).sum(axis=1, dtype=np.float64, keepdims=True).astype(x.dtype)
        scale = (inv.astype(np.float64) / c).astype(x.dtype)
        return dgamma, dbeta, [_back_to(scale * (t(c) * dxhat - s1 - xhat * s2), x)]

    def config(self):
        return {"epsilon": self.epsilon}

    def __repr__(self):
        return f"LayerNormalization(epsilon={self.epsilon})"


class _Merge(Layer):
    """a layer that joins several nodes of a graph (at least two)"""

    min_inputs, max_inputs = 2, 64   # BN_MAX_INPUTS in csrc/ops/ops.h

    def _check_count(self, shapes):
        if not self.min_inputs <= len(shapes) <= self.max_inputs:
            raise ValueError(f"{self._where()} joins {self.min_inputs} to {self.max_inputs} "
                             f"inputs; it gets {len(shapes)}")

    def _same_shapes(self, shapes):
        self._check_count(shapes)
        for i, shape in enumerate(shapes[1:], 1):
            if shape != shapes[0]:
                raise ValueError(f"{self._where()} needs inputs of one shape: "
                                 f"{self._describe_input(0)} has shape {shapes[0]}, "
                                 f"{self._describe_input(i)} has shape {shape}")
        return shapes[0]

    def _describe_input(self, i):
        names = getattr(self, "_input_names", None)
        return f"input {i} ({names[i]})" if names else f"input {i}"

    def __repr__(self):
        return f"{type(self).__name__}()"


class Add(_Merge):
    """the sum of its inputs, which all have one shape (a residual connection:
    ``Add()([h, x])``)"""

    kind = "add"

    def _output_shape(self, shapes):
        return self._same_shapes(shapes)

    def forward(self, params, at, xs, drop, stream):
        a = xs[0]
        for x in xs[1:]:
            a = a + x
        return a, None

    def backward(self, params, at, d, xs, a, z, drop, stream, is_output, need):
        return None, None, [d.copy() if n else None for n in need]


class Multiply(_Merge):
    """the elementwise product of its inputs, which all have one shape"""

    kind = "multiply"

    def _output_shape(self, shapes):
        return self._same_shapes(shapes)

    def forward(self, params, at, xs, drop, stream):
        a = xs[0]
        for x in xs[1:]:
            a = a * x
        return a, None

    def backward(self, params, at, d, xs, a, z, drop, stream, is_output, need):
        dxs = []
        for i, n in enumerate(need):
            if not n:
                dxs.append(None)
                continue
            g = d
            for j, x in enumerate(xs):
                if j != i:
                    g = g * x
            dxs.append(g)
        return None, None, dxs


class Concatenate(_Merge):
    """its inputs side by side along the channel axis: the first axis of images (C, H, W)
    (which then share H and W), the last of sequences (T, C) (which share T) and vectors"""

    kind = "concatenate"

    def _output_shape(self, shapes):
        self._check_count(shapes)
        rank = len(shapes[0])
        axis = 0 if rank == 3 else rank - 1
        for i, shape in enumerate(shapes[1:], 1):
            rest = lambda s: s[:axis] + s[axis + 1:]
            if len(shape) != rank or rest(shape) != rest(shapes[0]):
                raise ValueError(f"{self._where()} joins inputs along channels, so the other "
                                 f"axes must agree: {self._describe_input(0)} has shape "
                                 f"{shapes[0]}, {self._describe_input(i)} has shape {shape}")
        self._axis = axis + 1  # in (N, ...) arrays
        out = list(shapes[0])
        out[axis] = sum(shape[axis] for shape in shapes)
        return tuple(out)

    def forward(self, params, at, xs, drop, stream):
        return np.concatenate(xs, axis=self._axis), None

    def backward(self, params, at, d, xs, a, z, drop, stream, is_output, need):
        bounds = np.cumsum([x.shape[self._axis] for x in xs])[:-1]
        parts = np.split(d, bounds, axis=self._axis)
        return None, None, [np.ascontiguousarray(p) if n else None
                            for p, n in zip(parts, need)]


class Embedding(Layer):
    """Token ids (T,) -> vectors (T, output_dim): row `id` of a table (input_dim,
    output_dim) at each step, like Keras's Embedding. X holds integer ids in
    0..input_dim-1 (any integer or float dtype holding integers; checked).
    With mask_zero=True, id 0 is padding: the layers after it that read masks (recurrent
    layers, the sequence cross-entropy) skip those steps. The table starts uniform in
    [-0.05, 0.05] (Keras's default); it is not penalised by l1/l2."""

    kind = EMBEDDING

    def __init__(self, input_dim: int, output_dim: int, *, mask_zero: bool = False) -> None:
        self.input_dim = _check_size_arg(input_dim, "input_dim", "Embedding")
        self.output_dim = _check_size_arg(output_dim, "output_dim", "Embedding")
        if not isinstance(mask_zero, (bool, np.bool_)):
            raise TypeError(f"Embedding mask_zero must be True or False; got {mask_zero!r}")
        self.mask_zero = bool(mask_zero)
        if self.mask_zero and self.input_dim < 2:
            raise ValueError("Embedding(mask_zero=True) reserves id 0 for padding, so "
                             f"input_dim must be at least 2; got {input_dim}")
        self.makes_mask = self.mask_zero

    def _output_shape(self, shape):
        if len(shape) != 1:
            raise ValueError(f"{self._where()} needs token ids of shape (T,) per sample; it "
                             f"gets {_rank_name(shape)} of shape {shape}")
        return (shape[0], self.output_dim)

    def sample_sizes(self):
        sizes = super().sample_sizes()
        sizes["table"] = self.input_dim * self.output_dim
        return sizes

    @property
    def n_params(self):
        return self.input_dim * self.output_dim

    def views(self, flat, start):
        """(the table (input_dim, output_dim), None)"""
        return flat[start:start + self.n_params].reshape(self.input_dim, self.output_dim), None

    def initialise(self, views, rng):
        table = views[0]
        draw = (np.random.uniform(-0.05, 0.05, table.shape) if rng is None
                else rng.uniform(-0.05, 0.05, table.shape))
        table[...] = draw

    def passes_mask(self):
        return False

    def compute_mask(self, xs):
        return (xs[0] != 0).astype(xs[0].dtype)

    def c_fields(self, start, stream):
        row = super().c_fields(start, stream)
        steps = self.input_shape[0]
        row.update(in_h=1, in_w=steps, in_c=1, table_rows=self.input_dim,
                   mask_out=int(self.mask_zero))
        return row

    def config(self):
        return {"input_dim": self.input_dim, "output_dim": self.output_dim,
                "mask_zero": self.mask_zero}

    def forward(self, params, at, xs, drop, stream):
        table = self.views(params, at)[0]
        return table[xs[0].astype(np.int64)], None

    def backward(self, params, at, d, xs, a, z, drop, stream, is_output, need):
        ids = xs[0].astype(np.int64).reshape(-1)
        dtable = np.zeros((self.input_dim, self.output_dim), dtype=d.dtype)
        np.add.at(dtable, ids, d.reshape(-1, self.output_dim))  # in row order, as in C
        return dtable, None, [np.zeros_like(xs[0]) if need[0] else None]

    def __repr__(self):
        mask = ", mask_zero=True" if self.mask_zero else ""
        return f"Embedding({self.input_dim}, {self.output_dim}{mask})"


class Masking(Layer):
    """Padding in a sequence of values (T, C), like Keras's Masking: a step whose C values
    all equal mask_value is padding. The layers after it that read masks (recurrent
    layers, the sequence cross-entropy) skip those steps; the layer's own output is the
    input with padded steps set to zero. To pad sequences of different lengths, fill each
    row's steps past its length with mask_value (barenet.datasets.pad_sequences)."""

    kind = MASKING
    makes_mask = True

    def __init__(self, mask_value: float = 0.0) -> None:
        from ._validation import check_finite_float
        self.mask_value = check_finite_float(mask_value, "Masking mask_value")

    def _output_shape(self, shape):
        if len(shape) != 2:
            raise ValueError(f"{self._where()} needs a sequence input (T, C); it gets "
                             f"{_rank_name(shape)} of shape {shape}")
        return shape

    def passes_mask(self):
        return False

    def compute_mask(self, xs):
        x = xs[0]
        return (x != x.dtype.type(self.mask_value)).any(axis=-1).astype(x.dtype)

    def c_fields(self, start, stream):
        row = super().c_fields(start, stream)
        row.update(mask_out=1, mask_value=self.mask_value)
        return row

    def config(self):
        return {"mask_value": self.mask_value}

    def forward(self, params, at, xs, drop, stream):
        return xs[0] * self.compute_mask(xs)[..., None], None

    def backward(self, params, at, d, xs, a, z, drop, stream, is_output, need):
        return None, None, [d * self.compute_mask(xs)[..., None] if need[0] else None]

    def __repr__(self):
        return f"Masking(mask_value={self.mask_value!r})"


# the recurrent kinds live in their own module (barenet.recurrent), importable from here too
from .recurrent import GRU, LSTM, Bidirectional, SimpleRNN  # noqa: E402,F401

# the attention kinds live in their own module; their classes are layers too
from .attention import MultiHeadAttention, PositionalEmbedding  # noqa: E402,F401
