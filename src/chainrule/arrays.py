"""The array module the engine computes with, and the one slice size for work over many rows.

Every array operation of the engine, the activations, the losses and the optimizers goes through
the ``xp`` attribute of the object doing it, which the network binds to its own array module
(:attr:`chainrule.engine.Engine.xp`). Today that module is NumPy. A GPU port is a swap of that
module for one that mirrors NumPy's API, ``out=`` arguments included (CuPy does), not a rewrite:
nothing else names NumPy on the hot path.
"""

from __future__ import annotations

from types import ModuleType

import numpy

__all__ = ["DEFAULT", "ROWS_PER_SLICE", "ArrayModuleUser"]

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
