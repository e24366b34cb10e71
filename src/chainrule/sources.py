"""Gradient sources: where a training step's gradient comes from.

The training loop (:class:`chainrule.training.Trainer`) is one loop for every way of training.
It decides which rows make each batch, the learning rate, when to stop, what to record; a
*gradient source* does the arithmetic of one step on those rows:

* :class:`LocalData`: the fast engine on in-memory arrays (full batch, mini-batch, stochastic);
* :class:`chainrule.fastpath.OneNeuronKernel`: the tutorial's one-neuron network on Python
  floats, bit for bit the engine's result;
* :class:`chainrule.distributed.DaskBlocks`: row-blocks on a Dask cluster, summed by a tree
  reduction.

A source computes ``error = gradient(batch, index)`` (the gradient lands in the network's
:meth:`~chainrule.engine.Engine.flat_gradients`), applies ``update(optimizer, lr)``, and keeps
the snapshots of the weights that divergence goes back to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

from .engine import Engine

__all__ = ["GradientSource", "LocalData"]


class GradientSource:
    """The interface, with the defaults that work on the network's own arrays."""

    #: A short name, recorded in ``history.params["gradient_source"]``.
    name = ""
    #: Whether :meth:`gradient` leaves the batch's forward and backward pass in the engine's
    #: workspace (``net.last_workspace``) and passes predictions to ``observe``.
    fills_workspace = False
    #: The number of training samples.
    n_samples: int
    #: Whether :meth:`restore` can go back to the weights before the last update by itself,
    #: so the loop needs no :meth:`snapshot` (a source that makes one update per epoch).
    keeps_last_weights = False
    #: Whether the source adds the L2 term itself (one that makes many updates in a step).
    applies_l2 = False
    #: The epoch's learning rate, set by the loop at each epoch's start (for a source whose
    #: step needs it before :meth:`update`).
    learning_rate = 0.0

    def __init__(self, net: Engine) -> None:
        self.net = net
        self._snapshots: list[np.ndarray | None] = [None, None]
        self._snapshot_epochs: list[int | None] = [None, None]

    # -- a step
    def gradient(self, batch: int, index: np.ndarray | None,
                 observe: Callable[[np.ndarray, np.ndarray, int], None] | None) -> float:
        """The error of batch number ``batch`` before the update; its gradient goes into the
        network's flat gradient buffer. ``index`` holds the batch's rows when the order is
        shuffled, else ``None`` (rows in order)."""
        raise NotImplementedError

    def update(self, optimizer: Any, learning_rate: float) -> None:
        """Apply the optimizer's update to the parameters, in place."""
        optimizer.step(self._parameters, self._gradients, learning_rate)

    def plan(self, batch_size: int | None) -> list[int] | None:
        """The rows each step of an epoch covers, when the source batches the data itself (the
        loop then neither shuffles nor slices, and the source may reorder this list in place at
        an epoch's start); ``None``: the loop's batches of ``batch_size`` rows."""
        return None

    def start(self, batch_size: int | None, optimizer: Any = None, l2: float = 0.0) -> None:
        """Prepare for the steps of a run (batches of ``batch_size`` rows, ``None``: all; the
        optimizer and L2 for a source that updates by itself)."""
        net = self.net
        self._parameters, self._gradients = [net.flat_parameters()], [net.flat_gradients()]

    # -- the network's weights, for sources that keep them elsewhere while they run
    def load(self) -> None:
        """Take the network's current weights (someone may have changed them)."""

    def sync(self) -> None:
        """Leave the current weights in the network's arrays, for anyone who looks."""

    # -- divergence: copies of the weights to go back to
    def snapshot(self, epoch: int) -> None:
        """Keep a copy of the weights the epoch starts from. Two copies alternate, so the one
        from before the current epoch is always there."""
        older = 0 if self._snapshot_epochs[0] is None or (
            self._snapshot_epochs[1] is not None
            and self._snapshot_epochs[0] < self._snapshot_epochs[1]) else 1
        if self._snapshots[older] is None:
            self._snapshots[older] = self.net.xp.empty_like(self.net.flat_parameters())
        self.net.xp.copyto(self._snapshots[older], self.net.flat_parameters())
        self._snapshot_epochs[older] = epoch

    def restore(self, latest_good_epoch: int) -> int | None:
        """Put back the newest copy taken at or before ``latest_good_epoch``; return its epoch
        (``None`` when there is none)."""
        candidates = [(e, i) for i, e in enumerate(self._snapshot_epochs)
                      if e is not None and e <= max(latest_good_epoch, 0)]
        if not candidates:
            return None
        epoch, index = max(candidates)
        self.net.xp.copyto(self.net.flat_parameters(), self._snapshots[index])
        return epoch

    def forget_snapshots(self) -> None:
        """Drop the copies (the weights were changed by hand: they no longer lead here)."""
        self._snapshot_epochs = [None, None]

    # -- whole-data questions the loop's stopping rules ask
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
        """The loss on the training data with the current weights (L2 not included), which
        the loop checks after the run's last update; ``None`` where the data is not at hand
        (only the weights are checked then)."""
        return None

    def last_prediction(self) -> float:
        """The prediction of the last step's first sample and output (one-sample training
        records it every epoch: the tutorial's curve)."""
        return float(self.net.last_workspace.outputs[-1][0, 0])


class LocalData(GradientSource):
    """The fast engine on in-memory data.

    Batches are views of the data when the order is fixed, or gathered into buffers (one per
    batch size, reused every epoch) when it is shuffled: the data itself is never copied.
    """

    name = "engine"
    fills_workspace = True

    def __init__(self, net: Engine, X: Any, Y: Any) -> None:
        super().__init__(net)
        self.X, self.Y = net.check_data(X, Y)
        self.n_samples = self.X.shape[0]

    def start(self, batch_size: int | None, optimizer: Any = None, l2: float = 0.0) -> None:
        super().start(batch_size)
        X, Y, n = self.X, self.Y, self.n_samples
        size = n if batch_size is None else batch_size
        buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._plan = []  # per batch: (first row, views in order, gather buffers)
        for start in range(0, n, size):
            stop = min(start + size, n)
            rows = stop - start
            if rows not in buffers and batch_size is not None:
                buffers[rows] = (np.empty((rows, X.shape[1]), dtype=X.dtype),
                                 np.empty((rows, Y.shape[1]), dtype=Y.dtype))
            self._plan.append((start, X[start:stop], Y[start:stop], buffers.get(rows)))

    def gradient(self, batch, index, observe):
        start, inputs, targets, gather = self._plan[batch]
        if index is not None and gather is not None:
            inputs, targets = gather
            # mode="clip" skips the bounds-checking copy that ``out`` costs otherwise; the
            # indices are a permutation of the rows, so clipping never changes one.
            self.X.take(index, axis=0, out=inputs, mode="clip")
            self.Y.take(index, axis=0, out=targets, mode="clip")
        return self.net.compute_gradients(inputs, targets, observe)

    def batch_data(self, batch: int, index: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The inputs and targets of a batch (new arrays), for whoever looks at a step."""
        start, inputs, targets, _ = self._plan[batch]
        if index is not None:
            return self.X[index], self.Y[index]
        return inputs.copy(), targets.copy()

    def fingerprint(self):
        digest = hashlib.sha256()
        for array in (self.X, self.Y):
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
        return digest.hexdigest()

    def largest_gap(self):
        predicted = Engine.evaluate(self.net, self.X, None)[1]
        return float(np.max(np.abs(predicted - self.Y)))

    def predictions(self):
        return Engine.evaluate(self.net, self.X, None)[1]

    def loss(self):
        return float(Engine.evaluate(self.net, self.X, self.Y)[0])
