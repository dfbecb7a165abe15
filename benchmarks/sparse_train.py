"""Training on sparse input: barenet on a scipy.sparse CSR matrix, against barenet on the
same matrix densified and scikit-learn's MLPClassifier on the same CSR matrix, one run.

X is generated: ROWS x FEATURES at DENSITY (scipy.sparse.random with a seeded Generator,
float32; by default 100,000 x 20,000 at 0.1 %, 2 M entries), labels y = argmax(X W*) for a
random W* (FEATURES, 10), so a network can learn them. Each peer trains FEATURES-256-10
(ReLU, softmax, Adam 1e-3, batch 128, float32, no L2) for --epochs epochs on the first
90 % of the rows, in its own process (so peak memory is its own), and reports seconds per
epoch (mean over the epochs), accuracy on the last 10 % and its peak memory (peak RSS,
MiB, including the data it holds). The densified run holds X as a dense float32 array
(ROWS x FEATURES x 4 bytes: 7.5 GiB by default) and is skipped when that exceeds
--dense-limit GiB.

    python benchmarks/sparse_train.py                        # 2 epochs, all peers
    python benchmarks/sparse_train.py --rows 20000 --epochs 1 --peers barenet,sklearn
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

PEERS = ("barenet", "barenet-dense", "sklearn")


def make_data(rows, features, density, seed=0):
    import scipy.sparse as sp
    rng = np.random.default_rng(seed)
    X = sp.random(rows, features, density=density, format="csr", dtype=np.float32,
                  random_state=rng)
    w_true = rng.standard_normal((features, 10)).astype(np.float32)
    y = np.asarray(X @ w_true).argmax(axis=1)
    return X, y


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args):
    X, y = make_data(args.rows, args.features, args.density)
    split = int(0.9 * args.rows)
    Xtr, ytr, Xte, yte = X[:split], y[:split], X[split:], y[split:]
    times = []
    if args.worker in ("barenet", "barenet-dense"):
        import barenet
        barenet.set_num_threads(args.threads)
        if args.worker == "barenet-dense":
            Xtr, Xte = Xtr.toarray(), Xte.toarray()
        net = barenet.NeuralNetwork([args.features, 256, 10], output_activation="softmax",
                                    dtype="float32", seed=0)
        for _ in range(args.epochs):
            t0 = time.perf_counter()
            net.train(Xtr, ytr, epochs=1, learning_rate=1e-3, batch_size=128,
                      optimizer="adam", verbose=False)
            times.append(time.perf_counter() - t0)
        accuracy = float(np.mean(net.predict_classes(Xte) == yte))
    else:
        import warnings

        from sklearn.neural_network import MLPClassifier
        from threadpoolctl import threadpool_limits
        est = MLPClassifier(hidden_layer_sizes=(256,), alpha=0.0, batch_size=128,
                            learning_rate_init=1e-3, max_iter=1, random_state=0,
                            warm_start=True)
        with threadpool_limits(args.threads), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning after each 1-epoch fit
            for _ in range(args.epochs):
                t0 = time.perf_counter()
                est.fit(Xtr, ytr)
                times.append(time.perf_counter() - t0)
        accuracy = float(est.score(Xte, yte))
    print(json.dumps({"s_per_epoch": float(np.mean(times)), "accuracy": accuracy,
                      "peak_mib": peak_mib()}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=20_000)
    parser.add_argument("--density", type=float, default=0.001)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--dense-limit", type=float, default=12.0,
                        help="skip the densified run when dense X exceeds this many GiB")
    parser.add_argument("--worker", choices=PEERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    print(f"X {args.rows} x {args.features} at density {args.density} "
          f"({int(args.rows * args.features * args.density):,} entries), float32; "
          f"{args.features}-256-10, Adam 1e-3, batch 128, {args.epochs} epochs, "
          f"{args.threads} threads")
    dense_gib = args.rows * 0.9 * args.features * 4 / 2**30
    results = {}
    for peer in peers:
        if peer == "barenet-dense" and dense_gib > args.dense_limit:
            print(f"  {peer}: skipped (dense X would take {dense_gib:.1f} GiB)")
            continue
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        cmd = [sys.executable, __file__, "--worker", peer] + [
            f"--{k}={v}" for k, v in (("rows", args.rows), ("features", args.features),
                                      ("density", args.density), ("epochs", args.epochs),
                                      ("threads", args.threads))]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode != 0:
            print(f"  {peer}: failed\n{out.stderr[-2000:]}")
            continue
        results[peer] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\n{'peer':15s} {'s/epoch':>9s} {'accuracy':>9s} {'peak MiB':>9s} {'vs barenet':>11s}")
    base = results.get("barenet", {}).get("s_per_epoch")
    for peer, r in results.items():
        ratio = f"x{r['s_per_epoch'] / base:.2f}" if base else ""
        print(f"{peer:15s} {r['s_per_epoch']:9.2f} {r['accuracy']:9.4f} {r['peak_mib']:9.0f} "
              f"{ratio:>11s}")
    print("(vs barenet: the peer's time per epoch over barenet's on the CSR matrix; > 1 means "
          "barenet is faster)")


if __name__ == "__main__":
    main()
