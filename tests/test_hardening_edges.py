"""Edges found by probing as an attacker and a careless user would (issue 16, items 4, 6, 8,
9, 11 and the CLI/list parts of 12): parameter values that overflow the network's dtype,
non-native byte orders, what `save` does to symlinks, FIFOs, devices and file modes, the
estimators' pickles and coefs_, and the command line's reading of CSV files and its errors.
Cases that reach C with unusual input, and every CLI case, run in a subprocess."""

import os
import pickle
import stat
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from barenet import NeuralNetwork, Sequential
from barenet import layers as L
from barenet._validation import check_dtype, check_param_values

LITTLE = sys.byteorder == "little"
FOREIGN = ">" if LITTLE else "<"   # the byte order this machine does not use
NATIVE = "<" if LITTLE else ">"


def run_python(code, backend):
    env = {**os.environ, "BARENET_BACKEND": backend}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=600)


def run_cli(*args, backend="numpy", cwd=None):
    env = {**os.environ, "BARENET_BACKEND": backend}
    return subprocess.run([sys.executable, "-m", "barenet", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=600, cwd=cwd)


def one_line_error(result, status=2):
    """the CLI refused with one line on stderr and the given status, no traceback"""
    assert result.returncode == status, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    # (an editable install may print its rebuild's lines first)
    lines = [line for line in result.stderr.splitlines() if line.startswith("barenet")]
    assert len(lines) == 1 and "error:" in lines[0], result.stderr
    return lines[0]


# -- item 4: values that overflow the network's dtype ------------------------------------------

def small_net(backend, dtype="float32", seed=0):
    return NeuralNetwork([2, 3, 1], dtype=dtype, seed=seed, backend=backend)


@pytest.mark.parametrize("bad", [1e300, 1e39, -1e39, np.inf, np.nan])
def test_float32_parameters_refuse_what_float32_cannot_hold(backend, bad):
    net = small_net(backend)
    before = net.get_params()
    writes = {
        "params": lambda: net.set_params(np.full(net.n_params, bad)),
        r"weights\[0\]": lambda: net.weights.__setitem__(0, np.full((2, 3), bad)),
        r"biases\[0\]": lambda: net.biases.__setitem__(0, np.full((1, 3), bad)),
        r"weights\[1\]": lambda: net.weights.__setitem__(slice(0, 2), [np.ones((2, 3)),
                                                                      np.full((3, 1), bad)]),
    }
    for name, write in writes.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")   # no cast warning: a clean refusal
            with pytest.raises(ValueError, match=rf"{name} must hold finite real numbers "
                                                 r"that fit float32"):
                write()
        np.testing.assert_array_equal(net.get_params(), before)   # nothing written
    with pytest.raises(ValueError, match="params must hold finite real numbers that fit"):
        net.loss_and_grad(np.full(net.n_params, bad), np.ones((2, 2)), np.ones((2, 1)))


def test_float64_networks_take_large_finite_values_and_refuse_beyond(backend):
    net = small_net(backend, dtype="float64")
    net.set_params(np.full(net.n_params, 1e300))   # finite in float64
    assert np.all(net.get_params() == 1e300)
    net.weights[0] = np.full((2, 3), -1e39)
    with pytest.raises(ValueError, match=r"params must hold finite real numbers that fit "
                                         r"float64; got inf at index \(4,\)"):
        net.set_params(np.r_[np.zeros(4), np.inf, np.zeros(net.n_params - 5)])
    if np.finfo(np.longdouble).max > np.finfo(np.float64).max:   # x86 extended precision
        huge = np.full((1, 3), np.longdouble(10) ** 400)
        with pytest.raises(ValueError, match=r"biases\[0\] must hold finite real numbers "
                                             "that fit float64"):
            net.biases[0] = huge


def test_refused_values_keep_the_backends_and_files_consistent(backend, tmp_path):
    """the issue's consequence: inf stored, NaN predictions, a file load refuses"""
    net = small_net(backend)
    with pytest.raises(ValueError):
        net.weights[0] = np.full((2, 3), 1e39)
    net.save(tmp_path / "m.npz")
    again = NeuralNetwork.load(tmp_path / "m.npz", backend="numpy")
    X = np.array([[0.5, -1.0], [2.0, 3.0]])
    assert np.isfinite(net.predict(X)).all()
    np.testing.assert_allclose(again.predict(X), net.predict(X), rtol=1e-6)


def test_check_param_values_is_the_one_rule():
    out = check_param_values([[1, 2]], (1, 2), np.float32, "w")
    assert out.dtype == np.float32 and out.flags.c_contiguous
    with pytest.raises(ValueError, match=r"w must have shape \(2, 1\); got \(1, 2\)"):
        check_param_values([[1, 2]], (2, 1), np.float32, "w")
    with pytest.raises(ValueError, match="w must hold real numbers; got dtype <U1"):
        check_param_values(["a", "b"], (2,), np.float64, "w")
    with pytest.raises(ValueError, match=r"w must hold finite.*float32; got 1e\+39 at index "
                                         r"\(1,\), beyond float32's largest magnitude"):
        check_param_values([0.0, 1e39], (2,), np.float32, "w")
    big = np.array([0, 2**64 - 1], dtype=np.uint64)   # integers fit: float32 reaches 3.4e38
    assert check_param_values(big, (2,), np.float32, "w")[1] == np.float32(2**64)


# -- item 12: slice assignment and the fixed-length lists --------------------------------------

def test_weight_slices_assign_and_the_lists_keep_their_length(backend):
    net = NeuralNetwork([2, 3, 2, 1], seed=0, backend=backend)
    W = [np.full((2, 3), 0.5), np.full((3, 2), -0.25)]
    net.weights[0:2] = W
    np.testing.assert_array_equal(net.weights[0], W[0])
    np.testing.assert_array_equal(net.weights[1], W[1])
    net.biases[::2] = [np.ones((1, 3)), np.ones((1, 1))]
    np.testing.assert_array_equal(net.biases[2], [[1.0]])
    before = net.get_params()
    with pytest.raises(ValueError, match=r"weights\[0:2\] = \.\.\. needs 2 arrays"):
        net.weights[0:2] = W[:1]
    with pytest.raises(ValueError, match=r"weights\[1\] must have shape \(3, 2\)"):
        net.weights[0:2] = [W[0], np.ones((2, 3))]
    with pytest.raises(TypeError, match=r"needs a sequence of 2 arrays; got float"):
        net.weights[0:2] = 1.0
    for change in (lambda w: w.append(np.ones(1)), lambda w: w.pop(), lambda w: w.clear(),
                   lambda w: w.__delitem__(0), lambda w: w.insert(0, 1), lambda w: w.reverse(),
                   lambda w: w.extend([1]), lambda w: w.remove(w[0])):
        with pytest.raises(TypeError, match="one entry per layer"):
            change(net.weights)
    assert len(net.weights) == 3 and len(net.biases) == 3
    np.testing.assert_array_equal(net.get_params(), before)
    # copies and pickles are plain lists of arrays, not a second set of views
    copied = pickle.loads(pickle.dumps(net.weights))
    assert type(copied) is list and np.array_equal(copied[1], W[1])
    copied[1][...] = 0
    np.testing.assert_array_equal(net.weights[1], W[1])


# -- item 6: byte orders -----------------------------------------------------------------------

def test_dtype_accepts_only_native_float32_and_float64():
    assert check_dtype(NATIVE + "f8") == np.float64 and check_dtype(NATIVE + "f8").isnative
    assert check_dtype("=f4") == np.float32
    for foreign in (FOREIGN + "f8", FOREIGN + "f4", np.dtype(FOREIGN + "f8")):
        with pytest.raises(ValueError, match="in the machine's byte order"):
            check_dtype(foreign)
        with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64' in the "
                                             "machine's byte order"):
            NeuralNetwork([2, 1], dtype=foreign)
        with pytest.raises(ValueError, match="machine's byte order"):
            Sequential([L.Dense(1)], input_shape=(2,), dtype=foreign)
    for other in ("float16", "int64", "complex128", "f2"):
        with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
            check_dtype(other)


def test_native_byte_order_spelled_out_is_float64(backend, tmp_path):
    net = NeuralNetwork([2, 2, 1], dtype=NATIVE + "f8", seed=0, backend=backend)
    assert net.dtype == np.float64 and net.dtype.isnative
    X = np.array([[1.0, 2.0]])
    net.train(X, [[1.0]], epochs=2, verbose=False)
    net.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(NeuralNetwork.load(tmp_path / "m.npz").predict(X),
                                  net.predict(X))


FOREIGN_INPUTS = """
import numpy as np, scipy.sparse as sp
from barenet import NeuralNetwork, Sequential, layers as L
F = "{foreign}"
rng = np.random.default_rng(0)
X = rng.normal(size=(20, 3)); y = (X[:, 0] > 0).astype(float).reshape(-1, 1)
w = rng.uniform(0.5, 2, 20)
for dtype in ("float32", "float64"):
    a, b = (NeuralNetwork([3, 4, 1], seed=0, dtype=dtype) for _ in range(2))
    Xf, yf, wf = X.astype(F + "f8"), y.astype(F + "f4"), w.astype(F + "f8")
    assert np.array_equal(a.predict(Xf), b.predict(X))
    assert a.loss(Xf, yf, wf) == b.loss(X, y, w)
    assert np.array_equal(a.gradient(Xf, yf, wf)[1], b.gradient(X, y, w)[1])
    p = a.get_params()
    assert np.array_equal(a.loss_and_grad(p.astype(F + "f8"), Xf, yf)[1],
                          b.loss_and_grad(p, X, y)[1])
    a.set_params(p.astype(F + "f8")); a.weights[0] = a.weights[0].astype(F + "f8")
    ha = a.train(Xf, yf, 4, 0.1, False, batch_size=6, sample_weight=wf,
                 validation_data=(Xf, yf), optimizer="adam")
    hb = b.train(X, y, 4, 0.1, False, batch_size=6, sample_weight=w,
                 validation_data=(X, y), optimizer="adam")
    assert list(ha) == list(hb) and ha.val_loss == hb.val_loss
    assert np.array_equal(a.get_params(), b.get_params())
    csr = sp.csr_matrix(X)
    foreign_csr = sp.csr_matrix((csr.data, csr.indices.astype(F + "i8"),
                                 csr.indptr.astype(F + "i4")), shape=csr.shape)
    assert np.array_equal(a.predict(foreign_csr), b.predict(csr))
    s = Sequential([L.Conv2D(2, 2), L.Flatten(), L.Dense(1)], input_shape=(1, 3, 3),
                   dtype=dtype, seed=0)
    img = rng.normal(size=(2, 1, 3, 3))
    assert np.array_equal(s.predict(img.astype(F + "f8")), s.predict(img))
from barenet.sklearn import MLPClassifier, MLPRegressor
import warnings
warnings.simplefilter("ignore")
yl = y.ravel()
for cls in (MLPClassifier, MLPRegressor):
    for dtype in (None, "float32"):
        f = cls(hidden_layer_sizes=(4,), max_iter=3, random_state=0, dtype=dtype)
        n = cls(hidden_layer_sizes=(4,), max_iter=3, random_state=0, dtype=dtype)
        f.fit(X.astype(F + "f8"), yl.astype(F + "f8")); n.fit(X, yl)
        assert np.array_equal(f.predict(X.astype(F + "f8")), n.predict(X))
        f.partial_fit(X.astype(F + "f4"), yl); n.partial_fit(X.astype("float32"), yl)
        assert np.array_equal(f.predict(X), n.predict(X))
    try:
        cls(dtype=F + "f8").fit(X, yl)
    except ValueError as exc:
        assert "byte order" in str(exc), exc
    else:
        raise AssertionError("a foreign-byte-order dtype was accepted")
print("ok")
"""


def test_foreign_byte_order_inputs_are_converted_before_c(backend):
    """every public entry point with X, y, weights and parameters in the byte order this
    machine does not use (a crash would only show in a subprocess) gives the native result"""
    pytest.importorskip("sklearn")
    result = run_python(FOREIGN_INPUTS.format(foreign=FOREIGN), backend)
    assert result.returncode == 0 and result.stdout.split()[-1:] == ["ok"], result.stderr


# -- item 8: what save writes, and where ------------------------------------------------------

@pytest.fixture
def umask():
    """set the process umask for one test"""
    old = os.umask(0o022)
    os.umask(old)
    try:
        yield os.umask
    finally:
        os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_save_creates_files_with_the_umask_mode(tmp_path, umask, mask):
    umask(mask)
    small_net("numpy").save(tmp_path / "m.npz")
    np.savez(tmp_path / "ref.npz", a=np.zeros(1))   # what NumPy (open()) gives
    assert mode(tmp_path / "m.npz") == 0o666 & ~mask == mode(tmp_path / "ref.npz")


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
@pytest.mark.parametrize("existing", [0o644, 0o640, 0o600, 0o604])
def test_save_keeps_an_existing_files_mode(tmp_path, umask, existing):
    umask(0o077)
    path = tmp_path / "m.npz"
    path.write_bytes(b"old")
    os.chmod(path, existing)
    small_net("numpy").save(path)
    assert mode(path) == existing
    assert NeuralNetwork.load(path).n_params == 13
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="symlinks")
def test_save_through_a_symlink_replaces_its_target(tmp_path):
    target = tmp_path / "real.npz"
    small_net("numpy", seed=0).save(target)
    link = tmp_path / "link.npz"
    link.symlink_to(target.name)
    new = small_net("numpy", seed=1)
    new.save(link)
    assert link.is_symlink() and os.readlink(link) == target.name
    np.testing.assert_array_equal(NeuralNetwork.load(target).get_params(), new.get_params())
    assert sorted(os.listdir(tmp_path)) == ["link.npz", "real.npz"]
    dangling = tmp_path / "dangling.npz"      # a link to a file not yet there: created
    dangling.symlink_to("later.npz")
    new.save(dangling)
    assert dangling.is_symlink() and (tmp_path / "later.npz").is_file()
    broken = tmp_path / "broken.npz"          # a link into a missing directory
    broken.symlink_to("nowhere/x.npz")
    with pytest.raises(FileNotFoundError, match="nowhere.*does not exist"):
        new.save(broken)


def special_files(tmp_path):
    """paths of existing non-regular files: a FIFO, a directory, and as root a character
    device node like /dev/null, made here: a test that failed (as it did before the fix,
    which replaced /dev/full with a regular file) must not harm the real /dev"""
    made = {"a directory": tmp_path / "dir"}
    made["a directory"].mkdir()
    if hasattr(os, "mkfifo"):
        made["a FIFO"] = tmp_path / "fifo"
        os.mkfifo(made["a FIFO"])
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        made["a character device"] = tmp_path / "null"
        os.mknod(made["a character device"], 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return made


def test_save_refuses_what_is_not_a_regular_file(tmp_path):
    net = small_net("numpy")
    for kind, path in special_files(tmp_path).items():
        before = os.stat(path)
        for where in (path, tmp_path / f"link-to-{path.name}"):
            if where != path:
                where.symlink_to(path)
            with pytest.raises(ValueError, match=rf"cannot save to .*{path.name}.*: it is "
                                                 rf"{kind}"):
                net.save(where)
            after = os.stat(path)
            assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert not leftovers


def test_save_into_a_missing_directory_names_the_path(tmp_path):
    path = tmp_path / "missing" / "m.npz"
    with pytest.raises(FileNotFoundError) as info:
        small_net("numpy").save(path)
    assert str(path) in str(info.value) and ".tmp" not in str(info.value)


# -- item 9: estimators ------------------------------------------------------------------------

def test_pickling_between_partial_fits_continues_the_stream(backend):
    sk = pytest.importorskip("barenet.sklearn")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    for est in (sk.MLPClassifier(hidden_layer_sizes=(6,), batch_size=8, random_state=0,
                                 dropout=0.2, backend=backend),
                sk.MLPRegressor(hidden_layer_sizes=(6,), batch_size=8, random_state=0,
                                solver="sgd", backend=backend)):
        kw = {"classes": [0, 1]} if est._is_classifier else {}
        est.partial_fit(X, y, **kw)
        est.partial_fit(X, y)
        copy = pickle.loads(pickle.dumps(est))
        for _ in range(3):
            est.partial_fit(X, y)
            copy.partial_fit(X, y)
        np.testing.assert_array_equal(copy._net.get_params(), est._net.get_params())
        assert copy.loss_curve_ == est.loss_curve_


def mlp_forward(X, coefs, intercepts):
    """scikit-learn's MLP forward for one relu hidden layer and a logistic output"""
    h = np.maximum(X @ coefs[0] + intercepts[0], 0)
    return 1 / (1 + np.exp(-(h @ coefs[1] + intercepts[1])))


def test_assigning_coefs_changes_predictions(backend, dtype):
    sk = pytest.importorskip("barenet.sklearn")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 3))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = sk.MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0,
                               dtype=dtype, backend=backend).fit(X, y)
    tol = 1e-12 if dtype == "float64" else 1e-5
    coefs = [rng.normal(size=(3, 5)), rng.normal(size=(5, 1))]
    intercepts = [rng.normal(size=5), rng.normal(size=1)]
    clf.coefs_ = coefs
    clf.intercepts_ = intercepts
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1],
                               mlp_forward(X, coefs, intercepts).ravel(), rtol=tol, atol=tol)
    clf.coefs_[1] = np.zeros((5, 1))       # item assignment writes through too
    clf.intercepts_[1][...] = 0            # and in place
    np.testing.assert_allclose(clf.predict_proba(X), 0.5)
    assert clf.coefs_[0].dtype == np.dtype(dtype)
    before = clf._net.get_params()
    with pytest.raises(ValueError, match=r"coefs_\[0\] must have shape \(3, 5\); got \(3, 4\)"):
        clf.coefs_ = [np.ones((3, 4)), np.ones((4, 1))]
    with pytest.raises(ValueError, match="coefs_ must be a list of 2 arrays"):
        clf.coefs_ = coefs[:1]
    with pytest.raises(ValueError, match=r"intercepts_\[1\] must have shape \(1,\)"):
        clf.intercepts_ = [np.zeros(5), np.zeros(2)]
    with pytest.raises(ValueError, match=r"intercepts_\[0\] must hold finite"):
        clf.intercepts_ = [np.full(5, np.nan), np.zeros(1)]
    with pytest.raises(TypeError, match="coefs_ must be a list"):
        clf.coefs_ = np.ones((3, 5))
    if dtype == "float32":
        with pytest.raises(ValueError, match=r"coefs_\[1\] must hold finite real numbers that "
                                             "fit float32"):
            clf.coefs_ = [np.ones((3, 5)), np.full((5, 1), 1e39)]
    np.testing.assert_array_equal(clf._net.get_params(), before)
    assert not hasattr(sk.MLPClassifier(), "coefs_")
    assert not hasattr(sk.MLPRegressor(), "intercepts_")
    # pickles and clones carry the assigned values
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


def test_a_fit_that_fails_building_the_network_leaves_the_estimator_unfitted():
    sk = pytest.importorskip("barenet.sklearn")
    from sklearn.exceptions import NotFittedError
    clf = sk.MLPClassifier(hidden_layer_sizes=(10**14,))   # beyond any address space
    with pytest.raises(ValueError, match="units must be"):   # refused before allocating
        clf.fit(np.ones((4, 2)), [0, 1, 0, 1])
    with pytest.raises(NotFittedError):
        clf.predict(np.ones((1, 2)))
    assert not hasattr(clf, "coefs_")


# -- items 11 and 12: the command line ---------------------------------------------------------

@pytest.fixture
def table(tmp_path):
    """a 3-column CSV without header: x1, x2, label; the only class-2 row is the first"""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    y[0] = 2
    lines = [f"{float(a)!r},{float(b)!r},{c}" for (a, b), c in zip(X, y)]
    return tmp_path, lines


def write(path, lines, encoding="utf-8"):
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def train(path, *extra, out="m.npz", backend="numpy"):
    return run_cli("train", "--data", path, "--epochs", 1, "--out", path.parent / out,
                   "--quiet", *extra, backend=backend)


@pytest.mark.parametrize("column", [3, 4, -4, 100])
def test_target_column_outside_the_table_is_an_error(table, column):
    tmp, lines = table
    line = one_line_error(train(write(tmp / "d.csv", lines), "--target-column", column))
    assert f"--target-column {column} is not a column" in line and "has 3 columns" in line
    assert not (tmp / "m.npz").exists()


@pytest.mark.parametrize("column, n_in, n_out", [(2, 2, 3), (-1, 2, 3), (0, 2, 2), (-3, 2, 2)])
def test_target_column_inside_the_table(table, column, n_in, n_out):
    tmp, lines = table
    result = train(write(tmp / "d.csv", lines), "--target-column", column, "--task",
                   "regress" if column in (0, -3) else "classify")
    assert result.returncode == 0, result.stderr
    sizes = NeuralNetwork.load(tmp / "m.npz").layer_sizes
    assert sizes[0] == n_in and sizes[-1] == (1 if column in (0, -3) else n_out)


@pytest.mark.parametrize("header", [False, True])
def test_a_byte_order_mark_is_not_a_header(table, header):
    """the first row holds the only label 2: dropping it would leave a 2-output network"""
    tmp, lines = table
    path = write(tmp / "bom.csv", (["x1,x2,label"] if header else []) + lines,
                 encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    result = train(path)
    assert result.returncode == 0, result.stderr
    assert NeuralNetwork.load(tmp / "m.npz").layer_sizes == (2, 64, 3)


def test_a_malformed_first_row_is_an_error_not_a_header(table):
    tmp, lines = table
    first = lines[0].split(",")
    bad = write(tmp / "bad.csv", [f"{first[0]},abc,{first[2]}"] + lines[1:])
    line = one_line_error(train(bad))
    assert "line 1, column 2: 'abc' is not a number" in line
    assert not (tmp / "m.npz").exists()


@pytest.mark.parametrize("cell, what", [("abc", "'abc' is not a number"),
                                        ("", "'' is not a number"),
                                        ("1.0;2", "'1.0;2' is not a number")])
def test_a_malformed_cell_names_line_and_column(table, cell, what):
    tmp, lines = table
    row = lines[5].split(",")
    row[1] = cell
    bad = write(tmp / "bad.csv", ["x1,x2,label"] + lines[:5] + [",".join(row)] + lines[6:])
    assert f"line 7, column 2: {what}" in one_line_error(train(bad))


def test_a_row_with_another_column_count_is_an_error(table):
    tmp, lines = table
    bad = write(tmp / "bad.csv", lines[:3] + ["1.0,2.0"] + lines[3:])
    assert "line 4 has 2 columns where the lines before it have 3" in one_line_error(train(bad))


def test_huge_class_labels_and_widths_are_refused_before_allocating(table):
    tmp, lines = table
    first = lines[0].split(",")
    big = write(tmp / "big.csv", [f"{first[0]},{first[1]},1e12"] + lines[1:])
    line = one_line_error(train(big))
    assert "largest class label is 1000000000000" in line and "memory" in line
    line = one_line_error(train(write(tmp / "d.csv", lines), "--hidden", "100000000000"))
    assert "[2, 100000000000, 3]" in line and "memory" in line
    for labels in ("1e300", "inf", "nan", "-1", "0.5"):
        bad = write(tmp / "bad.csv", [f"{first[0]},{first[1]},{labels}"] + lines[1:])
        one_line_error(train(bad))


def test_divergence_is_one_line_and_saves_nothing(table, backend):
    tmp, lines = table
    result = train(write(tmp / "d.csv", lines), "--lr", "1e300", "--optimizer", "sgd",
                   "--epochs", 5, backend=backend)
    line = one_line_error(result, status=3)
    assert "training diverged" in line and "Nothing was saved" in line
    assert not (tmp / "m.npz").exists()


def test_out_in_a_missing_directory_fails_before_training(table):
    tmp, lines = table
    result = run_cli("train", "--data", write(tmp / "d.csv", lines), "--epochs", 5,
                     "--batch-size", 8, "--out", tmp / "missing" / "m.npz")
    line = one_line_error(result)
    assert str(tmp / "missing" / "m.npz") in line and ".tmp" not in line
    assert "Epoch" not in result.stdout   # refused before training, not after
    result = run_cli("train", "--data", tmp / "d.csv", "--epochs", 1, "--out", tmp / "m.npz",
                     "--plot", tmp / "missing" / "h.png")
    assert "--plot" in one_line_error(result) and not (tmp / "m.npz").exists()
    assert train(tmp / "d.csv").returncode == 0
    result = run_cli("predict", tmp / "m.npz", tmp / "d.csv", "--out",
                     tmp / "missing" / "p.csv")
    assert "--out" in one_line_error(result) and "missing" in one_line_error(result)


def test_damaged_model_files_are_one_line_errors(table):
    tmp, lines = table
    data = write(tmp / "d.csv", [",".join(line.split(",")[:2]) for line in lines])
    (tmp / "junk.npz").write_bytes(b"not a zip")
    assert "junk.npz" in one_line_error(run_cli("predict", tmp / "junk.npz", data, "--out",
                                                tmp / "p.csv"))
