"""The blocks of rows a Dask worker reads for :mod:`chainrule.distributed_table`: the files of
a source cut into blocks (64 MB of a CSV at line breaks, or a Parquet row group), each read with
:mod:`chainrule.tables`' reader and its checks, kept in a worker's cache of recent blocks, with
the kind of each column and the part (training, validation, held out) of each row; and the
network a worker computes with, with the tasks :mod:`chainrule.distributed` runs where each
row-block lives (a block's check, its sums of loss and gradient, its predictions, a visit of its
mini-batches), each given the driver's parameters and batch normalisation's running statistics.
"""

from __future__ import annotations

import glob
import io
import json
import os
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from . import tables
from .columns import FALSE_WORDS, TRUE_WORDS, as_kind, read_column
from .csv_messages import locate_refusal

__all__ = ["BLOCK_CACHE_BYTES", "bad_cell", "block_column", "block_gap", "block_predictions",
           "block_sums", "check_block", "held_out_block", "kind_of_kinds", "load", "load_state",
           "part_weights", "plan", "scan_block", "unify", "visit_block", "worker_network",
           "worker_optimizer"]


def _files(source: str) -> list[str]:
    if os.path.isdir(source):
        found = sorted(os.path.join(folder, name) for folder, _, names in os.walk(source)
                       for name in names if not name.startswith((".", "_")))
        files = [f for f in found if f.endswith(".parquet")] or \
            [f for f in found if f.endswith(".csv")]
        if not files:
            raise ValueError(f"{source}: a folder without .parquet or .csv files")
        return files
    if set("*?[") & set(source):
        files = sorted(f for f in glob.glob(source) if os.path.isfile(f))
        if not files:
            raise ValueError(f"{source}: no such file")
        return files
    return [source]


def plan(source: str, block_bytes: int) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The blocks of rows of the file(s), the files and the column names."""
    blocks: list[dict[str, Any]] = []
    files, names = _files(source), None
    for path in files:
        try:
            header, found = _file_blocks(path, block_bytes)
        except OSError as exc:
            raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        if names is None:
            names = header
        elif header != names:
            raise ValueError(f"{path}: its columns ({', '.join(header)}) are not those of "
                             f"{files[0]} ({', '.join(names)})")
        blocks += found
    for number, block in enumerate(blocks):
        block["number"] = number
    return blocks, files, names or []


def _file_blocks(path: str, block_bytes: int) -> tuple[list[str], list[dict[str, Any]]]:
    """A file's column names and blocks of rows."""
    if tables.is_parquet(path):
        import pyarrow.parquet as pq

        # Its columns as read_table reads them (pandas' stored index left out).
        header = tables._parquet_columns(tables._parquet_dataset(tables._pyarrow(), path))
        found = [{"path": path, "group": g, "columns": header}
                 for g in range(pq.ParquetFile(path).num_row_groups)]
    else:
        header, skip = tables.read_header(path)
        with open(path, "rb") as handle:
            for _ in range(skip):
                handle.readline()
            at, size, cuts = handle.tell() + block_bytes, os.path.getsize(path), [0]
            while at < size:  # a block starts at a line's start
                handle.seek(at)
                handle.readline()
                if handle.tell() >= size:
                    break
                cuts.append(handle.tell())
                at = cuts[-1] + block_bytes
        cuts.append(size)
        found = [{"path": path, "header": header, "skip": skip, "start": a, "end": b}
                 for a, b in zip(cuts, cuts[1:])]
    return header, found


#: Bytes of blocks each worker process keeps once read, so that the passes over the data (the
#: statistics, the medians, the moments, the parts) do not each read the files again; blocks
#: beyond it are read again when needed, so a worker never holds more than this of them.
BLOCK_CACHE_BYTES = int(os.environ.get("CHAINRULE_BLOCK_CACHE_MB", "1024")) * 2**20
_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()  # a worker's threads (--nthreads, in-process workers) share it


def _read(block: dict[str, Any], types: dict[str, Any] | None = None,
          columns: list[str] | None = None) -> Any:
    """The block's rows as a ``pyarrow.Table`` (``columns`` only, when given), its columns of
    ``types`` (default: as read); kept in this process's cache of recent blocks."""
    status = os.stat(block["path"])  # a file written again is read again
    key = (block["path"], status.st_mtime_ns, status.st_size, block.get("start"),
           block.get("end"), block.get("group"), repr(sorted((types or {}).items())))
    with _cache_lock:
        table = _cache.get(key)
        if table is not None:
            _cache.move_to_end(key)
    if table is None:
        table = _read_file(block, types)  # (outside the lock: threads read files at once)
        if table.nbytes <= BLOCK_CACHE_BYTES // 4:
            with _cache_lock:
                _cache[key] = table
                while sum(t.nbytes for t in _cache.values()) > BLOCK_CACHE_BYTES:
                    _cache.popitem(last=False)
    return table.select(columns) if columns is not None else table


def _read_file(block: dict[str, Any], types: dict[str, Any] | None) -> Any:
    pa = tables._pyarrow()
    path = block["path"]
    if "group" in block:
        import pyarrow.parquet as pq

        table = pq.ParquetFile(path).read_row_group(block["group"], columns=block["columns"])
        if types:
            table = table.cast(pa.schema([(name, types[name]) for name in table.column_names]))
        return table
    with open(path, "rb") as handle:
        handle.seek(block["start"])
        data = handle.read(block["end"] - block["start"])
    skip = block["skip"] if block["start"] == 0 else 0
    given = {name: kind for name, kind in (types or {}).items() if not pa.types.is_null(kind)}
    for newlines in (False, True):  # line breaks inside quoted cells: the slower, exact mode
        try:
            return pa.csv.read_csv(io.BytesIO(data), *tables._csv_options(
                pa, block["header"], skip, None, given, newlines))
        except pa.ArrowInvalid:
            if newlines:
                raise locate_refusal(path, block["header"], block["skip"], None,
                                      given) from None
    raise AssertionError  # pragma: no cover


def scan_block(block: dict[str, Any], types: dict[str, Any] | None = None) -> dict[str, Any]:
    table = _read(block, types)
    try:
        tables._check_cells(block["path"], table, None)
        bad = False
    except ValueError:
        bad = True  # named once the block's first row is known (bad_cell)
    return {"rows": table.num_rows, "bad": bad,
            "types": {name: table.schema.field(name).type for name in table.column_names},
            "kinds": {name: _kind_of(table.column(name)) for name in table.column_names}}


def _kind_of(column: Any) -> str:
    """:func:`chainrule.columns.read_column`'s kind of a pyarrow column; text told from yes/no
    words and no cell by its different values alone."""
    pa = tables._pyarrow()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return read_column({"column": column}, "column").kind
    different = column.unique().drop_null().to_pylist()
    return "empty" if not different else "boolean" if all(
        str(v).strip().lower() in TRUE_WORDS | FALSE_WORDS for v in different) else "text"


def bad_cell(block: dict[str, Any], offset: int) -> None:
    table = _read(block)
    tables._check_cells(block["path"], table, (block["header"], block["skip"])
                        if "header" in block else None, offset)


def unify(kinds: list[Any]) -> Any:
    """One type for a column that blocks read as ``kinds`` (see the module)."""
    pa = tables._pyarrow()
    seen = {kind.value_type if pa.types.is_dictionary(kind) else kind for kind in kinds
            if not pa.types.is_null(kind)}
    seen = {pa.string() if pa.types.is_large_string(kind) else kind for kind in seen}
    if len(seen) <= 1:
        return seen.pop() if seen else pa.null()
    if all(pa.types.is_integer(kind) for kind in seen):
        return pa.int64()
    if all(pa.types.is_integer(kind) or pa.types.is_floating(kind) for kind in seen):
        return pa.float64()
    if all(pa.types.is_date(kind) or pa.types.is_timestamp(kind) for kind in seen):
        return pa.timestamp("ns")
    return pa.string()


def kind_of_kinds(kinds: list[str]) -> str:
    """A column's kind from its blocks' (read with one type): text if any block's is, else the
    kind of the blocks that have a cell."""
    present = [kind for kind in kinds if kind != "empty"]
    return "text" if "text" in present else present[0] if present else "empty"


def load(block: dict[str, Any], ctx: dict[str, Any], columns: list[str] | None = None
          ) -> tuple[Any, np.ndarray, np.ndarray]:
    """The block read with the table's types (``columns`` and the target only, when given);
    each row's part (0 training, 1 validation, 2 held out; -1 without a target), and whether it
    is fitted on (training or validation)."""
    target = ctx["target"]
    table = _read(block, ctx["types"], None if columns is None else
                  [target] + [name for name in columns if name != target])
    draws = np.random.default_rng([ctx["seed"], block["number"]]).random((table.num_rows, 2))
    part = np.where(draws[:, 0] < ctx["test"], 2, np.where(draws[:, 1] < ctx["validation"], 1, 0))
    part[table.column(target).is_null(nan_is_null=True).to_numpy(zero_copy_only=False)] = -1
    return table, part, (part == 0) | (part == 1)


def block_column(table: Any, name: str, ctx: dict[str, Any]):
    if name == ctx["target"]:
        return as_kind(read_column(table, name, keep_text=True), ctx["target_kind"])
    return as_kind(read_column(table, name), ctx["kinds"][name])


def part_weights(block: dict[str, Any], ctx: dict[str, Any], column: str, part_number: int,
                 summary: bool = False) -> Any:
    """The values of ``column`` (one weight per row, not a feature) on the block's rows of one
    part, float64, a missing cell NaN; with ``summary``: ``(sum of the good weights, first row
    of the block whose weight is not a finite number >= 0 or None, its value)``."""
    table, part, _ = load(block, ctx, [column])
    values = block_column(table, column, ctx)
    if values.kind == "text":
        raise ValueError(f"{block['path']}: column {column!r} (the sample weights) must hold "
                         "numbers")
    rows = np.flatnonzero(part == part_number)
    weights = np.asarray(values.values, dtype=np.float64)[rows]
    if not summary:
        return weights
    with np.errstate(invalid="ignore"):
        good = np.isfinite(weights) & (weights >= 0)
    bad = np.flatnonzero(~good)
    return (float(weights[good].sum()), int(rows[bad[0]]) if bad.size else None,
            float(weights[bad[0]]) if bad.size else 0.0)


# ---------------------------------------------------------------- the network on a worker
_THREAD = threading.local()


def worker_network(spec: str) -> Any:
    """The network a worker computes with, built once per architecture and thread from the
    JSON of :meth:`Engine.spec` (its parameters are copied in for each task). Per thread: a
    worker running several tasks at once (``--nthreads``, or workers in one process) must not
    share the buffers one task's forward and backward pass write."""
    networks = getattr(_THREAD, "networks", None)
    if networks is None:
        networks = _THREAD.networks = {}
    net = networks.get(spec)
    if net is None:
        from .engine import Engine

        if len(networks) >= 8:  # a few architectures at most: keep memory bounded
            networks.clear()
        net = networks[spec] = Engine.from_spec(json.loads(spec))
    return net


def worker_optimizer(net: Any, name: str, hyperparameters: dict) -> Any:
    """The optimizer a block's visit steps ``net`` (a :func:`worker_network`) with, built and
    bound to its parameters once per thread, network and settings; each visit copies the
    driver's state and step count into it (its scratch buffers hold nothing between steps)."""
    cached = getattr(_THREAD, "optimizers", None)
    if cached is None:
        cached = _THREAD.optimizers = {}
    key = (id(net), name, json.dumps(hyperparameters, sort_keys=True))
    entry = cached.get(key)
    if entry is None:  # (the entry holds ``net``: its id is not reused while cached)
        from .optimizers import OPTIMIZERS

        if len(cached) >= 8:
            cached.clear()
        chosen = OPTIMIZERS[name](**hyperparameters)
        chosen.bind([net.flat_parameters()], [net.parameter_scratch()])
        entry = cached[key] = (net, chosen)
    return entry[1]


def load_state(net: Any, parameters: np.ndarray, statistics: list) -> Any:
    """Copy the driver's parameters and batch normalisation's running statistics (as
    :meth:`Engine.running_statistics` gives them) into a worker's network; return it."""
    np.copyto(net.flat_parameters(), parameters)
    if statistics:
        net.set_running_statistics(statistics)
    return net


def held_out_block(spec: str, parameters: np.ndarray, statistics: list, metadata: dict,
                   accumulate: Any, X: np.ndarray, Y: np.ndarray) -> Any:
    """``accumulate(net, X, Y)`` (the held-out metrics' sums) of a block, with the network of
    ``spec``, ``parameters`` and running ``statistics``."""
    net = load_state(worker_network(spec), parameters, statistics)
    net.metadata = metadata
    return accumulate(net, np.ascontiguousarray(X), np.ascontiguousarray(Y))


# ---------------------------------------------------------------- the training tasks
# Run by :class:`chainrule.distributed.DaskBlocks` where each row-block lives. ``shared`` is
# ``(parameters, statistics)``: the driver's flat parameters and running statistics.
def check_block(index: int, X: np.ndarray, Y: np.ndarray, spec: str,
                W: np.ndarray | None = None) -> int | tuple[int, float]:
    """Validate one row-block where it lives; return its number of rows (with sample weights
    ``W``: and the sum of its weights)."""
    from ._validation import first_non_finite

    net = worker_network(spec)
    if W is not None:
        if W.ndim != 1 or W.shape[0] != X.shape[0]:
            raise ValueError(f"block {index}: sample_weight has shape {W.shape}, expected "
                             f"({X.shape[0]},)")
        bad = np.flatnonzero(~(np.isfinite(W) & (W >= 0)))
        if bad.size:
            raise ValueError(f"block {index}: sample_weight at row {int(bad[0])} of the block "
                             f"is {W[bad[0]]}: weights must be finite and >= 0")
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
    return X.shape[0] if W is None else (X.shape[0], float(np.sum(W)))


def _block_data(net: Any, X: np.ndarray, Y: np.ndarray, rows: np.ndarray | None):
    if rows is not None:
        X, Y = X[rows], Y[rows]
    return np.ascontiguousarray(X, dtype=net.dtype), np.ascontiguousarray(Y, dtype=net.dtype)


def _block_weights(net: Any, W: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    return np.ascontiguousarray(W if rows is None else W[rows], dtype=net.dtype)


def block_sums(spec: str, shared: tuple, X: np.ndarray, Y: np.ndarray, rows: np.ndarray | None,
               W: np.ndarray | None = None, dropout_seed: list[int] | None = None
               ) -> tuple[float, np.ndarray, float]:
    """``(summed loss, summed gradient, rows)`` of one block, for all its rows or ``rows``;
    with sample weights ``W``, the sums weighted and the sum of the weights for ``rows``.
    Dropout's masks are drawn from ``numpy.random.default_rng(dropout_seed)``, ``[step's
    seed, block]``: the same on any worker, in any run from the same seed."""
    net = worker_network(spec)
    parameters = shared[0]
    if rows is not None and rows.size == 0:
        return 0.0, np.zeros_like(parameters), 0
    load_state(net, *shared)
    if dropout_seed is not None:
        net.rng = np.random.default_rng(dropout_seed)
    X, Y = _block_data(net, X, Y, rows)
    weights = None if W is None else _block_weights(net, W, rows)
    n = X.shape[0] if weights is None else float(weights.sum())
    if n == 0:  # every weight 0: the block's rows weigh nothing
        return 0.0, np.zeros_like(parameters), 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        # means (weighted: weighted means) over the block's rows (large: in slices)
        error = net.compute_gradients(X, Y, None, weights)
    return error * n, net.flat_gradients() * n, n


def block_predictions(spec: str, shared: tuple, X: np.ndarray) -> np.ndarray:
    net = load_state(worker_network(spec), *shared)
    return net.evaluate(np.ascontiguousarray(X, dtype=net.dtype), None)[1]


def block_gap(spec: str, shared: tuple, X: np.ndarray, Y: np.ndarray) -> float:
    predicted = block_predictions(spec, shared, X)
    return float(np.max(np.abs(predicted - Y)))


def visit_block(spec: str, shared: tuple, optimizer: dict, step: dict, batch_size: int,
                seed: int, X: np.ndarray, Y: np.ndarray, W: np.ndarray | None = None):
    """All of one block's mini-batches, each one step of the local loop's
    :class:`~chainrule.training.Descent` (gradient, penalties, clipping, divergence check,
    update) from the driver's state: ``shared``; ``optimizer``, its ``name``,
    ``hyperparameters``, ``state`` and ``steps``; ``step``, the descent's ``learning_rate``,
    ``l2``, ``loss_limit``, ``l1``, ``clip_norm`` and ``clip_value``. The rows are taken in
    an order drawn from ``numpy.random.default_rng(seed)``, and dropout's masks from the same
    generator after it; batch normalisation's running statistics move on with every
    mini-batch, as in one process.

    Returns the new parameters, running statistics, optimizer state and step count, the summed
    loss (each mini-batch's before its update, times its rows or, with sample weights ``W``,
    its sum of weights), the rows (the sum of the weights), and the loss of the mini-batch
    that diverged (``None`` if none did: the visit stops there)."""
    from .training import Descent

    net = load_state(worker_network(spec), *shared)
    chosen = worker_optimizer(net, optimizer["name"], optimizer["hyperparameters"])
    for name, buffers in chosen.state.items():
        for buffer, value in zip(buffers, optimizer["state"][name]):
            np.copyto(buffer, value)
    chosen.steps = optimizer["steps"]
    descent = Descent(net, chosen, step["l2"], step["learning_rate"], step["loss_limit"],
                      l1=step["l1"], clip_norm=step["clip_norm"], clip_value=step["clip_value"])
    X = np.ascontiguousarray(X, dtype=net.dtype)
    Y = np.ascontiguousarray(Y, dtype=net.dtype)
    rng = np.random.default_rng(seed)
    order = rng.permutation(X.shape[0])
    net.rng = rng  # dropout's masks: from here on, in the order of the mini-batches
    total, diverged, weights = 0.0, None, None
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            if W is not None:
                weights = _block_weights(net, W, rows)
            error = descent(net.compute_gradients(X[rows], Y[rows], None, weights))
            if descent.diverged(error):
                diverged = error  # no update: the driver keeps its weights
                break
            total += error * (len(rows) if weights is None else float(weights.sum()))
    rows = X.shape[0] if W is None else float(np.sum(W))
    return (net.flat_parameters().copy(), net.running_statistics(),
            {k: [b.copy() for b in v] for k, v in chosen.state.items()}, chosen.steps,
            total, rows, diverged)
