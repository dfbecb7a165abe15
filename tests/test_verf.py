"""The C core's erf (csrc/verf.h) through GELU, where the core uses it: the fused GEMM
write-back (a Dense layer's output), the Activation node and the derivative in backward,
against GELU in float64 from math.erfc over [-10, 10], large |z| and the special values,
on both backends; 1 and 2 threads give the same bits. erf's own accuracy (every float in
[-10, 10], 0.99 ulp at most) is measured by benchmarks/erf_check.c."""

import math

import numpy as np
import pytest

import barenet
from barenet import Sequential
from barenet._activations import gelu
from barenet.layers import Activation, Dense
from conftest import require_compiled

WIDTH = 40  # columns: whole vectors of every clone's width and a remainder


def exact_gelu(z):
    """z Phi(z) in float64, Phi(z) = erfc(-z / sqrt 2) / 2 (no cancellation for z < 0)"""
    return np.array([v * 0.5 * math.erfc(-v / math.sqrt(2.0)) for v in z.ravel()]).reshape(
        z.shape)


def grid(dtype):
    """[-10, 10] finely, past 4 and 6 (where verf.h clamps), large |z|, tiny |z|"""
    big = [12.0, 20.0, 50.0, 1e3, 1e6, 1e30]
    tiny = [1e-30, 1e-20, 1e-7, 0.0]
    z = np.concatenate([np.linspace(-10.0, 10.0, 40_001), np.linspace(-7.0, 7.0, 3_997) + 1e-3,
                        big, np.negative(big), tiny, np.negative(tiny)])
    z = np.resize(z, (-(-z.size // WIDTH), WIDTH)) if z.size % WIDTH else z.reshape(-1, WIDTH)
    return z.astype(dtype)


def identity_dense(dtype, backend, activation):
    """Dense(WIDTH) with identity weights and zero bias, so z = x exactly"""
    net = Sequential([Dense(WIDTH, activation=activation)], input_shape=(WIDTH,), dtype=dtype,
                     seed=0, backend=backend)
    net.weights[0][...] = np.eye(WIDTH)
    net.biases[0][...] = 0
    return net


def error_bound(z, dtype):
    """|gelu error| <= 2 eps max(|z|, 1): 1 + erf rounds to eps / 2 and erf is within 1.3 ulp,
    both scaled by z / 2; the product and the reference add under an ulp"""
    return 2.0 * np.finfo(dtype).eps * np.maximum(np.abs(z.astype(np.float64)), 1.0)


def test_gelu_in_the_gemm_write_back_and_the_activation_node(backend, dtype):
    z = grid(dtype)
    want = exact_gelu(z.astype(np.float64))
    fused = identity_dense(dtype, backend, "gelu").predict(z)
    node = Sequential([Dense(WIDTH), Activation("gelu"), Dense(1)], input_shape=(WIDTH,),
                      dtype=dtype, seed=0, backend=backend)
    node.weights[0][...] = np.eye(WIDTH)
    node.biases[0][...] = 0
    node_out = node.forward(z, return_all=True)[1]
    for got in (fused, node_out):
        assert got.dtype == dtype
        err = np.abs(got.astype(np.float64) - want)
        assert (err <= error_bound(z, dtype)).all(), float((err / error_bound(z, dtype)).max())
    assert fused.tobytes() == node_out.tobytes()   # one scalar form, the same bits everywhere


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_gelu_special_values_as_the_reference(backend, dtype):
    """inf -> inf; -inf -> NaN (-inf times 1 + erf = 0), as the NumPy reference gives; NaN
    passes; large |z| saturates (z or -0)"""
    z = np.array([[np.inf, -np.inf, np.nan, 3e38, -3e38, 1e-40, -1e-40, 0.0]], dtype)
    net = Sequential([Dense(z.shape[1], activation="gelu")], input_shape=(z.shape[1],),
                     dtype=dtype, seed=0, backend=backend)
    net.weights[0][...] = 0
    net.biases[0][...] = 0
    np.fill_diagonal(net.weights[0], 1)
    out = np.diag(net.predict(np.diag(z[0]), check_input=False))   # one value per row: no 0 * inf
    np.testing.assert_array_equal(out, gelu(z[0]))
    assert out[0] == np.inf and np.isnan(out[1]) and np.isnan(out[2])
    assert out[3] == z[0, 3] and out[4] == 0


def test_gelu_derivative_against_float64(backend, dtype):
    """the gradient through gelu (bn_times_dact) over [-10, 10] and beyond equals the float64
    NumPy reference's, to the dtype's precision"""
    rng = np.random.default_rng(3)
    z = np.concatenate([rng.uniform(-10, 10, (60, WIDTH)), rng.uniform(-6, 6, (40, WIDTH)),
                        rng.choice([-50.0, -7.0, 7.0, 50.0], (4, WIDTH))])
    y = rng.standard_normal((z.shape[0], 1))
    w_out = rng.standard_normal((WIDTH, 1))

    def model(dt, be):
        net = Sequential([Dense(WIDTH, activation="gelu"), Dense(1)], input_shape=(WIDTH,),
                         dtype=dt, seed=0, backend=be, loss="mse")
        net.weights[0][...] = np.eye(WIDTH)
        net.biases[0][...] = 0
        net.weights[1][...] = w_out
        return net

    _, got = model(dtype, backend).gradient(z.astype(dtype), y.astype(dtype))
    _, want = model("float64", "numpy").gradient(z, y)
    tol = 1e-12 if dtype == "float64" else 1e-5
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


def test_gelu_loops_do_not_depend_on_the_thread_count():
    require_compiled()
    z = np.random.default_rng(4).uniform(-8, 8, (6_000, WIDTH)).astype(np.float32)
    y = np.random.default_rng(5).standard_normal((6_000, 1)).astype(np.float32)
    before = barenet.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            barenet.set_num_threads(threads)
            net = Sequential([Dense(WIDTH), Activation("gelu"), Dense(WIDTH, activation="gelu"),
                              Dense(1)], input_shape=(WIDTH,), dtype="float32", seed=1,
                             backend="compiled", loss="mse")
            results.append((net.predict(z).tobytes(), net.gradient(z, y)[1].tobytes()))
    finally:
        barenet.set_num_threads(before)
    assert results[0] == results[1]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_gelu_is_close_to_the_reference_backend(dtype):
    """compiled against NumPy on the same grid: both within the bound of float64"""
    require_compiled()
    z = grid(dtype)
    got = identity_dense(dtype, "compiled", "gelu").predict(z).astype(np.float64)
    ref = identity_dense(dtype, "numpy", "gelu").predict(z).astype(np.float64)
    assert (np.abs(got - ref) <= 2 * error_bound(z, dtype)).all()
