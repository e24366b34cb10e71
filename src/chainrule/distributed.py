"""Data-parallel gradient descent on a Dask cluster (optional extra ``chainrule[dask]``).

The gradient of a loss averaged over samples is a sum over samples divided by their number, so
it splits across machines exactly. :class:`DaskBlocks` is a gradient source
(:mod:`chainrule.sources`) for the one training loop; each step:

1. the current parameters (one flat array) and batch normalisation's running statistics go to
   the cluster once, as the argument of a task whose result the block tasks share (unlike
   scattered data, it is recomputed if lost);
2. every row-block of the data, where it lives, computes ``(summed loss, summed gradient,
   row count)`` for its rows of the batch;
3. these are added by a tree reduction on the cluster, in a fixed order;
4. the driver divides by the row count; the loop's one step adds the penalties, clips, checks
   for divergence and applies the update (mini-batches by block: the same step, on the worker,
   which sends back the weights, the optimizer's state and the running statistics).

Dropout's masks are drawn on the workers from generators seeded by the driver's (one seed per
step, or per block visit), so a run replays bit for bit from its seed; batch normalisation
trains by block only (``batching="blocks"``), where each mini-batch lies in one block. The
tasks themselves are in :mod:`chainrule.cluster_blocks`.

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

from .callbacks import Callback, EarlyStopping
from .cluster_blocks import block_gap, block_predictions, block_sums, check_block, visit_block
from .distributed_table import ClusterTable, _reduce, prepare_on_cluster
from .engine import Engine
from .history import History
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


def _shared(parameters: np.ndarray, statistics: list) -> tuple[np.ndarray, list]:
    return parameters, statistics


def _add(first: tuple, second: tuple) -> tuple[float, np.ndarray, int]:
    return first[0] + second[0], first[1] + second[1], first[2] + second[2]


class DaskBlocks(GradientSource):
    """Training data as row-blocks on a Dask cluster; a step's gradient is their tree-reduced
    sum. ``X`` (rows, inputs) and ``Y`` (rows, outputs) are Dask arrays chunked alike by rows;
    ``sample_weight``, a 1-d Dask array chunked alike too (or ``None``), travels with them:
    each block sums its rows' weighted losses and gradients and their weights. Batch
    normalisation trains with ``batching="blocks"`` and a ``batch_size`` only: each mini-batch
    is then within one block, normalised by its own statistics as in one process."""

    name = "dask"

    def __init__(self, net: Engine, X: Any, Y: Any, client: Any = None,
                 batching: str = "global", sample_weight: Any = None) -> None:
        super().__init__(net)
        if batching not in ("global", "blocks"):
            raise ValueError(f"batching must be 'global' or 'blocks', got {batching!r}")
        if net.couples_rows and batching == "global":
            raise ValueError(_GLOBAL_BATCH_NORM)
        self.batching = batching
        try:
            import dask.array as da
            from distributed import get_client
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("distributed training needs dask: pip install "
                              "'chainrule[dask]'") from None
        self.client = client = client or get_client()
        X, Y = _as_row_blocks(da, X, Y, net)
        W = None if sample_weight is None else _weights_as_blocks(da, sample_weight, X)
        self.n_samples = X.shape[0]
        self.spec = json.dumps(net.spec(), sort_keys=True)
        # The data is computed once, block by block (X and Y in one graph: a block read from a
        # file is read once), and stays on the workers from then on.
        x_blocks, y_blocks = list(X.to_delayed().ravel()), list(Y.to_delayed().ravel())
        w_blocks = [] if W is None else list(W.to_delayed().ravel())
        blocks = client.compute(x_blocks + y_blocks + w_blocks)
        n = len(x_blocks)
        self.x_blocks, self.y_blocks = blocks[:n], blocks[n:2 * n]
        self.w_blocks = blocks[2 * n:] if W is not None else [None] * n
        checks = [client.submit(_refusal_of, check_block, i, xb, yb, self.spec, wb,
                                pure=False)
                  for i, (xb, yb, wb) in enumerate(zip(self.x_blocks, self.y_blocks,
                                                       self.w_blocks))]
        self.block_rows, self.block_weights = [], []
        for rows in client.gather(checks):
            if isinstance(rows, str):  # refused where the block is: raised here, one line
                raise ValueError(rows)
            if W is not None:
                rows, weight = rows
                self.block_weights.append(weight)
            self.block_rows.append(rows)
        if W is not None:
            self.weighted, self.total_weight = True, float(sum(self.block_weights))
            if self.total_weight == 0.0:
                raise ValueError("sample_weight: every weight is zero, nothing to learn from")
        self.block_starts = np.concatenate([[0], np.cumsum(self.block_rows)])

    def plan(self, batch_size):
        if self.net.couples_rows:
            _check_batch_norm_blocks(self.block_rows, batch_size)
        if self.batching == "global" or batch_size is None:
            return None
        # A step is one block's visit: all of its mini-batches, on the worker that holds it.
        self.name = "dask (mini-batches by block)"
        self._visit_rows = [int(r) for r in self.block_rows]
        return self._visit_rows

    def start(self, batch_size):
        self._batch_size = batch_size
        self.by_block = self.batching == "blocks" and batch_size is not None

    def _shared_state(self):
        # The parameters and running statistics travel once, as a task's argument rather than
        # scattered data: a scattered array lost with its worker is gone, a task's result is
        # recomputed.
        return self.client.submit(_shared, self.net.flat_parameters().copy(),
                                  self.net.running_statistics(), pure=False)

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
        shared = self._shared_state()
        # Dropout: one seed a step from the network's generator, each block's masks drawn
        # from [seed, block] (drawn only with dropout: a plain run's generator is local's).
        seed = int(self.net.rng.integers(2**63)) if any(self.net.dropout) else None
        parts = [client.submit(block_sums, self.spec, shared, xb, yb, rows, wb,
                               None if seed is None else [seed, block], pure=False)
                 for block, (xb, yb, rows, wb) in enumerate(zip(
                     self.x_blocks, self.y_blocks, rows_per_block, self.w_blocks))
                 if rows is None or rows.size]
        loss_sum, gradient_sum, count = _reduce(client, parts, _add)
        self.last_batch_weight = float(count)
        if count == 0:  # a batch whose weights are all 0 weighs nothing
            self.net.flat_gradients().fill(0.0)
            return 0.0
        np.divide(gradient_sum, count, out=self.net.flat_gradients())
        return loss_sum / count

    def _visit(self, step: int, descent: Descent) -> float:
        """Step ``step`` of the epoch: the next block in the epoch's block order runs all its
        mini-batches where it is, from the driver's weights, running statistics and optimizer
        state, each through ``descent``'s rule; the driver then takes the weights, statistics
        and state it ends with. The loss is the mean over its rows of each mini-batch's loss
        before its update, or the loss that diverged (the driver's state is then kept)."""
        rng = self.net.rng
        if step == 0:  # a new epoch: a new order of the blocks, reordering the loop's rows
            self._block_order = rng.permutation(len(self.block_rows))
            self._visit_rows[:] = [int(self.block_rows[b]) for b in self._block_order]
        block = int(self._block_order[step])
        seed = int(rng.integers(2**63))  # the order of the block's rows, then its masks
        optimizer = descent.optimizer
        task = self.client.submit(
            visit_block, self.spec, (self.net.flat_parameters().copy(),
                                     self.net.running_statistics()),
            {"name": optimizer.name, "hyperparameters": optimizer.hyperparameters(),
             "state": {k: [b.copy() for b in v] for k, v in optimizer.state.items()},
             "steps": optimizer.steps},
            {"learning_rate": descent.learning_rate, "l2": descent.l2,
             "loss_limit": descent.loss_limit, "l1": descent.l1,
             "clip_norm": descent.clip_norm, "clip_value": descent.clip_value},
            self._batch_size, seed, self.x_blocks[block], self.y_blocks[block],
            self.w_blocks[block], pure=False)
        parameters, statistics, state, steps, loss_sum, rows, diverged = task.result()
        if diverged is not None:
            return diverged
        self.last_batch_weight = rows
        np.copyto(self.net.flat_parameters(), parameters)
        self.net.set_running_statistics(statistics)
        for name, buffers in optimizer.state.items():
            for buffer, value in zip(buffers, state[name]):
                np.copyto(buffer, value)
        optimizer.steps = steps
        return loss_sum / rows if rows else 0.0  # weights all 0: the block weighs nothing

    def predictions(self):
        shared = self._shared_state()
        parts = [self.client.submit(block_predictions, self.spec, shared, xb, pure=False)
                 for xb in self.x_blocks]
        return np.concatenate(self.client.gather(parts))

    def largest_gap(self):
        shared = self._shared_state()
        parts = [self.client.submit(block_gap, self.spec, shared, xb, yb, pure=False)
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
    sample_weight: Any = None,
    **options: Any,
) -> History:
    """Train ``net`` on Dask arrays ``X`` (rows, inputs) and ``Y`` (rows, outputs) chunked by rows.

    ``client`` is a ``distributed.Client`` (default: the current one). ``batching`` says how
    mini-batches (``batch_size``) run: ``"global"`` (the default) takes each mini-batch from
    the global shuffled order, summed across the blocks — exactly in-memory training's result,
    at one scheduler round trip per step; ``"blocks"`` visits the blocks in a shuffled order
    each epoch and runs all of a block's mini-batches (its rows shuffled) on the worker that
    holds it — exact sequential mini-batch SGD in that block-shuffled order, at one round trip
    per block. Full batch is the same either way. ``sample_weight``, a 1-d Dask array chunked
    as ``X``'s rows (one weight >= 0 per row), makes each batch's loss the weighted mean, as
    in one process; its blocks stay with the data's. Dropout's masks are drawn on the workers
    from seeds the network's generator gives (a run replays bit for bit from its seed, but its
    masks are not one process's); batch normalisation needs ``batching="blocks"`` and a
    ``batch_size`` (a ``ValueError`` otherwise, before training). Every other keyword is
    :meth:`chainrule.network.Network.fit`'s and means the same: the run goes through the same
    training loop, with the Dask cluster as the source of each step's gradient. Validation data
    stays in the driver (it is evaluated there each epoch). Training accuracy is not recorded
    (the predictions stay on the workers); ``val_accuracy`` is. Returns the
    :class:`~chainrule.history.History`.
    """
    source = DaskBlocks(net, X, Y, client, batching, sample_weight)
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


def _weights_as_blocks(da, sample_weight: Any, X: Any) -> Any:
    """The sample weights as a 1-d Dask array chunked as ``X``'s rows."""
    if not isinstance(sample_weight, da.Array):
        raise ValueError("distributed.fit needs sample_weight as a dask array, chunked as X")
    if sample_weight.ndim == 2 and sample_weight.shape[1] == 1:
        sample_weight = sample_weight[:, 0]
    if sample_weight.ndim != 1 or sample_weight.shape[0] != X.shape[0]:
        raise ValueError(f"sample_weight must hold one weight per row of X ({X.shape[0]}), "
                         f"got shape {sample_weight.shape}")
    if sample_weight.chunks[0] != X.chunks[0]:
        sample_weight = sample_weight.rechunk({0: X.chunks[0]})
    return sample_weight


_GLOBAL_BATCH_NORM = (
    "the Dask path does not train batch normalisation yet with batching='global': each "
    "block would normalise its share of a batch by its own statistics, not the batch's; use "
    "batching='blocks' with a batch_size (each mini-batch within one block, its statistics "
    "its own, as in one process), normalization='layer', or train in one process")


def _check_batch_norm_blocks(block_rows: list[int], batch_size: int | None) -> None:
    """Batch normalisation by block: mini-batches (a full batch spans every block), each of
    at least 2 rows (a block's last mini-batch has ``rows % batch_size`` rows)."""
    if batch_size is None:
        raise ValueError("batch normalisation on Dask needs mini-batches (a batch_size, with "
                         "batching='blocks'): a full batch spans every block, and each block "
                         "would normalise by its own statistics, not the batch's")
    for block, rows in enumerate(block_rows):
        if batch_size == 1 or rows % batch_size == 1:
            raise ValueError(
                f"batch normalisation needs at least 2 rows in every training batch: block "
                f"{block} has {rows} rows, and batch_size={batch_size} leaves it a mini-batch "
                "of 1 row; choose another batch_size (or rechunk the rows), or use "
                "normalization='layer'")


def _rows_per_block(batch: np.ndarray, block_starts: np.ndarray) -> list[np.ndarray]:
    """Split global row indices of a batch into each block's local indices (batch order kept)."""
    block_of = np.searchsorted(block_starts, batch, side="right") - 1
    return [batch[block_of == b] - block_starts[b] for b in range(len(block_starts) - 1)]
