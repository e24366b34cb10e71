"""Exceptions and warnings of chainrule."""

__all__ = ["DivergenceError", "DivergenceWarning"]


class DivergenceError(RuntimeError):
    """Training diverged (loss NaN, infinite or exploding) and ``on_divergence="raise"``."""


class DivergenceWarning(RuntimeWarning):
    """Training diverged and stopped; the network kept its last good weights."""
