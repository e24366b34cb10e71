"""A model file's archive: its members, their ``.npy`` headers, the checksums, read in that order.

A model file is a NumPy ``.npz`` archive (``docs/model-format.md``). :class:`Archive` reads it in
order: the zip's directory (every member named as the format defines, none twice), then each
``.npy`` header (dtype, shape, C order, stored size), then data (``allow_pickle=False``).
:func:`read_archive` checks the header (:func:`~chainrule.model_header.check_header`) and every
member's ``.npy`` header against what the architecture implies, the total against the memory
available, and only then reads the arrays and checks that they are finite and that the
checksums (:func:`digest`, over the arrays and the header's :func:`canonical` form) match.
:mod:`chainrule.persistence` builds the network from what it returns; the playground checks an
uploaded file within its own limits with :class:`Archive` and :func:`check_checksums`, streaming
the arrays' bytes into the digest (:meth:`Archive.stored_digest`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from .arrays import require_memory
from .model_header import MAX_HEADER_CHARS, ModelFileError, check_header, parse_json

__all__ = ["HEADER", "MAX_SAMPLES", "Archive", "canonical", "check_checksums", "digest",
           "json_default", "read_archive"]

HEADER = "chainrule.json"
#: The samples a checkpoint's order may hold, checked before anything is read.
MAX_SAMPLES = 2**40
#: The names an archive member may have (without ``.npy``).
_MEMBER = re.compile(r"(chainrule\.json"
                     r"|layers\.\d+\.(weight|bias|gamma|beta|running_mean|running_var)"
                     r"|optimizer\.[a-z_]+\.\d+"
                     r"|trainer\.order|history\.[A-Za-z_][A-Za-z0-9_]*)")
#: The bytes of a stored array hashed at a time by :meth:`Archive.stored_digest`.
_CHUNK = 2**18


def _fail(path: str, message: str) -> ModelFileError:
    return ModelFileError(f"{path}: {message}")


# ---------------------------------------------------------------------------- the checksum
def json_default(value: Any) -> Any:
    """A NumPy scalar or array as the JSON value a header stores (``json.dumps``'s
    ``default``); anything else cannot go in a model file."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a model file")


def canonical(header: dict[str, Any]) -> bytes:
    """The header as the checksum sees it: sorted, compact JSON, without the checksums."""
    content = {k: v for k, v in header.items() if k not in ("checksum", "checkpoint_checksum")}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False,
                      default=json_default).encode()


def _sealed(members: Iterable[tuple[str, np.dtype, tuple[int, ...], Iterable[bytes]]],
            header: dict[str, Any] | None) -> str:
    """SHA-256 over each member, in the order given, as ``"<name>:<dtype.str>:<shape>;"``
    followed by its bytes, then ``"header:"`` and :func:`canonical` of ``header``."""
    sha = hashlib.sha256()
    for name, dtype, shape, chunks in members:
        sha.update(f"{name}:{dtype.str}:{shape};".encode())
        for chunk in chunks:
            sha.update(chunk)
    if header is not None:
        sha.update(b"header:" + canonical(header))
    return sha.hexdigest()


def digest(arrays: dict[str, np.ndarray], header: dict[str, Any] | None) -> str:
    """SHA-256 over each array (name, dtype, shape, bytes, in sorted name order) and, from
    format version 2 on, over the header."""
    contiguous = {name: np.ascontiguousarray(arrays[name]) for name in sorted(arrays)}
    return _sealed(((name, array.dtype, array.shape, (array.tobytes(),))
                    for name, array in contiguous.items()), header)


def check_checksums(path: str, header: dict[str, Any], names: Iterable[str],
                    digest_of: Callable[[list[str], dict[str, Any] | None], str]) -> None:
    """The header's ``checksum`` against the digest of the ``layers.*`` members among
    ``names`` and, for a checkpoint, its ``checkpoint_checksum`` against the digest of all of
    them; ``digest_of(names, signed_header)`` computes a digest (:func:`digest` of arrays in
    memory, or :meth:`Archive.stored_digest`)."""
    signed = header if header["format_version"] >= 2 else None  # version 1: arrays only
    names = list(names)
    if header.get("checksum") != digest_of([n for n in names if n.startswith("layers.")],
                                           signed):
        raise _fail(path, "checksum mismatch, the model was altered or damaged")
    if header.get("checkpoint") is not None and \
            header.get("checkpoint_checksum") != digest_of(names, signed):
        raise _fail(path, "checksum mismatch, the checkpoint was altered or damaged")


# ---------------------------------------------------------------------------- the archive
class Archive:
    """An ``.npz`` file read in order: its directory, then ``.npy`` headers, then data."""

    def __init__(self, path: str):
        self.path = path
        if not os.path.isfile(path):
            raise _fail(path, "no such model file") if not os.path.exists(path) \
                else _fail(path, "not a regular file")
        try:
            self.zip = zipfile.ZipFile(path)
        except (PermissionError, BlockingIOError) as exc:  # the file, not its content
            raise _fail(path, f"cannot be read ({exc.strerror or exc})") from None
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise _fail(path, f"truncated or corrupted model file ({exc})") from None
        infos = self.zip.infolist()
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise _fail(path, "the archive holds two members of one name")
        self.members = {}
        for info in infos:
            stem = info.filename[:-4] if info.filename.endswith(".npy") else None
            if stem is None or not _MEMBER.fullmatch(stem):
                raise _fail(path, f"holds a member the format does not define: "
                                  f"{info.filename[:80]!r}")
            self.members[stem] = info

    def close(self) -> None:
        self.zip.close()

    def _open(self, name: str):
        try:
            return self.zip.open(self.members[name])
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
            raise _fail(self.path, f"truncated or corrupted model file ({exc})") from None

    def array_header(self, name: str) -> tuple[tuple[int, ...], np.dtype]:
        """The declared shape and dtype of a member, checked against its stored size."""
        info = self.members[name]
        try:
            with self._open(name) as handle:
                version = np.lib.format.read_magic(handle)
                reader = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                    else np.lib.format.read_array_header_2_0
                shape, fortran_order, dtype = reader(handle)
                offset = handle.tell()
        except ModelFileError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, SyntaxError) as exc:
            raise _fail(self.path, f"{name}: not a valid .npy array ({exc})") from None
        if fortran_order or dtype.hasobject:
            raise _fail(self.path, f"{name}: must be a plain C-ordered array, got {dtype}")
        nbytes = math.prod(shape) * dtype.itemsize
        if info.file_size != offset + nbytes:
            raise _fail(self.path, f"{name}: its size ({info.file_size} bytes) does not match "
                                   f"its header ({dtype}{list(shape)})")
        return shape, dtype

    def read(self, name: str) -> np.ndarray:
        try:
            with self._open(name) as handle:
                return np.lib.format.read_array(handle, allow_pickle=False)
        except ModelFileError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise _fail(self.path, f"truncated or corrupted model file ({name}: {exc})") \
                from None

    def stored_digest(self, names: list[str], header: dict[str, Any] | None) -> str:
        """:func:`digest` of the named members, computed from their stored bytes 256 KiB at a
        time instead of from arrays read whole."""
        def members() -> Iterator[tuple[str, np.dtype, tuple[int, ...], Iterator[bytes]]]:
            for name in sorted(names):
                shape, dtype = self.array_header(name)
                yield name, dtype, shape, self._stored_bytes(name, shape, dtype)

        return _sealed(members(), header)

    def _stored_bytes(self, name: str, shape: tuple[int, ...], dtype: np.dtype
                      ) -> Iterator[bytes]:
        info = self.members[name]
        nbytes = int(dtype.itemsize) * math.prod(shape)
        try:
            with self.zip.open(info) as handle:
                handle.read(info.file_size - nbytes)  # the .npy header, checked already
                left = nbytes
                while left:
                    chunk = handle.read(min(_CHUNK, left))
                    if not chunk:
                        raise EOFError("the data ends early")
                    yield chunk
                    left -= len(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
            raise _fail(self.path, f"truncated or corrupted model file ({name}: {exc})") \
                from None

    def header(self) -> dict[str, Any]:
        if HEADER not in self.members:
            raise _fail(self.path, f"not a chainrule model file (no {HEADER})")
        shape, dtype = self.array_header(HEADER)
        if dtype.kind != "U" or shape != () or dtype.itemsize // 4 > MAX_HEADER_CHARS:
            raise _fail(self.path, f"the header {HEADER} is malformed")
        return parse_json(self.path, str(self.read(HEADER)))


def _check_members(archive: Archive, spec: dict[str, Any], training: Any) -> dict[str, tuple]:
    """Every member's declared shape and dtype against what the header implies; returns them.
    Nothing is read but ``.npy`` headers."""
    path, sizes, dtype = archive.path, spec["sizes"], np.dtype(spec["dtype"])
    expected: dict[str, tuple] = {}
    for layer, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        expected[f"layers.{layer}.weight"] = ((n_in, n_out), dtype)
        if spec["bias"][layer]:
            expected[f"layers.{layer}.bias"] = ((n_out,), dtype)
    kinds = spec.get("normalization", [])
    for layer, kind in enumerate(kinds):  # normalisation's scale and shift, trained
        if kind is not None:
            for name in ("gamma", "beta"):
                expected[f"layers.{layer}.{name}"] = ((sizes[layer + 1],), dtype)
    n_parameters = sum(math.prod(shape) for shape, _ in expected.values())
    for layer, kind in enumerate(kinds):  # batch normalisation's running statistics: state
        if kind == "batch":
            for name in ("running_mean", "running_var"):
                expected[f"layers.{layer}.{name}"] = ((sizes[layer + 1],), dtype)
    extra = [name for name in archive.members if name not in expected and name != HEADER]
    unexpected = [name for name in extra if name.startswith("layers.")]
    if unexpected:
        raise _fail(path, f"arrays do not match the architecture (unexpected {unexpected[:3]})")
    if training is None and extra:
        raise _fail(path, f"a model file with members only checkpoints have: {extra[:3]}")
    declared = {}
    for name in extra:
        shape, found = archive.array_header(name)
        kind = name.split(".")[0]
        if kind == "optimizer":
            ok = shape == (n_parameters,) and found == dtype
        elif kind == "trainer":
            ok = len(shape) == 1 and shape[0] <= MAX_SAMPLES and found == np.dtype("<i8")
        else:  # history
            ok = len(shape) == 1 and shape[0] == training["epoch"] and found == np.dtype("<f8")
        if not ok:
            raise _fail(path, f"{name} is {found}{list(shape)}, which this checkpoint cannot "
                              "hold")
        declared[name] = (shape, found)
    missing = sorted(set(expected) - set(archive.members))
    if missing:
        raise _fail(path, f"arrays do not match the architecture (missing {missing})")
    if training is not None:  # every run records these three, one value per epoch done
        records = set(training["history"]["history"]) if "history" in training["history"] \
            else {name[len("history."):] for name in extra if name.startswith("history.")}
        lacking = [key for key in ("loss", "learning_rate", "time") if key not in records]
        if lacking:
            raise _fail(path, f"the checkpoint's history lacks its {', '.join(lacking)} "
                              f"record(s) (one value for each of its {training['epoch']} "
                              "epochs)")
    for name, (shape, wanted) in expected.items():
        found_shape, found = archive.array_header(name)
        if found_shape != shape or found != wanted:
            raise _fail(path, f"{name} is {found}{list(found_shape)}, expected "
                              f"{wanted}{list(shape)}")
        declared[name] = (shape, wanted)
    require_memory(sum(math.prod(s) * d.itemsize for s, d in declared.values()),
                   f"reading {path}")
    return declared


def read_archive(path: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, np.ndarray],
                                     dict[str, Any] | None]:
    """``(spec, header, arrays, training)`` of the model file at ``path``, everything checked
    in the order of ``docs/model-format.md``: the archive, the header, every member's ``.npy``
    header, and only then the arrays, finite and matching the checksums. ``spec`` is the
    architecture as :meth:`Engine.spec` gives it, ``training`` a checkpoint's checked trainer
    state (``None`` for a model file)."""
    archive = Archive(path)
    try:
        header = archive.header()
        spec, training = check_header(path, header)
        declared = _check_members(archive, spec, training)
        arrays = {name: archive.read(name) for name in declared}
    finally:
        archive.close()
    for name, array in arrays.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise _fail(path, f"{name} holds non-finite values")
    check_checksums(path, header, arrays,
                    lambda names, signed: digest({n: arrays[n] for n in names}, signed))
    return spec, header, arrays, training
