"""``chainrule train --dask`` / ``--dask-workers``: the command line's run on a Dask cluster.

The cluster's side of a training run, from the client to the held-out metrics:

- :func:`dask_client`: a client of a running scheduler, or of a local cluster of worker
  processes started (and closed) for the run;
- :func:`quiet_dask`: Dask's own log lines kept off stderr unless ``--verbose``;
- :func:`prepare_table`: a table file read and prepared by the workers (out of core: no process
  holds the whole data set), with the failure of a worker coming back as one line
  (:func:`chainrule.distributed.prepare_on_cluster`);
- :func:`cluster_weights`: ``--sample-weight COL`` of a table prepared on the cluster, read
  where each training block is;
- :func:`fit_on_dask`: the one training loop with the cluster as the source of every step's
  gradient (:func:`chainrule.distributed.fit`);
- :func:`held_out_metrics`: the held-out metrics summed where the blocks are.

Every refusal is a ``ValueError`` in one line, as the command line reports it (exit code 2).
This module stands beside :mod:`chainrule.distributed`, below the command line: it never
imports it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .history import History
    from .metrics import Metrics
    from .network import Network
    from .preparation import TrainingData

__all__ = ["cluster_weights", "dask_client", "fit_on_dask", "held_out_metrics", "prepare_table",
           "quiet_dask"]

_LOGGERS = ("distributed", "dask")


@contextlib.contextmanager
def dask_client(address: str | None, n_workers: int | None,
                verbose: bool = False) -> Iterator[Any]:
    """A client of the scheduler at ``address``, or of a local cluster of ``n_workers`` worker
    processes (one thread each; closed afterwards)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError("--dask needs dask: pip install 'chainrule[dask]'") from None
    if not verbose:  # Dask's own log lines only when asked for
        _quiet_loggers()
    cluster = None
    try:
        if address:
            client = Client(address, timeout="10s")
        else:
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                   processes=True, dashboard_address=":0",
                                   silence_logs=logging.WARNING if verbose else logging.CRITICAL)
            client = Client(cluster)
    except OSError as exc:
        raise ValueError(f"cannot reach the Dask scheduler {address}: {exc}") from None
    quiet_dask(client, verbose)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def quiet_dask(client: Any, verbose: bool = False) -> None:
    """Dask's own log lines (``distributed.worker``, ``distributed.shuffle`` warnings) kept off
    stderr unless ``verbose``: this process's loggers, and a local cluster's workers' (their
    stderr is ours), at ERROR."""
    if verbose or client is None:
        return
    _quiet_loggers()
    if getattr(client, "cluster", None) is not None:
        client.run(_quiet_loggers)


def _quiet_loggers() -> None:
    """This process's Dask loggers at ERROR (run on each worker of a local cluster too)."""
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def prepare_table(source: str, client: Any, *, test_split: float,
                  validation_split: float | None, **options: Any) -> TrainingData:
    """The file(s) ``source`` names read by the Dask workers: the preparation's statistics, the
    split and the encoding on the cluster (``options``: target, task, loss, seed and the
    columns' roles, as :func:`chainrule.distributed.prepare_on_cluster` takes them)."""
    from . import distributed

    for share in (test_split, validation_split):
        if share and not 0 < share < 1:
            raise ValueError(f"the split fraction must be in (0, 1), got {share}")
    return distributed.prepare_on_cluster(source, client=client, test_split=test_split,
                                          validation_split=validation_split or 0.0, **options)


def cluster_weights(data: TrainingData, column: str, part: int = 0) -> Any:
    """The weight of each training row of a table prepared on the cluster (``data.held_out``
    its :class:`~chainrule.distributed_table.ClusterTable`): column ``column`` of every
    training block, read where the block is — a 1-d Dask array chunked as ``data.X_train``, so
    that the weights travel with their rows. ``part=1``: of each validation row instead, a
    NumPy array in ``data.validation``'s order (those rows are brought here). The column is
    not a feature (the preparation must drop it). Checked on the workers first: numbers,
    finite, >= 0, not all zero; a bad cell is a ``ValueError`` naming its file and row."""
    import dask
    import dask.array as da

    from .cluster_blocks import part_weights
    from .distributed_table import _gather, _submit

    table = data.held_out
    prep = table.preparation
    if column not in table.ctx["kinds"]:
        raise ValueError(f"{table.source}: no column {column!r} for the sample weights")
    if column == prep.target_name or column in prep.used_columns:
        raise ValueError(f"{table.source}: column {column!r} is "
                         f"{'the target' if column == prep.target_name else 'a feature'}; "
                         "sample weights come from a column the preparation drops")
    rows = table.part_rows[:, part].tolist()
    blocks = [(i, block, int(n)) for i, (block, n) in enumerate(zip(table.blocks, rows)) if n]
    summaries = _gather(table.client, [_submit(table.client, part_weights, block, table.ctx,
                                               column, part, True) for _, block, _ in blocks])
    for (i, _, _), (_, bad_row, value) in zip(blocks, summaries):
        if bad_row is not None:
            what = "missing" if np.isnan(value) else f"{value:g}"
            where = prep.row_label(table.first_rows[i] + bad_row)
            raise ValueError(f"{table.source}: {where}, column {column!r} (the sample weights): "
                             f"{what}; weights must be finite numbers >= 0")
    if not sum(total for total, _, _ in summaries):
        raise ValueError(f"{table.source}: column {column!r} (the sample weights): every "
                         f"{'validation' if part else 'training'} row's weight is zero, "
                         f"nothing to {'validate on' if part else 'learn from'}")
    if part:
        return np.concatenate(_gather(table.client, [
            _submit(table.client, part_weights, block, table.ctx, column, part)
            for _, block, _ in blocks]))
    return da.concatenate([
        da.from_delayed(dask.delayed(part_weights, pure=False)(block, table.ctx, column, 0),
                        (n,), float) for _, block, n in blocks])


def fit_on_dask(net: Network, data: TrainingData, client: Any, options: dict[str, Any],
                batching: str) -> History:
    """The same training as ``net.fit(**options)``, with the Dask cluster as the source of every
    step's gradient: the sum over the row-blocks of each block's summed gradient, divided by the
    rows of the batch."""
    import dask.array as da

    from . import distributed

    X, Y = data.X_train, data.Y_train
    if isinstance(X, np.ndarray):  # a built-in dataset: sent to the workers in row-blocks
        n_workers = max(1, len(client.scheduler_info()["workers"]))
        rows = -(-len(X) // (2 * n_workers))  # two row-blocks per worker
        X = da.from_array(X, chunks=(rows, X.shape[1]))
        Y = da.from_array(Y, chunks=(rows, Y.shape[1]))
    weights = options.get("sample_weight")
    if isinstance(weights, np.ndarray):  # weights made here travel in the data's row-blocks
        options = {**options, "sample_weight": da.from_array(weights, chunks=X.chunks[0])}
    return distributed.fit(net, X, Y, client=client, batching=batching, **options)


def held_out_metrics(net: Network, data: TrainingData, client: Any) -> dict[str, Any]:
    """The held-out rows' metrics, each block's sums computed where the block is and merged
    here: the same numbers as :func:`chainrule.metrics.score` on all the rows at once."""
    from .metrics import Metrics

    total = Metrics(net)
    for part in data.held_out.held_out_sums(net, _block_metrics, client):
        total.merge(part)
    return total.result()


def _block_metrics(net: Network, X: np.ndarray, Y: np.ndarray) -> Metrics:
    """One block's metric sums (run on the worker that holds it)."""
    from .metrics import Metrics

    if net.loss_name == "binary_cross_entropy" and Y.shape[1] == 2:
        Y = Y[:, 1:]
    metrics = Metrics(net)
    metrics.add(X, Y)
    return metrics
