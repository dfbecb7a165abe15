"""The C core's exp (csrc/vexp.h) against NumPy's, and the softmax and cross-entropy built on
it against the NumPy reference across the C code's block boundaries. The C exp is reached
through the fused GEMM write-back with activation "exp" and a 1x1 identity matrix (x * 1 + 0
is exact), so what comes back is bn_exp(x) itself."""

import os

import numpy as np
import pytest

import barenet

if os.environ.get("BARENET_BACKEND", "").lower() == "compiled":
    from barenet import _gemm  # the compiled core is required: an import error fails here
else:
    pytest.importorskip("barenet._core")
    from barenet import _gemm

from conftest import require_compiled

FLUSH = {np.float32: -80.0, np.float64: -700.0}    # below: 0 (vexp.h, BN_EXP*_FLUSH)
OVERFLOW = {np.float32: 88.8, np.float64: 709.8}   # above: inf


@pytest.fixture
def compiled():
    require_compiled()


def c_exp(x):
    x = np.ascontiguousarray(x)
    one = np.ones((1, 1), x.dtype)
    return _gemm.gemm_bias_act(x.reshape(-1, 1), one, np.zeros(1, x.dtype), "exp").ravel()


def ulps(got, want, dtype):
    """|got - want| in units of the last place of want rounded to dtype"""
    return np.abs(got.astype(np.float64) - want) / np.spacing(want.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_within_two_ulp_of_numpy(compiled, dtype):
    lo, hi = FLUSH[dtype], np.log(np.finfo(dtype).max)
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(lo, hi, 400_001), rng.uniform(-5, 5, 100_000),
                        rng.uniform(lo, hi, 100_000), [0.0, -0.0, 1e-30, -1e-30]]).astype(dtype)
    x = x[(x >= lo) & (np.exp(x.astype(np.float64)) < np.finfo(dtype).max)]
    got = c_exp(x)
    if dtype == np.float32:   # float64 of a float32 argument: the exact value to 1e-16
        want = np.exp(x.astype(np.float64))
    else:                     # NumPy's double exp is within 1 ulp
        want = np.exp(x)
    assert got.dtype == dtype
    assert np.isfinite(got).all()
    assert ulps(got, want, dtype).max() <= 2.0
    assert c_exp(np.zeros(3, dtype)).tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_flushes_tiny_results_and_overflows_to_inf(compiled, dtype):
    flush, tiny = FLUSH[dtype], np.finfo(dtype).tiny
    below = np.array([flush * 1.0001, flush - 1, flush * 1.2, -1e4, -1e30, -np.inf], dtype)
    assert (c_exp(below) == 0).all()
    # no subnormal ever comes out: every nonzero result is a normal number
    x = np.linspace(flush * 1.5, flush * 0.9, 100_001).astype(dtype)
    got = c_exp(x)
    assert ((got == 0) | (got >= tiny)).all()
    assert (got[x >= flush] > 0).all()
    big = np.array([OVERFLOW[dtype], 1e4, 1e30, np.inf], dtype)
    assert np.isposinf(c_exp(big)).all()
    assert np.isnan(c_exp(np.array([np.nan, -np.nan], dtype))).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_matches_the_stable_formula(compiled, dtype):
    """the branch-free sigmoid equals 1 / (1 + e^-z) above 0 and e^z / (1 + e^z) below, with
    NumPy's exp, to a few ulps (below the exp's flush level it is 0), and saturates without
    NaN"""
    z = np.concatenate([np.linspace(-120, 120, 20_001), [0.0, -0.0, np.inf, -np.inf]]).astype(dtype)
    one = np.ones((1, 1), dtype)
    got = _gemm.gemm_bias_act(z.reshape(-1, 1), one, np.zeros(1, dtype), "sigmoid").ravel()
    z64 = z.astype(np.float64)
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(z64))
        want = np.where(z64 >= 0, 1.0, e) / (1.0 + e)
    np.testing.assert_allclose(got, want, rtol=4 * np.finfo(dtype).eps,
                               atol=1.01 * np.exp(FLUSH[dtype]))
    assert got[-2] == 1.0 and got[-1] == 0.0
    assert (got >= 0).all() and (got <= 1).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_of_nonpositive_arguments_is_the_same_exp_bit_for_bit(compiled, dtype):
    """sigmoid, tanh, softmax and erf take exp of arguments <= 0 from bn_exp*_nonpos
    (vexp.h: no overflow clamp, 2^n as one factor): below 0, sigmoid(z) is e / (1 + e)
    rounded in dtype with e from the general exp, bit for bit, down past the flush level"""
    flush, tiny = FLUSH[dtype], np.finfo(dtype).tiny
    z = -np.concatenate([np.linspace(0, -1.2 * flush, 400_001),
                         np.geomspace(tiny, 1e-3, 2_001), [np.inf]]).astype(dtype)
    one, zero = np.ones((1, 1), dtype), np.zeros(1, dtype)
    e = c_exp(z)
    got = _gemm.gemm_bias_act(z.reshape(-1, 1), one, zero, "sigmoid").ravel()
    np.testing.assert_array_equal(got, e / (dtype(1) + e))


@pytest.mark.parametrize("classes", [2, 10, 31, 32, 33, 513, 1500])
@pytest.mark.parametrize("rows", [1, 7, 16, 17, 60])
def test_softmax_and_cross_entropy_across_blocks(compiled, dtype, classes, rows):
    """softmax outputs, the cross-entropy loss (from the row maxima and sums the softmax
    keeps) and its gradient on the compiled backend against the NumPy reference: class
    counts on both sides of the 32-class tile path, row counts around its 16-row tiles, and
    logits spread wide enough that most exponentials flush to zero"""
    rng = np.random.default_rng(classes * 100 + rows)
    X = (rng.standard_normal((rows, 4)) * 30).astype(dtype)
    y = rng.integers(0, classes, rows)
    nets = [barenet.NeuralNetwork([4, classes], activation="relu", output_activation="softmax",
                                  dtype=dtype, seed=3, backend=b) for b in ("numpy", "compiled")]
    tol = 1e-5 if dtype == "float32" else 1e-12
    p_np, p_c = (net.predict(X) for net in nets)
    np.testing.assert_allclose(p_c, p_np, rtol=tol, atol=1e-30)
    np.testing.assert_allclose(p_c.sum(axis=1), 1.0, rtol=tol * classes)
    np.testing.assert_allclose(nets[1].loss(X, y), nets[0].loss(X, y), rtol=tol)
    g_np, g_c = (net.loss_and_grad(net.get_params(), X, y)[1] for net in nets)
    np.testing.assert_allclose(g_c, g_np, rtol=tol, atol=tol * np.abs(g_np).max())
