"""Ctrl-C during training: a SIGINT sent to a process that is deep inside a long training
call is noticed within a fraction of a second, training stops at the last completed epoch,
the history so far is kept, and KeyboardInterrupt reaches the caller."""

import signal
import subprocess
import sys
import time

import pytest

SCRIPT = r"""
import sys, time, numpy as np
from barenet import NeuralNetwork
rng = np.random.default_rng(0)
X = rng.standard_normal((20000, 64)); y = rng.integers(0, 10, 20000)
net = NeuralNetwork([64, 256, 256, 10], output_activation="softmax", seed=0,
                    backend=sys.argv[1])
probe = NeuralNetwork([64, 256, 256, 10], output_activation="softmax", seed=0,
                      backend=sys.argv[1])
print("ready", flush=True)
start = time.perf_counter()
try:
    net.train(X, y, epochs=100000, learning_rate=1e-3, batch_size=64, optimizer="adam",
              verbose=False)
except KeyboardInterrupt as exc:
    stopped = time.perf_counter()
    done = len(exc.history)
    probe.train(X, y, epochs=done, learning_rate=1e-3, batch_size=64, optimizer="adam",
                verbose=False)
    same = np.array_equal(net.get_params(), probe.get_params())
    print(f"interrupted {stopped:.6f} epochs {done} same {same} "
          f"step {net.optimizer.step} {probe.optimizer.step}", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="Windows cannot send SIGINT to a process")
def test_sigint_stops_training_quickly(backend, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), backend], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # an editable install may print its rebuild first
            if line.strip() == "ready":
                break
        time.sleep(1.5)  # well inside the training run
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # never leave a 100,000-epoch run behind
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    words = out[out.index("interrupted"):].split() if "interrupted" in out else [out]
    assert words[0] == "interrupted", out
    latency = float(words[1]) - sent
    assert words[5] == "True" and words[7] == words[8], out
    # perf_counter is system-wide on Linux, so the two processes' clocks agree
    if sys.platform.startswith("linux"):
        assert latency < 0.5, f"KeyboardInterrupt took {latency:.3f} s"
    print(f"interrupt latency {latency * 1e3:.1f} ms after {words[3]} epochs ({backend})")
