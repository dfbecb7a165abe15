"""Time the tutorial's XOR network [2, 4, 1] for 5000 full-batch epochs three ways in one
run: the tutorial's own NumPy code, barenet's NumPy backend and barenet compiled. Prints
microseconds per epoch (median of --repeat runs) and the ratios.

    python benchmarks/xor.py [--epochs 5000] [--repeat 7]
"""

import argparse
import statistics
import time

import numpy as np

from barenet import NeuralNetwork


class TutorialNetwork:
    """The classic from-scratch NumPy tutorial, as written there (ReLU hidden layers,
    sigmoid output, binary cross-entropy with a 1e-8 guard, gradient descent)."""

    def __init__(self, layers):
        self.weights, self.biases = [], []
        for i in range(len(layers) - 1):
            self.weights.append(np.random.randn(layers[i], layers[i + 1]) * np.sqrt(2.0 / layers[i]))
            self.biases.append(np.zeros((1, layers[i + 1])))

    def forward(self, X):
        self.activations = [X]
        for i in range(len(self.weights) - 1):
            z = np.dot(self.activations[-1], self.weights[i]) + self.biases[i]
            self.activations.append(np.maximum(0, z))
        z = np.dot(self.activations[-1], self.weights[-1]) + self.biases[-1]
        out = 1 / (1 + np.exp(-z))
        self.activations.append(out)
        return out

    def backward(self, X, y, learning_rate):
        m = X.shape[0]
        delta = self.activations[-1] - y
        for i in range(len(self.weights) - 1, -1, -1):
            dw = np.dot(self.activations[i].T, delta) / m
            db = np.sum(delta, axis=0, keepdims=True) / m
            self.weights[i] -= learning_rate * dw
            self.biases[i] -= learning_rate * db
            if i > 0:  # the tutorial propagates through the weights it just updated
                delta = np.dot(delta, self.weights[i].T) * (self.activations[i] > 0)

    def train(self, X, y, epochs, learning_rate):
        losses = []
        for epoch in range(epochs):
            out = self.forward(X)
            loss = -np.mean(y * np.log(out + 1e-8) + (1 - y) * np.log(1 - out + 1e-8))
            losses.append(loss)
            self.backward(X, y, learning_rate)
        return losses


def time_one(make, X, y, epochs):
    np.random.seed(42)
    net = make()
    start = time.perf_counter()
    losses = net.train(X, y, epochs, 0.5) if isinstance(net, TutorialNetwork) else \
        net.train(X, y, epochs=epochs, learning_rate=0.5, verbose=False)
    seconds = time.perf_counter() - start
    return seconds, float(losses[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)
    contenders = {
        "tutorial NumPy code": lambda: TutorialNetwork([2, 4, 1]),
        "barenet numpy backend": lambda: NeuralNetwork([2, 4, 1], backend="numpy"),
        "barenet compiled": lambda: NeuralNetwork([2, 4, 1], backend="compiled"),
    }
    results = {}
    for _ in range(args.repeat):  # interleaved, so drift on a shared machine hits all alike
        for name, make in contenders.items():
            results.setdefault(name, []).append(time_one(make, X, y, args.epochs))
    base = statistics.median(s for s, _ in results["tutorial NumPy code"])
    print(f"XOR [2, 4, 1], {args.epochs} full-batch epochs, median of {args.repeat} runs")
    print(f"{'':24s} {'us/epoch':>10s} {'final loss':>11s} {'speed-up':>9s}")
    for name, runs in results.items():
        seconds = statistics.median(s for s, _ in runs)
        print(f"{name:24s} {seconds / args.epochs * 1e6:10.2f} {runs[-1][1]:11.6f} "
              f"{base / seconds:8.1f}x")


if __name__ == "__main__":
    main()
