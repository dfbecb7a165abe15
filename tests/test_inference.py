"""The prediction path (docs/inference.md): predict's out= and check_input=, the fast input
check, the workspace kept between calls, rows predicted alone equal to the same rows in a
batch (the GEMM's direct, small-row and packed paths give the same bits), and predictions
that follow every way the parameters can change (nothing derived from them is cached)."""

import numpy as np
import pytest

import barenet
from barenet import NeuralNetwork, Sequential
from barenet import _numpy_backend
from barenet.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D

ROWS = [1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 31, 33, 40]


def mlp(backend, dtype, sizes=(20, 48, 24, 5)):
    return NeuralNetwork(list(sizes), output_activation="softmax", dtype=dtype, seed=0,
                         backend=backend)


def cnn(backend, dtype):
    return Sequential([Conv2D(4, 3, padding="same", activation="relu"), MaxPool2D(2),
                       Conv2D(6, 3, padding="same", activation="relu"), MaxPool2D(2),
                       Flatten(), Dense(16, activation="relu"), Dropout(0.3),
                       Dense(3, activation="softmax")],
                      input_shape=(2, 8, 8), dtype=dtype, seed=0, backend=backend)


def rows(net, n, seed=1):
    shape = (n,) + tuple(net.input_shape)
    return np.random.default_rng(seed).standard_normal(shape).astype(net.dtype)


def reference(net, X):
    """the NumPy reference's prediction at the network's current parameters"""
    x = np.ascontiguousarray(X, dtype=net.dtype).reshape(len(X), -1)
    return _numpy_backend.predict(net._spec, net.get_params(), x, net._state)


def close(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make", [mlp, cnn])
def test_out_receives_the_prediction(make, backend, dtype):
    net = make(backend, dtype)
    X = rows(net, 9)
    expected = net.predict(X)
    out = np.full_like(expected, np.nan)
    assert net.predict(X, out=out) is out
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(net.forward(X), expected)  # the recording path agrees
    np.testing.assert_allclose(expected, reference(net, X), **close(dtype))


def test_out_is_checked(backend):
    net = mlp(backend, "float64")
    X = rows(net, 4)
    bad = [np.empty((4, 4)), np.empty((3, 5)), np.empty((4, 5), dtype=np.float32),
           np.empty((5, 4)).T, np.empty((4, 5)).tolist()]
    ro = np.empty((4, 5))
    ro.flags.writeable = False
    for out in bad + [ro]:
        with pytest.raises(ValueError, match="out must be a writable C-contiguous float64 "
                                             r"array of shape \(4, 5\)"):
            net.predict(X, out=out)
    X = rows(net, 4).astype(np.float64)
    inside = X.reshape(-1)[:20].reshape(4, 5)  # out written over X's own rows
    with pytest.raises(ValueError, match="must not overlap X"):
        net.predict(X, out=inside)


def test_check_input(backend, dtype):
    net = mlp(backend, dtype)
    X = rows(net, 6)
    np.testing.assert_array_equal(net.predict(X, check_input=False), net.predict(X))
    X[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or infinity \(first at index "
                                         r"\(2, 3\)\)"):
        net.predict(X)
    X[2, 3] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.predict(X)
    with np.errstate(invalid="ignore"):  # not checked: no error, no crash
        out = net.predict(X, check_input=False)
    assert out.shape == (6, 5) and np.all(np.isfinite(out[[0, 1, 3, 4, 5]]))
    # shape and dtype are checked and converted either way
    with pytest.raises(ValueError, match="20 columns"):
        net.predict(np.zeros((2, 19)), check_input=False)
    Xf = rows(net, 3).astype(np.float64 if dtype == "float32" else np.float32)
    np.testing.assert_array_equal(net.predict(Xf, check_input=False),
                                  net.predict(Xf.astype(dtype)))


@pytest.mark.parametrize("make", [mlp, cnn])
def test_every_input_form_gives_the_same_prediction(make, backend, dtype):
    """the fast path (C-contiguous, dtype, shape) and the converting path agree"""
    net = make(backend, dtype)
    X = rows(net, 5)
    expected = net.predict(X)
    np.testing.assert_array_equal(net.predict(X.reshape(5, -1)), expected)
    np.testing.assert_array_equal(net.predict(np.asfortranarray(X)), expected)
    np.testing.assert_array_equal(net.predict(X.tolist()), expected)
    other = np.float64 if dtype == "float32" else np.float32
    np.testing.assert_allclose(net.predict(X.astype(other)), expected, **close("float32"))
    if X.ndim == 2:
        big = np.zeros((5, 2 * X.shape[1]), dtype=dtype)
        big[:, ::2] = X
        np.testing.assert_array_equal(net.predict(big[:, ::2]), expected)  # strided view


@pytest.mark.usefixtures("needs_compiled")
@pytest.mark.parametrize("make", [mlp, cnn])
def test_rows_alone_equal_rows_in_a_batch(make, dtype):
    """a row's prediction does not depend on the rows predicted with it, bit for bit: the
    GEMM's small-row, direct and packed paths compute each output as the same chain"""
    net = make("compiled", dtype)
    X = rows(net, max(ROWS), seed=7)
    whole = net.predict(X)
    for n in ROWS:
        np.testing.assert_array_equal(net.predict(X[:n]), whole[:n], err_msg=f"{n} rows")
    for i in (0, 5, 39):
        np.testing.assert_array_equal(net.predict(X[i:i + 1]), whole[i:i + 1])


@pytest.mark.usefixtures("needs_compiled")
def test_rows_alone_equal_rows_in_a_batch_at_the_benchmark_sizes():
    """the Fashion-MNIST MLP's layers (784-256-128-10): K = 784 and N = 256 take the
    small-row tiles for 1-4 rows, the direct kernel up to 32 and the packed one beyond"""
    net = NeuralNetwork([784, 256, 128, 10], output_activation="softmax", dtype="float32",
                        seed=0, backend="compiled")
    X = np.random.default_rng(0).random((70, 784), dtype=np.float32)
    whole = net.predict(X)
    for n in (1, 2, 3, 4, 5, 8, 13, 16, 32, 33, 64):
        np.testing.assert_array_equal(net.predict(X[:n]), whole[:n], err_msg=f"{n} rows")
    try:
        barenet.set_num_threads(1)
        np.testing.assert_array_equal(net.predict(X), whole)
        np.testing.assert_array_equal(net.predict(X[:20]), whole[:20])
    finally:
        barenet.set_num_threads(None)


@pytest.mark.usefixtures("needs_compiled")
def test_repeated_calls_reuse_the_workspace():
    net = mlp("compiled", "float32")
    X = rows(net, 10)
    out = np.empty((10, 5), dtype=np.float32)
    net.predict(X, out=out)
    work = net._backend._work
    assert work is not None
    for n in (10, 3, 1, 10):
        net.predict(X[:n], out=out[:n])
        assert net._backend._work is work  # nothing allocated for sizes seen before
    np.testing.assert_array_equal(out, net.predict(X))


def change_ways(net):
    """every way a user changes parameters, each a callable; (name, change)"""
    rng = np.random.default_rng(11)

    def set_params():
        net.set_params(net.get_params() + rng.standard_normal(net.n_params) * 0.1)

    def assign_weights():
        net.weights[0] = net.weights[0] * 1.5

    def assign_biases():
        net.biases[-1] = net.biases[-1] + np.arange(5) * 0.25

    def write_into_view():
        net.weights[0][...] = -net.weights[0]

    def write_one_element():
        net.weights[-1][0, 0] += 1.0

    def train():
        X = rows(net, 16, seed=3)
        y = np.eye(5)[np.arange(16) % 5]
        net.train(X, y, epochs=2, learning_rate=0.1, verbose=False, batch_size=4,
                  optimizer="adam")

    def step():
        X = rows(net, 8, seed=4)
        y = np.eye(5)[np.arange(8) % 5]
        _, g = net.gradient(X, y)
        net.set_params(net.get_params() - 0.5 * g)

    return [("set_params", set_params), ("weights[i] =", assign_weights),
            ("biases[i] =", assign_biases), ("weights[0][...] =", write_into_view),
            ("weights[-1][0, 0] +=", write_one_element), ("train", train), ("step", step)]


def test_predictions_follow_every_change_of_the_parameters(backend, dtype, tmp_path):
    """nothing derived from the parameters (packed weights) is kept between calls, so
    every change, even a write into a weights view, shows in the next prediction"""
    net = mlp(backend, dtype)
    X = rows(net, 6)
    for name, change in change_ways(net):
        before = net.predict(X)
        change()
        after = net.predict(X)
        assert not np.array_equal(after, before), name
        np.testing.assert_allclose(after, reference(net, X), **close(dtype), err_msg=name)
    path = tmp_path / "net.npz"
    net.save(path)
    other = mlp(backend, dtype)
    before = other.predict(X)
    loaded = NeuralNetwork.load(path, backend=backend)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert not np.array_equal(before, loaded.predict(X))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimator_predict_proba_is_the_networks_predict():
    """predict_proba of the estimators goes through the network's predict"""
    from barenet.sklearn import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 6))
    y = (X[:, 0] > 0).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    raw = clf._net.predict(X)
    np.testing.assert_allclose(proba[:, 1], raw[:, 0] if raw.shape[1] == 1 else raw[:, 1])


def test_sequence_outputs_and_token_inputs(backend, dtype):
    """out= takes a sequence output's shape (n, T, k); token ids (an Embedding's input)
    are checked on every call, even in the network's dtype and C-contiguous"""
    from barenet.layers import Embedding

    net = Sequential([Dense(3, "softmax")], input_shape=(4, 5), seed=0, backend=backend,
                     dtype=dtype)
    X = rows(net, 6)
    expected = net.predict(X)
    assert expected.shape == (6, 4, 3)
    out = np.empty((6, 4, 3), dtype=dtype)
    assert net.predict(X, out=out) is out
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match=r"shape \(6, 4, 3\)"):
        net.predict(X, out=np.empty((6, 12), dtype=dtype))
    lm = Sequential([Embedding(11, 4), Dense(11, "softmax")], input_shape=(7,), seed=0,
                    backend=backend, dtype=dtype)
    ids = np.arange(14, dtype=dtype).reshape(2, 7) % 11
    assert lm.predict(ids).shape == (2, 7, 11)
    ids[1, 3] = 11  # beyond input_dim, in the fast path's dtype and layout
    with pytest.raises(ValueError, match="token ids"):
        lm.predict(ids)
    with pytest.raises(ValueError, match="token ids"):
        lm.predict(ids, check_input=False)
