"""What a `train` call returns and how it can stop early: History (the per-epoch training
losses as a list, as the tutorial returns, carrying validation metrics too) and
EarlyStopping (patience on a monitored metric, restoring the best weights)."""

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
