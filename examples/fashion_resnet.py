"""Fashion-MNIST with a residual network
=====================================

A small residual CNN on Fashion-MNIST through barenet's functional API: two residual
blocks (convolution, batch normalisation, ReLU, convolution, batch normalisation, added
back to the block's input, ReLU), max pooling between them, a dense head. Trains with Adam
and a cosine learning rate (float32, batch 128), reports the test accuracy, saves the
model, loads it back and checks that the reloaded model predicts exactly the same.

    python examples/fashion_resnet.py                  # 6 epochs on all 60,000 images
    python examples/fashion_resnet.py --subset 2000 --test-subset 1000 --epochs 1

The data comes from `apt-get install dataset-fashion-mnist` or a directory given with
--data.
"""
import argparse
import sys
import time

import numpy as np

import barenet
from barenet.datasets import load_fashion_mnist
from barenet.layers import (Activation, Add, BatchNormalization, Conv2D, Dense, Dropout,
                            Flatten, MaxPool2D)


def conv_bn_relu(x, filters):
    """Conv2D (3x3, same, no bias: the normalisation's offset replaces it), BN, ReLU"""
    h = Conv2D(filters, 3, padding="same", use_bias=False)(x)
    return Activation("relu")(BatchNormalization()(h))


def residual_block(x, filters):
    """x + BN(conv(ReLU(BN(conv(x))))), then ReLU: the input is added back unchanged"""
    h = conv_bn_relu(x, filters)
    h = BatchNormalization()(Conv2D(filters, 3, padding="same", use_bias=False)(h))
    return Activation("relu")(Add()([h, x]))


def build(seed, dtype="float32", backend=None):
    x = barenet.Input((1, 28, 28))
    h = residual_block(conv_bn_relu(x, 16), 16)             # (16, 28, 28)
    h = MaxPool2D(2)(h)                                     # (16, 14, 14)
    h = residual_block(conv_bn_relu(h, 32), 32)             # (32, 14, 14)
    h = MaxPool2D(2)(h)                                     # (32, 7, 7)
    h = Dropout(0.3)(Dense(128, activation="relu")(Flatten()(h)))
    out = Dense(10, activation="softmax")(h)
    return barenet.Model(x, out, dtype=dtype, seed=seed, backend=backend)


def parse_args(argv):
    parser = argparse.ArgumentParser(description="A small residual CNN on Fashion-MNIST (barenet's functional API).")
    parser.add_argument("--subset", type=int, default=None, metavar="N",
                        help="use only the first N training images (default: all 60,000)")
    parser.add_argument("--test-subset", type=int, default=None, metavar="N",
                        help="score only the first N test images (default: all 10,000)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="resnet.npz", help="where to save the model")
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="directory holding the four .gz files")
    args = parser.parse_args(argv)
    if args.subset is not None and args.subset < 10:
        parser.error("--subset must be at least 10")
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    (X, y), (X_test, y_test) = load_fashion_mnist(args.data, dtype="float32")
    if args.subset is not None:
        X, y = X[:args.subset], y[:args.subset]
    if args.test_subset is not None:
        X_test, y_test = X_test[:args.test_subset], y_test[:args.test_subset]
    X, X_test = X.reshape(-1, 1, 28, 28), X_test.reshape(-1, 1, 28, 28)
    n_val = max(1, len(X) // 12)                  # 5,000 of 60,000: held out for validation
    X, y, X_val, y_val = X[:-n_val], y[:-n_val], X[-n_val:], y[-n_val:]
    model = build(args.seed)
    print(f"{len(model.layers)} layers, {model.n_params} parameters; {len(X)} training, "
          f"{len(X_val)} validation, {len(X_test)} test images")
    start = time.perf_counter()
    history = model.train(X, y, epochs=args.epochs, learning_rate=args.learning_rate,
                          batch_size=args.batch_size, optimizer="adam", lr_schedule="cosine",
                          validation_data=(X_val, y_val), verbose=True)
    seconds = time.perf_counter() - start
    print(f"trained {len(history)} epochs in {seconds:.1f} s ({model.backend} backend, "
          f"{seconds / len(history):.1f} s per epoch)")
    accuracy = float(np.mean(model.predict_classes(X_test) == y_test))
    print(f"test accuracy: {accuracy:.4f}")

    model.save(args.out)
    loaded = barenet.Model.load(args.out)
    same = np.array_equal(model.predict(X_test), loaded.predict(X_test))
    print(f"saved to {args.out}; reloaded: predictions {'identical' if same else 'DIFFERENT'}")
    return 0 if same else 1


if __name__ == "__main__":
    status = main()
    if status:   # no SystemExit(0): the docs' gallery runs this file in-process
        sys.exit(status)
