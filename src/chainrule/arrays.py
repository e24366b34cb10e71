"""The array module the engine computes with, and the one slice size for work over many rows.

Every array operation of the engine, the activations, the losses and the optimizers goes through
the ``xp`` attribute of the object doing it, which the network binds to its own array module
(:attr:`chainrule.engine.Engine.xp`). Today that module is NumPy. A GPU port is a swap of that
module for one that mirrors NumPy's API, ``out=`` arguments included (CuPy does), not a rewrite:
nothing else names NumPy on the hot path.
"""

from __future__ import annotations

import os
from types import ModuleType

import numpy

__all__ = ["DEFAULT", "ROWS_PER_SLICE", "ArrayModuleUser", "available_memory", "require_memory"]

#: The array module every network uses unless told otherwise.
DEFAULT: ModuleType = numpy

#: Work over many rows (a large batch's forward and backward pass, validation, the checks of
#: the data) goes a slice of at most this many rows at a time: the work space stays a few MB
#: whatever the data's size, and each slice's arrays stay in the processor's cache.
ROWS_PER_SLICE = 16384


class ArrayModuleUser:
    """A mixin for the maths objects (activations, losses, optimizers): ``xp`` is the array
    module their methods compute with; :meth:`on` gives the same object on another module."""

    xp: ModuleType = DEFAULT

    def on(self, xp: ModuleType):
        """This object, computing with ``xp`` (a copy when that is not already its module)."""
        if xp is self.xp:
            return self
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.xp = xp
        return clone


def available_memory() -> int:
    """Bytes of memory this process may still take: the kernel's ``MemAvailable`` where there
    is one, else the machine's physical memory."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # pragma: no cover - not POSIX
        return 2**63


def require_memory(nbytes: float, what: str) -> None:
    """Refuse, with a ``ValueError`` that says how much, a request whose arrays would not fit
    in memory, before anything large is allocated."""
    available = available_memory()
    if nbytes > available:
        raise ValueError(f"{what} needs about {_size(nbytes)} of memory, more than the "
                         f"{_size(available)} available")


def _size(nbytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} PiB"  # pragma: no cover
