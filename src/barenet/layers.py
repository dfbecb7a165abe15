"""Layers: what a network is a sequence of. A layer is described by the user (units,
kernel size, ...), then built by its model for an input shape, which fixes its output
shape, its parameter count and where its parameters sit in the model's one flat buffer.
Shapes are channels-first, as the user sees them: (C, H, W) for images, (n,) for flat
vectors. The backends compute with the layers: the NumPy reference on these shapes, the
C core (csrc/layers.h) on the rows of C_FIELDS each layer describes itself as.

Size limits: building a layer refuses (ValueError naming the layer) any layer whose input,
output, padded input or unfolded convolution input would hold more than MAX_SAMPLE_VALUES
values per sample, and every size argument (units, filters, kernel_size, stride, padding,
pool_size) must be at most MAX_SAMPLE_VALUES. All sizes are exact Python integers, so no
size wraps; the C core checks its own workspace arithmetic again (csrc/checked.h)."""

import math

import numpy as np

from . import _activations

# bn_layer's int64 fields, in order (csrc/layers.h); `rate` travels beside them
C_FIELDS = ("kind", "activation", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "kh", "kw",
            "sh", "sw", "pad_top", "pad_left", "w_offset", "b_offset", "stream")
DENSE, CONV2D, MAXPOOL2D, AVGPOOL2D, FLATTEN, DROPOUT = range(6)

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
    """(h, w, c) of a channels-first shape (C, H, W) or a flat one (n,)"""
    return (1, 1, shape[0]) if len(shape) == 1 else (shape[1], shape[2], shape[0])


def _check_activation(activation, layer, allow_softmax):
    if activation is None:
        activation = "identity"
    if activation not in _activations.IDS or (activation == "softmax" and not allow_softmax):
        names = [n for n in _activations.IDS if allow_softmax or n != "softmax"]
        raise ValueError(f"{layer}: activation must be one of {names}; got {activation!r}")
    return activation


class Layer:
    """Base: a layer without parameters. Subclasses set `kind` and build()."""

    kind = None
    n_params = 0
    rate = 0.0    # dropout rate (Dropout's own); every layer has one for the C rows
    index = None  # position in the model, set by build (for error messages)

    def build(self, input_shape, index):
        """fix the shapes for input_shape; returns the output shape. ValueError when the
        input does not suit the layer or the layer would exceed MAX_SAMPLE_VALUES."""
        self.input_shape, self.index = tuple(input_shape), index
        self.output_shape = self._output_shape(self.input_shape)
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

    def views(self, flat, start):
        """views of this layer's parameters in flat: (weights, bias), or () without any"""
        return ()

    def initialise(self, views, rng):
        pass

    def c_fields(self, start, stream):
        """this layer as a row of C_FIELDS when its parameters start at `start`"""
        (ih, iw, ic), (oh, ow, oc) = _hwc(self.input_shape), _hwc(self.output_shape)
        row = dict.fromkeys(C_FIELDS, 0)
        row.update(kind=self.kind, in_h=ih, in_w=iw, in_c=ic, out_h=oh, out_w=ow, out_c=oc,
                   w_offset=start, b_offset=-1, stream=stream)
        return row

    def config(self):
        """the constructor's arguments, for save/load"""
        return {}


class Dense(Layer):
    """A fully connected layer on flat inputs (n_in,): z = x @ W + b, a = activation(z),
    with W of shape (n_in, n_out) and b of shape (1, n_out) viewed from the flat parameter
    buffer. Weights start He-normal (``randn * sqrt(2 / n_in)``), biases at zero."""

    kind = DENSE

    def __init__(self, units, activation="identity", *, use_bias=True):
        self.n_out = _check_size_arg(units, "units", "Dense")
        self.n_in = None
        self.activation = _check_activation(activation, f"Dense({units})", allow_softmax=True)
        self.activation_id = _activations.IDS[self.activation]
        self.use_bias = bool(use_bias)

    @property
    def units(self):
        return self.n_out

    def _output_shape(self, shape):
        if len(shape) != 1:
            raise ValueError(f"{self._where()} needs a flat input (n,); it gets shape "
                             f"{shape}: put Flatten() before it")
        self.n_in = shape[0]
        return (self.n_out,)

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
        row.update(activation=self.activation_id,
                   b_offset=start + self.n_in * self.n_out if self.use_bias else -1)
        return row

    def config(self):
        return {"units": self.n_out, "activation": self.activation, "use_bias": self.use_bias}

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

    def __init__(self, filters, kernel_size, stride=1, padding="valid", *,
                 activation="identity", use_bias=True):
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
        self.activation_id = _activations.IDS[self.activation]
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
        row.update(activation=self.activation_id, kh=kh, kw=kw, sh=sh, sw=sw, pad_top=top,
                   pad_left=left,
                   b_offset=start + kh * kw * self.in_channels * self.filters
                   if self.use_bias else -1)
        return row

    def config(self):
        return {"filters": self.filters, "kernel_size": list(self.kernel_size),
                "stride": list(self.stride),
                "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
                "activation": self.activation, "use_bias": self.use_bias}

    def __repr__(self):
        return (f"Conv2D({self.filters}, {self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding!r}, activation={self.activation!r})")


class _Pool2D(Layer):
    """pooling over windows of pool_size, moved by stride (default: pool_size), no padding;
    output (C, (H - KH) // SH + 1, (W - KW) // SW + 1)"""

    def __init__(self, pool_size=2, stride=None):
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


class AvgPool2D(_Pool2D):
    """the mean of each window"""

    kind = AVGPOOL2D


class Flatten(Layer):
    """(C, H, W) -> (C H W,), in channels-first order (as x.reshape(n, -1))"""

    kind = FLATTEN

    def _output_shape(self, shape):
        return (math.prod(shape),)

    def __repr__(self):
        return "Flatten()"


class Dropout(Layer):
    """Inverted dropout: while training, each value is zeroed with probability `rate` and
    the others are scaled by 1 / (1 - rate); identity otherwise. Masks come from barenet's
    counter-based generator, so both backends draw the same ones."""

    kind = DROPOUT

    def __init__(self, rate):
        from ._validation import check_rate
        self.rate = check_rate(rate, "Dropout rate")

    def config(self):
        return {"rate": self.rate}

    def __repr__(self):
        return f"Dropout({self.rate})"


KINDS = {cls.__name__: cls for cls in (Dense, Conv2D, MaxPool2D, AvgPool2D, Flatten, Dropout)}
