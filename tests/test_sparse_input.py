"""scipy.sparse input through the networks and estimators, on both backends: every result
equals the dense input's (same parameters after shuffled mini-batch training, same
predictions, losses and gradients), in both dtypes, with empty rows and all-zero columns;
what sparse input cannot feed is refused."""

import numpy as np
import pytest

sp = pytest.importorskip("scipy.sparse")

from barenet import NeuralNetwork, Sequential  # noqa: E402
from barenet.layers import Conv2D, Dense, Flatten  # noqa: E402

RTOL = {"float64": 1e-10, "float32": 2e-4}


def sparse_problem(n=90, d=40, k=3, density=0.1, seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=density, format="csr", dtype=np.float64, random_state=rng)
    X = X.tolil()
    X[5] = 0            # empty rows
    X[17] = 0
    X[:, 3] = 0         # all-zero columns
    X[:, 11] = 0
    X = X.tocsr().astype(dtype)
    y = rng.integers(0, k, n)
    return X, y


def test_training_on_sparse_equals_dense(backend, dtype):
    X, y = sparse_problem(dtype=dtype)
    dense = X.toarray()
    nets = [NeuralNetwork([40, 16, 3], output_activation="softmax", dropout=0.2, l2=1e-3,
                          dtype=dtype, seed=1, backend=backend) for _ in range(2)]
    hists = [net.train(data, y, epochs=4, learning_rate=1e-2, batch_size=16,
                       optimizer="adam", verbose=False, validation_data=(data, y))
             for net, data in zip(nets, (X, dense))]
    np.testing.assert_allclose(hists[0], hists[1], rtol=RTOL[dtype])
    np.testing.assert_allclose(hists[0].metrics["val_loss"], hists[1].metrics["val_loss"],
                               rtol=RTOL[dtype])
    np.testing.assert_allclose(nets[0].get_params(), nets[1].get_params(), rtol=RTOL[dtype],
                               atol=RTOL[dtype] * 1e-2)
    np.testing.assert_allclose(nets[0].predict(X), nets[0].predict(dense), rtol=RTOL[dtype])
    assert nets[0].predict(X).dtype == np.dtype(dtype)


@pytest.mark.parametrize("output, loss_targets", [("sigmoid", "binary"), ("identity", "real"),
                                                 ("softmax", "labels")])
def test_loss_and_gradient_on_sparse_equal_dense(backend, output, loss_targets):
    X, labels = sparse_problem(n=30)
    rng = np.random.default_rng(3)
    y = {"binary": (rng.random((30, 3)) > 0.5).astype(float),
         "real": rng.standard_normal((30, 3)), "labels": labels}[loss_targets]
    net = NeuralNetwork([40, 8, 3], activation="tanh", output_activation=output, l1=1e-3,
                        seed=0, backend=backend)
    ls, gs = net.gradient(X, y)
    ld, gd = net.gradient(X.toarray(), y)
    assert ls == pytest.approx(ld, rel=1e-12)
    np.testing.assert_allclose(gs, gd, rtol=1e-10, atol=1e-14)
    params = net.get_params() * 0.5
    np.testing.assert_allclose(net.loss_and_grad(params, X, y)[1],
                               net.loss_and_grad(params, X.toarray(), y)[1], rtol=1e-10,
                               atol=1e-14)


def test_csc_and_int_data_are_converted(backend):
    X, y = sparse_problem()
    net = NeuralNetwork([40, 5, 3], output_activation="softmax", seed=0, backend=backend)
    np.testing.assert_allclose(net.predict(X.tocsc()), net.predict(X), rtol=1e-13)
    ints = sp.csr_matrix((np.arange(1, X.nnz + 1) % 3, X.indices, X.indptr), shape=X.shape)
    np.testing.assert_allclose(net.predict(ints), net.predict(ints.toarray()), rtol=1e-12)


def test_predict_in_chunks(backend, monkeypatch):
    if backend == "compiled":
        from barenet import _compiled_backend
        monkeypatch.setattr(_compiled_backend, "PREDICT_CHUNK", 7)
    X, y = sparse_problem(n=50)
    net = NeuralNetwork([40, 6, 3], output_activation="softmax", seed=2, backend=backend)
    np.testing.assert_allclose(net.predict(X), net.predict(X.toarray()), rtol=1e-12)
    assert net.loss(X, y) == pytest.approx(net.loss(X.toarray(), y), rel=1e-12)


def test_lbfgs_on_sparse_input(backend):
    pytest.importorskip("scipy.optimize")
    X, y = sparse_problem(n=60)
    a, b = (NeuralNetwork([40, 6, 3], output_activation="softmax", seed=4, backend=backend)
            for _ in range(2))
    ha = a.train(X, y, epochs=15, optimizer="lbfgs", verbose=False)
    hb = b.train(X.toarray(), y, epochs=15, optimizer="lbfgs", verbose=False)
    np.testing.assert_allclose(ha, hb, rtol=1e-8)


def test_what_sparse_input_cannot_feed_is_refused():
    X, y = sparse_problem()
    conv = Sequential([Conv2D(2, 3), Flatten(), Dense(3, activation="softmax")],
                      input_shape=(1, 5, 8))
    with pytest.raises(TypeError, match="only a first Dense layer takes.*toarray"):
        conv.predict(X)
    net = NeuralNetwork([40, 4, 3], output_activation="softmax")
    with pytest.raises(TypeError, match=r"tocsr"):
        net.predict(X.tocoo())
    with pytest.raises(ValueError, match="40"):
        net.predict(X[:, :30])
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="X"):
        net.predict(bad)
    with pytest.raises(TypeError, match="sparse"):
        net.train(X.toarray(), sp.csr_matrix(np.eye(90, 3)), epochs=1, verbose=False)


def test_estimators_take_sparse_input(backend):
    pytest.importorskip("sklearn")
    from barenet.sklearn import MLPClassifier, MLPRegressor
    X, y = sparse_problem(n=120)
    kw = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0, backend=backend,
              batch_size=32)
    with pytest.warns(Warning):  # ConvergenceWarning after 5 iterations
        a = MLPClassifier(**kw).fit(X, y)
    with pytest.warns(Warning):
        b = MLPClassifier(**kw).fit(X.toarray(), y)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X.toarray()), rtol=1e-8)
    r = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=10, random_state=0,
                     backend=backend)
    dense = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=10, random_state=0,
                         backend=backend)
    with pytest.warns(Warning):
        r.fit(X.tocsc(), y.astype(float))
    with pytest.warns(Warning):
        dense.fit(X.toarray(), y.astype(float))
    # the same iterates as on the dense matrix (the sparse products sum in another order)
    assert r.n_iter_ == dense.n_iter_ == 10
    np.testing.assert_allclose(r.loss_curve_, dense.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(r.predict(X), dense.predict(X.toarray()), rtol=1e-8, atol=1e-10)
