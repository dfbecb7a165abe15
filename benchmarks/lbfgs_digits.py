"""solver="lbfgs": barenet.sklearn.MLPClassifier against scikit-learn's MLPClassifier on
load_digits (standardised, 75/25 split), same hidden sizes, alpha, max_iter, tol and
random_state (so the same initial weights), measured in one run. Prints accuracy, fit
time, iterations, loss evaluations and the fit-time ratio. Both run on --threads threads.

    python benchmarks/lbfgs_digits.py [--hidden 100] [--max-iter 200] [--threads 1]
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
from barenet.sklearn import MLPClassifier as BnMLP


def run(est, X, y, Xt, yt, repeats):
    """(best fit seconds over repeats, accuracy, n_iter_, loss_) of est on the data"""
    times = []
    for _ in range(repeats):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            est.fit(X, y)
            times.append(time.perf_counter() - start)
    return min(times), float(np.mean(est.predict(Xt) == yt)), est.n_iter_, est.loss_


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[100])
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--alpha", type=float, default=1e-4)
    parser.add_argument("--tol", type=float, default=1e-4, help="gtol (scikit-learn's tol)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="fits per estimator (best)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    X, Xt, y, yt = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(X)
    X, Xt = scaler.transform(X), scaler.transform(Xt)
    common = dict(hidden_layer_sizes=tuple(args.hidden), solver="lbfgs", alpha=args.alpha,
                  tol=args.tol, max_iter=args.max_iter, random_state=args.seed)
    barenet.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        results = {"scikit-learn": run(SkMLP(**common), X, y, Xt, yt, args.repeats),
                   "barenet numpy": run(BnMLP(**common, backend="numpy"), X, y, Xt, yt,
                                        args.repeats),
                   "barenet": run(BnMLP(**common, backend="compiled"), X, y, Xt, yt,
                                  args.repeats)}
    print(f"load_digits: {len(X)} training rows, {X.shape[1]} features, hidden "
          f"{tuple(args.hidden)}, solver='lbfgs', max_iter {args.max_iter}, alpha "
          f"{args.alpha}, tol {args.tol}, {args.threads} thread(s), best of {args.repeats}")
    print(f"{'':14s} {'fit s':>8s} {'accuracy':>9s} {'n_iter_':>8s} {'ms/iter':>8s} "
          f"{'loss_':>10s}")
    for who, (fit, acc, n_iter, loss) in results.items():
        print(f"{who:14s} {fit:8.3f} {acc:9.4f} {n_iter:8d} {1e3 * fit / max(n_iter, 1):8.2f} "
              f"{loss:10.6f}")
    sk, bn = results["scikit-learn"], results["barenet"]
    print(f"barenet (compiled) fits {sk[0] / bn[0]:.1f}x faster "
          f"({(sk[0] / sk[2]) / (bn[0] / bn[2]):.1f}x per iteration); accuracy difference "
          f"{bn[1] - sk[1]:+.4f}")


if __name__ == "__main__":
    main()
