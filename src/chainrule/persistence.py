"""Model files and checkpoints: NumPy ``.npz`` archives plus a JSON header, never pickle.

Layout (format version 3, documented in ``docs/model-format.md``)::

    chainrule.json          a 0-d unicode array: the JSON header
    layers.<i>.weight       float32/float64, shape (n_in, n_out)
    layers.<i>.bias         shape (n_out,), present only for layers with a bias
    layers.<i>.gamma/beta   shape (n_out,), normalised hidden layers only (trained)
    layers.<i>.running_mean/running_var   shape (n_out,), batch-normalised layers only (state)
    optimizer.<name>.<k>    checkpoints only: the optimizer's state arrays
    trainer.order           checkpoints only: the current order of the samples
    history.<key>           checkpoints only: one float64 value per epoch done

The header holds ``format``, ``format_version``, ``architecture`` (sizes, activation names,
bias flags, loss name; ``dropout`` and ``normalization`` only where a network has them, so
older files load as they are), ``dtype``, ``metadata`` (data scaling, class labels, training
settings and, from version 3, the ``preparation``: each column's role, categories and fill
value) and a SHA-256 ``checksum`` over the arrays and the rest of the header. This module
writes them and builds networks from them; reading is checked elsewhere, everything declared
before any data (:mod:`chainrule.model_header`: every field of the JSON against its schema;
:mod:`chainrule.model_archive`: the archive's members, their ``.npy`` headers, the memory they
take, the arrays finite and the checksums). A file loading would refuse is never written.
Every write goes to a temporary file in the target's folder, is flushed and fsynced, then
renamed over the target: a crash never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ._files import atomic_write
from ._version import __version__
from .engine import Engine
from .model_archive import HEADER as HEADER
from .model_archive import MAX_SAMPLES as MAX_SAMPLES
from .model_archive import Archive, digest, json_default, read_archive
from .model_header import FORMAT as FORMAT
from .model_header import FORMAT_VERSION as FORMAT_VERSION
from .model_header import MAX_HEADER_CHARS as MAX_HEADER_CHARS
from .model_header import MAX_JSON_DEPTH as MAX_JSON_DEPTH
from .model_header import MAX_PARAMETERS as MAX_PARAMETERS
from .model_header import ModelFileError, check_header, parse_json

__all__ = ["ModelFileError", "atomic_write", "load", "read_checkpoint", "save",
           "write_checkpoint"]

# The names tests/ still reach for here; the modules above own them.
_Archive, _digest = Archive, digest


# ---------------------------------------------------------------------------- writing
def _layer_arrays(net: Engine) -> dict[str, np.ndarray]:
    """Normalisation's arrays by member name: ``gamma``, ``beta`` and, for batch
    normalisation, ``running_mean`` and ``running_var``."""
    arrays = {}
    for layer, arrays_of_layer in enumerate(zip(net.gammas, net.betas, net.running_means,
                                                net.running_vars)):
        for name, array in zip(("gamma", "beta", "running_mean", "running_var"),
                               arrays_of_layer):
            if array is not None:
                arrays[f"layers.{layer}.{name}"] = array
    return arrays


def _network_arrays(net: Engine) -> dict[str, np.ndarray]:
    arrays = {}
    for layer, (weight, bias) in enumerate(zip(net.weights, net.biases)):
        arrays[f"layers.{layer}.weight"] = weight
        if bias is not None:
            arrays[f"layers.{layer}.bias"] = bias
    return arrays | _layer_arrays(net)


def _header(net: Engine, **extra: Any) -> dict[str, Any]:
    architecture = net.spec()
    dtype = architecture.pop("dtype")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "chainrule_version": __version__,
        "architecture": architecture,
        "dtype": dtype,
        "metadata": getattr(net, "metadata", {}),
        **extra,
    }


def _write(path: str, header: dict[str, Any], arrays: dict[str, np.ndarray],
           model_arrays: dict[str, np.ndarray]) -> None:
    try:
        # Round-trip through JSON first: the checksum covers the header as it will be read.
        header = json.loads(json.dumps(header, allow_nan=False, default=json_default))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not saved: the metadata is not JSON ({exc})") from None
    header["checksum"] = digest(model_arrays, header)
    if len(arrays) > len(model_arrays):
        header["checkpoint_checksum"] = digest(arrays, header)
    text = json.dumps(header, allow_nan=False)
    _refuse_unloadable(path, text)
    with atomic_write(path) as handle:
        np.savez(handle, **{HEADER: np.array(text)}, **arrays)


def _refuse_unloadable(path: str, text: str) -> None:
    """A header :func:`load` would refuse is never written: the text goes through the very
    checks loading makes (its size, its depth, every field's schema)."""
    if len(text) > MAX_HEADER_CHARS:
        raise ValueError(f"{path}: not saved: the header would be {len(text):,} characters, "
                         f"more than the {MAX_HEADER_CHARS:,} a model file may hold (a "
                         "metadata field too large?)")
    try:
        check_header(path, parse_json(path, text))
    except ModelFileError as exc:
        message = str(exc).removeprefix(f"{path}: ")
        raise ValueError(f"{path}: not saved: {message}") from None


def _check_finite(net: Engine, path: str) -> None:
    """A file :func:`load` would refuse is never written: every weight must be finite."""
    for layer, (weight, bias) in enumerate(zip(net.weights, net.biases)):
        for kind, array in (("weights", weight), ("biases", bias)):
            if array is not None and not np.isfinite(array).all():
                raise ValueError(f"{path}: not saved: {kind}[{layer}] holds non-finite values "
                                 "(training diverged?)")
    for name, array in _layer_arrays(net).items():
        if not np.isfinite(array).all():
            raise ValueError(f"{path}: not saved: {name} holds non-finite values "
                             "(training diverged?)")


def save(net: Engine, path: str, metadata: dict[str, Any] | None = None) -> None:
    """Write ``net`` to ``path`` (``.npz``), atomically. ``metadata`` must be JSON-able; what
    :func:`load` would refuse (a metadata field out of its schema, a header too large or too
    deeply nested, a non-finite weight) is a ``ValueError`` and nothing is written."""
    _check_finite(net, path)
    header = _header(net)
    if metadata is not None:
        header["metadata"] = dict(metadata)
    arrays = _network_arrays(net)
    _write(path, header, arrays, arrays)  # refuses what loading would refuse
    if metadata is not None:
        net.metadata = dict(metadata)


def write_checkpoint(net: Engine, state: dict[str, Any], path: str) -> None:
    """Write a trainer's state (:func:`chainrule.training.checkpoint.state_dict`: weights,
    optimizer state, generator state, sample order, position and history) beside the model
    ``net``: the file loads as a model too. The per-epoch history goes in as arrays, so a run
    of any length keeps a small header."""
    _check_finite(net, path)
    model_arrays = _network_arrays(net)
    arrays = dict(model_arrays)
    for name, buffers in state["optimizer"]["state"].items():
        for index, buffer in enumerate(buffers):
            arrays[f"optimizer.{name}.{index}"] = buffer
    if state["order"] is not None:
        arrays["trainer.order"] = np.asarray(state["order"], dtype=np.int64)
    history = dict(state["history"])
    for key, values in history.pop("history").items():
        arrays[f"history.{key}"] = np.asarray(values, dtype=np.float64)
    training = {key: state[key] for key in ("epoch", "batch", "epoch_error", "first_loss",
                                            "data")}
    training["history"] = history
    training["optimizer"] = {k: v for k, v in state["optimizer"].items() if k != "state"}
    training["rng_state"] = json.loads(json.dumps(state["rng_state"], default=str))
    _write(path, _header(net, checkpoint=training), arrays, model_arrays)


# ---------------------------------------------------------------------------- reading
def _read_all(path: str, network_class: type[Engine]):
    """The checked network, the header, and (for a checkpoint) its arrays and trainer state
    (:func:`chainrule.model_archive.read_archive`)."""
    spec, header, arrays, training = read_archive(path)
    try:
        net = network_class.from_spec(spec)
    except ValueError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    for layer in range(len(spec["sizes"]) - 1):
        net.weights[layer] = arrays[f"layers.{layer}.weight"]
        if spec["bias"][layer]:
            net.biases[layer] = arrays[f"layers.{layer}.bias"]
        if net.gammas[layer] is not None:
            net.gammas[layer] = arrays[f"layers.{layer}.gamma"]
            net.betas[layer] = arrays[f"layers.{layer}.beta"]
    try:
        net.set_running_statistics([arrays[f"layers.{layer}.{name}"]
                                    for layer, mean in enumerate(net.running_means)
                                    if mean is not None
                                    for name in ("running_mean", "running_var")])
    except ValueError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    net.metadata = header.get("metadata", {})
    return net, header, arrays, training


def load(path: str, network_class: type[Engine] = Engine) -> Engine:
    """Read a model file written by :func:`save` (or a checkpoint), checking everything; the
    network is built as ``network_class`` (:func:`chainrule.load` gives a
    :class:`~chainrule.network.Network`)."""
    return _read_all(os.fspath(path), network_class)[0]


# ---------------------------------------------------------------------------- checkpoints
def read_checkpoint(path: str, net: Engine) -> dict[str, Any]:
    """A checkpoint's trainer state (for :func:`chainrule.training.checkpoint.load_state_dict`),
    after checking that it was made for a network like ``net``."""
    path = os.fspath(path)
    saved, header, arrays, training = _read_all(path, Engine)
    if training is None:
        raise ModelFileError(f"{path}: a model file, not a checkpoint (nothing to resume)")
    if saved.spec() != net.spec():
        raise ValueError(f"{path}: the checkpoint's network {saved!r} is not this one {net!r}")
    optimizer = dict(training["optimizer"])
    pairs: dict[str, list] = {}
    for key in sorted(k for k in arrays if k.startswith("optimizer.")):
        _, name, index = key.split(".")
        pairs.setdefault(name, []).append((int(index), arrays[key]))
    optimizer["state"] = {name: [a for _, a in sorted(found, key=lambda p: p[0])]
                          for name, found in pairs.items()}
    history = dict(training["history"])
    if "history" not in history:  # format version 1 kept the records in the JSON
        history["history"] = {key[len("history."):]: arrays[key].tolist()
                              for key in arrays if key.startswith("history.")}
    return {
        "epoch": training["epoch"], "batch": training.get("batch", 0),
        "epoch_error": training.get("epoch_error", 0.0),
        "first_loss": training.get("first_loss"),
        "parameters": saved.flat_parameters(), "statistics": saved.running_statistics(),
        "optimizer": optimizer,
        "rng_state": training["rng_state"], "order": arrays.get("trainer.order"),
        "history": history, "data": training.get("data"),
    }
