"""The rules of a table's preparation, written once on a column's statistics: the options
(``target``, ``task``, ``numeric``, ``categorical``, ``drop``, ``on_missing``), the target's task
and labels, each feature column's role, encoding and missing cells, and the features they make.

:class:`PreparationRules` holds them; :class:`chainrule.features.Preparation` fits them on a
whole table, and :meth:`PreparationRules.fit_partials` on statistics added up over blocks of
rows (the Dask path, :mod:`chainrule.distributed_table`). :func:`target_stats` and
:meth:`PreparationRules.feature_stats` are what both count of a column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .columns import (
    Column,
    ColumnStats,
    as_kind,
    booleans,
    category_keys,
    column_stats,
    infer_role,
)

__all__ = ["LARGEST_LABEL", "MAX_AUTO_CLASSES", "DataError", "PreparationRules", "target_stats"]

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



class PreparationRules:
    """A preparation's options and the rules they set (see the module).

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

    # ------------------------------------------------------------------ the rules, on statistics
    # fit() and fit_partials() (the Dask path, statistics added up over blocks of rows) both go
    # through these: the rules are written once, on a column's ColumnStats.
    def fit_partials(self, names: list[str], target: ColumnStats,
                     columns: dict[str, ColumnStats],
                     medians: Callable[[list[dict[str, Any]]], dict[str, float]],
                     moments: Callable[[PreparationRules], tuple]) -> PreparationRules:
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


# ---------------------------------------------------------------------------- statistics
def target_stats(text: Column, column: Column, keep: int | None = None,
                 classes: bool = True) -> ColumnStats:
    """What the rules need of the target over every row: ``text`` is the target read with its
    labels as text, ``column`` as read (see :func:`chainrule.columns.column_stats` for
    ``keep``). ``classes=False`` (a regression target) counts no different values and looks
    for no fraction."""
    text, column = (c if c.values.ndim == 1 else Column(c.kind, c.values.reshape(-1))
                    for c in (text, column))
    numbers = text.kind != "text" and column.kind not in ("empty", "date")
    fraction = _first_fraction(column.values) if numbers and (classes or keep is not None) \
        else None
    stats = column_stats(column if numbers else text, keep=keep,
                         distinct=not numbers or (classes and fraction is None) or keep is not None)
    stats.kind = text.kind if text.kind == "text" else column.kind
    stats.first_fraction = fraction
    return stats


def _first_fraction(values: np.ndarray) -> tuple[int, float] | None:
    """The first number that is no class label (a fraction, or past 2**53), and its row."""
    with np.errstate(invalid="ignore"):
        wrong = ((values != np.rint(values)) | (np.abs(values) > LARGEST_LABEL)) & \
            ~np.isnan(values)
    if wrong.any():
        row = int(np.argmax(wrong))
        return row, float(values[row])
    return None


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
