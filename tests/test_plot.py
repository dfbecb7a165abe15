"""Tests for barenet.plot: the PNGs that plot_history and plot_decision_boundary write
(valid files of the expected pixel size, not blank), what they draw (series, best-epoch
mark, panels), that saving never touches pyplot, bad input, and the ImportError naming
the `barenet[plot]` extra when matplotlib is missing (hidden through sys.modules)."""

import struct
import sys

import numpy as np
import pytest

from barenet import History, NeuralNetwork
from barenet.datasets import make_spirals, make_xor
from barenet.plot import plot_decision_boundary, plot_history

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) from a PNG's IHDR chunk, after checking the signature"""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def check_png(path, size):
    """a valid PNG of the given pixel size that holds a real picture"""
    assert png_size(path) == size
    assert 10_000 < path.stat().st_size < 2_000_000
    image = pytest.importorskip("matplotlib.image").imread(str(path))
    assert image.shape[:2] == (size[1], size[0])
    rgb = image[..., :3].reshape(-1, 3)
    assert rgb.std() > 0.05                                  # not blank
    assert len(np.unique((rgb * 15).round(), axis=0)) > 5    # several colours


def make_history(n=12, validation=True, best=None, stopped=None):
    """a History shaped like the one train returns"""
    h = History()
    epochs = np.arange(n)
    h.extend((0.9 * np.exp(-epochs / 4) + 0.05).tolist())
    h.metrics["lr"].extend([1e-3] * n)
    if validation:
        for e in epochs:
            h.record("val_loss", 0.95 * np.exp(-e / 5) + 0.1)
            h.record("val_accuracy", 1 - 0.6 * np.exp(-e / 3))
    h.best_epoch, h.stopped_epoch = best, stopped
    return h


def legend_labels(ax):
    return ax.get_legend_handles_labels()[1]


@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib")


# ---------------------------------------------------------------- plot_history

def test_history_with_validation_png(tmp_path, mpl):
    path = tmp_path / "history.png"
    fig = plot_history(make_history(best=7, stopped=11), path)
    check_png(path, (1000, 400))
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_title() == "Loss" and acc_ax.get_title() == "Accuracy"
    assert loss_ax.get_xlabel() == acc_ax.get_xlabel() == "epoch"
    assert legend_labels(loss_ax) == ["training loss", "validation loss", "best epoch (7)"]
    assert legend_labels(acc_ax) == ["validation accuracy", "best epoch (7)"]
    suptitle = fig.get_suptitle() if hasattr(fig, "get_suptitle") else fig._suptitle.get_text()
    assert "stopped early after epoch 11" in suptitle
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), make_history())
    np.testing.assert_array_equal(loss_ax.lines[0].get_xdata(), np.arange(12))


def test_history_without_validation_is_one_panel(tmp_path, mpl):
    path = tmp_path / "loss.png"
    fig = plot_history(make_history(validation=False), str(path))
    check_png(path, (550, 400))
    assert len(fig.axes) == 1 and legend_labels(fig.axes[0]) == ["training loss"]


def test_tutorial_list_of_losses_long_run_uses_log_scale(tmp_path, mpl):
    losses = list(0.8 * np.exp(-np.arange(5000) / 400) + 1e-4)    # what the tutorial returns
    path = tmp_path / "xor.png"
    fig = plot_history(losses, path)
    check_png(path, (550, 400))
    assert fig.axes[0].get_yscale() == "log"
    assert fig.axes[0].get_ylabel() == "loss (log scale)"


def test_single_epoch(tmp_path, mpl):
    path = tmp_path / "one.png"
    fig = plot_history(make_history(n=1), path)
    check_png(path, (1000, 400))
    assert list(fig.axes[0].get_xticks()) == [0]


def test_real_training_history(tmp_path, mpl, backend):
    X, y = make_spirals(30, 3, seed=0)
    net = NeuralNetwork([2, 16, 3], output_activation="softmax", seed=0, backend=backend)
    history = net.train(X, y, epochs=5, learning_rate=0.05, batch_size=16, optimizer="adam",
                        verbose=False, validation_data=(X, y))
    path = tmp_path / "real.png"
    fig = plot_history(history, path)
    check_png(path, (1000, 400))
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), history.val_loss)


def test_history_plot_method(tmp_path, mpl):
    path = tmp_path / "method.png"
    make_history(best=3).plot(path)
    check_png(path, (1000, 400))


def test_saving_leaves_pyplot_alone(tmp_path, mpl):
    plt = pytest.importorskip("matplotlib.pyplot")
    before = plt.get_fignums()
    plot_history(make_history(), tmp_path / "a.png")
    X, y = make_xor()
    np.random.seed(0)
    plot_decision_boundary(NeuralNetwork([2, 3, 1]), X, y, tmp_path / "b.png")
    assert plt.get_fignums() == before


def test_show_goes_through_pyplot(tmp_path, mpl, monkeypatch):
    plt = pytest.importorskip("matplotlib.pyplot")
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(True))
    fig = plot_history(make_history())                       # no path: shown, not saved
    try:
        assert shown == [True] and fig.number in plt.get_fignums()
    finally:
        plt.close(fig)
    fig = plot_history(make_history(), tmp_path / "both.png", show=True)
    plt.close(fig)
    assert shown == [True, True] and png_size(tmp_path / "both.png") == (1000, 400)


@pytest.mark.parametrize("history, exc, match", [
    ([], ValueError, "empty"),
    (42, TypeError, "history"),
    ({"val_loss": [1.0]}, ValueError, "loss"),
    ({"loss": [1.0, 0.5], "val_loss": [1.0]}, ValueError, "val_loss"),
    ({"loss": [[1.0, 0.5]]}, ValueError, "1-D"),
    ({"loss": ["a", "b"]}, TypeError, "numbers"),
])
def test_history_bad_input(history, exc, match, mpl):
    with pytest.raises(exc, match=match):
        plot_history(history, show=False)


def test_history_bad_best_epoch_and_show(mpl):
    with pytest.raises(ValueError, match="best_epoch"):
        plot_history(make_history(best=12), show=False)
    with pytest.raises(TypeError, match="show"):
        plot_history(make_history(), show="yes")


# ---------------------------------------------------------------- plot_decision_boundary

def test_decision_boundary_spirals(tmp_path, mpl, backend):
    X, y = make_spirals(50, 3, seed=0)
    net = NeuralNetwork([2, 32, 3], output_activation="softmax", seed=0, backend=backend)
    net.train(X, y, epochs=30, learning_rate=0.02, batch_size=32, optimizer="adam",
              verbose=False)
    path = tmp_path / "spiral.png"
    fig = plot_decision_boundary(net, X, y, path, resolution=120)
    check_png(path, (600, 550))
    ax = fig.axes[0]
    labels = legend_labels(ax)
    assert labels[:3] == ["class 0", "class 1", "class 2"]
    accuracy = float(np.mean(net.predict_classes(X) == y))
    assert f"accuracy {accuracy:.3f}" in ax.get_title()
    assert (accuracy < 1) == any(label.startswith("misclassified") for label in labels)


def test_decision_boundary_single_sigmoid_output_and_one_hot(tmp_path, mpl):
    X, y = make_xor()
    np.random.seed(42)
    net = NeuralNetwork([2, 4, 1])
    net.train(X, y, epochs=2000, learning_rate=0.5, verbose=False)
    fig = plot_decision_boundary(net, X, y, tmp_path / "xor.png", resolution=50)
    check_png(tmp_path / "xor.png", (600, 550))
    assert "accuracy 1.000" in fig.axes[0].get_title()
    fig = plot_decision_boundary(net, X, np.eye(2)[y[:, 0].astype(int)], show=False,
                                 resolution=50)
    assert "accuracy 1.000" in fig.axes[0].get_title()


@pytest.mark.parametrize("X, y, kwargs, exc, match", [
    (np.zeros((4, 3)), [0, 1, 1, 0], {}, ValueError, r"\(n, 2\)"),
    (np.zeros((0, 2)), [], {}, ValueError, r"\(n, 2\)"),
    (np.full((4, 2), np.nan), [0, 1, 1, 0], {}, ValueError, "finite"),
    (np.zeros((4, 2)), [0, 1, 1], {}, ValueError, "one label per row"),
    (np.zeros((4, 2)), [0, 0.5, 1, 0], {}, ValueError, "integer"),
    (np.zeros((4, 2)), [0, 1, 1, 0], {"resolution": 1}, ValueError, "resolution"),
])
def test_decision_boundary_bad_input(X, y, kwargs, exc, match, mpl):
    np.random.seed(0)
    with pytest.raises(exc, match=match):
        plot_decision_boundary(NeuralNetwork([2, 3, 1]), X, y, show=False, **kwargs)


# ---------------------------------------------------------------- without matplotlib

def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # `import matplotlib` fails
    with pytest.raises(ImportError, match=r'pip install "barenet\[plot\]"'):
        plot_history(make_history(), tmp_path / "h.png")
    X, y = make_xor()
    np.random.seed(0)
    with pytest.raises(ImportError, match=r'pip install "barenet\[plot\]"'):
        plot_decision_boundary(NeuralNetwork([2, 3, 1]), X, y, tmp_path / "d.png")
    assert not list(tmp_path.iterdir())
