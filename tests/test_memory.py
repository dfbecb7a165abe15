"""Memory: training (a few mini-batches) and predicting 1,000 times in a loop on a mid-size
float32 network does not grow the process's resident memory beyond a small bound, on either
backend. Each run is a fresh subprocess, so what pytest itself holds does not count; the
resident size is read from /proc/self/statm after a warm-up and at the end, and printed
(`pytest -s tests/test_memory.py` shows the figures)."""

import json
import os
import subprocess
import sys

import pytest

LIMIT_MIB = 20  # allowed growth over the 1,000 iterations

SCRIPT = r"""
import gc, json, os, sys
import numpy as np
from barenet import NeuralNetwork

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

backend, iterations, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
X = rng.standard_normal((128, 64)).astype(np.float32)
y = rng.integers(0, 10, 128)
Xv, yv = X[:32].copy(), y[:32].copy()
net = NeuralNetwork([64, 128, 64, 10], output_activation="softmax", dtype="float32",
                    dropout=0.1, seed=0, backend=backend)

def step():
    net.train(X, y, epochs=1, learning_rate=1e-3, verbose=False, batch_size=32,  # 4 batches
              optimizer="adam", validation_data=(Xv, yv))
    net.predict(X)
    net.predict_classes(Xv)
    net.gradient(Xv, yv)

for _ in range(warmup):
    step()
gc.collect()
before = rss()
for _ in range(iterations):
    step()
gc.collect()
after = rss()
print(json.dumps({"before": before, "after": after, "epochs": net._epochs_done}))
"""


@pytest.mark.slow  # hundreds of train/predict rounds (about a minute on the NumPy backend)
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc/self/statm")
def test_training_and_predicting_in_a_loop_does_not_grow_memory(backend, tmp_path):
    iterations, warmup = 1000, 30
    env = dict(os.environ, BARENET_BACKEND=backend)
    out = subprocess.run([sys.executable, "-c", SCRIPT, backend, str(iterations), str(warmup)],
                         capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["epochs"] == iterations + warmup
    growth = (figures["after"] - figures["before"]) / 2**20
    print(f"\n{backend}: resident memory {figures['before'] / 2**20:.1f} MiB after "
          f"{warmup} warm-up iterations, {figures['after'] / 2**20:.1f} MiB after "
          f"{iterations} more (train 4 batches + predict each): growth {growth:+.2f} MiB")
    assert growth < LIMIT_MIB, f"resident memory grew by {growth:.1f} MiB"
