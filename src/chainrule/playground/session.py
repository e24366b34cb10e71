"""One tab's run: the data, the network, its :class:`~chainrule.training.Trainer`, and a history
that can be revisited.

The page never computes a forward or backward pass: every number it shows comes from here, and
here every number comes from the library (the trainer's watched steps, :func:`explain`,
:func:`numerical_derivative`, the optimizer's own :meth:`~chainrule.optimizers.Optimizer.terms`,
:mod:`chainrule.metrics`).

**Position.** A run is a timeline of updates: ``position`` counts the updates made. Stepping by a
*sample* walks through the next batch one row at a time (``sample`` = rows shown); the update is
taken when the batch's last row has been shown. A weight edit is an event of the timeline (at a
position); making one in the past drops the later steps.

**Bounded history.** Going back to any earlier position restores the nearest earlier snapshot of
the trainer's state and replays the steps from there; replay is bit for bit (the trainer's
``state_dict`` promises it, and the tests check it). Snapshots are taken every ``every`` updates;
when there are more than :data:`MAX_SNAPSHOTS` (or their bytes exceed
:data:`SNAPSHOT_BYTES`), every other one is dropped and ``every`` doubles. Snapshots hold no
per-epoch records: those live once in the session (at most ``epochs`` of them) and are cut to
length on restore. So a session holds its data, the network, at most :data:`MAX_SNAPSHOTS`
copies of the parameters and optimizer state, and its curves.
"""

from __future__ import annotations

import base64
import csv
import io
import math
import os
import tempfile
import warnings
from typing import Any

import numpy as np

from .. import persistence, tutorial
from ..datasets import Dataset, load_dataset
from ..datasets.planar import generate
from ..explain import explain
from ..gradcheck import numerical_derivative
from ..metrics import score
from ..network import Network
from ..optimizers import get_optimizer
from ..preparation import TrainingData, prepare, split
from ..reference import forward
from ..schedules import get_schedule
from ..tables import read_table
from ..training import Trainer
from .config import LIMITS, ConfigError, check_config

__all__ = ["Session"]

MAX_SNAPSHOTS = 64
SNAPSHOT_BYTES = 32 * 2**20
#: Points per side of the grid on which every neuron's output is drawn (2-D data only), and
#: the widest layer drawn that way.
GRID = 32
HEATMAP_NEURONS = 32
#: Samples of a batch whose own values a chain shows (all samples count in its sums).
SHOWN_SAMPLES = 32
#: Steps one request may take or replay (the page asks again for more).
MAX_STEPS_PER_REQUEST = 100_000


def encode(array: np.ndarray, dtype: str = "<f8") -> str:
    """An array's values as base64 of little-endian float64 (exact) or float32 (pictures)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


class Session:
    """The run a configuration describes (see :mod:`chainrule.playground.config`).

    ``files`` maps the ids of uploaded CSV files and imported model files to their paths."""

    def __init__(self, config: Any, files: Any = None) -> None:
        self.config = check_config(config)
        self.files = files
        #: For an uploaded file: its path here, the name it was uploaded as, and its columns.
        self.upload: dict[str, Any] | None = None
        c = self.config
        if c["data"]["source"] == "upload":
            self.raw, self.data = self._uploaded()
        else:
            self.raw = self._dataset()
            copy = Dataset(self.raw.name, self.raw.X.astype(np.float64, copy=True), self.raw.y,
                           self.raw.task, list(self.raw.feature_names),
                           list(self.raw.class_names), self.raw.target_name)
            self.data = prepare(copy, c["loss"], c["test_split"], 0.0, c["seed"],
                                c["standardize"])
        sizes = [self.data.X_train.shape[1], *c["hidden"], self.data.Y_train.shape[1]]
        biases = c["bias"] if isinstance(c["bias"], list) else [c["bias"]] * (len(sizes) - 1)
        n_parameters = sum((a + int(b_)) * b for a, b, b_ in zip(sizes, sizes[1:], biases))
        if n_parameters > LIMITS["parameters"]:
            raise ConfigError(f"hidden: {n_parameters:,} parameters; the playground takes at "
                              f"most {LIMITS['parameters']:,}")
        self.net = Network(sizes, activation=c["activations"], bias=c["bias"], loss=c["loss"],
                           init=c["init"], seed=c["seed"])
        self.net.metadata = dict(self.data.metadata)
        if c["model"] is not None:
            self._import_weights(c["model"])
        #: A second network for looking at past weights without touching the run's.
        self.probe = Network.from_spec(self.net.spec())
        self.probe.metadata = self.net.metadata
        self.edits: list[dict[str, Any]] = list(c["edits"])
        n_train = len(self.data.X_train)
        batch = c["batch_size"]
        self.batch_size = batch if 0 < batch < n_train else None
        self.trainer = self._new_trainer()
        self.position = 0
        self.furthest = max([0, *(e["step"] for e in self.edits)])
        self.sample = 0
        self.last: dict[str, Any] | None = None
        self.stopped: str | None = None
        self.curves: dict[str, list[float]] = {}
        self.every = 1
        self.snapshots: dict[int, dict[str, Any]] = {}
        self._apply_edits(0)
        self.snapshots[0] = self._snapshot()
        self.initial_parameters = self.net.flat_parameters().copy()

    # ------------------------------------------------------------------ building
    def _dataset(self) -> Dataset:
        spec = self.config["data"]
        if spec["source"] == "generator":
            data = generate(spec["name"], spec["seed"], spec["samples"], spec["noise"],
                            spec["classes"])
        else:
            data = load_dataset(spec["name"], seed=self.config["seed"])
        X, y = data.X, data.y
        if spec["removed"]:
            if spec["removed"][-1] >= len(X):
                raise ConfigError(f"data.removed: row {spec['removed'][-1]} is outside the "
                                  f"data ({len(X)} rows)")
            keep = np.setdiff1d(np.arange(len(X)), spec["removed"])
            X, y = X[keep], y[keep]
        if spec["added"]:
            if X.shape[1] != 2:
                raise ConfigError("data.added: points can be added to 2-D data only")
            added = np.asarray(spec["added"])
            if data.task == "classification":
                labels = added[:, 2]
                if np.any(labels != np.round(labels)) or np.any(labels < 0):
                    raise ConfigError("data.added: a class label is a whole number >= 0")
                y = np.concatenate([y, labels.astype(np.int64)])
            else:
                y = np.concatenate([y, added[:, 2:3]])
            X = np.concatenate([X, added[:, :2]])
        return Dataset(data.name, np.asarray(X, dtype=np.float64), y, data.task,
                       list(data.feature_names), list(data.class_names), data.target_name)

    def _uploaded(self) -> tuple[Dataset, TrainingData]:
        """An uploaded CSV or Parquet file through :func:`chainrule.preparation.prepare`, as
        ``chainrule train FILE`` prepares it (roles, missing cells, labels, split, scaling),
        and the points drawn: every row with a target, its features before scaling."""
        c, spec = self.config, self.config["data"]
        path, name = self._file(spec["upload"], "data.upload")
        try:
            data = prepare(path, c["loss"], c["test_split"], 0.0, c["seed"], c["standardize"],
                           target=spec["target"], task=spec["task"])
            table = read_table(path)
            prep = data.preparation
            targets = prep.table_targets(table)
            X = prep.encode(table)
        except ValueError as exc:  # the CLI's message, naming the file as it was uploaded
            raise ValueError(str(exc).replace(path, name)) from None
        if prep.task == "classification":
            keep = np.flatnonzero(targets >= 0)
        else:
            keep = np.flatnonzero(~np.isnan(targets).any(axis=1))
        self.upload = {"path": path, "name": name, "columns": list(table.column_names)}
        raw = Dataset(data.name, X[keep], targets[keep], prep.task, list(prep.feature_names),
                      [str(label) for label in prep.classes],
                      target_name=prep.target_name or "target")
        return raw, data

    def _file(self, key: str, where: str) -> tuple[str, str]:
        if self.files is None or self.files.path(key) is None:
            raise ConfigError(f"{where}: the file {key} is not on this server (it was uploaded "
                              "to another one, or the server restarted): upload it again")
        return self.files.path(key), self.files.name(key)

    def _import_weights(self, key: str) -> None:
        path, name = self._file(key, "model")
        model = persistence.load(path, Network)
        if model.spec() | {"dtype": "float64"} != self.net.spec():
            raise ConfigError(f"{name}: its network {model.sizes} ({', '.join(model.activations)}"
                              f", {model.loss_name}) is not this configuration's {self.net.sizes}")
        self.net.flat_parameters()[...] = model.flat_parameters()

    def _new_trainer(self) -> Trainer:
        c = self.config
        return self.net.trainer(
            self.data.X_train, self.data.Y_train, epochs=c["epochs"],
            learning_rate=c["learning_rate"],
            optimizer=get_optimizer(c["optimizer"], **c["optimizer_settings"]),
            batch_size=self.batch_size,
            schedule=get_schedule(c["schedule"], **c["schedule_settings"]),
            l2=c["l2"], progress=False, on_divergence="warn")

    # ------------------------------------------------------------------ the timeline
    def _snapshot(self) -> dict[str, Any]:
        state = self.trainer.state_dict()
        state["history"] = {"params": state["history"]["params"],
                            "epochs": state["history"]["epochs"],
                            "updates": state["history"]["updates"]}
        return {"state": state, "stopped": self.stopped}

    def _restore(self, position: int) -> None:
        start = max(p for p in self.snapshots if p <= position)
        saved = self.snapshots[start]
        state = dict(saved["state"])
        epochs = state["history"]["epochs"]
        state["history"] = {"params": state["history"]["params"],
                            "updates": state["history"]["updates"],
                            "history": {k: v[:epochs] for k, v in self.curves.items()
                                        if not k.startswith("test_")}}
        records = state["history"]["history"]
        for key in ("loss", "learning_rate"):
            records.setdefault(key, [])
        records["time"] = [0.0] * len(records["loss"])
        self.trainer = self._new_trainer()
        self.trainer.load_state_dict(state)
        self.position, self.sample, self.last = start, 0, None
        self.stopped = saved["stopped"]

    def _apply_edits(self, position: int) -> None:
        for edit in self.edits:
            if edit["step"] == position:
                self._set_parameter(self.net, edit["layer"], edit["from"], edit["to"],
                                    edit["value"])

    @staticmethod
    def _set_parameter(net: Network, layer: int, source: int | None, to: int,
                       value: float) -> None:
        if not 0 <= layer < net.n_layers:
            raise ValueError(f"layer {layer} is outside the network (0..{net.n_layers - 1})")
        if not 0 <= to < net.sizes[layer + 1]:
            raise ValueError(f"neuron {to} is outside layer {layer} "
                             f"(0..{net.sizes[layer + 1] - 1})")
        if source is None:
            if net.biases[layer] is None:
                raise ValueError(f"layer {layer} has no bias")
            net.biases[layer][to] = value
        else:
            if not 0 <= source < net.sizes[layer]:
                raise ValueError(f"input {source} is outside layer {layer}'s inputs "
                                 f"(0..{net.sizes[layer] - 1})")
            net.weights[layer][source, to] = value

    def _advance(self, watch: bool) -> bool:
        """One update from ``position``; False once training is over."""
        trainer = self.trainer
        if trainer.finished:
            return False
        before = self.net.flat_parameters().copy() if watch else None
        optimizer_before = ({k: [b.copy() for b in v] for k, v in trainer.optimizer.state.items()}
                            if watch else None)
        epochs_before = trainer.history.epochs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            record = trainer.step(watch=watch)
        if record is None:
            return False
        self.position += 1
        if trainer.history.epochs > epochs_before:
            self._record_epoch()
        if watch:
            self.last = {"before": before, "record": record,
                         "optimizer": optimizer_before, "steps": trainer.optimizer.steps}
        else:
            self.last = None
        self.furthest = max(self.furthest, self.position)
        self._apply_edits(self.position)
        if self.position % self.every == 0 and self.position not in self.snapshots:
            self.snapshots[self.position] = self._snapshot()
            self._thin_snapshots()
        return True

    def _record_epoch(self) -> None:
        history = self.trainer.history
        epochs = history.epochs
        if len(self.curves.get("loss", [])) >= epochs:  # replayed: recorded the first time
            self._check_stop(epochs - 1)
            return
        for key, values in history.history.items():
            if key != "time":
                self.curves.setdefault(key, []).append(values[-1])
        test = self._test_metrics()
        for key in ("loss", "accuracy", "r2"):
            if key in test:
                self.curves.setdefault("test_" + key, []).append(test[key])
        self._check_stop(epochs - 1)

    def _check_stop(self, epoch: int) -> None:
        """The stop rules on epoch ``epoch``'s records."""
        c, curves = self.config, self.curves
        if c["stop_loss"] is not None and curves["loss"][epoch] <= c["stop_loss"]:
            self.stopped = f"the training loss reached {c['stop_loss']:g}"
        accuracy = curves.get("accuracy")
        if c["stop_accuracy"] is not None and accuracy and \
                accuracy[epoch] >= c["stop_accuracy"]:
            self.stopped = f"the training accuracy reached {c['stop_accuracy']:g}"

    def _thin_snapshots(self) -> None:
        def size() -> int:
            return sum(s["state"]["parameters"].nbytes + sum(
                b.nbytes for buffers in s["state"]["optimizer"]["state"].values()
                for b in buffers) for s in self.snapshots.values())

        while len(self.snapshots) > MAX_SNAPSHOTS or (len(self.snapshots) > 2
                                                      and size() > SNAPSHOT_BYTES):
            self.every *= 2
            for position in [p for p in self.snapshots if p % self.every]:
                del self.snapshots[position]

    # ------------------------------------------------------------------ actions
    def step(self, unit: str = "batch", count: int = 1) -> None:
        """Go on by ``count`` batches (updates), epochs, or samples of the next batch."""
        if unit not in ("batch", "epoch", "sample"):
            raise ValueError(f"unit: expected batch, epoch or sample, got {unit!r}")
        if isinstance(count, bool) or not isinstance(count, int) or \
                not 1 <= count <= MAX_STEPS_PER_REQUEST:
            raise ValueError(f"count: a whole number from 1 to {MAX_STEPS_PER_REQUEST}, got "
                             f"{count!r}")
        self.stopped = None  # a stop rule ends play; a step asked for goes on
        if unit == "sample":
            for _ in range(count):
                self._step_sample()
            return
        if self.sample:  # the batch on show is finished (its update is made already)
            self.sample = 0
            if unit == "batch":
                count -= 1
        for _ in range(count):
            if unit == "batch":
                if not self._advance(watch=True):
                    break
            else:
                epoch = self.trainer.epoch
                # Only the epoch's last step is watched: it is the one on show.
                while self.trainer.epoch == epoch and self._advance(
                        watch=self.trainer.batch == self.trainer.n_batches - 1):
                    pass
            if self.stopped:
                break

    def _step_sample(self) -> None:
        if self.sample == 0:
            if not self._advance(watch=True):
                return
            rows = len(self.last["record"].rows)
            self.sample = 1 if rows > 1 else 0
        else:
            self.sample += 1
            if self.sample >= len(self.last["record"].rows):
                self.sample = 0

    @property
    def shown_position(self) -> int:
        """The updates made as the page shows them: while a batch is shown row by row, its
        update (already made inside) does not count yet."""
        return self.position - (1 if self.sample else 0)

    def goto(self, position: int, sample: int = 0) -> None:
        """Show the run as it was after ``position`` updates (and ``sample`` rows of the next
        batch): restored from a snapshot and replayed exactly."""
        for value, name in ((position, "position"), (sample, "sample")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: a whole number >= 0, got {value!r}")
        target = position + (1 if sample else 0)  # updates made inside
        if target > self.furthest:
            raise ValueError(f"position {position} is beyond this run's furthest step "
                             f"({self.furthest}); step forward instead")
        if target - self.position > MAX_STEPS_PER_REQUEST:
            raise ValueError(f"position {position} is more than {MAX_STEPS_PER_REQUEST} steps "
                             "ahead; go there in parts")
        if target < self.position or (target == self.position and self.last is None):
            self._restore(max(0, target - 1))
        self.sample = 0
        while self.position < target - 1 and self._advance(watch=False):
            pass
        if self.position < target:
            self._advance(watch=True)
        if sample and self.last is not None:
            rows = len(self.last["record"].rows)
            if sample >= rows:
                raise ValueError(f"sample: the batch has {rows} rows; 1..{rows - 1} show it "
                                 "row by row")
            self.sample = sample

    def edit(self, layer: int, to: int, value: float, source: int | None = None) -> None:
        """Set ``weights[layer][source, to]`` (or ``biases[layer][to]`` with no ``source``)
        at the current position; later steps of this timeline are dropped."""
        if self.sample:
            raise ValueError("finish the batch on show (step a batch) before editing a weight")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value):
            raise ValueError(f"value: a finite number, got {value!r}")
        if len(self.edits) >= LIMITS["edits"]:
            raise ValueError(f"a run keeps at most {LIMITS['edits']} edits")
        for name, index in (("layer", layer), ("to", to), ("from", source)):
            if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
                raise ValueError(f"{name}: a whole number, got {index!r}")
        self._set_parameter(self.net, layer, source, to, float(value))
        self.edits = [e for e in self.edits if e["step"] <= self.position]
        self.edits.append({"step": self.position, "layer": layer, "from": source, "to": to,
                           "value": float(value)})
        self.furthest = self.position
        for position in [p for p in self.snapshots if p >= self.position]:
            del self.snapshots[position]
        self.snapshots[self.position] = self._snapshot()  # with the edit
        epochs = self.trainer.history.epochs
        self.curves = {k: v[:epochs] for k, v in self.curves.items()}
        self.last = None

    # ------------------------------------------------------------------ what is shown
    def _shown_parameters(self) -> np.ndarray:
        """The parameters on show: before the pending update while a batch is shown row by
        row, else the run's."""
        if self.sample:
            return self.last["before"]
        return self.net.flat_parameters()

    def _probe_at(self, parameters: np.ndarray) -> Network:
        self.probe.flat_parameters()[...] = parameters
        return self.probe

    def _test_metrics(self) -> dict[str, Any]:
        X, Y = self.data.held_out
        if len(X) == 0:
            return {}
        return score(self.net, X, Y)

    def state(self, since: int = 0, pictures: bool = True, points: bool = True,
              metrics: bool = True) -> dict[str, Any]:
        """Everything the page draws, as JSON-able data (arrays as base64 float64): curves
        from epoch ``since`` on, the neurons' pictures over the plane (2-D data) if
        ``pictures``, the data's points too if ``points`` (they change only with the
        configuration), and the loss, accuracy or R² on all training and held-out rows if
        ``metrics`` (while playing, the page asks for those a few times a second)."""
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise ValueError(f"since: a whole number >= 0, got {since!r}")
        net = self._probe_at(self._shown_parameters())
        trainer = self.trainer
        out: dict[str, Any] = {
            "position": self.shown_position, "sample": self.sample, "furthest": self.furthest,
            "epoch": trainer.epoch, "batch": trainer.batch, "n_batches": trainer.n_batches,
            "epochs": trainer.epochs, "finished": trainer.finished,
            "stopped": self.stopped or (trainer.stopped_reason or "reached the last epoch "
                                        f"({trainer.epochs})" if trainer.finished else None),
            "sizes": net.sizes, "activations": net.activations, "bias": net.bias,
            "loss_name": net.loss_name, "task": self.data.task,
            "weights": [encode(w) for w in net.weights],
            "biases": [None if b is None else encode(b) for b in net.biases],
            "learning_rate": trainer.schedule(trainer.learning_rate, trainer.epoch, trainer.epochs),
            "n_train": len(self.data.X_train), "n_test": self.data.n_held,
            "batch_size": self.batch_size or len(self.data.X_train),
            "edits": self.edits, "every": self.every, "snapshots": len(self.snapshots),
            "classes": self.data.metadata.get("classes", []),
        }
        last = self.last
        if last is not None:
            record = last["record"]
            if self.sample:
                weight_grads, bias_grads = self._partial_gradients(record, self.sample)
                out["pending"] = self._pending(record)
            else:
                weight_grads, bias_grads = record.weight_grads, record.bias_grads
            out["gradients"] = {"weights": [encode(g) for g in weight_grads],
                                "biases": [None if g is None else encode(g) for g in bias_grads]}
            out["step_loss"] = record.loss
        out["curves"] = {k: v[since:] for k, v in self.curves.items()}
        out["curves_from"] = since
        if metrics:
            out["metrics"] = {"train": score(net, self.data.X_train, self.data.Y_train)}
            if self.data.n_held:
                out["metrics"]["test"] = score(net, *self.data.held_out)
        if pictures and self.raw.X.shape[1] == 2:
            out["pictures"] = self._pictures(net, points)
        return out

    def _partial_gradients(self, record, rows: int):
        """The gradient summed over the batch's first ``rows`` rows (each row's term already
        carries the batch's 1/n): what the update will use once every row is in (L2 aside)."""
        inputs = [record.inputs, *record.outputs[:-1]]
        weight_grads = [layer_in[:rows].T @ delta[:rows]
                        for layer_in, delta in zip(inputs, record.deltas)]
        bias_grads = [delta[:rows].sum(axis=0) if b is not None else None
                      for delta, b in zip(record.deltas, record.bias_grads)]
        return weight_grads, bias_grads

    def _pending(self, record) -> dict[str, Any]:
        row = self.sample - 1
        return {"rows_shown": self.sample, "rows": len(record.rows),
                "row": int(record.rows[row]),
                "x": record.inputs[row].tolist(), "target": record.targets[row].tolist(),
                "sops": [s[row].tolist() for s in record.sops],
                "outputs": [o[row].tolist() for o in record.outputs]}

    def _pictures(self, net: Network, points: bool) -> dict[str, Any]:
        X = self.raw.X
        low, high = X.min(axis=0), X.max(axis=0)
        margin = np.maximum((high - low) * 0.1, 1e-3)
        low, high = low - margin, high + margin
        xs = np.linspace(low[0], high[0], GRID)
        ys = np.linspace(high[1], low[1], GRID)  # the picture's first row is the top
        grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
        scaling = self.data.metadata.get("scaling")  # none for inputs not standardised
        inputs = grid if scaling is None else \
            (grid - np.asarray(scaling["mean"])) / np.asarray(scaling["scale"])
        with np.errstate(all="ignore"):
            _, outputs = forward(net, inputs)
        layers = [encode(np.concatenate([inputs[:, 0], inputs[:, 1]]), "<f4")]
        for output in outputs:
            layers.append(encode(output.T, "<f4") if output.shape[1] <= HEATMAP_NEURONS
                          else None)
        out = {"grid": GRID, "extent": [low[0], high[0], low[1], high[1]], "layers": layers}
        if points:
            out.update(points=encode(X), labels=self._labels().tolist(),
                       test_rows=self._test_rows().tolist())
        return out

    def _labels(self) -> np.ndarray:
        y = self.raw.y
        return y if y.ndim == 1 else y[:, 0]

    def _test_rows(self) -> np.ndarray:
        c = self.config
        if not c["test_split"]:
            return np.arange(0)
        return split(len(self.raw.X), c["test_split"], c["seed"])[1]

    # ------------------------------------------------------------------ inspecting one weight
    def chain(self, layer: int, to: int, source: int | None = None) -> dict[str, Any]:
        """The chain of derivatives of ``weights[layer][source, to]`` (or the bias of neuron
        ``to`` when ``source`` is None) on the batch of the step on show, its check by finite
        differences, the engine's gradient, and the optimizer's update of it."""
        for name, index in (("layer", layer), ("to", to), ("from", source)):
            if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
                raise ValueError(f"{name}: a whole number, got {index!r}")
        if self.last is None and self.position:  # arrived by replay: retake the step watched
            self.goto(self.shown_position, self.sample)
        last = self.last
        if last is None:
            parameters, inputs, targets = (self.net.flat_parameters(), self.data.X_train,
                                           self.data.Y_train)
            batch_note = ("no step taken yet: the gradient of a full-batch step from these "
                          "weights")
            record = None
        else:
            record = last["record"]
            parameters, inputs, targets = last["before"], record.inputs, record.targets
            batch_note = (f"update {self.position} (epoch {record.epoch + 1}, batch "
                          f"{record.batch + 1}): {len(record.rows)} "
                          f"{'row' if len(record.rows) == 1 else 'rows'}")
            if self.sample:
                batch_note += f", shown row by row (row {self.sample} of {len(record.rows)})"
        net = self._probe_at(parameters)
        weight = None if source is None else (source, to)
        bias = to if source is None else None
        explanation = explain(net, inputs, targets, layer, weight, bias=bias)
        explained = explanation.gradient
        numeric = numerical_derivative(net, inputs, targets, layer, weight, bias)
        value = float(net.weights[layer][source, to] if source is not None
                      else net.biases[layer][to])
        slip = self._published_slip(explanation, net)
        out: dict[str, Any] = {
            "parameter": explanation.parameter, "value": value, "batch": batch_note,
            "explanation": _first_rows(explanation, SHOWN_SAMPLES),
            "n_samples": int(inputs.shape[0]), "gradient": explained,
            "numerical": numeric,
            "numerical_relative_difference": _relative(explained, numeric),
        }
        if slip is not None:
            out["published_slip"] = slip
        out["incoming"] = {"weights": net.weights[layer][:, to].tolist(),
                           "bias": None if net.biases[layer] is None
                           else float(net.biases[layer][to])}
        out["shown_row"] = self.sample - 1 if self.sample else 0
        l2 = self.config["l2"] if source is not None else 0.0
        out["l2"] = {"l2": self.config["l2"], "term": l2 * value}
        if record is not None:
            used = float(record.weight_grads[layer][source, to] if source is not None
                         else record.bias_grads[layer][to])
            out["engine_gradient"] = used
            out["engine_relative_difference"] = _relative(explained + l2 * value, used)
            out["update"] = self._update_terms(layer, source, to, value, used,
                                               record.learning_rate)
        return out

    @staticmethod
    def _published_slip(explanation, net: Network) -> dict[str, Any] | None:
        """For a sigmoid output whose loss does not combine with it (the tutorial's squared
        error): what the published Part 1 code would compute instead, with the sigmoid's
        derivative taken at the predicted value (``tutorial.activation_sop_deriv(predicted)``)
        rather than at the sop."""
        last = net.n_layers - 1
        function = net.activation_functions[last]
        if explanation.layer != last or function.name != "sigmoid" or \
                net.loss_function.combines_with(function):
            return None
        predicted = explanation.outputs[last][:, explanation.to_neuron]
        g1 = explanation.delta.factors[0].value
        g2 = tutorial.activation_sop_deriv(predicted)
        gradient = float(np.sum(g1 * g2 * explanation.sop_weight_deriv.value))
        return {"g2": g2[:SHOWN_SAMPLES].tolist(), "gradient": gradient,
                "ratio": gradient / explanation.gradient if explanation.gradient else None}

    def _update_terms(self, layer, source, to, value, grad, learning_rate) -> dict[str, Any]:
        optimizer = self.trainer.optimizer
        index = self._flat_index(layer, source, to)
        state = {name: float(buffers[0][index])
                 for name, buffers in self.last["optimizer"].items()}
        terms = optimizer.terms(value, grad, learning_rate, state, self.last["steps"])
        after = float(self.net.flat_parameters()[index])
        return {"optimizer": optimizer.name, "hyperparameters": optimizer.hyperparameters(),
                "learning_rate": learning_rate, "gradient": grad,
                "terms": [{"name": n, "formula": f, "value": v} for n, f, v in terms],
                "after": after}

    def _flat_index(self, layer: int, source: int | None, to: int) -> int:
        offset = 0
        for at, (n_in, n_out) in enumerate(zip(self.net.sizes, self.net.sizes[1:])):
            if at == layer:
                if source is None:
                    return offset + n_in * n_out + to
                return offset + source * n_out + to
            offset += n_in * n_out + (n_out if self.net.bias[at] else 0)
        raise ValueError(f"layer {layer} is outside the network")

    # ------------------------------------------------------------------ taking it away
    def model_bytes(self) -> bytes:
        """The network on show as a model file (``chainrule.load`` and ``chainrule predict``
        take it)."""
        net = self.net.copy()
        net.flat_parameters()[...] = self._shown_parameters()
        net.metadata = dict(self.net.metadata)
        net.metadata["training"] = {**self.trainer.history.params,
                                    "epochs_done": self.trainer.history.epochs,
                                    "updates": self.position,
                                    "stopped_reason": self.stopped or "playground"}
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.npz")
            persistence.save(net, path)
            with open(path, "rb") as handle:
                return handle.read()

    def data_info(self) -> dict[str, Any]:
        """What the page says of the data: its name, task, target and class labels (as the
        table has them), and for an uploaded file its columns and what the preparation did
        with each (:meth:`~chainrule.features.Preparation.summary`)."""
        prep = self.data.preparation
        labels = list(self.data.metadata.get("classes") or [])
        info: dict[str, Any] = {
            "name": self.raw.name, "task": self.data.task,
            "target": prep.target_name if prep is not None else self.raw.target_name,
            "labels": labels, "classes": len(labels),
            "features": list(self.data.metadata.get("feature_names") or []),
            "rows": len(self.raw.X), "file": None, "columns": None, "summary": None}
        if self.upload is not None:
            info.update(file=self.upload["name"], columns=self.upload["columns"],
                        summary=prep.summary())
        return info

    def data_file(self) -> str:
        """The name of the data file the command and the code read: the uploaded file as it was
        uploaded, or ``<data>.csv`` as :meth:`data_csv` writes it."""
        return self.upload["name"] if self.upload is not None else f"{self.raw.name}.csv"

    def data_bytes(self) -> bytes:
        """The data file's bytes: the uploaded file itself (so that ``chainrule train`` and
        ``chainrule predict`` read the table as it came), or :meth:`data_csv`."""
        if self.upload is None:
            return self.data_csv().encode("utf-8")
        try:
            with open(self.upload["path"], "rb") as handle:
                return handle.read()
        except OSError:
            raise ConfigError(f"{self.upload['name']}: the file is no longer on this server "
                              "(more files were uploaded since): upload it again") from None

    def data_csv(self) -> str:
        """The data as a CSV file that ``chainrule train`` reads to the same numbers: for an
        uploaded CSV file, the file itself."""
        if self.upload is not None:
            try:
                return self.data_bytes().decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{self.upload['name']} is not a CSV file; its bytes are "
                                 "data_bytes()") from None
        raw = self.raw
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*raw.feature_names, raw.target_name])
        y = raw.y.reshape(len(raw.y), -1)
        for features, target in zip(raw.X.tolist(), y.tolist()):
            writer.writerow([repr(v) for v in features] +
                            [str(int(t)) if raw.task == "classification" else repr(t)
                             for t in target])
        return out.getvalue()

    def curves_csv(self) -> str:
        out = io.StringIO()
        keys = [k for k in self.curves if self.curves[k]]
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["epoch", *keys])
        for epoch in range(len(self.curves.get("loss", []))):
            writer.writerow([epoch + 1, *(repr(self.curves[k][epoch])
                                          if epoch < len(self.curves[k]) else "" for k in keys)])
        return out.getvalue()

    def commands(self) -> dict[str, Any]:
        """The ``chainrule`` command and the Python code that give this run's numbers."""
        from .commands import equivalents
        return equivalents(self)


def _relative(a: float, b: float) -> float:
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def _first_rows(explanation, rows: int) -> dict[str, Any]:
    """The explanation as the page shows it: per-row values cut to the batch's first ``rows``
    rows (its sums, computed before, cover every row), and each path of a hidden neuron's sum
    as its weight and the delta it leads to (the page shows no per-path products)."""
    data = _cut(explanation, rows) if explanation.inputs.shape[0] > rows \
        else explanation.to_dict()
    data.pop("dError_dSop")  # the same as the entry of "backward" it names
    for delta in data["backward"]:
        delta["paths"] = [{k: path[k] for k in ("to_neuron", "weight", "next")}
                          for path in delta["paths"]]
    return data


def _cut(explanation, rows: int) -> dict[str, Any]:
    per_row = explanation.per_sample_gradient[:rows]
    explanation.inputs, explanation.targets = (explanation.inputs[:rows],
                                               explanation.targets[:rows])
    explanation.sops = [values[:rows] for values in explanation.sops]
    explanation.outputs = [values[:rows] for values in explanation.outputs]
    for delta in explanation.derivation:
        delta.value = delta.value[:rows]
        if delta.output_grad is not None:
            delta.output_grad = delta.output_grad[:rows]
        for factor in delta.factors:
            factor.value = factor.value[:rows]
        for path in delta.paths:
            path["product"] = path["product"][:rows]
    explanation.sop_weight_deriv.value = explanation.sop_weight_deriv.value[:rows]
    return explanation.to_dict() | {"per_sample_gradient": per_row.tolist()}
