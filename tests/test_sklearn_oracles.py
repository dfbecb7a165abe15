"""barenet.sklearn against oracles written here: the optimizer settings the estimators map
from scikit-learn's (epsilon * r for Adam/RMSprop, AdamW's decoupled alpha) replayed by hand
from the network's gradient, class_weight="balanced" from its formula n / (k count_c), the
thread count fit and predict run with, feature_names_in_ with pandas, and warm_start's new
optimizer (scikit-learn's rule) against scikit-learn itself."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is not installed")

from sklearn import neural_network as sk  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import barenet  # noqa: E402
from barenet import NeuralNetwork  # noqa: E402
from barenet.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


def glorot(sizes, seed, factor=6.0):
    """scikit-learn's initialisation: per layer, weights then intercepts drawn
    uniform(-b, b) from RandomState(seed), b = sqrt(factor / (fan_in + fan_out))"""
    rs = np.random.RandomState(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        params.append((rs.uniform(-bound, bound, (fan_in, fan_out)),
                       rs.uniform(-bound, bound, fan_out)))
    return params


def _flat(probe, layers):
    for i, (w, b) in enumerate(layers):
        probe.weights[i] = w
        probe.biases[i] = b.reshape(1, -1)
    return probe.get_params()


@pytest.mark.parametrize("solver, alpha", [("adam", 0.0), ("adamw", 0.05), ("rmsprop", 0.0)])
def test_optimizer_mapping_replayed_by_hand(backend, solver, alpha):
    """3 regression outputs: barenet's mse gradient is r = 2/3 times scikit-learn's, so the
    estimators give Adam/RMSprop eps = epsilon * r (module doc); AdamW's alpha is its
    decoupled weight decay, p -= lr alpha p before each step, on every parameter. The
    replay: PyTorch's formulas, gradients from a probe network's net.gradient."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    Y = X @ rng.standard_normal((4, 3))
    sizes, lr, eps, steps = [4, 5, 3], 0.05, 0.3, 4
    est = MLPRegressor(hidden_layer_sizes=(5,), activation="tanh", solver=solver,
                       alpha=alpha, epsilon=eps, batch_size=30, shuffle=False,
                       learning_rate_init=lr, max_iter=steps, random_state=3, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, Y)
    probe = NeuralNetwork(sizes, activation="tanh", output_activation="identity", loss="mse",
                          seed=0, backend=backend)
    p = _flat(probe, glorot(sizes, 3))
    r = 2 / 3
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t in range(1, steps + 1):
        probe.set_params(p)
        g = probe.gradient(X, Y)[1]
        if solver == "rmsprop":
            v = 0.9 * v + 0.1 * g * g
            p = p - lr * g / (np.sqrt(v) + eps * r)
            continue
        p = p * (1 - lr * alpha)  # AdamW's decay (alpha 0: Adam)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        p = p - lr / (1 - 0.9 ** t) * m / (np.sqrt(v / (1 - 0.999 ** t)) + eps * r)
    probe.set_params(p)
    np.testing.assert_allclose(est.coefs_[0], probe.weights[0], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(est.intercepts_[1], probe.biases[1].ravel(), rtol=1e-10,
                               atol=1e-13)
    np.testing.assert_allclose(est.predict(X), probe.predict(X), rtol=1e-10, atol=1e-12)


def test_balanced_class_weight_is_n_over_k_counts(backend):
    """counts 36, 12, 6 of 54 rows: weights 54 / (3 * count) = 0.5, 1.5, 3"""
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], [36, 12, 6])
    X = rng.standard_normal((54, 4)) + y[:, None]
    kw = dict(hidden_layer_sizes=(6,), max_iter=8, random_state=0, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        balanced = MLPClassifier(class_weight="balanced", **kw).fit(X, y)
        by_hand = MLPClassifier(**kw).fit(X, y, sample_weight=np.array([0.5, 1.5, 3.0])[y])
        plain = MLPClassifier(**kw).fit(X, y)
    np.testing.assert_allclose(balanced.predict_proba(X), by_hand.predict_proba(X),
                               rtol=1e-9)
    assert not np.allclose(balanced.predict_proba(X), plain.predict_proba(X), rtol=1e-6)


def test_n_threads_is_the_count_fit_and_predict_run_with(monkeypatch, needs_compiled):
    """the thread count seen inside every train and predict call is n_threads; the caller's
    count comes back afterwards"""
    from barenet import network

    seen = []
    train, predict = network.Sequential._train, network.Sequential.predict

    def spy_train(self, *args, **kw):
        seen.append(("train", barenet.get_num_threads()))
        return train(self, *args, **kw)

    def spy_predict(self, *args, **kw):
        seen.append(("predict", barenet.get_num_threads()))
        return predict(self, *args, **kw)

    monkeypatch.setattr(network.Sequential, "_train", spy_train)
    monkeypatch.setattr(network.Sequential, "predict", spy_predict)
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    barenet.set_num_threads(2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, n_threads=1,
                                backend="compiled").fit(X, y)
        assert barenet.get_num_threads() == 2
        est.predict(X)
        assert barenet.get_num_threads() == 2
    finally:
        barenet.set_num_threads(None)
    assert [kind for kind, _ in seen].count("train") == 3 and ("predict", 1) in seen
    assert {threads for _, threads in seen} == {1}


def test_feature_names_in_with_pandas(backend):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.standard_normal((40, 3)), columns=["age", "height", "weight"])
    y = (frame["age"] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0,
                            backend=backend).fit(frame, y)
        reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0,
                           backend=backend).fit(frame, frame["height"])
    for fitted in (est, reg):
        assert list(fitted.feature_names_in_) == ["age", "height", "weight"]
        assert fitted.n_features_in_ == 3
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        plain_rows = est.predict(frame.to_numpy())   # scikit-learn's warning, as its own MLP
    np.testing.assert_array_equal(est.predict(frame), plain_rows)
    with pytest.raises(ValueError, match="feature names"):
        est.predict(frame[["height", "age", "weight"]])
    plain = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain.fit(frame.to_numpy(), y)
    assert not hasattr(plain, "feature_names_in_")


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_warm_start_starts_a_new_optimizer_as_sklearn(backend, solver):
    """fit() under warm_start continues from the fitted weights with a fresh optimizer
    (momentum / Adam moments start again, as scikit-learn's _fit_stochastic does), while
    partial_fit keeps the optimizer; checked against scikit-learn update for update (sgd)
    and against the carried-over alternative (both)"""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 5))
    y = X @ rng.standard_normal(5)
    kw = dict(hidden_layer_sizes=(6,), activation="tanh", solver=solver, momentum=0.9,
              batch_size=40, shuffle=False, max_iter=4, random_state=3,
              learning_rate_init=0.02, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPRegressor(backend=backend, **kw).fit(X, y)
        first = ours._optimizer
        ours.fit(X, y)
        carried = MLPRegressor(backend=backend, **kw).fit(X, y)
        for _ in range(4):
            carried.partial_fit(X, y)
        theirs = sk.MLPRegressor(**kw).fit(X, y).fit(X, y)
    assert ours._optimizer is not first
    assert not np.allclose(ours.predict(X), carried.predict(X), rtol=1e-6)
    if solver == "sgd":
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9)
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


ESTIMATOR_VALUES = {  # scikit-learn's names; values from the definitions (test_oracles.py)
    "identity": [(-2.5, -2.5), (4.0, 4.0)],
    "relu": [(-2.0, 0.0), (1.5, 1.5)],
    "logistic": [(0.0, 0.5), (1.0, 0.7310585786300049), (-1.0, 0.2689414213699951)],
    "tanh": [(1.0, 0.7615941559557649), (-0.5, -0.46211715726000974)],
    "leaky_relu": [(-2.0, -0.02), (3.0, 3.0)],
    "gelu": [(1.0, 0.8413447460685429), (-1.0, -0.15865525393145707),
             (2.0, 1.9544997361036416)],
}


@pytest.mark.parametrize("activation", sorted(ESTIMATOR_VALUES))
def test_estimator_activations_on_known_values(backend, activation):
    """a fitted 1-1-1 regressor given unit weights and zero intercepts predicts f(x)"""
    x = np.array([[v] for v, _ in ESTIMATOR_VALUES[activation]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPRegressor(hidden_layer_sizes=(1,), activation=activation, max_iter=1,
                           random_state=0, backend=backend).fit(x, x[:, 0])
    for coef, intercept in zip(est.coefs_, est.intercepts_):
        coef[...] = 1.0
        intercept[...] = 0.0
    np.testing.assert_allclose(est.predict(x), [v for _, v in ESTIMATOR_VALUES[activation]],
                               rtol=1e-13, atol=1e-15)
