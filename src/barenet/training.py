"""What a `train` call returns and how it can stop early: History (the per-epoch training
losses as a list, as the tutorial returns, carrying validation metrics too),
EarlyStopping (patience on a monitored metric, restoring the best weights), and Ctrl-C
(catch_interrupts: one SIGINT flag for the whole call, polled at consistent points)."""

import signal
import sys
import threading
from typing import TYPE_CHECKING, Optional, Union

import numpy as np

from ._typing import PathLike
from ._validation import check_bool, check_choice, check_int, check_nonnegative_float

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class History(list):
    """The per-epoch training losses (a list of floats, as the tutorial's train returns).
    `metrics` holds every recorded series by name: "loss", "lr", and with validation data
    "val_loss" and, for classifiers, "val_accuracy". `best_epoch` and `stopped_epoch` are
    set by early stopping (indices into this call's epochs). `trajectory` is None, or with
    train(..., record_trajectory=True) the parameters before and after each epoch, an
    array (1 + epochs, n_params)."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: dict[str, list[float]] = {"loss": self, "lr": []}
        self.best_epoch: Optional[int] = None
        self.stopped_epoch: Optional[int] = None
        self.trajectory: Optional[np.ndarray] = None

    def record(self, name: str, value: float) -> None:
        self.metrics.setdefault(name, []).append(float(value))

    @property
    def val_loss(self) -> list[float]:
        return self.metrics.get("val_loss", [])

    @property
    def val_accuracy(self) -> list[float]:
        return self.metrics.get("val_accuracy", [])

    @property
    def lr(self) -> list[float]:
        return self.metrics["lr"]

    def plot(self, path: Optional[PathLike] = None, *, show: Optional[bool] = None
             ) -> "Figure":
        """plot the losses (and validation metrics) per epoch to a PNG file, or a window
        when path is None; needs matplotlib (pip install "barenet[plot]")"""
        from .plot import plot_history
        return plot_history(self, path, show=show)


class EarlyStopping:
    """Stop when `monitor` has not improved by more than min_delta for `patience` epochs;
    with restore_best_weights, the network ends with the parameters of its best epoch.
    monitor "auto" watches val_loss when validation data is given, else the training loss."""

    def __init__(self, patience: int = 10, min_delta: float = 0.0, monitor: str = "auto",
                 restore_best_weights: bool = True) -> None:
        self.patience = check_int(patience, "patience", minimum=1)
        self.min_delta = check_nonnegative_float(min_delta, "min_delta")
        self.monitor = check_choice(monitor, "monitor", ("auto", "loss", "val_loss"))
        self.restore_best_weights = check_bool(restore_best_weights, "restore_best_weights")


def get_early_stopping(value: Union[None, bool, int, "EarlyStopping"]
                       ) -> Optional["EarlyStopping"]:
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


# -- Ctrl-C -------------------------------------------------------------------------------
# One flag for the whole of a training call (csrc/interrupt.h when the extension is present,
# else a Python handler): the C loops poll it between batches and after every epoch, the
# Python loops after each of their C calls (after validation and early stopping), and the
# outermost catch_interrupts hands over a signal that no poll saw, so a SIGINT is never
# lost and never cleared unread.

_depth = 0            # nesting of catch_interrupts in the thread that installed (main)
_owner = None         # threading.get_ident() of that thread
_core = None          # barenet._core while its handler is installed, else None
_py_pending = False   # the flag of the Python fallback (no extension)
_py_previous = None


def _py_handler(signum, frame):
    global _py_pending
    _py_pending = True


def interrupt_pending():
    """True if a SIGINT arrived during the current training call (of this thread) and no one
    has acted on it yet; does not clear it"""
    if not _depth or threading.get_ident() != _owner:
        return False
    return _core.interrupt_pending() if _core is not None else _py_pending


def _take():
    """interrupt_pending(), clearing the flag"""
    global _py_pending
    if not interrupt_pending():
        return False
    if _core is not None:
        return _core.interrupt_take()
    _py_pending = False
    return True


def interrupted(history, message="barenet: training interrupted"):
    """the KeyboardInterrupt a training call raises, carrying the history so far"""
    exc = KeyboardInterrupt(message)
    exc.history = history
    return exc


class catch_interrupts:
    """Context manager around a training call. In the main thread, while Python's SIGINT
    handler is the default one (KeyboardInterrupt), Ctrl-C only sets a flag: the loops poll
    it (interrupt_pending) and, at a state they can stop in, call take() and raise
    interrupted(history). A SIGINT that arrives after the last poll is taken when the
    outermost context exits, which then raises KeyboardInterrupt with `history` (the whole
    call's: its work is done) instead of letting the next call clear it. Elsewhere (another
    thread, a custom or ignored handler) it does nothing and SIGINT is Python's as usual."""

    def __init__(self, history=None):
        self.history = history
        self.active = False     # this context catches (is the outermost or nested in one)
        self.outermost = False

    def __enter__(self):
        global _depth, _owner, _core, _py_previous
        if _depth:
            if threading.get_ident() == _owner:
                _depth += 1
                self.active = True
            return self
        if threading.current_thread() is not threading.main_thread() or \
                signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return self
        core = None
        from . import _backend
        if _backend._try_compiled() is None:
            from . import _core as core
        if core is not None:
            try:
                if not core.interrupt_install():
                    return self
            except KeyboardInterrupt as exc:  # a SIGINT just before: nothing has changed
                exc.history = self.history
                raise
        else:
            _py_previous = signal.signal(signal.SIGINT, _py_handler)
        _core, _owner, _depth = core, threading.get_ident(), 1
        self.active = self.outermost = True
        return self

    def take(self):
        """True if a SIGINT is pending (then cleared: the caller raises for it)"""
        return self.active and _take()

    def __exit__(self, exc_type, exc, tb):
        global _depth, _owner, _core, _py_pending, _py_previous
        if not self.active:
            return False
        got = _take()
        _depth -= 1
        if self.outermost:
            if _core is not None:
                got = _core.interrupt_restore() or got
            else:
                signal.signal(signal.SIGINT, _py_previous)
                got = got or _py_pending
                _py_pending, _py_previous = False, None
            _core, _owner = None, None
        if got and not (exc_type is not None and issubclass(exc_type, KeyboardInterrupt)):
            raise interrupted(self.history, "barenet: interrupted at the end of training")
        return False
