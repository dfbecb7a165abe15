"""Optimizers for NeuralNetwork.train: SGD (plain, momentum, Nesterov), RMSprop, Adam, AdamW.

Pass one by name (``optimizer="adam"``, learning rate from ``train``) or as an object with
its own hyper-parameters::

    from barenet.optimizers import Adam
    opt = Adam(beta2=0.99)
    net.train(X, y, epochs=5, learning_rate=1e-3, optimizer=opt)
    net.train(X, y, epochs=5, learning_rate=1e-3, optimizer=opt)   # continues: same state

The formulas follow PyTorch's conventions (g: gradient, p: parameter, t: step number from 1)::

    SGD       p -= lr g
    momentum  v = mu v + g;  p -= lr v
    Nesterov  v = mu v + g;  p -= lr (g + mu v)
    RMSprop   s = rho s + (1 - rho) g^2;  p -= lr g / (sqrt(s) + eps)
    Adam      m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
              p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    AdamW     p -= lr wd p, then the Adam update (decoupled weight decay)

Every optimizer clips the gradient first when asked (recurrent networks need it):
``clipvalue`` clamps each value into [-clipvalue, clipvalue]; then ``clipnorm`` scales the
whole gradient by clipnorm / ||g|| when its L2 norm ||g|| over all parameters exceeds
clipnorm (one global norm, as PyTorch's ``clip_grad_norm_`` and Keras's
``global_clipnorm``; Keras's ``clipnorm`` clips each weight array separately). The C core
(``bn_clip_grads``) and the NumPy reference (``clip_numpy``) do the same.

Every state value (v, s, m) whose magnitude falls below the dtype's smallest normal number
is set to zero after its update (``_flush``, as csrc/optimizers_impl.inc does): the moments
of a weight whose gradient stays zero would otherwise decay through the subnormal range,
where arithmetic takes the CPU's slow path.

An optimizer keeps its state (velocity, moments, step count) in flat arrays laid out like
the network's flat parameter buffer, so one step is one pass over flat arrays: in C
(csrc/optimizers.c) or in NumPy (``update_numpy``, the reference, same operations in the
same order and in the parameters' dtype).

One optimizer object holds the state of one network's training (as a Keras optimizer is
built for one model's variables): the first network that trains with it owns it, and
another network's ``train(..., optimizer=opt)`` raises ValueError while the owner still
uses it, also from another thread (the check and the claim are one atomic step). Give each
network its own object, e.g. ``type(opt)(**opt.hyperparameters())`` for the same settings.
A network releases its optimizer when it trains with another one or is garbage collected;
the object then continues from the state it holds with whichever network takes it next.
Copies and pickles of an optimizer are owned by no one."""

import math
import numbers
import threading
import weakref
from typing import Any, Callable, Optional, Union

import numpy as np

from ._typing import DTypeLike
from ._validation import check_bool, check_dtype, check_int, check_positive_float

__all__ = [
    "OPTIMIZER_NAMES",
    "SGD",
    "Adam",
    "AdamW",
    "LBFGS",
    "Optimizer",
    "RMSprop",
    "get_optimizer",
    "optimizer_from_state_dict",
]

# the kinds by the names the C core knows them by (bn_optimizer_kind in csrc/optimizers.h;
# barenet._core.OPTIMIZER_KINDS maps them to its numbers)
KIND_SGD, KIND_MOMENTUM, KIND_NESTEROV, KIND_RMSPROP, KIND_ADAM, KIND_ADAMW = (
    "sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
# model files written before kinds were names stored these numbers in the optimizer state;
# load still reads them (a record of an old file format, not a contract with C)
_LEGACY_KIND_NUMBERS = dict(enumerate((KIND_SGD, KIND_MOMENTUM, KIND_NESTEROV, KIND_RMSPROP,
                                       KIND_ADAM, KIND_ADAMW)))

# the fields of csrc/optimizers.h's bn_optimizer, in its order (that of _core.optimizer_step)


def _check_real(value, name):
    """a finite real number -> float"""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    return value


def _check_fraction(value, name):
    """a real number with 0 <= value < 1 -> float"""
    value = _check_real(value, name)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be >= 0 and < 1; got {value!r}")
    return value


def _check_nonnegative(value, name):
    value = _check_real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0; got {value!r}")
    return value


_CLIP = ("clipnorm", "clipvalue")  # every optimizer's clipping settings (None: off)
_OPTIONAL_HYPER = {"decay": "all"}  # hyper-parameters added later: their old behaviour


def _check_clip(value, name):
    """None (no clipping) or a finite number > 0 -> float"""
    return None if value is None else check_positive_float(value, name)


def _check_learning_rate(value):
    return None if value is None else check_positive_float(value, "learning_rate")


_OWNERS = threading.Lock()  # guards every Optimizer._owner: check and claim are one step


def _scalar(value):
    """a Python scalar from a 0-d array (as np.load gives back), else the value itself"""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value


class Optimizer:
    """Base class: the state buffers, the step count and the two ways of taking a step.
    Subclasses set ``n_states`` and ``_hyper`` and define ``kind`` and ``_update``."""

    n_states = 0  # how many (n_params,) state buffers the optimizer keeps
    _hyper: tuple[str, ...] = ()   # names of the hyper-parameters after learning_rate, in order

    def __init__(self, learning_rate: Optional[float] = None, *,
                 clipnorm: Optional[float] = None, clipvalue: Optional[float] = None) -> None:
        self.learning_rate = _check_learning_rate(learning_rate)
        self.clipnorm = _check_clip(clipnorm, "clipnorm")
        self.clipvalue = _check_clip(clipvalue, "clipvalue")
        self.step = 0  # updates taken since the last reset()
        self._states: Optional[tuple[np.ndarray, ...]] = None  # n_states arrays after reset()
        self._shape: Optional[tuple[int]] = None  # what reset() was given
        self._dtype: Optional[np.dtype] = None
        self._owner = None  # weakref to the network whose state this is (claim)

    # -- ownership: one network per optimizer object ------------------------------------

    def _owner_network(self):
        owner = getattr(self, "_owner", None)
        return None if owner is None else owner()

    def check_owner(self, network):
        """raise ValueError if another network (still alive and still using this object)
        owns this optimizer; network.train calls it before changing anything"""
        owner = self._owner_network()
        if owner is not None and owner is not network:
            raise ValueError(
                f"optimizer {self!r} already holds the training state of another network "
                f"({type(owner).__name__} at 0x{id(owner):x}); an optimizer object serves "
                "one network: give this one its own, e.g. optimizer="
                f"{type(self).__name__}(**opt.hyperparameters()), or a name such as "
                f"{self.name!r}")

    def claim(self, network):
        """make network the owner (ValueError as check_owner if another one is); atomic, so
        two threads cannot both claim one optimizer"""
        with _OWNERS:
            self.check_owner(network)
            self._owner = weakref.ref(network)

    def release(self, network):
        """network no longer uses this optimizer (it trains with another one)"""
        with _OWNERS:
            if self._owner_network() is network:
                self._owner = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_owner"] = None  # a copy or a pickle belongs to no network
        return state

    # -- description ------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """the kind's name (KIND_*: the C core's bn_optimizer_kind by name), as get_optimizer
        knows it"""
        raise NotImplementedError

    @property
    def name(self) -> str:
        """the name get_optimizer knows this kind by (its kind)"""
        return self.kind

    def hyperparameters(self) -> dict[str, Any]:
        """{name: value} of the constructor's arguments (the clipping ones when set)"""
        clip = {k: getattr(self, k, None) for k in _CLIP}
        return {"learning_rate": self.learning_rate,
                **{k: getattr(self, k) for k in self._hyper},
                **{k: v for k, v in clip.items() if v is not None}}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"

    def learning_rate_for(self, learning_rate: float) -> float:
        """the learning rate to use: the optimizer's own if it has one, else the given one
        (train's learning_rate)"""
        return learning_rate if self.learning_rate is None else self.learning_rate

    # -- state ------------------------------------------------------------------------

    def reset(self, n_params: int, dtype: DTypeLike) -> None:
        """zeroed state buffers for n_params parameters of dtype, and step 0"""
        n_params = check_int(n_params, "n_params", minimum=0)
        dtype = check_dtype(dtype)
        self._states = tuple(np.zeros(n_params, dtype=dtype) for _ in range(self.n_states))
        self._shape = (n_params,)
        self._dtype = dtype
        self.step = 0

    def ensure_state(self, n_params: int, dtype: DTypeLike) -> bool:
        """reset() unless the state already fits n_params parameters of dtype (continuing
        training keeps it); returns True if it reset"""
        if self._states is not None and self._shape == (n_params,) and \
                self._dtype == check_dtype(dtype):
            return False
        self.reset(n_params, dtype)
        return True

    def state_arrays(self):
        """(state1, state2), None for a buffer this optimizer does not use; None before
        reset(). state1 is the velocity / RMSprop's mean square / Adam's m, state2 Adam's v."""
        if self._states is None:
            return None
        return (self._states + (None, None))[:2]

    def c_config(self, learning_rate):
        """{field: value} of csrc/optimizers.h's bn_optimizer for one step at this learning
        rate: the kind's name, lr, step and the hyper-parameters C reads (momentum, rho,
        beta1, beta2, eps, weight_decay, as this kind has them); barenet._core fills the
        struct by these names, the fields not given 0"""
        cfg = {k: float(getattr(self, k)) for k in self._hyper if k in _C_HYPER}
        cfg.update(kind=self.kind, lr=float(learning_rate), step=int(self.step),
                   clipvalue=float(getattr(self, "clipvalue", None) or 0.0),
                   clipnorm=float(getattr(self, "clipnorm", None) or 0.0))
        return cfg

    def clip_numpy(self, grads):
        """the gradient clipped as the C core's bn_clip_grads does it (a new array, or grads
        itself when nothing is clipped): values into [-clipvalue, clipvalue], then the
        whole times clipnorm / norm when the L2 norm exceeds clipnorm"""
        clipvalue, clipnorm = getattr(self, "clipvalue", None), getattr(self, "clipnorm", None)
        real = grads.dtype.type
        if clipvalue:
            grads = np.clip(grads, real(-clipvalue), real(clipvalue))
        if clipnorm:
            norm = math.sqrt(float(np.dot(grads.astype(np.float64), grads.astype(np.float64))))
            if norm > clipnorm:
                grads = grads * real(clipnorm / norm)
        return grads

    def _check_step_arrays(self, params, grads):
        if len(self._states or ()) != self.n_states:
            raise RuntimeError(f"{type(self).__name__}: call reset(n_params, dtype) before "
                               "the first update (and after changing momentum)")
        if not isinstance(params, np.ndarray):
            raise TypeError(f"params must be a NumPy array; got {type(params).__name__}")
        shape = self._shape if self._states is not None else params.shape
        dtype = self._dtype if self._states is not None else params.dtype
        for arr, name in ((params, "params"), (grads, "grads")):
            if not isinstance(arr, np.ndarray) or arr.ndim != 1 or arr.shape != shape or \
                    arr.dtype != dtype or dtype.name not in ("float32", "float64") or \
                    not arr.flags.c_contiguous:
                raise ValueError(f"{name} must be a contiguous 1-D {dtype} array of shape "
                                 f"{shape}; got {getattr(arr, 'dtype', type(arr).__name__)} "
                                 f"{getattr(arr, 'shape', '')}")
        return self._states or ()

    # -- steps ------------------------------------------------------------------------

    def update_numpy(self, params, grads, learning_rate, *, weights_decayed=False):
        """one step in place, in NumPy (the reference), in the parameters' dtype
        (weights_decayed: the training loop has applied AdamW(decay="weights"))"""
        if getattr(self, "decay", "all") == "weights" and not weights_decayed:
            raise ValueError("AdamW(decay='weights') decays the network's weights, which a "
                             "step over a flat buffer does not know: train the network "
                             "with it")
        states = self._check_step_arrays(params, grads)
        grads = self.clip_numpy(grads)
        self._update(params, grads, params.dtype.type, float(learning_rate), *states)
        self.step += 1

    def update_compiled(self, params, grads, learning_rate):
        """one step in place, by the C core (barenet._core.optimizer_step)"""
        from . import _core

        states = self._check_step_arrays(params, grads)
        empty = np.empty(0, dtype=params.dtype)
        s1, s2 = (tuple(states) + (empty, empty))[:2]
        self.step = _core.optimizer_step(self.c_config(learning_rate), params, grads, s1, s2)

    def _update(self, p, g, real, lr, *states):
        """the formula, in place; real is the dtype's scalar type (np.float32/np.float64)"""
        raise NotImplementedError

    # -- saving -----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """{"kind", hyper-parameters, "step", "state1"/"state2" (copies)}: plain ints,
        floats, bools and arrays; learning_rate is left out when it is None, the state
        arrays before reset()"""
        d = {"kind": self.kind, **self.hyperparameters(), "step": self.step}
        if d["learning_rate"] is None:
            del d["learning_rate"]
        for i, s in enumerate(self._states or ()):
            d[f"state{i + 1}"] = s.copy()
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """restore hyper-parameters, step and state from state_dict()'s output (values may be
        0-d arrays, as np.load returns them), checked like the constructor's arguments. Plain
        SGD has no state arrays: its next ensure_state() starts from step 0."""
        d = {k: _scalar(v) for k, v in d.items()}
        kind = _kind_of(d.get("kind"))
        if _CLASS_OF_KIND.get(kind) is not type(self):
            raise ValueError(f"this state is for optimizer kind {d.get('kind')!r}, not for "
                             f"{type(self).__name__}")
        d = {**_OPTIONAL_HYPER, **d}  # settings older files do not have
        missing = [k for k in self._hyper + ("step",) if k not in d]
        if missing:
            raise ValueError(f"optimizer state is missing {', '.join(missing)}")
        new = type(self)(learning_rate=d.get("learning_rate"),
                         **{k: d[k] for k in self._hyper},
                         **{k: d[k] for k in _CLIP if d.get(k) is not None})
        if kind != new.kind:
            raise ValueError(f"this state is for optimizer kind {kind!r}, but its settings "
                             f"make {new.kind!r}")
        step = check_int(d["step"], "step", minimum=0, maximum=2**62)
        states = [d.get(f"state{i + 1}") for i in range(new.n_states)]
        if any(s is None for s in states) and any(s is not None for s in states):
            raise ValueError("optimizer state must hold all or none of its state arrays")
        arrays = None
        if states and states[0] is not None:
            arrays = [np.array(s, copy=True) for s in states]
            dtype = check_dtype(arrays[0].dtype)
            if any(a.ndim != 1 or a.dtype != dtype or a.shape != arrays[0].shape
                   for a in arrays):
                raise ValueError("optimizer state arrays must be 1-D, of one float dtype "
                                 "and one length")
        self.learning_rate = new.learning_rate
        for k in self._hyper + _CLIP:
            setattr(self, k, getattr(new, k))
        self._states = None
        if arrays is not None:
            self.reset(arrays[0].shape[0], arrays[0].dtype)
            self._states = tuple(arrays)
        self.step = step


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum or Nesterov momentum.

    learning_rate : float > 0 or None (take train's learning_rate)
    momentum : 0 <= momentum < 1; 0 is plain gradient descent, p -= lr g
    nesterov : use Nesterov momentum (needs momentum > 0)
    """

    _hyper = ("momentum", "nesterov")

    def __init__(self, learning_rate: Optional[float] = None, momentum: float = 0.0,
                 nesterov: bool = False, *, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None) -> None:
        super().__init__(learning_rate, clipnorm=clipnorm, clipvalue=clipvalue)
        self.momentum = _check_fraction(momentum, "momentum")
        self.nesterov = check_bool(nesterov, "nesterov")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0 (e.g. momentum=0.9)")

    @property
    def n_states(self):
        return 0 if self.momentum == 0 else 1

    @property
    def kind(self) -> str:
        if self.momentum == 0:
            return KIND_SGD
        return KIND_NESTEROV if self.nesterov else KIND_MOMENTUM

    def _update(self, p, g, real, lr, v=None):
        lr = real(lr)
        if v is None:
            p -= lr * g  # p -= lr g
            return
        mu = real(self.momentum)
        v[...] = mu * v + g  # v = mu v + g
        _flush(v)
        if self.nesterov:
            p -= lr * (g + mu * v)  # p -= lr (g + mu v)
        else:
            p -= lr * v  # p -= lr v


def _flush(state):
    """state values below the dtype's smallest normal number in magnitude become zero
    (csrc/optimizers_impl.inc, flush)"""
    state[np.abs(state) < np.finfo(state.dtype).tiny] = 0


class RMSprop(Optimizer):
    """RMSprop: divides each step by a running root mean square of the gradients.

    learning_rate : float > 0 or None (take train's learning_rate)
    rho : 0 <= rho < 1, the decay of the running mean of g^2 (PyTorch's alpha)
    eps : > 0, added to the root mean square
    """

    n_states = 1
    _hyper = ("rho", "eps")

    def __init__(self, learning_rate: Optional[float] = None, rho: float = 0.9,
                 eps: float = 1e-8, *, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None) -> None:
        super().__init__(learning_rate, clipnorm=clipnorm, clipvalue=clipvalue)
        self.rho = _check_fraction(rho, "rho")
        self.eps = check_positive_float(eps, "eps")

    @property
    def kind(self) -> str:
        return KIND_RMSPROP

    def _update(self, p, g, real, lr, s):
        lr, eps = real(lr), real(self.eps)
        rho, one_minus_rho = real(self.rho), real(1.0 - self.rho)
        s[...] = rho * s + one_minus_rho * g * g  # s = rho s + (1-rho) g^2
        _flush(s)
        p -= lr * (g / (np.sqrt(s) + eps))  # p -= lr g / (sqrt(s) + eps)


class Adam(Optimizer):
    """Adam: steps from bias-corrected running means of the gradient and its square.

    learning_rate : float > 0 or None (take train's learning_rate; 1e-3 is typical)
    beta1, beta2 : 0 <= beta < 1, the decays of the first and second moments
    eps : > 0, added to the root of the second moment
    """

    n_states = 2
    _hyper: tuple[str, ...] = ("beta1", "beta2", "eps")

    def __init__(self, learning_rate: Optional[float] = None, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, *, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None) -> None:
        super().__init__(learning_rate, clipnorm=clipnorm, clipvalue=clipvalue)
        self.beta1 = _check_fraction(beta1, "beta1")
        self.beta2 = _check_fraction(beta2, "beta2")
        self.eps = check_positive_float(eps, "eps")

    @property
    def kind(self) -> str:
        return KIND_ADAM

    def _decay(self, p, real, lr):
        """AdamW's decoupled weight decay; none in Adam"""

    def _update(self, p, g, real, lr, m, v):
        step = self.step + 1
        b1, b2 = real(self.beta1), real(self.beta2)
        one_minus_b1, one_minus_b2 = real(1.0 - self.beta1), real(1.0 - self.beta2)
        # the bias corrections in double, rounded once, as PyTorch arranges them
        step_size = real(lr / (1.0 - self.beta1 ** step))
        inv_sqrt_bc2 = real(1.0 / math.sqrt(1.0 - self.beta2 ** step))
        eps = real(self.eps)
        self._decay(p, real, lr)
        m[...] = b1 * m + one_minus_b1 * g  # m = b1 m + (1-b1) g
        v[...] = b2 * v + one_minus_b2 * g * g  # v = b2 v + (1-b2) g^2
        _flush(m)
        _flush(v)
        # p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps), with eps where PyTorch puts it:
        # p -= (lr / (1-b1^t)) (m / (sqrt(v) (1 / sqrt(1-b2^t)) + eps)), as the C core does
        p -= step_size * (m / (np.sqrt(v) * inv_sqrt_bc2 + eps))


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay, p -= lr wd p before each Adam step.

    Parameters
    ----------
    learning_rate : float > 0 or None
        None takes train's learning_rate.
    beta1, beta2 : 0 <= beta < 1
        The decays of the first and second moments.
    eps : float > 0
        Added to the root of the second moment.
    weight_decay : float >= 0
    decay : {"all", "weights"}
        "all": every parameter decays (PyTorch's default); "weights": only the
        weights the l1/l2 penalty acts on (dense, convolution, recurrent and attention
        kernels) decay, not biases, normalisation scales and offsets or embedding tables
        (the usual setting for Transformers). "weights" needs the network, so only `train`
        applies it (a bare update_numpy/update_compiled raises ValueError).
    """

    _hyper = ("beta1", "beta2", "eps", "weight_decay", "decay")

    def __init__(self, learning_rate: Optional[float] = None, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.01,
                 decay: str = "all", *, clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None) -> None:
        super().__init__(learning_rate, beta1, beta2, eps, clipnorm=clipnorm,
                         clipvalue=clipvalue)
        self.weight_decay = _check_nonnegative(weight_decay, "weight_decay")
        if decay not in ("all", "weights"):
            raise ValueError(f"AdamW decay must be 'all' or 'weights'; got {decay!r}")
        self.decay = decay

    @property
    def kind(self) -> str:
        return KIND_ADAMW

    def _decay(self, p, real, lr):
        if self.decay == "weights":  # the training loop decayed the weights (decay_weights)
            return
        p *= real(1.0 - lr * self.weight_decay)  # p -= lr wd p

    def decay_weights(self, weights, lr):
        """decay="weights": ``w *= 1 - lr wd`` for each of the network's weight arrays (views),
        before the step (bn_net_decay_weights)"""
        for w in weights:
            w *= w.dtype.type(1.0 - lr * self.weight_decay)

    def c_config(self, learning_rate):
        cfg = super().c_config(learning_rate)
        cfg["decay_weights_only"] = int(self.decay == "weights")
        return cfg


# the hyper-parameters bn_optimizer has a field for (nesterov is a kind there)
_C_HYPER = ("momentum", "rho", "beta1", "beta2", "eps", "weight_decay")

_CLASS_OF_KIND = {KIND_SGD: SGD, KIND_MOMENTUM: SGD, KIND_NESTEROV: SGD,
                  KIND_RMSPROP: RMSprop, KIND_ADAM: Adam, KIND_ADAMW: AdamW}

_FACTORIES: dict[str, Callable[[], Optimizer]] = {
    "sgd": SGD,
    "momentum": lambda: SGD(momentum=0.9),
    "nesterov": lambda: SGD(momentum=0.9, nesterov=True),
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
}
OPTIMIZER_NAMES = tuple(_FACTORIES) + ("lbfgs",)


class LBFGS:
    """Full-batch L-BFGS through scipy.optimize.minimize(method="L-BFGS-B") (needs scipy),
    on the loss and gradient the backend computes in one call. With train(...,
    optimizer=LBFGS(...)) or optimizer="lbfgs" (these defaults), `epochs` is the most
    iterations; max_fun bounds the loss evaluations and tol is scipy's gtol (stop when
    every gradient component is at most tol in absolute value). learning_rate and shuffle
    do not apply; each train call starts a fresh L-BFGS memory."""

    def __init__(self, max_fun: int = 15000, tol: float = 1e-5) -> None:
        from ._validation import check_nonnegative_float
        self.max_fun = check_int(max_fun, "max_fun", minimum=1)
        self.tol = check_nonnegative_float(tol, "tol")

    def __repr__(self):
        return f"LBFGS(max_fun={self.max_fun}, tol={self.tol})"


def get_optimizer(optimizer: Union[str, Optimizer]) -> Optimizer:
    """an Optimizer from a name ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw";
    default hyper-parameters, learning rate from train) or an Optimizer instance, which is
    returned as is (so its state carries over between train calls)"""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an instance, e.g. {optimizer.__name__}(); "
                        f"got the class {optimizer.__name__}")
    if not isinstance(optimizer, str):
        raise TypeError("optimizer must be a name (one of "
                        f"{', '.join(OPTIMIZER_NAMES)}) or an object from "
                        f"barenet.optimizers; got {type(optimizer).__name__} {optimizer!r}")
    key = optimizer.strip().lower()
    if key not in _FACTORIES:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid names are "
                         f"{', '.join(OPTIMIZER_NAMES)}")
    return _FACTORIES[key]()


def _kind_of(value):
    """the kind a state dict records: its name, or in older files the kind's number"""
    value = _scalar(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return _LEGACY_KIND_NUMBERS.get(int(value))
    return value if isinstance(value, str) else None


def optimizer_from_state_dict(d: dict[str, Any]) -> Optimizer:
    """a new optimizer of the kind recorded in d (from Optimizer.state_dict), restored"""
    kind = _kind_of(d.get("kind"))
    if kind not in _CLASS_OF_KIND:
        raise ValueError(f"optimizer state has an unknown kind {_scalar(d.get('kind'))!r}")
    opt = _CLASS_OF_KIND[kind]()
    opt.load_state_dict(d)
    return opt
