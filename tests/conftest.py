"""Fixtures shared by the tests: every numeric test runs on both backends. Under
BARENET_BACKEND=compiled (CI) a missing or broken extension fails the compiled cases
instead of skipping them."""

import os

import numpy as np
import pytest

from barenet import _backend

BACKENDS = ("numpy", "compiled")


def compiled_available():
    return _backend._try_compiled() is None


def require_compiled():
    """for a test that needs the compiled core: under BARENET_BACKEND=compiled (CI) a missing
    or broken extension FAILS the test; elsewhere it skips (a NumPy-only install)"""
    error = _backend._try_compiled()
    if error is None:
        return
    if os.environ.get("BARENET_BACKEND", "").lower() == "compiled":
        pytest.fail(f"compiled backend required but {error[1]}")
    pytest.skip("the compiled extension is not available")


@pytest.fixture
def needs_compiled():
    """require_compiled() as a fixture: @pytest.mark.usefixtures("needs_compiled")"""
    require_compiled()


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "compiled":
        require_compiled()
    return request.param


@pytest.fixture(params=["float64", "float32"])
def dtype(request):
    return request.param


@pytest.fixture
def xor():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    return X, y


def random_problem(sizes, n=7, seed=0, dtype=np.float64):
    """inputs and [0, 1] targets for a network of the given sizes"""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    y = (rng.random((n, sizes[-1])) > 0.5).astype(dtype)
    return X, y


def numeric_gradient(net, X, y, eps=1e-6, sample_weight=None):
    """central differences of the mean loss over every parameter"""
    p0 = net.get_params()
    grad = np.empty_like(p0)
    for i in range(p0.size):
        p = p0.copy()
        p[i] += eps
        net.set_params(p)
        up = net.loss(X, y, sample_weight=sample_weight)
        p[i] -= 2 * eps
        net.set_params(p)
        down = net.loss(X, y, sample_weight=sample_weight)
        grad[i] = (up - down) / (2 * eps)
    net.set_params(p0)
    return grad
