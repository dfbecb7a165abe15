"""The `barenet` command line (also `python -m barenet`):

    demo      the tutorial's XOR and a generated 3-class spiral
    train     train a network on .npz/.csv data or --dataset fashion-mnist, save it
    predict   a saved model on .npz/.csv/.npy data, to .csv or .npy
    info      version, backend, CPU kernel and threads

Errors print one line to stderr, without a traceback, and set the exit status:

    0    success
    2    the command line, a file or the data were refused (bad option values, a CSV cell
         that is not a number, a --target-column outside the table, a class label or
         --hidden width whose network cannot fit in memory, an --out in a missing
         directory, a damaged model file, ...), or memory ran out
    3    training diverged (the loss became NaN or infinite, e.g. --lr 1e300); nothing saved
    130  interrupted (Ctrl-C)

A traceback (status 1) would be a bug in barenet."""

import argparse
import os
import sys
import time

import numpy as np


class UserError(Exception):
    """a mistake in the command line or its files, reported as one line"""


class _UsageError(Exception):
    """argparse refused the command line (message says how); main reports it as one line"""

    def __init__(self, prog, message):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """argparse's parser, except that a refused command line is an exception for main to
    report as one line with status 2 (argparse itself prints the whole usage and exits);
    subparsers are of this class too (add_subparsers uses the parent's class)"""

    def error(self, message):
        raise _UsageError(self.prog, message)


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


def _is_number(cell):
    """a CSV cell NumPy reads as a float (Python's float() also takes 1_000; loadtxt not)"""
    try:
        float(cell)
    except ValueError:
        return False
    return "_" not in cell


def _first_bad_cell(path, skip):
    """(line, column, cell) of the first cell of the data lines (after skip lines) that is
    not a number, or (line, None, count) of the first line whose column count differs
    from the first's, or None; 1-based, counting every line of the file"""
    width = None
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            if number <= skip or not line.strip() or line.lstrip().startswith("#"):
                continue
            cells = line.split("#", 1)[0].rstrip("\r\n").split(",")
            for column, cell in enumerate(cells, 1):
                if not _is_number(cell):
                    return number, column, cell
            if width is None:
                width = len(cells)
            elif len(cells) != width:
                return number, None, (len(cells), width)
    return None


def _read_csv(path, what):
    """A 2-D float array from a .csv file (UTF-8, byte-order mark allowed, comma separated;
    blank lines and lines starting with # skipped). The first line is a header when none
    of its cells is a number (column names); a first line with some numeric and some
    non-numeric cells, like any other line with a cell that is not a number, is an error
    naming its line and column: a malformed data row is never dropped as a header."""
    try:
        skip = 0
        with open(path, encoding="utf-8-sig") as f:
            for number, line in enumerate(f, 1):
                if line.strip() and not line.lstrip().startswith("#"):
                    cells = line.rstrip("\r\n").split(",")
                    numeric = [_is_number(cell) for cell in cells]
                    if not any(numeric):
                        skip = number  # the header
                    elif not all(numeric):
                        column = numeric.index(False) + 1
                        raise UserError(
                            f"{what} {path}: line {number}, column {column}: "
                            f"{cells[column - 1]!r} is not a number (a first line is taken as "
                            "a header only when none of its cells is a number)")
                    break
        try:
            return np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2,
                              encoding="utf-8-sig")
        except ValueError as exc:
            bad = _first_bad_cell(path, skip)
            if bad is None:
                raise
            number, column, cell = bad
            if column is None:
                raise UserError(f"{what} {path}: line {number} has {cell[0]} columns where the "
                                f"lines before it have {cell[1]}") from None
            raise UserError(f"{what} {path}: line {number}, column {column}: {cell!r} is not a "
                            "number") from exc
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise UserError(f"cannot read {what} {path}: {exc}") from None


def _read_table(path, what):
    """a 2-D float array from .csv (see _read_csv) or .npy"""
    if path.endswith(".npy"):
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read {what} {path}: {exc}") from None
        return arr
    if not path.endswith(".csv"):
        raise UserError(f"{what} {path}: expected a .npz, .csv or .npy file")
    return _read_csv(path, what)


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
    n = table.shape[1]
    col = args.target_column
    if not -n <= col < n:
        raise UserError(f"--target-column {col} is not a column of {path}, which has {n} "
                        f"columns: use 0 to {n - 1}, or -1 to -{n} counting from the last")
    col %= n
    return np.delete(table, col, axis=1), table[:, col]


def _ints(text, name):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{name} must be comma-separated integers, e.g. 256,128; "
                        f"got {text!r}") from None
    return values


def _physical_memory():
    """bytes of RAM, or None where the system does not say"""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _human(n):
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000


# buffers of n_params values an optimizer keeps beside the parameters and their gradient
# (L-BFGS: scipy's 10 pairs of history vectors and its work arrays, roughly)
_OPTIMIZER_STATES = {"momentum": 1, "nesterov": 1, "rmsprop": 1, "adam": 2, "adamw": 2,
                     "lbfgs": 25}


def _check_memory(sizes, dtype, batch, optimizer, labels=None):
    """refuse, before anything is allocated, a network whose parameters, gradient, optimizer
    state and one batch's activations alone exceed the machine's memory"""
    n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    states = _OPTIMIZER_STATES.get(str(optimizer).strip().lower(), 0)
    need = np.dtype(dtype).itemsize * (n_params * (2 + states) + 4 * batch * sum(sizes))
    total = _physical_memory()
    if total is not None and need > total:
        why = (f" (the largest class label is {labels}; a classifier has one output for each "
               f"label 0, 1, ..., {labels})" if labels is not None else "")
        raise UserError(f"the network {list(sizes)}{why} needs at least {_human(need)} "
                        f"({n_params} parameters in {dtype} with {optimizer}), more than this "
                        f"machine's {_human(total)} of memory: use fewer or smaller layers")


def _class_labels(y):
    """validated class labels 0, 1, ... -> (int64 array, the largest)"""
    if y.ndim != 1 or y.dtype.kind not in "biuf" or (
            y.dtype.kind == "f" and not (np.isfinite(y).all()
                                         and np.array_equal(y, np.round(y)))):
        raise UserError("classification needs one column of integer class labels "
                        "(use --task regress for real-valued targets)")
    if y.size and y.min() < 0:
        raise UserError(f"class labels must be >= 0; got {y.min()}")
    if y.size and y.max() >= 2**53:
        raise UserError(f"class labels must be 0, 1, ..., K-1 for K classes; got {y.max()}")
    return y.astype(np.int64), int(y.max()) if y.size else 0


def _train(args):
    from . import NeuralNetwork, set_num_threads
    from .io import check_save_path

    if (args.data is None) == (args.dataset is None):
        raise UserError("give exactly one of --data FILE or --dataset fashion-mnist")
    check_save_path(args.out)  # before the data are read and the network trained
    if args.plot:
        _check_directory(args.plot, "--plot")
    hidden = _ints(args.hidden, "--hidden")
    if args.threads is not None:
        set_num_threads(args.threads)
    X, y = _load_xy(args)
    X = np.asarray(X)
    if X.ndim != 2:
        raise UserError(f"the features must form a 2-D table; got shape {X.shape}")
    y = np.asarray(y)
    largest = None
    if args.task == "classify":
        y, largest = _class_labels(y)
        n_out = max(largest + 1, 2)
        out_act = "softmax"
    else:
        n_out = 1 if y.ndim == 1 else y.shape[1]
        out_act = "identity"
    sizes = [X.shape[1], *hidden, n_out]
    if all(isinstance(v, int) and v >= 1 for v in sizes):  # else NeuralNetwork says why
        batch = len(X) if args.batch_size is None else max(1, min(args.batch_size, len(X)))
        _check_memory(sizes, args.dtype, batch, args.optimizer,
                      largest if n_out > 2 ** 20 else None)
    net = NeuralNetwork(sizes, activation=args.activation,
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


def _check_directory(path, option):
    """an output file's directory exists (checked before the work whose result it takes)"""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UserError(f"{option} {path}: the directory {os.path.dirname(path)} does not "
                        "exist")


def _predict(args):
    from . import NeuralNetwork

    if not args.out.endswith((".npy", ".csv")):
        raise UserError(f"--out {args.out}: expected a .csv or .npy file name")
    _check_directory(args.out, "--out")
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
    parser = _Parser(prog="barenet", description="Neural networks on a compiled core.")
    parser.add_argument("--backend", choices=["auto", "compiled", "numpy"], default=None,
                        help="implementation to run (default: BARENET_BACKEND or auto)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="train the tutorial's XOR and a 3-class spiral")
    sub.add_parser("info", help="version, backend, CPU kernel and threads")

    t = sub.add_parser("train", help="train a network and save it")
    t.add_argument("--data", help=".npz (arrays X and y), or .csv (target in one column; the "
                   "first line is a header when none of its cells is a number)")
    t.add_argument("--dataset", choices=["fashion-mnist"],
                   help="a known data set (Fashion-MNIST: apt-get install dataset-fashion-mnist)")
    t.add_argument("--x-key", default="X", help="array name of the features in a .npz")
    t.add_argument("--y-key", default="y", help="array name of the targets in a .npz")
    t.add_argument("--target-column", type=int, default=-1,
                   help="target column of a .csv or .npy: 0 is the first, -1 (default) the "
                   "last; outside the table is an error")
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
    from .network import TrainingDiverged

    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        print(f"{exc.prog}: error: {exc} (see {exc.prog} --help)", file=sys.stderr)
        return 2
    try:
        return COMMANDS[args.command](args)
    except TrainingDiverged as exc:
        print(f"barenet {args.command}: error: training diverged: {exc} Nothing was saved.",
              file=sys.stderr)
        return 3
    except MemoryError as exc:
        print(f"barenet {args.command}: error: out of memory{': ' if str(exc) else ''}{exc} "
              "(try a smaller network, --batch-size or data set)", file=sys.stderr)
        return 2
    except (UserError, ValueError, TypeError, ImportError, OSError) as exc:
        # ValueError includes barenet.ModelFileError
        print(f"barenet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"barenet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
