"""Small data sets for examples, tests and benchmarks, with NumPy only.

Fashion-MNIST is read from the gzip IDX files that the Debian package
``dataset-fashion-mnist`` installs (nothing is downloaded); XOR and the 2-D
spirals are generated. Everything returns plain NumPy arrays; networks,
batching and scaling beyond [0, 1] are left to the caller.
"""

import gzip
import math
import numbers
import os
import zlib

import numpy as np

__all__ = ["load_fashion_mnist", "make_spirals", "make_xor", "one_hot"]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_ENV = "BARENET_FASHION_MNIST_DIR"
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

_IDX_UBYTE = 0x08          # IDX type code of unsigned bytes, the only one used here
_IMAGE_SHAPE = (28, 28)
_N_CLASSES = 10


def _float_dtype(dtype, name="dtype"):
    """Return np.dtype(dtype) if it is float32 or float64, else raise ValueError."""
    try:
        dt = None if dtype is None else np.dtype(dtype)   # np.dtype(None) is float64
    except TypeError:
        dt = None
    if dt is None or dt not in (np.float32, np.float64):
        raise ValueError(f"{name} must be 'float32' or 'float64', got {dtype!r}")
    return dt


def _idx_payload(path, ndim):
    """Read one gzip IDX file of unsigned bytes; return (dims, flat uint8 array).

    Checks the whole header: two zero bytes, type code 0x08, the expected
    number of dimensions, and a payload of exactly prod(dims) bytes.
    """
    with open(path, "rb") as f:
        raw = f.read()
    try:
        data = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: not a valid gzip file ({exc})") from None
    header = 4 + 4 * ndim
    if len(data) < 4:
        raise ValueError(f"{path}: truncated IDX file ({len(data)} bytes, no header)")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: bad IDX magic number 0x{data[:4].hex()} "
                         f"(expected 0x0000{_IDX_UBYTE:02x}{ndim:02x})")
    if data[2] != _IDX_UBYTE:
        raise ValueError(f"{path}: IDX type code 0x{data[2]:02x}, expected 0x08 "
                         "(unsigned byte)")
    if data[3] != ndim:
        raise ValueError(f"{path}: IDX file has {data[3]} dimensions, expected {ndim}")
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, "
                         f"expected at least {header})")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(dims)
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "trailing bytes in"
        raise ValueError(f"{path}: {what} IDX file: header says dimensions {dims} "
                         f"({expected} bytes), file has {len(data)} bytes")
    return dims, np.frombuffer(data, dtype=np.uint8, offset=header)


def _read_split(directory, image_file, label_file, dtype):
    """Load one (X, y) pair: X (n, 784) scaled to [0, 1] in dtype, y int64 (n,)."""
    image_path = os.path.join(directory, image_file)
    label_path = os.path.join(directory, label_file)
    for p in (image_path, label_path):
        if not os.path.isfile(p):
            raise FileNotFoundError(
                f"Fashion-MNIST file not found: {p}. Install it with "
                f"`apt-get install {FASHION_MNIST_PACKAGE}` (files go to "
                f"{FASHION_MNIST_DIR}), or pass path= (or set {FASHION_MNIST_ENV}) "
                "to a directory holding the four gzip IDX files.")
    dims, pixels = _idx_payload(image_path, 3)
    if dims[1:] != _IMAGE_SHAPE:
        raise ValueError(f"{image_path}: images are {dims[1]}x{dims[2]}, "
                         f"expected {_IMAGE_SHAPE[0]}x{_IMAGE_SHAPE[1]}")
    (n_labels,), labels = _idx_payload(label_path, 1)
    if n_labels != dims[0]:
        raise ValueError(f"{label_path}: {n_labels} labels but {image_path} "
                         f"has {dims[0]} images")
    if n_labels and labels.max() >= _N_CLASSES:
        raise ValueError(f"{label_path}: label {int(labels.max())} out of range "
                         f"0..{_N_CLASSES - 1}")
    X = pixels.reshape(dims[0], math.prod(_IMAGE_SHAPE)).astype(dtype)   # one copy, C-contiguous
    np.divide(X, dtype.type(255), out=X)
    return X, labels.astype(np.int64)


def load_fashion_mnist(path=None, *, dtype="float32"):
    """Load Fashion-MNIST from its four gzip IDX files.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Directory holding ``train-images-idx3-ubyte.gz``,
        ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
        ``t10k-labels-idx1-ubyte.gz``. Default: the environment variable
        ``BARENET_FASHION_MNIST_DIR`` if set, else
        ``/usr/share/datasets/fashion-mnist`` (Debian package
        ``dataset-fashion-mnist``).
    dtype : {"float32", "float64"}
        Floating type of the images.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        X: C-contiguous ``(n, 784)`` arrays of ``dtype`` with pixels scaled to
        [0, 1]; y: int64 ``(n,)`` class labels in 0..9 (names in
        ``FASHION_MNIST_CLASSES``). n is 60000 and 10000 for the real files.

    Raises
    ------
    FileNotFoundError
        A file is missing; the message names it and the package to install.
    ValueError
        A file is not valid gzip, has a bad IDX header (magic number, type
        code, dimensions), is truncated or too long, has a label count
        different from its image count, or labels outside 0..9; or dtype is
        not float32/float64. The message names the file.
    """
    dt = _float_dtype(dtype)
    if path is None:
        path = os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR
    directory = os.fspath(path)
    train = _read_split(directory, *FASHION_MNIST_FILES["train"], dt)
    test = _read_split(directory, *FASHION_MNIST_FILES["test"], dt)
    return train, test


def make_xor(dtype="float64"):
    """Return the tutorial's XOR problem: X (4, 2) of 0/1 inputs, y (4, 1) targets.

    Rows are (0,0)->0, (0,1)->1, (1,0)->1, (1,1)->0, both arrays in ``dtype``
    (float32 or float64).
    """
    dt = _float_dtype(dtype)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=dt)
    y = np.array([[0], [1], [1], [0]], dtype=dt)
    return X, y


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def make_spirals(n_per_class=100, n_classes=3, *, noise=0.2, seed=0, dtype="float64"):
    """Generate the classic interleaved 2-D spirals (CS231n), one arm per class.

    Class k has ``n_per_class`` points with radius ``linspace(0, 1)`` and angle
    ``linspace(4k, 4(k+1)) + noise * N(0, 1)``; the point is
    ``(r sin t, r cos t)``. Random numbers come only from
    ``np.random.default_rng(seed)`` (NumPy's global state is never touched),
    so a given seed always gives the same data.

    Returns ``X`` of shape ``(n_per_class * n_classes, 2)`` in ``dtype`` and
    int64 labels ``y`` of shape ``(n,)``, grouped by class.
    """
    n_per_class = _positive_int(n_per_class, "n_per_class")
    n_classes = _positive_int(n_classes, "n_classes")
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real):
        raise TypeError(f"noise must be a real number, got {type(noise).__name__}")
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be finite and >= 0, got {noise}")
    dt = _float_dtype(dtype)
    if isinstance(seed, bool):
        raise TypeError("seed must be an integer, None or a numpy Generator, got bool")
    try:
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"seed: {exc}") from None

    k = np.arange(n_classes, dtype=np.float64)
    r = np.linspace(0.0, 1.0, n_per_class)                                   # (N,)
    t = np.linspace(4.0 * k, 4.0 * (k + 1), n_per_class, axis=1)             # (K, N)
    t += noise * rng.standard_normal((n_classes, n_per_class))  # = K draws of N in turn
    X = np.empty((n_classes * n_per_class, 2), dtype=dt)
    X[:, 0] = (r * np.sin(t)).ravel()
    X[:, 1] = (r * np.cos(t)).ravel()
    y = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    return X, y


def one_hot(y, n_classes=None, dtype="float64"):
    """Encode integer class labels as a one-hot matrix.

    ``y`` is a 1-D array-like (or an ``(n, 1)`` column) of integer labels;
    floats are accepted only when every value is a whole number. With
    ``n_classes=None`` it is ``max(y) + 1``. Returns an ``(n, n_classes)``
    array of ``dtype`` (float32 or float64). Labels must lie in
    ``0..n_classes-1``; anything else raises ValueError (TypeError for
    non-numeric labels).
    """
    dt = _float_dtype(dtype)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (or an (n, 1) column), got shape {y.shape}")
    if y.dtype.kind in "iu":
        labels = y.astype(np.int64, copy=False)
    elif y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError("y must hold integer class labels, got non-integral values")
        labels = y.astype(np.int64)
    else:
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    if n_classes is None:
        if labels.size == 0:
            raise ValueError("n_classes is required when y is empty")
        n_classes = int(labels.max()) + 1
    n_classes = _positive_int(n_classes, "n_classes")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)][0]
        raise ValueError(f"y holds label {bad}, outside 0..{n_classes - 1} "
                         f"(n_classes={n_classes})")
    out = np.zeros((labels.size, n_classes), dtype=dt)
    out[np.arange(labels.size), labels] = 1
    return out
