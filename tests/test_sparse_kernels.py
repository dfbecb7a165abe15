"""The CSR x dense kernels (csrc/sparse.h through barenet._core) and their NumPy/scipy
reference (barenet._sparse) against dense NumPy products of X.toarray(), in float32 and
float64: NB, IN, OUT of 1, OUT 10 and 256, empty rows, all-zero columns, an empty batch,
repeated rows, rows=None, every elementwise activation, z kept or not, no bias; 1 vs 2
threads bit for bit; and check_sparse_X's conversions and errors.

Tolerance, per element (as tests/test_gemm.py): |Z - Z_ref| <= 2 (k + 2) eps (|X| @ |W| +
|bias|), k the number of terms summed (entries of a row for Z, batch rows for dW), eps the
dtype's machine epsilon, Z_ref computed in float64. Activations are compared with their
NumPy forms (barenet._activations) applied to the kernel's own z, within 16 eps."""

import platform
import subprocess
import sys

import numpy as np
import pytest

sp = pytest.importorskip("scipy.sparse")

import barenet
from barenet import _activations, _sparse
from conftest import compiled_available, require_compiled

DTYPES = (np.float32, np.float64)
ACTS = tuple(range(7))  # identity .. gelu, and softmax (acts as the identity in the kernel)
# (n_rows of X, IN, OUT, NB)
SHAPES = ((1, 1, 1, 1), (6, 1, 3, 4), (20, 13, 1, 1), (40, 30, 10, 17), (60, 300, 256, 64),
          (150, 500, 33, 128))
# the scipy reference sums in C's order; on x86-64 nothing fuses a multiply-add, so the bits
# agree (elsewhere a compiler may contract to FMA: then only the tolerance applies)
SAME_BITS = platform.machine().lower() in ("x86_64", "amd64")


@pytest.fixture
def core():
    if not compiled_available():
        require_compiled()
    from barenet import _core
    return _core


def random_csr(n_rows, n_cols, density, seed, dtype=np.float64):
    """a CSR matrix with its first row (and about a fifth of the others) empty and its first
    column (and about a fifth of the others) all zero"""
    r = np.random.default_rng(seed)
    dense = r.standard_normal((n_rows, n_cols)) * (r.random((n_rows, n_cols)) < density)
    dense[r.random(n_rows) < 0.2] = 0
    dense[0] = 0
    dense[:, r.random(n_cols) < 0.2] = 0
    dense[:, 0] = 0
    return sp.csr_matrix(dense.astype(dtype))


def batch_rows(n_rows, nb, seed):
    """nb shuffled row numbers, with a repeat when there is room for one"""
    rows = np.random.default_rng(seed).integers(0, n_rows, nb)
    if nb > 1:
        rows[-1] = rows[0]
    return rows.astype(np.int64)


def bound(absx, absw, k, dtype, absb=0):
    return 2 * (k + 2) * np.finfo(dtype).eps * (absx @ absw + absb) + np.finfo(dtype).tiny


def dense_forward(X, rows, w, bias):
    """(X[rows] @ w + bias in float64, the error bound for it)"""
    xb = X.toarray().astype(np.float64)
    xb = xb if rows is None else xb[rows]
    k = max(int((xb != 0).sum(axis=1).max(initial=0)), 1)
    absb = 0 if bias is None else np.abs(bias.astype(np.float64))
    ref = xb @ w.astype(np.float64) + (0 if bias is None else bias.astype(np.float64))
    return ref, bound(np.abs(xb), np.abs(w.astype(np.float64)), k, w.dtype, absb)


def dense_dw(X, rows, dz):
    xb = X.toarray().astype(np.float64)
    xb = xb if rows is None else xb[rows]
    ref = xb.T @ dz.astype(np.float64)
    return ref, bound(np.abs(xb.T), np.abs(dz.astype(np.float64)), len(xb), dz.dtype)


def forward(core, C, rows, w, bias, act, keep_z):
    """the compiled forward into NaN-filled outputs"""
    nb = C.shape[0] if rows is None else len(rows)
    a = np.full((nb, w.shape[1]), np.nan, w.dtype)
    z = np.full_like(a, np.nan) if keep_z else None
    core.csr_dense_bias_act(C.indptr, C.indices, C.data, rows, w, bias, act, a, z)
    return a, z


def t_dense(core, C, rows, dz, n_in):
    dw = np.full((n_in, dz.shape[1]), np.nan, dz.dtype)
    core.csr_t_dense(C.indptr, C.indices, C.data, rows, dz, dw)
    return dw


def operands(shape, dtype, seed):
    n_rows, n_in, n_out, nb = shape
    X = random_csr(n_rows, n_in, 0.3 if n_in < 50 else 0.03, seed, dtype)
    C = _sparse.check_sparse_X(X, dtype)
    r = np.random.default_rng(seed + 1)
    w = r.standard_normal((n_in, n_out)).astype(dtype)
    bias = r.standard_normal(n_out).astype(dtype)
    dz = r.standard_normal((nb, n_out)).astype(dtype)
    return X, C, w, bias, dz, batch_rows(n_rows, nb, seed + 2)


def first_rows(C, nb):
    """the first nb rows of C (what the kernels read when rows is None)"""
    return _sparse.CSR(C.indptr[:nb + 1], C.indices, C.data, (nb, C.shape[1]))


def check_act(a, z, act):
    expected = _activations.FORWARD[act](z) if act != _activations.SOFTMAX else z
    eps = np.finfo(a.dtype).eps
    np.testing.assert_allclose(a, expected, rtol=16 * eps, atol=16 * eps)


# ---- the compiled kernels against dense NumPy --------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_dense(core, shape, dtype):
    X, C, w, bias, _, shuffled = operands(shape, dtype, seed=sum(shape))
    for rows in (shuffled, None):
        Cn, rows_used = C, rows
        if rows is None:                            # rows 0..NB-1 of X: NB rows of indptr
            nb = min(shape[3], shape[0])
            Cn, rows_used = first_rows(C, nb), np.arange(nb)
        for b in (bias, None):
            ref, tol = dense_forward(X, rows_used, w, b)
            # every activation once; the other combinations with two (time: gelu's reference)
            acts = ACTS if rows is not None and b is not None else (0, 4)
            for act in acts:
                a, z = forward(core, Cn, rows, w, b, act, keep_z=True)
                err = np.abs(z - ref)
                assert np.all(err <= tol), f"act {act}: z off by {err.max()}"
                check_act(a, z, act)
                a_only, _ = forward(core, Cn, rows, w, b, act, keep_z=False)
                np.testing.assert_array_equal(a_only, a)  # z=NULL changes nothing else


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_dw_matches_dense(core, shape, dtype):
    X, C, _, _, dz, shuffled = operands(shape, dtype, seed=sum(shape) + 7)
    n_rows, n_in, _, nb = shape
    for rows in (shuffled, None):
        Cn, rows_used, dzn = C, rows, dz
        if rows is None:                            # rows 0..NB-1 of X: NB rows of indptr
            Cn, rows_used = first_rows(C, min(nb, n_rows)), np.arange(min(nb, n_rows))
            dzn = dz[:len(rows_used)]
        dw = t_dense(core, Cn, rows, dzn, n_in)
        ref, tol = dense_dw(X, rows_used, dzn)
        assert np.all(np.abs(dw - ref) <= tol), f"dw off by {np.abs(dw - ref).max()}"
        absent = np.ones(n_in, bool)
        absent[X[rows_used].indices] = False
        assert absent[0]                            # the all-zero column
        assert np.all(dw[absent] == 0)              # overwritten (they were NaN), exactly 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_batch_and_empty_matrix(core, dtype):
    X = random_csr(30, 12, 0.3, 3, dtype)
    C = _sparse.check_sparse_X(X, dtype)
    empty = np.flatnonzero(np.diff(C.indptr) == 0)
    rows = np.repeat(empty, 2)[:5]
    r = np.random.default_rng(4)
    w = r.standard_normal((12, 6)).astype(dtype)
    bias = r.standard_normal(6).astype(dtype)
    dz = r.standard_normal((len(rows), 6)).astype(dtype)
    for C_, rows_ in ((C, rows), (_sparse.check_sparse_X(sp.csr_matrix((30, 12), dtype=dtype),
                                                         dtype), None)):
        nb = len(rows) if rows_ is not None else 30
        dzn = dz if rows_ is not None else r.standard_normal((nb, 6)).astype(dtype)
        a, z = forward(core, C_, rows_, w, bias, _activations.TANH, keep_z=True)
        np.testing.assert_array_equal(z, np.broadcast_to(bias, (nb, 6)))
        check_act(a, z, _activations.TANH)
        a, _ = forward(core, C_, rows_, w, None, _activations.SIGMOID, keep_z=False)
        np.testing.assert_array_equal(a, np.full((nb, 6), 0.5, dtype))
        np.testing.assert_array_equal(t_dense(core, C_, rows_, dzn, 12), np.zeros((12, 6)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_contiguous_batch_by_offset(core, dtype):
    """rows=None with indptr[start:start + NB + 1] is the batch of rows start..start+NB-1
    (indptr holds absolute offsets into indices and data), equal to passing those rows"""
    X, C, w, bias, dz, _ = operands((50, 40, 10, 12), dtype, seed=21)
    start, nb = 17, 12
    rows = np.arange(start, start + nb, dtype=np.int64)
    sliced = _sparse.CSR(C.indptr[start:start + nb + 1], C.indices, C.data, (nb, 40))
    for act in (0, 2):
        np.testing.assert_array_equal(forward(core, sliced, None, w, bias, act, True)[1],
                                      forward(core, C, rows, w, bias, act, True)[1])
    np.testing.assert_array_equal(t_dense(core, sliced, None, dz, 40),
                                  t_dense(core, C, rows, dz, 40))


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_bit_identical(core, dtype):
    """large enough for a team in both kernels (the gradient's zeroing, 6000 x 256, is what
    makes its team pay); rows of very different lengths (the forward splits the batch by
    entries)"""
    r = np.random.default_rng(5)
    X = random_csr(400, 6000, 0.003, 6, dtype).tolil()
    X[3, :1500] = r.standard_normal(1500)          # one long row, in the batch twice
    X = X.tocsr()
    C = _sparse.check_sparse_X(X, dtype)
    rows = np.concatenate(([3], r.integers(0, 400, 254), [3])).astype(np.int64)
    w = r.standard_normal((6000, 256)).astype(dtype)
    bias = r.standard_normal(256).astype(dtype)
    dz = r.standard_normal((len(rows), 256)).astype(dtype)
    results = []
    try:
        for threads in (1, 2):
            barenet.set_num_threads(threads)
            a, z = forward(core, C, rows, w, bias, _activations.GELU, keep_z=True)
            results.append((a, z, t_dense(core, C, rows, dz, 6000)))
    finally:
        barenet.set_num_threads(None)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", DTYPES)
def test_reference_equals_kernels(core, dtype):
    X, C, w, bias, dz, rows = operands((80, 200, 37, 50), dtype, seed=11)
    for act in ACTS:
        a, z = forward(core, C, rows, w, bias, act, keep_z=True)
        ra, rz = _sparse.csr_dense_bias_act(C, rows, w, bias, act)
        assert ra.dtype == rz.dtype == dtype
        ref, tol = dense_forward(X, rows, w, bias)
        assert np.all(np.abs(rz - z) <= tol)
        if SAME_BITS:
            np.testing.assert_array_equal(rz, z)
        check_act(ra, z, act)
    dw = t_dense(core, C, rows, dz, 200)
    rdw = _sparse.csr_t_dense(C, rows, dz)
    assert rdw.dtype == dtype
    ref, tol = dense_dw(X, rows, dz)
    assert np.all(np.abs(rdw - dw) <= tol)
    if SAME_BITS:
        np.testing.assert_array_equal(rdw, dw)


# ---- the reference alone (runs without the compiled core) ---------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_reference_matches_dense(shape, dtype):
    X, C, w, bias, dz, rows = operands(shape, dtype, seed=sum(shape) + 3)
    for b in (bias, None):
        a, z = _sparse.csr_dense_bias_act(C, rows, w, b, _activations.RELU)
        ref, tol = dense_forward(X, rows, w, b)
        assert np.all(np.abs(z - ref) <= tol)
        np.testing.assert_array_equal(a, np.maximum(z, 0))
    dw = _sparse.csr_t_dense(C, rows, dz)
    ref, tol = dense_dw(X, rows, dz)
    assert np.all(np.abs(dw - ref) <= tol)
    all_z = _sparse.csr_dense_bias_act(C, None, w)[1]
    ref, tol = dense_forward(X, None, w, None)
    assert all_z.shape == (shape[0], shape[2]) and np.all(np.abs(all_z - ref) <= tol)


# ---- check_sparse_X, check_rows, is_sparse -------------------------------------------------

def test_canonical_float64_csr_is_not_copied():
    X = random_csr(20, 9, 0.4, 1)
    X.indptr, X.indices = X.indptr.astype(np.int64), X.indices.astype(np.int64)
    C = _sparse.check_sparse_X(X, np.float64, n_features=9)
    assert C.data is X.data and C.indices is X.indices and C.indptr is X.indptr
    assert C.shape == (20, 9) and isinstance(C.shape[0], int)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["csr_matrix", "csr_array", "csc_matrix", "csc_array"])
def test_formats_converted(kind, dtype):
    dense = random_csr(15, 8, 0.4, 2).toarray()
    C = _sparse.check_sparse_X(getattr(sp, kind)(dense), dtype)
    assert C.indptr.dtype == C.indices.dtype == np.int64 and C.data.dtype == dtype
    assert all(arr.flags.c_contiguous for arr in C[:3])
    np.testing.assert_array_equal(_sparse.batch(C).toarray(), dense.astype(dtype))


@pytest.mark.parametrize("kind", ["coo_matrix", "coo_array", "lil_matrix", "dok_matrix",
                                  "bsr_matrix", "dia_matrix"])
def test_other_formats_rejected(kind):
    X = getattr(sp, kind)(np.eye(4))
    with pytest.raises(TypeError, match=r"X\.tocsr\(\)"):
        _sparse.check_sparse_X(X, np.float64)


def test_not_sparse_rejected():
    with pytest.raises(TypeError, match="scipy.sparse CSR or CSC"):
        _sparse.check_sparse_X(np.eye(3), np.float64)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_rejected(bad):
    X = sp.csr_matrix(np.array([[0, 1.0, 0], [2.0, 0, bad]]))
    with pytest.raises(ValueError, match=r"X_val contains NaN or infinity \(first at index "
                                         r"\(1, 2\)\)"):
        _sparse.check_sparse_X(X, np.float64, name="X_val")


def test_float32_overflow_rejected():
    X = sp.csr_matrix(np.array([[0, 1e300]]))
    _sparse.check_sparse_X(X, np.float64)
    with pytest.raises(ValueError, match="NaN or infinity"):
        _sparse.check_sparse_X(X, np.float32)


def test_shape_errors_match_dense_wording():
    X = sp.csr_matrix(np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"X must have 7 columns \(the network's input size\); "
                                         r"got shape \(3, 5\)"):
        _sparse.check_sparse_X(X, np.float64, n_features=7)
    with pytest.raises(ValueError, match="at least one row"):
        _sparse.check_sparse_X(sp.csr_matrix((0, 5)), np.float64)


@pytest.mark.parametrize("data_dtype", [np.int8, np.int64, np.uint16, np.bool_])
def test_integer_and_bool_data_accepted(data_dtype):
    dense = np.array([[0, 1, 0], [1, 0, 1]], dtype=data_dtype)
    C = _sparse.check_sparse_X(sp.csr_matrix(dense), np.float32)
    assert C.data.dtype == np.float32
    np.testing.assert_array_equal(_sparse.batch(C).toarray(), dense.astype(np.float32))


def test_complex_data_rejected():
    with pytest.raises(TypeError, match="real numbers"):
        _sparse.check_sparse_X(sp.csr_matrix(np.array([[1j, 0]])), np.float64)


def test_duplicates_summed_in_dtype_and_input_untouched():
    # row 0 holds column 1 three times (100 each: their sum overflows int8) and column 0
    data = np.array([100, 100, 5, 100, 7], dtype=np.int8)
    indices = np.array([1, 1, 0, 1, 2])
    indptr = np.array([0, 4, 5])
    X = sp.csr_matrix((data, indices, indptr), shape=(2, 3))
    C = _sparse.check_sparse_X(X, np.float64)
    np.testing.assert_array_equal(_sparse.batch(C).toarray(), [[5, 300, 0], [0, 0, 7]])
    assert np.diff(C.indptr).tolist() == [2, 1]
    assert X.nnz == 5 and X.data.tolist() == [100, 100, 5, 100, 7]   # the user's matrix


def test_unsorted_indices_accepted(core):
    indices = np.array([3, 0, 2, 1, 3, 0])
    data = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    X = sp.csr_matrix((data, indices, np.array([0, 3, 3, 6])), shape=(3, 4))
    assert not X.has_sorted_indices
    C = _sparse.check_sparse_X(X, np.float64)
    np.testing.assert_array_equal(_sparse.batch(C).toarray(), X.toarray())
    w = np.arange(8.0).reshape(4, 2)
    a, _ = forward(core, C, None, w, None, _activations.IDENTITY, keep_z=False)
    np.testing.assert_allclose(a, X.toarray() @ w)


def test_invalid_structure_rejected():
    out_of_range = sp.csr_matrix((np.ones(2), np.array([0, 5]), np.array([0, 1, 2])),
                                 shape=(2, 3))
    with pytest.raises(ValueError, match="not a valid CSR matrix: indices range"):
        _sparse.check_sparse_X(out_of_range, np.float64)
    X = sp.csr_matrix(np.eye(3))
    X.indptr = np.array([0, 2, 1, 3], dtype=X.indptr.dtype)
    with pytest.raises(ValueError, match="indptr decreases"):
        _sparse.check_sparse_X(X, np.float64)


def test_check_rows():
    assert _sparse.check_rows(None, 5) is None
    out = _sparse.check_rows([4, 0, 4], 5)
    assert out.dtype == np.int64 and out.tolist() == [4, 0, 4]
    with pytest.raises(ValueError, match=r"in \[0, 5\)"):
        _sparse.check_rows([5], 5)
    with pytest.raises(ValueError, match="row numbers"):
        _sparse.check_rows(np.array([0.0]), 5)


def test_is_sparse_does_not_import_scipy():
    assert _sparse.is_sparse(sp.coo_matrix(np.eye(2))) and _sparse.is_sparse(sp.csr_array((1, 1)))
    assert not _sparse.is_sparse(np.eye(2)) and not _sparse.is_sparse([[1.0]])
    code = ("import sys, numpy as np; from barenet import _sparse; "
            "assert not _sparse.is_sparse(np.eye(2)); "
            "assert 'scipy' not in sys.modules, sorted(m for m in sys.modules if 'scipy' in m)")
    subprocess.run([sys.executable, "-c", code], check=True)
