"""Activations and their derivatives, as a name -> functions registry for the NumPy
backend. Ids match csrc/activations.h. Derivatives are written from the layer's output
a = f(z), as in the tutorial and in the C code."""

import numpy as np

IDENTITY, RELU, SIGMOID, TANH = 0, 1, 2, 3

IDS = {"identity": IDENTITY, "relu": RELU, "sigmoid": SIGMOID, "tanh": TANH}


def sigmoid(z):
    """1 / (1 + exp(-z)) without overflow: exp is only taken of -|z|."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


FORWARD = {
    IDENTITY: lambda z: z,
    RELU: lambda z: np.maximum(z, 0),
    SIGMOID: sigmoid,
    TANH: np.tanh,
}

# f'(z) as a function of a = f(z)
DERIVATIVE = {
    IDENTITY: lambda a: np.ones_like(a),
    RELU: lambda a: (a > 0).astype(a.dtype),
    SIGMOID: lambda a: a * (1 - a),
    TANH: lambda a: 1 - a * a,
}
