"""Recurrent layers (barenet.recurrent, csrc/ops/recurrent.c): gradients against finite
differences in float64 on both backends, the compiled core against the NumPy reference
after seeded training, thread-count independence, PyTorch's RNN/LSTM/GRU with mapped
weights, masks and carried state on the reference, Keras's initialisers, bad input."""

import numpy as np
import pytest

import barenet
from barenet import GRU, LSTM, Bidirectional, Input, Model, Sequential, SimpleRNN
from barenet.layers import Dense, Flatten

from conftest import require_compiled
from conftest import numeric_gradient

def GRU_v1(*args, **kwargs):
    """Keras's original GRU (reset_after=False), which PyTorch does not have"""
    return GRU(*args, reset_after=False, **kwargs)


TORCH_CELLS = {"simplernn": SimpleRNN, "lstm": LSTM, "gru": GRU}
CELLS = {**TORCH_CELLS, "gru_v1": GRU_v1}


def rnn_model(cell, steps, channels=2, units=3, return_sequences=False, go_backwards=False,
              bidirectional=False, stacked=False, dropout=0.0, head=2, **kwargs):
    """cell layer(s) on a (steps, channels) sequence, then Flatten (sequence output) and a
    sigmoid Dense head"""
    def make(rs):
        layer = CELLS[cell](units, return_sequences=rs, go_backwards=go_backwards,
                            dropout=dropout)
        return Bidirectional(layer) if bidirectional else layer
    layers = [make(True)] if stacked else []
    layers.append(make(return_sequences))
    if return_sequences:
        layers.append(Flatten())
    layers.append(Dense(head, activation="sigmoid"))
    return Sequential(layers, input_shape=(steps, channels), loss="binary_crossentropy",
                      **kwargs)


def data(steps, channels=2, n=5, head=2, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, steps, channels)).astype(dtype)
    y = (rng.random((n, head)) > 0.5).astype(dtype)
    return X, y


GRADIENT_CASES = [
    dict(steps=1), dict(steps=2), dict(steps=5), dict(steps=5, return_sequences=True),
    dict(steps=4, go_backwards=True), dict(steps=4, go_backwards=True, return_sequences=True),
    dict(steps=3, bidirectional=True), dict(steps=3, bidirectional=True, return_sequences=True),
    dict(steps=3, stacked=True), dict(steps=3, stacked=True, bidirectional=True),
]


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("case", GRADIENT_CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_gradient_matches_finite_differences(backend, cell, case):
    net = rnn_model(cell, seed=3, l2=0.05, backend=backend, **case)
    X, y = data(case["steps"])
    _, grad = net.gradient(X, y)
    np.testing.assert_allclose(grad, numeric_gradient(net, X, y), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_dropout_training_gradient_matches_finite_differences(backend, cell):
    """the gradient a training step sees (dropout on the inputs) against finite differences
    of that step's loss (the same masks)"""
    net = rnn_model(cell, steps=3, dropout=0.4, seed=2, backend=backend, bidirectional=True)
    X, y = data(3, n=6)
    X, y = net._Xy(X, y)

    def loss_grad(p):
        dp = np.empty_like(net._params)
        loss = net._backend.loss_and_grad(np.ascontiguousarray(p), X, y, dp, 0.0, 0.0, None,
                                          drop=(11, 0, 0))
        return loss, dp
    p0 = net.get_params()
    _, grad = loss_grad(p0)
    num = np.empty_like(p0)
    for i in range(p0.size):
        p = p0.copy()
        p[i] += 1e-6
        up = loss_grad(p)[0]
        p[i] -= 2e-6
        num[i] = (up - loss_grad(p)[0]) / 2e-6
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-8)
    assert not np.allclose(loss_grad(p0)[0], net.loss(X.reshape(6, 3, 2), y))


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "identity", "leaky_relu"])
def test_simplernn_activations(backend, activation):
    net = Sequential([SimpleRNN(3, activation=activation), Dense(1, activation="sigmoid")],
                     input_shape=(3, 2), seed=4, backend=backend)
    X, y = data(3, head=1)
    _, grad = net.gradient(X, y)
    np.testing.assert_allclose(grad, numeric_gradient(net, X, y), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-9), ("float32", 2e-4)])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_compiled_training_matches_the_reference(cell, dtype, rtol):
    require_compiled()
    X, y = data(6, channels=3, n=40, seed=5, dtype=dtype)
    nets = [rnn_model(cell, steps=6, channels=3, units=5, stacked=True, bidirectional=True,
                      dropout=0.2, seed=7, dtype=dtype, backend=b) for b in ("numpy", "compiled")]
    histories = [net.train(X, y, epochs=3, learning_rate=0.01, batch_size=16,
                           optimizer="adam", verbose=False) for net in nets]
    np.testing.assert_allclose(histories[1], histories[0], rtol=rtol)
    np.testing.assert_allclose(nets[1].get_params(), nets[0].get_params(), rtol=rtol,
                               atol=rtol * 1e-2)
    np.testing.assert_allclose(nets[1].predict(X), nets[0].predict(X), rtol=rtol,
                               atol=rtol * 1e-2)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_input_dropout_with_more_channels_than_gate_units_matches_the_reference(cell):
    """the dropped input lives in the layer's scratch, whose size then follows the input's
    channels (C > G U) rather than the prediction's projections; float64"""
    require_compiled()
    X, y = data(5, channels=17, n=24, seed=3, dtype="float64")
    nets = [rnn_model(cell, steps=5, channels=17, units=2, stacked=True, bidirectional=True,
                      dropout=0.3, seed=4, dtype="float64", backend=b)
            for b in ("numpy", "compiled")]
    histories = [net.train(X, y, epochs=2, learning_rate=0.01, batch_size=8,
                           optimizer="adam", verbose=False) for net in nets]
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-9)
    np.testing.assert_allclose(nets[1].get_params(), nets[0].get_params(), rtol=1e-9,
                               atol=1e-11)


def test_compiled_training_with_packed_step_weights_matches_the_reference():
    """an LSTM large enough that its per-step products read the recurrent weights packed
    once per call (gemm.h, bn_dgemm_pack_b; forward Wh, backward Wh^T), float64"""
    require_compiled()
    X, y = data(4, channels=3, n=80, seed=5, dtype="float64")
    nets = [rnn_model("lstm", steps=4, channels=3, units=64, seed=7, dtype="float64",
                      backend=b) for b in ("numpy", "compiled")]
    before = barenet.get_num_threads()
    try:
        barenet.set_num_threads(1)
        histories = [net.train(X, y, epochs=2, learning_rate=0.01, batch_size=80,
                               optimizer="adam", verbose=False) for net in nets]
    finally:
        barenet.set_num_threads(before)
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-9)
    np.testing.assert_allclose(nets[1].get_params(), nets[0].get_params(), rtol=1e-9,
                               atol=1e-11)


@pytest.mark.parametrize("cell, units, batch", [(c, 32, 128) for c in sorted(CELLS)]
                         + [("lstm", 64, 64), ("gru", 64, 64), ("lstm", 64, 130)])
def test_training_does_not_depend_on_the_thread_count(cell, units, batch):
    """the threads split the rows of every step; with 64 units and batch 64 one thread's
    per-step products take GEMM's packed path (the recurrent weights packed once for all
    steps) and two threads' halves its direct one; with batch 130 both take packed panels"""
    require_compiled()
    X, y = data(8, channels=8, n=260, seed=6, dtype=np.float32)
    results = []
    before = barenet.get_num_threads()
    try:
        for threads in (1, 2):
            barenet.set_num_threads(threads)
            net = rnn_model(cell, steps=8, channels=8, units=units, return_sequences=True,
                            bidirectional=True, dropout=0.1, seed=0, dtype=np.float32,
                            backend="compiled")
            net.train(X, y, epochs=2, learning_rate=1e-2, batch_size=batch, optimizer="adam",
                      verbose=False)
            results.append((net.get_params(), net.predict(X)))
    finally:
        barenet.set_num_threads(before)
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])


def test_a_graph_model_with_recurrent_layers(backend):
    x = Input((4, 3))
    h = LSTM(5, return_sequences=True)(x)
    g = GRU(4)(h)
    out = Dense(2, activation="sigmoid")(g)
    net = Model(x, out, seed=1, l2=0.01, backend=backend)
    X, y = data(4, channels=3)
    _, grad = net.gradient(X, y)
    np.testing.assert_allclose(grad, numeric_gradient(net, X, y), rtol=1e-5, atol=1e-8)


# -- PyTorch equivalence -------------------------------------------------------------------

def to_torch(cell, kernel, recurrent, bias):
    """(weight_ih, weight_hh, bias_ih, bias_hh) of PyTorch from Keras's layout
    (docs/recurrent.md): transposed, GRU's gates reordered z, r, h -> r, z, n"""
    u = recurrent.shape[0]
    if cell == "gru":
        order = np.r_[u:2 * u, 0:u, 2 * u:3 * u]
        return kernel[:, order].T, recurrent[:, order].T, bias[0][order], bias[1][order]
    return kernel.T, recurrent.T, bias, np.zeros_like(bias)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cell", sorted(TORCH_CELLS))
def test_outputs_equal_pytorch(backend, cell, return_sequences, bidirectional):
    torch = pytest.importorskip("torch")
    steps, channels, units, n = 5, 3, 4, 6
    layer = CELLS[cell](units, return_sequences=return_sequences)
    if bidirectional:
        layer = Bidirectional(layer)
    width = (2 if bidirectional else 1) * units * (steps if return_sequences else 1)
    layers = [layer] + ([Flatten()] if return_sequences else []) + [Dense(width)]
    net = Sequential(layers, input_shape=(steps, channels), loss="mse", seed=2,
                     backend=backend)
    net.weights[1][...] = np.eye(width)  # the head passes the recurrent output through
    net.biases[1][...] = 0
    X, _ = data(steps, channels, n=n, seed=3)
    ours = net.predict(X)

    module = {"simplernn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        channels, units, batch_first=True, bidirectional=bidirectional, dtype=torch.float64)
    cells = net.layers[0].unpack(net.weights[0], net.biases[0])
    with torch.no_grad():
        for d, params in enumerate(cells):
            suffix = "_l0_reverse" if d else "_l0"
            for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
                                   to_torch(cell, *params)):
                getattr(module, name + suffix).copy_(torch.from_numpy(np.ascontiguousarray(value)))
        out, state = module(torch.from_numpy(X))
    h_n = (state[0] if cell == "lstm" else state).numpy()
    if return_sequences:
        expected = out.numpy().reshape(n, -1)
    else:
        expected = np.concatenate(list(h_n), axis=1)
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_training_equals_pytorch(backend, cell):
    """a character model (Embedding, one recurrent layer, a softmax per step) trained with
    Adam and global-norm clipping from copied weights on the same batches ends where PyTorch
    does (Adam, global-norm clipping, CrossEntropyLoss over all steps), given torch the one bias
    barenet has: its bias_hh (GRU: none to freeze, both are barenet's) zero and frozen"""
    torch = pytest.importorskip("torch")
    from barenet.layers import Embedding
    from barenet.optimizers import Adam
    vocab, steps, units, n, batch = 7, 9, 6, 12, 4
    net = Sequential([Embedding(vocab, 3), CELLS[cell](units, return_sequences=True),
                      Dense(vocab, activation="softmax")], input_shape=(steps,), seed=4,
                     backend=backend)
    rng = np.random.default_rng(5)
    X = rng.integers(0, vocab, (n, steps))
    y = rng.integers(0, vocab, (n, steps))
    emb = torch.nn.Embedding(vocab, 3, dtype=torch.float64)
    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](3, units, batch_first=True,
                                                             dtype=torch.float64)
    out = torch.nn.Linear(units, vocab, dtype=torch.float64)
    (params,) = net.layers[1].unpack(net.weights[1], net.biases[1])
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(net.weights[0].reshape(vocab, 3).copy()))
        for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
                               to_torch(cell, *params)):
            getattr(rnn, name + "_l0").copy_(torch.from_numpy(np.ascontiguousarray(value)))
        out.weight.copy_(torch.from_numpy(net.weights[2].T.copy()))
        out.bias.copy_(torch.from_numpy(net.biases[2].ravel().copy()))
    if cell == "lstm":
        rnn.bias_hh_l0.requires_grad_(False)
    modules = (emb, rnn, out)
    trained = [p for m in modules for p in m.parameters() if p.requires_grad]
    opt = torch.optim.Adam(trained, lr=0.05)
    ours = Adam(clipnorm=0.2)
    norms = []
    for _ in range(2):  # epochs, the batches in order
        net.train(X, y, epochs=1, learning_rate=0.05, batch_size=batch, optimizer=ours,
                  shuffle=False, verbose=False)
        for i in range(0, n, batch):
            opt.zero_grad()
            logits = out(rnn(emb(torch.from_numpy(X[i:i + batch])))[0])
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab),
                                                     torch.from_numpy(y[i:i + batch]).reshape(-1))
            loss.backward()
            # clip_grad_norm_(trained, 0.2), whose factor is 0.2 / (norm + 1e-6), exactly
            norm = float(torch.sqrt(sum((p.grad ** 2).sum() for p in trained)))
            norms.append(norm)
            if norm > 0.2:
                for p in trained:
                    p.grad.mul_(0.2 / norm)
            opt.step()
    assert max(norms) > 0.2 > min(norms)  # clipping acts on some batches, not all
    (params,) = net.layers[1].unpack(net.weights[1], net.biases[1])
    expected = to_torch(cell, *params)
    with torch.no_grad():
        np.testing.assert_allclose(net.weights[0].reshape(vocab, 3), emb.weight.numpy(),
                                   rtol=1e-9, atol=1e-12)
        got = [getattr(rnn, name + "_l0").numpy()
               for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        if cell == "lstm":
            got = got[:2] + [got[2] + got[3], got[3]]
        for a, b in zip(expected, got):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(net.weights[2], out.weight.numpy().T, rtol=1e-9, atol=1e-12)


# -- masks and carried state (the NumPy reference) -------------------------------------------

def built(layer, steps, channels, seed=0):
    layer.build((steps, channels), 0)
    params = np.zeros(layer.n_params)
    layer.initialise(layer.views(params, 0), np.random.default_rng(seed))
    params += np.random.default_rng(seed + 1).normal(0, 0.2, params.size)
    return params


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_masked_gradient_matches_finite_differences(cell, return_sequences, go_backwards,
                                                     bidirectional):
    steps, channels, n = 5, 2, 4
    layer = CELLS[cell](3, return_sequences=return_sequences, go_backwards=go_backwards)
    if bidirectional:
        layer = Bidirectional(layer)
    params = built(layer, steps, channels)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((n, steps, channels))
    mask = np.ones((n, steps))
    mask[1, 3:] = 0      # right padding
    mask[2, :2] = 0      # left padding
    mask[3, 2] = 0       # a hole
    a, _ = layer.forward(params, 0, [x], None, 0, mask=mask)
    weight = rng.standard_normal(a.shape)

    def objective(p, xx):
        return float((layer.forward(p, 0, [xx], None, 0, mask=mask)[0] * weight).sum())
    a, kept = layer.forward(params, 0, [x], None, 0, mask=mask)
    dw, db, (dx,) = layer.backward(params, 0, weight, [x], a, kept, None, 0, False, [True],
                                   mask=mask)
    grad = np.concatenate([dw, db])
    num = np.empty_like(params)
    for i in range(params.size):
        p = params.copy()
        p[i] += 1e-6
        up = objective(p, x)
        p[i] -= 2e-6
        num[i] = (up - objective(p, x)) / 2e-6
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-8)
    numx = np.empty_like(x)
    for i in np.ndindex(x.shape):
        xx = x.copy()
        xx[i] += 1e-6
        up = objective(params, xx)
        xx[i] -= 2e-6
        numx[i] = (up - objective(params, xx)) / 2e-6
    np.testing.assert_allclose(dx, numx, rtol=1e-5, atol=1e-8)
    # padded steps are invisible: they get no gradient
    assert np.all(dx[1, 3:] == 0) and np.all(dx[2, :2] == 0) and np.all(dx[3, 2] == 0)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_a_masked_row_equals_its_unpadded_sequence(cell):
    """Keras's semantics: padded steps carry the state, the last output is the state at the
    last valid step, a padded step's sequence output is the carried h"""
    layer = CELLS[cell](4, return_sequences=True)
    params = built(layer, 6, 3, seed=4)
    x = np.random.default_rng(1).standard_normal((1, 6, 3))
    mask = np.array([[1, 1, 1, 1, 0, 0]])
    a, _ = layer.forward(params, 0, [x], None, 0, mask=mask)
    short = CELLS[cell](4, return_sequences=True)
    short.build((4, 3), 0)
    b, _ = short.forward(params, 0, [x[:, :4]], None, 0)
    np.testing.assert_allclose(a[:, :4], b, rtol=1e-14)
    np.testing.assert_array_equal(a[:, 4], a[:, 3])
    np.testing.assert_array_equal(a[:, 5], a[:, 3])


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_carried_state_continues_a_sequence(cell):
    """running 6 steps equals 4 steps then 2 more from the carried state"""
    layer = CELLS[cell](4)
    params = built(layer, 6, 3, seed=5)
    x = np.random.default_rng(2).standard_normal((3, 6, 3))
    whole, _ = layer.forward(params, 0, [x], None, 0)
    carry = np.zeros((3, layer.carry_size))
    first = CELLS[cell](4)
    first.build((4, 3), 0)
    first.forward(params, 0, [x[:, :4]], None, 0, carry=carry)
    rest = CELLS[cell](4)
    rest.build((2, 3), 0)
    out, _ = rest.forward(params, 0, [x[:, 4:]], None, 0, carry=carry)
    np.testing.assert_allclose(out, whole, rtol=1e-13)
    np.testing.assert_allclose(carry[:, :4], whole, rtol=1e-13)
    assert layer.carry_size == (8 if cell == "lstm" else 4)


# -- initialisers, save/load, bad input ----------------------------------------------------------

def test_keras_initialisers():
    net = Sequential([LSTM(8), Dense(1)], input_shape=(5, 3), seed=0)
    (kernel, recurrent, bias), = net.layers[0].unpack(net.weights[0], net.biases[0])
    assert kernel.shape == (3, 32) and recurrent.shape == (8, 32) and bias.shape == (32,)
    limit = np.sqrt(6 / (3 + 32))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.8 * limit
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(8), atol=1e-12)
    np.testing.assert_array_equal(bias, np.r_[np.zeros(8), np.ones(8), np.zeros(16)])
    gru = Sequential([GRU(4), Dense(1)], input_shape=(5, 3), seed=0)
    assert gru.layers[0].unpack(gru.weights[0], gru.biases[0])[0][2].shape == (2, 12)
    again = Sequential([LSTM(8), Dense(1)], input_shape=(5, 3), seed=0)
    np.testing.assert_array_equal(again.get_params(), net.get_params())


def test_save_and_load(backend, tmp_path):
    net = rnn_model("gru", steps=4, bidirectional=True, return_sequences=True, dropout=0.1,
                    seed=1, backend=backend)
    X, y = data(4)
    net.train(X, y, epochs=2, verbose=False)
    net.save(tmp_path / "m.npz")
    back = Sequential.load(tmp_path / "m.npz", backend=backend)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    assert repr(back.layers[0]) == repr(net.layers[0])


@pytest.mark.parametrize("make,error,words", [
    (lambda: LSTM(0), ValueError, "units"),
    (lambda: LSTM(True), ValueError, "units"),
    (lambda: SimpleRNN(3, activation="softmax"), ValueError, "activation"),
    (lambda: SimpleRNN(3, activation="gelu"), ValueError, "activation"),
    (lambda: LSTM(3, activation="relu"), ValueError, "activation"),
    (lambda: GRU(3, reset_after=1), TypeError, "reset_after"),
    (lambda: LSTM(3, dropout=1.0), ValueError, "dropout"),
    (lambda: LSTM(3, return_sequences=1), TypeError, "return_sequences"),
    (lambda: Bidirectional(Dense(3)), TypeError, "recurrent layer"),
    (lambda: Bidirectional(LSTM(3), merge_mode="sum"), ValueError, "merge_mode"),
])
def test_bad_arguments(make, error, words):
    with pytest.raises(error, match=words):
        make()


@pytest.mark.parametrize("shape", [(6,), (2, 4, 4)])
def test_a_non_sequence_input_is_refused(shape):
    with pytest.raises(ValueError, match=r"LSTM.*needs a sequence input \(T, C\)"):
        Sequential([LSTM(3), Dense(1)], input_shape=shape)


def test_wrong_input_rank_at_predict(backend):
    net = rnn_model("lstm", steps=4, seed=0, backend=backend)
    with pytest.raises(ValueError):
        net.predict(np.zeros((3, 5, 2)))


# -- masks and carried state through a model (both backends) ---------------------------------

def padded_tokens(n=6, t=7, vocab=11, seed=0):
    """ids with right padding (0) of a different length per row, one left-padded row"""
    rng = np.random.default_rng(seed)
    X = rng.integers(1, vocab, (n, t))
    for i in range(n):
        X[i, max(1, 5 - i % 3):] = 0
    X[0, :2] = 0
    y = rng.integers(0, vocab, (n, t))
    return X, y


def masked_classifier(cell, backend, bidirectional=False, go_backwards=False, vocab=11,
                      dtype="float64", **kwargs):
    from barenet.layers import Embedding
    first = CELLS[cell](4, return_sequences=True, go_backwards=go_backwards)
    second = CELLS[cell](3)
    if bidirectional:
        first, second = Bidirectional(first), Bidirectional(second)
    return Sequential([Embedding(vocab, 3, mask_zero=True), first, second,
                       Dense(2, activation="softmax")], input_shape=(7,),
                      loss="categorical_crossentropy", backend=backend, dtype=dtype, **kwargs)


@pytest.mark.parametrize("bidirectional,go_backwards", [(False, False), (False, True),
                                                        (True, False)])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_masked_model_gradient_matches_finite_differences(backend, cell, bidirectional,
                                                          go_backwards):
    X, _ = padded_tokens()
    y = np.eye(2)[np.arange(6) % 2]
    net = masked_classifier(cell, backend, bidirectional, go_backwards, seed=1, l2=0.01)
    _, grad = net.gradient(X, y)
    np.testing.assert_allclose(grad, numeric_gradient(net, X, y), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_padding_after_the_end_changes_nothing(backend, cell):
    """a row padded to 7 steps predicts what its unpadded 4 steps do in a model built for
    4 steps (the same parameters): both directions skip the padding"""
    from barenet.layers import Embedding
    net = masked_classifier(cell, backend, bidirectional=True, seed=2)
    short = Sequential([type(layer)(**layer.config()) for layer in net.layers],
                       input_shape=(4,), loss="categorical_crossentropy", backend=backend)
    short.set_params(net.get_params())
    row = np.array([[3, 1, 4, 1, 0, 0, 0]])
    np.testing.assert_allclose(net.predict(row), short.predict(row[:, :4]), rtol=1e-13)
    hole = np.array([[3, 0, 4, 1, 0, 0, 0]])  # a padded step inside counts as skipped too
    assert not np.allclose(net.predict(hole), net.predict(row))


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-9), ("float32", 3e-4)])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_compiled_masked_training_matches_the_reference(cell, dtype, rtol):
    require_compiled()
    X, _ = padded_tokens(n=40, seed=3)
    y = np.eye(2)[np.arange(40) % 2]
    nets = [masked_classifier(cell, b, bidirectional=True, dtype=dtype, seed=4)
            for b in ("numpy", "compiled")]
    hist = [net.train(X, y, epochs=3, learning_rate=0.01, batch_size=16, optimizer="adam",
                      verbose=False) for net in nets]
    np.testing.assert_allclose(hist[1], hist[0], rtol=rtol)
    np.testing.assert_allclose(nets[1].get_params(), nets[0].get_params(), rtol=rtol,
                               atol=rtol * 1e-2)


def language_model(cell, backend, vocab=9, steps=6, **kwargs):
    from barenet.layers import Embedding
    return Sequential([Embedding(vocab, 4), CELLS[cell](5, return_sequences=True),
                       CELLS[cell](4, return_sequences=True), Dense(vocab, "softmax")],
                      input_shape=(steps,), loss="sparse_categorical_crossentropy",
                      backend=backend, **kwargs)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_generate_carries_the_state(backend, cell):
    """generate's tokens equal greedy decoding by running the whole prefix every time"""
    net = language_model(cell, backend, seed=5)
    X = np.random.default_rng(0).integers(0, 9, (20, 6))
    net.train(X, np.roll(X, -1, axis=1), epochs=3, learning_rate=0.05, optimizer="adam",
              verbose=False)
    prompt = np.array([1, 2, 3])
    tokens = net.generate(prompt, 5, temperature=0)
    seq = list(prompt)
    for _ in range(5):
        twin = language_model(cell, backend, steps=len(seq))
        twin.set_params(net.get_params())
        seq.append(int(twin.predict(np.array([seq]))[0, -1].argmax()))
    np.testing.assert_array_equal(tokens, seq[3:])


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_generate_is_the_same_on_both_backends(cell):
    require_compiled()
    nets = [language_model(cell, b, seed=6) for b in ("numpy", "compiled")]
    outs = [net.generate(np.array([[1, 2], [3, 4]]), 6, temperature=0.8, seed=3)
            for net in nets]
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_generation_in_c_samples_as_the_reference(dtype):
    """the compiled backend's token loop (csrc/generate.c, 256 tokens per call) gives the
    NumPy backend's tokens for every temperature and top_k (none, 1, some, all, more than
    the vocabulary), rows of a batch apart, across its calls; probabilities that are not
    finite raise the same error on both"""
    require_compiled()
    nets = [language_model("lstm", b, seed=7, dtype=dtype) for b in ("numpy", "compiled")]
    X = np.random.default_rng(1).integers(0, 9, (30, 6))
    for net in nets:
        net.train(X, np.roll(X, -1, axis=1), epochs=2, learning_rate=0.05, optimizer="adam",
                  verbose=False)
    nets[1].set_params(nets[0].get_params())
    prompt = np.array([[1, 2], [3, 4]])
    for temperature, top_k, steps in [(0, None, 300), (1.0, None, 300), (0.5, 3, 40),
                                      (1.7, None, 40), (1.0, 1, 20), (0.8, 9, 40),
                                      (1.3, 20, 40), (1.0, 4, 270)]:
        outs = [net.generate(prompt, steps, temperature=temperature, top_k=top_k, seed=3)
                for net in nets]
        np.testing.assert_array_equal(outs[0], outs[1])
        assert outs[0].shape == (2, steps) and outs[0].min() >= 0 and outs[0].max() < 9
    for net in nets:  # weights so large that the logits overflow: inf - inf in the softmax
        net.set_params(np.full_like(net.get_params(), np.finfo(dtype).max / 2))
        with np.errstate(all="ignore"), pytest.raises(ValueError,
                                                      match="probabilities are not finite"):
            assert np.isnan(net.predict(np.array([[1, 2, 3, 4, 5, 6]]))).any()
            net.generate([1, 2], 3, temperature=0.7)
