"""Attention layers (barenet.attention): MultiHeadAttention and PositionalEmbedding on both
backends: float64 finite differences (causal or not, with and without a padding mask, 1, 2
and 4 heads, T = 1 and T > 1, with attention dropout in training mode), compiled against the
NumPy reference after seeded epochs, thread-count independence, PyTorch's attention with
copied weights, save/load and bad arguments."""

import math

import numpy as np
import pytest

import barenet
from barenet import Input, Model, MultiHeadAttention, PositionalEmbedding, Sequential
from barenet.attention import sinusoidal_table
from barenet.layers import Add, Dense, Embedding, LayerNormalization
from conftest import finite_differences, training_loss_and_grad

VOCAB = 9


def tokens(n=5, t=6, pad=False, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(1, VOCAB, (n, t))
    if pad:  # right padding, a different length per row (row 0 unpadded)
        for i in range(1, n):
            X[i, max(1, t - i):] = 0
    y = rng.integers(0, VOCAB, (n, t))
    return X, y


def lm(backend, t=6, heads=2, key_dim=3, causal=False, dropout=0.0, mask_zero=False,
       pos="learned", dtype="float64", use_bias=True, **kwargs):
    """Embedding -> PositionalEmbedding -> attention (+ residual) -> LayerNorm -> softmax"""
    x = Input((t,))
    e = Embedding(VOCAB, 8, mask_zero=mask_zero)(x)
    e = PositionalEmbedding(t + 2, 8, kind=pos)(e)
    a = MultiHeadAttention(heads, key_dim, causal=causal, dropout=dropout,
                           use_bias=use_bias)(e)
    h = LayerNormalization()(Add()([e, a]))
    return Model(x, Dense(VOCAB, "softmax")(h), seed=3, backend=backend, dtype=dtype,
                 **kwargs)


@pytest.mark.parametrize("heads,t", [(1, 1), (1, 5), (2, 5), (4, 3)])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("pad", [False, True], ids=["plain", "padded"])
def test_gradient_matches_finite_differences(backend, heads, t, causal, pad):
    X, y = tokens(n=4, t=t, pad=pad and t > 1)
    net = lm(backend, t=t, heads=heads, causal=causal, mask_zero=pad, l2=0.01)
    _, grad = net.gradient(X, y)
    numeric = finite_differences(lambda p: net.loss_and_grad(p, X, y)[0], net.get_params())
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_gradient_with_attention_dropout_matches_finite_differences(backend, causal):
    """in training mode (drop given) the dropout masks are fixed by (seed, epoch, batch), so
    the training objective is differentiable and its gradient checks out"""
    X, y = tokens(n=3, t=5, pad=True)
    net = lm(backend, t=5, heads=2, causal=causal, dropout=0.4, mask_zero=True,
             pos="sinusoidal")
    p0 = net.get_params()
    loss, grad = training_loss_and_grad(net, p0, X, y, drop=(7, 1, 2))
    assert loss != net.loss(X, y)  # the dropout acts
    numeric = finite_differences(lambda p: training_loss_and_grad(net, p, X, y, (7, 1, 2))[0],
                               p0)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def reference_attention(layer, params, at, x, mask=None):
    """softmax(Q K^T / sqrt(D)) V per head, by loops over rows, heads and queries"""
    wq, wk, wv, wo, bq, bk, bv, bo = layer.unpack(params, at)
    n, t, _ = x.shape
    d = layer.key_dim
    out = np.zeros((n, t, layer.width))
    for s in range(n):
        q, k, v = x[s] @ wq + bq, x[s] @ wk + bk, x[s] @ wv + bv
        for h in range(layer.num_heads):
            cols = slice(h * d, (h + 1) * d)
            for i in range(t):
                keys = [j for j in range(t) if (not layer.causal or j <= i)
                        and (mask is None or mask[s, j])]
                scores = np.array([q[i, cols] @ k[j, cols] / math.sqrt(d) for j in keys])
                w = np.exp(scores - scores.max())
                w /= w.sum()
                out[s, i, cols] = sum(wj * v[j, cols] for wj, j in zip(w, keys))
    return out @ wo + bo


@pytest.mark.parametrize("causal", [False, True])
def test_attention_output_by_loops(backend, causal):
    """the model's attention equals the formula worked query by query (with a mask)"""
    X, _ = tokens(n=3, t=5, pad=True)
    x = Input((5,))
    emb = Embedding(VOCAB, 8, mask_zero=True)
    mha = MultiHeadAttention(2, 3, causal=causal)
    head = Dense(VOCAB, "softmax")
    model = Model(x, head(mha(emb(x))), seed=4, backend=backend)
    params = model.get_params()
    offsets = model._spec.offsets
    e = emb.views(params, offsets[0])[0][X]
    a = reference_attention(mha, params, offsets[1], e, mask=X != 0)
    w, b = head.views(params, offsets[2])
    z = a @ w + b.reshape(-1)
    expected = np.exp(z - z.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-10, atol=1e-12)


def test_causal_output_ignores_later_steps(backend):
    """with causal=True the output at step i depends on steps <= i only"""
    X, _ = tokens(n=2, t=6)
    net = lm(backend, causal=True, heads=2)
    other = X.copy()
    other[:, 4:] = (other[:, 4:] % (VOCAB - 1)) + 1
    np.testing.assert_array_equal(net.predict(X)[:, :4], net.predict(other)[:, :4])
    assert not np.array_equal(net.predict(X)[:, 4:], net.predict(other)[:, 4:])


def test_padded_keys_get_no_weight(backend):
    """changing the embedding row of padded steps changes nothing at the valid steps"""
    X, y = tokens(n=4, t=6, pad=True)
    net = lm(backend, mask_zero=True)
    before = net.predict(X)
    table = net.weights[0]
    table[0] = table[0] + 1.0  # id 0 is padding
    after = net.predict(X)
    valid = X != 0
    np.testing.assert_allclose(after[valid], before[valid], rtol=1e-12, atol=1e-14)


@pytest.mark.usefixtures("needs_compiled")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_compiled_training_equals_the_reference(dtype, causal):
    X, y = tokens(n=24, t=6, pad=True, seed=2)
    nets = [lm(b, causal=causal, dropout=0.2, mask_zero=True, dtype=dtype, heads=2)
            for b in ("numpy", "compiled")]
    # bk's gradient is zero in exact arithmetic (a softmax ignores a constant added to every
    # score), so its computed value is rounding noise, which Adam would scale up to full
    # steps: float32 trains with momentum SGD, which keeps the noise at its size
    opt = "adam" if dtype == "float64" else "momentum"
    hist = [net.train(X, y, epochs=3, learning_rate=0.01, batch_size=8, optimizer=opt,
                      verbose=False) for net in nets]
    tol = 1e-9 if dtype == "float64" else 2e-4
    np.testing.assert_allclose(hist[1], hist[0], rtol=tol)
    np.testing.assert_allclose(nets[1].get_params(), nets[0].get_params(), rtol=tol,
                               atol=tol * 1e-2)
    np.testing.assert_allclose(nets[1].predict(X), nets[0].predict(X), rtol=tol,
                               atol=tol * 1e-2)


@pytest.mark.usefixtures("needs_compiled")
def test_training_does_not_depend_on_the_thread_count():
    X, y = tokens(n=64, t=24, pad=True, seed=4)
    results = []
    before = barenet.get_num_threads()
    try:
        for threads in (1, 2):
            barenet.set_num_threads(threads)
            net = lm("compiled", t=24, heads=4, key_dim=8, causal=True, dropout=0.1,
                     mask_zero=True)
            net.train(X, y, epochs=2, learning_rate=1e-2, batch_size=32, optimizer="adam",
                      verbose=False)
            results.append(net.get_params())
    finally:
        barenet.set_num_threads(before)
    assert np.array_equal(results[0], results[1])


def test_dropout_streams_are_given_to_every_layer_that_draws(backend):
    """attention dropout gets a stream of its own, counted with the Dropout layers'"""
    from barenet.layers import Dropout
    layers = [Embedding(VOCAB, 8), Dropout(0.1), MultiHeadAttention(1, 2, dropout=0.1),
              Dropout(0.2), MultiHeadAttention(1, 2), Dense(VOCAB, "softmax")]
    net = Sequential(layers, input_shape=(4,), backend=backend)
    assert net._spec.streams == (0, 0, 1, 2, 3, 4)
    assert net.dropout == 0.2
    assert Sequential([Embedding(VOCAB, 8), MultiHeadAttention(1, 2, dropout=0.3),
                       Dense(VOCAB, "softmax")], input_shape=(4,)).dropout == 0.3


@pytest.mark.parametrize("kind", ["learned", "sinusoidal"])
def test_positional_embedding_adds_the_position_vectors(backend, kind):
    x = Input((4,))
    emb = Embedding(VOCAB, 6)
    pos = PositionalEmbedding(7, 6, kind=kind)
    model = Model(x, Dense(3, "softmax")(pos(emb(x))), seed=2, backend=backend)
    X, _ = tokens(n=3, t=4)
    params = model.get_params()
    offsets = model._spec.offsets
    table = (pos.views(params, offsets[1])[0] if kind == "learned"
             else sinusoidal_table(7, 6))
    h = emb.views(params, offsets[0])[0][X] + table[:4]
    w, b = model.weights[-1], model.biases[-1]
    z = h @ w + b.reshape(-1)
    expected = np.exp(z - z.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-12)
    assert pos.n_params == (42 if kind == "learned" else 0)


def test_sinusoidal_table_is_the_papers_formula():
    pe = sinusoidal_table(50, 8)
    for t in (0, 1, 17, 49):
        for i in range(4):
            angle = t / 10000 ** (2 * i / 8)
            assert pe[t, 2 * i] == pytest.approx(math.sin(angle), abs=1e-15)
            assert pe[t, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-15)


def test_attention_equals_torch_with_copied_weights(backend):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    n, t, c, heads, d = 3, 7, 8, 2, 4
    for causal in (False, True):
        model = Sequential([MultiHeadAttention(heads, d, causal=causal), Dense(3)],
                           input_shape=(t, c), loss="mse", seed=1, backend=backend)
        mha = model.layers[0]
        params = model.get_params()
        wq, wk, wv, wo, bq, bk, bv, bo = (torch.tensor(np.array(a)) for a in
                                          mha.unpack(params, 0))
        x = rng.standard_normal((n, t, c))
        xt = torch.tensor(x)

        def split(m):  # (N, T, E) -> (N, H, T, D)
            return m.reshape(n, t, heads, d).transpose(1, 2)

        q, k, v = split(xt @ wq + bq), split(xt @ wk + bk), split(xt @ wv + bv)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        expected = o.transpose(1, 2).reshape(n, t, heads * d) @ wo + bo
        ours, _ = mha.forward(params, 0, [x], None, 0)
        np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-10, atol=1e-12)
        # the whole model on the chosen backend: its Dense on top of the same attention
        w, b = model.weights[1], model.biases[1]
        np.testing.assert_allclose(model.predict(x), expected.numpy() @ w + b, rtol=1e-10,
                                   atol=1e-12)
        # torch.nn.MultiheadAttention: in_proj_weight rows are Wq^T, Wk^T, Wv^T
        ref = torch.nn.MultiheadAttention(c, heads, batch_first=True, dtype=torch.float64,
                                          kdim=None, vdim=None)
        ref.in_proj_weight.data = torch.cat([wq.T, wk.T, wv.T])
        ref.in_proj_bias.data = torch.cat([bq, bk, bv])
        ref.out_proj.weight.data = wo.T.contiguous()
        ref.out_proj.bias.data = bo
        if heads * d == c:  # torch's module needs E == C
            mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1) if causal else None
            out, _ = ref(xt, xt, xt, attn_mask=mask, need_weights=False)
            np.testing.assert_allclose(ours, out.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_save_and_load(backend, tmp_path):
    X, y = tokens(n=6, t=6, pad=True)
    net = lm(backend, causal=True, dropout=0.1, mask_zero=True, pos="sinusoidal")
    net.train(X, y, epochs=2, learning_rate=0.01, optimizer="adam", verbose=False)
    net.save(tmp_path / "attn.npz")
    back = Model.load(tmp_path / "attn.npz", backend=backend)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    assert repr(back.layers[3]) == repr(net.layers[3])


def test_bad_arguments_and_inputs():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="key_dim"):
            MultiHeadAttention(2, bad)
        with pytest.raises(ValueError, match="num_heads"):
            MultiHeadAttention(bad, 2)
        with pytest.raises(ValueError, match="max_len"):
            PositionalEmbedding(bad, 4)
    with pytest.raises(ValueError, match="dropout"):
        MultiHeadAttention(2, 2, dropout=1.0)
    with pytest.raises(TypeError, match="causal"):
        MultiHeadAttention(2, 2, causal="yes")
    with pytest.raises(ValueError, match="kind"):
        PositionalEmbedding(8, 4, kind="rotary")
    with pytest.raises(ValueError, match=r"sequence input \(T, C\).*a vector"):
        Sequential([MultiHeadAttention(2, 2), Dense(2)], input_shape=(6,))
    with pytest.raises(ValueError, match=r"sequence input \(T, C\).*an image"):
        Sequential([MultiHeadAttention(2, 2), Dense(2)], input_shape=(1, 4, 4))
    with pytest.raises(ValueError, match="output_dim=4.*C=5"):
        Sequential([PositionalEmbedding(8, 4), Dense(2)], input_shape=(6, 5))
    with pytest.raises(ValueError, match="max_len=5.*T=6"):
        Sequential([PositionalEmbedding(5, 4), Dense(2)], input_shape=(6, 4))
    with pytest.raises(ValueError, match=r"\(T, 4\)"):
        Sequential([PositionalEmbedding(5, 4), Dense(2)], input_shape=(4,))
    # a sequence of the wrong length or width at predict time
    net = Sequential([MultiHeadAttention(2, 2), Dense(2)], input_shape=(6, 4), loss="mse")
    with pytest.raises(ValueError):
        net.predict(np.zeros((3, 5, 4)))
    # l-bfgs refuses attention dropout as it refuses Dropout
    net = Sequential([MultiHeadAttention(2, 2, dropout=0.5), Dense(2)], input_shape=(6, 4),
                     loss="mse")
    with pytest.raises(ValueError, match="dropout"):
        net.train(np.zeros((3, 6, 4)), np.zeros((3, 6, 2)), epochs=1, optimizer="lbfgs",
                  verbose=False)


# -- generation with the key/value cache --------------------------------------------------

def gpt(backend, t=6, max_len=12, pos="learned", dtype="float64"):
    """a causal one-block model whose attention and positions carry over prediction calls"""
    x = Input((t,))
    h = PositionalEmbedding(max_len, 8, kind=pos)(Embedding(VOCAB, 8)(x))
    a = MultiHeadAttention(2, 4, causal=True, max_len=max_len)(LayerNormalization()(h))
    h = Add()([h, a])
    return Model(x, Dense(VOCAB, "softmax")(LayerNormalization()(h)), seed=6,
                 backend=backend, dtype=dtype)


def recompute_generate(model, prompt, steps, temperature, seed):
    """generate without a cache: the whole prefix predicted again for every new token"""
    from barenet._generate import _sample, _twin
    rng = np.random.default_rng(seed)
    seq = np.array(prompt).reshape(1, -1)
    out = []
    for _ in range(steps):
        twin = _twin(model, seq.shape[1])
        proba = twin.predict(seq)[:, -1]
        token = _sample(proba, temperature, None, rng)
        out.append(int(token[0]))
        seq = np.concatenate([seq, token[:, None]], axis=1)
    return np.array(out)


@pytest.mark.parametrize("pos", ["learned", "sinusoidal"])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_generate_with_the_cache_equals_recomputing_the_prefix(backend, pos, temperature,
                                                               dtype):
    X, y = tokens(n=16, t=6, seed=3)
    model = gpt(backend, pos=pos, dtype=dtype)
    model.train(X, y, epochs=3, learning_rate=0.01, optimizer="adam", verbose=False)
    prompt = [3, 1, 4]
    cached = model.generate(prompt, 9, temperature=temperature, seed=11)
    np.testing.assert_array_equal(cached,
                                  recompute_generate(model, prompt, 9, temperature, 11))
    assert cached.shape == (9,)
    # a batch of prompts: each row its own sequence
    batch = model.generate([[3, 1, 4], [2, 2, 5]], 5, temperature=0.0)
    np.testing.assert_array_equal(batch[1], recompute_generate(model, [2, 2, 5], 5, 0.0, 0))


def test_the_cache_in_one_call_equals_step_by_step(backend):
    """predicting a prefix in one call with a carry, then continuing, equals the steps one by
    one: the cache holds the keys and values of every step seen, positions continue"""
    from barenet._generate import _twin
    model = gpt(backend)
    X, _ = tokens(n=2, t=6, seed=1)
    whole = model.predict(X)
    spec = _twin(model, 1)._spec
    for first in (1, 4):
        twin = _twin(model, first)
        carry = np.zeros(2 * spec.carry_offsets[1])
        head = twin._backend.predict(twin._params, X[:, :first].astype(float), carry=carry)
        np.testing.assert_allclose(head.reshape(2, first, VOCAB), whole[:, :first],
                                   rtol=1e-12, atol=1e-14)
        step = _twin(model, 1)
        for i in range(first, 6):
            out = step._backend.predict(step._params, X[:, i:i + 1].astype(float), carry=carry)
            np.testing.assert_allclose(out.reshape(2, VOCAB), whole[:, i], rtol=1e-12,
                                       atol=1e-14)


def test_generate_without_a_cache_recomputes_and_gives_the_same_tokens(backend):
    """a causal attention model without max_len generates by predicting its window again
    (generate's recomputed way); with the cache it gives the same tokens"""
    model = gpt(backend, t=10, max_len=10)
    X, y = tokens(n=16, t=10, seed=5)
    model.train(X, y, epochs=2, learning_rate=0.01, optimizer="adam", verbose=False)
    x = Input((10,))
    h = PositionalEmbedding(10, 8)(Embedding(VOCAB, 8)(x))
    a = MultiHeadAttention(2, 4, causal=True)(LayerNormalization()(h))
    h = Add()([h, a])
    plain = Model(x, Dense(VOCAB, "softmax")(LayerNormalization()(h)), backend=backend)
    plain.set_params(model.get_params())
    np.testing.assert_array_equal(plain.generate([2, 7], 8, temperature=0.0),
                                  model.generate([2, 7], 8, temperature=0.0))


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_generate_past_the_window_caches_then_slides(backend, temperature):
    """a causal model without max_len generates with a cache of its window while the prefix
    fits, then on the sliding window: the tokens of recomputing the window every time"""
    X, y = tokens(n=16, t=6, seed=3)
    x = Input((6,))
    h = PositionalEmbedding(6, 8)(Embedding(VOCAB, 8)(x))
    h = Add()([h, MultiHeadAttention(2, 4, causal=True)(LayerNormalization()(h))])
    model = Model(x, Dense(VOCAB, "softmax")(LayerNormalization()(h)), seed=6,
                  backend=backend, dtype="float64")
    model.train(X, y, epochs=3, learning_rate=0.01, optimizer="adam", verbose=False)
    window = model.input_shape[0]
    from barenet._generate import _sample
    for prompt in ([3], [3, 1, 4, 1, 5, 2], [3, 1, 4, 1, 5, 2, 6, 2]):
        steps = window + 4
        seq = list(prompt)
        expected = []
        rng = np.random.default_rng(11)
        for _ in range(steps):  # the window predicted again for every token
            win = seq[-window:]
            x = np.zeros((1, window))
            x[0, :len(win)] = win
            token = _sample(model.predict(x)[:, len(win) - 1], temperature, None, rng)
            expected.append(int(token[0]))
            seq.append(int(token[0]))
        np.testing.assert_array_equal(model.generate(prompt, steps, temperature=temperature,
                                                     seed=11), expected)


def test_generate_refuses_attention_both_ways_and_too_long_runs(backend):
    x = Input((6,))
    h = MultiHeadAttention(2, 4)(PositionalEmbedding(6, 8)(Embedding(VOCAB, 8)(x)))
    model = Model(x, Dense(VOCAB, "softmax")(h), backend=backend)
    with pytest.raises(ValueError, match="mixes steps both ways"):
        model.generate([1, 2], 3)
    model = gpt(backend, max_len=8)
    model.generate([1, 2, 3], 6)  # 3 + 5 fed steps: fits
    with pytest.raises(ValueError, match="holds 8 steps"):
        model.generate([1, 2, 3], 7)
    with pytest.raises(ValueError, match="needs causal=True"):
        MultiHeadAttention(2, 4, max_len=8)
    with pytest.raises(ValueError, match="max_len"):
        MultiHeadAttention(2, 4, causal=True, max_len=0)
    with pytest.raises(ValueError, match="key/value cache would hold"):
        Sequential([MultiHeadAttention(64, 64, causal=True, max_len=2**14), Dense(2)],
                   input_shape=(4, 8), loss="mse")
    with pytest.raises(ValueError, match="kept for backward"):
        Sequential([MultiHeadAttention(8, 2), Dense(2)], input_shape=(5000, 8), loss="mse")


@pytest.mark.usefixtures("needs_compiled")
def test_dropout_on_a_sequence_feeds_kinds_that_check_their_input_shape():
    """Dropout numbers a sequence's values in their stored order (its input described flat
    to C) but its output stays a sequence for the Dense, LayerNormalization and Add that
    read it (a Transformer block's residual dropout)"""
    X, y = tokens(n=8, t=5, seed=7)
    nets = []
    for backend in ("numpy", "compiled"):
        from barenet.layers import Dropout
        x = Input((5,))
        e = Embedding(VOCAB, 8)(x)
        h = Dropout(0.3)(MultiHeadAttention(2, 4, causal=True)(e))
        h = LayerNormalization()(Dropout(0.2)(Add()([e, h])))
        nets.append(Model(x, Dense(VOCAB, "softmax")(Dropout(0.1)(h)), seed=2,
                          backend=backend))
    hist = [net.train(X, y, epochs=2, learning_rate=0.01, batch_size=4, optimizer="adam",
                      verbose=False) for net in nets]
    np.testing.assert_allclose(hist[1], hist[0], rtol=1e-9)
    np.testing.assert_allclose(nets[1].get_params(), nets[0].get_params(), rtol=1e-9,
                               atol=1e-11)
