"""Tests for barenet.datasets: the Fashion-MNIST IDX reader on small synthetic
gzip files written to tmp_path (every corruption it must reject), one check of
the real Debian files when installed, and the generated XOR, spirals, one_hot.
"""

import gzip
import os
import struct

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
