"""The options of training: one table, read by everything that takes them.

:data:`OPTIONS` declares every option once — its name, its type, the values it may take, its
default and what it does — as plain data. :func:`check_options` validates through it for every
way of training (``fit``, ``Network.fit``, :func:`chainrule.distributed.fit`, the
scikit-learn estimators); the command line and the playground can read the same table to build
their parsers and forms, so that a value one of them accepts is a value all of them accept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._validation import flag, one_of, optional, positive_float, positive_int
from ..optimizers import OPTIMIZERS, get_optimizer
from ..schedules import SCHEDULES, get_schedule

__all__ = ["DEFAULTS", "OPTIONS", "OPTION_RULES", "Option", "check_options",
           "full_batch_as_none"]


@dataclass(frozen=True)
class Option:
    """One training option.

    ``type`` is ``"int"``, ``"float"``, ``"flag"`` or ``"choice"``. Numbers must be at least
    ``minimum`` (``"float"`` with ``above_minimum``: greater than it); a ``"choice"`` is one of
    ``choices``, or for ``optimizer`` and ``schedule`` also an object of that kind carrying its
    own settings. ``none`` says what ``None`` means where it is allowed (``""``: not allowed).
    """

    name: str
    type: str
    default: Any
    help: str
    minimum: float | None = None
    above_minimum: bool = False
    choices: tuple[str, ...] = ()
    none: str = ""
    required: bool = False

    def check(self, value: Any, name: str | None = None) -> Any:
        """``value`` as training uses it, or a ``ValueError`` naming the option."""
        return _rule(self)(value, name or self.name)


def _rule(option: Option) -> Callable[[Any, str], Any]:
    if option.name == "optimizer":
        return _optimizer
    if option.name == "schedule":  # None is the constant schedule
        return _schedule
    if option.type == "int":
        minimum = int(option.minimum or 1)

        def rule(value: Any, name: str) -> Any:
            return positive_int(value, name, minimum)
    elif option.type == "float":
        def rule(value: Any, name: str) -> Any:
            return positive_float(value, name, allow_zero=not option.above_minimum)
    elif option.type == "flag":
        rule = flag
    else:
        rule = one_of(*option.choices)
    return optional(rule) if option.none else rule


def _optimizer(value: Any, name: str) -> Any:
    return get_optimizer(value)


def _schedule(value: Any, name: str) -> Any:
    return get_schedule(value)


#: Every option of training, in the order ``fit`` documents them.
OPTIONS: tuple[Option, ...] = (
    Option("epochs", "int", None, "The maximum number of passes over the data (with full "
           "batch: of updates).", minimum=1, required=True),
    Option("learning_rate", "float", 0.01, "The step size: w = w - learning_rate * gradient "
           "for gd.", minimum=0.0, above_minimum=True),
    Option("optimizer", "choice", "gd", "The update rule; from Python, also an Optimizer "
           "carrying its own hyper-parameters.", choices=tuple(OPTIMIZERS)),
    Option("batch_size", "int", None, "Rows per update: b for mini-batches of b rows, 1 for "
           "stochastic gradient descent.", minimum=1, none="full batch, rows in order"),
    Option("shuffle", "flag", True, "Reshuffle the order of the samples every epoch "
           "(mini-batch only)."),
    Option("schedule", "choice", None, "The learning rate of each epoch; from Python, also "
           "a Schedule.",
           choices=tuple(SCHEDULES), none="constant"),
    Option("l2", "float", 0.0, "Weight decay: adds l2 / 2 * sum(weights^2) to the loss and "
           "l2 * weights to the weight gradients (biases are not penalised).", minimum=0.0),
    Option("l1", "float", 0.0, "L1 penalty: adds l1 * sum(|weights|) to the loss and "
           "l1 * sign(weights) to the weight gradients (sign(0) = 0; biases are not "
           "penalised). With l2 as well: the elastic net.", minimum=0.0),
    Option("clip_norm", "float", None, "Clip by global norm: when the norm of all the "
           "gradients together exceeds this, scale them by clip_norm / (norm + 1e-6) "
           "(PyTorch's clip_grad_norm_), after the penalties.", minimum=0.0,
           above_minimum=True, none="no clipping"),
    Option("clip_value", "float", None, "Clip by value: clamp every gradient entry into "
           "[-clip_value, clip_value] (PyTorch's clip_grad_value_), after clip_norm.",
           minimum=0.0, above_minimum=True, none="no clipping"),
    Option("target_loss", "float", None, "Stop once the epoch's loss is at most this.",
           minimum=0.0, none="no target"),
    Option("tolerance", "float", None, "Stop once every prediction is within this of its "
           "target.", minimum=0.0, above_minimum=True, none="no tolerance"),
    Option("on_divergence", "choice", "warn", "On a NaN, infinite or exploding loss: stop and "
           "keep the last good weights, then warn, or raise DivergenceError.",
           choices=("warn", "raise")),
    Option("divergence_factor", "float", 1e8, "A loss above this many times the first loss "
           "counts as diverged, like NaN or inf.", minimum=0.0, above_minimum=True),
    Option("record_predictions", "flag", False, "Keep the predictions on X after every epoch "
           "in history.predicted."),
    Option("progress", "flag", None, "Show a tqdm progress bar.",
           none="only when stderr is a terminal"),
)

#: Each option's rule, ``rule(value, name) -> value`` (the command line checks through it).
OPTION_RULES: dict[str, Callable[[Any, str], Any]] = {o.name: _rule(o) for o in OPTIONS}
#: Each option's default (``epochs`` has none: it is required).
DEFAULTS: dict[str, Any] = {o.name: o.default for o in OPTIONS if not o.required}


def check_options(**options: Any) -> dict[str, Any]:
    """The options with their defaults filled in, each checked by its rule in :data:`OPTIONS`
    (a ``ValueError`` naming the option otherwise; a ``TypeError`` for an unknown or missing
    one)."""
    unknown = sorted(set(options) - set(OPTION_RULES))
    if unknown:
        raise TypeError(f"unknown training option(s): {', '.join(unknown)}")
    missing = [o.name for o in OPTIONS if o.required and o.name not in options]
    if missing:
        raise TypeError(f"training needs {', '.join(missing)}")
    values = {**DEFAULTS, **options}
    return {name: rule(values[name], name) for name, rule in OPTION_RULES.items()}


def full_batch_as_none(batch_size: int | None, n_rows: int) -> int | None:
    """A batch size as training spells it: full batch is ``None``.

    The library's full batch is ``batch_size=None``. Where a person types a size (the command
    line's ``--batch-size``, the page's field, which also takes ``0`` for it), any size of at
    least ``n_rows`` is one batch of every row, and becomes ``None`` here: the one rule both
    translate through, each in one place (``chainrule.cli.training_run.train`` and
    ``chainrule.playground.config.library_batch_size``).
    """
    if batch_size is None or batch_size <= 0 or batch_size >= n_rows:
        return None
    return batch_size


def options_help() -> str:
    """The table as the keyword section of a docstring."""
    lines = []
    for option in OPTIONS:
        lines.append(f"{option.name}:")
        kind = " or ".join(repr(c) for c in option.choices) if option.choices else option.type
        default = "required" if option.required else f"default {option.default!r}"
        none = f"; None: {option.none}" if option.none else ""
        lines.append(f"    {option.help} ({kind}; {default}{none})")
    return "\n".join(lines)
