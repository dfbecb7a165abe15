"""barenet.sklearn.MLPClassifier against scikit-learn's MLPClassifier, measured in one run
with the same hyper-parameters: Fashion-MNIST (hidden (256, 128), adam, batch 128, float32,
a fixed number of epochs) and digits. Prints fit time, predict time, accuracy and ratios.

    python benchmarks/sklearn_compare.py [--epochs 10] [--threads 2] [--subset N]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLP
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import barenet
from barenet.datasets import load_fashion_mnist
from barenet.sklearn import MLPClassifier as BnMLP


def run(make, X, y, Xt, yt):
    est = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        est.fit(X, y)
        fit = time.perf_counter() - start
    start = time.perf_counter()
    acc = float(np.mean(est.predict(Xt) == yt))
    return fit, time.perf_counter() - start, acc


def compare(name, X, y, Xt, yt, epochs, hidden, batch):
    common = dict(hidden_layer_sizes=hidden, solver="adam", learning_rate_init=1e-3,
                  batch_size=batch, max_iter=epochs, alpha=1e-4, random_state=0, tol=0.0,
                  n_iter_no_change=epochs + 1)
    results = {"scikit-learn": run(lambda: SkMLP(**common), X, y, Xt, yt),
               "barenet": run(lambda: BnMLP(**common, dtype=X.dtype), X, y, Xt, yt)}
    print(f"\n{name}: {len(X)} training rows, hidden {hidden}, batch {batch}, {epochs} epochs,"
          f" {X.dtype}")
    print(f"{'':14s} {'fit s':>8s} {'predict s':>10s} {'accuracy':>9s}")
    for who, (fit, pred, acc) in results.items():
        print(f"{who:14s} {fit:8.2f} {pred:10.4f} {acc:9.4f}")
    sk, bn = results["scikit-learn"], results["barenet"]
    print(f"barenet is {sk[0] / bn[0]:.1f}x faster to fit, {sk[1] / bn[1]:.1f}x to predict; "
          f"accuracy difference {bn[2] - sk[2]:+.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--subset", type=int, default=None, help="Fashion-MNIST training rows")
    args = parser.parse_args()
    barenet.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        (X, y), (Xt, yt) = load_fashion_mnist()
        if args.subset:
            X, y = X[:args.subset], y[:args.subset]
        compare("Fashion-MNIST", X, y, Xt, yt, args.epochs, (256, 128), 128)
        digits = load_digits()
        Xd = StandardScaler().fit_transform(digits.data).astype(np.float32)
        Xa, Xb, ya, yb = train_test_split(Xd, digits.target, test_size=0.25, random_state=0)
        compare("digits", Xa, ya, Xb, yb, max(args.epochs, 50), (64,), 32)


if __name__ == "__main__":
    main()
