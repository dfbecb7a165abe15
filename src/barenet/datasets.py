"""Small data sets for examples, tests and benchmarks, with NumPy and the standard library.

Fashion-MNIST is read from the gzip IDX files that the Debian package
``dataset-fashion-mnist`` installs, or, with ``download=True``, fetched once
with urllib into a cache directory (SHA-256 checked, written atomically); XOR
and the 2-D spirals are generated; text is read from files (load_text) and cut into a
language model's windows (sequences). Everything returns plain NumPy arrays (or a str);
networks, batching and scaling beyond [0, 1] are left to the caller.
"""

import contextlib
import gzip
import hashlib
import http.client
import math
import numbers
import os
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from typing import Optional

import numpy as np

from ._typing import ArrayLike, DTypeLike, PathLike
from .io import fsync_directory

__all__ = ["DownloadError", "get_cache_dir", "load_fashion_mnist", "load_text", "make_spirals",
           "make_xor", "one_hot", "sequences"]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_ENV = "BARENET_FASHION_MNIST_DIR"
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# SHA-256 of the four files as Zalando publishes them (their MD5s are the ones in the
# upstream README). Debian's copies hold the same deflate streams but their gzip headers
# were normalised (no file name, another mtime), so Debian's files hash differently;
# tests/test_datasets.py rebuilds the official files from Debian's and checks these.
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz":
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz":
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz":
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz":
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
CACHE_ENV = "BARENET_CACHE_DIR"
DOWNLOAD_TIMEOUT = 60.0    # seconds without data before a download is abandoned
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


# ---------------------------------------------------------------- download and cache

class DownloadError(OSError):
    """A file could not be downloaded: HTTP error, network failure, timeout, truncated
    response or SHA-256 mismatch. Nothing is left behind: the partial file is deleted."""


def get_cache_dir() -> str:
    """barenet's cache directory (it may not exist yet).

    ``$BARENET_CACHE_DIR`` when set; otherwise ``$XDG_CACHE_HOME/barenet`` when
    ``XDG_CACHE_HOME`` is set, ``~/Library/Caches/barenet`` on macOS,
    ``%LOCALAPPDATA%\\barenet\\Cache`` on Windows, else ``~/.cache/barenet``.
    """
    root = os.environ.get(CACHE_ENV)
    if root:
        return os.path.expanduser(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "barenet")
    if sys.platform == "darwin":
        return os.path.expanduser(os.path.join("~", "Library", "Caches", "barenet"))
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return os.path.join(os.environ["LOCALAPPDATA"], "barenet", "Cache")
    return os.path.expanduser(os.path.join("~", ".cache", "barenet"))


def _download(url, target, sha256, timeout):
    """Fetch url into the file target, atomically, checking its SHA-256.

    The bytes go to a temporary file in target's directory, are flushed and fsynced,
    checked (length announced by the server, then SHA-256) and only then renamed onto
    target, so target is either absent or complete and verified. Any failure deletes
    the temporary file and raises DownloadError naming the URL.
    """
    directory, name = os.path.split(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
    try:
        digest, size, expected_size = hashlib.sha256(), 0, None
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    length = response.headers.get("Content-Length")
                    expected_size = int(length) if length and length.isdigit() else None
                    while True:
                        chunk = response.read(1 << 16)
                        if not chunk:
                            break
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
            except urllib.error.HTTPError as exc:
                exc.close()
                raise DownloadError(f"download of {url} failed: HTTP {exc.code} "
                                    f"{exc.reason}") from None
            except http.client.IncompleteRead as exc:
                raise DownloadError(f"download of {url} failed: truncated response "
                                    f"({size + len(exc.partial)} bytes received)") from None
            except TimeoutError:
                raise DownloadError(f"download of {url} failed: timed out after {timeout:g} s "
                                    "without data") from None
            except urllib.error.URLError as exc:
                reason = exc.reason
                if isinstance(reason, TimeoutError):
                    reason = f"timed out after {timeout:g} s"
                raise DownloadError(f"download of {url} failed: {reason}") from None
            except (http.client.HTTPException, ConnectionError) as exc:
                raise DownloadError(f"download of {url} failed: {exc!r}") from None
            if expected_size is not None and size != expected_size:
                raise DownloadError(f"download of {url} failed: truncated response "
                                    f"({size} of {expected_size} bytes received)")
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise DownloadError(f"download of {url} failed: SHA-256 mismatch (expected "
                                f"{sha256}, got {digest.hexdigest()} for {size} bytes); "
                                "the file was deleted")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(directory)


def _missing(directory):
    """the Fashion-MNIST file names not present in directory, in a fixed order"""
    names = [n for split in ("train", "test") for n in FASHION_MNIST_FILES[split]]
    return [n for n in names if not os.path.isfile(os.path.join(directory, n))]


def _timeout(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"timeout must be a positive number of seconds, got "
                        f"{type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {value}")
    return float(value)


def load_fashion_mnist(path: Optional[PathLike] = None, *, dtype: DTypeLike = "float32",
                       download: bool = False, cache_dir: Optional[PathLike] = None,
                       url: Optional[str] = None, timeout: float = DOWNLOAD_TIMEOUT
                       ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load Fashion-MNIST from its four gzip IDX files, downloading them if asked.

    The files are looked for first in ``path`` (default: the environment variable
    ``BARENET_FASHION_MNIST_DIR`` if set, else ``/usr/share/datasets/fashion-mnist``,
    where the Debian package ``dataset-fashion-mnist`` puts them), then in the cache
    directory. A directory is used when it holds all four files.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Directory holding ``train-images-idx3-ubyte.gz``,
        ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
        ``t10k-labels-idx1-ubyte.gz``.
    dtype : {"float32", "float64"}
        Floating type of the images.
    download : bool
        When neither directory holds the files, fetch the missing ones from ``url``
        into the cache directory. Each file is checked against the SHA-256 in
        ``FASHION_MNIST_SHA256`` and written atomically, so an interrupted or failed
        download never leaves a partial file; later calls find the cached files and
        do not download again. Default False: nothing is downloaded.
    cache_dir : str or os.PathLike, optional
        Where downloaded files go (and are looked for). Default:
        ``get_cache_dir()/fashion-mnist``, i.e. ``$BARENET_CACHE_DIR/fashion-mnist``
        or ``~/.cache/barenet/fashion-mnist`` (``$XDG_CACHE_HOME`` respected).
    url : str, optional
        Base URL the four file names are appended to. Default
        ``FASHION_MNIST_URL``, Zalando's official location.
    timeout : float
        Seconds to wait for a connection or for data before giving up on a download.

    Returns
    -------
    (X_train, y_train), (X_test, y_test)
        X: C-contiguous ``(n, 784)`` arrays of ``dtype`` with pixels scaled to
        [0, 1]; y: int64 ``(n,)`` class labels in 0..9 (names in
        ``FASHION_MNIST_CLASSES``). n is 60000 and 10000 for the real files.

    Raises
    ------
    FileNotFoundError
        A file is missing and ``download`` is False; the message names it, the
        package to install and ``download=True``.
    DownloadError
        (an OSError) A download failed: HTTP error, unreachable host, timeout,
        truncated response or checksum mismatch. Files downloaded and verified
        before the failure stay in the cache; the failed one leaves nothing.
    ValueError
        A file is not valid gzip, has a bad IDX header (magic number, type
        code, dimensions), is truncated or too long, has a label count
        different from its image count, or labels outside 0..9; or dtype is
        not float32/float64. The message names the file.
    """
    dt = _float_dtype(dtype)
    download = bool(download)
    timeout = _timeout(timeout)
    if path is None:
        path = os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR
    directory = os.fspath(path)
    cache = os.fspath(cache_dir) if cache_dir is not None else os.path.join(
        get_cache_dir(), "fashion-mnist")

    missing = _missing(directory)
    if missing and not _missing(cache):
        directory, missing = cache, []
    if missing and not download:
        raise FileNotFoundError(
            f"Fashion-MNIST file not found: {os.path.join(directory, missing[0])}. Install "
            f"it with `apt-get install {FASHION_MNIST_PACKAGE}` (files go to "
            f"{FASHION_MNIST_DIR}), pass path= (or set {FASHION_MNIST_ENV}) to a directory "
            "holding the four gzip IDX files, or call load_fashion_mnist(download=True) "
            f"to fetch them into {cache}.")
    if missing:
        base = FASHION_MNIST_URL if url is None else str(url)
        if not base.endswith("/"):
            base += "/"
        os.makedirs(cache, exist_ok=True)
        for name in _missing(cache):
            _download(base + name, os.path.join(cache, name), FASHION_MNIST_SHA256[name],
                      timeout)
        directory = cache
    train = _read_split(directory, *FASHION_MNIST_FILES["train"], dt)
    test = _read_split(directory, *FASHION_MNIST_FILES["test"], dt)
    return train, test


def make_xor(dtype: DTypeLike = "float64") -> tuple[np.ndarray, np.ndarray]:
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


def make_spirals(n_per_class: int = 100, n_classes: int = 3, *, noise: float = 0.2,
                 seed: Optional[int] = 0, dtype: DTypeLike = "float64"
                 ) -> tuple[np.ndarray, np.ndarray]:
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


def one_hot(y: ArrayLike, n_classes: Optional[int] = None,
            dtype: DTypeLike = "float64") -> np.ndarray:
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


# -- text ---------------------------------------------------------------------------------
# in a directory, files that are not text: strfile's binary indexes (Debian's fortunes)
TEXT_SKIP_SUFFIXES = (".dat",)


def _text_files(directory):
    """the text files of a directory, by name: regular files (symlinks followed), not
    hidden, not ending in TEXT_SKIP_SUFFIXES, each real file once (Debian's fortunes
    has `name.u8 -> name` links)"""
    seen, files = set(), []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.startswith(".") or name.endswith(TEXT_SKIP_SUFFIXES) or not os.path.isfile(path):
            continue
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            files.append(path)
    return files


def load_text(path: PathLike, encoding: str = "utf-8") -> str:
    """The text of a file, or of a directory's text files joined, as one str.

    A directory contributes its regular files in name order (not its subdirectories),
    leaving out hidden files, strfile's binary ``*.dat`` indexes and second names of a
    file already read (the ``*.u8`` links of Debian's ``fortunes``: ``apt-get install
    fortunes``, then ``load_text("/usr/share/games/fortunes")``). Each file's text ends
    with a newline in the result (one is added where a file lacks it). Line ends are kept
    as the files have them. A file that does not decode raises ValueError naming it; a
    directory without text files raises ValueError.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str, bytes or os.PathLike; got {type(path).__name__}")
    if not isinstance(encoding, str):
        raise TypeError(f"encoding must be a str; got {type(encoding).__name__}")
    import codecs
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"encoding {encoding!r} is not a known text encoding") from None
    path = os.fsdecode(os.fspath(path))
    if os.path.isdir(path):
        files = _text_files(path)
        if not files:
            raise ValueError(f"{path} holds no text files (only subdirectories, hidden "
                             f"files or {', '.join('*' + s for s in TEXT_SKIP_SUFFIXES)})")
    elif os.path.exists(path):
        files = [path]
    else:
        raise FileNotFoundError(f"no such file or directory: {path}")
    parts = []
    for name in files:
        try:
            with open(name, encoding=encoding, newline="") as f:
                text = f.read()
        except UnicodeDecodeError as exc:
            raise ValueError(f"{name} is not {encoding} text ({exc.reason} at byte "
                             f"{exc.start}); pass its encoding") from None
        parts.append(text if not text or text.endswith("\n") else text + "\n")
    return "".join(parts)


def sequences(ids: ArrayLike, length: int,
              stride: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Training windows of a language model from a 1-D array of token ids: (X, Y), both
    np.int64 of shape (N, length), where row i is ``ids[s:s + length]`` and its
    next-token targets ``ids[s + 1:s + length + 1]`` for s = i * stride. stride None is
    length (windows side by side, every id a target once); ids left over at the end are
    not used. Needs at least length + 1 ids."""
    arr = np.asarray(ids)
    if arr.dtype == object or arr.dtype.kind not in "iu":
        raise TypeError("ids must be integer token ids (Vocabulary.encode's array); got "
                        f"dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"ids must be 1-D, shape (n,); got shape {arr.shape}")
    length = _positive_int(length, "length")
    stride = length if stride is None else _positive_int(stride, "stride")
    if arr.size < length + 1:
        raise ValueError(f"sequences of length {length} need at least {length + 1} ids "
                         f"(inputs and next-token targets); got {arr.size}")
    n = (arr.size - 1 - length) // stride + 1
    windows = np.lib.stride_tricks.sliding_window_view(arr, length + 1)[::stride][:n]
    windows = windows.astype(np.int64)  # a copy, C-contiguous
    return np.ascontiguousarray(windows[:, :-1]), np.ascontiguousarray(windows[:, 1:])
