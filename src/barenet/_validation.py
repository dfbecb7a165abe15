"""Validation of everything a user hands to barenet, in one place, before any C runs.
Each check returns the value converted once (C-contiguous arrays in the network's dtype,
plain ints and floats) or raises TypeError/ValueError naming the argument and what was
expected. The C core trusts what comes out of here."""

import math
import numbers
import operator
from typing import Any, Optional

import numpy as np

MAX_PARAMS = 2**62  # parameter counts and offsets are int64 in C
# no process can address more (x86-64's and arm64's user address space with 4-level paging):
# a network whose parameter buffer alone would be larger is refused before allocating
MAX_PARAM_BYTES = 2**47
MAX_SEED = 2**64 - 1  # seeds reach C as uint64
MAX_STEP = 2**62  # epoch and step counters are int64 in C

DTYPES: dict[str, np.dtype] = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}


def check_dtype(dtype: Any, name: str = "dtype") -> np.dtype:
    """'float32' or 'float64' (names, NumPy dtypes or scalar types) -> the native np.dtype.
    This is the one place a network's dtype is checked. A byte order spelled out is
    accepted when it is the machine's own ('<f8' on a little-endian machine is float64);
    the other byte order ('>f8' there) is refused: the C core reads native floats only.
    (Arrays given to barenet in the other byte order are fine: they are converted on the
    way in, like any other dtype.)"""
    try:
        dt = np.dtype(dtype)
    except Exception:  # TypeError, but also SyntaxError for strings such as ","
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise ValueError(f"{name} must be 'float32' or 'float64'; got {dtype!r}")
    if not dt.isnative:
        raise ValueError(f"{name} must be 'float32' or 'float64' in the machine's byte order; "
                         f"got {dtype!r} ({'big' if dt.byteorder == '>' else 'little'}-endian "
                         f"{dt.name}): pass {dt.name!r}")
    return DTYPES[dt.name]


def check_int(value: Any, name: str, minimum: Optional[int] = None,
              maximum: Optional[int] = None) -> int:
    """an integer (not a bool, not a float) in [minimum, maximum] -> int"""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}")
    value = operator.index(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}; got {value}")
    return value


def check_finite_float(value: Any, name: str) -> float:
    """a finite real number -> float"""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    return value


def check_positive_float(value: Any, name: str) -> float:
    """a finite real number > 0 -> float"""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return value


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def check_layer_sizes(layer_sizes):
    """at least two positive integer widths -> tuple of ints"""
    if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__iter__"):
        raise TypeError("layer_sizes must be a sequence of integers such as [2, 4, 1]; "
                        f"got {layer_sizes!r}")
    sizes = list(layer_sizes)
    if len(sizes) < 2:
        raise ValueError("layer_sizes needs at least 2 entries (inputs and outputs); "
                         f"got {sizes!r}")
    out = []
    for i, s in enumerate(sizes):
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral):
            raise TypeError(f"layer_sizes[{i}] must be an integer; got {s!r}")
        if s < 1:
            raise ValueError(f"layer_sizes[{i}] must be >= 1; got {s}")
        out.append(int(s))
    n_params = sum(a * b + b for a, b in zip(out[:-1], out[1:]))
    if n_params > MAX_PARAMS:
        raise ValueError(f"layer_sizes {out} need {n_params} parameters; barenet handles at "
                         f"most {MAX_PARAMS} (2**62)")
    return tuple(out)


def _as_numeric_array(value, name):
    if hasattr(value, "toarray") and hasattr(value, "nnz"):
        # sparse X reaches here only where no first Dense layer reads it (network.py routes
        # the others to _sparse); y, sample_weight and the rest are always dense
        raise TypeError(f"{name} is a sparse matrix; pass a dense array here (a scipy.sparse "
                        "X is taken only by a model whose input a first Dense layer reads)")
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise TypeError(f"{name} must be array-like of numbers; {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers (bool, int or float); "
                        f"got dtype {arr.dtype}")
    return arr


_SCAN: list = []  # [the compiled core's first_nonfinite, or None] once looked up


def _first_nonfinite():
    """barenet._core.first_nonfinite (one vectorised pass in C, no temporary), or None in a
    pure NumPy install; imported on first use"""
    if not _SCAN:
        try:
            from ._core import first_nonfinite
        except ImportError:
            first_nonfinite = None
        _SCAN.append(first_nonfinite)
    return _SCAN[0]


def _finite(arr, name):
    """NaN/inf check: C-contiguous float32/float64 in one pass of the compiled core's
    scan, else in NumPy slices of about a million values, so a large X needs no
    full-size boolean temporary"""
    if arr.dtype.kind != "f" or arr.size == 0:
        return
    scan = _first_nonfinite()
    if (scan is not None and arr.dtype in (np.float32, np.float64)
            and arr.flags.c_contiguous and arr.dtype.isnative):
        at = scan(arr.reshape(1, -1))
        if at >= 0:
            where = np.unravel_index(at, arr.shape or (1,))
            raise ValueError(f"{name} contains NaN or infinity (first at index "
                             f"{tuple(int(i) for i in where)[:arr.ndim]})")
        return
    rows = arr.reshape(len(arr), -1) if arr.ndim else arr.reshape(1, 1)
    step = max(1, (1 << 20) // rows.shape[1])
    for start in range(0, len(rows), step):
        bad = ~np.isfinite(rows[start:start + step])
        if bad.any():
            where = np.unravel_index(start * rows.shape[1] + int(np.argmax(bad)),
                                     arr.shape or (1,))
            raise ValueError(f"{name} contains NaN or infinity (first at index "
                             f"{tuple(int(i) for i in where)[:arr.ndim]})")


def check_param_values(value, shape, dtype, name):
    """Parameter values written into a network (set_params, weights[i] = ..., biases[i] =
    ..., the estimators' coefs_/intercepts_, loss_and_grad's params): real numbers of
    exactly `shape`, finite, and finite in dtype too (float64 values beyond float32's
    range would become infinity) -> a new C-contiguous array of dtype. One check for
    every path that writes parameters."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} must be an array of real numbers of shape {tuple(shape)}; "
                         f"{exc}") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}; got {arr.shape}")
    dtype = np.dtype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.array(arr, dtype=dtype, order="C")
    bad = ~np.isfinite(out)
    if bad.any():
        at = np.unravel_index(int(np.argmax(bad)), out.shape) if out.ndim else ()
        where = tuple(int(i) for i in at)
        value = arr[where].item()
        if arr.dtype.kind == "f" and not np.isfinite(value):
            got = f"{value} at index {where}"
        else:
            got = (f"{value!r} at index {where}, beyond {dtype.name}'s largest magnitude "
                   f"{np.finfo(dtype).max:.7g}")
        raise ValueError(f"{name} must hold finite real numbers that fit {dtype.name}; got "
                         f"{got}")
    return out


def check_X(X, dtype, n_features=None, name="X"):
    """2-D finite numbers, at least one row -> C-contiguous array of dtype"""
    arr = _as_numeric_array(X, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got shape {arr.shape}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name} must have at least one row; got shape {arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} columns (the network's input "
                         f"size); got shape {arr.shape}")
    _finite(arr, name)
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(arr, dtype=dtype)
    _finite(out, name)  # float64 values beyond float32's range become inf
    return out


def check_X_shaped(X, dtype, input_shape, first_layer=None, name="X"):
    """rows of a model's input: (n, *input_shape), or (n, prod(input_shape)) flattened in
    C order -> C-contiguous (n, prod(input_shape)) array of dtype"""
    input_shape = tuple(input_shape)
    size = int(np.prod(input_shape))
    if len(input_shape) == 1:
        return check_X(X, dtype, n_features=size, name=name)
    arr = _as_numeric_array(X, name)
    if not (arr.ndim == 2 and arr.shape[1] == size
            or arr.ndim == 1 + len(input_shape) and arr.shape[1:] == input_shape):
        shape = ", ".join(map(str, input_shape))
        where = f", the input of {first_layer!r}" if first_layer is not None else ""
        raise ValueError(f"{name} must have shape (n, {shape}) or (n, {size}){where}; got "
                         f"shape {arr.shape}")
    return check_X(arr.reshape(arr.shape[0], size), dtype, n_features=size, name=name)


def check_y_binary(y, n_rows, n_outputs, dtype, name="y"):
    """targets for sigmoid + binary cross-entropy: shape (n_rows, n_outputs), or (n_rows,)
    for a single output, values in [0, 1] -> C-contiguous (n_rows, n_outputs) array"""
    out = check_y_regression(y, n_rows, n_outputs, dtype, name)
    if out.size and (out.min() < 0 or out.max() > 1):
        raise ValueError(f"{name} must hold targets in [0, 1] for binary cross-entropy; got "
                         f"values from {out.min()} to {out.max()}")
    return out


def check_nonnegative_float(value, name):
    """a finite real number >= 0 -> float"""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return value


def check_rate(value, name):
    """a probability in [0, 1) -> float"""
    value = check_nonnegative_float(value, name)
    if value >= 1:
        raise ValueError(f"{name} must be in [0, 1); got {value!r}")
    return value


def check_choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_y_regression(y, n_rows, n_outputs, dtype, name="y"):
    """real targets of shape (n_rows, n_outputs), or (n_rows,) for one output"""
    arr = _as_numeric_array(y, name)
    if arr.ndim == 1 and n_outputs == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape != (n_rows, n_outputs):
        expected = f"({n_rows}, {n_outputs})" + (f" or ({n_rows},)" if n_outputs == 1 else "")
        raise ValueError(f"{name} must have shape {expected} to match X's rows and the "
                         f"network's {n_outputs} output(s); got shape {arr.shape}")
    _finite(arr, name)
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(arr, dtype=dtype)
    _finite(out, name)
    return out


def check_y_categorical(y, n_rows, n_classes, dtype, name="y"):
    """class labels (n_rows,) of integers in [0, n_classes), or (n_rows, n_classes) rows
    of probabilities summing to 1 (one-hot) -> C-contiguous one-hot/probability matrix"""
    arr = _as_numeric_array(y, name)
    if arr.ndim == 2 and arr.shape[1] == 1 and n_classes > 1:
        arr = arr.ravel()
    if arr.ndim == 1:
        if arr.shape[0] != n_rows:
            raise ValueError(f"{name} must have {n_rows} labels to match X's rows; got shape "
                             f"{arr.shape}")
        _finite(arr, name)
        if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
            raise ValueError(f"{name} holds class labels, which must be integers in "
                             f"[0, {n_classes}); got non-integer values")
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise ValueError(f"{name} labels must be in [0, {n_classes}) for {n_classes} "
                             f"outputs; got values from {arr.min()} to {arr.max()}")
        out = np.zeros((n_rows, n_classes), dtype=dtype)
        out[np.arange(n_rows), arr.astype(np.int64)] = 1
        return out
    if arr.ndim != 2 or arr.shape != (n_rows, n_classes):
        raise ValueError(f"{name} must be integer labels of shape ({n_rows},) or one-hot "
                         f"rows of shape ({n_rows}, {n_classes}); got shape {arr.shape}")
    _finite(arr, name)
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"{name} rows must be probabilities in [0, 1] (one-hot); got values "
                         f"from {arr.min()} to {arr.max()}")
    sums = arr.sum(axis=1, dtype=np.float64)
    if not np.allclose(sums, 1.0, rtol=0, atol=1e-6 * max(n_classes, 1)):
        bad = int(np.argmax(np.abs(sums - 1)))
        raise ValueError(f"{name} rows must sum to 1 for cross-entropy (one-hot or "
                         f"probabilities); row {bad} sums to {sums[bad]}")
    return np.ascontiguousarray(arr, dtype=dtype)


def check_class_ids(y, shape, n_classes, dtype, name="y"):
    """class ids of the given shape ((n_rows,) or (n_rows, T)), integers in [0, n_classes)
    -> C-contiguous array of dtype; (n_rows, 1) is taken for (n_rows,)"""
    arr = _as_numeric_array(y, name)
    if arr.ndim == 2 and arr.shape[1] == 1 and len(shape) == 1:
        arr = arr.ravel()
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must hold integer class ids of shape {tuple(shape)}; got "
                         f"shape {arr.shape}")
    _finite(arr, name)
    if arr.dtype.kind == "f" and not np.array_equal(arr, np.round(arr)):
        raise ValueError(f"{name} holds class ids, which must be integers in [0, {n_classes}); "
                         "got non-integer values")
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(f"{name} class ids must be in [0, {n_classes}) for {n_classes} "
                         f"outputs; got values from {arr.min()} to {arr.max()}")
    return np.ascontiguousarray(arr, dtype=dtype)


def check_sample_weight(sample_weight, n_rows, dtype, name="sample_weight"):
    """None, or per-row weights: shape (n_rows,), finite, >= 0 -> C-contiguous array"""
    if sample_weight is None:
        return None
    arr = _as_numeric_array(sample_weight, name)
    if arr.shape != (n_rows,):
        raise ValueError(f"{name} must have shape ({n_rows},), one weight per row of X; got "
                         f"shape {arr.shape}")
    _finite(arr, name)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be >= 0; got a minimum of {arr.min()}")
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(arr, dtype=dtype)
    _finite(out, name)  # float64 weights beyond float32's range become inf
    return out
