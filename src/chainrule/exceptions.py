"""Exceptions and warnings of chainrule."""

__all__ = ["DivergenceError", "DivergenceWarning", "warn_at_caller"]


class DivergenceError(RuntimeError):
    """Training diverged (loss NaN, infinite or exploding) and ``on_divergence="raise"``."""


class DivergenceWarning(RuntimeWarning):
    """Training diverged and stopped; the network kept its last good weights."""


def warn_at_caller(message: str, category: type[Warning]) -> None:
    """Issue a warning attributed to the first frame outside chainrule: the user's own call,
    however deep inside the library the warning arises."""
    import os
    import sys
    import warnings

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    if sys.version_info >= (3, 12):
        warnings.warn(message, category, skip_file_prefixes=(package,))
        return
    frame, level = sys._getframe(1), 2  # stacklevel 2 is the frame that called this
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
