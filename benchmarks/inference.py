"""Inference speed: barenet's predict against PyTorch (torch.inference_mode, the same
weights), onnxruntime (barenet's ONNX export of the same network) and NumPy, in one run,
float32.

Models: the Fashion-MNIST MLP (784-256-128-10, ReLU, softmax), the CNN of
benchmarks/fashion_cnn.py (Conv2D 32 - pool - Conv2D 64 - pool - Dense 128 - Dense 10) and
one 128 -> 10 layer (X @ W + b; the issue's 8192 x 128 product). Rows: 1, 32, 1000, 10000
(--rows), threads 1 and 2 (--threads). Inputs are random: speed does not depend on the
values. Every peer gets the barenet network's weights (PyTorch through
load_torch_state_dict's inverse, checked by comparing outputs) and its outputs are checked
against barenet's before timing.

Peers are a dict, PEERS: name -> make(model, threads) returning a callable X -> outputs
(or raising Unavailable); adding one is one function and one entry.
Within a (model, rows, threads) cell the peers' timed batches alternate, round after
round, and each peer's best round counts, so a machine busy with other work slows them
alike. Ratios are peer time / barenet time (> 1: barenet is faster). Ratios, not
thresholds; quote figures from a run on an otherwise idle machine.

    python benchmarks/inference.py [--quick] [--json out.json] [--rounds 7]
        [--models mlp,cnn,layer] [--rows 1,32,1000,10000] [--threads 1,2]
        [--peers barenet,torch,onnxruntime,numpy]
"""

import argparse
import json
import os
import platform
import random
import sys
import time

import numpy as np

import _peers  # noqa: F401 (benchmarks/: puts a checkout's src/ on the path)

import barenet
from barenet import NeuralNetwork, Sequential
from barenet.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D

try:
    import threadpoolctl
except ImportError:
    threadpoolctl = None

ROWS = (1, 32, 1000, 10000)
THREADS = (1, 2)
TARGET_SECONDS = 0.02   # a timed batch repeats the call for about this long


class Unavailable(Exception):
    """a peer that cannot run here (not installed, no such model)"""


# ---------------------------------------------------------------- models (barenet)

def mlp():
    return NeuralNetwork([784, 256, 128, 10], output_activation="softmax", dtype="float32",
                         seed=0, backend="compiled")


def cnn():
    return Sequential([Conv2D(32, 3, padding="same", activation="relu"), MaxPool2D(2),
                       Conv2D(64, 3, padding="same", activation="relu"), MaxPool2D(2),
                       Flatten(), Dense(128, activation="relu"), Dropout(0.3),
                       Dense(10, activation="softmax")],
                      input_shape=(1, 28, 28), dtype="float32", seed=0, backend="compiled")


def layer():
    return Sequential([Dense(10, activation="identity")], input_shape=(128,),
                      dtype="float32", seed=0, backend="compiled")


MODELS = {"mlp": mlp, "cnn": cnn, "layer": layer}


def inputs(net, n, seed=0):
    shape = (n,) + tuple(net.input_shape)
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


# ---------------------------------------------------------------- peers

def make_barenet(net, threads):
    barenet.set_num_threads(threads)
    return net.predict


def make_barenet_out(net, threads):
    """predict into a kept array, input already checked: the per-call floor"""
    barenet.set_num_threads(threads)
    outs = {}

    def run(X):
        out = outs.get(len(X))
        if out is None:
            out = outs[len(X)] = np.empty((len(X), net._spec.out_size), dtype=np.float32)
        return net.predict(X, out=out, check_input=False)

    return run


def _dense_chain(net):
    """(W, b, activation) of each Dense layer, for peers that rebuild an MLP"""
    dense = [ly for ly in net.layers if isinstance(ly, Dense)]
    if len(dense) != len(net.layers):
        raise Unavailable("not a chain of Dense layers")
    return [(w, b.reshape(-1), ly.activation)  # views: later weight changes show
            for w, b, ly in zip(net.weights, net.biases, dense)]


def make_numpy(net, threads):
    """X @ W + b and the activations as NumPy expressions (OpenBLAS matmul); the CNN runs
    barenet's NumPy reference backend (im2col + matmul)"""
    limit = threadpoolctl.threadpool_limits(threads) if threadpoolctl else None
    if limit is not None:
        limit.__enter__()  # stays in effect until the next peer sets its own
    try:
        chain = _dense_chain(net)
    except Unavailable:
        from barenet import _numpy_backend
        spec, state, params = net._spec, net._state, net._params

        def run_reference(X):
            return _numpy_backend.predict(spec, params, X.reshape(len(X), -1), state)

        return run_reference

    def run(X):
        a = X
        for w, b, act in chain:
            a = a @ w
            a += b
            if act == "relu":
                np.maximum(a, 0, out=a)
            elif act == "softmax":
                a -= a.max(axis=1, keepdims=True)
                np.exp(a, out=a)
                a /= a.sum(axis=1, keepdims=True)
        return a

    return run


def torch_model(net, torch):
    """the same network in PyTorch, weights copied from barenet's"""
    nn = torch.nn
    mods = []
    conv_in = net.input_shape[0] if len(net.input_shape) == 3 else None
    side = net.input_shape[1] if conv_in else None
    for ly in net.layers:
        if isinstance(ly, Conv2D):
            mods += [nn.Conv2d(conv_in, ly.filters, ly.kernel_size, padding="same"), nn.ReLU()]
            conv_in = ly.filters
        elif isinstance(ly, MaxPool2D):
            mods.append(nn.MaxPool2d(2))
            side //= 2
        elif isinstance(ly, Flatten):
            mods.append(nn.Flatten())
        elif isinstance(ly, Dense):
            mods.append(nn.Linear(ly.n_in, ly.n_out))
            if ly.activation == "relu":
                mods.append(nn.ReLU())
            elif ly.activation == "softmax":
                mods.append(nn.Softmax(dim=1))
        elif isinstance(ly, Dropout):
            pass
        else:
            raise Unavailable(f"no PyTorch twin for {ly!r}")
    model = nn.Sequential(*mods).eval()
    # the same weights: PyTorch's initial ones loaded into barenet's network (its loader
    # maps Linear/Conv2d in order and Flatten's channel order); the other peers read
    # barenet's parameters in place, so they see them too
    net.load_torch_state_dict(model.state_dict())
    return model


def make_torch(net, threads):
    try:
        import torch
    except ImportError:
        raise Unavailable("torch not installed") from None
    torch.set_num_threads(threads)
    model = torch_model(net, torch)

    def run(X):
        with torch.inference_mode():
            return model(torch.from_numpy(X)).numpy()

    return run


def make_onnxruntime(net, threads):
    """barenet's ONNX export of the same network in onnxruntime (CPU, `threads` intra-op
    threads): benchmarks/_peers.py's onnxruntime_predict"""
    if not _peers.onnxruntime_available():
        raise Unavailable("onnxruntime not installed (pip install 'barenet[onnx]')")
    return _peers.onnxruntime_predict(net, threads)[0]


# (peer, model): most rows timed (the NumPy reference convolves in Python-level loops over
# the kernel: about 14 s per 1,000 rows of the CNN)
MAX_ROWS = {("numpy", "cnn"): 1000}

PEERS = {"barenet": make_barenet, "barenet out=": make_barenet_out, "torch": make_torch,
         "onnxruntime": make_onnxruntime, "numpy": make_numpy}


# ---------------------------------------------------------------- timing

SETTLE = 0.02  # seconds between two peers' batches (time_cell)
# ... and after a peer whose thread pool busy-waits after its calls: OpenBLAS's threads
# (NumPy) spin ~0.1 s, onnxruntime's intra-op threads spin by default. Measured: barenet's
# 32-row prediction on 2 threads took 572 us 0.02 s after NumPy's last call, 154 us after
# 0.1 s, 108-148 us after PyTorch's (whose pool does not hold the cores).
SETTLE_AFTER = {"numpy": 0.2, "onnxruntime": 0.2}


def calls_for(fn, X):
    """(calls per timed batch: enough for TARGET_SECONDS, seconds of one call)"""
    t0 = time.perf_counter()
    fn(X)
    once = max(time.perf_counter() - t0, 1e-7)
    return max(1, int(TARGET_SECONDS / once)), once


def time_cell(fns, X, rounds, slow):
    """{peer: best seconds per call}: the peers' batches alternate, round after round; a
    peer whose call takes more than `slow` seconds (the NumPy reference of the CNN on
    10,000 rows) is timed once. Each round takes the peers in a new order (a permutation
    drawn from the round's number) and each batch starts after a pause: the thread pools
    of the peer before spin on after its last call (OpenBLAS's about 0.1 s), and on 2
    cores that takes the second core from the next peer (seen: up to 5x at 2 threads), so
    the pause after NumPy and onnxruntime is SETTLE_AFTER, SETTLE after the others, and no
    peer always follows the same one. (Turning one fixed order by one place each round, as
    this did before, kept every peer behind the same neighbour: barenet followed NumPy in
    every round.)"""
    calls, best = {}, {}
    before = next(reversed(fns), None)  # the outputs' check ran every peer just before
    for name, fn in fns.items():
        time.sleep(SETTLE_AFTER.get(before, SETTLE))
        calls[name], best[name] = calls_for(fn, X)
        before = name
    order = list(fns.items())
    for r in range(rounds):
        for name, fn in random.Random(r).sample(order, len(order)):
            if best[name] > slow:
                continue
            k = calls[name]
            time.sleep(SETTLE_AFTER.get(before, SETTLE))
            before = name
            t0 = time.perf_counter()
            for _ in range(k):
                fn(X)
            best[name] = min(best[name], (time.perf_counter() - t0) / k)
    return best


def fmt(seconds):
    return f"{seconds * 1e6:9.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:9.2f} ms"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--rows", default=",".join(map(str, ROWS)))
    ap.add_argument("--threads", default=",".join(map(str, THREADS)))
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--slow", type=float, default=1.0,
                    help="a peer whose call takes longer (seconds) is timed once")
    ap.add_argument("--quick", action="store_true", help="3 rounds, rows up to 1000")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    rounds = 3 if args.quick else args.rounds
    rows = [int(r) for r in args.rows.split(",")]
    if args.quick:
        rows = [r for r in rows if r <= 1000]
    threads = [int(t) for t in args.threads.split(",")]
    peers = [p for p in args.peers.split(",") if p]
    for p in peers:
        if p not in PEERS:
            ap.error(f"unknown peer {p!r}; known: {', '.join(PEERS)}")
    info = barenet.info() if callable(getattr(barenet, "info", None)) else {}
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"barenet kernels {info.get('cpu_kernel', '?')}, "
          f"numpy {np.__version__}, python {sys.version.split()[0]}")
    results = []
    for model_name in args.models.split(","):
        for t in threads:
            net = MODELS[model_name]()
            fns, notes = {}, {}
            for p in peers:
                try:
                    fns[p] = PEERS[p](net, t)
                except Unavailable as exc:
                    notes[p] = str(exc)
            for n in rows:
                X = inputs(net, n)
                ref = net.predict(X)
                live = {}
                for p, fn in fns.items():  # every peer's outputs checked first (a warm-up)
                    if n > MAX_ROWS.get((p, model_name), n):
                        notes[p] = f"not timed above {MAX_ROWS[p, model_name]} rows"
                        continue
                    err = float(np.max(np.abs(np.asarray(fn(X), dtype=np.float64) - ref)))
                    if err > 1e-3:
                        notes[p] = f"outputs differ from barenet's by {err:.2g}: not timed"
                    else:
                        live[p] = fn
                best = time_cell(live, X, rounds, args.slow)
                base = best.get("barenet")
                line = f"{model_name:6s} {n:6d} rows {t} thr |"
                for p in peers:
                    if p in best:
                        ratio = best[p] / base if base else float("nan")
                        line += f" {p} {fmt(best[p])} ({ratio:4.2f}x) |"
                    else:
                        line += f" {p}: {notes.get(p, 'n/a')} |"
                print(line, flush=True)
                results.append({"model": model_name, "rows": n, "threads": t,
                                "seconds": best, "notes": dict(notes),
                                "ratio_vs_barenet": {p: best[p] / base for p in best}
                                if base else {}})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": platform.processor() or platform.machine(),
                       "cpus": os.cpu_count(), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
