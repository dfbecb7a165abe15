"""Saving and loading networks in barenet's model format: a .npz (zip) archive, opened with
allow_pickle=False so that loading can never run code, holding::

    header             uint8: UTF-8 JSON {"format": "barenet.model", "version": 1, "kind":
                       "NeuralNetwork", "Sequential" or "Model", the network's settings
                       (layer_sizes and activations, or the layer list with each layer's
                       type and arguments and the input shape, and for a Model "inputs":
                       each layer's input indices, -1 for the model input), the training
                       position, the optimizer settings, and "vocabulary" when the model
                       has one (barenet.text.Vocabulary.to_config)}
    params             (n_params,) float32/float64: the flat parameter buffer
    optimizer_state1   optional, (n_params,): the optimizer's first state buffer
    optimizer_state2   optional, (n_params,): its second (Adam's v)
    state              when the network has any, (n_state,): what layers keep that is not
                       trained (BatchNormalization's running mean and variance)

save(..., format="safetensors") writes the same description and arrays as a safetensors
file instead (the section "safetensors" below); load reads either.

Writes are atomic (temporary file in the same directory, flush, fsync, rename), so a crash
never leaves a damaged file where a good one was; a symlink is followed (its target is
replaced), a directory, FIFO or device is refused, and the file gets the mode open() would
give (or keeps the existing file's). Loading checks everything and raises
ModelFileError (a ValueError) naming the file and what is wrong."""

import json
import os
import re
import secrets
import stat
import zipfile
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from ._typing import PathLike
from ._validation import check_layer_sizes

if TYPE_CHECKING:
    from .network import Sequential

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


FORMATS = ("npz", "safetensors")


def describe(net: Any, include_optimizer: bool = True) -> Any:
    """(header, arrays) of net as both formats store it: the JSON-able description (see the
    module docstring) and the flat arrays params, state (if any), optimizer_state1/2 (if
    any)"""
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
    vocabulary = net.vocabulary  # barenet.text.Vocabulary or None (checked when set)
    if vocabulary is not None:
        header["vocabulary"] = vocabulary.to_config()
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
    return header, arrays


def save(net: Any, path: PathLike, include_optimizer: bool = True,
         format: str = "npz") -> None:
    """write net to path in format "npz" (see the module docstring) or "safetensors"
    (the section "safetensors" below)"""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}; got {format!r}")
    if format == "safetensors":
        _save_safetensors(net, path, include_optimizer)
        return
    header, arrays = describe(net, include_optimizer)
    raw = np.frombuffer(header_bytes(net, header, path), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, header=raw, **arrays))


def header_bytes(net, header, path):
    """the header as UTF-8 JSON; ValueError when it is over HEADER_MAX_BYTES, since load
    would refuse the file (both formats)"""
    raw = json.dumps(header).encode("utf-8")
    if len(raw) > HEADER_MAX_BYTES:  # load would refuse the file: refuse to write it
        vocabulary = net.vocabulary
        what = (f" (its vocabulary of {len(vocabulary)} ids takes "
                f"{len(json.dumps(header['vocabulary']).encode('utf-8'))} bytes: build it "
                "with max_size or min_count)" if vocabulary is not None else "")
        raise ValueError(f"cannot save to {_name(path)}: the model's header would take "
                         f"{len(raw)} bytes, over the {HEADER_MAX_BYTES} that load "
                         f"accepts{what}")
    return raw


# What load accepts (README "Limits of model files"); beyond these a file is refused with
# ModelFileError before anything large is read or allocated
HEADER_MAX_BYTES = 1 << 20  # the JSON header
HEADER_MAX_DEPTH = 32       # nesting of its arrays and objects (a real header nests 4 deep)
HEADER_MAX_DIGITS = 64      # digits of an integer in it (seeds have at most 20)
# deflate cannot expand data more than 1032-fold (RFC 1951: a 258-byte match per 2 bits at
# best): a deflated member declaring more than that over its compressed size is a lie
_DEFLATE_MAX_RATIO = 1032


def _name(path):
    return os.fsdecode(path)


def _fail(path, message):
    raise ModelFileError(f"{_name(path)}: {message}")


def _open_regular(path):
    """(binary file object, size in bytes) of the regular file at path. A directory,
    device (/dev/zero), FIFO or socket is refused without reading from it: opened
    non-blocking, so that a FIFO without a writer cannot hang the open either."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such model file: {_name(path)}") from None
    except OSError as exc:  # a directory on Windows, no permission, ...
        _fail(path, f"cannot be opened ({exc.strerror or exc})")
    except ValueError as exc:  # an embedded NUL
        _fail(path, f"is not a usable path ({exc})")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            _fail(path, "is not a regular file (a directory, device, FIFO or socket); "
                        "models are loaded from regular files only")
        return os.fdopen(fd, "rb"), st.st_size
    except BaseException:
        os.close(fd)
        raise


def _check_declared_sizes(path, info, file_size):
    """refuse a zip member whose declared sizes do not agree with the file's real size:
    its data must lie inside the file, and its uncompressed size must be reachable from its
    compressed size (equal when stored, at most _DEFLATE_MAX_RATIO times when deflated)"""
    name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
    if info.header_offset + info.compress_size > file_size:
        _fail(path, f"the member {name!r} declares {info.compress_size} bytes beyond the "
                    f"end of the file ({file_size} bytes; truncated?)")
    if info.compress_type == zipfile.ZIP_STORED:
        plausible, how = info.file_size == info.compress_size, "stored bytes"
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        # (+ 64: slack for a tiny member, whose stream has a few bytes of framing)
        plausible = info.file_size <= _DEFLATE_MAX_RATIO * info.compress_size + 64
        how = f"deflated bytes (deflate expands at most {_DEFLATE_MAX_RATIO}-fold)"
    else:
        _fail(path, f"the member {name!r} uses zip compression method {info.compress_type}; "
                    "barenet reads stored and deflated members (np.savez, "
                    "np.savez_compressed)")
    if not plausible:
        _fail(path, f"the member {name!r} declares {info.file_size} bytes, which its "
                    f"{info.compress_size} {how} cannot hold")


def _read_member(path, zf, infos, file_size, name, dtype, count=None, max_count=None):
    """the 1-D array of dtype stored as name.npy: exactly `count` values, or at most
    max_count. Every size the member declares (zip directory, .npy header) is checked
    against the file and the expected size before its data is read, and only that many
    bytes are read: a small file cannot make load allocate much."""
    info = infos.get(f"{name}.npy")
    if info is None:
        _fail(path, f"the member {name!r} is missing")
    limit = (count if count is not None else max_count) * dtype.itemsize
    if info.file_size > limit + _NPY_HEADER_MAX:
        _fail(path, f"the member {name!r} is larger than the header says it can be")
    _check_declared_sizes(path, info, file_size)
    try:
        with zf.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version not in ((1, 0), (2, 0), (3, 0)):
                raise ValueError(f".npy format version {version} is unknown")
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, stored_dtype = read_header(member, max_header_size=_NPY_HEADER_MAX)
            values = shape[0] if len(shape) == 1 else -1
            fits = values == count if count is not None else 0 <= values <= max_count
            if stored_dtype != dtype or not fits:
                _fail(path, f"damaged or not a barenet model file: the member {name!r} "
                            f"must be a 1-D {dtype} array of "
                            + (f"{count} values" if count is not None
                               else f"at most {max_count} values")
                            + f"; got {stored_dtype} {tuple(shape)}")
            nbytes = values * dtype.itemsize
            data = member.read(nbytes)
            # reading past the end makes zipfile check the CRC (BadZipFile below)
            if len(data) != nbytes or member.read(1):
                _fail(path, f"the member {name!r} is damaged (its data is "
                            f"{'shorter' if len(data) < nbytes else 'longer'} than its "
                            ".npy header says)")
    except ModelFileError:
        raise
    except Exception as exc:  # BadZipFile (CRC), ValueError (.npy header), zlib.error, ...
        _fail(path, f"the member {name!r} is damaged ({type(exc).__name__}: {exc})")
    arr = np.frombuffer(data, dtype=dtype).copy()
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        _fail(path, f"the member {name!r} contains NaN or infinity")
    return arr


def _parse_int(text):
    digits = len(text) - text.startswith("-")
    if digits > HEADER_MAX_DIGITS:
        raise ValueError(f"an integer of {digits} digits (at most {HEADER_MAX_DIGITS})")
    return int(text)


def _json_depth(raw):
    """the deepest nesting of arrays and objects in the JSON text raw (bytes), strings left
    out; counted before parsing, so that deep nesting is refused without recursing"""
    # an unterminated string runs to the end: every quote then starts a match, so the
    # scan stays linear (a pattern requiring the closing quote retries from every quote
    # of '"\"\"\"...' and is quadratic)
    outside = re.sub(rb'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', b"", raw, flags=re.DOTALL)
    codes = np.frombuffer(outside, dtype=np.uint8)
    steps = (np.isin(codes, (ord("["), ord("{"))).astype(np.int64)
             - np.isin(codes, (ord("]"), ord("}"))))
    return int(np.cumsum(steps).max(initial=0))


def _parse_header(path, raw):
    """the header's JSON object, with its size, nesting and integers bounded"""
    raw = raw.tobytes()
    depth = _json_depth(raw)
    if depth > HEADER_MAX_DEPTH:
        _fail(path, f"the header nests {depth} levels deep (at most {HEADER_MAX_DEPTH})")
    try:
        header = json.loads(raw.decode("utf-8"), parse_int=_parse_int)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError too
        _fail(path, f"the header is not valid JSON or exceeds its limits ({exc})")
    if not isinstance(header, dict):
        _fail(path, "the header is not a JSON object")
    return header


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
        if not isinstance(kind, str) or kind not in _layers.KINDS:
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


def _network_size(path, header):
    """(built layers of a Sequential or None, parameter count, parameter dtype) of the
    network the header describes, without allocating it"""
    from ._validation import check_dtype

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
    try:
        dtype = np.dtype(check_dtype(header["dtype"]).name)  # native byte order
    except (TypeError, ValueError) as exc:
        _fail(path, f"the header describes an invalid network: {exc}")
    return layers, n_params, dtype, what


def load(path: Union[PathLike, bytes], backend: Optional[str] = None) -> "Sequential":
    """The network saved at path, on the given backend (default: BARENET_BACKEND / auto):
    a barenet .npz (a zip archive) or a safetensors file written by save(format=
    "safetensors"), told apart by their first bytes.

    path is a str, bytes or os.PathLike naming a regular file (TypeError otherwise).
    Raises FileNotFoundError when there is no such file, and ModelFileError (a ValueError)
    naming the file for anything else: not a regular file (a directory, device, FIFO),
    not a barenet model, damaged, truncated, written by a newer barenet, or beyond the
    limits: a header over HEADER_MAX_BYTES, nested deeper than HEADER_MAX_DEPTH or with
    an integer of more than HEADER_MAX_DIGITS digits, a layer beyond
    barenet.layers.MAX_SAMPLE_VALUES, or members whose declared sizes do not agree with
    the file's. Sizes are checked before anything large is read or allocated, so memory
    use is bounded by the file's real size; loading never runs code from the file."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str, bytes or os.PathLike; got {type(path).__name__}")
    path = os.fspath(path)
    f, file_size = _open_regular(path)
    with f:
        if f.read(2) != b"PK":   # not a zip (.npz): a safetensors file, or nothing
            return _load_safetensors(path, f, file_size, backend)
        f.seek(0)
        try:
            zf = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            # NotImplementedError: a zip "version needed" beyond what zipfile reads
            _fail(path, f"not a barenet model file (not a readable .npz archive: {exc})")
        with zf:
            return _load(path, zf, file_size, backend)


def check_header(path, header):
    """the kind ("NeuralNetwork", "Sequential" or "Model") of a parsed header whose format,
    version, kind and required keys are checked (ModelFileError otherwise)"""
    if header.get("format") != FORMAT:
        _fail(path, f"not a barenet model file (format is {header.get('format')!r} "
                    f"where {FORMAT!r} was expected)")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        _fail(path, f"the format version must be a positive integer; got {version!r}")
    if version > FORMAT_VERSION:
        _fail(path, f"written by a newer barenet (format version {version}; this barenet "
                    f"{__import__('barenet').__version__} reads up to version "
                    f"{FORMAT_VERSION}); upgrade barenet to load it")
    kind = header.get("kind")
    if not isinstance(kind, str) or kind not in ("NeuralNetwork", "Sequential", "Model"):
        _fail(path, f"holds a {kind!r}, not a NeuralNetwork, Sequential or Model")
    required = (("layer_sizes", "activation", "output_activation", "dropout")
                if kind == "NeuralNetwork" else ("input_shape", "layers")
                + (("inputs",) if kind == "Model" else ()))
    required += ("loss", "l1", "l2", "dtype", "seed", "epochs_done", "stream_seed")
    missing = [k for k in required if k not in header]
    if missing:
        _fail(path, f"the header is missing {', '.join(missing)}")
    return kind


def network_size(path, header):
    """(built layers as _network_size gives them, parameter count, state count, dtype,
    what) of a checked header, nothing allocated"""
    layers, n_params, dtype, what = _network_size(path, header)
    built = () if layers is None else layers[0] if header["kind"] == "Model" else layers
    return layers, n_params, sum(layer.n_state for layer in built), dtype, what


def make_network(path, header, layers, dtype, backend):
    """the network a checked header describes (parameters at their initial values)"""
    from .network import Model, NeuralNetwork, Sequential
    kind = header["kind"]
    settings = dict(loss=header["loss"], l1=header["l1"], l2=header["l2"], dtype=dtype,
                    seed=header["seed"], backend=backend)
    try:
        if kind == "NeuralNetwork":
            return NeuralNetwork(header["layer_sizes"], activation=header["activation"],
                                 output_activation=header["output_activation"],
                                 dropout=header["dropout"], **settings)
        if kind == "Model":
            return Model(layers[1], layers[2], **settings)
        return Sequential(layers, input_shape=header["input_shape"], **settings)
    except (TypeError, ValueError) as exc:
        _fail(path, f"the header describes an invalid network: {exc}")


def restore_training(path, net, header, read_optimizer_state):
    """the training position, vocabulary and optimizer of a checked header onto net;
    read_optimizer_state(key) gives the optimizer's "state1"/"state2" array or None"""
    from .optimizers import optimizer_from_state_dict
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
    vocabulary = header.get("vocabulary")
    if vocabulary is not None:
        from .text import Vocabulary
        try:
            net.vocabulary = Vocabulary.from_config(vocabulary)
        except (TypeError, ValueError) as exc:
            _fail(path, f"the header's vocabulary is invalid: {exc}")
    opt_header = header.get("optimizer")
    opt = name = None
    if opt_header is not None:
        if not isinstance(opt_header, dict):
            _fail(path, "the header's optimizer must be an object")
        state = dict(opt_header)
        for key in ("state1", "state2"):
            arr = read_optimizer_state(key)
            if arr is not None:
                state[key] = arr
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
    net._epochs_done = header["epochs_done"]
    net._stream_seed = header["stream_seed"]
    if opt is not None:
        net._optimizer, net._optimizer_name = opt, name
    return net


def _load(path, zf, file_size, backend):
    """the network of an open .npz archive"""
    infos = {info.filename: info for info in zf.infolist()}
    if "header.npy" not in infos:
        _fail(path, "not a barenet model file (no header; a foreign .npz archive?)")
    if infos["header.npy"].file_size > HEADER_MAX_BYTES + _NPY_HEADER_MAX:
        _fail(path, f"the header is implausibly large (more than {HEADER_MAX_BYTES} bytes)")
    raw = _read_member(path, zf, infos, file_size, "header", np.dtype(np.uint8),
                       max_count=HEADER_MAX_BYTES)
    header = _parse_header(path, raw)
    check_header(path, header)
    layers, n_params, n_state, dtype, what = network_size(path, header)
    info = infos.get("params.npy")
    if info is None:
        _fail(path, "the member 'params' is missing")
    if n_params > info.file_size:  # a lower bound any dtype meets; _read_member is exact
        _fail(path, f"the header's {what} need {n_params} parameters; "
                    f"the member 'params' is too small to hold them")
    # the parameters (and the layers' state, BatchNormalization's running statistics) are
    # read, bounded by the file's size, before the network is made
    params = _read_member(path, zf, infos, file_size, "params", dtype, count=n_params)
    state = (_read_member(path, zf, infos, file_size, "state", dtype, count=n_state)
             if n_state else None)
    net = make_network(path, header, layers, dtype, backend)
    net._params[...] = params
    if state is not None:
        net._state[...] = state

    def read_optimizer_state(key):
        if f"optimizer_{key}.npy" not in infos:
            return None
        return _read_member(path, zf, infos, file_size, f"optimizer_{key}", dtype,
                            count=n_params)
    return restore_training(path, net, header, read_optimizer_state)


# -- safetensors ---------------------------------------------------------------------------
# The safetensors layout, read and written here without the safetensors package: an 8-byte
# little-endian unsigned header length L, L bytes of UTF-8 JSON (padded with spaces to a
# multiple of 8), then the data buffer. The JSON maps each tensor's name to {"dtype": "F32"
# or "F64", "shape": [...], "data_offsets": [begin, end]} (byte offsets into the data
# buffer, which the tensors cover exactly, in order, without gaps or overlaps; values
# little-endian, C order) and "__metadata__" to string -> string. barenet stores:
#   __metadata__   {"format": "barenet.model", "barenet": the .npz format's JSON header}
#   layers.<i>.weight, layers.<i>.bias     the parameters of model.layers[i] in barenet's
#                  layout (Dense weight (in, out), bias (1, out); Conv2D weight
#                  (KH, KW, C, F), bias (F,); normalisation gamma and beta (C,) as
#                  weight and bias); a layer without bias has no .bias
#   layers.<i>.running_mean, .running_var  BatchNormalization's running statistics
#                  (layers.<i>.state<j> for the state of another kind)
#   optimizer.state1, optimizer.state2     the optimizer's state buffers (n_params,), when
#                  saved with include_optimizer=True
# Loading checks the whole tensor table against the file's size before reading any data,
# and the names, dtypes and shapes against the network the metadata describes before
# allocating it, so a file cannot make load allocate much more than its own size.

_ST_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
_ST_NAMES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64"}
SAFETENSORS_HEADER_MAX_BYTES = 2 * HEADER_MAX_BYTES   # the tensor table and the metadata


def _state_names(layer, count):
    from .layers import BatchNormalization
    if isinstance(layer, BatchNormalization):
        return ("running_mean", "running_var")
    return tuple(f"state{j}" for j in range(count))


def _named_tensors(net, arrays):
    """{name: array view} of net's parameters, state and the optimizer's arrays"""
    tensors = {}
    k = 0
    for i, (layer, st) in enumerate(zip(net.layers, net._spec.state_offsets)):
        if layer.n_params:
            tensors[f"layers.{i}.weight"] = net.weights[k]
            if net.biases[k] is not None:
                tensors[f"layers.{i}.bias"] = net.biases[k]
            k += 1
        if layer.n_state:
            views = layer.state_views(net._state, st)
            tensors.update({f"layers.{i}.{name}": view
                            for name, view in zip(_state_names(layer, len(views)), views)})
    for key in ("state1", "state2"):
        if f"optimizer_{key}" in arrays:
            tensors[f"optimizer.{key}"] = arrays[f"optimizer_{key}"]
    return tensors


def _save_safetensors(net, path, include_optimizer):
    header, arrays = describe(net, include_optimizer)
    tensors = _named_tensors(net, arrays)
    table, at = {}, 0
    for name, arr in tensors.items():
        nbytes = arr.size * arr.dtype.itemsize
        table[name] = {"dtype": _ST_NAMES[arr.dtype], "shape": list(arr.shape),
                       "data_offsets": [at, at + nbytes]}
        at += nbytes
    table["__metadata__"] = {"format": FORMAT,
                             "barenet": header_bytes(net, header, path).decode("utf-8")}
    raw = json.dumps(table, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)

    def write(f):
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for arr in tensors.values():
            f.write(np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes())
    atomic_write(path, write)


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"the key {dup!r} appears twice")
    return dict(pairs)


def _safetensors_table(path, f, file_size):
    """(tensor table {name: (dtype, shape, begin, end)}, metadata dict, data start) of an
    open safetensors file, every declared size checked against the file's"""
    head = f.read(8)
    if len(head) < 8:
        _fail(path, "not a barenet model file (neither an .npz archive nor a safetensors "
                    "file: too short)")
    length = int.from_bytes(head, "little")
    if length > SAFETENSORS_HEADER_MAX_BYTES:
        _fail(path, f"not a barenet model file (neither an .npz archive nor a safetensors "
                    f"file whose header is at most {SAFETENSORS_HEADER_MAX_BYTES} bytes: it "
                    f"declares {length})")
    if 8 + length > file_size:
        _fail(path, f"the safetensors header declares {length} bytes; the file holds "
                    f"{file_size - 8} after the length (truncated?)")
    raw = f.read(length)
    if len(raw) != length:
        _fail(path, "the file is shorter than its size said (changed while read?)")
    depth = _json_depth(raw)
    if depth > HEADER_MAX_DEPTH:
        _fail(path, f"the safetensors header nests {depth} levels deep (at most "
                    f"{HEADER_MAX_DEPTH})")
    try:
        table = json.loads(raw.decode("utf-8"), parse_int=_parse_int,
                           object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        _fail(path, "not a barenet model file (neither an .npz archive nor a safetensors "
                    f"file: its header is not valid JSON: {exc})")
    if not isinstance(table, dict):
        _fail(path, "the safetensors header is not a JSON object")
    metadata = table.pop("__metadata__", None)
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        _fail(path, "the safetensors __metadata__ must be an object of strings (it holds "
                    "barenet's model description)")
    data_size = file_size - 8 - length
    tensors = {}
    for name, entry in table.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            _fail(path, f"the safetensors entry {name!r} must be an object with dtype, shape "
                        "and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in _ST_DTYPES:
            _fail(path, f"the tensor {name!r} has dtype {dtype!r}; barenet reads "
                        f"{', '.join(_ST_DTYPES)}")
        if not isinstance(shape, list) or len(shape) > 8 or not all(
                type(d) is int and d >= 0 for d in shape):
            _fail(path, f"the tensor {name!r} has shape {shape!r}; a shape is a list of at "
                        "most 8 non-negative integers")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(
                type(v) is int for v in offsets) or not 0 <= offsets[0] <= offsets[1]:
            _fail(path, f"the tensor {name!r} has data_offsets {offsets!r}; they must be "
                        "[begin, end] with 0 <= begin <= end")
        nbytes = _ST_DTYPES[dtype].itemsize
        for d in shape:   # exact integers: a huge shape is a huge number, never a wrap
            nbytes *= d
        if offsets[1] - offsets[0] != nbytes:
            _fail(path, f"the tensor {name!r} declares shape {shape} of {dtype} ({nbytes} "
                        f"bytes) but data_offsets {offsets} ({offsets[1] - offsets[0]} "
                        "bytes)")
        tensors[name] = (_ST_DTYPES[dtype], tuple(shape), offsets[0], offsets[1])
    at = 0
    for name, (_, _, begin, end) in sorted(tensors.items(), key=lambda kv: kv[1][2:]):
        if begin != at:
            what = "overlaps the one before" if begin < at else "leaves a gap before it"
            _fail(path, f"the tensor {name!r} at bytes {begin}..{end} {what} (the tensors "
                        "must cover the data buffer in order, without gaps or overlaps)")
        at = end
    if at != data_size:
        _fail(path, f"the tensors cover {at} bytes of data; the file holds {data_size} after "
                    "the header (truncated, or trailing bytes?)")
    return tensors, metadata, 8 + length


def _load_safetensors(path, f, file_size, backend):
    f.seek(0)
    tensors, metadata, data_start = _safetensors_table(path, f, file_size)
    if metadata.get("format") != FORMAT or "barenet" not in metadata:
        _fail(path, "not a barenet model file (a safetensors file whose __metadata__ has no "
                    f"format {FORMAT!r} and barenet model description: only weights? Build "
                    "the model and copy them in)")
    text = metadata["barenet"].encode("utf-8")
    if len(text) > HEADER_MAX_BYTES:
        _fail(path, f"the model description is implausibly large (more than "
                    f"{HEADER_MAX_BYTES} bytes)")
    header = _parse_header(path, np.frombuffer(text, dtype=np.uint8))
    check_header(path, header)
    layers, n_params, n_state, dtype, what = network_size(path, header)
    optimizer = header.get("optimizer")
    optimizer_keys = [key for key in ("state1", "state2") if f"optimizer.{key}" in tensors]
    need = (n_params * (1 + len(optimizer_keys)) + n_state) * dtype.itemsize
    have = sum(end - begin for _, _, begin, end in tensors.values())
    if need > have:   # before the network is allocated
        _fail(path, f"the header's {what} need {n_params} parameters and {n_state} state "
                    f"values ({need} bytes in {dtype}, with the optimizer's state if saved); the "
                    f"file's tensors hold {have} bytes")
    net = make_network(path, header, layers, dtype, backend)
    arrays = {f"optimizer_{key}": np.empty(n_params, dtype) for key in optimizer_keys}
    expected = _named_tensors(net, arrays)
    extra = [name for name in tensors if name not in expected]
    missing = [name for name in expected if name not in tensors]
    if extra or missing or (optimizer_keys and not isinstance(optimizer, dict)):
        _fail(path, "the tensors do not match the network the metadata describes: "
                    + "; ".join(filter(None, [
                        f"missing {missing}" if missing else "",
                        f"unexpected {extra}" if extra else "",
                        "optimizer state without optimizer settings"
                        if optimizer_keys and not isinstance(optimizer, dict) else ""])))
    for name, view in expected.items():
        stored, shape, begin, end = tensors[name]
        if stored != view.dtype.newbyteorder("<") or shape != view.shape:
            _fail(path, f"the tensor {name!r} must be {_ST_NAMES[view.dtype]} {view.shape} for "
                        f"this network; got {_ST_NAMES[np.dtype(stored.newbyteorder('='))]} "
                        f"{shape}")
        f.seek(data_start + begin)
        data = f.read(end - begin)
        if len(data) != end - begin:
            _fail(path, "the file is shorter than its size said (changed while read?)")
        values = np.frombuffer(data, dtype=stored)
        if not np.isfinite(values).all():
            _fail(path, f"the tensor {name!r} contains NaN or infinity")
        view[...] = values.reshape(shape)
    return restore_training(path, net, header, lambda key: arrays.get(f"optimizer_{key}"))
