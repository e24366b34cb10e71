"""What an uploaded file must be before the page reads more of it.

**Tables** are read with their types as ``chainrule train`` reads them (the same checks and
messages, the file named as it was uploaded), then capped at :data:`MAX_ROWS` rows and
:data:`MAX_COLUMNS` columns before anything is prepared. Whatever the bytes, the reader's
failure is the file's: a 400 that names it, never a 500.

**Model files** are checked within the page's own limits before a single array is read
(:func:`check_model_file`): the archive's directory (at most :data:`MAX_MODEL_MEMBERS` members,
counted from its end record before the directory is parsed), the JSON header (at most
:data:`MAX_MODEL_HEADER_CHARS` characters, read only after its stored size is checked), the
architecture it declares (at most the playground's
:data:`~chainrule.playground.config.LIMITS` ``["parameters"]``, not the loader's 5·10⁸), the
stored size of every array against its ``.npy`` header and of all of them together (at most
:data:`MAX_MODEL_BYTES`), and the checksums, computed by streaming each array's bytes 256 KiB at a
time (:meth:`chainrule.model_archive.Archive.stored_digest`). Only then does
:func:`chainrule.persistence.load` read the file, with all its own checks.
A file compressed to a few KiB that declares a network of 650 MB is refused after reading its
header, in a few KiB of memory.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import OrderedDict
from typing import Any

from .. import persistence
from ..features import Preparation
from ..model_archive import HEADER, Archive, check_checksums
from ..model_header import check_header
from ..network import Network
from ..tables import read_table
from .budget import TooLarge
from .config import LIMITS

__all__ = ["MAX_COLUMNS", "MAX_MODEL_BYTES", "MAX_MODEL_HEADER_CHARS", "MAX_MODEL_MEMBERS",
           "MAX_PREPARED_CELLS", "MAX_ROWS", "MAX_UPLOAD_BYTES", "check_model_file",
           "check_prepared", "count_prepared", "read_model", "read_upload"]

MAX_UPLOAD_BYTES = 20 * 2**20
MAX_ROWS = 100_000
MAX_COLUMNS = 1_000
#: The numbers an uploaded table may become once prepared (rows times features and targets:
#: 80 MB as float64); one-hot encoding makes a column as many features as it has categories.
MAX_PREPARED_CELLS = 10_000_000
#: The bytes a model file's arrays may take as stored (uncompressed): a million float64
#: parameters with an optimizer's two buffers and a checkpoint's records fit.
MAX_MODEL_BYTES = 64 * 2**20
#: The characters of a model file's JSON header (the page's own models hold their columns'
#: names and categories there).
MAX_MODEL_HEADER_CHARS = 2**21
#: The members of a model file's archive (a network of 16 layers has 32; a checkpoint adds its
#: optimizer's buffers, its sample order and a few records).
MAX_MODEL_MEMBERS = 256
_COUNTS: OrderedDict[tuple, tuple[int, int]] = OrderedDict()
_COUNTS_LOCK = threading.Lock()


def _named(exc: BaseException, path: str, shown: str) -> str:
    text = str(exc).replace(path, shown)
    return text if text.startswith(shown) else f"{shown}: {text}"


def read_upload(path: str, shown: str, max_rows: int = MAX_ROWS,
                max_columns: int = MAX_COLUMNS):
    """The uploaded table at ``path`` (uploaded as ``shown``), read with its types and capped;
    every failure a ``ValueError`` that names ``shown``."""
    try:
        table = read_table(path)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the bytes, the failure is the file's
        message = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        raise ValueError(_named(message, path, shown)) from None
    rows, columns = table.num_rows, table.num_columns
    if rows > max_rows or columns > max_columns:
        raise TooLarge(f"{shown}: {rows:,} rows and {columns:,} columns; the playground takes "
                       f"at most {max_rows:,} rows and {max_columns:,} columns")
    return table


def count_prepared(path: str, table: Any, target: str | None, task: str | None,
                   prep: Any = None) -> tuple[int, int]:
    """``(numbers, features)``: what the table at ``path`` becomes once prepared for ``target``
    and ``task`` (rows times features and targets; one-hot encoding makes a column as many
    features as it has categories), from ``prep`` fitted on it or by fitting one. Remembered
    by file (a file's path names its bytes), so that a run's next configuration does not fit
    the table again."""
    key = (path, target, task)
    with _COUNTS_LOCK:
        if key in _COUNTS:
            return _COUNTS[key]
    if prep is None:
        prep = Preparation(target, task=task).fit(table)
    features = len(prep.feature_names)
    counts = (table.num_rows * (features + max(1, len(prep.classes))), features)
    with _COUNTS_LOCK:
        _COUNTS[key] = counts
        while len(_COUNTS) > 256:
            _COUNTS.popitem(last=False)
    return counts


def check_prepared(counts: tuple[int, int], rows: int, shown: str,
                   max_cells: int | None = None) -> None:
    """Refuse a table whose prepared features and targets (``counts`` from
    :func:`count_prepared`) would be more than ``max_cells`` numbers
    (:data:`MAX_PREPARED_CELLS`)."""
    max_cells = MAX_PREPARED_CELLS if max_cells is None else max_cells
    numbers, features = counts
    if numbers > max_cells:
        raise TooLarge(f"{shown}: {rows:,} rows of {features:,} features (one-hot encoding "
                       f"makes a category a feature) are {numbers:,} numbers; the playground "
                       f"takes at most {max_cells:,}")


# ---------------------------------------------------------------------------- model files
def _entries(path: str, shown: str) -> int:
    """The number of members the archive's end record declares, read before ``zipfile`` parses
    its directory (a directory of a million members is refused without being parsed)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            length = handle.tell()
            tail_size = min(length, 22 + 65535)
            handle.seek(length - tail_size)
            tail = handle.read(tail_size)
    except OSError as exc:
        raise ValueError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise ValueError(f"{shown}: truncated or corrupted model file (not a zip archive)")
    entries = struct.unpack("<H", tail[at + 10:at + 12])[0]
    if entries == 0xFFFF or tail.rfind(b"PK\x06\x07", 0, at) >= 0:  # a ZIP64 directory
        entries = MAX_MODEL_MEMBERS + 1
    return entries


def check_model_file(path: str, shown: str,
                     max_parameters: int = LIMITS["parameters"]) -> dict[str, Any]:
    """Check the model file at ``path`` (uploaded as ``shown``) as the module's text says,
    reading nothing but its directory, its header and its arrays' bytes streamed into the
    checksums; returns its architecture. A ``ValueError`` (:class:`TooLarge` for the limits)
    names ``shown``."""
    entries = _entries(path, shown)
    if entries > MAX_MODEL_MEMBERS:
        raise TooLarge(f"{shown}: its archive declares {entries:,} members; a model file has "
                       f"at most {MAX_MODEL_MEMBERS}")
    try:
        archive = Archive(path)
    except ValueError as exc:
        raise ValueError(_named(exc, path, shown)) from None
    try:
        info = archive.members.get(HEADER)
        if info is not None and info.file_size > 4 * MAX_MODEL_HEADER_CHARS + 1024:
            raise TooLarge(f"{shown}: its header takes {info.file_size:,} bytes; the "
                           f"playground reads headers of at most {MAX_MODEL_HEADER_CHARS:,} "
                           "characters")
        header = archive.header()
        spec = check_header(path, header)[0]  # every field, by the loader's own schema
        sizes, bias = spec["sizes"], spec["bias"]
        parameters = sum((a + int(b_)) * b for a, b, b_ in zip(sizes, sizes[1:], bias))
        if parameters > max_parameters:
            raise TooLarge(f"{shown}: its network {sizes[:20]} has {parameters:,} parameters; "
                           f"the playground takes at most {max_parameters:,}")
        stored = sum(member.file_size for member in archive.members.values())
        if stored > MAX_MODEL_BYTES:
            raise TooLarge(f"{shown}: its arrays take {stored:,} bytes; the playground reads "
                           f"model files of at most {MAX_MODEL_BYTES:,}")
        check_checksums(path, header, [name for name in archive.members if name != HEADER],
                        archive.stored_digest)
    except ValueError as exc:
        if isinstance(exc, TooLarge) or str(exc).startswith(shown):
            raise
        raise ValueError(_named(exc, path, shown)) from None
    finally:
        archive.close()
    return spec


def read_model(path: str, shown: str) -> Network:
    """The model file at ``path`` (uploaded as ``shown``) as a network, after
    :func:`check_model_file`."""
    check_model_file(path, shown)
    try:
        return persistence.load(path, Network)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the bytes, the failure is the file's
        message = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        raise ValueError(_named(message, path, shown)) from None
