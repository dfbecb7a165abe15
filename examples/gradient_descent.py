"""
Gradient descent, pictured
==========================

Where does training take a network's parameters? ``train(..., record_trajectory=True)``
keeps the parameters after every epoch (``history.trajectory``), and
:func:`barenet.plot.loss_landscape` computes the loss on a plane through the final
parameters with that path drawn on it. The plane is spanned by the first two principal
components of the path (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets",
section 7), which hold most of its movement, or by two random directions normalised filter
by filter. :func:`barenet.plot.animate_training` films the decision boundary and the loss
epoch by epoch.

Here: the tutorial's XOR network and a network on two interleaved spirals. ::

    python examples/gradient_descent.py [output-directory]   # needs barenet[plot]

writes ``xor_landscape.png``, ``xor_random_landscape.png``, ``spiral_landscape.png`` and
``spiral_training.gif`` (plus ``spiral_training.mp4`` when ffmpeg is installed) into the
directory (default: the current one).
"""
import os
import sys

from barenet import NeuralNetwork
from barenet.datasets import make_spirals, make_xor

out = sys.argv[1] if len(sys.argv) > 1 else "."
os.makedirs(out, exist_ok=True)

# %%
# XOR: record the path
# --------------------
# The tutorial's [2, 4, 1] network, full-batch gradient descent. With
# ``record_trajectory=True`` the epochs run one per call into the core (as with validation
# data) and the History carries a (1 + epochs, n_params) array.
X, y = make_xor()
net = NeuralNetwork([2, 4, 1], seed=0)
history = net.train(X, y, epochs=500, learning_rate=0.5, verbose=False,
                    record_trajectory=True)
print(f"XOR: loss {history[0]:.4f} -> {history[-1]:.4f}; "
      f"trajectory {history.trajectory.shape} (epochs + 1, parameters)")

# %%
# The landscape along the path's principal directions
# ---------------------------------------------------
# The grid is centred on the final parameters (the cross); its middle value is exactly
# ``net.loss(X, y)``. The path starts at the square (the parameters before training).
from barenet.plot import animate_training, loss_landscape, loss_landscape_figure  # noqa: E402

land = loss_landscape(net, X, y, "pca", history, resolution=41)
print(f"loss at the center {land.origin_loss:.6f} (net.loss: {net.loss(X, y):.6f}); "
      f"the two directions hold {100 * land.explained_variance_ratio.sum():.1f}% "
      "of the path's variance")
loss_landscape_figure(land, os.path.join(out, "xor_landscape.png"),
                      title="XOR: the loss along the path's two principal directions")

# %%
# The same network along random filter-normalised directions
# ----------------------------------------------------------
# Random directions show the shape of the minimum the network ended in; the path, seen
# from them, is only its shadow on that plane.
land = loss_landscape(net, X, y, "random", history, resolution=41, seed=0)
loss_landscape_figure(land, os.path.join(out, "xor_random_landscape.png"),
                      title="XOR: the loss along two random filter-normalised directions")

# %%
# Spirals: mini-batch Adam
# ------------------------
# Two interleaved spirals, a [2, 16, 16, 2] softmax network, Adam with batches of 32: the
# path is noisier, and the loss surface has more than one valley.
X, y = make_spirals(100, 2, noise=0.1, seed=0)
net = NeuralNetwork([2, 16, 16, 2], output_activation="softmax", seed=0)
history = net.train(X, y, epochs=200, learning_rate=0.01, batch_size=32, optimizer="adam",
                    verbose=False, record_trajectory=True)
print(f"spirals: loss {history[0]:.4f} -> {history[-1]:.4f}, "
      f"accuracy {(net.predict_classes(X) == y).mean():.3f}")
land = loss_landscape(net, X, y, "pca", history, resolution=31)
loss_landscape_figure(land, os.path.join(out, "spiral_landscape.png"),
                      title="Spirals: Adam's path on the loss surface")

# %%
# The animation
# -------------
# The decision boundary of the parameters after 0, 7, 13, ... epochs (31 frames), next to
# the loss.
# GIF through Pillow (which matplotlib always brings); MP4 needs the ffmpeg program.
frames = animate_training(net, X, y, history, os.path.join(out, "spiral_training.gif"),
                          max_frames=31, resolution=80)
print(f"spiral_training.gif: {frames} frames")
try:
    animate_training(net, X, y, history, os.path.join(out, "spiral_training.mp4"),
                     max_frames=31, resolution=80)
    print("spiral_training.mp4 written")
except RuntimeError as exc:   # no ffmpeg here
    print(f"no MP4: {exc}")
