"""A table on a Dask cluster, prepared as :class:`chainrule.features.Preparation` prepares one in
a process, every statistic computed where its block of rows is: no process holds the whole data.

The workers read blocks of rows (64 MB of a CSV file, cut at line breaks, or a Parquet row
group) with :mod:`chainrule.tables`' reader. Passes over the blocks, each block's result added up
by a tree of tasks: a scan (column types, unified across blocks, and kinds; unusable cells); the
statistics of every column (:class:`~chainrule.columns.ColumnStats`; different values too many
to keep are counted by ranges of values, a task per range); the exact medians that fill missing
numbers (a selection on order-preserving 64-bit keys, 16 bits a round); the moments of every
feature after encoding. :meth:`Preparation.fit_partials` applies :meth:`Preparation.fit`'s rules
to them. Each row's part is drawn from a generator seeded by ``(seed, block)``. See
``docs/distributed.md``.
"""

from __future__ import annotations

import bisect
import json
import os
from typing import Any

import numpy as np

from . import tables
from .block_medians import add_histograms as _add_histograms
from .block_medians import histogram as _histogram
from .block_medians import keys as _keys
from .block_medians import matching as _matching
from .block_medians import medians as _medians
from .cluster_blocks import (
    bad_cell,
    block_column,
    held_out_block,
    kind_of_kinds,
    load,
    plan,
    scan_block,
    unify,
)
from .cluster_tasks import checked as _checked
from .cluster_tasks import gather as _gather
from .cluster_tasks import reduce as _reduce
from .cluster_tasks import submit as _submit
from .columns import merge_stats
from .feature_rules import DataError, _numeric_values, target_stats
from .features import Preparation
from .preparation import TrainingData, choose_loss, encode_targets

__all__ = ["ClusterTable", "prepare_on_cluster"]

BLOCK_BYTES = 64 << 20  # CSV bytes per block
KEEP_DISTINCT = 1 << 16  # different values a block's (and a merge's) statistics keep, then count
KEEP_VALUES = 1 << 16  # different values, counted by ranges, still brought to the driver
GATHER = 1 << 16  # keys of a median's bin brought to the driver to finish the selection


# ---------------------------------------------------------------------------- the passes
def _count_by_ranges(client: Any, blocks: list, task: Any, args: tuple,
                     samples: dict[str, Any], keep: int) -> dict[str, tuple[int, Any]]:
    """The exact number of different values of each column of ``samples`` (some of its values,
    sorted or not) and, where at most ``keep``, the values: the values are cut into ranges at
    the samples' quantiles, ``task(block, *args, cuts)`` gives each block's different values
    of each range (by column, a list), and each range's are counted by a task of its own."""
    ranges = max(1, min(len(blocks), 16))
    cuts = {}
    for name, sample in samples.items():
        sample = np.array(sorted(set(list(sample))),
                          dtype=object if isinstance(sample, list) else float)
        cuts[name] = sample[[len(sample) * r // ranges for r in range(1, ranges)]]
    pieces = [_submit(client, task, block, *args, cuts) for block in blocks]
    counts = _gather(client, [_submit(
        client, _count_range, keep, *[_submit(client, _piece, p, r) for p in pieces])
        for r in range(ranges)])
    out = {}
    for name in samples:
        n = sum(c[name][0] for c in counts)
        values = None
        if n <= keep:
            values = np.concatenate([c[name][1] for c in counts])
            values = values.tolist() if values.dtype == object else values
        out[name] = (n, values)
    return out


def _piece(pieces: dict[str, list[np.ndarray]], r: int) -> dict[str, np.ndarray]:
    return {name: ranges[r] for name, ranges in pieces.items()}


def _count_range(keep: int, *pieces: dict[str, np.ndarray]) -> dict[str, tuple]:
    out = {}
    for name in pieces[0]:
        different = np.unique(np.concatenate([p[name] for p in pieces]))
        out[name] = (len(different), different if len(different) <= keep else None)
    return out


# ---- the blocks' statistics
def _stats(block: dict[str, Any], ctx: dict[str, Any], prep: Preparation, keep: int
           ) -> dict[str, Any]:
    table, part, fit = load(block, ctx)
    target = block_column(table, ctx["target"], ctx)
    out: dict[str, Any] = {"parts": [np.bincount(part[part >= 0], minlength=3)],
                           "target": target_stats(target, target, keep), "columns": {},
                           "hist": {}, "gather": {}}
    for name in ctx["features"]:
        column = block_column(table, name, ctx)
        out["columns"][name] = prep.feature_stats(name, column, fit, keep)
        if column.kind not in ("text", "empty"):  # the medians' first round, while here
            keys = _keys(column.values[fit])
            out["hist"][(name, 0, 0)] = _histogram(keys, 0, 0)
    return out


def _merge(a: dict[str, Any], b: dict[str, Any], keep: int) -> dict[str, Any]:
    out = dict(a)
    if "parts" in a:
        out["parts"] = a["parts"] + b["parts"]
        out["target"] = merge_stats(a["target"], b["target"], keep)
        out["columns"] = {name: merge_stats(s, b["columns"][name], keep)
                          for name, s in a["columns"].items()}
    out["hist"] = {key: _add_histograms(h, b["hist"][key])
                   for key, h in a["hist"].items()}
    out["gather"] = {key: np.concatenate([g, b["gather"][key]])
                     for key, g in a["gather"].items()}
    return out


def _pass(client: Any, blocks: list[dict[str, Any]], task: Any, args: tuple,
          combine: Any = _merge, *more: Any) -> Any:
    """``task(block, *args)`` on every block, the results combined (``combine(a, b, *more)``)."""
    futures = [_submit(client, task, block, *args) for block in blocks]
    return _reduce(client, futures, combine, *more)


def _pieces(block: dict[str, Any], ctx: dict[str, Any], cuts: dict[str, np.ndarray]
            ) -> dict[str, list[np.ndarray]]:
    table, part, fit = load(block, ctx, list(cuts))
    out = {}
    for name, at in cuts.items():
        column = block_column(table, name, ctx)
        rows = slice(None) if name == ctx["target"] else fit  # a target's over every row
        values = column.values[rows][~column.missing[rows]]
        different = np.unique(values) if values.dtype != object else \
            np.array(sorted(set(values.tolist())), dtype=object)
        where = np.searchsorted(at, different, side="right")
        out[name] = [different[where == r] for r in range(len(at) + 1)]
    return out


def _selection(block: dict[str, Any], ctx: dict[str, Any], specs: list[dict],
               wanted: dict[str, list[tuple]]) -> dict[str, Any]:
    """The medians' histograms and keys (:func:`_medians`) of a block."""
    table, part, fit = load(block, ctx, list(wanted))
    out: dict[str, Any] = {"hist": {}, "gather": {}}
    by_name = {spec["name"]: spec for spec in specs}
    for name, requests in wanted.items():
        keys = _keys(_numeric_values(by_name[name], block_column(table, name, ctx))[fit])
        for kind, depth, prefix in requests:
            out[kind][(name, depth, prefix)] = _histogram(keys, depth, prefix) \
                if kind == "hist" else np.sort(_matching(keys, depth, prefix))
    return out


# ---- the features' moments, and the prepared parts
def _moments(block: dict[str, Any], ctx: dict[str, Any], prep: Preparation) -> tuple:
    """``(rows, mean, squared deviations, largest |value|)`` of the block's encoded features
    over its rows to fit on (the largest over every row), and of a regression target."""
    def moments(X: np.ndarray, every: np.ndarray) -> tuple:
        mean = X.mean(axis=0) if len(X) else np.zeros(X.shape[1])
        largest = np.abs(every).max(axis=0) if len(every) else np.zeros(X.shape[1])
        return len(X), mean, np.einsum("ij,ij->j", X - mean, X - mean), largest

    table, part, fit = load(block, ctx, prep.used_columns)
    with np.errstate(over="ignore", invalid="ignore"):
        X = prep.encode(table)
        y = prep.table_targets(table)[fit] if prep.task == "regression" else None
        return moments(X[fit], X), None if y is None else moments(y, y)


def _add_moments(a: tuple, b: tuple) -> tuple:
    """Two blocks' moments as one pass over both would give them (Chan, Golub and LeVeque)."""
    def add(p: tuple | None, q: tuple) -> tuple | None:
        if p is None:
            return None
        largest = np.maximum(p[3], q[3])
        if not (p[0] and q[0]):
            return (*(p if p[0] else q)[:3], largest)
        n, delta = p[0] + q[0], q[1] - p[1]
        return (n, p[1] + delta * (q[0] / n), p[2] + q[2] + delta * delta * (p[0] * q[0] / n),
                largest)

    with np.errstate(over="ignore", invalid="ignore"):
        return add(a[0], b[0]), add(a[1], b[1])


def _prepared(block: dict[str, Any], ctx: dict[str, Any], prep: Preparation, loss: str,
              part_number: int) -> tuple[np.ndarray, np.ndarray]:
    """The block's rows of one part: their features and their targets as the loss takes them."""
    table = load(block, ctx, prep.used_columns)
    table = table[0].take(np.flatnonzero(table[1] == part_number))
    labels = prep.table_targets(table)
    if prep.task == "regression":
        labels = prep.target_units(labels, to_network=True)
    return prep.transform(table), encode_targets(labels, prep.task, loss, len(prep.classes))


def _row_parts(block: dict[str, Any], ctx: dict[str, Any]) -> np.ndarray:
    return load(block, ctx, [])[1]


def _row_label(files: list[str], starts: list[int]):
    """Names row ``r`` (from 0, over the files in order) as messages do."""
    def label(row: int) -> str:
        i = bisect.bisect_right(starts, row) - 1
        text = tables.row_label(files[i])(row - starts[i])
        return text if len(files) == 1 else f"{text} of {files[i]}"
    return label


def _name(source: str) -> str:
    """A name for the run's folder: the file's, or the folder's for a glob or a folder."""
    stem = os.path.splitext(os.path.basename(source.rstrip("/")))[0]
    return stem if stem and not set("*?[") & set(stem) else \
        os.path.basename(os.path.dirname(source.rstrip("/"))) or "data"


# ---------------------------------------------------------------------------- the table
class ClusterTable:
    """A table the Dask workers read (a CSV file, a glob of them, or Parquet files or a folder of
    them), prepared by a :class:`~chainrule.features.Preparation` fitted from statistics
    computed on the cluster (see the module), and split by rows into training, validation and
    held-out parts: Dask arrays chunked by rows, ready for :func:`chainrule.distributed.fit`.
    The options are :func:`prepare_on_cluster`'s."""

    def __init__(self, source: str, *, client: Any = None, target: str | None = None,
                 task: str | None = None, loss: str | None = None, numeric: Any = (),
                 categorical: Any = (), drop: Any = (), on_missing: str = "fill",
                 test_split: float = 0.25, validation_split: float = 0.0, seed: int = 0) -> None:
        from distributed import get_client

        self.client = client or get_client()
        self.source = source = os.fspath(source)
        self.name = _name(source)
        if not (0 < test_split < 1 and 0 <= validation_split < 1):
            raise DataError(f"{source}: the split fractions must be in (0, 1), got "
                            f"{test_split} and {validation_split}")
        try:
            prep = Preparation(target, task=task, numeric=numeric, categorical=categorical,
                               drop=drop, on_missing=on_missing)
        except ValueError as exc:
            raise DataError(f"{source}: {exc}") from None
        self.blocks, self.files, names = plan(source, BLOCK_BYTES)
        if not self.blocks:
            raise ValueError(f"{source}: no data rows")
        self.ctx = {"seed": seed, "test": test_split, "validation": validation_split,
                    **self.scan(self.blocks, names)}
        prep.row_label = self.ctx.pop("label")
        try:
            counts = self._fit(prep, names, test_split)
            self.loss = choose_loss(loss, prep.task, len(prep.classes))
        except DataError as exc:
            raise DataError(f"{source}: {exc}") from None
        self.preparation = prep
        self.part_rows = counts  # each block's rows of each part (training, validation, held out)
        self.parts = [self._part(k, counts[:, k].tolist()) for k in range(3)]

    def _fit(self, prep: Preparation, names: list[str], test_split: float) -> np.ndarray:
        """Fit ``prep`` from the blocks' statistics; each block's rows of each part."""
        client, blocks, ctx = self.client, self.blocks, self.ctx
        ctx["target"] = target = prep.check_names(names)
        kind = ctx["kinds"][target]
        ctx["target_kind"] = "text" if kind in ("text", "boolean") else kind
        ctx["features"] = [name for name in names if name != target]
        found = _pass(client, blocks, _stats, (ctx, prep, KEEP_DISTINCT), _merge, KEEP_DISTINCT)
        counts = np.array(found["parts"])
        if not counts[:, :2].sum() or not counts[:, 2].sum():
            raise DataError(f"{int(counts.sum())} rows with a target are too few to hold "
                            f"{test_split:.0%} out")
        stats, labels = found["columns"], found["target"]
        wanted = {name: s for name, s in stats.items() if s.n_distinct is None
                  and s.sample is not None}
        if labels.n_distinct is None and labels.sample is not None and (
                labels.kind == "text" or labels.first_fraction is None):  # classes, or text
            wanted[target] = labels
        if wanted:  # too many different values to keep: counted by ranges of values
            counted = _count_by_ranges(client, blocks, _pieces, (ctx,), {
                name: s.sample for name, s in wanted.items()}, KEEP_VALUES)
            for name, (count, values) in counted.items():
                wanted[name].n_distinct, wanted[name].distinct = count, values

        def medians(specs: list[dict[str, Any]]) -> dict[str, float]:
            return _medians(lambda asked: _pass(client, blocks, _selection, (ctx, specs, asked),
                                                _merge, 0),
                            {spec["name"]: stats[spec["name"]].present for spec in specs},
                            found["hist"], GATHER)

        prep.fit_partials(names, labels, stats, medians, lambda fitted: _pass(
            client, blocks, _moments, (ctx, fitted), _add_moments))
        return counts

    def _part(self, k: int, rows: list[int]) -> tuple[Any, Any, int]:
        """Part ``k`` (training, validation, held out) as Dask arrays of features and targets,
        a chunk for each block that has rows of it, and its number of rows."""
        import dask
        import dask.array as da

        prep = self.preparation
        width = 1 if self.loss == "binary_cross_entropy" or prep.task == "regression" \
            else len(prep.classes)
        X, Y = [], []
        for block, n in zip(self.blocks, rows):
            if n:
                done = dask.delayed(_prepared, pure=False)(block, self.ctx, prep, self.loss, k)
                X.append(da.from_delayed(done[0], (n, len(prep.feature_names)), float))
                Y.append(da.from_delayed(done[1], (n, width), float))
        return (da.concatenate(X), da.concatenate(Y), sum(rows)) if X else (None, None, 0)

    def scan(self, blocks: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
        """The column types and kinds (unified across blocks); unusable cells refused."""
        pa, client = tables._pyarrow(), self.client
        scans = _gather(client, [_submit(client, scan_block, block) for block in blocks])
        types = {name: unify([s["types"][name] for s in scans]) for name in names}
        again = [i for i, s in enumerate(scans) if any(  # read otherwise: kinds read again
            not pa.types.is_null(t) and t != types[name] for name, t in s["types"].items())]
        for i, scan in zip(again, _gather(client, [_submit(client, scan_block, blocks[i], types)
                                                   for i in again])):
            scans[i] = scan
        starts = np.concatenate([[0], np.cumsum([s["rows"] for s in scans])]).tolist()
        self.first_rows = starts[:-1]  # each block's first row, over the files in order
        firsts = [i for i, b in enumerate(blocks) if not i or b["path"] != blocks[i - 1]["path"]]
        for i, scan in enumerate(scans):
            if scan["bad"]:
                first = max(f for f in firsts if f <= i)
                _checked(_submit(client, bad_cell, blocks[i],
                                 starts[i] - starts[first]).result())
        if not starts[-1]:
            raise ValueError(f"{self.source}: only a header, no data rows")
        rows: dict[str, int] = dict.fromkeys(self.files, 0)
        for block, scan in zip(blocks, scans):
            rows[block["path"]] += scan["rows"]
        for path, n in rows.items():  # a file of a glob or a folder with no rows
            if not n:
                raise ValueError(f"{path}: " + ("no data rows" if tables.is_parquet(path)
                                                 else "only a header, no data rows"))
        return {"types": types,
                "kinds": {name: kind_of_kinds([s["kinds"][name] for s in scans])
                          for name in names},
                "label": _row_label([blocks[i]["path"] for i in firsts],
                                    [starts[i] for i in firsts])}

    # ------------------------------------------------------------------ the parts
    @property
    def training(self) -> tuple[Any, Any]:
        return self.parts[0][:2]

    @property
    def validation(self) -> tuple[Any, Any] | None:
        return self.parts[1][:2] if self.parts[1][2] else None

    @property
    def held_out(self) -> tuple[Any, Any]:
        return self.parts[2][:2]

    def row_parts(self) -> np.ndarray:
        """Each row's part (0 training, 1 validation, 2 held out, -1 without a target), in the
        files' order: every row's, brought here (for tests and small tables)."""
        return np.concatenate(self.client.gather([self.client.submit(
            _row_parts, block, self.ctx, pure=False) for block in self.blocks]))

    def held_out_sums(self, net: Any, accumulate: Any, client: Any) -> Any:
        """``accumulate(net, X, Y)``'s per-block results over the held-out rows, computed where
        the blocks are (``accumulate`` returns something ``+`` combines)."""
        X, Y = self.held_out
        spec, parameters = json.dumps(net.spec(), sort_keys=True), net.flat_parameters().copy()
        x_blocks, y_blocks = list(X.to_delayed().ravel()), list(Y.to_delayed().ravel())
        blocks = client.compute(x_blocks + y_blocks)  # one graph: each block prepared once
        statistics = net.running_statistics()  # batch normalisation's, for evaluation
        parts = [client.submit(held_out_block, spec, parameters, statistics,
                               dict(net.metadata), accumulate, xb, yb, pure=False)
                 for xb, yb in zip(blocks[:len(x_blocks)], blocks[len(x_blocks):])]
        return client.gather(parts)


def prepare_on_cluster(source: str, *, client: Any, target: str | None = None,
                       task: str | None = None, loss: str | None = None, numeric: Any = (),
                       categorical: Any = (), drop: Any = (), on_missing: str = "fill",
                       test_split: float = 0.25, validation_split: float = 0.0,
                       seed: int = 0) -> TrainingData:
    """The file(s) ``source`` (a CSV file, a glob of them, a Parquet file or a folder of them)
    made ready for training on the cluster of ``client``, as
    :func:`chainrule.preparation.prepare` makes a table ready in one process: the same
    :class:`~chainrule.features.Preparation` (``target``, ``task``, ``numeric``,
    ``categorical``, ``drop``, ``on_missing``), fitted on the training rows (validation rows
    included) from statistics computed on the workers. Each row's part is drawn from ``seed``
    and its block (``test_split`` held out, ``validation_split`` of the rest for validation).
    ``X_train``/``Y_train`` are Dask arrays chunked by rows, the validation rows are brought to
    this process, ``held_out`` is the :class:`ClusterTable`. Bad input is a ``ValueError``
    naming the file and column."""
    table = ClusterTable(source, client=client, target=target, task=task, loss=loss,
                         numeric=numeric, categorical=categorical, drop=drop,
                         on_missing=on_missing, test_split=test_split,
                         validation_split=validation_split, seed=seed)
    prep = table.preparation
    validation = None
    if validation_split:
        if table.validation is None:
            raise DataError(f"{table.source}: the validation split drew no rows; raise "
                            "--validation-split")
        validation = tuple(client.compute(list(table.validation), sync=True))
    X_train, Y_train = table.training
    return TrainingData(table.name, prep.task, table.loss, {**prep.metadata(),
                                                            "dataset": table.name},
                        X_train, Y_train, validation, table, table.parts[2][2], prep)
