"""Ctrl-C under early stopping (README, "Threads, processes, interrupts"): a SIGINT sent to a
process training with early stopping leaves the network at its best epoch, not its last,
and the KeyboardInterrupt carries the history. The validation targets are the training
targets shifted by one class, so the validation loss rises while the training loss falls:
the best epoch is early and the last one differs from it. The oracle is a twin network
trained for exactly best_epoch + 1 epochs without early stopping."""

import subprocess
import sys
import time

import pytest

SCRIPT = r"""
import signal, sys, numpy as np
signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
from barenet import EarlyStopping, NeuralNetwork
# epochs long against the Python work between them (validation), so that the SIGINT lands
# inside the backend's epoch loop; the NumPy backend's epochs are slower, so its data smaller
compiled = sys.argv[1] == "compiled"
n, hidden = (12000, [256, 256]) if compiled else (3000, [128])
rng = np.random.default_rng(0)
X = rng.standard_normal((n, 64)); y = X[:, :10].argmax(axis=1)  # learnable labels
Xv, yv = X[:300], (y[:300] + 1) % 10
kw = dict(learning_rate=1e-3, batch_size=64, optimizer="adam")
make = lambda: NeuralNetwork([64, *hidden, 10], output_activation="softmax", seed=0,
                             backend=sys.argv[1])
net = make()
try:
    net.train(X, y, epochs=100000, validation_data=(Xv, yv),
              early_stopping=EarlyStopping(patience=100000), **kw)
    print("not interrupted", flush=True)
except KeyboardInterrupt as exc:
    h = exc.history
    twin = make()
    twin.train(X, y, epochs=h.best_epoch + 1, verbose=False, **kw)
    same = np.array_equal(net.get_params(), twin.get_params())
    print(f"interrupted epochs {len(h)} best {h.best_epoch} "
          f"best_is_min {h.val_loss[h.best_epoch] == min(h.val_loss)} same {same}", flush=True)
"""


@pytest.mark.slow  # a few epochs of a network big enough that a SIGINT lands inside C
@pytest.mark.skipif(sys.platform == "win32", reason="Windows cannot send SIGINT to a process")
def test_sigint_under_early_stopping_leaves_the_best_weights(backend, tmp_path):
    import signal

    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), backend], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        # verbose mini-batch training prints a line at the end of each epoch; the SIGINT goes
        # half an epoch after the fourth one, inside the backend's epoch loop (a SIGINT in the
        # Python between epochs is the other case, test_interrupt.py's)
        seen = {}
        for line in proc.stdout:
            seen[line.split(",")[0]] = time.monotonic()
            if line.startswith("Epoch 3,"):
                break
        time.sleep((seen["Epoch 3"] - seen["Epoch 2"]) / 2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:  # never leave a 100,000-epoch run behind
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    words = out[out.index("interrupted"):].split() if "interrupted" in out else [out]
    assert words[0] == "interrupted", out
    epochs, best = int(words[2]), int(words[4])
    assert epochs >= 4 and best < epochs - 1, out   # the last epoch was not the best
    assert words[6] == "True" and words[8] == "True", out
