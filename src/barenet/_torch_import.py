"""PyTorch state_dict import (Sequential.load_torch_state_dict): the layout conversions
from torch's parameters to barenet's, written once, one entry per layer class in
CONVERSIONS. Does not import torch: a tensor is read with .detach().cpu().numpy(), and plain
NumPy arrays are accepted the same way. Nothing is written until every tensor has been
checked, so an error leaves the model as it was.

Layouts (torch -> barenet):
    Linear.weight (out, in)                 Dense weights (in, out): transposed
    Linear.bias (out,)                      Dense bias (1, out)
    Conv2d.weight (F, C, KH, KW)            Conv2D weights (KH, KW, C, F): transpose(2, 3, 1, 0)
    Conv2d.bias (F,)                        Conv2D bias (F,)
    BatchNorm1d/2d weight, bias (C,)        BatchNormalization gamma, beta (C,)
    BatchNorm running_mean, running_var     its running statistics (the model's state)
    BatchNorm num_batches_tracked           not needed (barenet's momentum is constant)
    LayerNorm weight, bias (C,)             LayerNormalization gamma, beta (C,)
    Embedding.weight (input_dim, output_dim) Embedding table, as it is
    RNN/LSTM/GRU weight_ih_l0 (G U, C),     SimpleRNN/LSTM/GRU kernel (C, G U) and recurrent
      weight_hh_l0 (G U, U)                   kernel (U, G U): transposed, gate blocks
                                              reordered (GRU: torch r, z, n -> z, r, n;
                                              LSTM i, f, g, o and RNN as they are)
    bias_ih_l0, bias_hh_l0 (G U,)           LSTM/SimpleRNN bias: their sum; GRU (reset_after
                                              =True, torch's form) bias (2, G U): the two rows
    ..._l0_reverse                          Bidirectional's second direction
    MultiheadAttention in_proj_weight       Wq, Wk, Wv (C, E): its three (E, C) row blocks
      (3 E, C), in_proj_bias (3 E,)           transposed; bq, bk, bv
    out_proj.weight (C, E), .bias (C,)      Wo (E, C): transposed; bo
Epsilon and momentum are the layer's own settings, not in a state_dict: build the barenet
layer with torch's eps (BatchNormalization(epsilon=1e-5) for torch's default); likewise
SimpleRNN's activation (torch's nonlinearity) and the attention's causal mask."""

import numpy as np

from .attention import MultiHeadAttention
from .layers import BatchNormalization, Conv2D, Dense, Embedding, LayerNormalization
from .recurrent import _RecurrentBase


def _dense_weight(layer):
    """torch.nn.Linear.weight (out, in) -> W (in, out)"""
    return (layer.n_out, layer.n_in), lambda t: t.T


def _dense_bias(layer):
    """Linear.bias (out,) -> b (1, out)"""
    return (layer.n_out,), lambda t: t.reshape(1, -1)


def _conv_weight(layer):
    """torch.nn.Conv2d.weight (F, C, KH, KW) -> W (KH, KW, C, F)"""
    kh, kw = layer.kernel_size
    return (layer.filters, layer.in_channels, kh, kw), lambda t: t.transpose(2, 3, 1, 0)


def _conv_bias(layer):
    """Conv2d.bias (F,) -> b (F,)"""
    return (layer.filters,), lambda t: t


def _embedding_table(layer):
    """torch.nn.Embedding.weight (num_embeddings, embedding_dim) -> the table, as it is"""
    return (layer.input_dim, layer.output_dim), lambda t: t


def _per_channel(layer):
    """a normalisation's (C,) vector, as it is"""
    return (layer.channels,), lambda t: t


# layer class -> (torch module class name, {key suffix: (where, index, conversion)}): where
# is "params" (index 0 the weights, 1 the bias, as model.weights/biases hold them) or
# "state" (the index into the layer's state views); each conversion gives (torch's
# expected shape, function from torch's array to barenet's)
CONVERSIONS = {
    Dense: ("Linear", {"weight": ("params", 0, _dense_weight),
                       "bias": ("params", 1, _dense_bias)}),
    Conv2D: ("Conv2d", {"weight": ("params", 0, _conv_weight),
                        "bias": ("params", 1, _conv_bias)}),
    BatchNormalization: ("BatchNorm1d/BatchNorm2d", {
        "weight": ("params", 0, _per_channel), "bias": ("params", 1, _per_channel),
        "running_mean": ("state", 0, _per_channel), "running_var": ("state", 1, _per_channel)}),
    LayerNormalization: ("LayerNorm", {"weight": ("params", 0, _per_channel),
                                       "bias": ("params", 1, _per_channel)}),
    Embedding: ("Embedding", {"weight": ("params", 0, _embedding_table)}),
}
# keys a module has that barenet does not need
IGNORED = {BatchNormalization: ("num_batches_tracked",)}


# -- layers whose parameters come from several torch tensors at once ---------------------
# torch's gate blocks, in barenet's order of them (Keras's): GRU torch r, z, n -> z, r, n
_TORCH_GATES = {"simplernn": (0,), "lstm": (0, 1, 2, 3), "gru": (1, 0, 2)}


def _recurrent_parts(layer):
    """{key suffix: torch shape} of a torch.nn.RNN/LSTM/GRU with num_layers=1 (and
    bidirectional=True for Bidirectional); the bias keys may be absent together
    (bias=False: zero biases)"""
    c = layer.cell
    gu = c.gates * c.units
    parts = {}
    for d in range(layer.directions):
        end = "_l0_reverse" if d else "_l0"
        parts.update({f"weight_ih{end}": (gu, layer.n_in), f"weight_hh{end}": (gu, c.units),
                      f"bias_ih{end}": (gu,), f"bias_hh{end}": (gu,)})
    return parts


def _recurrent_values(layer, get):
    """(weights, biases) flat, as model.weights/biases hold them, from torch's tensors
    (get(suffix) -> array or None)"""
    c = layer.cell
    u = c.units
    order = _TORCH_GATES[c.kind]

    def gates(m):   # torch's (G U, ...) -> barenet's gate order
        return np.concatenate([m[k * u:(k + 1) * u] for k in order])
    n_w, n_b = layer._per_direction
    weights = np.zeros(layer.directions * n_w)
    biases = np.zeros(layer.directions * n_b)
    for d, (kernel, recurrent, bias) in enumerate(layer.unpack(weights, biases)):
        end = "_l0_reverse" if d else "_l0"
        kernel[...] = gates(get(f"weight_ih{end}")).T
        recurrent[...] = gates(get(f"weight_hh{end}")).T
        b_ih, b_hh = get(f"bias_ih{end}"), get(f"bias_hh{end}")
        if b_ih is None:
            continue
        if c.bias_rows == 2:       # GRU reset_after: b_hn stays inside r * (h W_hn + b_hn)
            bias[0], bias[1] = gates(b_ih), gates(b_hh)
        else:                      # LSTM, SimpleRNN: both biases add before the gates
            bias[...] = gates(b_ih) + gates(b_hh)
    return weights, biases


def _recurrent_check(layer, index):
    c = layer.cell
    if c.kind == "gru" and not c.reset_after:
        raise ValueError(f"layer {index}, {layer!r}: torch.nn.GRU computes the reset_after=True "
                         "form (the reset gate after the recurrent product, two biases); "
                         "build the barenet GRU with reset_after=True to import it")


def _attention_parts(layer):
    c, e = layer.channels, layer.width
    parts = {"in_proj_weight": (3 * e, c), "out_proj.weight": (c, e)}
    if layer.use_bias:
        parts.update({"in_proj_bias": (3 * e,), "out_proj.bias": (c,)})
    return parts


def _attention_values(layer, get):
    e = layer.width
    w_in, w_out = get("in_proj_weight"), get("out_proj.weight")
    weights = np.concatenate([w_in[k * e:(k + 1) * e].T.ravel() for k in range(3)]
                             + [w_out.T.ravel()])
    biases = None
    if layer.use_bias:
        biases = np.concatenate([get("in_proj_bias"), get("out_proj.bias")])
    return weights, biases


def _attention_check(layer, index):
    if layer.width != layer.channels:
        raise ValueError(f"layer {index}, {layer!r}: torch.nn.MultiheadAttention projects to "
                         f"embed_dim = C = {layer.channels} values (num_heads * head_dim); this "
                         f"layer's num_heads * key_dim is {layer.width}")


# layer class -> (torch module, its parts, the check, (weights, biases) from the parts, the
# parts that may be absent together)
COMBINED = {
    _RecurrentBase: ("RNN/LSTM/GRU", _recurrent_parts, _recurrent_check, _recurrent_values,
                     ("bias_ih", "bias_hh")),
    MultiHeadAttention: ("MultiheadAttention", _attention_parts, _attention_check,
                         _attention_values, ()),
}
# the key suffixes that name a module of the state_dict (its '<prefix>.<anchor>' key)
_ANCHORS = ("weight_ih_l0", "in_proj_weight")


def _combined(layer):
    for cls in type(layer).__mro__:
        if cls in COMBINED:
            return COMBINED[cls]
    return None


def _conversion(layer):
    for cls in type(layer).__mro__:
        if cls in CONVERSIONS:
            return CONVERSIONS[cls]
    return None


def _as_array(value, key):
    """a torch tensor (any device, any float dtype) or array-like -> float64 ndarray"""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        if hasattr(value, "double"):
            value = value.double()
        value = value.numpy()
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"state_dict[{key!r}] must hold real numbers; got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"state_dict[{key!r}] holds NaN or infinity")
    return arr


def _module_prefixes(state_dict):
    """the modules of a state_dict in order: the prefixes of its '.weight' keys, of its
    recurrent modules' 'weight_ih_l0' and attention modules' 'in_proj_weight' (their
    out_proj is part of the attention module)"""
    keys = list(state_dict.keys())
    prefixes = []
    for key in keys:
        for anchor in _ANCHORS:
            if key == anchor or key.endswith("." + anchor):
                prefixes.append(key[:-len(anchor)].rstrip("."))
        if key.endswith(".weight"):
            prefix = key[:-len(".weight")]
            owner = prefix[:-len("out_proj")].rstrip(".") if prefix.endswith("out_proj") \
                else None
            if owner is not None and (f"{owner}.in_proj_weight" if owner else
                                      "in_proj_weight") in state_dict:
                continue
            prefixes.append(prefix)
    return prefixes


def _default_mapping(model, state_dict, param_layers):
    """layer index -> module prefix, pairing the layers with parameters with the modules
    of the state_dict in order (_module_prefixes)"""
    prefixes = _module_prefixes(state_dict)
    if len(prefixes) != len(param_layers):
        raise ValueError(
            f"state_dict has {len(prefixes)} modules with a weight ({prefixes}) and the model "
            f"{len(param_layers)} layers with parameters "
            f"({[f'{i}: {model.layers[i]!r}' for i in param_layers]}); pass mapping={{layer "
            "index: 'module prefix', ...}} to pair them")
    return dict(zip(param_layers, prefixes))


def _read_combined(layer, index, prefix, state_dict, used):
    """[(where, index, position, value)] of a COMBINED layer, every key checked first"""
    module, parts_of, _, values_of, optional = _combined(layer)
    parts = parts_of(layer)
    key_of = {part: f"{prefix}.{part}" if prefix else part for part in parts}
    # the optional parts (a recurrent module's biases) are all there or all absent
    maybe = [part for part in parts if optional and part.startswith(optional)]
    absent = [part for part in maybe if key_of[part] not in state_dict]
    for part in parts:
        if part not in maybe and key_of[part] not in state_dict:
            how = ", bidirectional=True" if "_reverse" in part else ""
            raise ValueError(f"state_dict has no {key_of[part]!r}, which layer {index}, "
                             f"{layer!r}, needs (a torch.nn.{module} {part}{how})")
    if absent and len(absent) != len(maybe):
        raise ValueError(f"state_dict has some bias keys of layer {index}, {layer!r}, but "
                         f"not {[key_of[p] for p in absent]} (a torch.nn.{module} has all "
                         "of them, or none with bias=False)")
    arrays = {}
    for part, shape in parts.items():
        key = key_of[part]
        if part in absent:
            continue
        arr = _as_array(state_dict[key], key)
        if arr.shape != shape:
            raise ValueError(f"state_dict[{key!r}] must have shape {shape} (torch.nn.{module} "
                             f"{part} for layer {index}, {layer!r}); got {arr.shape}")
        arrays[part] = arr
        used.add(key)
    weights, biases = values_of(layer, arrays.get)
    out = [("params", index, 0, weights)]
    if biases is not None:
        out.append(("params", index, 1, biases))
    return out


def load_state_dict(model, state_dict, mapping=None):
    """Copy PyTorch parameters into `model`'s Dense, Conv2D, BatchNormalization (with
    its running statistics) and LayerNormalization layers.

    state_dict: a mapping key -> tensor (torch's model.state_dict(), or NumPy arrays).
    mapping: None pairs the model's layers with parameters, in order, with the state_dict's
    modules in order (keys '<prefix>.weight' and '<prefix>.bias'; a recurrent module by its
    '<prefix>.weight_ih_l0', an attention module by its '<prefix>.in_proj_weight'); or a
    dict {index in model.layers: '<prefix>'}. Every layer with parameters must be mapped
    and every state_dict key used. Linear.weight (out, in) becomes the Dense weights (in,
    out); Conv2d.weight (F, C, KH, KW) the Conv2D weights (KH, KW, C, F); biases,
    normalisation weights and running statistics as they are; torch.nn.RNN/LSTM/GRU
    (num_layers=1; bidirectional=True for Bidirectional) and MultiheadAttention as the
    module docstring says (a GRU needs reset_after=True, torch's form). A
    layer with use_bias=False needs a module without bias, and the reverse. A wrong shape,
    a missing or unused key raises ValueError naming the key and the expected shape.
    """
    if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
        raise TypeError("state_dict must be a mapping of names to tensors (torch's "
                        f"module.state_dict()); got {type(state_dict).__name__}")
    keys = list(state_dict.keys())
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"state_dict keys must be strings; got {key!r}")
    param_layers = [i for i, layer in enumerate(model.layers) if layer.n_params]
    for i in param_layers:
        if _conversion(model.layers[i]) is None and _combined(model.layers[i]) is None:
            kinds = [c.__name__.lstrip("_").replace("RecurrentBase", "SimpleRNN, LSTM, GRU, "
                                                    "Bidirectional")
                     for c in (*CONVERSIONS, *COMBINED)]
            raise ValueError(f"layer {i}, {model.layers[i]!r}, has parameters but no PyTorch "
                             f"conversion (barenet converts {', '.join(kinds)})")
        combined = _combined(model.layers[i])
        if combined is not None:
            combined[2](model.layers[i], i)
    if mapping is None:
        mapping = _default_mapping(model, state_dict, param_layers)
    else:
        if not isinstance(mapping, dict):
            raise TypeError("mapping must be None or a dict {layer index: 'module prefix'}; "
                            f"got {type(mapping).__name__}")
        for index, prefix in mapping.items():
            if index not in param_layers or not isinstance(prefix, str):
                raise ValueError(f"mapping: {index!r}: {prefix!r} must pair the index of a "
                                 f"layer with parameters ({param_layers}) with a module prefix "
                                 "string")
        missing = [i for i in param_layers if i not in mapping]
        if missing:
            raise ValueError(f"mapping gives no module for layers {missing} "
                             f"({[repr(model.layers[i]) for i in missing]})")

    # check and convert everything first; write only when all is well
    slot = {i: k for k, i in enumerate(param_layers)}
    new, used = [], set()
    for index in param_layers:
        layer, prefix = model.layers[index], mapping[index]
        if _combined(layer) is not None:
            new.extend(_read_combined(layer, index, prefix, state_dict, used))
            continue
        module, parts = _conversion(layer)
        for name in IGNORED.get(type(layer), ()):
            used.add(f"{prefix}.{name}" if prefix else name)
        for part, (where, position, convert_of) in parts.items():
            key = f"{prefix}.{part}" if prefix else part
            if where == "params" and position == 1 and not getattr(layer, "use_bias", True):
                if key in state_dict:
                    raise ValueError(f"state_dict has {key!r} but layer {index}, {layer!r}, has "
                                     "no bias (use_bias=False)")
                continue
            if key not in state_dict:
                raise ValueError(f"state_dict has no {key!r}, which layer {index}, {layer!r}, "
                                 f"needs (a torch.nn.{module} {part})")
            shape, convert = convert_of(layer)
            arr = _as_array(state_dict[key], key)
            if arr.shape != shape:
                raise ValueError(f"state_dict[{key!r}] must have shape {shape} (torch.nn."
                                 f"{module} {part} for layer {index}, {layer!r}); got "
                                 f"{arr.shape}")
            if part == "running_var" and (arr < 0).any():
                raise ValueError(f"state_dict[{key!r}] holds a negative variance")
            new.append((where, index, position, convert(arr)))
            used.add(key)
    unused = [key for key in keys if key not in used]
    if unused:
        modules = [m for m, _ in CONVERSIONS.values()] + [c[0] for c in COMBINED.values()]
        raise ValueError(f"state_dict keys {unused} match no layer of the model (barenet "
                         f"imports {', '.join(modules)} "
                         "parameters and running statistics); drop them or map them")
    from ._validation import check_param_values
    for where, index, position, value in new:   # in the model's dtype, finite there
        if where == "params":
            target = (model.weights, model.biases)[position][slot[index]]
        else:
            target = model._spec.state_views(model._state, index)[position]
        check_param_values(value, target.shape, model.dtype, f"state_dict value for layer {index}")
    for where, index, position, value in new:
        if where == "params":
            (model.weights, model.biases)[position][slot[index]] = value
        else:
            model._spec.state_views(model._state, index)[position][...] = value
