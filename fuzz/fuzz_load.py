"""atheris target: NeuralNetwork.load on random bytes, on byte-mutated valid model files and
on valid archives whose header JSON and arrays carry fuzzed values (byte flips alone mostly
stop at the zip CRC). Loading may only succeed or raise ModelFileError/ValueError/
FileNotFoundError; a network that loads must then predict and train, raising at most
ValueError/TypeError/TrainingDiverged. Anything else is a finding.

    python fuzz/fuzz_load.py -atheris_runs=20000 -seed=1        (see fuzz/README.md)"""

import atexit
import copy
import io
import json
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np

import atheris

from barenet import ModelFileError, NeuralNetwork, TrainingDiverged

from _instrument import instrument

instrument("barenet")  # coverage feedback from barenet's Python code
warnings.simplefilter("ignore")
BACKEND = os.environ.get("BARENET_BACKEND", "compiled")
TMP = tempfile.mkdtemp(prefix="barenet-fuzz-load-",
                       dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
PATH = os.path.join(TMP, "model.npz")
atexit.register(shutil.rmtree, TMP, ignore_errors=True)
X = np.random.default_rng(0).standard_normal((5, 3))


def _valid_models():
    """the bytes of a few valid files: dtypes, outputs, optimizers with and without state"""
    out = []
    specs = [(dict(output_activation="softmax", dtype="float64"), "adam", np.arange(5) % 3, 3),
             (dict(output_activation="sigmoid", dtype="float32", dropout=0.2), "momentum",
              np.arange(5) % 2, 1),
             (dict(output_activation="identity", l2=0.01), "sgd", np.ones((5, 2)), 2),
             (dict(activation="tanh", output_activation="softmax"), None, np.arange(5) % 2, 2)]
    for kw, opt, y, n_out in specs:
        net = NeuralNetwork([3, 4, n_out], seed=0, backend="numpy", **kw)
        if opt is not None:
            net.train(X, y, 1, 0.01, False, optimizer=opt, batch_size=2)
        buf = io.BytesIO()
        net.save(PATH)
        with open(PATH, "rb") as f:
            buf.write(f.read())
        out.append(buf.getvalue())
    return out


SEEDS = _valid_models()
JSON_VALUES = [None, True, False, 0, 1, -1, 2, 3, 2**31, 2**62, 2**63, 2**64, -2**63, 10**30,
               0.5, -0.0, 1e308, -1e308, 1e-320, float("nan"), float("inf"), "", "relu",
               "softmax", "float32", "float16", "mse", "adam", [], [1], [3, 4, 2], [0], [-1, 2],
               [3, 10**9, 2], {}, {"kind": 4}, "barenet.model", "NeuralNetwork"]
ARRAY_DTYPES = [np.float64, np.float32, np.float16, np.int64, np.uint8, np.bool_, np.complex128,
                "U2", "M8[s]"]


def _fuzz_value(fdp):
    if fdp.ConsumeBool():
        return copy.deepcopy(JSON_VALUES[fdp.ConsumeIntInRange(0, len(JSON_VALUES) - 1)])
    kind = fdp.ConsumeIntInRange(0, 3)
    if kind == 0:
        return fdp.ConsumeIntInRange(-2**65, 2**65)
    if kind == 1:
        return fdp.ConsumeFloat()
    if kind == 2:
        return fdp.ConsumeUnicodeNoSurrogates(8)
    return [fdp.ConsumeIntInRange(-3, 20) for _ in range(fdp.ConsumeIntInRange(0, 5))]


def _structured(fdp, seed):
    """a valid archive built from a seed file with fuzzed header fields and arrays"""
    with np.load(io.BytesIO(seed)) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(arrays["header"].tobytes())
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        target = header
        if isinstance(header.get("optimizer"), dict) and fdp.ConsumeBool():
            target = header["optimizer"]
        keys = sorted(target) + ["learning_rate", "momentum", "nesterov", "weight_decay",
                                 "unknown"]
        key = keys[fdp.ConsumeIntInRange(0, len(keys) - 1)]
        if fdp.ConsumeIntInRange(0, 7) == 0:
            target.pop(key, None)
        else:
            target[key] = _fuzz_value(fdp)
    names = ["params", "optimizer_state1", "optimizer_state2", "extra"]
    for _ in range(fdp.ConsumeIntInRange(0, 2)):
        name = names[fdp.ConsumeIntInRange(0, len(names) - 1)]
        action = fdp.ConsumeIntInRange(0, 3)
        if action == 0:
            arrays.pop(name, None)
        else:
            dtype = ARRAY_DTYPES[fdp.ConsumeIntInRange(0, len(ARRAY_DTYPES) - 1)]
            shape = tuple(fdp.ConsumeIntInRange(0, 40) for _ in range(fdp.ConsumeIntInRange(0, 2)))
            base = arrays.get(name, np.zeros(1))
            arr = np.zeros(shape, dtype=dtype)
            if action == 1 and base.size:  # same size, maybe another dtype or a poisoned value
                try:
                    with np.errstate(all="ignore"):
                        arr = base.astype(dtype if fdp.ConsumeBool() else base.dtype)
                except (ValueError, TypeError, OverflowError):  # e.g. '' -> int
                    pass
                if arr.dtype.kind == "f" and arr.size and fdp.ConsumeBool():
                    arr.flat[fdp.ConsumeIntInRange(0, arr.size - 1)] = fdp.ConsumeFloat()
            arrays[name] = arr
    raw = json.dumps(header).encode() if fdp.ConsumeIntInRange(0, 15) else \
        fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
    arrays["header"] = np.frombuffer(raw, dtype=np.uint8) if fdp.ConsumeIntInRange(0, 15) \
        else np.frombuffer(raw, dtype=np.uint8).astype(np.int16)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _mutated(fdp, seed):
    """seed bytes with overwritten, inserted or cut ranges"""
    data = bytearray(seed)
    for _ in range(fdp.ConsumeIntInRange(1, 8)):
        if not data:
            break
        at = fdp.ConsumeIntInRange(0, len(data) - 1)
        op = fdp.ConsumeIntInRange(0, 3)
        chunk = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 16))
        if op == 0:
            data[at:at + len(chunk)] = chunk
        elif op == 1:
            data[at:at] = chunk
        elif op == 2:
            del data[at:at + fdp.ConsumeIntInRange(1, 64)]
        else:
            del data[at:]
    return bytes(data)


def TestOneInput(data):
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 3)
    seed = SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)]
    if mode == 0:
        content = fdp.ConsumeBytes(fdp.remaining_bytes())
    elif mode == 1:
        content = _mutated(fdp, seed)
    else:
        content = _structured(fdp, seed)
    with open(PATH, "wb") as f:
        f.write(content)
    try:
        net = NeuralNetwork.load(PATH, backend=BACKEND)
    except (ModelFileError, ValueError, FileNotFoundError):
        return
    x = X if net.layer_sizes[0] == 3 else np.ones((2, net.layer_sizes[0]))
    try:
        net.predict(x)
        y = np.zeros((x.shape[0], net.layer_sizes[-1]))
        if net.output_activation == "softmax":
            y[:, 0] = 1
        name = net._optimizer_name or "sgd"
        net.train(x, y, 2, 0.01, False, optimizer=name, batch_size=2)
    except (ValueError, TypeError, TrainingDiverged):
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
