"""Oracles that do not come from the code under test: activation values and slopes from their
definitions (a table), two epochs of shuffled mini-batch training with dropout replayed by hand
(permutations and masks from the generator's documented formula in csrc/rng.h, gradients
from net.gradient of a dropout-free twin), and early stopping on plateaus built so that it
must fire (or must not). The backend agreement tests elsewhere cannot see a bug that both
backends share; these can."""

import math

import numpy as np
import pytest

from barenet import EarlyStopping, NeuralNetwork

# ---- activations: values and derivatives from their definitions ---------------------------

# f(x) for the hidden and output activations, by hand: relu max(x, 0), leaky_relu x or 0.01 x,
# sigmoid 1 / (1 + e^-x), tanh, gelu x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, identity, exp
VALUES = {
    "relu": [(-2.0, 0.0), (1.5, 1.5), (0.0, 0.0)],
    "leaky_relu": [(-2.0, -0.02), (3.0, 3.0), (-0.5, -0.005)],
    "sigmoid": [(0.0, 0.5), (1.0, 0.7310585786300049), (-1.0, 0.2689414213699951),
                (3.0, 0.9525741268224334)],
    "tanh": [(1.0, 0.7615941559557649), (-0.5, -0.46211715726000974)],
    "gelu": [(1.0, 0.8413447460685429), (-1.0, -0.15865525393145707),
             (2.0, 1.9544997361036416), (-0.5, -0.15426876936299344)],
    "identity": [(-2.5, -2.5), (4.0, 4.0)],
}
OUTPUT_VALUES = {**VALUES, "exp": [(1.0, 2.718281828459045), (-2.0, 0.1353352832366127)]}

# f'(x): relu 1 / 0, leaky_relu 1 / 0.01, sigmoid s (1 - s), tanh 1 - tanh^2,
# gelu Phi(x) + x phi(x), identity 1
SLOPES = {
    "relu": [(-2.0, 0.0), (1.5, 1.0)],
    "leaky_relu": [(-2.0, 0.01), (3.0, 1.0)],
    "sigmoid": [(1.0, 0.19661193324148185), (0.0, 0.25), (3.0, 0.045176659730912)],
    "tanh": [(1.0, 0.41997434161402614), (-0.5, 0.7864477329659274)],
    "gelu": [(1.0, 1.0833154705876864), (-1.0, -0.08331547058768629),
             (2.0, 1.085231801078197), (-0.5, 0.13250487534383712)],
    "identity": [(-2.5, 1.0), (4.0, 1.0)],
}
TOL = {"float64": dict(rtol=1e-13, atol=1e-15), "float32": dict(rtol=2e-6, atol=1e-7)}


def test_the_table_is_the_definitions():
    """the literals above, recomputed from math (guards the table against typos)"""
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda x: (1 + math.erf(x / math.sqrt(2))) / 2  # noqa: E731
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    f = {"relu": lambda x: max(x, 0.0), "leaky_relu": lambda x: x if x > 0 else 0.01 * x,
         "sigmoid": sig, "tanh": math.tanh, "gelu": lambda x: x * Phi(x),
         "identity": lambda x: x, "exp": math.exp}
    df = {"relu": lambda x: float(x > 0), "leaky_relu": lambda x: 1.0 if x > 0 else 0.01,
          "sigmoid": lambda x: sig(x) * (1 - sig(x)), "tanh": lambda x: 1 - math.tanh(x) ** 2,
          "gelu": lambda x: Phi(x) + x * phi(x), "identity": lambda x: 1.0}
    for name, pairs in OUTPUT_VALUES.items():
        for x, value in pairs:
            assert f[name](x) == pytest.approx(value, rel=1e-15, abs=1e-300), (name, x)
    for name, pairs in SLOPES.items():
        for x, slope in pairs:
            assert df[name](x) == pytest.approx(slope, rel=1e-15, abs=1e-300), (name, x)


def _index_map(net):
    """where each weight and bias sits in get_params(), read through the public views"""
    saved = net.get_params()
    net.set_params(np.arange(saved.size, dtype=np.float64))
    weights = [np.asarray(w).astype(np.int64) for w in net.weights]
    biases = [np.asarray(b).astype(np.int64) for b in net.biases]
    net.set_params(saved)
    return weights, biases


@pytest.mark.parametrize("name", sorted(VALUES))
def test_hidden_activation_values(backend, dtype, name):
    """x -> [1] -> f -> [1] -> identity with unit weights and zero biases predicts f(x)"""
    net = NeuralNetwork([1, 1, 1], activation=name, output_activation="identity", dtype=dtype,
                        seed=0, backend=backend)
    net.weights[0] = [[1.0]]
    net.weights[1] = [[1.0]]
    x = np.array([[x] for x, _ in VALUES[name]])
    expected = np.array([[v] for _, v in VALUES[name]])
    np.testing.assert_allclose(net.predict(x), expected, **TOL[dtype])


@pytest.mark.parametrize("name", sorted(OUTPUT_VALUES))
def test_output_activation_values(backend, dtype, name):
    net = NeuralNetwork([1, 1], output_activation=name, dtype=dtype, seed=0, backend=backend)
    net.weights[0] = [[1.0]]
    x = np.array([[x] for x, _ in OUTPUT_VALUES[name]])
    expected = np.array([[v] for _, v in OUTPUT_VALUES[name]])
    np.testing.assert_allclose(net.predict(x), expected, **TOL[dtype])


def test_softmax_output_values(backend, dtype):
    """softmax([x, -x]) = [1 / (1 + e^-2x), 1 / (1 + e^2x)]"""
    net = NeuralNetwork([1, 2], output_activation="softmax", dtype=dtype, seed=0,
                        backend=backend)
    net.weights[0] = [[1.0, -1.0]]
    p = net.predict(np.array([[0.0], [0.5], [-1.5]]))
    expected = [[0.5, 0.5], [0.7310585786300049, 0.2689414213699951],
                [0.04742587317756678, 0.9525741268224334]]
    np.testing.assert_allclose(p, expected, **TOL[dtype])


@pytest.mark.parametrize("name", sorted(SLOPES))
def test_hidden_activation_slopes(backend, name):
    """d loss / d b1 of x -> [1] -> f -> [1] -> identity under MSE with the target set
    half below the output: 2 (out - y) * w2 * f'(x) = f'(x)"""
    net = NeuralNetwork([1, 1, 1], activation=name, output_activation="identity", loss="mse",
                        seed=0, backend=backend)
    net.weights[0] = [[1.0]]
    net.weights[1] = [[1.0]]
    _, biases = _index_map(net)
    for x, slope in SLOPES[name]:
        X = np.array([[x]])
        y = net.predict(X) - 0.5
        _, grad = net.gradient(X, y)
        assert grad[biases[0][0, 0]] == pytest.approx(slope, rel=1e-12, abs=1e-15), x


# ---- two epochs replayed by hand --------------------------------------------------------

MASK64 = (1 << 64) - 1


def mix(z):
    """splitmix64's finaliser (csrc/rng.h), on Python ints"""
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def draw(seed, kind, a, b, c, index):
    """u64 = mix(key ^ mix(index)), key = mix(seed ^ mix(stream)),
    stream = mix(mix(mix(mix(kind) ^ a) ^ b) ^ c)"""
    stream = mix(mix(mix(mix(kind) ^ a) ^ b) ^ c)
    return mix(mix(seed ^ mix(stream)) ^ mix(index))


def permutation(seed, epoch, n):
    """the rows of an epoch: 0..n-1 sorted by their draws of stream (SHUFFLE=1, epoch, 0, 0)"""
    return sorted(range(n), key=lambda i: draw(seed, 1, epoch, 0, 0, i))


def dropout_mask(seed, epoch, batch, layer, rows, units, rate):
    """inverted dropout of hidden layer `layer` (its dropout stream number) in one batch: value
    (r, j) is kept when the uniform (u64 >> 11) 2^-53 of draw r * units + j of stream
    (DROPOUT=2, epoch, batch, layer) is >= rate, and kept values are scaled by 1 / (1 - rate)"""
    mask = np.empty((rows, units))
    for r in range(rows):
        for j in range(units):
            u = (draw(seed, 2, epoch, batch, layer, r * units + j) >> 11) * 2.0 ** -53
            mask[r, j] = 1 / (1 - rate) if u >= rate else 0.0
    return mask


def replay(sizes, params, X, y, seed, rate, epochs, batch_size, lr, probe):
    """SGD by hand. A dropout mask m on hidden layer l's output h multiplies h elementwise,
    so for one row, h_m @ W = h @ (diag(m) W): the row's loss and gradients are those of a
    dropout-free network (probe) whose next weight matrix is diag(m) W, and dL/dW = diag(m)
    dL/d(diag(m) W). The batch's loss and gradient are the means over its rows."""
    weights, biases = _index_map(probe)
    n, losses, p = len(X), [], params.copy()
    for epoch in range(epochs):
        order = permutation(seed, epoch, n)
        total = 0.0
        for batch, start in enumerate(range(0, n, batch_size)):
            rows = order[start:start + batch_size]
            masks = [dropout_mask(seed, epoch, batch, l, len(rows), sizes[l + 1], rate)
                     for l in range(len(sizes) - 2)]
            grad, loss = np.zeros_like(p), 0.0
            for k, r in enumerate(rows):
                q = p.copy()
                for l, m in enumerate(masks):  # fold row k's masks into the next weights
                    q[weights[l + 1]] = m[k][:, None] * p[weights[l + 1]]
                probe.set_params(q)
                row_loss, row_grad = probe.gradient(X[r:r + 1], y[r:r + 1])
                for l, m in enumerate(masks):
                    row_grad[weights[l + 1]] *= m[k][:, None]
                grad += row_grad / len(rows)
                loss += row_loss / len(rows)
            total += loss * len(rows)
            p -= lr * grad
        losses.append(total / n)
    return losses, p


@pytest.mark.parametrize("sizes", [[3, 5, 2], [3, 6, 4, 2]], ids=str)
def test_two_epochs_with_shuffling_and_dropout_replayed_by_hand(backend, sizes):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((10, 3))
    y = (rng.random((10, 2)) > 0.5).astype(np.float64)
    seed, rate, lr = 1234, 0.4, 0.5
    net = NeuralNetwork(sizes, activation="tanh", dropout=rate, seed=seed, backend=backend)
    probe = NeuralNetwork(sizes, activation="tanh", seed=0, backend=backend)
    start = net.get_params()
    # the oracle's own premises: two epochs shuffle differently, masks drop and scale
    assert permutation(seed, 0, 10) != permutation(seed, 1, 10)
    mask = dropout_mask(seed, 0, 0, 0, 4, sizes[1], rate)
    assert set(np.unique(mask)) == {0.0, 1 / (1 - rate)}
    expected_losses, expected = replay(sizes, start, X, y, seed, rate, 2, 4, lr, probe)
    history = net.train(X, y, epochs=2, learning_rate=lr, batch_size=4, optimizer="sgd",
                        verbose=False)
    np.testing.assert_allclose(history, expected_losses, rtol=1e-12)
    np.testing.assert_allclose(net.get_params(), expected, rtol=1e-11, atol=1e-13)


def _sgd_in_order(probe, start, X, y, orders, lr):
    """one-row SGD steps in the given row orders, gradients from the probe"""
    p = start.copy()
    for order in orders:
        for r in order:
            probe.set_params(p)
            p = p - lr * probe.gradient(X[r:r + 1], y[r:r + 1])[1]
    return p


def test_every_epoch_is_reshuffled(backend):
    """without dropout, batches of one row: each epoch visits the rows in its own
    permutation (the same permutation every epoch ends elsewhere)"""
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((6, 3)), (rng.random((6, 1)) > 0.5).astype(np.float64)
    seed = 99
    net = NeuralNetwork([3, 4, 1], activation="tanh", seed=seed, backend=backend)
    probe = NeuralNetwork([3, 4, 1], activation="tanh", seed=0, backend=backend)
    start = net.get_params()
    orders = [permutation(seed, e, 6) for e in range(3)]
    assert len({tuple(o) for o in orders}) == 3
    net.train(X, y, epochs=3, learning_rate=0.3, batch_size=1, verbose=False)
    expected = _sgd_in_order(probe, start, X, y, orders, 0.3)
    np.testing.assert_allclose(net.get_params(), expected, rtol=1e-12, atol=1e-14)
    unshuffled = _sgd_in_order(probe, start, X, y, [orders[0]] * 3, 0.3)
    assert not np.allclose(expected, unshuffled, rtol=1e-6)


def test_dropout_is_inverted_and_absent_at_prediction(backend):
    """one batch, rate 0.5: the training loss is that of the masked, 2x-scaled hidden layer
    (by hand), while predict uses no mask and no scale"""
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    seed, rate = 7, 0.5
    net = NeuralNetwork([3, 8, 2], activation="relu", output_activation="identity",
                        dropout=rate, seed=seed, backend=backend)
    W1, b1, W2, b2 = (np.array(a) for a in (net.weights[0], net.biases[0], net.weights[1],
                                            net.biases[1]))
    h = np.maximum(X @ W1 + b1, 0)
    np.testing.assert_allclose(net.predict(X), h @ W2 + b2, rtol=1e-13)
    mask = dropout_mask(seed, 0, 0, 0, 5, 8, rate)
    assert set(np.unique(mask)) == {0.0, 2.0}
    expected = np.mean((h * mask @ W2 + b2 - y) ** 2)
    history = net.train(X, y, epochs=1, learning_rate=1e-9, verbose=False)
    assert history[0] == pytest.approx(expected, rel=1e-12)


# ---- early stopping on plateaus built to make it fire --------------------------------------

def _twin(backend, **kw):
    return NeuralNetwork([4, 6, 1], activation="tanh", seed=3, backend=backend, **kw)


def _data():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((30, 4))
    y = (X[:, :1] + 0.3 * X[:, 1:2] > 0).astype(np.float64)
    return X, y


def test_min_delta_makes_a_falling_loss_a_plateau(backend):
    """full-batch GD at a small rate: the loss falls every epoch, by less than 1 each time.
    With min_delta=1 only epoch 0 counts as an improvement: training stops after `patience`
    more epochs and restores epoch 0's weights; with min_delta=0 it never stops."""
    X, y = _data()
    net = _twin(backend)
    history = net.train(X, y, epochs=50, learning_rate=0.05, verbose=False,
                        early_stopping=EarlyStopping(patience=4, min_delta=1.0, monitor="loss"))
    assert (history.best_epoch, history.stopped_epoch, len(history)) == (0, 4, 5)
    one = _twin(backend)
    one.train(X, y, epochs=1, learning_rate=0.05, verbose=False)
    np.testing.assert_array_equal(net.get_params(), one.get_params())
    falling = _twin(backend).train(X, y, epochs=50, learning_rate=0.05, verbose=False,
                                   early_stopping=EarlyStopping(patience=4, monitor="loss"))
    assert np.all(np.diff(falling) < 0) and falling.stopped_epoch is None and len(falling) == 50


def test_min_delta_rule_against_the_history(backend):
    """the stopping epoch predicted from a plain run's losses by the documented rule
    (an improvement is a value below best - min_delta)"""
    X, y = _data()
    plain = _twin(backend).train(X, y, epochs=60, learning_rate=0.5, verbose=False)
    steps = -np.diff(plain)
    min_delta = float(np.median(steps))
    best, waited, expected = np.inf, 0, None
    for e, value in enumerate(plain):
        if value < best - min_delta:
            best, waited = value, 0
        else:
            waited += 1
            if waited >= 3:
                expected = e
                break
    assert expected is not None and expected < 59
    history = _twin(backend).train(X, y, epochs=60, learning_rate=0.5, verbose=False,
                                   early_stopping=EarlyStopping(patience=3, min_delta=min_delta,
                                                                monitor="loss"))
    assert history.stopped_epoch == expected
    np.testing.assert_allclose(history, plain[:expected + 1], rtol=1e-13)


def test_restore_best_weights_false_keeps_the_last_epoch(backend):
    X, y = _data()
    net = _twin(backend)
    stop = EarlyStopping(patience=3, min_delta=1.0, monitor="loss", restore_best_weights=False)
    history = net.train(X, y, epochs=50, learning_rate=0.05, verbose=False, early_stopping=stop)
    assert history.stopped_epoch == 3 and len(history) == 4
    last = _twin(backend)
    last.train(X, y, epochs=4, learning_rate=0.05, verbose=False)
    np.testing.assert_array_equal(net.get_params(), last.get_params())


def test_monitor_val_loss_fires_where_the_training_loss_would_not(backend):
    """validation targets are the training targets flipped: as the training loss falls the
    validation loss rises, so monitoring val_loss stops at epoch `patience` with epoch 0
    best, and monitoring the training loss on the same call never stops"""
    X, y = _data()
    val = (X, 1 - y)
    kw = dict(epochs=40, learning_rate=0.1, verbose=False, validation_data=val)
    on_val = _twin(backend).train(X, y, early_stopping=EarlyStopping(patience=5), **kw)
    assert np.all(np.diff(on_val.val_loss) > 0)
    assert (on_val.best_epoch, on_val.stopped_epoch, len(on_val)) == (0, 5, 6)
    on_loss = _twin(backend).train(X, y, early_stopping=EarlyStopping(patience=5,
                                                                       monitor="loss"), **kw)
    assert on_loss.stopped_epoch is None and len(on_loss) == 40
