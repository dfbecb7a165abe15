"""Training under misuse (issue 16): a refused train call changes nothing, an optimizer
object belongs to one network, every change to a network takes its lock, train's
arguments are bounded, and a Ctrl-C is never lost, also when it arrives after the last
poll of a call. The random-moment SIGINT test is in test_interrupt.py."""

import copy
import gc
import pickle
import signal
import sys
import threading

import numpy as np
import pytest

from barenet import EarlyStopping, NeuralNetwork, Sequential, optimizers
from barenet.layers import Dense
from barenet.training import Progress

rng = np.random.default_rng(0)
X = rng.standard_normal((40, 3))
Y = (X[:, :1] > 0).astype(float)
XV = rng.standard_normal((10, 3))
YV = (XV[:, :1] > 0).astype(float)


def make(backend, **kw):
    return NeuralNetwork([3, 5, 1], seed=0, backend=backend, **kw)


def state(net):
    """everything a train call may change, copied"""
    opt = net.optimizer
    return dict(params=net.get_params(), epochs=net._epochs_done, stream=net._stream_seed,
                opt=opt, opt_name=net._optimizer_name,
                step=None if opt is None else opt.step,
                arrays=None if opt is None else [None if s is None else s.copy()
                                                 for s in opt.state_arrays() or ()],
                owner=None if opt is None else opt._owner_network(),
                global_rng=np.random.get_state()[1].copy())


def assert_same_state(before, after):
    assert np.array_equal(before["params"], after["params"])
    for key in ("epochs", "stream", "opt_name", "step"):
        assert before[key] == after[key], key
    assert before["opt"] is after["opt"] and before["owner"] is after["owner"]
    assert len(before["arrays"] or ()) == len(after["arrays"] or ())
    for a, b in zip(before["arrays"] or (), after["arrays"] or ()):
        assert (a is None and b is None) or np.array_equal(a, b)
    assert np.array_equal(before["global_rng"], after["global_rng"])


def schedule_zero_at(epoch):
    return lambda e, lr, epochs: 0.0 if e == epoch else lr


class ScheduleError(Exception):
    pass


def schedule_raising(e, lr, epochs):
    raise ScheduleError("no rate")


# -- item 5: a refused call leaves the network exactly as it was -----------------------------

REFUSED = [
    # (train keywords, exception)
    (dict(early_stopping=EarlyStopping(monitor="val_loss")), ValueError),
    (dict(lr_schedule=schedule_zero_at(0)), ValueError),
    (dict(lr_schedule=lambda e, lr, epochs: float("nan")), ValueError),
    (dict(lr_schedule=lambda e, lr, epochs: "fast"), TypeError),
    (dict(lr_schedule=schedule_raising), ScheduleError),
    (dict(lr_schedule="nope"), ValueError),
    (dict(epochs=-1), ValueError),
    (dict(epochs=2**63), ValueError),
    (dict(epochs=2.0), TypeError),
    (dict(batch_size=0), ValueError),
    (dict(batch_size=1.5), TypeError),
    (dict(learning_rate=0.0), ValueError),
    (dict(learning_rate=float("inf")), ValueError),
    (dict(learning_rate="0.1"), TypeError),
    (dict(verbose="yes"), TypeError),
    (dict(shuffle=1), TypeError),
    (dict(on_divergence="ignore"), ValueError),
    (dict(optimizer="adagrad"), ValueError),
    (dict(optimizer=optimizers.Adam), TypeError),
    (dict(validation_data=(XV,)), TypeError),
    (dict(validation_data=(XV[:, :2], YV)), ValueError),
    (dict(validation_data=(XV, YV[:5])), ValueError),
    (dict(early_stopping="yes"), TypeError),
    (dict(sample_weight=np.ones(3)), ValueError),
    (dict(optimizer="lbfgs", batch_size=8), ValueError),
    (dict(optimizer="lbfgs", batch_size=None, epochs=0), ValueError),
    (dict(optimizer="lbfgs", batch_size=None, learning_rate=-1.0), ValueError),
    (dict(optimizer="lbfgs", batch_size=None, shuffle="no"), TypeError),
    (dict(optimizer="sgd", batch_size=-2), ValueError),   # another optimizer, then refused
]


@pytest.mark.parametrize("kw, error", REFUSED, ids=[f"refused{i}" for i in range(len(REFUSED))])
def test_refused_train_call_changes_nothing(backend, kw, error):
    net = make(backend)
    net.train(X, Y, epochs=3, learning_rate=0.01, batch_size=8, optimizer="adam",
              verbose=False)
    before = state(net)
    args = dict(epochs=5, learning_rate=0.01, batch_size=8, optimizer="adam", verbose=False)
    args.update(kw)
    with pytest.raises(error):
        net.train(X, Y, **args)
    assert_same_state(before, state(net))
    # and the Adam state goes on: 3 + 2 epochs are 5 epochs in one call
    net.train(X, Y, epochs=2, learning_rate=0.01, batch_size=8, optimizer="adam", verbose=False)
    ref = make(backend)
    ref.train(X, Y, epochs=5, learning_rate=0.01, batch_size=8, optimizer="adam", verbose=False)
    assert np.array_equal(net.get_params(), ref.get_params())
    assert net.optimizer.step == ref.optimizer.step == 5 * 5


def test_refused_call_draws_no_seed(backend):
    """seed=None: the shuffling seed is drawn from NumPy's global state on the first
    mini-batch call, and a refused call must not draw it"""
    np.random.seed(1)
    net = NeuralNetwork([3, 5, 1], backend=backend)
    before = state(net)
    with pytest.raises(ValueError):
        net.train(X, Y, epochs=2, batch_size=8, early_stopping=EarlyStopping(monitor="val_loss"),
                  verbose=False)
    assert_same_state(before, state(net))
    assert net._stream_seed is None


def test_schedule_failing_later_stops_at_an_epoch_boundary(backend):
    """a rate refused at epoch 3 (after training started): the network keeps the 3 epochs
    done, as after Ctrl-C, and the error carries the history"""
    net = make(backend)
    with pytest.raises(ValueError, match="epoch 3") as info:
        net.train(X, Y, epochs=10**12, learning_rate=0.05, optimizer="adam", verbose=False,
                  lr_schedule=schedule_zero_at(3))
    assert len(info.value.history) == 3 and net._epochs_done == 3
    ref = make(backend)
    ref.train(X, Y, epochs=3, learning_rate=0.05, optimizer="adam", verbose=False)
    assert np.array_equal(net.get_params(), ref.get_params())


def test_refused_set_params_and_item_changes_nothing(backend):
    net = make(backend)
    before = net.get_params()
    for bad in (np.ones(3), np.full(net.n_params, np.nan), np.array(["a"] * net.n_params)):
        with pytest.raises(ValueError):
            net.set_params(bad)
    with pytest.raises(ValueError):
        net.weights[0] = np.ones((2, 2))
    with pytest.raises(ValueError):
        net.biases[1] = np.full((1, 1), np.inf)
    with pytest.raises(ValueError):
        net.backward(X, Y[:3])
    with pytest.raises(ValueError):
        net.backward(X, Y, learning_rate=-1.0)
    assert np.array_equal(net.get_params(), before)


# -- item 12 (train's part): bounds naming the argument --------------------------------------

@pytest.mark.parametrize("epochs", [2**63, 2**62 + 1, 10**30])
def test_epochs_bounded_by_the_epoch_counter(backend, epochs):
    net = make(backend)
    with pytest.raises(ValueError, match="epochs must be <= 4611686018427387904"):
        net.train(X, Y, epochs=epochs, verbose=False)
    net._epochs_done = 2**63 - 11   # as a model file may say (io allows up to 2**62)
    with pytest.raises(ValueError, match="epochs must be <= 10 .*done 9223372036854775797"):
        net.train(X, Y, epochs=11, verbose=False)
    with pytest.raises(ValueError, match="epochs"):
        net.train(X, Y, epochs=2**63, optimizer="lbfgs", verbose=False)


@pytest.mark.parametrize("kw, name", [(dict(batch_size=0), "batch_size"),
                                      (dict(batch_size=-(2**70)), "batch_size"),
                                      (dict(learning_rate=1e400), "learning_rate"),
                                      (dict(learning_rate=-1e-3), "learning_rate"),
                                      (dict(epochs=-5), "epochs")])
def test_train_arguments_named(backend, kw, name):
    args = dict(epochs=2, verbose=False)
    args.update(kw)
    with pytest.raises(ValueError, match=name):
        make(backend).train(X, Y, **args)


def test_huge_batch_size_is_full_batch(backend):
    net, ref = make(backend), make(backend)
    net.train(X, Y, epochs=3, batch_size=2**70, verbose=False)
    ref.train(X, Y, epochs=3, verbose=False)
    assert np.array_equal(net.get_params(), ref.get_params())


def test_long_calls_are_chunked_with_the_same_result(backend, monkeypatch):
    """epochs go to the backend in chunks (no losses buffer of `epochs` entries): the
    result is that of one chunk"""
    from barenet import network
    ref = make(backend)
    ref.train(X, Y, epochs=7, batch_size=16, optimizer="adam", verbose=False)
    monkeypatch.setattr(network, "EPOCHS_PER_CALL", 2)
    net = make(backend)
    history = net.train(X, Y, epochs=7, batch_size=16, optimizer="adam", verbose=False)
    assert len(history) == 7 and net._epochs_done == 7
    assert np.array_equal(net.get_params(), ref.get_params())
    assert net.optimizer.step == ref.optimizer.step


# -- item 7: one optimizer object, one network ------------------------------------------------

def test_optimizer_object_serves_one_network(backend):
    opt = optimizers.Adam()
    a, b = make(backend), make(backend)
    a.train(X, Y, epochs=2, batch_size=8, optimizer=opt, verbose=False)
    before = state(b)
    with pytest.raises(ValueError, match="another network"):
        b.train(X, Y, epochs=2, batch_size=8, optimizer=opt, verbose=False)
    assert_same_state(before, state(b))
    assert a.optimizer is opt and opt.step == 2 * 5
    # the owner goes on with it
    a.train(X, Y, epochs=1, batch_size=8, optimizer=opt, verbose=False)
    assert opt.step == 3 * 5
    # the same settings for b: a new object
    b.train(X, Y, epochs=1, batch_size=8, verbose=False,
            optimizer=type(opt)(**opt.hyperparameters()))
    assert b.optimizer is not opt and b.optimizer.step == 5
    # a copy or a pickle belongs to no one
    for clone in (copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
        c = make(backend)
        c.train(X, Y, epochs=1, batch_size=8, optimizer=clone, verbose=False)
        assert clone.step == 3 * 5 + 5 and opt.step == 3 * 5


def test_optimizer_released_when_its_network_moves_on_or_goes(backend):
    opt = optimizers.SGD(momentum=0.9)
    a, b = make(backend), make(backend)
    a.train(X, Y, epochs=1, optimizer=opt, verbose=False)
    a.train(X, Y, epochs=1, optimizer="adam", verbose=False)   # a moves on
    b.train(X, Y, epochs=1, optimizer=opt, verbose=False)      # so b may take it
    with pytest.raises(ValueError, match="another network"):
        a.train(X, Y, epochs=1, optimizer=opt, verbose=False)
    del b
    gc.collect()
    a.train(X, Y, epochs=1, optimizer=opt, verbose=False)      # b is gone


def test_loaded_network_owns_its_optimizer(backend, tmp_path):
    net = make(backend)
    net.train(X, Y, epochs=2, batch_size=8, optimizer="adam", verbose=False)
    net.save(tmp_path / "m.npz")
    loaded = NeuralNetwork.load(tmp_path / "m.npz", backend=backend)
    with pytest.raises(ValueError, match="another network"):
        make(backend).train(X, Y, epochs=1, optimizer=loaded.optimizer, verbose=False)


def test_two_threads_cannot_share_one_optimizer(backend):
    """two networks in two threads, one fresh optimizer: exactly one may train with it
    (check and claim are one atomic step), whatever the interleaving"""
    for _ in range(20):
        opt = optimizers.Adam()
        nets = [make(backend), make(backend)]
        barrier = threading.Barrier(2)
        outcome = [None, None]

        def run(i):
            barrier.wait()
            try:
                nets[i].train(X, Y, epochs=1, batch_size=8, optimizer=opt, verbose=False)
                outcome[i] = "trained"
            except ValueError:
                outcome[i] = "refused"

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcome) == ["refused", "trained"]
        owner = nets[outcome.index("trained")]
        assert opt._owner_network() is owner and opt.step == 5


# -- item 10: every change takes the network's lock ------------------------------------------

def test_changes_refused_while_another_thread_trains(backend):
    """a schedule holds the training thread inside train (at epoch 1) while the main thread
    tries every way of changing the network: each raises RuntimeError and changes nothing"""
    net = Sequential([Dense(4, "relu"), Dense(1, "sigmoid")], input_shape=(3,), seed=0,
                     backend=backend)
    inside, go = threading.Event(), threading.Event()

    def hold(e, lr, epochs):
        if e == 1:
            inside.set()
            assert go.wait(30)
        return lr

    errors = []

    def train():
        try:
            net.train(X, Y, epochs=3, batch_size=8, lr_schedule=hold, verbose=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=train)
    thread.start()
    try:
        assert inside.wait(30)
        before = net.get_params()
        attempts = [
            lambda: net.weights.__setitem__(0, np.zeros((3, 4))),
            lambda: net.biases.__setitem__(1, np.zeros(net.biases[1].shape)),
            lambda: net.set_params(np.zeros(net.n_params)),
            lambda: net.backward(X, Y),
            lambda: net.train(X, Y, epochs=1, verbose=False),
            lambda: net.save("never-written.npz"),
            lambda: net.load_torch_state_dict({}),
        ]
        for attempt in attempts:
            with pytest.raises(RuntimeError, match="in use by another thread"):
                attempt()
        assert np.array_equal(net.get_params(), before)
    finally:
        go.set()
        thread.join()
    assert not errors
    assert net._epochs_done == 3
    net.weights[0] = np.zeros((3, 4))   # free again
    assert not net.weights[0].any()


# -- item 2: the Ctrl-C that arrives after the last poll -------------------------------------

@pytest.mark.skipif(sys.platform == "win32", reason="no SIGINT to oneself on Windows")
@pytest.mark.parametrize("kw", [dict(), dict(batch_size=8, optimizer="adam"),
                                dict(validation_data=(XV, YV)),
                                dict(batch_size=8, early_stopping=EarlyStopping(patience=50))],
                         ids=["full", "minibatch", "validation", "early_stopping"])
def test_sigint_after_the_last_poll_is_not_lost(backend, kw, monkeypatch, capsys,
                                               python_sigint):
    """SIGINT raised as the call closes its progress output (after every poll of the
    loop): the call still raises KeyboardInterrupt, with the whole history, the network at
    the end of the call; and the next call is not interrupted by a stale flag"""
    closing = Progress.close

    def close_with_sigint(self):
        signal.raise_signal(signal.SIGINT)
        closing(self)

    monkeypatch.setattr(Progress, "close", close_with_sigint)
    net = make(backend)
    with pytest.raises(KeyboardInterrupt) as info:
        net.train(X, Y, epochs=4, learning_rate=0.05, verbose=True, **kw)
    assert len(info.value.history) == 4 and net._epochs_done == 4
    ref = make(backend)
    ref.train(X, Y, epochs=4, learning_rate=0.05, verbose=False, **kw)
    assert np.array_equal(net.get_params(), ref.get_params())
    monkeypatch.setattr(Progress, "close", closing)
    assert len(net.train(X, Y, epochs=2, learning_rate=0.05, verbose=False, **kw)) == 2
    capsys.readouterr()


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGINT to oneself on Windows")
@pytest.mark.parametrize("kw", [dict(), dict(batch_size=8, optimizer="adam"),
                                dict(validation_data=(XV, YV))],
                         ids=["full", "minibatch", "validation"])
def test_sigint_between_epochs_stops_there(backend, kw, python_sigint):
    """SIGINT raised in Python between two epochs' C calls (from the schedule, before epoch
    2): training stops with epochs 0 and 1 done, not later and not never"""

    def sigint_at_2(e, lr, epochs):
        if e == 2:
            signal.raise_signal(signal.SIGINT)
        return lr

    net = make(backend)
    with pytest.raises(KeyboardInterrupt) as info:
        net.train(X, Y, epochs=50, learning_rate=0.05, verbose=False, lr_schedule=sigint_at_2,
                  **kw)
    assert len(info.value.history) == 2 and net._epochs_done == 2
    ref = make(backend)
    ref.train(X, Y, epochs=2, learning_rate=0.05, verbose=False, **kw)
    assert np.array_equal(net.get_params(), ref.get_params())


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGINT to oneself on Windows")
def test_sigint_in_lbfgs_callback_keeps_accepted_iterate(backend, monkeypatch, python_sigint):
    """L-BFGS: a SIGINT during an evaluation stops at the last accepted iterate, the one a
    run of as many iterations ends at"""
    pytest.importorskip("scipy")
    from barenet import _lbfgs
    calls = {"n": 0}
    evaluate = _lbfgs._Objective.__call__

    def counting(self, x):
        calls["n"] += 1
        if calls["n"] == 6:
            signal.raise_signal(signal.SIGINT)
        return evaluate(self, x)

    monkeypatch.setattr(_lbfgs._Objective, "__call__", counting)
    net = make(backend)
    with pytest.raises(KeyboardInterrupt) as info:
        net.train(X, Y, epochs=100, optimizer="lbfgs", verbose=False)
    done = len(info.value.history)
    monkeypatch.setattr(_lbfgs._Objective, "__call__", evaluate)
    ref = make(backend)
    if done:
        ref.train(X, Y, epochs=done, optimizer="lbfgs", verbose=False)
    assert np.array_equal(net.get_params(), ref.get_params())
    assert len(net.train(X, Y, epochs=2, optimizer="lbfgs", verbose=False)) <= 2


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGINT to oneself on Windows")
def test_sigint_without_the_extension_uses_a_python_flag(monkeypatch, python_sigint):
    """a pure install (no barenet._core): the flag is a Python handler's, with the same
    behaviour on the NumPy backend, and Python's handler is back afterwards"""
    from barenet import _backend
    monkeypatch.setattr(_backend, "_try_compiled", lambda: ("absent", "simulated"))

    def sigint_at_2(e, lr, epochs):
        if e == 2:
            signal.raise_signal(signal.SIGINT)
        return lr

    net = make("numpy")
    with pytest.raises(KeyboardInterrupt) as info:
        net.train(X, Y, epochs=50, batch_size=8, verbose=False, lr_schedule=sigint_at_2)
    assert len(info.value.history) == 2 and net._epochs_done == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    ref = make("numpy")
    ref.train(X, Y, epochs=2, batch_size=8, verbose=False)
    assert np.array_equal(net.get_params(), ref.get_params())
