"""The command line end to end, in subprocesses, as a user runs it: train on .npz and .csv
files (and Fashion-MNIST when installed), predict to .csv and .npy, and one-line errors."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from barenet import NeuralNetwork
from barenet.datasets import make_spirals

FASHION = Path("/usr/share/datasets/fashion-mnist")


def run(*args, backend="numpy", cwd=None):
    env = {**os.environ, "BARENET_BACKEND": backend}
    return subprocess.run([sys.executable, "-m", "barenet", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=600, cwd=cwd)


@pytest.fixture
def spiral_files(tmp_path):
    X, y = make_spirals(60, 3, noise=0.1, seed=0)
    np.savez(tmp_path / "train.npz", X=X, y=y)
    np.savetxt(tmp_path / "train.csv", np.column_stack([X, y]), delimiter=",",
               header="x1,x2,label", comments="")
    np.savetxt(tmp_path / "features.csv", X, delimiter=",")
    np.save(tmp_path / "features.npy", X)
    return tmp_path, X, y


def test_train_then_predict(backend, spiral_files):
    tmp, X, y = spiral_files
    model = tmp / "model.npz"
    result = run("train", "--data", tmp / "train.npz", "--hidden", "32,32", "--epochs", 60,
                 "--batch-size", 16, "--lr", 0.01, "--dtype", "float64", "--validation-split",
                 0.2, "--out", model, "--quiet", backend=backend)
    assert result.returncode == 0, result.stderr
    assert "saved" in result.stdout and "validation accuracy" in result.stdout
    net = NeuralNetwork.load(model)
    assert net.layer_sizes == (2, 32, 32, 3) and net.output_activation == "softmax"
    result = run("predict", model, tmp / "features.csv", "--out", tmp / "p.csv", "--classes",
                 backend=backend)
    assert result.returncode == 0, result.stderr
    labels = np.loadtxt(tmp / "p.csv", dtype=int)
    assert np.mean(labels == y) > 0.8
    result = run("predict", model, tmp / "features.npy", "--out", tmp / "p.npy",
                 backend=backend)
    assert result.returncode == 0, result.stderr
    proba = np.load(tmp / "p.npy")
    assert proba.shape == (len(X), 3)
    np.testing.assert_array_equal(proba.argmax(axis=1), labels)


def test_train_from_csv_with_header_and_regression(backend, spiral_files, tmp_path):
    tmp, X, y = spiral_files
    result = run("train", "--data", tmp / "train.csv", "--epochs", 3, "--out",
                 tmp / "m.npz", backend=backend)
    assert result.returncode == 0, result.stderr
    assert "Epoch 2, Loss:" in result.stdout  # progress lines: not a terminal
    reg = np.column_stack([X, X[:, 0] * 2 - X[:, 1]])
    np.savetxt(tmp / "reg.csv", reg, delimiter=",")
    result = run("train", "--data", tmp / "reg.csv", "--task", "regress", "--epochs", 2,
                 "--out", tmp / "r.npz", "--quiet", backend=backend)
    assert result.returncode == 0, result.stderr
    assert NeuralNetwork.load(tmp / "r.npz").output_activation == "identity"


@pytest.mark.skipif(not FASHION.exists(), reason="dataset-fashion-mnist is not installed")
def test_train_fashion_mnist(backend, tmp_path):
    result = run("train", "--dataset", "fashion-mnist", "--hidden", "64", "--epochs", 1,
                 "--batch-size", 256, "--threads", 2, "--out", tmp_path / "f.npz", "--quiet",
                 backend=backend)
    assert result.returncode == 0, result.stderr
    assert NeuralNetwork.load(tmp_path / "f.npz").layer_sizes == (784, 64, 10)


@pytest.mark.parametrize("args, message", [
    (["train", "--out", "m.npz"], "give exactly one of --data FILE or --dataset"),
    (["train", "--data", "nothing.npz", "--out", "m.npz"], "cannot read nothing.npz"),
    (["train", "--data", "train.npz", "--hidden", "a,b", "--out", "m.npz"],
     "--hidden must be comma-separated integers"),
    (["train", "--data", "train.npz", "--x-key", "features", "--out", "m.npz"],
     "has no array named 'features'"),
    (["train", "--data", "train.npz", "--epochs", "-1", "--out", "m.npz"],
     "epochs must be >= 0"),
    (["train", "--data", "train.npz", "--lr", "0", "--out", "m.npz"],
     "learning_rate must be a finite number > 0"),
    (["train", "--data", "train.txt", "--out", "m.npz"], "expected a .npz, .csv or .npy"),
    (["predict", "nothing.npz", "features.csv", "--out", "p.csv"], "no such model file"),
    (["predict", "train.npz", "features.csv", "--out", "p.csv"], "not a barenet model file"),
])
def test_user_errors_are_one_line(spiral_files, args, message):
    tmp, _, _ = spiral_files
    result = run(*args, cwd=tmp)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_predict_with_wrong_columns(spiral_files):
    tmp, X, _ = spiral_files
    NeuralNetwork([3, 4, 2], output_activation="softmax", seed=0).save(tmp / "m3.npz")
    result = run("predict", tmp / "m3.npz", tmp / "features.csv", "--out", tmp / "p.csv")
    assert result.returncode == 2 and "X must have 3 columns" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["train", "--epochs", "x", "--out", "m.npz"],
     "barenet train: error: argument --epochs: invalid int value: 'x'"),
    (["train", "--hidden", "8"],
     "barenet train: error: the following arguments are required: --out"),
    (["predict", "m.npz"],
     "barenet predict: error: the following arguments are required: data, --out"),
    (["train", "--out", "m.npz", "--dtype", "float16"],
     "barenet train: error: argument --dtype: invalid choice: 'float16'"),
    (["--backend", "gpu", "info"], "barenet: error: argument --backend: invalid choice: 'gpu'"),
    (["frob"], "barenet: error: argument command: invalid choice: 'frob'"),
    ([], "barenet: error: the following arguments are required: command"),
    (["info", "--bogus"], "barenet: error: unrecognized arguments: --bogus"),
])
def test_command_line_refused_by_argparse_is_one_line(args, message, tmp_path):
    """argparse's own errors (a malformed option value, a missing or unknown argument) are
    reported like every other refusal: one line on stderr naming the command, status 2, no
    usage block, nothing written"""
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1
    assert "--help" in result.stderr and "usage:" not in result.stderr
    assert result.stdout == "" and not list(tmp_path.iterdir())
    from barenet.cli import main
    assert main(list(args)) == 2   # in process too: a status, not SystemExit


def test_help_everywhere():
    for args in ([], ["train"], ["predict"], ["demo"], ["info"]):
        result = run(*args, "--help")
        assert result.returncode == 0 and "usage: barenet" in result.stdout


# ---- the documented paths, in process (barenet.cli.main), each against another path -------

def cli(*args, backend="numpy"):
    """main() in this process (no capsys in these tests: an editable install rebuilding on
    the first import of barenet._core needs a real stdout)"""
    from barenet.cli import main
    return main(["--backend", backend, *map(str, args)])


def same_model(a, b):
    na, nb = NeuralNetwork.load(a), NeuralNetwork.load(b)
    assert na.layer_sizes == nb.layer_sizes and na.output_activation == nb.output_activation
    np.testing.assert_array_equal(na.get_params(), nb.get_params())


TRAIN = ("--hidden", "8", "--epochs", 3, "--batch-size", 16, "--dtype", "float64", "--quiet")


def test_target_column_and_npz_keys_pick_the_same_data(backend, spiral_files):
    """the label as the first CSV column (--target-column 0) and the arrays under other
    names (--x-key/--y-key) train exactly the model the plain .npz trains; ignoring either
    option would train on other targets (or fail)"""
    tmp, X, y = spiral_files
    np.savetxt(tmp / "first.csv", np.column_stack([y, X]), delimiter=",")
    np.savez(tmp / "named.npz", features=X, labels=y)
    assert cli("train", "--data", tmp / "train.npz", "--out", tmp / "a.npz", *TRAIN,
               backend=backend) == 0
    assert cli("train", "--data", tmp / "first.csv", "--target-column", 0,
               "--out", tmp / "b.npz", *TRAIN, backend=backend) == 0
    assert cli("train", "--data", tmp / "named.npz", "--x-key", "features", "--y-key",
               "labels", "--out", tmp / "c.npz", *TRAIN, backend=backend) == 0
    same_model(tmp / "a.npz", tmp / "b.npz")
    same_model(tmp / "a.npz", tmp / "c.npz")
    assert NeuralNetwork.load(tmp / "a.npz").layer_sizes == (2, 8, 3)


def test_predict_from_npz_and_probabilities_to_csv(backend, spiral_files):
    """predict reads the features from a .npz (--x-key) and writes the probabilities (no
    --classes) as CSV rows: the loaded model's predict(X)"""
    tmp, X, y = spiral_files
    assert cli("train", "--data", tmp / "train.npz", "--out", tmp / "m.npz", *TRAIN,
               backend=backend) == 0
    np.savez(tmp / "rows.npz", inputs=X)
    assert cli("predict", tmp / "m.npz", tmp / "rows.npz", "--x-key", "inputs",
               "--out", tmp / "p.csv", backend=backend) == 0
    proba = np.loadtxt(tmp / "p.csv", delimiter=",")
    expected = NeuralNetwork.load(tmp / "m.npz").predict(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba, expected, rtol=1e-6, atol=1e-9)
    assert cli("predict", tmp / "m.npz", tmp / "features.csv", "--out", tmp / "q.csv",
               backend=backend) == 0
    np.testing.assert_array_equal(np.loadtxt(tmp / "q.csv", delimiter=","), proba)


def test_train_plot_writes_the_history_picture(spiral_files):
    pytest.importorskip("matplotlib")
    from test_plot import check_png
    tmp, _, _ = spiral_files
    assert cli("train", "--data", tmp / "train.npz", "--validation-split", 0.2,
               "--out", tmp / "m.npz", "--plot", tmp / "h.png", *TRAIN) == 0
    check_png(tmp / "h.png", (1000, 400))
