"""barenet.optimizers on both implementations (update_numpy, update_compiled): each
optimizer against a hand-written per-element reference of its formula, the two
implementations against each other, Adam's first step, state kept between calls and
cleared by reset(), hyper-parameter validation, the name registry and state_dict."""

import math

import numpy as np
import pytest

from barenet import optimizers
from barenet.optimizers import SGD, Adam, AdamW, RMSprop, get_optimizer
from conftest import require_compiled

LR = 0.05
RTOL = {"float64": 1e-12, "float32": 1e-5}

FACTORIES = {
    "sgd": lambda: SGD(),
    "momentum": lambda: SGD(momentum=0.9),
    "nesterov": lambda: SGD(momentum=0.8, nesterov=True),
    "rmsprop": lambda: RMSprop(rho=0.85, eps=1e-6),
    "adam": lambda: Adam(beta1=0.8, beta2=0.95, eps=1e-7),
    "adamw": lambda: AdamW(beta1=0.85, beta2=0.99, eps=1e-8, weight_decay=0.1),
}


def reference(name, opt, p, grads, lr):
    """the formulas one element at a time in Python floats, written from the docs"""
    p = [float(x) for x in p]
    n = len(p)
    v, m, s = [0.0] * n, [0.0] * n, [0.0] * n
    for t, g in enumerate(grads, start=1):
        for i in range(n):
            gi = float(g[i])
            if name == "sgd":
                p[i] = p[i] - lr * gi
            elif name == "momentum":
                v[i] = opt.momentum * v[i] + gi
                p[i] = p[i] - lr * v[i]
            elif name == "nesterov":
                v[i] = opt.momentum * v[i] + gi
                p[i] = p[i] - lr * (gi + opt.momentum * v[i])
            elif name == "rmsprop":
                s[i] = opt.rho * s[i] + (1 - opt.rho) * gi ** 2
                p[i] = p[i] - lr * gi / (math.sqrt(s[i]) + opt.eps)
            else:  # adam, adamw
                if name == "adamw":
                    p[i] = p[i] - lr * opt.weight_decay * p[i]
                m[i] = opt.beta1 * m[i] + (1 - opt.beta1) * gi
                v[i] = opt.beta2 * v[i] + (1 - opt.beta2) * gi ** 2
                m_hat = m[i] / (1 - opt.beta1 ** t)
                v_hat = v[i] / (1 - opt.beta2 ** t)
                p[i] = p[i] - lr * m_hat / (math.sqrt(v_hat) + opt.eps)
    return np.array(p)


@pytest.fixture
def compiled():
    """for the compiled-only tests: under BARENET_BACKEND=compiled a missing extension fails"""
    require_compiled()


def problem(n, steps, dtype, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(steps)]
    return p, grads


def update(opt, backend, params, grads, lr):
    if backend == "numpy":
        opt.update_numpy(params, grads, lr)
    else:
        opt.update_compiled(params, grads, lr)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_against_hand_written_reference(name, backend, dtype):
    opt = FACTORIES[name]()
    p, grads = problem(37, 6, dtype)
    expected = reference(name, opt, p, grads, LR)
    opt.reset(p.size, dtype)
    params = p.copy()
    for g in grads:
        update(opt, backend, params, g, LR)
    assert params.dtype == np.dtype(dtype)
    assert opt.step == len(grads)
    np.testing.assert_allclose(params, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * 1e-2)


@pytest.mark.parametrize("name", list(FACTORIES))
@pytest.mark.parametrize("n", [0, 1, 7, 1000])
def test_compiled_agrees_with_numpy(name, n, dtype, compiled):
    p, grads = problem(n, 5, dtype, seed=n)
    results = []
    for how in ("numpy", "compiled"):
        opt = FACTORIES[name]()
        opt.reset(n, dtype)
        params = p.copy()
        for g in grads:
            update(opt, how, params, g, LR)
        results.append((params, opt.state_arrays(), opt.step))
    (p_np, s_np, t_np), (p_c, s_c, t_c) = results
    rtol = 1e-14 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(p_c, p_np, rtol=rtol, atol=0)
    for a, b in zip(s_c, s_np):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=0)
    assert t_c == t_np == 5


@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_adam_first_step_moves_each_parameter_by_lr(cls, backend, dtype):
    rng = np.random.default_rng(1)
    p = rng.standard_normal(50).astype(dtype)
    g = (rng.choice([-1, 1], 50) * rng.uniform(0.1, 10, 50)).astype(dtype)
    opt = cls(weight_decay=0.0) if cls is AdamW else cls()
    opt.reset(50, dtype)
    params = p.copy()
    update(opt, backend, params, g, 1e-3)
    # m_hat = g and v_hat = g^2, so the step is lr g / (|g| + eps) = lr sign(g)
    np.testing.assert_allclose(p - params, 1e-3 * np.sign(g), rtol=1e-3 if dtype == "float32"
                               else 1e-6)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_state_persists_across_calls_and_reset_clears_it(name, backend, dtype):
    p, grads = problem(11, 5, dtype, seed=3)
    once = FACTORIES[name]()
    once.reset(p.size, dtype)
    a = p.copy()
    for g in grads:
        update(once, backend, a, g, LR)
    # the same steps in two "train calls": the state carries over
    twice = FACTORIES[name]()
    twice.reset(p.size, dtype)
    b = p.copy()
    for g in grads[:2]:
        update(twice, backend, b, g, LR)
    assert not twice.ensure_state(p.size, dtype)  # fits: kept
    for g in grads[2:]:
        update(twice, backend, b, g, LR)
    np.testing.assert_array_equal(a, b)
    assert twice.step == 5
    state = twice.state_arrays()
    for s in state:
        if s is not None:
            assert s.dtype == np.dtype(dtype) and np.any(s != 0)
    twice.reset(p.size, dtype)
    assert twice.step == 0
    assert all(s is None or not s.any() for s in twice.state_arrays())
    # after reset() the run starts over
    c = p.copy()
    for g in grads:
        update(twice, backend, c, g, LR)
    np.testing.assert_array_equal(a, c)


def test_state_arrays_and_kinds():
    expected = {"sgd": 0, "momentum": 1, "nesterov": 1, "rmsprop": 1, "adam": 2, "adamw": 2}
    for name, n_states in expected.items():
        opt = get_optimizer(name)
        assert opt.kind == name and opt.name == name
        assert opt.state_arrays() is None
        opt.reset(4, "float32")
        s1, s2 = opt.state_arrays()
        assert [s is not None for s in (s1, s2)] == [n_states >= 1, n_states == 2]
        cfg = opt.c_config(0.5)
        assert cfg["kind"] == name and cfg["lr"] == 0.5 and cfg["step"] == 0
    cfg = AdamW(beta1=0.5, beta2=0.6, eps=1e-3, weight_decay=0.2).c_config(1e-3)
    assert cfg == {"kind": "adamw", "lr": 1e-3, "beta1": 0.5, "beta2": 0.6, "eps": 1e-3,
                   "weight_decay": 0.2, "step": 0, "clipvalue": 0.0, "clipnorm": 0.0,
                   "decay_weights_only": 0}


def test_state_dicts_of_older_files_with_numbered_kinds_still_load():
    """model files written before kinds were names recorded 0-5 (sgd ... adamw)"""
    for number, name in enumerate(("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")):
        d = get_optimizer(name).state_dict()
        d["kind"] = number
        assert optimizers.optimizer_from_state_dict(d).kind == name
    with pytest.raises(ValueError, match="unknown kind"):
        optimizers.optimizer_from_state_dict({"kind": 6})
    assert SGD(momentum=0.9).c_config(0.1)["momentum"] == 0.9
    assert RMSprop(rho=0.7).c_config(0.1)["rho"] == 0.7


def test_plain_sgd_needs_no_reset():
    opt = SGD()
    params = np.ones(3)
    opt.update_numpy(params, np.ones(3), 0.5)
    np.testing.assert_array_equal(params, 0.5)


def test_update_checks_its_arrays():
    opt = Adam()
    with pytest.raises(RuntimeError, match="reset"):
        opt.update_numpy(np.zeros(3), np.zeros(3), 0.1)
    opt.reset(3, "float64")
    with pytest.raises(ValueError, match="params"):
        opt.update_numpy(np.zeros(3, dtype=np.float32), np.zeros(3), 0.1)
    with pytest.raises(ValueError, match="grads"):
        opt.update_numpy(np.zeros(3), np.zeros(4), 0.1)
    assert opt.ensure_state(4, "float64")
    assert opt.state_arrays()[0].shape == (4,)


def test_learning_rate_of_the_optimizer_wins():
    assert Adam().learning_rate_for(0.1) == 0.1
    assert Adam(learning_rate=0.01).learning_rate_for(0.1) == 0.01


@pytest.mark.parametrize("make, exc, match", [
    (lambda: SGD(learning_rate=0), ValueError, "learning_rate"),
    (lambda: SGD(learning_rate=-1.0), ValueError, "learning_rate"),
    (lambda: Adam(learning_rate=float("inf")), ValueError, "learning_rate"),
    (lambda: Adam(learning_rate="0.1"), TypeError, "learning_rate"),
    (lambda: SGD(learning_rate=True), TypeError, "learning_rate"),
    (lambda: SGD(momentum=1.0), ValueError, "momentum"),
    (lambda: SGD(momentum=-0.1), ValueError, "momentum"),
    (lambda: SGD(momentum=float("nan")), ValueError, "momentum"),
    (lambda: SGD(momentum="0.9"), TypeError, "momentum"),
    (lambda: SGD(nesterov=True), ValueError, "nesterov"),
    (lambda: SGD(momentum=0.9, nesterov=1), TypeError, "nesterov"),
    (lambda: RMSprop(rho=1.0), ValueError, "rho"),
    (lambda: RMSprop(rho=-0.5), ValueError, "rho"),
    (lambda: RMSprop(eps=0.0), ValueError, "eps"),
    (lambda: Adam(beta1=1.0), ValueError, "beta1"),
    (lambda: Adam(beta2=-0.001), ValueError, "beta2"),
    (lambda: Adam(beta2=None), TypeError, "beta2"),
    (lambda: Adam(eps=-1e-8), ValueError, "eps"),
    (lambda: Adam(eps=float("inf")), ValueError, "eps"),
    (lambda: AdamW(weight_decay=-0.01), ValueError, "weight_decay"),
    (lambda: AdamW(weight_decay=float("inf")), ValueError, "weight_decay"),
])
def test_bad_hyperparameters(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_registry():
    assert type(get_optimizer("sgd")) is SGD and get_optimizer("sgd").momentum == 0
    m = get_optimizer("momentum")
    assert m.momentum == 0.9 and not m.nesterov
    n = get_optimizer(" Nesterov ")
    assert n.momentum == 0.9 and n.nesterov
    assert type(get_optimizer("RMSprop")) is RMSprop
    assert type(get_optimizer("adam")) is Adam
    assert type(get_optimizer("adamw")) is AdamW
    assert get_optimizer("adam") is not get_optimizer("adam")
    opt = Adam(beta1=0.5)
    assert get_optimizer(opt) is opt
    assert get_optimizer("adam").learning_rate is None
    with pytest.raises(ValueError) as info:
        get_optimizer("adagrad")
    for name in ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"):
        assert name in str(info.value)
    assert "adagrad" in str(info.value)
    with pytest.raises(TypeError, match="instance"):
        get_optimizer(Adam)
    with pytest.raises(TypeError, match="optimizer"):
        get_optimizer(3)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_state_dict_round_trip(name, tmp_path, dtype):
    opt = FACTORIES[name]()
    opt.learning_rate = 0.02
    p, grads = problem(9, 6, dtype, seed=5)
    opt.reset(p.size, dtype)
    a = p.copy()
    for g in grads[:3]:
        opt.update_numpy(a, g, LR)
    d = opt.state_dict()
    for value in d.values():
        assert isinstance(value, (int, float, bool, str, np.ndarray))
    # through an .npz file without pickle, as save/load will do
    np.savez(tmp_path / "opt.npz", **d)
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as f:
        loaded = dict(f)
    restored = optimizers.optimizer_from_state_dict(loaded)
    assert type(restored) is type(opt) and restored.kind == opt.kind
    assert restored.hyperparameters() == opt.hyperparameters()
    assert restored.step == 3
    again = FACTORIES[name]()
    again.load_state_dict(d)
    b, c = a.copy(), a.copy()
    if name == "sgd":  # no state arrays to restore: size them (the step count restarts)
        restored.reset(p.size, dtype)
    for g in grads[3:]:
        opt.update_numpy(a, g, LR)
        restored.update_numpy(b, g, LR)
        again.update_numpy(c, g, LR)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    # the saved copy is not the live state
    if d.get("state1") is not None:
        assert not np.array_equal(d["state1"], opt.state_arrays()[0])


def test_load_state_dict_checks():
    d = Adam().state_dict()
    with pytest.raises(ValueError, match="kind"):
        RMSprop().load_state_dict(d)
    with pytest.raises(ValueError, match="missing"):
        Adam().load_state_dict({"kind": 4, "step": 0})
    with pytest.raises(ValueError, match="beta1"):
        Adam().load_state_dict({**d, "beta1": 2.0})
    with pytest.raises(ValueError, match="unknown kind"):
        optimizers.optimizer_from_state_dict({"kind": 17})


@pytest.mark.parametrize("name", ["momentum", "rmsprop", "adam", "adamw"])
def test_states_below_the_smallest_normal_are_flushed_to_zero(name, dtype, compiled):
    """a state that decays through the subnormal range (zero gradient) becomes exactly
    zero there, in C as in NumPy, bit for bit; normal values are untouched"""
    tiny = np.finfo(dtype).tiny
    opt_c, opt_n = FACTORIES[name](), FACTORIES[name]()
    p = np.array([1.0, -2.0, 0.5, 3.0], dtype=dtype)
    pc, pn = p.copy(), p.copy()
    zero = np.zeros_like(p)
    for opt in (opt_c, opt_n):
        opt.ensure_state(p.size, np.dtype(dtype))
        for s in opt.state_arrays():
            if s is not None:
                s[...] = np.array([tiny * 1.5, tiny * 1.01, 1.0, tiny * 1.2], dtype=dtype)
    live = lambda opt: [s for s in opt.state_arrays() if s is not None]  # noqa: E731
    for _ in range(60):
        opt_c.update_compiled(pc, zero, LR)
        opt_n.update_numpy(pn, zero, LR)
        for sc, sn in zip(live(opt_c), live(opt_n)):
            assert not np.any((sc != 0) & (np.abs(sc) < tiny))
            np.testing.assert_array_equal(sc.view(np.uint8), sn.view(np.uint8))
        np.testing.assert_array_equal(pc, pn)
    for s in live(opt_c):
        assert s[0] == 0 and s[1] == 0 and s[3] == 0 and s[2] > tiny  # normal ones decay on


def test_training_long_enough_for_subnormal_moments_leaves_none(dtype, compiled):
    """Adam's moments of weights whose inputs go silent decay by beta1, beta2 every step:
    after a first epoch with a live input column and then enough steps with it zero they
    would be subnormal (0.9**1200 ~ 1e-55 in float32, 0.9**7000 ~ 1e-320 in float64);
    flushed, they are exactly zero in both backends, which agree (to rounding: their
    GEMMs sum in different orders) on the parameters and both moments"""
    from barenet import NeuralNetwork

    rng = np.random.default_rng(3)
    X = rng.standard_normal((32, 3)).astype(dtype)
    y = (X[:, :1] > 0).astype(dtype)
    silent = X.copy()
    silent[:, 0] = 0.0
    runs = {}
    for be in ("compiled", "numpy"):
        net = NeuralNetwork([3, 4, 1], dtype=dtype, seed=1, backend=be)
        opt = Adam(beta1=0.9, beta2=0.9)
        net.train(X, y, epochs=1, learning_rate=1e-3, verbose=False, batch_size=4,
                  optimizer=opt)
        net.train(silent, y, epochs=40 if dtype == "float32" else 220, learning_rate=1e-3,
                  verbose=False, batch_size=1, optimizer=opt)
        runs[be] = net.get_params(), [s.copy() for s in opt.state_arrays()]
        m, v = opt.state_arrays()
        # the silent input's weights, row 0 of the first W (3, 4): gradients exactly zero
        assert np.all(m[:4] == 0) and np.all(v[:4] == 0), (m[:4], v[:4])
        for s in (m, v):
            assert not np.any((s != 0) & (np.abs(s) < np.finfo(dtype).tiny))
    (pc, sc), (pn, sn) = runs["compiled"], runs["numpy"]
    tol = dict(rtol=1e-4, atol=1e-6) if dtype == "float32" else dict(rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pc, pn, **tol)
    for a, b in zip(sc, sn):
        np.testing.assert_allclose(a, b, **tol)
