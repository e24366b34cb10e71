"""Signals: how a run of the command line ends when it is asked to stop.

The command line (:func:`installed`, around each command) takes SIGINT (Ctrl-C), SIGTERM and
SIGHUP alike. Outside a run they raise :class:`Stopped` (a ``KeyboardInterrupt``), so that every
``finally`` runs: no lock file and no temporary file stays behind. While something listens
(:func:`listening`: a training run, then the writing of its outputs) a signal is a request to
stop instead: the listener is told, nothing is raised, and the run ends after its current step
with that step's update kept. :func:`critical` holds a signal back for the few statements that
create or remove a file and must not be cut in two, and :func:`unhandled` finds a stop request
that some library code swallowed, so that none is lost. A signal the process ignores (nohup's
SIGHUP) stays ignored. Without the command line's handlers (the Python API) a training run
listens to SIGINT only, as it always did; the rest is the default.

Signal handlers run in the main thread only: a run in another thread listens to nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["EXIT_CODES", "Heard", "Stopped", "critical", "describe", "installed", "listening",
           "unhandled"]

#: The signals the command line treats as a request to stop, and the exit code of each
#: (128 + the signal's number, as a shell reports a process ended by it).
SIGNALS = tuple(s for s in (getattr(signal, name, None) for name in ("SIGINT", "SIGTERM",
                                                                    "SIGHUP")) if s is not None)
EXIT_CODES = {int(s): 128 + int(s) for s in SIGNALS}
_NAMES = {"SIGINT": "Ctrl-C"}


def describe(signum: int | None) -> str:
    """How messages name a signal: ``Ctrl-C`` for SIGINT, else its name (``SIGTERM``)."""
    if signum is None:
        return "Ctrl-C"
    name = signal.Signals(signum).name
    return _NAMES.get(name, name)


class Stopped(KeyboardInterrupt):
    """A stop request (SIGINT, SIGTERM, SIGHUP) that arrived while nothing listened."""

    def __init__(self, signum: int) -> None:
        super().__init__(describe(signum))
        self.signum = signum


class Heard:
    """What a listening scope heard: the first signal's number, or ``None``."""

    signum: int | None = None

    def __call__(self, signum: int) -> None:
        if self.signum is None:
            self.signum = signum


_listeners: list[Callable[[int], None]] = []
_heard: int | None = None  # the first signal the current listeners heard
_critical = 0
_pending: int | None = None  # a signal held back by a critical section
_raised: int | None = None  # a Stopped raised and not yet handled (see unhandled)
_active = False  # whether the command line's handlers are installed


def _handle(signum: int, frame) -> None:
    global _heard, _pending
    if _listeners:
        if _heard is None:
            _heard = signum
        for listener in reversed(list(_listeners)):
            listener(signum)
        return
    if _critical:
        _pending = _pending or signum
        return
    _stop(signum)


def _stop(signum: int) -> None:
    global _raised
    _raised = signum
    raise Stopped(signum)


def unhandled() -> int | None:
    """The signal of a :class:`Stopped` raised since the last call and not handled, or None;
    forgets it. Some libraries swallow exceptions raised inside them (pyarrow's compiled code
    does, while it imports pandas): the command line asks this when a command has ended, and
    a run asks it before its first step, so that no stop request is ever lost."""
    global _raised
    signum, _raised = _raised, None
    return signum


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def installed(program: bool = False) -> Iterator[None]:
    """The command line's handlers for the span of a command; the previous ones are put back
    after it, unless it is the ``program`` itself (``chainrule ...``, not ``main([...])`` called
    from Python): then a stop request while the interpreter shuts down ends it at once with its
    exit code, as quietly as one during the command."""
    global _active, _pending, _heard, _raised
    if not _main_thread() or _active:
        yield
        return
    # A signal the process ignores stays ignored (nohup's SIGHUP, Ctrl-C of a background job).
    previous = {s: signal.signal(s, _handle) for s in SIGNALS
                if signal.getsignal(s) is not signal.SIG_IGN}
    _active, _pending, _heard, _raised = True, None, None, None
    try:
        yield
    finally:
        _active = False
        for s, handler in previous.items():
            signal.signal(s, _exit_now if program else handler)


def _exit_now(signum: int, frame) -> None:
    import contextlib
    import os
    import sys

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(EXIT_CODES.get(signum, 128 + signum))


@contextmanager
def listening(listener: Callable[[int], None]) -> Iterator[None]:
    """For the span of the block, a stop request calls ``listener(signum)`` instead of raising
    (a signal heard by an enclosing scope is passed on at once). Without the command line's
    handlers, only SIGINT, and only in the main thread."""
    global _heard
    if not _main_thread():
        yield
        return
    if not _active:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: listener(signum))
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
        return
    if _raised is not None:  # a stop request raised earlier, swallowed on its way
        _stop(_raised)
    _listeners.append(listener)
    if _heard is not None:
        listener(_heard)
    try:
        yield
    finally:
        _listeners.remove(listener)
        if not _listeners:
            _heard = None


@contextmanager
def critical() -> Iterator[None]:
    """Hold stop requests back until the block is done, then act on the first one (raise it,
    unless a listener takes it). Without the command line's handlers, Ctrl-C is held back so
    where its handler is Python's default."""
    global _critical, _pending
    outermost = not _critical and _main_thread()
    previous = None
    if outermost and not _active and signal.getsignal(signal.SIGINT) is \
            signal.default_int_handler:
        previous = signal.signal(signal.SIGINT, _handle)
    _critical += 1
    try:
        yield
    finally:
        _critical -= 1
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if not _critical and _pending is not None:
            signum, _pending = _pending, None
            if _listeners:
                _handle(signum, None)
            else:
                _stop(signum)
