"""Bad input gets a TypeError or ValueError that names the argument, on both backends,
before any C code runs."""

import numpy as np
import pytest

from barenet import NeuralNetwork


@pytest.mark.parametrize("sizes, error, match", [
    ([3], ValueError, "at least 2 entries"),
    ([], ValueError, "at least 2 entries"),
    ([2, 0, 1], ValueError, r"layer_sizes\[1\] must be >= 1"),
    ([2, -3, 1], ValueError, r"layer_sizes\[1\] must be >= 1"),
    ([2, 4.0, 1], TypeError, r"layer_sizes\[1\] must be an integer"),
    ([2, "4", 1], TypeError, r"layer_sizes\[1\] must be an integer"),
    ([True, 2], TypeError, r"layer_sizes\[0\] must be an integer"),
    (5, TypeError, "layer_sizes must be a sequence"),
    ("241", TypeError, "layer_sizes must be a sequence"),
    (None, TypeError, "layer_sizes must be a sequence"),
])
def test_bad_layer_sizes(sizes, error, match):
    with pytest.raises(error, match=match):
        NeuralNetwork(sizes)


def test_numpy_integer_sizes_are_fine():
    net = NeuralNetwork(np.array([2, 3, 1]), seed=0)
    assert net.layer_sizes == (2, 3, 1)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(dtype="float16"), ValueError, "dtype must be 'float32' or 'float64'"),
    (dict(dtype="int32"), ValueError, "dtype must be"),
    (dict(dtype="bogus"), ValueError, "dtype must be"),
    (dict(activation="swish"), ValueError, "activation must be one of"),
    (dict(output_activation="softplus"), ValueError, "output_activation must be one of"),
    (dict(seed=-1), ValueError, "seed must be >= 0"),
    (dict(seed=1.5), TypeError, "seed must be an integer"),
    (dict(backend="gpu"), ValueError, "backend must be one of"),
])
def test_bad_constructor_keywords(kwargs, error, match):
    with pytest.raises(error, match=match):
        NeuralNetwork([2, 3, 1], **kwargs)


@pytest.fixture
def net(backend):
    return NeuralNetwork([2, 3, 1], seed=0, backend=backend)


GOOD_X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
GOOD_Y = np.array([[1.0], [1.0], [0.0]])


@pytest.mark.parametrize("X, error, match", [
    (np.ones(3), ValueError, r"X must be 2-D \(n_samples, n_features\); got shape \(3,\)"),
    (np.ones((3, 2, 1)), ValueError, "X must be 2-D"),
    (np.ones((3, 5)), ValueError, r"X must have 2 columns .* got shape \(3, 5\)"),
    (np.ones((0, 2)), ValueError, "X must have at least one row"),
    (np.array([["a", "b"]] * 3), TypeError, "X must hold real numbers"),
    (np.ones((3, 2), dtype=complex), TypeError, "X must hold real numbers"),
    (np.array([[0.0, np.nan]] * 3), ValueError, r"X contains NaN or infinity \(first at index \(0, 1\)\)"),
    (np.array([[np.inf, 0.0]] * 3), ValueError, "X contains NaN or infinity"),
    ([[1, 2], [3]], TypeError, "X must be array-like of numbers"),
])
def test_bad_X(net, X, error, match):
    with pytest.raises(error, match=match):
        net.predict(X)
    if X.__class__ is np.ndarray and X.ndim == 2 and X.shape[0] == 3:
        with pytest.raises(error, match=match):
            net.train(X, GOOD_Y, epochs=1, verbose=False)


def test_X_too_large_for_float32(backend):
    net = NeuralNetwork([2, 3, 1], seed=0, backend=backend, dtype="float32")
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        net.predict(np.array([[1e300, 0.0]]))


@pytest.mark.parametrize("y, error, match", [
    (np.ones((4, 1)), ValueError, r"y must have shape \(3, 1\) or \(3,\) .* got shape \(4, 1\)"),
    (np.ones((3, 2)), ValueError, r"y must have shape \(3, 1\)"),
    (np.ones(4), ValueError, "y must have shape"),
    (np.array([[0.0], [np.nan], [1.0]]), ValueError, "y contains NaN or infinity"),
    (np.array([[0.0], [2.0], [1.0]]), ValueError, r"y must hold targets in \[0, 1\]"),
    (np.array([[0.0], [-1.0], [1.0]]), ValueError, r"y must hold targets in \[0, 1\]"),
    (np.array([["a"], ["b"], ["c"]]), TypeError, "y must hold real numbers"),
])
def test_bad_y(net, y, error, match):
    with pytest.raises(error, match=match):
        net.train(GOOD_X, y, epochs=1, verbose=False)
    with pytest.raises(error, match=match):
        net.backward(GOOD_X, y, 0.1)


def test_multi_output_y_must_be_2d(backend):
    net = NeuralNetwork([2, 3, 2], seed=0, backend=backend)
    with pytest.raises(ValueError, match=r"y must have shape \(3, 2\) to match .* got shape \(3,\)"):
        net.train(GOOD_X, np.ones(3), epochs=1, verbose=False)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(epochs=-1), ValueError, "epochs must be >= 0"),
    (dict(epochs=2.5), TypeError, "epochs must be an integer"),
    (dict(epochs="10"), TypeError, "epochs must be an integer"),
    (dict(learning_rate=0), ValueError, "learning_rate must be a finite number > 0"),
    (dict(learning_rate=-0.1), ValueError, "learning_rate must be a finite number > 0"),
    (dict(learning_rate=float("nan")), ValueError, "learning_rate must be a finite number"),
    (dict(learning_rate=float("inf")), ValueError, "learning_rate must be a finite number"),
    (dict(learning_rate="0.1"), TypeError, "learning_rate must be a real number"),
    (dict(learning_rate=None), TypeError, "learning_rate must be a real number"),
    (dict(verbose="yes"), TypeError, "verbose must be True or False"),
])
def test_bad_training_arguments(net, kwargs, error, match):
    before = net.get_params()
    with pytest.raises(error, match=match):
        net.train(GOOD_X, GOOD_Y, **{"epochs": 1, "verbose": False, **kwargs})
    np.testing.assert_array_equal(net.get_params(), before)


def test_bad_backward_learning_rate(net):
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0"):
        net.backward(GOOD_X, GOOD_Y, learning_rate=-1)


def test_bad_set_params(net):
    with pytest.raises(ValueError, match=r"params must have shape \(13,\)"):
        net.set_params(np.zeros(12))
    with pytest.raises(ValueError, match="params must hold finite real numbers"):
        net.set_params(np.full(13, np.nan))
    with pytest.raises(ValueError, match=r"biases\[0\] must hold finite"):
        net.biases[0] = np.full((1, 3), np.inf)


def test_unsupported_sparse_input_is_refused_clearly(net):
    sparse = pytest.importorskip("scipy.sparse")
    net.predict(sparse.csr_matrix(GOOD_X))  # CSR (and CSC) are taken: test_sparse_input.py
    with pytest.raises(TypeError, match=r"X.*\.tocsr\(\)"):
        net.predict(sparse.coo_matrix(GOOD_X))
    # only X may be sparse: a sparse y is refused with a message naming y
    with pytest.raises(TypeError, match=r"y is a sparse matrix; pass a dense array"):
        net.loss(GOOD_X, sparse.csr_matrix(np.zeros((len(GOOD_X), 1))))
