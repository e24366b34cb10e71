"""Writing files: checked before any work, written so that a crash never leaves half of one.

Every file chainrule writes goes through :func:`atomic_write`: a temporary file beside the target,
flushed and fsynced, renamed over the target (which keeps its permissions), the folder fsynced.
The outputs of one run are written :func:`together`: each to its temporary first, then all
renamed, so that a run that cannot write its last output (a full disk) replaces none.
Only regular files are ever replaced: never a folder, a device, a pipe or a symbolic link. A
temporary file left by a process that was killed (``.<name>.<pid>-<random>.part``) is removed by
the next write to the same target. :func:`check_output` says before a long run whether its
outputs can be written at all, and :func:`claim` keeps two runs from writing one file. An OS
error (no space, no permission, a read-only disk) is an :class:`OutputError` naming the file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from . import _signals

__all__ = ["OutputError", "atomic_write", "check_output", "claim", "together"]


class OutputError(ValueError):
    """An output path that chainrule will not or cannot write (a folder, a device, a link, one
    of the inputs, a folder without write access, a file another run is writing)."""


def _refuse_non_regular(path: str) -> None:
    if os.path.islink(path):
        raise OutputError(f"{path}: is a symbolic link (to {os.path.realpath(path)}); give the "
                          "path of the file itself to replace it")
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # a new name (or its folder is a file)
        return
    if stat.S_ISDIR(mode):
        raise OutputError(f"{path}: is a folder; give a file name")
    if not stat.S_ISREG(mode):
        raise OutputError(f"{path}: is not a regular file (a device, pipe or socket); chainrule "
                          "only writes regular files")


def check_output(path: str | os.PathLike, what: str = "output",
                 inputs: Iterable[str | os.PathLike | None] = ()) -> str:
    """The absolute path of an output, after checking that it can be written: a regular file or
    a new name, not one of ``inputs``, in a folder (existing, or creatable) that takes new files.
    Raises :class:`OutputError` naming the path and the problem."""
    text = os.fspath(path)
    if not text.strip():
        raise OutputError(f"{what}: the path is empty")
    full = os.path.abspath(text)
    _refuse_non_regular(full)
    for source in inputs:
        if source is not None and os.path.exists(source) and os.path.exists(full) \
                and os.path.samefile(full, source):
            raise OutputError(f"{text}: is also an input ({os.fspath(source)}); write the "
                              f"{what} elsewhere")
    folder = os.path.dirname(full)
    existing = folder
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise OutputError(f"{text}: {existing} is a file, not a folder")
    try:  # the one sure test of a folder taking new files: make one
        descriptor, probe = tempfile.mkstemp(dir=existing, prefix=".chainrule-probe-")
    except OSError as exc:
        raise OutputError(f"{text}: cannot write in {existing} ({exc.strerror})") from None
    os.close(descriptor)
    os.unlink(probe)
    return full


def _temporary_prefix(path: str) -> str:
    return f".{os.path.basename(path)}."


def _remove_stale_temporaries(path: str) -> None:
    """Remove temporary files of ``path`` left by processes that no longer run."""
    folder, prefix = os.path.dirname(path), _temporary_prefix(path)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".part")):
            continue
        pid = name[len(prefix):-len(".part")].split("-", 1)[0]
        if not pid.isdigit() or _running(int(pid)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, name))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Writer(io.BufferedWriter):
    """The temporary file's handle: an OS error while writing (a full disk) names the file the
    temporary stands for, not the temporary."""

    target = ""

    def write(self, data):
        try:
            return super().write(data)
        except OSError as exc:
            raise _cannot_write(self.target, exc) from None

    def flush(self):
        try:
            return super().flush()
        except OSError as exc:
            raise _cannot_write(self.target, exc) from None


def _cannot_write(path: str, exc: OSError) -> OutputError:
    return OutputError(f"{path}: cannot be written ({exc.strerror or exc})")


class _Staged:
    """A file written to its temporary, waiting to be renamed over its target."""

    def __init__(self, path: str, temporary: str) -> None:
        self.path, self.temporary = path, temporary

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.temporary)


_staging: ContextVar[list[_Staged] | None] = ContextVar("chainrule_staging", default=None)


@contextmanager
def together() -> Iterator[None]:
    """Write a run's outputs together: every :func:`atomic_write` inside the block writes (and
    fsyncs) its temporary file only; when the block ends without an error, all of them are
    renamed over their targets, one after the other with nothing left to fail but the renames.
    When anything fails — a full disk while writing the second file — no target is touched and
    no temporary stays."""
    staged: list[_Staged] = []
    token = _staging.set(staged)
    try:
        yield
    except BaseException:
        _staging.reset(token)
        with _signals.critical():
            for entry in staged:
                entry.discard()
        raise
    _staging.reset(token)
    _commit(staged)


def _commit(staged: list[_Staged]) -> None:
    """Rename each staged file over its target (targets checked first), then make the renames
    durable; whatever was not renamed is removed."""
    with _signals.critical():
        try:
            for entry in staged:
                _refuse_non_regular(entry.path)  # nothing else took the name meanwhile
            for entry in staged:
                try:
                    os.replace(entry.temporary, entry.path)
                except OSError as exc:
                    raise _cannot_write(entry.path, exc) from None
        finally:
            for entry in staged:
                entry.discard()
    for folder in dict.fromkeys(os.path.dirname(entry.path) for entry in staged):
        _sync_folder(folder)


def _sync_folder(folder: str) -> None:
    """Make the renames in ``folder`` durable."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - some systems cannot open folders
        return
    try:
        os.fsync(descriptor)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(descriptor)


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Any]:
    """Open a temporary file beside ``path`` for binary writing; on success rename it over
    ``path`` (after flush and fsync; a replaced file keeps its permissions), on failure remove
    it and leave ``path`` untouched. Inside :func:`together`, the rename waits for the block's
    end. Refuses anything but a regular file or a new name; an OS error (no space, no
    permission, a read-only disk) is an :class:`OutputError` naming ``path``."""
    path = os.path.abspath(os.fspath(path))
    _refuse_non_regular(path)
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    _remove_stale_temporaries(path)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    staged = _staging.get()
    entry: _Staged | None = None
    try:
        with _signals.critical():  # the temporary exists only once something will remove it
            try:
                descriptor, temporary = tempfile.mkstemp(
                    dir=folder, prefix=f"{_temporary_prefix(path)}{os.getpid()}-",
                    suffix=".part")
            except OSError as exc:
                raise _cannot_write(path, exc) from None
            entry = _Staged(path, temporary)
            handle = _Writer(io.FileIO(descriptor, "wb"))
        handle.target = path
        with handle:
            yield handle
            handle.flush()
            try:
                os.fsync(handle.fileno())
            except OSError as exc:
                raise _cannot_write(path, exc) from None
        os.chmod(temporary, mode)  # mkstemp's 0600 is for the temporary only
        if staged is not None:
            with _signals.critical():  # from here on, together() removes it
                staged.append(entry)
                entry = None
        else:
            _commit([entry])
    except BaseException as exc:
        if entry is not None:
            with _signals.critical():
                entry.discard()
        if isinstance(exc, OSError) and exc.filename is None:
            raise _cannot_write(path, exc) from None
        raise


@contextmanager
def claim(paths: Iterable[str]) -> Iterator[None]:
    """Hold a lock for each output path while a run works towards writing it, so that a second
    run aiming at the same file stops at once (:class:`OutputError`) instead of both claiming to
    have written it. The locks go with the process, however it ends; their files (and the
    folders made for them) are removed however the block ends, a stop request included."""
    held: list[tuple[int, str]] = []
    created: list[str] = []
    try:
        for path in dict.fromkeys(os.path.abspath(p) for p in paths):
            with _signals.critical():
                _lock(path, held, created)
        yield
    finally:
        with _signals.critical():
            for descriptor, lock in reversed(held):
                with contextlib.suppress(OSError):
                    os.unlink(lock)
                os.close(descriptor)
            for folder in created:  # folders made for a run that wrote nothing there go again
                with contextlib.suppress(OSError):
                    os.rmdir(folder)


def _lock(path: str, held: list[tuple[int, str]], created: list[str]) -> None:
    folder = os.path.dirname(path)
    missing = []
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    finally:
        created.extend(m for m in missing if os.path.isdir(m))  # deepest first
    lock = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.lock")
    try:
        descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(descriptor)
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise OutputError(f"{path}: another chainrule run is writing it; wait for "
                              "it or choose another output") from None
        raise _cannot_write(path, exc) from None
    held.append((descriptor, lock))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
