"""The reference backend: the network's mathematics in NumPy, with the same operations
and names as the C core (csrc/mlp_impl.inc). It is the specification the compiled backend
is tested against, so it favours clarity over speed."""

import numpy as np

from . import _activations


def layer_views(spec, params):
    """[(W (n_in, n_out), b (n_out,))] views into the flat buffer"""
    return [
        (params[w:w + n_in * n_out].reshape(n_in, n_out), params[b:b + n_out])
        for w, b, n_in, n_out in zip(spec.w_offsets, spec.b_offsets, spec.sizes[:-1],
                                     spec.sizes[1:])
    ]


def dense_forward(x, w, b, act):
    """z = x @ w + b, a = act(z)"""
    z = x @ w + b
    return _activations.FORWARD[act](z), z


def dense_backward(dz, x, w, in_act, need_dx):
    """gradients of one layer from dloss/dz; dx goes through the activation whose output x is"""
    dw = x.T @ dz
    db = dz.sum(axis=0)
    dx = (dz @ w.T) * _activations.DERIVATIVE[in_act](x) if need_dx else None
    return dw, db, dx


def forward(spec, params, x):
    """all layer outputs [x, a1, ..., aL] and the output logits z"""
    acts = [x]
    z = None
    for (w, b), act in zip(layer_views(spec, params), spec.activations):
        a, z = dense_forward(acts[-1], w, b, act)
        acts.append(a)
    return acts, z


def loss_bce(z, y):
    """mean binary cross-entropy from the logits: max(z,0) - y z + log(1 + exp(-|z|))"""
    return float(np.mean(np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))))


def dloss_bce(a, y):
    """dloss/dz for sigmoid + binary cross-entropy, mean over all entries"""
    return (a - y) / a.size


def backward(spec, dparams, params, acts, y):
    """gradients of the mean loss into dparams, from the forward pass's weights"""
    layers = layer_views(spec, params)
    grads = layer_views(spec, dparams)
    dz = dloss_bce(acts[-1], y)
    for l in range(len(layers) - 1, -1, -1):
        in_act = spec.activations[l - 1] if l > 0 else None
        dw, db, dx = dense_backward(dz, acts[l], layers[l][0], in_act, need_dx=l > 0)
        grads[l][0][...] = dw
        grads[l][1][...] = db
        dz = dx


def sgd_step(params, dparams, lr):
    """params -= lr * dparams"""
    params -= params.dtype.type(lr) * dparams


class Backend:
    """The NumPy reference, behind the interface network.py uses."""

    name = "numpy"

    def __init__(self, spec):
        self.spec = spec

    def predict(self, params, x):
        acts, _ = forward(self.spec, params, x)
        return acts[-1]

    def loss_and_grad(self, params, x, y, dparams):
        acts, z = forward(self.spec, params, x)
        backward(self.spec, dparams, params, acts, y)
        return loss_bce(z, y)

    def loss(self, params, x, y):
        _, z = forward(self.spec, params, x)
        return loss_bce(z, y)

    def train_full_batch(self, params, x, y, epochs, lr):
        losses = np.empty(epochs)
        dparams = np.empty_like(params)
        for e in range(epochs):
            losses[e] = self.loss_and_grad(params, x, y, dparams)
            sgd_step(params, dparams, lr)
        return losses
