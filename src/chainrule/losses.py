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
* ``row_values(predicted, target, sop)``: the error of each sample, for weights per sample:
  :func:`weigh_rows` turns a batch's mean and its delta into the weighted mean ``sum_i w_i e_i /
  sum_i w_i`` and its delta (rows scaled by ``w_i n / sum_i w_i``).
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
    "check_sample_weight",
    "get_loss",
    "weigh_rows",
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

    def weighted_output_delta(
        self, activation: Activation, predicted: np.ndarray, target: np.ndarray,
        sop: np.ndarray, by_product: np.ndarray | None, output_grad: np.ndarray,
        delta: np.ndarray, scratch: np.ndarray, sample_weight: np.ndarray,
        row_errors: np.ndarray,
    ) -> float:
        """:meth:`output_delta` for the weighted mean: return ``sum_i w_i e_i / sum_i w_i`` and
        write ``delta = w_i / sum_i w_i * de_i/dSop_i`` (the mean's delta, whose rows carry
        ``1/n``, times ``w_i n / sum_i w_i``), as :func:`weigh_rows` does after
        :meth:`output_delta`, but with each ``e_i`` computed once, into ``row_errors`` (a free
        ``(n,)`` buffer), and the mean's own error not at all. Weights summing to 0: error 0,
        ``delta`` 0."""
        xp = self.xp
        total = float(xp.add.reduce(sample_weight, axis=None))
        if total == 0.0:
            delta.fill(0.0)
            return 0.0
        n = predicted.shape[0]
        if self.combines_with(activation):  # (output_grad is free: the delta skips it)
            xp.subtract(predicted, target, out=scratch)
            xp.multiply(scratch, 1.0 / n, out=delta)
            self._rows_into(predicted, target, sop, by_product, scratch, output_grad,
                            row_errors)
        else:  # (output_grad may be delta itself: an identity output)
            self._rows_into(predicted, target, None, None, scratch, None, row_errors)
            self.predicted_deriv(predicted, target, output_grad)
            activation.backward(output_grad, sop, predicted, delta, scratch)
        error = float(xp.dot(sample_weight, row_errors)) / total
        scale = xp.multiply(sample_weight, n / total, out=row_errors)
        xp.multiply(delta, scale[:, None], out=delta)
        return error

    def _rows_into(self, predicted, target, sop, by_product, scratch, spare, out) -> None:
        """:meth:`row_values` written into ``out``; ``scratch`` and ``spare`` (``None`` when
        not free) are buffers shaped like ``predicted`` a loss may use to avoid allocating."""
        out[...] = self.row_values(predicted, target, sop)

    def row_values(self, predicted: np.ndarray, target: np.ndarray,
                   sop: np.ndarray | None = None) -> np.ndarray:
        """The error of each sample, ``(n,)``: what :meth:`value` averages over the batch
        (from the logits ``sop`` where it takes them)."""
        raise NotImplementedError

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

    def row_values(self, predicted, target, sop=None):
        difference = predicted - target
        return self.xp.einsum("ij,ij->i", difference, difference) * (
            self._output_scale(predicted) * predicted.shape[0])

    def _rows_into(self, predicted, target, sop, by_product, scratch, spare, out):
        xp = self.xp
        squares = xp.subtract(predicted, target, out=scratch)
        xp.multiply(squares, squares, out=squares)
        xp.add.reduce(squares, axis=1, out=out)
        xp.multiply(out, self._output_scale(predicted) * predicted.shape[0], out=out)

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

    def row_values(self, predicted, target, sop=None):
        xp = self.xp
        if sop is not None:
            return xp.add.reduce(xp.logaddexp(0.0, sop) - target * sop, axis=1)
        p = _clipped(xp, predicted)
        return -xp.add.reduce(target * xp.log(p) + (1.0 - target) * xp.log1p(-p), axis=1)

    def _rows_into(self, predicted, target, sop, by_product, scratch, spare, out):
        if sop is None or spare is None:
            return super()._rows_into(predicted, target, sop, by_product, scratch, spare, out)
        xp = self.xp
        terms = xp.logaddexp(0.0, sop, out=scratch)
        xp.subtract(terms, xp.multiply(target, sop, out=spare), out=terms)
        xp.add.reduce(terms, axis=1, out=out)
        return None

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

    def row_values(self, predicted, target, sop=None):
        xp = self.xp
        if sop is not None:
            top = xp.maximum.reduce(sop, axis=1, keepdims=True)
            log_sum_exp = xp.log(xp.add.reduce(xp.exp(sop - top), axis=1)) + top[:, 0]
            return log_sum_exp - xp.add.reduce(target * sop, axis=1)
        return -xp.add.reduce(target * xp.log(_clipped(xp, predicted)), axis=1)

    def _rows_into(self, predicted, target, sop, by_product, scratch, spare, out):
        if sop is None or by_product is None or spare is None:
            return super()._rows_into(predicted, target, sop, by_product, scratch, spare, out)
        xp = self.xp  # logsumexp(sop_i), the softmax's by-product, minus sum_k t_ik sop_ik
        xp.add.reduce(xp.multiply(target, sop, out=spare), axis=1, out=out)
        xp.subtract(by_product, out, out=out)
        return None

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


def weigh_rows(loss: Loss, predicted: np.ndarray, target: np.ndarray, sop: np.ndarray | None,
               delta: np.ndarray, sample_weight: np.ndarray) -> float:
    """Turn the batch mean into the weighted mean: return ``sum_i w_i e_i / sum_i w_i`` (``e_i``
    the error of sample ``i``) and scale row ``i`` of the output layer's ``delta`` (the mean's
    ``dError/dSop``, which carries ``1/n``) by ``w_i * n / sum_i w_i``, so that it becomes
    ``w_i / sum_i w_i * de_i/dSop_i``. A batch whose weights sum to 0 weighs nothing: error 0,
    ``delta`` 0. ``sop`` is the output sop where the loss works from logits, else ``None``."""
    xp = loss.xp
    total = float(xp.add.reduce(sample_weight, axis=None))
    if total == 0.0:
        delta.fill(0.0)
        return 0.0
    n = predicted.shape[0]
    xp.multiply(delta, (sample_weight * (n / total))[:, None], out=delta)
    return float(xp.dot(sample_weight, loss.row_values(predicted, target, sop))) / total


def check_sample_weight(sample_weight: object, n_samples: int, dtype: object = np.float64,
                        name: str = "sample_weight") -> np.ndarray:
    """``sample_weight`` as a ``(n_samples,)`` array of ``dtype``, or a ``ValueError``: one
    finite number >= 0 per sample, not all 0."""
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers, one per sample") from None
    if weights.ndim == 2 and weights.shape[1] == 1:
        weights = weights[:, 0]
    if weights.ndim != 1 or weights.shape[0] != n_samples:
        raise ValueError(f"{name} must hold one weight per sample ({n_samples}), got shape "
                         f"{weights.shape}")
    bad = np.flatnonzero(~np.isfinite(weights))
    if bad.size:
        raise ValueError(f"{name}[{int(bad[0])}] is {weights[bad[0]]}: weights must be finite")
    bad = np.flatnonzero(weights < 0)
    if bad.size:
        raise ValueError(f"{name}[{int(bad[0])}] is {weights[bad[0]]:g}: weights must be >= 0")
    if n_samples and not weights.any():
        raise ValueError(f"{name}: every weight is zero, nothing to learn from")
    return np.ascontiguousarray(weights, dtype=dtype)


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
