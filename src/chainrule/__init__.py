"""chainrule: gradient descent for any fully-connected neural network, backpropagation in NumPy.

The submodules that need nothing beyond NumPy are imported here, so ``chainrule.optimizers``,
``chainrule.tutorial`` and the others work after a plain ``import chainrule``. The optional
ones (``chainrule.sklearn``, ``chainrule.distributed``, ``chainrule.plotting``) are imported
when used.
"""

__version__ = "0.1.0"

from . import (  # noqa: E402
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
from .exceptions import DivergenceError, DivergenceWarning  # noqa: E402
from .gradcheck import gradcheck  # noqa: E402
from .history import History  # noqa: E402
from .network import Network, load  # noqa: E402
from .training import Trainer  # noqa: E402

__all__ = [
    "DivergenceError",
    "DivergenceWarning",
    "History",
    "Network",
    "Trainer",
    "__version__",
    "activations",
    "callbacks",
    "datasets",
    "engine",
    "explain",
    "gradcheck",
    "initializers",
    "load",
    "losses",
    "optimizers",
    "persistence",
    "reference",
    "schedules",
    "training",
    "tutorial",
]
