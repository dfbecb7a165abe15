"""The from-scratch tutorial's whole class with only the import changed: forward records
`activations` and `layer_inputs` (checked against a NumPy computation from `weights` and
`biases`, both backends and dtypes), the four activation helpers against the tutorial's
formulas, the tutorial's training loop written by hand (forward, loss, backward) against
`train`, and every layer's output of Sequential and Model models (forward(X,
return_all=True)), the compiled core against the NumPy reference."""

import numpy as np
import pytest

import barenet
from barenet import Input, Model, NeuralNetwork, Sequential
from barenet.layers import (Add, BatchNormalization, Conv2D, Dense, Dropout, Embedding, Flatten,
                            GlobalAveragePooling1D, MaxPool2D)

from conftest import require_compiled, tutorial_xor

TOL = {"float64": dict(rtol=1e-12, atol=1e-12), "float32": dict(rtol=2e-5, atol=2e-6)}
XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
XOR_Y = np.array([[0], [1], [1], [0]])


def numpy_forward(X, weights, biases, hidden="relu", output="sigmoid"):
    """the tutorial's forward in plain float64 NumPy: (activations, layer_inputs)"""
    f = {"relu": lambda z: np.maximum(0, z), "tanh": np.tanh,
         "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "identity": lambda z: z}
    acts, zs = [np.asarray(X, dtype=np.float64)], []
    for i, (w, b) in enumerate(zip(weights, biases)):
        z = acts[-1] @ np.asarray(w, np.float64) + np.asarray(b, np.float64)
        zs.append(z)
        acts.append(f[output if i == len(weights) - 1 else hidden](z))
    return acts, zs


# -- the tutorial's usage, only the import changed ------------------------------------------
def test_the_tutorials_script(backend):
    """the tutorial's own lines: seed, build, forward, look at activations and layer_inputs"""
    np.random.seed(42)
    nn = NeuralNetwork([2, 4, 1], backend=backend)
    output = nn.forward(XOR_X)
    assert output.shape == (4, 1)
    assert len(nn.activations) == 3 and len(nn.layer_inputs) == 2
    assert [a.shape for a in nn.activations] == [(4, 2), (4, 4), (4, 1)]
    assert [z.shape for z in nn.layer_inputs] == [(4, 4), (4, 1)]
    np.testing.assert_array_equal(nn.activations[0], XOR_X)
    assert nn.activations[-1] is output
    # the tutorial's He init from np.random.seed(42), drawn layer by layer
    np.random.seed(42)
    w0 = np.random.randn(2, 4) * np.sqrt(2.0 / 2)
    w1 = np.random.randn(4, 1) * np.sqrt(2.0 / 4)
    acts, zs = numpy_forward(XOR_X, [w0, w1], [np.zeros((1, 4)), np.zeros((1, 1))])
    for got, want in zip(nn.activations + nn.layer_inputs, acts + zs):
        np.testing.assert_allclose(got, want, **TOL["float64"])


@pytest.mark.parametrize("sizes,hidden,output", [([3, 5, 4, 2], "relu", "sigmoid"),
                                                 ([4, 6, 1], "tanh", "sigmoid"),
                                                 ([3, 7, 2], "relu", "identity")])
def test_activations_and_layer_inputs_against_numpy(backend, dtype, sizes, hidden, output):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((9, sizes[0])) * 2
    nn = NeuralNetwork(sizes, activation=hidden, output_activation=output, dtype=dtype,
                       seed=5, backend=backend)
    for b in nn.biases:  # nonzero biases, so z = a W + b is checked whole
        b[...] = rng.standard_normal(b.shape)
    out = nn.forward(X)
    acts, zs = numpy_forward(X, nn.weights, nn.biases, hidden, output)
    assert len(nn.activations) == len(sizes) and len(nn.layer_inputs) == len(sizes) - 1
    for i, (got, want) in enumerate(zip(nn.activations, acts)):
        assert got.shape == (9, sizes[i]) and got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, **TOL[dtype])
    for i, (got, want) in enumerate(zip(nn.layer_inputs, zs)):
        assert got.shape == (9, sizes[i + 1]) and got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, **TOL[dtype])
    np.testing.assert_array_equal(out, nn.activations[-1])
    np.testing.assert_allclose(out, nn.predict(X), **TOL[dtype])


def test_forward_is_the_same_on_both_backends(dtype):
    require_compiled()
    X = np.random.default_rng(1).standard_normal((20, 3))
    nets = [NeuralNetwork([3, 8, 8, 2], output_activation="softmax", dtype=dtype, seed=9,
                          backend=b) for b in ("numpy", "compiled")]
    for net in nets:
        net.forward(X)
    for a, b in zip(nets[0].activations + nets[0].layer_inputs,
                    nets[1].activations + nets[1].layer_inputs):
        np.testing.assert_allclose(a, b, **TOL[dtype])


def test_forward_ignores_dropout_and_predict_records_nothing(backend):
    """dropout acts in training only: forward's activations are the plain chain, one per
    entry of layer_sizes; predict is the fast path and leaves the records alone"""
    X = np.random.default_rng(2).standard_normal((6, 3))
    nn = NeuralNetwork([3, 5, 4, 1], dropout=0.5, seed=1, backend=backend)
    nn.forward(X)
    acts, zs = numpy_forward(X, nn.weights, nn.biases)
    assert len(nn.activations) == 4
    for got, want in zip(nn.activations + nn.layer_inputs, acts + zs):
        np.testing.assert_allclose(got, want, **TOL["float64"])
    before = [a.copy() for a in nn.activations]
    nn.predict(X[:2] + 1)
    assert len(nn.activations) == 4
    for a, b in zip(before, nn.activations):
        np.testing.assert_array_equal(a, b)


def test_records_before_forward_and_bad_input():
    nn = NeuralNetwork([2, 3, 1], seed=0, backend="numpy")
    assert nn.activations == [] and nn.layer_inputs == []
    with pytest.raises(ValueError, match="X"):
        nn.forward(np.ones((3, 5)))
    with pytest.raises(TypeError, match="return_all"):
        nn.forward(XOR_X, return_all="yes")
    assert nn.activations == []  # a refused call records nothing


def test_forward_on_sparse_input(backend):
    sp = pytest.importorskip("scipy.sparse")
    X = sp.random(7, 6, density=0.4, format="csr", random_state=3)
    nn = NeuralNetwork([6, 4, 2], seed=2, backend=backend)
    nn.forward(X)
    acts, zs = numpy_forward(X.toarray(), nn.weights, nn.biases)
    np.testing.assert_allclose(nn.activations[0].toarray(), X.toarray())
    for got, want in zip(nn.activations[1:] + nn.layer_inputs, acts[1:] + zs):
        np.testing.assert_allclose(got, want, **TOL["float64"])


# -- the four helpers ----------------------------------------------------------------------
def test_helpers_follow_the_tutorials_formulas():
    nn = NeuralNetwork([2, 4, 1], seed=0)
    z = np.array([-1e4, -800.0, -500.0, -30.0, -1.0, 0.0, 1e-3, 2.5, 500.0, 800.0, 1e4])
    with np.errstate(over="raise"):  # the clip keeps exp from overflowing
        s = nn.sigmoid(z)
    np.testing.assert_array_equal(s, 1 / (1 + np.exp(-np.clip(z, -500, 500))))
    assert s[0] == s[1] == s[2] == 1 / (1 + np.exp(500.0)) > 0  # clipped at -500
    assert s[-1] == 1.0 and s[5] == 0.5
    a = nn.sigmoid(z)
    np.testing.assert_array_equal(nn.sigmoid_derivative(a), a * (1 - a))
    np.testing.assert_allclose(nn.sigmoid_derivative(nn.sigmoid(np.array([0.0, 2.0]))),
                               [0.25, np.exp(-2.0) / (1 + np.exp(-2.0)) ** 2], rtol=1e-14)
    np.testing.assert_array_equal(nn.relu(z), np.maximum(0, z))
    d = nn.relu_derivative(z)
    assert d.dtype == np.float64
    np.testing.assert_array_equal(d, (z > 0).astype(float))
    assert nn.relu_derivative(np.array([0.0]))[0] == 0.0
    np.testing.assert_array_equal(nn.relu_derivative(np.array([-1, 0, 2], np.float32)),
                                  [0.0, 0.0, 1.0])


def test_helpers_reproduce_the_recorded_activations(backend):
    X = np.random.default_rng(4).standard_normal((5, 3))
    nn = NeuralNetwork([3, 6, 1], seed=3, backend=backend)
    nn.forward(X)
    np.testing.assert_allclose(nn.relu(nn.layer_inputs[0]), nn.activations[1], rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(nn.sigmoid(nn.layer_inputs[1]), nn.activations[2],
                               rtol=1e-12)


# -- the tutorial's training loop written by hand ---------------------------------------------
def bce(out, y):
    """the tutorial's loss"""
    return -np.mean(y * np.log(out + 1e-8) + (1 - y) * np.log(1 - out + 1e-8))


def test_hand_written_loop_with_backward_matches_train(backend):
    """for epoch: out = nn.forward(X); loss = ...; nn.backward(X, y, lr), as the tutorial
    writes it, gives train's losses (the tutorial's loss formula differs from barenet's
    stable one by its 1e-8 guard) and train's parameters"""
    epochs, lr = 300, 0.5
    np.random.seed(42)
    by_hand = NeuralNetwork([2, 4, 1], backend=backend)
    np.random.seed(42)
    trained = NeuralNetwork([2, 4, 1], backend=backend)
    losses = []
    for epoch in range(epochs):
        output = by_hand.forward(XOR_X)
        losses.append(bce(output, XOR_Y))
        by_hand.backward(XOR_X, XOR_Y, lr)
    history = trained.train(XOR_X, XOR_Y, epochs=epochs, learning_rate=lr, verbose=False)
    np.testing.assert_allclose(losses, history, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(by_hand.get_params(), trained.get_params(), rtol=1e-10,
                               atol=1e-12)


def tutorial_backward(nn, y, learning_rate, published=False):
    """the tutorial's backward, written against barenet's records: the error goes back
    through nn.weights with nn.relu_derivative(nn.layer_inputs[i - 1]); gradients of the
    forward's weights (barenet's order), or the tutorial's own order (published: each
    layer updated before the error passes back through its new weights)"""
    m = nn.activations[0].shape[0]
    delta = nn.activations[-1] - y
    grads = []
    for i in range(len(nn.weights) - 1, -1, -1):
        dw = nn.activations[i].T @ delta / m
        db = np.sum(delta, axis=0, keepdims=True) / m
        if published:
            nn.weights[i] -= learning_rate * dw
            nn.biases[i] -= learning_rate * db
        else:
            grads.append((i, dw, db))
        if i > 0:
            delta = (delta @ nn.weights[i].T) * nn.relu_derivative(nn.layer_inputs[i - 1])
    for i, dw, db in grads:
        nn.weights[i] -= learning_rate * dw
        nn.biases[i] -= learning_rate * db


def test_hand_written_backward_from_the_records_matches_train(backend):
    """a backward written by hand from activations, layer_inputs, weights and the helpers
    reaches train's loss trajectory and parameters"""
    epochs, lr = 300, 0.5
    X, y = np.random.default_rng(6).standard_normal((16, 3)), None
    y = (X[:, :1] * X[:, 1:2] > 0).astype(float)
    nets = [NeuralNetwork([3, 6, 5, 1], seed=11, backend=backend) for _ in range(2)]
    by_hand, trained = nets
    losses = []
    for _ in range(epochs):
        out = by_hand.forward(X)
        losses.append(bce(out, y))
        tutorial_backward(by_hand, y, lr)
    history = trained.train(X, y, epochs=epochs, learning_rate=lr, verbose=False)
    np.testing.assert_allclose(losses, history, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(by_hand.get_params(), trained.get_params(), rtol=1e-9,
                               atol=1e-12)


def test_the_tutorials_own_update_order_by_hand(backend):
    """the tutorial's published backward (update, then send the error back through the
    new weights), written against barenet's records, is the tutorial's code exactly"""
    epochs = 200
    np.random.seed(42)
    nn = NeuralNetwork([2, 4, 1], backend=backend)
    losses = []
    for _ in range(epochs):
        losses.append(bce(nn.forward(XOR_X), XOR_Y))
        tutorial_backward(nn, XOR_Y, 0.5, published=True)
    want, weights, biases = tutorial_xor(epochs, published=True)
    np.testing.assert_allclose(losses, want, rtol=1e-10, atol=1e-12)
    for got, w in zip(list(nn.weights) + list(nn.biases), weights + biases):
        np.testing.assert_allclose(got, w, rtol=1e-10, atol=1e-12)


# -- every layer's output of Sequential and Model -----------------------------------------
def cnn(backend, dtype):
    return Sequential([Conv2D(3, 3, padding="same", activation="relu"), BatchNormalization(),
                       MaxPool2D(2), Dropout(0.3), Flatten(), Dense(4, activation="tanh"),
                       Dense(3, activation="softmax")], input_shape=(2, 6, 6), seed=1,
                      dtype=dtype, backend=backend)


def residual(backend, dtype):
    x = Input((4,))
    h = Dense(5, activation="relu")(x)
    g = Dense(5, activation="gelu")(h)
    out = Dense(2, activation="softmax")(Add()([h, g]))
    return Model(x, out, seed=2, dtype=dtype, backend=backend)


@pytest.mark.parametrize("build,shape", [(cnn, (2, 6, 6)), (residual, (4,))])
def test_return_all_both_backends(dtype, build, shape):
    require_compiled()
    X = np.random.default_rng(7).standard_normal((11,) + shape)
    outs = {}
    for backend in ("numpy", "compiled"):
        model = build(backend, dtype)
        if model._spec.n_state:  # running statistics away from their start
            model._state[...] = np.random.default_rng(8).uniform(0.5, 1.5, model._state.size)
        outs[backend] = model.forward(X, return_all=True)
        assert isinstance(outs[backend], list) and len(outs[backend]) == len(model.layers)
        for out, layer in zip(outs[backend], model.layers):
            assert out.shape == (11,) + tuple(layer.output_shape)
            assert out.dtype == np.dtype(dtype)
        np.testing.assert_allclose(outs[backend][-1], model.predict(X), **TOL[dtype])
        np.testing.assert_array_equal(outs[backend][-1], model.forward(X))
    for a, b in zip(outs["numpy"], outs["compiled"]):
        np.testing.assert_allclose(b, a, **TOL[dtype])


def test_return_all_of_a_token_model(dtype):
    """token ids through an Embedding with a padding mask: every layer's output, (n, T, C)
    for the sequences, the same on both backends; a per-step output keeps its steps"""
    require_compiled()
    X = np.random.default_rng(12).integers(0, 7, (5, 6))
    X[:, 4:] = 0  # padding
    outs = {}
    for backend in ("numpy", "compiled"):
        pooled = Sequential([Embedding(7, 4, mask_zero=True), Dense(5, activation="tanh"),
                             GlobalAveragePooling1D(), Dense(3, activation="softmax")],
                            input_shape=(6,), seed=1, dtype=dtype, backend=backend)
        outs[backend] = pooled.forward(X, return_all=True)
        assert [o.shape for o in outs[backend]] == [(5, 6, 4), (5, 6, 5), (5, 5), (5, 3)]
        np.testing.assert_allclose(outs[backend][-1], pooled.predict(X), **TOL[dtype])
        per_step = Sequential([Embedding(7, 4), Dense(7, activation="softmax")],
                              input_shape=(6,), seed=1, dtype=dtype, backend=backend)
        last = per_step.forward(X, return_all=True)[-1]
        assert last.shape == per_step.predict(X).shape == (5, 6, 7)
        np.testing.assert_allclose(last, per_step.forward(X), **TOL[dtype])
    for a, b in zip(outs["numpy"], outs["compiled"]):
        np.testing.assert_allclose(b, a, **TOL[dtype])


def test_return_all_values_of_a_chain(backend, dtype):
    """a Dense chain's outputs computed by hand from the weights; Dropout passes its
    input through when not training"""
    X = np.random.default_rng(9).standard_normal((6, 3))
    model = Sequential([Dense(5, activation="relu"), Dropout(0.5), Dense(4, activation="tanh"),
                        Dense(1, activation="sigmoid")], input_shape=(3,), seed=4, dtype=dtype,
                       backend=backend)
    outs = model.forward(X, return_all=True)
    (w0, w1, w2), (b0, b1, b2) = model.weights, model.biases
    h = np.maximum(X @ w0.astype(float) + b0, 0)
    t = np.tanh(h @ w1.astype(float) + b1)
    want = [h, h, t, 1 / (1 + np.exp(-(t @ w2.astype(float) + b2)))]
    for got, w in zip(outs, want):
        np.testing.assert_allclose(got, w, **TOL[dtype])


def test_return_all_in_chunks(monkeypatch):
    """the compiled forward runs in chunks of rows; the outputs are the same"""
    require_compiled()
    X = np.random.default_rng(10).standard_normal((10, 2, 6, 6))
    whole = cnn("compiled", "float64").forward(X, return_all=True)
    from barenet import _compiled_backend  # only with the extension (a pure install lacks it)

    monkeypatch.setattr(_compiled_backend, "PREDICT_CHUNK", 3)
    chunked = cnn("compiled", "float64").forward(X, return_all=True)
    for a, b in zip(whole, chunked):
        np.testing.assert_array_equal(a, b)


def test_neural_network_return_all_lists_every_layer(backend):
    nn = NeuralNetwork([3, 4, 2], dropout=0.2, seed=0, backend=backend)
    X = np.ones((2, 3))
    outs = nn.forward(X, return_all=True)
    assert [o.shape for o in outs] == [(2, 4), (2, 4), (2, 2)]  # Dense, Dropout, Dense
    np.testing.assert_array_equal(outs[-1], nn.activations[-1])
    assert barenet.NeuralNetwork.predict is barenet.Sequential.predict
