"""The library's messages in the command line's words: ``batch_size=8`` is ``--batch-size 8``.

The library's ``ValueError`` s name its keyword arguments as Python spells them
(``normalization='layer'``, ``batching='blocks'``, ``batch_size``); the command line shows them
as the flags a user types (:func:`in_flags`, applied where :mod:`chainrule.cli` turns an error
into its one line).
"""

from __future__ import annotations

import re

__all__ = ["in_flags"]

#: (a Python spelling, the command line's), in the order they are applied.
SPELLINGS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bnormalization='(\w+)'"), r"--normalization \1"),
    (re.compile(r"\bbatching='(\w+)'"), r"--dask-batching \1"),
    (re.compile(r"\bbatch_size=(\w+)"), r"--batch-size \1"),
    (re.compile(r"\b(a|another|larger|smaller) batch_size\b"), r"\1 --batch-size"),
)


def in_flags(message: str) -> str:
    """``message`` with each Python spelling of :data:`SPELLINGS` written as its flag."""
    for pattern, flag in SPELLINGS:
        message = pattern.sub(flag, message)
    return message
