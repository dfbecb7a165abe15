"""Three spirals
=============

Three interleaved spirals, the classic toy problem no straight line can split: a
[2, 64, 64, 3] network with a softmax output learns them with Adam, prints its accuracy
on the training points and on fresh points, and draws its decision boundary.

    python examples/spiral.py [picture.png]      # default spiral.png; needs barenet[plot]
"""
import sys
import time

from barenet import NeuralNetwork
from barenet.datasets import make_spirals


def main(argv):
    out = argv[1] if len(argv) > 1 else "spiral.png"
    X, y = make_spirals(100, 3, noise=0.2, seed=0)          # 300 points for training
    X_test, y_test = make_spirals(100, 3, noise=0.2, seed=1)  # 300 fresh points

    net = NeuralNetwork([2, 64, 64, 3], activation="relu", output_activation="softmax",
                        seed=0)
    start = time.perf_counter()
    history = net.train(X, y, epochs=400, learning_rate=0.01, batch_size=64,
                        optimizer="adam", verbose=False)
    seconds = time.perf_counter() - start
    train_acc = (net.predict_classes(X) == y).mean()
    test_acc = (net.predict_classes(X_test) == y_test).mean()
    print(f"{len(history)} epochs in {seconds:.2f} s ({net.backend} backend), "
          f"loss {history[0]:.4f} -> {history[-1]:.4f}")
    print(f"accuracy: train {train_acc:.3f}, test {test_acc:.3f}")

    try:
        from barenet.plot import plot_decision_boundary
        plot_decision_boundary(net, X, y, out,
                               title=f"Spirals: [2, 64, 64, 3] softmax network "
                                     f"(train accuracy {train_acc:.3f})")
    except ImportError as exc:                    # matplotlib is an optional extra
        print(f"no picture: {exc}")
        return 0
    print(f"decision boundary saved to {out}")
    return 0


if __name__ == "__main__":
    status = main(sys.argv)
    if status:   # no SystemExit(0): the docs' gallery runs this file in-process
        sys.exit(status)
