"""Token sequences: Embedding, step masks, the sequence cross-entropy, gradient clipping
and generate's argument checks, on both backends (the recurrent layers' own tests are in
test_recurrent.py)."""

import numpy as np
import pytest

import barenet
from barenet import Input, Model, Sequential
from barenet.layers import Dense, Embedding, Flatten, GlobalAveragePooling1D, LayerNormalization
from barenet.optimizers import SGD, Adam, AdamW, RMSprop
from conftest import numeric_gradient


def tokens(n=6, t=7, vocab=11, pad_from=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(1, vocab, (n, t))
    if pad_from is not None:  # right padding, a different length per row
        for i in range(n):
            X[i, max(1, pad_from - i % 3):] = 0
    y = rng.integers(0, vocab, (n, t))
    return X, y


def lm(backend, mask_zero=True, vocab=11, dtype="float64", **kwargs):
    return Sequential([Embedding(vocab, 5, mask_zero=mask_zero), Dense(6, "tanh"),
                       LayerNormalization(), Dense(vocab, "softmax")], input_shape=(7,),
                      seed=3, backend=backend, dtype=dtype, **kwargs)


@pytest.mark.parametrize("mask_zero", [False, True])
def test_sequence_cross_entropy_gradient_matches_finite_differences(backend, mask_zero):
    X, y = tokens(pad_from=5)
    net = lm(backend, mask_zero=mask_zero, l2=0.01)
    _, grad = net.gradient(X, y)
    np.testing.assert_allclose(grad, numeric_gradient(net, X, y), rtol=1e-5, atol=1e-8)


def test_padded_steps_do_not_count(backend):
    """with mask_zero the loss is the mean over the valid steps only: changing the targets
    of padded steps changes nothing; without the mask it does"""
    X, y = tokens(pad_from=5)
    other = y.copy()
    other[X == 0] = (other[X == 0] + 1) % 11
    masked, plain = lm(backend), lm(backend, mask_zero=False)
    assert masked.loss(X, y) == masked.loss(X, other)
    assert plain.loss(X, y) != plain.loss(X, other)
    # the mean over valid steps: a row's steps counted once each
    proba = masked.predict(X)
    picked = np.take_along_axis(proba, y[..., None], axis=-1)[..., 0]
    valid = X != 0
    np.testing.assert_allclose(masked.loss(X, y), -np.log(picked[valid]).mean(), rtol=1e-10)


def test_embedding_output_is_the_table_row(backend):
    net = lm(backend)
    X, _ = tokens()
    x = Input((7,))
    emb = Embedding(11, 5)
    model = Model(x, Dense(3, "softmax")(emb(x)), seed=1, backend=backend)
    table = model.weights[0]
    w, b = model.weights[1], model.biases[1]
    z = table[X] @ w + b.reshape(-1)
    expected = np.exp(z - z.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-12)
    assert net.predict(X).shape == (6, 7, 11)


@pytest.mark.usefixtures("needs_compiled")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_compiled_training_equals_the_reference(dtype):
    X, y = tokens(n=40, pad_from=6, seed=2)
    nets = [lm(b, dtype=dtype) for b in ("numpy", "compiled")]
    hist = [net.train(X, y, epochs=3, learning_rate=0.01, batch_size=16, optimizer="adam",
                      verbose=False) for net in nets]
    tol = 1e-9 if dtype == "float64" else 2e-4
    np.testing.assert_allclose(hist[1], hist[0], rtol=tol)
    np.testing.assert_allclose(nets[1].get_params(), nets[0].get_params(), rtol=tol,
                               atol=tol * 1e-2)


@pytest.mark.usefixtures("needs_compiled")
def test_training_does_not_depend_on_the_thread_count():
    X, y = tokens(n=300, pad_from=6, seed=4)
    results = []
    before = barenet.get_num_threads()
    try:
        for threads in (1, 2):
            barenet.set_num_threads(threads)
            net = lm("compiled")
            net.train(X, y, epochs=2, learning_rate=1e-2, batch_size=64,
                      optimizer=Adam(clipnorm=0.5), verbose=False)
            results.append(net.get_params())
    finally:
        barenet.set_num_threads(before)
    assert np.array_equal(results[0], results[1])


def test_sparse_cross_entropy_on_a_vector_output(backend):
    """loss="sparse_categorical_crossentropy" takes class ids (N,) for a vector output and
    equals the one-hot categorical cross-entropy"""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 4))
    y = rng.integers(0, 3, 12)
    a = Sequential([Dense(3, "softmax")], input_shape=(4,), seed=0, backend=backend,
                   loss="sparse_categorical_crossentropy")
    b = Sequential([Dense(3, "softmax")], input_shape=(4,), seed=0, backend=backend)
    np.testing.assert_allclose(a.loss(X, y), b.loss(X, y), rtol=1e-12)
    np.testing.assert_allclose(a.gradient(X, y)[1], b.gradient(X, y)[1], rtol=1e-10,
                               atol=1e-14)


def test_a_sequence_output_with_mse(backend):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5, 4, 3))
    y = rng.standard_normal((5, 4, 2))
    net = Sequential([Dense(2)], input_shape=(4, 3), seed=0, backend=backend)
    assert net.loss_name == "mse"
    np.testing.assert_allclose(net.loss(X, y), np.mean((net.predict(X) - y) ** 2), rtol=1e-12)
    _, grad = net.gradient(X, y)
    np.testing.assert_allclose(grad, numeric_gradient(net, X, y), rtol=1e-5, atol=1e-9)


def test_a_mask_pools_away_before_a_vector_output(backend):
    """the mask ends where the steps end (pooling): a vector output trains as usual"""
    X, _ = tokens(pad_from=5)
    net = Sequential([Embedding(11, 4, mask_zero=True), GlobalAveragePooling1D(),
                      Dense(2, "softmax")], input_shape=(7,), seed=0, backend=backend)
    net.train(X, np.arange(6) % 2, epochs=2, learning_rate=0.1, verbose=False)


def test_bad_token_input_is_refused(backend):
    net = lm(backend)
    X, y = tokens()
    with pytest.raises(ValueError, match=r"token ids.*\[0, 11\)"):
        net.predict(np.where(X == 3, 11, X))
    with pytest.raises(ValueError, match="token ids.*integers"):
        net.predict(X + 0.5)
    with pytest.raises(ValueError, match="token ids.*from -1"):
        net.predict(X - 2)
    with pytest.raises(ValueError, match="7 columns"):
        net.predict(X[:, :5])
    with pytest.raises(ValueError, match=r"class ids of shape \(6, 7\)"):
        net.train(X, y[:, :3], epochs=1, verbose=False)
    with pytest.raises(ValueError, match=r"class ids must be in \[0, 11\)"):
        net.train(X, y + 11, epochs=1, verbose=False)


def test_bad_embedding_arguments_and_graphs():
    with pytest.raises(ValueError, match="input_dim"):
        Embedding(0, 3)
    with pytest.raises(TypeError, match="mask_zero"):
        Embedding(5, 3, mask_zero=1)
    with pytest.raises(ValueError, match=r"token ids of shape \(T,\)"):
        Sequential([Embedding(5, 3), Dense(2)], input_shape=(4, 2))
    with pytest.raises(ValueError, match="float32 holds exactly"):
        Sequential([Embedding(2**24 + 1, 1), Flatten(), Dense(2, "softmax")],
                   input_shape=(2,), dtype="float32")
    x = Input((4,))
    with pytest.raises(ValueError, match="must read the model's input"):
        Model(x, Dense(2, "softmax")(Flatten()(Embedding(5, 2)(Dense(4)(x)))))
    with pytest.raises(ValueError, match="would count the padded steps"):
        Sequential([Embedding(5, 3, mask_zero=True), Dense(2)], input_shape=(4,), loss="mse")


def test_save_and_load_a_token_model(backend, tmp_path):
    X, y = tokens(pad_from=5)
    net = lm(backend)
    net.train(X, y, epochs=2, learning_rate=0.01, optimizer=Adam(clipnorm=1.0, clipvalue=0.1),
              verbose=False)
    net.save(tmp_path / "lm.npz")
    back = Sequential.load(tmp_path / "lm.npz", backend=backend)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    assert back.optimizer.clipnorm == 1.0 and back.optimizer.clipvalue == 0.1


# -- gradient clipping ----------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda **k: SGD(**k), lambda **k: SGD(momentum=0.9, **k),
                                  lambda **k: RMSprop(**k), lambda **k: Adam(**k),
                                  lambda **k: AdamW(**k)])
def test_every_optimizer_clips_the_same_in_c_and_numpy(make, needs_compiled):
    rng = np.random.default_rng(0)
    grads = rng.standard_normal(1000) * 10
    for clip in ({"clipnorm": 3.0}, {"clipvalue": 0.5}, {"clipnorm": 1.0, "clipvalue": 2.0}):
        results = []
        for update in ("update_numpy", "update_compiled"):
            opt = make(**clip)
            params = np.ones(1000)
            opt.reset(1000, np.float64)
            getattr(opt, update)(params, grads.copy(), 0.1)
            results.append(params)
        np.testing.assert_allclose(results[1], results[0], rtol=1e-12)


def test_clipping_formulas():
    g = np.array([3.0, -4.0, 0.5])
    np.testing.assert_array_equal(SGD(clipvalue=1.0).clip_numpy(g), [1.0, -1.0, 0.5])
    norm = np.sqrt(9 + 16 + 0.25)
    np.testing.assert_allclose(SGD(clipnorm=1.0).clip_numpy(g), g / norm, rtol=1e-15)
    assert SGD(clipnorm=100.0).clip_numpy(g) is g  # below the norm: untouched
    # clipvalue first, then the norm of the clipped gradient
    np.testing.assert_allclose(SGD(clipvalue=1.0, clipnorm=1.0).clip_numpy(g),
                               np.array([1.0, -1.0, 0.5]) / 1.5, rtol=1e-15)
    with pytest.raises(ValueError, match="clipnorm"):
        Adam(clipnorm=0)
    with pytest.raises(TypeError, match="clipvalue"):
        Adam(clipvalue="big")


def test_clipping_in_training_matches_the_reference_and_bounds_the_step(backend):
    """one SGD step of lr 1 with clipnorm c moves the parameters by exactly c"""
    X, y = tokens(pad_from=5)
    net = lm(backend)
    before = net.get_params()
    net.train(X, y, epochs=1, learning_rate=1.0, optimizer=SGD(clipnorm=1e-3), verbose=False)
    np.testing.assert_allclose(np.linalg.norm(net.get_params() - before), 1e-3, rtol=1e-9)


# -- generate: what it refuses (sampling itself is tested with the recurrent layers) ------

def test_generate_refuses_models_it_cannot_sample_from(backend):
    pooled = Sequential([Embedding(11, 4), Flatten(), Dense(11, "softmax")],
                        input_shape=(7,), backend=backend)
    with pytest.raises(ValueError, match="language model"):
        pooled.generate([1, 2], 3)
    net = lm(backend)
    with pytest.raises(ValueError, match=r"token ids in \[0, 11\)"):
        net.generate([1, 11], 3)
    with pytest.raises(ValueError, match="steps"):
        net.generate([1, 2], -1)
    with pytest.raises(ValueError, match="temperature"):
        net.generate([1, 2], 3, temperature=-1.0)
    with pytest.raises(ValueError, match="top_k"):
        net.generate([1, 2], 3, top_k=0)
    mlp = Sequential([Dense(3, "softmax")], input_shape=(4,), backend=backend)
    with pytest.raises(ValueError, match="language model"):
        mlp.generate([1, 2], 3)


def test_validation_on_sequences_counts_valid_steps(backend):
    X, y = tokens(n=12, pad_from=5)
    net = lm(backend)
    hist = net.train(X, y, epochs=2, learning_rate=0.01, validation_data=(X, y), verbose=False)
    proba = net.predict(X)
    valid = X != 0
    expected = (proba.argmax(-1) == y)[valid].mean()
    assert hist.metrics["val_accuracy"][-1] == pytest.approx(expected)
    assert net.predict_classes(X).shape == (12, 7)


# -- Masking: padding in sequences of values -------------------------------------------------

def padded_values(n=6, t=5, c=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, t, c))
    lengths = np.array([t - i % 3 for i in range(n)])
    for i, length in enumerate(lengths):
        X[i, length:] = 0.0
    y = rng.integers(0, 4, (n, t))
    return X, y, lengths


def masked_values_model(backend, dtype="float64"):
    from barenet.layers import Masking
    return Sequential([Masking(0.0), Dense(6, "tanh"), Dense(4, "softmax")],
                      input_shape=(5, 3), seed=2, backend=backend, dtype=dtype)


def test_masking_leaves_padded_steps_out(backend):
    X, y, lengths = padded_values()
    net = masked_values_model(backend)
    valid = np.arange(5)[None, :] < lengths[:, None]
    proba = net.predict(X)
    picked = np.take_along_axis(proba, y[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(net.loss(X, y), -np.log(picked[valid]).mean(), rtol=1e-10)
    other = np.where(valid, y, (y + 1) % 4)
    assert net.loss(X, other) == net.loss(X, y)
    _, grad = net.gradient(X, y)
    np.testing.assert_allclose(grad, numeric_gradient(net, X, y), rtol=1e-5, atol=1e-8)


def test_masking_output_zeroes_padded_steps_and_a_single_nonzero_value_counts(backend):
    from barenet.layers import Masking
    x = Input((3, 2))
    m = Masking(-1.0)
    model = Model(x, Dense(2, "softmax")(m(x)), seed=0, backend=backend)
    X = np.array([[[-1.0, -1.0], [-1.0, 0.5], [2.0, 3.0]]])
    assert m.compute_mask([X]).tolist() == [[0.0, 1.0, 1.0]]
    w, b = model.weights[0], model.biases[0]
    z = np.array([[[0.0, 0.0], [-1.0, 0.5], [2.0, 3.0]]]) @ w + b.reshape(-1)
    e = np.exp(z - z.max(-1, keepdims=True))
    np.testing.assert_allclose(model.predict(X), e / e.sum(-1, keepdims=True), rtol=1e-12)


@pytest.mark.usefixtures("needs_compiled")
def test_masking_compiled_equals_the_reference():
    X, y, _ = padded_values(n=40, seed=3)
    nets = [masked_values_model(b) for b in ("numpy", "compiled")]
    hist = [net.train(X, y, epochs=3, learning_rate=0.01, batch_size=16, optimizer="adam",
                      verbose=False) for net in nets]
    np.testing.assert_allclose(hist[1], hist[0], rtol=1e-9)
    np.testing.assert_allclose(nets[1].get_params(), nets[0].get_params(), rtol=1e-9,
                               atol=1e-12)


def test_masking_arguments():
    from barenet.layers import Masking
    with pytest.raises(ValueError, match="finite"):
        Masking(float("nan"))
    with pytest.raises(TypeError, match="mask_value"):
        Masking("0")
    with pytest.raises(ValueError, match=r"sequence input \(T, C\)"):
        Sequential([Masking(), Dense(2)], input_shape=(4,))


# -- WarmupCosine: a learning rate per optimizer step ----------------------------------------

def test_step_lr_formula():
    from barenet.schedules import WarmupCosine, step_lr
    s = WarmupCosine(warmup_steps=4, decay_steps=10, min_lr=0.1)
    rates = [s.rate(k, 1.0) for k in range(16)]
    np.testing.assert_allclose(rates[:4], [0.25, 0.5, 0.75, 1.0])
    assert rates[4] == 1.0 and rates[9] == pytest.approx(0.55) and rates[14:] == [0.1, 0.1]
    assert step_lr(2.0, 7, 3, 0, 0.0) == 2.0
    with pytest.raises(ValueError, match="warmup_steps > 0 or decay_steps > 0"):
        WarmupCosine()
    with pytest.raises(ValueError, match="decay_steps"):
        WarmupCosine(decay_steps=-1)


def test_warmup_cosine_steps_follow_the_formula_across_train_calls(backend):
    """SGD under WarmupCosine: each step uses the rate of its global step number, in one
    train call or several, equal to a hand-written loop of update_numpy steps"""
    from barenet.schedules import WarmupCosine
    X, y = tokens(n=24, pad_from=6, seed=5)
    sched = WarmupCosine(warmup_steps=3, decay_steps=5, min_lr=0.001)
    one = lm(backend)
    one.train(X, y, epochs=3, learning_rate=0.5, batch_size=8, shuffle=False,
              optimizer=SGD(), lr_schedule=sched, verbose=False)
    split = lm(backend)
    opt = SGD()
    for _ in range(3):
        split.train(X, y, epochs=1, learning_rate=0.5, batch_size=8, shuffle=False,
                    optimizer=opt, lr_schedule=sched, verbose=False)
    np.testing.assert_array_equal(split.get_params(), one.get_params())
    hand = lm("numpy")
    ref = SGD()
    ref.reset(hand.n_params, np.float64)
    for _ in range(3):
        for start in range(0, 24, 8):
            _, grad = hand.gradient(X[start:start + 8], y[start:start + 8])
            ref.update_numpy(hand._params, grad, sched.rate(ref.step, 0.5))
    np.testing.assert_allclose(one.get_params(), hand.get_params(), rtol=1e-9, atol=1e-12)


# -- AdamW(decay="weights"): biases, normalisation and embeddings do not decay -----------

def test_adamw_decays_only_the_weights(backend):
    """with zero gradients Adam's update is zero, so one step shows the decay alone: the
    kernels shrink by 1 - lr wd, the embedding table, biases and LayerNorm stay"""
    X, y = tokens(n=8)
    net = lm(backend)
    before = net.get_params()
    opt = AdamW(weight_decay=0.5, decay="weights")
    net.train(X, y, epochs=1, learning_rate=0.1, optimizer=opt, verbose=False)
    after_w = [w.copy() for w in net.weights]
    fresh = lm(backend)
    fresh.set_params(before)
    for i, layer in enumerate(l for l in fresh.layers if l.n_params):
        if layer.penalised:  # a kernel: decayed by exactly the factor before Adam's step
            assert not np.allclose(after_w[i], fresh.weights[i])
    # the decay itself, apart from Adam: reference by hand on the NumPy backend
    hand = lm("numpy")
    hand.set_params(before)
    ref = AdamW(weight_decay=0.5, decay="weights")
    ref.reset(hand.n_params, np.float64)
    _, grad = hand.gradient(X, y)
    ref.decay_weights([w for w, l in zip(hand.weights, (l for l in hand.layers if l.n_params))
                       if l.penalised], 0.1)
    ref.update_numpy(hand._params, grad, 0.1, weights_decayed=True)
    np.testing.assert_allclose(net.get_params(), hand.get_params(), rtol=1e-9, atol=1e-12)
    # the embedding table moved only by Adam's step, never by the decay
    table_step = net.weights[0] - before[:net.weights[0].size].reshape(net.weights[0].shape)
    assert np.abs(table_step).max() <= 0.1 * 1.0001


def test_adamw_decay_weights_needs_train():
    opt = AdamW(decay="weights")
    opt.reset(3, np.float64)
    with pytest.raises(ValueError, match="train the network"):
        opt.update_numpy(np.ones(3), np.ones(3), 0.1)
    with pytest.raises(ValueError, match="'all' or 'weights'"):
        AdamW(decay="biases")


def test_generate_by_recomputing_a_causal_model(backend):
    """a model without carried state whose steps do not mix (Embedding, per-step layers)
    generates by running on the prefix: the token drawn from the output at the prefix's
    last step, the same with either backend, greedy = argmax of predict"""
    net = lm(backend, mask_zero=False)
    prompt = np.array([[3, 4, 5], [6, 7, 8]])
    tokens = net.generate(prompt, 5, temperature=0, seed=0)
    assert tokens.shape == (2, 5)
    seqs = prompt.tolist()
    for k in range(5):
        x = np.zeros((2, 7), dtype=int)
        for i, row in enumerate(seqs):
            window = row[-7:]
            x[i, :len(window)] = window
        proba = net.predict(x)
        for i, row in enumerate(seqs):
            row.append(int(proba[i, min(len(row), 7) - 1].argmax()))
    assert tokens.tolist() == [row[3:] for row in seqs]
    sampled = net.generate([3, 4], 6, temperature=0.7, top_k=3, seed=5)
    assert sampled.shape == (6,) and sampled.max() < 11
    assert np.array_equal(sampled, net.generate([3, 4], 6, temperature=0.7, top_k=3, seed=5))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sampling_draws_from_the_tempered_top_k_distribution(dtype):
    """generation's sampler (backend-free: both backends' generate call it): the token
    frequencies of many rows follow proba ** (1 / temperature) over the top_k, a
    temperature near 0 does not underflow to nothing, and temperature 0 is argmax"""
    from barenet._generate import _sample
    proba = np.array([[0.05, 0.4, 0.1, 0.3, 0.15]], dtype=dtype)
    rows = np.repeat(proba, 200_000, axis=0)
    for temperature, top_k in [(1.0, None), (0.5, None), (2.0, 3), (1.0, 2)]:
        want = proba[0].astype(np.float64) ** (1 / temperature)
        if top_k is not None:
            want[np.argsort(want)[:-top_k]] = 0
        want /= want.sum()
        got = np.bincount(_sample(rows, temperature, top_k, np.random.default_rng(0)),
                          minlength=5) / len(rows)
        np.testing.assert_allclose(got, want, atol=4e-3)
    np.testing.assert_array_equal(_sample(rows[:50], 1e-3, None, np.random.default_rng(1)),
                                  np.ones(50))
    np.testing.assert_array_equal(_sample(np.array([[0.2, 0.1, 0.7], [0.5, 0.3, 0.2]],
                                                   dtype=dtype), 0, None, None), [2, 0])
