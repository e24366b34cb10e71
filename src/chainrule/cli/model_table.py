"""What ``chainrule predict`` and ``chainrule evaluate`` share: a model's own preparation applied
to a table, block by block, in bounded memory whatever the file's size.

Every problem is one ``ValueError`` naming the file and, for a cell, its row: a column the model
needs and the table lacks, a cell the preparation cannot read, a feature the model's scaling
turns into an infinity (a hand-edited scale, or a value far outside the training data's), an
output that is not finite.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import first_non_finite
from ..features import DataError

if TYPE_CHECKING:  # pragma: no cover
    from ..features import Preparation
    from ..network import Network

__all__ = ["DataError", "check_outputs", "count_unseen", "model_blocks", "warn_unseen"]


def model_blocks(args, need_target: bool):
    """The model and its preparation, then ``(X, Y)`` for each block of the table (``Y`` None
    unless asked for): a file of any size goes through in bounded memory. Columns are matched
    by name, in any order; columns the model does not use are never parsed."""
    from ..features import Preparation
    from ..network import load
    from ..tables import iter_batches, row_label

    net = load(args.model)
    prep = Preparation.from_metadata(net.metadata, net.n_inputs)
    if not net.metadata.get("feature_names"):  # a model without column names: by position
        header = next(iter_batches(args.data, []))
        if len(header) not in (net.n_inputs, net.n_inputs + 1):
            raise ValueError(f"{args.data}: has {len(header)} columns, the model {args.model} "
                             f"takes {net.n_inputs} inputs")
        for spec, name in zip(prep.columns, header):
            spec["name"] = name
        prep.target_name = prep.target_name or (header[-1] if len(header) > net.n_inputs
                                                else None)
    wanted = list(prep.used_columns)
    if need_target:
        if prep.target_name is None:
            raise ValueError(f"{args.data}: the model {args.model} names no target column")
        wanted.append(prep.target_name)
    blocks = iter_batches(args.data, wanted, _column_types(prep, wanted))
    try:
        next(blocks)  # the header: every wanted column is there (or a one-line error)
    except ValueError as exc:
        raise ValueError(str(exc).replace("lacks the column(s)",
                                          "lacks the model's feature column(s)")) from None
    yield net, prep
    rows = 0
    for table in blocks:
        prep.row_label = row_label(args.data, rows)
        rows += table.num_rows
        try:
            with np.errstate(all="ignore"):
                X = prep.transform(table)
            _check_features(prep, X)
            Y = None
            if need_target:
                Y, present = _targets_for_model(net, prep, table)
                if not present.all():
                    X, Y = X[present], Y[present]
                    prep.unseen["(rows without a target, not scored)"] = int((~present).sum())
        except DataError as exc:
            raise ValueError(f"{args.data}: {exc}") from None
        yield X, Y
    if rows == 0:
        raise ValueError(f"{args.data}: only a header, no data rows")


def _check_features(prep: Preparation, X: np.ndarray) -> None:
    """A feature the model's scaling makes infinite is refused, naming its row and column."""
    bad = first_non_finite(X) if len(X) else None
    if bad is None:
        return
    row, column = bad
    name = prep.feature_names[column] if column < len(prep.feature_names) else str(column)
    scaling = prep.scaling or {}
    how = ""
    if scaling:
        how = (f" (the model's scaling of it: mean {scaling['mean'][column]:g}, scale "
               f"{scaling['scale'][column]:g})")
    raise DataError(f"{prep.row_label(row)}, column {name!r}: the value, scaled as the model "
                    f"was trained, is not a finite number{how}")


def check_outputs(prep: Preparation, values: np.ndarray) -> None:
    bad = first_non_finite(values) if len(values) else None
    if bad is not None:
        raise DataError(f"{prep.row_label(bad[0])}: the model's output is not a finite number "
                        "(the row's values lie far outside those it was trained on, or the "
                        "model's scaling was edited)")


def _column_types(prep: Preparation, columns: list[str]) -> dict[str, Any]:
    """The pyarrow type each column is read as: numbers as float64, dates as timestamps, the
    rest as text; the preparation reads them as it did in training."""
    import pyarrow as pa

    kinds = {spec["name"]: spec for spec in prep.columns}
    types = {}
    for name in columns:
        spec = kinds.get(name, {})
        if name == prep.target_name:
            types[name] = pa.string() if prep.target_kind in ("text", "boolean") \
                else pa.float64()
        elif spec.get("role") == "date":
            types[name] = pa.timestamp("ns")
        elif spec.get("role") == "numeric" or spec.get("kind") in ("number", "integer"):
            types[name] = pa.float64()
        else:
            types[name] = pa.string()
    return types


def _targets_for_model(net: Network, prep: Preparation, table
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The block's targets as the network takes them, and which rows have one (a label the
    model does not know is refused)."""
    from ..metrics import target_units

    values = prep.table_targets(table)
    if prep.task != "classification":
        present = ~np.isnan(values).any(axis=1)
        with np.errstate(all="ignore"):
            scaled = target_units(net, np.where(present[:, None], values, 0.0), to_network=True)
        return scaled, present
    present = table.column(prep.target_name).is_valid().to_numpy(zero_copy_only=False)
    unknown = np.flatnonzero((values < 0) & present)
    if unknown.size:
        cell = table.column(prep.target_name)[int(unknown[0])].as_py()
        if isinstance(cell, float) and cell.is_integer():
            cell = int(cell)
        raise DataError(f"column {prep.target_name!r}: label {cell!r} is not one of the "
                        f"model's classes {prep.classes}")
    values = np.maximum(values, 0)
    if net.n_outputs == 1:
        return values.reshape(-1, 1).astype(float), present
    return np.eye(net.n_outputs)[values], present


def warn_unseen(counts: dict[str, int]) -> None:
    if counts:
        shown = ", ".join(f"{name!r} ({count:,})" for name, count in counts.items())
        print(f"chainrule: warning: cells of categories never seen in training, encoded as "
              f"all zeros: {shown}", file=sys.stderr)


def count_unseen(prep: Preparation, unseen: dict[str, int]) -> None:
    for name, count in prep.unseen.items():
        unseen[name] = unseen.get(name, 0) + count
