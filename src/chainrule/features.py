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

from collections.abc import Callable
from typing import Any

import numpy as np

from .columns import (
    FALSE_WORDS,
    TRUE_WORDS,
    Column,
    ColumnStats,
    as_kind,
    booleans,
    category_keys,
    check_stored_columns,
    column_names,
    column_stats,
    infer_role,
    n_rows,
    read_column,
)

__all__ = ["LARGEST_LABEL", "MAX_AUTO_CLASSES", "DataError", "Preparation"]

#: The most distinct whole-number targets a table's target may have and still be read as
#: classes when no task is given, and the largest class label that converts to an integer exactly.
MAX_AUTO_CLASSES = 50
LARGEST_LABEL = 2**53


class DataError(ValueError):
    """The data cannot be trained on as asked; the message says where and why."""


def _names(option: Any) -> list[str]:
    if option is None:
        return []
    if isinstance(option, str):
        return [name.strip() for name in option.split(",") if name.strip()]
    return [str(name) for name in option]


class Preparation:
    """Columns to features, fitted once and applied to any later table (see the module).

    ``target`` names the target column (default: the last; ``None`` with ``y`` given to
    :meth:`fit` when the table holds features only). ``task`` is ``classification`` or
    ``regression`` (default: text and booleans are classes, and so are whole numbers with at
    most :data:`MAX_AUTO_CLASSES` distinct values). ``numeric``, ``categorical`` and ``drop``
    are column names (a list, or one comma-separated string) whose role is given, not inferred.
    """

    def __init__(self, target: str | None = None, *, task: str | None = None,
                 numeric: Any = (), categorical: Any = (), drop: Any = (),
                 on_missing: str = "fill", standardize: bool = True) -> None:
        if task not in (None, "classification", "regression"):
            raise ValueError(f"task must be classification or regression, got {task!r}")
        if on_missing not in ("fill", "refuse"):
            raise ValueError(f"on_missing must be fill or refuse, got {on_missing!r}")
        self.target, self.task, self.on_missing = target, task, on_missing
        self.numeric, self.categorical = _names(numeric), _names(categorical)
        self.drop, self.standardize = _names(drop), standardize
        twice = set(self.numeric) & set(self.categorical) | \
            (set(self.numeric) | set(self.categorical)) & set(self.drop)
        if twice:
            raise ValueError(f"column {sorted(twice)[0]!r} is given two roles")
        self.columns: list[dict[str, Any]] = []
        self.classes: list = []
        self.target_name: str | None = None
        self.target_kind = "number"
        self.scaling: dict[str, list[float]] | None = None
        self.target_scaling: dict[str, list[float]] | None = None
        self.rows_without_target = 0
        self.unseen: dict[str, int] = {}  # the last transform's cells of unseen categories
        #: Names data row ``r`` (from 0) in messages; a file's reader names its line instead.
        self.row_label: Any = lambda row: f"data row {row + 1}"

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
        if rows is None:
            rows = np.flatnonzero(has_target)
        self.columns = []
        for name in names:
            if name == self.target_name and y is None:
                self.columns.append({"name": name, "role": "target", "kind": text_target.kind})
                continue
            self.columns.append(self._fit_column(name, read_column(table, name), rows))
        self._check_features()
        self.scaling = None
        if self.task == "regression" and self.standardize:
            values = self.target_values(target_column)[rows]
            self.target_scaling = _fit_scaling(values, None, [self.target_name])
        return self._fit_scaling(table, rows, consume)

    def _fit_scaling(self, table: Any, rows: np.ndarray, consume: bool) -> np.ndarray:
        """The features of every row, and the scaling fitted on ``rows`` applied to them."""
        X = self.encode(table, consume)
        if self.standardize:
            every = len(rows) == len(X) and bool(np.all(np.diff(rows) > 0))  # all, in order
            self.scaling = _fit_scaling(X, None if every else rows, self.feature_names)
            X -= np.asarray(self.scaling["mean"])
            X /= np.asarray(self.scaling["scale"])
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
        self._fit_target_stats(target_stats(text, column))
        return ~text.missing

    def _fit_column(self, name: str, column: Column, rows: np.ndarray) -> dict[str, Any]:
        spec = self._column_spec(name, self.feature_stats(name, column, rows))
        if "fill" in spec:
            values = _numeric_values(spec, column)[rows]
            present = values[~np.isnan(values)]
            if present.size:
                spec["fill"] = float(np.median(present))
        return spec

    # ------------------------------------------------------------------ applying
    @property
    def feature_names(self) -> list[str]:
        """The names of the features, in order: a column's own name, ``name (missing)`` for
        its missing indicator, ``name=category`` for each one-hot category."""
        names: list[str] = []
        for spec in self.columns:
            if spec["role"] == "categorical":
                names += [f"{spec['name']}={c}" for c in spec["categories"]]
                if spec["missing_category"]:
                    names.append(f"{spec['name']}=(missing)")
            elif spec["role"] in ("numeric", "boolean", "date"):
                names.append(spec["name"])
                if spec["indicator"]:
                    names.append(f"{spec['name']} (missing)")
        return names

    @property
    def used_columns(self) -> list[str]:
        """The columns a table must have for :meth:`transform` (the target not among them)."""
        return [spec["name"] for spec in self.columns
                if spec["role"] not in ("dropped", "target")]

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
        at, self.unseen = 0, {}
        for spec in self.columns:
            if spec["role"] in ("dropped", "target"):
                if consume and isinstance(table, dict):
                    table.pop(spec["name"], None)
                continue
            column = read_column(table, spec["name"])
            if consume and isinstance(table, dict):
                table.pop(spec["name"])
            at = self._encode_column(spec, column, X, at)
        return X

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
            X -= np.asarray(self.scaling["mean"])
            X /= np.asarray(self.scaling["scale"])
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

    # ------------------------------------------------------------------ the rules, on statistics
    # fit() and fit_partials() (the Dask path, statistics added up over blocks of rows) both go
    # through these: the rules are written once, on a column's ColumnStats.
    def fit_partials(self, names: list[str], target: ColumnStats,
                     columns: dict[str, ColumnStats],
                     medians: Callable[[list[dict[str, Any]]], dict[str, float]],
                     moments: Callable[[Preparation], tuple]) -> Preparation:
        """Fit from statistics of a table's blocks of rows added up (the Dask path,
        :mod:`chainrule.distributed_table`), by the rules :meth:`fit` follows on a whole table.
        ``names``: the table's columns; ``target``: :func:`target_stats` of the target over
        every row; ``columns``: :meth:`feature_stats` of each other column (fitted on the rows
        to fit on); ``medians(specs)``: the median of the present cells to fit on of each
        numeric, boolean or date column (by name; none where no cell is present);
        ``moments(self)``: ``(features, target)`` over the rows to fit on, each ``(rows, mean,
        squared deviations from the mean, largest absolute value)`` of every column after
        encoding (``target``: only for regression)."""
        self.check_names(names)
        self._fit_target_stats(target)
        self.columns = [{"name": name, "role": "target", "kind": target.kind}
                        if name == self.target_name else self._column_spec(name, columns[name])
                        for name in names]
        self._check_features()
        numeric = [spec for spec in self.columns if "fill" in spec]
        found = medians(numeric)
        for spec in numeric:
            if spec["name"] in found:
                spec["fill"] = float(found[spec["name"]])
        self.scaling = None
        if self.standardize:
            features, values = moments(self)
            self.scaling = _finish_scaling(*features[1:3], features[0], self.feature_names,
                                           lambda i: features[3][i])
            if self.task == "regression":
                self.target_scaling = _finish_scaling(*values[1:3], values[0],
                                                      [self.target_name], lambda i: values[3][i])
        return self

    def check_names(self, names: list[str]) -> str:
        """Refuse options that name no column of ``names``; the target's name."""
        self._check_options(names)
        return self._choose_target(names)

    def feature_stats(self, name: str, column: Column, rows: Any,
                      keep: int | None = None) -> ColumnStats:
        """What the rules need of feature column ``name``, fitted on ``rows`` (indices or a
        mask; see :func:`chainrule.columns.column_stats` for ``keep``)."""
        stats = column_stats(column, rows, column.kind in ("integer", "text")
                             or name in self.categorical, keep)
        if name in self.numeric:
            numbers = _numeric_values({"role": "numeric", "kind": column.kind}, column)
            bad = np.flatnonzero(np.isnan(numbers) & ~column.missing)
            if bad.size:
                stats.first_unreadable = (int(bad[0]), column.values[bad[0]])
        return stats

    def _check_options(self, names: list[str]) -> None:
        for option, given in (("numeric", self.numeric), ("categorical", self.categorical),
                              ("drop", self.drop)):
            unknown = [name for name in given if name not in names]
            if unknown:
                raise DataError(f"--{option}: no column {unknown[0]!r} (columns: "
                                f"{', '.join(names)})")

    def _choose_target(self, names: list[str]) -> str:
        if not names:
            raise DataError("the table has no columns")
        target = self.target if self.target is not None else names[-1]
        if target not in names:
            raise DataError(f"no target column {target!r} (columns: {', '.join(names)})")
        if target in self.numeric + self.categorical + self.drop:
            raise DataError(f"column {target!r} is the target; it cannot also be a feature "
                            "or dropped")
        self.target_name = target
        return target

    def _check_features(self) -> None:
        if not self.feature_names:
            raise DataError("no usable feature column: " + "; ".join(
                f"{c['name']!r} {c.get('reason', 'is the target')}" for c in self.columns
                if c["role"] in ("dropped", "target")))

    def _fit_target_stats(self, s: ColumnStats) -> None:
        """The task, labels and kind of the target, from :func:`target_stats`."""
        name = self.target_name
        if s.present == 0:
            raise DataError(f"column {name!r}: the target has no values")
        self.rows_without_target = s.missing
        task = self.task
        if s.kind == "text":
            if task == "regression":
                raise DataError(f"column {name!r}: {s.first_value!r} is not a number; a "
                                "regression target must hold numbers")
            if s.n_distinct > MAX_AUTO_CLASSES and s.n_distinct > s.present / 2:
                raise DataError(f"column {name!r} is free text ({s.n_distinct:,} different "
                                f"values in {s.present:,} rows), not a target; choose another "
                                "with --target")
            self.task, self.classes, self.target_kind = "classification", _labels(name, s), \
                "text"
        elif s.kind in ("empty", "date"):
            raise DataError(f"column {name!r} holds {s.kind} values, not a target")
        else:
            whole = s.first_fraction is None
            if task is None:
                task = "classification" if s.kind == "boolean" or (
                    whole and s.n_distinct <= MAX_AUTO_CLASSES) else "regression"
            if task == "classification":
                if not whole:
                    row, value = s.first_fraction
                    raise DataError(f"{self.row_label(row)}, column {name!r}: {value:g} is not a "
                                    "class label (whole numbers up to 2**53); use --task "
                                    "regression")
                self.classes = [int(v) for v in _labels(name, s)]
            self.task, self.target_kind = task, s.kind
        if self.task == "classification" and len(self.classes) < 2:
            raise DataError(f"column {name!r}: the target has a single class "
                            f"({self.classes[0]!r}); there is nothing to learn")

    def _column_spec(self, name: str, stats: ColumnStats) -> dict[str, Any]:
        """A feature column's role, categories and missing cells, from :meth:`feature_stats`;
        a numeric, boolean or date column's ``fill`` (the median of its present cells to fit
        on) is left 0 for the caller to set, where there is a present cell."""
        spec: dict[str, Any] = {"name": name, "kind": stats.kind}
        if name in self.drop:
            return spec | {"role": "dropped", "reason": "asked (--drop)"}
        if name in self.categorical:
            role, reason = "categorical", ""
        elif name in self.numeric:
            if stats.first_unreadable is not None:
                row, value = stats.first_unreadable
                raise DataError(f"{self.row_label(row)}, column {name!r}: {value!r} is not a "
                                "number")
            role, reason = ("numeric" if stats.kind != "empty" else "dropped"), ""
        else:
            role, reason = infer_role(name, stats)  # type: ignore[arg-type]
        spec["role"] = role
        if role == "dropped":
            return spec | {"reason": reason or "every cell is empty"}
        if self.on_missing == "refuse" and stats.missing:  # only the cells that are used
            raise DataError(f"{self.row_label(stats.first_missing)}, column {name!r}: the cell "
                            "is empty (--on-missing fill fills it)")
        spec["filled"] = stats.missing
        if role == "categorical":
            values = np.asarray(_labels(name, stats), dtype=None if stats.kind != "text"
                                else object)
            spec["categories"] = sorted({k for k in category_keys(Column(stats.kind, values))
                                         if k is not None})
            spec["missing_category"] = stats.absent > 0
            return spec
        spec["fill"] = 0.0
        spec["indicator"] = stats.absent > 0
        return spec


def _numeric_values(spec: dict[str, Any], column: Column) -> np.ndarray:
    """A numeric, boolean or date column's cells as numbers (NaN missing or unreadable)."""
    column = _as_kind(spec, column)
    if column.values.dtype == object:  # text where numbers were trained: read them
        return np.array([_to_float(v) for v in column.values])
    return column.values


def _as_kind(spec: dict[str, Any], column: Column) -> Column:
    """A later table's column read as its training kind where the reader typed it otherwise."""
    column = as_kind(column, spec["kind"])  # text of only yes/no words, or no cell at all
    if spec["role"] == "boolean" and column.values.dtype == object:
        return Column("boolean", booleans(column.values))
    return column


def _to_float(value: Any) -> float:
    try:
        return float(value) if value is not None else np.nan
    except ValueError:
        return np.nan


def _target_array(y: Any, n: int) -> Column:
    values = np.asarray(y)
    if len(values) != n:
        raise DataError(f"y has {len(values)} rows but the table {n}")
    if values.dtype.kind in "iub":
        return Column("integer", values.astype(np.float64))
    if values.dtype.kind == "f":
        return Column("number", values.astype(np.float64))
    return read_column({"y": values}, "y", keep_text=True)


def _fit_scaling(X: np.ndarray, rows: np.ndarray | None, names: list[str]
                 ) -> dict[str, list[float]]:
    """The mean and standard deviation of each column of ``X[rows]`` (two passes: the mean,
    then the squared deviations from it), a column at a time."""
    n = len(X) if rows is None else len(rows)
    if n == 0:
        raise DataError("no rows to fit the preparation on")
    mean, squares = np.zeros(X.shape[1]), np.zeros(X.shape[1])
    with np.errstate(over="ignore", invalid="ignore"):
        for j in range(X.shape[1]):
            column = X[:, j] if rows is None else X[rows, j]
            mean[j] = column.mean()
            deviation = column - mean[j]
            squares[j] = deviation @ deviation
    return _finish_scaling(mean, squares, n, names,
                           lambda i: np.max(np.abs(X[:, i])))


# ---------------------------------------------------------------------------- statistics
def target_stats(text: Column, column: Column, keep: int | None = None) -> ColumnStats:
    """What the rules need of the target over every row: ``text`` is the target read with its
    labels as text, ``column`` as read (see :func:`chainrule.columns.column_stats` for
    ``keep``)."""
    text, column = (c if c.values.ndim == 1 else Column(c.kind, c.values.reshape(-1))
                    for c in (text, column))
    numbers = text.kind != "text" and column.kind not in ("empty", "date")
    stats = column_stats(column if numbers else text, distinct=True, keep=keep)
    stats.kind = text.kind if text.kind == "text" else column.kind
    if numbers:
        values = column.values
        with np.errstate(invalid="ignore"):
            wrong = ((values != np.round(values)) | (np.abs(values) > LARGEST_LABEL)) & \
                ~np.isnan(values)
        if wrong.any():
            row = int(np.argmax(wrong))
            stats.first_fraction = (row, float(values[row]))
    return stats


def _labels(name: str, stats: ColumnStats) -> Any:
    if stats.distinct is None:  # only counted, not kept (the Dask path)
        raise DataError(f"column {name!r}: {stats.n_distinct:,} different values, too many "
                        "to keep as classes or categories")
    return stats.distinct


def _finish_scaling(mean: np.ndarray, squares: np.ndarray, n: int, names: list[str],
                    largest: Callable[[int], float]) -> dict[str, list[float]]:
    """The scaling from the ``mean`` and summed squared deviations of ``n`` rows; ``largest(i)``
    the largest absolute value of column ``i``, for the message of one too large."""
    with np.errstate(over="ignore", invalid="ignore"):
        scale = np.sqrt(np.asarray(squares) / n)
    mean = np.asarray(mean, dtype=float)
    unusable = np.flatnonzero(~(np.isfinite(mean) & np.isfinite(scale)))
    if unusable.size:
        column = names[unusable[0]] if unusable[0] < len(names) else unusable[0]
        raise DataError(f"column {column!r}: values too large to standardise (up to "
                        f"{largest(int(unusable[0])):g}); rescale the column")
    scale[scale == 0] = 1.0
    return {"mean": mean.tolist(), "scale": scale.tolist()}
