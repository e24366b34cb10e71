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
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .activations import ACTIVATIONS, LeakyReLU
from .history import History
from .losses import LOSSES
from .network import Network

__all__ = ["ModelFileError", "atomic_write", "load", "save"]

FORMAT = "chainrule"
FORMAT_VERSION = 1
HEADER = "chainrule.json"
_MAX_HEADER_CHARS = 10_000_000
_MAX_PARAMETERS = 500_000_000


class ModelFileError(ValueError):
    """A model file that cannot be read: missing, truncated, corrupted or tampered with."""


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Any]:
    """Open a temporary file beside ``path`` for binary writing; on success rename it over
    ``path`` (after flush and fsync), on failure remove it and leave ``path`` untouched."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600 is for the temporary only
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    try:  # make the rename itself durable
        folder_descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - some systems cannot open folders
        return
    try:
        os.fsync(folder_descriptor)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(folder_descriptor)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _network_arrays(net: Network) -> dict[str, np.ndarray]:
    arrays = {}
    for layer, (weight, bias) in enumerate(zip(net.weights, net.biases)):
        arrays[f"layers.{layer}.weight"] = weight
        if bias is not None:
            arrays[f"layers.{layer}.bias"] = bias
    return arrays


def _header(net: Network, arrays: dict[str, np.ndarray], **extra: Any) -> dict[str, Any]:
    from . import __version__

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "chainrule_version": __version__,
        "architecture": {
            "sizes": net.sizes,
            "activations": net.activations,
            "leaky_relu_slopes": [getattr(f, "slope", None) for f in net.activation_functions],
            "bias": net.bias,
            "loss": net.loss_name,
        },
        "dtype": net.dtype.name,
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


def save(net: Network, path: str, metadata: dict[str, Any] | None = None) -> None:
    """Write ``net`` to ``path`` (``.npz``), atomically. ``metadata`` must be JSON-able."""
    if metadata is not None:
        net.metadata = dict(metadata)
    arrays = _network_arrays(net)
    _write(path, _header(net, arrays), arrays)


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


def _network_from(path: str, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Network:
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
    slopes = architecture.get("leaky_relu_slopes", [None] * n_layers)
    if not isinstance(slopes, list) or len(slopes) != n_layers or not all(
        s is None or (isinstance(s, float) and 0.0 <= s < 1.0) for s in slopes
    ):
        raise ModelFileError(f"{path}: malformed leaky_relu_slopes {slopes!r}")
    functions = [LeakyReLU(slope) if name == "leaky_relu" and slope is not None else name
                 for name, slope in zip(activations, slopes)]
    try:
        net = Network(sizes, activation=functions, bias=bias, loss=loss, dtype=dtype)
    except ValueError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    for layer in range(n_layers):
        net.weights[layer] = layer_arrays[f"layers.{layer}.weight"]
        if bias[layer]:
            net.biases[layer] = layer_arrays[f"layers.{layer}.bias"]
    metadata = header.get("metadata", {})
    net.metadata = metadata if isinstance(metadata, dict) else {}
    return net


def load(path: str) -> Network:
    """Read a model file written by :func:`save` (or a checkpoint), checking everything."""
    header, arrays = _read(os.fspath(path))
    return _network_from(os.fspath(path), header, arrays)


# ---------------------------------------------------------------------------- checkpoints
def save_checkpoint(trainer: Any, path: str) -> None:
    """Everything needed to continue a run bit for bit: weights, optimizer state, generator
    state, epochs done and the history so far."""
    net, optimizer = trainer.net, trainer.optimizer
    arrays = _network_arrays(net)
    checksum_arrays = dict(arrays)
    for name, buffers in optimizer.state.items():
        for index, buffer in enumerate(buffers):
            arrays[f"optimizer.{name}.{index}"] = buffer
    if trainer.order is not None:
        arrays["trainer.order"] = trainer.order
    state = net.rng.bit_generator.state
    training = {
        "epoch": trainer.epoch,
        "first_loss": trainer.first_loss,
        "optimizer": {
            "name": optimizer.name,
            "hyperparameters": optimizer.hyperparameters(),
            "steps": optimizer.steps,
        },
        "rng_state": json.loads(json.dumps(state, default=str)),
        "history": trainer.history.to_dict(),
    }
    header = _header(net, checksum_arrays, checkpoint=training)
    header["checkpoint_checksum"] = _checksum(arrays)
    _write(path, header, arrays)


def load_checkpoint(trainer: Any, path: str) -> None:
    """Restore a :class:`~chainrule.training.Trainer` from :func:`save_checkpoint`'s file."""
    header, arrays = _read(os.fspath(path))
    saved = _network_from(path, header, arrays)
    training = header.get("checkpoint")
    if not isinstance(training, dict):
        raise ModelFileError(f"{path}: a model file, not a checkpoint (nothing to resume)")
    if header.get("checkpoint_checksum") != _checksum(arrays):
        raise ModelFileError(f"{path}: checksum mismatch, the checkpoint was altered or damaged")
    net = trainer.net
    if saved.sizes != net.sizes or saved.activations != net.activations \
            or saved.bias != net.bias or saved.loss_name != net.loss_name \
            or saved.dtype != net.dtype:
        raise ValueError(f"{path}: the checkpoint's network {saved!r} is not this one {net!r}")
    optimizer_info = training.get("optimizer", {})
    if optimizer_info.get("name") != trainer.optimizer.name or optimizer_info.get(
        "hyperparameters"
    ) != trainer.optimizer.hyperparameters():
        raise ValueError(
            f"{path}: the checkpoint was made with optimizer {optimizer_info.get('name')!r} "
            f"{optimizer_info.get('hyperparameters')}, not {trainer.optimizer!r}"
        )
    net.set_state(saved.parameters())
    for name, buffers in trainer.optimizer.state.items():
        for index, buffer in enumerate(buffers):
            key = f"optimizer.{name}.{index}"
            if key not in arrays or arrays[key].shape != buffer.shape:
                raise ModelFileError(f"{path}: optimizer state {key} is missing or malformed")
            buffer[...] = arrays[key]
    trainer.optimizer.steps = int(optimizer_info.get("steps", 0))
    if "trainer.order" in arrays:
        order = arrays["trainer.order"]
        n_samples = trainer.X.shape[0]
        if order.shape != (n_samples,) or order.dtype.kind not in "iu" or not np.array_equal(
                np.sort(order), np.arange(n_samples)):
            raise ValueError(f"{path}: the checkpoint's sample order does not fit this data "
                             f"({n_samples} samples)")
        trainer.order = order.astype(np.intp)
    state = training["rng_state"]
    state["state"] = {k: int(v) for k, v in state["state"].items()}
    if "inc" in state:
        state["inc"] = int(state["inc"])
    net.rng.bit_generator.state = state
    trainer.epoch = int(training["epoch"])
    trainer.first_loss = training.get("first_loss")
    previous = History.from_dict(training["history"])
    previous.params = trainer.history.params
    trainer.history = previous
