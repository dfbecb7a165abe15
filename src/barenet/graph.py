"""Graphs of layers, as Keras's functional API builds them: `x = Input(shape)` is a node,
calling a layer on nodes (`Dense(10)(x)`, `Add()([h, x])`) makes the node of its output,
and barenet.Model(inputs, outputs) takes the layers between them in an order in which
every layer comes after its inputs (the order the backends run them in). A layer object is
one node of one graph: calling it twice is refused (shared layers are not supported)."""

from typing import Sequence, Union

import numpy as np

from .layers import Layer


class Node:
    """A tensor of a graph that is being built: the output of `layer` on `inputs` (the
    nodes it was called on), or a graph input (layer None). `shape` is one sample's
    shape: (n,), (T, C) or (C, H, W)."""

    def __init__(self, shape, layer=None, inputs=()):
        self.shape = tuple(shape)
        self.layer = layer
        self.inputs = tuple(inputs)

    def __repr__(self):
        if self.layer is None:
            return f"Input(shape={self.shape})"
        return f"<node: {self.layer!r} -> shape {self.shape}>"


def Input(shape: Union[int, Sequence[int]]) -> Node:
    """The input of a graph model: one sample's shape, (n,) for vectors, (T, C) for
    sequences, (C, H, W) for images (channels first). Returns the node layers are called on."""
    from .network import _check_input_shape
    return Node(_check_input_shape(shape))


def call_layer(layer, inputs):
    """layer(inputs) for the functional API: checks, builds the layer for its inputs'
    shapes and returns the output node"""
    multi = layer.max_inputs > 1
    nodes = list(inputs) if multi and isinstance(inputs, (list, tuple)) else inputs
    if multi:
        if not isinstance(nodes, list):
            raise TypeError(f"{layer!r} joins several nodes: call it on a list of them, "
                            f"e.g. {type(layer).__name__}()([a, b])")
    else:
        if isinstance(nodes, (list, tuple)):
            if len(nodes) != 1:
                raise TypeError(f"{layer!r} takes one input node; got {len(nodes)}")
            nodes = nodes[0]
        nodes = [nodes]
    for i, node in enumerate(nodes):
        if not isinstance(node, Node):
            raise TypeError(f"{layer!r} must be called on nodes of a graph (barenet.Input(...) "
                            f"or a layer's output); input {i} is {type(node).__name__}")
    if getattr(layer, "_node", None) is not None:
        raise ValueError(f"{layer!r} is already used in a graph (called on "
                         f"{list(layer._node.inputs)}); a layer object is one node of one "
                         "model: create another layer for another place (shared layers are "
                         "not supported)")
    layer._input_names = [_describe(node) for node in nodes]
    shapes = [node.shape for node in nodes]
    out = layer.build(shapes if multi else shapes[0], None)
    node = Node(out, layer, nodes)
    layer._node = node
    return node


def _describe(node):
    return "the model input" if node.layer is None else repr(node.layer)


def topological(inputs, output):
    """(the input node, the layers from it to output in an order where each comes after its
    inputs, each layer's input indices into that order with -1 for the input node)"""
    if not isinstance(inputs, Node) or inputs.layer is not None:
        raise TypeError("Model's inputs must be the node barenet.Input(shape) returned")
    if not isinstance(output, Node) or output.layer is None:
        raise TypeError("Model's outputs must be the node of a layer called on the graph "
                        "(e.g. Dense(10, activation='softmax')(h))")
    order, seen, stack = [], {}, [(output, False)]
    while stack:  # depth first, a node after all of its inputs; no recursion limit
        node, expanded = stack.pop()
        if expanded:
            if id(node) in seen:  # reached twice before it was placed
                continue
            seen[id(node)] = len(order)
            order.append(node)
            continue
        if id(node) in seen or node.layer is None:
            if node.layer is None and node is not inputs:
                raise ValueError("the model's output depends on an Input that is not the "
                                 f"model's input ({node!r}): a graph model has one input, "
                                 "and every layer must be reachable from it")
            continue
        stack.append((node, True))
        for parent in reversed(node.inputs):
            if id(parent) not in seen:
                stack.append((parent, False))
    unique, index = order, seen
    edges = [tuple(-1 if parent is inputs else index[id(parent)] for parent in node.inputs)
             for node in unique]
    for i, parents in enumerate(edges):
        if any(p >= i for p in parents):
            raise ValueError("the graph has a cycle")  # cannot happen through layer calls
    if not any(-1 in parents for parents in edges):
        raise ValueError("the model's output does not depend on its input")
    return [node.layer for node in unique], edges


def dependency_order_check(layers, edges):
    """every input index points before its reader (a model loaded from a file)"""
    for i, parents in enumerate(edges):
        if not parents or any(not isinstance(p, (int, np.integer)) or p < -1 or p >= i
                              for p in parents):
            raise ValueError(f"layer {i} ({layers[i]!r}) reads {list(parents)}: inputs must be "
                             "-1 (the model input) or earlier layers")


__all__ = ["Input", "Node", "Layer"]
