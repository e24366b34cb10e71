"""Checks of user input that raise a ``ValueError`` saying what is wrong and what was expected."""

from __future__ import annotations

import numbers

import numpy as np

from .arrays import ROWS_PER_SLICE


def as_matrix(data, name: str, n_columns: int | None, dtype: np.dtype) -> np.ndarray:
    """``data`` as a finite 2-D array of ``dtype`` with ``n_columns`` columns.

    A 1-D array is taken as one column when ``n_columns`` is 1 (one feature per sample, the
    tutorial's case), and rejected otherwise since it is ambiguous.
    """
    try:
        array = np.asarray(data)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array of numbers: {exc}") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim == 1 and n_columns == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        expected = f"(n_samples, {n_columns})" if n_columns else "(n_samples, n_columns)"
        raise ValueError(f"{name} must be 2-D shaped {expected}, got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has no samples (shape {array.shape})")
    if n_columns is not None and array.shape[1] != n_columns:
        raise ValueError(
            f"{name} has {array.shape[1]} columns, expected {n_columns} (shape {array.shape})"
        )
    array = np.asarray(array, dtype=dtype)
    bad = first_non_finite(array)
    if bad is not None:
        row, col = bad
        raise ValueError(f"{name} holds a non-finite value ({array[row, col]}) at [{row}, {col}]")
    return array


def first_non_finite(array: np.ndarray,
                     rows_per_chunk: int = ROWS_PER_SLICE) -> tuple[int, int] | None:
    """``(row, column)`` of the first NaN or infinity in a 2-D array, or None.

    A sum is finite exactly when no entry is NaN or infinite (or the sum overflowed), so one
    reduction settles the common case without a temporary as large as the data; only when it is
    not finite are the rows searched, a chunk at a time.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(array, axis=None)):
            return None
    for start in range(0, array.shape[0], rows_per_chunk):
        found = np.argwhere(~np.isfinite(array[start:start + rows_per_chunk]))
        if found.size:
            return int(found[0][0]) + start, int(found[0][1])
    return None


def check_same_rows(X: np.ndarray, Y: np.ndarray, x_name: str = "X", y_name: str = "Y") -> None:
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"{x_name} has {X.shape[0]} samples but {y_name} has {Y.shape[0]}; they must match"
        )


def positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def positive_float(value, name: str, allow_zero: bool = False) -> float:
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return number


def optional(rule):
    """A rule that also lets ``None`` through."""

    def check(value, name: str):
        return None if value is None else rule(value, name)

    return check


def non_negative_float(value, name: str) -> float:
    return positive_float(value, name, allow_zero=True)


def one_of(*choices: str):
    """A rule: the value is one of ``choices``."""

    def check(value, name: str) -> str:
        if value not in choices:
            expected = " or ".join(repr(c) for c in choices)
            raise ValueError(f"{name} must be {expected}, got {value!r}")
        return value

    return check


def flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)
