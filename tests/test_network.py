"""The tutorial network on both backends: finite-difference gradients (float64), the two
backends against each other, a network worked by hand, a golden loss trajectory, and the
shapes and views the tutorial relies on."""

import numpy as np
import pytest

from barenet import NeuralNetwork
from conftest import numeric_gradient, random_problem, require_compiled, tutorial_train, tutorial_xor

SHAPES = [[2, 3, 1], [3, 5, 4, 2], [4, 1], [1, 6, 1], [5, 8, 8, 8, 3]]


@pytest.mark.parametrize("sizes", SHAPES, ids=str)
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "identity"])
def test_gradient_matches_finite_differences(backend, sizes, activation):
    net = NeuralNetwork(sizes, activation=activation, seed=1, backend=backend)
    X, y = random_problem(sizes, n=9, seed=2)
    loss, grad = net.gradient(X, y)
    assert loss == pytest.approx(net.loss(X, y), rel=1e-12)
    np.testing.assert_allclose(grad, numeric_gradient(net, X, y), rtol=1e-5, atol=1e-8)


def test_soft_targets_gradient(backend):
    # targets strictly between 0 and 1 are valid for binary cross-entropy
    net = NeuralNetwork([3, 4, 2], seed=3, backend=backend)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((6, 3)), rng.random((6, 2))
    np.testing.assert_allclose(net.gradient(X, y)[1], numeric_gradient(net, X, y),
                               rtol=1e-5, atol=1e-8)


# compiled and NumPy differ only in the order of float sums
TOLERANCE = {"float64": dict(rtol=1e-9, atol=1e-11), "float32": dict(rtol=2e-3, atol=2e-4)}


@pytest.mark.parametrize("sizes", [[2, 4, 1], [3, 5, 4, 2], [10, 32, 16, 3]], ids=str)
def test_backends_agree_after_200_epochs(sizes, dtype):
    require_compiled()
    X, y = random_problem(sizes, n=40, seed=5)
    nets = [NeuralNetwork(sizes, seed=7, dtype=dtype, backend=b) for b in ("numpy", "compiled")]
    histories = [net.train(X, y, epochs=200, learning_rate=0.1, verbose=False) for net in nets]
    np.testing.assert_allclose(histories[1], histories[0], **TOLERANCE[dtype])
    np.testing.assert_allclose(nets[1].get_params(), nets[0].get_params(), **TOLERANCE[dtype])
    assert nets[1].get_params().dtype == np.dtype(dtype)


def test_hand_worked_step(backend):
    # A 2-1-1 network by hand: x = (1, 2), y = 1, w1 = (0.5, -0.25)^T, b1 = 0.1, w2 = 2, b2 = -1.
    # z1 = 0.5*1 - 0.25*2 + 0.1 = 0.1 ; a1 = relu(0.1) = 0.1
    # z2 = 2*0.1 - 1 = -0.8 ; p = sigmoid(-0.8) = 0.31002552
    # loss = -log(p) = 1.17110067
    # dz2 = p - y = -0.68997448 ; dw2 = a1*dz2 = -0.06899745 ; db2 = dz2
    # dz1 = dz2*w2*relu'(z1) = -1.37994897 ; dw1 = x*dz1 = (-1.37994897, -2.75989794) ; db1 = dz1
    net = NeuralNetwork([2, 1, 1], backend=backend, seed=0)
    net.weights[0] = [[0.5], [-0.25]]
    net.biases[0] = [[0.1]]
    net.weights[1] = [[2.0]]
    net.biases[1] = [[-1.0]]
    X, y = np.array([[1.0, 2.0]]), np.array([[1.0]])
    p = 1 / (1 + np.exp(0.8))
    assert net.predict(X)[0, 0] == pytest.approx(p, rel=1e-12)
    loss, grad = net.gradient(X, y)
    assert loss == pytest.approx(-np.log(p), rel=1e-12)
    dz2 = p - 1
    dz1 = dz2 * 2.0
    expected = [dz1 * 1.0, dz1 * 2.0, dz1, 0.1 * dz2, dz2]  # layout: W0, b0, W1, b1
    np.testing.assert_allclose(grad, expected, rtol=1e-12)
    before = net.get_params()
    assert net.backward(X, y, learning_rate=0.5) == pytest.approx(-np.log(p), rel=1e-12)
    np.testing.assert_allclose(net.get_params(), before - 0.5 * np.array(expected), rtol=1e-12)


def test_golden_xor_trajectory(backend, xor, capsys):
    # The tutorial's run (np.random.seed(42), [2, 4, 1], lr 0.5): the golden values come from
    # the tutorial's own code in plain NumPy (conftest.tutorial_xor), its loss taken the
    # stable way the README documents; both backends must reproduce them.
    X, y = xor
    golden = tutorial_xor(1000, stable_loss=True)[0]
    np.random.seed(42)
    nn = NeuralNetwork([2, 4, 1], backend=backend)
    losses = nn.train(X, y, epochs=1000, learning_rate=0.5)
    assert isinstance(losses, list) and len(losses) == 1000
    assert all(type(v) is float for v in losses)
    np.testing.assert_allclose(losses, golden, rtol=1e-9)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 0, Loss: 0.8147"
    assert out[1] == "Epoch 100, Loss: 0.4362"
    assert len(out) == 10 and out[-1].startswith("Epoch 900, Loss: ")


def test_matches_the_tutorial_code(backend, xor):
    X, y = xor
    np.random.seed(42)
    nn = NeuralNetwork([2, 4, 1], backend=backend)
    expected, weights, _ = tutorial_train(X, y, nn.weights, nn.biases, 2000, 0.5)
    losses = nn.train(X, y, epochs=2000, learning_rate=0.5, verbose=False)
    # the stable loss differs from the 1e-8-guarded one by about 1e-8, the updates not at all
    np.testing.assert_allclose(losses, expected, atol=1e-7)
    for w, w_ref in zip(nn.weights, weights):
        np.testing.assert_allclose(w, w_ref, rtol=1e-10, atol=1e-12)


def test_tutorial_initialisation_draws_from_global_state():
    np.random.seed(42)
    nn = NeuralNetwork([2, 4, 1], backend="numpy")
    np.random.seed(42)
    w0 = np.random.randn(2, 4) * np.sqrt(2.0 / 2)
    w1 = np.random.randn(4, 1) * np.sqrt(2.0 / 4)
    np.testing.assert_array_equal(nn.weights[0], w0)
    np.testing.assert_array_equal(nn.weights[1], w1)
    assert nn.biases[0].shape == (1, 4) and not nn.biases[0].any()
    assert nn.biases[1].shape == (1, 1) and not nn.biases[1].any()


def test_seed_uses_its_own_generator():
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    a = NeuralNetwork([3, 5, 2], seed=11, backend="numpy")
    b = NeuralNetwork([3, 5, 2], seed=11, backend="numpy")
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    np.testing.assert_array_equal(a.get_params(), b.get_params())
    rng = np.random.default_rng(11)
    np.testing.assert_array_equal(a.weights[0], rng.standard_normal((3, 5)) * np.sqrt(2 / 3))


def test_weights_and_biases_are_views_of_one_buffer(backend):
    net = NeuralNetwork([3, 4, 2], seed=0, backend=backend)
    assert [w.shape for w in net.weights] == [(3, 4), (4, 2)]
    assert [b.shape for b in net.biases] == [(1, 4), (1, 2)]
    net.weights[1] -= 1.0          # the tutorial's in-place update
    net.biases[0][0, 2] = 5.0
    flat = net.get_params()
    assert flat.size == net.n_params == 3 * 4 + 4 + 4 * 2 + 2
    np.testing.assert_array_equal(flat[16:24].reshape(4, 2), net.weights[1])
    assert flat[12 + 2] == 5.0
    with pytest.raises(ValueError, match=r"weights\[0\] must have shape \(3, 4\)"):
        net.weights[0] = np.zeros((4, 3))


def test_predict_shapes_and_dtypes(backend, dtype):
    net = NeuralNetwork([3, 4, 2], seed=0, dtype=dtype, backend=backend)
    out = net.predict(np.ones((5, 3)))
    assert out.shape == (5, 2) and out.dtype == np.dtype(dtype)
    assert ((out > 0) & (out < 1)).all()
    np.testing.assert_array_equal(net.forward(np.ones((5, 3))), out)
    assert net.predict(np.ones((1, 3))).shape == (1, 2)


def test_inputs_are_converted_once(backend):
    # non-contiguous, Fortran-ordered, integer and float32 inputs give the same answer
    net = NeuralNetwork([3, 4, 1], seed=0, backend=backend)
    X = np.arange(24, dtype=np.float64).reshape(8, 3) / 10
    ref = net.predict(X)
    big = np.zeros((16, 6))
    big[::2, ::2] = X
    np.testing.assert_allclose(net.predict(big[::2, ::2]), ref, rtol=1e-15)
    np.testing.assert_allclose(net.predict(np.asfortranarray(X)), ref, rtol=1e-15)
    np.testing.assert_allclose(net.predict(X.astype(np.float32)), ref, rtol=1e-6)
    Xi = np.arange(24).reshape(8, 3)
    np.testing.assert_allclose(net.predict(Xi), net.predict(Xi.astype(float)), rtol=1e-15)
    np.testing.assert_allclose(net.predict(X.tolist()), ref, rtol=1e-15)
    y = np.array([0, 1] * 4)
    assert net.loss(X, y) == pytest.approx(net.loss(X, y.reshape(-1, 1)), rel=1e-15)
    assert net.loss(X, y.astype(bool)) == pytest.approx(net.loss(X, y.astype(float)), rel=1e-15)


def test_float32_stays_float32(backend):
    net = NeuralNetwork([3, 4, 1], seed=0, dtype="float32", backend=backend)
    X, y = random_problem([3, 4, 1], n=10)
    before = net.get_params()
    losses = net.train(X, y, epochs=20, learning_rate=0.1, verbose=False)
    assert net.get_params().dtype == np.float32 and all(w.dtype == np.float32 for w in net.weights)
    assert not np.array_equal(before, net.get_params())
    assert losses[-1] < losses[0]


def test_training_solves_xor(backend, xor):
    X, y = xor
    np.random.seed(42)
    nn = NeuralNetwork([2, 4, 1], backend=backend)
    nn.train(X, y, epochs=5000, learning_rate=0.5, verbose=False)
    assert ((nn.predict(X) > 0.5) == y.astype(bool)).all()


def test_zero_epochs_and_verbose_false(backend, xor, capsys):
    nn = NeuralNetwork([2, 4, 1], seed=0, backend=backend)
    before = nn.get_params()
    assert nn.train(*xor, epochs=0, learning_rate=0.5) == []
    np.testing.assert_array_equal(nn.get_params(), before)
    nn.train(*xor, epochs=150, learning_rate=0.5, verbose=False)
    assert capsys.readouterr().out == ""


def test_train_equals_repeated_backward(backend, xor):
    X, y = xor
    a = NeuralNetwork([2, 4, 1], seed=3, backend=backend)
    b = NeuralNetwork([2, 4, 1], seed=3, backend=backend)
    losses = a.train(X, y, epochs=25, learning_rate=0.3, verbose=False)
    steps = [b.backward(X, y, 0.3) for _ in range(25)]
    np.testing.assert_allclose(losses, steps, rtol=1e-12)
    np.testing.assert_allclose(a.get_params(), b.get_params(), rtol=1e-12)


def test_extreme_logits_give_finite_loss_and_gradient(backend, dtype):
    net = NeuralNetwork([1, 1], seed=0, dtype=dtype, backend=backend)
    net.weights[0] = [[1.0]]
    X = np.array([[1e4], [-1e4], [30.0], [-30.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    loss, grad = net.gradient(X, y)
    assert np.isfinite(loss) and np.isfinite(grad).all()
    assert loss == pytest.approx((1e4 + 1e4 + np.log1p(np.exp(-30)) * 2) / 4, rel=1e-5)


def test_repr_and_backend_name(backend):
    net = NeuralNetwork([2, 3, 1], backend=backend, seed=0)
    assert net.backend == backend
    assert "NeuralNetwork([2, 3, 1]" in repr(net)
