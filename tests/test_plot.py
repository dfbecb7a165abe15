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


# ---------------------------------------------------------------- gradient-descent pictures
# train(record_trajectory=True), loss_landscape (what it computes, without matplotlib),
# loss_landscape_figure and animate_training

from barenet import EarlyStopping, Sequential  # noqa: E402
from barenet.layers import BatchNormalization, Conv2D, Dense, Flatten  # noqa: E402
from barenet.plot import (LossLandscape, animate_training, filter_normalized_direction,  # noqa: E402
                          loss_landscape, loss_landscape_figure)


def trained_spiral(backend, dtype="float64", epochs=12, **kwargs):
    X, y = make_spirals(20, 2, seed=1)
    net = NeuralNetwork([2, 8, 2], output_activation="softmax", seed=3, backend=backend,
                        dtype=dtype)
    history = net.train(X, y, epochs=epochs, learning_rate=0.05, batch_size=8,
                        optimizer="adam", verbose=False, record_trajectory=True, **kwargs)
    return net, X, y, history


def test_trajectory_is_the_parameters_epoch_by_epoch(backend):
    net, X, y, history = trained_spiral(backend)
    traj = history.trajectory
    assert traj.shape == (13, net.n_params) and traj.dtype == net.dtype
    np.testing.assert_array_equal(traj[-1], net.get_params())
    # the same training one epoch per call, recording by hand: the same rows, bit for bit
    twin = NeuralNetwork([2, 8, 2], output_activation="softmax", seed=3, backend=backend)
    rows = [twin.get_params()]
    for _ in range(12):
        twin.train(X, y, epochs=1, learning_rate=0.05, batch_size=8, optimizer="adam",
                   verbose=False)
        rows.append(twin.get_params())
    np.testing.assert_array_equal(traj, np.stack(rows))


def test_recording_changes_nothing_and_off_costs_no_calls(backend, monkeypatch):
    X, y = make_spirals(20, 2, seed=1)
    nets = [NeuralNetwork([2, 8, 2], output_activation="softmax", seed=3, backend=backend)
            for _ in range(2)]
    calls = []
    for net, record in zip(nets, (False, True)):
        real = net._backend.train
        monkeypatch.setattr(net._backend, "train",
                            lambda *a, real=real, record=record, **k:
                            calls.append(record) or real(*a, **k))
    kwargs = dict(epochs=30, learning_rate=0.05, batch_size=8, verbose=False)
    off = nets[0].train(X, y, **kwargs)
    on = nets[1].train(X, y, record_trajectory=True, **kwargs)
    assert off.trajectory is None
    assert calls.count(False) == 1 and calls.count(True) == 30   # one chunk vs one per epoch
    assert list(off) == list(on)
    np.testing.assert_array_equal(nets[0].get_params(), nets[1].get_params())


def test_trajectory_backends_agree():
    from conftest import require_compiled
    require_compiled()
    a = trained_spiral("numpy")[3].trajectory
    b = trained_spiral("compiled")[3].trajectory
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_trajectory_with_early_stopping_and_divergence(backend):
    X, y = make_spirals(20, 2, seed=1)
    net = NeuralNetwork([2, 8, 2], output_activation="softmax", seed=3, backend=backend)
    history = net.train(X, y, epochs=200, learning_rate=0.5, verbose=False,
                        early_stopping=EarlyStopping(patience=2, min_delta=0.01),
                        record_trajectory=True)
    assert history.stopped_epoch is not None and history.best_epoch < history.stopped_epoch
    assert history.trajectory.shape[0] == len(history) + 1
    np.testing.assert_array_equal(history.trajectory[history.best_epoch + 1], net.get_params())
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 4)) * 1e3, rng.standard_normal((20, 3))
    net = NeuralNetwork([4, 16, 3], output_activation="identity", seed=0, backend=backend)
    with pytest.warns(RuntimeWarning, match="the training loss became"):
        history = net.train(X, y, epochs=500, learning_rate=10.0, verbose=False,
                            on_divergence="warn", record_trajectory=True)
    assert 1 <= len(history) < 500
    assert history.trajectory.shape[0] == len(history) + 1
    np.testing.assert_array_equal(history.trajectory[-1], net.get_params())


def test_record_trajectory_refused(xor):
    X, y = xor
    net = NeuralNetwork([2, 3, 1], seed=0)
    with pytest.raises(TypeError, match="record_trajectory"):
        net.train(X, y, epochs=2, verbose=False, record_trajectory="yes")
    pytest.importorskip("scipy")
    with pytest.raises(ValueError, match="record_trajectory"):
        net.train(X, y, epochs=2, verbose=False, optimizer="lbfgs", record_trajectory=True)


@pytest.mark.parametrize("kind", ["pca", "random"])
def test_landscape_origin_is_the_loss_and_path_ends_at_the_model(backend, dtype, kind,
                                                                  monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # computed without matplotlib
    net, X, y, history = trained_spiral(backend, dtype)
    before = net.get_params()
    land = loss_landscape(net, X, y, kind, history, resolution=7)
    assert isinstance(land, LossLandscape) and land.loss.shape == (7, 7)
    assert land.alphas[3] == 0 and land.betas[3] == 0
    assert land.loss[3, 3] == land.origin_loss == net.loss(X, y)
    np.testing.assert_array_equal(net.get_params(), before)     # the model is untouched
    # the path: its first row is the initial parameters' coordinates, its last the final's
    traj = history.trajectory.astype(np.float64)
    D = land.directions
    coords = np.linalg.solve(D @ D.T, D @ (traj - before).T).T
    np.testing.assert_allclose(land.path, coords, atol=1e-10)
    np.testing.assert_allclose(land.path[-1], [0, 0], atol=1e-12)
    assert np.abs(land.path[0]).max() > 0.1
    np.testing.assert_allclose(land.path_loss[[0, -1]],
                               [NeuralNetwork.loss_and_grad(net, traj[0], X, y)[0],
                                net.loss(X, y)], rtol=1e-6 if dtype == "float32" else 1e-12)
    # any grid point is the loss at center + a d0 + b d1
    a, b = land.alphas[1], land.betas[5]
    point = (before.astype(np.float64) + a * D[0] + b * D[1]).astype(dtype)
    assert land.loss[5, 1] == pytest.approx(net.loss_and_grad(point, X, y)[0],
                                            rel=1e-5 if dtype == "float32" else 1e-12)
    if kind == "pca":
        np.testing.assert_allclose(D @ D.T, np.eye(2), atol=1e-12)     # orthonormal
        r = land.explained_variance_ratio
        assert 0 < r[1] <= r[0] <= 1 and r.sum() <= 1 + 1e-12
        assert land.path[0, 0] <= 0 and land.path[0, 1] <= 0


def test_landscape_pca_recovers_a_planar_path(backend):
    """a trajectory that lies in a plane through the final parameters is reproduced exactly
    by its coordinates along the two principal directions"""
    net, X, y, _ = trained_spiral(backend, epochs=1)
    center = net.get_params()
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal((2, net.n_params))
    t = np.linspace(1, 0, 9)
    traj = center + np.outer(3 * t, u) + np.outer(np.sin(4 * t), v)
    land = loss_landscape(net, X, y, "pca", traj, resolution=5)
    np.testing.assert_allclose(center + land.path @ land.directions, traj, atol=1e-9)
    np.testing.assert_allclose(land.explained_variance_ratio.sum(), 1.0)
    # the default span covers the path: 1.25 times its extent on each axis
    np.testing.assert_allclose([land.alphas[-1], land.betas[-1]],
                               1.25 * np.abs(land.path).max(axis=0))


def assert_filter_normalized(net, d):
    views = [layer.views(d, at) for layer, at in zip(net.layers, net._spec.offsets)
             if layer.n_params]
    checked = 0
    for (w, b), dw_db in zip(zip(net.weights, net.biases), views):
        dw, db = dw_db
        if db is not None:
            assert not db.any()                                  # biases: no move
        if w.ndim < 2:
            assert not dw.any()                                  # 1-D weights: no move
            continue
        axes = tuple(range(w.ndim - 1))
        np.testing.assert_allclose(np.linalg.norm(dw.reshape(-1, w.shape[-1]), axis=0),
                                   np.sqrt((w.astype(np.float64) ** 2).sum(axis=axes)),
                                   rtol=1e-12)
        checked += w.shape[-1]
    return checked


def test_random_directions_are_filter_normalised(backend):
    net, X, y, _ = trained_spiral(backend, epochs=2)
    d = filter_normalized_direction(net, 0)
    assert assert_filter_normalized(net, d) == 8 + 2
    land = loss_landscape(net, X, y, "random", resolution=3, seed=5)
    for row in land.directions:
        assert_filter_normalized(net, row)
    assert land.path is None and land.alphas[-1] == land.betas[-1] == 1.0
    again = loss_landscape(net, X, y, "random", resolution=3, seed=5)
    np.testing.assert_array_equal(land.loss, again.loss)             # seeded
    cnn = Sequential([Conv2D(3, 3), BatchNormalization(), Flatten(), Dense(2, "softmax")],
                     input_shape=(1, 5, 5), seed=0, backend=backend)
    assert assert_filter_normalized(cnn, filter_normalized_direction(cnn, 1)) == 3 + 2


@pytest.mark.parametrize("args, kwargs, exc, match", [
    (("pca",), {}, ValueError, "needs a trajectory"),
    (("sideways",), {}, ValueError, "directions must be"),
    (("random",), {"resolution": 4}, ValueError, "odd integer"),
    (("random", np.zeros((3, 5))), {}, ValueError, r"trajectory must have shape \(T, 42\)"),
    ((np.zeros((2, 42)),), {}, ValueError, "zero or parallel"),
    (("random",), {"span": -1.0}, ValueError, "span"),
])
def test_landscape_bad_input(args, kwargs, exc, match):
    X, y = make_spirals(5, 2, seed=0)
    net = NeuralNetwork([2, 8, 2], output_activation="softmax", seed=0)
    with pytest.raises(exc, match=match):
        loss_landscape(net, X, y, *args, **kwargs)
    with pytest.raises(ValueError, match="no trajectory"):
        loss_landscape(net, X, y, "pca", net.train(X, y, epochs=1, verbose=False))


def test_landscape_figure_draws_the_path(tmp_path, mpl, backend):
    net, X, y, history = trained_spiral(backend)
    land = loss_landscape(net, X, y, "pca", history, resolution=9)
    path = tmp_path / "landscape.png"
    fig = loss_landscape_figure(land, path)
    check_png(path, (650, 550))
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_xydata(), land.path)
    assert legend_labels(ax)[:3] == ["training path (12 epochs)", "start", "end"]
    assert "principal direction" in ax.get_xlabel()
    with pytest.raises(TypeError, match="landscape"):
        loss_landscape_figure(land.loss)


def test_animation_gif_frames(tmp_path, mpl, backend):
    Image = pytest.importorskip("PIL.Image")
    net, X, y, history = trained_spiral(backend)
    path = tmp_path / "training.gif"
    assert animate_training(net, X, y, history, path, max_frames=5, resolution=40) == 5
    with Image.open(path) as gif:
        assert gif.n_frames == 5
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB"), dtype=np.int64))
    assert np.abs(frames[0] - frames[-1]).sum() > 0            # the picture moves


def test_animation_errors(tmp_path, mpl, monkeypatch):
    from matplotlib import animation
    net, X, y, history = trained_spiral("numpy", epochs=2)
    with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
        animate_training(net, X, y, history, tmp_path / "a.avi")
    with pytest.raises(ValueError, match="no trajectory"):
        animate_training(net, X, y, net.train(X, y, epochs=1, verbose=False),
                         tmp_path / "a.gif")
    monkeypatch.setattr(animation.writers, "is_available", lambda name: False)
    with pytest.raises(RuntimeError, match="ffmpeg"):
        animate_training(net, X, y, history, tmp_path / "a.mp4")
    assert not (tmp_path / "a.mp4").exists()


def test_landscape_and_reading_calls_refused_while_another_thread_trains(backend):
    """loss_landscape takes the model's lock as its methods do (and predict_classes is
    guarded like predict): while another thread trains they raise RuntimeError"""
    import threading
    X, y = make_spirals(10, 2, seed=0)
    net = NeuralNetwork([2, 4, 2], output_activation="softmax", seed=0, backend=backend)
    inside, go = threading.Event(), threading.Event()

    def hold(e, lr, epochs):
        if e == 1:
            inside.set()
            assert go.wait(30)
        return lr

    thread = threading.Thread(target=lambda: net.train(X, y, epochs=3, lr_schedule=hold,
                                                       verbose=False))
    thread.start()
    try:
        assert inside.wait(30)
        for attempt in (lambda: net.predict_classes(X), lambda: net.predict(X),
                        lambda: loss_landscape(net, X, y, "random", resolution=3)):
            with pytest.raises(RuntimeError, match="in use by another thread"):
                attempt()
    finally:
        go.set()
        thread.join()
    assert loss_landscape(net, X, y, "random", resolution=3).origin_loss == net.loss(X, y)
