"""Chooses the backend: the compiled C core when it is importable, else the NumPy reference.

BARENET_BACKEND (or the backend= argument) is "auto", "compiled" or "numpy". Under "auto"
an absent extension (a pure install) falls back quietly and a present but broken one falls
back with a warning; "compiled" turns either into an ImportError that says why."""

import importlib
import importlib.util
import os
import warnings

BACKENDS = ("auto", "compiled", "numpy")

_compiled_error = None  # why the compiled backend is unavailable, once known
_compiled_checked = False


def _try_compiled():
    """(module, None) or (None, reason, broken)"""
    global _compiled_error, _compiled_checked
    if not _compiled_checked:
        _compiled_checked = True
        try:
            found = importlib.util.find_spec("barenet._core") is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            _compiled_error = ("absent", "the extension barenet._core is not installed "
                                         "(a pure-Python install, or an unbuilt checkout)")
        else:
            try:
                importlib.import_module("barenet._core")
            except Exception as exc:  # a broken build: undefined symbol, wrong ABI, ...
                _compiled_error = ("broken", f"barenet._core is installed but failed to "
                                             f"import: {type(exc).__name__}: {exc}")
    return _compiled_error


def requested(backend=None):
    """the backend name asked for, from the argument or BARENET_BACKEND"""
    name = backend if backend is not None else os.environ.get("BARENET_BACKEND", "auto")
    if not isinstance(name, str) or name.strip().lower() not in BACKENDS:
        source = "backend" if backend is not None else "BARENET_BACKEND"
        raise ValueError(f"{source} must be one of {', '.join(BACKENDS)}; got {name!r}")
    return name.strip().lower()


def resolve(backend=None):
    """'compiled' or 'numpy' for the requested backend, raising or warning as documented"""
    name = requested(backend)
    if name == "numpy":
        return "numpy"
    error = _try_compiled()
    if error is None:
        return "compiled"
    kind, reason = error
    if name == "compiled":
        raise ImportError(f"barenet: the compiled backend was requested but {reason}. "
                          "Reinstall barenet with a C compiler available, or use "
                          "backend='numpy' / BARENET_BACKEND=numpy.")
    if kind == "broken":
        warnings.warn(f"barenet: falling back to the NumPy backend because {reason}",
                      RuntimeWarning, stacklevel=3)
    return "numpy"


def backend_class(backend=None):
    """the Backend class implementing the resolved backend"""
    if resolve(backend) == "compiled":
        from ._compiled_backend import Backend
    else:
        from ._numpy_backend import Backend
    return Backend


def _reset():
    """forget the import check (tests that simulate a missing extension use this)"""
    global _compiled_error, _compiled_checked
    _compiled_error, _compiled_checked = None, False
