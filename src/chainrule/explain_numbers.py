"""How an explained chain writes its numbers: :data:`DIGITS` significant digits, a per-sample
list for a batch, a negative term in brackets."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["DIGITS", "SHOWN", "fmt", "neurons", "signed"]

DIGITS = 10  # significant digits of every number in the text
SHOWN = 12  # values of a layer shown in full; a longer layer is summarised


def fmt(values: Any) -> str:
    """One number, or a per-sample list (nested for per-output values), to DIGITS digits."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 0:
        return f"{float(values) + 0.0:.{DIGITS}g}"  # + 0.0: no "-0"
    if values.size == 1:
        return f"{float(values.ravel()[0]) + 0.0:.{DIGITS}g}"
    items = [fmt(v) for v in values[:SHOWN]]
    more = f", ... ({len(values)} values)" if len(values) > SHOWN else ""
    return "[" + ", ".join(items) + more + "]"


def neurons(values: np.ndarray) -> str:
    """A layer's values: one list per sample (a single sample: one list)."""
    values = np.asarray(values, dtype=float)
    if values.shape[0] == 1:
        return fmt(values[0]) if values.shape[1] > 1 else f"[{fmt(values[0])}]"
    return "[" + ", ".join(fmt(row) if row.size > 1 else f"[{fmt(row)}]"
                           for row in values) + "]"


def signed(value: Any) -> str:
    """A number to DIGITS digits, in brackets when negative (as a term of a sum or product)."""
    text = f"{float(value) + 0.0:.{DIGITS}g}"
    return f"({text})" if text.startswith("-") else text
