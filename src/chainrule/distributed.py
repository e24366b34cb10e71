"""Data-parallel gradient descent on a Dask cluster (optional extra ``chainrule[dask]``).

The gradient of a loss averaged over samples is a sum over samples divided by their number, so
it splits across machines exactly. :class:`DaskBlocks` is a gradient source
(:mod:`chainrule.sources`) for the one training loop; each step:

1. the current parameters (one flat array) go to the cluster once, as the argument of a task
   whose result the block tasks share (unlike scattered data, it is recomputed if lost);
2. every row-block of the data, where it lives, computes ``(summed loss, summed gradient,
   row count)`` for its rows of the batch;
3. these are added by a tree reduction on the cluster, in a fixed order;
4. the driver divides by the row count; the loop's one step adds the L2 term, checks for
   divergence and applies the update (mini-batches by block: the same step, on the worker).

The data is persisted once and never moves; only parameters and gradients travel. Full-batch
results equal single-process training up to the order of floating-point additions (about 1e-16
relative per step). Mini-batches follow the single-process order exactly: the loop shuffles the
global sample order with the network's generator, as in-memory training does, and each block
gives its rows of each batch. If a worker dies, Dask recomputes the blocks it held from their
graph and reruns the lost tasks; the parameters are the driver's, so the run ends with the same
weights. Everything else (validation, early stopping, the target rule, callbacks, divergence,
checkpoints and bit-exact resume, Ctrl-C) is the training loop's, the same as in one process.

:func:`prepare_on_cluster` (and its :class:`ClusterTable`, from :mod:`chainrule.distributed_table`)
reads a table on the workers and prepares it as one process would, for :func:`fit`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._validation import first_non_finite
from .callbacks import Callback, EarlyStopping
from .cluster_blocks import worker_network
from .distributed_table import ClusterTable, _reduce, prepare_on_cluster
from .engine import Engine
from .history import History
from .optimizers import OPTIMIZERS
from .persistence import read_checkpoint, write_checkpoint
from .sources import GradientSource
from .training import Descent, Trainer, prepare_run

__all__ = ["ClusterTable", "DaskBlocks", "fit", "prepare_on_cluster"]

def _refusal_of(task, *args):
    """``task(*args)``, or its ``ValueError``'s message: a worker logs a task that raises, its
    traceback on stderr; the driver raises this one, in one line."""
    try:
        return task(*args)
    except ValueError as exc:
        return str(exc)


def _check_block(index: int, X: np.ndarray, Y: np.ndarray, spec: str) -> int:
    """Validate one row-block where it lives; return its number of rows."""
    net = worker_network(spec)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"block {index}: X has {X.shape[0]} rows but Y has {Y.shape[0]}")
    for name, array, columns in (("X", X, net.n_inputs), ("Y", Y, net.n_outputs)):
        if array.ndim != 2 or array.shape[1] != columns:
            raise ValueError(f"block {index}: {name} has shape {array.shape}, expected "
                             f"(rows, {columns})")
        bad = first_non_finite(np.asarray(array, dtype=float))
        if bad is not None:
            raise ValueError(f"block {index}: {name} holds a non-finite value at row {bad[0]} "
                             f"of the block, column {bad[1]}")
    net.loss_function.check_targets(np.asarray(Y, dtype=net.dtype), f"Y (block {index})")
    return X.shape[0]


def _block_data(net: Engine, X: np.ndarray, Y: np.ndarray, rows: np.ndarray | None):
    if rows is not None:
        X, Y = X[rows], Y[rows]
    return np.ascontiguousarray(X, dtype=net.dtype), np.ascontiguousarray(Y, dtype=net.dtype)


def _block_sums(spec: str, parameters: np.ndarray, X: np.ndarray, Y: np.ndarray,
                rows: np.ndarray | None) -> tuple[float, np.ndarray, int]:
    """``(summed loss, summed gradient, rows)`` of one block, for all its rows or ``rows``."""
    net = worker_network(spec)
    if rows is not None and rows.size == 0:
        return 0.0, np.zeros_like(parameters), 0
    np.copyto(net.flat_parameters(), parameters)
    X, Y = _block_data(net, X, Y, rows)
    with np.errstate(over="ignore", invalid="ignore"):
        error = net.compute_gradients(X, Y)  # means over the block's rows (large: in slices)
    n = X.shape[0]
    return error * n, net.flat_gradients() * n, n


def _block_predictions(spec: str, parameters: np.ndarray, X: np.ndarray) -> np.ndarray:
    net = worker_network(spec)
    np.copyto(net.flat_parameters(), parameters)
    return net.evaluate(np.ascontiguousarray(X, dtype=net.dtype), None)[1]


def _block_gap(spec: str, parameters: np.ndarray, X: np.ndarray, Y: np.ndarray) -> float:
    predicted = _block_predictions(spec, parameters, X)
    return float(np.max(np.abs(predicted - Y)))


def _visit_block(spec: str, parameters: np.ndarray, optimizer_name: str, hyperparameters: dict,
                 state: dict, steps: int, learning_rate: float, l2: float, loss_limit: float,
                 batch_size: int, seed: int, X: np.ndarray, Y: np.ndarray):
    """All of one block's mini-batches, in an order drawn from ``seed``, each one step of the
    local loop's :class:`~chainrule.training.Descent` (gradient, L2, divergence check,
    update). Returns the new parameters, optimizer state and step count, the summed loss
    (each mini-batch's before its update, times its rows), the rows, and the loss of the
    mini-batch that diverged (``None`` if none did: the visit stops there)."""
    net = worker_network(spec)
    np.copyto(net.flat_parameters(), parameters)
    optimizer = OPTIMIZERS[optimizer_name](**hyperparameters)
    optimizer.bind([net.flat_parameters()], [net.parameter_scratch()])
    for name, buffers in optimizer.state.items():
        for buffer, value in zip(buffers, state[name]):
            np.copyto(buffer, value)
    optimizer.steps = steps
    descent = Descent(net, optimizer, l2, learning_rate, loss_limit)
    X = np.ascontiguousarray(X, dtype=net.dtype)
    Y = np.ascontiguousarray(Y, dtype=net.dtype)
    order = np.random.default_rng(seed).permutation(X.shape[0])
    total, diverged = 0.0, None
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            error = descent(net.compute_gradients(X[rows], Y[rows]))
            if descent.diverged(error):
                diverged = error  # no update: the driver keeps its weights
                break
            total += error * len(rows)
    return (net.flat_parameters().copy(), {k: [b.copy() for b in v]
                                           for k, v in optimizer.state.items()},
            optimizer.steps, total, X.shape[0], diverged)


def _parameters(values: np.ndarray) -> np.ndarray:
    return values


def _add(first: tuple, second: tuple) -> tuple[float, np.ndarray, int]:
    return first[0] + second[0], first[1] + second[1], first[2] + second[2]


class DaskBlocks(GradientSource):
    """Training data as row-blocks on a Dask cluster; a step's gradient is their tree-reduced
    sum. ``X`` (rows, inputs) and ``Y`` (rows, outputs) are Dask arrays chunked alike by rows."""

    name = "dask"

    def __init__(self, net: Engine, X: Any, Y: Any, client: Any = None,
                 batching: str = "global") -> None:
        super().__init__(net)
        if batching not in ("global", "blocks"):
            raise ValueError(f"batching must be 'global' or 'blocks', got {batching!r}")
        self.batching = batching
        try:
            import dask.array as da
            from distributed import get_client
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("distributed training needs dask: pip install "
                              "'chainrule[dask]'") from None
        self.client = client = client or get_client()
        X, Y = _as_row_blocks(da, X, Y, net)
        self.n_samples = X.shape[0]
        self.spec = json.dumps(net.spec(), sort_keys=True)
        # The data is computed once, block by block (X and Y in one graph: a block read from a
        # file is read once), and stays on the workers from then on.
        x_blocks, y_blocks = list(X.to_delayed().ravel()), list(Y.to_delayed().ravel())
        blocks = client.compute(x_blocks + y_blocks)
        self.x_blocks, self.y_blocks = blocks[:len(x_blocks)], blocks[len(x_blocks):]
        checks = [client.submit(_refusal_of, _check_block, i, xb, yb, self.spec, pure=False)
                  for i, (xb, yb) in enumerate(zip(self.x_blocks, self.y_blocks))]
        self.block_rows = []
        for rows in client.gather(checks):
            if isinstance(rows, str):  # refused where the block is: raised here, one line
                raise ValueError(rows)
            self.block_rows.append(rows)
        self.block_starts = np.concatenate([[0], np.cumsum(self.block_rows)])

    def plan(self, batch_size):
        if self.batching == "global" or batch_size is None:
            return None
        # A step is one block's visit: all of its mini-batches, on the worker that holds it.
        self.name = "dask (mini-batches by block)"
        self._visit_rows = [int(r) for r in self.block_rows]
        return self._visit_rows

    def start(self, batch_size):
        self._batch_size = batch_size
        self.by_block = self.batching == "blocks" and batch_size is not None

    def _shared_parameters(self):
        # The parameters travel once, as a task's argument rather than scattered data: a
        # scattered array lost with its worker is gone, a task's result is recomputed.
        return self.client.submit(_parameters, self.net.flat_parameters().copy(), pure=False)

    def step(self, batch, index, observe, descent):
        if self.by_block:
            return self._visit(batch, descent)
        return descent(self.gradient(batch, index, observe))

    def gradient(self, batch, index, observe):
        client, size = self.client, self._batch_size
        if size is None:
            rows_per_block = [None] * len(self.block_rows)
        else:
            if index is None:  # mini-batches in the data's order
                index = np.arange(batch * size, min((batch + 1) * size, self.n_samples))
            rows_per_block = _rows_per_block(index, self.block_starts)
        shared = self._shared_parameters()
        parts = [client.submit(_block_sums, self.spec, shared, xb, yb, rows, pure=False)
                 for xb, yb, rows in zip(self.x_blocks, self.y_blocks, rows_per_block)
                 if rows is None or rows.size]
        loss_sum, gradient_sum, count = _reduce(client, parts, _add)
        np.divide(gradient_sum, count, out=self.net.flat_gradients())
        return loss_sum / count

    def _visit(self, step: int, descent: Descent) -> float:
        """Step ``step`` of the epoch: the next block in the epoch's block order runs all its
        mini-batches where it is, from the driver's weights and optimizer state, each through
        ``descent``'s rule; the driver then takes the weights and state it ends with. The loss
        is the mean over its rows of each mini-batch's loss before its update, or the loss
        that diverged (the driver's weights are then kept)."""
        rng = self.net.rng
        if step == 0:  # a new epoch: a new order of the blocks, reordering the loop's rows
            self._block_order = rng.permutation(len(self.block_rows))
            self._visit_rows[:] = [int(self.block_rows[b]) for b in self._block_order]
        block = int(self._block_order[step])
        seed = int(rng.integers(2**63))  # the order of the block's rows
        optimizer = descent.optimizer
        task = self.client.submit(
            _visit_block, self.spec, self.net.flat_parameters().copy(), optimizer.name,
            optimizer.hyperparameters(), {k: [b.copy() for b in v]
                                          for k, v in optimizer.state.items()},
            optimizer.steps, descent.learning_rate, descent.l2, descent.loss_limit,
            self._batch_size, seed, self.x_blocks[block], self.y_blocks[block], pure=False)
        parameters, state, steps, loss_sum, rows, diverged = task.result()
        if diverged is not None:
            return diverged
        np.copyto(self.net.flat_parameters(), parameters)
        for name, buffers in optimizer.state.items():
            for buffer, value in zip(buffers, state[name]):
                np.copyto(buffer, value)
        optimizer.steps = steps
        return loss_sum / rows

    def predictions(self):
        shared = self._shared_parameters()
        parts = [self.client.submit(_block_predictions, self.spec, shared, xb, pure=False)
                 for xb in self.x_blocks]
        return np.concatenate(self.client.gather(parts))

    def largest_gap(self):
        shared = self._shared_parameters()
        parts = [self.client.submit(_block_gap, self.spec, shared, xb, yb, pure=False)
                 for xb, yb in zip(self.x_blocks, self.y_blocks)]
        return max(self.client.gather(parts))

    def last_prediction(self):
        return float(self.predictions()[0, 0])


def fit(
    net: Engine,
    X: Any,
    Y: Any,
    *,
    client: Any = None,
    epochs: int,
    callbacks: Iterable[Callback] = (),
    validation_data: tuple[Any, Any] | None = None,
    early_stopping: int | EarlyStopping | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume_from: str | os.PathLike | None = None,
    batching: str = "global",
    **options: Any,
) -> History:
    """Train ``net`` on Dask arrays ``X`` (rows, inputs) and ``Y`` (rows, outputs) chunked by rows.

    ``client`` is a ``distributed.Client`` (default: the current one). ``batching`` says how
    mini-batches (``batch_size``) run: ``"global"`` (the default) takes each mini-batch from
    the global shuffled order, summed across the blocks — exactly in-memory training's result,
    at one scheduler round trip per step; ``"blocks"`` visits the blocks in a shuffled order
    each epoch and runs all of a block's mini-batches (its rows shuffled) on the worker that
    holds it — exact sequential mini-batch SGD in that block-shuffled order, at one round trip
    per block. Full batch is the same either way. Every other keyword is
    :meth:`chainrule.network.Network.fit`'s and means the same: the run goes through the same
    training loop, with the Dask cluster as the source of each step's gradient. Validation data
    stays in the driver (it is evaluated there each epoch). Training accuracy is not recorded
    (the predictions stay on the workers); ``val_accuracy`` is. Returns the
    :class:`~chainrule.history.History`.
    """
    source = DaskBlocks(net, X, Y, client, batching)
    trainer = Trainer(net, source=source, epochs=epochs, callbacks=callbacks,
                      validation_data=validation_data, early_stopping=early_stopping,
                      **options)
    trainer.history.params.update(blocks=len(source.block_rows), distributed=True)
    prepare_run(trainer, None if checkpoint is None else os.fspath(checkpoint),
                checkpoint_every, None if resume_from is None else os.fspath(resume_from),
                write=write_checkpoint, read=read_checkpoint)
    return trainer.run()


def _as_row_blocks(da, X, Y, net: Engine):
    """Check that X and Y are Dask arrays of matching rows and row-chunks; one column chunk."""
    if not isinstance(X, da.Array) or not isinstance(Y, da.Array):
        raise ValueError("distributed.fit needs X and Y as dask arrays (dask.array.Array)")
    if Y.ndim == 1 and net.n_outputs == 1:
        Y = Y[:, None]
    for name, array, columns in (("X", X, net.n_inputs), ("Y", Y, net.n_outputs)):
        if array.ndim != 2 or array.shape[1] != columns:
            raise ValueError(f"{name} must be shaped (rows, {columns}), got {array.shape}")
        if any(math.isnan(s) for s in array.shape):
            raise ValueError(f"{name} has unknown chunk sizes; call compute_chunk_sizes() first")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}")
    if X.chunks[0] != Y.chunks[0]:
        raise ValueError(
            f"the row chunks of X {X.chunks[0]} and Y {Y.chunks[0]} are not aligned; "
            "rechunk one like the other (Y.rechunk({0: X.chunks[0]}))"
        )
    return X.rechunk({1: -1}), Y.rechunk({1: -1})


def _rows_per_block(batch: np.ndarray, block_starts: np.ndarray) -> list[np.ndarray]:
    """Split global row indices of a batch into each block's local indices (batch order kept)."""
    block_of = np.searchsorted(block_starts, batch, side="right") - 1
    return [batch[block_of == b] - block_starts[b] for b in range(len(block_starts) - 1)]
