"""examples/spiral.py and examples/fashion_mnist.py run as a user runs them: in a
subprocess, on each backend (BARENET_BACKEND), without a display, in a scratch
directory. Fashion-MNIST uses a 2,000-image subset and one epoch so CI stays short;
it is skipped only when the Debian package dataset-fashion-mnist is not installed."""

import importlib.util
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from barenet import datasets

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run_example(script, *args, backend, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(BARENET_BACKEND=backend, BARENET_CACHE_DIR=str(cwd / "cache"))
    result = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def have_matplotlib():
    return importlib.util.find_spec("matplotlib") is not None


def check_png(path, size):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == size
    assert len(data) > 10_000


def number_after(label, out):
    match = re.search(rf"{label}\s*([0-9.]+)", out)
    assert match, f"{label!r} not in output:\n{out}"
    return float(match.group(1))


def test_spiral_example(backend, tmp_path):
    # the numpy run uses the default file name, the compiled run names one on the command line
    args = [] if backend == "numpy" else [str(tmp_path / "boundary.png")]
    out = run_example("spiral.py", *args, backend=backend, cwd=tmp_path)
    assert f"({backend} backend)" in out
    assert number_after("accuracy: train", out) >= 0.95
    assert number_after("test", out.split("accuracy:")[1]) >= 0.9
    picture = tmp_path / ("spiral.png" if backend == "numpy" else "boundary.png")
    if have_matplotlib():
        assert f"decision boundary saved to {args[0] if args else 'spiral.png'}" in out
        check_png(picture, (600, 550))
    else:
        assert 'pip install "barenet[plot]"' in out and not picture.exists()


def fashion_mnist_installed():
    directory = os.environ.get(datasets.FASHION_MNIST_ENV) or datasets.FASHION_MNIST_DIR
    return all(os.path.isfile(os.path.join(directory, name))
               for split in datasets.FASHION_MNIST_FILES.values() for name in split)


@pytest.mark.skipif(not fashion_mnist_installed(),
                    reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_example(backend, tmp_path):
    out = run_example("fashion_mnist.py", "--subset", "2000", "--epochs", "1",
                      "--out", "model.npz", "--plot", "history.png",
                      backend=backend, cwd=tmp_path)
    assert "1834 training, 166 validation, 10000 test images" in out
    assert out.count("Epoch 0, Loss:") == 1 and "val_accuracy:" in out
    assert f"({backend} backend" in out
    assert number_after("test accuracy:", out) >= 0.6
    assert "DIFFERENT" not in out
    assert "predictions identical" in out and (tmp_path / "model.npz").is_file()
    if have_matplotlib():
        assert "history plotted to history.png" in out
        check_png(tmp_path / "history.png", (1000, 400))


@pytest.mark.skipif(not fashion_mnist_installed(),
                    reason="dataset-fashion-mnist is not installed")
def test_fashion_cnn_example(backend, tmp_path):
    out = run_example("fashion_cnn.py", "--subset", "1500", "--test-subset", "500",
                      "--epochs", "1", "--out", "cnn.npz", backend=backend, cwd=tmp_path)
    assert f"{backend} backend" in out and "1500 training images" in out
    assert out.count("Epoch 0, Loss:") == 1
    assert number_after("test accuracy:", out) >= 0.5
    assert "reloaded model predicts the same: True" in out
    assert (tmp_path / "cnn.npz").is_file()


@pytest.mark.skipif(not fashion_mnist_installed(),
                    reason="dataset-fashion-mnist is not installed")
def test_fashion_resnet_example(backend, tmp_path):
    out = run_example("fashion_resnet.py", "--subset", "360", "--test-subset", "200",
                      "--epochs", "1", "--out", "resnet.npz", backend=backend, cwd=tmp_path)
    assert "26 layers" in out and "330 training, 30 validation, 200 test images" in out
    assert f"({backend} backend" in out and out.count("Epoch 0, Loss:") == 1
    # three batches leave batch normalisation's running statistics near their start, so
    # the accuracy says little here; examples/fashion_resnet.py's full run reaches 0.91+
    assert 0.0 <= number_after("test accuracy:", out) <= 1.0
    assert "reloaded: predictions identical" in out and (tmp_path / "resnet.npz").is_file()


@pytest.mark.skipif(not have_matplotlib(), reason="needs matplotlib (barenet[plot])")
def test_gradient_descent_example(backend, tmp_path):
    out = run_example("gradient_descent.py", "pictures", backend=backend, cwd=tmp_path)
    # the landscape's center is the network's own loss, printed both ways
    center, own = re.search(r"loss at the center ([0-9.]+) \(net.loss: ([0-9.]+)\)", out).groups()
    assert center == own
    assert "trajectory (501, 17)" in out and number_after("accuracy", out) > 0.9
    pictures = tmp_path / "pictures"
    for name in ("xor_landscape", "xor_random_landscape", "spiral_landscape"):
        check_png(pictures / f"{name}.png", (650, 550))
    gif = (pictures / "spiral_training.gif").read_bytes()
    assert gif[:6] == b"GIF89a" and "spiral_training.gif: 31 frames" in out
