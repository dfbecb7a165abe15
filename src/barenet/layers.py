"""Layers: what a network is a sequence of. Each layer knows its parameter count and how
its parameters sit in the network's one flat buffer; the backends compute with them.
Only Dense exists so far; convolution or recurrent layers join here without changing
the NeuralNetwork facade."""

import numpy as np

from . import _activations


class Dense:
    """A fully connected layer: z = x @ W + b, a = activation(z), with W of shape
    (n_in, n_out) and b of shape (1, n_out) viewed from the flat parameter buffer."""

    kind = "dense"

    def __init__(self, n_in, n_out, activation):
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.activation = activation
        self.activation_id = _activations.IDS[activation]

    @property
    def n_params(self):
        return self.n_in * self.n_out + self.n_out

    def offsets(self, start):
        """(weights offset, bias offset) when the layer's parameters start at `start`"""
        return start, start + self.n_in * self.n_out

    def views(self, flat, start):
        """(W (n_in, n_out), b (1, n_out)) views of flat"""
        w, b = self.offsets(start)
        return (flat[w:b].reshape(self.n_in, self.n_out),
                flat[b:b + self.n_out].reshape(1, self.n_out))

    def initialise(self, w, b, rng):
        """He-normal weights (the tutorial's np.random.randn(n_in, n_out) * sqrt(2 / n_in)
        from NumPy's global state when rng is None), zero biases"""
        draw = (np.random.randn(self.n_in, self.n_out) if rng is None
                else rng.standard_normal((self.n_in, self.n_out)))
        w[...] = draw * np.sqrt(2.0 / self.n_in)
        b[...] = 0

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out}, activation={self.activation!r})"
