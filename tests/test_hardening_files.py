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
     None),  # every size in bound: refused for its 2**54 parameters or out of memory
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
def test_a_large_but_allowed_geometry_predicts_on_both_backends(backend):
    """a layer just inside the bound still works, and the backends agree"""
    require(backend)
    net = Sequential([Conv2D(1, 1, padding=300), AvgPool2D(601), Flatten(), Dense(1)],
                     input_shape=(1, 2, 2), seed=0, backend=backend)
    ref = Sequential([Conv2D(1, 1, padding=300), AvgPool2D(601), Flatten(), Dense(1)],
                     input_shape=(1, 2, 2), seed=0, backend="numpy")
    x = np.arange(4.0).reshape(1, 4)
    np.testing.assert_allclose(net.predict(x), ref.predict(x), rtol=1e-12)


def test_c_workspace_sizes_refuse_wrapping_geometry_in_a_subprocess():
    """the C size functions (csrc/net.c through csrc/checked.h) return -1 when a size does
    not fit in int64 and the binding raises ValueError: the issue's layer rows given to C
    directly, bypassing Python's bounds (out_h * out_w = 2**64 wrapped to 0 before)"""
    require("compiled")
    code, out, err = run_python("""
        import numpy as np
        from barenet import _core
        from barenet.layers import C_FIELDS
        def row(**kw):
            r = dict(dict.fromkeys(C_FIELDS, 0), b_offset=-1)
            r.update(kw)
            return [r[f] for f in C_FIELDS]
        big = 2**32
        layers = np.array([
            row(kind=1, in_h=2, in_w=2, in_c=1, out_h=big, out_w=big, out_c=1, kh=1, kw=1,
                sh=1, sw=1, pad_top=big // 2 - 1, pad_left=big // 2 - 1, b_offset=1),
            row(kind=2, in_h=big, in_w=big, in_c=1, out_h=1, out_w=1, out_c=1, kh=big,
                kw=big, sh=big, sw=big),
            row(kind=4, in_h=1, in_w=1, in_c=1, out_h=1, out_w=1, out_c=1),
            row(kind=0, in_h=1, in_w=1, in_c=1, out_h=1, out_w=1, out_c=1, w_offset=2,
                b_offset=3)], dtype=np.int64)
        net = _core.Net(layers, np.zeros(4), True, 0, 4)
        for f in (net.workspace_size, net.predict_workspace_size):
            for rows in (1, 2, 2**40):
                try:
                    print("size", f(rows))
                except ValueError as exc:
                    print("ValueError", "does not fit in int64" in str(exc))
        small = np.array([row(kind=0, in_h=1, in_w=1, in_c=2**40, out_h=1, out_w=1,
                              out_c=2**30, b_offset=-1)], dtype=np.int64)
        net = _core.Net(small, np.zeros(1), False, 0, 2**62)
        for rows in (1, 2**23, 2**40):
            try:
                print("size", net.predict_workspace_size(rows))
            except ValueError as exc:
                print("ValueError", "does not fit in int64" in str(exc))
        """)
    assert code == 0, err
    lines = [line for line in out.split("\n") if line.startswith(("size", "ValueError"))]
    assert lines[:6] == ["ValueError True"] * 6
    assert lines[6:9] == [f"size {2 * 2**30}", f"size {2**23 * 2 * 2**30}", "ValueError True"]
