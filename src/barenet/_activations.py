"""Activations and their derivatives as name -> function registries for the NumPy
backend. The names are the ones the C core's bn_activation values go by (csrc/activations.h;
barenet._core.ACTIVATIONS maps them to the numbers). Derivatives take the output a = f(z) and the
input z, as in the C code: most are cheapest from a, gelu needs z. Softmax works on rows
and is only an output activation (with cross-entropy)."""

import math

import numpy as np

IDENTITY, RELU, SIGMOID, TANH, LEAKY_RELU, GELU, SOFTMAX, EXP = (
    "identity", "relu", "sigmoid", "tanh", "leaky_relu", "gelu", "softmax", "exp")
NAMES = (IDENTITY, RELU, SIGMOID, TANH, LEAKY_RELU, GELU, SOFTMAX, EXP)

LEAKY_SLOPE = 0.01

_erf = np.frompyfunc(math.erf, 1, 1)


def erf(z):
    """elementwise erf in z's dtype (NumPy has none; scipy is not a dependency)"""
    return _erf(z).astype(z.dtype)


def sigmoid(z):
    """1 / (1 + exp(-z)) without overflow: exp is only taken of -|z|"""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def softmax_rows(z):
    """softmax over the last axis (each row; each step of a sequence), shifted by the
    maximum"""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def gelu(z):
    """exact GELU, z * Phi(z)"""
    half = z.dtype.type(0.5)
    return half * z * (1 + erf(z * z.dtype.type(math.sqrt(0.5))))


def dgelu(z):
    """Phi(z) + z phi(z), phi's exp(-z^2 / 2) as exp(-x^2) of the erf's x = z / sqrt(2), as
    the C core computes it (verf.h's bn_erf_exp)"""
    t = z.dtype.type
    x = z * t(math.sqrt(0.5))
    return t(0.5) * (1 + erf(x)) + z * t(1 / math.sqrt(2 * math.pi)) * np.exp(-(x * x))


FORWARD = {
    IDENTITY: lambda z: z,
    RELU: lambda z: np.maximum(z, 0),
    SIGMOID: sigmoid,
    TANH: np.tanh,
    LEAKY_RELU: lambda z: np.where(z > 0, z, z.dtype.type(LEAKY_SLOPE) * z),
    GELU: gelu,
    SOFTMAX: softmax_rows,
    EXP: np.exp,
}

# f'(z) from a = f(z) and z: from a wherever it suffices (all but gelu), as the C core does,
# which keeps z only for gelu layers and the output
DERIVATIVE = {
    IDENTITY: lambda a, z: np.ones_like(a),
    RELU: lambda a, z: (a > 0).astype(a.dtype),
    SIGMOID: lambda a, z: a * (1 - a),
    TANH: lambda a, z: 1 - a * a,
    LEAKY_RELU: lambda a, z: np.where(a > 0, a.dtype.type(1), a.dtype.type(LEAKY_SLOPE)),
    GELU: lambda a, z: dgelu(z),
    EXP: lambda a, z: a,
}
