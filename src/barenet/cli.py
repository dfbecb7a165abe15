"""The `barenet` command line (also `python -m barenet`): `demo` runs the tutorial's XOR
and a generated 3-class spiral, `info` reports the version and the backend in use. User
errors print one line to stderr and exit with status 2, without a traceback."""

import argparse
import sys
import time

import numpy as np


def _demo(args):
    from . import NeuralNetwork
    from .datasets import make_spirals, make_xor

    print("== XOR, the tutorial's network [2, 4, 1] (np.random.seed(42), 5000 epochs, lr 0.5)")
    X, y = make_xor()
    np.random.seed(42)
    nn = NeuralNetwork([2, 4, 1], backend=args.backend)
    start = time.perf_counter()
    nn.train(X, y, epochs=5000, learning_rate=0.5)
    seconds = time.perf_counter() - start
    print("Predictions:")
    print(nn.predict(X))
    print(f"({nn.backend} backend, {seconds * 1e3:.1f} ms for 5000 epochs)")

    print("\n== Spiral: 3 classes x 100 points in 2-D, network [2, 32, 32, 3], one sigmoid "
          "output per class")
    X, labels = make_spirals(100, 3, noise=0.2, seed=0)
    Xt, labels_t = make_spirals(100, 3, noise=0.2, seed=1)
    net = NeuralNetwork([2, 32, 32, 3], seed=0, backend=args.backend)
    start = time.perf_counter()
    losses = net.train(X, np.eye(3)[labels], epochs=3000, learning_rate=1.0, verbose=False)
    seconds = time.perf_counter() - start
    train_acc = float(np.mean(net.predict(X).argmax(axis=1) == labels))
    test_acc = float(np.mean(net.predict(Xt).argmax(axis=1) == labels_t))
    print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f} in 3000 full-batch epochs "
          f"({seconds:.2f} s, {net.backend} backend)")
    print(f"accuracy: train {train_acc:.3f}, test (fresh points) {test_acc:.3f}")
    return 0


def _info(args):
    from . import __version__, _backend

    print(f"barenet {__version__}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")
    name = _backend.resolve(args.backend)
    print(f"backend: {name}")
    if name == "compiled":
        from . import _core
        for key, value in _core.build_info().items():
            print(f"{key}: {value}")
    else:
        error = _backend._try_compiled()
        if error is not None:
            print(f"compiled backend unavailable: {error[1]}")
    return 0


def _parser():
    parser = argparse.ArgumentParser(prog="barenet", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["auto", "compiled", "numpy"], default=None,
                        help="implementation to run (default: BARENET_BACKEND or auto)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="train the tutorial's XOR and a 3-class spiral")
    sub.add_parser("info", help="version, backend and build information")
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    commands = {"demo": _demo, "info": _info}
    try:
        return commands[args.command](args)
    except (ValueError, TypeError, ImportError, OSError) as exc:
        print(f"barenet {args.command}: error: {exc}", file=sys.stderr)
        return 2
