"""A table made ready for training, the same way everywhere: ``chainrule train``, the web
playground and anything else that trains on a CSV file or a built-in dataset.

The steps, and the rule each follows:

1. :func:`load_table` reads the file and picks the target column (the last, unless named); the
   task is classification when the target holds whole numbers with at most
   :data:`MAX_AUTO_CLASSES` distinct values, regression otherwise.
2. :func:`encode_targets` turns the target into what the loss takes: one-hot rows for
   ``categorical_cross_entropy`` (and the squared errors on classes), one 0/1 column for
   ``binary_cross_entropy``, the values themselves for regression.
3. :func:`split` holds a share of the rows out: a permutation drawn from ``seed``.
4. :func:`prepare` standardises every feature with the training rows' mean and standard
   deviation, ``x' = (x - mean) / std`` (a constant column keeps std 1), and, for regression, the
   target likewise; the model's metadata records both so that predictions undo them.

Every problem is a :class:`DataError` (a ``ValueError``) that names the file, row and column.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .datasets import Dataset, read_table

__all__ = ["MAX_AUTO_CLASSES", "DataError", "TrainingData", "choose_loss", "encode_targets",
           "load_table", "prepare", "split"]

#: The most distinct whole-number targets a table's target may have and still be read as
#: classes when no task is given, and the largest class label that converts to an integer exactly.
MAX_AUTO_CLASSES = 50
LARGEST_LABEL = 2**53
REGRESSION_LOSSES = ("mse", "squared_error")


class DataError(ValueError):
    """The data cannot be trained on as asked; the message says where and why."""


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


def load_table(path: str, target: str | None, task: str | None) -> Dataset:
    """Read a CSV or Parquet table and split off its target column (see the module's rules)."""
    header, data = read_table(path)
    if target is None:
        target_index = len(header) - 1
    elif target in header:
        target_index = header.index(target)
    else:
        raise DataError(f"{path}: no target column {target!r} (columns: {', '.join(header)})")
    if len(header) < 2:
        raise DataError(f"{path}: needs at least one feature column besides the target")
    features = [i for i in range(len(header)) if i != target_index]
    y = data[:, target_index]
    whole = bool(np.all(y == np.round(y)))
    if task is None:
        task = "classification" if whole and len(np.unique(y)) <= MAX_AUTO_CLASSES \
            and np.all(np.abs(y) <= LARGEST_LABEL) else "regression"
    if task == "classification":
        bad = np.flatnonzero((y != np.round(y)) | (np.abs(y) > LARGEST_LABEL))
        if bad.size:
            raise DataError(f"{path}: row {bad[0] + 2}, column {header[target_index]!r}: "
                            f"{y[bad[0]]:g} is not a class label (whole numbers up to 2**53)")
    # The features as a view of the table where they are side by side (the target first or
    # last): no copy of the data. The target is taken out first.
    targets = y.astype(np.int64) if task == "classification" else y.reshape(-1, 1).copy()
    if target_index in (0, len(header) - 1):
        X = data[:, 1:] if target_index == 0 else data[:, :-1]
    else:
        X = data[:, features]
    return Dataset(os.path.splitext(os.path.basename(path))[0], X, targets, task,
                   [header[i] for i in features], target_name=header[target_index])


def encode_targets(dataset: Dataset, loss: str) -> tuple[np.ndarray, list]:
    """Targets as the loss takes them: one-hot rows (categorical), 0/1 (binary), or values."""
    if dataset.task == "regression":
        if loss not in REGRESSION_LOSSES:
            raise DataError(f"loss {loss} cannot take real-valued targets; use mse")
        return dataset.y.reshape(len(dataset.y), -1).astype(float), []
    classes = np.unique(dataset.y)
    if len(classes) < 2:
        raise DataError(f"{dataset.name}: the target has a single class ({classes[0]})")
    index = np.searchsorted(classes, dataset.y)
    if loss == "binary_cross_entropy":
        if len(classes) != 2:
            raise DataError(f"binary_cross_entropy needs 2 classes, the target has {len(classes)}")
        return index.reshape(-1, 1).astype(float), classes.tolist()
    return np.eye(len(classes))[index], classes.tolist()


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


def prepare(dataset: Dataset, loss: str | None = None, test_split: float = 0.25,
            validation_split: float = 0.0, seed: int | None = 0,
            standardize: bool = True) -> TrainingData:
    """The dataset encoded for ``loss``, split (held-out rows from ``test_split``, then
    validation rows from ``validation_split`` of the rest; ``0`` holds none out) and
    standardised with the training rows' statistics (see the module's steps;
    ``standardize=False`` keeps the values as they are, as the tutorial's single sample
    needs)."""
    n_classes = len(np.unique(dataset.y)) if dataset.task == "classification" else 0
    loss = choose_loss(loss, dataset.task, n_classes)
    Y, classes = encode_targets(dataset, loss)
    X = dataset.X
    if test_split:
        train, held = split(len(X), test_split, seed)
    else:
        train, held = np.arange(len(X)), np.arange(0)
    with np.errstate(over="ignore", invalid="ignore"):
        mean = X[train].mean(axis=0)
        scale = X[train].std(axis=0)
    unusable = np.flatnonzero(~(np.isfinite(mean) & np.isfinite(scale)))
    if unusable.size:
        column = dataset.feature_names[unusable[0]] if dataset.feature_names else unusable[0]
        raise DataError(f"{dataset.name}: column {column!r}: values too large to standardise "
                        f"(up to {np.max(np.abs(X[:, unusable[0]])):g}); rescale the column")
    scale[scale == 0] = 1.0
    if not standardize:
        mean, scale = np.zeros_like(mean), np.ones_like(scale)
    # In place: the dataset's array is this run's own, and a copy would double the memory.
    X_scaled = X if X.flags.writeable and X.dtype == np.float64 else X.astype(np.float64)
    X_scaled -= mean
    X_scaled /= scale
    metadata = {
        "task": dataset.task, "dataset": dataset.name, "feature_names": dataset.feature_names,
        "target_name": dataset.target_name, "classes": classes,
        "scaling": {"mean": mean.tolist(), "scale": scale.tolist()},
    }
    # Regression targets are standardised like the inputs, and undone in predictions.
    if dataset.task == "regression" and standardize:
        with np.errstate(over="ignore", invalid="ignore"):
            target_mean, target_scale = Y[train].mean(axis=0), Y[train].std(axis=0)
        if not (np.isfinite(target_mean).all() and np.isfinite(target_scale).all()):
            raise DataError(f"{dataset.name}: the target's values are too large to standardise")
        target_scale[target_scale == 0] = 1.0
        Y = (Y - target_mean) / target_scale
        metadata["target_scaling"] = {"mean": target_mean.tolist(),
                                      "scale": target_scale.tolist()}
    X_train, Y_train = X_scaled[train], Y[train]
    validation = None
    if validation_split:
        fit_train, fit_val = split(len(train), validation_split, seed)
        validation = (X_train[fit_val], Y_train[fit_val])
        X_train, Y_train = X_train[fit_train], Y_train[fit_train]
    return TrainingData(dataset.name, dataset.task, loss, metadata, X_train, Y_train,
                        validation, (X_scaled[held], Y[held]), len(held))
