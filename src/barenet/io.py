"""Saving and loading networks in barenet's model format: a .npz (zip) archive, opened with
allow_pickle=False so that loading can never run code, holding

    header             uint8: UTF-8 JSON {"format": "barenet.model", "version": 1, "kind":
                       "NeuralNetwork", "Sequential" or "Model", the network's settings
                       (layer_sizes and activations, or the layer list with each layer's
                       type and arguments and the input shape, and for a Model "inputs":
                       each layer's input indices, -1 for the model input), the training
                       position, the optimizer settings}
    params             (n_params,) float32/float64: the flat parameter buffer
    optimizer_state1   optional, (n_params,): the optimizer's first state buffer
    optimizer_state2   optional, (n_params,): its second (Adam's v)
    state              when the network has any, (n_state,): what layers keep that is not
                       trained (BatchNormalization's running mean and variance)

Writes are atomic (temporary file in the same directory, flush, fsync, rename), so a crash
never leaves a damaged file where a good one was; a symlink is followed (its target is
replaced), a directory, FIFO or device is refused, and the file gets the mode open() would
give (or keeps the existing file's). Loading checks everything and raises
ModelFileError (a ValueError) naming the file and what is wrong."""

import json
import os
import secrets
import stat
import zipfile

import numpy as np

from ._validation import check_layer_sizes

FORMAT = "barenet.model"
FORMAT_VERSION = 1
_NPY_HEADER_MAX = 4096  # bytes an .npy member may hold beyond its data


class ModelFileError(ValueError):
    """A file is not a valid barenet model: truncated, corrupted, foreign or too new."""


def fsync_directory(directory):
    """make a rename in directory durable (POSIX; a no-op where directories cannot be opened)"""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not possible on every platform (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def check_save_path(path):
    """Where a save to path writes, checked before anything is written (the CLI calls this
    before training): -> (target, st). A symlink is followed, as open() follows it: the
    file it points to is replaced and the link stays. The target must be a regular file
    or not exist yet (ValueError for a directory, FIFO, device or socket: save never
    turns one into a regular file), in a directory that exists (FileNotFoundError naming
    path). st is the existing file's os.stat_result, or None."""
    try:
        path = os.fsdecode(os.fspath(path))
    except TypeError:
        raise TypeError(f"path must be a str, bytes or os.PathLike; got "
                        f"{type(path).__name__}") from None
    if not path:
        raise ValueError("path must not be empty")
    target = os.path.realpath(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        via = f" (the target of the symlink {path})" if os.path.islink(path) else ""
        raise ValueError(f"cannot save to {target}{via}: it is {kind}; a model is saved to a "
                         "regular file, new or existing")
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        where = (f"{directory} (where the symlink {path} points)" if os.path.islink(path)
                 else os.path.dirname(path) or directory)
        raise FileNotFoundError(f"cannot save to {path}: the directory {where} does not "
                                "exist")
    return target, st


def _create_beside(target, st):
    """(fd, name) of a new file beside target, with the mode the final file gets: the
    existing file's mode (and, where allowed, its owner), or 0666 minus the umask, as
    open(target, "w") would give"""
    directory, base = os.path.split(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            # the kernel applies the umask to 0o666; over an existing file start private
            # and take its mode below, so the new file is never more open than the old
            fd = os.open(tmp, flags, 0o666 if st is None else 0o600)
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise type(exc)(exc.errno, f"cannot save to {target}: cannot create a file "
                                       f"in {directory} ({exc.strerror})") from None
    else:  # pragma: no cover - 100 collisions of 48 random bits
        raise FileExistsError(f"cannot save to {target}: no free temporary name")
    if st is not None:
        try:
            try:
                if hasattr(os, "fchown") and (st.st_uid, st.st_gid) != (os.getuid(),
                                                                        os.getgid()):
                    os.fchown(fd, st.st_uid, st.st_gid)  # root, or a group of the user's
            except OSError:
                pass
            if hasattr(os, "fchmod"):
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
    return fd, tmp


def atomic_write(path, write):
    """call write(file object) on a new file beside path's target, then rename it over the
    target (check_save_path: symlinks followed, only regular files replaced). The file
    gets the mode a plain open() gives (0666 minus the umask) or keeps the existing
    file's mode."""
    target, st = check_save_path(path)
    fd, tmp = _create_beside(target, st)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_directory(os.path.dirname(target))


def save(net, path, include_optimizer=True):
    """write net to path (see the module docstring for the format)"""
    from . import __version__

    opt = net._optimizer if include_optimizer else None
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "barenet_version": __version__,
        "kind": type(net).__name__,
    }
    if header["kind"] == "NeuralNetwork":
        header.update(layer_sizes=list(net.layer_sizes), activation=net.activation,
                      output_activation=net.output_activation, dropout=net.dropout)
    else:
        header.update(input_shape=list(net.input_shape),
                      layers=[{"type": type(layer).__name__, **layer.config()}
                              for layer in net.layers])
    if header["kind"] == "Model":  # the graph: each layer's inputs (-1: the model input)
        header["inputs"] = [list(parents) for parents in net.edges]
    header.update({
        "loss": net.loss_name,
        "l1": net.l1,
        "l2": net.l2,
        "dtype": net.dtype.name,
        "seed": net.seed,
        "epochs_done": net._epochs_done,
        "stream_seed": net._stream_seed,
        "optimizer": None,
        "optimizer_name": None,
    })
    arrays = {"params": net._params}
    if net._state.size:  # running statistics (BatchNormalization)
        arrays["state"] = net._state
    if opt is not None:
        state = opt.state_dict()
        header["optimizer"] = {k: v for k, v in state.items()
                               if k not in ("state1", "state2")}
        header["optimizer_name"] = net._optimizer_name
        for key in ("state1", "state2"):
            if key in state:
                arrays[f"optimizer_{key}"] = state[key]
    raw = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, header=raw, **arrays))


def _fail(path, message):
    raise ModelFileError(f"{os.fspath(path)}: {message}")


def _read_header(path):
    """(the header member, {member name: ZipInfo}); nothing large is read"""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such model file: {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {info.filename: info for info in zf.infolist()}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        # NotImplementedError: a zip "version needed" beyond what zipfile reads
        _fail(path, f"not a barenet model file (not a readable .npz archive: {exc})")
    if "header.npy" not in infos:
        _fail(path, "not a barenet model file (no header; a foreign .npz archive?)")
    if infos["header.npy"].file_size > 1 << 20:
        _fail(path, "the header is implausibly large")
    try:
        with np.load(path, allow_pickle=False) as data:
            return data["header"], infos
    except Exception as exc:  # BadZipFile (CRC), ValueError (pickled objects), EOFError, ...
        _fail(path, f"damaged or not a barenet model file ({type(exc).__name__}: {exc})")


def _read_array(path, name, infos, expected_bytes, dtype):
    info = infos.get(f"{name}.npy")
    if info is None:
        _fail(path, f"the member {name!r} is missing")
    if info.file_size > expected_bytes + _NPY_HEADER_MAX:
        _fail(path, f"the member {name!r} is larger than the header says it can be")
    try:
        with np.load(path, allow_pickle=False) as data:
            arr = data[name]
    except Exception as exc:
        _fail(path, f"the member {name!r} is damaged ({type(exc).__name__}: {exc})")
    if arr.dtype != dtype or arr.ndim != 1 or arr.nbytes != expected_bytes:
        _fail(path, f"the member {name!r} must be a 1-D {dtype} array of "
                    f"{expected_bytes // dtype.itemsize} values; got {arr.dtype} {arr.shape}")
    if not np.isfinite(arr).all():
        _fail(path, f"the member {name!r} contains NaN or infinity")
    return arr


def _layers_from_header(path, header):
    """the layers a header describes, built (no parameters allocated): a Sequential's list,
    or a Model's graph (its Input node and output node are kept in _graph_of)"""
    from . import layers as _layers
    from .network import _check_input_shape, build_layers

    specs = header["layers"]
    if not isinstance(specs, list) or not all(isinstance(d, dict) for d in specs):
        _fail(path, "the header's layers must be a list of objects")
    made = []
    for i, spec in enumerate(specs):
        kind = spec.get("type")
        if kind not in _layers.KINDS:
            _fail(path, f"the header's layers[{i}] has an unknown type {kind!r}")
        args = {k: v for k, v in spec.items() if k != "type"}
        positional = {"Dense": ("units",), "Conv2D": ("filters", "kernel_size")}
        try:
            made.append(_layers.KINDS[kind](*[args.pop(k) for k in positional.get(kind, ())],
                                            **args))
        except (KeyError, TypeError, ValueError) as exc:
            _fail(path, f"the header's layers[{i}] ({kind}) is invalid: {exc}")
    if header["kind"] == "Model":
        return _graph_from_header(path, header, made)
    try:
        return build_layers(made, _check_input_shape(header["input_shape"]))
    except (TypeError, ValueError) as exc:
        _fail(path, f"the header describes an invalid network: {exc}")


def _graph_from_header(path, header, made):
    """a Model's layers, called on each other as the header's inputs say; returns
    (the layers in the model's order, the input node, the output node)"""
    from .graph import Input, dependency_order_check, topological

    edges = header.get("inputs")
    if not isinstance(edges, list) or len(edges) != len(made) or not all(
            isinstance(e, list) and e and all(type(p) is int for p in e) for e in edges):
        _fail(path, "the header's inputs must be a list of integer lists, one per layer")
    try:
        dependency_order_check(made, edges)
        x = Input(header["input_shape"])
        nodes = []
        for layer, parents in zip(made, edges):
            args = [x if p < 0 else nodes[p] for p in parents]
            nodes.append(layer(args if layer.max_inputs > 1 else args[0]))
        order, _ = topological(x, nodes[-1])
    except (TypeError, ValueError) as exc:
        _fail(path, f"the header describes an invalid graph: {exc}")
    if len(order) != len(made) or any(a is not b for a, b in zip(order, made)):
        _fail(path, "the header's layers are not the graph's layers in its order (a layer "
                    "the output does not depend on, or a different order)")
    return made, x, nodes[-1]


def _check_params_fit(path, header, infos):
    """refuse a header whose network would not fit the params member before allocating
    it: a tiny file must not make load allocate gigabytes. Returns the built layers of a
    Sequential (None for a NeuralNetwork)."""
    layers = None
    if header["kind"] in ("Sequential", "Model"):
        layers = _layers_from_header(path, header)
        built = layers[0] if header["kind"] == "Model" else layers
        n_params, what = sum(layer.n_params for layer in built), "layers"
    else:
        try:
            sizes = check_layer_sizes(header["layer_sizes"])
        except (TypeError, ValueError) as exc:
            _fail(path, f"the header describes an invalid network: {exc}")
        n_params = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
        what = f"layer_sizes {list(sizes)}"
    info = infos.get("params.npy")
    if info is None:
        _fail(path, "the member 'params' is missing")
    # a lower bound that any dtype meets (one byte a value); _read_array checks exactly
    stored = os.path.getsize(path) if info.compress_type == zipfile.ZIP_STORED else n_params
    if n_params > min(info.file_size, stored):
        _fail(path, f"the header's {what} need {n_params} parameters; "
                    f"the member 'params' is too small to hold them")
    return layers


def load(path, backend=None):
    """the network saved at path, on the given backend (default: BARENET_BACKEND / auto)"""
    from .network import Model, NeuralNetwork, Sequential
    from .optimizers import optimizer_from_state_dict

    raw, infos = _read_header(path)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        _fail(path, "the header must be a 1-D uint8 array")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(path, f"the header is not valid JSON ({exc})")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        _fail(path, f"not a barenet model file (format is {header.get('format')!r} "
                    f"where {FORMAT!r} was expected)" if isinstance(header, dict)
              else "the header is not a JSON object")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        _fail(path, f"the format version must be a positive integer; got {version!r}")
    if version > FORMAT_VERSION:
        _fail(path, f"written by a newer barenet (format version {version}; this barenet "
                    f"{__import__('barenet').__version__} reads up to version "
                    f"{FORMAT_VERSION}); upgrade barenet to load it")
    kind = header.get("kind")
    if kind not in ("NeuralNetwork", "Sequential", "Model"):
        _fail(path, f"holds a {kind!r}, not a NeuralNetwork, Sequential or Model")
    required = (("layer_sizes", "activation", "output_activation", "dropout")
                if kind == "NeuralNetwork" else ("input_shape", "layers")
                + (("inputs",) if kind == "Model" else ()))
    required += ("loss", "l1", "l2", "dtype", "seed", "epochs_done", "stream_seed")
    missing = [k for k in required if k not in header]
    if missing:
        _fail(path, f"the header is missing {', '.join(missing)}")
    layers = _check_params_fit(path, header, infos)
    settings = dict(loss=header["loss"], l1=header["l1"], l2=header["l2"],
                    dtype=header["dtype"], seed=header["seed"], backend=backend)
    try:
        if kind == "NeuralNetwork":
            net = NeuralNetwork(header["layer_sizes"], activation=header["activation"],
                                output_activation=header["output_activation"],
                                dropout=header["dropout"], **settings)
        elif kind == "Model":
            net = Model(layers[1], layers[2], **settings)
        else:
            net = Sequential(layers, input_shape=header["input_shape"], **settings)
    except (TypeError, ValueError) as exc:
        _fail(path, f"the header describes an invalid network: {exc}")
    # the C core counts epochs and optimizer steps in int64 (seeds are uint64): bounds
    # that leave room to keep training
    limits = {"epochs_done": 2**62, "stream_seed": 2**64}
    for key in ("epochs_done", "stream_seed"):
        value = header[key]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or not 0 <= value < limits[key]):
            _fail(path, f"the header's {key} must be a non-negative integer < "
                        f"{limits[key]}; got {value!r}")
    if header["epochs_done"] is None:
        _fail(path, "the header's epochs_done must be a non-negative integer; got None")
    nbytes = net.n_params * net.dtype.itemsize
    net._params[...] = _read_array(path, "params", infos, nbytes, net.dtype)
    if net._state.size:
        net._state[...] = _read_array(path, "state", infos,
                                      net._state.size * net.dtype.itemsize, net.dtype)
    net._epochs_done = header["epochs_done"]
    net._stream_seed = header["stream_seed"]
    opt_header = header.get("optimizer")
    if opt_header is not None:
        if not isinstance(opt_header, dict):
            _fail(path, "the header's optimizer must be an object")
        state = dict(opt_header)
        for key in ("state1", "state2"):
            if f"optimizer_{key}.npy" in infos:
                state[key] = _read_array(path, f"optimizer_{key}", infos, nbytes, net.dtype)
        try:
            opt = optimizer_from_state_dict(state)
        except (TypeError, ValueError) as exc:
            _fail(path, f"the optimizer state is invalid: {exc}")
        if opt.step >= 2**62:
            _fail(path, f"the optimizer's step must be < {2**62}; got {opt.step}")
        arrays = opt.state_arrays()
        if arrays is not None and any(a is not None and a.shape != (net.n_params,)
                                      for a in arrays):
            _fail(path, "the optimizer state does not match the network's parameters")
        name = header.get("optimizer_name")
        if name is not None and not isinstance(name, str):
            _fail(path, "the header's optimizer_name must be a string or null")
        net._optimizer, net._optimizer_name = opt, name
    return net
