"""The playground's configuration: one JSON object that says everything a run depends on.

The page keeps it in its URL, so opening the URL rebuilds the same data and network and replays
the same steps. :func:`check_config` fills in defaults and refuses anything the library would
not take, with a message that names the field (``hidden[1]: ...``).

The options of training are checked by the library's own table,
:data:`chainrule.training.OPTIONS` (its rules, its choices), after :mod:`.inputs` has made each
one a Python number: what the page takes the library takes. The limits below keep one tab's
session within what a laptop draws and trains at an interactive pace; they are documented in
``docs/playground.md``.
"""

from __future__ import annotations

import math
from typing import Any

from ..activations import ACTIVATIONS
from ..datasets import DATASETS
from ..datasets.planar import GENERATORS, MULTICLASS
from ..initializers import INITIALIZERS
from ..losses import LOSSES
from ..training.options import OPTIONS, full_batch_as_none
from .inputs import real, shown
from .inputs import whole as whole_number

__all__ = ["DEFAULT", "LIMITS", "OLD_NAMES", "check_config", "library_batch_size"]

#: The most the playground takes: layers (hidden and output), neurons in one layer, parameters
#: in all, generated points, epochs of one run, weight edits kept in one run's timeline, points
#: added by clicking, and the size of an added point's coordinates (and regression target).
LIMITS = {
    "layers": 16,
    "neurons": 1024,
    "parameters": 1_000_000,
    "samples": 5000,
    "epochs": 100_000,
    "edits": 1000,
    "added_points": 1000,
    "coordinate": 1e6,
}

#: The page's first run: TensorFlow Playground's classic, a circle inside a ring, learnt by
#: plain gradient descent on every training row at a rate that gets it to 90 % of the held-out
#: rows in about 50 updates (5 s at the page's first speed, 10 a second), the loss falling at
#: every one (at 0.1 it took 250; at 1.0 it gets there sooner but overshoots on the way).
DEFAULT: dict[str, Any] = {
    "data": {"source": "generator", "name": "circle", "samples": 400, "noise": 0.08,
             "classes": 2, "seed": 0, "added": [], "removed": []},
    "test_split": 0.25,
    "standardize": True,
    "hidden": [8, 8],
    "activations": ["tanh", "tanh", "sigmoid"],
    "bias": True,
    "dropout": 0.0,
    "normalization": None,
    "loss": "binary_cross_entropy",
    "init": "xavier",
    "seed": 0,
    "optimizer": "gd",
    "optimizer_settings": {},
    "learning_rate": 0.5,
    "schedule": "constant",
    "schedule_settings": {},
    "l2": 0.0,
    "l1": 0.0,
    "clip_norm": None,
    "clip_value": None,
    "batch_size": 0,
    "epochs": 2000,
    "target_loss": None,
    "target_accuracy": None,
    "edits": [],
    "model": None,
}


#: Fields the page once called otherwise, still taken under those names (URLs made before keep
#: replaying): the stop rules took the names of the library's
#: :class:`~chainrule.callbacks.TargetReached`.
OLD_NAMES = {"stop_loss": "target_loss", "stop_accuracy": "target_accuracy"}


#: The library's training options by name (their rules and choices check the page's fields).
TRAINING = {option.name: option for option in OPTIONS}


def library_batch_size(batch_size: int, n_train: int) -> int | None:
    """The page's batch size as the library spells it, the one place the two spellings meet:
    the page's ``0`` (its field holds whole numbers), like any size of at least ``n_train``
    rows, is one batch of every training row, the library's ``batch_size=None``
    (:func:`chainrule.training.options.full_batch_as_none`)."""
    return full_batch_as_none(batch_size, n_train)


class ConfigError(ValueError):
    """A configuration the playground cannot run; the message names the field."""


def _number(value: Any, where: str, low: float | None = None, high: float | None = None,
            whole: bool = False) -> Any:
    """A number of the configuration, through :mod:`.inputs` (the one place client numbers
    are converted)."""
    if whole:
        return whole_number(value, where, None if low is None else math.ceil(low),
                            None if high is None else math.floor(high), ConfigError)
    return real(value, where, low, high, ConfigError)


def _training(value: Any, name: str, where: str | None = None, high: float | None = None,
              whole: bool = False) -> Any:
    """The training option ``name``: a number of the configuration (at most ``high``, the
    page's limit), then checked by the library's rule for it in :data:`TRAINING`."""
    where = where or name
    try:
        return TRAINING[name].check(_number(value, where, None, high, whole), where)
    except ConfigError:
        raise
    except ValueError as exc:  # the table's "name must be ..." as the page's "name: must be ..."
        raise ConfigError(f"{where}: {str(exc).removeprefix(where + ' ')}") from None


def _choice(value: Any, where: str, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{where}: expected one of {', '.join(sorted(choices))}, "
                          f"got {shown(value)}")
    return value


def _settings(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be an object of named numbers, got {shown(value)}")
    return {str(k): _number(v, f"{where}.{k}") for k, v in value.items()}


def _data(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"data: must be an object, got {shown(value)}")
    data = dict(DEFAULT["data"]) | value
    source = _choice(data["source"], "data.source", ("generator", "builtin", "upload"))
    out: dict[str, Any] = {"source": source}
    if source == "generator":
        out["name"] = _choice(data["name"], "data.name", GENERATORS)
        out["samples"] = _number(data["samples"], "data.samples", 4, LIMITS["samples"], True)
        out["noise"] = _number(data["noise"], "data.noise", 0, 1)
        classes = _number(data["classes"], "data.classes", 2, 10, True)
        if classes != 2 and out["name"] not in MULTICLASS:
            raise ConfigError(f"data.classes: {out['name']} has 2 classes (more classes: "
                              f"{', '.join(MULTICLASS)})")
        out["classes"] = classes
        out["seed"] = _number(data["seed"], "data.seed", 0, 2**32 - 1, True)
    elif source == "builtin":
        out["name"] = _choice(data["name"], "data.name", DATASETS)
    else:
        upload = data.get("upload")
        if not isinstance(upload, str) or not upload.isalnum():
            raise ConfigError(f"data.upload: the id of an uploaded CSV file, got {shown(upload)}")
        out["upload"] = upload
        target = data.get("target")
        if target is not None and not isinstance(target, str):
            raise ConfigError(f"data.target: a column name, got {shown(target)}")
        out["target"] = target
        task = data.get("task")
        if task is not None:
            _choice(task, "data.task", ("classification", "regression"))
        out["task"] = task
    added = data.get("added", [])
    if not isinstance(added, list) or len(added) > LIMITS["added_points"]:
        raise ConfigError(f"data.added: a list of at most {LIMITS['added_points']} points "
                          "[x1, x2, label]")
    out["added"] = []
    for index, point in enumerate(added):
        if not isinstance(point, list) or len(point) != 3:
            raise ConfigError(f"data.added[{index}]: a point [x1, x2, label], got {shown(point)}")
        span = LIMITS["coordinate"]
        out["added"].append([_number(value, f"data.added[{index}][{at}]", -span, span)
                             for at, value in enumerate(point)])
    removed = data.get("removed", [])
    if not isinstance(removed, list):
        raise ConfigError(f"data.removed: a list of row numbers, got {shown(removed)}")
    out["removed"] = sorted({_number(r, f"data.removed[{i}]", 0, None, True)
                             for i, r in enumerate(removed)})
    if source == "upload":
        for name in ("added", "removed"):
            if out[name]:
                raise ConfigError(f"data.{name}: points are added and removed in generated and "
                                  "built-in data; an uploaded file is trained on as it is "
                                  "(edit the file and upload it again)")
    return out


def check_config(config: Any) -> dict[str, Any]:
    """The configuration with defaults filled in, every field checked (a :class:`ConfigError`
    names the first wrong one). The architecture is checked by building the network."""
    if not isinstance(config, dict):
        raise ConfigError(f"the configuration must be a JSON object, got {type(config).__name__}")
    unknown = set(config) - set(DEFAULT) - set(OLD_NAMES)
    if unknown:
        raise ConfigError(f"unknown configuration field(s): {', '.join(sorted(unknown))}")
    named = {}  # the name each field came by, for the messages
    for old, new in OLD_NAMES.items():
        if old in config:
            if new in config:
                raise ConfigError(f"{old}: the old name of {new}; give one of them")
            config = {k: v for k, v in config.items() if k != old} | {new: config[old]}
            named[new] = old
    merged = DEFAULT | config
    out: dict[str, Any] = {"data": _data(merged["data"])}
    out["test_split"] = _number(merged["test_split"], "test_split", 0, 0.9)
    out["standardize"] = bool(merged["standardize"])
    hidden = merged["hidden"]
    if not isinstance(hidden, list) or len(hidden) > LIMITS["layers"] - 1:
        raise ConfigError(f"hidden: a list of at most {LIMITS['layers'] - 1} layer sizes, "
                          f"got {shown(hidden)}")
    out["hidden"] = [_number(h, f"hidden[{i}]", 1, LIMITS["neurons"], True)
                     for i, h in enumerate(hidden)]
    activations = merged["activations"]
    if not isinstance(activations, list) or len(activations) != len(hidden) + 1:
        raise ConfigError(f"activations: one per layer ({len(hidden) + 1}: the hidden layers "
                          f"and the output), got {shown(activations)}")
    out["activations"] = [_choice(a, f"activations[{i}]", ACTIVATIONS)
                          for i, a in enumerate(activations)]
    bias = merged["bias"]
    if isinstance(bias, list):
        if len(bias) != len(hidden) + 1 or not all(isinstance(b, bool) for b in bias):
            raise ConfigError(f"bias: true, false, or one of them per layer ({len(hidden) + 1}),"
                              f" got {shown(bias)}")
    elif not isinstance(bias, bool):
        raise ConfigError(f"bias: true, false, or one of them per layer, got {shown(bias)}")
    out["bias"] = bias
    out["dropout"] = _dropout(merged["dropout"], len(hidden))
    out["normalization"] = _normalization(merged["normalization"], len(hidden))
    out["loss"] = _choice(merged["loss"], "loss", LOSSES)
    out["init"] = _choice(merged["init"], "init", INITIALIZERS)
    out["seed"] = _number(merged["seed"], "seed", 0, 2**32 - 1, True)
    # The page names its optimizer and schedule (their settings apart): the table's choices.
    out["optimizer"] = _choice(merged["optimizer"], "optimizer", TRAINING["optimizer"].choices)
    out["optimizer_settings"] = _settings(merged["optimizer_settings"], "optimizer_settings")
    out["learning_rate"] = _training(merged["learning_rate"], "learning_rate")
    out["schedule"] = _choice(merged["schedule"], "schedule", TRAINING["schedule"].choices)
    out["schedule_settings"] = _settings(merged["schedule_settings"], "schedule_settings")
    out["l2"] = _training(merged["l2"], "l2")
    out["l1"] = _training(merged["l1"], "l1")
    for name in ("clip_norm", "clip_value"):  # None: no clipping
        out[name] = None if merged[name] is None else _training(merged[name], name)
    # 0: every training row in one batch, the page's full batch (its field holds whole
    # numbers); library_batch_size makes it the library's None, once the rows are known.
    batch_size = _number(merged["batch_size"], "batch_size", 0, None, True)
    out["batch_size"] = 0 if batch_size == 0 else _training(batch_size, "batch_size",
                                                             whole=True)
    out["epochs"] = _training(merged["epochs"], "epochs", high=LIMITS["epochs"], whole=True)
    target_loss = merged["target_loss"]
    out["target_loss"] = None if target_loss is None else _training(
        target_loss, "target_loss", named.get("target_loss"))
    # Not a training option: the page's stop rule TargetReached(accuracy=...) is built from it.
    accuracy = merged["target_accuracy"]
    out["target_accuracy"] = None if accuracy is None else _number(
        accuracy, named.get("target_accuracy", "target_accuracy"), 0, 1)
    edits = merged["edits"]
    if not isinstance(edits, list) or len(edits) > LIMITS["edits"]:
        raise ConfigError(f"edits: a list of at most {LIMITS['edits']} weight edits")
    out["edits"] = [_edit(e, f"edits[{i}]") for i, e in enumerate(edits)]
    model = merged["model"]
    if model is not None and (not isinstance(model, str) or not model.isalnum()):
        raise ConfigError(f"model: the id of an imported model file, got {shown(model)}")
    out["model"] = model
    return out


def _per_hidden(value: Any, name: str, n_hidden: int, is_none) -> list:
    """``value`` for each hidden layer: one value for all, or a list with one per hidden
    layer."""
    if isinstance(value, list):
        if len(value) != n_hidden:
            raise ConfigError(f"{name}: one value for every hidden layer, or a list with one per "
                              f"hidden layer ({n_hidden}), got {shown(value)}")
        return value
    if n_hidden == 0 and not is_none(value):
        raise ConfigError(f"{name}: for hidden layers only, and this network has none (the "
                          "output layer never has it)")
    return [value] * n_hidden


def _compact(values: list, none: Any) -> Any:
    """One value where every hidden layer has the same (``none`` where there are none)."""
    if not values:
        return none
    return values[0] if all(v == values[0] for v in values) else values


def _dropout(value: Any, n_hidden: int) -> float | list[float]:
    """Inverted dropout after each hidden layer's activation: a probability in [0, 1) for all
    hidden layers, or one per hidden layer (0: none); ``Network(dropout=...)``."""
    where = "dropout" if not isinstance(value, list) else "dropout[{}]"
    rates = [0.0 if p is None else p for p in _per_hidden(value, "dropout", n_hidden,
                                                          lambda v: v in (None, 0, 0.0))]
    checked = []
    for at, p in enumerate(rates):
        name = where.format(at)
        rate = _number(p, name, 0)
        if rate >= 1:
            raise ConfigError(f"{name}: must be in [0, 1) (the share of outputs dropped), got "
                              f"{shown(p)}")
        checked.append(rate)
    return _compact(checked, 0.0)


#: The page's normalisations of a hidden layer's sop ("none": no normalisation).
NORMALIZATIONS = ("none", "batch", "layer")


def _normalization(value: Any, n_hidden: int) -> str | None | list[str | None]:
    """Batch or layer normalisation of each hidden layer's sop before its activation: one kind
    for all hidden layers (None or "none": none) or one per hidden layer;
    ``Network(normalization=...)``."""
    where = "normalization" if not isinstance(value, list) else "normalization[{}]"
    kinds = _per_hidden(value, "normalization", n_hidden, lambda v: v in (None, "none"))
    checked = [None if kind is None else _choice(kind, where.format(at), NORMALIZATIONS)
               for at, kind in enumerate(kinds)]
    return _compact([None if kind == "none" else kind for kind in checked], None)


def _edit(edit: Any, where: str) -> dict[str, Any]:
    if not isinstance(edit, dict):
        raise ConfigError(f"{where}: an object {{step, layer, to, value, and from or bias}}")
    out = {"step": _number(edit.get("step"), f"{where}.step", 0, None, True),
           "layer": _number(edit.get("layer"), f"{where}.layer", 0, None, True),
           "to": _number(edit.get("to"), f"{where}.to", 0, None, True),
           "value": _number(edit.get("value"), f"{where}.value")}
    if edit.get("from") is None:
        out["from"] = None
    else:
        out["from"] = _number(edit.get("from"), f"{where}.from", 0, None, True)
    return out
