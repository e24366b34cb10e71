"""The tutorial's worked examples: a scalar reference, the generic network, and the published slip.

Part 1 trains one input ``x = 0.1`` towards ``target = 0.3`` through a sigmoid neuron without
bias, with the squared error; Part 2 uses two inputs ``x = (0.1, 0.4)``. The scalar reference
below uses the tutorial's own function names, so it can be read beside the article, and runs
either correctly (the sigmoid's derivative at the sop) or ``as_published`` (at the predicted
value, the slip in the published code). :func:`run_network` trains the same example through the
generic :class:`~chainrule.network.Network` and must agree with the correct reference.
"""

from __future__ import annotations

import math
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
    """g2 = dPredicted/dSop = ``sigmoid(sop) * (1 - sigmoid(sop))``, evaluated at the sop (the
    sigmoid computed once)."""
    predicted = sigmoid(sop)
    return predicted * (1.0 - predicted)


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
    """The tutorial's loop, one neuron per input weight, with numbers rather than matrices.

    Each iteration: ``sop = sum(x * w)``, ``predicted = sigmoid(sop)``, g1, g2 (at the sop, or
    ``as_published`` at the predicted value: :func:`activation_sop_deriv` of that, with the
    sigmoid already known taken from ``predicted``), the gradients ``g3 * g2 * g1`` and the
    update.
    The numbers are Python floats (NumPy's ``exp`` for the sigmoid): the same IEEE doubles as
    NumPy scalars, without their cost. The errors, which nothing in the loop uses, are computed
    from the predictions afterwards."""
    _require_memory(iterations, len(x))
    x = [float(v) for v in x]
    w = [float(v) for v in weights]
    predicted_trace, weight_trace, gradient_trace = [], [], []
    for _ in range(iterations):
        sop = 0.0
        for xi, wi in zip(x, w):
            sop += xi * wi
        predicted = float(sigmoid(sop))
        g1 = error_predicted_deriv(predicted, target)
        # g2 = activation_sop_deriv(s) = sigmoid(s) * (1 - sigmoid(s)). At s = sop, sigmoid(s)
        # is the predicted value just computed; the published code takes s = predicted.
        at = float(sigmoid(predicted)) if as_published else predicted
        g2 = at * (1.0 - at)
        # Each weight's gradient g3 * g2 * g1, and its update. The traces are flat lists of
        # floats: nothing for the garbage collector to walk.
        updated = []
        for xi, wi in zip(x, w):
            gradient = sop_w_deriv(xi) * g2 * g1
            gradient_trace.append(gradient)
            updated.append(update_w(wi, gradient, learning_rate))
        w = updated
        predicted_trace.append(predicted)
        weight_trace.extend(w)
    predicted_array = np.array(predicted_trace, dtype=float)
    label = "as published (derivative at the predicted value)" if as_published \
        else "correct (derivative at the sop)"
    return TutorialRun(label, predicted_array, error(predicted_array, target),
                       np.array(weight_trace, dtype=float).reshape(iterations, len(x)),
                       np.array(gradient_trace, dtype=float).reshape(iterations, len(x)))


def _require_memory(iterations: int, n_inputs: int) -> None:
    """Every iteration is recorded (predictions, errors, weights, the history's lists): refuse a
    run whose records would not fit in memory before it starts."""
    require_memory(iterations * (240.0 + 80 * n_inputs), f"{iterations:,} recorded iterations")


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


#: ``(f(sop), f'(sop) from the output f(sop))`` of the neuron's activations, on numbers.
_SCALAR_ACTIVATIONS = {
    "sigmoid": (sigmoid, lambda predicted: (1.0 - predicted) * predicted),
    "tanh": (np.tanh, lambda predicted: 1.0 - predicted * predicted),
    "identity": (lambda sop: sop, lambda predicted: 1.0),
}


def iterations_to_reach(
    x: Sequence[float], target: float, learning_rate: float, weights: Sequence[float],
    tolerance: float, activation: str = "sigmoid", limit: int = 2_000_000,
) -> int | None:
    """The first iteration (1-based) at which the neuron's prediction is within ``tolerance``
    of ``target``, training on from ``weights`` for up to ``limit`` iterations; ``None`` if it
    is not within that many (or the weights diverge). The tutorial's loop on numbers, in the
    generic network's order of operations: ``delta = f'(sop) * 2 (predicted - target)``,
    ``w = w - (x * delta) * learning_rate``."""
    function, slope = _SCALAR_ACTIVATIONS[activation]
    x = [float(v) for v in x]
    w = [float(v) for v in weights]
    for iteration in range(1, limit + 1):
        sop = 0.0
        for xi, wi in zip(x, w):
            sop += xi * wi
        predicted = float(function(sop))
        if abs(predicted - target) < tolerance:
            return iteration
        if not math.isfinite(predicted):
            return None
        delta = slope(predicted) * ((predicted - target) * 2.0)
        w = [wi - (xi * delta) * learning_rate for xi, wi in zip(x, w)]
    return None
