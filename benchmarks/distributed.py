"""Data-parallel training over MPI (barenet.distributed): steps per second of the
Fashion-MNIST MLP (784-256-128-10) and CNN (benchmarks/fashion_cnn.py's) for one process of
one thread, one process of two threads, and two MPI processes of one thread each; the
time per step spent in the reduction (as the ranks see it: it includes waiting for the
slower rank) and the bare Allreduce of the gradient buffer (no waiting: a loop of
Allreduce calls on a buffer of n_params values), and the compute/communication ratio.
docs/distributed.md builds its scaling model from these figures.

    python benchmarks/distributed.py                     # both models, ~1-2 minutes
    python benchmarks/distributed.py --models mlp --rows 12000 --epochs 2

Each configuration runs in its own fresh process (mpiexec -n 2 for the MPI one). Without
Fashion-MNIST installed (apt-get install dataset-fashion-mnist) random data of the same
shape is used (the timings do not depend on the values). Needs mpi4py and mpiexec
(pip install "barenet[mpi]"). As root, Open MPI also needs OMPI_ALLOW_RUN_AS_ROOT=1 and
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 (set here for the child processes).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))


MLP_PARAMS, CNN_PARAMS = 235146, 421642  # the two networks' parameter counts


def data(rows, model):
    try:
        from barenet.datasets import load_fashion_mnist
        (X, y), _ = load_fashion_mnist()
        X, y = X[:rows], y[:rows]
    except Exception:  # not installed: random data of the same shape
        rng = np.random.default_rng(0)
        X = rng.random((rows, 784), dtype=np.float32)
        y = rng.integers(0, 10, size=rows)
    if model == "cnn":
        X = X.reshape(-1, 1, 28, 28)
    return np.ascontiguousarray(X, dtype=np.float32), y


def network(model):
    from barenet import NeuralNetwork, Sequential
    from barenet.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D
    if model == "mlp":
        return NeuralNetwork([784, 256, 128, 10], output_activation="softmax",
                             dtype="float32", seed=0)
    return Sequential([Conv2D(32, 3, padding="same", activation="relu"), MaxPool2D(2),
                       Conv2D(64, 3, padding="same", activation="relu"), MaxPool2D(2),
                       Flatten(), Dense(128, activation="relu"), Dropout(0.3),
                       Dense(10, activation="softmax")], input_shape=(1, 28, 28),
                      dtype="float32", seed=0)


def worker(args):
    """one configuration: prints one JSON line (rank 0 only under MPI)"""
    import barenet
    barenet.set_num_threads(args.threads)
    X, y = data(args.rows, args.model)
    net = network(args.model)
    dist = None
    if args.mpi:
        from barenet import distributed
        dist = distributed.MPI(reproducible=args.reproducible,
                               parts=4 if args.reproducible else None)
    kw = dict(learning_rate=1e-3, batch_size=args.batch, optimizer="adam", verbose=False,
              distributed=dist)
    net.train(X, y, epochs=1, **kw)  # warm-up
    if dist is not None:
        dist.allreduce_seconds, dist.steps = 0.0, 0
        dist.comm.Barrier()
    t0 = time.perf_counter()
    net.train(X, y, epochs=args.epochs, **kw)
    seconds = time.perf_counter() - t0
    steps = args.epochs * -(-args.rows // args.batch)
    out = {"model": args.model, "threads": args.threads, "ranks": 1,
           "reproducible": args.reproducible, "n_params": int(net.get_params().size),
           "steps_per_s": steps / seconds}
    if dist is not None:
        out["ranks"] = dist.size
        out["reduce_ms_per_step"] = 1e3 * dist.allreduce_seconds / dist.steps
        buf = np.zeros(net.get_params().size, dtype=np.float32)
        dist.comm.Barrier()
        t0, reps = time.perf_counter(), 50
        for _ in range(reps):
            dist.comm.Allreduce(dist._mpi.IN_PLACE, buf)
        out["bare_allreduce_ms"] = 1e3 * (time.perf_counter() - t0) / reps
        step_ms = 1e3 / out["steps_per_s"]
        out["compute_ms_per_step"] = step_ms - out["reduce_ms_per_step"]
        out["compute_over_comm"] = out["compute_ms_per_step"] / out["reduce_ms_per_step"]
        if dist.rank:
            return
    print(json.dumps(out), flush=True)


# the scaling model's network (docs/distributed.md): per-message latency and line rate
NETWORKS = {"10 Gbit/s": (25e-6, 10e9 / 8), "100 Gbit/s": (3e-6, 100e9 / 8)}
MACHINES = (4, 8, 16, 32, 64)


def allreduce_seconds(p, n_bytes, latency, bandwidth):
    """a ring allreduce of n_bytes over p machines: 2 (p - 1) messages of n_bytes / p"""
    return 2 * (p - 1) * latency + 2 * (p - 1) / p * n_bytes / bandwidth


def scaling_model(name, step_ms, n_params, batch=128, global_batch=1024):
    """expected speed-up over one machine (one process of one thread) for a global batch,
    and the global batch at which computing a step takes as long as its allreduce"""
    per_row = step_ms / 1e3 / batch  # seconds of compute per row on one machine
    n_bytes = 4 * n_params           # float32 gradients
    print(f"\n{name}: {n_params} parameters, {step_ms:.3g} ms per {batch}-row step on one "
          f"machine; speed-up at a global batch of {global_batch} / global batch where "
          "communication stops dominating")
    print("  machines " + "".join(f"{net:>24}" for net in NETWORKS))
    for p in MACHINES:
        cells = []
        for latency, bandwidth in NETWORKS.values():
            comm = allreduce_seconds(p, n_bytes, latency, bandwidth)
            compute = per_row * global_batch
            speedup = compute / (compute / p + comm)
            cells.append(f"{speedup:8.1f}x / {p * comm / per_row:9.0f}")
        print(f"  {p:8d} " + "".join(f"{c:>24}" for c in cells))


def run(cmd, env):
    done = subprocess.run(cmd, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if done.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--rows", type=int, default=None, help="rows per epoch (default: 12800 "
                    "for the MLP, 1280 for the CNN)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", default="mlp", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--mpi", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--reproducible", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--scaling", nargs=2, type=float, metavar=("MLP_MS", "CNN_MS"),
                    help="only print the scaling model for these one-process step times")
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if args.scaling:
        return print_scaling(*args.scaling)
    mpiexec = (shutil.which("mpiexec", path=os.path.dirname(sys.executable))
               or shutil.which("mpiexec"))
    if mpiexec is None:
        sys.exit("mpiexec not found: pip install \"barenet[mpi]\"")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1")
    me = [sys.executable, os.path.abspath(__file__), "--worker", "--epochs", str(args.epochs),
          "--batch", str(args.batch)]
    steps = {}
    print(f"barenet.distributed benchmark, batch {args.batch}, {args.epochs} epochs "
          f"after a warm-up; steps/s (higher is better)")
    for model in args.models.split(","):
        rows = args.rows or (12800 if model == "mlp" else 1280)
        base = me + ["--model", model, "--rows", str(rows)]
        one = run(base + ["--threads", "1"], env)
        # OMP_NUM_THREADS caps barenet's threads: 2 here, 1 for every other run
        two = run(base + ["--threads", "2"], dict(env, OMP_NUM_THREADS="2"))
        rows_mpi = []
        for extra in ([], ["--reproducible"]):
            rows_mpi.append(run([mpiexec, "-n", "2", "--oversubscribe", *base, "--threads",
                                 "1", "--mpi", *extra], env))
        print(f"\n{model} ({one['n_params']} parameters, {rows} rows)")
        print(f"  1 process x 1 thread      {one['steps_per_s']:8.1f}")
        print(f"  1 process x 2 threads     {two['steps_per_s']:8.1f}  "
              f"({two['steps_per_s'] / one['steps_per_s']:.2f}x)")
        for r, name in zip(rows_mpi, ("Allreduce", "reproducible, 4 parts")):
            print(f"  2 processes x 1 thread    {r['steps_per_s']:8.1f}  "
                  f"({r['steps_per_s'] / one['steps_per_s']:.2f}x; {name}): reduction "
                  f"{r['reduce_ms_per_step']:.3f} ms/step as seen by the ranks, bare "
                  f"Allreduce of the gradient {r['bare_allreduce_ms']:.3f} ms, compute "
                  f"{r['compute_ms_per_step']:.3f} ms/step, compute/reduction "
                  f"{r['compute_over_comm']:.1f}")
        print("  json:", json.dumps({"one": one, "two_threads": two, "mpi": rows_mpi}))
        steps[model] = 1e3 / one["steps_per_s"]
    if set(steps) == {"mlp", "cnn"}:
        print_scaling(steps["mlp"], steps["cnn"])


def print_scaling(mlp_ms, cnn_ms):
    print("\nscaling model (docs/distributed.md): ring allreduce, latency "
          + ", ".join(f"{lat * 1e6:g} us on {net}" for net, (lat, _) in NETWORKS.items())
          + "; compute linear in rows, no overlap")
    for name, ms, n in (("MLP", mlp_ms, MLP_PARAMS), ("CNN", cnn_ms, CNN_PARAMS)):
        scaling_model(name, ms, n)
        scaling_model(f"{name} x100 (100x the parameters and the compute per row)",
                      100 * ms, 100 * n)


if __name__ == "__main__":
    main()
