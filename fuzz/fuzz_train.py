"""atheris target: fuzzed architectures, shapes, values and keyword arguments into
NeuralNetwork(...), train, predict, predict_classes, loss and gradient. Each call may only
succeed or raise ValueError/TypeError (train also TrainingDiverged); anything else, or a
crash of the interpreter, is a finding. Sizes stay small (widths <= 16, rows <= 24,
epochs <= 4) so that each input runs in milliseconds.

    python fuzz/fuzz_train.py -atheris_runs=20000 -seed=1       (see fuzz/README.md)"""

import os
import sys
import warnings

import numpy as np

import atheris

from barenet import EarlyStopping, NeuralNetwork, TrainingDiverged, optimizers

from _instrument import instrument

instrument("barenet")  # coverage feedback from barenet's Python code
warnings.simplefilter("ignore")
BACKEND = os.environ.get("BARENET_BACKEND", "compiled")

# (valid, invalid) choices; invalid ones come one time in sixteen
HIDDEN = (["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "identity"], ["softmax", "", None, 3])
OUTPUT = (["sigmoid", "softmax", "identity", "tanh", "relu", "leaky_relu", "gelu"],
          ["swish", None])
LOSSES = ([None, "binary_crossentropy", "categorical_crossentropy", "mse", "bce",
           "cross_entropy"], ["hinge", 0])
DTYPES = (["float64", "float32", np.float32], ["float16", "int64", None, ","])
ARRAY_DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int8, np.uint64, np.bool_,
                np.complex128, np.longdouble, object, "U2"]
OPTIMIZERS = (["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "Adam "],
              ["lbfgs", None, 3, optimizers.SGD])
SCHEDULES = ([None, "step", "exponential", "cosine"], ["linear", 1.0])
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-3, 1e308, -1e308, 3.5e38, 1e-320, float("nan"),
           float("inf"), -float("inf")]


def _float(fdp):
    if fdp.ConsumeBool():
        return SPECIAL[fdp.ConsumeIntInRange(0, len(SPECIAL) - 1)]
    return fdp.ConsumeFloat()


def _pick(fdp, options):
    return options[fdp.ConsumeIntInRange(0, len(options) - 1)]


def _mostly(fdp, valid, invalid):
    """one of valid, or (one time in sixteen) one of invalid"""
    if invalid and fdp.ConsumeIntInRange(0, 15) == 15:
        return _pick(fdp, invalid)
    return _pick(fdp, valid)


def _array(fdp, shape):
    """an array of roughly `shape` (sometimes another shape, rank or dtype)"""
    if fdp.ConsumeIntInRange(0, 7) == 7:
        shape = tuple(fdp.ConsumeIntInRange(0, 6) for _ in range(fdp.ConsumeIntInRange(0, 3)))
    dtype = _pick(fdp, ARRAY_DTYPES) if fdp.ConsumeIntInRange(0, 7) == 7 else np.float64
    size = int(np.prod(shape))
    kind = fdp.ConsumeIntInRange(0, 7)
    if kind == 7:
        values = np.array([_float(fdp) for _ in range(size)], dtype=np.float64)
    elif kind == 6:
        values = np.array([fdp.ConsumeIntInRange(-2, 3) for _ in range(size)], dtype=np.float64)
    else:
        rng = np.random.default_rng(fdp.ConsumeIntInRange(0, 2**32 - 1))
        values = rng.standard_normal(size) * (1e3 if kind == 5 else 1)
    with np.errstate(all="ignore"):
        try:
            return values.reshape(shape).astype(dtype)
        except (ValueError, TypeError, OverflowError):
            return values.reshape(shape)


def _targets(fdp, n, n_out, output):
    choice = fdp.ConsumeIntInRange(0, 5)
    if choice == 5:
        return _array(fdp, (n, n_out))
    rng = np.random.default_rng(fdp.ConsumeIntInRange(0, 2**32 - 1))
    if output == "softmax":
        labels = rng.integers(0, max(n_out, 1), n)
        return labels if choice % 2 else np.eye(max(n_out, 1))[labels]
    if output == "sigmoid":
        return (rng.random((n, n_out)) > 0.5).astype(float)
    return rng.standard_normal((n, n_out) if choice % 2 or n_out > 1 else (n,))


def _network(fdp):
    depth = fdp.ConsumeIntInRange(1, 4)
    sizes = [fdp.ConsumeIntInRange(1, 16) for _ in range(depth + 1)]
    if fdp.ConsumeIntInRange(0, 15) == 15:
        sizes[fdp.ConsumeIntInRange(0, depth)] = fdp.ConsumeIntInRange(-2, 0)
    kw = dict(activation=_mostly(fdp, *HIDDEN), output_activation=_mostly(fdp, *OUTPUT),
              loss=_mostly(fdp, *LOSSES), dtype=_mostly(fdp, *DTYPES),
              seed=fdp.ConsumeIntInRange(0, 2**64 - 1) if fdp.ConsumeBool() else None)
    for name in ("dropout", "l1", "l2"):
        if fdp.ConsumeBool():
            kw[name] = _float(fdp) if fdp.ConsumeIntInRange(0, 15) == 15 else \
                fdp.ConsumeProbability() * (0.9 if name == "dropout" else 0.1)
    if fdp.ConsumeIntInRange(0, 7) == 7:  # mostly the sensible pairings
        return sizes, kw
    if kw["output_activation"] == "softmax":
        kw["loss"] = None
        sizes[-1] = max(sizes[-1], 2)
    elif kw["loss"] in ("binary_crossentropy", "bce", "categorical_crossentropy",
                        "cross_entropy"):
        kw["loss"] = None
    return sizes, kw


def _optimizer(fdp):
    choice = _mostly(fdp, *OPTIMIZERS)
    if fdp.ConsumeIntInRange(0, 3) != 3:
        return choice
    kind = fdp.ConsumeIntInRange(0, 3)
    lr = None if fdp.ConsumeBool() else _float(fdp)
    if kind == 0:
        return optimizers.SGD(lr, momentum=fdp.ConsumeProbability() * 0.99,
                              nesterov=fdp.ConsumeBool())
    if kind == 1:
        return optimizers.RMSprop(lr, rho=fdp.ConsumeProbability() * 0.99, eps=_float(fdp))
    if kind == 2:
        return optimizers.Adam(lr, beta1=fdp.ConsumeProbability() * 0.99,
                               beta2=fdp.ConsumeProbability() * 0.999, eps=_float(fdp))
    return optimizers.AdamW(lr, weight_decay=_float(fdp))


def TestOneInput(data):
    fdp = atheris.FuzzedDataProvider(data)
    sizes, kw = _network(fdp)
    try:
        net = NeuralNetwork(sizes, backend=BACKEND, **kw)
    except (ValueError, TypeError):
        return
    # an exhausted FuzzedDataProvider returns each range's minimum: keep that a valid call
    n = fdp.ConsumeIntInRange(1, 24) if fdp.ConsumeIntInRange(0, 15) else 0
    n_in = fdp.ConsumeIntInRange(0, 5) if fdp.ConsumeIntInRange(0, 7) == 7 else sizes[0]
    X = _array(fdp, (n, n_in))
    y = _targets(fdp, n, sizes[-1], kw["output_activation"])
    try:
        optimizer = _optimizer(fdp)
    except (ValueError, TypeError):  # an optimizer object refusing its fuzzed settings
        optimizer = "sgd"
    train_kw = dict(batch_size=None if fdp.ConsumeBool() else fdp.ConsumeIntInRange(-1, 30),
                    optimizer=optimizer, shuffle=fdp.ConsumeBool(),
                    lr_schedule=_mostly(fdp, *SCHEDULES),
                    on_divergence=_mostly(fdp, ["raise", "warn"], ["ignore"]))
    if fdp.ConsumeIntInRange(0, 3) == 3:
        weights = _array(fdp, (n,))
        if weights.dtype.kind in "iuf" and fdp.ConsumeIntInRange(0, 7):
            weights = np.abs(weights)  # mostly valid: >= 0
        train_kw["sample_weight"] = weights
    if fdp.ConsumeIntInRange(0, 3) == 0:
        train_kw["validation_data"] = (_array(fdp, (3, sizes[0])),
                                       _targets(fdp, 3, sizes[-1], kw["output_activation"]))
    if fdp.ConsumeIntInRange(0, 3) == 0:
        train_kw["early_stopping"] = _pick(fdp, [True, 1, 2, EarlyStopping(patience=1)])
    epochs = fdp.ConsumeIntInRange(1, 4) if fdp.ConsumeIntInRange(0, 7) else \
        fdp.ConsumeIntInRange(-1, 0)
    lr = _float(fdp) if fdp.ConsumeIntInRange(0, 3) == 3 else \
        1e-3 + fdp.ConsumeProbability() * 0.5
    try:
        net.train(X, y, epochs, lr, False, **train_kw)
    except (ValueError, TypeError, TrainingDiverged):
        pass
    for call in (lambda: net.predict(X), lambda: net.predict_classes(X),
                 lambda: net.loss(X, y), lambda: net.gradient(X, y)):
        try:
            call()
        except (ValueError, TypeError):
            pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
