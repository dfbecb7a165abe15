"""Tests for barenet.datasets: the Fashion-MNIST IDX reader on small synthetic
gzip files written to tmp_path (every corruption it must reject), the download
against an http.server on 127.0.0.1 serving such files (no other address is
ever contacted), one check of the real Debian files when installed, and the
generated XOR, spirals, one_hot.
"""

import gzip
import hashlib
import http.server
import os
import socket
import struct
import sys
import threading

import numpy as np
import pytest

from barenet import datasets
from barenet.datasets import load_fashion_mnist, make_spirals, make_xor, one_hot

TRAIN_IMAGES, TRAIN_LABELS = datasets.FASHION_MNIST_FILES["train"]
TEST_IMAGES, TEST_LABELS = datasets.FASHION_MNIST_FILES["test"]


def idx_bytes(array, *, type_code=0x08, magic_prefix=b"\x00\x00", ndim=None, dims=None):
    """Bytes of an IDX file holding a uint8 array; keywords forge bad headers."""
    array = np.asarray(array, dtype=np.uint8)
    ndim = array.ndim if ndim is None else ndim
    dims = array.shape if dims is None else dims
    header = magic_prefix + bytes([type_code, ndim]) + struct.pack(f">{len(dims)}I", *dims)
    return header + array.tobytes()


def write_gz(path, data):
    path.write_bytes(gzip.compress(data))


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache: the user's real one is never read or written."""
    cache = tmp_path / "barenet-cache"
    monkeypatch.setenv("BARENET_CACHE_DIR", str(cache))
    return cache / "fashion-mnist"


def make_split(rng, n):
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255            # both ends of the scale
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


@pytest.fixture
def fmnist_dir(tmp_path):
    """A directory with a valid tiny Fashion-MNIST: 20 train and 10 test images."""
    rng = np.random.default_rng(1)
    splits = {"train": make_split(rng, 20), "test": make_split(rng, 10)}
    for name, (images, labels) in splits.items():
        image_file, label_file = datasets.FASHION_MNIST_FILES[name]
        write_gz(tmp_path / image_file, idx_bytes(images))
        write_gz(tmp_path / label_file, idx_bytes(labels))
    return tmp_path, splits


# ---------------------------------------------------------------- Fashion-MNIST

@pytest.mark.parametrize("dtype", ["float32", "float64", np.float32, np.dtype("float64")])
def test_load_shapes_dtypes_scaling(fmnist_dir, dtype):
    directory, splits = fmnist_dir
    loaded = load_fashion_mnist(directory, dtype=dtype)
    for (X, y), name in zip(loaded, ("train", "test")):
        images, labels = splits[name]
        n = len(labels)
        assert X.shape == (n, 784) and y.shape == (n,)
        assert X.dtype == np.dtype(dtype) and y.dtype == np.int64
        assert X.flags.c_contiguous and X.flags.writeable
        assert X.min() == 0.0 and X.max() == 1.0
        expected = images.reshape(n, 784).astype(np.float64) / 255.0
        np.testing.assert_allclose(X, expected, rtol=1e-7 if X.dtype == np.float32 else 0)
        np.testing.assert_array_equal(y, labels)


def test_load_accepts_str_path_and_env_var(fmnist_dir, monkeypatch):
    directory, _ = fmnist_dir
    (X, y), _ = load_fashion_mnist(str(directory))
    assert X.shape == (20, 784)
    monkeypatch.setenv("BARENET_FASHION_MNIST_DIR", str(directory))
    (X2, y2), (Xt, yt) = load_fashion_mnist()
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert Xt.shape == (10, 784) and yt.shape == (10,)


@pytest.mark.parametrize("dtype", ["float16", "int64", "uint8", "complex128", "nonsense", None])
def test_load_rejects_other_dtypes(fmnist_dir, dtype):
    with pytest.raises(ValueError, match="dtype"):
        load_fashion_mnist(fmnist_dir[0], dtype=dtype)


@pytest.mark.parametrize("missing", [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS])
def test_missing_file_names_file_and_package(fmnist_dir, missing):
    directory, _ = fmnist_dir
    (directory / missing).unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist(directory)
    message = str(info.value)
    assert missing in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "path=" in message


def test_missing_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("BARENET_FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist()


def corrupt(directory, filename, data, *, compress=True):
    path = directory / filename
    if compress:
        write_gz(path, data)
    else:
        path.write_bytes(data)
    with pytest.raises(ValueError) as info:
        load_fashion_mnist(directory)
    assert filename in str(info.value)
    return str(info.value)


def test_bad_magic(fmnist_dir):
    directory, splits = fmnist_dir
    msg = corrupt(directory, TRAIN_IMAGES, idx_bytes(splits["train"][0], magic_prefix=b"\x12\x34"))
    assert "magic" in msg


def test_foreign_file_not_gzip(fmnist_dir):
    msg = corrupt(fmnist_dir[0], TEST_LABELS, b"this is not a gzip file", compress=False)
    assert "gzip" in msg


def test_truncated_gzip_stream(fmnist_dir):
    directory, splits = fmnist_dir
    whole = gzip.compress(idx_bytes(splits["train"][0]))
    corrupt(directory, TRAIN_IMAGES, whole[: len(whole) // 2], compress=False)


@pytest.mark.parametrize("type_code", [0x09, 0x0B, 0x0D])   # int8, int16, float32
def test_wrong_type_code(fmnist_dir, type_code):
    directory, splits = fmnist_dir
    msg = corrupt(directory, TRAIN_LABELS, idx_bytes(splits["train"][1], type_code=type_code))
    assert "type code" in msg


def test_wrong_number_of_dims(fmnist_dir):
    directory, splits = fmnist_dir
    flat = splits["train"][0].reshape(20, 784)
    msg = corrupt(directory, TRAIN_IMAGES, idx_bytes(flat))
    assert "dimensions" in msg


def test_wrong_image_size(fmnist_dir):
    directory, _ = fmnist_dir
    msg = corrupt(directory, TEST_IMAGES, idx_bytes(np.zeros((10, 27, 28))))
    assert "28x28" in msg


@pytest.mark.parametrize("cut", [1, 783, 784 * 3])
def test_truncated_image_data(fmnist_dir, cut):
    directory, splits = fmnist_dir
    msg = corrupt(directory, TRAIN_IMAGES, idx_bytes(splits["train"][0])[:-cut])
    assert "truncated" in msg


def test_truncated_header(fmnist_dir):
    directory, splits = fmnist_dir
    msg = corrupt(directory, TRAIN_IMAGES, idx_bytes(splits["train"][0])[:10])
    assert "truncated" in msg


def test_empty_file(fmnist_dir):
    msg = corrupt(fmnist_dir[0], TEST_LABELS, b"")
    assert "truncated" in msg


def test_trailing_bytes(fmnist_dir):
    directory, splits = fmnist_dir
    corrupt(directory, TEST_LABELS, idx_bytes(splits["test"][1]) + b"\x00")


def test_header_count_larger_than_data(fmnist_dir):
    directory, splits = fmnist_dir
    labels = splits["train"][1]
    corrupt(directory, TRAIN_LABELS, idx_bytes(labels, dims=(len(labels) + 5,)))


def test_count_mismatch_between_images_and_labels(fmnist_dir):
    directory, splits = fmnist_dir
    msg = corrupt(directory, TRAIN_LABELS, idx_bytes(splits["train"][1][:-1]))
    assert "19 labels" in msg and "20 images" in msg and TRAIN_IMAGES in msg


@pytest.mark.parametrize("bad_label", [10, 255])
def test_labels_out_of_range(fmnist_dir, bad_label):
    directory, splits = fmnist_dir
    labels = splits["test"][1].copy()
    labels[3] = bad_label
    msg = corrupt(directory, TEST_LABELS, idx_bytes(labels))
    assert str(bad_label) in msg and "0..9" in msg


def test_empty_split_is_allowed(fmnist_dir):
    directory, _ = fmnist_dir
    write_gz(directory / TEST_IMAGES, idx_bytes(np.zeros((0, 28, 28))))
    write_gz(directory / TEST_LABELS, idx_bytes(np.zeros(0)))
    _, (Xt, yt) = load_fashion_mnist(directory)
    assert Xt.shape == (0, 784) and yt.shape == (0,)


@pytest.mark.skipif(not os.path.isdir(datasets.FASHION_MNIST_DIR),
                    reason="dataset-fashion-mnist is not installed")
def test_real_fashion_mnist(monkeypatch):
    monkeypatch.delenv("BARENET_FASHION_MNIST_DIR", raising=False)
    (X, y), (Xt, yt) = load_fashion_mnist()
    assert X.shape == (60000, 784) and Xt.shape == (10000, 784)
    assert X.dtype == np.float32 and X.flags.c_contiguous
    assert 0.0 <= X.min() and X.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(y, minlength=10), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(yt, minlength=10), [1000] * 10)


# ---------------------------------------------------------------- download

ALL_FILES = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves server.files by name; server.modes[name] makes one file misbehave:
    "404", "truncate" (announces the full length, sends half, hangs up) or "stall"
    (sends nothing until the test ends)."""

    def do_GET(self):
        server = self.server
        name = self.path.rsplit("/", 1)[-1]
        server.requests.append(self.path)
        mode = server.modes.get(name)
        if mode == "404" or name not in server.files:
            self.send_error(404, "Not Found")
            return
        if mode == "stall":
            server.release.wait(10)
            return
        body = server.files[name]
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """An HTTP server on 127.0.0.1 (a free port) in a thread, serving the four files of a
    small generated Fashion-MNIST; FASHION_MNIST_SHA256 is patched to their hashes."""
    rng = np.random.default_rng(5)
    splits = {"train": make_split(rng, 12), "test": make_split(rng, 6)}
    files = {}
    for name, (images, labels) in splits.items():
        image_file, label_file = datasets.FASHION_MNIST_FILES[name]
        files[image_file] = gzip.compress(idx_bytes(images))
        files[label_file] = gzip.compress(idx_bytes(labels))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.files, httpd.modes, httpd.requests = files, {}, []
    httpd.release = threading.Event()
    httpd.splits = splits
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/fmnist/"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    mp = pytest.MonkeyPatch()
    mp.setattr(datasets, "FASHION_MNIST_SHA256",
               {n: hashlib.sha256(b).hexdigest() for n, b in files.items()})
    yield httpd
    mp.undo()
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def fetch(tmp_path, server, **kwargs):
    kwargs.setdefault("url", server.url)
    kwargs.setdefault("download", True)
    return load_fashion_mnist(tmp_path / "not-installed", **kwargs)


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_download_then_cached(tmp_path, server, isolated_cache):
    (X, y), (Xt, yt) = fetch(tmp_path, server)
    assert server.requests == [f"/fmnist/{n}" for n in ALL_FILES]
    images, labels = server.splits["train"]
    np.testing.assert_allclose(X, images.reshape(12, 784) / 255.0, rtol=1e-7)
    np.testing.assert_array_equal(y, labels)
    assert Xt.shape == (6, 784) and X.dtype == np.float32
    assert leftovers(isolated_cache) == sorted(ALL_FILES)        # nothing else, no .part
    for name in ALL_FILES:
        assert (isolated_cache / name).read_bytes() == server.files[name]

    # Later calls read the cache and never contact the server, with or without download=True.
    (X2, _), _ = fetch(tmp_path, server, dtype="float64")
    (X3, _), _ = load_fashion_mnist(tmp_path / "not-installed")
    assert len(server.requests) == 4
    np.testing.assert_allclose(X2, X, rtol=1e-7)
    np.testing.assert_array_equal(X3, X)


def test_download_to_explicit_cache_dir_and_url_without_slash(tmp_path, server, isolated_cache):
    target = tmp_path / "elsewhere" / "fm"
    (X, _), _ = fetch(tmp_path, server, cache_dir=str(target), url=server.url.rstrip("/"))
    assert X.shape == (12, 784)
    assert leftovers(target) == sorted(ALL_FILES)
    assert not isolated_cache.exists()
    assert server.requests[0] == f"/fmnist/{TRAIN_IMAGES}"


def test_download_only_fetches_missing_files(tmp_path, server, isolated_cache):
    isolated_cache.mkdir(parents=True)
    (isolated_cache / TRAIN_LABELS).write_bytes(server.files[TRAIN_LABELS])
    fetch(tmp_path, server)
    assert server.requests == [f"/fmnist/{n}" for n in ALL_FILES if n != TRAIN_LABELS]


def test_installed_files_take_precedence_over_download(fmnist_dir, server):
    directory, splits = fmnist_dir
    (X, _), _ = load_fashion_mnist(directory, download=True, url=server.url)
    assert X.shape == (20, 784) and server.requests == []


def test_no_download_without_permission(tmp_path, server, isolated_cache):
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist(tmp_path / "not-installed", url=server.url)
    assert "download=True" in str(info.value) and TRAIN_IMAGES in str(info.value)
    assert server.requests == [] and not isolated_cache.exists()


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("BARENET_CACHE_DIR", str(tmp_path / "c"))
    assert datasets.get_cache_dir() == str(tmp_path / "c")
    monkeypatch.delenv("BARENET_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert datasets.get_cache_dir() == str(tmp_path / "xdg" / "barenet")
    if os.name == "posix" and sys.platform != "darwin":
        monkeypatch.delenv("XDG_CACHE_HOME")
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        assert datasets.get_cache_dir() == str(tmp_path / "home" / ".cache" / "barenet")


def failed_download(tmp_path, server, cache, match, **kwargs):
    with pytest.raises(datasets.DownloadError, match=match) as info:
        fetch(tmp_path, server, **kwargs)
    assert isinstance(info.value, OSError)
    assert not any(name.endswith(".part") for name in leftovers(cache))
    return str(info.value)


def test_checksum_mismatch_deletes_the_file(tmp_path, server, isolated_cache, monkeypatch):
    monkeypatch.setitem(datasets.FASHION_MNIST_SHA256, TEST_IMAGES, "0" * 64)
    msg = failed_download(tmp_path, server, isolated_cache, "SHA-256 mismatch")
    assert TEST_IMAGES in msg and "0" * 64 in msg
    assert hashlib.sha256(server.files[TEST_IMAGES]).hexdigest() in msg
    # the files verified before the bad one stay; the bad one and the rest are absent
    assert leftovers(isolated_cache) == sorted([TRAIN_IMAGES, TRAIN_LABELS])
    # a corrected checksum resumes with the two missing files only
    monkeypatch.setitem(datasets.FASHION_MNIST_SHA256, TEST_IMAGES,
                        hashlib.sha256(server.files[TEST_IMAGES]).hexdigest())
    fetch(tmp_path, server)
    assert server.requests[-2:] == [f"/fmnist/{TEST_IMAGES}", f"/fmnist/{TEST_LABELS}"]
    assert len(server.requests) == 5


def test_http_404(tmp_path, server, isolated_cache):
    server.modes[TRAIN_IMAGES] = "404"
    msg = failed_download(tmp_path, server, isolated_cache, "HTTP 404")
    assert f"{server.url}{TRAIN_IMAGES}" in msg
    assert leftovers(isolated_cache) == [] and len(server.requests) == 1


def test_truncated_response(tmp_path, server, isolated_cache):
    server.modes[TRAIN_LABELS] = "truncate"
    msg = failed_download(tmp_path, server, isolated_cache, "truncated")
    assert TRAIN_LABELS in msg
    assert leftovers(isolated_cache) == [TRAIN_IMAGES]


def test_timeout(tmp_path, server, isolated_cache):
    server.modes[TRAIN_IMAGES] = "stall"
    failed_download(tmp_path, server, isolated_cache, "timed out after 0.3 s", timeout=0.3)
    assert leftovers(isolated_cache) == []


def test_connection_refused(tmp_path, isolated_cache):
    with socket.socket() as sock:                      # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(datasets.DownloadError, match="download of http://127.0.0.1"):
        load_fashion_mnist(tmp_path / "none", download=True, url=f"http://127.0.0.1:{port}/",
                           timeout=5)
    assert leftovers(isolated_cache) == []


def test_interrupted_download_leaves_nothing(tmp_path, server, isolated_cache, monkeypatch):
    """A KeyboardInterrupt in the middle of writing removes the temporary file too."""
    real_sha256 = hashlib.sha256

    class Interrupting:
        def __init__(self):
            self._h = real_sha256()

        def update(self, data):
            raise KeyboardInterrupt

    monkeypatch.setattr(datasets.hashlib, "sha256", Interrupting)
    with pytest.raises(KeyboardInterrupt):
        fetch(tmp_path, server)
    assert leftovers(isolated_cache) == []


@pytest.mark.parametrize("timeout, exc", [(0, ValueError), (-1, ValueError),
                                          (float("nan"), ValueError), ("5", TypeError),
                                          (True, TypeError)])
def test_bad_timeout(fmnist_dir, timeout, exc):
    with pytest.raises(exc, match="timeout"):
        load_fashion_mnist(fmnist_dir[0], timeout=timeout)


@pytest.mark.skipif(not os.path.isdir(datasets.FASHION_MNIST_DIR),
                    reason="dataset-fashion-mnist is not installed")
def test_checksums_are_the_official_files():
    """Debian's files hold Zalando's deflate streams under a normalised gzip header (no
    file name, Debian's mtime). Restoring the original header (FNAME set, the upstream
    mtime of 2017-08-31) rebuilds files whose MD5s are the ones the upstream README
    publishes; their SHA-256 must be the module's constants."""
    upstream = {  # name: (mtime, MD5 from github.com/zalandoresearch/fashion-mnist README)
        TRAIN_IMAGES: (1504176606, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        TRAIN_LABELS: (1504176606, "25c81989df183df01b3e8a0aad5dffbe"),
        TEST_IMAGES: (1504176627, "bef4ecab320f06d8554ea6380940ec79"),
        TEST_LABELS: (1504176627, "bb300cfdad3c16e7a12a480ee83cd310"),
    }
    for name, (mtime, md5) in upstream.items():
        with open(os.path.join(datasets.FASHION_MNIST_DIR, name), "rb") as f:
            debian = f.read()
        assert debian[:4] == b"\x1f\x8b\x08\x00"           # gzip, deflate, no FNAME
        official = (b"\x1f\x8b\x08\x08" + struct.pack("<I", mtime) + debian[8:10]
                    + name[:-3].encode() + b"\x00" + debian[10:])
        assert hashlib.md5(official).hexdigest() == md5
        assert hashlib.sha256(official).hexdigest() == datasets.FASHION_MNIST_SHA256[name]


# ---------------------------------------------------------------- XOR

@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_make_xor(dtype):
    X, y = make_xor(dtype)
    assert X.shape == (4, 2) and y.shape == (4, 1)
    assert X.dtype == y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y[:, 0], np.logical_xor(X[:, 0], X[:, 1]))
    assert make_xor()[0].dtype == np.float64


def test_make_xor_bad_dtype():
    with pytest.raises(ValueError, match="dtype"):
        make_xor("int32")


# ---------------------------------------------------------------- spirals

def test_make_spirals_shapes_and_labels():
    X, y = make_spirals(50, 4)
    assert X.shape == (200, 2) and y.shape == (200,)
    assert X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [50] * 4)
    np.testing.assert_allclose(np.hypot(X[:, 0], X[:, 1]),
                               np.tile(np.linspace(0, 1, 50), 4), atol=1e-12)
    assert make_spirals(10, dtype="float32")[0].dtype == np.float32


def test_make_spirals_matches_cs231n_recipe():
    X, y = make_spirals(100, 3, noise=0.2, seed=7)
    rng = np.random.default_rng(7)
    for k in range(3):
        r = np.linspace(0.0, 1, 100)
        t = np.linspace(k * 4, (k + 1) * 4, 100) + rng.standard_normal(100) * 0.2
        np.testing.assert_allclose(X[100 * k:100 * (k + 1)], np.c_[r * np.sin(t), r * np.cos(t)],
                                   rtol=0, atol=1e-12)
        assert np.all(y[100 * k:100 * (k + 1)] == k)


def test_make_spirals_reproducible_and_seed_dependent():
    a, ya = make_spirals(seed=3)
    b, yb = make_spirals(seed=3)
    c, _ = make_spirals(seed=4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a, c)
    assert np.array_equal(*[make_spirals(5, 2, noise=0.0, seed=s)[0] for s in (1, 2)])


def test_make_spirals_leaves_global_state_alone():
    np.random.seed(123)
    before = np.random.get_state()
    make_spirals(seed=None)
    make_spirals(seed=5)
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1])
    assert before[2:] == after[2:]


@pytest.mark.parametrize("kwargs, exc, name", [
    ({"n_per_class": 0}, ValueError, "n_per_class"),
    ({"n_per_class": -3}, ValueError, "n_per_class"),
    ({"n_per_class": 2.5}, TypeError, "n_per_class"),
    ({"n_per_class": "10"}, TypeError, "n_per_class"),
    ({"n_per_class": True}, TypeError, "n_per_class"),
    ({"n_classes": 0}, ValueError, "n_classes"),
    ({"n_classes": 3.0}, TypeError, "n_classes"),
    ({"noise": -0.1}, ValueError, "noise"),
    ({"noise": float("nan")}, ValueError, "noise"),
    ({"noise": float("inf")}, ValueError, "noise"),
    ({"noise": "0.2"}, TypeError, "noise"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 1.5}, TypeError, "seed"),
    ({"dtype": "int32"}, ValueError, "dtype"),
])
def test_make_spirals_bad_arguments(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        make_spirals(**kwargs)


def test_make_spirals_accepts_numpy_ints():
    X, y = make_spirals(np.int64(4), np.int32(2), noise=np.float32(0.1))
    assert X.shape == (8, 2) and y.shape == (8,)


# ---------------------------------------------------------------- one_hot

def test_one_hot_basic():
    out = one_hot([2, 0, 1, 2])
    np.testing.assert_array_equal(out, np.eye(3)[[2, 0, 1, 2]])
    assert out.dtype == np.float64 and out.shape == (4, 3)


def test_one_hot_n_classes_dtype_and_column_input():
    out = one_hot(np.array([[1], [0]], dtype=np.uint8), n_classes=4, dtype="float32")
    assert out.shape == (2, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0, 1, 0, 0], [1, 0, 0, 0]])
    np.testing.assert_array_equal(one_hot(np.array([1.0, 0.0])), [[0, 1], [1, 0]])
    assert one_hot([], n_classes=3).shape == (0, 3)


@pytest.mark.parametrize("y, n_classes, exc, match", [
    ([0, 3], 3, ValueError, "label 3"),
    ([-1, 0], None, ValueError, "label -1"),
    ([0.5, 1], None, ValueError, "integer"),
    ([np.nan], None, ValueError, "integer"),
    (["a", "b"], None, TypeError, "integer"),
    ([True, False], None, TypeError, "integer"),
    ([[0, 1], [1, 0]], None, ValueError, "1-D"),
    ([], None, ValueError, "n_classes"),
    ([0, 1], 0, ValueError, "n_classes"),
    ([0, 1], 2.0, TypeError, "n_classes"),
])
def test_one_hot_bad_input(y, n_classes, exc, match):
    with pytest.raises(exc, match=match):
        one_hot(y, n_classes)


def test_one_hot_bad_dtype():
    with pytest.raises(ValueError, match="dtype"):
        one_hot([0, 1], dtype="int8")
