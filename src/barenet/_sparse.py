"""Sparse input for the first layer: scipy.sparse CSR matrices (CSC converted once) checked
and brought to the form the C kernels of csrc/sparse.h take, and the NumPy/scipy reference
of those two kernels (the same names without bn_), which the NumPy backend runs.
scipy is imported only once an input is sparse; barenet does not need it otherwise.
The compiled kernels are barenet._core.csr_dense_bias_act / csr_t_dense; they trust what
check_sparse_X and check_rows return (C checks nothing)."""

import sys
from typing import NamedTuple

import numpy as np

from . import _activations

FORMATS = ("csr", "csc")


class CSR(NamedTuple):
    """A checked CSR matrix, as the C kernels take it:
    indptr  (n_rows + 1,) int64: starts at 0, non-decreasing, ends at nnz;
    indices (nnz,) int64: columns in [0, n_cols), each at most once per row (any order);
    data    (nnz,) float32 or float64: finite; row r's entries are [indptr[r], indptr[r+1]);
    shape   (n_rows, n_cols) as Python ints.
    All three arrays are C-contiguous; they may be the user's own arrays (not copied)."""
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple


def is_sparse(X):
    """True for a scipy.sparse matrix or array of any format. Never imports scipy: an
    object of scipy.sparse's classes cannot exist unless scipy.sparse is imported."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and bool(sparse.issparse(X))


def _check_structure(indptr, indices, n_data, n_major, n_minor, name, fmt):
    """indptr/indices of a CSR (or CSC) matrix index nothing out of range: scipy checks only
    their lengths and dtypes when a matrix is built from arrays, and C trusts them"""
    what = "rows" if fmt == "csr" else "columns"
    bad = None
    if indptr.ndim != 1 or indptr.shape[0] != n_major + 1:
        bad = f"indptr has shape {indptr.shape}, expected ({n_major + 1},)"
    elif indptr[0] != 0:
        bad = f"indptr starts at {indptr[0]}, not 0"
    elif n_major and np.any(indptr[1:] < indptr[:-1]):
        bad = f"indptr decreases (its {what} would have negative lengths)"
    elif indptr[-1] > min(indices.shape[0], n_data):
        bad = (f"indptr ends at {indptr[-1]}, beyond the {indices.shape[0]} indices or "
               f"{n_data} values stored")
    else:
        used = indices[:int(indptr[-1])]
        if used.size and (used.min() < 0 or used.max() >= n_minor):
            bad = f"indices range from {used.min()} to {used.max()}, outside [0, {n_minor})"
    if bad:
        raise ValueError(f"{name} is not a valid {fmt.upper()} matrix: {bad}")


def _first_nonfinite(indptr, indices, data):
    """(row, column) of the first entry of data that is NaN or infinite, or None"""
    if data.dtype.kind != "f":
        return None
    bad = ~np.isfinite(data)
    if not bad.any():
        return None
    k = int(np.argmax(bad))
    return int(np.searchsorted(indptr, k, side="right")) - 1, int(indices[k])


def check_sparse_X(X, dtype, n_features=None, name="X"):
    """a scipy.sparse CSR or CSC matrix or array (CSC is converted to CSR once) with at least
    one row and finite values -> CSR(indptr, indices, data, shape) with data in dtype
    (float32 or float64; bool and int data are converted), int64 indptr and indices, and
    duplicate entries summed. A canonical CSR matrix (sorted, no duplicates) already in
    dtype with int64 indices is not copied: the result holds its arrays. Other matrices are
    copied once; the user's matrix is never modified."""
    import scipy.sparse as sp  # the caller has seen a sparse input, so scipy is there

    dtype = np.dtype(dtype)
    if not sp.issparse(X):
        raise TypeError(f"{name} must be a scipy.sparse CSR or CSC matrix; got "
                        f"{type(X).__name__}")
    fmt = X.format
    if fmt not in FORMATS:
        raise TypeError(f"{name} is a sparse matrix in {fmt.upper()} format; barenet takes "
                        f"CSR (or CSC): convert it with {name}.tocsr()")
    if len(X.shape) != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got shape {X.shape}")
    n_rows, n_cols = (int(s) for s in X.shape)
    if n_rows < 1:
        raise ValueError(f"{name} must have at least one row; got shape {X.shape}")
    if n_features is not None and n_cols != n_features:
        raise ValueError(f"{name} must have {n_features} columns (the network's input "
                         f"size); got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers (bool, int or float); got dtype "
                        f"{X.dtype}")
    major, minor = (n_rows, n_cols) if fmt == "csr" else (n_cols, n_rows)
    _check_structure(np.asarray(X.indptr), np.asarray(X.indices), len(X.data), major, minor,
                     name, fmt)
    if fmt == "csc":
        X = X.tocsr()
    canonical = bool(X.has_canonical_format)
    nnz = int(X.indptr[-1])
    indptr = np.ascontiguousarray(X.indptr, dtype=np.int64)
    indices = np.ascontiguousarray(X.indices[:nnz] if len(X.indices) > nnz else X.indices,
                                   dtype=np.int64)
    data = X.data[:nnz] if len(X.data) > nnz else X.data
    with np.errstate(over="ignore"):
        data = np.ascontiguousarray(data, dtype=dtype)
    if not canonical:
        # sum duplicates in dtype (not in the input's, where int8 or bool sums overflow),
        # in a matrix of our own
        Y = sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols), copy=True)
        Y.sum_duplicates()
        indptr = np.ascontiguousarray(Y.indptr, dtype=np.int64)
        indices = np.ascontiguousarray(Y.indices, dtype=np.int64)
        data = np.ascontiguousarray(Y.data, dtype=dtype)
    where = _first_nonfinite(indptr, indices, data)
    if where is not None:
        raise ValueError(f"{name} contains NaN or infinity (first at index {where})")
    return CSR(indptr, indices, data, (n_rows, n_cols))


def check_rows(rows, n_rows, name="rows"):
    """None (the first rows, in order), or a 1-D array of row numbers in [0, n_rows),
    repeats allowed -> C-contiguous int64 array"""
    if rows is None:
        return None
    arr = np.asarray(rows)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(f"{name} must be a 1-D array of row numbers; got shape {arr.shape} "
                         f"dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_rows):
        raise ValueError(f"{name} must be in [0, {n_rows}); got values from {arr.min()} to "
                         f"{arr.max()}")
    return np.ascontiguousarray(arr, dtype=np.int64)


# ---- the reference of csrc/sparse.h ----------------------------------------------------

def batch(X, rows=None):
    """rows of the CSR X (all of them when rows is None), as a scipy CSR matrix: the
    batch's entries in X's order, so products sum them in the order C does"""
    import scipy.sparse as sp

    if rows is None:
        return sp.csr_matrix((X.data, X.indices, X.indptr), shape=X.shape)
    rows = np.asarray(rows, dtype=np.int64)
    starts, counts = X.indptr[rows], X.indptr[rows + 1] - X.indptr[rows]
    indptr = np.concatenate(([0], np.cumsum(counts)))
    # position in X of each of the batch's entries: its row's start, then 0, 1, 2, ...
    take = np.repeat(starts - indptr[:-1], counts) + np.arange(indptr[-1])
    return sp.csr_matrix((X.data[take], X.indices[take], indptr), shape=(len(rows), X.shape[1]))


def csr_dense_bias_act(X, rows, w, bias=None, act=_activations.IDENTITY):
    """z = X[rows] @ w + bias, a = act(z) -> (a, z). X a CSR from check_sparse_X, w (IN, OUT)
    and bias (OUT,) or None in X's dtype. Softmax (rows) acts as the identity here, as in C:
    the layer applies it."""
    z = np.asarray(batch(X, rows) @ w)
    if bias is not None:
        z = z + np.reshape(bias, -1)
    if act in (_activations.IDENTITY, _activations.SOFTMAX):
        return z.copy(), z
    return _activations.FORWARD[act](z), z


def csr_t_dense(X, rows, dz):
    """dw = X[rows]^T @ dz: (IN, OUT), zero in the rows of features absent from the batch"""
    return np.asarray(batch(X, rows).T @ dz)
