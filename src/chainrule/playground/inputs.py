"""Numbers from the client, checked in one place.

Every number the page sends (a field of a configuration, of an action, of a query string or a
header) becomes a Python number here and nowhere else, so that none of them can reach
``int()``, ``float()`` or NumPy unchecked:

* JSON gives ints of any length and floats that may be ``inf`` (``1e999``) or ``nan``: a whole
  number is compared as an integer, exactly, before anything converts it (a 401-digit integer
  is "at most 4,294,967,295", not an ``OverflowError``), and a real one must be a finite double;
* booleans are not numbers (``true`` is not 1);
* whole numbers are at most :data:`MAX_WHOLE` (2**53: what the page's JavaScript holds exactly)
  unless the field says less;
* text (a query parameter, a header) is a whole number only as ASCII digits, at most
  :data:`MAX_DIGITS` of them.

A number that fails is a ``ValueError`` (or the ``error`` class given) whose message names the
field; the server answers it with a 400.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MAX_DIGITS", "MAX_WHOLE", "real", "shown", "whole", "whole_text"]

#: The largest whole number taken anywhere: 2**53, the last integer a JavaScript number holds
#: exactly (the page reads every answer with ``JSON.parse``).
MAX_WHOLE = 2**53
#: The most digits a whole number written as text may have (2**53 has 16).
MAX_DIGITS = 16


def shown(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters (a 401-digit number is not echoed whole)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"a {len(str(abs(value))) if value.bit_length() < 13000 else 'many'}-digit number"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _bound(value: float | int) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def whole(value: Any, where: str, low: int | None = 0, high: int | None = MAX_WHOLE,
          error: type[ValueError] = ValueError) -> int:
    """``value`` as a whole number in ``[low, high]``: an int, or a float with no fraction
    (``3.0`` is 3). Compared exactly, never through a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{where}: must be a whole number, got {shown(value)}")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise error(f"{where}: must be a whole number, got {shown(value)}")
    low = -MAX_WHOLE if low is None else max(low, -MAX_WHOLE)
    high = MAX_WHOLE if high is None else min(high, MAX_WHOLE)
    if value < low:
        raise error(f"{where}: must be at least {_bound(low)}, got {shown(value)}")
    if value > high:
        raise error(f"{where}: must be at most {_bound(high)}, got {shown(value)}")
    return int(value)


def real(value: Any, where: str, low: float | None = None, high: float | None = None,
         error: type[ValueError] = ValueError) -> float:
    """``value`` as a finite double in ``[low, high]`` (an int too large for a double is
    refused, not an ``OverflowError``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"{where}: must be a finite number, got {shown(value)}")
    if isinstance(value, int):
        if abs(value) > 2**1023:  # beyond the largest double (about 1.8e308)
            raise error(f"{where}: must be a finite number, got {shown(value)} (too large "
                        "for a double)")
        value = float(value)
    if not math.isfinite(value):
        raise error(f"{where}: must be a finite number, got {shown(value)}")
    if low is not None and value < low:
        raise error(f"{where}: must be at least {_bound(low)}, got {shown(value)}")
    if high is not None and value > high:
        raise error(f"{where}: must be at most {_bound(high)}, got {shown(value)}")
    return value


def whole_text(text: Any, where: str, low: int = 0, high: int = MAX_WHOLE,
               error: type[ValueError] = ValueError) -> int:
    """A whole number written as text (a query parameter, a header): ASCII digits only (not
    ``"²"``, ``"٣"`` or ``"1_000"``), at most :data:`MAX_DIGITS` of them, in ``[low, high]``."""
    if not isinstance(text, str) or not text or len(text) > MAX_DIGITS or not (
            text.isascii() and text.isdigit()):
        raise error(f"{where}: must be a whole number from {_bound(low)} to {_bound(high)}, "
                    f"got {shown(text)}")
    return whole(int(text), where, low, high, error)
