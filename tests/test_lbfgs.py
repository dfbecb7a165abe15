"""NeuralNetwork.loss_and_grad (the objective as a function of a flat parameter vector) and
barenet._lbfgs.train (scipy's L-BFGS-B on it): float64 finite differences at a point that is
not the network's own, the network left untouched, float32, convergence on XOR and spirals,
the limits and the History's record, non-finite trial points, Ctrl-C, and the ImportError
without scipy. Every numeric test runs on both backends."""

import sys

import numpy as np
import pytest

pytest.importorskip("scipy", reason="scipy is not installed")

from barenet import NeuralNetwork, TrainingDiverged, _lbfgs  # noqa: E402
from barenet.datasets import make_spirals, make_xor  # noqa: E402

NETS = {  # output kind: (network settings, targets for X (n, 3))
    "bce": (dict(layer_sizes=[3, 5, 4, 2], activation="tanh"),
            lambda X, rng: (rng.random((len(X), 2)) > 0.5).astype(float)),
    "softmax": (dict(layer_sizes=[3, 6, 3], activation="gelu", output_activation="softmax"),
                lambda X, rng: rng.integers(0, 3, len(X))),
    "mse": (dict(layer_sizes=[3, 4, 2], activation="sigmoid", output_activation="identity"),
            lambda X, rng: rng.standard_normal((len(X), 2))),
}


def _problem(kind, backend, dtype="float64", **extra):
    settings, targets = NETS[kind]
    rng = np.random.default_rng(1)
    X = rng.standard_normal((9, 3))
    net = NeuralNetwork(**settings, seed=0, backend=backend, dtype=dtype, **extra)
    return net, X, targets(X, rng), rng


def _validated(net, X, y, sw=None):
    """what the callers of _lbfgs.train hand it: inputs validated in the network's dtype"""
    X, y = net._Xy(X, y)
    return X, y, None if sw is None else np.ascontiguousarray(sw, dtype=net.dtype)


# -- loss_and_grad ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(NETS))
def test_loss_and_grad_matches_finite_differences(kind, backend):
    """central differences in float64 at a random vector, not the network's parameters,
    with both penalties and row weights; the network's own parameters stay as they were"""
    net, X, y, rng = _problem(kind, backend, l1=0.01, l2=0.1)
    sw = rng.random(len(X)) + 0.5
    own = net.get_params()
    params = rng.standard_normal(net.n_params)
    loss, grad = net.loss_and_grad(params, X, y, sample_weight=sw)
    assert grad.shape == (net.n_params,) and grad.dtype == np.float64
    eps = 1e-6
    numeric = np.empty(net.n_params)
    for i in range(net.n_params):
        step = np.zeros(net.n_params)
        step[i] = eps
        numeric[i] = (net.loss_and_grad(params + step, X, y, sw)[0]
                      - net.loss_and_grad(params - step, X, y, sw)[0]) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    np.testing.assert_array_equal(net.get_params(), own)
    net.set_params(params)   # the same numbers as the network's own loss and gradient
    np.testing.assert_allclose(loss, net.loss(X, y, sample_weight=sw), rtol=1e-12)
    np.testing.assert_allclose(grad, net.gradient(X, y, sample_weight=sw)[1], rtol=1e-12)


def test_loss_and_grad_float32(backend):
    net, X, y, rng = _problem("softmax", backend, dtype="float32")
    ref, *_ = _problem("softmax", backend)
    params = rng.standard_normal(net.n_params)   # float64 in, evaluated in float32
    loss, grad = net.loss_and_grad(params, X, y)
    assert grad.dtype == np.float32
    loss64, grad64 = ref.loss_and_grad(params, X, y)
    np.testing.assert_allclose(loss, loss64, rtol=1e-5)
    np.testing.assert_allclose(grad, grad64, rtol=1e-3, atol=1e-5)


def test_loss_and_grad_checks_params():
    net, X, y, _ = _problem("bce", "numpy", dtype="float32")
    n = net.n_params
    with pytest.raises(ValueError, match=rf"params must be a flat vector of shape \({n},\)"):
        net.loss_and_grad(np.zeros((n, 1)), X, y)
    for bad in (np.full(n, np.nan), np.full(n, 1e300)):   # 1e300 overflows float32
        with pytest.raises(ValueError, match="params must hold finite real numbers that fit float32"):
            net.loss_and_grad(bad, X, y)
    with pytest.raises(ValueError, match="params must hold real numbers"):
        net.loss_and_grad(np.array(["a"] * n), X, y)
    with pytest.raises(ValueError, match="y"):
        net.loss_and_grad(np.zeros(n), X, y[:3])


# -- _lbfgs.train -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lbfgs_solves_xor(backend, dtype):
    X, y = make_xor(dtype)
    net = NeuralNetwork([2, 8, 1], activation="tanh", seed=0, backend=backend, dtype=dtype)
    history = _lbfgs.train(net, *_validated(net, X, y), max_iter=200)
    assert history.final_loss < 1e-3
    assert net.loss(X, y) == pytest.approx(history.final_loss, rel=1e-4)
    np.testing.assert_array_equal(net.predict_classes(X), y[:, 0])
    assert net.get_params().dtype == np.dtype(dtype)


def test_lbfgs_fits_spirals(backend):
    X, y = make_spirals(40, 3, seed=0)
    net = NeuralNetwork([2, 24, 3], activation="tanh", output_activation="softmax", seed=0,
                        backend=backend)
    history = _lbfgs.train(net, *_validated(net, X, y), max_iter=300)
    assert np.mean(net.predict_classes(X) == y) >= 0.95
    assert all(b <= a for a, b in zip(history, history[1:]))   # accepted steps only descend


def test_history_records_iterations_and_evaluations(backend):
    X, y = make_spirals(30, 3, seed=1)
    net = NeuralNetwork([2, 16, 3], output_activation="softmax", seed=0, backend=backend)
    Xv, yv, _ = _validated(net, X, y)
    history = _lbfgs.train(net, Xv, yv, max_iter=7)
    assert history.n_iter == len(history) == 7
    assert history.status == 1 and not history.converged and "LIMIT" in history.message
    assert history.n_fun >= 7 and history.final_loss == history[-1]
    history = _lbfgs.train(net, Xv, yv, max_iter=1000, max_fun=12)
    assert history.status == 1 and 12 <= history.n_fun <= 12 + 20   # + one line search
    history = _lbfgs.train(net, Xv, yv, max_iter=100, tol=1e9)   # converged at the start
    assert history.n_iter == 0 and history.converged and history.n_fun == 1
    assert history.final_loss == pytest.approx(net.loss(X, y), rel=1e-12)


@pytest.mark.usefixtures("needs_compiled")
def test_both_backends_take_the_same_steps():
    X, y = make_spirals(30, 3, seed=2)
    params = []
    for backend in ("numpy", "compiled"):
        net = NeuralNetwork([2, 12, 3], output_activation="softmax", seed=0, backend=backend,
                            l2=1e-3)
        _lbfgs.train(net, *_validated(net, X, y), max_iter=20)
        params.append(net.get_params())
    np.testing.assert_allclose(params[0], params[1], rtol=1e-6, atol=1e-9)


def test_sample_weight_is_repeated_rows(backend):
    X, y = make_spirals(20, 3, seed=3)
    counts = np.arange(len(X)) % 3   # 0, 1 or 2 copies of each row
    nets = [NeuralNetwork([2, 8, 3], output_activation="softmax", seed=0, backend=backend)
            for _ in range(2)]
    _lbfgs.train(nets[0], *_validated(nets[0], X, y, counts / counts.mean()), max_iter=15)
    _lbfgs.train(nets[1], *_validated(nets[1], np.repeat(X, counts, axis=0),
                                      np.repeat(y, counts)), max_iter=15)
    np.testing.assert_allclose(nets[0].get_params(), nets[1].get_params(), rtol=1e-6,
                               atol=1e-9)


class _Wrapped:
    """a backend whose loss_and_grad can be made to misbehave"""

    def __init__(self, backend, hook):
        self.inner, self.hook, self.calls = backend, hook, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def loss_and_grad(self, params, *args, **kwargs):
        self.calls += 1
        loss = self.inner.loss_and_grad(params, *args, **kwargs)
        return self.hook(self.calls, params, loss)


def test_non_finite_trial_points_are_stepped_back_from(backend):
    """a region where the loss is NaN (as after an overflow): L-BFGS backs off it and ends
    at a finite point below the start"""
    X, y = make_xor()
    net = NeuralNetwork([2, 8, 1], activation="tanh", seed=0, backend=backend)
    start = net.get_params()
    radius = 0.5
    net._backend = _Wrapped(net._backend, lambda calls, p, loss: (
        np.nan if np.abs(p - start).max() > radius else loss))
    first = net.loss(X, y)
    history = _lbfgs.train(net, *_validated(net, X, y), max_iter=100)
    assert "non-finite" in history.message
    assert np.isfinite(net.get_params()).all()
    assert np.abs(net.get_params() - start).max() <= radius
    assert history.final_loss < first


def test_non_finite_start_raises(backend):
    X, y = make_xor()
    net = NeuralNetwork([2, 3, 1], seed=0, backend=backend)
    start = net.get_params()
    net._backend = _Wrapped(net._backend, lambda calls, p, loss: np.inf)
    with pytest.raises(TrainingDiverged, match="starting parameters"):
        _lbfgs.train(net, *_validated(net, X, y), max_iter=10)
    np.testing.assert_array_equal(net.get_params(), start)


def test_keyboard_interrupt_keeps_the_last_accepted_iterate(backend):
    X, y = make_spirals(30, 3, seed=4)
    net = NeuralNetwork([2, 16, 3], output_activation="softmax", seed=0, backend=backend)

    def hook(calls, params, loss):
        if calls == 15:
            raise KeyboardInterrupt
        return loss

    net._backend = _Wrapped(net._backend, hook)
    with pytest.raises(KeyboardInterrupt) as info:
        _lbfgs.train(net, *_validated(net, X, y), max_iter=100)
    history = info.value.history
    assert 0 < history.n_iter == len(history) < 15 and history.status is None
    assert net.loss(X, y) == pytest.approx(history[-1], rel=1e-12)


def test_bad_settings_and_missing_scipy(monkeypatch):
    X, y = make_xor()
    net = NeuralNetwork([2, 3, 1], seed=0, backend="numpy")
    Xv, yv, _ = _validated(net, X, y)
    with pytest.raises(ValueError, match="max_iter"):
        _lbfgs.train(net, Xv, yv, max_iter=0)
    with pytest.raises(TypeError, match="max_fun"):
        _lbfgs.train(net, Xv, yv, max_iter=5, max_fun=2.5)
    with pytest.raises(ValueError, match="tol"):
        _lbfgs.train(net, Xv, yv, max_iter=5, tol=-1.0)
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)   # import scipy.optimize fails
    with pytest.raises(ImportError, match=r"optimizer='lbfgs' needs scipy: pip install scipy"):
        _lbfgs.train(net, Xv, yv, max_iter=5)


def test_verbose_prints_iterations(capsys):
    X, y = make_xor()
    net = NeuralNetwork([2, 8, 1], activation="tanh", seed=0, backend="numpy")
    history = _lbfgs.train(net, *_validated(net, X, y), max_iter=25, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Iteration 1, Loss: ") and lines[1].startswith("Iteration 10,")
    assert lines[-1].startswith(f"L-BFGS: {history.n_iter} iterations, {history.n_fun} loss "
                                "evaluations")


def test_old_scipy_callback_gives_the_same_history(monkeypatch):
    """scipy < 1.11 calls callback(xk) without the loss: it is taken from the evaluation"""
    import scipy.optimize
    X, y = make_spirals(20, 3, seed=5)
    runs = []
    for old in (False, True):
        if old:
            minimize = scipy.optimize.minimize

            def old_minimize(*args, callback, **kwargs):
                def old_style(xk):   # not named intermediate_result: scipy passes x only
                    return callback(xk.copy())
                return minimize(*args, callback=old_style, **kwargs)

            monkeypatch.setattr(scipy.optimize, "minimize", old_minimize)
        net = NeuralNetwork([2, 8, 3], output_activation="softmax", seed=0, backend="numpy")
        runs.append(_lbfgs.train(net, *_validated(net, X, y), max_iter=12))
    assert runs[1] == runs[0] and runs[1].n_fun == runs[0].n_fun


# ---- through NeuralNetwork.train / Sequential.train ----------------------------------------

def test_train_with_lbfgs_equals_the_module_call(backend):
    from barenet.optimizers import LBFGS
    X, y = make_spirals(100, seed=1)
    a = NeuralNetwork([2, 16, 3], output_activation="softmax", seed=2, backend=backend)
    b = NeuralNetwork([2, 16, 3], output_activation="softmax", seed=2, backend=backend)
    hist = a.train(X, y, epochs=30, optimizer=LBFGS(max_fun=500, tol=0.0), verbose=False)
    ref = _lbfgs.train(b, *b._Xy(X, y), None, max_iter=30, max_fun=500, tol=0.0)
    assert list(hist) == list(ref) and hist.n_iter == ref.n_iter == 30
    np.testing.assert_array_equal(a.get_params(), b.get_params())


def test_train_with_lbfgs_fits_a_small_cnn(backend):
    from barenet import Sequential
    from barenet.layers import Conv2D, Dense, Flatten, MaxPool2D
    rng = np.random.default_rng(0)
    X = rng.random((40, 1, 6, 6))
    y = (X[:, 0, :3].sum(axis=(1, 2)) > X[:, 0, 3:].sum(axis=(1, 2))).astype(int)
    net = Sequential([Conv2D(3, 3, padding="same", activation="tanh"), MaxPool2D(2), Flatten(),
                      Dense(2, activation="softmax")], input_shape=(1, 6, 6), seed=0,
                     backend=backend)
    hist = net.train(X, y, epochs=100, optimizer="lbfgs", verbose=False)
    assert hist[-1] < 0.1 and np.mean(net.predict_classes(X) == y) == 1.0


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 16}, "full batch without batch_size"),
    ({"validation_data": "v"}, "without validation_data"),
    ({"lr_schedule": "cosine", "early_stopping": 3}, "without early_stopping, lr_schedule"),
    ({"epochs": 0}, "epochs must be"),
])
def test_train_with_lbfgs_refuses_what_does_not_apply(kwargs, match):
    X, y = make_xor()
    net = NeuralNetwork([2, 4, 1], seed=0)
    with pytest.raises(ValueError, match=match):
        net.train(X, y, optimizer="lbfgs", verbose=False, **{"epochs": 10, **kwargs})
    with pytest.raises(ValueError, match="dropout"):
        NeuralNetwork([2, 4, 1], dropout=0.5).train(X, y, optimizer="lbfgs", verbose=False)
    from barenet.optimizers import LBFGS
    with pytest.raises(ValueError, match="max_fun"):
        LBFGS(max_fun=0)
