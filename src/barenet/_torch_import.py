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
Epsilon and momentum are the layer's own settings, not in a state_dict: build the barenet
layer with torch's eps (BatchNormalization(epsilon=1e-5) for torch's default)."""

import numpy as np

from .layers import BatchNormalization, Conv2D, Dense, Embedding, LayerNormalization


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


def _default_mapping(model, state_dict, param_layers):
    """layer index -> module prefix, pairing the layers with parameters with the modules
    of the state_dict in order (the prefixes of its '.weight' keys)"""
    prefixes = [key[:-len(".weight")] for key in state_dict if key.endswith(".weight")]
    if len(prefixes) != len(param_layers):
        raise ValueError(
            f"state_dict has {len(prefixes)} modules with a weight ({prefixes}) and the model "
            f"{len(param_layers)} layers with parameters "
            f"({[f'{i}: {model.layers[i]!r}' for i in param_layers]}); pass mapping={{layer "
            "index: 'module prefix', ...}} to pair them")
    return dict(zip(param_layers, prefixes))


def load_state_dict(model, state_dict, mapping=None):
    """Copy PyTorch parameters into `model`'s Dense, Conv2D, BatchNormalization (with
    its running statistics) and LayerNormalization layers.

    state_dict: a mapping key -> tensor (torch's model.state_dict(), or NumPy arrays).
    mapping: None pairs the model's layers with parameters, in order, with the state_dict's
    modules in order (keys '<prefix>.weight' and '<prefix>.bias'); or a dict {index in
    model.layers: '<prefix>'}. Every layer with parameters must be mapped and every
    state_dict key used. Linear.weight (out, in) becomes the Dense weights (in, out);
    Conv2d.weight (F, C, KH, KW) the Conv2D weights (KH, KW, C, F); biases, normalisation
    weights and running statistics as they are (see the module docstring). A
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
        if _conversion(model.layers[i]) is None:
            raise ValueError(f"layer {i}, {model.layers[i]!r}, has parameters but no PyTorch "
                             f"conversion (barenet converts "
                             f"{', '.join(c.__name__ for c in CONVERSIONS)})")
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
        raise ValueError(f"state_dict keys {unused} match no layer of the model (barenet "
                         f"imports {', '.join(m for m, _ in CONVERSIONS.values())} "
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
