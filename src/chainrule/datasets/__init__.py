"""Built-in datasets (no download) and CSV reading with precise error messages.

Every loader returns a :class:`Dataset`: ``X`` (float64, one row per sample), ``y`` (class
labels as integers, or real targets shaped ``(n, n_targets)`` for regression), the ``task``
(``classification`` or ``regression``), ``feature_names`` and ``class_names``.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import math
import os
import re
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from .._validation import first_non_finite
from ..arrays import ROWS_PER_SLICE
from ..tables import check_file, is_number

__all__ = ["DATASETS", "Dataset", "is_parquet", "iter_csv", "iter_table", "load_dataset",
           "read_csv", "read_table"]


@dataclass
class Dataset:
    name: str
    X: np.ndarray
    y: np.ndarray
    task: str  # "classification" or "regression"
    feature_names: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    target_name: str = "target"


def _data_file(name: str):
    return resources.files(__name__).joinpath(name)


def tutorial(seed: int | None = 0) -> Dataset:
    """Part 1's single sample: x = 0.1, target 0.3."""
    return Dataset("tutorial", np.array([[0.1]]), np.array([[0.3]]), "regression", ["x1"])


def xor(seed: int | None = 0) -> Dataset:
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    return Dataset("xor", X, np.array([0, 1, 1, 0]), "classification", ["x1", "x2"], ["0", "1"])


def iris(seed: int | None = 0) -> Dataset:
    with _data_file("iris.csv").open("r") as handle:
        rows = list(csv.reader(handle))
    class_names = rows[0][2:]
    data = np.array(rows[1:], dtype=float)
    names = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
    return Dataset("iris", data[:, :4], data[:, 4].astype(int), "classification", names,
                   class_names)


def digits(seed: int | None = 0) -> Dataset:
    """8x8 handwritten digits, pixel values 0..16."""
    with _data_file("digits.csv.gz").open("rb") as raw, gzip.open(raw, "rt") as handle:
        data = np.loadtxt(handle, delimiter=",")
    names = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    return Dataset("digits", data[:, :64], data[:, 64].astype(int), "classification", names,
                   [str(d) for d in range(10)])


def moons(seed: int | None = 0, n_samples: int = 400, noise: float = 0.15) -> Dataset:
    """Two interleaving half circles with Gaussian noise."""
    rng = np.random.default_rng(seed)
    n_top = n_samples // 2
    angle_top = np.linspace(0, math.pi, n_top)
    angle_bottom = np.linspace(0, math.pi, n_samples - n_top)
    top = np.c_[np.cos(angle_top), np.sin(angle_top)]
    bottom = np.c_[1 - np.cos(angle_bottom), 0.5 - np.sin(angle_bottom)]
    X = np.vstack([top, bottom]) + rng.normal(0, noise, (n_samples, 2))
    y = np.r_[np.zeros(n_top, int), np.ones(n_samples - n_top, int)]
    order = rng.permutation(n_samples)
    return Dataset("moons", X[order], y[order], "classification", ["x1", "x2"], ["0", "1"])


def circles(seed: int | None = 0, n_samples: int = 400, noise: float = 0.08,
            factor: float = 0.5) -> Dataset:
    """A small circle inside a large one."""
    rng = np.random.default_rng(seed)
    n_outer = n_samples // 2
    outer = np.linspace(0, 2 * math.pi, n_outer, endpoint=False)
    inner = np.linspace(0, 2 * math.pi, n_samples - n_outer, endpoint=False)
    X = np.vstack([np.c_[np.cos(outer), np.sin(outer)],
                   factor * np.c_[np.cos(inner), np.sin(inner)]])
    X += rng.normal(0, noise, X.shape)
    y = np.r_[np.zeros(n_outer, int), np.ones(n_samples - n_outer, int)]
    order = rng.permutation(n_samples)
    return Dataset("circles", X[order], y[order], "classification", ["x1", "x2"], ["0", "1"])


def regression(seed: int | None = 0, n_samples: int = 500, n_features: int = 5,
               noise: float = 0.1) -> Dataset:
    """A noisy non-linear regression: ``y = sin(x @ a) + 0.5 * (x @ b) + noise``."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    a, b = rng.normal(size=n_features), rng.normal(size=n_features)
    y = np.sin(X @ a) + 0.5 * (X @ b) + rng.normal(0, noise, n_samples)
    names = [f"x{i + 1}" for i in range(n_features)]
    return Dataset("regression", X, y.reshape(-1, 1), "regression", names)


DATASETS = {f.__name__: f for f in (tutorial, xor, iris, digits, moons, circles, regression)}


def load_dataset(name: str, seed: int | None = 0) -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; built-in: {', '.join(DATASETS)}")
    return DATASETS[name](seed=seed)


#: Rows the CSV reader parses at a time: its work space, whatever the file's size.
def read_csv(path: str) -> tuple[list[str], np.ndarray]:
    """Read a numeric CSV with a header line; return the column names and a float64 matrix.

    The rows are parsed a block at a time by NumPy's C parser (``numpy.loadtxt``) into one
    array allocated once for the whole file (its size from a count of the lines), so the peak
    memory is the data plus a block. Raises ``ValueError`` naming the file, row (the line of the
    file, the header being row 1) and column of the first problem: a path that is not a regular
    file, an empty file, a header only, missing or repeated column names, ragged rows,
    non-numeric cells, NaN or infinite values, a cell too long to be a number. A UTF-8
    byte-order mark is ignored; blank lines are skipped.
    """
    blocks = iter_csv(path)
    header = next(blocks)
    capacity = _count_lines(path)
    data = np.empty((capacity, len(header)))
    filled = 0
    for _, block in blocks:
        data[filled:filled + len(block)] = block
        filled += len(block)
    if filled == 0:
        raise ValueError(f"{path}: only a header, no data rows")
    return header, data[:filled]


def iter_csv(path: str, block_rows: int = ROWS_PER_SLICE):
    """The CSV's column names, then ``(first line number, block)`` for each block of at most
    ``block_rows`` rows (float64): a file of any size in bounded memory. The same checks and
    messages as :func:`read_csv`."""
    handle = _open_csv(path)
    try:
        line = 0
        for text in handle:
            line += 1
            if text.strip():
                break
        else:
            raise ValueError(f"{path}: the file is empty")
        if _NOT_UTF8.search(text):
            raise ValueError(f"{path}: row {line}: the header is not UTF-8 text")
        try:
            cells = next(csv.reader([text]))
        except csv.Error as exc:  # a name over the csv module's field limit, a NUL byte, ...
            raise ValueError(f"{path}: row {line}: the header is not readable as CSV ({exc})") \
                from None
        header = _check_header(path, cells)
        yield header
        while True:
            lines = list(itertools.islice(handle, block_rows))
            if not lines:
                return
            first = line + 1
            line += len(lines)
            rows = [text for text in lines if text.strip()]
            if not rows:
                continue
            try:
                block = np.loadtxt(rows, delimiter=",", quotechar='"', ndmin=2,
                                   dtype=np.float64)
            except ValueError:
                block = None
            if block is None or block.shape[1] != len(header) or \
                    first_non_finite(block) is not None:
                # The fast parser found something (or a non-finite value): the careful one
                # says what and where.
                block = _parse_rows(path, header, lines, first)
            yield first, block
    finally:
        handle.close()


def is_parquet(path: str) -> bool:
    """Whether ``path`` is a Parquet file or a folder of them (rather than a CSV)."""
    return path.endswith(".parquet") or (os.path.isdir(path) and any(
        name.endswith(".parquet") for name in os.listdir(path)))


def read_table(path: str) -> tuple[list[str], np.ndarray]:
    """A CSV (:func:`read_csv`) or a Parquet file or folder (``pyarrow``): column names and a
    float64 matrix, with the same checks."""
    blocks = iter_table(path)
    header = next(blocks)
    parts = [block for _, block in blocks]
    if not parts or not sum(len(p) for p in parts):
        raise ValueError(f"{path}: only a header, no data rows")
    return header, np.concatenate(parts) if len(parts) > 1 else parts[0]


def iter_table(path: str, block_rows: int = ROWS_PER_SLICE):
    """Like :func:`iter_csv`, for a CSV or a Parquet file or folder (read a record batch at a
    time with ``pyarrow``, the ``chainrule[dask]`` extra)."""
    if not is_parquet(path):
        yield from iter_csv(path, block_rows)
        return
    try:
        import pyarrow as pa
        import pyarrow.dataset as pads
    except ImportError:  # pragma: no cover - depends on the environment
        raise ValueError(f"{path}: reading Parquet needs pyarrow: pip install "
                         "'chainrule[dask]'") from None
    try:
        dataset = pads.dataset(path, format="parquet")
    except (OSError, ValueError, pa.ArrowException) as exc:
        message = " ".join(str(exc).split())[:300]
        raise ValueError(f"{path}: cannot be read as Parquet ({message})") from None
    header = _check_header(path, [column.name for column in dataset.schema])
    for column in dataset.schema:
        if not (column.type.num_fields == 0 and str(column.type).startswith(
                ("int", "uint", "float", "double", "halffloat", "bool"))):
            raise ValueError(f"{path}: column {column.name!r} is not numeric ({column.type})")
    yield header
    row = 0
    batches = dataset.to_batches(batch_size=block_rows)
    while True:
        try:
            batch = next(batches, None)
        except (OSError, ValueError, pa.ArrowException) as exc:  # a damaged page, a cut file
            message = " ".join(str(exc).split())[:300]
            raise ValueError(f"{path}: cannot be read as Parquet, the file is damaged "
                             f"({message})") from None
        if batch is None:
            return
        block = np.column_stack([batch.column(i).to_numpy(zero_copy_only=False)
                                 for i in range(batch.num_columns)]).astype(np.float64) \
            if batch.num_rows else np.empty((0, len(header)))
        bad = first_non_finite(block) if len(block) else None
        if bad is not None:
            raise ValueError(f"{path}: row {row + bad[0] + 1} (of the data), column "
                             f"{header[bad[1]]!r}: {block[bad]} is not finite (or empty)")
        row += len(block)
        yield row - len(block), block


def _open_csv(path: str):
    check_file(path)
    # A byte that is not UTF-8 becomes a lone surrogate, found and named with its row and
    # column where the row is parsed.
    return open(path, newline="", encoding="utf-8-sig", errors="surrogateescape")


def _count_lines(path: str) -> int:
    """An upper bound of the data rows: the file's line breaks, plus one."""
    count = 1
    with open(path, "rb") as raw:
        for chunk in iter(lambda: raw.read(1 << 20), b""):
            count += chunk.count(b"\n") + chunk.count(b"\r")
    return count


def _check_header(path: str, cells: list[str]) -> list[str]:
    header = [name.strip() for name in cells]
    if all(is_number(cell) for cell in header):
        raise ValueError(f"{path}: row 1 should be a header of column names, got numbers")
    seen: dict[str, int] = {}
    for column, name in enumerate(header, start=1):
        if not name:
            raise ValueError(f"{path}: column {column} of the header has no name")
        if name in seen:
            raise ValueError(f"{path}: the column name {name!r} appears twice (columns "
                             f"{seen[name]} and {column}); column names must be unique")
        seen[name] = column
    return header


def _parse_rows(path: str, header: list[str], lines: list[str], first: int) -> np.ndarray:
    """The careful parser: a block's lines cell by cell, the first problem named by row and
    column (used where the fast parser finds one), or the block when there is none."""
    reader = csv.reader(lines)
    values = []
    try:
        for row in reader:
            line = first + reader.line_num - 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise ValueError(f"{path}: row {line} has {len(row)} values but the header has "
                                 f"{len(header)}")
            parsed = []
            for column, cell in enumerate(row):
                if _NOT_UTF8.search(cell):
                    raise ValueError(f"{path}: row {line}, column {header[column]!r}: a cell is "
                                     "not UTF-8 text")
                try:
                    value = float(cell) if len(cell) <= _LONGEST_NUMBER else None
                except ValueError:
                    value = None
                if value is None:
                    shown = cell.strip() if len(cell) <= 40 else f"{cell.strip()[:40]}... " \
                        f"({len(cell)} characters)"
                    raise ValueError(f"{path}: row {line}, column {header[column]!r}: "
                                     f"{shown!r} is not a number")
                if not math.isfinite(value):
                    raise ValueError(f"{path}: row {line}, column {header[column]!r}: "
                                     f"{cell.strip()} is not finite")
                parsed.append(value)
            values.append(parsed)
    except csv.Error as exc:  # a cell over the csv module's field limit, a NUL byte, ...
        raise ValueError(f"{path}: row {first + reader.line_num - 1}: not readable as CSV "
                         f"({exc})") from None
    # Cells the C parser refuses but Python reads as numbers (``1_000``): taken as they were.
    return np.array(values, dtype=np.float64).reshape(-1, len(header))


_LONGEST_NUMBER = 100  # characters; no float64 needs more
#: The characters a byte that is not UTF-8 becomes when read with ``surrogateescape``.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


