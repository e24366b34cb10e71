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

from .activations import ACTIVATIONS
from .arrays import require_memory
from .callbacks import Callback
from .engine import Engine
from .training import fit

__all__ = [
    "TutorialRun",
    "iterations_to_reach",
    "predict",
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
    """Per-iteration records of one run: ``predicted``, ``error`` and ``gradients`` (one per
    weight) are computed in the iteration (before its update), ``weights`` after it."""

    label: str
    predicted: np.ndarray
    error: np.ndarray
    weights: np.ndarray  # shape (iterations, n_inputs)
    gradients: np.ndarray | None = None  # shape (iterations, n_inputs)
    activation: str = "sigmoid"

    def first_within(self, target: float, tolerance: float) -> int | None:
        """The first iteration (1-based) whose prediction is within ``tolerance`` of ``target``."""
        hits = np.flatnonzero(np.abs(self.predicted - target) < tolerance)
        return int(hits[0]) + 1 if hits.size else None

    def summary(self, x: Sequence[float], target: float, tolerance: float) -> dict:
        final_w = self.weights[-1]
        final_predicted = predict(x, final_w, self.activation)
        return {
            "label": self.label,
            "first_iteration_within_tolerance": self.first_within(target, tolerance),
            "final_predicted": final_predicted,
            "final_weights": [float(w) for w in final_w],
            "final_error": float(error(final_predicted, target)),
        }


def predict(x: Sequence[float], weights: Sequence[float], activation: str = "sigmoid") -> float:
    """The neuron's output for the inputs ``x``: ``f(sum of x * w)``."""
    sop = np.dot(np.asarray(x, dtype=float), np.asarray(weights, dtype=float))
    return float(ACTIVATIONS[activation](np.array([sop]))[0])


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
    gradient_trace = np.empty((iterations, len(x)))
    for iteration in range(iterations):
        sop = sum(xi * wi for xi, wi in zip(x, w))
        predicted = sigmoid(sop)
        g1 = error_predicted_deriv(predicted, target)
        # The published code passes the predicted value here instead of the sop.
        g2 = activation_sop_deriv(predicted if as_published else sop)
        gradients = [sop_w_deriv(xi) * g2 * g1 for xi in x]
        w = [update_w(wi, gradient, learning_rate) for wi, gradient in zip(w, gradients)]
        predicted_trace[iteration] = predicted
        error_trace[iteration] = error(predicted, target)
        weight_trace[iteration] = w
        gradient_trace[iteration] = gradients
    label = "as published (derivative at the predicted value)" if as_published \
        else "correct (derivative at the sop)"
    return TutorialRun(label, predicted_trace, error_trace, weight_trace, gradient_trace)


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
    weights: Sequence[float], activation: str = "sigmoid",
) -> TutorialRun:
    """The same example through the generic network: ``Network([n, 1], bias=False)`` with the
    given activation, squared error, full-batch ``gd``, one epoch per iteration."""
    _require_memory(iterations, len(x))
    x = np.asarray(x, dtype=float).reshape(1, -1)
    net = Engine([x.shape[1], 1], activation=activation, bias=False, loss="squared_error")
    net.weights[0] = np.asarray(weights, dtype=float).reshape(-1, 1)
    recorder = _WeightRecorder(iterations, x.shape[1])
    history = fit(net, x, [[target]], epochs=iterations, learning_rate=learning_rate,
                  optimizer="gd", callbacks=[recorder], progress=False)
    # The prediction of each iteration comes from the weights it started with (history keeps
    # it: one sample, one output).
    predicted = np.asarray(history.predicted)
    # Each iteration's gradient, x * g2 * g1, with the engine's own rounding: g2 * g1 is the
    # output delta (g2 from the predicted value, which is f(sop)), dSop/dW = x.
    slope = {"sigmoid": (1.0 - predicted) * predicted, "tanh": 1.0 - predicted * predicted,
             "identity": np.ones_like(predicted)}[activation]
    delta = slope * ((predicted - target) * 2.0) if activation != "identity" \
        else (predicted - target) * 2.0
    return TutorialRun("chainrule Network.fit", predicted, np.asarray(history["loss"]),
                       recorder.weights, x[0] * delta[:, None], activation)


def iterations_to_reach(
    x: Sequence[float], target: float, learning_rate: float, weights: Sequence[float],
    tolerance: float, activation: str = "sigmoid", limit: int = 2_000_000,
) -> int | None:
    """The first iteration (1-based) at which the generic network's prediction is within
    ``tolerance`` of ``target``, training on from ``weights`` for up to ``limit`` iterations;
    ``None`` if it is not within that many."""
    x = np.asarray(x, dtype=float).reshape(1, -1)
    net = Engine([x.shape[1], 1], activation=activation, bias=False, loss="squared_error")
    net.weights[0] = np.asarray(weights, dtype=float).reshape(-1, 1)
    done, chunk = 0, 100_000
    while done < limit:
        epochs = min(chunk, limit - done)
        history = fit(net, x, [[target]], epochs=epochs, learning_rate=learning_rate,
                      progress=False)
        hits = np.flatnonzero(np.abs(np.asarray(history.predicted) - target) < tolerance)
        if hits.size:
            return done + int(hits[0]) + 1
        if history.diverged:
            return None
        done += epochs
    return None
