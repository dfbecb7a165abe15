"""barenet's own GEMM (csrc/gemm.c) from Python, for tests, benchmarks and `barenet info`.

Shapes, dtypes and strides are validated here; the binding in _core only calls C. Operands
are 2-D float32 or float64 arrays (one dtype per call) whose rows are contiguous; a row
stride larger than the width (a slice of a bigger array) is passed on as the leading
dimension. Inputs that are not row-contiguous are copied; `out` must be row-contiguous."""

import numpy as np

from . import _activations, _core

DTYPES = (np.float32, np.float64)


def _rows_contiguous(x):
    item = x.itemsize
    return ((x.shape[1] <= 1 or x.strides[1] == item)
            and (x.shape[0] <= 1 or (x.strides[0] % item == 0
                                     and x.strides[0] >= max(x.shape[1], 1) * item)))


def _operand(x, name, dtype=None):
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {x.shape}")
    if x.dtype not in DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {x.dtype}")
    if dtype is not None and x.dtype != dtype:
        raise ValueError(f"{name} has dtype {x.dtype} but the other operands are {dtype}")
    return x if _rows_contiguous(x) else np.ascontiguousarray(x)


def _output(out, name, shape, dtype):
    if not isinstance(out, np.ndarray):
        raise ValueError(f"{name} must be a NumPy array")
    if out.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {out.shape}")
    if out.dtype != dtype:
        raise ValueError(f"{name} must have dtype {dtype}, got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writeable")
    if not _rows_contiguous(out):
        raise ValueError(f"{name} must have contiguous rows (a leading dimension >= width)")
    return out


def _product(a, b, out, trans_a, trans_b, beta):
    """(a, b, out) checked for out = alpha op(a) @ op(b) + beta out: the operands' dtypes and
    inner sizes; out made (beta must then be 0) or checked"""
    a = _operand(a, "a")
    b = _operand(b, "b", a.dtype)
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    kb, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if kb != k:
        raise ValueError(f"b: op(b) has {kb} rows but op(a) has {k} columns")
    if out is None:
        if beta != 0:
            raise ValueError("beta must be 0 when out is not given")
        return a, b, np.empty((m, n), dtype=a.dtype)
    return a, b, _output(out, "out", (m, n), a.dtype)


def gemm(a, b, out=None, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0,
         reference=False, packed_b=False):
    """out = alpha * op(a) @ op(b) + beta * out, op = transpose when trans_*; returns out.
    beta == 0 never reads out (NaN there is overwritten); without out, beta must be 0.
    reference=True runs the naive oracle (bn_?gemm_ref) instead of the blocked GEMM;
    packed_b=True packs op(b) first as a caller that reuses it would (bn_?gemm_pack_b, then
    bn_?gemm_pb: the same bits)."""
    a, b, out = _product(a, b, out, trans_a, trans_b, beta)
    if out.size:
        _core.gemm(bool(trans_a), bool(trans_b), float(alpha), a, b, float(beta), out,
                   bool(reference), bool(packed_b))
    return out


def gemm_sum_b(a, b, out=None, *, trans_a=False, alpha=1.0, beta=0.0):
    """(out, bsum, summed): out = alpha * op(a) @ b + beta * out as gemm does, and bsum =
    b's column sums, each added in row order from 0, made from b's panels as the product
    packs them (a weight gradient and its bias's: bn_?gemm_sum_b). summed is False when the
    product took a path that packs no panels of b; bsum then holds NaN."""
    a, b, out = _product(a, b, out, trans_a, False, beta)
    bsum = np.full(out.shape[1], np.nan, dtype=a.dtype)
    summed = False
    if out.size:
        summed = _core.gemm_sum_b(bool(trans_a), float(alpha), a, b, float(beta), out, bsum)
    return out, bsum, summed


def gemm_bias_act(a, b, bias, activation="identity", out=None, z=None):
    """out = act(a @ b + bias) in one pass over the output (the dense layer's forward);
    z, if given, also receives a @ b + bias. activation: the name of one of barenet's
    elementwise activations (softmax is row-wise and not fused: it acts as identity)."""
    a = _operand(a, "a")
    b = _operand(b, "b", a.dtype)
    (m, k), (kb, n) = a.shape, b.shape
    if kb != k:
        raise ValueError(f"b: b has {kb} rows but a has {k} columns")
    bias = np.ascontiguousarray(bias, dtype=None)
    if bias.dtype != a.dtype or bias.shape not in ((n,), (1, n)):
        raise ValueError(f"bias must have shape ({n},) and dtype {a.dtype}, got "
                         f"{bias.shape} {bias.dtype}")
    if activation not in _activations.NAMES:
        raise ValueError(f"activation {activation!r} is unknown; one of "
                         f"{', '.join(_activations.NAMES)}")
    out = np.empty((m, n), a.dtype) if out is None else _output(out, "out", (m, n), a.dtype)
    if z is not None:
        z = _output(z, "z", (m, n), a.dtype)
    if m and n:
        _core.gemm_bias_act(a, b, bias.reshape(n), activation, out, z)
    return out


def set_num_threads(n):
    """barenet's thread count for GEMM; 0 or None returns to the default (the environment
    variable BARENET_NUM_THREADS, else OpenMP's). Never more than OpenMP allows, so
    threadpoolctl limits barenet as well. Results are identical for any count."""
    _core.set_num_threads(0 if n is None else int(n))


def get_num_threads():
    """the number of threads a large GEMM uses now"""
    return _core.get_num_threads()


def cpu_kernel():
    """the GEMM micro-kernels chosen for this CPU: "avx512", "avx2_fma" or "generic" """
    return _core.cpu_kernel()


def force_kernel(name=None):
    """use "generic", "avx2" or "avx512" kernels (for tests); None restores the automatic choice,
    which BARENET_DISABLE_CPU_FEATURES=AVX2 also steers"""
    _core.force_kernel(name)
