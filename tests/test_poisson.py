"""The Poisson loss (half Poisson deviance on an exp output, the log link) on both backends:
finite-difference gradients, the loss against its formula, compiled against NumPy, errors,
and barenet.sklearn.MLPRegressor(loss="poisson") against scikit-learn's."""

import warnings

import numpy as np
import pytest

from barenet import NeuralNetwork

from conftest import numeric_gradient


def poisson_problem(n=60, k=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    rate = np.exp(0.5 * X[:, :1] - 0.3 * X[:, 1:2] + 0.1 * np.arange(k))
    return X, rng.poisson(rate).astype(float)


@pytest.mark.parametrize("k", [1, 3])
def test_gradient_matches_finite_differences(backend, k):
    X, y = poisson_problem(k=k)
    net = NeuralNetwork([4, 5, k], activation="tanh", output_activation="exp", l2=0.01,
                        seed=2, backend=backend)
    assert net.loss_name == "poisson"
    sw = np.linspace(0.5, 1.5, len(X))
    loss, grad = net.gradient(X, y, sample_weight=sw)
    num = numeric_gradient(net, X, y, sample_weight=sw)
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-9)


def test_loss_is_the_half_poisson_deviance(backend):
    X, y = poisson_problem(k=2)
    y[:5] = 0  # 0 log 0 = 0
    net = NeuralNetwork([4, 2], output_activation="exp", seed=0, backend=backend)
    mu = net.predict(X)
    y_log_y = np.where(y > 0, y * np.log(np.where(y > 0, y, 1)), 0)
    expected = np.mean(mu - y * np.log(mu) + y_log_y - y)
    assert net.loss(X, y) == pytest.approx(expected, rel=1e-12)


@pytest.mark.usefixtures("needs_compiled")
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-9), ("float32", 1e-3)])
def test_compiled_training_matches_the_reference(dtype, rtol):
    X, y = poisson_problem(n=80, k=2)
    nets = [NeuralNetwork([4, 6, 2], output_activation="exp", dtype=dtype, seed=3, backend=b)
            for b in ("numpy", "compiled")]
    hists = [net.train(X, y, epochs=20, learning_rate=0.01, batch_size=16, optimizer="adam",
                       verbose=False) for net in nets]
    np.testing.assert_allclose(hists[1], hists[0], rtol=rtol)
    np.testing.assert_allclose(nets[1].get_params(), nets[0].get_params(), rtol=rtol,
                               atol=rtol)


def test_bad_targets_and_settings():
    X, y = poisson_problem()
    net = NeuralNetwork([4, 1], output_activation="exp")
    with pytest.raises(ValueError, match=r"y must hold counts or rates >= 0 for the poisson"):
        net.train(X, -y - 1, epochs=1, verbose=False)
    with pytest.raises(ValueError, match="loss 'poisson' needs output_activation='exp'"):
        NeuralNetwork([4, 1], output_activation="identity", loss="poisson")
    assert NeuralNetwork([4, 1], output_activation="exp", loss="mse").loss_name == "mse"


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_sklearn_regressor_matches_scikit_learn(backend, solver):
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPRegressor as Reference

    from barenet.sklearn import MLPRegressor
    X, y = poisson_problem(n=150)
    y = y.ravel()
    kw = dict(loss="poisson", hidden_layer_sizes=(6,), solver=solver, max_iter=20,
              random_state=0)
    if solver == "sgd":
        kw.update(learning_rate_init=0.01, batch_size=150, shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning
        ref = Reference(**kw).fit(X, y)
        ours = MLPRegressor(backend=backend, **kw).fit(X, y)
    assert ours.out_activation_ == "exp" and ours.n_iter_ == ref.n_iter_
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-8)
    for a, b in zip(ours.coefs_, ref.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-6)
