"""What every command's options share: :class:`UsageError` and the argparse types that read
comma-separated numbers and names, whole counts, and the options of training, which come from
the one table :data:`chainrule.training.OPTIONS` (their check, their help and, where the
command line does not document one of its own, their default).

Imported when the parser is built, so it imports nothing heavier than NumPy.
"""

from __future__ import annotations

import argparse

import numpy as np

__all__ = ["UsageError", "count_or_zero", "dropout_list", "float_list", "hidden_list",
           "index_list", "int_list", "names", "normalization_list", "option", "positive_count",
           "add_model_command", "add_training_option", "settings_list", "training_options"]


class UsageError(ValueError):
    """A problem with what the user asked for; reported in one line with exit code 2."""


def _numbers(parse: type, minimum: float | None, what: str, allow_none: bool = False):
    """An argparse type: comma-separated numbers (``parse``: int or float), at least one, none
    empty, finite, each at least ``minimum``; ``none`` means an empty list when allowed."""
    kind = "integers" if parse is int else "numbers"

    def convert(text: str) -> list:
        if allow_none and text.strip().lower() == "none":
            return []
        parts = text.split(",")
        try:
            if any(not part.strip() for part in parts):
                raise ValueError
            values = [parse(part) for part in parts]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {kind} separated by commas, got {text!r}") from None
        if not all(np.isfinite(v) for v in values):
            raise argparse.ArgumentTypeError(f"{what} must be finite, got {text!r}")
        if minimum is not None and any(v < minimum for v in values):
            raise argparse.ArgumentTypeError(f"{what} must be >= {minimum}, got {text!r}")
        return values

    return convert


int_list = _numbers(int, 1, "sizes")
hidden_list = _numbers(int, 1, "hidden layer sizes", allow_none=True)
index_list = _numbers(int, 0, "neuron indices")
float_list = _numbers(float, None, "values")
_count = _numbers(int, 1, "a count")


def settings_list(text: str) -> dict[str, float]:
    """An argparse type: ``NAME=VALUE`` pairs separated by commas (``weight_decay=0.1,eps=1e-7``),
    each value a finite number (a whole one stays an integer)."""
    settings: dict[str, float] = {}
    for part in text.split(","):
        name, equals, value = part.partition("=")
        name = name.strip()
        try:
            if not (equals and name.isidentifier()):
                raise ValueError
            number = float(value)
            if not np.isfinite(number):
                raise ValueError
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected NAME=VALUE pairs separated by commas, each value a finite number, "
                f"got {part.strip()!r}") from None
        settings[name] = int(number) if value.strip().lstrip("+-").isdigit() else number
    return settings


def dropout_list(text: str) -> list[float]:
    """An argparse type: ``--dropout``'s probabilities in [0, 1), one for every hidden layer or
    one per hidden layer, separated by commas."""
    values = float_list(text)
    if not all(0.0 <= p < 1.0 for p in values):
        raise argparse.ArgumentTypeError(f"dropout must be in [0, 1), got {text!r}")
    return values


def normalization_list(text: str) -> list[str | None]:
    """An argparse type: ``--normalization``'s ``batch``, ``layer`` or ``none``, one for every
    hidden layer or one per hidden layer, separated by commas."""
    kinds = [part.strip().lower() for part in text.split(",")]
    if not all(kind in ("batch", "layer", "none") for kind in kinds):
        raise argparse.ArgumentTypeError(f"expected batch, layer or none (or one per hidden "
                                         f"layer, separated by commas), got {text!r}")
    return [None if kind == "none" else kind for kind in kinds]


def names(text: str) -> list[str]:
    """An argparse type: comma-separated column names."""
    found = [name.strip() for name in text.split(",") if name.strip()]
    if not found:
        raise argparse.ArgumentTypeError(f"expected column names separated by commas, got "
                                         f"{text!r}")
    return found


def count_or_zero(text: str) -> int:
    """An argparse type: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def positive_count(text: str) -> int:
    """An argparse type: one whole number >= 1."""
    values = _count(text)
    if len(values) != 1:
        raise argparse.ArgumentTypeError(f"expected one integer, got {text!r}")
    return values[0]


def option(name: str, parse: type = float, rule=None):
    """An argparse type for the training option ``name``: the text parsed, then checked by the
    option's one rule (:data:`chainrule.training.OPTION_RULES`), before any data is read."""
    def convert(text: str):
        from ..training import OPTION_RULES

        try:
            value = parse(text)
        except ValueError:
            kind = "an integer" if parse is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        try:
            return (rule or OPTION_RULES[name])(value, name)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name  # argparse names the type in its messages
    return convert


def add_training_option(parser, name: str, *flags: str, parse: type = float, note: str = "",
                        **settings):
    """Add the training option ``name`` of :data:`chainrule.training.OPTIONS` as ``flags``
    (default ``--name-with-dashes``), its value in ``args.<name>``.

    The value is checked by the table's rule as it is parsed (:func:`option`); the help is the
    table's, with ``note`` after it, read only when ``--help`` is printed (so that building the
    parser imports nothing of training); a default is the command line's own only where it
    gives one in ``settings`` (``docs/tables.md`` says where and why); otherwise ``args.<name>``
    is None when the option is not given, and :func:`training_options` leaves it out, so that
    the table's default applies. ``settings`` are argparse's
    (``choices``, ``action``, ``metavar``); with ``choices`` or an ``action`` the value is
    checked by the training itself, through the same table.
    """
    flags = flags or (f"--{name.replace('_', '-')}",)
    if "choices" not in settings and "action" not in settings:
        settings["type"] = option(name, parse)
    # argparse prints no help that is empty: the formatter (chainrule.cli._Help) replaces
    # this one with the table's, then the note.
    action = parser.add_argument(*flags, dest=name, help=f"the training option {name}",
                                 **settings)
    action.training_option, action.training_note = name, note
    return action


def training_options(args, names) -> dict:
    """The training options ``names`` as ``fit`` takes them: those given on the command line,
    or with a default of its own (None: not given, the table's default applies)."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def add_model_command(commands, name: str, text: str, formatter_class):
    """The parser of a command that applies a model to a table (``predict``, ``evaluate``)."""
    sub = commands.add_parser(
        name, help=text, formatter_class=formatter_class,
        description=f"{text[0].upper()}{text[1:]}: the model's own preparation applied to "
                    "the table (columns by name, in any order; columns it does not use "
                    "are ignored).")
    sub.add_argument("model", help="a model file written by chainrule train")
    sub.add_argument("data", help="a CSV file with a header line, or Parquet")
    return sub
