"""A model file's header: its JSON read within limits, and every field checked against its schema.

The header (``chainrule.json``, ``docs/model-format.md``) holds ``format``, ``format_version``,
the ``architecture`` (sizes, activation names, bias flags, loss name and, for a network that
has them, dropout and normalization per hidden layer), the ``dtype``, the
``metadata`` (data scaling, class labels, training settings and, from version 3, the columns'
``preparation``), a checkpoint's trainer state and the checksums. :func:`parse_json` reads the
text (no ``NaN``, at most :data:`MAX_JSON_DEPTH` levels deep); :func:`check_header` checks every
field before a single array is read: names are looked up in fixed tables, never imported, and
what the architecture declares is capped (:data:`MAX_PARAMETERS`). A file that fails is a
:class:`ModelFileError` that names it. Loading (:mod:`chainrule.model_archive`), saving (a header
loading would refuse is never written) and the playground's uploads all check through here.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from .activations import ACTIVATIONS
from .column_schema import check_stored_columns
from .engine.normalization import KINDS
from .losses import LOSSES
from .optimizers import OPTIMIZERS

__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_HEADER_CHARS", "MAX_JSON_DEPTH", "MAX_PARAMETERS",
           "ModelFileError", "check_header", "checked_spec", "parse_json"]

FORMAT = "chainrule"
FORMAT_VERSION = 3
#: Limits on what a header may declare, checked before anything is read.
MAX_HEADER_CHARS = 10_000_000
MAX_PARAMETERS = 500_000_000
MAX_JSON_DEPTH = 32


class ModelFileError(ValueError):
    """A model file that cannot be read: missing, truncated, corrupted or tampered with."""


def _fail(path: str, message: str) -> ModelFileError:
    return ModelFileError(f"{path}: {message}")


def parse_json(path: str, text: str) -> Any:
    """The header's text as JSON: no ``NaN`` or ``Infinity``, nested at most
    :data:`MAX_JSON_DEPTH` levels deep (checked without recursion)."""
    def refuse_constant(name):
        raise ValueError(f"{name} is not a JSON number")

    try:
        value = json.loads(text, parse_constant=refuse_constant)
    except RecursionError:
        raise _fail(path, "the header is nested too deeply") from None
    except ValueError as exc:
        raise _fail(path, f"the header is not valid JSON ({exc})") from None
    stack = [(value, 1)]
    while stack:  # depth, without recursion
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _fail(path, f"the header is nested deeper than {MAX_JSON_DEPTH} levels")
        children = item.values() if isinstance(item, dict) else item \
            if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return value


def _is_int(value: Any, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def checked_spec(path: str, header: dict[str, Any]) -> dict[str, Any]:
    """The header's architecture, every field checked, as :meth:`Engine.spec` gives it."""
    architecture = header.get("architecture")
    if not isinstance(architecture, dict):
        raise _fail(path, "the header has no architecture")
    unknown = set(architecture) - {"sizes", "activations", "leaky_relu_slopes", "bias", "loss",
                                   "dropout", "normalization"}
    if unknown:
        raise _fail(path, f"architecture has fields the format does not define: {sorted(unknown)}")
    sizes = architecture.get("sizes")
    activations = architecture.get("activations")
    bias = architecture.get("bias")
    loss = architecture.get("loss")
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(_is_int(s, 1) for s in sizes):
        raise _fail(path, f"architecture sizes {str(sizes)[:80]} are not valid layer sizes")
    n_layers = len(sizes) - 1
    if sum((a + 1) * b for a, b in zip(sizes, sizes[1:])) > MAX_PARAMETERS:
        raise _fail(path, f"the architecture declares more than {MAX_PARAMETERS:,} parameters")
    if not isinstance(activations, list) or len(activations) != n_layers or not all(
        isinstance(a, str) and a in ACTIVATIONS for a in activations
    ):
        raise _fail(path, f"unknown or malformed activations {str(activations)[:80]}")
    if not isinstance(bias, list) or len(bias) != n_layers or not all(
        isinstance(b, bool) for b in bias
    ):
        raise _fail(path, f"malformed bias flags {str(bias)[:80]}")
    if not isinstance(loss, str) or loss not in LOSSES:
        raise _fail(path, f"unknown loss {str(loss)[:80]!r}")
    dtype = header.get("dtype")
    if dtype not in ("float32", "float64"):
        raise _fail(path, f"dtype {str(dtype)[:40]!r} is not float32 or float64")
    slopes = architecture.get("leaky_relu_slopes", [None] * n_layers)
    if not isinstance(slopes, list) or len(slopes) != n_layers or not all(
        s is None or (isinstance(s, float) and 0.0 <= s < 1.0) for s in slopes
    ):
        raise _fail(path, f"malformed leaky_relu_slopes {str(slopes)[:80]}")
    spec = {"sizes": sizes, "activations": activations, "leaky_relu_slopes": slopes,
            "bias": bias, "loss": loss, "dtype": dtype}
    return spec | _checked_layers(path, architecture, n_layers - 1)


def _checked_layers(path: str, architecture: dict[str, Any], n_hidden: int) -> dict[str, Any]:
    """The optional ``dropout`` (a probability in [0, 1) per hidden layer) and ``normalization``
    (``null``, ``"batch"`` or ``"layer"`` per hidden layer), present only where a network has
    them; files written before they existed have neither."""
    found = {}
    if "dropout" in architecture:
        rates = architecture["dropout"]
        if not isinstance(rates, list) or len(rates) != n_hidden or not all(
                _is_number(p) and 0.0 <= p < 1.0 for p in rates):
            raise _fail(path, f"malformed dropout {str(rates)[:80]} (one probability in [0, 1) "
                              f"per hidden layer, {n_hidden})")
        found["dropout"] = [float(p) for p in rates]
    if "normalization" in architecture:
        kinds = architecture["normalization"]
        if not isinstance(kinds, list) or len(kinds) != n_hidden or not all(
                k is None or (isinstance(k, str) and k in KINDS) for k in kinds):
            raise _fail(path, f"malformed normalization {str(kinds)[:80]} (null, 'batch' or "
                              f"'layer' per hidden layer, {n_hidden})")
        found["normalization"] = kinds
    return found


def _check_metadata(path: str, metadata: Any, spec: dict[str, Any],
                    error: type[ValueError] = ModelFileError) -> None:
    """The metadata chainrule itself reads back (the command line's) must be well formed:
    a model whose scaling or classes were edited into nonsense is refused, not run."""
    def refuse(field: str, what: str):
        raise error(f"{path}: metadata {field} {what}")

    if not isinstance(metadata, dict):
        refuse("", "must be a JSON object")
    n_inputs, n_outputs = spec["sizes"][0], spec["sizes"][-1]
    task = metadata.get("task")
    if "task" in metadata and task not in ("classification", "regression"):
        refuse("task", f"must be 'classification' or 'regression', got {str(task)[:40]!r}")
    names = metadata.get("feature_names")
    if names is not None and (not isinstance(names, list) or len(names) != n_inputs
                              or not all(isinstance(n, str) and n for n in names)
                              or len(set(names)) != len(names)):
        refuse("feature_names", f"must be {n_inputs} different names")
    if "target_name" in metadata and not isinstance(metadata["target_name"], str):
        refuse("target_name", "must be a string")
    scaling = metadata.get("scaling")
    if scaling is not None:
        if not isinstance(scaling, dict) or set(scaling) != {"mean", "scale"}:
            refuse("scaling", "must hold exactly mean and scale")
        for key in ("mean", "scale"):
            values = scaling[key]
            if not isinstance(values, list) or len(values) != n_inputs or not all(
                    _is_number(v) for v in values):
                refuse(f"scaling.{key}", f"must be {n_inputs} finite numbers")
        if not all(v > 0 for v in scaling["scale"]):
            refuse("scaling.scale", "must be positive")
    target_scaling = metadata.get("target_scaling")
    if target_scaling is not None:
        if not isinstance(target_scaling, dict) or set(target_scaling) != {"mean", "scale"} \
                or not all(isinstance(target_scaling[k], list)
                           and len(target_scaling[k]) == n_outputs
                           and all(_is_number(v) for v in target_scaling[k])
                           for k in ("mean", "scale")) \
                or not all(v > 0 for v in target_scaling["scale"]):
            refuse("target_scaling", f"must hold mean and scale, {n_outputs} finite numbers "
                                     "each, every scale > 0")
    classes = metadata.get("classes")
    if classes is not None:
        if not isinstance(classes, list) or not all(
                _is_number(c) or isinstance(c, str) for c in classes) \
                or len(set(map(str, classes))) != len(classes):
            refuse("classes", "must be a list of different labels")
        if task == "classification" and len(classes) != (2 if n_outputs == 1 else n_outputs):
            refuse("classes", f"has {len(classes)} labels for {n_outputs} output(s)")
    if "preparation" in metadata:  # format version 3: the columns the features come from
        try:
            check_stored_columns(metadata["preparation"], names or [])
        except ValueError as exc:
            raise error(f"{path}: {exc}") from None


def _check_training(path: str, training: Any) -> dict[str, Any]:
    """A checkpoint's trainer state, every field checked against its schema."""
    def refuse(field: str, what: str):
        raise _fail(path, f"checkpoint {field} {what}")

    if not isinstance(training, dict):
        refuse("", "must be a JSON object")
    for field in ("epoch", "batch"):
        if not _is_int(training.get(field, 0)):
            refuse(field, "must be an integer >= 0")
    if "epoch" not in training:
        refuse("epoch", "is missing")
    if not _is_number(training.get("epoch_error", 0.0)):
        refuse("epoch_error", "must be a finite number")
    data = training.get("data")
    if data is not None and not (isinstance(data, str) and re.fullmatch(r"[0-9a-f]{64}", data)):
        refuse("data", "must be a SHA-256 digest or null")
    first = training.get("first_loss")
    if first is not None and not (_is_number(first) and first >= 0):
        refuse("first_loss", "must be a finite number >= 0 or null")
    optimizer = training.get("optimizer")
    if not isinstance(optimizer, dict) or not isinstance(optimizer.get("name"), str) \
            or optimizer["name"] not in OPTIMIZERS \
            or not isinstance(optimizer.get("hyperparameters"), dict) \
            or not all(_is_number(v) for v in optimizer["hyperparameters"].values()) \
            or not _is_int(optimizer.get("steps")):
        refuse("optimizer", "must name a known optimizer, its hyperparameters and steps")
    state = training.get("rng_state")
    try:
        state = dict(state)
        state["state"] = {k: int(v) for k, v in state["state"].items()}
        if "inc" in state:
            state["inc"] = int(state["inc"])
        np.random.default_rng().bit_generator.state = state
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
        refuse("rng_state", "is not a generator state")
    history = training.get("history")
    if not isinstance(history, dict) or not isinstance(history.get("stopped_reason", ""), str) \
            or not _is_int(history.get("updates", 0)) \
            or not isinstance(history.get("params", {}), dict):
        refuse("history", "must hold stopped_reason, updates and params")
    records = history.get("history")  # format version 1: the records in the JSON
    if records is not None and (not isinstance(records, dict) or not all(
            isinstance(key, str) and isinstance(values, list)
            and len(values) == training["epoch"] and all(_is_number(v) for v in values)
            for key, values in records.items())):
        refuse("history.history", f"must hold lists of {training['epoch']} finite numbers")
    return {**training, "rng_state": state}


def check_header(path: str, header: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Every field of a header against its schema: the architecture (as :meth:`Engine.spec`
    gives it) and the checked checkpoint state (``None`` for a model file)."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _fail(path, "not a chainrule model file (format field)")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail(path, f"bad format_version {str(version)[:40]!r}")
    if version > FORMAT_VERSION:
        raise _fail(path, f"format_version {version} is newer than this chainrule reads "
                          f"({FORMAT_VERSION}); upgrade chainrule")
    spec = checked_spec(path, header)
    training = header.get("checkpoint")
    if training is not None:
        training = _check_training(path, training)
    unknown = set(header) - {"format", "format_version", "chainrule_version", "architecture",
                             "dtype", "metadata", "checksum", "checkpoint",
                             "checkpoint_checksum"}
    if unknown:
        raise _fail(path, f"the header has fields the format does not define: "
                          f"{sorted(unknown)[:5]}")
    _check_metadata(path, header.get("metadata", {}), spec)
    return spec, training
