"""The one-neuron kernel: the tutorial's network, its step computed on Python floats.

For one input, one output neuron and a single training sample, every array of the step holds
one number, and the ~15 NumPy calls of the engine's step cost far more than the arithmetic.
This gradient source runs exactly the same arithmetic, in the same order, on Python floats (IEEE
doubles, as NumPy's float64), using NumPy's own ``exp``/``tanh`` so that every result is bit for
bit the engine's; ``tests/test_fastpath.py`` checks that. The training loop is the same; only
the step's arithmetic moves here. The trainer takes it (``history.params["gradient_source"]``
says so) when the network is float64 ``[1, 1]`` with a sigmoid, tanh or identity output, the loss
is ``squared_error`` or ``mse``, the optimizer is ``gd`` without L2, and the data is one sample
trained full batch. The weights live in floats while it runs and go back into the network's
arrays whenever anyone may look (``sync``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizers import GD
from .sources import LocalData

__all__ = ["OneNeuronKernel"]

_ACTIVATIONS = ("sigmoid", "tanh", "identity")


class OneNeuronKernel(LocalData):
    """A :class:`~chainrule.sources.LocalData` whose steps run on Python floats."""

    name = "one-neuron kernel"
    fills_workspace = False
    # One update per epoch (full batch): the weights before the last update are those the
    # previous epoch started from, which is what divergence goes back to.
    keeps_last_weights = True

    @classmethod
    def replacing(cls, source: Any, trainer: Any) -> OneNeuronKernel | None:
        """The kernel for ``trainer``'s run on ``source``, or ``None`` where it would not
        reproduce the engine exactly."""
        net = trainer.net
        applies = (
            type(source) is LocalData
            and net.sizes == [1, 1]
            and net.dtype == np.float64
            and net.activations[0] in _ACTIVATIONS
            and net.loss_name in ("squared_error", "mse")
            and type(trainer.optimizer) is GD
            and not trainer.l2
            and source.n_samples == 1
            and trainer.batch_size is None
        )
        if not applies:
            return None
        kernel = cls.__new__(cls)
        kernel.__dict__.update(source.__dict__)
        return kernel

    def start(self, batch_size, optimizer=None, l2=0.0):
        """Build the step's functions as closures over the floats they work on: a closure
        reads and writes its variables faster than an object its attributes, and at this size
        that is a good part of the step."""
        net = self.net
        x, target = float(self.X[0, 0]), float(self.Y[0, 0])
        has_bias = net.biases[0] is not None
        activation = net.activations[0]
        exp, tanh = np.exp, np.tanh
        weight = bias = predicted = delta = previous_weight = previous_bias = 0.0
        updated = False

        # The engine's forward pass, error and output delta, one float at a time: g1 is
        # dError/dPredicted = 2 (predicted - target) (2 / n, with n = 1 sample and 1 output:
        # mse and squared_error agree), g2 = dPredicted/dSop, delta = g2 * g1.
        def gradient_sigmoid(batch, index, observe):
            nonlocal predicted, delta
            sop = x * weight + bias if has_bias else x * weight
            predicted = 1.0 / (float(exp(-sop)) + 1.0)
            difference = predicted - target
            delta = ((1.0 - predicted) * predicted) * (difference * 2.0)
            return difference * difference * 1.0

        def gradient_tanh(batch, index, observe):
            nonlocal predicted, delta
            sop = x * weight + bias if has_bias else x * weight
            predicted = float(tanh(sop))
            difference = predicted - target
            delta = (1.0 - predicted * predicted) * (difference * 2.0)
            return difference * difference * 1.0

        def gradient_identity(batch, index, observe):
            nonlocal predicted, delta
            predicted = x * weight + bias if has_bias else x * weight
            difference = predicted - target
            delta = difference * 2.0
            return difference * difference * 1.0

        def update(optimizer, learning_rate):
            """``gd``'s update, ``w = w - lr * (x * delta)``, as the engine rounds it."""
            nonlocal weight, bias, previous_weight, previous_bias, updated
            optimizer.steps += 1
            previous_weight, previous_bias, updated = weight, bias, True
            weight = weight - (x * delta) * learning_rate
            if has_bias:
                bias = bias - delta * learning_rate

        def load():
            nonlocal weight, bias, updated
            weight = float(net.weights[0][0, 0])
            bias = float(net.biases[0][0]) if has_bias else 0.0
            updated = False

        def sync():
            net.weights[0][0, 0] = weight
            if has_bias:
                net.biases[0][0] = bias

        def restore(latest_good_epoch):
            nonlocal weight, bias
            if not updated or latest_good_epoch < 0:
                return None  # no update yet: the weights are still the ones the run began with
            weight, bias = previous_weight, previous_bias
            sync()
            return latest_good_epoch

        def forget_snapshots():
            nonlocal updated
            updated = False

        self.gradient = {"sigmoid": gradient_sigmoid, "tanh": gradient_tanh,
                         "identity": gradient_identity}[activation]
        self.update, self.load, self.sync, self.restore = update, load, sync, restore
        self.forget_snapshots = forget_snapshots
        self.last_prediction = lambda: predicted
        load()
