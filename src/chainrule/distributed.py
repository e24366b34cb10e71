"""Data-parallel gradient descent on a Dask cluster (optional extra ``chainrule[dask]``).

The gradient of a loss averaged over samples is a sum over samples divided by their number, so
it splits across machines exactly. Each step:

1. the current parameters (one flat array) go to the cluster once, as the argument of a task
   whose result the block tasks share (unlike scattered data, it is recomputed if lost);
2. every row-block of the data, where it lives, computes ``(summed loss, summed gradient,
   row count)`` for its rows of the batch;
3. these are added by a tree reduction on the cluster, in a fixed order;
4. the driver divides by the row count, adds the L2 term and applies the optimizer update.

The data is persisted once and never moves; only parameters and gradients travel. Full-batch
results equal single-process :meth:`Network.fit` up to the order of floating-point additions
(about 1e-16 relative per step). Mini-batches follow the single-process order exactly: the
driver shuffles the global sample order with the network's generator, as ``fit`` does, and
asks each block for its rows of each batch. If a worker dies, Dask recomputes the blocks it held
from their graph and reruns the lost tasks; the parameters are the driver's, so the run ends
with the same weights.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._validation import first_non_finite, positive_float, positive_int
from .activations import LeakyReLU
from .callbacks import Callback
from .exceptions import DivergenceError, DivergenceWarning
from .history import History
from .network import Network
from .optimizers import Optimizer, get_optimizer
from .schedules import Schedule, get_schedule
from .training import _interrupt_guard

__all__ = ["fit"]

_WORKER_NETWORKS: dict[tuple, Network] = {}


def _worker_network(spec: tuple) -> Network:
    """The network a worker computes with, built once per architecture and process."""
    net = _WORKER_NETWORKS.get(spec)
    if net is None:
        sizes, activations, slopes, bias, loss, dtype = spec
        functions = [LeakyReLU(slope) if slope is not None else name
                     for name, slope in zip(activations, slopes)]
        net = Network(list(sizes), activation=functions, bias=list(bias), loss=loss,
                      dtype=dtype)
        _WORKER_NETWORKS[spec] = net
    return net


def _check_block(index: int, X: np.ndarray, Y: np.ndarray, spec: tuple) -> int:
    """Validate one row-block where it lives; return its number of rows."""
    net = _worker_network(spec)
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


def _block_sums(spec: tuple, parameters: np.ndarray, X: np.ndarray, Y: np.ndarray,
                rows: np.ndarray | None) -> tuple[float, np.ndarray, int]:
    """``(summed loss, summed gradient, rows)`` of one block, for all its rows or ``rows``."""
    net = _worker_network(spec)
    if rows is not None:
        if rows.size == 0:
            return 0.0, np.zeros_like(parameters), 0
        X, Y = X[rows], Y[rows]
    np.copyto(net.flat_parameters(), parameters)
    X = np.ascontiguousarray(X, dtype=net.dtype)
    Y = np.ascontiguousarray(Y, dtype=net.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        error = net.compute_gradients(X, Y)  # means over the block's rows (large: in slices)
    n = X.shape[0]
    return error * n, net.flat_gradients() * n, n


def _parameters(values: np.ndarray) -> np.ndarray:
    return values


def _add(first: tuple, second: tuple) -> tuple[float, np.ndarray, int]:
    return first[0] + second[0], first[1] + second[1], first[2] + second[2]


class _Context:
    """What callbacks see of a distributed run (the same names as the in-process trainer)."""

    def __init__(self, net: Network, history: History):
        self.net, self.history, self.epoch = net, history, 0
        self.stop_reason: str | None = None

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason


def fit(
    net: Network,
    X: Any,
    Y: Any,
    *,
    client: Any = None,
    epochs: int,
    learning_rate: float = 0.01,
    optimizer: str | Optimizer = "gd",
    batch_size: int | None = None,
    shuffle: bool = True,
    schedule: str | Schedule | None = None,
    l2: float = 0.0,
    callbacks: Iterable[Callback] = (),
    on_divergence: str = "warn",
    divergence_factor: float = 1e8,
) -> History:
    """Train ``net`` on Dask arrays ``X`` (rows, inputs) and ``Y`` (rows, outputs) chunked by rows.

    ``client`` is a ``distributed.Client`` (default: the current one). The other keywords mean
    what they mean for :meth:`Network.fit`. Returns a :class:`~chainrule.history.History`.
    """
    try:
        import dask.array as da
        from distributed import get_client
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("distributed training needs dask: pip install 'chainrule[dask]'") \
            from None
    client = client or get_client()
    epochs = positive_int(epochs, "epochs")
    learning_rate = positive_float(learning_rate, "learning_rate")
    l2 = positive_float(l2, "l2", allow_zero=True)
    optimizer = get_optimizer(optimizer)
    schedule = get_schedule(schedule)
    if on_divergence not in ("warn", "raise"):
        raise ValueError(f"on_divergence must be 'warn' or 'raise', got {on_divergence!r}")

    X, Y = _as_row_blocks(da, X, Y, net)
    n_samples = X.shape[0]
    if batch_size is not None:
        batch_size = positive_int(batch_size, "batch_size")
        if batch_size > n_samples:
            raise ValueError(f"batch_size {batch_size} is larger than the data "
                             f"({n_samples} samples)")
        if batch_size == n_samples:
            batch_size = None
    spec = (tuple(net.sizes), tuple(net.activations),
            tuple(getattr(f, "slope", None) for f in net.activation_functions),
            tuple(net.bias), net.loss_name, net.dtype.name)
    # The data is computed once, block by block, and stays on the workers from then on.
    x_blocks = client.compute(list(X.to_delayed().ravel()))
    y_blocks = client.compute(list(Y.to_delayed().ravel()))
    checks = [client.submit(_check_block, i, xb, yb, spec, pure=False)
              for i, (xb, yb) in enumerate(zip(x_blocks, y_blocks))]
    block_rows = client.gather(checks)
    block_starts = np.concatenate([[0], np.cumsum(block_rows)])

    history = History()
    history.params = {"epochs": epochs, "learning_rate": learning_rate,
                      "optimizer": optimizer.name, "batch_size": batch_size,
                      "schedule": schedule.name, "l2": l2, "n_samples": n_samples,
                      "blocks": len(block_rows), "distributed": True}
    parameters, gradient = net.flat_parameters(), np.empty_like(net.flat_parameters())
    optimizer.bind([parameters])
    # The weights at the start of this epoch and of the one before: the last good ones.
    this_start, last_start = parameters.copy(), parameters.copy()
    order = np.arange(n_samples)
    context = _Context(net, history)
    callbacks = list(callbacks)
    first_loss = None
    limit = math.inf
    diverged_message = None
    start_time = time.perf_counter()

    def step(rows_per_block):
        # The parameters travel once, as a task's argument rather than scattered data: a
        # scattered array lost with its worker is gone, a task's result is recomputed.
        shared = client.submit(_parameters, parameters.copy(), pure=False)
        parts = [client.submit(_block_sums, spec, shared, xb, yb, rows, pure=False)
                 for xb, yb, rows in zip(x_blocks, y_blocks, rows_per_block)
                 if rows is None or rows.size]
        while len(parts) > 1:  # a tree reduction, pairing neighbours: a fixed order
            paired = [client.submit(_add, a, b, pure=False)
                      for a, b in zip(parts[::2], parts[1::2])]
            parts = paired + ([parts[-1]] if len(parts) % 2 else [])
        loss_sum, gradient_sum, count = parts[0].result()
        np.divide(gradient_sum, count, out=gradient)
        return loss_sum / count

    for callback in callbacks:
        callback.on_train_begin(context)
    interrupted = _InterruptFlag()
    with _interrupt_guard(interrupted), np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(epochs):
            lr = schedule(learning_rate, epoch, epochs)
            np.copyto(last_start, this_start)
            np.copyto(this_start, parameters)
            if batch_size is None:
                batches = [[None] * len(block_rows)]
            else:
                if shuffle:
                    net.rng.shuffle(order)
                batches = [_rows_per_block(order[s:s + batch_size], block_starts)
                           for s in range(0, n_samples, batch_size)]
            total, seen, stopped = 0.0, 0, False
            for rows_per_block in batches:
                error = step(rows_per_block)
                if l2:
                    error += _add_l2(net, gradient, l2)
                if not (math.isfinite(error) and error <= limit):
                    # On the epoch's first step the weights it started from gave this loss.
                    first_step = seen == 0
                    np.copyto(parameters, last_start if first_step else this_start)
                    kept = max(epoch - 1, 0) if first_step else epoch
                    diverged_message = (
                        f"training diverged at epoch {epoch + 1}: the loss became {error:.3g} "
                        f"with learning_rate={lr:g}; stopped and kept the weights from the "
                        f"start of epoch {kept + 1}. Try a smaller learning rate.")
                    history.diverged = stopped = True
                    context.stop(diverged_message)
                    break
                if first_loss is None:
                    first_loss = max(error, np.finfo(np.float64).tiny)
                    limit = divergence_factor * first_loss
                optimizer.step([parameters], [gradient], lr)
                history.updates += 1
                rows = n_samples if batch_size is None else sum(
                    r.size for r in rows_per_block)
                total += error * rows
                seen += rows
                if interrupted.interrupted:
                    stopped = True
                    context.stop("interrupted (Ctrl-C): kept the weights of the last update")
                    break
            if stopped and seen < n_samples:
                break
            logs = {"loss": total / seen, "learning_rate": lr,
                    "time": time.perf_counter() - start_time}
            history.record(**logs)
            context.epoch = epoch + 1
            for callback in callbacks:
                callback.on_epoch_end(context, epoch, logs)
            if context.stop_reason is not None:
                break
    history.stopped_reason = context.stop_reason or \
        f"reached the maximum number of epochs ({epochs})"
    for callback in callbacks:
        callback.on_train_end(context)
    if diverged_message is not None:
        if on_divergence == "raise":
            raise DivergenceError(diverged_message)
        warnings.warn(diverged_message, DivergenceWarning, stacklevel=2)
    return history


class _InterruptFlag:
    interrupted = False


def _as_row_blocks(da, X, Y, net: Network):
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


def _add_l2(net: Network, gradient: np.ndarray, l2: float) -> float:
    """Add ``l2 * w`` to the weight part of the flat gradient; return the penalty."""
    penalty, offset = 0.0, 0
    for weight, bias in zip(net.weights, net.biases):
        gradient[offset:offset + weight.size] += l2 * weight.ravel()
        penalty += float(np.dot(weight.ravel(), weight.ravel()))
        offset += weight.size + (0 if bias is None else bias.size)
    return 0.5 * l2 * penalty
