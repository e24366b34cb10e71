"""Standard output for the span of a command: an OS error while writing to it (a full disk
behind a redirection) is one line naming standard output, a reader that went away (``| head``)
ends the command quietly, and the process's own flush at exit has nothing left to complain
about."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["flush_stdout", "named_stdout", "quiet_stdout"]


class _StandardOutput:
    """``sys.stdout`` for the span of a command: an OS error while writing to it (a full disk
    behind a redirection) is one line naming standard output, and the process's own flush at
    exit has nothing left to complain about."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def _guarded(self, call, *args):
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            quiet_stdout()
            raise ValueError(f"standard output: cannot be written ({exc.strerror or exc})") \
                from None

    def write(self, text):
        return self._guarded(self._stream.write, text)

    def writelines(self, lines):
        return self._guarded(self._stream.writelines, lines)

    def flush(self):
        return self._guarded(self._stream.flush)

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def named_stdout() -> Iterator[None]:
    """``sys.stdout`` guarded as :class:`_StandardOutput` says, and given back afterwards."""
    previous = sys.stdout
    sys.stdout = _StandardOutput(previous)
    try:
        yield
    finally:
        sys.stdout = previous


def flush_stdout() -> None:
    """What the command printed, written now, so that a full disk behind stdout is one line
    (and not Python's complaint at exit)."""
    sys.stdout.flush()


def quiet_stdout() -> None:
    """Standard output pointed at the null device: nothing more reaches a closed pipe or a full
    disk, and the flush at exit succeeds."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
