"""The tutorial's worked examples: a scalar reference, the generic network, and the published slip.

Part 1 trains one input ``x = 0.1`` towards ``target = 0.3`` through a sigmoid neuron without
bias, with the squared error; Part 2 uses two inputs ``x = (0.1, 0.4)``. The scalar reference
below uses the tutorial's own function names, so it can be read beside the article, and runs
either correctly (the sigmoid's derivative at the sop) or ``as_published`` (at the predicted
value, the slip in the published code). :func:`run_network` trains the same example through the
generic :class:`~chainrule.network.Network` and must agree with the correct reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .arrays import require_memory
from .callbacks import Callback
from .engine import Engine
from .training import fit

__all__ = [
    "TutorialRun",
    "activation_sop_deriv",
    "error",
    "error_predicted_deriv",
    "initial_weights",
    "run_network",
    "run_scalar",
    "sigmoid",
    "sop_w_deriv",
    "update_w",
]


def sigmoid(sop):
    """The predicted output of the neuron: ``1 / (1 + exp(-sop))``."""
    return 1.0 / (1.0 + np.exp(-sop))


def error(predicted, target):
    """The squared error ``(predicted - target)^2``."""
    return (predicted - target) ** 2


def error_predicted_deriv(predicted, target):
    """g1 = dError/dPredicted = ``2 * (predicted - target)``."""
    return 2.0 * (predicted - target)


def activation_sop_deriv(sop):
    """g2 = dPredicted/dSop = ``sigmoid(sop) * (1 - sigmoid(sop))``, evaluated at the sop."""
    return sigmoid(sop) * (1.0 - sigmoid(sop))


def sop_w_deriv(x):
    """g3 = dSop/dW = the input ``x``."""
    return x


def update_w(w, grad, learning_rate):
    """One step of gradient descent: ``w - learning_rate * grad``."""
    return w - learning_rate * grad


@dataclass
class TutorialRun:
    """Per-iteration records of one run: ``predicted`` and ``error`` are computed in the
    iteration (before its update), ``weights`` after it."""

    label: str
    predicted: np.ndarray
    error: np.ndarray
    weights: np.ndarray  # shape (iterations, n_inputs)

    def first_within(self, target: float, tolerance: float) -> int | None:
        """The first iteration (1-based) whose prediction is within ``tolerance`` of ``target``."""
        hits = np.flatnonzero(np.abs(self.predicted - target) < tolerance)
        return int(hits[0]) + 1 if hits.size else None

    def summary(self, x: Sequence[float], target: float, tolerance: float) -> dict:
        final_w = self.weights[-1]
        final_predicted = float(sigmoid(np.dot(np.asarray(x, dtype=float), final_w)))
        return {
            "label": self.label,
            "first_iteration_within_tolerance": self.first_within(target, tolerance),
            "final_predicted": final_predicted,
            "final_weights": [float(w) for w in final_w],
            "final_error": float(error(final_predicted, target)),
        }


def initial_weights(n_inputs: int, seed: int | None) -> np.ndarray:
    """The tutorial's ``numpy.random.rand`` start, drawn from a seeded generator (as the
    network's ``uniform`` init draws it)."""
    return np.random.default_rng(seed).random(n_inputs)


def run_scalar(
    x: Sequence[float], target: float, learning_rate: float, iterations: int,
    weights: Sequence[float], as_published: bool = False,
) -> TutorialRun:
    """The tutorial's loop, one neuron per input weight, with numbers rather than matrices."""
    _require_memory(iterations, len(x))
    x = [float(v) for v in x]
    w = [float(v) for v in weights]
    predicted_trace = np.empty(iterations)
    error_trace = np.empty(iterations)
    weight_trace = np.empty((iterations, len(x)))
    for iteration in range(iterations):
        sop = sum(xi * wi for xi, wi in zip(x, w))
        predicted = sigmoid(sop)
        g1 = error_predicted_deriv(predicted, target)
        # The published code passes the predicted value here instead of the sop.
        g2 = activation_sop_deriv(predicted if as_published else sop)
        w = [update_w(wi, sop_w_deriv(xi) * g2 * g1, learning_rate) for xi, wi in zip(x, w)]
        predicted_trace[iteration] = predicted
        error_trace[iteration] = error(predicted, target)
        weight_trace[iteration] = w
    label = "as published (derivative at the predicted value)" if as_published \
        else "correct (derivative at the sop)"
    return TutorialRun(label, predicted_trace, error_trace, weight_trace)


def _require_memory(iterations: int, n_inputs: int) -> None:
    """Every iteration is recorded (predictions, errors, weights, the history's lists): refuse a
    run whose records would not fit in memory before it starts."""
    require_memory(iterations * (160.0 + 16 * n_inputs), f"{iterations:,} recorded iterations")


class _WeightRecorder(Callback):
    def __init__(self, iterations: int, n_inputs: int):
        self.weights = np.empty((iterations, n_inputs))

    def on_epoch_end(self, trainer, epoch, logs):
        self.weights[epoch] = trainer.net.weights[0][:, 0]


def run_network(
    x: Sequence[float], target: float, learning_rate: float, iterations: int,
    weights: Sequence[float],
) -> TutorialRun:
    """The same example through the generic network: ``Network([n, 1], bias=False)``, full-batch
    ``gd``, one epoch per iteration."""
    _require_memory(iterations, len(x))
    x = np.asarray(x, dtype=float).reshape(1, -1)
    net = Engine([x.shape[1], 1], activation="sigmoid", bias=False, loss="squared_error")
    net.weights[0] = np.asarray(weights, dtype=float).reshape(-1, 1)
    recorder = _WeightRecorder(iterations, x.shape[1])
    history = fit(net, x, [[target]], epochs=iterations, learning_rate=learning_rate,
                  optimizer="gd", callbacks=[recorder], progress=False)
    # The prediction of each iteration comes from the weights it started with.
    start = np.vstack([np.asarray(weights, dtype=float), recorder.weights[:-1]])
    predicted = sigmoid(start @ x[0])
    return TutorialRun("chainrule Network.fit", predicted, np.asarray(history["loss"]),
                       recorder.weights)
