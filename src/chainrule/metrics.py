"""How well a network does on labelled rows, in the units a person reads.

For classes: the loss, accuracy (the share of rows whose predicted class, the largest output or
an output above :data:`~chainrule.losses.DECISION_THRESHOLD`, is the target's), precision,
recall and F1 per class and the confusion matrix (rows: true class, columns: predicted). For
regression: the loss, the mean squared error and R² = 1 - sum((predicted - y)^2) /
sum((y - mean(y))^2), both in the target's own units (the model's ``target_scaling`` undone).
Sums are kept per block of rows (:meth:`Metrics.add`, :meth:`Metrics.merge`), so data of any
size, or spread over a cluster, is evaluated in bounded memory. ``chainrule evaluate`` and the
web playground both report these.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import ROWS_PER_SLICE
from .engine import Engine
from .losses import DECISION_THRESHOLD, CategoricalCrossEntropy

__all__ = ["AccuracyMeter", "Metrics", "accuracy", "class_indices", "score", "scale_inputs",
           "target_units"]


def accuracy(net: Engine, predicted: np.ndarray, Y: np.ndarray) -> float:
    """Share of samples classified right (categorical: the largest output is the target's) or
    of outputs on the right side of the decision threshold (0.5)."""
    if isinstance(net.loss_function, CategoricalCrossEntropy):
        return float(np.mean(np.argmax(predicted, axis=1) == np.argmax(Y, axis=1)))
    return float(np.mean((predicted > DECISION_THRESHOLD) == (Y > DECISION_THRESHOLD)))


class AccuracyMeter:
    """The training accuracy of an epoch, counted from the predictions its batches made (the
    engine shows them to :meth:`observe`), without a copy per step: the same number as
    :func:`accuracy` on the epoch's predictions."""

    def __init__(self, net: Engine, Y: np.ndarray):
        self.categorical = isinstance(net.loss_function, CategoricalCrossEntropy)
        if self.categorical:
            self.labels = np.argmax(Y, axis=1)
            self.predicted_labels = np.empty(Y.shape[0], dtype=np.intp)
        self.n_values = Y.size
        self.correct = 0
        self.rows_seen = 0
        self.batch_start = 0  # the first row of the current batch, in the epoch's order

    def observe(self, predicted: np.ndarray, targets: np.ndarray, first_row: int) -> None:
        """``Engine.compute_gradients``'s hook: the predictions of (a slice of) the batch."""
        start = self.batch_start + first_row
        self.rows_seen += len(predicted)
        if self.categorical:
            np.argmax(predicted, axis=1, out=self.predicted_labels[start:start + len(predicted)])
        else:
            self.correct += int(np.count_nonzero(
                (predicted > DECISION_THRESHOLD) == (targets > DECISION_THRESHOLD)))

    def epoch_value(self, order: np.ndarray | None) -> float | None:
        """The epoch's accuracy (``order``: the epoch's order of the samples, ``None``: in
        order); ``None`` when no prediction was shown (a source whose predictions stay where
        the data is)."""
        seen, self.rows_seen = self.rows_seen, 0
        if not seen:
            return None
        if self.categorical:
            correct, n = 0, self.labels.size
            for start in range(0, n, ROWS_PER_SLICE):  # no temporary as long as the data
                stop = min(start + ROWS_PER_SLICE, n)
                labels = self.labels[start:stop] if order is None \
                    else self.labels.take(order[start:stop])
                correct += np.count_nonzero(self.predicted_labels[start:stop] == labels)
            return correct / n
        correct, self.correct = self.correct, 0
        return correct / self.n_values


def scale_inputs(net: Engine, X: np.ndarray) -> np.ndarray:
    """Raw inputs as the network was trained on them: ``(x - mean) / scale`` with the model's
    ``scaling`` metadata (unchanged when it has none)."""
    scaling = net.metadata.get("scaling")
    if not scaling:
        return X
    return (X - np.asarray(scaling["mean"])) / np.asarray(scaling["scale"])


def target_units(net: Engine, values: np.ndarray, to_network: bool) -> np.ndarray:
    """Regression targets are standardised for training (``target_scaling`` in the model's
    metadata): values in the data's own units to the network's, or back."""
    scaling = net.metadata.get("target_scaling")
    if not scaling:
        return values
    mean, scale = np.asarray(scaling["mean"]), np.asarray(scaling["scale"])
    return (values - mean) / scale if to_network else values * scale + mean


def class_indices(net: Engine, values: np.ndarray) -> np.ndarray:
    """Class indices from outputs or one-hot/0-1 targets."""
    if values.shape[1] == 1:
        return (values[:, 0] > DECISION_THRESHOLD).astype(int)
    return np.argmax(values, axis=1)


class Metrics:
    """The loss (in the network's units), then accuracy and the per-class view for classes, or
    the mean squared error and R² in the target's own units for regression, summed over blocks
    of rows so that data of any size is evaluated in bounded memory."""

    def __init__(self, net: Engine):
        self.net, self.rows, self.loss = net, 0, 0.0
        self.classification = net.metadata.get("task") == "classification"
        if self.classification:
            classes = net.metadata.get("classes") or list(range(max(2, net.n_outputs)))
            self.classes = [str(c) for c in classes]
            self.confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
            self.correct = 0.0
        else:
            zeros = np.zeros(net.n_outputs)
            self.sum, self.sum_squares, self.residual = zeros, zeros.copy(), zeros.copy()

    def add(self, X: np.ndarray, Y: np.ndarray) -> None:
        """Add a block of rows (checked: an empty block is refused, as every call that takes
        data refuses one; the arrays are not changed)."""
        net = self.net
        X, Y = net.check_data(X, Y)
        loss, predicted = Engine.evaluate(net, X, Y)  # one pass: the loss and the outputs
        self.loss += loss * len(X)
        self.rows += len(X)
        if self.classification:
            self.correct += accuracy(net, predicted, Y) * len(X)
            np.add.at(self.confusion, (class_indices(net, Y), class_indices(net, predicted)), 1)
        else:
            predicted, Y = target_units(net, predicted, False), target_units(net, Y, False)
            self.sum += Y.sum(axis=0)
            self.sum_squares += (Y * Y).sum(axis=0)
            self.residual += ((predicted - Y) ** 2).sum(axis=0)

    def merge(self, other: Metrics) -> None:
        """Add another block's sums (computed elsewhere, on a worker)."""
        self.rows += other.rows
        self.loss += other.loss
        if self.classification:
            self.correct += other.correct
            self.confusion += other.confusion
        else:
            self.sum += other.sum
            self.sum_squares += other.sum_squares
            self.residual += other.residual

    def result(self) -> dict[str, Any]:
        n = self.rows
        metrics: dict[str, Any] = {"loss": self.loss / n}
        if self.classification:
            metrics["accuracy"] = self.correct / n
            confusion, per_class = self.confusion, {}
            for index, label in enumerate(self.classes):
                right = confusion[index, index]
                predicted_as, actual = confusion[:, index].sum(), confusion[index].sum()
                precision = right / predicted_as if predicted_as else float("nan")
                recall = right / actual if actual else float("nan")
                f1 = 2 * precision * recall / (precision + recall) \
                    if precision + recall > 0 else float("nan")
                per_class[label] = {"precision": float(precision), "recall": float(recall),
                                    "f1": float(f1), "support": int(actual)}
            metrics["per_class"], metrics["confusion_matrix"] = per_class, confusion.tolist()
        else:
            total = float(np.sum(self.sum_squares - self.sum * self.sum / n))
            residual = float(np.sum(self.residual))
            metrics["mse"] = residual / (n * self.net.n_outputs)
            metrics["r2"] = 1 - residual / total if total > 1e-12 * float(
                np.sum(self.sum_squares)) else float("nan")
        return metrics


def score(net: Engine, X: np.ndarray, Y: np.ndarray) -> dict[str, Any]:
    """The metrics of one array of rows (see :class:`_Metrics`)."""
    metrics = Metrics(net)
    metrics.add(X, Y)
    return metrics.result()
