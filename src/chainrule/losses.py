"""Loss functions: how far the predicted outputs are from the targets.

Convention (the tutorial's, extended to batches): a loss is **summed over the outputs of a
sample and averaged over the samples of the batch**, so one sample with one output gives the
tutorial's error exactly. ``mse`` is the exception: it also averages over the outputs, as
scikit-learn and PyTorch do.

Each loss provides

* ``value(predicted, target, sop)``: the error, a float. ``sop`` (the output layer's sum of
  products) lets the cross-entropies work from logits, which is exact where ``log(predicted)``
  would underflow.
* ``predicted_deriv(predicted, target, out)``: ``dError/dPredicted`` for the batch mean, i.e.
  already divided by the number of samples.
* ``combined_activation``: the output activation with which ``dError/dSop`` simplifies to
  ``(predicted - target) / n`` (softmax for categorical cross-entropy, sigmoid for binary);
  the network then skips the activation's derivative, which is both faster and stable.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "LOSSES",
    "BinaryCrossEntropy",
    "CategoricalCrossEntropy",
    "Loss",
    "MeanSquaredError",
    "SquaredError",
    "get_loss",
]


def _clipped(predicted: np.ndarray) -> np.ndarray:
    """``predicted`` clipped into ``[eps, 1 - eps]`` so that ``log`` never sees 0."""
    eps = np.finfo(predicted.dtype).eps
    return np.clip(predicted, eps, 1.0 - eps)


class Loss:
    """Base class of the losses."""

    name: str = ""
    #: Output activations whose predictions this loss can take (None: any).
    allowed_activations: tuple[str, ...] | None = None
    #: Output activation for which ``dError/dSop = (predicted - target) / n``.
    combined_activation: str | None = None
    #: True when targets must lie in [0, 1].
    needs_probability_targets: bool = False

    def value(
        self, predicted: np.ndarray, target: np.ndarray, sop: np.ndarray | None = None,
        scratch: np.ndarray | None = None,
    ) -> float:
        """The error. ``scratch``, shaped like ``predicted``, saves an allocation."""
        raise NotImplementedError

    def predicted_deriv(
        self, predicted: np.ndarray, target: np.ndarray, out: np.ndarray
    ) -> np.ndarray:
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
        diff = (predicted - target).ravel()
        return float(np.dot(diff, diff)) * self._output_scale(predicted)

    def predicted_deriv(self, predicted, target, out):
        np.subtract(predicted, target, out=out)
        np.multiply(out, 2.0 * self._output_scale(predicted), out=out)
        return out

    def value_and_predicted_deriv(self, predicted, target, out, scratch_flat, scratch):
        """Both at once, sharing ``predicted - target`` (computed into ``scratch``, whose flat
        view is ``scratch_flat``); the derivative goes into ``out``."""
        np.subtract(predicted, target, out=scratch)
        scale = self._output_scale(predicted)
        error = float(np.dot(scratch_flat, scratch_flat)) * scale
        np.multiply(scratch, 2.0 * scale, out=out)
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
    needs_probability_targets = True

    def value(self, predicted, target, sop=None, scratch=None):
        n = predicted.shape[0]
        if sop is not None:
            softplus = np.logaddexp(0.0, sop, out=scratch)
            return (float(np.add.reduce(softplus, axis=None)) - _dot(target, sop)) / n
        p = _clipped(predicted)
        return -float(np.sum(target * np.log(p) + (1.0 - target) * np.log1p(-p))) / n

    def predicted_deriv(self, predicted, target, out):
        p = _clipped(predicted)
        np.subtract(p, target, out=out)
        np.divide(out, p * (1.0 - p) * predicted.shape[0], out=out)
        return out

    def formula(self):
        return "(predicted - target) / (predicted * (1 - predicted))"

    def check_targets(self, target, where="Y"):
        _check_unit_interval(target, self.name, where)


class CategoricalCrossEntropy(Loss):
    """``-sum_k target_k * log(predicted_k)`` per sample; targets are one-hot or probability rows.

    From the softmax's sop ``z`` this equals ``logsumexp(z) - sum_k target_k * z_k`` (rows of
    ``target`` sum to 1), computed without ever taking ``log(0)``.
    """

    name = "categorical_cross_entropy"
    allowed_activations = ("softmax", "sigmoid")
    combined_activation = "softmax"
    needs_probability_targets = True

    def value(self, predicted, target, sop=None, scratch=None):
        n = predicted.shape[0]
        if sop is not None:
            top = np.maximum.reduce(sop, axis=1, keepdims=True)
            shifted = np.subtract(sop, top, out=scratch)
            np.exp(shifted, out=shifted)
            log_sum_exp = np.log(np.add.reduce(shifted, axis=1))
            log_sum_exp += top[:, 0]
            return self.value_from_log_sum_exp(log_sum_exp, target, sop)
        return -float(np.sum(target * np.log(_clipped(predicted)))) / n

    @staticmethod
    def value_from_log_sum_exp(log_sum_exp, target, sop) -> float:
        """``mean_i sum_k target_ik * (logsumexp(sop_i) - sop_ik)``, exact for any sop."""
        row_sums = np.add.reduce(target, axis=1)
        return (float(np.dot(row_sums, log_sum_exp)) - _dot(target, sop)) / sop.shape[0]

    def predicted_deriv(self, predicted, target, out):
        np.divide(target, _clipped(predicted), out=out)
        np.multiply(out, -1.0 / predicted.shape[0], out=out)
        return out

    def formula(self):
        return "-target / predicted"

    def check_targets(self, target, where="Y"):
        _check_unit_interval(target, self.name, where)
        tolerance = 1e-6 * max(1, target.shape[1])
        for start in range(0, target.shape[0], _ROWS_PER_CHUNK):
            row_sums = np.add.reduce(target[start:start + _ROWS_PER_CHUNK], axis=1)
            bad = np.flatnonzero(np.abs(row_sums - 1.0) > tolerance)
            if bad.size:
                raise ValueError(
                    f"{self.name} needs each row of {where} to sum to 1 (one-hot or "
                    f"probabilities); row {int(bad[0]) + start} sums to {row_sums[bad[0]]:g}"
                )


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``sum(a * b)`` over all entries, without a temporary."""
    return float(np.dot(a.reshape(-1), b.reshape(-1)))


_ROWS_PER_CHUNK = 8192  # checks run in chunks: no temporary grows with the data


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
