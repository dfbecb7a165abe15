"""barenet's GEMM against NumPy's matmul (OpenBLAS), measured in the same run.

Prints GFLOP/s and the ratio barenet / NumPy (and % of peak, when --peak-f32 gives it) for float32
and float64 on 1 and 2 threads: square sizes 64..2048, and the products of a 784-256-128-10
network at batch 128 (forward of every layer, and both backward products: the weight
gradient A^T @ dZ and the input gradient dZ @ W^T), the fused forward (bias + ReLU in the
GEMM write-back vs NumPy's matmul + add + maximum), predict-sized products, and predict of
10,000 rows through the three fused layers vs the same layers as NumPy expressions.
Ratios, not thresholds. Runs of barenet and NumPy alternate (with a pause), best of
--trials. barenet is called through its thin binding (_core), as NumPy's matmul is, so
both pay ~1 us of Python.

    python benchmarks/gemm.py [--quick] [--trials 5] [--peak-f32 GFLOPS]
    python benchmarks/gemm.py --shape 1,0,28,512,3584 --threads 1 --cpu-time
                                   # only these products: op flags, M, N, K (repeatable)

No peak is assumed: the FMA units per core and the clock under load differ between the
machines this runs on (an AVX2 model at a fixed clock reported over 100 % on an AVX-512
Xeon). Give --peak-f32 (float32 GFLOP/s of one core: lanes x 2 x FMA units x clock; e.g.
16 x 2 x 2 x 3.5 GHz = 224 for AVX-512 with two FMA units) to get a %peak column.

NumPy's OpenBLAS picks its kernels from OPENBLAS_CORETYPE (printed in the header): with
Haswell it runs AVX2 kernels like barenet's; unset, on a CPU with AVX-512, it runs AVX-512.
"""

import argparse
import os
import time

import numpy as np

import _peers  # benchmarks/, on the path when run as a script

from barenet import _core, _gemm
from barenet._activations import IDENTITY, RELU

try:
    import threadpoolctl
except ImportError:  # NumPy then uses its default thread count for every row
    threadpoolctl = None

SWITCH_PAUSE = 0.2   # seconds between barenet's and NumPy's runs (see compare)
SQUARE = (64, 128, 256, 512, 1024, 2048)
B = 128
# (name, trans_a, trans_b, m, n, k) of a 784-256-128-10 network at batch 128
NETWORK = (
    ("fwd L1  X@W1", False, False, B, 256, 784),
    ("fwd L2  A1@W2", False, False, B, 128, 256),
    ("fwd L3  A2@W3", False, False, B, 10, 128),
    ("dW1  X^T@dZ1", True, False, 784, 256, B),
    ("dW2  A1^T@dZ2", True, False, 256, 128, B),
    ("dW3  A2^T@dZ3", True, False, 128, 10, B),
    ("dX1  dZ1@W1^T", False, True, B, 784, 256),
    ("dA1  dZ2@W2^T", False, True, B, 256, 128),
    ("dA2  dZ3@W3^T", False, True, B, 128, 10),
    ("predict L1 10000x784@W1", False, False, 10000, 256, 784),
    ("predict L3 10000x128@W3", False, False, 10000, 10, 128),
)


CLOCK = time.perf_counter   # --cpu-time: time.process_time (for a machine that is not idle)


def best_time(fn, flops, trials):
    """seconds per call: best over trials of enough repetitions for ~30 ms"""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, int(0.03 / once))
    best = float("inf")
    for _ in range(trials):
        t0 = CLOCK()
        for _ in range(reps):
            fn()
        best = min(best, (CLOCK() - t0) / reps)
    return best


def compare(bn_fn, np_fn, flops, threads, trials):
    """GFLOP/s of barenet and NumPy. Runs alternate so both see the same machine, with a
    pause at each switch: OpenBLAS's idle threads spin for tens of ms after a call (and
    OpenMP's briefly), which would steal the cores from the other library's threads."""
    _gemm.set_num_threads(threads)
    tb = tn = float("inf")
    with _peers.blas_threads(threads, user_api="blas"):
        for _ in range(max(1, trials // 2)):
            tb = min(tb, best_time(bn_fn, flops, 2))
            time.sleep(SWITCH_PAUSE)
            tn = min(tn, best_time(np_fn, flops, 2))
            time.sleep(SWITCH_PAUSE)
    _gemm.set_num_threads(None)
    return flops / tb * 1e-9, flops / tn * 1e-9


def gemm_case(ta, tb, m, n, k, dtype, seed=0):
    r = np.random.default_rng(seed)
    a = r.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = r.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    c = np.empty((m, n), dtype)
    opa, opb = (a.T if ta else a), (b.T if tb else b)
    return (lambda: _core.gemm(ta, tb, 1.0, a, b, 0.0, c),
            lambda: np.matmul(opa, opb, out=c), 2.0 * m * n * k)


def fused_case(m, n, k, dtype, seed=0):
    r = np.random.default_rng(seed)
    a = r.standard_normal((m, k)).astype(dtype)
    w = r.standard_normal((k, n)).astype(dtype)
    bias = r.standard_normal(n).astype(dtype)
    out = np.empty((m, n), dtype)
    z = np.empty((m, n), dtype)

    def numpy_forward():
        np.matmul(a, w, out=z)
        np.add(z, bias, out=z)
        np.maximum(z, 0, out=out)

    return (lambda: _core.gemm_bias_act(a, w, bias, RELU, out, z), numpy_forward,
            2.0 * m * n * k)


def predict_case(n, dtype, sizes=(784, 256, 128, 10), seed=0):
    """the forward pass of a 784-256-128-10 ReLU network on n rows: barenet's fused layers
    vs the same three layers as NumPy matmul + bias + maximum"""
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, sizes[0])).astype(dtype)
    ws = [(r.standard_normal((i, o)) * np.sqrt(2 / i)).astype(dtype)
          for i, o in zip(sizes, sizes[1:])]
    bs = [np.zeros(o, dtype) for o in sizes[1:]]
    outs = [np.empty((n, o), dtype) for o in sizes[1:]]
    acts = [RELU] * (len(ws) - 1) + [IDENTITY]

    def barenet_predict():
        h = x
        for w, b, out, act in zip(ws, bs, outs, acts):
            _core.gemm_bias_act(h, w, b, act, out, None)
            h = out

    def numpy_predict():
        h = x
        for i, (w, b) in enumerate(zip(ws, bs)):
            h = h @ w + b
            if i < len(ws) - 1:
                h = np.maximum(h, 0)

    flops = 2.0 * n * sum(i * o for i, o in zip(sizes, sizes[1:]))
    return barenet_predict, numpy_predict, flops


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="sizes up to 1024, 3 trials")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--peak-f32", type=float, default=None,
                    help="float32 GFLOP/s of one core, if you know it (float64 is half): "
                         "adds a %%peak column")
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with the process's CPU time instead of the wall clock: robust "
                         "to other processes on a busy machine, meaningful for 1 thread only")
    ap.add_argument("--shape", action="append", default=[], metavar="TA,TB,M,N,K",
                    help="time only this product (trans_a, trans_b as 0/1, then M, N, K), "
                         "float32 and float64; repeatable")
    args = ap.parse_args()
    shapes = []
    for text in args.shape:
        try:
            ta, tb, m, n, k = (int(v) for v in text.split(","))
        except ValueError:
            ap.error(f"--shape {text!r}: expected five integers TA,TB,M,N,K")
        if ta not in (0, 1) or tb not in (0, 1) or min(m, n, k) < 1:
            ap.error(f"--shape {text!r}: TA and TB are 0 or 1, M, N and K at least 1")
        shapes.append((bool(ta), bool(tb), m, n, k))
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    trials = 3 if args.quick else args.trials
    square = [s for s in SQUARE if not (args.quick and s > 1024)]

    blas = ""
    if threadpoolctl is not None:
        blas = ", ".join(f"{i['internal_api']} {i.get('version')} {i.get('architecture', '')}"
                         for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")
    print(f"barenet kernel {_gemm.cpu_kernel()}, max threads {_gemm.get_num_threads()}; "
          f"NumPy BLAS: {blas or 'unknown'}; OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    if args.peak_f32:
        print(f"peak = {args.peak_f32:g} GFLOP/s float32, {args.peak_f32 / 2:g} float64 per "
              "core (as given; turbo clocks can exceed it)")
    print()
    header = (f"{'case':<26} {'dtype':<7} {'thr':>3} {'barenet':>8} "
              + (f"{'%peak':>6} " if args.peak_f32 else "") + f"{'numpy':>8} {'ratio':>6}")
    print(header)
    print("-" * len(header))

    def row(name, dtype, threads, fns):
        bn_fn, np_fn, flops = fns
        g_bn, g_np = compare(bn_fn, np_fn, flops, threads, trials)
        pct = ""
        if args.peak_f32:
            peak = args.peak_f32 * threads / (1 if dtype == np.float32 else 2)
            pct = f"{100 * g_bn / peak:5.0f}% "
        print(f"{name:<26} {np.dtype(dtype).name:<7} {threads:>3} {g_bn:8.1f} "
              f"{pct}{g_np:8.1f} {g_bn / g_np:6.2f}", flush=True)

    if shapes:
        for dtype in (np.float32, np.float64):
            for threads in args.threads:
                for ta, tb, m, n, k in shapes:
                    name = f"{'A^T' if ta else 'A'}{m}x{k} @ {'B^T' if tb else 'B'}{k}x{n}"
                    row(name, dtype, threads, gemm_case(ta, tb, m, n, k, dtype))
        return
    for dtype in (np.float32, np.float64):
        for threads in args.threads:
            for s in square:
                row(f"square {s}", dtype, threads, gemm_case(False, False, s, s, s, dtype))
        for threads in args.threads:
            for name, ta, tb, m, n, k in NETWORK:
                row(name, dtype, threads, gemm_case(ta, tb, m, n, k, dtype))
            for name, (m, n, k) in (("fused fwd L1 +b relu", (B, 256, 784)),
                                    ("fused fwd L2 +b relu", (B, 128, 256)),
                                    ("fused fwd L3 +b relu", (B, 10, 128))):
                row(name, dtype, threads, fused_case(m, n, k, dtype))
            row("predict 10000 rows, 3 layers", dtype, threads, predict_case(10000, dtype))
        print()


if __name__ == "__main__":
    main()
