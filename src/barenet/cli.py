"""The `barenet` command line (also `python -m barenet`):

    demo      the tutorial's XOR and a generated 3-class spiral
    train     train a network on .npz/.csv data or --dataset fashion-mnist, save it
    predict   a saved model on .npz/.csv/.npy data, to .csv or .npy
    info      version, backend, CPU kernel and threads

User errors print one line to stderr and exit with status 2, without a traceback."""

import argparse
import sys
import time

import numpy as np


class UserError(Exception):
    """a mistake in the command line or its files, reported as one line"""


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

    print("\n== Spiral: 3 classes x 100 points in 2-D, network [2, 64, 64, 3], softmax, "
          "Adam, batches of 32")
    X, labels = make_spirals(100, 3, noise=0.2, seed=0)
    Xt, labels_t = make_spirals(100, 3, noise=0.2, seed=1)
    net = NeuralNetwork([2, 64, 64, 3], output_activation="softmax", seed=0,
                        backend=args.backend)
    start = time.perf_counter()
    history = net.train(X, labels, epochs=300, learning_rate=0.01, batch_size=32,
                        optimizer="adam", verbose=False)
    seconds = time.perf_counter() - start
    train_acc = float(np.mean(net.predict_classes(X) == labels))
    test_acc = float(np.mean(net.predict_classes(Xt) == labels_t))
    print(f"loss {history[0]:.4f} -> {history[-1]:.4f} in 300 epochs "
          f"({seconds:.2f} s, {net.backend} backend)")
    print(f"accuracy: train {train_acc:.3f}, test (fresh points) {test_acc:.3f}")
    return 0


def _info(args):
    from . import __version__, _backend, get_num_threads

    print(f"barenet {__version__}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")
    name = _backend.resolve(args.backend)
    print(f"backend: {name}")
    if name == "compiled":
        from . import _core
        for key, value in _core.build_info().items():
            print(f"{key}: {value}")
        print(f"cpu kernel: {_core.cpu_kernel()}")
        print(f"threads: {get_num_threads()}")
    else:
        error = _backend._try_compiled()
        if error is not None:
            print(f"compiled backend unavailable: {error[1]}")
    return 0


def _read_table(path, what):
    """a 2-D float array from .csv (a non-numeric first row is a header) or .npy"""
    if path.endswith(".npy"):
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read {what} {path}: {exc}") from None
        return arr
    if not path.endswith(".csv"):
        raise UserError(f"{what} {path}: expected a .npz, .csv or .npy file")
    try:
        with open(path) as f:
            first = f.readline()
        try:
            [float(v) for v in first.strip().split(",")]
            skip = 0
        except ValueError:
            skip = 1
        arr = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {what} {path}: {exc}") from None
    return arr


def _read_npz(path, keys, option):
    """the arrays named keys from a .npz, never unpickling"""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in keys if k not in data.files]
            if missing:
                raise UserError(f"{path} has no array named {missing[0]!r} (it holds "
                                f"{', '.join(data.files)}); use {option}")
            return tuple(data[k] for k in keys)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None


def _load_xy(args):
    if args.dataset is not None:
        from .datasets import load_fashion_mnist
        try:
            (X, y), _ = load_fashion_mnist(dtype=args.dtype)
        except (FileNotFoundError, ValueError) as exc:
            raise UserError(str(exc)) from None
        return X, y
    path = args.data
    if path.endswith(".npz"):
        return _read_npz(path, (args.x_key, args.y_key), "--x-key/--y-key")
    table = _read_table(path, "data")
    if table.ndim != 2 or table.shape[1] < 2:
        raise UserError(f"{path}: need at least two columns (features and a target)")
    col = args.target_column % table.shape[1]
    return np.delete(table, col, axis=1), table[:, col]


def _ints(text, name):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{name} must be comma-separated integers, e.g. 256,128; "
                        f"got {text!r}") from None
    return values


def _train(args):
    from . import NeuralNetwork, set_num_threads

    if (args.data is None) == (args.dataset is None):
        raise UserError("give exactly one of --data FILE or --dataset fashion-mnist")
    if args.threads is not None:
        set_num_threads(args.threads)
    X, y = _load_xy(args)
    X = np.asarray(X)
    if X.ndim != 2:
        raise UserError(f"the features must form a 2-D table; got shape {X.shape}")
    hidden = _ints(args.hidden, "--hidden")
    y = np.asarray(y)
    if args.task == "classify":
        if y.ndim != 1 or y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
            raise UserError("classification needs one column of integer class labels "
                            "(use --task regress for real-valued targets)")
        y = y.astype(np.int64)
        if y.size and y.min() < 0:
            raise UserError("class labels must be >= 0")
        n_out = max(int(y.max()) + 1 if y.size else 2, 2)
        out_act = "softmax"
    else:
        n_out = 1 if y.ndim == 1 else y.shape[1]
        out_act = "identity"
    net = NeuralNetwork([X.shape[1], *hidden, n_out], activation=args.activation,
                        output_activation=out_act, dropout=args.dropout, l2=args.l2,
                        dtype=args.dtype, seed=args.seed, backend=args.backend)
    validation = None
    if args.validation_split:
        if not 0 < args.validation_split < 1:
            raise UserError("--validation-split must be between 0 and 1")
        order = np.random.default_rng(args.seed).permutation(len(X))
        n_val = max(1, int(len(X) * args.validation_split))
        val, tr = order[:n_val], order[n_val:]
        validation = (X[val], y[val])
        X, y = X[tr], y[tr]
    history = net.train(X, y, epochs=args.epochs, learning_rate=args.lr,
                        batch_size=args.batch_size, optimizer=args.optimizer,
                        validation_data=validation, verbose=not args.quiet)
    net.save(args.out)
    summary = f"saved {args.out}: final training loss {history[-1]:.4f}" if len(history) \
        else f"saved {args.out} (0 epochs)"
    if validation is not None and history.val_loss:
        summary += f", validation loss {history.val_loss[-1]:.4f}"
        if history.val_accuracy:
            summary += f", validation accuracy {history.val_accuracy[-1]:.4f}"
    print(summary)
    if args.plot:
        from .plot import plot_history
        plot_history(history, args.plot)
        print(f"saved {args.plot}")
    return 0


def _predict(args):
    from . import NeuralNetwork

    net = NeuralNetwork.load(args.model, backend=args.backend)
    if args.data.endswith(".npz"):
        (X,) = _read_npz(args.data, (args.x_key,), "--x-key")
    else:
        X = _read_table(args.data, "data")
    out = net.predict_classes(X) if args.classes else net.predict(X)
    if args.out.endswith(".npy"):
        np.save(args.out, out)
    elif args.out.endswith(".csv"):
        np.savetxt(args.out, out.reshape(len(out), -1), delimiter=",",
                   fmt="%d" if args.classes else "%.9g")
    else:
        raise UserError(f"--out {args.out}: expected a .csv or .npy file name")
    print(f"wrote {len(out)} predictions to {args.out}")
    return 0


def _parser():
    parser = argparse.ArgumentParser(prog="barenet",
                                     description="Neural networks on a compiled core.")
    parser.add_argument("--backend", choices=["auto", "compiled", "numpy"], default=None,
                        help="implementation to run (default: BARENET_BACKEND or auto)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="train the tutorial's XOR and a 3-class spiral")
    sub.add_parser("info", help="version, backend, CPU kernel and threads")

    t = sub.add_parser("train", help="train a network and save it")
    t.add_argument("--data", help=".npz (arrays X and y), or .csv (target in one column)")
    t.add_argument("--dataset", choices=["fashion-mnist"],
                   help="a known data set (Fashion-MNIST: apt-get install dataset-fashion-mnist)")
    t.add_argument("--x-key", default="X", help="array name of the features in a .npz")
    t.add_argument("--y-key", default="y", help="array name of the targets in a .npz")
    t.add_argument("--target-column", type=int, default=-1, help="target column of a .csv")
    t.add_argument("--task", choices=["classify", "regress"], default="classify")
    t.add_argument("--hidden", default="64", help="hidden layer widths, e.g. 256,128")
    t.add_argument("--activation", default="relu")
    t.add_argument("--optimizer", default="adam")
    t.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--dropout", type=float, default=0.0)
    t.add_argument("--l2", type=float, default=0.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--validation-split", type=float, default=0.0)
    t.add_argument("--out", required=True, help="where to save the model (.npz)")
    t.add_argument("--plot", help="save the training history as a PNG (needs barenet[plot])")
    t.add_argument("--quiet", action="store_true", help="no progress output")

    p = sub.add_parser("predict", help="predict with a saved model")
    p.add_argument("model", help="a model saved by `barenet train` or net.save()")
    p.add_argument("data", help=".npz (array X), .csv or .npy with the features")
    p.add_argument("--x-key", default="X", help="array name of the features in a .npz")
    p.add_argument("--out", required=True, help="output file, .csv or .npy")
    p.add_argument("--classes", action="store_true", help="class labels, not probabilities")
    return parser


COMMANDS = {"demo": _demo, "info": _info, "train": _train, "predict": _predict}


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (UserError, ValueError, TypeError, ImportError, OSError) as exc:
        print(f"barenet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"barenet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
