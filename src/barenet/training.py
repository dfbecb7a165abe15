"""What a `train` call returns and how it can stop early: History (the per-epoch training
losses as a list, as the tutorial returns, carrying validation metrics too) and
EarlyStopping (patience on a monitored metric, restoring the best weights)."""

import sys

from ._validation import check_bool, check_choice, check_int, check_nonnegative_float


class History(list):
    """The per-epoch training losses (a list of floats, as the tutorial's train returns).
    `metrics` holds every recorded series by name: "loss", "lr", and with validation data
    "val_loss" and, for classifiers, "val_accuracy". `best_epoch` and `stopped_epoch` are
    set by early stopping (indices into this call's epochs)."""

    def __init__(self):
        super().__init__()
        self.metrics = {"loss": self, "lr": []}
        self.best_epoch = None
        self.stopped_epoch = None

    def record(self, name, value):
        self.metrics.setdefault(name, []).append(float(value))

    @property
    def val_loss(self):
        return self.metrics.get("val_loss", [])

    @property
    def val_accuracy(self):
        return self.metrics.get("val_accuracy", [])

    @property
    def lr(self):
        return self.metrics["lr"]

    def plot(self, path=None, *, show=None):
        """plot the losses (and validation metrics) per epoch to a PNG file, or a window
        when path is None; needs matplotlib (pip install "barenet[plot]")"""
        from .plot import plot_history
        return plot_history(self, path, show=show)


class EarlyStopping:
    """Stop when `monitor` has not improved by more than min_delta for `patience` epochs;
    with restore_best_weights, the network ends with the parameters of its best epoch.
    monitor "auto" watches val_loss when validation data is given, else the training loss."""

    def __init__(self, patience=10, min_delta=0.0, monitor="auto", restore_best_weights=True):
        self.patience = check_int(patience, "patience", minimum=1)
        self.min_delta = check_nonnegative_float(min_delta, "min_delta")
        self.monitor = check_choice(monitor, "monitor", ("auto", "loss", "val_loss"))
        self.restore_best_weights = check_bool(restore_best_weights, "restore_best_weights")


def get_early_stopping(value):
    """None/False, True (defaults), an int patience, or an EarlyStopping"""
    if value is None or value is False:
        return None
    if value is True:
        return EarlyStopping()
    if isinstance(value, EarlyStopping):
        return value
    if isinstance(value, int):
        return EarlyStopping(patience=value)
    raise TypeError(f"early_stopping must be None, True, an int patience or an EarlyStopping; "
                    f"got {value!r}")


class Progress:
    """What verbose training prints. The tutorial's lines, `Epoch e, Loss: x` with any
    validation metrics appended, every `every` epochs; except that mini-batch training on a
    terminal gets a tqdm progress bar (loss, validation metrics, time left) instead. Output
    that is not a terminal never gets carriage returns."""

    def __init__(self, epochs, every, bar, stream=None):
        self.stream = stream if stream is not None else sys.stdout
        self.every = every
        self.bar = None
        if bar and getattr(self.stream, "isatty", lambda: False)():
            try:
                from tqdm.auto import tqdm
            except ImportError:  # tqdm is a dependency, but a stripped install may lack it
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=epochs, unit="epoch", file=self.stream,
                                dynamic_ncols=True, leave=True)

    def update(self, history, first, last):
        """report epochs first..last-1, whose values history holds"""
        metrics = [(name, history.metrics[name]) for name in ("val_loss", "val_accuracy")
                   if name in history.metrics]
        if self.bar is not None:
            self.bar.set_postfix({"loss": f"{history[last - 1]:.4f}",
                                  **{n: f"{v[last - 1]:.4f}" for n, v in metrics}},
                                 refresh=False)
            self.bar.update(last - first)
            return
        for i in range(first, last):
            if i % self.every == 0:
                line = f"Epoch {i}, Loss: {history[i]:.4f}"
                line += "".join(f", {n}: {v[i]:.4f}" for n, v in metrics)
                print(line, file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
