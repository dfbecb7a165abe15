"""barenet's CSR x dense kernels (csrc/sparse.h) against scipy.sparse and dense NumPy, one run.

X is 100,000 x 20,000 at 0.1 % density (scipy.sparse.random with a seeded Generator,
float32, 2 M entries), W (20000, 256). Per shuffled batch of 128 rows (a new batch every
call, as in an epoch):
  forward  z = X[rows] @ W + b, a = relu(z)   barenet: bn_csr_dense_bias_act
                                              scipy:   X[rows] @ W, + b, maximum
                                              dense:   Xb @ W, + b, maximum (NumPy BLAS)
  gradient dW = X[rows]^T @ dZ                barenet: bn_csr_t_dense
                                              scipy:   X[rows].T @ dZ
                                              dense:   Xb.T @ dZ (NumPy BLAS)
and again "cold": after a 96 MB pass over other memory before each call (untimed), as a
training step's optimizer pass over the parameters and its states would leave the caches;
where Xb = X[rows].toarray() is made before the dense timings (its cost, ~10 MB per batch,
is printed on its own line: the densified route pays it every batch). Each result is
checked against scipy's before anything is timed. On 1 and 2 threads: barenet's through
set_num_threads, NumPy's BLAS through threadpoolctl; scipy.sparse runs on one thread.
Times are medians per call (microseconds), ratios are peer / barenet (> 1: barenet is
faster); "epoch" is n / 128 batches of barenet's cold forward + gradient, kernels only.

    python benchmarks/sparse_kernels.py [--calls 200] [--rows 100000] [--features 20000]
"""

import argparse
import time

import numpy as np

import _peers  # benchmarks/, on the path when run as a script
import scipy.sparse as sp

from barenet import _core, _sparse
from barenet._activations import RELU


SWITCH_PAUSE = 0.2  # seconds between libraries (idle BLAS / OpenMP threads spin for a while)


def median_time(fn, batches, calls, before=None):
    """median seconds per call of fn(batch), a different batch each call; before() runs
    untimed before each call"""
    fn(batches[0])
    times = []
    for c in range(calls):
        b = batches[(c + 1) % len(batches)]
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn(b)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=20_000)
    ap.add_argument("--density", type=float, default=0.001)
    ap.add_argument("--units", type=int, default=256)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--calls", type=int, default=200, help="timed calls per case")
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    dtype = np.float32
    n, n_in, n_out, nb = args.rows, args.features, args.units, args.batch

    r = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    # a Generator, not an int seed: with a RandomState scipy permutes all n x IN positions
    X = sp.random(n, n_in, density=args.density, format="csr", dtype=dtype, random_state=r)
    made = time.perf_counter() - t0
    C = _sparse.check_sparse_X(X, dtype)
    w = (r.standard_normal((n_in, n_out)) * np.sqrt(2 / n_in)).astype(dtype)
    bias = r.standard_normal(n_out).astype(dtype)
    dz = r.standard_normal((nb, n_out)).astype(dtype)
    perm = r.permutation(n)
    batches = [perm[s:s + nb].astype(np.int64) for s in range(0, n - nb + 1, nb)]
    n_dense = 8  # densified batches kept for the dense timings (10 MB each)
    dense_batches = [X[b].toarray() for b in batches[:n_dense]]
    a = np.empty((nb, n_out), dtype)
    z = np.empty((nb, n_out), dtype)
    junk = np.zeros(96 << 18, np.float32)       # 96 MB, three times this L3

    def evict():
        np.add(junk, 1, out=junk)
    dw = np.empty((n_in, n_out), dtype)

    def bn_forward(rows):
        _core.csr_dense_bias_act(C.indptr, C.indices, C.data, rows, w, bias, RELU, a, z)

    def bn_gradient(rows):
        _core.csr_t_dense(C.indptr, C.indices, C.data, rows, dz, dw)

    def scipy_forward(rows):
        zz = X[rows] @ w
        zz += bias
        return np.maximum(zz, 0)

    def scipy_gradient(rows):
        return X[rows].T @ dz

    def dense_forward(xb):
        zz = xb @ w
        zz += bias
        return np.maximum(zz, 0)

    def dense_gradient(xb):
        return xb.T @ dz

    def densify(rows):
        return X[rows].toarray()

    # check, then time
    rows = batches[0]
    bn_forward(rows)
    bn_gradient(rows)
    ref_z, ref_dw = X[rows] @ w + bias, X[rows].T @ dz
    assert np.allclose(z, ref_z, rtol=1e-5, atol=1e-5) and np.array_equal(a, np.maximum(z, 0))
    assert np.allclose(dw, ref_dw, rtol=1e-5, atol=1e-5)
    assert np.allclose(dense_forward(dense_batches[0]), a, rtol=1e-4, atol=1e-4)
    assert np.allclose(dense_gradient(dense_batches[0]), dw, rtol=1e-4, atol=1e-4)
    same = np.array_equal(z, ref_z) and np.array_equal(dw, ref_dw)

    entries = np.diff(C.indptr)[np.concatenate(batches)].mean() * nb
    print(f"X {n} x {n_in}, {X.nnz} entries ({100 * X.nnz / n / n_in:.2f} %, made in "
          f"{made:.1f} s), W ({n_in}, {n_out}) float32, batch {nb} shuffled rows "
          f"(~{entries:.0f} entries); barenet {'bit-identical to' if same else 'close to'} "
          f"scipy; GEMM kernels {_core.cpu_kernel()}, max threads {_core.get_num_threads()}")
    header = (f"{'case':<22} {'thr':>3} {'barenet us':>10} {'scipy us':>9} {'ratio':>6} "
              f"{'dense us':>9} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    epoch_batches = len(range(0, n, nb))
    for threads in args.threads:
        _core.set_num_threads(threads)
        epoch = 0.0
        with _peers.blas_threads(threads, user_api="blas"):
            for name, bn_fn, sp_fn, dn_fn in (("forward (+b, relu)", bn_forward, scipy_forward,
                                               dense_forward),
                                              ("gradient dW", bn_gradient, scipy_gradient,
                                               dense_gradient)):
                t_bn = median_time(bn_fn, batches, args.calls)
                time.sleep(SWITCH_PAUSE)
                t_sp = median_time(sp_fn, batches, args.calls)
                time.sleep(SWITCH_PAUSE)
                t_dn = median_time(dn_fn, dense_batches, max(args.calls // 4, 10))
                time.sleep(SWITCH_PAUSE)
                print(f"{name:<22} {threads:>3} {t_bn * 1e6:10.0f} {t_sp * 1e6:9.0f} "
                      f"{t_sp / t_bn:6.2f} {t_dn * 1e6:9.0f} {t_dn / t_bn:6.2f}", flush=True)
                cold_bn = median_time(bn_fn, batches, args.calls // 2, evict)
                cold_sp = median_time(sp_fn, batches, args.calls // 2, evict)
                time.sleep(SWITCH_PAUSE)
                epoch += cold_bn * epoch_batches
                print(f"{'  cold':<22} {threads:>3} {cold_bn * 1e6:10.0f} {cold_sp * 1e6:9.0f} "
                      f"{cold_sp / cold_bn:6.2f}", flush=True)
        print(f"{f'  epoch ({epoch_batches} batches)':<22} {threads:>3} {epoch:10.2f}s  "
              "(barenet forward + gradient, cold)")
    _core.set_num_threads(0)
    t_dz = median_time(densify, batches, max(args.calls // 4, 10))
    print(f"densify a batch: X[rows].toarray() {t_dz * 1e6:.0f} us "
          f"({nb} x {n_in} float32, {nb * n_in * 4 / 2**20:.0f} MiB); dense X "
          f"({n} x {n_in}) would take {n * n_in * 4 / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
