"""Model files and checkpoints: NumPy ``.npz`` archives plus a JSON header, never pickle.

Layout (format version 3, documented in ``docs/model-format.md``)::

    chainrule.json          a 0-d unicode array: the JSON header
    layers.<i>.weight       float32/float64, shape (n_in, n_out)
    layers.<i>.bias         shape (n_out,), present only for layers with a bias
    optimizer.<name>.<k>    checkpoints only: the optimizer's state arrays
    trainer.order           checkpoints only: the current order of the samples
    history.<key>           checkpoints only: one float64 value per epoch done

The header holds ``format``, ``format_version``, ``architecture`` (sizes, activation names,
bias flags, loss name), ``dtype``, ``metadata`` (data scaling, class labels, training
settings and, from version 3, the ``preparation``: each column's role, categories and fill
value) and a SHA-256 ``checksum`` over the arrays and the rest of the header. Loading reads
nothing but the archive's directory and the header until everything declared has been
checked: the names of the members, each ``.npy`` header (dtype, shape, size) against what the
architecture implies, the total against the memory available, every field of the JSON against
its schema; then it reads the arrays (``allow_pickle=False``), checks that they are finite and
that the checksum matches, and builds the network. Anything else in the archive is refused.
Every write goes to a temporary file in the target's folder, is flushed and fsynced, then
renamed over the target: a
crash never leaves a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import zipfile
from typing import Any

import numpy as np

from ._files import atomic_write
from ._version import __version__
from .activations import ACTIVATIONS
from .arrays import require_memory
from .column_schema import check_stored_columns
from .engine import Engine
from .losses import LOSSES
from .optimizers import OPTIMIZERS

__all__ = ["ModelFileError", "atomic_write", "load", "read_checkpoint", "save",
           "write_checkpoint"]

FORMAT = "chainrule"
FORMAT_VERSION = 3
HEADER = "chainrule.json"
#: Limits on what a file may declare, checked before anything is read.
MAX_HEADER_CHARS = 10_000_000
MAX_PARAMETERS = 500_000_000
MAX_SAMPLES = 2**40
MAX_JSON_DEPTH = 32
#: The names an archive member may have (without ``.npy``).
_MEMBER = re.compile(r"(chainrule\.json|layers\.\d+\.(weight|bias)|optimizer\.[a-z_]+\.\d+"
                     r"|trainer\.order|history\.[A-Za-z_][A-Za-z0-9_]*)")


class ModelFileError(ValueError):
    """A model file that cannot be read: missing, truncated, corrupted or tampered with."""


# ---------------------------------------------------------------------------- writing
def _canonical(header: dict[str, Any]) -> bytes:
    """The header as the checksum sees it: sorted, compact JSON, without the checksums."""
    content = {k: v for k, v in header.items() if k not in ("checksum", "checkpoint_checksum")}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False,
                      default=_json_default).encode()


def _digest(arrays: dict[str, np.ndarray], header: dict[str, Any] | None) -> str:
    """SHA-256 over each array (name, dtype, shape, bytes, in sorted name order) and, from
    format version 2 on, over the header."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    if header is not None:
        digest.update(b"header:" + _canonical(header))
    return digest.hexdigest()


def _network_arrays(net: Engine) -> dict[str, np.ndarray]:
    arrays = {}
    for layer, (weight, bias) in enumerate(zip(net.weights, net.biases)):
        arrays[f"layers.{layer}.weight"] = weight
        if bias is not None:
            arrays[f"layers.{layer}.bias"] = bias
    return arrays


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


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a model file")


def _write(path: str, header: dict[str, Any], arrays: dict[str, np.ndarray],
           model_arrays: dict[str, np.ndarray]) -> None:
    try:
        # Round-trip through JSON first: the checksum covers the header as it will be read.
        header = json.loads(json.dumps(header, allow_nan=False, default=_json_default))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not saved: the metadata is not JSON ({exc})") from None
    header["checksum"] = _digest(model_arrays, header)
    if len(arrays) > len(model_arrays):
        header["checkpoint_checksum"] = _digest(arrays, header)
    text = json.dumps(header, allow_nan=False)
    _refuse_unloadable(path, text)
    with atomic_write(path) as handle:
        np.savez(handle, **{HEADER: np.array(text)}, **arrays)


def _refuse_unloadable(path: str, text: str) -> None:
    """A header :func:`load` would refuse is never written: the text goes through the very
    checks loading makes (its size, its depth, every field's schema)."""
    try:
        if len(text) > MAX_HEADER_CHARS:
            raise _fail(path, f"the header would be {len(text):,} characters, more than the "
                              f"{MAX_HEADER_CHARS:,} a model file may hold (a metadata field "
                              "too large?)")
        _check_header(path, _parse_json(path, text))
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
def _fail(path: str, message: str) -> ModelFileError:
    return ModelFileError(f"{path}: {message}")


def _parse_json(path: str, text: str) -> Any:
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


class _Archive:
    """An ``.npz`` file read in order: its directory, then ``.npy`` headers, then data."""

    def __init__(self, path: str):
        self.path = path
        if not os.path.isfile(path):
            raise _fail(path, "no such model file") if not os.path.exists(path) \
                else _fail(path, "not a regular file")
        try:
            self.zip = zipfile.ZipFile(path)
        except (PermissionError, BlockingIOError) as exc:  # the file, not its content
            raise _fail(path, f"cannot be read ({exc.strerror or exc})") from None
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise _fail(path, f"truncated or corrupted model file ({exc})") from None
        infos = self.zip.infolist()
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise _fail(path, "the archive holds two members of one name")
        self.members = {}
        for info in infos:
            stem = info.filename[:-4] if info.filename.endswith(".npy") else None
            if stem is None or not _MEMBER.fullmatch(stem):
                raise _fail(path, f"holds a member the format does not define: "
                                  f"{info.filename[:80]!r}")
            self.members[stem] = info

    def close(self) -> None:
        self.zip.close()

    def _open(self, name: str):
        try:
            return self.zip.open(self.members[name])
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
            raise _fail(self.path, f"truncated or corrupted model file ({exc})") from None

    def array_header(self, name: str) -> tuple[tuple[int, ...], np.dtype]:
        """The declared shape and dtype of a member, checked against its stored size."""
        info = self.members[name]
        try:
            with self._open(name) as handle:
                version = np.lib.format.read_magic(handle)
                reader = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                    else np.lib.format.read_array_header_2_0
                shape, fortran_order, dtype = reader(handle)
                offset = handle.tell()
        except ModelFileError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, SyntaxError) as exc:
            raise _fail(self.path, f"{name}: not a valid .npy array ({exc})") from None
        if fortran_order or dtype.hasobject:
            raise _fail(self.path, f"{name}: must be a plain C-ordered array, got {dtype}")
        nbytes = math.prod(shape) * dtype.itemsize
        if info.file_size != offset + nbytes:
            raise _fail(self.path, f"{name}: its size ({info.file_size} bytes) does not match "
                                   f"its header ({dtype}{list(shape)})")
        return shape, dtype

    def read(self, name: str) -> np.ndarray:
        try:
            with self._open(name) as handle:
                return np.lib.format.read_array(handle, allow_pickle=False)
        except ModelFileError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise _fail(self.path, f"truncated or corrupted model file ({name}: {exc})") \
                from None

    def header(self) -> dict[str, Any]:
        if HEADER not in self.members:
            raise _fail(self.path, f"not a chainrule model file (no {HEADER})")
        shape, dtype = self.array_header(HEADER)
        if dtype.kind != "U" or shape != () or dtype.itemsize // 4 > MAX_HEADER_CHARS:
            raise _fail(self.path, f"the header {HEADER} is malformed")
        return _parse_json(self.path, str(self.read(HEADER)))


def _is_int(value: Any, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _checked_spec(path: str, header: dict[str, Any]) -> dict[str, Any]:
    """The header's architecture, every field checked, as :meth:`Engine.spec` gives it."""
    architecture = header.get("architecture")
    if not isinstance(architecture, dict):
        raise _fail(path, "the header has no architecture")
    unknown = set(architecture) - {"sizes", "activations", "leaky_relu_slopes", "bias", "loss"}
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
    return {"sizes": sizes, "activations": activations, "leaky_relu_slopes": slopes,
            "bias": bias, "loss": loss, "dtype": dtype}


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


def _check_members(archive: _Archive, spec: dict[str, Any], training: Any) -> dict[str, tuple]:
    """Every member's declared shape and dtype against what the header implies; returns them.
    Nothing is read but ``.npy`` headers."""
    path, sizes, dtype = archive.path, spec["sizes"], np.dtype(spec["dtype"])
    expected: dict[str, tuple] = {}
    for layer, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        expected[f"layers.{layer}.weight"] = ((n_in, n_out), dtype)
        if spec["bias"][layer]:
            expected[f"layers.{layer}.bias"] = ((n_out,), dtype)
    n_parameters = sum(math.prod(shape) for shape, _ in expected.values())
    extra = [name for name in archive.members if name not in expected and name != HEADER]
    if training is None and extra:
        raise _fail(path, f"a model file with members only checkpoints have: {extra[:3]}")
    declared = {}
    for name in extra:
        shape, found = archive.array_header(name)
        kind = name.split(".")[0]
        if kind == "optimizer":
            ok = shape == (n_parameters,) and found == dtype
        elif kind == "trainer":
            ok = len(shape) == 1 and shape[0] <= MAX_SAMPLES and found == np.dtype("<i8")
        else:  # history
            ok = len(shape) == 1 and shape[0] == training["epoch"] and found == np.dtype("<f8")
        if not ok:
            raise _fail(path, f"{name} is {found}{list(shape)}, which this checkpoint cannot "
                              "hold")
        declared[name] = (shape, found)
    missing = sorted(set(expected) - set(archive.members))
    if missing:
        raise _fail(path, f"arrays do not match the architecture (missing {missing})")
    if training is not None:  # every run records these three, one value per epoch done
        records = set(training["history"]["history"]) if "history" in training["history"] \
            else {name[len("history."):] for name in extra if name.startswith("history.")}
        lacking = [key for key in ("loss", "learning_rate", "time") if key not in records]
        if lacking:
            raise _fail(path, f"the checkpoint's history lacks its {', '.join(lacking)} "
                              f"record(s) (one value for each of its {training['epoch']} "
                              "epochs)")
    for name, (shape, wanted) in expected.items():
        found_shape, found = archive.array_header(name)
        if found_shape != shape or found != wanted:
            raise _fail(path, f"{name} is {found}{list(found_shape)}, expected "
                              f"{wanted}{list(shape)}")
        declared[name] = (shape, wanted)
    require_memory(sum(math.prod(s) * d.itemsize for s, d in declared.values()),
                   f"reading {path}")
    return declared


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


def _check_header(path: str, header: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
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
    spec = _checked_spec(path, header)
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


def _verify(path: str, header: dict[str, Any], arrays: dict[str, np.ndarray], key: str,
            what: str) -> None:
    signed = header if header["format_version"] >= 2 else None  # version 1: arrays only
    if header.get(key) != _digest(arrays, signed):
        raise _fail(path, f"checksum mismatch, the {what} was altered or damaged")


def _read_all(path: str, network_class: type[Engine]):
    """The checked network, the header, and (for a checkpoint) its arrays and trainer state."""
    archive = _Archive(path)
    try:
        header = archive.header()
        spec, training = _check_header(path, header)
        declared = _check_members(archive, spec, training)
        arrays = {name: archive.read(name) for name in declared}
    finally:
        archive.close()
    model_arrays = {k: v for k, v in arrays.items() if k.startswith("layers.")}
    for name, array in arrays.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise _fail(path, f"{name} holds non-finite values")
    _verify(path, header, model_arrays, "checksum", "model")
    if training is not None:
        _verify(path, header, arrays, "checkpoint_checksum", "checkpoint")
    try:
        net = network_class.from_spec(spec)
    except ValueError as exc:
        raise _fail(path, str(exc)) from None
    for layer in range(len(spec["sizes"]) - 1):
        net.weights[layer] = model_arrays[f"layers.{layer}.weight"]
        if spec["bias"][layer]:
            net.biases[layer] = model_arrays[f"layers.{layer}.bias"]
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
        raise _fail(path, "a model file, not a checkpoint (nothing to resume)")
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
        "parameters": saved.flat_parameters(), "optimizer": optimizer,
        "rng_state": training["rng_state"], "order": arrays.get("trainer.order"),
        "history": history, "data": training.get("data"),
    }
