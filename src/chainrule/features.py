"""One preparation of a table for everyone: the command line, the Dask path, the web playground
and Python users.

:class:`Preparation` is fitted on a table (a pandas ``DataFrame``, a ``pyarrow.Table``, a dict of
columns or a 2-D NumPy array) and then turns that table, or any later one, into the float64
features a network takes, always the same way:

1. **Roles**: every column but the target gets one (:func:`chainrule.columns.infer_role` lists
   the rules; ``numeric``, ``categorical`` and ``drop`` name columns to override them):
   numbers stay numbers, booleans become 0/1, dates and times become days since 1970-01-01,
   text with few distinct values is one-hot encoded with the categories kept, and identifiers,
   free text, pandas' index column and empty columns are dropped, each with its reason.
2. **Missing cells** (``on_missing="fill"``): a number gets the training rows' median and, when
   any training cell was missing, a 0/1 indicator feature beside it; a category gets a category
   of its own. A category never seen in training gives all zeros. ``on_missing="refuse"``
   refuses a missing cell instead, naming its row and column.
3. **Scaling**: every feature becomes ``(x - mean) / std`` with the training rows' statistics (a
   constant feature keeps std 1).
4. **The target**: class labels are kept as the table has them (text or numbers, sorted) and
   given back by :meth:`Preparation.labels`; a regression target is standardised like a feature
   and :meth:`Preparation.target_units` undoes it. Rows without a target are not trained on.

The fitted preparation is stored in a model's metadata (:meth:`Preparation.metadata`, format
version 3 of the model file) and rebuilt from it (:meth:`Preparation.from_metadata`), so that
``chainrule predict`` applies exactly the training's encoding to next month's file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .block_medians import median_of
from .column_schema import check_stored_columns
from .columns import (
    FALSE_WORDS,
    TRUE_WORDS,
    Column,
    category_keys,
    column_names,
    n_rows,
    read_column,
)
from .feature_rules import (
    LARGEST_LABEL,
    MAX_AUTO_CLASSES,
    DataError,
    PreparationRules,
    _as_kind,
    _finish_scaling,
    _numeric_values,
    target_stats,
)

__all__ = ["LARGEST_LABEL", "MAX_AUTO_CLASSES", "DataError", "Preparation", "target_stats"]


class Preparation(PreparationRules):
    """Columns to features, fitted once and applied to any later table (see the module).

    ``target`` names the target column (default: the last; ``None`` with ``y`` given to
    :meth:`fit` when the table holds features only). ``task`` is ``classification`` or
    ``regression`` (default: text and booleans are classes, and so are whole numbers with at
    most :data:`MAX_AUTO_CLASSES` distinct values). ``numeric``, ``categorical`` and ``drop``
    are column names (a list, or one comma-separated string) whose role is given, not inferred.
    """

    # ------------------------------------------------------------------ fitting
    def fit(self, table: Any, y: Any = None, rows: np.ndarray | None = None) -> Preparation:
        """Learn the roles, categories, fill values, scaling and labels from ``table``'s
        ``rows`` (default: every row with a target). ``y``: the targets, when the table holds
        features only (class labels, or real values shaped ``(n,)`` or ``(n, k)``)."""
        self._fit(table, y, rows, consume=False)
        return self

    def fit_transform(self, table: Any, y: Any = None, rows: np.ndarray | None = None,
                      consume: bool = False) -> np.ndarray:
        """:meth:`fit`, and the features of every row of ``table`` (encoded once); see
        :meth:`encode` for ``consume``."""
        return self._fit(table, y, rows, consume)

    def _fit(self, table: Any, y: Any, rows: np.ndarray | None, consume: bool) -> np.ndarray:
        names = column_names(table)
        self._check_options(names)
        target_column, text_target = self._target_columns(table, y, names)
        has_target = self._fit_target(text_target, target_column)
        # The rows to fit on; None for every row, in order (then no copy of them is taken).
        if rows is None:
            rows = None if has_target.all() else np.flatnonzero(has_target)
        elif _every_row(rows, len(has_target)):
            rows = None

        def fit_column(name: str) -> dict[str, Any]:
            if name == self.target_name and y is None:
                return {"name": name, "role": "target", "kind": text_target.kind}
            return self._fit_column(name, read_column(table, name), rows)

        self.columns = _each(fit_column, names)
        self._check_features()
        self.scaling = None
        if self.task == "regression" and self.standardize:
            values = self.target_values(target_column)
            # Standardised on a copy only for its scaling; the targets are scaled later.
            self.target_scaling = _standardize(np.array(values, dtype=float), rows,
                                               [self.target_name])
        return self._fit_scaling(table, rows, consume)

    def _fit_scaling(self, table: Any, rows: np.ndarray | None, consume: bool) -> np.ndarray:
        """The features of every row, and the scaling fitted on ``rows`` (``None``: every row)
        applied to them."""
        X = self.encode(table, consume)
        if self.standardize:
            self.scaling = _standardize(X, rows, self.feature_names)
        return X

    def rows_with_target(self, table: Any, y: Any = None) -> np.ndarray:
        """Learn the task and labels from the target alone; the indices of the rows that have
        a target (the rows a split draws from)."""
        target_column, text_target = self._target_columns(table, y, column_names(table))
        return np.flatnonzero(self._fit_target(text_target, target_column))

    def _target_columns(self, table: Any, y: Any, names: list[str]) -> tuple[Column, Column]:
        if y is None:
            target = self._choose_target(names)
            return read_column(table, target), read_column(table, target, keep_text=True)
        else:
            self.target_name = self.target or "target"
            column = _target_array(y, n_rows(table))
            return column, column

    def _fit_target(self, text: Column, column: Column) -> np.ndarray:
        """The task, labels and kind of the target; the rows that have one."""
        self._fit_target_stats(target_stats(text, column, classes=self.task != "regression"))
        return ~text.missing

    def _fit_column(self, name: str, column: Column, rows: np.ndarray | None
                    ) -> dict[str, Any]:
        """The spec of feature column ``name`` fitted on ``rows`` (``None``: every row)."""
        stats = self.feature_stats(name, column, rows)
        spec = self._column_spec(name, stats)
        if "fill" in spec:
            values = _numeric_values(spec, column)
            median = median_of(values if rows is None else values[rows],
                               stats.absent if values is column.values else None)
            if median == median:  # a present cell to fit on
                spec["fill"] = median
        return spec

    def encode(self, table: Any, consume: bool = False) -> np.ndarray:
        """The features of every row of ``table``, before scaling. ``consume=True`` (``table`` a
        dict) removes each column from the dict once encoded, so that its memory goes while the
        features fill."""
        n = n_rows(table)
        names = set(column_names(table))
        missing = [name for name in self.used_columns if name not in names]
        if missing:
            raise DataError(f"no column {missing[0]!r}, which the model uses"
                            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        # Column by column, so a column of the matrix is contiguous (as pandas keeps its own).
        X = np.empty((n, len(self.feature_names)), order="F")
        self.unseen = {}
        used, at = [], 0
        for spec in self.columns:
            if spec["role"] in ("dropped", "target"):
                if consume and isinstance(table, dict):
                    table.pop(spec["name"], None)
            else:
                used.append((spec, at))
                at += self._width(spec)

        def encode_column(job: tuple[dict[str, Any], int]) -> None:
            spec, at = job
            column = read_column(table, spec["name"])
            if consume and isinstance(table, dict):
                table.pop(spec["name"])
            self._encode_column(spec, column, X, at)

        _each(encode_column, used)
        return X

    @staticmethod
    def _width(spec: dict[str, Any]) -> int:
        """How many features a used column makes."""
        if spec["role"] == "categorical":
            return len(spec["categories"]) + spec["missing_category"]
        return 1 + spec["indicator"]

    def _encode_column(self, spec: dict[str, Any], column: Column, X: np.ndarray,
                       at: int) -> int:
        name = spec["name"]
        missing = column.missing
        any_missing = bool(missing.any())
        if any_missing and self.on_missing == "refuse":
            raise DataError(f"{self.row_label(int(np.flatnonzero(missing)[0]))}, column "
                            f"{name!r}: the cell is empty (--on-missing fill fills it)")
        if spec["role"] == "categorical":
            keys = category_keys(_as_kind(spec, column))
            index = {category: i for i, category in enumerate(spec["categories"])}
            width = len(index) + spec["missing_category"]
            block = X[:, at:at + width]
            block[:] = 0.0
            codes = np.fromiter((index.get(k, -1) if k is not None else
                                 (width - 1 if spec["missing_category"] else -1) for k in keys),
                                np.int64, len(keys))
            seen = codes >= 0
            block[np.flatnonzero(seen), codes[seen]] = 1.0
            unseen = int((~seen & ~missing).sum())
            if unseen:
                self.unseen[name] = unseen
            return at + width
        values = _numeric_values(spec, column)
        if column.values.dtype == object:  # text where numbers were trained: each must read
            bad = np.isnan(values) & ~missing
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise DataError(f"{self.row_label(row)}, column {name!r}: "
                                f"{column.values[row]!r} is not "
                                f"{'a boolean' if spec['role'] == 'boolean' else 'a number'}")
        X[:, at] = values
        if any_missing:
            X[missing, at] = spec["fill"]
        if spec["indicator"]:
            X[:, at + 1] = missing
            return at + 2
        return at + 1

    def transform(self, table: Any, consume: bool = False) -> np.ndarray:
        """The features of every row of ``table``, scaled (see :meth:`encode`)."""
        X = self.encode(table, consume)
        if self.scaling is not None:
            _scale(X, self.scaling)
        return X

    # ------------------------------------------------------------------ the target
    def target_values(self, column: Column | Any) -> np.ndarray:
        """The target of each row: the class index (``-1`` where missing or unknown), or the
        values shaped ``(n, k)`` in the table's units (NaN where missing)."""
        if not isinstance(column, Column):
            column = _target_array(column, len(column))
        if self.task == "regression":
            values = np.asarray(column.values, dtype=float)
            return values.reshape(len(values), -1)
        keys = category_keys(column)
        labels = {str(label): i for i, label in enumerate(self.classes)}
        if self.classes == ["False", "True"]:  # a boolean target: any spelling of one
            labels |= {word: int(word in TRUE_WORDS) for word in TRUE_WORDS | FALSE_WORDS}
            keys = [k if k is None or k in labels else k.strip().lower() for k in keys]
        return np.fromiter((labels.get(k, -1) if k is not None else -1 for k in keys),
                           np.int64, len(keys))

    def table_targets(self, table: Any) -> np.ndarray:
        """:meth:`target_values` of the table's target column."""
        if self.target_name not in column_names(table):
            raise DataError(f"no target column {self.target_name!r}")
        return self.target_values(read_column(table, self.target_name,
                                              keep_text=self.target_kind == "text"))

    def labels(self, index: np.ndarray) -> list:
        """Class indices back to the table's labels."""
        return [self.classes[i] for i in np.asarray(index).tolist()]

    def target_units(self, values: np.ndarray, to_network: bool) -> np.ndarray:
        """Regression targets from the table's units to the network's, or back."""
        if not self.target_scaling:
            return values
        mean = np.asarray(self.target_scaling["mean"])
        scale = np.asarray(self.target_scaling["scale"])
        return (values - mean) / scale if to_network else values * scale + mean

    # ------------------------------------------------------------------ the model file
    def metadata(self) -> dict[str, Any]:
        """What a model's metadata records of this preparation (format version 3)."""
        out: dict[str, Any] = {
            "task": self.task, "feature_names": self.feature_names,
            "target_name": self.target_name, "classes": list(self.classes),
            "preparation": {"columns": self.columns, "on_missing": self.on_missing,
                            "target_kind": self.target_kind,
                            "rows_without_target": self.rows_without_target}}
        if self.scaling is not None:
            out["scaling"] = self.scaling
        if self.target_scaling is not None:
            out["target_scaling"] = self.target_scaling
        return out

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any], n_inputs: int | None = None
                      ) -> Preparation:
        """The preparation a model's metadata records; a model of format version 1 or 2 (no
        ``preparation`` field) gets one of numeric columns named by its ``feature_names``.
        Raises ``ValueError`` for a field that is not well formed."""
        prep = cls()
        stored = metadata.get("preparation")
        names = metadata.get("feature_names") or [f"x{i + 1}" for i in range(n_inputs or 0)]
        if stored is None:
            prep.columns = [{"name": name, "role": "numeric", "kind": "number", "fill": 0.0,
                             "indicator": False, "filled": 0} for name in names]
        else:
            check_stored_columns(stored, names)
            prep.columns = stored["columns"]
            prep.on_missing = stored["on_missing"]
            prep.target_kind = stored["target_kind"]
            prep.rows_without_target = stored["rows_without_target"]
        prep.task = metadata.get("task")
        prep.target_name = metadata.get("target_name")
        prep.classes = list(metadata.get("classes") or [])
        prep.scaling = metadata.get("scaling")
        prep.target_scaling = metadata.get("target_scaling")
        return prep

    # ------------------------------------------------------------------ the report
    def summary(self) -> list[dict[str, Any]]:
        """One row per column: its name, role, encoding, cells filled, and note."""
        rows = []
        for spec in self.columns:
            role, note, encoding = spec["role"], spec.get("reason", ""), ""
            if role == "target":
                encoding = (f"{len(self.classes)} classes" if self.task == "classification"
                            else "standardised" if self.target_scaling else "as is")
                if self.rows_without_target:
                    note = f"{self.rows_without_target} row(s) without a target dropped"
            elif role == "categorical":
                encoding = f"one-hot, {len(spec['categories'])} categories" + (
                    " + missing" if spec["missing_category"] else "")
            elif role == "numeric":
                encoding = "standardised" if self.scaling else "as is"
            elif role == "boolean":
                encoding = "0/1"
            elif role == "date":
                encoding = "days since 1970-01-01"
            if role in ("numeric", "boolean", "date") and spec.get("filled"):
                note = f"missing filled with the median {spec['fill']:.6g}, indicator added"
            elif role == "categorical" and spec.get("filled"):
                note = "missing cells are a category of their own"
            rows.append({"column": spec["name"], "role": role, "encoding": encoding,
                         "filled": spec.get("filled", 0), "note": note})
        return rows

    def summary_text(self) -> str:
        """:meth:`summary` as an aligned text table."""
        rows = self.summary()
        heads = ["column", "role", "encoding", "filled", "note"]
        cells = [[str(row[h]) if h != "filled" or row[h] else "" for h in heads] for row in rows]
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
        widths[-1] = 0
        lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths)).rstrip()]
        lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths)).rstrip() for cell in cells]
        return "\n".join(lines)


def _target_array(y: Any, n: int) -> Column:
    values = np.asarray(y)
    if len(values) != n:
        raise DataError(f"y has {len(values)} rows but the table {n}")
    if values.dtype.kind in "iub":
        return Column("integer", values.astype(np.float64))
    if values.dtype.kind == "f":
        return Column("number", values.astype(np.float64))
    return read_column({"y": values}, "y", keep_text=True)


def _every_row(rows: np.ndarray, n: int) -> bool:
    """Whether ``rows`` are all ``n`` rows, in order (then no copy of them is taken)."""
    return len(rows) == n and bool(np.all(np.diff(rows) > 0))


def _each(function: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """``function`` of each item, in order, on every core: the columns are independent, and
    NumPy's passes over a column let go of the interpreter's lock. The first item's error (in
    order) is the one raised."""
    items = list(items)
    workers = min(len(items), os.cpu_count() or 1)
    if workers <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))


def _standardize(X: np.ndarray, rows: np.ndarray | None, names: list[str]
                 ) -> dict[str, list[float]]:
    """The mean and standard deviation of each column of ``X[rows]``, and ``X`` standardised
    with them, in place, a column at a time: each column is centred on its mean (the first
    pass), its squared deviations are summed from the centred values (the second), and it is
    divided by its standard deviation."""
    n = len(X) if rows is None else len(rows)
    if n == 0:
        raise DataError("no rows to fit the preparation on")

    def centre(j: int) -> tuple[float, float]:
        column = X[:, j]
        with np.errstate(over="ignore", invalid="ignore"):
            mean = (column if rows is None else column[rows]).mean()
            if not np.isfinite(mean):
                return mean, np.inf
            np.subtract(column, mean, out=column)
            deviation = column if rows is None else column[rows]
            return mean, deviation @ deviation

    found = _each(centre, range(X.shape[1]))
    mean = np.array([m for m, _ in found], dtype=float)
    squares = np.array([s for _, s in found], dtype=float)
    largest = lambda i: np.max(np.abs(X[:, i] + (mean[i] if np.isfinite(mean[i]) else 0)))  # noqa: E731
    scaling = _finish_scaling(mean, squares, n, names, largest)

    def divide(j: int) -> None:
        np.divide(X[:, j], scaling["scale"][j], out=X[:, j])

    _each(divide, range(X.shape[1]))
    return scaling


def _scale(X: np.ndarray, scaling: dict[str, list[float]]) -> None:
    """``X`` standardised in place, ``(x - mean) / scale``, a column at a time."""
    def scale(j: int) -> None:
        column = X[:, j]
        np.subtract(column, scaling["mean"][j], out=column)
        np.divide(column, scaling["scale"][j], out=column)

    _each(scale, range(X.shape[1]))
