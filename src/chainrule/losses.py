"""Loss functions: how far the predicted outputs are from the targets, and the output delta.

Convention (the tutorial's, extended to batches): a loss is **summed over the outputs of a
sample and averaged over the samples of the batch**, so one sample with one output gives the
tutorial's error exactly. ``mse`` is the exception: it also averages over the outputs, as
scikit-learn and PyTorch do.

Each loss provides

* ``value(predicted, target, sop)``: the error, a float. ``sop`` (the output layer's sum of
  products) lets the cross-entropies work from logits, which is exact where ``log(predicted)``
  would underflow.
* ``predicted_deriv(predicted, target, out)``: ``dError/dPredicted`` for the batch mean, i.e.
  already divided by the number of samples (the tutorial's g1, over ``n``).
* ``output_delta(...)``: the error and ``delta = dError/dSop`` at the output layer, the start of
  the backward pass. In general that is the chain rule, ``dError/dPredicted * dPredicted/dSop``
  (g1 * g2). A loss *owns* this step (as the cost objects of Nielsen's ``network2.py`` do): a
  loss whose ``combined_activation`` is the output's activation says so itself, and then
  ``delta = (predicted - target) / n`` directly, which is both faster and stable. Categorical
  cross-entropy combines with softmax, binary cross-entropy with sigmoid.
"""

from __future__ import annotations

import numpy as np

from .activations import Activation
from .arrays import ROWS_PER_SLICE, ArrayModuleUser

__all__ = [
    "DECISION_THRESHOLD",
    "LOSSES",
    "BinaryCrossEntropy",
    "CategoricalCrossEntropy",
    "Loss",
    "MeanSquaredError",
    "SquaredError",
    "get_loss",
]

#: A sigmoid output above this is read as the positive class (yes/no decisions, accuracy).
DECISION_THRESHOLD = 0.5


class Loss(ArrayModuleUser):
    """Base class of the losses."""

    name: str = ""
    #: Output activations whose predictions this loss can take (None: any).
    allowed_activations: tuple[str, ...] | None = None
    #: Output activation for which ``dError/dSop = (predicted - target) / n``.
    combined_activation: str | None = None

    def combines_with(self, activation: Activation) -> bool:
        """Whether ``dError/dSop`` simplifies to ``(predicted - target) / n`` after
        ``activation``: the derivative of this loss and of that activation cancel."""
        return activation.name == self.combined_activation

    def value(
        self, predicted: np.ndarray, target: np.ndarray, sop: np.ndarray | None = None,
        scratch: np.ndarray | None = None,
    ) -> float:
        """The error. ``scratch``, shaped like ``predicted``, saves an allocation."""
        raise NotImplementedError

    def predicted_deriv(
        self, predicted: np.ndarray, target: np.ndarray, out: np.ndarray
    ) -> np.ndarray:
        """``dError/dPredicted``, divided by the number of samples, written into ``out``."""
        raise NotImplementedError

    def forward_output(self, activation: Activation, sop: np.ndarray, out: np.ndarray,
                       scratch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The output layer's activation, ``predicted = f(sop)``, and whatever by-product of it
        :meth:`output_delta` will want (``None`` here)."""
        return activation.forward(sop, out, scratch), None

    def value_and_predicted_deriv(self, predicted: np.ndarray, target: np.ndarray,
                                  out: np.ndarray, scratch: np.ndarray) -> float:
        """The error, and ``dError/dPredicted`` written into ``out``."""
        self.predicted_deriv(predicted, target, out)
        return self.value(predicted, target)

    def output_delta(
        self, activation: Activation, predicted: np.ndarray, target: np.ndarray,
        sop: np.ndarray, by_product: np.ndarray | None, output_grad: np.ndarray,
        delta: np.ndarray, scratch: np.ndarray,
    ) -> float:
        """Return the error; write ``delta = dError/dSop`` of the output layer into ``delta``.

        The chain rule: ``output_grad = dError/dPredicted`` (g1), then through the activation,
        ``delta = g1 * dPredicted/dSop`` (g2). Or, when this loss combines with the activation,
        ``delta = (predicted - target) / n`` (``output_grad`` is then left alone).
        """
        if self.combines_with(activation):
            error = self._combined_value(predicted, target, sop, by_product, scratch)
            xp = self.xp
            xp.subtract(predicted, target, out=scratch)
            xp.multiply(scratch, 1.0 / predicted.shape[0], out=delta)
            return error
        error = self.value_and_predicted_deriv(predicted, target, output_grad, scratch)
        activation.backward(output_grad, sop, predicted, delta, scratch)
        return error

    def _combined_value(self, predicted, target, sop, by_product, scratch) -> float:
        return self.value(predicted, target, sop, scratch)

    def formula(self) -> str:
        """``dError/dPredicted`` for one sample, as a formula."""
        raise NotImplementedError

    def check_targets(self, target: np.ndarray, where: str = "Y") -> None:
        """Raise ``ValueError`` when ``target`` holds values this loss cannot take."""

    def __repr__(self) -> str:
        return f"<loss {self.name}>"


class SquaredError(Loss):
    """The tutorial's error: ``(predicted - target)^2`` summed over the outputs (no 1/2).

    ``dError/dPredicted = 2 * (predicted - target)``, divided by ``n`` for the batch mean.
    """

    name = "squared_error"

    def _output_scale(self, predicted: np.ndarray) -> float:
        return 1.0 / predicted.shape[0]

    def value(self, predicted, target, sop=None, scratch=None):
        difference = (predicted - target).ravel()
        return float(self.xp.dot(difference, difference)) * self._output_scale(predicted)

    def predicted_deriv(self, predicted, target, out):
        xp = self.xp
        xp.subtract(predicted, target, out=out)
        return xp.multiply(out, 2.0 * self._output_scale(predicted), out=out)

    def value_and_predicted_deriv(self, predicted, target, out, scratch):
        """Both at once, sharing ``predicted - target`` (computed into ``scratch``)."""
        xp = self.xp
        difference = xp.subtract(predicted, target, out=scratch)
        scale = self._output_scale(predicted)
        error = float(xp.vdot(difference, difference)) * scale
        xp.multiply(difference, 2.0 * scale, out=out)
        return error

    def formula(self):
        return "2 * (predicted - target)"


class MeanSquaredError(SquaredError):
    """Squared error averaged over the outputs as well as the samples."""

    name = "mse"

    def _output_scale(self, predicted):
        return 1.0 / (predicted.shape[0] * predicted.shape[1])

    def formula(self):
        return "2 * (predicted - target) / n_outputs"


class BinaryCrossEntropy(Loss):
    """``-(target * log(predicted) + (1 - target) * log(1 - predicted))`` per output.

    From the sigmoid's sop ``z`` this equals ``log(1 + exp(z)) - target * z``, computed with
    ``logaddexp`` so it stays exact for any ``z``.
    """

    name = "binary_cross_entropy"
    # Each output is its own yes/no probability: a sigmoid. (Softmax outputs compete and sum
    # to 1, so they are not independent probabilities; categorical cross-entropy fits them.)
    allowed_activations = ("sigmoid",)
    combined_activation = "sigmoid"

    def value(self, predicted, target, sop=None, scratch=None):
        xp = self.xp
        n = predicted.shape[0]
        if sop is not None:
            softplus = xp.logaddexp(0.0, sop, out=scratch)
            return (float(xp.add.reduce(softplus, axis=None)) - _dot(xp, target, sop)) / n
        p = _clipped(xp, predicted)
        return -float(xp.sum(target * xp.log(p) + (1.0 - target) * xp.log1p(-p))) / n

    def predicted_deriv(self, predicted, target, out):
        xp = self.xp
        p = _clipped(xp, predicted)
        xp.subtract(p, target, out=out)
        return xp.divide(out, p * (1.0 - p) * predicted.shape[0], out=out)

    def formula(self):
        return "(predicted - target) / (predicted * (1 - predicted))"

    def check_targets(self, target, where="Y"):
        _check_unit_interval(target, self.name, where)


class CategoricalCrossEntropy(Loss):
    """``-sum_k target_k * log(predicted_k)`` per sample; targets are one-hot or probability rows.

    From the softmax's sop ``z`` this equals ``logsumexp(z) - sum_k target_k * z_k`` (rows of
    ``target`` sum to 1), computed without ever taking ``log(0)``; the softmax's forward pass
    gives ``logsumexp(z)`` as a by-product.
    """

    name = "categorical_cross_entropy"
    allowed_activations = ("softmax", "sigmoid")
    combined_activation = "softmax"

    def forward_output(self, activation, sop, out, scratch):
        if self.combines_with(activation):
            return out, activation.forward_log_sum_exp(sop, out, scratch)
        return activation.forward(sop, out, scratch), None

    def value(self, predicted, target, sop=None, scratch=None):
        xp = self.xp
        if sop is not None:
            top = xp.maximum.reduce(sop, axis=1, keepdims=True)
            shifted = xp.subtract(sop, top, out=scratch)
            xp.exp(shifted, out=shifted)
            log_sum_exp = xp.log(xp.add.reduce(shifted, axis=1))
            log_sum_exp += top[:, 0]
            return self.value_from_log_sum_exp(log_sum_exp, target, sop)
        return -float(xp.sum(target * xp.log(_clipped(xp, predicted)))) / predicted.shape[0]

    def _combined_value(self, predicted, target, sop, by_product, scratch):
        return self.value_from_log_sum_exp(by_product, target, sop)

    def value_from_log_sum_exp(self, log_sum_exp, target, sop) -> float:
        """``mean_i sum_k target_ik * (logsumexp(sop_i) - sop_ik)``, exact for any sop. The
        rows of ``target`` sum to 1 (:meth:`check_targets` makes sure, and the combined delta
        ``predicted - target`` assumes it too), so the first term is ``mean_i logsumexp(sop_i)``."""
        xp = self.xp
        return (float(xp.add.reduce(log_sum_exp)) - _dot(xp, target, sop)) / sop.shape[0]

    def predicted_deriv(self, predicted, target, out):
        xp = self.xp
        xp.divide(target, _clipped(xp, predicted), out=out)
        return xp.multiply(out, -1.0 / predicted.shape[0], out=out)

    def formula(self):
        return "-target / predicted"

    def check_targets(self, target, where="Y"):
        _check_unit_interval(target, self.name, where)
        tolerance = 1e-6 * max(1, target.shape[1])
        for start in range(0, target.shape[0], ROWS_PER_SLICE):
            row_sums = np.add.reduce(target[start:start + ROWS_PER_SLICE], axis=1)
            bad = np.flatnonzero(np.abs(row_sums - 1.0) > tolerance)
            if bad.size:
                raise ValueError(
                    f"{self.name} needs each row of {where} to sum to 1 (one-hot or "
                    f"probabilities); row {int(bad[0]) + start} sums to {row_sums[bad[0]]:g}"
                )


def _clipped(xp, predicted: np.ndarray) -> np.ndarray:
    """``predicted`` clipped into ``[eps, 1 - eps]`` so that ``log`` never sees 0."""
    eps = xp.finfo(predicted.dtype).eps
    return xp.clip(predicted, eps, 1.0 - eps)


def _dot(xp, a: np.ndarray, b: np.ndarray) -> float:
    """``sum(a * b)`` over all entries, without a temporary."""
    return float(xp.vdot(a, b))


def _check_unit_interval(target: np.ndarray, loss_name: str, where: str) -> None:
    if np.minimum.reduce(target, axis=None) >= 0 and np.maximum.reduce(target, axis=None) <= 1:
        return
    bad = np.argwhere((target < 0) | (target > 1))
    if bad.size:
        row, col = (int(i) for i in bad[0])
        raise ValueError(
            f"{loss_name} needs targets in [0, 1]; {where}[{row}, {col}] = {target[row, col]:g}"
        )


#: The losses by name.
LOSSES: dict[str, Loss] = {
    "squared_error": SquaredError(),
    "mse": MeanSquaredError(),
    "binary_cross_entropy": BinaryCrossEntropy(),
    "categorical_cross_entropy": CategoricalCrossEntropy(),
}


def get_loss(spec: str | Loss) -> Loss:
    """Look up a loss by name (or pass a :class:`Loss` through)."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, str) and spec in LOSSES:
        return LOSSES[spec]
    raise ValueError(f"unknown loss {spec!r}; expected one of: {', '.join(LOSSES)}")
