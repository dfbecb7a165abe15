"""barenet's own GEMM (csrc/gemm.c) against numpy.matmul, in float32 and float64: every op
combination, sizes 0, 1 and odd sizes up to 67, a few large ones, leading dimensions larger
than the width, alpha/beta (beta = 0 over a NaN-filled C), both kernels, 1 vs 2 threads bit
for bit, the fused bias + activation, and threadpoolctl limiting barenet's OpenMP pool.

Tolerance, per element: |C - C_ref| <= 2 (k + 2) eps (|alpha| |op(A)| @ |op(B)| + |beta C0|),
eps the dtype's machine epsilon (float32 1.2e-7, float64 2.2e-16), C_ref = numpy.matmul of
the same inputs in float64 (the standard error bound of a k-term dot product, with room for
the reference's own rounding)."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

if os.environ.get("BARENET_BACKEND", "").lower() == "compiled":
    from barenet import _gemm  # the compiled core is required: an import error fails here
else:
    pytest.importorskip("barenet._core")
    from barenet import _gemm

from barenet import _activations

DTYPES = (np.float32, np.float64)
OPS = ((False, False), (True, False), (False, True), (True, True))
SWEEP = (0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 13, 15, 16, 17, 23, 31, 32, 33, 47, 48, 63, 64, 65, 67)
SWEEP_NK = (0, 1, 3, 5, 8, 10, 16, 17, 31, 33, 64, 67)


def rng(seed=0):
    return np.random.default_rng(seed)


def operands(m, n, k, ta, tb, dtype, seed=0):
    r = rng(seed)
    a = r.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = r.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return a, b


def check_close(c, a, b, ta, tb, alpha=1.0, beta=0.0, c0=None):
    """c against alpha op(a) @ op(b) + beta c0 computed in float64, within the stated bound"""
    opa = (a.T if ta else a).astype(np.float64)
    opb = (b.T if tb else b).astype(np.float64)
    ref = alpha * (opa @ opb)
    mag = abs(alpha) * (np.abs(opa) @ np.abs(opb))
    if beta != 0:
        ref = ref + beta * c0.astype(np.float64)
        mag = mag + abs(beta) * np.abs(c0.astype(np.float64))
    k = opa.shape[1]
    eps = np.finfo(c.dtype).eps
    err = np.abs(c.astype(np.float64) - ref)
    bound = 2 * (k + 2) * eps * mag + np.finfo(c.dtype).tiny
    assert np.all(err <= bound), f"max error {err.max()} exceeds bound (k={k})"


@pytest.fixture(params=["avx512", "avx2", "generic"])
def kernel(request):
    """run a test with each kernel forced (avx512 / avx2 are skipped on CPUs without them)"""
    try:
        _gemm.force_kernel(request.param)
    except ValueError:
        pytest.skip(f"kernel {request.param} not supported on this CPU")
    yield request.param
    _gemm.force_kernel(None)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta, tb", OPS)
@pytest.mark.parametrize("m", SWEEP)
def test_sweep(kernel, m, ta, tb, dtype):
    for n in SWEEP_NK:
        for k in SWEEP_NK:
            a, b = operands(m, n, k, ta, tb, dtype, seed=m * 10007 + n * 101 + k)
            c = _gemm.gemm(a, b, trans_a=ta, trans_b=tb)
            assert c.shape == (m, n)
            check_close(c, a, b, ta, tb)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta, tb", OPS)
@pytest.mark.parametrize("shape", [(300, 257, 513), (1000, 10, 128), (129, 10, 900),
                                   (517, 700, 131), (128, 128, 10), (7, 4200, 300),
                                   (131, 75, 1650)])
def test_large(kernel, shape, ta, tb, dtype):
    m, n, k = shape
    a, b = operands(m, n, k, ta, tb, dtype, seed=1)
    check_close(_gemm.gemm(a, b, trans_a=ta, trans_b=tb), a, b, ta, tb)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta, tb", OPS)
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (-0.5, 0.0), (2.5, 1.0), (1.0, -0.7),
                                         (0.0, 0.5), (0.0, 0.0)])
def test_alpha_beta_and_leading_dimensions(kernel, alpha, beta, ta, tb, dtype):
    """operands are slices of bigger arrays (lda/ldb/ldc > width); beta == 0 overwrites NaN;
    the padding of C outside the slice is never touched"""
    r = rng(2)
    for m, n, k in [(37, 10, 29), (67, 45, 66), (5, 1, 3), (130, 33, 70)]:
        sa = (k, m) if ta else (m, k)
        sb = (n, k) if tb else (k, n)
        A = r.standard_normal((sa[0] + 2, sa[1] + 7)).astype(dtype)
        B = r.standard_normal((sb[0] + 1, sb[1] + 5)).astype(dtype)
        C = r.standard_normal((m + 3, n + 9)).astype(dtype)
        if beta == 0:
            C[:m, :n] = np.nan
        a, b = A[1:1 + sa[0], 3:3 + sa[1]], B[:sb[0], 2:2 + sb[1]]
        C0 = C.copy()
        c = C[2:2 + m, 4:4 + n]
        out = _gemm.gemm(a, b, c, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta)
        assert out is c
        assert not np.isnan(c).any()
        check_close(c, a, b, ta, tb, alpha, beta, C0[2:2 + m, 4:4 + n])
        mask = np.ones(C.shape, bool)
        mask[2:2 + m, 4:4 + n] = False
        np.testing.assert_array_equal(C[mask], C0[mask])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta, tb", OPS)
@pytest.mark.parametrize("shape", [(32, 32, 64), (64, 32, 32), (32, 32, 10), (1, 11, 1),
                                   (9, 33, 7), (17, 70, 40), (8, 16, 200), (67, 45, 66),
                                   (32, 10, 32), (13, 1, 9), (40, 7, 64), (5, 17, 3),
                                   (1, 256, 784), (2, 130, 100), (3, 200, 50), (7, 70, 90),
                                   (12, 300, 20), (32, 256, 784), (24, 100, 700),
                                   # deeper than one K block (800 on AVX-512): K in the
                                   # packed path's blocks; N <= 10 stays thin (one chain)
                                   (28, 70, 1700), (32, 33, 801), (8, 16, 2000), (1, 40, 3000),
                                   (5, 100, 1601), (32, 10, 2000), (4, 7, 7000)])
def test_small_products_match_the_packed_path(kernel, shape, ta, tb, dtype):
    """small products (few rows, or few multiply-adds) take the direct kernels where the
    kernel set has them (csrc/gemm.c, direct_run), K deeper than one block in the packed
    path's blocks: the same rows inside a product large enough for the packed path give
    the same bits"""
    m, n, k = shape
    # over BN_PARALLEL_MIN_FLOPS and BN_DIRECT_MAX_ROWS rows (csrc/gemm.c)
    big = max(m, 33, -(-2_100_000 // (2 * n * k)))
    a, b = operands(big, n, k, ta, tb, dtype, seed=5)
    small_a = np.ascontiguousarray(a[:, :m] if ta else a[:m])
    small = _gemm.gemm(small_a, b, trans_a=ta, trans_b=tb)
    check_close(small, small_a, b, ta, tb)
    np.testing.assert_array_equal(small, _gemm.gemm(a, b, trans_a=ta, trans_b=tb)[:m])
    # with alpha and beta: c = alpha acc, then fma(beta, c, that) in every path and edge
    c0 = rng(11).standard_normal((big, n)).astype(dtype)
    small = _gemm.gemm(small_a, b, c0[:m].copy(), trans_a=ta, trans_b=tb, alpha=0.5, beta=1.5)
    whole = _gemm.gemm(a, b, c0.copy(), trans_a=ta, trans_b=tb, alpha=0.5, beta=1.5)
    np.testing.assert_array_equal(small, whole[:m])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta, tb", OPS)
@pytest.mark.parametrize("shape", [(64, 512, 128), (64, 128, 512), (33, 70, 1700),
                                   (100, 33, 801), (200, 300, 40), (64, 10, 128), (8, 64, 64),
                                   (1, 512, 128)])
def test_packed_b_gives_the_same_bits(kernel, shape, ta, tb, dtype):
    """op(B) packed once (bn_?gemm_pack_b, as a recurrent layer packs its weights for all
    of its steps) and read by bn_?gemm_pb gives the bits of the product that packs B itself,
    with alpha and beta, on 1 and 2 threads; products that read B in place (the direct path
    for a few rows, the thin one for a few columns) make no panels"""
    from barenet import _core

    m, n, k = shape
    a, b = operands(m, n, k, ta, tb, dtype, seed=6)
    c0 = rng(7).standard_normal((m, n)).astype(dtype)
    try:
        for threads in (1, 2):
            _gemm.set_num_threads(threads)
            plain, packed = c0.copy(), c0.copy()
            assert not _core.gemm(ta, tb, 0.5, a, b, 1.5, plain)
            made = _core.gemm(ta, tb, 0.5, a, b, 1.5, packed, False, True)
            np.testing.assert_array_equal(packed, plain)
            if shape in ((64, 512, 128), (64, 128, 512)):   # a recurrent layer's steps
                assert made
            small_bt = n * k * np.dtype(dtype).itemsize <= 64 * 1024
            # direct: B (or a copy of B^T) read in place; B packed once for many
            # products, only for at most half of the packed kernel's 6 rows (gemm.c)
            if kernel in ("avx512", "avx2") and m <= 3 and (not tb or small_bt):
                assert not made
            if kernel in ("avx512", "avx2") and m == 8 and k * n >= 64 * 64:
                assert made
    finally:
        _gemm.set_num_threads(None)
    check_close(_gemm.gemm(a, b, trans_a=ta, trans_b=tb, packed_b=True), a, b, ta, tb)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta", (False, True))
@pytest.mark.parametrize("shape", [(128, 512, 300), (128, 128, 2000), (512, 40, 300),
                                   (66, 4200, 50), (100, 33, 801), (40, 70, 90),
                                   (8, 64, 64), (64, 10, 128), (3, 5, 0)])
def test_sum_b_gives_the_column_sums_in_row_order(kernel, shape, ta, dtype):
    """bn_?gemm_sum_b (a weight gradient with its bias's): the product's bits, and B's
    column sums made from its panels equal to adding B's rows one after the other from 0,
    on 1 and 2 threads (rows split, columns split, several K and N blocks, an edge panel);
    products that pack no panels of B (few rows or columns) say so and leave the sums"""
    m, n, k = shape
    a, _ = operands(m, n, k, ta, False, dtype, seed=8)
    b = rng(9).standard_normal((k, n)).astype(dtype)
    c0 = rng(10).standard_normal((m, n)).astype(dtype)
    rows = np.zeros(n, dtype)
    for row in b:  # the sums a plain loop down the rows makes
        rows = rows + row
    try:
        for threads in (1, 2):
            _gemm.set_num_threads(threads)
            plain = _gemm.gemm(a, b, c0.copy(), trans_a=ta, alpha=0.5, beta=1.5)
            out, bsum, summed = _gemm.gemm_sum_b(a, b, c0.copy(), trans_a=ta, alpha=0.5,
                                                 beta=1.5)
            np.testing.assert_array_equal(out, plain)
            if summed:
                np.testing.assert_array_equal(bsum, rows)
            else:
                assert np.isnan(bsum).all()
            if 2 * m * n * k >= 2e6 and m > 32 and n > 10:  # packed, with every kernel set
                assert summed
            if not k or (kernel in ("avx512", "avx2") and m <= 8):  # nothing to multiply; direct
                assert not summed
    finally:
        _gemm.set_num_threads(None)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta, tb", OPS)
def test_reference_kernel(ta, tb, dtype):
    a, b = operands(23, 17, 31, ta, tb, dtype, seed=3)
    c = _gemm.gemm(a, b, trans_a=ta, trans_b=tb, reference=True)
    check_close(c, a, b, ta, tb)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta, tb", OPS)
@pytest.mark.parametrize("shape", [(301, 203, 517), (1000, 10, 128), (128, 10, 900),
                                   (37, 700, 300), (600, 600, 40), (130, 75, 1650),
                                   (32, 256, 784), (20, 700, 300), (1, 4000, 600),
                                   (20, 700, 1700), (28, 512, 3584)])
def test_threads_bit_identical(kernel, shape, ta, tb, dtype):
    """K is never split between threads, so 1 and 2 threads give the same bits"""
    m, n, k = shape
    a, b = operands(m, n, k, ta, tb, dtype, seed=4)
    try:
        _gemm.set_num_threads(1)
        c1 = _gemm.gemm(a, b, trans_a=ta, trans_b=tb)
        _gemm.set_num_threads(2)
        c2 = _gemm.gemm(a, b, trans_a=ta, trans_b=tb)
    finally:
        _gemm.set_num_threads(None)
    np.testing.assert_array_equal(c1, c2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", sorted(_activations.NAMES))
@pytest.mark.parametrize("shape", [(1, 1, 1), (37, 10, 29), (128, 10, 128), (67, 65, 66),
                                   (200, 300, 600), (32, 300, 600), (32, 300, 1700),
                                   (5, 40, 2000)])
def test_fused_bias_activation(kernel, shape, act, dtype):
    """out = act(a @ b + bias) and z = a @ b + bias in one pass; z equals gemm + bias bit for
    bit, out equals NumPy's activation of z within a few ulps (libm differs); softmax is
    row-wise and not fused, so it acts as identity"""
    m, n, k = shape
    r = rng(5)
    a = r.standard_normal((m, k)).astype(dtype)
    b = (r.standard_normal((k, n)) / math.sqrt(k)).astype(dtype)
    bias = r.standard_normal(n).astype(dtype)
    z = np.full((m, n), np.nan, dtype)
    out = _gemm.gemm_bias_act(a, b, bias, act, z=z)
    np.testing.assert_array_equal(z, _gemm.gemm(a, b) + bias)
    expect = z if act == _activations.SOFTMAX else _activations.FORWARD[act](z)
    tol = 8 * np.finfo(dtype).eps
    np.testing.assert_allclose(out, expect, rtol=tol, atol=tol)
    np.testing.assert_array_equal(_gemm.gemm_bias_act(a, b, bias, act), out)   # z optional


def test_kernel_report_and_env_override():
    assert _gemm.cpu_kernel() in ("avx512", "avx2_fma", "generic")
    code = "from barenet import _gemm; print(_gemm.cpu_kernel())"
    env = dict(os.environ, BARENET_DISABLE_CPU_FEATURES="sse4,AVX2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split()[-1] == "generic"   # (an editable install may log a rebuild first)
    if _gemm.cpu_kernel() == "avx512":           # AVX512 alone falls back to AVX2
        env["BARENET_DISABLE_CPU_FEATURES"] = "avx512"
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        assert out.stdout.split()[-1] == "avx2_fma"
    with pytest.raises(ValueError, match="kernel"):
        _gemm.force_kernel("avx9000")


def test_num_threads_setting():
    try:
        _gemm.set_num_threads(1)
        assert _gemm.get_num_threads() == 1
    finally:
        _gemm.set_num_threads(None)
    assert _gemm.get_num_threads() >= 1


def test_threadpoolctl_sees_and_limits_barenet():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    a, b = operands(64, 64, 64, False, False, np.float64)
    _gemm.gemm(a, b)                                    # the OpenMP runtime is loaded
    info = threadpoolctl.threadpool_info()
    if not any(i["user_api"] == "openmp" for i in info):
        pytest.skip("barenet was built without OpenMP")
    before = _gemm.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert _gemm.get_num_threads() == 1
        a, b = operands(300, 300, 300, False, False, np.float64)
        check_close(_gemm.gemm(a, b), a, b, False, False)
    assert _gemm.get_num_threads() == before


def test_validation_names_the_argument():
    a = np.ones((3, 4))
    with pytest.raises(ValueError, match="^b"):
        _gemm.gemm(a, np.ones((5, 2)))
    with pytest.raises(ValueError, match="b has dtype"):
        _gemm.gemm(a, np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="^out"):
        _gemm.gemm(a, np.ones((4, 2)), np.ones((3, 3)), beta=1.0)
    with pytest.raises(ValueError, match="^out"):
        _gemm.gemm(a, np.ones((4, 2)), np.ones((2, 3)).T)
    with pytest.raises(ValueError, match="^a"):
        _gemm.gemm(np.ones(3), np.ones((3, 2)))
    with pytest.raises(ValueError, match="^beta"):
        _gemm.gemm(a, np.ones((4, 2)), beta=1.0)
    with pytest.raises(ValueError, match="^bias"):
        _gemm.gemm_bias_act(a, np.ones((4, 2)), np.ones(3), "relu")
    # not row-contiguous inputs are copied, and still right
    at = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    np.testing.assert_allclose(_gemm.gemm(at, np.ones((4, 2))), at @ np.ones((4, 2)))


def test_barenet_num_threads_environment():
    code = "from barenet import _gemm; print(_gemm.get_num_threads())"
    env = dict(os.environ, BARENET_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split()[-1] == "1"
