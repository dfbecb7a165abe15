"""Pictures of training with matplotlib, the optional extra ``barenet[plot]``:
plot_history draws a History's losses and validation accuracy per epoch, and
plot_decision_boundary colours the plane by a 2-D classifier's predicted class;
loss_landscape (with loss_landscape_figure) and animate_training show gradient descent
itself, from the trajectory train(..., record_trajectory=True) records.
With a path the figure is drawn by Agg into a PNG (no display, pyplot untouched);
without one it opens a window through pyplot. matplotlib is imported only here.
"""

import math
import numbers
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

import numpy as np

from ._typing import ArrayLike, PathLike
from ._validation import check_int, check_positive_float, check_sample_weight
from .training import History

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .network import Sequential

__all__ = ["plot_history", "plot_decision_boundary", "loss_landscape", "LossLandscape",
           "loss_landscape_figure", "filter_normalized_direction", "animate_training"]

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


def plot_history(history: Union[History, Sequence[float], dict[str, Sequence[float]]],
                 path: Optional[PathLike] = None, *, show: Optional[bool] = None,
                 title: Optional[str] = None, dpi: int = 100) -> "Figure":
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
    return _predicted_classes_from(net.predict(X))


def plot_decision_boundary(net: Any, X: ArrayLike, y: ArrayLike,
                           path: Optional[PathLike] = None, *, show: Optional[bool] = None, resolution: int = 300,
                           title: Optional[str] = None, dpi: int = 100) -> "Figure":
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


# ---------------------------------------------------------------- gradient descent pictures
# Where gradient descent went: loss_landscape computes the loss on a plane through the
# model's parameters (two directions: filter-normalised random ones as in Li et al. 2018,
# "Visualizing the Loss Landscape of Neural Nets", or the trajectory's first two principal
# components) and the trajectory's coordinates in that plane; loss_landscape_figure draws it
# and animate_training films the decision boundary and the loss epoch by epoch. The
# trajectory comes from train(..., record_trajectory=True) (History.trajectory).

@dataclass(frozen=True)
class LossLandscape:
    """What :func:`loss_landscape` computes (no matplotlib needed).

    The plane is ``center + a * directions[0] + b * directions[1]``; ``loss[j, i]`` is the
    training objective (mean data loss + the l1/l2 penalty, as ``model.loss``) at
    ``a = alphas[i]``, ``b = betas[j]``. Both coordinate vectors have an odd length and
    their middle entry is exactly 0, so ``loss[m, m]`` (``m = len(alphas) // 2``) is the
    model's loss at its own parameters. ``path`` holds the trajectory's coordinates in the
    plane, one row per recorded point (its first row the parameters before training, its
    last the final ones), and ``path_loss`` the loss at those points themselves (not at
    their projections). ``explained_variance_ratio`` is the share of the trajectory's
    variance along each principal direction (``kind == "pca"`` only).
    """

    alphas: np.ndarray
    betas: np.ndarray
    loss: np.ndarray
    center: np.ndarray
    directions: np.ndarray
    kind: str
    path: Optional[np.ndarray] = None
    path_loss: Optional[np.ndarray] = None
    explained_variance_ratio: Optional[np.ndarray] = None

    @property
    def origin_loss(self) -> float:
        """the loss at the center (the model's parameters)"""
        return float(self.loss[len(self.betas) // 2, len(self.alphas) // 2])


def _param_views(model, flat):
    """(weight, bias) views into `flat` laid out as the model's parameters, per layer with
    parameters (the same offsets as model.weights and model.biases)"""
    return [layer.views(flat, at) for layer, at in zip(model.layers, model._spec.offsets)
            if layer.n_params]


def filter_normalized_direction(model: "Sequential",
                                rng: Union[None, int, np.random.Generator] = None) -> np.ndarray:
    """A random direction in parameter space scaled filter by filter (Li et al. 2018): a
    Gaussian vector whose part for each filter (an output unit of Dense, an output channel
    of Conv2D: the last axis of a weight array) has the norm of that filter in the model's
    parameters. Biases and 1-D weights (normalisation layers' scales) get 0, as in the
    paper. Returns a float64 vector of n_params."""
    rng = np.random.default_rng(rng)
    params = model.get_params().astype(np.float64)
    d = rng.standard_normal(params.size)
    out = np.zeros_like(d)
    for (w, _), (dw, _), (ow, _) in zip(_param_views(model, params), _param_views(model, d),
                                        _param_views(model, out)):
        if w is None or w.ndim < 2:
            continue
        axes = tuple(range(w.ndim - 1))     # every axis but the filters' (last) one
        wn = np.sqrt(np.sum(w * w, axis=axes))
        dn = np.sqrt(np.sum(dw * dw, axis=axes))
        ow[...] = dw * (wn / np.where(dn > 0, dn, 1.0))
    return out


def _trajectory(trajectory, n_params):
    """(T, n_params) float64 array from a History with a trajectory or an array"""
    if isinstance(trajectory, History):
        if trajectory.trajectory is None:
            raise ValueError("this History has no trajectory: train with "
                             "record_trajectory=True")
        trajectory = trajectory.trajectory
    try:
        arr = np.asarray(trajectory, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("trajectory must be a History from train(..., record_trajectory=True) "
                        f"or an array (T, n_params); got {type(trajectory).__name__}") from None
    if arr.ndim != 2 or arr.shape[1] != n_params or arr.shape[0] < 1:
        raise ValueError(f"trajectory must have shape (T, {n_params}) (T >= 1 rows of the "
                         f"model's parameters); got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("trajectory must be finite")
    return arr


def _span(value, path):
    """the half-widths (a, b) of the grid: given, or 1.25 x the path's extent (else 1)"""
    if value is not None:
        pair = (value, value) if isinstance(value, numbers.Real) else tuple(value)
        if len(pair) != 2:
            raise ValueError(f"span must be a number or a pair of numbers; got {value!r}")
        return tuple(check_positive_float(v, "span") for v in pair)
    if path is None:
        return 1.0, 1.0
    extent = 1.25 * np.abs(path).max(axis=0)
    return tuple(float(e) if e > 0 else 1.0 for e in extent)


def _model_lock(model, what):
    """the model's lock, taken as its own methods take it (RuntimeError while another
    thread trains it)"""
    from .network import _acquire
    _acquire(model._busy, type(model).__name__, what)
    return model._busy


def loss_landscape(model: "Sequential", X: Any, y: ArrayLike,
                   directions: Union[str, ArrayLike] = "pca",
                   trajectory: Union[None, History, ArrayLike] = None, *, resolution: int = 21,
                   span: Union[None, float, tuple[float, float]] = None, seed: int = 0,
                   sample_weight: Optional[ArrayLike] = None) -> LossLandscape:
    """The loss around a model's parameters on a plane, with the training path on it.

    Parameters
    ----------
    model : Sequential, Model or NeuralNetwork
        The plane passes through its current parameters (the center). It is not changed.
    X, y : array-like
        The data the loss is computed on, as for ``model.loss``.
    directions : {"pca", "random"} or array (2, n_params)
        "pca": the first two principal components of the trajectory's offsets from the
        center (Li et al. 2018, section 7): the plane that holds most of the path.
        "random": two Gaussian directions normalised filter by filter
        (:func:`filter_normalized_direction`, seeded by ``seed``). Or two directions given.
    trajectory : History or array (T, n_params), optional
        The path training took: the History of ``train(..., record_trajectory=True)`` or
        its ``trajectory``. Needed for "pca"; with other directions it is projected onto
        the plane (least squares) when given.
    resolution : odd int
        Grid points per axis (3..401); odd, so that the center is a grid point.
    span : float or (float, float), optional
        Half-width of the grid along each direction. Default: 1.25 times the path's extent
        (1.0 in direction units without a path, the usual range for random directions).
    seed : int
        Seed of the random directions.
    sample_weight : array (n,), optional
        As for ``model.loss``.

    Returns
    -------
    LossLandscape
        The grid of losses, the directions and the projected path.
    """
    from .network import Sequential
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a barenet Sequential, Model or NeuralNetwork; got "
                        f"{type(model).__name__}")
    n = model.n_params
    if n < 2:
        raise ValueError(f"a plane needs a model with at least 2 parameters; this one has {n}")
    resolution = check_int(resolution, "resolution", minimum=3, maximum=401)
    if resolution % 2 == 0:
        raise ValueError("resolution must be an odd integer in 3..401 (odd: the grid passes "
                         f"through the model's parameters); got {resolution!r}")
    traj = None if trajectory is None else _trajectory(trajectory, n)
    center = model.get_params().astype(np.float64)
    kind = directions if isinstance(directions, str) else "given"
    ratio = None
    if kind == "pca":
        if traj is None or traj.shape[0] < 2:
            raise ValueError('directions="pca" needs a trajectory of at least 2 points: '
                             "train(..., record_trajectory=True) and pass its History")
        offsets = traj - center
        _, sv, vt = np.linalg.svd(offsets - offsets.mean(axis=0), full_matrices=False)
        if vt.shape[0] < 2:
            raise ValueError("the trajectory's principal components need at least 2 points")
        dirs = vt[:2].copy()
        variance = sv**2
        ratio = variance[:2] / variance.sum() if variance.sum() > 0 else np.zeros(2)
    elif kind == "random":
        rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
        dirs = np.stack([filter_normalized_direction(model, rng) for _ in range(2)])
    elif isinstance(directions, str):
        raise ValueError(f'directions must be "pca", "random" or an array (2, {n}); got '
                         f"{directions!r}")
    else:
        dirs = np.asarray(directions, dtype=np.float64)
        if dirs.shape != (2, n) or not np.all(np.isfinite(dirs)):
            raise ValueError(f"directions must be a finite array of shape (2, {n}); got "
                             f"shape {dirs.shape}")
    gram = dirs @ dirs.T
    if abs(np.linalg.det(gram)) <= 1e-12 * max(gram[0, 0] * gram[1, 1], 1e-300):
        raise ValueError("the two directions are zero or parallel (a model whose weights are "
                         "all zero has no filter-normalised directions)")

    path = None
    if traj is not None:
        offsets = traj - center
        path = np.linalg.solve(gram, dirs @ offsets.T).T   # (T, 2) least-squares coordinates
        if kind == "pca":   # orient each axis so that the path runs from - to +
            flip = np.where(path[0] > 0, -1.0, 1.0)
            dirs, path = dirs * flip[:, None], path * flip
    span_a, span_b = _span(span, path)
    h = resolution // 2
    steps = np.arange(resolution, dtype=np.float64) - h      # middle entry exactly 0
    alphas, betas = steps * (span_a / h), steps * (span_b / h)

    dtype = model.dtype
    with _model_lock(model, "plot.loss_landscape"):
        try:
            Xv, yv = model._Xy(X, y)
            sw = check_sample_weight(sample_weight, Xv.shape[0], dtype)

            def at(p):
                return float(model._backend.loss(np.ascontiguousarray(p, dtype=dtype), Xv,
                                                 yv, model.l1, model.l2, sw))

            grid = np.empty((resolution, resolution))
            for j, b in enumerate(betas):
                row = center + b * dirs[1]
                for i, a in enumerate(alphas):
                    grid[j, i] = at(row + a * dirs[0])
            path_loss = None if traj is None else np.array([at(p) for p in traj])
        finally:
            model._busy.release()
    return LossLandscape(alphas=alphas, betas=betas, loss=grid, center=center,
                         directions=dirs, kind=kind, path=path, path_loss=path_loss,
                         explained_variance_ratio=ratio)


def loss_landscape_figure(landscape: LossLandscape, path: Optional[PathLike] = None, *,
                          show: Optional[bool] = None, title: Optional[str] = None,
                          levels: int = 30, dpi: int = 100) -> "Figure":
    """Draw a :class:`LossLandscape`: filled contours of the loss (a logarithmic scale when
    it spans more than two decades) with the training path on top, from its start (the
    parameters before training) to its end, and the model's parameters (the center).
    ``path``, ``show`` and ``dpi`` behave as in :func:`plot_history`; returns the Figure."""
    if not isinstance(landscape, LossLandscape):
        raise TypeError("landscape must be what barenet.plot.loss_landscape returns; got "
                        f"{type(landscape).__name__}")
    show = _check_show(show, path)
    if isinstance(levels, bool) or not isinstance(levels, numbers.Integral) \
            or not 2 <= levels <= 500:
        raise ValueError(f"levels must be an integer in 2..500; got {levels!r}")
    _matplotlib()
    from matplotlib.colors import LogNorm
    z = np.ma.masked_invalid(landscape.loss)
    fig = _figure(path, show, (6.5, 5.5))
    ax = fig.subplots()
    a, b = landscape.alphas, landscape.betas
    lo, hi = float(z.min()), float(z.max())
    if lo > 0 and hi / lo > _LOG_SCALE_RATIO:
        edges = np.geomspace(lo, hi, levels + 1)
        filled = ax.contourf(a, b, z, levels=edges, norm=LogNorm(lo, hi), cmap="viridis")
    else:
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, levels + 1)
        filled = ax.contourf(a, b, z, levels=edges, cmap="viridis")
    ax.contour(a, b, z, levels=edges[::3], colors="white", linewidths=0.4, alpha=0.6)
    fig.colorbar(filled, ax=ax, label="loss", ticks=np.geomspace(lo, hi, 6)
                 if filled.norm.__class__ is LogNorm else None, format="%.3g")
    if landscape.path is not None:
        p = landscape.path
        ax.plot(p[:, 0], p[:, 1], color="#d62728", linewidth=1.5, marker="o", markersize=2.5,
                label=f"training path ({len(p) - 1} epochs)")
        ax.scatter(p[0, 0], p[0, 1], s=60, marker="s", color="white", edgecolors="black",
                   zorder=3, label="start")
        ax.scatter(p[-1, 0], p[-1, 1], s=90, marker="*", color="#ff7f0e",
                   edgecolors="black", zorder=3, label="end")
    ax.scatter(0, 0, s=25, marker="x", color="black", zorder=4, label="model's parameters")
    if landscape.kind == "pca" and landscape.explained_variance_ratio is not None:
        r = landscape.explained_variance_ratio
        ax.set_xlabel(f"1st principal direction ({100 * r[0]:.1f}% of the path's variance)")
        ax.set_ylabel(f"2nd principal direction ({100 * r[1]:.1f}%)")
    else:
        ax.set_xlabel(f"direction 1 ({landscape.kind})")
        ax.set_ylabel(f"direction 2 ({landscape.kind})")
    ax.legend(loc="best", fontsize="small", framealpha=0.9)
    ax.set_title(title or f"Loss landscape ({landscape.kind} directions)")
    return _finish(fig, path, show, dpi)


_WRITERS = {".gif": ("pillow", "Pillow (pip install pillow)"),
            ".mp4": ("ffmpeg", "the ffmpeg program on PATH (e.g. apt-get install ffmpeg)")}


def _plane(X, resolution):
    """the (xs, ys) sampling of X's range plus a 10% margin, resolution points each"""
    lo, hi = X.min(axis=0), X.max(axis=0)
    margin = 0.1 * np.where(hi > lo, hi - lo, 1.0)
    return (np.linspace(lo[0] - margin[0], hi[0] + margin[0], resolution),
            np.linspace(lo[1] - margin[1], hi[1] + margin[1], resolution))


def animate_training(model: "Sequential", X: ArrayLike, y: ArrayLike, history: History,
                     path: PathLike, *, fps: int = 8, max_frames: int = 60,
                     resolution: int = 120, dpi: int = 80) -> int:
    """Film training: per frame, the decision boundary of the parameters after that many
    epochs (left) and the loss over the epochs with the frame's point marked (right).

    ``model`` is a 2-input classifier (sigmoid or softmax output), ``X`` (n, 2) and ``y``
    its data, ``history`` the History of ``model.train(..., record_trajectory=True)``
    (its trajectory gives the parameters of each frame; the model is not changed). At
    most ``max_frames`` frames, spread evenly over the trajectory, first and last
    included. ``path`` ends in ``.gif`` (written with Pillow) or ``.mp4`` (with ffmpeg,
    when the ffmpeg program is on PATH; otherwise a RuntimeError says so before anything
    is computed). Returns the number of frames written.
    """
    from .network import Sequential
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a barenet Sequential, Model or NeuralNetwork; got "
                        f"{type(model).__name__}")
    if model.input_shape != (2,) or model.output_activation not in ("sigmoid", "softmax"):
        raise ValueError("animate_training draws a decision boundary: the model must take 2 "
                         "inputs and have a sigmoid or softmax output; this one takes "
                         f"{model.input_shape} and outputs {model.output_activation!r}")
    traj = _trajectory(history, model.n_params)
    losses = _series(history, "history")
    if len(losses) != traj.shape[0] - 1:
        raise ValueError(f"history has {len(losses)} losses but {traj.shape[0]} trajectory "
                         "rows; pass the History that train returned")
    for name, number, top in (("fps", fps, 100), ("max_frames", max_frames, 10_000),
                              ("resolution", resolution, 1000), ("dpi", dpi, 600)):
        check_int(number, name, minimum=2 if name != "fps" else 1, maximum=top)
    if path is None:
        raise ValueError("animate_training needs a path ending in .gif or .mp4")
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in _WRITERS:
        raise ValueError(f"path must end in .gif or .mp4 (the writer follows the suffix); "
                         f"got {os.fspath(path)!r}")
    _matplotlib()
    from matplotlib import animation
    writer_name, needs = _WRITERS[suffix]
    if not animation.writers.is_available(writer_name):
        raise RuntimeError(f"no {suffix[1:].upper()} writer: matplotlib's {writer_name!r} "
                           f"writer needs {needs}; save a .gif instead, or install it")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2 or X.shape[0] == 0 or not np.all(np.isfinite(X)):
        raise ValueError(f"X must be a finite array of shape (n, 2) with n >= 1; got "
                         f"{X.shape}")
    labels = _labels(y, X.shape[0])

    frames = np.unique(np.linspace(0, traj.shape[0] - 1, min(max_frames, traj.shape[0]))
                       .round().astype(np.int64))
    xs, ys = _plane(X, resolution)
    gx, gy = np.meshgrid(xs, ys)
    dtype = model.dtype
    grid = np.ascontiguousarray(np.column_stack([gx.ravel(), gy.ravel()]), dtype=dtype)
    with _model_lock(model, "plot.animate_training"):
        try:
            Xv, yv = model._Xy(X, y)
            zones, frame_loss = [], []
            for f in frames:
                p = np.ascontiguousarray(traj[f], dtype=dtype)
                zones.append(_predicted_classes_from(model._backend.predict(p, grid))
                             .reshape(gx.shape))
                frame_loss.append(float(model._backend.loss(p, Xv, yv, model.l1, model.l2)))
        finally:
            model._busy.release()
    n_classes = max(int(max(z.max() for z in zones)), int(labels.max())) + 1

    from matplotlib.colors import BoundaryNorm, ListedColormap
    colors = [_COLORS[k % len(_COLORS)] for k in range(n_classes)]
    cmap = ListedColormap(colors)
    norm = BoundaryNorm(np.arange(n_classes + 1) - 0.5, n_classes)
    fig = _figure("unused", False, (10, 4.5))
    left, right = fig.subplots(1, 2)
    mesh = left.pcolormesh(xs, ys, zones[0], cmap=cmap, norm=norm, alpha=0.35,
                           shading="nearest")
    for k in range(n_classes):
        mask = labels == k
        if mask.any():
            left.scatter(X[mask, 0], X[mask, 1], s=14, color=colors[k], edgecolors="black",
                         linewidths=0.4, label=f"class {k}")
    left.set_xlim(xs[0], xs[-1])
    left.set_ylim(ys[0], ys[-1])
    left.set_xlabel("$x_1$")
    left.set_ylabel("$x_2$")
    left.legend(loc="upper right", fontsize="small", framealpha=0.9)
    epochs_axis = np.arange(len(losses))   # epoch i starts at trajectory row i
    right.plot(epochs_axis, losses, color="0.6", linewidth=1, label="training loss (per epoch)")
    right.plot(frames, frame_loss, color=_COLORS[0], linewidth=1.5,
               label="loss at the frame's parameters")
    dot, = right.plot([frames[0]], [frame_loss[0]], "o", color=_COLORS[3], ms=8)
    shown = np.concatenate([losses, frame_loss])
    shown = shown[np.isfinite(shown)]
    if shown.size and shown.min() > 0 and shown.max() / shown.min() > _LOG_SCALE_RATIO:
        right.set_yscale("log")
    right.set_xlabel("epochs done")
    right.set_ylabel("loss")
    right.grid(True, alpha=0.3)
    right.legend(loc="upper right", fontsize="small")
    heading = fig.suptitle("Gradient descent: after 0 epochs, loss 0.0000")
    fig.canvas.draw()                  # lay the figure out once; frames keep that layout
    fig.set_layout_engine("none")

    writer = (animation.PillowWriter(fps=fps) if writer_name == "pillow"
              else animation.FFMpegWriter(fps=fps))
    with writer.saving(fig, os.fspath(path), dpi):
        for f, zone, value in zip(frames, zones, frame_loss):
            mesh.set_array(zone.ravel())
            dot.set_data([f], [value])
            heading.set_text(f"Gradient descent: after {f} epoch{'s' if f != 1 else ''}, "
                             f"loss {value:.4g}")
            writer.grab_frame()
    return len(frames)


def _predicted_classes_from(proba):
    """class per row from predicted probabilities, as _predicted_classes"""
    proba = np.asarray(proba)
    if proba.ndim == 2 and proba.shape[1] > 1:
        return proba.argmax(axis=1)
    return (proba.reshape(-1) > 0.5).astype(np.int64)
