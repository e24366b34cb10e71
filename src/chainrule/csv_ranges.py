"""Reading a large CSV in byte ranges, one per core, side by side (pyarrow's streaming reader
in each): the memory of the data, not of the file and the data.

:func:`read_ranges` gives a ``pyarrow.Table``. :func:`read_columns` goes one step further for
what training needs: the cells of each numeric column (numbers, booleans, empty) land, block by
block as they are parsed, in one float64 array per column at their final rows, so the parsed
blocks are dropped as they go and no number is converted twice. It knows each range's first
row before parsing by counting the line breaks of every range first (a line ends each row; a
blank line, which the reader skips, leaves a gap that is closed afterwards).

Either gives ``None`` when the file must be read whole instead (by :mod:`chainrule.tables`,
which then names what is wrong): a quoted line break (a range reader reads one line as one
row), a column whose type a later block changes, a cell that is not UTF-8, an infinite number.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .columns import Column

__all__ = ["RANGE_BYTES", "read_columns", "read_ranges"]

#: A CSV larger than this is read in one byte range per core, side by side.
RANGE_BYTES = 1 << 25
STREAM_BLOCK = 1 << 20  # what each range's reader parses at a time
_COUNT_CHUNK = 1 << 23  # bytes read at a time to count a range's line breaks


class _Range(io.RawIOBase):
    """Bytes ``start`` to ``end`` of a file, as a file."""

    def __init__(self, path: str, start: int, end: int) -> None:
        super().__init__()
        self._file = open(path, "rb")  # noqa: SIM115 - closed with the range
        self._file.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = min(len(buffer), self._left)
        if size <= 0:
            return 0
        got = self._file.readinto(memoryview(buffer)[:size])
        self._left -= got
        return got

    def close(self) -> None:
        self._file.close()
        super().close()


def cuts(path: str, skip: int, parts: int) -> list[int]:
    """Byte offsets that split the data rows into ``parts`` ranges at line starts."""
    with open(path, "rb") as handle:
        for _ in range(skip):
            handle.readline()
        start, size = handle.tell(), os.fstat(handle.fileno()).st_size
        offsets = [start]
        for k in range(1, parts):
            handle.seek(max(offsets[-1], start + (size - start) * k // parts))
            handle.readline()
            offsets.append(min(handle.tell(), size))
    return offsets + [size]


def _parts(path: str) -> int:
    return max(1, min(os.cpu_count() or 1, os.path.getsize(path) // RANGE_BYTES))


def _each_range(parts: int, job: Callable[[int], Any]) -> list[Any]:
    if parts == 1:
        return [job(0)]
    with ThreadPoolExecutor(parts) as pool:
        return list(pool.map(job, range(parts)))


def _open(pa, path: str, start: int, end: int, options: tuple) -> Any:
    """pyarrow's streaming reader over bytes ``start`` to ``end`` (no header in them)."""
    read_options, parse, convert = options
    source = io.BufferedReader(_Range(path, start, end), STREAM_BLOCK)
    return source, pa.csv.open_csv(source, read_options, parse, convert)


def read_ranges(pa, path: str, skip: int, options: tuple) -> Any:
    """The CSV (its header's ``skip`` lines left out) as a ``pyarrow.Table``, read in ranges
    with ``options`` (pyarrow's read, parse and convert options; no header, no threads of its
    own); ``None`` when it must be read whole."""
    parts = _parts(path)
    offsets = cuts(path, skip, parts)

    def read(index: int) -> Any:
        if offsets[index] == offsets[index + 1]:
            return None  # a range of no byte (a file of fewer lines than ranges)
        source, reader = _open(pa, path, offsets[index], offsets[index + 1], options)
        with source:
            return pa.Table.from_batches(list(reader), reader.schema)

    try:
        pieces = [piece for piece in _each_range(parts, read) if piece is not None]
    except (pa.ArrowInvalid, StopIteration):
        return None
    if not pieces:
        return None
    schemas = {piece.schema for piece in pieces}
    if len(schemas) > 1:
        try:
            unified = pa.unify_schemas(list(schemas), promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # text in one range, numbers in another
            return None
        if any(not _widens(pa, piece.schema, unified) for piece in pieces):
            return None
        pieces = [piece.cast(unified) for piece in pieces]
    return pa.concat_tables(pieces)


def _widens(pa, schema: Any, unified: Any) -> bool:
    """Whether ``schema`` casts to ``unified`` without changing a value's text: a column of
    no cells, or whole numbers to floats."""
    for field in schema:
        target = unified.field(field.name).type
        if field.type != target and not pa.types.is_null(field.type) and not (
                pa.types.is_integer(field.type) and pa.types.is_floating(target)):
            return False
    return True


# ---------------------------------------------------------------------------- columns
class _WholeFile(Exception):
    """The file must be read whole (see the module)."""


def _count_lines(path: str, start: int, end: int) -> int:
    """The line breaks in bytes ``start`` to ``end``, plus one for a last line without one."""
    buffer = bytearray(min(_COUNT_CHUNK, max(end - start, 1)))
    count, last = 0, b"\n"
    with _Range(path, start, end) as source:
        while got := source.readinto(buffer):
            count += int(np.count_nonzero(np.frombuffer(buffer, np.uint8, got) == 10))
            last = bytes(buffer[got - 1:got])
    return count + (last != b"\n")


def _bits(buffer: Any, offset: int, n: int) -> np.ndarray:
    """Bits ``offset`` to ``offset + n`` of an Arrow bitmap (least significant bit first)."""
    bits = np.unpackbits(np.frombuffer(buffer, np.uint8), bitorder="little", count=offset + n)
    return bits[offset:].view(bool)


def _write_numbers(pa, array: Any, kind: str, out: np.ndarray) -> None:
    """The cells of a pyarrow array of numbers, booleans or nulls into float64 ``out``, NaN
    where empty, read from its buffers (what ``to_numpy`` would give, without the conversion
    machinery it loads: pyarrow.compute, and pandas where it is installed)."""
    n, offset = len(array), array.offset
    if kind == "null":
        out[:] = np.nan
        return
    validity, data = array.buffers()[:2]
    if kind == "boolean":
        out[:] = _bits(data, offset, n)
    else:
        code = "f" if pa.types.is_floating(array.type) else \
            "i" if pa.types.is_signed_integer(array.type) else "u"
        out[:] = np.frombuffer(data, f"<{code}{array.type.bit_width // 8}", offset + n)[offset:]
    if array.null_count:
        out[~_bits(validity, offset, n)] = np.nan


class _Sink:
    """Where the ranges' blocks land: a float64 array per numeric column (made on its first
    block, at the file's row count), the blocks of any other column as pyarrow arrays."""

    def __init__(self, pa, capacity: int) -> None:
        self.pa, self.capacity = pa, capacity
        self.numbers: dict[str, np.ndarray] = {}
        self.others: dict[str, list[tuple[int, Any]]] = {}
        self.types: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def _type(self, array: Any) -> str:
        types = self.pa.types
        kind = array.type
        if types.is_null(kind):
            return "null"
        if types.is_integer(kind):
            return "integer"
        if types.is_floating(kind):
            return "number"
        if types.is_boolean(kind):
            return "boolean"
        if types.is_binary(kind) or types.is_large_binary(kind):
            raise _WholeFile  # not UTF-8: the whole file's reader names the cell
        return str(kind)

    def put(self, name: str, row: int, array: Any) -> None:
        """Block ``array`` of column ``name``, whose first row is ``row`` of the file."""
        kind = self._type(array)
        with self._lock:
            self.types.setdefault(name, set()).add(kind)
            seen = self.types[name]
            numeric = seen <= {"null", "integer", "number", "boolean"}
            if not numeric and seen & {"integer", "number", "boolean"}:
                raise _WholeFile  # numbers in one block, text in another
            if numeric and name not in self.numbers:
                self.numbers[name] = np.empty(self.capacity)
        if not numeric or kind == "null":  # a block of no cell may be of a text column
            self.others.setdefault(name, []).append((row, array))
        if not numeric:
            return
        out = self.numbers[name][row:row + len(array)]
        _write_numbers(self.pa, array, kind, out)
        if kind == "number" and np.isinf(out).any():
            raise _WholeFile  # an infinite number: named by the whole file's reader

    def close_gaps(self, starts: Sequence[int], rows: Sequence[int]) -> int:
        """Move each range's rows to follow the previous range's (a range whose blank lines
        held no row left a gap); the number of rows."""
        final = np.concatenate([[0], np.cumsum(rows)]).astype(int)
        for values in self.numbers.values():
            for k in range(1, len(rows)):
                if final[k] != starts[k]:
                    values[final[k]:final[k] + rows[k]] = values[starts[k]:starts[k] + rows[k]]
        return int(final[-1])

    def column(self, name: str, n: int) -> Any:
        """Column ``name`` of ``n`` rows: a :class:`Column` of numbers, or a chunked pyarrow
        array (its blocks in the file's order)."""
        seen = self.types.get(name, {"null"})
        if seen <= {"null", "integer", "number", "boolean"}:
            values = self.numbers[name][:n]
            kind = "empty" if seen == {"null"} else "boolean" if "boolean" in seen else \
                "number" if "number" in seen else "integer"
            if "boolean" in seen and seen & {"integer", "number"}:
                raise _WholeFile
            return Column(kind, values)
        blocks = sorted(self.others[name], key=lambda block: block[0])
        kinds = {str(array.type) for _, array in blocks if str(array.type) != "null"}
        if len(kinds) > 1:
            raise _WholeFile
        arrays = [array for _, array in blocks]
        if kinds:
            kind = next(array.type for array in arrays if str(array.type) != "null")
            arrays = [array.cast(kind) if str(array.type) == "null" else array
                      for array in arrays]
        return self.pa.chunked_array(arrays)


def _declare_types(pa, path: str, offsets: Sequence[int], options: tuple) -> None:
    """Set the types of the numbers (whole numbers, numbers, booleans) of the file's first block
    for every block to come: a reader given them converts each cell at once, where one that
    infers them tries each type on every block (a third of the parsing time on a table of
    numbers). A later cell of another type is refused as it would be by inference."""
    if offsets[0] == offsets[-1]:
        return
    source, reader = _open(pa, path, offsets[0], offsets[-1], options)
    with source:
        schema = next(iter(reader)).schema
    types = pa.types
    options[2].column_types = {
        field.name: field.type for field in schema
        if types.is_integer(field.type) or types.is_floating(field.type)
        or types.is_boolean(field.type)}


def read_columns(pa, path: str, skip: int, names: Sequence[str], options: tuple
                 ) -> dict[str, Any] | None:
    """Columns ``names`` of the CSV (see :func:`read_ranges` for ``skip`` and ``options``):
    each numeric one a :class:`~chainrule.columns.Column` of float64 (NaN for an empty cell;
    kind ``integer``, ``number``, ``boolean`` or ``empty``), any other a chunked pyarrow array;
    ``None`` when the file must be read whole. Nothing is returned for a file of no data row
    (``{}``)."""
    parts = _parts(path)
    offsets = cuts(path, skip, parts)
    try:
        _declare_types(pa, path, offsets, options)
    except (pa.ArrowInvalid, StopIteration):
        return None
    lines = _each_range(parts, lambda k: _count_lines(path, offsets[k], offsets[k + 1]))
    starts = np.concatenate([[0], np.cumsum(lines)]).astype(int)
    sink = _Sink(pa, int(starts[-1]))

    def parse(index: int) -> int:
        if offsets[index] == offsets[index + 1]:
            return 0  # a range of no byte (a file of fewer lines than ranges)
        source, reader = _open(pa, path, offsets[index], offsets[index + 1], options)
        row = int(starts[index])
        with source:
            for batch in reader:
                if row + batch.num_rows > starts[index + 1]:
                    raise _WholeFile  # more rows than lines: cannot happen, but never overrun
                for name, array in zip(batch.schema.names, batch.columns):
                    sink.put(name, row, array)
                row += batch.num_rows
        return row - int(starts[index])

    try:
        rows = _each_range(parts, parse)
        n = sink.close_gaps(starts, rows)
        if n == 0:
            return {}
        return {name: sink.column(name, n) for name in names}
    except (pa.ArrowInvalid, StopIteration, _WholeFile):
        return None
