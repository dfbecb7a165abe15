"""Run under mpiexec by tests/test_distributed.py: trains the cases of CASES data-parallel
(barenet.distributed.MPI) and has rank 0 write every case's parameters and loss history
to OUT.npz. Usage: mpiexec -n P python train_cases.py OUT.npz MODES BACKENDS
(MODES from "fast" (Allreduce) and "ordered4" (reproducible, 4 parts), BACKENDS from
"numpy" and "compiled", each comma-separated). Also importable: the test runs the
same cases in one process without MPI, through `run(name, backend, None)`."""
import sys

import numpy as np

import barenet
from barenet import EarlyStopping, NeuralNetwork, Sequential
from barenet.layers import Conv2D, Dense, Flatten, MaxPool2D


def data(n=50, shape=(6,), classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n,) + shape)
    y = rng.integers(0, classes, size=n)
    return X, y


def case_adam(backend, dist):
    X, y = data()
    net = NeuralNetwork([6, 8, 3], output_activation="softmax", seed=1, backend=backend)
    return net, net.train(X, y, epochs=3, learning_rate=0.01, batch_size=12, optimizer="adam",
                          verbose=False, distributed=dist)


def case_momentum(backend, dist):
    X, y = data(seed=1)
    net = NeuralNetwork([6, 8, 3], output_activation="softmax", l2=1e-3, seed=2,
                        backend=backend)
    return net, net.train(X, y, epochs=3, learning_rate=0.05, batch_size=16,
                          optimizer="momentum", verbose=False, distributed=dist)


def case_dropout(backend, dist):
    X, y = data(seed=2)
    net = NeuralNetwork([6, 8, 8, 3], output_activation="softmax", dropout=0.3, seed=3,
                        backend=backend)
    return net, net.train(X, y, epochs=3, learning_rate=0.01, batch_size=10,
                          optimizer="adam", verbose=False, distributed=dist)


def case_cnn(backend, dist):
    X, y = data(n=24, shape=(1, 6, 6), seed=3)
    net = Sequential([Conv2D(3, 3, padding="same", activation="relu"), MaxPool2D(2),
                      Flatten(), Dense(3, activation="softmax")], input_shape=(1, 6, 6),
                     seed=4, backend=backend)
    return net, net.train(X, y, epochs=2, learning_rate=0.01, batch_size=8, optimizer="adam",
                          verbose=False, distributed=dist)


def case_early(backend, dist):
    X, y = data(n=40, seed=4)
    Xv, yv = data(n=20, seed=5)
    net = NeuralNetwork([6, 8, 3], output_activation="softmax", seed=5, backend=backend)
    return net, net.train(X, y, epochs=30, learning_rate=0.5, batch_size=8, optimizer="sgd",
                          validation_data=(Xv, yv),
                          early_stopping=EarlyStopping(patience=1, restore_best_weights=True),
                          lr_schedule="cosine", verbose=False, distributed=dist)


def case_memmap(backend, dist):
    """the adam case from a memory-mapped .npy (distributed.load_npy): no copy of X"""
    import os
    import tempfile
    from barenet.distributed import load_npy
    X, y = data()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.npy")
        np.save(path, X)
        Xm = load_npy(path)
        assert isinstance(Xm, np.memmap)
        net = NeuralNetwork([6, 8, 3], output_activation="softmax", seed=1, backend=backend)
        history = net.train(Xm, y, epochs=3, learning_rate=0.01, batch_size=12,
                            optimizer="adam", verbose=False, distributed=dist)
        del Xm
    return net, history


CASES = {"adam": case_adam, "momentum": case_momentum, "dropout": case_dropout,
         "cnn": case_cnn, "early": case_early, "memmap": case_memmap}


def run(name, backend, dist):
    net, history = CASES[name](backend, dist)
    return net.get_params(), np.asarray(history, dtype=np.float64)


def main(out, modes, backends):
    from barenet import distributed
    barenet.set_num_threads(1)
    results = {}
    for mode in modes.split(","):
        for backend in backends.split(","):
            for name in CASES:
                dist = (distributed.MPI(timeout=60) if mode == "fast" else
                        distributed.MPI(reproducible=True, parts=4, timeout=60))
                params, losses = run(name, backend, dist)
                results[f"{mode}/{backend}/{name}/params"] = params
                results[f"{mode}/{backend}/{name}/losses"] = losses
    if dist.rank == 0:
        np.savez(out, **results)


if __name__ == "__main__":
    main(*sys.argv[1:4])
