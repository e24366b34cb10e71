"""Gradient sources: where a training step's gradient comes from.

The training loop (:mod:`chainrule.training.loop`) is one loop for every way of training. It
decides which rows make each batch, the learning rate, when to stop, what to record; a
*gradient source* does the arithmetic of one step on those rows:

* :class:`LocalData`: the fast engine on in-memory arrays (full batch, mini-batch, stochastic);
* :class:`chainrule.distributed.DaskBlocks`: row-blocks on a Dask cluster, summed by a tree
  reduction.

A source computes ``error = gradient(batch, rows)`` (the gradient lands in the network's
:meth:`~chainrule.engine.Engine.flat_gradients`); :meth:`GradientSource.step` hands it to the
one :class:`~chainrule.training.step.Descent` (L2, the divergence check, the update).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

from .engine import Engine
from .losses import check_sample_weight

__all__ = ["GradientSource", "LocalData"]

Observer = Callable[[np.ndarray, np.ndarray, int], None]


class GradientSource:
    """The interface, with the defaults that work on the network's own arrays."""

    #: A short name, recorded in ``history.params["gradient_source"]``.
    name = ""
    #: The number of training samples.
    n_samples: int
    #: The training inputs and targets, where they are at hand (``None`` otherwise).
    X: np.ndarray | None = None
    Y: np.ndarray | None = None
    #: Whether the samples carry weights: each batch's error is then the weighted mean over
    #: its rows, and :attr:`last_batch_weight` the sum of its weights (the loop weighs the
    #: epoch's loss by it).
    weighted: bool = False
    last_batch_weight: float = 0.0
    #: The sum of every sample's weight (weighted sources set it).
    total_weight: float = 0.0

    def __init__(self, net: Engine) -> None:
        self.net = net

    # -- a step
    def gradient(self, batch: int, index: np.ndarray | None, observe: Observer | None) -> float:
        """The error of batch number ``batch`` before the update; its gradient goes into the
        network's flat gradient buffer. ``index`` holds the batch's rows when the order is
        shuffled, else ``None`` (rows in order). ``observe(predicted, targets, first_row)``,
        if given, may be shown the batch's predictions (training accuracy)."""
        raise NotImplementedError

    def step(self, batch: int, index: np.ndarray | None, observe: Observer | None,
             descent: Any) -> float:
        """One step: the batch's gradient, then ``descent`` (L2, the divergence check, the
        update; :class:`~chainrule.training.step.Descent`). Returns the loss with L2."""
        return descent(self.gradient(batch, index, observe))

    def plan(self, batch_size: int | None) -> list[int] | None:
        """The rows each step of an epoch covers, when the source batches the data itself (the
        loop then neither shuffles nor slices, and the source may reorder this list in place at
        an epoch's start); ``None``: the loop's batches of ``batch_size`` rows."""
        return None

    def start(self, batch_size: int | None) -> None:
        """Prepare for the steps of a run (batches of ``batch_size`` rows, ``None``: all)."""

    # -- whole-data questions the loop's records and stopping rules ask
    def batch_data(self, batch: int, index: np.ndarray | None
                   ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The inputs and targets of a batch (new arrays), for whoever looks at a step;
        ``(None, None)`` where the data is not at hand."""
        return None, None

    def largest_gap(self) -> float:
        """``max |predicted - target|`` over the training data, with the current weights."""
        raise NotImplementedError

    def fingerprint(self) -> str | None:
        """A digest of the training data, so that a checkpoint resumes on the data it was made
        on (``None`` where the data is not at hand)."""
        return None

    def predictions(self) -> np.ndarray:
        """The predictions on the training data (for ``record_predictions``)."""
        raise NotImplementedError

    def loss(self) -> float | None:
        """The loss on the training data with the current weights (the penalties not
        included), which the loop checks after the run's last update against the limit the
        first step's loss set; ``None`` where the data is not at hand (only the weights are
        checked then)."""
        return None

    def last_prediction(self) -> float:
        """The prediction of the last step's first sample and output (one-sample training
        records it every epoch: the tutorial's curve)."""
        return float(self.net.last_workspace.outputs[-1][0, 0])


class LocalData(GradientSource):
    """The fast engine on in-memory data.

    Batches are views of the data when the order is fixed, or gathered into buffers (one per
    batch size, reused every epoch) when it is shuffled: the data itself is never copied.
    ``sample_weight`` (one weight >= 0 per sample, or ``None``) makes each batch's error the
    weighted mean over its rows, normalised by the batch's sum of weights (scikit-learn's
    convention for mini-batches).
    """

    name = "engine"

    def __init__(self, net: Engine, X: Any, Y: Any, sample_weight: Any = None) -> None:
        super().__init__(net)
        self.X, self.Y = net.check_data(X, Y)
        self.n_samples = self.X.shape[0]
        self.sample_weight = None
        if sample_weight is not None:
            self.sample_weight = check_sample_weight(sample_weight, self.n_samples, net.dtype)
            self.weighted = True
            self.total_weight = float(self.sample_weight.sum())

    def start(self, batch_size: int | None) -> None:
        X, Y, n, W = self.X, self.Y, self.n_samples, self.sample_weight
        size = n if batch_size is None else batch_size
        buffers: dict[int, tuple[np.ndarray, ...]] = {}
        self._plan = []  # per batch: (first row, views in order, gather buffers, weights)
        for start in range(0, n, size):
            stop = min(start + size, n)
            rows = stop - start
            if rows not in buffers and batch_size is not None:
                buffers[rows] = (np.empty((rows, X.shape[1]), dtype=X.dtype),
                                 np.empty((rows, Y.shape[1]), dtype=Y.dtype),
                                 None if W is None else np.empty(rows, dtype=W.dtype))
            self._plan.append((start, X[start:stop], Y[start:stop], buffers.get(rows),
                               None if W is None else W[start:stop]))

    def gradient(self, batch, index, observe):
        start, inputs, targets, gather, weights = self._plan[batch]
        if index is not None and gather is not None:
            inputs, targets, gathered_weights = gather
            # mode="clip" skips the bounds-checking copy that ``out`` costs otherwise; the
            # indices are a permutation of the rows, so clipping never changes one.
            self.X.take(index, axis=0, out=inputs, mode="clip")
            self.Y.take(index, axis=0, out=targets, mode="clip")
            if weights is not None:
                weights = self.sample_weight.take(index, out=gathered_weights, mode="clip")
        if weights is None:
            return self.net.compute_gradients(inputs, targets, observe)
        self.last_batch_weight = float(weights.sum())
        return self.net.compute_gradients(inputs, targets, observe, weights)

    def batch_data(self, batch: int, index: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The inputs and targets of a batch (new arrays), for whoever looks at a step."""
        start, inputs, targets = self._plan[batch][:3]
        if index is not None:
            return self.X[index], self.Y[index]
        return inputs.copy(), targets.copy()

    def fingerprint(self):
        digest = hashlib.sha256()
        for array in (self.X, self.Y) if self.sample_weight is None else \
                (self.X, self.Y, self.sample_weight):
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
        return digest.hexdigest()

    def largest_gap(self):
        predicted = Engine.evaluate(self.net, self.X, None)[1]
        return float(np.max(np.abs(predicted - self.Y)))

    def predictions(self):
        return Engine.evaluate(self.net, self.X, None)[1]

    def loss(self):
        """In evaluation mode (:meth:`~chainrule.engine.Engine.evaluate`); with batch
        normalisation in training mode instead (:meth:`training_mode_loss`): the limit it is
        checked against comes from a training step's loss, and after a few steps the running
        statistics can be far from any batch's (inputs far from 0), so the evaluation loss of
        good weights can be orders of magnitude above it."""
        if self.net.couples_rows:
            return self.training_mode_loss()
        return float(Engine.evaluate(self.net, self.X, self.Y, self.sample_weight)[0])

    def training_mode_loss(self) -> float:
        """The loss over the run's batches as training steps see them, each on its own
        statistics: ``sum_b n_b * loss_b / sum_b n_b`` over the batches of rows in order
        (weighted: ``n_b`` the batch's sum of weights), each ``loss_b``
        :meth:`~chainrule.engine.Engine.training_loss` (dropout's masks drawn from a copy of
        the generator). Nothing moves: not the running statistics, not the generator. Before
        :meth:`start`, all the rows as one batch."""
        batches = getattr(self, "_plan", None) or [
            (0, self.X, self.Y, None, self.sample_weight)]
        total = weight = 0.0
        for _, inputs, targets, _, weights in batches:
            share = float(inputs.shape[0] if weights is None else weights.sum())
            if share > 0.0:
                total += share * self.net.training_loss(inputs, targets, None, weights)
                weight += share
        return total / weight if weight else 0.0
