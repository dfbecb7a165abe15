"""Learning-rate schedules: the learning rate for each epoch of a `train` call, from the
base rate given to `train`. Use them by name (`lr_schedule="cosine"`) or as objects with
their own settings. Epochs count from 0 at the start of each `train` call."""

import math
from typing import Optional, Union

from ._typing import Schedule

from ._validation import check_int, check_nonnegative_float, check_positive_float


class StepDecay:
    """lr * gamma ** (epoch // step_size): multiply by gamma every step_size epochs"""

    def __init__(self, step_size: int = 10, gamma: float = 0.5) -> None:
        self.step_size = check_int(step_size, "step_size", minimum=1)
        self.gamma = check_positive_float(gamma, "gamma")

    def __call__(self, epoch: int, lr: float, epochs: int) -> float:
        return lr * self.gamma ** (epoch // self.step_size)


class ExponentialDecay:
    """lr * gamma ** epoch"""

    def __init__(self, gamma: float = 0.95) -> None:
        self.gamma = check_positive_float(gamma, "gamma")

    def __call__(self, epoch: int, lr: float, epochs: int) -> float:
        return lr * self.gamma ** epoch


class CosineDecay:
    """min_lr + (lr - min_lr) * (1 + cos(pi * epoch / t_max)) / 2, then min_lr; t_max
    defaults to the number of epochs of the train call"""

    def __init__(self, t_max: Optional[int] = None, min_lr: float = 0.0) -> None:
        self.t_max = None if t_max is None else check_int(t_max, "t_max", minimum=1)
        self.min_lr = check_nonnegative_float(min_lr, "min_lr")

    def __call__(self, epoch: int, lr: float, epochs: int) -> float:
        t_max = self.t_max or max(epochs, 1)
        if epoch >= t_max:
            return self.min_lr
        return self.min_lr + (lr - self.min_lr) * (1 + math.cos(math.pi * epoch / t_max)) / 2


SCHEDULES = {"step": StepDecay, "exponential": ExponentialDecay, "cosine": CosineDecay}


def get_schedule(value: Union[None, str, Schedule]) -> Optional[Schedule]:
    """None, a name from SCHEDULES, or a callable (epoch, lr, epochs) -> lr"""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(map(repr, SCHEDULES))}, "
                             f"a schedule object or None; got {value!r}")
        return SCHEDULES[value]()
    if callable(value):
        return value
    raise TypeError(f"lr_schedule must be a name, a schedule object or None; got {value!r}")
