"""Exact medians over blocks of rows, without bringing a column together: each number becomes
a 64-bit key in the same order (:func:`keys`), the blocks' histograms of the keys' next 16 bits
are added up (:func:`histogram`, :func:`add_histograms`), and the bin that holds the middle is
narrowed 16 bits a round, or its few keys gathered, until the median is known to the bit: the
same number ``numpy.median`` gives on the whole column (the Dask path's fill values)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["add_histograms", "histogram", "keys", "matching", "median_of", "medians", "value"]

SIGN = np.uint64(1 << 63)


def keys(values: np.ndarray) -> np.ndarray:
    """The numbers (NaN left out) as 64-bit keys in the same order."""
    bits = np.ascontiguousarray(values[~np.isnan(values)], dtype=np.float64).view(np.uint64)
    return np.where(bits & SIGN, ~bits, bits | SIGN)


def value(key: int) -> float:
    key = np.uint64(key)
    bits = np.array([key & ~SIGN if key & SIGN else ~key], dtype=np.uint64)
    return float(bits.view(np.float64)[0])


def matching(keys: np.ndarray, depth: int, prefix: int) -> np.ndarray:
    return keys if depth == 0 else keys[(keys >> np.uint64(64 - 16 * depth)) == np.uint64(prefix)]


def histogram(keys: np.ndarray, depth: int, prefix: int) -> tuple[np.ndarray, ...]:
    """How many of the keys beginning with ``prefix`` (their first ``16 * depth`` bits) have
    each value of their next 16 bits, and the least and largest key of each: ``(values,
    counts, least, largest)``."""
    keys = np.sort(matching(keys, depth, prefix))
    digits = (keys >> np.uint64(48 - 16 * depth)) & np.uint64(0xFFFF)
    values, first, counts = np.unique(digits, return_index=True, return_counts=True)
    return values.astype(np.int64), counts.astype(np.int64), keys[first], \
        keys[first + counts - 1]


def add_histograms(a: tuple, b: tuple) -> tuple[np.ndarray, ...]:
    values, inverse = np.unique(np.concatenate([a[0], b[0]]), return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate([a[1], b[1]]), minlength=len(values))
    least = np.full(len(values), np.iinfo(np.uint64).max, dtype=np.uint64)
    largest = np.zeros(len(values), dtype=np.uint64)
    np.minimum.at(least, inverse, np.concatenate([a[2], b[2]]))
    np.maximum.at(largest, inverse, np.concatenate([a[3], b[3]]))
    return values, counts.astype(np.int64), least, largest


def medians(run: Any, counts: dict[str, int], found: dict[tuple, tuple], gather: int
             ) -> dict[str, float]:
    """The exact median (as ``numpy.median`` gives it) of each column of ``counts`` (its
    number of values): the middle value(s) selected on the keys, 16 bits a round, from the
    blocks' histograms added up, until the bin holding one holds one value, or at most
    ``gather`` keys, brought here. ``run({name: [(kind, depth, prefix)]})`` gives the blocks'
    ``hist`` and ``gather`` (keys) for those requests, added up; ``found``: histograms at
    hand."""
    chosen: dict[str, list[float]] = {}
    open_ = [{"name": name, "rank": rank, "depth": 0, "prefix": 0, "count": n}
             for name, n in counts.items() for rank in sorted({(n - 1) // 2, n // 2} if n else ())]
    gathered: dict[tuple, np.ndarray] = {}
    while open_:
        asked: dict[str, set] = {}
        for s in open_:
            s["kind"] = "gather" if s["count"] <= gather else "hist"
            if s["kind"] == "gather" or (s["name"], s["depth"], s["prefix"]) not in found:
                asked.setdefault(s["name"], set()).add((s["kind"], s["depth"], s["prefix"]))
        if asked:
            new = run({name: sorted(requests) for name, requests in asked.items()})
            found, gathered = {**found, **new["hist"]}, new["gather"]
        still = []
        for s in open_:
            key = (s["name"], s["depth"], s["prefix"])
            if s["kind"] == "gather":
                chosen.setdefault(s["name"], []).append(value(np.sort(gathered[key])[s["rank"]]))
                continue
            values, hits, least, largest = found[key]
            ends = np.cumsum(hits)
            at = int(np.searchsorted(ends, s["rank"], side="right"))
            s["rank"] -= int(ends[at - 1]) if at else 0
            s.update(depth=s["depth"] + 1, prefix=(s["prefix"] << 16) | int(values[at]),
                     count=int(hits[at]))
            if least[at] == largest[at]:  # one value in the bin (every bit known at depth 4)
                chosen.setdefault(s["name"], []).append(value(int(least[at])))
            else:
                still.append(s)
        open_ = still
    return {name: float(np.mean(np.array(values))) for name, values in chosen.items()}


# ---------------------------------------------------------------------------- one column at hand
SMALL = 1 << 16  # a column this short is selected whole


def median_of(values: np.ndarray, missing: int | None = None) -> float:
    """The exact median of ``values`` (NaN left out), the number ``numpy.median`` gives, in a
    few passes instead of a selection over every value: the middle of an evenly spaced sample
    brackets the middle of the whole, the values below the bracket are counted and the few
    inside it selected. ``missing``: the number of NaN, when known. ``NaN`` when there is no
    value. Two middle values beyond half the largest float average to infinity, as in
    ``numpy.median``, without its overflow warning (the preparation refuses such a column with
    a message of its own)."""
    with np.errstate(over="ignore"):
        return _median(np.asarray(values, dtype=np.float64), missing)


def _median(values: np.ndarray, missing: int | None) -> float:
    if missing is None:
        missing = int(np.count_nonzero(np.isnan(values)))
    n = len(values) - missing
    if n == 0:
        return float("nan")
    middle = sorted({(n - 1) // 2, n // 2})
    if len(values) <= SMALL:
        return float(np.median(values[~np.isnan(values)]))
    sample = np.sort(values[::len(values) // 16384])
    sample = sample[~np.isnan(sample)]
    if len(sample) == 0:  # every sampled value missing (a sparse column): select them all
        return float(np.median(values[~np.isnan(values)]))
    # The sample's middle is within sqrt(size) / 2 of the whole's, as a rank, most of the time.
    at, spread = len(sample) // 2, 4 * int(np.sqrt(len(sample))) + 8
    low, high = sample[max(at - spread, 0)], sample[min(at + spread, len(sample) - 1)]
    below, inside = _bracket(values, low, high)
    below -= missing  # NaN is never >= low
    ranks = [rank - below for rank in middle]
    if ranks[0] < 0 or ranks[-1] >= len(inside):  # the bracket missed the middle: select all
        return float(np.median(values[~np.isnan(values)]))
    picked = np.partition(inside, ranks)[ranks]
    return float(np.mean(picked))


def _bracket(values: np.ndarray, low: float, high: float) -> tuple[int, np.ndarray]:
    """How many of ``values`` are not ``>= low`` (NaN included), and the values in ``[low,
    high]``: a slice of :data:`SMALL` values at a time, so that the comparisons' masks stay in
    the cache (three times faster than over the whole column)."""
    below, parts = 0, []
    for start in range(0, len(values), SMALL):
        part = values[start:start + SMALL]
        inside = part >= low
        below += len(part) - int(np.count_nonzero(inside))
        inside &= part <= high
        parts.append(part[inside])
    return below, np.concatenate(parts)
