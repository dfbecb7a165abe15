"""Fixtures shared by the tests: every numeric test runs on both backends. Under
BARENET_BACKEND=compiled (CI) a missing or broken extension fails the compiled cases
instead of skipping them."""

import os

import numpy as np
import pytest

from barenet import _backend

BACKENDS = ("numpy", "compiled")


def compiled_available():
    return _backend._try_compiled() is None


def require_compiled():
    """for a test that needs the compiled core: under BARENET_BACKEND=compiled (CI) a missing
    or broken extension FAILS the test; elsewhere it skips (a NumPy-only install)"""
    error = _backend._try_compiled()
    if error is None:
        return
    if os.environ.get("BARENET_BACKEND", "").lower() == "compiled":
        pytest.fail(f"compiled backend required but {error[1]}")
    pytest.skip("the compiled extension is not available")


@pytest.fixture
def needs_compiled():
    """require_compiled() as a fixture: @pytest.mark.usefixtures("needs_compiled")"""
    require_compiled()


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler for the test's duration, the one it had restored after:
    a run started from a background shell inherits SIGINT ignored, and a test raising
    SIGINT to check how training stops would then see nothing happen"""
    import signal
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if before is not None:  # None: a handler not set from Python, which cannot be restored
        signal.signal(signal.SIGINT, before)


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "compiled":
        require_compiled()
    return request.param


@pytest.fixture(params=["float64", "float32"])
def dtype(request):
    return request.param


@pytest.fixture
def xor():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    return X, y


def random_problem(sizes, n=7, seed=0, dtype=np.float64):
    """inputs and [0, 1] targets for a network of the given sizes"""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    y = (rng.random((n, sizes[-1])) > 0.5).astype(dtype)
    return X, y


def tutorial_train(X, y, weights, biases, epochs, lr, published=False, stable_loss=False):
    """The from-scratch tutorial's training loop in plain NumPy, independent of barenet: ReLU
    hidden layers, a sigmoid output, its loss -mean(y log(p + 1e-8) + (1 - y) log(1 - p + 1e-8))
    (or, stable_loss, the README's max(z, 0) - y z + log(1 + exp(-|z|))), gradient descent
    with gradients taken before any update; published=True keeps the tutorial's own order
    (each layer updated before the error goes back through its new weights).
    Returns (losses, weights, biases)."""
    weights = [np.array(w, dtype=np.float64) for w in weights]
    biases = [np.array(b, dtype=np.float64) for b in biases]
    losses = []
    for _ in range(epochs):
        acts = [X]
        for i, (w, b) in enumerate(zip(weights, biases)):
            z = acts[-1] @ w + b
            acts.append(1 / (1 + np.exp(-z)) if i == len(weights) - 1 else np.maximum(0, z))
        out = acts[-1]
        if stable_loss:
            losses.append(np.mean(np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))))
        else:
            losses.append(-np.mean(y * np.log(out + 1e-8) + (1 - y) * np.log(1 - out + 1e-8)))
        delta = out - y
        grads = []
        for i in range(len(weights) - 1, -1, -1):
            dw, db = acts[i].T @ delta / len(X), delta.sum(axis=0, keepdims=True) / len(X)
            if published:
                weights[i] -= lr * dw
                biases[i] -= lr * db
            else:
                grads.append((dw, db))
            if i > 0:
                delta = (delta @ weights[i].T) * (acts[i] > 0)
        for (dw, db), w, b in zip(reversed(grads), weights, biases):
            w -= lr * dw
            b -= lr * db
    return [float(v) for v in losses], weights, biases


def tutorial_xor(epochs, lr=0.5, **kw):
    """the tutorial's XOR run: np.random.seed(42), [2, 4, 1], He-normal weights drawn as
    np.random.randn(n_in, n_out) * sqrt(2 / n_in), zero biases; tutorial_train's result"""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    np.random.seed(42)
    weights = [np.random.randn(2, 4) * np.sqrt(2.0 / 2), np.random.randn(4, 1) * np.sqrt(2.0 / 4)]
    biases = [np.zeros((1, 4)), np.zeros((1, 1))]
    return tutorial_train(X, y, weights, biases, epochs, lr, **kw)


def finite_differences(f, p0, eps=1e-6):
    """central differences of the scalar function f at the flat vector p0, in float64"""
    grad = np.empty_like(p0)
    for i in range(p0.size):
        p = p0.copy()
        p[i] += eps
        up = f(p)
        p[i] -= 2 * eps
        grad[i] = (up - f(p)) / (2 * eps)
    return grad


def numeric_gradient(net, X, y, eps=1e-6, sample_weight=None):
    """central differences of net's training objective at its parameters, in float64"""
    return finite_differences(lambda p: net.loss_and_grad(p, X, y, sample_weight)[0],
                              net.get_params(), eps)


def training_loss_and_grad(net, params, X, y, drop):
    """net's objective and gradient at params as a training step sees it: dropout masks and
    batch statistics of drop = (seed, epoch, batch)"""
    X, y = net._Xy(X, y)
    dparams = np.empty_like(net._params)
    loss = net._backend.loss_and_grad(np.ascontiguousarray(params, dtype=net.dtype), X, y,
                                      dparams, net.l1, net.l2, None, drop=drop)
    return loss, dparams
