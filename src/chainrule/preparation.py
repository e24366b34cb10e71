"""A table made ready for training, the same way everywhere: ``chainrule train``, the web
playground, the Dask path and anything else that trains on a file, a table or a built-in
dataset.

The steps, and the rule each follows:

1. The table is read with its types (:func:`chainrule.tables.read_table`: CSV or Parquet) or
   taken as given (a pandas ``DataFrame``, a ``pyarrow.Table``, a dict of columns, a NumPy
   array, or a built-in :class:`~chainrule.datasets.Dataset`).
2. :func:`split` holds a share of the rows that have a target out: a permutation drawn from the
   split's seed, so that trying other seeds for the weights never moves the held-out rows.
3. A :class:`~chainrule.features.Preparation` is fitted on the training rows (roles, categories,
   fill values, scaling, labels; see :mod:`chainrule.features`) and turns every row into
   features.
4. :func:`encode_targets` turns the target into what the loss takes: one-hot rows for
   ``categorical_cross_entropy`` (and the squared errors on classes), one 0/1 column for
   ``binary_cross_entropy``, the standardised values for regression.

Every problem is a :class:`DataError` (a ``ValueError``) that names the file, row and column.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .datasets import Dataset
from .features import LARGEST_LABEL, MAX_AUTO_CLASSES, DataError, Preparation
from .losses import get_loss

__all__ = ["LARGEST_LABEL", "MAX_AUTO_CLASSES", "DataError", "Preparation", "TrainingData",
           "choose_loss", "encode_targets", "load_table", "output_activation", "prepare",
           "split"]

REGRESSION_LOSSES = ("mse", "squared_error")


@dataclass
class TrainingData:
    """What training on a dataset needs, wherever the rows are (in this process, or on a Dask
    cluster): the encoded and standardised parts, and what the model's metadata records."""

    name: str
    task: str
    loss: str
    metadata: dict
    X_train: Any
    Y_train: Any
    validation: tuple | None
    held_out: tuple  # (X, Y) in this process, or the ClusterTable that holds them
    n_held: int
    preparation: Preparation | None = None


def split(n: int, fraction: float, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, held)`` row indices: ``round(fraction * n)`` rows (at least one) held out, drawn
    by a permutation from ``seed``."""
    if not 0 < fraction < 1:
        raise DataError(f"the split fraction must be in (0, 1), got {fraction}")
    order = np.random.default_rng(seed).permutation(n)
    held = max(1, int(round(fraction * n)))
    if held >= n:
        raise DataError(f"{n} samples are too few to hold {fraction:.0%} out")
    return order[held:], order[:held]


def choose_loss(loss: str | None, task: str, n_classes: int) -> str:
    """The loss asked for, or the task's default (categorical cross-entropy or mse), checked
    against the task."""
    loss = loss or ("categorical_cross_entropy" if task == "classification" else "mse")
    if task == "regression" and loss not in REGRESSION_LOSSES:
        raise DataError(f"loss {loss} cannot take real-valued targets; use mse")
    if loss == "binary_cross_entropy" and n_classes != 2:
        raise DataError(f"binary_cross_entropy needs 2 classes, the target has {n_classes}")
    return loss


def output_activation(loss: str, otherwise: str | None = "identity") -> str | None:
    """The output activation that goes with ``loss``: the one its gradient combines with
    (softmax for categorical cross-entropy, sigmoid for binary cross-entropy), else
    ``otherwise``."""
    return get_loss(loss).combined_activation or otherwise


def encode_targets(index_or_values: np.ndarray, task: str, loss: str, n_classes: int
                   ) -> np.ndarray:
    """Targets as the loss takes them: one-hot rows (categorical), 0/1 (binary), or values."""
    if task == "regression":
        return np.asarray(index_or_values, dtype=float).reshape(len(index_or_values), -1)
    index = np.asarray(index_or_values)
    if loss == "binary_cross_entropy":
        return index.reshape(-1, 1).astype(float)
    return np.eye(n_classes)[index]


def load_table(path: str, target: str | None = None, task: str | None = None,
               **roles: Any) -> Dataset:
    """A CSV or Parquet file as a :class:`Dataset` of its prepared, unscaled features (the
    target's labels as ``class_names``); the :class:`Preparation` fitted on it is
    ``dataset.preparation``. ``roles``: ``numeric``, ``categorical``, ``drop``, ``on_missing``."""
    from .tables import read_table, row_label

    table = read_table(path)
    prep = _preparation(path, target, task, standardize=False, **roles)
    prep.row_label = row_label(path)
    try:
        prep.fit(table)
        keep = np.flatnonzero(prep.table_targets(table) >= 0) \
            if prep.task == "classification" else None
        X = prep.encode(table)
        y = prep.table_targets(table)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    if keep is None:
        keep = np.flatnonzero(~np.isnan(y).any(axis=1))
    dataset = Dataset(_stem(path), X[keep], y[keep], prep.task, prep.feature_names,
                      [str(c) for c in prep.classes], target_name=prep.target_name or "target")
    dataset.preparation = prep  # type: ignore[attr-defined]
    return dataset


def _preparation(path: Any, target: str | None, task: str | None, **options: Any
                 ) -> Preparation:
    try:
        return Preparation(target, task=task, **options)
    except ValueError as exc:
        raise DataError(f"{path}: {exc}" if isinstance(path, str) else str(exc)) from None


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(os.fspath(path).rstrip("/")))[0] or "data"


def prepare(data: Any, loss: str | None = None, test_split: float = 0.25,
            validation_split: float = 0.0, seed: int | None = 0,
            standardize: bool = True, *, target: str | None = None, task: str | None = None,
            numeric: Any = (), categorical: Any = (), drop: Any = (),
            on_missing: str = "fill", name: str | None = None) -> TrainingData:
    """``data`` made ready for training: a built-in :class:`Dataset`, a path of a CSV or
    Parquet file, or a table (``DataFrame``, ``pyarrow.Table``, dict of columns).

    Held-out rows come from ``test_split``, then validation rows from ``validation_split`` of
    the rest (``0`` holds none out), both drawn from ``seed``. The :class:`Preparation`
    (``target``, ``task``, ``numeric``, ``categorical``, ``drop``, ``on_missing``,
    ``standardize``) is fitted on the training rows (validation rows included) and applied to
    all. The caller's arrays are never changed."""
    if isinstance(data, Dataset):
        return _prepare_dataset(data, loss, test_split, validation_split, seed, standardize)
    where = os.fspath(data) if isinstance(data, (str, os.PathLike)) else None
    prep = _preparation(where, target, task, numeric=numeric, categorical=categorical,
                        drop=drop, on_missing=on_missing, standardize=standardize)
    if where is not None:
        from .tables import read_columns, row_label

        # Columns by name, so that each one's memory goes once it is encoded.
        table = read_columns(where)
        prep.row_label = row_label(where)
    else:
        table = data
    try:
        with_target = prep.rows_with_target(table)
        train, held = _split(with_target, test_split, seed)
        labels = prep.table_targets(table)
        X = prep.fit_transform(table, rows=train, consume=where is not None)
    except DataError as exc:
        raise DataError(f"{where}: {exc}" if where else str(exc)) from None
    n_classes = len(prep.classes)
    loss = choose_loss(loss, prep.task, n_classes)
    if prep.task == "regression":
        labels = prep.target_units(labels, to_network=True)
    Y = encode_targets(labels, prep.task, loss, n_classes)
    metadata = {**prep.metadata(), "dataset": name or (_stem(where) if where else "table")}
    try:
        return _parts(metadata["dataset"], prep.task, loss, metadata, X, Y, train, held,
                      validation_split, seed, prep)
    except DataError as exc:  # too few rows for the validation share
        raise DataError(f"{where}: {exc}" if where else str(exc)) from None


def _split(rows: np.ndarray, test_split: float, seed: int | None
           ) -> tuple[np.ndarray, np.ndarray]:
    if not test_split:
        return rows, rows[:0]
    kept, held = split(len(rows), test_split, seed)
    return rows[kept], rows[held]


def _parts(name: str, task: str, loss: str, metadata: dict, X: np.ndarray, Y: np.ndarray,
           train: np.ndarray, held: np.ndarray, validation_split: float, seed: int | None,
           prep: Preparation | None) -> TrainingData:
    X_train, Y_train = X[train], Y[train]
    validation = None
    if validation_split:
        fit_train, fit_val = split(len(train), validation_split, seed)
        validation = (X_train[fit_val], Y_train[fit_val])
        X_train, Y_train = X_train[fit_train], Y_train[fit_train]
    return TrainingData(name, task, loss, metadata, X_train, Y_train, validation,
                        (X[held], Y[held]), len(held), prep)


def _prepare_dataset(dataset: Dataset, loss: str | None, test_split: float,
                     validation_split: float, seed: int | None,
                     standardize: bool) -> TrainingData:
    """A built-in dataset (numbers only, labels already class numbers) through the same
    preparation, every column numeric."""
    names = list(dataset.feature_names) or [f"x{i + 1}" for i in range(dataset.X.shape[1])]
    columns = {name: dataset.X[:, i] for i, name in enumerate(names)}
    prep = Preparation(None, task=dataset.task, numeric=names, standardize=standardize)
    y = dataset.y if dataset.task == "classification" else dataset.y.reshape(-1)
    rows = np.arange(len(dataset.X))
    train, held = _split(rows, test_split, seed)
    try:
        X = prep.fit_transform(columns, y=y, rows=train)
    except DataError as exc:
        raise DataError(f"{dataset.name}: {exc}") from None
    prep.target_name = dataset.target_name
    n_classes = len(prep.classes)
    loss = choose_loss(loss, dataset.task, n_classes)
    if dataset.task == "classification":
        labels = np.searchsorted(np.asarray(prep.classes), dataset.y)
    else:
        labels = prep.target_units(y.astype(float).reshape(-1, 1), to_network=True)
    Y = encode_targets(labels, dataset.task, loss, n_classes)
    metadata = {**prep.metadata(), "dataset": dataset.name}
    return _parts(dataset.name, dataset.task, loss, metadata, X, Y, train, held,
                  validation_split, seed, prep)
