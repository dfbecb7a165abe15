"""Property-based tests (hypothesis): random architectures, batch sizes, dtypes, activations,
losses, optimizers and regularisers give the same parameters on the compiled and the NumPy
backend; random garbage passed to every public function and keyword raises only the
documented errors (ValueError/TypeError; TrainingDiverged from train; FileNotFoundError or
ModelFileError from load; OSError from save), never anything else and never a crash.

The budget is bounded (max_examples per test, no deadline) and derandomized, so CI sees the
same examples every run; HYPOTHESIS_PROFILE=explore draws fresh examples, ten times as many.
Show the counts with `python -m pytest tests/test_properties.py --hypothesis-show-statistics`.
The last section holds the regressions these tests and fuzz/ found."""

import json
import numbers
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import barenet
from barenet import (EarlyStopping, ModelFileError, NeuralNetwork, TrainingDiverged, optimizers,
                     schedules)
from conftest import compiled_available, require_compiled

settings.register_profile("ci", deadline=None, derandomize=True, database=None,
                          print_blob=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
settings.register_profile("explore", parent=settings.get_profile("ci"), derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
SCALE = 10 if os.environ.get("HYPOTHESIS_PROFILE") == "explore" else 1

# the backends' agreement after a few seeded epochs: float sums are ordered differently,
# nothing else may differ (the same tolerances as test_training.py's grid)
AGREE = {"float64": dict(rtol=1e-8, atol=1e-10), "float32": dict(rtol=1e-3, atol=1e-4)}


# -- (a) both backends agree ---------------------------------------------------------------
# (output activation, loss) pairs that NeuralNetwork accepts
OUTPUTS = [("sigmoid", None), ("sigmoid", "mse"), ("softmax", None), ("identity", None),
           ("tanh", "mse"), ("relu", None), ("leaky_relu", None), ("gelu", None)]
# learning rates small enough not to diverge in a few epochs, per optimizer family
RATES = {"sgd": [1e-3, 1e-2, 0.1], "momentum": [1e-3, 1e-2], "nesterov": [1e-3, 1e-2],
         "rmsprop": [1e-4, 1e-3], "adam": [1e-4, 1e-3, 1e-2], "adamw": [1e-4, 1e-3, 1e-2]}


@st.composite
def training_cases(draw):
    depth = draw(st.integers(1, 4))
    sizes = [draw(st.integers(1, 12)) for _ in range(depth + 1)]
    output, loss = draw(st.sampled_from(OUTPUTS))
    if output == "softmax":
        sizes[-1] = max(sizes[-1], 2)
    n = draw(st.integers(1, 24))
    optimizer = draw(st.sampled_from(sorted(RATES)))
    return dict(
        net=dict(layer_sizes=sizes, activation=draw(st.sampled_from(
                     ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "identity"])),
                 output_activation=output, loss=loss,
                 dropout=draw(st.sampled_from([0.0, 0.0, 0.2, 0.5])),
                 l1=draw(st.sampled_from([0.0, 0.0, 1e-3, 1e-2])),
                 l2=draw(st.sampled_from([0.0, 0.0, 1e-3, 1e-1])),
                 dtype=draw(st.sampled_from(["float64", "float32"])),
                 seed=draw(st.integers(0, 2**64 - 1))),
        n=n, data_seed=draw(st.integers(0, 2**32 - 1)),
        labels=draw(st.booleans()),  # softmax targets as integer labels or one-hot rows
        weighted=draw(st.booleans()),
        validate=draw(st.booleans()),
        train=dict(epochs=draw(st.integers(1, 3)),
                   learning_rate=draw(st.sampled_from(RATES[optimizer])),
                   batch_size=draw(st.none() | st.integers(1, n + 2)),
                   optimizer=optimizer, shuffle=draw(st.booleans()),
                   lr_schedule=draw(st.sampled_from([None, None, "step", "exponential",
                                                     "cosine"]))))


def make_data(case, rng_seed_offset=0):
    """inputs and targets that fit the case's network and loss"""
    rng = np.random.default_rng(case["data_seed"] + rng_seed_offset)
    sizes, n = case["net"]["layer_sizes"], case["n"]
    X = rng.standard_normal((n, sizes[0]))
    out, loss = case["net"]["output_activation"], case["net"]["loss"]
    if out == "softmax":
        labels = rng.integers(0, sizes[-1], n)
        y = labels if case["labels"] else np.eye(sizes[-1])[labels]
    elif out == "sigmoid" and loss is None:
        y = (rng.random((n, sizes[-1])) > 0.5).astype(float)
    else:
        y = rng.standard_normal((n, sizes[-1]))
    return X, y


def train_on(backend, case):
    net = NeuralNetwork(**case["net"], backend=backend)
    X, y = make_data(case)
    kw = dict(case["train"])
    if case["weighted"]:
        kw["sample_weight"] = np.random.default_rng(case["data_seed"] + 7).random(case["n"]) * 2
    if case["validate"]:
        kw["validation_data"] = make_data(case, 1)
    try:
        history = net.train(X, y, verbose=False, **kw)
    except TrainingDiverged as exc:
        return "diverged", exc.epoch, net.get_params(), None, None
    return "ok", history, net.get_params(), net.predict(X), history.metrics


@settings(max_examples=150 * SCALE)
@given(case=training_cases())
def test_backends_agree_on_random_training(case):
    require_compiled()
    status_c, hist_c, params_c, pred_c, metrics_c = train_on("compiled", case)
    status_n, hist_n, params_n, pred_n, metrics_n = train_on("numpy", case)
    tol = AGREE[case["net"]["dtype"]]
    assert status_c == status_n
    if status_c == "diverged":
        assert hist_c == hist_n  # the same epoch
    else:
        np.testing.assert_allclose(hist_c, hist_n, **tol)
        np.testing.assert_allclose(pred_c, pred_n, **tol)
        assert sorted(metrics_c) == sorted(metrics_n)
        for name in metrics_c:
            np.testing.assert_allclose(metrics_c[name], metrics_n[name], **tol)
    np.testing.assert_allclose(params_c, params_n, **tol)
    assert np.isfinite(params_c).all()


@settings(max_examples=100 * SCALE)
@given(case=training_cases())
def test_gradient_and_loss_agree(case):
    """loss(), gradient() and backward() (no dropout, no shuffling) on both backends"""
    require_compiled()
    X, y = make_data(case)
    sw = (np.random.default_rng(case["data_seed"]).random(case["n"])
          if case["weighted"] else None)
    tol = AGREE[case["net"]["dtype"]]
    nets = [NeuralNetwork(**case["net"], backend=b) for b in ("compiled", "numpy")]
    losses = [net.loss(X, y, sample_weight=sw) for net in nets]
    grads = [net.gradient(X, y, sample_weight=sw) for net in nets]
    np.testing.assert_allclose(losses[0], losses[1], **tol)
    np.testing.assert_allclose(grads[0][0], grads[1][0], **tol)
    np.testing.assert_allclose(grads[0][1], grads[1][1], **tol)
    np.testing.assert_allclose(grads[0][0], losses[0], rtol=1e-12 if case["net"]["dtype"]
                               == "float64" else 1e-6)
    for net in nets:
        net.backward(X, y, case["train"]["learning_rate"], sample_weight=sw)
    np.testing.assert_allclose(nets[0].get_params(), nets[1].get_params(), **tol)


# -- (b) garbage in, documented errors out -------------------------------------------------
def garbage(max_int=2**70, max_len=4):
    """values of every kind a confused caller might pass"""
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-max_int, max_int),
        st.floats(allow_nan=True, allow_infinity=True), st.floats(-1e-3, 1e-3),
        st.complex_numbers(), st.text(max_size=8), st.binary(max_size=8),
        st.sampled_from(["relu", "softmax", "sigmoid", "mse", "adam", "float32", "float64",
                         "numpy", "compiled", "auto", "raise", "warn", "cosine", "", "\0",
                         ",", "f8,f8", "(2,)f8"]),
        st.sampled_from([np.nan, np.inf, -np.inf, 1e308, -1e308, 5e-324, 2**63, 2**64,
                         -2**63 - 1, np.float32(3.4e38), np.int64(-1), np.uint64(2**64 - 1),
                         np.float64(0.5), np.bool_(True), np.str_("relu"), Ellipsis,
                         object(), int, float, slice(1, 2)]),
    )
    dtypes = st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.uint8,
                              np.bool_, np.complex128, np.longdouble, "U3", "S2", "M8[s]",
                              "m8[s]", object])

    def elements(dt):
        dt = np.dtype(dt)
        if dt.kind == "O":
            return st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=2),
                             st.floats(allow_nan=True))
        return hnp.from_dtype(dt, allow_nan=True, allow_infinity=True) \
            if dt.kind in "fc" else hnp.from_dtype(dt)

    arrays = dtypes.flatmap(lambda dt: hnp.arrays(
        dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
        elements=elements(dt)))
    nested = st.recursive(
        st.one_of(scalars, arrays),
        lambda inner: st.one_of(st.lists(inner, max_size=max_len),
                                st.tuples(inner, inner),
                                st.dictionaries(st.text(max_size=3), inner, max_size=3)),
        max_leaves=8)
    return st.one_of(scalars, arrays, nested)  # a third each: plain NaN must come up often


XS = np.random.default_rng(0).standard_normal((6, 3))
YS = np.array([0, 1, 1, 0, 1, 0.0])
SMALL = 1000  # integers where a huge one would be a legitimately huge request (epochs, widths)


def net_for(backend, **kw):
    return NeuralNetwork([3, 4, 1], seed=0, backend=backend, **kw)


def trained_net(backend):
    net = net_for(backend)
    net.train(XS, YS, epochs=1, learning_rate=0.1, verbose=False, optimizer="adam")
    return net


def train_kw(name):
    def call(backend, g):
        kw = {name: g}
        epochs = kw.pop("epochs", 2)
        lr = kw.pop("learning_rate", 0.1)
        verbose = kw.pop("verbose", False)
        return net_for(backend).train(XS, YS, epochs, lr, verbose, **kw)
    return call


# entry point -> (call(backend, garbage), garbage strategy, extra allowed exceptions)
ENTRY_POINTS = {
    "NeuralNetwork(layer_sizes)": (lambda b, g: NeuralNetwork(g, backend=b),
                                   garbage(max_int=SMALL), ()),
    **{f"NeuralNetwork({k}=)": ((lambda k: lambda b, g: NeuralNetwork([3, 2], backend=b,
                                                                      **{k: g}))(k),
                                garbage(), ())
       for k in ("activation", "output_activation", "loss", "dropout", "l1", "l2", "dtype",
                 "seed")},
    "NeuralNetwork(backend=)": (lambda b, g: NeuralNetwork([3, 2], backend=g), garbage(), ()),
    "train(X)": (lambda b, g: net_for(b).train(g, YS, 2, 0.1, False), garbage(), ()),
    "train(y)": (lambda b, g: net_for(b).train(XS, g, 2, 0.1, False), garbage(), ()),
    "train(epochs)": (train_kw("epochs"), garbage(max_int=SMALL), ()),
    **{f"train({k}=)": (train_kw(k), garbage(), ())
       for k in ("learning_rate", "verbose", "batch_size", "optimizer", "shuffle",
                 "validation_data", "lr_schedule", "sample_weight", "on_divergence")},
    "train(early_stopping=)": (train_kw("early_stopping"), garbage(max_int=SMALL), ()),
    "predict": (lambda b, g: net_for(b).predict(g), garbage(), ()),
    "forward": (lambda b, g: net_for(b).forward(g), garbage(), ()),
    "predict_classes": (lambda b, g: net_for(b).predict_classes(g), garbage(), ()),
    "loss(X)": (lambda b, g: net_for(b).loss(g, YS), garbage(), ()),
    "loss(y)": (lambda b, g: net_for(b).loss(XS, g), garbage(), ()),
    "loss(sample_weight)": (lambda b, g: net_for(b).loss(XS, YS, g), garbage(), ()),
    "gradient(X)": (lambda b, g: net_for(b).gradient(g, YS), garbage(), ()),
    "gradient(y)": (lambda b, g: net_for(b).gradient(XS, g), garbage(), ()),
    "gradient(sample_weight)": (lambda b, g: net_for(b).gradient(XS, YS, g), garbage(), ()),
    "backward(X)": (lambda b, g: net_for(b).backward(g, YS, 0.1), garbage(), ()),
    "backward(y)": (lambda b, g: net_for(b).backward(XS, g, 0.1), garbage(), ()),
    "backward(learning_rate)": (lambda b, g: net_for(b).backward(XS, YS, g), garbage(), ()),
    "backward(sample_weight)": (lambda b, g: net_for(b).backward(XS, YS, 0.1, g),
                                garbage(), ()),
    "set_params": (lambda b, g: net_for(b).set_params(g), garbage(), ()),
    "weights[0] =": (lambda b, g: net_for(b).weights.__setitem__(0, g), garbage(), ()),
    "biases[-1] =": (lambda b, g: net_for(b).biases.__setitem__(-1, g), garbage(), ()),
    "save(path)": (lambda b, g: trained_net(b).save(g), garbage(), (OSError,)),
    "save(include_optimizer=)": (lambda b, g: trained_net(b).save("m.npz",
                                                                  include_optimizer=g),
                                 garbage(), ()),
    "load(path)": (lambda b, g: NeuralNetwork.load(g, backend=b), garbage(),
                   (FileNotFoundError, ModelFileError)),
    "load(backend=)": (lambda b, g: NeuralNetwork.load(SAVED[b], backend=g), garbage(), ()),
    "EarlyStopping": (lambda b, g: EarlyStopping(*g) if isinstance(g, tuple)
                      else EarlyStopping(g), garbage(), ()),
    **{f"optimizers.{cls.__name__}": ((lambda cls: lambda b, g: cls(*g)
                                       if isinstance(g, tuple) else cls(g))(cls), garbage(), ())
       for cls in (optimizers.SGD, optimizers.RMSprop, optimizers.Adam, optimizers.AdamW)},
    **{f"schedules.{cls.__name__}": ((lambda cls: lambda b, g: cls(*g)
                                      if isinstance(g, tuple) else cls(g))(cls), garbage(), ())
       for cls in (schedules.StepDecay, schedules.ExponentialDecay, schedules.CosineDecay)},
    # integers beyond C int: test_set_num_threads_beyond_c_int
    "set_num_threads": (lambda b, g: barenet.set_num_threads(g), garbage().filter(
        lambda g: not isinstance(g, numbers.Integral) or abs(int(g)) < 2**31), ()),
}
SAVED = {}  # backend -> a valid model file, for load(backend=garbage)


@pytest.fixture(scope="module")
def workdir():
    """a scratch current directory: save(garbage path) may write relative files"""
    old = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            yield tmp
        finally:
            os.chdir(old)
            barenet.set_num_threads(None)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@settings(max_examples=25 * SCALE)
@given(data=st.data())
def test_garbage_raises_only_documented_errors(entry, backend, workdir, data):
    call, values, extra = ENTRY_POINTS[entry]
    if entry.startswith("load(backend") and backend not in SAVED:
        SAVED[backend] = os.path.join(workdir, f"valid-{backend}.npz")
        trained_net(backend).save(SAVED[backend])
    allowed = (ValueError, TypeError) + extra
    if entry.startswith("train"):
        allowed += (TrainingDiverged,)
    if not compiled_available():  # backend="compiled" without the extension: documented
        allowed += (ImportError,)
    value = data.draw(values, label="value")
    try:
        call(backend, value)
    except allowed:
        pass
    finally:
        barenet.set_num_threads(None)


@settings(max_examples=60 * SCALE)
@given(value=garbage())
def test_garbage_from_an_lr_schedule(backend, value):
    """a user's schedule returning garbage: only documented errors (that the parameters
    stay finite is test_schedule_learning_rate_is_validated)"""
    net = net_for(backend)
    try:
        net.train(XS, YS, 2, 0.1, False, lr_schedule=lambda epoch, lr, epochs: value)
    except (ValueError, TypeError, TrainingDiverged):
        pass


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@settings(max_examples=40 * SCALE)
@given(rows=st.integers(1, 5), cols=st.integers(1, 5),
       fill=st.sampled_from([np.nan, np.inf, -np.inf, 1e308, -1e308, 3.5e38, 1e-320]),
       where=st.sampled_from(["X", "y", "sample_weight", "validation_X"]),
       dtype=st.sampled_from(["float64", "float32"]),
       input_dtype=st.sampled_from([np.float64, np.longdouble]))
def test_values_not_finite_in_the_dtype_are_refused(backend, rows, cols, fill, where, dtype,
                                                    input_dtype):
    """non-finite inputs, also those that only overflow on the cast to the network's dtype,
    are refused with ValueError before any C runs"""
    net = NeuralNetwork([cols, 3, 1], dtype=dtype, seed=1, backend=backend,
                        output_activation="identity")
    X, y = np.ones((rows, cols)), np.ones(rows)
    args = {"X": X, "y": y, "sample_weight": np.ones(rows), "validation_X": X.copy()}
    args[where] = np.full_like(args[where], fill, dtype=input_dtype)
    with np.errstate(over="ignore"):
        finite = np.isfinite(np.asarray(fill, dtype=input_dtype).astype(dtype))
    before = net.get_params()
    try:
        net.train(args["X"], args["y"], 2, 1e-3, False, sample_weight=args["sample_weight"],
                  validation_data=(args["validation_X"], y))
    except ValueError:
        np.testing.assert_array_equal(net.get_params(), before)
    except TrainingDiverged:
        assert finite
    else:
        assert finite, f"{where} = {fill!r} ({np.dtype(input_dtype)}) reached {dtype} training"


# -- regressions found by these tests and the fuzzers -----------------------------------------
def test_sample_weight_overflowing_the_dtype_is_refused(backend):
    """float64 weights beyond float32's range used to become inf on the cast and reach C"""
    net = NeuralNetwork([3, 4, 1], dtype="float32", seed=0, backend=backend)
    with pytest.raises(ValueError, match="sample_weight contains NaN or infinity"):
        net.train(XS, YS, 1, 0.1, False, sample_weight=np.full(6, 1e300))
    with pytest.raises(ValueError, match="sample_weight"):
        net.loss(XS, YS, sample_weight=np.full(6, np.longdouble("1e4000")))


def _rewrite_header(src, dst, **changes):
    arrays = dict(np.load(src))
    header = json.loads(arrays["header"].tobytes())
    for key, value in changes.items():
        if key.startswith("optimizer_"):
            header["optimizer"][key[len("optimizer_"):]] = value
        else:
            header[key] = value
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(dst, **arrays)


@pytest.mark.parametrize("change", [dict(epochs_done=2**63), dict(epochs_done=2**64 - 1),
                                    dict(optimizer_step=2**63), dict(optimizer_step=2**70)])
def test_model_file_counters_beyond_int64_are_refused(backend, change, tmp_path):
    """io.load used to accept epochs_done < 2**64 and any optimizer step; the compiled core
    counts both in int64, so training the loaded network raised OverflowError"""
    net = trained_net(backend)
    net.save(tmp_path / "m.npz")
    _rewrite_header(tmp_path / "m.npz", tmp_path / "bad.npz", **change)
    with pytest.raises(ModelFileError, match="epochs_done|step"):
        NeuralNetwork.load(tmp_path / "bad.npz", backend=backend)
    _rewrite_header(tmp_path / "m.npz", tmp_path / "ok.npz", epochs_done=2**62 - 1,
                    optimizer_step=2**62 - 1)
    again = NeuralNetwork.load(tmp_path / "ok.npz", backend=backend)
    again.train(XS, YS, 2, 0.1, False, optimizer="adam", batch_size=2)


@pytest.mark.parametrize("sizes", [[3, 10**9, 2], [2**62, 2**62], [3, 4, 2, 10**6, 10**6]])
def test_model_file_declaring_a_huge_network_is_refused_before_allocating(sizes, tmp_path):
    """found by fuzz/fuzz_load.py: a 1 KB file whose header says layer_sizes [3, 10**9, 2]
    made load allocate the network (22 GiB) before noticing that params cannot hold it
    (libFuzzer: out-of-memory; or OverflowError on the compiled backend for sizes beyond
    int64)"""
    net = net_for("numpy")
    net.save(tmp_path / "m.npz")
    _rewrite_header(tmp_path / "m.npz", tmp_path / "huge.npz", layer_sizes=sizes)
    with pytest.raises(ModelFileError, match="too small to hold them|barenet handles at most"):
        NeuralNetwork.load(tmp_path / "huge.npz")


def test_model_file_needing_a_newer_zip_version_is_a_model_file_error(tmp_path):
    """found by fuzz/fuzz_load.py: zipfile raises NotImplementedError ("zip file version
    9.1") for an archive whose central directory asks for a newer zip version; load let it
    through instead of raising ModelFileError"""
    net_for("numpy").save(tmp_path / "m.npz")
    data = bytearray((tmp_path / "m.npz").read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 6] = 91  # version needed to extract: 9.1
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="not a readable .npz archive"):
        NeuralNetwork.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("dtype", [",", b",", "i4,i4,,", "f8,", "(2,)f8", "float64 "])
def test_dtype_strings_numpy_cannot_parse_raise_value_error(dtype):
    """np.dtype(",") raises SyntaxError, which check_dtype used to let through"""
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        NeuralNetwork([2, 1], dtype=dtype, backend="numpy")


def test_seed_beyond_uint64_is_refused_up_front():
    require_compiled()
    with pytest.raises(ValueError, match="seed must be <= 18446744073709551615"):
        NeuralNetwork([3, 4, 1], seed=2**64, backend="compiled")
    net = NeuralNetwork([3, 4, 1], seed=2**64 - 1, backend="compiled")  # the largest is fine
    net.train(XS, YS, 1, 0.1, False, batch_size=2)
    assert np.isfinite(net.get_params()).all()


@pytest.mark.parametrize("sizes", [[2**40, 2**40], [2**62, 2**62]])
def test_absurd_layer_sizes_raise_value_error(sizes):
    require_compiled()
    with pytest.raises((ValueError, MemoryError)):
        NeuralNetwork(sizes, backend="compiled")


@pytest.mark.parametrize("epochs", [1, 3])
@pytest.mark.parametrize("dtype,learning_rate", [("float64", 1e306), ("float32", 1e300)])
def test_divergence_never_leaves_non_finite_parameters(backend, epochs, dtype, learning_rate):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((6, 3)) * 1e3, rng.standard_normal((6, 1))
    net = NeuralNetwork([3, 4, 1], output_activation="identity", dtype=dtype, seed=0,
                        backend=backend)
    try:
        net.train(X, y, epochs, learning_rate, False)
    except (TrainingDiverged, ValueError):
        pass
    assert np.isfinite(net.get_params()).all()


@pytest.mark.parametrize("value", [float("nan"), -1.0, float("inf")])
def test_schedule_learning_rate_is_validated(backend, value):
    net = net_for(backend)
    with pytest.raises(ValueError, match="lr_schedule"):
        net.train(XS, YS, 2, 0.1, False, lr_schedule=lambda epoch, lr, epochs: value)
    assert np.isfinite(net.get_params()).all()


def test_set_num_threads_beyond_c_int():
    require_compiled()
    before = barenet.get_num_threads()
    try:
        with pytest.raises(ValueError, match="must be <= 2147483647"):
            barenet.set_num_threads(2**31)
        assert barenet.get_num_threads() == before  # the refused call changed nothing
    finally:
        barenet.set_num_threads(None)


def test_optimizer_state_with_a_step_beyond_int64():
    require_compiled()
    opt = optimizers.Adam()
    net = net_for("compiled")
    net.train(XS, YS, 1, 0.1, False, optimizer=opt)
    state = opt.state_dict()
    state["step"] = 2**63
    with pytest.raises(ValueError, match="step must be <= 4611686018427387904"):
        opt.load_state_dict(state)
    state["step"] = 4611686018427387904  # the largest allowed step still trains
    opt.load_state_dict(state)
    net.train(XS, YS, 1, 0.1, False, optimizer=opt)
    assert np.isfinite(net.get_params()).all()
