"""What the page offers in its menus, and the policy it follows between them, from the
library's own tables: the page repeats none of them.

:func:`loss_policy` is the library's rule for losses as data the page applies when the data or
the loss changes: the loss a task takes by default and the losses each task and class count take
(:func:`chainrule.preparation.choose_loss`, asked rather than restated), and the output
activation each loss combines with (``Loss.combined_activation``).
"""

from __future__ import annotations

import functools
from typing import Any

from .._version import __version__
from ..activations import ACTIVATIONS, get_activation
from ..datasets import DATASETS, load_dataset
from ..datasets.planar import GENERATORS, MULTICLASS
from ..initializers import INITIALIZERS
from ..losses import LOSSES
from ..optimizers import OPTIMIZERS
from ..preparation import DataError, choose_loss
from ..schedules import SCHEDULES
from .budget import MAX_STEP_BYTES
from .config import DEFAULT, LIMITS
from .store import MAX_SESSIONS
from .uploads import MAX_COLUMNS, MAX_ROWS, MAX_UPLOAD_BYTES

__all__ = ["loss_policy", "page_options"]

#: The kinds of target a loss may be asked to fit, as the page tells them apart.
TARGETS = {"regression": ("regression", 0), "two_classes": ("classification", 2),
           "more_classes": ("classification", 3)}


@functools.cache
def dataset_facts() -> dict[str, dict[str, Any]]:
    """Each built-in dataset's task, classes and rows, so the page can pick a loss that fits."""
    facts = {}
    for name in DATASETS:
        data = load_dataset(name)
        facts[name] = {"task": data.task, "rows": len(data.X), "features": data.X.shape[1],
                       "classes": len(set(data.y.tolist())) if data.task == "classification"
                       else 0}
    return facts


def _takes(loss: str, task: str, n_classes: int) -> bool:
    try:
        choose_loss(loss, task, n_classes)
    except DataError:
        return False
    return True


@functools.cache
def loss_policy() -> dict[str, Any]:
    """``default``: the loss of each kind of target (``regression``, ``two_classes``,
    ``more_classes``) when none is asked for; ``takes``: for each loss, the kinds it fits;
    ``output``: for each loss, the output activation it combines with (``None``: none);
    ``coupled``: the activations that couple their neurons (softmax: its outputs sum to 1),
    which belong with the loss that combines with them; ``plain``: the output for a loss that
    combines with none, where the output on show belongs to another loss."""
    return {
        "default": {kind: choose_loss(None, task, n) for kind, (task, n) in TARGETS.items()},
        "takes": {name: {kind: _takes(name, task, n) for kind, (task, n) in TARGETS.items()}
                  for name in LOSSES},
        "output": {name: loss.combined_activation for name, loss in LOSSES.items()},
        "coupled": sorted(a for a in ACTIVATIONS if get_activation(a).couples_neurons),
        "plain": "identity",
    }


def page_options() -> dict[str, Any]:
    """What the page offers in its menus, and its limits and first run."""
    return {
        "version": __version__,
        # each activation once, by the name model files keep (not linear, swish: aliases)
        "activations": sorted(a for a in ACTIVATIONS if get_activation(a).name == a),
        "losses": list(LOSSES),
        "loss_policy": loss_policy(),
        "optimizers": {name: cls().hyperparameters() for name, cls in OPTIMIZERS.items()},
        "schedules": {name: cls().settings() for name, cls in SCHEDULES.items()},
        "initializers": list(INITIALIZERS),
        "generators": list(GENERATORS), "multiclass": list(MULTICLASS),
        "datasets": dataset_facts(),
        "limits": LIMITS | {"upload_bytes": MAX_UPLOAD_BYTES, "rows": MAX_ROWS,
                            "columns": MAX_COLUMNS, "sessions": MAX_SESSIONS,
                            "step_bytes": MAX_STEP_BYTES},
        "default": DEFAULT,
    }
