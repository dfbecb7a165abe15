"""The float32 convolution and pooling layers, in one forward pass and one gradient, against
the same computation in float64 (the NumPy reference, itself checked against PyTorch in
test_numpy_layers.py), within the standard error bound of a k-term sum as test_gemm.py
states it: |out - ref| <= 2 (k + 2) eps (|x| * |w| + |b|) per element, eps = 2**-23,
where |x| * |w| is the same operation on absolute values. Max pooling rounds nothing and must
be exact. (The training comparisons elsewhere only see the result after many steps.)"""

import numpy as np
import pytest

from barenet import Sequential
from barenet import _numpy_layers as nl
from barenet.layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D

EPS = float(np.finfo(np.float32).eps)

CONVS = {  # name: (filters, kernel, stride, padding, input (C, H, W))
    "3x3-same": (4, 3, 1, "same", (3, 9, 8)),
    "5x5-valid-stride2": (3, 5, 2, "valid", (2, 13, 11)),
    "rect-pad": (5, (2, 3), (1, 2), (1, 2), (4, 7, 9)),
    "1x1": (6, 1, 1, "valid", (16, 5, 5)),
    "wide-channels": (8, 3, 1, "same", (32, 6, 6)),
}


def identity_head(net_layers, shape, backend, dtype, seed=0):
    """layers + Flatten + Dense(identity) whose weights are the identity matrix: the model's
    output is the last layer's output, exactly (x * 1 + 0 rounds nothing)"""
    net = Sequential(net_layers + [Flatten(), Dense(1, activation="identity")],
                     input_shape=shape, dtype=dtype, seed=seed, backend=backend)
    size = int(np.prod(net.layers[-2].output_shape))
    net = Sequential(net_layers + [Flatten(), Dense(size, activation="identity")],
                     input_shape=shape, loss="mse", dtype=dtype, seed=seed, backend=backend)
    net.weights[-1] = np.eye(size)
    net.biases[-1] = np.zeros((1, size))
    return net


@pytest.mark.parametrize("case", sorted(CONVS))
def test_conv2d_float32_forward_and_gradient_within_the_bound(backend, case):
    filters, kernel, stride, padding, shape = CONVS[case]
    layer = lambda: Conv2D(filters, kernel, stride=stride, padding=padding,  # noqa: E731
                           activation="identity")
    net = identity_head([layer()], shape, backend, "float32", seed=4)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5,) + shape).astype(np.float32)
    conv = net.layers[0]
    w32, b32 = (np.asarray(v) for v in (net.weights[0], net.biases[0]))
    w, b = w32.astype(np.float64), b32.astype(np.float64).reshape(-1)
    pads, st = conv.pads(), conv.stride
    k = shape[0] * int(np.prod(w.shape[:2])) + 1
    # forward
    ref = nl.conv2d_forward(X.astype(np.float64), w, b, st, pads)
    mag = nl.conv2d_forward(np.abs(X.astype(np.float64)), np.abs(w), np.abs(b), st, pads)
    out = net.predict(X).reshape(ref.shape)
    err = np.abs(out - ref)
    bound = 2 * (k + 2) * EPS * mag
    assert np.all(err <= bound), f"forward error {err.max():.3g} over its bound"
    # one gradient: targets far below the output make dz = 2 (a - y) / size accurate to a
    # few eps whatever a's own rounding, so the k-term bounds apply with room for it
    signs = rng.choice([-1.0, 1.0], ref.size).reshape(len(X), -1)
    y = (ref.reshape(len(X), -1) - 1000 * signs).astype(np.float32)
    _, grad = net.gradient(X, y)
    dz = (2 * 1000 * signs / signs.size).reshape(ref.shape)
    _, dw, db = nl.conv2d_backward(dz, X.astype(np.float64), w, st, pads)
    _, mw, mb = nl.conv2d_backward(np.abs(dz), np.abs(X.astype(np.float64)), np.abs(w), st,
                                    pads)
    probe = identity_head([layer()], shape, "numpy", "float64")
    probe.set_params(np.arange(probe.get_params().size, dtype=np.float64))
    at_w = np.asarray(probe.weights[0]).astype(np.int64)
    at_b = np.asarray(probe.biases[0]).astype(np.int64).reshape(-1)
    kk = len(X) * ref.shape[2] * ref.shape[3]  # terms of each weight's and bias's sum
    for name, got, want, mag in (("dw", grad[at_w], dw, mw), ("db", grad[at_b], db, mb)):
        bound = 2 * (kk + 6) * EPS * mag + np.finfo(np.float32).tiny
        err = np.abs(got - want)
        assert np.all(err <= bound), f"{name} error {err.max():.3g} over its bound"


POOLS = {  # name: (layer, input (C, H, W))
    "max-2": (lambda: MaxPool2D(2), (3, 8, 9)),
    "max-3-stride2": (lambda: MaxPool2D(3, stride=2), (2, 11, 9)),
    "avg-2": (lambda: AvgPool2D(2), (3, 8, 9)),
    "avg-3x2-stride1": (lambda: AvgPool2D((3, 2), stride=1), (4, 7, 6)),
}


@pytest.mark.parametrize("case", sorted(POOLS))
def test_pool_float32_forward_within_the_bound(backend, case):
    make, shape = POOLS[case]
    net = identity_head([make()], shape, backend, "float32")
    pool = net.layers[0]
    rng = np.random.default_rng(2)
    X = rng.standard_normal((6,) + shape).astype(np.float32)
    x64 = X.astype(np.float64)
    if pool.__class__ is MaxPool2D:
        ref = nl.maxpool2d_forward(x64, pool.pool_size, pool.stride)
        out = net.predict(X).reshape(ref.shape)
        np.testing.assert_array_equal(out, ref)  # a max rounds nothing
        return
    ref = nl.avgpool2d_forward(x64, pool.pool_size, pool.stride)
    mag = nl.avgpool2d_forward(np.abs(x64), pool.pool_size, pool.stride)
    out = net.predict(X).reshape(ref.shape)
    k = int(np.prod(pool.pool_size))
    assert np.all(np.abs(out - ref) <= 2 * (k + 2) * EPS * mag)
