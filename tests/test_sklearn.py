"""barenet.sklearn: scikit-learn's own estimator checks, update-for-update agreement with
scikit-learn's MLP (full-batch sgd), accuracy parity on real data sets, pickling, Pipeline and
GridSearchCV, and the behaviours scikit-learn defines (stopping, warnings, warm_start,
partial_fit) plus barenet's extras; solver="lbfgs" iterate for iterate and in accuracy.
Every numeric test runs on both backends."""

import inspect
import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is not installed")

from sklearn import neural_network as sk  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from barenet import get_num_threads  # noqa: E402
from barenet.sklearn import MLPClassifier, MLPRegressor  # noqa: E402



# -- scikit-learn's check_estimator suite -----------------------------------------------------

# Checks that cannot pass, by estimator class name: {check name: reason}. None at present
# (pandas-based checks skip themselves when pandas is absent; sparse X is accepted as CSR,
# tests/test_sparse_input.py).
EXPECTED_FAILED_CHECKS = {"MLPClassifier": {}, "MLPRegressor": {}}


def _expected_failed(estimator):
    return EXPECTED_FAILED_CHECKS[type(estimator).__name__]


_check_kwargs = {}
if "expected_failed_checks" in inspect.signature(parametrize_with_checks).parameters:
    _check_kwargs["expected_failed_checks"] = _expected_failed  # scikit-learn >= 1.6


@parametrize_with_checks([MLPClassifier(hidden_layer_sizes=(16,), max_iter=100,
                                        learning_rate_init=0.01),
                          MLPRegressor(hidden_layer_sizes=(16,), max_iter=100,
                                       learning_rate_init=0.01),
                          MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50),
                          MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50)],
                         **_check_kwargs)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# -- the same updates as scikit-learn ---------------------------------------------------------

def _targets(kind, X, rng):
    return {"binary": (X[:, 0] > 0).astype(int),
            "multiclass": np.digitize(X[:, 0], [-0.5, 0.5]),
            "multilabel": (X[:, :3] > 0).astype(int),
            "regression": X @ rng.standard_normal(5),
            "multi-output regression": X @ rng.standard_normal((5, 3))}[kind]


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regression",
                                  "multi-output regression"])
@pytest.mark.parametrize("settings", [
    dict(solver="sgd", momentum=0.9, nesterovs_momentum=True),
    dict(solver="sgd", momentum=0.5, nesterovs_momentum=False, learning_rate="invscaling"),
    dict(solver="sgd", momentum=0.0, learning_rate="adaptive", tol=10.0, n_iter_no_change=1),
], ids=["nesterov", "momentum-invscaling", "plain-adaptive"])
def test_full_batch_sgd_matches_sklearn_update_for_update(kind, settings, backend):
    """Same random_state => same initial weights (sklearn's Glorot draw); full-batch
    unshuffled sgd then leaves no randomness, so every parameter and every loss must agree:
    this pins the alpha -> l2 and loss-scale mapping for every output kind."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    y = _targets(kind, X, rng)
    kw = dict(hidden_layer_sizes=(7, 4), activation="tanh", alpha=0.01, batch_size=40,
              shuffle=False, max_iter=8, random_state=3, learning_rate_init=0.05, **settings)
    ours, theirs = ((MLPRegressor, sk.MLPRegressor) if "regression" in kind
                    else (MLPClassifier, sk.MLPClassifier))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = theirs(**kw).fit(X, y)
        b = ours(backend=backend, **kw).fit(X, y)
    assert b.n_iter_ == a.n_iter_
    for pa, pb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(pb, pa, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(b.predict_proba(X) if hasattr(b, "predict_proba")
                               else b.predict(X),
                               a.predict_proba(X) if hasattr(a, "predict_proba")
                               else a.predict(X), rtol=1e-8, atol=1e-12)


def test_stopping_rule_matches_sklearn():
    """tol / n_iter_no_change as scikit-learn counts them (no improvement > n epochs)"""
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    for early in (False, True):
        kw = dict(hidden_layer_sizes=(8,), tol=0.5, n_iter_no_change=3, max_iter=50,
                  random_state=0, early_stopping=early)
        a = sk.MLPClassifier(**kw).fit(X, y)
        b = MLPClassifier(**kw).fit(X, y)
        assert b.n_iter_ == a.n_iter_ == 5
        assert len(b.loss_curve_) == 5


# -- accuracy parity on real data -------------------------------------------------------------

SEEDS = (0, 1, 2)
_reference = {}


def _dataset(name):
    loader = {"digits": load_digits, "breast_cancer": load_breast_cancer,
              "diabetes": load_diabetes}[name]
    X, y = loader(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    if name == "diabetes":  # scaled target too, so a few hundred epochs converge
        mean, std = ytr.mean(), ytr.std()
        ytr, yte = (ytr - mean) / std, (yte - mean) / std
    return Xtr, Xte, ytr, yte


PARITY = {  # data set: (estimator kind, hyper-parameters); all converge (tol) in max_iter
    "digits": ("classifier", dict(hidden_layer_sizes=(32,), learning_rate_init=0.01,
                                  max_iter=200)),
    "breast_cancer": ("classifier", dict(hidden_layer_sizes=(16,), learning_rate_init=0.01,
                                         max_iter=300)),
    "diabetes": ("regressor", dict(hidden_layer_sizes=(32,), learning_rate_init=0.01,
                                   alpha=10.0, max_iter=300)),
}


def _mean_score(cls, name, **extra):
    kind, kw = PARITY[name]
    Xtr, Xte, ytr, yte = _dataset(name)
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in SEEDS:
            scores.append(cls(random_state=seed, **kw, **extra).fit(Xtr, ytr).score(Xte, yte))
    return float(np.mean(scores))


@pytest.mark.parametrize("name", list(PARITY))
def test_accuracy_parity_with_sklearn(name, backend):
    kind = PARITY[name][0]
    if name not in _reference:
        _reference[name] = _mean_score(sk.MLPClassifier if kind == "classifier"
                                       else sk.MLPRegressor, name)
    ours = _mean_score(MLPClassifier if kind == "classifier" else MLPRegressor, name,
                       backend=backend)
    print(f"{name} ({'R^2' if kind == 'regressor' else 'accuracy'}): scikit-learn "
          f"{_reference[name]:.4f}, barenet {backend} {ours:.4f}")
    assert ours >= _reference[name] - 0.02
    assert abs(ours - _reference[name]) <= 0.02


# -- solver="lbfgs" ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regression",
                                  "multi-output regression"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_lbfgs_matches_sklearn_iterate_for_iterate(kind, weighted, backend):
    """Same random_state => same initial weights; scipy then sees scikit-learn's loss and
    gradient to rounding, so it takes the same steps: the parameters, n_iter_ and loss_
    agree after 30 iterations, for every output kind (multi-output regression included,
    where scikit-learn's gradient is not its loss's) and with sample weights."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    y = _targets(kind, X, rng)
    sw = rng.random(40) + 0.5 if weighted else None
    kw = dict(hidden_layer_sizes=(7, 4), activation="tanh", alpha=0.01, solver="lbfgs",
              max_iter=30, random_state=3)
    ours, theirs = ((MLPRegressor, sk.MLPRegressor) if "regression" in kind
                    else (MLPClassifier, sk.MLPClassifier))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = theirs(**kw).fit(X, y, sample_weight=sw)
        b = ours(backend=backend, **kw).fit(X, y, sample_weight=sw)
    assert b.n_iter_ == a.n_iter_ == 30
    assert b.loss_ == pytest.approx(a.loss_, rel=1e-7)
    for pa, pb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(pb, pa, rtol=1e-6, atol=1e-8)
    assert len(b.loss_curve_) == 30 and b.loss_curve_[-1] == b.loss_


LBFGS_PARITY = {"digits": dict(hidden_layer_sizes=(32,), max_iter=200),
                "breast_cancer": dict(hidden_layer_sizes=(16,), alpha=1.0, max_iter=100),
                "diabetes": dict(hidden_layer_sizes=(16,), alpha=10.0, max_iter=100)}
_lbfgs_reference = {}


def _mean_lbfgs_score(cls, name, **extra):
    Xtr, Xte, ytr, yte = _dataset(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return float(np.mean([cls(solver="lbfgs", random_state=seed, **LBFGS_PARITY[name],
                                  **extra).fit(Xtr, ytr).score(Xte, yte) for seed in SEEDS]))


@pytest.mark.slow  # 5 seeds x 2 libraries of L-BFGS fits on three data sets
@pytest.mark.parametrize("name", list(LBFGS_PARITY))
def test_lbfgs_accuracy_parity_with_sklearn(name, backend):
    ours, theirs = ((MLPRegressor, sk.MLPRegressor) if name == "diabetes"
                    else (MLPClassifier, sk.MLPClassifier))
    if name not in _lbfgs_reference:
        _lbfgs_reference[name] = _mean_lbfgs_score(theirs, name)
    score = _mean_lbfgs_score(ours, name, backend=backend)
    print(f"lbfgs {name}: scikit-learn {_lbfgs_reference[name]:.4f}, barenet {backend} "
          f"{score:.4f}")
    assert abs(score - _lbfgs_reference[name]) <= 0.02


def test_lbfgs_limits_warn_as_sklearn(backend):
    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16.0
    y = y[:300]
    kw = dict(hidden_layer_sizes=(16,), solver="lbfgs", random_state=0, backend=backend)
    with pytest.warns(ConvergenceWarning, match=r"lbfgs failed to converge after 5 "
                      r"iteration\(s\) \(status=1\)(.|\n)*max_iter=5"):
        est = MLPClassifier(max_iter=5, **kw).fit(X, y)
    assert est.n_iter_ == 5 and len(est.loss_curve_) == 5
    with pytest.warns(ConvergenceWarning, match="status=1"):
        est = MLPClassifier(max_iter=500, max_fun=10, **kw).fit(X, y)
    assert est.n_iter_ <= 10 and est._net is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = MLPClassifier(max_iter=100, tol=1.0, **kw).fit(X, y)   # gtol met: no warning
    assert est.n_iter_ < 100


def test_lbfgs_fitted_attributes_and_warm_start(backend, capsys):
    X, y = _blobs(90)
    kw = dict(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=15, random_state=0,
              backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(verbose=True, **kw).fit(X, y)
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].startswith("Iteration 1, loss = ") and len(lines) == est.n_iter_
        assert not hasattr(est, "partial_fit")   # as scikit-learn: lbfgs is not stochastic
        assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
        assert est.best_loss_ == est.loss_ == min(est.loss_curve_)
        # warm_start continues from the fitted weights: 15 + 15 iterations are 30 at once
        est.set_params(warm_start=True, verbose=False).fit(X, y)
        theirs = sk.MLPClassifier(**{k: v for k, v in kw.items() if k != "backend"}).fit(X, y)
        theirs.set_params(warm_start=True).fit(X, y)
    assert len(est.loss_curve_) == 15 + est.n_iter_
    assert est.loss_curve_[15] < est.loss_curve_[14]   # it went on from there
    # and took scikit-learn's steps: its own warm start, iterate for iterate
    assert est.n_iter_ == theirs.n_iter_
    assert est.loss_ == pytest.approx(theirs.loss_, rel=1e-7)
    for ours, ref in zip(est.coefs_ + est.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-8)
    f32 = MLPClassifier(dtype="float32", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        f32.fit(X, y)
    assert f32.coefs_[0].dtype == np.float32 and f32.score(X, y) > 0.9


def test_lbfgs_interrupt_keeps_the_iterations_done(monkeypatch):
    from barenet import _lbfgs
    X, y = _blobs(90)
    evaluate = _lbfgs._Objective.__call__

    def interrupted(self, x):
        if self.n_fun == 8:
            raise KeyboardInterrupt
        return evaluate(self, x)

    monkeypatch.setattr(_lbfgs._Objective, "__call__", interrupted)
    est = MLPClassifier(hidden_layer_sizes=(6,), solver="lbfgs", random_state=0)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        est.fit(X, y)
    assert 0 < est.n_iter_ == len(est.loss_curve_) < 8 and est.loss_ == est.loss_curve_[-1]
    # what is kept is the last completed iteration: a fit stopped there by max_iter
    monkeypatch.setattr(_lbfgs._Objective, "__call__", evaluate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        done = MLPClassifier(hidden_layer_sizes=(6,), solver="lbfgs", random_state=0,
                             max_iter=est.n_iter_).fit(X, y)
    assert done.loss_ == est.loss_
    for ours, ref in zip(est.coefs_ + est.intercepts_, done.coefs_ + done.intercepts_):
        np.testing.assert_array_equal(ours, ref)


# -- scikit-learn machinery: clone, pickle, Pipeline, GridSearchCV ----------------------------

def _blobs(n=120, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, 4)) * 3
    y = rng.integers(0, k, n)
    return centers[y] + rng.standard_normal((n, 4)), y


def test_clone_and_pickle_round_trip(backend):
    X, y = _blobs()
    est = MLPClassifier(hidden_layer_sizes=(10,), max_iter=30, random_state=0,
                        backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(copy.predict(X), est.predict(X))
    assert copy._net.backend == est._net.backend
    # the fitted attributes view the rebuilt network's parameters
    copy.coefs_[-1][...] = 0
    copy.intercepts_[-1][...] = 0
    np.testing.assert_allclose(copy.predict_proba(X), 1 / 3)
    # a clone is unfitted, with the same parameters; fitting it gives the same model
    fresh = clone(est)
    assert fresh.get_params() == est.get_params() and not hasattr(fresh, "coefs_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fresh.fit(X, y)
    np.testing.assert_array_equal(fresh.predict_proba(X), est.predict_proba(X))
    # a pickled estimator can keep training (partial_fit continues its optimizer)
    reg = MLPRegressor(hidden_layer_sizes=(5,), random_state=0, backend=backend)
    reg.partial_fit(X, X[:, 0])
    again = pickle.loads(pickle.dumps(reg))
    reg.partial_fit(X, X[:, 0])
    again.partial_fit(X, X[:, 0])
    np.testing.assert_allclose(again.predict(X), reg.predict(X), rtol=1e-12)


def test_pipeline_and_grid_search():
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=20, learning_rate_init=0.01,
                                                         random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(4,), (16,)],
                               "mlpclassifier__alpha": [1e-4, 1e-1]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
    assert grid.best_score_ > 0.93
    assert grid.score(X, y) > 0.95
    assert len(grid.cv_results_["params"]) == 4


# -- targets ----------------------------------------------------------------------------------

def test_binary_multiclass_multilabel_outputs(backend):
    X, y = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = np.array(["ant", "bee", "cat"])[y]
        kw = dict(hidden_layer_sizes=(8,), max_iter=50, learning_rate_init=0.05,
                  random_state=0, backend=backend)
        multi = MLPClassifier(**kw).fit(X, labels)
        binary = MLPClassifier(**kw).fit(X, y == 1)
        Y = np.stack([y == 0, y == 1, y >= 1], axis=1).astype(int)
        multilabel = MLPClassifier(**kw).fit(X, Y)
    assert multi.out_activation_ == "softmax" and multi.n_outputs_ == 3
    assert list(multi.classes_) == ["ant", "bee", "cat"]
    p = multi.predict_proba(X)
    assert p.shape == (120, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1)
    assert set(multi.predict(X)) <= {"ant", "bee", "cat"}
    assert multi.score(X, labels) > 0.9
    np.testing.assert_allclose(multi.predict_log_proba(X), np.log(p))

    assert binary.out_activation_ == "logistic" and binary.n_outputs_ == 1
    assert binary.predict_proba(X).shape == (120, 2)
    assert binary.predict(X).dtype == bool
    assert [c.shape for c in binary.coefs_] == [(4, 8), (8, 1)]

    assert multilabel.out_activation_ == "logistic" and multilabel.n_outputs_ == 3
    assert multilabel.predict(X).shape == (120, 3)
    assert multilabel.predict_proba(X).shape == (120, 3)
    assert multilabel.n_layers_ == 3


def test_multi_output_regression(backend):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 4))
    Y = np.stack([X[:, 0] - X[:, 1], np.tanh(X[:, 2])], axis=1)
    reg = MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=200,
                       random_state=0, backend=backend).fit(X, Y)
    assert reg.out_activation_ == "identity" and reg.n_outputs_ == 2
    assert reg.predict(X).shape == (200, 2)
    assert reg.score(X, Y) > 0.95
    assert reg.predict(X[:, :4]).dtype == np.float64


# -- stopping, warnings, warm_start, partial_fit ----------------------------------------------

def test_early_stopping_attributes(backend):
    X, y = _blobs(200)
    est = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, validation_fraction=0.2,
                        n_iter_no_change=2, max_iter=500, learning_rate_init=0.05,
                        random_state=0, backend=backend).fit(X, y)
    assert est.best_loss_ is None
    assert est.n_iter_ < 500
    assert len(est.validation_scores_) == len(est.loss_curve_) == est.n_iter_
    assert len(est.validation_loss_curve_) == est.n_iter_
    assert est.best_validation_score_ == max(est.validation_scores_)
    no_es = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        no_es.fit(X, y)
    assert no_es.validation_scores_ is None and no_es.best_loss_ == min(no_es.loss_curve_)
    with pytest.raises(ValueError, match="too small"):
        MLPClassifier(early_stopping=True, validation_fraction=0.01).fit(X[:50], y[:50])


def test_early_stopping_restores_best_weights():
    X, y = _blobs(200)
    est = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, n_iter_no_change=3,
                        learning_rate_init=0.05, random_state=0).fit(X, y)
    # the validation rows are the stratified split scikit-learn makes from the same state
    _, Xv, _, yv = train_test_split(X, y, test_size=0.1, stratify=y,
                                    random_state=_state_after_init(est, X, y))
    assert est.score(Xv, yv) == pytest.approx(est.best_validation_score_)


def _state_after_init(est, X, y):
    """the random state as it is after initialising est's weights (scikit-learn's order)"""
    rs = np.random.RandomState(est.random_state)
    sizes = [X.shape[1], *est.hidden_layer_sizes, est.n_outputs_]
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        rs.uniform(size=(fan_in, fan_out))
        rs.uniform(size=fan_out)
    return rs


def test_warm_start_continues_from_fitted_weights(backend):
    X, y = _blobs()
    kw = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm = MLPClassifier(warm_start=True, **kw).fit(X, y)
        first = [c.copy() for c in warm.coefs_]
        warm.fit(X, y)
        cold = MLPClassifier(**kw).fit(X, y)
    assert len(warm.loss_curve_) == 10 and warm.n_iter_ == 5
    np.testing.assert_array_equal(cold.coefs_[0], first[0])
    assert warm.loss_curve_[5] < warm.loss_curve_[0]
    with pytest.raises(ValueError, match="warm_start can only be used"):
        warm.fit(X[y < 2], y[y < 2])


def test_partial_fit(backend):
    X, y = _blobs()
    est = MLPClassifier(hidden_layer_sizes=(8,), random_state=0, learning_rate_init=0.05,
                        backend=backend)
    with pytest.raises(ValueError, match="classes"):
        est.partial_fit(X, y)
    for start in range(0, 120, 40):
        est.partial_fit(X[start:start + 40], y[start:start + 40], classes=[0, 1, 2])
    assert est.n_iter_ == 1 and est.t_ == 120 and len(est.loss_curve_) == 3
    for _ in range(20):
        est.partial_fit(X, y)
    assert est.score(X, y) > 0.9
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        est.partial_fit(X, y + 5)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, X[:, 0])


# -- parameters -------------------------------------------------------------------------------

def test_poisson_and_bad_parameters_are_refused_clearly():
    X, y = _blobs(30)
    with pytest.raises(ValueError, match="solver.*'sgd', 'adam', 'rmsprop', 'adamw', 'lbfgs'"):
        MLPClassifier(solver="newton").fit(X, y)
    with pytest.raises(ValueError, match="dropout needs a stochastic solver"):
        MLPClassifier(solver="lbfgs", dropout=0.2).fit(X, y)
    # loss="poisson" is supported (test_poisson.py); what is refused is a negative target
    negative = X[:, 0] - X[:, 0].max() - 1
    with pytest.raises(ValueError, match="y must hold counts or rates >= 0 for the poisson"):
        MLPRegressor(loss="poisson").fit(X, negative)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = MLPRegressor(loss="poisson", max_iter=3).fit(X, -negative)
    assert fitted.out_activation_ == "exp" and (fitted.predict(X) > 0).all()
    with pytest.raises(ValueError, match="loss"):
        MLPRegressor(loss="hinge").fit(X, X[:, 0])
    with pytest.raises(ValueError, match="activation"):
        MLPClassifier(activation="swish").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        MLPClassifier(hidden_layer_sizes=(4, 0)).fit(X, y)
    with pytest.raises(ValueError, match="dtype"):
        MLPClassifier(dtype="float16").fit(X, y)


def test_parameters_stay_as_given():
    est = MLPClassifier(hidden_layer_sizes=[5, 3], random_state=np.random.RandomState(0),
                        dtype=np.float32)
    params = est.get_params()
    X, y = _blobs(30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    assert est.hidden_layer_sizes == [5, 3] and est.dtype is np.float32
    assert est.get_params()["random_state"] is params["random_state"]


def test_random_state_kinds():
    X, y = _blobs(60)
    kw = dict(hidden_layer_sizes=(6,), max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = MLPClassifier(random_state=7, **kw).fit(X, y)
        b = MLPClassifier(random_state=np.random.RandomState(7), **kw).fit(X, y)
        c = MLPClassifier(random_state=None, **kw).fit(X, y)
        d = MLPClassifier(random_state=7, **kw).fit(X, y)
    np.testing.assert_array_equal(a.coefs_[0], d.coefs_[0])
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    assert c.coefs_[0].shape == (4, 6)


def test_float32_stays_float32(backend):
    X, y = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        follow = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0,
                               learning_rate_init=0.05,
                               backend=backend).fit(X.astype(np.float32), y)
        forced = MLPRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0,
                              dtype="float32", backend=backend).fit(X, X[:, 0])
        double = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0,
                               backend=backend).fit(X, y)
    for est in (follow, forced):
        assert all(c.dtype == np.float32 for c in est.coefs_ + est.intercepts_)
    assert follow.predict_proba(X).dtype == np.float32
    assert forced.predict(X).dtype == np.float32
    assert double.coefs_[0].dtype == np.float64
    assert follow.score(X, y) > 0.9


@pytest.mark.parametrize("settings", [
    dict(activation="leaky_relu", solver="rmsprop"),
    dict(activation="gelu", solver="adamw", alpha=1e-3),
    dict(activation="logistic", solver="sgd", learning_rate_init=0.1),
    dict(activation="relu", dropout=0.1, l1=1e-4),
    dict(activation="identity", solver="sgd", momentum=0.0, learning_rate_init=0.1),
])
def test_extras_train(settings, backend):
    X, y = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(hidden_layer_sizes=(16,), max_iter=100, random_state=0,
                            backend=backend, **{"learning_rate_init": 0.02, **settings}
                            ).fit(X, y)
    assert est.score(X, y) > 0.9


def test_verbose_prints_sklearn_lines(capsys):
    X, y = _blobs(40)
    MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, verbose=True, tol=100.0,
                  n_iter_no_change=1, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Iteration 3, loss = " in out
    assert "Training loss did not improve more than tol=100.000000 for 1 consecutive " \
           "epochs. Stopping." in out


def test_n_threads_is_restored():
    X, y = _blobs(40)
    before = get_num_threads()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, n_threads=1).fit(X, y)
    assert get_num_threads() == before


def test_bad_input_follows_sklearn():
    X, y = _blobs(40)
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(X)
    with pytest.raises(ValueError, match="NaN"):
        MLPClassifier().fit(np.where(X > 2, np.nan, X), y)
    est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, X[:, 0])
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :3])
    with pytest.raises(ValueError):
        MLPRegressor().fit(X, np.array(["a", "b"] * 20))
    from scipy import sparse
    with pytest.raises(ValueError, match="(?i)nan|infinity"):
        bad = sparse.csr_matrix(X)
        bad.data[0] = np.nan
        MLPClassifier().fit(bad, y)


# -- sample and class weights -----------------------------------------------------------------

def test_zero_weight_rows_are_dropped_rows(backend):
    """full batch, no shuffling: weight 0 is the same as leaving the row out, and weight 2
    the same as repeating it"""
    X, y = _blobs(60)
    kw = dict(hidden_layer_sizes=(6,), max_iter=10, shuffle=False,  # "auto": full batch
              random_state=0, alpha=0.01, backend=backend)
    keep = np.arange(60) % 3 != 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = MLPClassifier(**kw).fit(X, y, sample_weight=keep.astype(float))
        dropped = MLPClassifier(**kw).fit(X[keep], y[keep])
        twice = MLPClassifier(**kw).fit(X, y, sample_weight=1.0 + keep)
        repeated = MLPClassifier(**kw).fit(np.vstack([X, X[keep]]),
                                           np.concatenate([y, y[keep]]))
    np.testing.assert_allclose(weighted.predict_proba(X), dropped.predict_proba(X),
                               rtol=1e-9)
    np.testing.assert_allclose(twice.predict_proba(X), repeated.predict_proba(X), rtol=1e-9)


def test_class_weight_is_sample_weight(backend):
    X, y = _blobs(90)
    kw = dict(hidden_layer_sizes=(6,), max_iter=10, random_state=0, backend=backend)
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = MLPClassifier(class_weight=weights, **kw).fit(X, y)
        b = MLPClassifier(**kw).fit(X, y, sample_weight=np.array([1.0, 3.0, 0.5])[y])
        balanced = MLPClassifier(class_weight="balanced", **kw).fit(X, y)
        # "balanced" is n / (k count_c) per class (test_sklearn_oracles.py: chosen counts)
        c = MLPClassifier(**kw).fit(X, y, sample_weight=(len(y) / (3 * np.bincount(y)))[y])
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-9)
    np.testing.assert_allclose(balanced.predict_proba(X), c.predict_proba(X), rtol=1e-9)


def test_sample_weight_matches_sklearn():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    y = X @ rng.standard_normal(5)
    w = rng.random(40) * 2
    kw = dict(hidden_layer_sizes=(5,), solver="sgd", alpha=0.01, batch_size=40,
              shuffle=False, max_iter=5, random_state=0, learning_rate_init=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = sk.MLPRegressor(**kw).fit(X, y, sample_weight=w)
        b = MLPRegressor(**kw).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(b.predict(X), a.predict(X), rtol=1e-9)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-9)


def test_early_stopping_for_every_target_kind(backend):
    """multilabel splits unstratified, regression scores R^2; weights follow their rows"""
    X, y = _blobs(200)
    Y = np.stack([y == 0, y == 1, y >= 1], axis=1).astype(int)
    w = np.linspace(0.5, 2, 200)
    kw = dict(hidden_layer_sizes=(8,), early_stopping=True, learning_rate_init=0.05,
              max_iter=300, random_state=0, backend=backend)
    for est, target in ((MLPClassifier(**kw), Y), (MLPRegressor(**kw), X[:, :2] @ [1, -1])):
        est.fit(X, target, sample_weight=w)
        assert est.n_iter_ < 300 and est.best_validation_score_ > 0.8


def test_divergence_is_sklearn_error():
    X, y = _blobs(60)
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        MLPRegressor(solver="sgd", learning_rate_init=1e6, momentum=0.0,
                     max_iter=50).fit(X * 1e3, y * 1e6)


def test_no_hidden_layer_is_a_linear_model(backend):
    X, y = _blobs()
    est = MLPClassifier(hidden_layer_sizes=(), learning_rate_init=0.05, max_iter=300,
                        random_state=0, backend=backend).fit(X, y)
    assert est.n_layers_ == 2 and [c.shape for c in est.coefs_] == [(4, 3)]
    assert est.score(X, y) > 0.9
