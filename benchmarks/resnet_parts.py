"""Where the residual CNN's training step goes (benchmarks/fashion_cnn.py --model resnet):
ms per step (batch 128, Adam, float32, the compiled backend's default threads) of the whole
network, of the same network with its BatchNormalization layers replaced by identities,
and of three plain 16-filter 3x3 convolutions at 28x28. Needs dataset-fashion-mnist.

    python benchmarks/resnet_parts.py
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _peers  # noqa: E402,F401 (puts a checkout's src/ on the path)

import barenet  # noqa: E402
from barenet.datasets import load_fashion_mnist  # noqa: E402
from barenet.layers import (Activation, Add, BatchNormalization, Conv2D, Dense,  # noqa: E402
                            Dropout, Flatten, MaxPool2D)

ROWS, BATCH = 6400, 128


def resnet(bn=True, widths=(16, 32)):
    """fashion_cnn.py's residual CNN; bn False puts identities where the normalisations are"""
    norm = BatchNormalization if bn else (lambda: Activation("identity"))

    def conv_bn(x, filters):
        return norm()(Conv2D(filters, 3, padding="same", use_bias=False)(x))

    x = barenet.Input((1, 28, 28))
    h = x
    for filters in widths:
        h = Activation("relu")(conv_bn(h, filters))
        r = conv_bn(Activation("relu")(conv_bn(h, filters)), filters)
        h = MaxPool2D(2)(Activation("relu")(Add()([r, h])))
    out = Dense(10, activation="softmax")(Dropout(0.3)(Dense(128, activation="relu")(
        Flatten()(h))))
    return barenet.Model(x, out, dtype="float32", seed=0)


def three_convs():
    return barenet.Sequential([Conv2D(16, 3, padding="same"), Conv2D(16, 3, padding="same"),
                               Conv2D(16, 3, padding="same"), Flatten(),
                               Dense(10, activation="softmax")],
                              input_shape=(1, 28, 28), dtype="float32", seed=0)


def ms_per_step(model, X, y):
    model.train(X[:BATCH * 4], y[:BATCH * 4], epochs=1, learning_rate=1e-3, batch_size=BATCH,
                optimizer="adam", verbose=False)  # warm-up
    start = time.perf_counter()
    model.train(X, y, epochs=1, learning_rate=1e-3, batch_size=BATCH, optimizer="adam",
                verbose=False)
    return (time.perf_counter() - start) / (len(X) // BATCH) * 1e3


def main():
    (X, y), _ = load_fashion_mnist(dtype="float32")
    X, y = X[:ROWS].reshape(-1, 1, 28, 28), y[:ROWS]
    for name, model in (("residual CNN", resnet()), ("without BatchNormalization",
                                                     resnet(bn=False)),
                        ("three 16-filter convolutions", three_convs())):
        print(f"{name:30s} {ms_per_step(model, X, y):7.1f} ms/step")


if __name__ == "__main__":
    main()
