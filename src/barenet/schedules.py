"""Learning-rate schedules: the learning rate for each epoch of a `train` call, from the
base rate given to `train`. Use them by name (`lr_schedule="cosine"`) or as objects with
their own settings. Epochs count from 0 at the start of each `train` call.

WarmupCosine is different: it sets the rate of every optimizer step, counted by the
optimizer over all `train` calls (`optimizer.step`), inside the C loop (bn_step_lr) and the
NumPy reference alike; a linear warm-up and a cosine decay, as Transformers are trained."""

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


def step_lr(lr, step, warmup_steps, decay_steps, min_lr):
    """the rate of optimizer step `step` (from 0): lr (step + 1) / warmup_steps during the
    warm-up, then min_lr + (lr - min_lr) (1 + cos(pi t / decay_steps)) / 2 for the t-th step
    after it, then min_lr; lr after the warm-up when decay_steps is 0 (bn_step_lr)"""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if decay_steps <= 0:
        return lr
    t = step - warmup_steps
    if t >= decay_steps:
        return min_lr
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t / decay_steps))


class WarmupCosine:
    """A rate per optimizer step: a linear warm-up over warmup_steps steps from lr /
    warmup_steps to lr (train's learning_rate), then a cosine decay to min_lr over
    decay_steps steps, then min_lr (decay_steps 0: lr after the warm-up). Steps are the
    optimizer's, counted across train calls, so a run split into several calls follows
    one curve."""

    per_step = True

    def __init__(self, warmup_steps: int = 0, decay_steps: int = 0, min_lr: float = 0.0) -> None:
        self.warmup_steps = check_int(warmup_steps, "warmup_steps", minimum=0)
        self.decay_steps = check_int(decay_steps, "decay_steps", minimum=0)
        self.min_lr = check_nonnegative_float(min_lr, "min_lr")
        if self.warmup_steps == 0 and self.decay_steps == 0:
            raise ValueError("WarmupCosine needs warmup_steps > 0 or decay_steps > 0")

    def step_config(self):
        """the fields of the training config (bn_train_config) that carry it to C"""
        return {"warmup_steps": self.warmup_steps, "decay_steps": self.decay_steps,
                "min_lr": self.min_lr}

    def rate(self, step, lr):
        """the rate of optimizer step `step` for base rate lr"""
        return step_lr(lr, step, self.warmup_steps, self.decay_steps, self.min_lr)

    def __call__(self, epoch, lr, epochs):
        return lr  # per epoch: the base rate (train applies it per step)

    def __repr__(self):
        return (f"WarmupCosine(warmup_steps={self.warmup_steps}, decay_steps="
                f"{self.decay_steps}, min_lr={self.min_lr})")


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
