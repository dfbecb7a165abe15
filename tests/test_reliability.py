"""Processes and threads: a child forked after training trains and predicts without
hanging; two threads training two networks give the results of running them one after
the other; one network used from two threads at once is refused with a clear error."""

import multiprocessing
import sys
import threading
import time

import numpy as np
import pytest

import barenet
from barenet import NeuralNetwork


def make_data(seed=0, n=1200, d=200):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)).astype(np.float32), rng.integers(0, 10, n)


def fit(backend, seed, X, y, epochs=2):
    net = NeuralNetwork([X.shape[1], 256, 10], output_activation="softmax", dtype="float32",
                        seed=seed, dropout=0.1, backend=backend)
    net.train(X, y, epochs=epochs, learning_rate=1e-3, batch_size=300, optimizer="adam",
              verbose=False)
    return net


def _child(backend, queue):
    X, y = make_data(1)
    net = fit(backend, 5, X, y)
    queue.put((net.get_params(), barenet.get_num_threads()))


@pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows")
def test_forked_child_trains_without_hanging(backend):
    X, y = make_data()
    fit(backend, 0, X, y)  # the parent has used its OpenMP pool
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(backend, queue))
    child.start()
    try:
        params, threads = queue.get(timeout=120)
    finally:
        child.join(30)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
    X1, y1 = make_data(1)
    np.testing.assert_array_equal(params, fit(backend, 5, X1, y1).get_params())
    if backend == "compiled":
        assert threads == 1


def test_two_threads_two_networks_match_sequential(backend):
    data = [make_data(s) for s in (0, 1)]
    sequential = [fit(backend, s, *data[s]).get_params() for s in (0, 1)]
    results = [None, None]

    def work(s):
        results[s] = fit(backend, s, *data[s]).get_params()

    threads = [threading.Thread(target=work, args=(s,)) for s in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    for s in (0, 1):
        np.testing.assert_array_equal(results[s], sequential[s])


def test_two_threads_train_at_the_same_time(backend):
    """the two train calls are in progress together: each epoch's schedule call waits at a
    barrier for the other thread's, so their epochs interleave; the results are still each
    network's sequential ones"""
    data = [make_data(s, n=400) for s in (0, 1)]
    kw = dict(epochs=6, learning_rate=1e-3, batch_size=32, optimizer="adam", verbose=False)
    alone = []
    for s in (0, 1):
        net = NeuralNetwork([data[s][0].shape[1], 32, 10], output_activation="softmax",
                            seed=s, backend=backend)
        net.train(*data[s], **kw)
        alone.append(net.get_params())
    barrier, results, errors = threading.Barrier(2, timeout=120), [None, None], []

    def meet(epoch, lr, epochs):
        barrier.wait()
        return lr

    def work(s):
        try:
            net = NeuralNetwork([data[s][0].shape[1], 32, 10], output_activation="softmax",
                                seed=s, backend=backend)
            net.train(*data[s], lr_schedule=meet, **kw)
            results[s] = net.get_params()
        except Exception as exc:  # reported below; a broken barrier releases the other
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(s,)) for s in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    for s in (0, 1):
        np.testing.assert_array_equal(results[s], alone[s])


def test_one_network_from_two_threads_is_refused(backend):
    X, y = make_data(n=3000)
    net = NeuralNetwork([X.shape[1], 256, 10], output_activation="softmax", dtype="float32",
                        seed=0, backend=backend)
    errors, started = [], threading.Event()

    def long_training():
        started.set()
        net.train(X, y, epochs=30 if backend == "compiled" else 2, learning_rate=1e-3,
                  batch_size=32, optimizer="adam", verbose=False)

    trainer = threading.Thread(target=long_training)
    trainer.start()
    started.wait()
    deadline = time.monotonic() + 30
    while trainer.is_alive() and time.monotonic() < deadline and not errors:
        try:
            net.predict(X[:5])
        except RuntimeError as exc:
            errors.append(str(exc))
        time.sleep(0.005)
    trainer.join(300)
    assert errors and "in use by another thread" in errors[0]
    assert net.predict(X[:5]).shape == (5, 10)  # usable again afterwards
