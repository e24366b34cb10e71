"""Model files and checkpoints: NumPy ``.npz`` archives plus a JSON header, never pickle.

Layout (format version 1, documented in ``docs/model-format.md``)::

    chainrule.json          a 0-d unicode array: the JSON header
    layers.<i>.weight       float32/float64, shape (n_in, n_out)
    layers.<i>.bias         shape (n_out,), present only for layers with a bias
    optimizer.<name>.<k>    checkpoints only: the optimizer's state arrays
    trainer.order           checkpoints only: the current order of the samples

The header holds ``format``, ``format_version``, ``architecture`` (sizes, activation names,
bias flags, loss name), ``dtype``, a SHA-256 ``checksum`` of every array, and free-form
``metadata`` (data scaling, class labels, training settings). Loading reads the archive with
``allow_pickle=False``, accepts only registered activation and loss names, checks every array's
name, shape, dtype and finiteness against the architecture and the checksum before building the
network, and rejects anything else in the archive. Every write goes to a temporary file in the
target's folder, is flushed and fsynced, then renamed over the target: a crash never leaves a
half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from typing import Any

import numpy as np

from ._files import atomic_write
from ._validation import positive_int
from .activations import ACTIVATIONS
from .callbacks import Callback
from .engine import Engine
from .losses import LOSSES

__all__ = ["Checkpoint", "ModelFileError", "atomic_write", "load", "load_checkpoint",
           "read_checkpoint", "save", "save_checkpoint"]

FORMAT = "chainrule"
FORMAT_VERSION = 1
HEADER = "chainrule.json"
_MAX_HEADER_CHARS = 10_000_000
_MAX_PARAMETERS = 500_000_000


class ModelFileError(ValueError):
    """A model file that cannot be read: missing, truncated, corrupted or tampered with."""


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _network_arrays(net: Engine) -> dict[str, np.ndarray]:
    arrays = {}
    for layer, (weight, bias) in enumerate(zip(net.weights, net.biases)):
        arrays[f"layers.{layer}.weight"] = weight
        if bias is not None:
            arrays[f"layers.{layer}.bias"] = bias
    return arrays


def _header(net: Engine, arrays: dict[str, np.ndarray], **extra: Any) -> dict[str, Any]:
    from . import __version__

    architecture = net.spec()
    dtype = architecture.pop("dtype")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "chainrule_version": __version__,
        "architecture": architecture,
        "dtype": dtype,
        "checksum": _checksum(arrays),
        "metadata": getattr(net, "metadata", {}),
        **extra,
    }


def _write(path: str, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    text = json.dumps(header, allow_nan=False, default=_json_default)
    with atomic_write(path) as handle:
        np.savez(handle, **{HEADER: np.array(text)}, **arrays)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a model file")


def save(net: Engine, path: str, metadata: dict[str, Any] | None = None) -> None:
    """Write ``net`` to ``path`` (``.npz``), atomically. ``metadata`` must be JSON-able."""
    _check_finite(net, path)
    if metadata is not None:
        net.metadata = dict(metadata)
    arrays = _network_arrays(net)
    _write(path, _header(net, arrays), arrays)


def _check_finite(net: Engine, path: str) -> None:
    """A file :func:`load` would refuse is never written: every weight must be finite."""
    for layer, (weight, bias) in enumerate(zip(net.weights, net.biases)):
        for kind, array in (("weights", weight), ("biases", bias)):
            if array is not None and not np.isfinite(array).all():
                raise ValueError(f"{path}: not saved: {kind}[{layer}] holds non-finite values "
                                 "(training diverged?)")


def _read(path: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and arrays of a file, checked for form (not yet against an architecture)."""
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such model file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not hasattr(archive, "files"):
                raise ModelFileError(f"{path}: not a chainrule model file (not an .npz archive)")
            if HEADER not in archive.files:
                raise ModelFileError(f"{path}: not a chainrule model file (no {HEADER})")
            text = archive[HEADER]
            if text.dtype.kind != "U" or text.ndim != 0 or len(str(text)) > _MAX_HEADER_CHARS:
                raise ModelFileError(f"{path}: the header {HEADER} is malformed")
            arrays = {name: archive[name] for name in archive.files if name != HEADER}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{path}: truncated or corrupted model file ({exc})") from None
    try:
        header = json.loads(str(text))
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: the header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a chainrule model file (format field)")
    version = header.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path}: bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format_version {version} is newer than this chainrule reads "
            f"({FORMAT_VERSION}); upgrade chainrule"
        )
    return header, arrays


def _checked_spec(path: str, header: dict[str, Any]) -> dict[str, Any]:
    """The header's architecture, every field checked, as :meth:`Engine.spec` gives it."""
    architecture = header.get("architecture")
    if not isinstance(architecture, dict):
        raise ModelFileError(f"{path}: the header has no architecture")
    sizes = architecture.get("sizes")
    activations = architecture.get("activations")
    bias = architecture.get("bias")
    loss = architecture.get("loss")
    if (
        not isinstance(sizes, list) or len(sizes) < 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes)
    ):
        raise ModelFileError(f"{path}: architecture sizes {sizes!r} are not valid layer sizes")
    n_layers = len(sizes) - 1
    if sum(a * b for a, b in zip(sizes, sizes[1:])) > _MAX_PARAMETERS:
        raise ModelFileError(f"{path}: the architecture declares too many parameters")
    if not isinstance(activations, list) or len(activations) != n_layers or not all(
        isinstance(a, str) and a in ACTIVATIONS for a in activations
    ):
        raise ModelFileError(f"{path}: unknown or malformed activations {activations!r}")
    if not isinstance(bias, list) or len(bias) != n_layers or not all(
        isinstance(b, bool) for b in bias
    ):
        raise ModelFileError(f"{path}: malformed bias flags {bias!r}")
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ModelFileError(f"{path}: unknown loss {loss!r}")
    dtype = header.get("dtype")
    if dtype not in ("float32", "float64"):
        raise ModelFileError(f"{path}: dtype {dtype!r} is not float32 or float64")
    slopes = architecture.get("leaky_relu_slopes", [None] * n_layers)
    if not isinstance(slopes, list) or len(slopes) != n_layers or not all(
        s is None or (isinstance(s, float) and 0.0 <= s < 1.0) for s in slopes
    ):
        raise ModelFileError(f"{path}: malformed leaky_relu_slopes {slopes!r}")
    return {"sizes": sizes, "activations": activations, "leaky_relu_slopes": slopes,
            "bias": bias, "loss": loss, "dtype": dtype}


def _network_from(path: str, header: dict[str, Any], arrays: dict[str, np.ndarray],
                  network_class: type[Engine]) -> Engine:
    spec = _checked_spec(path, header)
    sizes, bias, dtype = spec["sizes"], spec["bias"], spec["dtype"]
    expected = {}
    for layer, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        expected[f"layers.{layer}.weight"] = (n_in, n_out)
        if bias[layer]:
            expected[f"layers.{layer}.bias"] = (n_out,)
    layer_arrays = {k: v for k, v in arrays.items()
                    if not k.startswith(("optimizer.", "trainer."))}
    missing = sorted(set(expected) - set(layer_arrays))
    extra = sorted(set(layer_arrays) - set(expected))
    if missing or extra:
        raise ModelFileError(
            f"{path}: arrays do not match the architecture (missing {missing}, unexpected {extra})"
        )
    for name, shape in expected.items():
        array = layer_arrays[name]
        if array.shape != shape or array.dtype != np.dtype(dtype):
            raise ModelFileError(
                f"{path}: {name} is {array.dtype}{list(array.shape)}, expected {dtype}{list(shape)}"
            )
        if not np.isfinite(array).all():
            raise ModelFileError(f"{path}: {name} holds non-finite values")
    if header.get("checksum") != _checksum(layer_arrays):
        raise ModelFileError(f"{path}: checksum mismatch, the weights were altered or damaged")
    try:
        net = network_class.from_spec(spec)
    except ValueError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    for layer in range(len(sizes) - 1):
        net.weights[layer] = layer_arrays[f"layers.{layer}.weight"]
        if bias[layer]:
            net.biases[layer] = layer_arrays[f"layers.{layer}.bias"]
    metadata = header.get("metadata", {})
    net.metadata = metadata if isinstance(metadata, dict) else {}
    return net


def load(path: str, network_class: type[Engine] = Engine) -> Engine:
    """Read a model file written by :func:`save` (or a checkpoint), checking everything; the
    network is built as ``network_class`` (:func:`chainrule.load` gives a
    :class:`~chainrule.network.Network`)."""
    header, arrays = _read(os.fspath(path))
    return _network_from(os.fspath(path), header, arrays, network_class)


# ---------------------------------------------------------------------------- checkpoints
def save_checkpoint(trainer: Any, path: str) -> None:
    """Write the trainer's :meth:`~chainrule.training.Trainer.state_dict` (weights, optimizer
    state, generator state, sample order, position and history) beside the model it trains:
    the file loads as a model too."""
    state = trainer.state_dict()
    net = trainer.net
    _check_finite(net, path)
    arrays = _network_arrays(net)
    checksum_arrays = dict(arrays)
    for name, buffers in state["optimizer"]["state"].items():
        for index, buffer in enumerate(buffers):
            arrays[f"optimizer.{name}.{index}"] = buffer
    if state["order"] is not None:
        arrays["trainer.order"] = state["order"]
    training = {key: state[key] for key in ("epoch", "batch", "epoch_error", "first_loss",
                                            "history")}
    training["optimizer"] = {k: v for k, v in state["optimizer"].items() if k != "state"}
    training["rng_state"] = json.loads(json.dumps(state["rng_state"], default=str))
    header = _header(net, checksum_arrays, checkpoint=training)
    header["checkpoint_checksum"] = _checksum(arrays)
    _write(path, header, arrays)


def read_checkpoint(path: str, net: Engine) -> dict[str, Any]:
    """A checkpoint's trainer state (for :meth:`~chainrule.training.Trainer.load_state_dict`),
    after checking that it was made for a network like ``net``."""
    header, arrays = _read(os.fspath(path))
    saved = _network_from(path, header, arrays, Engine)
    training = header.get("checkpoint")
    if not isinstance(training, dict):
        raise ModelFileError(f"{path}: a model file, not a checkpoint (nothing to resume)")
    if header.get("checkpoint_checksum") != _checksum(arrays):
        raise ModelFileError(f"{path}: checksum mismatch, the checkpoint was altered or damaged")
    if saved.spec() != net.spec():
        raise ValueError(f"{path}: the checkpoint's network {saved!r} is not this one {net!r}")
    optimizer = dict(training.get("optimizer", {}))
    state: dict[str, list[np.ndarray]] = {}
    for key in sorted(k for k in arrays if k.startswith("optimizer.")):
        _, name, index = key.split(".")
        state.setdefault(name, []).append((int(index), arrays[key]))
    optimizer["state"] = {name: [a for _, a in sorted(pairs, key=lambda p: p[0])]
                          for name, pairs in state.items()}
    rng_state = dict(training["rng_state"])
    rng_state["state"] = {k: int(v) for k, v in rng_state["state"].items()}
    if "inc" in rng_state:
        rng_state["inc"] = int(rng_state["inc"])
    return {
        "epoch": training["epoch"], "batch": training.get("batch", 0),
        "epoch_error": training.get("epoch_error", 0.0), "first_loss": training["first_loss"],
        "parameters": saved.flat_parameters(), "optimizer": optimizer, "rng_state": rng_state,
        "order": arrays.get("trainer.order"), "history": training["history"],
    }


def load_checkpoint(trainer: Any, path: str) -> None:
    """Continue ``trainer`` from the checkpoint at ``path``."""
    try:
        trainer.load_state_dict(read_checkpoint(path, trainer.net))
    except ValueError as exc:
        if isinstance(exc, ModelFileError) or str(exc).startswith(f"{path}:"):
            raise
        raise ValueError(f"{path}: {exc}") from None


class Checkpoint(Callback):
    """Write a resumable checkpoint every ``every`` epochs (atomically)."""

    def __init__(self, path: str, every: int = 1) -> None:
        self.path, self.every = path, positive_int(every, "checkpoint_every")

    def on_epoch_end(self, trainer, epoch, logs):
        if (epoch + 1) % self.every == 0:
            save_checkpoint(trainer, self.path)


def prepare_run(trainer: Any, checkpoint: str | None = None, checkpoint_every: int = 1,
                resume_from: str | None = None) -> Any:
    """The file side of a run: add a :class:`Checkpoint` callback writing to ``checkpoint``
    and continue from the checkpoint ``resume_from``. Returns the trainer."""
    if checkpoint is not None:
        trainer.callbacks.append(Checkpoint(checkpoint, checkpoint_every))
    if resume_from is not None:
        load_checkpoint(trainer, resume_from)
    return trainer
