"""Export to ONNX (barenet.onnx.export, Sequential.to_onnx) of chains and graph models
(Model: residual Add, Multiply, Concatenate), checked by onnx.checker and meant to run in
onnxruntime with predict's results; and, when skl2onnx is installed, the skl2onnx
converters for barenet.sklearn.MLPClassifier/MLPRegressor, registered on
`import barenet.onnx`. Each layer kind is one entry of CONVERTERS (layer class -> function
that adds its nodes); the model is read through its layers (config and shapes), their
edges, the weights/biases and the layers' state (BatchNormalization's running statistics).
Recurrent layers use ONNX's RNN/LSTM/GRU in float32 without a step mask and a Scan of the
cell otherwise; attention is a composition of plain ops; step masks are computed in the
graph for the converters that read them (docs/onnx.md). Needs `pip install barenet[onnx]`."""

import json
import math
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("barenet.onnx needs the onnx package: pip install 'barenet[onnx]' "
                      f"(or pip install onnx onnxruntime); {exc}") from exc

from . import _activations
from ._typing import PathLike
from ._validation import check_bool
from .io import atomic_write
from .attention import MultiHeadAttention, PositionalEmbedding, sinusoidal_table
from .layers import (Activation, Add, AvgPool2D, BatchNormalization, Concatenate, Conv2D,
                     Dense, Dropout, Embedding, Flatten, GlobalAveragePooling1D,
                     GlobalMaxPooling1D, LayerNormalization, Masking, MaxPool2D, Multiply)
from .recurrent import RNN_ACTIVATIONS, Bidirectional, _Recurrent

if TYPE_CHECKING:
    from .network import Sequential

__all__ = ["export", "to_model_proto", "register_skl2onnx", "CONVERTERS", "ACTIVATIONS",
           "GraphBuilder", "DEFAULT_OPSET", "MIN_OPSET", "NotExportableError"]

DEFAULT_OPSET = 17   # onnx >= 1.12, onnxruntime >= 1.13
MIN_OPSET = 13       # Softmax over one axis, Slice/Pad/Reduce with tensor inputs

_ONNX_TYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}


class NotExportableError(ValueError):
    """A model (or one of its layers) that barenet cannot write as ONNX; the message names
    the layer."""


class GraphBuilder:
    """Collects nodes and initialisers of one ONNX graph. The dense converters use only
    name(), const() and op(), so the same converter code serves skl2onnx's container too
    (_ContainerBuilder); the recurrent ones also append multi-output nodes (RNN, Scan) to
    nodes and build Scan bodies with subgraph(). dtype is the float type the graph
    computes in."""

    def __init__(self, dtype, opset=DEFAULT_OPSET):
        self.dtype = np.dtype(dtype)
        self.opset = int(opset)
        self.nodes, self.initializers, self._count = [], [], 0

    def name(self, hint):
        self._count += 1
        return f"{hint}_{self._count}"

    def subgraph(self):
        """a builder for a control-flow body (Scan): its own nodes; names and initialisers
        (read from the outer scope) are this builder's"""
        return _BodyBuilder(self)

    def const(self, array, hint="const"):
        """an initialiser holding array (as given: cast floats with self.float first)"""
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, hint=None, **attrs):
        """one node; returns its (single) output's name"""
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out],
                                           name=self.name(op_type), **attrs))
        return out

    def float(self, value):
        """value as an array of the graph's float type"""
        return np.asarray(value, dtype=self.dtype)

    def ints(self, values):
        return np.asarray(values, dtype=np.int64)

    def reduce(self, op_type, x, axes, keepdims):
        """ReduceSum/ReduceMean/ReduceMax over axes: the axes are an input from opset 13
        (ReduceSum) or 18 (the others), an attribute before"""
        if self.opset >= (13 if op_type == "ReduceSum" else 18):
            return self.op(op_type, [x, self.const(self.ints(axes), "axes")],
                           keepdims=int(keepdims))
        return self.op(op_type, [x], axes=list(axes), keepdims=int(keepdims))


class _BodyBuilder(GraphBuilder):
    """the nodes of a subgraph; names and constants come from the enclosing builder"""

    def __init__(self, outer):
        super().__init__(outer.dtype, outer.opset)
        self.outer = outer

    def name(self, hint):
        return self.outer.name(hint)

    def const(self, array, hint="const"):
        return self.outer.const(array, hint)


# -- activations: barenet name -> nodes ----------------------------------------------------
# Derived with mpmath (50 digits): the Chebyshev coefficients c_k, in u = 2t - 1 on
# t in (0, 1], of f(t) = log(erfc(x) / t) + x^2 with x = 2 / t - 2; the terms after c_27
# are below 3e-17. Then erfc(x) = t exp(-x^2 + c_0 / 2 + sum_k>=1 c_k T_k(u)) for x >= 0,
# to full double precision, evaluated by Clenshaw's recurrence.
_ERFC_CHEBYSHEV = (
    -1.3026537197817094342, 0.6419697923564902603, 0.019476473204185836312,
    -0.0095615147868086316419, -0.0009465953444820368663, 0.00036683949785276145187,
    4.2523324806907771645e-05, -2.0278578112534243154e-05, -1.6242900046470255135e-06,
    1.3036558355805232018e-06, 1.5626441722066143178e-08, -8.5238095914926542525e-08,
    6.5290544390988514964e-09, 5.0593434955514689418e-09, -9.9136415649303308674e-10,
    -2.2736512229318358557e-10, 9.646791102015526802e-11, 2.3940380830391147447e-12,
    -6.8860275264975533984e-12, 8.9448792730907257167e-13, 3.1309213993429580783e-13,
    -1.1270822361367252366e-13, 3.8109052551892320552e-16, 7.1060976136092369878e-15,
    -1.5230282014571043043e-15, -9.4574945712912340005e-17, 1.2102371892242789923e-16,
    -2.8166630877471769718e-17)


def _erfc(g, y):
    """erfc(y) from elementwise ops (onnxruntime has no double Erf): the Chebyshev form
    above on |y|, and erfc(y) = 2 - erfc(-y) for y < 0"""
    c = [g.const(g.float(v), "erfc_c") for v in _ERFC_CHEBYSHEV]
    x = g.op("Abs", [y])
    two = g.const(g.float(2), "two")
    t = g.op("Div", [two, g.op("Add", [two, x])])
    ty = g.op("Sub", [g.op("Mul", [g.const(g.float(4), "four"), t]), two])   # 2u
    d, dd = c[-1], None
    for ck in reversed(c[1:-1]):  # d_k = 2u d_k+1 - d_k+2 + c_k
        step = g.op("Mul", [ty, d])
        if dd is not None:
            step = g.op("Sub", [step, dd])
        d, dd = g.op("Add", [step, ck]), d
    # c_0 / 2 + u d_1 - d_2 = (c_0 + 2u d_1) / 2 - d_2
    half = g.const(g.float(0.5), "half")
    series = g.op("Sub", [g.op("Mul", [half, g.op("Add", [c[0], g.op("Mul", [ty, d])])]), dd])
    r = g.op("Mul", [t, g.op("Exp", [g.op("Sub", [series, g.op("Mul", [x, x])])])])
    nonneg = g.op("GreaterOrEqual", [y, g.const(g.float(0), "zero")])
    return g.op("Where", [nonneg, r, g.op("Sub", [two, r])])


def _gelu(g, z):
    """barenet's exact GELU, z Phi(z) = 0.5 z (1 + erf(z / sqrt 2)): in float32 with ONNX's
    Erf, in float64 as 0.5 z erfc(-z / sqrt 2) through _erfc"""
    half = g.const(g.float(0.5), "half")
    if g.dtype == np.float32:
        scaled = g.op("Mul", [z, g.const(g.float(np.sqrt(0.5)), "rsqrt2")])
        one_plus = g.op("Add", [g.const(g.float(1), "one"), g.op("Erf", [scaled])])
    else:
        one_plus = _erfc(g, g.op("Mul", [z, g.const(g.float(-np.sqrt(0.5)), "neg_rsqrt2")]))
    return g.op("Mul", [g.op("Mul", [half, z]), one_plus])


def _leaky_relu(g, z):
    """LeakyRelu in float32; in float64 where(z > 0, z, 0.01 z), since LeakyRelu's alpha
    attribute is a float32 (0.01 would become 0.0099999998)"""
    if g.dtype == np.float32:
        return g.op("LeakyRelu", [z], alpha=float(_activations.LEAKY_SLOPE))
    positive = g.op("Greater", [z, g.const(g.float(0), "zero")])
    return g.op("Where", [positive, z, g.op("Mul", [z, g.const(g.float(_activations.LEAKY_SLOPE),
                                                               "slope")])])


ACTIVATIONS = {
    "identity": lambda g, z: z,
    "relu": lambda g, z: g.op("Relu", [z]),
    "sigmoid": lambda g, z: g.op("Sigmoid", [z]),
    "tanh": lambda g, z: g.op("Tanh", [z]),
    "leaky_relu": _leaky_relu,
    "gelu": _gelu,
    "softmax": lambda g, z: g.op("Softmax", [z], axis=-1),  # over the outputs of a row
    "exp": lambda g, z: g.op("Exp", [z]),
}
assert set(ACTIVATIONS) == set(_activations.NAMES), "an activation without an ONNX form"


# -- layers: class -> converter(g, layer, inputs, params, state) -> output name ------------
# A converter in MASK_READERS is also given mask=: the bool (N, T)
# step mask its input carries (to_model_proto builds it once per mask-making layer), or
# None. inputs: the names of the layer's input tensors (one, or several for a merge layer);
# params: (weights, bias) as the model's weights/biases lists give them, or (); state: the
# layer's views of the model's state buffer (BatchNormalization's running mean and
# variance), or (). Tensors keep barenet's user-facing layout: images (N, C, H, W),
# sequences (N, T, C), vectors (N, n).

def dense_layer(g, w, b, activation, x):
    """x @ W (+ b), then the activation: W (n_in, n_out), b (1, n_out) or None; x (N, n_in)
    or a sequence (N, T, n_in) (MatMul acts on the last axis)"""
    z = g.op("MatMul", [x, g.const(g.float(w), "W")])
    if b is not None:
        z = g.op("Add", [z, g.const(g.float(np.reshape(b, -1)), "b")])
    return ACTIVATIONS[activation](g, z)


def _dense(g, layer, inputs, params, state):
    w, b = params
    return dense_layer(g, w, b, layer.activation, inputs[0])


def _windows(g, x, size, stride, out_hw):
    """the size[0] * size[1] strided slices (N, C, OH, OW) of x (N, C, H, W), window
    offset (i, j) in row-major order: slice (i, j) holds x[:, :, i + y sh, j + x sw]"""
    (kh, kw), (sh, sw), (oh, ow) = size, stride, out_hw
    out = []
    for i in range(kh):
        for j in range(kw):
            out.append(g.op("Slice", [x, g.const(g.ints([i, j]), "starts"),
                                      g.const(g.ints([i + (oh - 1) * sh + 1,
                                                      j + (ow - 1) * sw + 1]), "ends"),
                                      g.const(g.ints([2, 3]), "axes"),
                                      g.const(g.ints([sh, sw]), "steps")]))
    return out


def _conv2d(g, layer, inputs, params, state):
    """float32: ONNX Conv (pads top, left, bottom, right: barenet's 'same' puts the odd
    pixel bottom/right). float64 (onnxruntime has no double Conv): im2col in the graph,
    Pad, the KH*KW window slices concatenated along channels ((i*KW + j)*C + c, the order
    of W.reshape(KH*KW*C, F)), one MatMul, the bias and activation, back to (N, F, OH, OW)."""
    w, b = params
    x = inputs[0]
    top, bottom, left, right = layer.pads()
    f, oh, ow = layer.output_shape
    if g.dtype == np.float32:
        conv_in = [x, g.const(g.float(w.transpose(3, 2, 0, 1)), "W")]   # (F, C, KH, KW)
        if b is not None:
            conv_in.append(g.const(g.float(b), "b"))
        z = g.op("Conv", conv_in, kernel_shape=list(layer.kernel_size),
                 strides=list(layer.stride), pads=[top, left, bottom, right])
        return ACTIVATIONS[layer.activation](g, z)
    if top or bottom or left or right:
        x = g.op("Pad", [x, g.const(g.ints([0, 0, top, left, 0, 0, bottom, right]), "pads")])
    cols = g.op("Concat", _windows(g, x, layer.kernel_size, layer.stride, (oh, ow)), axis=1)
    rows = g.op("Transpose", [cols], perm=[0, 2, 3, 1])              # (N, OH, OW, KH*KW*C)
    z = g.op("MatMul", [rows, g.const(g.float(w.reshape(-1, f)), "W")])   # (N, OH, OW, F)
    if b is not None:
        z = g.op("Add", [z, g.const(g.float(b), "b")])
    return g.op("Transpose", [ACTIVATIONS[layer.activation](g, z)], perm=[0, 3, 1, 2])


def _maxpool2d(g, layer, inputs, params, state):
    return g.op("MaxPool", [inputs[0]], kernel_shape=list(layer.pool_size),
                strides=list(layer.stride))


def _avgpool2d(g, layer, inputs, params, state):
    """float32: AveragePool; float64 (none in onnxruntime): the window slices' Sum times
    1 / (KH KW)"""
    if g.dtype == np.float32:
        return g.op("AveragePool", [inputs[0]], kernel_shape=list(layer.pool_size),
                    strides=list(layer.stride))
    _, oh, ow = layer.output_shape
    kh, kw = layer.pool_size
    total = g.op("Sum", _windows(g, inputs[0], layer.pool_size, layer.stride, (oh, ow)))
    return g.op("Mul", [total, g.const(g.float(1.0 / (kh * kw)), "inv_area")])


def _global_avgpool1d(g, layer, inputs, params, state):
    """(N, T, C) -> (N, C): the sum over the steps times 1 / T, as barenet computes it"""
    total = g.reduce("ReduceSum", inputs[0], [1], keepdims=False)
    return g.op("Mul", [total, g.const(g.float(1.0 / layer.input_shape[0]), "inv_steps")])


def _global_maxpool1d(g, layer, inputs, params, state):
    """(N, T, C) -> (N, C): the maximum over the steps"""
    return g.reduce("ReduceMax", inputs[0], [1], keepdims=False)


def _flatten(g, layer, inputs, params, state):
    """(N, C, H, W) -> (N, C*H*W) in channels-first order, as barenet flattens (a sequence
    (N, T, C) in its stored order)"""
    return g.op("Flatten", [inputs[0]], axis=1)


def _dropout(g, layer, inputs, params, state):
    """inference: the identity"""
    return g.op("Identity", [inputs[0]])


def _activation(g, layer, inputs, params, state):
    return ACTIVATIONS[layer.activation](g, inputs[0])


def _channels_to_axis1(g, layer, x):
    """(x with the channel axis second, the permutation that undoes it or None): a
    sequence (N, T, C) becomes (N, C, T); vectors (N, C) and images (N, C, H, W) already
    have their channels second"""
    if len(layer.input_shape) != 2:
        return x, None
    return g.op("Transpose", [x], perm=[0, 2, 1]), [0, 2, 1]


def _batchnorm(g, layer, inputs, params, state):
    """inference with the running statistics: ONNX BatchNormalization on the channel axis
    (a sequence is transposed to (N, C, T) and back). Its epsilon attribute is a float32,
    so it is 0 and the variance input is running_var + epsilon, added in float64 as
    barenet does."""
    gamma, beta = params
    mean, var = state
    x, undo = _channels_to_axis1(g, layer, inputs[0])
    var_eps = np.asarray(var, dtype=np.float64) + layer.epsilon
    y = g.op("BatchNormalization", [x, g.const(g.float(gamma), "gamma"),
                                    g.const(g.float(beta), "beta"),
                                    g.const(g.float(mean), "running_mean"),
                                    g.const(g.float(var_eps), "running_var_eps")],
             epsilon=0.0)
    return y if undo is None else g.op("Transpose", [y], perm=undo)


def _layernorm(g, layer, inputs, params, state):
    """ONNX LayerNormalization on the last axis in float32 from opset 17; otherwise (older
    opsets, and float64, where the op's float32 epsilon attribute would lose digits) the
    composition gamma ((x - mean) / sqrt(var + eps)) + beta with ReduceMean, variance
    biased, as barenet computes it"""
    gamma, beta = params
    x = inputs[0]
    if g.dtype == np.float32 and g.opset >= 17:
        return g.op("LayerNormalization", [x, g.const(g.float(gamma), "gamma"),
                                           g.const(g.float(beta), "beta")],
                    axis=-1, epsilon=float(layer.epsilon))
    centred = g.op("Sub", [x, g.reduce("ReduceMean", x, [-1], keepdims=True)])
    var = g.reduce("ReduceMean", g.op("Mul", [centred, centred]), [-1], keepdims=True)
    inv = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [var, g.const(
        g.float(layer.epsilon), "eps")])])])
    scaled = g.op("Mul", [g.const(g.float(gamma), "gamma"), g.op("Mul", [centred, inv])])
    return g.op("Add", [scaled, g.const(g.float(beta), "beta")])


def _fold(op_type):
    """Add / Multiply: the inputs combined left to right, (x0 op x1) op x2 ..., as barenet"""
    def convert(g, layer, inputs, params, state):
        out = inputs[0]
        for x in inputs[1:]:
            out = g.op(op_type, [out, x])
        return out
    return convert


def _concatenate(g, layer, inputs, params, state):
    """along the channel axis: 1 for images (N, C, H, W) and vectors, 2 for sequences"""
    return g.op("Concat", list(inputs), axis=layer._axis)


def _embedding(g, layer, inputs, params, state):
    """token ids (N, T) (the model's int64 input) -> (N, T, output_dim): Gather of the
    table's rows. Ids outside 0..input_dim-1 are an error in onnxruntime, as in predict.
    The padding mask of mask_zero=True reaches no exported layer (only the loss and
    recurrent layers read masks), so it adds nothing here."""
    table, _ = params
    return g.op("Gather", [g.const(g.float(table), "table"), inputs[0]], axis=0)


def _masking(g, layer, inputs, params, state):
    """(N, T, C): the steps whose C values all equal mask_value set to zero, x * mask with
    mask = max over C of (x != mask_value), as barenet computes its output"""
    x = inputs[0]
    other = g.op("Not", [g.op("Equal", [x, g.const(g.float(layer.mask_value), "mask_value")])])
    mask = g.reduce("ReduceMax", g.op("Cast", [other], to=_ONNX_TYPES[g.dtype]), [-1],
                    keepdims=True)
    return g.op("Mul", [x, mask])


# -- recurrent layers: ONNX's RNN/LSTM/GRU, or a Scan of the cell -------------------------
# barenet's gate blocks (Keras's order) -> ONNX's: LSTM i, f, c, o -> i, o, f, c; GRU z, r,
# h and RNN are the same
_ONNX_GATES = {"simplernn": (0,), "lstm": (0, 3, 1, 2), "gru": (0, 1, 2)}
_ONNX_RECURRENT_OPS = {"simplernn": "RNN", "lstm": "LSTM", "gru": "GRU"}
# SimpleRNN activations as ONNX's RNN operator names them: (name, alpha or None); in
# float32 LeakyRelu's float32 alpha is barenet's slope as barenet's float32 models hold it
_ONNX_RNN_ACTIVATIONS = {"tanh": ("Tanh", None), "relu": ("Relu", None),
                         "sigmoid": ("Sigmoid", None),
                         "leaky_relu": ("LeakyRelu", _activations.LEAKY_SLOPE),
                         "identity": ("Affine", 1.0)}
assert set(_ONNX_RNN_ACTIVATIONS) == set(RNN_ACTIVATIONS)
_INT64_MIN = -(2 ** 63)


def _time_reversed(g, x):
    """x (N, T, ...) with its steps in reverse order"""
    return g.op("Slice", [x, g.const(g.ints([-1]), "starts"), g.const(g.ints([_INT64_MIN]),
                                                                        "ends"),
                          g.const(g.ints([1]), "axes"), g.const(g.ints([-1]), "steps")])


def _uses_recurrent_op(g, layer, mask):
    """ONNX's own operator gives barenet's numbers: float32 (onnxruntime runs RNN, LSTM and
    GRU in float32 only) and no step mask (sequence_lens expresses padding at the end of a
    row only; barenet's mask may skip any step)"""
    return g.dtype == np.float32 and mask is None


def _recurrent_op(g, layer, x, cells):
    """ONNX's RNN/LSTM/GRU on x (N, T, C): Transpose to (T, N, C) (layout 0, every opset);
    go_backwards reverses the input's steps first, since barenet then gives its outputs in
    processing order (Keras's go_backwards) and Bidirectional's second direction runs the
    other way over that reversed input; Y (T, dirs, N, U) -> (N, T, dirs U), or Y_h
    (dirs, N, U) -> (N, dirs U)"""
    cell, u = layer.cell, layer.cell.units
    gates = _ONNX_GATES[cell.kind]
    def blocks(m):   # (rows, G U) in barenet's gate order -> (G U, rows) in ONNX's
        return np.concatenate([m[:, k * u:(k + 1) * u] for k in gates], axis=1).T
    ws, rs, bs = [], [], []
    for kernel, recurrent, bias in cells:
        ws.append(blocks(kernel))
        rs.append(blocks(recurrent))
        if cell.bias_rows == 2:     # GRU reset_after: the input bias, then the recurrent one
            b_in, b_rec = bias[0], bias[1]
        else:
            b_in, b_rec = bias, np.zeros_like(bias)
        bs.append(np.concatenate([blocks(b_in[None])[:, 0], blocks(b_rec[None])[:, 0]]))
    dirs = len(cells)
    attrs = dict(hidden_size=u, direction="bidirectional" if dirs == 2 else "forward")
    if cell.kind == "simplernn":
        name, alpha = _ONNX_RNN_ACTIVATIONS[cell.activation]
        attrs["activations"] = [name] * dirs
        if alpha is not None:       # Affine: alpha x + beta
            attrs["activation_alpha"] = [float(alpha)] * dirs
            if name == "Affine":
                attrs["activation_beta"] = [0.0] * dirs
    if cell.kind == "gru":
        attrs["linear_before_reset"] = int(cell.reset_after)
    if cell.go_backwards:
        x = _time_reversed(g, x)
    xt = g.op("Transpose", [x], perm=[1, 0, 2])
    y, y_h = g.name("Y"), g.name("Y_h")
    g.nodes.append(helper.make_node(
        _ONNX_RECURRENT_OPS[cell.kind],
        [xt, g.const(g.float(np.stack(ws)), "W"), g.const(g.float(np.stack(rs)), "R"),
         g.const(g.float(np.stack(bs)), "B")], [y, y_h], name=g.name(_ONNX_RECURRENT_OPS[
             cell.kind]), **attrs))
    width = dirs * u
    if cell.return_sequences:
        seq = g.op("Transpose", [y], perm=[2, 0, 1, 3])                 # (N, T, dirs, U)
        return g.op("Reshape", [seq, g.const(g.ints([0, 0, width]), "shape")])
    last = g.op("Transpose", [y_h], perm=[1, 0, 2])                      # (N, dirs, U)
    return g.op("Reshape", [last, g.const(g.ints([0, width]), "shape")])


def _cell_step(b, cell, recurrent, bias_rec, p, h, c):
    """one step of barenet's cell in the body builder b: (h, c or None) after it"""
    u = cell.units
    r = b.op("MatMul", [h, b.const(b.float(recurrent), "W_h")])
    if bias_rec is not None:
        r = b.op("Add", [r, b.const(b.float(bias_rec), "b_h")])

    def block(t, k):
        return b.op("Slice", [t, b.const(b.ints([k * u]), "starts"),
                              b.const(b.ints([(k + 1) * u]), "ends"),
                              b.const(b.ints([-1]), "axes")])
    if cell.kind == "simplernn":
        return ACTIVATIONS[cell.activation](b, b.op("Add", [p, r])), None
    if cell.kind == "lstm":
        pre = b.op("Add", [p, r])
        i, f = b.op("Sigmoid", [block(pre, 0)]), b.op("Sigmoid", [block(pre, 1)])
        gg, o = b.op("Tanh", [block(pre, 2)]), b.op("Sigmoid", [block(pre, 3)])
        c_new = b.op("Add", [b.op("Mul", [f, c]), b.op("Mul", [i, gg])])
        return b.op("Mul", [o, b.op("Tanh", [c_new])]), c_new
    z = b.op("Sigmoid", [b.op("Add", [block(p, 0), block(r, 0)])])
    rr = b.op("Sigmoid", [b.op("Add", [block(p, 1), block(r, 1)])])
    if cell.reset_after:
        n = b.op("Tanh", [b.op("Add", [block(p, 2), b.op("Mul", [rr, block(r, 2)])])])
    else:
        rh = b.op("Mul", [rr, h])
        n = b.op("Tanh", [b.op("Add", [block(p, 2), b.op(
            "MatMul", [rh, b.const(b.float(recurrent[:, 2 * u:]), "W_hn")])])])
    one_minus_z = b.op("Sub", [b.const(b.float(1), "one"), z])
    return b.op("Add", [b.op("Mul", [z, h]), b.op("Mul", [one_minus_z, n])]), None


def _recurrent_scan(g, layer, x, cells, mask):
    """the documented composition: per direction P = x W + b_x for all steps (one MatMul),
    then a Scan over the steps whose body is barenet's cell (MatMul, Sigmoid, Tanh, Mul,
    Add), in float32 and float64 (onnxruntime's RNN/LSTM/GRU are float32 only). A step mask
    (N, T) keeps the state over padded steps (Where), as barenet does. Scan's input
    direction is the processing order (go_backwards, Bidirectional's second direction);
    its output direction barenet's output positions (the second direction's put back in
    time order), as recurrent._RecurrentBase._order gives them."""
    cell, u = layer.cell, layer.cell.units
    states = cell.states
    zero = helper.make_tensor("value", _ONNX_TYPES[g.dtype], [1], [0.0])
    rows = g.op("Slice", [g.op("Shape", [x]), g.const(g.ints([0]), "starts"),
                          g.const(g.ints([1]), "ends")])
    h0 = g.op("ConstantOfShape", [g.op("Concat", [rows, g.const(g.ints([u]), "units")],
                                       axis=0)], value=zero)
    step_mask = None
    if mask is not None:
        step_mask = g.op("Unsqueeze", [mask, g.const(g.ints([-1]), "axes")])    # (N, T, 1)
    outs = []
    for d, (kernel, recurrent, bias) in enumerate(cells):
        b_in = bias[0] if cell.bias_rows == 2 else bias
        b_rec = bias[1] if cell.bias_rows == 2 else None
        p = g.op("Add", [g.op("MatMul", [x, g.const(g.float(kernel), "W")]),
                         g.const(g.float(b_in), "b")])                    # (N, T, G U)
        b = g.subgraph()
        t_ = _ONNX_TYPES[g.dtype]
        names = [b.name("h")] + ([b.name("c")] if states == 2 else [])
        p_t = b.name("p_t")
        body_in = [helper.make_tensor_value_info(n, t_, ["N", u]) for n in names]
        body_in.append(helper.make_tensor_value_info(p_t, t_, ["N", cell.gates * u]))
        m_t = None
        if step_mask is not None:
            m_t = b.name("m_t")
            body_in.append(helper.make_tensor_value_info(m_t, TensorProto.BOOL, ["N", 1]))
        h_new, c_new = _cell_step(b, cell, recurrent, b_rec, p_t, names[0],
                                  names[1] if states == 2 else None)
        if m_t is not None:
            h_new = b.op("Where", [m_t, h_new, names[0]])
            if c_new is not None:
                c_new = b.op("Where", [m_t, c_new, names[1]])
        new = [h_new] + ([c_new] if states == 2 else [])
        outs_body = [b.op("Identity", [v], "state") for v in new] + [
            b.op("Identity", [h_new], "y_t")]
        body = helper.make_graph(
            b.nodes, g.name("cell"), body_in,
            [helper.make_tensor_value_info(n, t_, ["N", u]) for n in outs_body])
        backwards = cell.go_backwards != (d == 1)
        scan_in = [p] + ([step_mask] if step_mask is not None else [])
        finals = [g.name("h_last")] + ([g.name("c_last")] if states == 2 else [])
        seq = g.name("h_seq")
        g.nodes.append(helper.make_node(
            "Scan", [h0] * states + scan_in, finals + [seq], name=g.name("Scan"), body=body,
            num_scan_inputs=len(scan_in), scan_input_axes=[1] * len(scan_in),
            scan_input_directions=[int(backwards)] * len(scan_in),
            scan_output_axes=[1], scan_output_directions=[int(d == 1)]))
        outs.append(seq if cell.return_sequences else finals[0])
    return outs[0] if len(outs) == 1 else g.op("Concat", outs, axis=-1)


def _recurrent(g, layer, inputs, params, state, mask=None):
    """SimpleRNN, LSTM, GRU and Bidirectional (dropout is the identity at inference):
    ONNX's RNN/LSTM/GRU where they give barenet's numbers (_uses_recurrent_op: float32, no
    step mask), otherwise the Scan of the cell (_recurrent_scan)"""
    cells = layer.unpack(*params)
    if _uses_recurrent_op(g, layer, mask):
        return _recurrent_op(g, layer, inputs[0], cells)
    return _recurrent_scan(g, layer, inputs[0], cells, mask)


# -- attention: a composition of MatMul, Softmax and elementwise ops -----------------------

def _attention(g, layer, inputs, params, state, mask=None):
    """MultiHeadAttention as barenet's forward computes it, in plain ONNX ops (not
    com.microsoft's Attention): Q, K, V = x W + b (N, T, E) -> (N, H, T, D) by Reshape and
    Transpose; S = (Q K^T) * (1 / sqrt D); the weights P = softmax over the keys, with the
    causal triangle and the padding mask (N, T) of the keys applied by Where; O = P V back
    to (N, T, E); out = O Wo + bo. Without a padding mask every query sees a key and
    Softmax is used; with one, P = e * (1 / sum e) where e = exp(S - max) over the allowed
    keys, so that a query without a valid key gets zero weights (output bo), as barenet.
    Dropout and the key/value cache (generation) play no part in predict."""
    wq, wk, wv, wo, bq, bk, bv, bo = layer.unpack(*_flat_params(params))
    x = inputs[0]
    t, c = layer.input_shape
    h, dk = layer.num_heads, layer.key_dim

    def heads(w, b, hint):
        m = g.op("MatMul", [x, g.const(g.float(w), "W" + hint)])
        if b is not None:
            m = g.op("Add", [m, g.const(g.float(b), "b" + hint)])
        m = g.op("Reshape", [m, g.const(g.ints([0, t, h, dk]), "shape")])
        return g.op("Transpose", [m], perm=[0, 2, 1, 3])                 # (N, H, T, D)
    q, k, v = heads(wq, bq, "q"), heads(wk, bk, "k"), heads(wv, bv, "v")
    scores = g.op("Mul", [g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])]),
                          g.const(g.float(1.0 / math.sqrt(dk)), "scale")])  # (N, H, T, T)
    allowed = None
    if layer.causal:
        allowed = g.const(np.tril(np.ones((t, t), dtype=bool)), "causal")
    if mask is not None:
        keys = g.op("Unsqueeze", [mask, g.const(g.ints([1, 2]), "axes")])   # (N, 1, 1, T)
        allowed = keys if allowed is None else g.op("And", [allowed, keys])
    if mask is None:
        if allowed is not None:
            scores = g.op("Where", [allowed, scores, g.const(g.float(-np.inf), "minus_inf")])
        p = g.op("Softmax", [scores], axis=-1)
    else:
        lowest = g.const(g.float(np.finfo(g.dtype).min), "lowest")
        kept = g.op("Where", [allowed, scores, lowest])
        top = g.reduce("ReduceMax", kept, [-1], keepdims=True)
        zero = g.const(g.float(0), "zero")
        e = g.op("Where", [allowed, g.op("Exp", [g.op("Sub", [kept, top])]), zero])
        total = g.reduce("ReduceSum", e, [-1], keepdims=True)
        some = g.op("Greater", [total, zero])
        inv = g.op("Reciprocal", [g.op("Where", [some, total, g.const(g.float(1), "one")])])
        p = g.op("Mul", [e, g.op("Where", [some, inv, zero])])
    o = g.op("Transpose", [g.op("MatMul", [p, v])], perm=[0, 2, 1, 3])      # (N, T, H, D)
    o = g.op("Reshape", [o, g.const(g.ints([0, t, h * dk]), "shape")])
    out = g.op("MatMul", [o, g.const(g.float(wo), "Wo")])
    if bo is not None:
        out = g.op("Add", [out, g.const(g.float(bo), "bo")])
    return out


def _flat_params(params):
    """(weights, biases) of the model's lists as one flat array and the offset 0, for a
    layer's unpack(flat, at)"""
    w, b = params
    flat = np.concatenate([np.ravel(w)] + ([np.ravel(b)] if b is not None else []))
    return flat, 0


def _positional(g, layer, inputs, params, state):
    """x + the position table's first T rows (a constant: barenet's T is fixed): the
    learned table's rows, or sinusoidal_table(T, C) rounded to the dtype as barenet does"""
    t = layer.input_shape[0]
    if layer.table_kind == "learned":
        table = np.asarray(params[0]).reshape(layer.max_len, layer.output_dim)[:t]
    else:
        table = sinusoidal_table(t, layer.output_dim, g.dtype)
    return g.op("Add", [inputs[0], g.const(g.float(table), "positions")])


def _step_mask(g, layer, inputs):
    """the bool step mask (N, T) of a mask-making layer's output, from its inputs, as
    compute_mask gives it: Embedding(mask_zero=True) ids != 0; Masking any of the C values
    != mask_value"""
    if isinstance(layer, Embedding):
        return g.op("Not", [g.op("Equal", [inputs[0], g.const(g.ints(0), "pad_id")])])
    if isinstance(layer, Masking):
        other = g.op("Not", [g.op("Equal", [inputs[0], g.const(g.float(layer.mask_value),
                                                                 "mask_value")])])
        some = g.reduce("ReduceMax", g.op("Cast", [other], to=_ONNX_TYPES[g.dtype]), [-1],
                        keepdims=False)
        return g.op("Cast", [some], to=TensorProto.BOOL)
    raise NotExportableError(f"{layer!r} makes a step mask that barenet.onnx cannot "
                             "compute")


CONVERTERS = {Dense: _dense, Conv2D: _conv2d, MaxPool2D: _maxpool2d, AvgPool2D: _avgpool2d,
              GlobalAveragePooling1D: _global_avgpool1d,
              GlobalMaxPooling1D: _global_maxpool1d, Flatten: _flatten, Dropout: _dropout,
              Activation: _activation, BatchNormalization: _batchnorm,
              LayerNormalization: _layernorm, Add: _fold("Add"), Multiply: _fold("Mul"),
              Concatenate: _concatenate, Embedding: _embedding, Masking: _masking,
              _Recurrent: _recurrent, Bidirectional: _recurrent,
              MultiHeadAttention: _attention, PositionalEmbedding: _positional}
MASK_READERS = frozenset({_recurrent, _attention})  # converters given mask= (see above)


def _converter(layer, index):
    for cls in type(layer).__mro__:
        if cls in CONVERTERS:
            return CONVERTERS[cls]
    kinds = ", ".join(cls.__name__ for cls in CONVERTERS)
    raise NotExportableError(f"layer {index}, {layer!r} ({type(layer).__name__}), cannot be "
                             f"exported to ONNX: barenet.onnx has no converter for it (it "
                             f"converts {kinds})")


def _check_opset(opset):
    if opset is None:
        return DEFAULT_OPSET
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
            or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must be None (for {DEFAULT_OPSET}) or an int from {MIN_OPSET} "
                         f"to {newest} (the newest this onnx knows); got {opset!r}")
    return int(opset)


def _layer_summary(model, edges):
    return [{"index": i, "class": type(layer).__name__, "config": layer.config(),
             "inputs": list(parents), "input_shape": list(layer.input_shape),
             "output_shape": list(layer.output_shape)}
            for i, (layer, parents) in enumerate(zip(model.layers, edges))]


def _layout(input_shape, flat_input):
    """the input layout in words, for the metadata"""
    shape = f"(N, {', '.join(map(str, input_shape))})"
    kind = {1: "", 2: " a sequence (N, T, C)", 3: " channels first"}[len(input_shape)]
    if len(input_shape) == 1:
        return shape
    if flat_input:
        return f"(N, {int(np.prod(input_shape))}): flat rows of {shape},{kind}"
    return f"{shape}{kind}"


def to_model_proto(model, *, opset=None, flat_input=False):
    """the onnx.ModelProto of a barenet model (see export), checked by onnx.checker"""
    from . import __version__
    opset = _check_opset(opset)
    dtype = np.dtype(model.dtype)
    if dtype not in _ONNX_TYPES:
        raise NotExportableError(f"the model's dtype {dtype} has no ONNX export (float32, "
                                 "float64)")
    spec = model._spec
    edges = spec.edges
    converters = [_converter(layer, i) for i, layer in enumerate(model.layers)]
    masks = spec.masks or (-1,) * len(model.layers)
    for i, layer in enumerate(model.layers):
        if getattr(layer, "uses_mask", False) and masks[i] >= 0 \
                and converters[i] not in MASK_READERS:
            raise NotExportableError(f"layer {i}, {layer!r}, reads the step mask of "
                                     f"{model.layers[masks[i]]!r}; its ONNX converter does "
                                     "not carry step masks")
    g = GraphBuilder(dtype, opset)
    input_shape = tuple(model.input_shape)
    size = int(np.prod(input_shape))
    # token ids (an Embedding reads the model's input) come in as int64; any other reader
    # of the input gets them as floats, as predict gives them
    tokens = any(isinstance(layer, Embedding) for layer in model.layers)
    x = x_float = "input"
    if flat_input:
        shown = ["N", size]
        if len(input_shape) > 1:
            x = x_float = g.op("Reshape", [x, g.const(g.ints((-1,) + input_shape), "shape")])
    else:
        shown = ["N", *input_shape]
    if tokens:
        x_float = g.op("Cast", [x], to=_ONNX_TYPES[dtype])
    params = iter(zip(model.weights, model.biases))
    outputs, inputs_of, step_masks = [], [], {}

    def step_mask(src):
        # the bool (N, T) step mask made by layer src, from its inputs, built once
        if src not in step_masks:
            step_masks[src] = _step_mask(g, model.layers[src], inputs_of[src])
        return step_masks[src]

    for l, (layer, convert, parents) in enumerate(zip(model.layers, converters, edges)):
        model_input = x if isinstance(layer, Embedding) else x_float
        inputs = [model_input if p < 0 else outputs[p] for p in parents]
        inputs_of.append(inputs)
        state = spec.state_views(model._state, l) if layer.n_state else ()
        extra = {}
        if convert in MASK_READERS:
            extra["mask"] = step_mask(masks[l]) if masks[l] >= 0 else None
        outputs.append(convert(g, layer, inputs, next(params) if layer.n_params else (),
                               state, **extra))
    g.nodes.append(helper.make_node("Identity", [outputs[-1]], ["output"], name="output"))
    graph = helper.make_graph(
        g.nodes, "barenet",
        [helper.make_tensor_value_info("input", TensorProto.INT64 if tokens
                                       else _ONNX_TYPES[dtype], shown)],
        [helper.make_tensor_value_info("output", _ONNX_TYPES[dtype],
                                       ["N", *model.layers[-1].output_shape])],
        g.initializers)
    summary = _layer_summary(model, edges)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="barenet",
                              producer_version=__version__, doc_string=repr(model))
    # the oldest IR that has this opset, so that runtimes older than this onnx read it
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    helper.set_model_props(proto, {
        "barenet_version": __version__,
        "barenet_model": type(model).__name__,
        "barenet_layers": json.dumps(summary),
        "barenet_input_layout": _layout(input_shape, flat_input),
        "barenet_output_activation": str(model.layers[-1].activation),
        "barenet_dtype": dtype.name,
        "barenet_input_dtype": "int64 token ids" if tokens else dtype.name,
    })
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export(model: "Sequential", path: Optional[PathLike] = None, *,
           opset: Optional[int] = None, flat_input: bool = False) -> Any:
    """Write `model` (a barenet NeuralNetwork, Sequential or Model) as an ONNX file at
    `path` and return the onnx.ModelProto (path None: only return it).

    The graph takes "input" of the model's dtype (float32 or float64) with a dynamic batch
    dimension N: shape ``(N, *input_shape)``, images channels first (N, C, H, W) and sequences
    (N, T, C) as predict takes them, or with flat_input=True the flat rows
    ``(N, prod(input_shape))`` predict also takes; a model with an Embedding takes int64 token
    ids (N, T). Its "output" (N, n_outputs), or (N, T, n_outputs) for a sequence output, is
    what predict returns (dropout is the identity, batch normalisation uses the running
    statistics; recurrent layers and attention see the step masks of
    Embedding(mask_zero=True) and Masking as predict does). A
    Model's graph (residual Add, Multiply, Concatenate, fan-out) is exported as it is.
    opset: ONNX operator set, None for DEFAULT_OPSET (17), at least MIN_OPSET (13).
    Metadata: barenet_version, barenet_model, barenet_layers (JSON: each layer's class,
    config, input indices (-1: the model input) and shapes), barenet_input_layout,
    barenet_output_activation, barenet_dtype. A layer without a converter raises
    NotExportableError (a ValueError) naming it. The file is written atomically.
    """
    proto = to_model_proto(model, opset=opset, flat_input=check_bool(flat_input, "flat_input"))
    if path is not None:
        atomic_write(path, lambda f: f.write(proto.SerializeToString()))
    return proto


# -- skl2onnx: converters for barenet.sklearn's estimators ---------------------------------

class _ContainerBuilder(GraphBuilder):
    """GraphBuilder's name/const/op on skl2onnx's scope and container"""

    def __init__(self, scope, container, dtype):
        super().__init__(dtype, getattr(container, "target_opset", None) or DEFAULT_OPSET)
        self.scope, self.container = scope, container

    def name(self, hint):
        return self.scope.get_unique_variable_name(hint)

    def const(self, array, hint="const"):
        array = np.asarray(array)
        name = self.name(hint)
        if array.dtype.kind in "OUS":
            self.container.add_initializer(name, TensorProto.STRING, list(array.shape),
                                           [str(v).encode("utf-8") for v in array.ravel()])
        else:
            self.container.add_initializer(name, helper.np_dtype_to_tensor_dtype(array.dtype),
                                           list(array.shape), array.ravel())
        return name

    def op(self, op_type, inputs, hint=None, *, output=None, **attrs):
        out = output or self.name(hint or op_type.lower())
        self.container.add_node(op_type, list(inputs), [out],
                                name=self.scope.get_unique_operator_name(op_type), **attrs)
        return out


def _mlp_outputs(scope, operator, container):
    """(builder, the network's output activations) of a fitted barenet MLP estimator, from
    its public fitted attributes (coefs_, intercepts_, activation, out_activation_), in
    the input's float type (float64 for double inputs, else float32, as skl2onnx's own
    MLP converters compute)"""
    from . import sklearn as _sk
    est = operator.raw_operator
    double = operator.inputs[0].type.to_onnx_type().tensor_type.elem_type == TensorProto.DOUBLE
    g = _ContainerBuilder(scope, container, np.float64 if double else np.float32)
    x = g.op("Cast", [operator.inputs[0].full_name],
             to=TensorProto.DOUBLE if double else TensorProto.FLOAT)
    last = len(est.coefs_) - 1
    for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        activation = (_sk._ACTIVATIONS[est.activation] if i < last
                      else _sk._OUT_ACTIVATIONS[est.out_activation_])
        x = dense_layer(g, w, np.reshape(b, (1, -1)), activation, x)
    return g, x


def _mlp_classifier_shapes(operator):
    """skl2onnx's classifier shapes (label (N,), probabilities (N, n_classes)); multilabel
    estimators give labels (N, n_labels)"""
    from skl2onnx.common.data_types import Int64TensorType
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
    calculate_linear_classifier_output_shapes(operator)
    est = operator.raw_operator
    if est._label_binarizer.y_type_ == "multilabel-indicator":
        n = operator.inputs[0].get_first_dimension()
        operator.outputs[0].set_type(Int64TensorType(shape=[n, len(est.classes_)]))


def _mlp_classifier_convert(scope, operator, container):
    """label and probabilities as barenet's predict and predict_proba give them: the
    softmax's rows; for one sigmoid output [1 - p, p]; the label classes_[argmax] (for
    multilabel, the indicators p > 0.5)"""
    est = operator.raw_operator
    g, p = _mlp_outputs(scope, operator, container)
    label, proba = operator.outputs[0].full_name, operator.outputs[1].full_name
    if est._label_binarizer.y_type_ == "multilabel-indicator":
        g.op("Identity", [p], output=proba)
        g.op("Cast", [g.op("Greater", [p, g.const(g.float(0.5), "half")])], output=label,
             to=TensorProto.INT64)
        return
    if est.n_outputs_ == 1:
        p = g.op("Concat", [g.op("Sub", [g.const(g.float([[1]]), "one"), p]), p], axis=1)
    g.op("Identity", [p], output=proba)
    index = g.op("ArgMax", [p], axis=1, keepdims=0)
    classes = np.asarray(est.classes_)
    if classes.dtype.kind not in "OUS":
        classes = classes.astype(np.int64)
    g.op("Gather", [g.const(classes, "classes"), index], output=label)


def _mlp_regressor_shapes(operator):
    from skl2onnx.common.shape_calculator import calculate_linear_regressor_output_shapes
    calculate_linear_regressor_output_shapes(operator)


def _mlp_regressor_convert(scope, operator, container):
    """the outputs (N, n_outputs) (predict's (n,) for one target is (N, 1) here, as in
    skl2onnx's own MLPRegressor converter)"""
    g, y = _mlp_outputs(scope, operator, container)
    g.op("Identity", [y], output=operator.outputs[0].full_name)


def register_skl2onnx():
    """Register the converters of barenet.sklearn.MLPClassifier and MLPRegressor with
    skl2onnx (done on `import barenet.onnx`); returns False when skl2onnx or scikit-learn
    is not installed. The classifier uses skl2onnx's classifier parser (outputs label and
    probabilities; options zipmap, nocl as for scikit-learn's classifiers)."""
    try:
        from skl2onnx import update_registered_converter

        from .sklearn import MLPClassifier, MLPRegressor
    except ImportError:
        return False
    update_registered_converter(MLPClassifier, "BarenetMLPClassifier", _mlp_classifier_shapes,
                                _mlp_classifier_convert,
                                options={"zipmap": [True, False, "columns"],
                                         "nocl": [True, False]})
    update_registered_converter(MLPRegressor, "BarenetMLPRegressor", _mlp_regressor_shapes,
                                _mlp_regressor_convert)
    return True


SKL2ONNX_REGISTERED = register_skl2onnx()
