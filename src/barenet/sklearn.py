"""scikit-learn estimators on barenet's core: MLPClassifier and MLPRegressor, drop-in for
scikit-learn's own where a parameter means the same thing (names, defaults, fitted
attributes, stopping rules, warnings), with barenet's extras (dropout, l1, leaky_relu/gelu,
rmsprop/adamw, class_weight, dtype, n_threads, backend). Training runs one epoch per
NeuralNetwork.train call so that scikit-learn's tol / n_iter_no_change logic, learning-rate
schedules and validation scores apply between epochs; the network does the numbers.
solver="lbfgs" hands the whole fit to barenet._lbfgs (scipy's L-BFGS-B on the full-batch
loss and gradient, evaluated by the network's backend).

Needs scikit-learn (``pip install barenet[sklearn]``).

Loss scale. scikit-learn steps with the gradient of (a - y) / B per output whatever the
loss: barenet's binary cross-entropy is a mean over all B*K outputs (gradient (a - y) / (B K))
and its mse a mean of (a - y)^2 without the 1/2 (gradient 2 (a - y) / (B K)). So barenet's
gradient is r times scikit-learn's, with r = 1 for softmax, 1/K for K sigmoid outputs and
2/K for K regression outputs. The estimators compensate: ``alpha`` becomes
``l2 = r * alpha / B`` (scikit-learn adds ``0.5 * alpha * ||W||^2 / B`` to each batch loss,
B the batch's rows, or its sum of sample weights), plain/momentum SGD takes learning rate
``learning_rate_init / r`` and Adam/RMSprop ``epsilon * r``, so every update is
scikit-learn's, and ``loss_`` / ``loss_curve_`` are divided back to scikit-learn's scale.
For lbfgs, whose objective is scikit-learn's loss + ``alpha / (2 S) ||W||^2`` over the whole
training set (S rows, or the sum of sample weights), ``l2 = r * alpha / S`` and scipy sees
barenet's objective divided by q and its gradient divided by r: exactly scikit-learn's pair of
loss and gradient, so the iterates are scikit-learn's (see _fit_lbfgs for the multi-output
regression case, where scikit-learn's gradient is not that of its loss).
"""

import numbers
import warnings
from typing import Any, Optional, TypeVar

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils.class_weight import compute_sample_weight
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import (_check_partial_fit_first_call, type_of_target,
                                          unique_labels)
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("barenet.sklearn needs scikit-learn: pip install 'barenet[sklearn]' "
                      f"(or pip install scikit-learn); {exc}") from exc

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - scikit-learn < 1.6
    def _validate_data(estimator, X="no_validation", y="no_validation", **kwargs):
        return estimator._validate_data(X, y, **kwargs)

from . import _sparse
from . import optimizers as _optimizers
from ._threads import get_num_threads, set_num_threads
from ._typing import ArrayLike, MatrixLike
from ._validation import check_dtype, check_sample_weight
from .network import NeuralNetwork, TrainingDiverged

__all__ = ["MLPClassifier", "MLPRegressor"]

# scikit-learn's hidden activation names -> barenet's (logistic is the sigmoid)
_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
                "leaky_relu": "leaky_relu", "gelu": "gelu"}
_SOLVERS = ("sgd", "adam", "rmsprop", "adamw", "lbfgs")
_STOCHASTIC_SOLVERS = ("sgd", "adam", "rmsprop", "adamw")
_LEARNING_RATES = ("constant", "invscaling", "adaptive")
_OUT_ACTIVATIONS = {"logistic": "sigmoid", "softmax": "softmax", "identity": "identity",
                    "exp": "exp"}


class _Threads:
    """use n threads in the compiled core for the duration of a with block (None: as is)"""

    def __init__(self, n):
        self.n, self.old = n, None

    def __enter__(self):
        if self.n is not None:
            self.old = get_num_threads()
            set_num_threads(self.n)

    def __exit__(self, *exc):
        if self.n is not None:
            set_num_threads(self.old)


def _check_real(value, name, low=None, high=None, low_open=False, high_open=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"The '{name}' parameter must be a real number; got {value!r}")
    value = float(value)
    if not np.isfinite(value) and not (high is None and value == np.inf):
        raise ValueError(f"The '{name}' parameter must be finite; got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"The '{name}' parameter must be {'>' if low_open else '>='} {low}; "
                         f"got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"The '{name}' parameter must be {'<' if high_open else '<='} "
                         f"{high}; got {value!r}")
    return value


def _check_int(value, name, low):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"The '{name}' parameter must be an int; got {value!r}")
    if value < low:
        raise ValueError(f"The '{name}' parameter must be >= {low}; got {value!r}")
    return int(value)


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"The '{name}' parameter must be True or False; got {value!r}")
    return bool(value)


def _check_choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"The '{name}' parameter must be one of "
                         f"{', '.join(map(repr, choices))}; got {value!r}")
    return value


_Estimator = TypeVar("_Estimator", bound="_BaseMLP")


class _BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share: parameter checks, the network, the
    epoch loop with scikit-learn's stopping rules, pickling."""

    _is_classifier = False

    # -- parameters ----------------------------------------------------------------------
    def _check_params(self):
        """validate the __init__ parameters (stored unmodified) -> dict of clean values"""
        p = {}
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, (bool, np.bool_)):
            sizes = [sizes]
        if isinstance(sizes, str) or not hasattr(sizes, "__iter__"):
            raise TypeError("The 'hidden_layer_sizes' parameter must be an int or a sequence "
                            f"of ints; got {self.hidden_layer_sizes!r}")
        sizes = list(sizes)
        for s in sizes:
            if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral):
                raise TypeError("The 'hidden_layer_sizes' parameter must hold ints; got "
                                f"{self.hidden_layer_sizes!r}")
        if any(s <= 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        p["hidden"] = [int(s) for s in sizes]
        p["activation"] = _ACTIVATIONS[_check_choice(self.activation, "activation",
                                                     tuple(_ACTIVATIONS))]
        p["solver"] = _check_choice(self.solver, "solver", _SOLVERS)
        p["alpha"] = _check_real(self.alpha, "alpha", 0)
        if isinstance(self.batch_size, str):
            _check_choice(self.batch_size, "batch_size", ("auto",))
            p["batch_size"] = "auto"
        else:
            p["batch_size"] = _check_int(self.batch_size, "batch_size", 1)
        p["learning_rate"] = _check_choice(self.learning_rate, "learning_rate",
                                           _LEARNING_RATES)
        p["learning_rate_init"] = _check_real(self.learning_rate_init, "learning_rate_init",
                                              0, low_open=True)
        p["power_t"] = _check_real(self.power_t, "power_t", 0)
        p["max_iter"] = _check_int(self.max_iter, "max_iter", 1)
        p["shuffle"] = _check_bool(self.shuffle, "shuffle")
        p["tol"] = _check_real(self.tol, "tol", 0)
        if isinstance(self.verbose, (bool, np.bool_)) or isinstance(self.verbose,
                                                                  numbers.Integral):
            p["verbose"] = bool(self.verbose)
        else:
            raise TypeError(f"The 'verbose' parameter must be a bool or an int; got "
                            f"{self.verbose!r}")
        p["warm_start"] = _check_bool(self.warm_start, "warm_start")
        p["momentum"] = _check_real(self.momentum, "momentum", 0, 1)
        p["nesterovs_momentum"] = _check_bool(self.nesterovs_momentum, "nesterovs_momentum")
        p["early_stopping"] = _check_bool(self.early_stopping, "early_stopping")
        p["validation_fraction"] = _check_real(self.validation_fraction,
                                               "validation_fraction", 0, 1, high_open=True)
        p["beta_1"] = _check_real(self.beta_1, "beta_1", 0, 1, high_open=True)
        p["beta_2"] = _check_real(self.beta_2, "beta_2", 0, 1, high_open=True)
        p["epsilon"] = _check_real(self.epsilon, "epsilon", 0, low_open=True)
        if self.n_iter_no_change == np.inf and not isinstance(self.n_iter_no_change, bool):
            p["n_iter_no_change"] = np.inf
        else:
            p["n_iter_no_change"] = _check_int(self.n_iter_no_change, "n_iter_no_change", 1)
        p["max_fun"] = _check_int(self.max_fun, "max_fun", 1)
        p["dropout"] = _check_real(self.dropout, "dropout", 0, 1, high_open=True)
        if p["solver"] == "lbfgs" and p["dropout"] > 0:
            raise ValueError("dropout needs a stochastic solver: solver='lbfgs' minimises the "
                             "full-batch loss without dropout; set dropout=0.0 or use "
                             "solver='adam'")
        p["l1"] = _check_real(self.l1, "l1", 0)
        if self.dtype is None:
            p["dtype"] = None
        else:
            try:
                p["dtype"] = check_dtype(self.dtype, "The 'dtype' parameter")
            except ValueError as exc:
                raise ValueError(f"{exc} (or None: follow X)") from None
        if self.n_threads is not None:
            _check_int(self.n_threads, "n_threads", 1)
        if self.backend is not None:
            _check_choice(self.backend, "backend", ("auto", "compiled", "numpy"))
        return p

    def _check_solver(self):
        """partial_fit exists only for the stochastic solvers (as in scikit-learn)"""
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError("partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    # -- the network ---------------------------------------------------------------------
    def _loss_scales(self, n_outputs):
        """(r, q): barenet's data-loss gradient is r times scikit-learn's, its data loss q
        times scikit-learn's (they differ only for multi-output regression)"""
        if self.out_activation_ == "softmax":
            return 1.0, 1.0
        if self.out_activation_ in ("logistic", "exp"):  # bce, poisson: means over outputs
            return 1.0 / n_outputs, 1.0 / n_outputs
        return 2.0 / n_outputs, 2.0

    def _make_optimizer(self, p):
        """a barenet optimizer with scikit-learn's settings, rescaled by r (module doc)"""
        r = self._scale_r
        if p["solver"] == "sgd":
            return _optimizers.SGD(momentum=min(p["momentum"], 1 - 1e-12) if p["momentum"]
                                   else 0.0,
                                   nesterov=p["nesterovs_momentum"] and p["momentum"] > 0)
        if p["solver"] == "adam":
            return _optimizers.Adam(beta1=p["beta_1"], beta2=p["beta_2"],
                                    eps=p["epsilon"] * r)
        if p["solver"] == "adamw":
            return _optimizers.AdamW(beta1=p["beta_1"], beta2=p["beta_2"],
                                     eps=p["epsilon"] * r, weight_decay=p["alpha"])
        return _optimizers.RMSprop(eps=p["epsilon"] * r)

    def _build_network(self, p, n_features, n_outputs, dtype, rs):
        """a new network initialised as scikit-learn initialises (Glorot uniform, drawn from
        the random state in the same order, so the same random_state starts at the same
        weights), with barenet's own seed for shuffling and dropout drawn after"""
        sizes = [n_features] + p["hidden"] + [n_outputs]
        config = dict(layer_sizes=sizes, activation=p["activation"],
                      output_activation=_OUT_ACTIVATIONS[self.out_activation_],
                      dropout=p["dropout"], l1=p["l1"], l2=0.0, dtype=dtype.name,
                      seed=0, backend=self.backend)
        net = NeuralNetwork(**config)
        factor = 2.0 if self.activation == "logistic" else 6.0
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            bound = np.sqrt(factor / (fan_in + fan_out))
            net.weights[i] = rs.uniform(-bound, bound, (fan_in, fan_out))
            net.biases[i] = rs.uniform(-bound, bound, fan_out).reshape(1, -1)
        self._net_config = config
        self._attach(net)

    def _attach(self, net):
        """make net the estimator's network (coefs_ and intercepts_ view its parameters)"""
        self._net = net

    def __sklearn_is_fitted__(self):
        """fitted once a network exists (check_is_fitted; coefs_ is a property, not in vars)"""
        return "_net" in self.__dict__

    def _fitted_net(self, name):
        net = self.__dict__.get("_net")
        if net is None:
            raise AttributeError(f"{type(self).__name__} has no {name} before it is fitted")
        return net

    @property
    def coefs_(self):
        """per layer, its weights (n_in, n_out), as views of the network's parameters: what
        is assigned (``clf.coefs_ = [...]``, ``clf.coefs_[i] = W``, ``clf.coefs_[i][...] =
        ...``) is what predict uses. Assignment checks every array's shape and values
        (finite, within the network's dtype) before it writes any: ValueError otherwise."""
        weights = self._fitted_net("coefs_").weights
        return weights._derived(list(weights), "coefs_")

    @coefs_.setter
    def coefs_(self, values):
        self._assign("coefs_", values)

    @property
    def intercepts_(self):
        """per layer, its bias (n_out,), as views of the network's parameters; assigned and
        checked as coefs_"""
        biases = self._fitted_net("intercepts_").biases
        return biases._derived([b.reshape(-1) for b in biases], "intercepts_")

    @intercepts_.setter
    def intercepts_(self, values):
        self._assign("intercepts_", values)

    def _assign(self, name, values):
        """coefs_ = values or intercepts_ = values: one array per layer, all checked first"""
        views = getattr(self, name)
        if isinstance(values, np.ndarray) or not hasattr(values, "__len__"):
            raise TypeError(f"{name} must be a list of {len(views)} arrays (one per layer); "
                            f"got {type(values).__name__}")
        if len(values) != len(views):
            raise ValueError(f"{name} must be a list of {len(views)} arrays (one per layer); "
                             f"got {len(values)}")
        views[:] = values

    def _reseed(self, rs):
        """a fresh shuffling/dropout stream for this fit, drawn from the random state"""
        seed = int(rs.randint(np.iinfo(np.int32).max))
        config = dict(self._net_config, seed=seed)
        net = NeuralNetwork(**config)
        net.set_params(self._net.get_params())
        self._net_config = config
        self._attach(net)

    # -- pickling: the network holds a compiled object; rebuild it from its settings ------
    def __getstate__(self):
        state = dict(super().__getstate__())
        net = state.pop("_net", None)
        if net is not None:  # the parameters and the training position (partial_fit's
            # next shuffles and dropout masks continue the stream where they were)
            state["_net_params"] = net.get_params()
            state["_net_position"] = {"epochs_done": net._epochs_done,
                                      "stream_seed": net._stream_seed}
        return state

    def __setstate__(self, state):
        params = state.pop("_net_params", None)
        position = state.pop("_net_position", {})
        super().__setstate__(state)
        if params is not None:
            net = NeuralNetwork(**self._net_config)
            net.set_params(params)
            net._epochs_done = position.get("epochs_done", 0)
            net._stream_seed = position.get("stream_seed", net._stream_seed)
            self._attach(net)

    # -- input ---------------------------------------------------------------------------
    def _x_dtype(self, p):
        return (np.float64, np.float32) if p["dtype"] is None else p["dtype"]

    def _predict_raw(self, X):
        """the output activations for X (validated), in the network's dtype"""
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False, dtype=(np.float64, np.float32),
                           accept_sparse=("csr", "csc"))
        with _Threads(self.n_threads):
            return self._net.predict(X)

    def _sample_weight(self, sample_weight, X, y):
        """per-row weights (sample_weight times class weights) or None"""
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, X,
                                                                     dtype=np.float64)
        cw = getattr(self, "class_weight", None)
        if cw is not None:
            cw_rows = compute_sample_weight(cw, y)
            sw = cw_rows if sw is None else sw * cw_rows
        if sw is not None and (np.any(sw < 0) or not sw.sum() > 0):
            raise ValueError("sample_weight must be >= 0 with a positive sum")
        return sw

    # -- training ------------------------------------------------------------------------
    def _initialize(self, Y, p, n_features, dtype, rs):
        """fitted attributes for a first fit, and the network"""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(p["hidden"]) + 2
        if not self._is_classifier:
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"
        self._scale_r, self._scale_q = self._loss_scales(self.n_outputs_)
        self._build_network(p, n_features, self.n_outputs_, dtype, rs)
        self._best_params = self._net.get_params()
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if p["early_stopping"] and p["solver"] != "lbfgs":
            self.validation_scores_ = []
            self.validation_loss_curve_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.validation_loss_curve_ = None
            self.best_validation_score_ = None

    def _fit(self, X, y, sample_weight=None, incremental=False):
        p = self._check_params()
        first_pass = not hasattr(self, "coefs_") or (not p["warm_start"] and not incremental)
        X, Y, y_labels = self._validate_input(X, y, incremental, first_pass, p)
        sw = self._sample_weight(sample_weight, X, y_labels)
        n_features = X.shape[1]
        rs = check_random_state(self.random_state)
        if first_pass:
            dtype = np.dtype(X.dtype if p["dtype"] is None else p["dtype"])
            self._initialize(Y, p, n_features, dtype, rs)
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs but this estimator was fitted with "
                             f"{self.n_outputs_}; fit again without warm_start")
        # converted once to the network's dtype, not in every epoch's train call
        dtype = self._net.dtype
        if _sparse.is_sparse(X):  # CSR with int64 indices: each train call takes it as is
            X = X.tocsr().astype(dtype)
            X.sum_duplicates()
            X.indices, X.indptr = X.indices.astype(np.int64), X.indptr.astype(np.int64)
        else:
            X = np.ascontiguousarray(X, dtype=dtype)
        Y = np.ascontiguousarray(Y, dtype=dtype)
        if not np.isfinite(Y).all():
            raise ValueError(f"y has values too large for the network's dtype {dtype.name}")
        if p["solver"] == "lbfgs":
            with _Threads(self.n_threads):
                self._fit_lbfgs(X, Y, sw, p)
            return self._check_finite()
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer(p)
            self._learning_rate = p["learning_rate_init"]
            self._optimizer_lr = None
        with _Threads(self.n_threads):
            self._fit_stochastic(X, Y, sw, p, rs, incremental)
        return self._check_finite()

    def _check_finite(self):
        if not np.isfinite(self._net.get_params()).all():
            raise ValueError("Solver produced non-finite parameter weights. The input data may"
                             " contain large values and need to be preprocessed.")
        return self

    def _split(self, X, Y, sw, p, rs):
        """scikit-learn's validation split for early stopping (stratified for binary and
        multiclass targets)"""
        stratify = None
        if self._is_classifier and (self.out_activation_ == "softmax" or self.n_outputs_ == 1):
            stratify = self._labels_of(Y)
        arrays = (X, Y) if sw is None else (X, Y, sw)
        try:
            parts = train_test_split(*arrays, random_state=rs,
                                     test_size=p["validation_fraction"], stratify=stratify)
        except ValueError:
            if stratify is None:
                raise
            parts = train_test_split(*arrays, random_state=rs,
                                     test_size=p["validation_fraction"])
        X_tr, X_val, Y_tr, Y_val = parts[:4]
        sw_tr, sw_val = (parts[4], parts[5]) if sw is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        return X_tr, X_val, Y_tr, Y_val, sw_tr, sw_val

    def _fit_lbfgs(self, X, Y, sw, p):
        """scikit-learn's _fit_lbfgs on barenet._lbfgs: the whole training set, scikit-learn's
        objective and gradient (module doc), maxiter=max_iter, maxfun=max_fun, gtol=tol"""
        from . import _lbfgs
        net = self._net
        X, Y = net._Xy(X, Y)   # validated once here, not in every loss evaluation
        mean_w = 1.0
        if sw is not None:
            mean_w = float(np.mean(sw))
            sw = check_sample_weight(sw / mean_w, X.shape[0], net.dtype)
        r, q = self._scale_r, self._scale_q
        net.l2 = r * p["alpha"] / (X.shape[0] * mean_w)
        # scipy gets f = F / q and g = grad F / r, F barenet's objective. With several
        # regression outputs (r = 2/K != q = 2) scikit-learn's gradient is K times that of
        # its data loss, so its loss is F / q plus the rest of its L2 term, added here
        l2_rest = (1 - r / q) * net.l2 / (2 * r) if r != q else 0.0
        try:
            history = _lbfgs.train(net, X, Y, sw, max_iter=p["max_iter"],
                                   max_fun=p["max_fun"], tol=p["tol"], loss_scale=1.0 / q,
                                   grad_scale=1.0 / r, extra_l2=l2_rest)
        except TrainingDiverged as exc:
            raise ValueError("Solver produced non-finite parameter weights. The input data "
                             f"may contain large values and need to be preprocessed. ({exc})"
                             ) from None
        except KeyboardInterrupt as exc:   # as the stochastic solvers: keep what was done
            history = getattr(exc, "history", None)
            if history is None:
                raise
            warnings.warn("Training interrupted by user.")
        self.n_iter_ = history.n_iter
        self.loss_ = history.final_loss
        self.loss_curve_.extend(history)   # barenet's extra: scikit-learn keeps none
        self.best_loss_ = min(self.loss_curve_, default=self.loss_)
        if p["verbose"]:
            for i, loss in enumerate(history, 1):
                print("Iteration %d, loss = %.8f" % (i, loss))
        if history.status not in (0, None):   # scikit-learn's _check_optimize_result
            msg = ("lbfgs failed to converge after %d iteration(s) (status=%d):\n%s\n"
                   % (self.n_iter_, history.status, history.message))
            if self.n_iter_ == p["max_iter"]:
                msg += ("\nIncrease the number of iterations to improve the convergence "
                        "(max_iter=%d)." % p["max_iter"])
            msg += ("\nYou might also want to scale the data as shown in:\n"
                    "    https://scikit-learn.org/stable/modules/preprocessing.html")
            warnings.warn(msg, ConvergenceWarning)

    def _fit_stochastic(self, X, Y, sw, p, rs, incremental):
        if p["early_stopping"] and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = p["early_stopping"]
        if early_stopping and self.validation_scores_ is None:  # warm start, switched on
            self.validation_scores_, self.validation_loss_curve_ = [], []
            self.best_validation_score_, self.best_loss_ = -np.inf, None
        if early_stopping:
            X_tr, X_val, Y_tr, Y_val, sw_tr, sw_val = self._split(X, Y, sw, p, rs)
            y_val = self._labels_of(Y_val)
        else:
            X_tr, Y_tr, sw_tr = X, Y, sw
            X_val = Y_val = y_val = sw_val = None
        if not incremental or self.t_ == 0:
            self._reseed(rs)  # later partial_fit calls continue the shuffling stream
        net = self._net
        n = X_tr.shape[0]
        if p["batch_size"] == "auto":
            batch = min(200, n)
        else:
            if p["batch_size"] > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped")
            batch = int(np.clip(p["batch_size"], 1, n))
        r, q = self._scale_r, self._scale_q
        # scikit-learn divides each batch's loss and penalty by its sum of weights; barenet
        # by its rows, so weights go in normalised to mean 1 and alpha by the mean weight
        mean_w, weights = 1.0, None
        if sw_tr is not None:
            mean_w = float(np.mean(sw_tr))
            if not mean_w > 0:
                raise ValueError("sample_weight of the training rows must have a positive sum")
            weights = sw_tr / mean_w
        net.l2 = 0.0 if p["solver"] == "adamw" else r * p["alpha"] / (batch * mean_w)
        sgd = p["solver"] == "sgd"
        verbose = p["verbose"]
        # multi-output regression: r != q, so loss_ / q holds r/q of scikit-learn's L2 term;
        # add the rest from ||W||^2 (exact in full batch, from the epoch's mean otherwise)
        l2_rest = (1 - r / q) * net.l2 / (2 * r) if r != q else 0.0
        self.n_iter_ = 0
        # validated once here, not in each epoch's train call
        X_tr, Y_tr = net._Xy(X_tr, Y_tr)
        sw_train = check_sample_weight(weights, X_tr.shape[0], net.dtype)
        try:
            for _ in range(p["max_iter"]):
                lr = self._learning_rate / r if sgd else self._learning_rate
                self._carry_velocity(lr)
                w2_start = self._sum_w2() if l2_rest else 0.0
                try:
                    history = net._train(X_tr, Y_tr, sw_train, 1, lr, False, batch_size=batch,
                                         optimizer=self._optimizer, shuffle=p["shuffle"])
                except TrainingDiverged as exc:
                    raise ValueError("Solver produced non-finite parameter weights. The input "
                                     "data may contain large values and need to be "
                                     f"preprocessed. ({exc})") from None
                self.n_iter_ += 1
                self.loss_ = float(history[0]) / q
                if l2_rest:
                    w2 = w2_start if batch == n else (w2_start + self._sum_w2()) / 2
                    self.loss_ += l2_rest * w2
                self.t_ += n
                self.loss_curve_.append(self.loss_)
                if verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                self._update_no_improvement_count(early_stopping, X_val, Y_val, y_val, sw_val, p)
                if sgd and p["learning_rate"] == "invscaling":
                    self._learning_rate = p["learning_rate_init"] / (self.t_ + 1) ** p["power_t"]
                if self._no_improvement_count > p["n_iter_no_change"]:
                    if early_stopping:
                        msg = ("Validation score did not improve more than tol=%f for %d "
                               "consecutive epochs." % (p["tol"], p["n_iter_no_change"]))
                    else:
                        msg = ("Training loss did not improve more than tol=%f for %d "
                               "consecutive epochs." % (p["tol"], p["n_iter_no_change"]))
                    if self._trigger_stopping(msg, verbose, sgd and p["learning_rate"] ==
                                              "adaptive"):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == p["max_iter"]:
                    warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the "
                                  "optimization hasn't converged yet." % p["max_iter"],
                                  ConvergenceWarning)
        except KeyboardInterrupt:  # as scikit-learn: keep the epochs done so far
            warnings.warn("Training interrupted by user.")
        if early_stopping:
            net.set_params(self._best_params)

    def _carry_velocity(self, lr):
        """scikit-learn's velocity includes the learning rate (v = mu v - lr g), barenet's
        does not (v = mu v + g; p -= lr v): when the rate changes between epochs
        (invscaling, adaptive), rescale the velocity so the next update is scikit-learn's"""
        prev, self._optimizer_lr = getattr(self, "_optimizer_lr", None), lr
        state = self._optimizer.state_arrays()
        if prev is not None and prev != lr and state is not None and state[0] is not None \
                and isinstance(self._optimizer, _optimizers.SGD):
            velocity = state[0]
            velocity *= velocity.dtype.type(prev / lr)

    def _sum_w2(self):
        return float(sum(np.dot(w.ravel(), w.ravel()) for w in self._net.weights))

    def _trigger_stopping(self, msg, verbose, adaptive):
        """scikit-learn's rule: stop, or with learning_rate='adaptive' divide it by 5"""
        if not adaptive:
            if verbose:
                print(msg + " Stopping.")
            return True
        if self._learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self._learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self._learning_rate)
        return False

    def _update_no_improvement_count(self, early_stopping, X_val, Y_val, y_val, sw_val, p):
        if early_stopping:
            proba = self._net.predict(X_val)
            score = self._score_outputs(proba, y_val, sw_val)
            self.validation_scores_.append(score)
            val_kw = {}
            if sw_val is not None:
                val_kw["sample_weight"] = sw_val / np.mean(sw_val)
            self.validation_loss_curve_.append(
                float(self._net.loss(X_val, Y_val, **val_kw)) / self._scale_q)
            if p["verbose"]:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + p["tol"]:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self._net.get_params()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - p["tol"]:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def fit(self: _Estimator, X: MatrixLike, y: ArrayLike,
            sample_weight: Optional[ArrayLike] = None) -> _Estimator:
        """Fit the model to data matrix X and target(s) y (max_iter epochs at most).

        sample_weight : array-like of shape (n_samples,), default=None
            Per-row weights: each batch minimises sum_i w_i l_i / sum_i w_i, as in
            scikit-learn.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier on barenet's core, with scikit-learn's parameters.

    Binary targets train one sigmoid output, multiclass targets a softmax, multilabel
    indicator matrices one sigmoid per label; the log-loss is minimised by mini-batch
    sgd / adam (or barenet's rmsprop / adamw) or by full-batch lbfgs. Parameters and fitted
    attributes are those of ``sklearn.neural_network.MLPClassifier`` (see its
    documentation), except:

    Parameters
    ----------
    solver : {"adam", "sgd", "lbfgs", "rmsprop", "adamw"}, default="adam"
        "lbfgs" is scipy's L-BFGS-B on scikit-learn's full-batch objective (needs scipy,
        which scikit-learn requires anyway): max_iter counts its iterations, max_fun its
        loss evaluations, tol is its gtol, and a ConvergenceWarning follows when it stops
        without converging, as in scikit-learn; it needs dropout=0 and has no partial_fit.
        With "adamw", ``alpha`` is AdamW's decoupled weight decay (on all parameters)
        instead of an L2 penalty.
    activation : {"relu", "logistic", "tanh", "identity", "leaky_relu", "gelu"}
    alpha : float, default=1e-4
        L2 penalty as scikit-learn scales it: barenet's ``l2 = r * alpha / batch_rows``
        (r as in the module doc), so the same alpha gives the same updates.
    max_fun : int, default=15000
        lbfgs only: the maximum number of loss evaluations (checked between iterations).
    dropout : float in [0, 1), default=0.0
        Inverted dropout on the hidden layers during training.
    l1 : float >= 0, default=0.0
        barenet's L1 penalty ``l1 * sum|W|`` (not rescaled).
    class_weight : dict, "balanced" or None
        Multiplies each row's weight by its class's weight (as sklearn's
        ``compute_sample_weight``).
    dtype : None, "float32" or "float64", default=None
        Precision of the network; None follows X (float32 X trains in float32).
    n_threads : int or None
        Threads of the compiled core during fit and predict (None: barenet's setting).
    backend : None, "auto", "compiled" or "numpy"
        barenet's backend (None reads BARENET_BACKEND).

    Notes
    -----
    Extra fitted attributes: ``validation_loss_curve_`` (per epoch, with early_stopping);
    with lbfgs, ``loss_curve_`` (the objective after each iteration) and ``best_loss_``.
    """

    _is_classifier = True

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, l1=0.0, class_weight=None, dtype=None, n_threads=None,
                 backend=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.l1 = l1
        self.class_weight = class_weight
        self.dtype = dtype
        self.n_threads = n_threads
        self.backend = backend

    def _validate_input(self, X, y, incremental, reset, p):
        """(X, Y as the network's 2-D float targets, y as labels) with scikit-learn's
        checks and its rules for classes_ under warm_start and partial_fit"""
        X, y = _validate_data(self, X, y, accept_sparse=("csr", "csc"), multi_output=True,
                              dtype=self._x_dtype(p), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not p["warm_start"] and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if p["warm_start"]:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same "
                                     "classes as in the previous call to fit. Previously "
                                     f"got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError("`y` has classes not in `self.classes_`. "
                                 f"`self.classes_` has {self.classes_}. 'y' has {classes}.")
        return X, self._label_binarizer.transform(y), y

    def _labels_of(self, Y):
        return self._label_binarizer.inverse_transform(Y)

    def _labels_from_outputs(self, out):
        if self.n_outputs_ == 1:
            out = out.ravel()
        return self._label_binarizer.inverse_transform(out)

    def _score_outputs(self, out, y, sample_weight):
        if not np.isfinite(out).all():
            return np.nan
        return float(accuracy_score(y, self._labels_from_outputs(out),
                                    sample_weight=sample_weight))

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X: MatrixLike, y: ArrayLike, sample_weight: Optional[ArrayLike] = None,
                    classes: Optional[ArrayLike] = None) -> "MLPClassifier":
        """One epoch over (X, y). classes (all labels, e.g. np.unique(y_all)) is required on
        the first call. The optimizer's state continues between calls."""
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X: MatrixLike) -> np.ndarray:
        """predicted class labels, shape (n_samples,) (or (n_samples, n_labels) multilabel)"""
        return self._labels_from_outputs(self._predict_raw(X))

    def predict_proba(self, X: MatrixLike) -> np.ndarray:
        """class probabilities in the order of ``classes_``, shape (n_samples, n_classes)"""
        out = self._predict_raw(X)
        if self.n_outputs_ == 1:
            out = out.ravel()
            return np.vstack([1 - out, out]).T
        return out

    def predict_log_proba(self, X: MatrixLike) -> np.ndarray:
        """log of predict_proba"""
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multilabel": True}


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor on barenet's core, with scikit-learn's parameters.

    An identity output trained on the squared error (one output per target column), or with
    ``loss="poisson"`` an exp output (log link) trained on the half Poisson deviance (y >= 0),
    by mini-batch sgd / adam (or rmsprop / adamw) or full-batch lbfgs. Parameters and fitted
    attributes are those of ``sklearn.neural_network.MLPRegressor``, with the differences
    and extras listed in MLPClassifier's documentation (no class_weight). ``loss_`` is
    scikit-learn's half squared error or half Poisson deviance; for several outputs and a
    stochastic solver its L2 part is 1/n_outputs of
    scikit-learn's (whose gradient is not that of its loss there: the updates follow the
    gradient); lbfgs reports scikit-learn's value exactly.
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, l1=0.0, dtype=None, n_threads=None, backend=None):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.l1 = l1
        self.dtype = dtype
        self.n_threads = n_threads
        self.backend = backend

    def _check_params(self):
        _check_choice(self.loss, "loss", ("squared_error", "poisson"))
        return super()._check_params()

    def _validate_input(self, X, y, incremental, reset, p):
        X, y = _validate_data(self, X, y, accept_sparse=("csr", "csc"), multi_output=True,
                              y_numeric=True, dtype=self._x_dtype(p), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y.reshape(len(y), -1), y

    def _labels_of(self, Y):
        return Y

    def _score_outputs(self, out, y, sample_weight):
        if not np.isfinite(out).all():
            return np.nan
        pred = out.ravel() if out.shape[1] == 1 else out
        y = y.ravel() if y.shape[1] == 1 else y
        return float(r2_score(y, pred, sample_weight=sample_weight))

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X: MatrixLike, y: ArrayLike,
                    sample_weight: Optional[ArrayLike] = None) -> "MLPRegressor":
        """One epoch over (X, y); the optimizer's state continues between calls."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X: MatrixLike) -> np.ndarray:
        """predicted targets, shape (n_samples,) or (n_samples, n_outputs)"""
        out = self._predict_raw(X)
        return out.ravel() if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.input_tags.sparse = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True}
