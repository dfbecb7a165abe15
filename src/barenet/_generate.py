"""Sampling from a sequence model one token at a time (Sequential.generate, Model.generate).

The model reads token ids (T,) (an Embedding first) and gives a softmax over the
vocabulary at every step (T, V). Its recurrent layers carry their state from one call to
the next (attention layers their key/value cache, positional embeddings their step count:
the carry buffer of csrc/net.h), so each new token costs one step of the network, not a
pass over the whole prefix: a twin of the model for one step (the same layers built
for T = 1, sharing a copy of the parameters) runs the prompt's steps, then one step per
token. Both backends do it the same way and, for the same seed, give the same tokens."""

import numpy as np

from ._validation import check_int, check_positive_float, MAX_SEED


def _twin(model, steps):
    """the model rebuilt for token sequences of `steps` steps, with its parameters and
    state (a copy): the same layers by their configurations"""
    from .graph import Input
    from .network import Model, Sequential

    layers = [type(layer)(**layer.config()) for layer in model.layers]
    settings = dict(loss=model.loss_name, dtype=model.dtype, backend=model.backend)
    if isinstance(model, Model):
        x = Input((steps,))
        nodes = []
        for layer, parents in zip(layers, model.edges):
            args = [x if p < 0 else nodes[p] for p in parents]
            nodes.append(layer(args if layer.max_inputs > 1 else args[0]))
        twin = Model(x, nodes[-1], **settings)
    else:
        twin = Sequential(layers, input_shape=(steps,), **settings)
    twin._params[...] = model._params
    twin._state[...] = model._state
    return twin


def _check_model(model):
    from .attention import ATTENTION
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
    if model._spec.carry_offsets[1] == 0:
        raise ValueError("generate needs layers that carry their state from one token to "
                         "the next (recurrent layers, MultiHeadAttention(causal=True, "
                         "max_len=...)); this model has none")
    for layer in model.layers:
        if layer.kind == ATTENTION and not layer.max_len:
            raise ValueError(f"{layer!r} has no key/value cache, so it cannot generate one "
                             "token after another: give it causal=True and max_len=")
    readers = [layer for layer in model._spec.readers_of_input() if layer.kind == EMBEDDING]
    if out.output_shape[1] > readers[0].input_dim:
        raise ValueError(f"the output has {out.output_shape[1]} classes but {readers[0]!r} "
                         f"reads ids below {readers[0].input_dim}: a generated token could "
                         "not be fed back")
    for layer in model.layers:
        if getattr(layer, "go_backwards", False) or getattr(layer, "directions", 1) != 1:
            raise ValueError(f"{layer!r} reads the sequence backwards, so it cannot "
                             "generate one token after another")


def _sample(proba, temperature, top_k, rng):
    """a token per row of proba (B, V): argmax for temperature 0, else drawn from
    proba ** (1 / temperature) over the top_k most likely tokens (all when None)"""
    proba = proba.astype(np.float64)
    if temperature == 0:
        return proba.argmax(axis=1)
    logp = np.log(np.maximum(proba, 1e-300)) / temperature
    if top_k is not None and top_k < proba.shape[1]:
        kth = np.partition(logp, -top_k, axis=1)[:, -top_k][:, None]
        logp = np.where(logp >= kth, logp, -np.inf)
    p = np.exp(logp - logp.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    u = rng.random(proba.shape[0])
    cdf = np.cumsum(p, axis=1)
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
    limits = [layer for layer in model.layers if getattr(layer, "max_len", None)]
    for layer in limits:  # positions and caches hold max_len steps
        if prompt.shape[1] + max(steps - 1, 0) > layer.max_len:
            raise ValueError(f"{layer!r} holds {layer.max_len} steps; a prompt of "
                             f"{prompt.shape[1]} and {steps} generated tokens need "
                             f"{prompt.shape[1] + max(steps - 1, 0)}")
    rng = np.random.default_rng(seed)
    b = prompt.shape[0]
    step_model = _twin(model, 1)
    spec = step_model._spec
    carry = np.zeros(b * spec.carry_offsets[1], dtype=model.dtype)
    backend = step_model._backend
    params = step_model._params
    x = np.empty((b, 1), dtype=model.dtype)
    out = np.empty((b, steps), dtype=np.int64)
    proba = None
    for t in range(prompt.shape[1]):  # the prompt, one step at a time with the state carried
        x[:, 0] = prompt[:, t]
        proba = backend.predict(params, x, carry=carry)
    for t in range(steps):
        token = _sample(proba, temperature, top_k, rng)
        out[:, t] = token
        if t + 1 < steps:
            x[:, 0] = token
            proba = backend.predict(params, x, carry=carry)
    return out[0] if single else out
