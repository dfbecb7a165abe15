"""Run under mpiexec by tests/test_distributed.py: SIGINT reaches rank 1 only, once while
the C loop runs (a timer thread) and once between epochs (from an lr_schedule); every rank
must stop with KeyboardInterrupt at the same place with the same parameters. Rank 0
prints one line per case: "case: <case> OK interrupted <epochs done> ..."."""
import os
import signal
import threading

import numpy as np

from barenet import NeuralNetwork, distributed

dist = distributed.MPI(timeout=60)
rng = np.random.default_rng(0)
X, y = rng.normal(size=(256, 8)), rng.integers(0, 2, size=256)


def interrupt_rank_1(delay):
    if dist.rank == 1:
        threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT)).start()


def between_epochs(epoch, lr, epochs):
    if epoch == 3 and dist.rank == 1:
        os.kill(os.getpid(), signal.SIGINT)
    return lr


for case, kwargs in (("in C", {}), ("between epochs", {"lr_schedule": between_epochs})):
    net = NeuralNetwork([8, 64, 64, 1], seed=0)
    dist.comm.Barrier()
    if case == "in C":  # half a second after the start: inside the C loop
        interrupt_rank_1(0.5)
    try:
        net.train(X, y, epochs=10**6 if case == "in C" else 10, learning_rate=0.01,
                  batch_size=4, verbose=False, distributed=dist, **kwargs)
        outcome = "finished"
    except KeyboardInterrupt as exc:
        outcome = f"interrupted {len(getattr(exc, 'history', []))}"
    mine = np.array([len(outcome), float(np.sum(net.get_params())), net._epochs_done])
    everyone = np.empty((dist.size, 3))
    dist.comm.Allgather(mine, everyone)
    if dist.rank == 0:
        same = (everyone == everyone[0]).all()
        print("case:", case, "OK" if same and outcome.startswith("interrupted") else "BAD",
              outcome, everyone.tolist(), flush=True)
