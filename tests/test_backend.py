"""Backend choice: BARENET_BACKEND and backend= pick the implementation; an absent
extension falls back quietly, a broken one with a warning, and a requested-but-missing
compiled backend is an ImportError that says why. The fallback really trains."""

import importlib
import importlib.util
import warnings

import numpy as np
import pytest

from barenet import NeuralNetwork, _backend


@pytest.fixture
def fresh_check():
    _backend._reset()
    yield
    _backend._reset()


@pytest.fixture
def absent_extension(monkeypatch, fresh_check):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "barenet._core" else real(name, *a))


@pytest.fixture
def broken_extension(monkeypatch, fresh_check):
    real = importlib.import_module

    def fake(name, *args):
        if name == "barenet._core":
            raise ImportError("_core.so: undefined symbol: bn_sgemm")
        return real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    monkeypatch.setattr(importlib, "import_module", fake)


def test_absent_extension_falls_back_quietly(absent_extension, monkeypatch, xor):
    monkeypatch.setenv("BARENET_BACKEND", "auto")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = NeuralNetwork([2, 4, 1], seed=0)
    assert net.backend == "numpy"
    np.random.seed(42)
    net = NeuralNetwork([2, 4, 1], backend=None)
    net.train(*xor, epochs=3000, learning_rate=0.5, verbose=False)
    assert ((net.predict(xor[0]) > 0.5) == xor[1].astype(bool)).all()


def test_broken_extension_warns_and_falls_back(broken_extension, monkeypatch):
    monkeypatch.setenv("BARENET_BACKEND", "auto")
    with pytest.warns(RuntimeWarning, match="undefined symbol"):
        net = NeuralNetwork([2, 4, 1], seed=0)
    assert net.backend == "numpy"


@pytest.mark.parametrize("simulate", ["absent_extension", "broken_extension"])
def test_compiled_requested_but_unavailable_raises(simulate, request, monkeypatch):
    request.getfixturevalue(simulate)
    with pytest.raises(ImportError, match="compiled backend was requested but"):
        NeuralNetwork([2, 4, 1], backend="compiled")
    monkeypatch.setenv("BARENET_BACKEND", "compiled")
    with pytest.raises(ImportError, match="BARENET_BACKEND=numpy"):
        NeuralNetwork([2, 4, 1])


def test_numpy_is_always_available(broken_extension):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert NeuralNetwork([2, 4, 1], backend="numpy").backend == "numpy"


def test_environment_variable_selects(monkeypatch):
    monkeypatch.setenv("BARENET_BACKEND", "numpy")
    assert NeuralNetwork([2, 1], seed=0).backend == "numpy"
    monkeypatch.setenv("BARENET_BACKEND", " NumPy ")
    assert NeuralNetwork([2, 1], seed=0).backend == "numpy"
    monkeypatch.setenv("BARENET_BACKEND", "fast")
    with pytest.raises(ValueError, match="BARENET_BACKEND must be one of auto, compiled, numpy"):
        NeuralNetwork([2, 1])


def test_backend_argument_wins_over_environment(backend, monkeypatch):
    monkeypatch.setenv("BARENET_BACKEND", "numpy" if backend == "compiled" else "compiled")
    assert NeuralNetwork([2, 1], seed=0, backend=backend).backend == backend
