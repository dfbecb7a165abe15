"""Graph models (barenet.Input, calling layers on nodes, barenet.Model) and sequence
tensors: finite-difference gradients through fan-out, residual additions,
concatenations and products (float64, both backends), the compiled core against the NumPy
reference, chains built as graphs equal to Sequential, thread-count independence, and the
errors for graphs that cannot run."""

import numpy as np
import pytest

import barenet
from barenet import Input, Model, Sequential
from barenet.layers import (Add, AvgPool2D, Concatenate, Conv2D, Dense, Dropout, Flatten,
                            GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPool2D, Multiply)
from conftest import require_compiled
from conftest import numeric_gradient


def fan_out_mlp(**kwargs):
    """one hidden output read by three layers: a residual add, a product and a concatenation"""
    x = Input((6,))
    h = Dense(5, activation="tanh")(x)
    r = Add()([Dense(5, activation="tanh")(h), h])
    m = Multiply()([h, Dense(5, activation="sigmoid")(x)])
    out = Dense(3, activation="softmax")(Concatenate()([r, m]))
    return Model(x, out, **kwargs)


def residual_cnn(**kwargs):
    """a residual block and a concatenation of two branches of different widths"""
    x = Input((2, 6, 6))
    h = Conv2D(3, 3, padding="same", activation="relu")(x)
    r = Add()([Conv2D(3, 3, padding="same")(h), h])
    side = MaxPool2D(2)(Conv2D(2, 1, activation="leaky_relu")(x))
    c = Concatenate()([MaxPool2D(2)(r), side])
    out = Dense(3, activation="softmax")(Flatten()(AvgPool2D(1)(c)))
    return Model(x, out, **kwargs)


def sequence_model(dropout=0.0, **kwargs):
    """Dense on each step of a sequence, global pooling, flatten and dropout on sequences"""
    x = Input((4, 3))
    h = Dense(5, activation="gelu")(x)
    a = GlobalAveragePooling1D()(h)
    m = GlobalMaxPooling1D()(Dense(5)(x))
    f = Flatten()(Dropout(dropout)(h))
    out = Dense(2, activation="sigmoid")(Concatenate()([a, m, f]))
    return Model(x, out, **kwargs)


CASES = {
    "fan_out_mlp": (fan_out_mlp, (6,), 3),
    "residual_cnn": (residual_cnn, (2, 6, 6), 3),
    "sequence": (sequence_model, (4, 3), 2),
}


def problem(case, n=7, seed=0, dtype=np.float64):
    build, shape, k = CASES[case]
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n,) + shape).astype(dtype)
    if case == "sequence":
        y = (rng.random((n, k)) > 0.5).astype(dtype)
    else:
        y = np.arange(n) % k
    return build, X, y


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradient_matches_finite_differences(backend, case):
    build, X, y = problem(case)
    net = build(seed=3, l2=0.05, backend=backend)
    _, grad = net.gradient(X, y)
    np.testing.assert_allclose(grad, numeric_gradient(net, X, y), rtol=1e-5, atol=1e-8)


def test_fan_out_gradient_is_the_sum_of_both_paths(backend):
    """y = Dense(Add(h, h)): the gradient through h is twice the one through one path"""
    x = Input((3,))
    h = Dense(2, activation="identity", use_bias=False)(x)
    out = Dense(1, activation="identity", use_bias=False)(Add()([h, h]))
    net = Model(x, out, loss="mse", seed=0, backend=backend)
    X = np.array([[1.0, 2.0, 3.0]])
    y = np.array([[0.5]])
    w1, w2 = net.weights
    pred = net.predict(X)
    np.testing.assert_allclose(pred, 2 * X @ w1 @ w2)
    _, grad = net.gradient(X, y)
    residual = 2 * (pred - y)  # d mse / d pred
    np.testing.assert_allclose(grad[:6].reshape(3, 2), 2 * X.T @ residual @ w2.T, rtol=1e-12)
    np.testing.assert_allclose(grad[6:].reshape(2, 1), (2 * X @ w1).T @ residual, rtol=1e-12)


@pytest.mark.usefixtures("needs_compiled")
@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_forward_and_gradient_equal_the_reference(case):
    build, X, y = problem(case, n=9, seed=1)
    nets = [build(seed=5, l1=0.01, backend=b) for b in ("numpy", "compiled")]
    (l0, g0), (l1, g1) = (net.gradient(X, y) for net in nets)
    np.testing.assert_allclose(l1, l0, rtol=1e-12)
    np.testing.assert_allclose(g1, g0, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(nets[1].predict(X), nets[0].predict(X), rtol=1e-12)


@pytest.mark.usefixtures("needs_compiled")
@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_training_with_dropout_matches_the_reference(case):
    build, X, y = problem(case, n=40, seed=2)
    kwargs = {"dropout": 0.3} if case == "sequence" else {}
    nets = [build(seed=7, backend=b, **kwargs) for b in ("numpy", "compiled")]
    histories = [net.train(X, y, epochs=3, learning_rate=0.01, batch_size=16,
                           optimizer="adam", verbose=False) for net in nets]
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-9)
    np.testing.assert_allclose(nets[1].get_params(), nets[0].get_params(), rtol=1e-8,
                               atol=1e-10)


def test_dropout_on_sequences_uses_the_stored_order(backend):
    """the mask of a sequence (N, T, C) numbers its values row by row in (T, C) order, as
    a flat vector of T C values would: the same masks as Flatten, then Dropout"""
    X = np.random.default_rng(3).standard_normal((20, 4, 3))
    y = (np.arange(20) % 2)[:, None].astype(float)
    a = Sequential([Dropout(0.5), Flatten(), Dense(1, activation="sigmoid")], input_shape=(4, 3),
                   seed=1, backend=backend)
    b = Sequential([Flatten(), Dropout(0.5), Dense(1, activation="sigmoid")], input_shape=(4, 3),
                   seed=1, backend=backend)
    ha = a.train(X, y, epochs=2, learning_rate=0.1, batch_size=8, verbose=False)
    hb = b.train(X, y, epochs=2, learning_rate=0.1, batch_size=8, verbose=False)
    np.testing.assert_array_equal(ha, hb)


@pytest.mark.usefixtures("needs_compiled")
def test_graph_training_does_not_depend_on_the_thread_count():
    build, X, y = problem("residual_cnn", n=300, seed=4)
    results = []
    before = barenet.get_num_threads()
    try:
        for threads in (1, 2):
            barenet.set_num_threads(threads)
            net = build(seed=0, backend="compiled")
            net.train(X, y, epochs=2, learning_rate=1e-2, batch_size=128, optimizer="adam",
                      verbose=False)
            results.append((net.get_params(), net.predict(X)))
    finally:
        barenet.set_num_threads(before)
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])


def test_a_chain_built_as_a_graph_equals_sequential(backend):
    X = np.random.default_rng(5).standard_normal((30, 1, 8, 8))
    y = np.arange(30) % 4
    layers = lambda: [Conv2D(4, 3, activation="relu"), MaxPool2D(2), Flatten(), Dropout(0.2),
                      Dense(4, activation="softmax")]
    seq = Sequential(layers(), input_shape=(1, 8, 8), seed=9, backend=backend)
    node = x = Input((1, 8, 8))
    for layer in layers():
        node = layer(node)
    graph = Model(x, node, seed=9, backend=backend)
    for net in (seq, graph):
        net.train(X, y, epochs=2, learning_rate=0.05, batch_size=8, verbose=False)
    np.testing.assert_array_equal(graph.get_params(), seq.get_params())
    np.testing.assert_array_equal(graph.predict(X), seq.predict(X))


def test_every_train_option_works_on_a_graph(backend):
    build, X, y = problem("fan_out_mlp", n=60, seed=6)
    net = build(seed=1, backend=backend)
    history = net.train(X[:40], y[:40], epochs=30, learning_rate=0.05, batch_size=10,
                        optimizer="adam", validation_data=(X[40:], y[40:]),
                        early_stopping=barenet.EarlyStopping(patience=3),
                        lr_schedule="cosine", sample_weight=np.linspace(0.5, 1.5, 40),
                        verbose=False)
    assert len(history.val_loss) == len(history) > 0
    assert history[-1] < history[0]
    lbfgs = build(seed=1, backend=backend)
    h = lbfgs.train(X, y, epochs=30, optimizer="lbfgs", verbose=False)
    assert h[-1] < h[0]


def test_float32_graphs_train(backend):
    build, X, y = problem("residual_cnn", n=20, seed=7, dtype=np.float32)
    net = build(seed=2, dtype="float32", backend=backend)
    history = net.train(X, y, epochs=5, learning_rate=0.05, verbose=False)
    assert net.get_params().dtype == np.float32
    assert history[-1] < history[0]


def test_graph_repr_and_layers():
    net = fan_out_mlp(seed=0)
    assert len(net.layers) == 7
    assert net.edges[0] == (-1,)
    assert all(p < i for i, parents in enumerate(net.edges) for p in parents)
    assert "Model(7 layers" in repr(net)


# ---- errors -------------------------------------------------------------------------------

def test_add_of_different_shapes_names_both_layers_and_shapes():
    x = Input((4,))
    a, b = Dense(3), Dense(5)
    with pytest.raises(ValueError, match=r"Add.*input 0 \(Dense\(4, 3.*\(3,\).*input 1 "
                                         r"\(Dense\(4, 5.*\(5,\)"):
        Add()([a(x), b(x)])


def test_concatenate_needs_matching_other_axes():
    x = Input((1, 8, 8))
    with pytest.raises(ValueError, match=r"along channels.*\(2, 8, 8\).*\(2, 4, 4\)"):
        Concatenate()([Conv2D(2, 1)(x), MaxPool2D(2)(Conv2D(2, 1)(x))])


def test_a_layer_object_used_twice_is_refused():
    x = Input((4,))
    shared = Dense(4)
    shared(x)
    with pytest.raises(ValueError, match="already used in a graph.*shared layers"):
        shared(x)


def test_an_input_not_reachable_from_the_model_input():
    x, other = Input((4,)), Input((4,))
    out = Dense(1, activation="sigmoid")(Add()([Dense(4)(x), Dense(4)(other)]))
    with pytest.raises(ValueError, match="Input that is not the model's input"):
        Model(x, out)


def test_model_arguments_are_checked():
    x = Input((4,))
    with pytest.raises(TypeError, match="barenet.Input"):
        Model(Dense(2), Dense(1)(x))
    with pytest.raises(TypeError, match="outputs must be the node"):
        Model(x, x)
    with pytest.raises(TypeError, match="list of them"):
        Add()(x)
    with pytest.raises(TypeError, match="nodes of a graph"):
        Dense(2)(np.ones((3, 4)))
    seq = Input((5, 4))  # a sequence output (T, n): one output per step
    assert Model(seq, Dense(2)(seq)).predict(np.ones((3, 5, 4))).shape == (3, 5, 2)


def test_merge_layers_need_the_functional_api():
    with pytest.raises(ValueError, match="functional API"):
        Sequential([Add(), Dense(1)], input_shape=(3,))


def test_sparse_input_needs_one_dense_reader():
    sparse = pytest.importorskip("scipy.sparse")
    net = fan_out_mlp(seed=0)
    with pytest.raises(TypeError, match="scipy.sparse"):
        net.predict(sparse.csr_matrix(np.ones((2, 6))))


def test_sequence_input_shapes(backend):
    net = sequence_model(seed=0, backend=backend)
    X = np.random.default_rng(0).standard_normal((5, 4, 3))
    np.testing.assert_array_equal(net.predict(X), net.predict(X.reshape(5, 12)))
    with pytest.raises(ValueError, match=r"shape \(n, 4, 3\) or \(n, 12\)"):
        net.predict(np.ones((5, 3, 4, 1)))
    with pytest.raises(ValueError, match="sequence input"):
        Sequential([GlobalAveragePooling1D(), Dense(1)], input_shape=(5,))
    with pytest.raises(ValueError, match="flat input .* or a sequence"):
        Sequential([Dense(2)], input_shape=(1, 4, 4))


@pytest.mark.parametrize("case", sorted(CASES))
def test_save_and_load_a_graph(backend, case, tmp_path):
    build, X, y = problem(case, n=20, seed=8)
    net = build(seed=4, backend=backend)
    net.train(X, y, epochs=2, learning_rate=0.01, batch_size=5, optimizer="adam", verbose=False)
    net.save(tmp_path / "g.npz")
    loaded = barenet.Model.load(tmp_path / "g.npz", backend=backend)
    assert isinstance(loaded, Model)
    assert [type(a) for a in loaded.layers] == [type(b) for b in net.layers]
    assert loaded.edges == net.edges
    np.testing.assert_array_equal(loaded.get_params(), net.get_params())
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    # training continues exactly as without the break
    h1 = net.train(X, y, epochs=2, learning_rate=0.01, batch_size=5, optimizer="adam",
                   verbose=False)
    h2 = loaded.train(X, y, epochs=2, learning_rate=0.01, batch_size=5, optimizer="adam",
                      verbose=False)
    np.testing.assert_array_equal(h1, h2)


def _edit_header(src, dst, edit):
    import json
    with np.load(src) as data:
        arrays = dict(data)
    header = json.loads(arrays["header"].tobytes())
    edit(header)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(dst, **arrays)


@pytest.mark.parametrize("edit, message", [
    (lambda h: h.update(inputs=h["inputs"][:-1]), "one per layer"),
    (lambda h: h["inputs"].__setitem__(1, [5]), "inputs must be -1 .* or earlier layers"),
    (lambda h: h["inputs"].__setitem__(2, [0]), "invalid graph"),
    (lambda h: h["inputs"].__setitem__(0, []), "integer lists"),
    (lambda h: h["inputs"].__setitem__(0, ["a"]), "integer lists"),
])
def test_a_damaged_graph_header_is_refused(tmp_path, edit, message):
    net = fan_out_mlp(seed=0)
    net.save(tmp_path / "g.npz")
    _edit_header(tmp_path / "g.npz", tmp_path / "bad.npz", edit)
    with pytest.raises(barenet.ModelFileError, match=message):
        barenet.Model.load(tmp_path / "bad.npz")


# ---- normalisation ------------------------------------------------------------------------

from barenet.layers import Activation, BatchNormalization, LayerNormalization  # noqa: E402


def bn_cnn(**kwargs):
    x = Input((2, 6, 6))
    h = BatchNormalization(momentum=0.8)(Conv2D(3, 3, padding="same")(x))
    r = Activation("relu")(Add()([Conv2D(3, 3, padding="same", activation="relu")(h), h]))
    f = Flatten()(MaxPool2D(2)(r))
    out = Dense(3, activation="softmax")(BatchNormalization()(Dense(6, activation="tanh")(f)))
    return Model(x, out, **kwargs)


def ln_sequence(**kwargs):
    x = Input((4, 3))
    h = LayerNormalization()(Dense(5, activation="gelu")(x))
    g = GlobalAveragePooling1D()(Add()([h, Dense(5)(x)]))
    out = Dense(2, activation="sigmoid")(LayerNormalization(epsilon=1e-5)(g))
    return Model(x, out, **kwargs)


NORM_CASES = {"bn_cnn": (bn_cnn, (2, 6, 6), 3), "ln_sequence": (ln_sequence, (4, 3), 2)}


def norm_problem(case, n=8, seed=0, dtype=np.float64):
    build, shape, k = NORM_CASES[case]
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n,) + shape) * 2 + 1).astype(dtype)
    y = np.arange(n) % k if case == "bn_cnn" else (rng.random((n, k)) > 0.5).astype(dtype)
    return build, X, y


def training_loss_and_grad(net, params, X, y, drop=(5, 0, 0)):
    """the loss and gradient a training step sees (batch statistics), state unchanged"""
    X, y = net._Xy(X, y)
    dparams = np.empty_like(net._params)
    loss = net._backend.loss_and_grad(np.ascontiguousarray(params, dtype=net.dtype), X, y,
                                      dparams, net.l1, net.l2, None, drop=drop)
    return loss, dparams


@pytest.mark.parametrize("case", sorted(NORM_CASES))
@pytest.mark.parametrize("training", [False, True], ids=["running", "batch"])
def test_normalisation_gradients_match_finite_differences(backend, case, training):
    build, X, y = norm_problem(case)
    net = build(seed=3, backend=backend)
    if training:
        f = lambda p: training_loss_and_grad(net, p, X, y)
    else:
        net._state[...] = np.linspace(0.5, 1.5, net._state.size)  # running statistics
        f = lambda p: net.loss_and_grad(p, X, y)
    p0 = net.get_params()
    _, grad = f(p0)
    num = np.empty_like(p0)
    for i in range(p0.size):
        p = p0.copy()
        p[i] += 1e-6
        up = f(p)[0]
        p[i] -= 2e-6
        num[i] = (up - f(p)[0]) / 2e-6
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-8)


@pytest.mark.usefixtures("needs_compiled")
@pytest.mark.parametrize("case", sorted(NORM_CASES))
def test_compiled_normalisation_equals_the_reference(case):
    build, X, y = norm_problem(case, n=12, seed=1)
    nets = [build(seed=5, backend=b) for b in ("numpy", "compiled")]
    for net in nets:
        net._state[...] = np.linspace(0.5, 1.5, net._state.size)
    g = [training_loss_and_grad(net, net.get_params(), X, y) for net in nets]
    np.testing.assert_allclose(g[1][0], g[0][0], rtol=1e-12)
    np.testing.assert_allclose(g[1][1], g[0][1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(nets[1].predict(X), nets[0].predict(X), rtol=1e-12)


@pytest.mark.usefixtures("needs_compiled")
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-9), ("float32", 2e-4)])
def test_compiled_training_with_batchnorm_and_dropout_matches_the_reference(dtype, rtol):
    x = Input((2, 6, 6))
    build, X, y = norm_problem("bn_cnn", n=50, seed=2, dtype=dtype)

    def make(backend):
        x = Input((2, 6, 6))
        h = BatchNormalization()(Conv2D(4, 3, activation="relu")(x))
        h = Dropout(0.3)(Flatten()(h))
        out = Dense(3, activation="softmax")(BatchNormalization(momentum=0.9)(
            Dense(8, activation="relu")(h)))
        return Model(x, out, seed=11, dtype=dtype, backend=backend)

    nets = [make(b) for b in ("numpy", "compiled")]
    histories = [net.train(X, y, epochs=3, learning_rate=0.01, batch_size=16,
                           optimizer="adam", verbose=False) for net in nets]
    np.testing.assert_allclose(histories[1], histories[0], rtol=rtol)
    np.testing.assert_allclose(nets[1].get_params(), nets[0].get_params(), rtol=rtol,
                               atol=rtol)
    np.testing.assert_allclose(nets[1]._state, nets[0]._state, rtol=rtol, atol=rtol)
    assert not np.allclose(nets[0]._state[:4], 0)  # the running means moved


def test_batchnorm_running_statistics_follow_keras(backend):
    """one full-batch step: running = momentum * running + (1 - momentum) * batch, with the
    batch's biased variance; predict then uses them"""
    X = np.random.default_rng(4).standard_normal((10, 3)) * [1.0, 2.0, 3.0] + [0.0, 1.0, -2.0]
    y = (np.arange(10) % 2)[:, None].astype(float)
    net = Sequential([BatchNormalization(momentum=0.9), Dense(1, activation="sigmoid")],
                     input_shape=(3,), seed=0, backend=backend)
    net.train(X, y, epochs=1, learning_rate=0.1, verbose=False)
    mean, var = X.mean(axis=0), X.var(axis=0)
    np.testing.assert_allclose(net._state[:3], 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(net._state[3:], 0.9 + 0.1 * var, rtol=1e-12)
    gamma, beta = net.weights[0], net.biases[0]
    w, b = net.weights[1], net.biases[1]
    normalised = gamma * (X - net._state[:3]) / np.sqrt(net._state[3:] + 1e-3) + beta
    expected = 1 / (1 + np.exp(-(normalised @ w + b)))
    np.testing.assert_allclose(net.predict(X), expected, rtol=1e-12)


def test_layernorm_normalises_each_position(backend):
    net = Sequential([LayerNormalization(epsilon=1e-5), Flatten(), Dense(1)], input_shape=(4, 3),
                     loss="mse", seed=0, backend=backend)
    net.weights[0][...] = [1.0, 2.0, 3.0]
    net.biases[0][...] = [0.5, 0.0, -0.5]
    net.weights[1][...] = np.eye(12)[:, :1]  # the output is the first normalised value
    X = np.random.default_rng(5).standard_normal((6, 4, 3))
    first = X[:, 0, :]
    expected = (first[:, 0] - first.mean(axis=1)) / np.sqrt(first.var(axis=1) + 1e-5) + 0.5
    np.testing.assert_allclose(net.predict(X)[:, 0], expected, rtol=1e-12)


def test_batchnorm_state_is_saved_and_rolled_back(backend, tmp_path):
    build, X, y = norm_problem("bn_cnn", n=30, seed=6)
    net = build(seed=2, backend=backend)
    net.train(X, y, epochs=2, learning_rate=0.01, batch_size=8, verbose=False)
    net.save(tmp_path / "bn.npz")
    loaded = Model.load(tmp_path / "bn.npz", backend=backend)
    np.testing.assert_array_equal(loaded._state, net._state)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    # divergence rolls the state back with the parameters, to the last good epoch
    with pytest.raises(barenet.TrainingDiverged) as info:
        net.train(X, y, epochs=3, learning_rate=1e300, verbose=False)
    good = info.value.epoch  # epochs that completed
    again = Model.load(tmp_path / "bn.npz", backend=backend)
    if good:
        again.train(X, y, epochs=good, learning_rate=1e300, verbose=False)
    np.testing.assert_array_equal(net._state, again._state)
    np.testing.assert_array_equal(net.get_params(), again.get_params())


def test_normalisation_arguments_and_limits():
    with pytest.raises(ValueError, match="momentum"):
        BatchNormalization(momentum=1.5)
    with pytest.raises(ValueError, match="epsilon"):
        LayerNormalization(epsilon=0)
    with pytest.raises(ValueError, match="image"):
        Sequential([LayerNormalization(), Flatten(), Dense(1)], input_shape=(1, 4, 4))
    net = bn_cnn(seed=0)
    X, y = norm_problem("bn_cnn")[1:]
    with pytest.raises(ValueError, match="lbfgs.*BatchNormalization"):
        net.train(X, y, epochs=2, optimizer="lbfgs", verbose=False)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "identity",
                                  "exp"])
def test_activation_layer(backend, name):
    """Activation(f) equals a Dense layer with f fused, in values and gradients"""
    X = np.random.default_rng(6).standard_normal((9, 4)) * 0.7
    y = (np.arange(9) % 2)[:, None].astype(float)
    fused = Sequential([Dense(5, activation=name), Dense(1, activation="sigmoid")],
                       input_shape=(4,), seed=3, backend=backend)
    split = Sequential([Dense(5), Activation(name), Dense(1, activation="sigmoid")],
                       input_shape=(4,), seed=3, backend=backend)
    np.testing.assert_allclose(split.predict(X), fused.predict(X), rtol=1e-12)
    np.testing.assert_allclose(split.gradient(X, y)[1], fused.gradient(X, y)[1], rtol=1e-10,
                               atol=1e-14)
    np.testing.assert_allclose(split.gradient(X, y)[1], numeric_gradient(split, X, y),
                               rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="activation must be one of"):
        Activation("softmax")


def test_every_layer_class_can_be_saved():
    from barenet import layers
    for name in ("Dense", "Conv2D", "Add", "Concatenate", "Multiply", "BatchNormalization",
                 "LayerNormalization", "Activation", "GlobalAveragePooling1D",
                 "GlobalMaxPooling1D", "Flatten", "Dropout", "MaxPool2D", "AvgPool2D"):
        assert layers.KINDS[name].__name__ == name


def test_onnx_export_keeps_a_graph_with_branches():
    """graphs export as graphs (tests/test_onnx.py checks every kind); this one in brief"""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    net = fan_out_mlp(seed=0)
    X = np.random.default_rng(0).standard_normal((5, 6))
    session = ort.InferenceSession(net.to_onnx().SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": X})[0], net.predict(X), rtol=1e-10)


def test_batchnorm_training_does_not_depend_on_the_thread_count():
    require_compiled()
    build, X, y = norm_problem("bn_cnn", n=600, seed=9, dtype=np.float32)
    results = []
    before = barenet.get_num_threads()
    try:
        for threads in (1, 2):
            barenet.set_num_threads(threads)
            net = build(seed=0, dtype="float32", backend="compiled")
            net.train(X, y, epochs=2, learning_rate=1e-2, batch_size=300, optimizer="adam",
                      verbose=False)
            results.append((net.get_params(), net._state.copy(), net.predict(X)))
    finally:
        barenet.set_num_threads(before)
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_sparse_input_feeds_a_graph_through_its_first_dense(backend):
    """a graph whose input only a first Dense reads takes scipy.sparse rows, with the
    results of the same rows given dense"""
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(10)
    dense_X = rng.standard_normal((40, 12)) * (rng.random((40, 12)) < 0.2)
    y = np.arange(40) % 3
    x = Input((12,))
    h = Dense(6, activation="relu")(x)
    out = Dense(3, activation="softmax")(Concatenate()([h, Dense(4, activation="tanh")(h)]))
    nets = [Model(x, out, seed=5, backend=backend) for _ in range(2)]
    histories = [nets[0].train(sparse.csr_matrix(dense_X), y, epochs=3, learning_rate=0.1,
                               batch_size=8, verbose=False),
                 nets[1].train(dense_X, y, epochs=3, learning_rate=0.1, batch_size=8,
                               verbose=False)]
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-10)
    np.testing.assert_allclose(nets[0].get_params(), nets[1].get_params(), rtol=1e-9,
                               atol=1e-12)
