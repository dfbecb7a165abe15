"""Pictures of training with matplotlib, the optional extra ``barenet[plot]``:
plot_history draws a History's losses and validation accuracy per epoch, and
plot_decision_boundary colours the plane by a 2-D classifier's predicted class.
With a path the figure is drawn by Agg into a PNG (no display, pyplot untouched);
without one it opens a window through pyplot. matplotlib is imported only here.
"""

import math
import numbers
import os

import numpy as np

__all__ = ["plot_history", "plot_decision_boundary"]

_INSTALL_HINT = 'pip install "barenet[plot]"'
_MARKERS_UP_TO = 30        # epochs; longer runs are drawn as plain lines
_LOG_SCALE_RATIO = 100     # loss max/min above which the loss axis is logarithmic
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")    # matplotlib's tab10


def _matplotlib():
    """import matplotlib or raise an ImportError that names the extra to install"""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("barenet's plots need matplotlib, which is not installed: "
                          f'{_INSTALL_HINT} (or pip install matplotlib)') from None
    return matplotlib


def _figure(path, show, figsize):
    """A new figure: drawn by Agg when it is only saved, a pyplot figure when shown."""
    _matplotlib()
    if show:
        import matplotlib.pyplot as plt
        return plt.figure(figsize=figsize, layout="constrained")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _finish(fig, path, show, dpi):
    """save to path (PNG unless its suffix names another format), then show if asked"""
    if path is not None:
        fig.savefig(os.fspath(path), dpi=dpi)
    if show:
        import matplotlib.pyplot as plt
        plt.show()
    return fig


def _check_show(show, path):
    if show is None:
        return path is None
    if not isinstance(show, (bool, np.bool_)):
        raise TypeError(f"show must be True, False or None, got {type(show).__name__}")
    return bool(show)


def _series(values, name):
    """a 1-D float array from a list of per-epoch numbers"""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of numbers") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one number per epoch), got shape {arr.shape}")
    return arr


def _epoch_index(value, name, n):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < n:
        raise ValueError(f"history.{name} must be None or an epoch index in 0..{n - 1}, "
                         f"got {value!r}")
    return int(value)


def _metrics(history):
    """(metrics dict of 1-D arrays, best_epoch, stopped_epoch) from a History, a plain
    list of losses (what the tutorial's train returns) or a dict of per-epoch lists"""
    if isinstance(history, dict):
        raw, best, stopped = history, None, None
    elif isinstance(history, (list, tuple, np.ndarray)):
        raw = dict(getattr(history, "metrics", None) or {"loss": history})
        raw.setdefault("loss", history)
        best = getattr(history, "best_epoch", None)
        stopped = getattr(history, "stopped_epoch", None)
    else:
        raise TypeError("history must be the History returned by NeuralNetwork.train, a list "
                        f"of per-epoch losses or a dict of lists; got {type(history).__name__}")
    if "loss" not in raw:
        raise ValueError("history has no 'loss' series")
    metrics = {name: _series(values, f"history metric {name!r}") for name, values in raw.items()}
    n = len(metrics["loss"])
    if n == 0:
        raise ValueError("history is empty: train for at least one epoch before plotting")
    for name in ("val_loss", "val_accuracy", "accuracy"):
        if name in metrics and len(metrics[name]) not in (0, n):
            raise ValueError(f"history metric {name!r} has {len(metrics[name])} values for "
                             f"{n} epochs")
    return metrics, _epoch_index(best, "best_epoch", n), _epoch_index(stopped, "stopped_epoch", n)


def plot_history(history, path=None, *, show=None, title=None, dpi=100):
    """Plot training (and validation) loss per epoch, and validation accuracy when recorded.

    Parameters
    ----------
    history : History, list of float or dict
        What ``NeuralNetwork.train`` returns: its losses and ``history.metrics``
        ("loss", optional "val_loss", "val_accuracy"); ``best_epoch`` (set by early
        stopping) is marked on both panels. A plain list of per-epoch losses or a dict
        of per-epoch lists is accepted too.
    path : str or os.PathLike, optional
        Write the figure there (PNG, or the format its suffix names), drawn by
        matplotlib's Agg backend: no display is needed and pyplot's state is untouched.
    show : bool, optional
        Open a window (``matplotlib.pyplot.show``). Default: only when no path is given.
    title : str, optional
        Figure title.
    dpi : int
        Resolution of the saved file (the figure is 10x4 inches, 5x4 with one panel).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ImportError
        matplotlib is not installed; the message says ``pip install "barenet[plot]"``.
    """
    show = _check_show(show, path)
    metrics, best, stopped = _metrics(history)
    loss = metrics["loss"]
    epochs = np.arange(len(loss))
    val_loss = metrics.get("val_loss", np.empty(0))
    accuracies = [(name, label) for name, label in (("accuracy", "training accuracy"),
                                                    ("val_accuracy", "validation accuracy"))
                  if len(metrics.get(name, ())) == len(loss)]
    marker = "o" if len(loss) <= _MARKERS_UP_TO else None

    _matplotlib()
    from matplotlib.ticker import MaxNLocator
    fig = _figure(path, show, (10, 4) if accuracies else (5.5, 4))
    axes = fig.subplots(1, 2 if accuracies else 1, squeeze=False)[0]

    ax = axes[0]
    ax.plot(epochs, loss, color=_COLORS[0], marker=marker, ms=4, label="training loss")
    if len(val_loss) == len(loss):
        ax.plot(epochs, val_loss, color=_COLORS[1], marker=marker, ms=4,
                label="validation loss")
    shown = np.concatenate([loss, val_loss if len(val_loss) == len(loss) else []])
    shown = shown[np.isfinite(shown)]
    if shown.size and shown.min() > 0 and shown.max() / shown.min() > _LOG_SCALE_RATIO:
        ax.set_yscale("log")
    ax.set_title("Loss")
    ax.set_ylabel("loss (log scale)" if ax.get_yscale() == "log" else "loss")

    if accuracies:
        ax = axes[1]
        for (name, label), color in zip(accuracies, (_COLORS[2], _COLORS[3])):
            ax.plot(epochs, metrics[name], color=color, marker=marker, ms=4, label=label)
        ax.set_title("Accuracy")
        ax.set_ylabel("accuracy")
        top = max(float(np.nanmax(metrics[name])) for name, _ in accuracies)
        if top > 0.9:
            ax.set_ylim(top=1.0 + 0.02 * (1.0 - ax.get_ylim()[0]))

    for ax in axes:
        if best is not None:
            ax.axvline(best, color="0.35", linestyle="--", linewidth=1,
                       label=f"best epoch ({best})")
        ax.set_xlabel("epoch")
        if len(loss) == 1:
            ax.set_xlim(-0.5, 0.5)
            ax.set_xticks([0])
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend()
    heading = title or f"Training history ({len(loss)} epoch{'s' if len(loss) != 1 else ''})"
    if stopped is not None:
        heading += f", stopped early after epoch {stopped}"
    fig.suptitle(heading)
    return _finish(fig, path, show, dpi)


def _labels(y, n):
    """integer class labels (n,) from labels, an (n, 1) column of 0/1, or one-hot rows"""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    elif y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"y must hold one label per row of X ({n}), got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError("y must hold integer class labels (or one-hot rows)")
    elif y.dtype.kind not in "iub":
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    return y.astype(np.int64)


def _predicted_classes(net, X):
    proba = np.asarray(net.predict(X))
    if proba.ndim == 2 and proba.shape[1] > 1:
        return proba.argmax(axis=1)
    return (proba.reshape(-1) > 0.5).astype(np.int64)


def plot_decision_boundary(net, X, y, path=None, *, show=None, resolution=300, title=None,
                           dpi=100):
    """Colour the plane by the class a 2-input classifier predicts, with the points on top.

    ``net`` is a NeuralNetwork (or anything with ``predict``) taking 2 inputs: with
    several outputs the class is the argmax, with one output it is ``p > 0.5``.
    ``X`` is ``(n, 2)``; ``y`` the true labels (integers, a 0/1 column or one-hot rows).
    The plane spans X's range plus a margin, sampled on ``resolution`` x ``resolution``
    points. ``path``, ``show`` and ``dpi`` behave as in :func:`plot_history`; returns the
    Figure. Raises ImportError naming ``barenet[plot]`` when matplotlib is missing.
    """
    show = _check_show(show, path)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2 or X.shape[0] == 0:
        raise ValueError(f"X must have shape (n, 2) with n >= 1, got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X must be finite")
    labels = _labels(y, X.shape[0])
    if isinstance(resolution, bool) or not isinstance(resolution, numbers.Integral) \
            or not 2 <= resolution <= 4000:
        raise ValueError(f"resolution must be an integer in 2..4000, got {resolution!r}")

    lo, hi = X.min(axis=0), X.max(axis=0)
    margin = 0.1 * np.where(hi > lo, hi - lo, 1.0)
    xs = np.linspace(lo[0] - margin[0], hi[0] + margin[0], resolution)
    ys = np.linspace(lo[1] - margin[1], hi[1] + margin[1], resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    dtype = getattr(net, "dtype", np.float64)
    zone = _predicted_classes(net, grid.astype(dtype)).reshape(gx.shape)
    predicted = _predicted_classes(net, X.astype(dtype))
    accuracy = float(np.mean(predicted == labels))
    n_classes = int(max(zone.max(), labels.max())) + 1

    _matplotlib()
    from matplotlib.colors import BoundaryNorm, ListedColormap
    colors = [_COLORS[k % len(_COLORS)] for k in range(n_classes)]
    cmap = ListedColormap(colors)
    norm = BoundaryNorm(np.arange(n_classes + 1) - 0.5, n_classes)
    fig = _figure(path, show, (6, 5.5))
    ax = fig.subplots()
    ax.pcolormesh(xs, ys, zone, cmap=cmap, norm=norm, alpha=0.3, shading="nearest",
                  rasterized=True)
    if n_classes > 1:
        ax.contour(xs, ys, zone, levels=np.arange(n_classes - 1) + 0.5, colors="0.25",
                   linewidths=0.8)
    for k in range(n_classes):
        mask = labels == k
        if mask.any():
            ax.scatter(X[mask, 0], X[mask, 1], s=18, color=colors[k], edgecolors="black",
                       linewidths=0.5, label=f"class {k}")
    wrong = predicted != labels
    if wrong.any():
        ax.scatter(X[wrong, 0], X[wrong, 1], s=70, facecolors="none", edgecolors="red",
                   linewidths=1.2, label=f"misclassified ({int(wrong.sum())})")
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.set_aspect("equal" if math.isclose(xs[-1] - xs[0], ys[-1] - ys[0], rel_tol=0.5)
                  else "auto")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.legend(loc="best", fontsize="small", framealpha=0.9)
    ax.set_title(title or f"Decision boundary (accuracy {accuracy:.3f} on these points)")
    return _finish(fig, path, show, dpi)
