"""Sampling from a sequence model one token at a time (Sequential.generate, Model.generate).

The model reads token ids (T,) (an Embedding first) and gives a softmax over the
vocabulary at every step (T, V). Two ways, chosen by the model:

* cached: layers that carry state from one call to the next (recurrent layers; attention
  with a key/value cache) use the carry buffer of csrc/net.h, so each new token costs one
  step of the network, not a pass over the whole prefix: a twin of the model for one step
  (the same layers built for T = 1, with a copy of the parameters) runs the prompt's steps,
  then one step per token;
* recomputed: a model without carried state whose every layer is causal (an output step
  depends on that step and the ones before it: per-step layers, causal attention) runs on
  the last T tokens of the prefix, placed from position 0 and padded after, and reads the
  output at the prefix's last step. While the prefix fits in T steps that is what a
  key/value cache gives too, so such a model is first run cached: its step twin gets a
  cache of T steps in every attention layer (max_len = T), and only the tokens after the
  prefix has outgrown T steps are recomputed on the sliding window.

Both backends do it the same way and, for the same seed, give the same tokens: the cached
way's loop over tokens is each backend's `generate_steps`, `sampled_steps` below on the
NumPy backend, while the compiled backend runs it in C (csrc/generate.c, the same
sampling operation for operation) without coming back to Python between tokens."""

import numpy as np

from ._validation import check_int, check_positive_float, MAX_SEED


def _twin(model, steps, cache=None):
    """the model rebuilt for token sequences of `steps` steps, with its parameters and
    state (a copy): the same layers by their configurations; cache: a key/value cache of
    that many steps for every attention layer that has none"""
    from .attention import ATTENTION
    from .graph import Input
    from .network import Model, Sequential

    from .network import _INITIALISE

    def configured(layer):
        config = layer.config()
        if cache and layer.kind == ATTENTION and not config["max_len"]:
            config["max_len"] = cache
        return type(layer)(**config)

    layers = [configured(layer) for layer in model.layers]
    settings = dict(loss=model.loss_name, dtype=model.dtype, backend=model.backend)
    token = _INITIALISE.set(False)  # the parameters are copied in below
    try:
        if isinstance(model, Model):
            x = Input((steps,))
            nodes = []
            for layer, parents in zip(layers, model.edges):
                args = [x if p < 0 else nodes[p] for p in parents]
                nodes.append(layer(args if layer.max_inputs > 1 else args[0]))
            twin = Model(x, nodes[-1], **settings)
        else:
            twin = Sequential(layers, input_shape=(steps,), **settings)
    finally:
        _INITIALISE.reset(token)
    twin._params[...] = model._params
    twin._state[...] = model._state
    return twin


def _check_model(model):
    from .layers import EMBEDDING

    out = model.layers[-1]
    if model._spec.loss != "sparse_categorical_crossentropy" or len(out.output_shape) != 2:
        raise ValueError("generate needs a language model: token ids in (an Embedding "
                         "first) and a softmax over the vocabulary at every step out "
                         f"(output shape (T, V)); this model's output is {out!r} with shape "
                         f"{out.output_shape}")
    if not any(layer.kind == EMBEDDING for layer in model._spec.readers_of_input()):
        raise ValueError("generate needs token ids as the model's input (an Embedding "
                         "reading it)")
    if not _cached(model) and not _causal(model):
        raise ValueError("generate needs layers that carry their state from one token to "
                         "the next (SimpleRNN, LSTM, GRU, MultiHeadAttention with a cache: "
                         "causal=True, max_len=...) or a causal model (every step's output "
                         "from that step and the ones before it); this model has a layer "
                         "that mixes steps both ways")
    readers = [layer for layer in model._spec.readers_of_input() if layer.kind == EMBEDDING]
    if out.output_shape[1] > readers[0].input_dim:
        raise ValueError(f"the output has {out.output_shape[1]} classes but {readers[0]!r} "
                         f"reads ids below {readers[0].input_dim}: a generated token could "
                         "not be fed back")
    for layer in model.layers:
        if getattr(layer, "go_backwards", False) or getattr(layer, "directions", 1) != 1:
            raise ValueError(f"{layer!r} reads the sequence backwards, so it cannot "
                             "generate one token after another")


def _cached(model):
    """whether the model generates with carried state: some layer carries state and every
    attention layer has a key/value cache (PositionalEmbedding's carried step count alone
    does not make an attention model cached)"""
    from .attention import ATTENTION
    return model._spec.carry_offsets[1] > 0 and all(
        layer.kind != ATTENTION or layer.max_len for layer in model.layers)


def _causal(model):
    """every layer's output at a step depends on that step and earlier ones only, for a
    model without carried state: every output is a sequence (no pooling or flattening of
    the steps) and every attention layer is causal"""
    for layer in model.layers:
        if len(layer.output_shape) != 2 or getattr(layer, "causal", True) is not True:
            return False  # steps pooled or flattened away, or attention both ways
    return True


def _recomputed(model, prompt, steps, temperature, top_k, rng):
    """generation by running the whole model on the last T tokens each time"""
    b, t = prompt.shape[0], model.input_shape[0]
    ids = [list(row) for row in prompt]
    out = np.empty((b, steps), dtype=np.int64)
    x = np.zeros((b, t), dtype=model.dtype)
    for k in range(steps):
        last = []
        for i, row in enumerate(ids):
            window = row[-t:]
            x[i, :] = 0
            x[i, :len(window)] = window
            last.append(len(window) - 1)
        proba = model._backend.predict(model._params, x).reshape(b, t, -1)
        token = _sample(proba[np.arange(b), last], temperature, top_k, rng)
        out[:, k] = token
        for i in range(b):
            ids[i].append(int(token[i]))
    return out


NONFINITE = ("generate: the model's output probabilities are not finite (NaN or infinity); "
             "were its parameters trained to divergence?")


def _sample(proba, temperature, top_k, rng):
    """a token per row of proba (B, V): argmax for temperature 0, else drawn from
    proba ** (1 / temperature) over the top_k most likely tokens (all when None): the first
    token whose cumulative weight passes u times the row's total, u uniform in [0, 1).
    Few NumPy calls, since generation pays them at every token; weights in float64, each
    row's scaled by its largest (which becomes 1) before the power, so none underflows all."""
    if temperature == 0:
        return proba.argmax(axis=1)
    if temperature == 1 and top_k is None:
        cdf = np.cumsum(proba, axis=1, dtype=np.float64)
    else:
        p = np.divide(proba, proba.max(axis=1, keepdims=True), dtype=np.float64)
        if temperature != 1:
            np.power(p, 1.0 / temperature, out=p)
        if top_k is not None and top_k < p.shape[1]:
            p[p < np.partition(p, -top_k, axis=1)[:, -top_k, None]] = 0.0
        cdf = np.cumsum(p, axis=1, out=p)
    total = cdf[:, -1]
    if not np.isfinite(total).all():
        raise ValueError(NONFINITE)
    u = rng.random(proba.shape[0]) * total
    return np.minimum((cdf < u[:, None]).sum(axis=1), proba.shape[1] - 1)


def generate(model, prompt_ids, steps, temperature=1.0, top_k=None, seed=None):
    """see Sequential.generate"""
    _check_model(model)
    ids_in = model._spec.readers_of_input()[0].input_dim
    prompt = np.asarray(prompt_ids)
    if prompt.dtype.kind not in "iu" and not (prompt.dtype.kind == "f" and prompt.size and
                                               np.array_equal(prompt, np.round(prompt))):
        raise TypeError(f"prompt_ids must be integer token ids; got dtype {prompt.dtype}")
    single = prompt.ndim == 1
    prompt = prompt.reshape(1, -1) if single else prompt
    if prompt.ndim != 2 or prompt.shape[1] < 1 or prompt.shape[0] < 1:
        raise ValueError("prompt_ids must have shape (P,) or (B, P) with P >= 1; got shape "
                         f"{np.shape(prompt_ids)}")
    if prompt.min() < 0 or prompt.max() >= ids_in:
        raise ValueError(f"prompt_ids must be token ids in [0, {ids_in}); got values from "
                         f"{prompt.min()} to {prompt.max()}")
    steps = check_int(steps, "steps", minimum=0)
    if isinstance(temperature, (bool, np.bool_)):
        raise TypeError("temperature must be a number >= 0")
    temperature = 0.0 if temperature == 0 else check_positive_float(temperature, "temperature")
    if top_k is not None:
        top_k = check_int(top_k, "top_k", minimum=1)
    seed = None if seed is None else check_int(seed, "seed", minimum=0, maximum=MAX_SEED)
    cached = _cached(model)
    limits = [layer for layer in model.layers if getattr(layer, "max_len", None)]
    for layer in limits if cached else ():  # positions and caches hold max_len steps
        if prompt.shape[1] + max(steps - 1, 0) > layer.max_len:
            raise ValueError(f"{layer!r} holds {layer.max_len} steps; a prompt of "
                             f"{prompt.shape[1]} and {steps} generated tokens need "
                             f"{prompt.shape[1] + max(steps - 1, 0)}")
    rng = np.random.default_rng(seed)
    window = model.input_shape[0]
    if not cached:  # cached while the prefix fits in the window, then recomputed
        early = min(steps, max(0, window - prompt.shape[1] + 1))
        out = np.empty((prompt.shape[0], steps), dtype=np.int64)
        if early:
            out[:, :early] = _stepped(model, prompt, early, temperature, top_k, rng, window)
        if steps > early:
            prefix = np.concatenate([prompt, out[:, :early]], axis=1)
            out[:, early:] = _recomputed(model, prefix, steps - early, temperature, top_k,
                                         rng)
        return out[0] if single else out
    out = _stepped(model, prompt, steps, temperature, top_k, rng)
    return out[0] if single else out


def _stepped(model, prompt, steps, temperature, top_k, rng, cache=None):
    """generation one step at a time with the state carried (see the module's docstring)"""
    b = prompt.shape[0]
    step_model = _twin(model, 1, cache)
    spec = step_model._spec
    carry = np.zeros(b * spec.carry_offsets[1], dtype=model.dtype)
    backend = step_model._backend
    params = step_model._params
    x = np.empty((b, 1), dtype=model.dtype)
    out = np.empty((b, steps), dtype=np.int64)
    proba = np.empty((b, spec.out_size), dtype=model.dtype)  # each step's, overwritten
    for t in range(prompt.shape[1]):  # the prompt, one step at a time with the state carried
        x[:, 0] = prompt[:, t]
        backend.predict(params, x, out=proba, carry=carry)
    backend.generate_steps(params, proba, x, carry, out, temperature, top_k, rng)
    return out


def sampled_steps(backend, params, proba, x, carry, out, temperature, top_k, rng):
    """out (B, S): a token per row sampled from proba (B, V, the prediction after the
    prompt), fed back as x (B, 1) through a one-step prediction with carry, S times"""
    steps = out.shape[1]
    for t in range(steps):
        token = _sample(proba, temperature, top_k, rng)
        out[:, t] = token
        if t + 1 < steps:
            x[:, 0] = token
            backend.predict(params, x, out=proba, carry=carry)
