"""``chainrule train --sample-weight COL`` and ``--class-weight balanced``: one weight per
training row.

``--sample-weight COL`` names a column of the table that weighs each row (it is dropped from
the features: a weight is not an input); its values for the training rows (held-out and
validation rows taken out, as :func:`chainrule.preparation.prepare` takes them) must be finite
numbers >= 0, not all zero. ``--class-weight balanced`` weighs each class ``n / (n_classes *
count)`` over the training rows (scikit-learn's ``"balanced"``); both together multiply.

The validation rows are weighed the same way (the column's values on them, each class's
weight from the training rows' counts), so that the validation loss early stopping watches is
the weighted mean the training minimises, as the estimators do with ``validation_data``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from .arguments import UsageError

__all__ = ["add_weight_options", "check_weight_options", "row_weights"]


def add_weight_options(parser) -> None:
    parser.add_argument("--sample-weight", metavar="COL",
                        help="a column of the table weighing each row in the loss (the "
                             "weighted mean); not a feature")
    parser.add_argument("--class-weight", choices=["balanced"],
                        help="balanced: each class weighs n / (n_classes * count) of the "
                             "training rows (classification)")


def check_weight_options(args) -> None:
    """Before any data is read: ``--sample-weight`` needs a table, and is not a feature."""
    column = getattr(args, "sample_weight", None)
    if column is None:
        return
    if not args.data:
        raise UsageError("--sample-weight names a column of a table file; a built-in dataset "
                         "has none")
    names = _column_names(args.data)
    if names is not None and column not in names:
        raise UsageError(f"--sample-weight: {args.data} has no column {column!r} (columns: "
                         f"{', '.join(names[:20])}{', ...' if len(names) > 20 else ''})")
    target = args.target if args.target is not None or not names else names[-1]  # the last
    if column == target:
        raise UsageError(f"--sample-weight {column!r} is the target column")
    if column not in args.drop:
        args.drop = [*args.drop, column]


def _column_names(path: str) -> list[str] | None:
    """The table's column names, read from its header (a CSV; a glob's first file) or schema
    (Parquet); ``None`` when ``path`` names no file (reading the data will say so)."""
    import glob
    import os

    from ..tables import _parquet_columns, _parquet_dataset, _pyarrow, is_parquet, read_header

    if is_parquet(path):
        return _parquet_columns(_parquet_dataset(_pyarrow(), path))
    if not os.path.isfile(path):
        files = sorted(glob.glob(path))
        if not files or not os.path.isfile(files[0]):
            return None
        path = files[0]
        if is_parquet(path):
            return _parquet_columns(_parquet_dataset(_pyarrow(), path))
    return read_header(path)[0]


def row_weights(args, data: Any) -> tuple[Any, np.ndarray | None]:
    """The weight of each training row (``data.X_train``'s order) and of each validation row
    (``data.validation``'s), ``None`` for each without weights."""
    weights = validation = None
    if getattr(args, "sample_weight", None) is not None:
        weights, validation = _column_weights(args, data)
    if getattr(args, "class_weight", None) == "balanced":
        if data.task != "classification":
            raise UsageError("--class-weight is for classification")
        by_class = _class_weights(data.Y_train)
        weights = _per_row(data.Y_train, by_class, weights)
        if data.validation is not None:
            validation = _per_row(data.validation[1], by_class, validation)
    return weights, validation


def _class_weights(Y: Any) -> np.ndarray:
    """Each class's ``n / (n_classes * count)`` over ``Y``'s rows, counting the classes present
    (0 for one absent); ``Y`` holds one-hot rows (or 0/1 in one column), in this process or as
    a Dask array on the cluster (the counts are computed there; each row's weight, made by
    :func:`_per_row`, stays in ``Y``'s row-blocks)."""
    if Y.shape[1] == 1:
        Y = _stack(Y)
    counts = Y.sum(axis=0)
    counts = np.asarray(counts.compute() if hasattr(counts, "compute") else counts, dtype=float)
    present = counts > 0
    by_class = np.zeros_like(counts)
    by_class[present] = counts.sum() / (present.sum() * counts[present])
    return by_class


def _per_row(Y: Any, by_class: np.ndarray, weights: Any) -> Any:
    """Each row's class weight (one-hot rows: exactly their class's), times ``weights``."""
    rows = (_stack(Y) if Y.shape[1] == 1 else Y) @ by_class
    return rows if weights is None else weights * rows


def _stack(Y: Any) -> Any:
    module = np if isinstance(Y, np.ndarray) else __import__("dask.array").array
    return module.concatenate([1.0 - Y, Y], axis=1)


def _column_weights(args, data: Any) -> tuple[Any, np.ndarray | None]:
    """The column's values on the training rows and on the validation rows (``None`` without
    any): the rows with a target, split as :func:`chainrule.preparation.prepare` splits them
    (held-out, then validation rows)."""
    from ..losses import check_sample_weight
    from ..preparation import split
    from ..tables import read_columns

    column, prep = args.sample_weight, data.preparation
    if not isinstance(data.held_out, tuple):  # prepared on a Dask cluster: read there
        from ..distributed_run import cluster_weights
        return cluster_weights(data, column), (
            None if data.validation is None else cluster_weights(data, column, part=1))
    table = read_columns(args.data, [column, prep.target_name])
    rows = copy.deepcopy(prep).rows_with_target(table)
    if args.test_split:
        kept, _ = split(len(rows), args.test_split, args.split_seed)
        rows = rows[kept]
    validation_rows = None
    if args.validation_split:
        kept, held = split(len(rows), args.validation_split, args.split_seed)
        rows, validation_rows = rows[kept], rows[held]
    values = _numbers(table[column], column)
    found = []
    for these, part in ((rows, ""), (validation_rows, " (validation rows)")):
        if these is None:
            found.append(None)
            continue
        name = f"--sample-weight column {column!r}"
        try:
            found.append(check_sample_weight(values[these], len(these), np.float64, name))
        except ValueError as exc:
            raise UsageError(_at_file_row(str(exc), name, args.data, these) + part) from None
    return found[0], found[1]


def _at_file_row(message: str, name: str, path: str, rows: np.ndarray) -> str:
    """``check_sample_weight``'s message with the weight's place among the training rows
    (``name[i]``, shuffled by the splits) turned into the file's row, as other messages name
    it: ``--sample-weight column 'w': row 7 of t.csv is -2: ...``."""
    prefix = f"{name}["
    if not message.startswith(prefix) or "]" not in message:
        return message  # about the whole column (every weight zero): no row to name
    index, rest = message[len(prefix):].split("]", 1)
    from ..tables import row_label

    return f"{name}: {row_label(path)(int(rows[int(index)]))} of {path}{rest}"


def _numbers(values: Any, column: str) -> np.ndarray:
    """A column read for training (a numeric :class:`~chainrule.columns.Column`, or a pyarrow
    array) as float64, missing cells NaN."""
    numbers = getattr(values, "values", None)
    if isinstance(numbers, np.ndarray) and getattr(values, "text", None) is None:
        return numbers.astype(np.float64, copy=False)
    try:
        if hasattr(values, "to_numpy"):
            values = values.to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise UsageError(f"--sample-weight column {column!r} must hold numbers") from None
