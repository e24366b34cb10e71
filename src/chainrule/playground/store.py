"""What the server keeps between requests: uploaded files, and the open sessions within a number
and a memory budget.

**Files** (uploaded tables, imported models) live in a private temporary folder, by the SHA-256
of their bytes; at most :data:`MAX_FILES`, the oldest goes first.

**Sessions**: at most ``limit`` (the least recently used goes first) and, together, at most
``budget`` bytes as :mod:`~chainrule.playground.budget` estimates them. A new session reserves
its footprint before its network is made: the least recently used sessions that are not
answering a request make room; a run larger than the whole budget is refused (413), and one
that cannot have room while other tabs are busy is refused with a 503 that says so.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import tempfile
import threading
from collections import OrderedDict
from typing import Any

from .budget import MEMORY_BUDGET, TooLarge, size

__all__ = ["MAX_FILES", "MAX_SESSIONS", "Busy", "Files", "Gone", "Sessions"]

MAX_SESSIONS = 32
MAX_FILES = 32
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class Busy(RuntimeError):
    """No room now for what was asked (answered 503: try again, or close a tab)."""

    status = 503


class Gone(LookupError):
    """A session that is no longer open (answered 404: reload the page)."""

    status = 404


class Files:
    """Uploaded CSV files and imported model files, kept in a private folder by the SHA-256 of
    their bytes (at most :data:`MAX_FILES`; the oldest goes first)."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="chainrule-serve-")
        self.names: OrderedDict[str, str] = OrderedDict()
        self.lock = threading.Lock()

    def add(self, name: str, content: bytes) -> tuple[str, str]:
        key = hashlib.sha256(content).hexdigest()[:24]
        name = _SAFE_NAME.sub("_", os.path.basename(name or "upload"))[:100].lstrip(".") \
            or "upload"  # never "." or "..": the file stays inside its folder
        with self.lock:
            folder = os.path.join(self.folder, key)
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, name)
            with open(path, "wb") as handle:
                handle.write(content)
            self.names[key] = name
            self.names.move_to_end(key)
            while len(self.names) > MAX_FILES:
                old, _ = self.names.popitem(last=False)
                shutil.rmtree(os.path.join(self.folder, old), ignore_errors=True)
        return key, path

    def path(self, key: str) -> str | None:
        name = self.names.get(key)
        return None if name is None else os.path.join(self.folder, key, name)

    def name(self, key: str) -> str:
        return self.names[key]

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class Sessions:
    """The open sessions, least recently used first, each with its own lock, within ``limit``
    sessions and ``budget`` bytes."""

    def __init__(self, limit: int = MAX_SESSIONS, budget: int = MEMORY_BUDGET) -> None:
        self.limit, self.budget = limit, budget
        self.items: OrderedDict[str, tuple[Any, threading.Lock]] = OrderedDict()
        self.reserved = 0  # the footprints of sessions being made
        self.lock = threading.Lock()

    def used(self) -> int:
        """The bytes the open sessions (and those being made) may take."""
        with self.lock:
            return self._used()

    def _used(self) -> int:
        return self.reserved + sum(s.footprint.total for s, _ in self.items.values())

    def reserve(self, nbytes: int) -> None:
        """Room for a new session of ``nbytes``, made by closing the least recently used idle
        sessions; :class:`TooLarge` or :class:`Busy` when there cannot be."""
        if nbytes > self.budget:
            raise TooLarge(f"this run needs about {size(nbytes)} of memory, more than the "
                           f"server's whole budget of {size(self.budget)}: a smaller network, "
                           "batch or data")
        with self.lock:
            for key in list(self.items):
                if self._used() + nbytes <= self.budget:
                    break
                _, lock = self.items[key]
                if lock.acquire(blocking=False):  # not answering a request: it can go
                    try:
                        del self.items[key]
                    finally:
                        lock.release()
            if self._used() + nbytes > self.budget:
                raise Busy(f"this run needs about {size(nbytes)} of memory and the other tabs "
                           f"busy now hold {size(self._used())} of the server's "
                           f"{size(self.budget)}: try again when they are done, or close one")
            self.reserved += nbytes

    def release(self, nbytes: int) -> None:
        """Give back a reservation whose session was not made."""
        with self.lock:
            self.reserved = max(0, self.reserved - nbytes)

    def add(self, session: Any, reserved: int = 0) -> str:
        """Open ``session`` (which reserved ``reserved`` bytes); returns its key."""
        key = secrets.token_urlsafe(12)
        with self.lock:
            self.reserved = max(0, self.reserved - reserved)
            self.items[key] = (session, threading.Lock())
            while len(self.items) > self.limit:
                self.items.popitem(last=False)
        return key

    def get(self, key: str) -> tuple[Any, threading.Lock]:
        with self.lock:
            if key not in self.items:
                raise Gone("this page's session is gone (the server restarted, or more than "
                           f"{self.limit} tabs were opened since, or other tabs needed its "
                           "memory): reload the page")
            self.items.move_to_end(key)
            return self.items[key]

    def remove(self, key: str) -> None:
        with self.lock:
            self.items.pop(key, None)
