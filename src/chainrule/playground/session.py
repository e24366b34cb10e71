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

import warnings
from typing import Any

import numpy as np

from ..activations import get_activation
from ..datasets import Dataset, load_dataset
from ..datasets.planar import generate
from ..network import Network
from ..optimizers import get_optimizer
from ..preparation import TrainingData, prepare
from ..schedules import get_schedule
from ..training import Trainer
from .budget import MAX_STEP_BYTES, Footprint, TooLarge, estimate, largest_batch
from .budget import size as size_text
from .chains import SHOWN_SAMPLES, Chains
from .config import LIMITS, ConfigError, check_config
from .exports import Exports
from .inputs import real, shown, whole
from .uploads import check_prepared, count_prepared, read_model, read_upload
from .views import GRID, HEATMAP_NEURONS, Views, encode

__all__ = ["GRID", "HEATMAP_NEURONS", "SHOWN_SAMPLES", "Session", "encode"]

MAX_SNAPSHOTS = 64
SNAPSHOT_BYTES = 32 * 2**20
#: Steps one request may take or replay (the page asks again for more).
MAX_STEPS_PER_REQUEST = 100_000


class Session(Views, Chains, Exports):
    """The run a configuration describes (see :mod:`chainrule.playground.config`).

    ``files`` maps the ids of uploaded CSV files and imported model files to their paths
    (``path(key)``, ``name(key)``). ``budget``, if given (the server's
    :class:`~chainrule.playground.store.Sessions`), is asked to ``reserve(nbytes)`` the
    session's :attr:`footprint` before its network is made, and may refuse it; a chain reserves
    what it adds beyond a step while it runs, and gives it back (``release(nbytes)``)."""

    def __init__(self, config: Any, files: Any = None, budget: Any = None) -> None:
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
        n_train = len(self.data.X_train)
        batch = c["batch_size"]
        self.batch_size = batch if 0 < batch < n_train else None
        #: What the session may take in memory (see :mod:`chainrule.playground.budget`).
        self.footprint = self._footprint(sizes)
        self.budget = budget
        if budget is not None:
            budget.reserve(self.footprint.total)
        try:
            self._build(sizes)
        except BaseException:
            if budget is not None:
                budget.release(self.footprint.total)
            raise

    def _build(self, sizes: list[int]) -> None:
        c = self.config
        self.net = Network(sizes, activation=c["activations"], bias=c["bias"], loss=c["loss"],
                           init=c["init"], seed=c["seed"])
        self.net.metadata = dict(self.data.metadata)
        if c["model"] is not None:
            self._import_weights(c["model"])
        #: A second network for looking at past weights without touching the run's.
        self.probe = Network.from_spec(self.net.spec())
        self.probe.metadata = self.net.metadata
        self.edits: list[dict[str, Any]] = list(c["edits"])
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

    def _footprint(self, sizes: list[int]) -> Footprint:
        """The session's footprint, refused with the batch size that fits when one step would
        cost more than :data:`~chainrule.playground.budget.MAX_STEP_BYTES`."""
        c, data = self.config, self.data
        n_train, n_held, n_points = len(data.X_train), data.n_held, len(self.raw.X)
        rows = self.batch_size or n_train
        couples = get_activation(c["activations"][-1]).couples_neurons
        footprint = estimate(sizes, c["optimizer"], rows, n_train, n_held, n_points,
                                    c["epochs"], couples)
        if footprint.step_cost > MAX_STEP_BYTES:
            fits = largest_batch(sizes, c["optimizer"], n_train, n_held, n_points,
                                        c["epochs"])
            advice = (f"a batch size of at most {fits:,}, or smaller layers" if fits else
                      "smaller layers or fewer rows (even one row per batch is too much: the "
                      "metrics run on every row)")
            network = "-".join(map(str, sizes))
            raise ConfigError(
                f"batch_size: one step of the {network} network on batches of {rows:,} rows "
                f"needs about {size_text(footprint.step_cost)}; the playground allows "
                f"{size_text(MAX_STEP_BYTES)} per step: {advice}")
        return footprint

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
                n_classes = max(len(data.class_names), int(y.max()) + 1 if len(y) else 0)
                if np.any(labels != np.round(labels)) or np.any(labels < 0) or \
                        np.any(labels >= n_classes):
                    raise ConfigError(f"data.added: a class label is one of the data's classes, "
                                      f"a whole number from 0 to {n_classes - 1}")
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
        table = read_upload(path, name)
        try:
            # What the table becomes, counted before it is made (one-hot encoding makes a
            # column as many features as it has categories).
            check_prepared(count_prepared(path, table, spec["target"], spec["task"]),
                           table.num_rows, name)
            data = prepare(path, c["loss"], c["test_split"], 0.0, c["seed"], c["standardize"],
                           target=spec["target"], task=spec["task"])
            prep = data.preparation
            targets = prep.table_targets(table)
            X = prep.encode(table)
        except (TooLarge, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - the CLI's message, naming the file as uploaded
            text = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            text = text.replace(path, name)
            raise ValueError(text if text.startswith(name) else f"{name}: {text}") from None
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
        model = read_model(path, name)
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
        if not isinstance(unit, str) or unit not in ("batch", "epoch", "sample"):
            raise ValueError(f"unit: expected batch, epoch or sample, got {shown(unit)}")
        count = whole(count, "count", 1, MAX_STEPS_PER_REQUEST)
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
        position, sample = whole(position, "position"), whole(sample, "sample")
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
        value = real(value, "value")
        if len(self.edits) >= LIMITS["edits"]:
            raise ValueError(f"a run keeps at most {LIMITS['edits']} edits")
        layer, to = whole(layer, "layer"), whole(to, "to")
        source = None if source is None else whole(source, "from")
        self._set_parameter(self.net, layer, source, to, value)
        self.edits = [e for e in self.edits if e["step"] <= self.position]
        self.edits.append({"step": self.position, "layer": layer, "from": source, "to": to,
                           "value": value})
        self.furthest = self.position
        for position in [p for p in self.snapshots if p >= self.position]:
            del self.snapshots[position]
        self.snapshots[self.position] = self._snapshot()  # with the edit
        epochs = self.trainer.history.epochs
        self.curves = {k: v[:epochs] for k, v in self.curves.items()}
        self.last = None
