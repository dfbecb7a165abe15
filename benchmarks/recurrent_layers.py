"""Check-then-time harness for the recurrent kinds (csrc/ops/recurrent.c): one training
epoch of an LSTM (or GRU) classifier on random sequences, barenet's compiled core against
PyTorch (same sizes, Adam, float32, the same thread count), after checking that both
compute the same forward pass from the same weights. The issue's two shapes:

  fashion  LSTM(128) over 28 steps of 28 values (Fashion-MNIST rows), 10 classes
  char     LSTM(256) over 128 steps of one-hot characters (96), batch 64

Timings on a shared machine are only indicative; run it alone for figures to quote:

  python benchmarks/recurrent_layers.py [--case fashion|char] [--cell lstm|gru]
         [--rows N] [--repeat R] [--threads 2]
"""

import argparse
import time

import numpy as np

import barenet
from barenet import GRU, LSTM, Sequential
from barenet.layers import Dense

CASES = {  # steps, channels, units, classes, batch
    "fashion": (28, 28, 128, 10, 128),
    "char": (128, 96, 256, 96, 64),
}


def barenet_model(cell, steps, channels, units, classes, seed=0):
    layer = {"lstm": LSTM, "gru": GRU}[cell](units)
    return Sequential([layer, Dense(classes, activation="softmax")],
                      input_shape=(steps, channels), loss="categorical_crossentropy",
                      seed=seed, dtype="float32", backend="compiled")


def torch_model(torch, cell, channels, units, classes):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
                channels, units, batch_first=True)
            self.head = torch.nn.Linear(units, classes)

        def forward(self, x):
            _, state = self.rnn(x)
            h = state[0] if cell == "lstm" else state
            return self.head(h[0])
    return Net()


def copy_weights(torch, net, model, cell):
    """barenet's parameters into the torch model (docs/recurrent.md's mapping)"""
    (kernel, recurrent, bias), = net.layers[0].unpack(net.weights[0], net.biases[0])
    u = recurrent.shape[0]
    if cell == "gru":
        order = np.r_[u:2 * u, 0:u, 2 * u:3 * u]
        tensors = kernel[:, order].T, recurrent[:, order].T, bias[0][order], bias[1][order]
    else:
        tensors = kernel.T, recurrent.T, bias, np.zeros_like(bias)
    with torch.no_grad():
        for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                               tensors):
            getattr(model.rnn, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
        model.head.weight.copy_(torch.from_numpy(np.ascontiguousarray(net.weights[1].T)))
        model.head.bias.copy_(torch.from_numpy(np.ascontiguousarray(net.biases[1].ravel())))


def torch_epoch(torch, model, X, labels, batch, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(X), torch.from_numpy(labels)
    start = time.perf_counter()
    for i in range(0, len(X), batch):
        opt.zero_grad()
        loss = loss_fn(model(xt[i:i + batch]), yt[i:i + batch])
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=sorted(CASES), default="fashion")
    ap.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    ap.add_argument("--rows", type=int, default=6400)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    steps, channels, units, classes, batch = CASES[args.case]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, steps, channels)).astype(np.float32)
    labels = rng.integers(0, classes, args.rows)
    y = np.eye(classes, dtype=np.float32)[labels]
    barenet.set_num_threads(args.threads)
    net = barenet_model(args.cell, steps, channels, units, classes)
    print(f"{args.case}: {args.cell.upper()}({units}), {steps} steps of {channels}, "
          f"batch {batch}, {args.rows} rows, {args.threads} threads, float32")
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)
        model = torch_model(torch, args.cell, channels, units, classes)
        copy_weights(torch, net, model, args.cell)
        with torch.no_grad():
            theirs = torch.softmax(model(torch.from_numpy(X[:256])), dim=1).numpy()
        err = np.abs(net.predict(X[:256]) - theirs).max()
        print(f"check: largest difference of the predictions {err:.2e}")
        assert err < 1e-4, "barenet and PyTorch disagree"
    ours, theirs = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        net.train(X, y, epochs=1, batch_size=batch, learning_rate=1e-3, optimizer="adam",
                  shuffle=False, verbose=False)
        ours.append(time.perf_counter() - start)
        if torch is not None:
            theirs.append(torch_epoch(torch, model, X, labels, batch, 1e-3))
    best = min(ours)
    print(f"barenet  {best:8.3f} s/epoch (best of {args.repeat}), "
          f"{args.rows / best:9.0f} rows/s")
    if theirs:
        print(f"pytorch  {min(theirs):8.3f} s/epoch (best of {args.repeat}), "
              f"{args.rows / min(theirs):9.0f} rows/s   ratio {min(theirs) / best:.2f}x")


if __name__ == "__main__":
    main()
