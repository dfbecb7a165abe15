"""Fashion-MNIST with a dense network
==================================

Fashion-MNIST end to end: train a [784, 256, 128, 10] network (float32, Adam, batch 128)
holding out part of the training set for validation, report the accuracy on the 10,000
test images, save the model, load it back and check that the reloaded model predicts
exactly the same, and plot the training history.

    python examples/fashion_mnist.py                        # 10 epochs on all 60,000 images
    python examples/fashion_mnist.py --subset 2000 --epochs 1 --plot history.png

The data comes from `apt-get install dataset-fashion-mnist`, a directory given with
--data, or with --download from Zalando's server into barenet's cache directory.
"""
import argparse
import sys
import time

import numpy as np

import barenet
from barenet.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Fashion-MNIST end to end with a [784, 256, 128, 10] network.")
    parser.add_argument("--subset", type=int, default=None, metavar="N",
                        help="use only the first N training images (default: all 60,000)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="model.npz", help="where to save the model")
    parser.add_argument("--plot", default=None, metavar="PNG",
                        help="save the training history there (needs barenet[plot])")
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="directory holding the four .gz files")
    parser.add_argument("--download", action="store_true",
                        help="download the files into the cache when they are not found")
    args = parser.parse_args(argv)
    if args.subset is not None and args.subset < 10:
        parser.error("--subset must be at least 10")
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    return args


def save_and_reload(net, path, X):
    """save, load back, and check the reloaded network predicts bit for bit the same"""
    net.save(path)
    loaded = barenet.NeuralNetwork.load(path)
    same = np.array_equal(net.predict(X), loaded.predict(X))
    print(f"saved the model to {path}; reloaded ({loaded.backend} backend): predictions "
          + ("identical" if same else "DIFFERENT"))
    return same


def main(argv=None):
    args = parse_args(argv)
    (X, y), (X_test, y_test) = load_fashion_mnist(args.data, dtype="float32",
                                                  download=args.download)
    if args.subset is not None:
        X, y = X[:args.subset], y[:args.subset]
    n_val = max(1, len(X) // 12)                  # 5,000 of 60,000: held out for validation
    X_train, y_train, X_val, y_val = X[:-n_val], y[:-n_val], X[-n_val:], y[-n_val:]
    print(f"Fashion-MNIST: {len(X_train)} training, {len(X_val)} validation, "
          f"{len(X_test)} test images of 28x28 pixels, {len(FASHION_MNIST_CLASSES)} classes")

    net = barenet.NeuralNetwork([784, 256, 128, 10], activation="relu",
                                output_activation="softmax", dtype="float32", seed=args.seed)
    start = time.perf_counter()
    history = net.train(X_train, y_train, epochs=args.epochs,
                        learning_rate=args.learning_rate, batch_size=args.batch_size,
                        optimizer="adam", validation_data=(X_val, y_val), verbose=True)
    seconds = time.perf_counter() - start
    epochs = f"{len(history)} epoch{'s' if len(history) != 1 else ''}"
    print(f"trained {epochs} in {seconds:.1f} s ({net.backend} backend, "
          f"{seconds / len(history):.2f} s per epoch)")

    predicted = net.predict_classes(X_test)
    print(f"test accuracy: {np.mean(predicted == y_test):.4f}")
    per_class = [np.mean(predicted[y_test == k] == k) for k in range(10)]
    worst = int(np.argmin(per_class))
    print(f"hardest class: {FASHION_MNIST_CLASSES[worst]} ({per_class[worst]:.3f})")

    ok = save_and_reload(net, args.out, X_test)

    if args.plot:
        try:
            from barenet.plot import plot_history
            plot_history(history, args.plot,
                         title=f"Fashion-MNIST, [784, 256, 128, 10], {len(X_train)} images")
            print(f"history plotted to {args.plot}")
        except ImportError as exc:                # matplotlib is an optional extra
            print(f"no plot: {exc}")
    return 0 if ok else 1


if __name__ == "__main__":
    status = main()
    if status:   # no SystemExit(0): the docs' gallery runs this file in-process
        sys.exit(status)
