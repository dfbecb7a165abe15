"""Sequential models with convolution, pooling, flatten and dropout layers, on both
backends: finite-difference gradients of every layer and option (float64), the compiled
core against the NumPy reference after seeded training, NeuralNetwork as a Sequential of
Dense layers, save/load of a CNN, thread-count independence, and shape errors that name
the layer."""

import numpy as np
import pytest

import barenet
from barenet import NeuralNetwork, Sequential
from barenet.layers import AvgPool2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D

from conftest import compiled_available, numeric_gradient


# each case: (layers, input_shape); every layer kind and option appears at least once
GRADIENT_CASES = {
    "same-pad-maxpool": ([Conv2D(3, 3, padding="same", activation="tanh"), MaxPool2D(2),
                          Flatten(), Dense(3, activation="softmax")], (2, 7, 6)),
    "stride-rect-kernel": ([Conv2D(4, (3, 2), stride=(2, 1), activation="gelu"), Flatten(),
                            Dense(3, activation="softmax")], (3, 9, 5)),
    "int-padding-stride2": ([Conv2D(2, 3, stride=2, padding=1, activation="sigmoid"),
                             AvgPool2D(2), Flatten(), Dense(3, activation="softmax")],
                            (1, 9, 8)),
    "pair-padding-no-bias": ([Conv2D(3, (2, 3), padding=(2, 1), use_bias=False,
                                     activation="leaky_relu"), Flatten(),
                              Dense(2, activation="sigmoid")], (2, 5, 4)),
    "overlapping-pools": ([Conv2D(3, 3, activation="tanh"), MaxPool2D(3, stride=2),
                           AvgPool2D((2, 1), stride=1), Flatten(),
                           Dense(3, activation="softmax")], (2, 11, 9)),
    "pointwise-conv": ([Conv2D(3, 1, activation="tanh"), Conv2D(2, 1, stride=2),
                        Flatten(), Dense(4, activation="identity")], (3, 5, 5)),
    "two-convs-dropout-dense": ([Conv2D(3, 3, padding="same", activation="relu"),
                                 MaxPool2D(2), Conv2D(4, 2, activation="tanh"), Flatten(),
                                 Dense(5, activation="tanh"), Dropout(0.3),
                                 Dense(3, activation="softmax")], (2, 8, 8)),
    "pool-first": ([MaxPool2D(2), Conv2D(2, 2, activation="tanh"), Flatten(),
                    Dense(3, activation="softmax")], (3, 6, 7)),
}


def _targets(net, n, rng):
    k = net._spec.out_size
    if net.loss_name == "categorical_crossentropy":
        return rng.integers(0, k, n)
    if net.loss_name == "binary_crossentropy":
        return (rng.random((n, k)) > 0.5).astype(float)
    return rng.standard_normal((n, k))


@pytest.mark.parametrize("case", sorted(GRADIENT_CASES))
def test_gradient_matches_finite_differences(backend, case):
    layers, shape = GRADIENT_CASES[case]
    net = Sequential(layers, input_shape=shape, l1=0.01, l2=0.1, seed=3, backend=backend)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3,) + shape)
    y = _targets(net, 3, rng)
    _, grad = net.gradient(X, y)
    num = numeric_gradient(net, X, y)
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-7 * np.abs(num).max())


@pytest.mark.usefixtures("needs_compiled")
@pytest.mark.parametrize("case", sorted(GRADIENT_CASES))
def test_compiled_forward_and_gradient_equal_the_reference(case):
    layers, shape = GRADIENT_CASES[case]
    nets = [Sequential(layers, input_shape=shape, l2=0.1, seed=5, backend=b)
            for b in ("numpy", "compiled")]
    rng = np.random.default_rng(1)
    X = rng.standard_normal((4,) + shape)
    y = _targets(nets[0], 4, rng)
    ref, got = (net.predict(X) for net in nets)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-13)
    (lr, gr), (lc, gc) = (net.gradient(X, y) for net in nets)
    assert lc == pytest.approx(lr, rel=1e-12)
    np.testing.assert_allclose(gc, gr, rtol=1e-10, atol=1e-13)


def small_cnn(**kwargs):
    return Sequential([Conv2D(4, 3, padding="same", activation="relu"), MaxPool2D(2),
                       Conv2D(6, 3, activation="relu"), Flatten(),
                       Dense(8, activation="relu"), Dropout(0.25),
                       Dense(3, activation="softmax")], input_shape=(2, 8, 8), **kwargs)


def image_problem(n=40, shape=(2, 8, 8), k=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.random((n,) + shape).astype(dtype)
    y = rng.integers(0, k, n)
    return X, y


@pytest.mark.usefixtures("needs_compiled")
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-9), ("float32", 2e-3)])
@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_compiled_training_matches_the_reference(dtype, rtol, optimizer):
    X, y = image_problem(dtype=dtype)
    nets = [small_cnn(seed=7, dtype=dtype, l2=1e-3, backend=b) for b in ("numpy", "compiled")]
    hists = [net.train(X, y, epochs=3, learning_rate=1e-2, batch_size=16, optimizer=optimizer,
                       verbose=False) for net in nets]
    np.testing.assert_allclose(hists[1], hists[0], rtol=rtol)
    np.testing.assert_allclose(nets[1].get_params(), nets[0].get_params(), rtol=rtol,
                               atol=rtol * 1e-2)


def test_training_learns_and_keeps_the_dtype(backend, dtype):
    rng = np.random.default_rng(2)
    X = rng.random((60, 1, 6, 6)).astype(dtype)
    y = (X[:, 0, :3].mean(axis=(1, 2)) > X[:, 0, 3:].mean(axis=(1, 2))).astype(int)
    net = Sequential([Conv2D(4, 3, padding="same", activation="relu"), AvgPool2D(2),
                      Flatten(), Dense(2, activation="softmax")], input_shape=(1, 6, 6),
                     dtype=dtype, seed=1, backend=backend)
    hist = net.train(X, y, epochs=60, learning_rate=0.05, batch_size=20, optimizer="adam",
                     verbose=False)
    assert hist[-1] < 0.5 * hist[0]
    assert net.get_params().dtype == np.dtype(dtype)
    assert net.predict(X).dtype == np.dtype(dtype)
    assert np.mean(net.predict_classes(X) == y) > 0.9


@pytest.mark.usefixtures("needs_compiled")
def test_cnn_training_does_not_depend_on_the_thread_count():
    X, y = image_problem(n=256, shape=(3, 12, 12))
    results = []
    before = barenet.get_num_threads()
    try:
        for threads in (1, 2):
            barenet.set_num_threads(threads)
            net = Sequential([Conv2D(8, 3, padding="same", activation="relu"), MaxPool2D(2),
                              Conv2D(8, 3, activation="relu"), Flatten(), Dropout(0.2),
                              Dense(3, activation="softmax")], input_shape=(3, 12, 12),
                             seed=0, backend="compiled")
            net.train(X, y, epochs=2, learning_rate=1e-2, batch_size=128, optimizer="adam",
                      verbose=False)
            results.append((net.get_params(), net.predict(X)))
    finally:
        barenet.set_num_threads(before)
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])


def test_neural_network_is_a_sequential_of_dense_layers(backend):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 5)), rng.integers(0, 3, 30)
    net = NeuralNetwork([5, 7, 6, 3], activation="tanh", output_activation="softmax",
                        dropout=0.2, seed=4, backend=backend)
    seq = Sequential([Dense(7, activation="tanh"), Dropout(0.2), Dense(6, activation="tanh"),
                      Dropout(0.2), Dense(3, activation="softmax")], input_shape=(5,), seed=4,
                     backend=backend)
    assert isinstance(net, Sequential)
    np.testing.assert_array_equal(net.get_params(), seq.get_params())
    for model in (net, seq):
        model.train(X, y, epochs=4, learning_rate=0.05, batch_size=8, optimizer="adam",
                    verbose=False)
    np.testing.assert_array_equal(net.get_params(), seq.get_params())


def test_flat_and_image_shaped_inputs_agree(backend):
    X, y = image_problem(n=9)
    net = small_cnn(seed=0, backend=backend)
    np.testing.assert_array_equal(net.predict(X), net.predict(X.reshape(9, -1)))
    assert net.loss(X, y) == net.loss(X.reshape(9, -1), y)


def test_predict_in_chunks_equals_row_by_row(backend, monkeypatch):
    if backend == "compiled":
        from barenet import _compiled_backend
        monkeypatch.setattr(_compiled_backend, "WORKSPACE_BYTES", 1)  # one row per C call
    X, _ = image_problem(n=5)
    net = small_cnn(seed=2, backend=backend)
    whole = net.predict(X)
    rows = np.vstack([net.predict(X[i:i + 1]) for i in range(5)])
    np.testing.assert_allclose(whole, rows, rtol=1e-13)


def test_weights_and_biases_view_the_parameters(backend):
    net = small_cnn(seed=0, backend=backend)
    assert [w.shape for w in net.weights] == [(3, 3, 2, 4), (3, 3, 4, 6), (24, 8), (8, 3)]
    assert [b.shape for b in net.biases] == [(4,), (6,), (1, 8), (1, 3)]
    net.weights[0] = np.zeros((3, 3, 2, 4))
    assert not net.get_params()[:72].any()
    with pytest.raises(ValueError, match=r"weights\[0\] must have shape \(3, 3, 2, 4\)"):
        net.weights[0] = np.zeros((4, 2, 3, 3))


def test_save_and_load_a_cnn(backend, tmp_path):
    X, y = image_problem()
    net = small_cnn(seed=1, dtype="float32", l2=1e-4, backend=backend)
    net.train(X, y, epochs=2, learning_rate=1e-2, batch_size=16, optimizer="adam",
              verbose=False)
    net.save(tmp_path / "cnn.npz")
    for other in ("numpy", "compiled") if compiled_available() else ("numpy",):
        loaded = Sequential.load(tmp_path / "cnn.npz", backend=other)
        assert type(loaded) is Sequential and repr(loaded).startswith("Sequential([Conv2D(4")
        assert loaded.input_shape == (2, 8, 8) and loaded.dtype == np.float32
        np.testing.assert_array_equal(loaded.get_params(), net.get_params())
        np.testing.assert_allclose(loaded.predict(X), net.predict(X), rtol=1e-5, atol=1e-6)
    loaded = Sequential.load(tmp_path / "cnn.npz", backend=backend)
    hist_a = net.train(X, y, epochs=2, learning_rate=1e-2, batch_size=16, optimizer="adam",
                       verbose=False)
    hist_b = loaded.train(X, y, epochs=2, learning_rate=1e-2, batch_size=16, optimizer="adam",
                          verbose=False)
    assert list(hist_a) == list(hist_b)
    np.testing.assert_array_equal(loaded.get_params(), net.get_params())


def test_a_damaged_layer_list_is_refused(tmp_path):
    import json
    net = small_cnn(seed=0)
    net.save(tmp_path / "cnn.npz")
    with np.load(tmp_path / "cnn.npz") as data:
        arrays = dict(data)
    header = json.loads(arrays["header"].tobytes())
    for change, match in [
        (lambda h: h["layers"][0].update(type="NoSuchLayer"), "unknown type 'NoSuchLayer'"),
        (lambda h: h["layers"][0].update(filters=-1), r"layers\[0\] \(Conv2D\) is invalid"),
        (lambda h: h["layers"][0].update(kernel_size=[300, 300], padding="valid"), "does not fit"),
        (lambda h: h["layers"][2].update(filters=10**5), "too small to hold them"),
        (lambda h: h.update(layers="conv"), "must be a list of objects"),
        (lambda h: h.update(input_shape=[2, 8, 8, 1]), "input_shape must be"),
    ]:
        bad = json.loads(json.dumps(header))
        change(bad)
        arrays["header"] = np.frombuffer(json.dumps(bad).encode(), dtype=np.uint8)
        np.savez(tmp_path / "bad.npz", **arrays)
        with pytest.raises(barenet.ModelFileError, match=match):
            Sequential.load(tmp_path / "bad.npz")


def test_wrong_input_shape_names_the_layer(backend):
    net = small_cnn(seed=0, backend=backend)
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2, 8, 8\) or \(n, 128\), "
                                         r"the input of Conv2D\(4"):
        net.predict(np.zeros((3, 1, 8, 8)))
    with pytest.raises(ValueError, match=r"\(n, 128\)"):
        net.predict(np.zeros((3, 127)))
    with pytest.raises(ValueError, match="validation_data"):
        net.train(np.zeros((3, 2, 8, 8)), [0, 1, 2], epochs=1, verbose=False,
                  validation_data=(np.zeros((3, 2, 8, 9)), [0, 1, 2]))


@pytest.mark.parametrize("layers, shape, error, match", [
    ([Conv2D(4, 3), Dense(3)], (1, 8, 8), ValueError,
     r"Dense\(3.*\(layer 1\) needs a flat input .*put Flatten\(\) before it"),
    ([Flatten(), Conv2D(4, 3), Flatten(), Dense(2)], (1, 8, 8), ValueError,
     r"Conv2D.*\(layer 1\) needs an image input \(C, H, W\)"),
    ([Conv2D(4, 9), Flatten(), Dense(2)], (1, 8, 8), ValueError, "kernel does not fit"),
    ([MaxPool2D(3), MaxPool2D(3), Flatten(), Dense(2)], (1, 8, 8), ValueError,
     "window is larger than its input"),
    ([Flatten(), Dense(4, activation="softmax"), Dense(2)], (1, 4, 4), ValueError,
     "softmax is only supported on the output layer"),
    ([Flatten(), Dense(4), Dropout(0.5)], (1, 4, 4), ValueError, "last layer must be Dense"),
    ([], (4,), ValueError, "last layer must be Dense"),
    ([Flatten(), "dense"], (1, 4, 4), TypeError, r"layers\[1\] must be a barenet.layers"),
    (Dense(3), (4,), TypeError, "layers must be a list"),
    ([Dense(3)], (4, 4, 4, 4), ValueError, "input_shape must be"),
    ([Dense(3)], (0,), ValueError, "input_shape must be"),
    ([Flatten(), Dense(1, activation="softmax")], (1, 2, 2), ValueError,
     "softmax output needs at least 2 outputs"),
])
def test_bad_models_are_refused(layers, shape, error, match):
    with pytest.raises(error, match=match):
        Sequential(layers, input_shape=shape)


@pytest.mark.parametrize("make, match", [
    (lambda: Conv2D(0, 3), "filters must be an int >= 1"),
    (lambda: Conv2D(4, 0), "kernel_size must be an int >= 1"),
    (lambda: Conv2D(4, (3, 3, 3)), "kernel_size must be"),
    (lambda: Conv2D(4, 3, stride=0), "stride must be"),
    (lambda: Conv2D(4, 3, padding="full"), "padding must be 'valid', 'same'"),
    (lambda: Conv2D(4, 3, padding=-1), "padding must be an int >= 0"),
    (lambda: Conv2D(4, 3, activation="softmax"), "activation must be one of"),
    (lambda: Conv2D(4, 3, activation="swish"), "activation must be one of"),
    (lambda: MaxPool2D(0), "pool_size must be"),
    (lambda: AvgPool2D(2, stride=(1, 0)), "stride must be"),
    (lambda: Dense(0), "units must be an int >= 1"),
    (lambda: Dense(True), "units must be an int >= 1"),
    (lambda: Dropout(1.0), r"Dropout rate must be in \[0, 1\)"),
    (lambda: Dropout(-0.1), "Dropout rate"),
])
def test_bad_layer_arguments_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_same_padding_keeps_the_size_and_a_layer_list_can_be_reused():
    layers = [Conv2D(2, 3, padding="same"), Conv2D(2, 4, stride=2, padding="same"), Flatten(),
              Dense(2)]
    a = Sequential(layers, input_shape=(1, 7, 5))
    b = Sequential(layers, input_shape=(1, 9, 9))
    assert [layer.output_shape for layer in a.layers[:2]] == [(2, 7, 5), (2, 4, 3)]
    assert [layer.output_shape for layer in b.layers[:2]] == [(2, 9, 9), (2, 5, 5)]
    assert layers[0].__dict__.get("input_shape") is None  # the user's objects are untouched
