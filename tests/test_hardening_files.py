"""Issue 16, items 1, 3 and 12 (file side): layer sizes computed with overflow checks and
bounded (barenet.layers.MAX_SAMPLE_VALUES; csrc/checked.h in C), and load refusing what
does not fit before allocating it: declared zip sizes, non-regular files, deep or huge
JSON. Every case that used to crash the interpreter runs in a subprocess, on both
backends."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import barenet
from barenet import ModelFileError, NeuralNetwork, Sequential
from barenet.layers import MAX_SAMPLE_VALUES, AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D

from conftest import compiled_available

BACKENDS = ["numpy", "compiled"]


def run_python(code, timeout=120):
    """run code in a fresh interpreter; (returncode, stdout, stderr)"""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def require(backend):
    if backend == "compiled" and not compiled_available():
        if os.environ.get("BARENET_BACKEND", "").lower() == "compiled":
            pytest.fail("compiled backend required")
        pytest.skip("the compiled extension is not available")


def small_cnn(backend="numpy"):
    return Sequential([Conv2D(2, 3, activation="relu"), MaxPool2D(2), Flatten(), Dense(1)],
                      input_shape=(1, 6, 6), seed=0, backend=backend)


def rewrite(src, dst, change_header=None, **arrays):
    """copy the model file src to dst with its header changed by change_header(header) and
    the given arrays replaced"""
    with np.load(src) as data:
        members = dict(data)
    header = json.loads(members["header"].tobytes())
    if change_header is not None:
        change_header(header)
    members["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    members.update(arrays)
    np.savez(dst, **members)
    return dst


# ------------------------------------------------------------------ item 1: layer sizes
ISSUE_LAYERS = ("[Conv2D(1, 1, padding=2**31 - 1), MaxPool2D(2 + 2 * (2**31 - 1)), "
                "Flatten(), Dense(1)]")


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_issues_segfaulting_network_is_a_value_error(backend):
    """issue 16 item 1: this network's activation sizes wrapped in int64 and the compiled
    predict died of SIGSEGV; now its padding is refused when the layer is made"""
    require(backend)
    code, out, err = run_python(f"""
        import numpy as np
        from barenet import Sequential
        from barenet.layers import Conv2D, Dense, Flatten, MaxPool2D
        try:
            net = Sequential({ISSUE_LAYERS}, input_shape=(1, 2, 2), backend={backend!r})
            net.predict(np.ones((1, 4)))
        except ValueError as exc:
            print("ValueError:", exc)
        """)
    assert code == 0, err
    assert "ValueError: Conv2D(1, 1): padding must be an int >= 0 and <= 134217728" in out


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_issues_network_from_a_model_file_is_a_model_file_error(backend, tmp_path):
    """the same geometry written into a model file (4 parameters: it fits the file) is
    refused by load, naming the file, before any prediction can run"""
    require(backend)
    small_cnn().save(tmp_path / "m.npz")

    def issue_layers(header):
        header["input_shape"] = [1, 2, 2]
        header["layers"] = [
            {"type": "Conv2D", "filters": 1, "kernel_size": [1, 1], "stride": [1, 1],
             "padding": [2**31 - 1, 2**31 - 1], "activation": "identity", "use_bias": True},
            {"type": "MaxPool2D", "pool_size": [2**32, 2**32], "stride": [2**32, 2**32]},
            {"type": "Flatten"},
            {"type": "Dense", "units": 1, "activation": "sigmoid", "use_bias": True}]
    path = rewrite(tmp_path / "m.npz", tmp_path / "issue.npz", issue_layers,
                   params=np.zeros(4))
    code, out, err = run_python(f"""
        import numpy as np
        import barenet
        try:
            net = barenet.Sequential.load({str(path)!r}, backend={backend!r})
            net.predict(np.ones((1, 4)))
        except barenet.ModelFileError as exc:
            print("ModelFileError:", exc)
        """)
    assert code == 0, err
    assert f"ModelFileError: {path}: the header's layers[0] (Conv2D) is invalid" in out
    assert "padding must be an int >= 0 and <= 134217728" in out


# a network whose every argument is in range, but whose convolution would unfold a 2x2
# input padded to 16,384 x 16,384 into 2**52 values per sample (2**64 bytes in float32)
HUGE_UNFOLD = "[Conv2D(1, 2**13, padding=2**13 - 1), Flatten(), Dense(1)]"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_layer_beyond_the_size_bound_is_refused_naming_it(backend):
    require(backend)
    code, out, err = run_python(f"""
        import numpy as np
        from barenet import Sequential
        from barenet.layers import Conv2D, Dense, Flatten
        try:
            net = Sequential({HUGE_UNFOLD}, input_shape=(1, 2, 2), backend={backend!r})
            net.predict(np.ones((1, 4)))
        except ValueError as exc:
            print("ValueError:", exc)
        """)
    assert code == 0, err
    assert "(layer 0): its zero-padded input would hold 268435456 values per sample" in out
    assert "barenet.layers.MAX_SAMPLE_VALUES" in out


@pytest.mark.parametrize("make, what", [
    (lambda: Sequential([Conv2D(1, 3), Flatten(), Dense(1)], input_shape=(1, 2**14, 2**14)),
     "input would hold 268435456"),
    (lambda: Sequential([Conv2D(1, 2**12, padding=2**12 - 1), Flatten(), Dense(1)],
                        input_shape=(1, 2, 2)),
     r"unfolded input \(OH OW KH KW C\) would hold 281612432441344"),
    (lambda: Sequential([Conv2D(2**10, 1, padding=2**9), Flatten(), Dense(1)],
                        input_shape=(1, 2, 2)),
     "output would hold 1077940224"),
    (lambda: Sequential([Flatten(), Dense(2**27), Dense(2**27)], input_shape=(1, 2, 2)),
     "more than any process can address"),  # every size in bound, but 2**54 parameters
    (lambda: NeuralNetwork([2**28, 1]), "Dense.*input would hold 268435456"),
])
def test_sizes_beyond_the_bound_are_value_errors(make, what):
    if what is None:
        with pytest.raises((ValueError, MemoryError)):
            make()
        return
    with pytest.raises(ValueError, match=what):
        make()


@pytest.mark.parametrize("make, argument", [
    (lambda: Conv2D(2, 3, stride=2**63), "stride"),
    (lambda: Conv2D(2, 3, stride=(1, 2**64)), "stride"),
    (lambda: Conv2D(2, 2**31), "kernel_size"),
    (lambda: Conv2D(2**40, 3), "filters"),
    (lambda: Conv2D(2, 3, padding=2**63), "padding"),
    (lambda: MaxPool2D(2**63), "pool_size"),
    (lambda: AvgPool2D(2, stride=2**70), "stride"),
    (lambda: Dense(2**63), "units"),
    (lambda: Dense(np.uint64(2**63)), "units"),
])
def test_huge_layer_arguments_are_value_errors_naming_the_argument(make, argument):
    """issue 16 item 12: Conv2D(2, 3, stride=2**63) raised OverflowError (from NumPy, when
    the layer's C row was made)"""
    with pytest.raises(ValueError, match=f"{argument} must be an int >= "):
        make()


def test_the_largest_allowed_arguments_are_accepted():
    Conv2D(1, MAX_SAMPLE_VALUES, stride=MAX_SAMPLE_VALUES, padding=MAX_SAMPLE_VALUES)
    MaxPool2D(MAX_SAMPLE_VALUES)
    Dense(MAX_SAMPLE_VALUES)


@pytest.mark.parametrize("backend", BACKENDS)
def test_huge_stride_from_a_model_file_is_a_model_file_error(backend, tmp_path):
    require(backend)
    small_cnn().save(tmp_path / "m.npz")
    path = rewrite(tmp_path / "m.npz", tmp_path / "stride.npz",
                   lambda h: h["layers"][0].update(stride=[2**63, 1]))
    with pytest.raises(ModelFileError, match=r"stride\.npz: the header's layers\[0\] "
                                             r"\(Conv2D\) is invalid: .*stride must be"):
        Sequential.load(path, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_large_but_allowed_geometry_predicts_on_both_backends(backend, tmp_path):
    """a padded layer well inside the bound works, before and after save/load, and the
    backends agree"""
    require(backend)
    net = Sequential([Conv2D(1, 1, padding=300), AvgPool2D(601), Flatten(), Dense(1)],
                     input_shape=(1, 2, 2), seed=0, backend=backend)
    ref = Sequential([Conv2D(1, 1, padding=300), AvgPool2D(601), Flatten(), Dense(1)],
                     input_shape=(1, 2, 2), seed=0, backend="numpy")
    x = np.arange(4.0).reshape(1, 4)
    np.testing.assert_allclose(net.predict(x), ref.predict(x), rtol=1e-12)
    net.save(tmp_path / "padded.npz")
    loaded = Sequential.load(tmp_path / "padded.npz", backend=backend)
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


def test_c_workspace_sizes_refuse_wrapping_geometry_in_a_subprocess():
    """the C core checks every size it forms (csrc/graph.c through csrc/checked.h): the
    issue's layer rows given to C directly, bypassing Python's bounds (out_h * out_w = 2**64
    wrapped to 0 before), are refused when the network is described; a network that fits
    has workspace sizes that return -1 (ValueError) once the rows make them overflow"""
    require("compiled")
    code, out, err = run_python("""
        import numpy as np
        from barenet import _core
        def node(kind, i, **kw):
            return {"kind": kind, "first_input": i, "n_inputs": 1, "b_offset": -1, **kw}
        big = 2**32
        nodes = [
            node("conv2d", 0, in_h=2, in_w=2, in_c=1, out_h=big, out_w=big, out_c=1, kh=1,
                 kw=1, sh=1, sw=1, pad_top=big // 2 - 1, pad_left=big // 2 - 1, b_offset=1),
            node("maxpool2d", 1, in_h=big, in_w=big, in_c=1, out_h=1, out_w=1, out_c=1,
                 kh=big, kw=big, sh=big, sw=big),
            node("flatten", 2, in_h=1, in_w=1, in_c=1, out_h=1, out_w=1, out_c=1),
            node("dense", 3, in_h=1, in_w=1, in_c=1, out_h=1, out_w=1, out_c=1, w_offset=2,
                 b_offset=3)]
        inputs = np.array([-1, 0, 1, 2], dtype=np.int64)
        try:
            _core.Net(nodes, inputs, (2, 2, 1), True, "binary_crossentropy", 4)
            print("built")
        except ValueError as exc:
            print("ValueError", "does not fit in int64" in str(exc))
        wide = 2**20
        fits = [node("dense", 0, in_h=1, in_w=1, in_c=wide, out_h=1, out_w=1, out_c=2**10),
                node("dense", 1, in_h=1, in_w=1, in_c=2**10, out_h=1, out_w=1, out_c=1,
                     w_offset=2**30)]
        net = _core.Net(fits, np.array([-1, 0], dtype=np.int64), (1, 1, wide), False,
                        "binary_crossentropy", 2**30 + 2**10)
        for f in (net.predict_workspace_size, net.workspace_size):
            for rows in (1, 2**23, 2**44, 2**54):
                try:
                    print("size", f(rows))
                except ValueError as exc:
                    print("ValueError", "does not fit in int64" in str(exc))
        """)
    assert code == 0, err
    lines = [line for line in out.split("\n") if line.startswith(("size", "ValueError", "built"))]
    assert lines[0] == "ValueError True"
    # prediction: one buffer of the hidden layer's 2**10 values per row (the input, 2**20
    # wide, is read in place), so 2**54 rows overflow
    assert lines[1:5] == ["size 1024", f"size {2**33}", f"size {2**54}", "ValueError True"]
    assert lines[5].startswith("size") and lines[7:9] == ["ValueError True"] * 2


# ------------------------------------------------------ item 3: what load reads and allocates
def _zip_with_declared_size(path, members, name, declared):
    """write members ({name: .npy bytes}) deflated into the zip at path, then make the
    zip directory (local and central headers) declare `declared` uncompressed bytes for
    member `name`"""
    import zipfile
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        at = data.find(signature)
        while at >= 0:
            if data[at + name_at:at + name_at + len(encoded)] == encoded:
                data[at + size_at:at + size_at + 4] = declared.to_bytes(4, "little")
            at = data.find(signature, at + 1)
    path.write_bytes(bytes(data))


def _npy(arr, shape=None):
    """the .npy bytes of arr, optionally with another shape in its header"""
    import io
    fmt = np.lib.format
    buf = io.BytesIO()
    header = fmt.header_data_from_array_1_0(arr)
    if shape is not None:
        header["shape"] = tuple(shape)
    fmt.write_array_header_1_0(buf, header)
    return buf.getvalue() + arr.tobytes()


def _huge_declared_model(tmp_path, n_hidden=10**7):
    """the issue's ~535-byte .npz (560 bytes here): its header describes a network of
    6 * n_hidden + 1 parameters (60M for the default), its params member is nearly empty
    and deflated, and the zip directory declares the member as large as those
    parameters"""
    sizes = [4, n_hidden, 1]
    n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    net = NeuralNetwork([4, 3, 1], seed=0, backend="numpy")
    net.save(tmp_path / "small.npz")
    with np.load(tmp_path / "small.npz") as data:
        header = json.loads(data["header"].tobytes())
    header["layer_sizes"] = sizes
    raw = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    path = tmp_path / "huge-declared.npz"
    _zip_with_declared_size(path, {"header.npy": _npy(raw),
                                   "params.npy": _npy(np.zeros(1), shape=(n_params,))},
                            "params.npy", n_params * 8 + 128)
    return path, n_params


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_tiny_file_declaring_a_huge_member_is_refused_before_allocating(backend, tmp_path):
    """issue 16 item 3: load allocated and initialised all 50M parameters (516 MB) for a
    535-byte file before reading the member. Now the declared size is checked against the
    member's compressed size first; the peak of the memory Python and NumPy allocated
    during load shows that nothing large was"""
    require(backend)
    path, n_params = _huge_declared_model(tmp_path)
    assert path.stat().st_size < 1024 and n_params > 5 * 10**7
    code, out, err = run_python(f"""
        import tracemalloc
        import barenet
        tracemalloc.start()  # NumPy reports its array allocations to tracemalloc
        try:
            barenet.NeuralNetwork.load({str(path)!r}, backend={backend!r})
        except barenet.ModelFileError as exc:
            print("ModelFileError:", exc)
        print("peak MiB", tracemalloc.get_traced_memory()[1] // 2**20)
        """)
    assert code == 0, err
    assert (f"ModelFileError: {path}: the member 'params' declares {n_params * 8 + 128} "
            "bytes, which its") in out
    assert "deflated bytes (deflate expands at most 1032-fold) cannot hold" in out
    peak = int(out.split("peak MiB")[1])
    assert peak < 16  # the parameters alone would take 458 MiB


def test_a_stored_member_declaring_more_than_the_file_holds_is_refused(tmp_path):
    net = NeuralNetwork([4, 3, 1], seed=0, backend="numpy")
    net.save(tmp_path / "m.npz")
    data = bytearray((tmp_path / "m.npz").read_bytes())
    central = data.rfind(b"params.npy") - 46  # np.savez stores members uncompressed
    assert data[central:central + 4] == b"PK\x01\x02"
    data[central + 20:central + 28] = (10**9).to_bytes(4, "little") * 2  # both sizes
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"bad\.npz: the member 'params' (declares "
                                             r"1000000000 bytes|is larger than)"):
        NeuralNetwork.load(tmp_path / "bad.npz")


def test_an_npy_header_declaring_more_values_than_expected_is_refused(tmp_path):
    """the member's own .npy header is read and checked before its data: NumPy would
    allocate the declared shape first"""
    net = NeuralNetwork([4, 3, 1], seed=0, backend="numpy")
    net.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as data:
        header = data["header"]
    path = tmp_path / "bad.npz"
    _zip_with_declared_size(path, {"header.npy": _npy(header, shape=(2**40,)),
                                   "params.npy": _npy(np.zeros(19))}, "none", 0)
    with pytest.raises(ModelFileError, match=r"bad\.npz: damaged or not a barenet model "
                                             r"file: the member 'header' must be a 1-D uint8 "
                                             r"array of at most 1048576 values; got uint8 "
                                             r"\(1099511627776,\)"):
        NeuralNetwork.load(path)


@pytest.mark.parametrize("what", ["device", "fifo", "directory"])
def test_only_regular_files_are_read(what, tmp_path):
    """issue 16 item 3: load("/dev/zero") read 24 GB before it was killed; a FIFO without
    a writer would block. Each runs in a subprocess with a timeout"""
    if what == "device":
        path = "/dev/zero"
        if not os.path.exists(path):
            pytest.skip("no /dev/zero")
    elif what == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        path = str(tmp_path / "model.npz")
        os.mkfifo(path)
    else:
        path = str(tmp_path / "model.npz")
        os.mkdir(path)
    code, out, err = run_python(f"""
        import barenet
        try:
            barenet.NeuralNetwork.load({path!r})
        except barenet.ModelFileError as exc:
            print("ModelFileError:", exc)
        """, timeout=60)
    assert code == 0, err
    assert f"ModelFileError: {path}: is not a regular file" in out


def test_bytes_and_pathlike_paths_load(tmp_path):
    """issue 16 item 12: load(b"path.npz") raised AttributeError"""
    net = NeuralNetwork([3, 4, 1], seed=0, backend="numpy")
    net.save(tmp_path / "m.npz")
    for path in (os.fsencode(tmp_path / "m.npz"), str(tmp_path / "m.npz"), tmp_path / "m.npz"):
        loaded = NeuralNetwork.load(path, backend="numpy")
        np.testing.assert_array_equal(loaded.get_params(), net.get_params())
    with pytest.raises(ModelFileError, match=r"^/\S*nothing\.npz: is not a regular file"):
        os.mkdir(tmp_path / "nothing.npz")
        NeuralNetwork.load(os.fsencode(tmp_path / "nothing.npz"))
    with pytest.raises(TypeError, match="path must be a str, bytes or os.PathLike"):
        NeuralNetwork.load(3)
    with pytest.raises(ModelFileError, match="is not a usable path"):
        NeuralNetwork.load("model\0.npz")


def _with_header_text(tmp_path, text, kind="NeuralNetwork"):
    """a model file whose header member holds `text` (the JSON) verbatim"""
    net = (NeuralNetwork([3, 4, 1], seed=0, backend="numpy") if kind == "NeuralNetwork"
           else small_cnn())
    net.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as data:
        members = dict(data)
    original = members["header"].tobytes().decode()
    members["header"] = np.frombuffer(text(original).encode(), dtype=np.uint8)
    np.savez(tmp_path / "bad.npz", **members)
    return tmp_path / "bad.npz"


def test_deeply_nested_json_is_a_model_file_error_in_a_subprocess(tmp_path):
    """issue 16 item 12: a deeply nested header raised RecursionError (and the CLI printed
    a traceback); the nesting is now counted before parsing. A string full of brackets
    does not count."""
    deep = _with_header_text(tmp_path, lambda h: h[:-1] + ', "x": ' + "[" * 100000
                             + "]" * 100000 + "}")
    code, out, err = run_python(f"""
        import barenet
        try:
            barenet.NeuralNetwork.load({str(deep)!r})
        except barenet.ModelFileError as exc:
            print("ModelFileError:", exc)
        """)
    assert code == 0, err
    assert f"ModelFileError: {deep}: the header nests 100001 levels deep (at most 32)" in out
    text = _with_header_text(tmp_path, lambda h: h[:-1] + ', "x": "' + "[{" * 1000 + '\\"[["}')
    NeuralNetwork.load(text)  # brackets in strings are no nesting


def test_the_cli_reports_a_deep_header_without_a_traceback(tmp_path):
    deep = _with_header_text(tmp_path, lambda h: h[:-1] + ', "x": ' + "[" * 5000 + "]" * 5000
                             + "}")
    (tmp_path / "x.csv").write_text("1,2,3\n")
    proc = subprocess.run([sys.executable, "-m", "barenet", "predict", str(deep),
                           str(tmp_path / "x.csv"), "--out", str(tmp_path / "out.csv")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr
    assert "the header nests 5001 levels deep" in proc.stderr


@pytest.mark.parametrize("text, match", [
    (lambda h: h.replace('"epochs_done": 0', '"epochs_done": ' + "9" * 5000),
     "the header is not valid JSON or exceeds its limits .an integer of 5000 digits"),
    (lambda h: h.replace('"epochs_done": 0', '"epochs_done": ' + "9" * 65),
     "an integer of 65 digits .at most 64."),
    (lambda h: h.replace('"epochs_done": 0', '"epochs_done": -' + "9" * 65),
     "an integer of 65 digits"),
])
def test_huge_integers_in_the_header_are_model_file_errors_naming_the_file(text, match,
                                                                           tmp_path):
    """issue 16 item 12: a header integer of 4,300+ digits raised a ValueError without the
    file's name (Python's int() digit limit)"""
    path = _with_header_text(tmp_path, text)
    with pytest.raises(ModelFileError, match=rf"^{tmp_path}/bad\.npz: .*{match}"):
        NeuralNetwork.load(path)


def test_an_integer_of_64_digits_parses_and_is_then_checked(tmp_path):
    path = _with_header_text(tmp_path, lambda h: h.replace('"epochs_done": 0',
                                                           '"epochs_done": ' + "9" * 64))
    with pytest.raises(ModelFileError, match="epochs_done must be a non-negative integer"):
        NeuralNetwork.load(path)


@pytest.mark.parametrize("layer_type", [["Flatten"], {"Flatten": 1}, 3, None])
def test_a_layer_type_that_is_not_a_string_is_a_model_file_error(layer_type, tmp_path):
    """issue 16 item 12: "type": ["Flatten"] raised TypeError (unhashable list)"""
    small_cnn().save(tmp_path / "m.npz")
    path = rewrite(tmp_path / "m.npz", tmp_path / "bad.npz",
                   lambda h: h["layers"][2].update(type=layer_type))
    with pytest.raises(ModelFileError, match=r"bad\.npz: the header's layers\[2\] has an "
                                             r"unknown type"):
        Sequential.load(path)


def test_an_oversized_header_is_refused(tmp_path):
    path = _with_header_text(tmp_path, lambda h: h[:-1] + ', "x": "' + "a" * (2 << 20) + '"}')
    with pytest.raises(ModelFileError, match=r"bad\.npz: the header is implausibly large "
                                             r"\(more than 1048576 bytes\)"):
        NeuralNetwork.load(path)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_loaded_model_round_trips_after_all_the_checks(backend, tmp_path):
    """the bounded reader returns exactly what was saved, optimizer state included"""
    require(backend)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 1, 6, 6)), rng.integers(0, 2, (8, 1)).astype(float)
    net = small_cnn(backend)
    net.train(X, y, 2, 0.01, False, optimizer="adam", batch_size=4)
    net.save(tmp_path / "m.npz")
    loaded = Sequential.load(os.fsencode(tmp_path / "m.npz"), backend=backend)
    np.testing.assert_array_equal(loaded.get_params(), net.get_params())
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    net.train(X, y, 1, 0.01, False, optimizer="adam", batch_size=4)
    loaded.train(X, y, 1, 0.01, False, optimizer="adam", batch_size=4)
    np.testing.assert_array_equal(loaded.get_params(), net.get_params())


CHECKED_PROGRAM = r"""
#include <stdio.h>
#include "checked.h"
/* every product and sum of these values, checked against 128-bit arithmetic */
static const int64_t V[] = {0, 1, -1, 2, -2, 3, 1000, 3037000499LL, 3037000500LL,
                            -3037000499LL, -3037000500LL, 4294967296LL, INT64_MAX / 2,
                            INT64_MAX / 2 + 1, INT64_MIN / 2, INT64_MIN / 2 - 1, INT64_MAX,
                            INT64_MAX - 1, INT64_MIN, INT64_MIN + 1};
int main(void)
{
    const int n = sizeof V / sizeof V[0];
    int bad = 0, checks = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            const __int128 p = (__int128)V[i] * V[j], s = (__int128)V[i] + V[j];
            const int p_over = p > INT64_MAX || p < INT64_MIN;
            const int s_over = s > INT64_MAX || s < INT64_MIN;
            int64_t r;
            bad += bn_mul_overflows(V[i], V[j], &r) != p_over || (!p_over && r != p);
            bad += bn_add_overflows(V[i], V[j], &r) != s_over || (!s_over && r != s);
            const int64_t m = bn_size_mul(V[i], V[j]), a = bn_size_add(V[i], V[j]);
            const int neg = V[i] < 0 || V[j] < 0;
            bad += m != (neg || p_over ? -1 : (int64_t)p);
            bad += a != (neg || s_over ? -1 : (int64_t)s);
            checks += 4;
        }
    bad += bn_size_mul3(1 << 30, 1 << 30, 1 << 3) != -1;
    bad += bn_size_mul3(1 << 30, 1 << 30, 1 << 2) != (int64_t)1 << 62;
    bad += bn_size_add(bn_size_mul(INT64_MAX, 2), 1) != -1;  /* -1 propagates */
    printf("%d checks, %d wrong\n", checks + 3, bad);
    return bad != 0;
}
"""


@pytest.mark.parametrize("builtins", [1, 0])
def test_checked_arithmetic_against_128_bit_integers(builtins, tmp_path):
    """csrc/checked.h, with the compiler's builtins and with the portable fallback (the one
    MSVC builds), against exact 128-bit results on every pair of edge values"""
    import shutil
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    csrc = os.path.join(os.path.dirname(__file__), os.pardir, "csrc")
    (tmp_path / "t.c").write_text(CHECKED_PROGRAM)
    subprocess.run([cc, "-std=c11", "-O2", "-Wall", "-Werror", f"-I{csrc}",
                    f"-DBN_HAVE_OVERFLOW_BUILTINS={builtins}", "-o", str(tmp_path / "t"),
                    str(tmp_path / "t.c")], check=True, capture_output=True)
    proc = subprocess.run([str(tmp_path / "t")], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.endswith("0 wrong\n"), proc.stdout


def test_many_escaped_quotes_in_the_header_are_refused_in_linear_time(tmp_path):
    """the nesting count skips strings with a regular expression; one that needs a closing
    quote retried from each of the 500,000 quotes of '"\\"\\"...' (hours). The
    subprocess's timeout only catches a hang"""
    path = _with_header_text(tmp_path, lambda h: '{"x": "' + '\\"' * 500000)
    code, out, err = run_python(f"""
        import barenet
        try:
            barenet.NeuralNetwork.load({str(path)!r})
        except barenet.ModelFileError as exc:
            print("ModelFileError:", exc)
        """, timeout=300)
    assert code == 0, err
    assert f"ModelFileError: {path}: the header is not valid JSON" in out


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_model_file_beyond_the_size_bound_is_a_model_file_error(backend, tmp_path):
    """arguments in range, but the built layer beyond MAX_SAMPLE_VALUES: refused at load
    naming the file and the layer, before any parameter is allocated"""
    require(backend)
    small_cnn().save(tmp_path / "m.npz")

    def huge(header):
        header["input_shape"] = [1, 2, 2]
        header["layers"] = [
            {"type": "Conv2D", "filters": 1, "kernel_size": [2**13, 2**13], "stride": [1, 1],
             "padding": [2**13 - 1, 2**13 - 1], "activation": "identity", "use_bias": True},
            {"type": "Flatten"},
            {"type": "Dense", "units": 1, "activation": "sigmoid", "use_bias": True}]
    path = rewrite(tmp_path / "m.npz", tmp_path / "huge.npz", huge)
    with pytest.raises(ModelFileError, match=r"huge\.npz: the header describes an invalid "
                                             r"network: Conv2D.*\(layer 0\): its zero-padded "
                                             r"input would hold 268435456 values per sample"):
        Sequential.load(path, backend=backend)


def test_a_deflated_model_file_loads(tmp_path):
    """np.savez_compressed archives (deflated members) are within the declared-size checks"""
    net = small_cnn()
    net.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as data:
        np.savez_compressed(tmp_path / "deflated.npz", **dict(data))
    loaded = Sequential.load(tmp_path / "deflated.npz")
    np.testing.assert_array_equal(loaded.get_params(), net.get_params())
    zeros = NeuralNetwork([300, 300, 1], seed=0, backend="numpy")  # compresses ~1000-fold
    zeros.set_params(np.zeros(zeros.n_params))
    zeros.save(tmp_path / "z.npz")
    with np.load(tmp_path / "z.npz") as data:
        np.savez_compressed(tmp_path / "zeros.npz", **dict(data))
    assert (tmp_path / "zeros.npz").stat().st_size * 200 < (tmp_path / "z.npz").stat().st_size
    np.testing.assert_array_equal(NeuralNetwork.load(tmp_path / "zeros.npz").get_params(),
                                  zeros.get_params())
