"""Run under mpiexec by tests/test_distributed.py: rank 1 kills itself (SIGKILL) at the
start of epoch 2 of a data-parallel training; the others must end with an error, not hang.
Usage: mpiexec -n P python kill_rank.py TIMEOUT"""
import os
import signal
import sys

import numpy as np

from barenet import NeuralNetwork, distributed

dist = distributed.MPI(timeout=float(sys.argv[1]))
rng = np.random.default_rng(0)
X, y = rng.normal(size=(64, 4)), rng.integers(0, 2, size=64)


def schedule(epoch, lr, epochs):
    if epoch == 2 and dist.rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return lr


net = NeuralNetwork([4, 8, 1], seed=0)
net.train(X, y, epochs=1000, learning_rate=0.1, batch_size=8, lr_schedule=schedule,
          verbose=False, distributed=dist)
print("finished without noticing the dead rank", flush=True)
