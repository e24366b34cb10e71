"""What pyarrow refused in a CSV, found again cell by cell with Python's csv module, to name
its line and column as a person counts them: a row with another number of cells than the
header, a cell that is not UTF-8, or one that is not of its column's type (the slow way, taken
only once a read has failed)."""

from __future__ import annotations

import csv
import math
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["NULL_VALUES", "line_of_row", "locate_refusal"]

#: Cells read as missing (pyarrow's defaults, which are pandas'): the empty cell among them.
NULL_VALUES = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
               "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


def line_of_row(path: str, skip: int, row: int) -> int:
    """The line of the file on which data row ``row`` (from 0) starts: blank lines and line
    breaks inside quoted cells counted as the reader counts them."""
    with _any_field_size(), open(path, newline="", encoding="utf-8-sig",
                                 errors="replace") as handle:
        for _ in range(skip):
            handle.readline()
        reader = csv.reader(handle)
        seen, line = 0, skip
        for record in reader:
            start = line + 1
            line = skip + reader.line_num
            if not record:  # an empty line (pyarrow skips those; a line of spaces is a row)
                continue
            if seen == row:
                return start
            seen += 1
    return line


#: The characters a byte that is not UTF-8 becomes when read with ``surrogateescape``.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


@contextmanager
def _any_field_size() -> Iterator[None]:
    """The csv module without its limit on a field's size, for the block of a search that
    reads again what pyarrow read (the limit is the process's: it is put back)."""
    previous = csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def locate_refusal(path: str, header: list[str], skip: int, columns: Sequence[str] | None,
             types: dict[str, Any] | None) -> ValueError:
    """What pyarrow refused, found again cell by cell to name its line and column: a row with
    another number of cells than the header, or a cell that is not of its column's type."""
    wanted = {header.index(name): name for name in (columns or header)}
    seen_rows = False
    numeric = {index for index, name in wanted.items() if types and name in types
               and str(types[name]) in ("double", "float", "int64")}
    try:
        with _any_field_size(), open(path, newline="", encoding="utf-8-sig",
                                     errors="surrogateescape") as handle:
            for _ in range(skip):
                handle.readline()
            reader = csv.reader(handle)
            line = skip
            for record in reader:
                start, line = line + 1, skip + reader.line_num
                if not record:
                    continue
                seen_rows = True
                if len(record) != len(header):
                    return ValueError(f"{path}: row {start} has {len(record)} values but the "
                                      f"header has {len(header)}")
                for index, name in wanted.items():
                    if _NOT_UTF8.search(record[index]):
                        return ValueError(f"{path}: row {start}, column {name!r}: a cell is "
                                          "not UTF-8 text")
                for index in numeric:
                    cell = record[index].strip()
                    if cell in NULL_VALUES:
                        continue
                    try:
                        value = float(cell) if len(cell) <= 100 else None
                    except ValueError:
                        value = None
                    if value is None:
                        shown = cell if len(cell) <= 40 else f"{cell[:40]}... ({len(cell)} " \
                            "characters)"
                        return ValueError(f"{path}: row {start}, column {wanted[index]!r}: "
                                          f"{shown!r} is not a number")
                    if not math.isfinite(value):
                        return ValueError(f"{path}: row {start}, column {wanted[index]!r}: "
                                          f"{cell} is not finite")
    except csv.Error as exc:
        return ValueError(f"{path}: not readable as CSV ({exc})")
    if not seen_rows:
        return ValueError(f"{path}: only a header, no data rows")
    return ValueError(f"{path}: not readable as CSV")
