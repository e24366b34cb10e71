"""The blocks of rows a Dask worker reads for :mod:`chainrule.distributed_table`: the files of
a source cut into blocks (64 MB of a CSV at line breaks, or a Parquet row group), each read with
:mod:`chainrule.tables`' reader and its checks, kept in a worker's cache of recent blocks, with
the kind of each column and the part (training, validation, held out) of each row.
"""

from __future__ import annotations

import functools
import glob
import io
import json
import os
from collections import OrderedDict
from typing import Any

import numpy as np

from . import tables
from .columns import FALSE_WORDS, TRUE_WORDS, as_kind, read_column
from .csv_messages import locate_refusal

__all__ = ["BLOCK_CACHE_BYTES", "bad_cell", "block_column", "held_out_block", "kind_of_kinds",
           "load", "plan", "scan_block", "unify", "worker_network"]


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


def _read(block: dict[str, Any], types: dict[str, Any] | None = None,
          columns: list[str] | None = None) -> Any:
    """The block's rows as a ``pyarrow.Table`` (``columns`` only, when given), its columns of
    ``types`` (default: as read); kept in this process's cache of recent blocks."""
    status = os.stat(block["path"])  # a file written again is read again
    key = (block["path"], status.st_mtime_ns, status.st_size, block.get("start"),
           block.get("end"), block.get("group"), repr(sorted((types or {}).items())))
    table = _cache.get(key)
    if table is None:
        table = _read_file(block, types)
        if table.nbytes <= BLOCK_CACHE_BYTES // 4:
            _cache[key] = table
            while sum(t.nbytes for t in _cache.values()) > BLOCK_CACHE_BYTES:
                _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
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


# ---------------------------------------------------------------- the network on a worker
@functools.lru_cache(maxsize=8)
def worker_network(spec: str) -> Any:
    """The network a worker computes with, built once per architecture and process from the
    JSON of :meth:`Engine.spec` (its parameters are copied in for each task)."""
    from .engine import Engine

    return Engine.from_spec(json.loads(spec))


def held_out_block(spec: str, parameters: np.ndarray, metadata: dict, accumulate: Any,
                   X: np.ndarray, Y: np.ndarray) -> Any:
    """``accumulate(net, X, Y)`` (the held-out metrics' sums) of a block, with the network of
    ``spec`` and ``parameters``."""
    net = worker_network(spec)
    np.copyto(net.flat_parameters(), parameters)
    net.metadata = metadata
    return accumulate(net, np.ascontiguousarray(X), np.ascontiguousarray(Y))
