"""The data a configuration names, as a :class:`~chainrule.playground.session.Session` trains
on it: generated or built-in points (with the points a person added and removed), or an uploaded
file prepared exactly as ``chainrule train FILE`` prepares it.

Each gives the rows as the page draws them (``raw``: the features before scaling, the targets as
labels or values) and the :class:`~chainrule.preparation.TrainingData` the network trains on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..datasets import Dataset, load_dataset
from ..datasets.planar import generate
from ..preparation import TrainingData, prepare
from .budget import TooLarge
from .config import ConfigError
from .uploads import check_prepared, count_prepared, read_upload

__all__ = ["file_of", "points", "prepared", "uploaded"]


def file_of(files: Any, key: str, where: str) -> tuple[str, str]:
    """The path and the shown name of the uploaded file ``key``, or a :class:`ConfigError`
    that says it is not on this server (``where``: the configuration's field)."""
    if files is None or files.path(key) is None:
        raise ConfigError(f"{where}: the file {key} is not on this server (it was uploaded "
                          "to another one, or the server restarted): upload it again")
    return files.path(key), files.name(key)


def points(spec: dict[str, Any], seed: int) -> Dataset:
    """A generator's or a built-in dataset's rows, less the rows ``spec["removed"]`` names,
    plus the points ``spec["added"]`` (``[x1, x2, label]``, 2-D data only)."""
    if spec["source"] == "generator":
        data = generate(spec["name"], spec["seed"], spec["samples"], spec["noise"],
                        spec["classes"])
    else:
        data = load_dataset(spec["name"], seed=seed)
    X, y = data.X, data.y
    if spec["removed"]:
        if spec["removed"][-1] >= len(X):
            raise ConfigError(f"data.removed: row {spec['removed'][-1]} is outside the "
                              f"data ({len(X)} rows)")
        keep = np.setdiff1d(np.arange(len(X)), spec["removed"])
        X, y = X[keep], y[keep]
    if spec["added"]:
        if X.shape[1] != 2:
            raise ConfigError("data.added: points can be added to 2-D data only")
        added = np.asarray(spec["added"])
        if data.task == "classification":
            labels = added[:, 2]
            n_classes = max(len(data.class_names), int(y.max()) + 1 if len(y) else 0)
            if np.any(labels != np.round(labels)) or np.any(labels < 0) or \
                    np.any(labels >= n_classes):
                raise ConfigError(f"data.added: a class label is one of the data's classes, "
                                  f"a whole number from 0 to {n_classes - 1}")
            y = np.concatenate([y, labels.astype(np.int64)])
        else:
            y = np.concatenate([y, added[:, 2:3]])
        X = np.concatenate([X, added[:, :2]])
    return Dataset(data.name, np.asarray(X, dtype=np.float64), y, data.task,
                   list(data.feature_names), list(data.class_names), data.target_name)


def prepared(raw: Dataset, config: dict[str, Any]) -> TrainingData:
    """``raw`` through :func:`~chainrule.preparation.prepare` (on a copy: ``raw`` stays as the
    page draws it)."""
    copy = Dataset(raw.name, raw.X.astype(np.float64, copy=True), raw.y, raw.task,
                   list(raw.feature_names), list(raw.class_names), raw.target_name)
    return prepare(copy, config["loss"], config["test_split"], 0.0, config["seed"],
                   config["standardize"])


def uploaded(config: dict[str, Any], files: Any
             ) -> tuple[Dataset, TrainingData, dict[str, Any]]:
    """An uploaded CSV or Parquet file through :func:`chainrule.preparation.prepare`, as
    ``chainrule train FILE`` prepares it (roles, missing cells, labels, split, scaling): the
    points drawn (every row with a target, its features before scaling), the training data, and
    the file (its path here, the name it was uploaded as, its columns)."""
    spec = config["data"]
    path, name = file_of(files, spec["upload"], "data.upload")
    table = read_upload(path, name)
    try:
        # What the table becomes, counted before it is made (one-hot encoding makes a
        # column as many features as it has categories).
        check_prepared(count_prepared(path, table, spec["target"], spec["task"]),
                       table.num_rows, name)
        data = prepare(path, config["loss"], config["test_split"], 0.0, config["seed"],
                       config["standardize"], target=spec["target"], task=spec["task"])
        prep = data.preparation
        targets = prep.table_targets(table)
        X = prep.encode(table)
    except (TooLarge, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - the CLI's message, naming the file as uploaded
        text = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        text = text.replace(path, name)
        raise ValueError(text if text.startswith(name) else f"{name}: {text}") from None
    if prep.task == "classification":
        keep = np.flatnonzero(targets >= 0)
    else:
        keep = np.flatnonzero(~np.isnan(targets).any(axis=1))
    upload = {"path": path, "name": name, "columns": list(table.column_names)}
    raw = Dataset(data.name, X[keep], targets[keep], prep.task, list(prep.feature_names),
                  [str(label) for label in prep.classes],
                  target_name=prep.target_name or "target")
    return raw, data, upload
