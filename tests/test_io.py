"""Save and load: round trips on both backends for every dtype, activation and optimizer
(predictions identical, training continues as if never interrupted), cross-backend files,
atomic writes (including a writer killed mid-save), and every kind of bad file."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import barenet
from barenet import ModelFileError, NeuralNetwork
from barenet.io import FORMAT_VERSION
from conftest import require_compiled


def trained(backend, dtype="float64", activation="relu", optimizer="adam", **kw):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5)).astype(dtype)
    y = rng.integers(0, 3, 40)
    net = NeuralNetwork([5, 8, 3], activation=activation, output_activation="softmax",
                        dtype=dtype, seed=3, dropout=0.1, backend=backend, **kw)
    net.train(X, y, epochs=2, learning_rate=0.01, batch_size=8, optimizer=optimizer,
              verbose=False)
    return net, X, y


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "rmsprop", "adam",
                                       "adamw"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_round_trip_continues_training_exactly(backend, dtype, activation, optimizer, tmp_path):
    net, X, y = trained(backend, dtype, activation, optimizer, l2=1e-3)
    path = tmp_path / "model.npz"
    net.save(path)
    again = NeuralNetwork.load(path, backend=backend)
    assert again.dtype == net.dtype and again.layer_sizes == net.layer_sizes
    np.testing.assert_array_equal(again.get_params(), net.get_params())
    np.testing.assert_array_equal(again.predict(X), net.predict(X))
    kw = dict(epochs=2, learning_rate=0.01, batch_size=8, optimizer=optimizer, verbose=False)
    np.testing.assert_array_equal(again.train(X, y, **kw), net.train(X, y, **kw))
    np.testing.assert_array_equal(again.get_params(), net.get_params())


@pytest.mark.parametrize("output", ["sigmoid", "identity"])
def test_round_trip_other_outputs(backend, output, tmp_path):
    net = NeuralNetwork([3, 4, 2], output_activation=output, activation="leaky_relu",
                        l1=0.01, seed=1, backend=backend)
    net.save(tmp_path / "m.npz")
    again = NeuralNetwork.load(tmp_path / "m.npz")
    assert (again.output_activation, again.loss_name, again.l1) == (output, net.loss_name, 0.01)
    X = np.ones((2, 3))
    np.testing.assert_array_equal(again.predict(X), net.predict(X))
    assert again.optimizer is None  # never trained: nothing to continue


def test_loads_on_the_other_backend(tmp_path, dtype):
    require_compiled()
    for source, target in (("numpy", "compiled"), ("compiled", "numpy")):
        net, X, _ = trained(source, dtype)
        net.save(tmp_path / "m.npz")
        again = NeuralNetwork.load(tmp_path / "m.npz", backend=target)
        assert again.backend == target
        np.testing.assert_array_equal(again.get_params(), net.get_params())
        tol = 1e-12 if dtype == "float64" else 1e-5
        np.testing.assert_allclose(again.predict(X), net.predict(X), rtol=tol, atol=tol)


def test_without_optimizer_and_the_tutorial_network(tmp_path):
    np.random.seed(42)
    nn = NeuralNetwork([2, 4, 1], backend="numpy")
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    nn.train(X, [0, 1, 1, 0], epochs=200, learning_rate=0.5, verbose=False)
    nn.save(tmp_path / "xor.npz", include_optimizer=False)
    again = NeuralNetwork.load(tmp_path / "xor.npz", backend="numpy")
    assert again.optimizer is None
    np.testing.assert_array_equal(again.predict(X), nn.predict(X))


def test_save_writes_exactly_the_given_path(tmp_path):
    net = NeuralNetwork([2, 1], seed=0, backend="numpy")
    net.save(tmp_path / "model.bin")
    assert sorted(os.listdir(tmp_path)) == ["model.bin"]
    NeuralNetwork.load(str(tmp_path / "model.bin"))


def test_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    old = NeuralNetwork([2, 3, 1], seed=0, backend="numpy")
    old.save(path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        NeuralNetwork([2, 3, 1], seed=1, backend="numpy").save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # no temporary left behind


WRITER = """
import sys, numpy as np
from barenet import NeuralNetwork
net = NeuralNetwork([1000, 1000, 500, 10], seed=1, backend="numpy")
print("ready", flush=True)
while True:
    net.save(sys.argv[1])
"""


def test_killed_writer_never_damages_the_file(tmp_path):
    path = tmp_path / "model.npz"
    old = NeuralNetwork([1000, 1000, 500, 10], seed=0, backend="numpy")
    old.save(path)
    new = NeuralNetwork([1000, 1000, 500, 10], seed=1, backend="numpy").get_params()
    for delay in (0.05, 0.2, 0.45):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        params = NeuralNetwork.load(path).get_params()
        assert np.array_equal(params, old.get_params()) or np.array_equal(params, new)


def write_npz(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def header_of(path):
    with np.load(path) as data:
        return json.loads(data["header"].tobytes()), {k: data[k] for k in data.files}


def rewrite(path, change):
    header, arrays = header_of(path)
    change(header, arrays)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    write_npz(path, **arrays)


@pytest.fixture
def saved(tmp_path):
    net, _, _ = trained("numpy")
    path = tmp_path / "model.npz"
    net.save(path)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model file"):
        NeuralNetwork.load(tmp_path / "nothing.npz")


@pytest.mark.parametrize("cut", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file(saved, cut):
    data = saved.read_bytes()
    saved.write_bytes(data[:int(len(data) * cut)])
    with pytest.raises(ModelFileError, match="model.npz"):
        NeuralNetwork.load(saved)


def test_flipped_bytes_are_caught(saved):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as zf:
        info = zf.getinfo("params.npy")
    offset = info.header_offset + 30 + len(info.filename) + 200  # inside the params data
    data[offset] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="damaged"):
        NeuralNetwork.load(saved)


def test_random_bytes_and_foreign_files(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(os.urandom(5000))
    with pytest.raises(ModelFileError, match="not a barenet model file"):
        NeuralNetwork.load(junk)
    foreign = tmp_path / "foreign.npz"
    write_npz(foreign, weights=np.ones(3))
    with pytest.raises(ModelFileError, match="no header"):
        NeuralNetwork.load(foreign)
    pickled = tmp_path / "pickled.npz"
    write_npz(pickled, header=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ModelFileError, match="damaged or not a barenet model file"):
        NeuralNetwork.load(pickled)


@pytest.mark.parametrize("change, match", [
    (lambda h, a: h.update(format="other.model"), "format is 'other.model'"),
    (lambda h, a: h.update(version=FORMAT_VERSION + 1), "written by a newer barenet"),
    (lambda h, a: h.update(version="1"), "format version must be a positive integer"),
    (lambda h, a: h.update(kind="Transformer"), "holds a .Transformer."),
    (lambda h, a: h.update(kind="Sequential"), "missing input_shape, layers"),
    (lambda h, a: h.pop("dtype"), "the header is missing dtype"),
    (lambda h, a: h.update(layer_sizes=[5, 0, 3]), r"invalid network: layer_sizes\[1\]"),
    (lambda h, a: h.update(activation="swish"), "invalid network: activation"),
    (lambda h, a: h.update(dtype="float16"), "invalid network: dtype"),
    (lambda h, a: h.update(epochs_done=-1), "epochs_done must be a non-negative integer"),
    (lambda h, a: a.update(params=a["params"][:-1]), "'params' must be a 1-D float64 array"),
    (lambda h, a: a.update(params=a["params"].astype(np.float32)), "'params' must be a 1-D"),
    (lambda h, a: a.update(params=np.full_like(a["params"], np.nan)), "contains NaN"),
    (lambda h, a: a.pop("params"), "'params' is missing"),
    (lambda h, a: a.update(params=np.zeros(10**6)), "larger than the header says"),
    (lambda h, a: h["optimizer"].update(kind=42), "optimizer state is invalid"),
    (lambda h, a: h["optimizer"].update(beta1=2.0), "optimizer state is invalid"),
    (lambda h, a: a.update(optimizer_state1=a["optimizer_state1"][:3]),
     "'optimizer_state1' must be a 1-D"),
])
def test_bad_contents(saved, change, match):
    rewrite(saved, change)
    with pytest.raises(ModelFileError, match=match):
        NeuralNetwork.load(saved)


def test_bad_header_bytes(saved):
    _, arrays = header_of(saved)
    arrays["header"] = np.frombuffer(b"\xff\xfe not json", dtype=np.uint8)
    write_npz(saved, **arrays)
    with pytest.raises(ModelFileError, match="not valid JSON"):
        NeuralNetwork.load(saved)
    arrays["header"] = np.frombuffer(b"[1, 2]", dtype=np.uint8)
    write_npz(saved, **arrays)
    with pytest.raises(ModelFileError, match="not a JSON object"):
        NeuralNetwork.load(saved)


def test_model_file_error_is_a_value_error():
    assert issubclass(barenet.ModelFileError, ValueError)
