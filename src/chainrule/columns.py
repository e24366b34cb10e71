"""A table's columns as NumPy arrays, whatever holds them, and what each column is.

:func:`column_names` and :func:`read_column` take a pandas ``DataFrame``, a ``pyarrow.Table``, a
dict of columns (lists or arrays) or a 2-D NumPy array (columns ``x1``, ``x2``, ... unless named),
and give one column at a time as a :class:`Column`: its ``kind`` and its values,

========  ====================================================================
kind      values
========  ====================================================================
number    float64, NaN where a cell is missing
integer   float64 of whole numbers (the table typed them as integers), NaN missing
boolean   float64 0/1, NaN missing (true/false cells, or the text of
          :data:`TRUE_WORDS` and :data:`FALSE_WORDS` in any case)
text      an object array of ``str``, ``None`` missing
date      float64 days since 1970-01-01 (times as fractions of a day), NaN missing
empty     every cell missing
========  ====================================================================

:func:`infer_role` then says what a feature column becomes (the rules are listed there). Nothing
here imports pandas or pyarrow: a table of theirs is read through its own methods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FALSE_WORDS", "MAX_CATEGORIES", "TRUE_WORDS", "Column", "booleans",
           "category_keys", "column_names", "infer_role", "n_rows", "read_column"]

TRUE_WORDS = frozenset({"true", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "f"})
#: The most distinct values a text column may have and still be one-hot encoded unasked.
MAX_CATEGORIES = 50
#: Fewer non-missing cells than this and no column is called an identifier for being distinct.
MIN_ROWS_FOR_IDENTIFIER = 20
_UNNAMED = re.compile(r"^Unnamed: \d+$")


@dataclass
class Column:
    """One column: ``kind`` (see the module's table) and ``values``."""

    kind: str
    values: np.ndarray
    text: np.ndarray | None = None  # the cells as written, for booleans read from text

    def __len__(self) -> int:
        return len(self.values)

    @property
    def missing(self) -> np.ndarray:
        if self.values.dtype == object:
            return np.fromiter((v is None for v in self.values), bool, len(self.values))
        return np.isnan(self.values)


def column_names(table: Any) -> list[str]:
    """The column names of a table (see the module's list of what a table may be)."""
    if isinstance(table, np.ndarray):
        if table.ndim != 2:
            raise ValueError(f"a table as a NumPy array must be 2-D, got shape {table.shape}")
        return [f"x{i + 1}" for i in range(table.shape[1])]
    if isinstance(table, dict):
        return [str(name) for name in table]
    if hasattr(table, "column_names"):  # pyarrow.Table
        return [str(name) for name in table.column_names]
    if hasattr(table, "columns") and hasattr(table, "dtypes"):  # pandas.DataFrame
        return [str(name) for name in table.columns]
    raise ValueError(f"a table must be a pandas DataFrame, a pyarrow Table, a dict of columns "
                     f"or a 2-D NumPy array, got {type(table).__name__}")


def n_rows(table: Any) -> int:
    if isinstance(table, np.ndarray):
        return table.shape[0]
    if isinstance(table, dict):
        lengths = {len(values) for values in table.values()}
        if len(lengths) > 1:
            raise ValueError(f"the columns of the dict have different lengths: {sorted(lengths)}")
        return lengths.pop() if lengths else 0
    if hasattr(table, "num_rows"):
        return int(table.num_rows)
    return len(table)


def read_column(table: Any, name: str, keep_text: bool = False) -> Column:
    """Column ``name`` of ``table`` as a :class:`Column`; ``keep_text`` keeps text of yes/no
    words as text (a target's labels as the table spells them)."""
    column = _read_column(table, name)
    if keep_text and column.kind == "boolean":
        text = column.text if column.text is not None else np.array(
            [None if v != v else str(bool(v)) for v in column.values.tolist()], dtype=object)
        return Column("text", text)
    return column


def _read_column(table: Any, name: str) -> Column:
    if isinstance(table, np.ndarray):
        index = column_names(table).index(name)
        return _from_array(np.asarray(table[:, index]))
    if isinstance(table, dict):
        # By its key when it is one: the encoding of a consumed table removes columns from the
        # dict on other threads meanwhile, and iterating over it then fails.
        values = table[name] if name in table else \
            table[next(k for k in list(table) if str(k) == name)]
        if isinstance(values, Column):  # read already (chainrule.tables.read_columns)
            return values
        if hasattr(values, "type") and hasattr(values, "cast"):  # a pyarrow (chunked) array
            return _from_arrow(values)
        if hasattr(values, "dtype") and hasattr(values, "to_numpy"):  # a pandas Series
            return _from_pandas(values)
        return _from_array(values) if isinstance(values, np.ndarray) else \
            _from_array(_list_array(list(values)))
    if hasattr(table, "column_names"):
        return _from_arrow(table.column(name))
    series = table[next(k for k in table.columns if str(k) == name)]
    return _from_pandas(series)


def _list_array(values: list) -> np.ndarray:
    array = np.asarray(values, dtype=object)
    kinds = {type(v) for v in values if v is not None}
    if kinds and all(issubclass(k, (int, float)) and not issubclass(k, bool) for k in kinds):
        return np.array([np.nan if v is None else v for v in values], dtype=float) \
            if float in kinds or None in values else np.array(values)
    return array


def _from_array(values: np.ndarray) -> Column:
    kind = values.dtype.kind
    if kind == "b":
        return Column("boolean", values.astype(np.float64))
    if kind in "iu":
        return Column("integer", values.astype(np.float64))
    if kind == "f":
        return _numbers(values.astype(np.float64, copy=False))
    if kind == "M":
        return _dates(values)
    if kind in "US":
        return _texts(values.astype(object))
    return _from_objects(values.astype(object, copy=False))


def _numbers(values: np.ndarray) -> Column:
    if np.isnan(values).all():
        return Column("empty", values)
    return Column("number", values)


def _dates(values: np.ndarray) -> Column:
    """Days since 1970-01-01, counted in the column's own unit (no overflow for 9999-12-31)."""
    unit, count = np.datetime_data(values.dtype)
    per_day = np.timedelta64(1, "D") / np.timedelta64(count, unit) if unit != "generic" else 1
    days = values.astype(np.int64) / per_day
    days[np.isnat(values)] = np.nan
    return Column("date", days)


def _texts(values: np.ndarray) -> Column:
    # An empty or blank cell is missing, as the file reader reads it.
    values = np.array([None if v is None or not str(v).strip() else str(v) for v in values],
                      dtype=object)
    present = [v for v in values if v is not None]
    if not present:
        return Column("empty", np.full(len(values), np.nan))
    words = {v.strip().lower() for v in set(present)}
    if words <= TRUE_WORDS | FALSE_WORDS:
        return Column("boolean", booleans(values), values)
    return Column("text", values)


def booleans(values: np.ndarray) -> np.ndarray:
    """Text cells of :data:`TRUE_WORDS`/:data:`FALSE_WORDS` as 1/0 (any other as NaN)."""
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if v is not None:
            word = str(v).strip().lower()
            out[i] = 1.0 if word in TRUE_WORDS else 0.0 if word in FALSE_WORDS else np.nan
    return out


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or \
        type(value).__name__ in ("NAType", "NaTType")


def _from_objects(values: np.ndarray) -> Column:
    cleaned = [None if _is_missing(v) else v for v in values]
    present = [v for v in cleaned if v is not None]
    if not present:
        return Column("empty", np.full(len(values), np.nan))
    if all(isinstance(v, (bool, np.bool_)) for v in present):
        return Column("boolean", np.array([np.nan if v is None else float(v) for v in cleaned]))
    if all(isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
           for v in present):
        numbers = np.array([np.nan if v is None else float(v) for v in cleaned])
        whole = all(isinstance(v, (int, np.integer)) for v in present)
        return Column("integer", numbers) if whole else _numbers(numbers)
    if all(hasattr(v, "year") and hasattr(v, "month") for v in present):  # dates, datetimes
        stamps = np.array([np.datetime64("NaT") if v is None else np.datetime64(v, "us")
                           for v in cleaned], dtype="datetime64[us]")
        return _dates(stamps)
    return _texts(np.array(cleaned, dtype=object))


def _from_arrow(column: Any) -> Column:
    import pyarrow as pa

    kind = column.type
    if pa.types.is_null(kind):
        return Column("empty", np.full(len(column), np.nan))
    if pa.types.is_boolean(kind):
        return Column("boolean", column.cast(pa.float64()).to_numpy())
    if pa.types.is_integer(kind):
        return Column("integer", column.cast(pa.float64()).to_numpy())
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return _numbers(column.cast(pa.float64()).to_numpy())
    if pa.types.is_temporal(kind) and not pa.types.is_duration(kind) \
            and not pa.types.is_time(kind):
        return _dates(column.to_numpy())
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
    return _texts(column.to_numpy(zero_copy_only=False))


def _from_pandas(series: Any) -> Column:
    kind = series.dtype.kind
    if str(series.dtype) == "category":
        return _from_objects(series.astype(object).to_numpy())
    if kind in "iuf" or (kind == "b" and not series.hasnans):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return Column({"b": "boolean", "f": "number"}.get(kind, "integer"), values) \
            if kind != "f" else _numbers(values)
    if kind == "M":
        values = series.to_numpy()
        return _dates(values if values.dtype.kind == "M" else
                      series.dt.tz_convert(None).to_numpy())
    return _from_objects(series.to_numpy(dtype=object))


def is_id_name(name: str) -> bool:
    """Whether a column is named like an identifier: ``id``, ``patient_id``, ``customerID``."""
    return name.strip().lower() in ("id", "uuid", "guid") or bool(
        re.search(r"[_\s.-](id|uuid|guid)$", name, re.IGNORECASE)
        or re.search(r"[a-z0-9](Id|ID)$", name))


def infer_role(name: str, column: Column, rows: np.ndarray | None = None) -> tuple[str, str]:
    """What a feature column becomes, and why: ``(role, reason)`` with role one of ``numeric``,
    ``boolean``, ``categorical``, ``date`` or ``dropped``. The rules, in order:

    1. every cell missing: dropped;
    2. an ``Unnamed: N`` column (an empty header cell) of distinct whole numbers: pandas' index
       column, dropped (in any order: a shuffled or split table keeps its old index);
    3. named like an identifier (``id``, ``*_id``, ``*Id``), or whole numbers all distinct over
       at least :data:`MIN_ROWS_FOR_IDENTIFIER` cells: an identifier, dropped;
    4. numbers: numeric; booleans: boolean (0/1); dates and times: date (days since 1970);
    5. text with at most :data:`MAX_CATEGORIES` distinct values, and at most half as many as it
       has cells: categorical (one-hot); other text is free text (mostly distinct values) or
       has too many categories: dropped.
    """
    if column.kind == "empty":
        return "dropped", "every cell is empty"
    if column.kind == "number" and is_id_name(name):  # pandas' floats for ids with a gap
        return "dropped", "an identifier (named like an id); --numeric or --categorical keeps it"
    if column.kind == "number" and not _UNNAMED.match(name):
        return "numeric", ""  # numbers typed as floats: counted as an identifier by name only
    distinct, present = _role_counts(column, rows)
    if present == 0:
        return "dropped", "every cell of the training rows is empty"
    all_distinct = distinct == present
    if column.kind == "integer" and all_distinct and _UNNAMED.match(name):
        return "dropped", "pandas' index column (an empty header over distinct whole numbers)"
    if column.kind in ("integer", "text") and is_id_name(name):
        return "dropped", "an identifier (named like an id); --numeric or --categorical keeps it"
    if column.kind == "integer" and all_distinct and present >= MIN_ROWS_FOR_IDENTIFIER:
        return "dropped", ("an identifier (every value a different whole number); --numeric "
                           "keeps it")
    if column.kind in ("number", "integer"):
        return "numeric", ""
    if column.kind in ("boolean", "date"):
        return column.kind, ""
    if distinct <= MAX_CATEGORIES and (distinct <= 2 or distinct <= present / 2):
        return "categorical", ""
    if distinct > present / 2:
        return "dropped", (f"free text ({distinct:,} different values in {present:,} cells); "
                           "--categorical one-hot encodes it")
    return "dropped", (f"{distinct:,} categories, more than {MAX_CATEGORIES}; --categorical "
                       "one-hot encodes it")


def _missing_count(kind: str, values: np.ndarray) -> int:
    if values.dtype == object:
        return sum(v is None for v in values)
    return int(np.isnan(values).sum())


def _distinct_count(kind: str, values: np.ndarray) -> int:
    if values.dtype == object:
        return len({v for v in values if v is not None})
    finite = values[~np.isnan(values)]
    return int(len(np.unique(finite)))


def category_keys(column: Column) -> np.ndarray:
    """A column's cells as the text its categories are kept as (``None`` missing): text as it
    is, numbers as they print (``3`` for 3.0)."""
    if column.values.dtype == object:
        return column.values
    out = np.empty(len(column.values), dtype=object)
    for i, v in enumerate(column.values.tolist()):
        out[i] = None if v != v else (str(int(v)) if v == int(v) and abs(v) < 2**53
                                      else repr(v))
    return out


# ---------------------------------------------------------------------------- partial statistics
# What the rules above need of a column, counted on a block of rows and added up block by block
# (the Dask path), or on a whole table at once (Preparation.fit): one definition for both.
@dataclass
class ColumnStats:
    """One column's statistics: over every row ``cells``, ``missing``, ``first_missing`` (its
    row, from 0) and ``first_value`` (the first present cell); over the rows fitted on
    ``present``, ``absent`` and, where counted, the sorted different present values
    ``distinct`` (a list of text, or an array of numbers) and their number ``n_distinct``
    (both ``None`` past ``keep`` of them, with a ``sample`` of them instead). ``first_fraction``
    (a target's first number that is no class label) and ``first_unreadable`` (a ``--numeric``
    column's first cell that is no number) are ``(row, value)``. :func:`infer_role` takes it
    for a column."""

    kind: str
    cells: int = 0
    missing: int = 0
    first_missing: int | None = None
    first_value: Any = None
    present: int = 0
    absent: int = 0
    distinct: Any = None
    n_distinct: int | None = None
    sample: Any = None
    first_fraction: tuple | None = None
    first_unreadable: tuple | None = None


def column_stats(column: Column, rows: np.ndarray | None = None, distinct: bool = False,
                 keep: int | None = None) -> ColumnStats:
    """:class:`ColumnStats` of ``column``, fitted on ``rows`` (indices or a mask; default all);
    ``distinct``: count the different values, keeping at most ``keep`` (default: all)."""
    missing = column.missing
    stats = ColumnStats(column.kind, len(missing), int(missing.sum()))
    if stats.missing:
        stats.first_missing = int(np.argmax(missing))
    if stats.missing < stats.cells:
        first = column.values[int(np.argmin(missing))]
        stats.first_value = first if isinstance(first, str) else float(first)
    fitted = column.values if rows is None else column.values[rows]
    gone = missing if rows is None else missing[rows]
    stats.absent = int(gone.sum())
    stats.present = len(gone) - stats.absent
    if distinct:
        values = fitted[~gone]
        _keep_distinct(stats, sorted(set(values.tolist())) if values.dtype == object
                       else np.unique(values), keep)
    return stats


def merge_stats(a: ColumnStats, b: ColumnStats, keep: int | None = None) -> ColumnStats:
    """The statistics of ``a``'s rows followed by ``b``'s."""
    def first(mine: Any, theirs: Any) -> Any:  # a row (or (row, value)): b's rows come after
        if mine is not None or theirs is None:
            return mine
        return theirs + a.cells if isinstance(theirs, int) else (theirs[0] + a.cells, theirs[1])

    out = ColumnStats(a.kind if a.kind != "empty" else b.kind, a.cells + b.cells,
                      a.missing + b.missing, first(a.first_missing, b.first_missing),
                      a.first_value if a.first_value is not None else b.first_value,
                      a.present + b.present, a.absent + b.absent,
                      first_fraction=first(a.first_fraction, b.first_fraction),
                      first_unreadable=first(a.first_unreadable, b.first_unreadable))
    if a.n_distinct is not None and b.n_distinct is not None:
        _keep_distinct(out, sorted(set(a.distinct) | set(b.distinct))
                       if isinstance(a.distinct, list) else np.union1d(a.distinct, b.distinct),
                       keep)
    elif a.sample is not None or b.sample is not None:  # counted, but too many to keep
        samples = [s.sample if s.sample is not None else _sample(s.distinct) for s in (a, b)
                   if s.sample is not None or s.n_distinct is not None]
        out.sample = sum(samples, []) if isinstance(samples[0], list) else \
            np.concatenate(samples)
    return out


def _keep_distinct(stats: ColumnStats, different: Any, keep: int | None) -> None:
    if keep is None or len(different) <= keep:
        stats.distinct, stats.n_distinct = different, len(different)
    else:
        stats.sample = _sample(different)


def _sample(different: Any, size: int = 32) -> Any:
    """Evenly spaced values of sorted ``different``: where a range of them may be cut."""
    picks = np.unique(np.linspace(0, len(different) - 1, min(size, len(different))).astype(int))
    return [different[i] for i in picks] if isinstance(different, list) else different[picks]


def _role_counts(column: Column | ColumnStats, rows: np.ndarray | None
                 ) -> tuple[int | None, int]:
    """:func:`infer_role`'s counts of the training rows: different present values, and present
    cells."""
    if isinstance(column, ColumnStats):
        return column.n_distinct, column.present
    values = column.values if rows is None else column.values[rows]
    return _distinct_count(column.kind, values), int(len(values) -
                                                     _missing_count(column.kind, values))


def as_kind(column: Column, kind: str) -> Column:
    """``column`` as a column of ``kind`` where a block of rows read alone came out otherwise:
    text whose block holds only yes/no words or no cell, numbers of a block with no cell."""
    if column.kind == kind:
        return column
    if kind == "text" and column.text is not None:
        return Column("text", column.text)
    if column.kind == "empty":
        return Column(kind, np.full(len(column.values), None if kind == "text" else np.nan,
                                    dtype=object if kind == "text" else float))
    return column
