"""The single-neuron fast path: the tutorial's network trained with Python floats.

For one input, one output neuron and a single training sample, every array in the step holds
one number, and the ~15 NumPy calls of the generic step cost far more than the arithmetic. This
kernel runs exactly the same arithmetic, in the same order, on Python floats (IEEE doubles, as
NumPy's float64), using NumPy's own ``exp``/``tanh`` so that every result is bit-for-bit the
generic engine's; ``tests/test_fastpath.py`` checks that. Training takes it automatically when
the network is float64 ``[1, 1]`` with a sigmoid, tanh or identity output, the loss is
``squared_error`` or ``mse``, the optimizer is ``gd`` without L2, the data is one sample, and
nothing but the loss is recorded per epoch.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .optimizers import GD
from .schedules import Constant

__all__ = ["applies", "run"]

_ACTIVATIONS = ("sigmoid", "tanh", "identity")


def applies(trainer: Any) -> bool:
    """Whether the trainer's run is one this kernel reproduces exactly."""
    net = trainer.net
    return (
        net.sizes == [1, 1]
        and net.dtype == np.float64
        and net.activations[0] in _ACTIVATIONS
        and net.loss_name in ("squared_error", "mse")
        and type(trainer.optimizer) is GD
        and not trainer.l2
        and trainer.X.shape[0] == 1
        and trainer.full_batch
    )


def run(trainer: Any, start_time: float) -> None:
    """Train every remaining epoch; same records and divergence handling as the generic loop."""
    net, history = trainer.net, trainer.history
    activation = net.activations[0]
    x, target = float(trainer.X[0, 0]), float(trainer.Y[0, 0])
    weight = float(net.weights[0][0, 0])
    has_bias = net.biases[0] is not None
    bias = float(net.biases[0][0]) if has_bias else 0.0
    scale = 2.0 * 1.0  # 2 / n with n = 1 sample and 1 output (mse and squared_error agree)
    losses, rates, times = (history.history[k] for k in ("loss", "learning_rate", "time"))
    predictions = history.predicted if trainer.track_prediction else None
    schedule, base_rate, epochs = trainer.schedule, trainer.learning_rate, trainer.epochs
    constant_rate = isinstance(schedule, Constant)
    exp, tanh, clock = np.exp, np.tanh, time.perf_counter
    epoch = first_epoch = trainer.epoch
    previous = (weight, bias)  # the weights at the start of the last good epoch
    lr = base_rate
    diverged = None
    while epoch < epochs:
        if not constant_rate:
            lr = schedule(base_rate, epoch, epochs)
        sop = x * weight + bias if has_bias else x * weight
        if activation == "sigmoid":
            predicted = 1.0 / float(exp(-sop) + 1.0)
            predicted_sop_deriv = (1.0 - predicted) * predicted
        elif activation == "tanh":
            predicted = float(tanh(sop))
            predicted_sop_deriv = 1.0 - predicted * predicted
        else:
            predicted, predicted_sop_deriv = sop, 1.0
        difference = predicted - target
        error = difference * difference * 1.0
        error_predicted_deriv = difference * scale
        delta = predicted_sop_deriv * error_predicted_deriv if activation != "identity" \
            else error_predicted_deriv
        if not error <= trainer._loss_limit:
            diverged = error
            break
        if trainer.first_loss is None:
            trainer._set_first_loss(error)
        previous = (weight, bias)
        weight = weight - (x * delta) * lr
        if has_bias:
            bias = bias - delta * lr
        if predictions is not None:
            predictions.append(predicted)
        losses.append(error)
        rates.append(lr)
        times.append(clock() - start_time)
        epoch += 1
        if trainer.interrupted:
            trainer.stop("interrupted (Ctrl-C): kept the weights of the last update")
            break
    net.weights[0][0, 0] = weight
    if has_bias:
        net.biases[0][0] = bias
    history.updates += epoch - first_epoch
    history.epochs += epoch - first_epoch
    trainer.epoch = epoch
    if diverged is not None:
        # As the generic loop: back to the weights the previous epoch started from.
        weight, bias = previous
        net.weights[0][0, 0] = weight
        if has_bias:
            net.biases[0][0] = bias
        trainer._report_divergence(diverged, epoch, lr, max(epoch - 1, 0))
