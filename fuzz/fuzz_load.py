"""atheris target: NeuralNetwork.load on random bytes, on byte-mutated valid model files, on
valid archives whose header JSON and arrays carry fuzzed values (byte flips alone mostly
stop at the zip CRC), on Sequential headers with fuzzed layer geometries (kernel, stride,
padding, pool sizes, units, input shapes; small, huge and beyond int64) and on archives
whose zip directory declares fuzzed sizes, offsets and compression methods. Loading may
only succeed or raise ModelFileError/ValueError/FileNotFoundError; a network that loads
must then predict and train (when its layers are small enough to do so quickly: the
library allows up to barenet.layers.MAX_SAMPLE_VALUES values per layer and sample, more
than this target's memory limit), raising at most ValueError/TypeError/TrainingDiverged.
Anything else is a finding.

    python fuzz/fuzz_load.py -atheris_runs=20000 -seed=1        (see fuzz/README.md)"""

import atexit
import copy
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import warnings

import numpy as np

import atheris

from barenet import ModelFileError, NeuralNetwork, Sequential, TrainingDiverged
from barenet.layers import AvgPool2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D

from _instrument import instrument

instrument("barenet")  # coverage feedback from barenet's Python code
warnings.simplefilter("ignore")
BACKEND = os.environ.get("BARENET_BACKEND", "compiled")
TMP = tempfile.mkdtemp(prefix="barenet-fuzz-load-",
                       dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
PATH = os.path.join(TMP, "model.npz")
atexit.register(shutil.rmtree, TMP, ignore_errors=True)
X = np.random.default_rng(0).standard_normal((5, 3))
EXERCISE_MAX_VALUES = 2**14  # predict and train only networks this small (values per sample)


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
        out.append(_saved(net))
    images = np.random.default_rng(1).standard_normal((4, 2, 5, 5))
    for layers, opt in [([Conv2D(2, 3, padding="same", activation="relu"), MaxPool2D(2),
                          Flatten(), Dense(2, activation="softmax")], "adam"),
                        ([Conv2D(1, (2, 3), stride=2, padding=1), AvgPool2D(2, stride=1),
                          Flatten(), Dropout(0.5), Dense(1, activation="sigmoid")], None)]:
        net = Sequential(layers, input_shape=(2, 5, 5), seed=0, backend="numpy")
        if opt is not None:
            net.train(images, np.eye(2)[[0, 1, 0, 1]], 1, 0.01, False, optimizer=opt)
        out.append(_saved(net))
    # the same archives deflated (np.savez_compressed), for the compressed-size checks
    for seed in list(out):
        with np.load(io.BytesIO(seed)) as data:
            arrays = dict(data)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        out.append(buf.getvalue())
    return out


_MEMBERS = {}


def _members(seed):
    """{name: array} of a seed archive (parsed once; the arrays are copies to change)"""
    if seed not in _MEMBERS:
        with np.load(io.BytesIO(seed)) as data:
            _MEMBERS[seed] = {k: data[k] for k in data.files}
    return {k: v.copy() for k, v in _MEMBERS[seed].items()}


def _saved(net):
    net.save(PATH)
    with open(PATH, "rb") as f:
        return f.read()


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


# layer geometry: small values that build, and huge ones around every bound (the layers'
# MAX_SAMPLE_VALUES = 2**27, int32, int64, uint64)
GEOMETRY_INTS = [0, 1, 2, 3, 4, 7, 2**13 - 1, 2**13, 2**27, 2**27 + 1, 2**31 - 1, 2**31,
                 2**32, 2**62, 2**63 - 1, 2**63, 2**64, -1, -2**63, 10**30]
LAYER_TYPES = ["Dense", "Conv2D", "MaxPool2D", "AvgPool2D", "Flatten", "Dropout"]
ACTIVATIONS = ["relu", "identity", "sigmoid", "softmax", "gelu", "tanh"]


def _geometry_int(fdp):
    """mostly small sizes (so that many layer lists build), one time in four a huge one"""
    if fdp.ConsumeIntInRange(0, 3) == 0:
        return GEOMETRY_INTS[fdp.ConsumeIntInRange(0, len(GEOMETRY_INTS) - 1)]
    return fdp.ConsumeIntInRange(1, 5)


def _geometry_pair(fdp):
    form = fdp.ConsumeIntInRange(0, 7)
    if form < 3:
        return _geometry_int(fdp)
    if form < 6:
        return [_geometry_int(fdp), _geometry_int(fdp)]
    if form == 6:
        return [_geometry_int(fdp)]
    return _fuzz_value(fdp)


def _fuzz_layer(fdp, last):
    """one layer object of a Sequential header (the last one usually Dense)"""
    if last and fdp.ConsumeIntInRange(0, 7):
        kind = "Dense"
    elif fdp.ConsumeIntInRange(0, 31):
        kind = LAYER_TYPES[fdp.ConsumeIntInRange(0, len(LAYER_TYPES) - 1)]
    else:
        kind = _fuzz_value(fdp)
    layer = {"type": kind}
    if kind == "Dense":
        layer.update(units=_geometry_int(fdp), use_bias=fdp.ConsumeBool())
    elif kind == "Conv2D":
        padding = fdp.ConsumeIntInRange(0, 3)
        layer.update(filters=_geometry_int(fdp), kernel_size=_geometry_pair(fdp),
                     stride=_geometry_pair(fdp),
                     padding=["same", "valid"][padding] if padding < 2 else _geometry_pair(fdp),
                     use_bias=fdp.ConsumeBool())
    elif kind in ("MaxPool2D", "AvgPool2D"):
        layer.update(pool_size=_geometry_pair(fdp), stride=_geometry_pair(fdp))
    elif kind == "Dropout":
        layer.update(rate=fdp.ConsumeFloatInRange(0.0, 1.0))
    if kind in ("Dense", "Conv2D"):
        layer["activation"] = (ACTIVATIONS[fdp.ConsumeIntInRange(0, len(ACTIVATIONS) - 1)]
                               if not last or fdp.ConsumeIntInRange(0, 3) == 0 else "sigmoid")
    if fdp.ConsumeIntInRange(0, 15) == 0 and len(layer) > 1:  # drop or add an argument
        layer.pop(sorted(layer)[fdp.ConsumeIntInRange(0, len(layer) - 1)])
    elif fdp.ConsumeIntInRange(0, 15) == 0:
        layer[["bogus", "units", "rate"][fdp.ConsumeIntInRange(0, 2)]] = _fuzz_value(fdp)
    return layer


def _geometry(fdp, seeds):
    """a Sequential archive with a fuzzed layer list and input shape, and a params member of
    the size those layers need when they build (or of a fuzzed size)"""
    from barenet.network import _check_input_shape, build_layers
    arrays = _members(seeds[fdp.ConsumeIntInRange(0, len(seeds) - 1)])
    header = json.loads(arrays["header"].tobytes())
    n = fdp.ConsumeIntInRange(1, 5)
    header["layers"] = [_fuzz_layer(fdp, i == n - 1) for i in range(n)]
    rank = fdp.ConsumeIntInRange(0, 7)
    header["input_shape"] = ([_geometry_int(fdp)] if rank == 0 else
                             _fuzz_value(fdp) if rank == 1 else
                             [fdp.ConsumeIntInRange(1, 3)] + [_geometry_int(fdp)
                                                              for _ in range(2)])
    header["optimizer"] = header["optimizer_name"] = None
    if fdp.ConsumeIntInRange(0, 3):
        header["loss"] = None  # inferred from the output activation
    arrays.pop("optimizer_state1", None)
    arrays.pop("optimizer_state2", None)
    size = fdp.ConsumeIntInRange(0, 64)
    try:  # the size the layers need, when they build and it is small
        layers = build_layers([_layer_object(d) for d in header["layers"]],
                              _check_input_shape(header["input_shape"]))
        needed = sum(layer.n_params for layer in layers)
        if needed <= 1 << 16 and fdp.ConsumeIntInRange(0, 7):
            size = needed
    except Exception:  # noqa: BLE001 -- the header is invalid: load must say so
        pass
    dtype = np.float32 if header.get("dtype") == "float32" else np.float64
    arrays["params"] = np.zeros(size, dtype=dtype)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    (np.savez_compressed if fdp.ConsumeBool() else np.savez)(buf, **arrays)
    return buf.getvalue()


def _layer_object(spec):
    """the layer a header's layer object describes (as io.load makes it)"""
    from barenet import layers
    args = {k: v for k, v in spec.items() if k != "type"}
    positional = {"Dense": ("units",), "Conv2D": ("filters", "kernel_size")}
    return layers.KINDS[spec["type"]](*[args.pop(k) for k in positional.get(spec["type"], ())],
                                      **args)


# zip records: (signature, {field: (offset, struct format)})
ZIP_FIELDS = [(b"PK\x03\x04", {"method": (8, "<H"), "crc": (14, "<I"), "compressed": (18, "<I"),
                                "size": (22, "<I"), "name_length": (26, "<H"),
                                "extra_length": (28, "<H")}),
              (b"PK\x01\x02", {"method": (10, "<H"), "crc": (16, "<I"), "compressed": (20, "<I"),
                                "size": (24, "<I"), "name_length": (28, "<H"),
                                "extra_length": (30, "<H"), "offset": (42, "<I")}),
              (b"PK\x05\x06", {"entries": (10, "<H"), "directory_size": (12, "<I"),
                                "directory_offset": (16, "<I")})]


def _declared_sizes(fdp, content):
    """content (a zip) with fuzzed sizes, offsets, CRCs and compression methods in its local
    headers, central directory and end record"""
    data = bytearray(content)
    records = [(at, fields) for signature, fields in ZIP_FIELDS
               for at in _find_all(data, signature)]
    if not records:
        return content
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        at, fields = records[fdp.ConsumeIntInRange(0, len(records) - 1)]
        name = sorted(fields)[fdp.ConsumeIntInRange(0, len(fields) - 1)]
        offset, fmt = fields[name]
        limit = 2**(8 * struct.calcsize(fmt)) - 1
        old = struct.unpack_from(fmt, data, at + offset)[0] if at + offset + \
            struct.calcsize(fmt) <= len(data) else 0
        choice = fdp.ConsumeIntInRange(0, 5)
        value = [0, limit, old + 1, max(old - 1, 0), len(data),
                 fdp.ConsumeIntInRange(0, limit)][choice]
        if name == "method" and fdp.ConsumeBool():
            value = [0, 8, 12, 14, 99][fdp.ConsumeIntInRange(0, 4)]  # stored, deflate, ...
        if at + offset + struct.calcsize(fmt) <= len(data):
            struct.pack_into(fmt, data, at + offset, min(value, limit))
    return bytes(data)


def _find_all(data, signature):
    at = data.find(signature)
    while at >= 0:
        yield at
        at = data.find(signature, at + 1)


def _structured(fdp, seed):
    """a valid archive built from a seed file with fuzzed header fields and arrays"""
    arrays = _members(seed)
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
                # '' -> int: ValueError; 'U2' -> datetime64: RuntimeError (too short)
                except (ValueError, TypeError, OverflowError, RuntimeError):
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
    mode = fdp.ConsumeIntInRange(0, 7)
    seed = SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)]
    if mode == 0:
        content = fdp.ConsumeBytes(fdp.remaining_bytes())
    elif mode == 1:
        content = _mutated(fdp, seed)
    elif mode < 4:
        content = _structured(fdp, seed)
    elif mode < 6:
        content = _geometry(fdp, [s for s in SEEDS if b"Sequential" in s] or SEEDS)
    else:  # declared sizes of a valid or a fuzzed archive
        content = _declared_sizes(fdp, seed if mode == 6 else _geometry(fdp, SEEDS))
    with open(PATH, "wb") as f:
        f.write(content)
    try:
        net = NeuralNetwork.load(PATH, backend=BACKEND)
    except (ModelFileError, ValueError, FileNotFoundError):
        return
    if sum(sum(layer.sample_sizes().values()) for layer in net.layers) > EXERCISE_MAX_VALUES:
        return  # valid, but too large to run within the fuzzer's time and memory limits
    n_in = int(np.prod(net.input_shape))
    x = X if n_in == 3 else np.ones((2, n_in))
    try:
        net.predict(x)
        y = np.zeros((x.shape[0], net.layers[-1].units))
        if net.output_activation == "softmax":
            y[:, 0] = 1
        name = net._optimizer_name or "sgd"
        net.train(x, y, 2, 0.01, False, optimizer=name, batch_size=2)
    except (ValueError, TypeError, TrainingDiverged):
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
