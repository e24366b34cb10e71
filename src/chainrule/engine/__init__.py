"""The fast engine: a network's layers of weights, the forward pass and the backward pass.

Notation, per layer ``l`` (0 = the first layer after the inputs, ``L`` = the output layer)::

    sop[l]    = input[l] @ weights[l] + biases[l]       (sum of products, shape (n, n_out))
    output[l] = activation[l](sop[l])           (input[l + 1] = output[l]; predicted = output[L])

The backward pass is the chain rule in matrix form for the whole batch. With
``delta[l] = dError/dSop[l]``::

    delta[L]           = the loss's output delta: dError/dPredicted * dPredicted/dSop[L], or
                         (predicted - target) / n when the loss combines with the activation
    dError/dWeights[l] = input[l].T @ delta[l]                 (dSop/dWeight is the layer's input)
    dError/dBiases[l]  = sum of delta[l] over the samples
    delta[l - 1]       = (delta[l] @ weights[l].T) * activation'[l - 1](sop[l - 1])

``delta[l] @ weights[l].T`` sums, for each neuron of layer ``l - 1``, the contributions of every
neuron it feeds: the sum over all paths to the outputs, computed in one matrix product.

A hidden layer may also normalise its sop (batch or layer normalisation, a learnable
``gamma`` and ``beta``) before its activation and drop some of its outputs after it (inverted
dropout, in training only): :mod:`.layer_passes` has that chain, :mod:`.normalization` and
:mod:`.dropout` its maths; a network without them never runs it.

This module computes that without allocating: every array lives in a :class:`Workspace`
allocated once per batch size, and the parameters and their gradients are views of one flat
buffer each. :mod:`chainrule.reference` computes the same in plain NumPy on one screen, and
``tests/test_reference.py`` proves the two equal.
"""

from __future__ import annotations

from .core import Engine
from .workspace import Workspace

__all__ = ["Engine", "Workspace"]
