"""save(path, format="safetensors") and load: round trips that continue training exactly
(NeuralNetwork, Sequential, a graph Model with batch normalisation; both backends and
dtypes), the file read and written by the safetensors package where it is installed, and
crafted files (wrong lengths, huge declared shapes and headers, overlapping, gapped or
out-of-range offsets, bad metadata) refused with ModelFileError without allocating what
they declare."""

import json
import tracemalloc

import numpy as np
import pytest

import barenet
from barenet import Input, Model, ModelFileError, NeuralNetwork, Sequential
from barenet.layers import (Activation, Add, BatchNormalization, Conv2D, Dense, Dropout, Flatten,
                            LayerNormalization, MaxPool2D)


def graph_model(**kwargs):
    x = Input((2, 6, 6))
    h = BatchNormalization()(Conv2D(3, 3, padding="same")(x))
    r = Activation("relu")(Add()([Conv2D(3, 3, padding="same", use_bias=False)(x), h]))
    out = Dense(3, activation="softmax")(LayerNormalization()(Flatten()(MaxPool2D(2)(r))))
    return Model(x, out, **kwargs)


MODELS = {
    "network": (lambda **kw: NeuralNetwork([4, 6, 3], output_activation="softmax", dropout=0.2,
                                           **kw), (4,)),
    "sequential": (lambda **kw: Sequential([Conv2D(2, 3), Flatten(), Dropout(0.1), Dense(3, "softmax")],
                                           input_shape=(1, 5, 5), **kw), (1, 5, 5)),
    "graph": (graph_model, (2, 6, 6)),
}


def problem(shape, n=24, dtype="float64"):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, *shape)).astype(dtype), np.arange(n) % 3


@pytest.mark.parametrize("case", list(MODELS))
def test_round_trip_continues_training_exactly(case, backend, dtype, tmp_path):
    make, shape = MODELS[case]
    X, y = problem(shape, dtype=dtype)
    net = make(dtype=dtype, seed=1, backend=backend)
    net.train(X, y, epochs=2, batch_size=8, optimizer="adam", verbose=False)
    path = tmp_path / "model.safetensors"
    net.save(path, format="safetensors")
    back = barenet.Sequential.load(path, backend=backend)
    assert type(back) is type(net) and back.dtype == net.dtype
    np.testing.assert_array_equal(back.get_params(), net.get_params())
    np.testing.assert_array_equal(back._state, net._state)
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    for model in (net, back):
        model.train(X, y, epochs=2, batch_size=8, verbose=False)
    np.testing.assert_array_equal(back.get_params(), net.get_params())
    np.testing.assert_array_equal(back._state, net._state)


def test_without_optimizer_and_npz_unchanged(tmp_path):
    make, shape = MODELS["graph"]
    net = make(seed=0)
    X, y = problem(shape)
    net.train(X, y, epochs=1, verbose=False)
    net.save(tmp_path / "a.safetensors", include_optimizer=False, format="safetensors")
    back = barenet.Model.load(tmp_path / "a.safetensors")
    assert back.optimizer is None
    np.testing.assert_array_equal(back.get_params(), net.get_params())
    net.save(tmp_path / "b.npz")   # the default stays barenet's .npz
    assert (tmp_path / "b.npz").read_bytes()[:2] == b"PK"
    np.testing.assert_array_equal(barenet.Model.load(tmp_path / "b.npz").get_params(),
                                  net.get_params())


@pytest.mark.parametrize("fmt", ["npz2", "SAFETENSORS", None, 1])
def test_bad_format_is_refused(fmt, tmp_path):
    with pytest.raises(ValueError, match="format must be one of"):
        NeuralNetwork([2, 3, 1]).save(tmp_path / "m", format=fmt)
    assert not list(tmp_path.iterdir())


def test_layout_names_and_alignment(tmp_path):
    make, _ = MODELS["graph"]
    net = make(seed=0, dtype="float32")
    net.save(tmp_path / "m.safetensors", format="safetensors", include_optimizer=False)
    raw = (tmp_path / "m.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert n % 8 == 0
    table = json.loads(raw[8:8 + n])
    meta = table.pop("__metadata__")
    assert meta["format"] == "barenet.model"
    assert json.loads(meta["barenet"])["kind"] == "Model"
    names = []
    for i, layer in enumerate(net.layers):
        if layer.n_params:
            names += [f"layers.{i}.weight"] + ([f"layers.{i}.bias"]
                                               if getattr(layer, "use_bias", True) else [])
        if isinstance(layer, BatchNormalization):
            names += [f"layers.{i}.running_mean", f"layers.{i}.running_var"]
    assert list(table) == names   # in the model's order, a bias only where there is one
    first = net.layers[0]
    assert isinstance(first, Conv2D)
    assert table["layers.0.weight"] == {"dtype": "F32", "shape": [3, 3, 2, 3],
                                        "data_offsets": [0, 216]}
    ends = sorted(entry["data_offsets"] for entry in table.values())
    assert ends[-1][1] == len(raw) - 8 - n


# -- the safetensors package, where installed ---------------------------------------------

def test_read_and_written_by_the_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy", reason="safetensors is not installed")
    from safetensors import safe_open
    make, shape = MODELS["graph"]
    net = make(seed=2)
    X, y = problem(shape)
    net.train(X, y, epochs=1, batch_size=8, optimizer="adam", verbose=False)
    path = tmp_path / "m.safetensors"
    net.save(path, format="safetensors")
    tensors = st.load_file(str(path))
    k = 0
    for i, layer in enumerate(net.layers):
        if layer.n_params:
            np.testing.assert_array_equal(tensors[f"layers.{i}.weight"], net.weights[k])
            k += 1
    with safe_open(str(path), "np") as f:
        metadata = f.metadata()
    # the package writes the same tensors and metadata; barenet reads its file
    again = tmp_path / "again.safetensors"
    st.save_file(tensors, str(again), metadata=metadata)
    back = barenet.Model.load(again)
    np.testing.assert_array_equal(back.get_params(), net.get_params())
    np.testing.assert_array_equal(back._state, net._state)
    np.testing.assert_array_equal(back.optimizer.state_arrays()[1],
                                  net.optimizer.state_arrays()[1])


# -- crafted files -------------------------------------------------------------------------

def header_of(net):
    from barenet import io
    return io.describe(net, include_optimizer=False)[0]


def craft(path, table, data=b"", metadata=None, length=None, pad=True):
    """a safetensors file with the given tensor table, data and metadata (None: none)"""
    table = dict(table)
    if metadata is not None:
        table["__metadata__"] = metadata
    raw = json.dumps(table).encode() if not isinstance(table, bytes) else table
    if pad:
        raw += b" " * (-len(raw) % 8)
    head = (len(raw) if length is None else length).to_bytes(8, "little")
    path.write_bytes(head + raw + data)
    return path


def small_net():
    return NeuralNetwork([2, 3, 1], seed=0)


def good_parts(net=None):
    """(table, data, metadata) of small_net as save writes it"""
    net = net or small_net()
    table, at, data = {}, 0, b""
    k = 0
    for i, layer in enumerate(net.layers):
        if layer.n_params:
            for part, arr in (("weight", net.weights[k]), ("bias", net.biases[k])):
                table[f"layers.{i}.{part}"] = {"dtype": "F64", "shape": list(arr.shape),
                                               "data_offsets": [at, at + arr.nbytes]}
                at += arr.nbytes
                data += arr.tobytes()
            k += 1
    return table, data, {"format": "barenet.model", "barenet": json.dumps(header_of(net))}


def test_crafted_good_parts_load(tmp_path):
    table, data, meta = good_parts()
    back = barenet.NeuralNetwork.load(craft(tmp_path / "m", table, data, meta))
    np.testing.assert_array_equal(back.get_params(), small_net().get_params())


def relayout(table):
    """the table with its offsets laid out again, in order, from each dtype and shape"""
    at, out = 0, {}
    for name, entry in table.items():
        n = {"F32": 4, "F64": 8}[entry["dtype"]] * int(np.prod(entry["shape"]))
        out[name] = {**entry, "data_offsets": [at, at + n]}
        at += n
    return out


def _edit(table, name, **changes):
    table = json.loads(json.dumps(table))
    table[name].update(changes)
    return table


def crafted_cases():
    """(name, function(table, data, meta) -> (table, data, meta, length), message)"""
    W = "layers.0.weight"
    return [
        ("header length beyond the limit", lambda t, d, m: (t, d, m, 2**63),
         "neither an .npz archive nor a safetensors file whose header is at most"),
        ("header length beyond the file", lambda t, d, m: (t, d, m, 1 << 20),
         r"declares 1048576 bytes; the file holds"),
        ("shape and offsets disagree", lambda t, d, m: (_edit(t, W, shape=[2, 4]), d, m, None),
         r"declares shape \[2, 4\] of F64 \(64 bytes\) but data_offsets \[0, 48\]"),
        ("huge declared shape", lambda t, d, m: (_edit(t, W, shape=[2**40, 2**40]), d, m, None),
         r"declares shape \[1099511627776, 1099511627776\]"),
        ("huge shape matching huge offsets",
         lambda t, d, m: (_edit(t, W, shape=[2**31, 2**31], data_offsets=[0, 2**65]), d, m,
                          None), "overlaps|gap|cover"),
        ("offsets past the data", lambda t, d, m: (t, d[:-8], m, None),
         r"the tensors cover 104 bytes of data; the file holds 96"),
        ("trailing bytes", lambda t, d, m: (t, d + b"\0" * 8, m, None),
         r"cover 104 bytes of data; the file holds 112"),
        ("overlapping offsets",
         lambda t, d, m: (_edit(t, "layers.0.bias", data_offsets=[40, 64]), d, m, None),
         "overlaps the one before"),
        ("a gap", lambda t, d, m: (_edit(_edit(t, W, data_offsets=[8, 56]),
                                         "layers.0.bias", data_offsets=[56, 80]), d, m, None),
         "leaves a gap before it"),
        ("negative offsets", lambda t, d, m: (_edit(t, W, data_offsets=[-8, 40]), d, m, None),
         "data_offsets"),
        ("a foreign dtype", lambda t, d, m: (_edit(t, W, dtype="I64"), d, m, None),
         "has dtype 'I64'"),
        ("float32 for a float64 net",
         lambda t, d, m: (relayout({k: {**v, "dtype": "F32"} for k, v in t.items()}),
                          np.zeros(13, np.float32).tobytes(), m, None),
         r"need 13 parameters and 0 state values \(104 bytes in float64"),
        ("a transposed weight", lambda t, d, m: (_edit(t, W, shape=[3, 2]), d, m, None),
         r"'layers.0.weight' must be F64 \(2, 3\) for this network; got F64 \(3, 2\)"),
        ("a missing tensor",
         lambda t, d, m: ({k: v for k, v in t.items() if k != "layers.1.bias"}, d[:-8], m,
                          None), r"need 13 parameters"),
        ("a missing tensor, another in its place",
         lambda t, d, m: ({**{k: v for k, v in t.items() if k != "layers.1.bias"},
                           "layers.1.b": t["layers.1.bias"]}, d, m, None),
         r"missing \['layers.1.bias'\]; unexpected \['layers.1.b'\]"),
        ("an extra tensor",
         lambda t, d, m: ({**t, "extra": {"dtype": "F64", "shape": [1],
                                          "data_offsets": [104, 112]}}, d + bytes(8), m, None),
         r"unexpected \['extra'\]"),
        ("NaN", lambda t, d, m: (t, np.full(13, np.nan).tobytes(), m, None),
         "contains NaN or infinity"),
        ("no metadata", lambda t, d, m: (t, d, None, None), "__metadata__ must be an object"),
        ("metadata of numbers", lambda t, d, m: (t, d, {**m, "n": 1}, None),
         "__metadata__ must be an object of strings"),
        ("weights only", lambda t, d, m: (t, d, {"format": "pt"}, None),
         "only weights"),
        ("the model description is not JSON", lambda t, d, m: (t, d, {**m, "barenet": "{"}, None),
         "not valid JSON"),
        ("a newer format", lambda t, d, m: (t, d, {**m, "barenet": m["barenet"].replace(
            '"version": 1', '"version": 9')}, None), "newer barenet"),
        ("a huge network described",
         lambda t, d, m: (t, d, {**m, "barenet": m["barenet"].replace(
             '"layer_sizes": [2, 3, 1]', '"layer_sizes": [100000, 100000, 1]')}, None),
         r"need 10000200001 parameters"),
        ("an entry with other keys",
         lambda t, d, m: (_edit(t, W, extra=1), d, m, None), "must be an object with dtype"),
        ("a shape of floats", lambda t, d, m: (_edit(t, W, shape=[2.0, 3]), d, m, None),
         "a shape is a list"),
    ]


CRAFTED = crafted_cases()


@pytest.mark.parametrize("name", [c[0] for c in CRAFTED])
def test_crafted_files_are_refused_without_allocating(name, tmp_path):
    _, edit, message = next(c for c in CRAFTED if c[0] == name)
    table, data, meta = good_parts()
    table, data, meta, length = edit(table, data, meta)
    path = craft(tmp_path / "bad.safetensors", table, data, meta, length)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=message) as info:
            barenet.NeuralNetwork.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value)
    assert peak < 4 << 20, f"{peak} bytes allocated"


def test_raw_garbage_and_duplicate_keys(tmp_path):
    table, data, meta = good_parts()
    raw = json.dumps({**table, "__metadata__": meta}).encode()
    dup = raw[:-1] + b', "layers.0.weight": ' + json.dumps(table["layers.0.weight"]).encode() + b"}"
    path = tmp_path / "dup"
    path.write_bytes(len(dup).to_bytes(8, "little") + dup + data)
    with pytest.raises(ModelFileError, match="appears twice"):
        barenet.NeuralNetwork.load(path)
    for blob, message in [(b"", "too short"), (b"\x05\0\0\0\0\0\0\0[1,2]", "not a JSON object"),
                          (b"\x03\0\0\0\0\0\0\0\xff\xfe{", "not valid JSON"),
                          (b"\x28\0\0\0\0\0\0\0" + b"[" * 40, "nests 40 levels")]:
        path.write_bytes(blob)
        with pytest.raises(ModelFileError, match=message):
            barenet.NeuralNetwork.load(path)


def test_token_model_round_trip(backend, tmp_path):
    """an Embedding's table (a layer without bias) and a sequence output"""
    from barenet.layers import Embedding
    net = Sequential([Embedding(11, 6, mask_zero=True), LayerNormalization(), Dense(11, "softmax")],
                     input_shape=(5,), seed=0, backend=backend)
    ids = np.random.default_rng(0).integers(0, 11, (20, 5))
    net.train(ids, ids, epochs=2, batch_size=5, verbose=False)
    from barenet.text import Vocabulary
    net.vocabulary = Vocabulary.from_text("abcdefghi")   # 9 letters + padding + unknown
    net.save(tmp_path / "lm.safetensors", format="safetensors")
    back = Sequential.load(tmp_path / "lm.safetensors", backend=backend)
    assert back.vocabulary == net.vocabulary
    np.testing.assert_array_equal(back.get_params(), net.get_params())
    for model in (net, back):
        model.train(ids, ids, epochs=1, batch_size=5, verbose=False)
    np.testing.assert_array_equal(back.predict(ids), net.predict(ids))
