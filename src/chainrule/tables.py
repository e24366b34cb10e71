"""Reading tables as people have them: typed, null-aware, fast (pyarrow's multi-threaded reader).

:func:`read_table` reads a CSV file or a Parquet file or folder into a ``pyarrow.Table`` whose
columns keep their types: numbers, booleans, text, dates and times, with empty cells as nulls.
:func:`iter_batches` reads the same in blocks of rows, of any file's size in bounded memory, with
the column types a model was trained on. What is truly unreadable is one :class:`ValueError`
that names the file and, when it is a cell, its line and column: a path that is no regular file,
an empty file, a header that repeats a name, a row with more or fewer cells than the header,
bytes that are not UTF-8, an infinite number.

The header is read here, not by pyarrow, so that its checks stay this module's: an empty name
becomes ``Unnamed: N`` (N counted from 0, as pandas names it), which :mod:`chainrule.preparation`
recognises as the index column ``DataFrame.to_csv`` writes.

pyarrow comes with the ``cli`` extra; the core library (``import chainrule``) never needs it.
"""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Iterator, Sequence
from typing import Any

from .csv_messages import NULL_VALUES, line_of_row, locate_refusal
from .csv_ranges import STREAM_BLOCK, read_ranges
from .csv_ranges import read_columns as read_range_columns

__all__ = ["NULL_VALUES", "UNNAMED", "is_parquet", "iter_batches", "read_columns", "read_header",
           "read_table", "row_label"]

#: The name given to a column whose header cell is empty (``Unnamed: 0`` for the first).
UNNAMED = "Unnamed: {}"
BLOCK_BYTES = 1 << 24  # pyarrow's unit of parallel parsing, and a streamed block's size
_BOM = b"\xef\xbb\xbf"


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.csv  # noqa: F401
    except ImportError:
        raise ValueError("reading CSV and Parquet files needs pyarrow: pip install "
                         "'chainrule[cli]'") from None
    return pyarrow


def is_parquet(path: str) -> bool:
    """Whether ``path`` is a Parquet file or a folder of them (rather than a CSV)."""
    return path.endswith(".parquet") or (os.path.isdir(path) and any(
        name.endswith(".parquet") for name in os.listdir(path)))


def check_file(path: str) -> None:
    """Refuse, naming the path, what is not a regular file one can read (a missing file, a
    folder, a pipe or a device, which could block or never end)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"{path}: is a folder, not a CSV file")
    if not stat.S_ISREG(mode):  # a pipe or a device could block or never end
        raise ValueError(f"{path}: is not a regular file (a pipe, socket or device)")


def read_header(path: str) -> tuple[list[str], int]:
    """The CSV's column names (checked, empty ones named :data:`UNNAMED`) and the number of
    lines before the first data row."""
    check_file(path)
    try:
        # Bytes, decoded a line at a time: a bad byte further down is not the header's.
        with open(path, "rb") as handle:
            lines = 0
            while True:
                raw = _header_line(path, handle, lines + 1)
                if not raw:
                    raise ValueError(f"{path}: the file is empty")
                lines += 1
                if (raw[3:] if lines == 1 and raw.startswith(_BOM) else raw).strip():
                    break
            # The header may span lines (a quoted name with a line break in it).
            while raw.count(b'"') % 2:
                more = _header_line(path, handle, lines + 1, len(raw))
                if not more:
                    break
                raw += more
                lines += 1
        text = raw.decode("utf-8-sig" if lines == 1 else "utf-8")
        cells = next(csv.reader([text]), [])
    except UnicodeDecodeError:
        raise ValueError(f"{path}: row {lines}: the header is not UTF-8 text") from None
    except csv.Error as exc:
        raise ValueError(f"{path}: row 1: the header is not readable as CSV ({exc})") from None
    return _check_header(path, cells), lines


def _header_line(path: str, handle: Any, row: int, before: int = 0) -> bytes:
    """The next line of the header, refused once the header grows past a block of the reader
    (a file without line breaks, a quote never closed)."""
    room = BLOCK_BYTES - before
    raw = handle.readline(room + 1)
    if len(raw) > room:
        raise ValueError(f"{path}: row {row}: the header is longer than {BLOCK_BYTES:,} bytes "
                         "(a line without end, or a quote never closed?)")
    return raw


def _check_header(path: str, cells: Sequence[str]) -> list[str]:
    header = [name.strip() for name in cells]
    if not header:
        raise ValueError(f"{path}: the header has no column names")
    if header and all(is_number(cell) for cell in header if cell):
        raise ValueError(f"{path}: row 1 should be a header of column names, got numbers")
    seen: dict[str, int] = {}
    for index, name in enumerate(header):
        if not name:
            name = header[index] = UNNAMED.format(index)
        if name in seen:
            raise ValueError(f"{path}: the column name {name!r} appears twice (columns "
                             f"{seen[name]} and {index + 1}); column names must be unique")
        seen[name] = index + 1
    return header


def is_number(text: str) -> bool:
    """Whether ``text`` reads as a number (a header of numbers is no header)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_options(pa, header: list[str], skip: int, columns: Sequence[str] | None,
                 types: dict[str, Any] | None, newlines: bool, threads: bool = True):
    csv_module = pa.csv
    read = csv_module.ReadOptions(column_names=header, skip_rows=skip, use_threads=threads,
                                  block_size=BLOCK_BYTES)
    parse = csv_module.ParseOptions(newlines_in_values=newlines)
    convert = csv_module.ConvertOptions(
        include_columns=list(columns) if columns is not None else None,
        column_types=types or None, null_values=NULL_VALUES, strings_can_be_null=True,
        quoted_strings_can_be_null=True)
    return read, parse, convert


def read_table(path: str, columns: Sequence[str] | None = None) -> Any:
    """The whole table (``columns`` only, when given) as a ``pyarrow.Table`` with typed columns;
    see the module's checks."""
    pa = _pyarrow()
    if is_parquet(path):
        dataset = _parquet_dataset(pa, path)
        _check_wanted(path, [field.name for field in dataset.schema], columns)
        try:
            table = dataset.to_table(columns=columns if columns is not None
                                     else _parquet_columns(dataset))
        except (OSError, pa.ArrowException) as exc:  # a damaged page, a truncated file
            raise _unreadable_parquet(path, exc) from None
        if table.num_rows == 0:
            raise ValueError(f"{path}: only a header, no data rows")
        _check_cells(path, table, None)
        return table
    header, skip = read_header(path)
    _check_wanted(path, header, columns)
    table = read_ranges(pa, path, skip, _range_options(pa, header, columns))
    for newlines in (False, True) if table is None else ():  # the whole file at once
        try:
            table = pa.csv.read_csv(path, *_csv_options(pa, header, skip, columns, None,
                                                         newlines))
            break
        except pa.ArrowInvalid:
            if newlines:
                raise locate_refusal(path, header, skip, columns, None) from None
        except (OSError, pa.ArrowException) as exc:  # pragma: no cover - the disk's errors
            raise ValueError(f"{path}: cannot be read ({_one_line(exc)})") from None
    if table.num_rows == 0:
        raise ValueError(f"{path}: only a header, no data rows")
    _check_cells(path, table, (header, skip))
    return table


def read_columns(path: str, columns: Sequence[str] | None = None) -> dict[str, Any]:
    """The table's columns (``columns`` only, when given) by name, read for training: a CSV's
    numeric columns as :class:`~chainrule.columns.Column` s of float64 filled block by block as
    they are parsed (:func:`chainrule.csv_ranges.read_columns`), any other column as a pyarrow
    array; the same checks and messages as :func:`read_table`, which reads what this cannot."""
    pa = _pyarrow()
    if not is_parquet(path):
        header, skip = read_header(path)
        _check_wanted(path, header, columns)
        names = list(columns) if columns is not None else header
        read = read_range_columns(pa, path, skip, names,
                                  _range_options(pa, header, columns))
        if read:
            return read
    table = read_table(path, columns)
    return {name: table.column(name) for name in table.column_names}


def _range_options(pa, header: list[str], columns: Sequence[str] | None) -> tuple:
    """The options of a range's reader: no header, no threads of its own, streamed blocks."""
    options = _csv_options(pa, header, 0, columns, None, False, threads=False)
    options[0].block_size = STREAM_BLOCK
    return options


def iter_batches(path: str, columns: Sequence[str], types: dict[str, Any] | None = None
                 ) -> Iterator[Any]:
    """The header (all the file's column names), then a ``pyarrow.Table`` of ``columns`` for each
    block of rows, read with the ``types`` given (a dict of column name to pyarrow type; the
    others inferred per block). Columns not asked for are never parsed."""
    pa = _pyarrow()
    if is_parquet(path):
        dataset = _parquet_dataset(pa, path)
        _check_wanted(path, [field.name for field in dataset.schema], columns)
        yield _parquet_columns(dataset)
        offset = 0
        batches = dataset.to_batches(columns=list(columns))
        while True:
            try:
                batch = next(batches, None)
            except (OSError, pa.ArrowException) as exc:  # a damaged page, a truncated file
                raise _unreadable_parquet(path, exc) from None
            if batch is None:
                return
            table = pa.Table.from_batches([batch])
            _check_cells(path, table, None, offset)
            offset += table.num_rows
            yield table
    header, skip = read_header(path)
    _check_wanted(path, header, columns)
    yield header
    offset = 0
    try:
        reader = pa.csv.open_csv(path, *_csv_options(pa, header, skip, columns, types, True))
        while True:
            batch = next(reader, None)
            if batch is None:
                return
            table = pa.Table.from_batches([batch])
            _check_cells(path, table, (header, skip), offset)
            offset += table.num_rows
            yield table
    except pa.ArrowInvalid:
        raise locate_refusal(path, header, skip, columns, types) from None
    except (OSError, pa.ArrowException) as exc:  # pragma: no cover - the disk's errors
        raise ValueError(f"{path}: cannot be read ({_one_line(exc)})") from None


def row_label(path: str, offset: int = 0):
    """A function naming data row ``r`` (from 0, plus ``offset``) of the file as messages do:
    ``row N`` with N its line in a CSV (the header being row 1)."""
    if is_parquet(path):
        return lambda row: f"row {row + offset + 1} (of the data)"
    skip = read_header(path)[1]
    return lambda row: f"row {line_of_row(path, skip, row + offset)}"


def _check_wanted(path: str, header: list[str], columns: Sequence[str] | None) -> None:
    if columns is None:
        return
    missing = [name for name in columns if name not in header]
    if missing:
        shown = ", ".join(repr(name) for name in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ValueError(f"{path}: lacks the column(s) {shown}{more} (columns: "
                         f"{', '.join(header[:20])}{', ...' if len(header) > 20 else ''})")


def _parquet_dataset(pa, path: str):
    import pyarrow.dataset as pads

    try:
        if not os.path.exists(path):
            raise ValueError(f"{path}: no such file")
        dataset = pads.dataset(path, format="parquet")
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(f"{path}: cannot be read as Parquet ({_one_line(exc)})") from None
    _check_header(path, [field.name for field in dataset.schema])
    return dataset


def _parquet_columns(dataset: Any) -> list[str]:
    """A Parquet file's columns without the index pandas stores beside them (as pandas' own
    ``read_parquet`` leaves it out of the columns)."""
    try:
        metadata = dataset.schema.pandas_metadata or {}
    except ValueError:  # pandas' metadata, damaged: no index is left out
        metadata = {}
    names = metadata.get("index_columns", []) if isinstance(metadata, dict) else []
    index = {name for name in names if isinstance(name, str)} if isinstance(names, list) \
        else set()
    return [field.name for field in dataset.schema if field.name not in index]


def _unreadable_parquet(path: str, exc: Exception) -> ValueError:
    return ValueError(f"{path}: cannot be read as Parquet, the file is damaged "
                      f"({_one_line(exc)})")


def _one_line(exc: Exception) -> str:
    """An exception's message on one line, at most 300 characters (pyarrow's span lines)."""
    return " ".join(str(exc).split())[:300]


def _check_cells(path: str, table: Any, csv_header: tuple[list[str], int] | None,
                 offset: int = 0) -> None:
    """Refuse what no preparation can use: bytes that are not UTF-8 (pyarrow reads them as
    binary) and infinite numbers, naming the line and column of the first."""
    import pyarrow.compute as pc

    pa = _pyarrow()
    for name in table.column_names:
        column = table.column(name)
        kind = column.type
        if csv_header is None:  # Parquet: its pages are read as written, checked here
            _check_parquet_column(pa, path, name, column, offset)
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            row = _first_not_utf8(column)
            raise ValueError(f"{path}: {_where(path, csv_header, row, offset)}column {name!r}: "
                             "a cell is not UTF-8 text")
        if pa.types.is_floating(kind):
            infinite = pc.is_inf(column)
            row = _first_true(infinite)
            if row is not None:
                value = column[row].as_py()
                raise ValueError(f"{path}: {_where(path, csv_header, row, offset)}column "
                                 f"{name!r}: {value} is not finite")


def _check_parquet_column(pa, path: str, name: str, column: Any, offset: int) -> None:
    """A Parquet column as its file stored it, checked whole (offsets, lengths, UTF-8): a
    damaged page is one error naming the file, and the row of a text cell that is not UTF-8."""
    try:
        column.validate(full=True)
    except (pa.ArrowException, ValueError) as exc:
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            try:
                row = _first_not_utf8(column.cast(pa.large_binary()))
            except (pa.ArrowException, ValueError):
                row = None
            if row is not None:
                raise ValueError(f"{path}: row {row + offset + 1} (of the data), column "
                                 f"{name!r}: a cell is not UTF-8 text") from None
        raise ValueError(f"{path}: cannot be read as Parquet, column {name!r} is damaged "
                         f"({_one_line(exc)})") from None


def _first_not_utf8(column: Any) -> int | None:
    for index, cell in enumerate(column.to_pylist()):
        try:
            if cell is not None:
                cell.decode("utf-8")
        except UnicodeDecodeError:
            return index
    return None


def _first_true(mask: Any) -> int | None:
    import pyarrow.compute as pc

    if mask is None or not pc.any(mask).as_py():
        return None
    return int(pc.index(mask, True).as_py())


def _where(path: str, csv_header: tuple[list[str], int] | None, row: int | None,
           offset: int) -> str:
    """``row N, `` for data row ``row`` of a CSV (N its line in the file, the header being
    row 1), ``row N (of the data), `` of a Parquet table, or nothing when unknown."""
    if row is None:
        return ""
    if csv_header is None:
        return f"row {row + offset + 1} (of the data), "
    return f"row {line_of_row(path, csv_header[1], row + offset)}, "


