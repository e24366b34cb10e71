"""chainrule: gradient descent for any fully-connected neural network, backpropagation in NumPy.

Every submodule (``chainrule.optimizers``, ``chainrule.tutorial``, ...) and every name below
works after a plain ``import chainrule``; each is imported the first time it is used, so that
the command line starts fast. The optional ones (``chainrule.sklearn``,
``chainrule.distributed``, ``chainrule.plotting``) need their extras.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# A function named like its module: bound here, so that importing the module later (which
# sets the package's attribute of that name) cannot hide it.
from .gradcheck import gradcheck  # noqa: E402

#: The names ``chainrule`` offers, and the submodule each comes from.
_NAMES = {
    "DivergenceError": "exceptions", "DivergenceWarning": "exceptions",
    "History": "history", "Network": "network", "load": "network",
    "Preparation": "features", "Trainer": "training",
}
_SUBMODULES = ("activations", "callbacks", "datasets", "engine", "explain", "initializers",
               "losses", "optimizers", "persistence", "reference", "schedules", "training",
               "tutorial")

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors
    from . import (
        activations,
        callbacks,
        datasets,
        engine,
        explain,
        initializers,
        losses,
        optimizers,
        persistence,
        reference,
        schedules,
        training,
        tutorial,
    )
    from .exceptions import DivergenceError, DivergenceWarning
    from .features import Preparation
    from .history import History
    from .network import Network, load
    from .training import Trainer


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'chainrule' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "DivergenceError", "DivergenceWarning", "History", "Network", "Preparation", "Trainer",
    "__version__", "activations", "callbacks", "datasets", "engine", "explain", "gradcheck",
    "initializers", "load", "losses", "optimizers", "persistence", "reference", "schedules",
    "training", "tutorial",
]
assert set(__all__) == {"__version__", "gradcheck", *_NAMES, *_SUBMODULES}
