"""One tab's run: the data, the network, its :class:`~chainrule.training.Trainer`, and a history
that can be revisited.

The page never computes a forward or backward pass: every number it shows comes from here, and
here every number comes from the library (the trainer's watched steps, :func:`explain`,
:func:`numerical_derivative`, the optimizer's own :meth:`~chainrule.optimizers.Optimizer.terms`,
:mod:`chainrule.metrics`, the stopping rules of :mod:`chainrule.callbacks`).

A session is made of rooms, one idea each: what it trains on (:mod:`.data`), the timeline of its
updates with its snapshots, replay and edits (:mod:`.timeline`), what it shows (:mod:`.views`),
the chain of one weight (:mod:`.chains`), and what it gives away (:mod:`.exports`). This module
puts them together: the configuration becomes data, a network and a trainer.

So a session holds its data, the network, at most
:data:`~chainrule.playground.timeline.MAX_SNAPSHOTS` copies of the parameters and optimizer
state, and its curves.
"""

from __future__ import annotations

from typing import Any

from ..activations import get_activation
from ..network import Network
from ..optimizers import get_optimizer
from ..schedules import get_schedule
from ..training import Trainer
from .budget import MAX_STEP_BYTES, Footprint, TooLarge, estimate, largest_batch
from .budget import size as size_text
from .chains import SHOWN_SAMPLES, Chains
from .config import LIMITS, ConfigError, check_config, library_batch_size
from .data import file_of, points, prepared, uploaded
from .exports import Exports
from .inputs import whole
from .store import Busy
from .timeline import MAX_SNAPSHOTS, MAX_STEPS_PER_REQUEST, SNAPSHOT_BYTES, PausesPlay, Timeline
from .uploads import read_model
from .views import GRID, HEATMAP_NEURONS, Views, encode

__all__ = ["GRID", "HEATMAP_NEURONS", "MAX_PLAYED", "MAX_SNAPSHOTS", "MAX_STEPS_PER_REQUEST",
           "PLAY_BYTES", "SHOWN_SAMPLES", "SNAPSHOT_BYTES", "Session", "encode"]

#: Updates one request of play may take (each one's state travels in full, pictures included),
#: and the most their states may take together beyond the one answer a step request is counted
#: with (:mod:`.budget`): larger states, fewer updates (one, for a million parameters). The
#: extra is reserved from the server's budget while the request runs.
MAX_PLAYED, PLAY_BYTES = 32, 16 * 2**20


class Session(Timeline, Views, Chains, Exports):
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
            self.raw, self.data, self.upload = uploaded(c, files)
        else:
            self.raw = points(c["data"], c["seed"])
            self.data = prepared(self.raw, c)
        sizes = [self.data.X_train.shape[1], *c["hidden"], self.data.Y_train.shape[1]]
        biases = c["bias"] if isinstance(c["bias"], list) else [c["bias"]] * (len(sizes) - 1)
        n_parameters = sum((a + int(b_)) * b for a, b, b_ in zip(sizes, sizes[1:], biases))
        if n_parameters > LIMITS["parameters"]:
            raise ConfigError(f"hidden: {n_parameters:,} parameters; the playground takes at "
                              f"most {LIMITS['parameters']:,}")
        self.batch_size = library_batch_size(c["batch_size"], len(self.data.X_train))
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
                           init=c["init"], seed=c["seed"], dropout=c["dropout"],
                           normalization=c["normalization"])
        self.net.metadata = dict(self.data.metadata)
        if c["model"] is not None:
            self._import_weights(c["model"])
        #: A second network for looking at past weights without touching the run's.
        self.probe = Network.from_spec(self.net.spec())
        self.probe.metadata = self.net.metadata
        self.edits: list[dict[str, Any]] = list(c["edits"])
        #: The stop rules (the library's, see :class:`~.timeline.PausesPlay`), if any.
        accuracy = c["target_accuracy"] if self.data.task == "classification" else None
        self.rules = (PausesPlay(loss=c["target_loss"], accuracy=accuracy)
                      if c["target_loss"] is not None or accuracy is not None else None)
        try:
            self.trainer = self._new_trainer()
        except ValueError as exc:  # batch normalisation meeting a batch of 1 row
            raise ConfigError(f"batch_size: {exc}") from None
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

    def play(self, count: int = 1, since: int = 0, pictures: bool = True, points: bool = True,
             metrics: bool = True) -> list[dict[str, Any]]:
        """``count`` updates (one batch each), and the state after each one, in order: what
        play draws, every update of it. The first state has the curves from epoch ``since``
        and the points (if ``points``), each later one the epochs the one before it lacked;
        only the last has the metrics on all rows (if ``metrics``). It ends early, on the
        update after which a stop rule pauses play or training ends."""
        count = whole(count, "count", 1, MAX_PLAYED)
        each = self._answer_bytes(bool(pictures))
        count = max(1, min(count, PLAY_BYTES // each))
        extra = (count - 1) * each
        if extra and self.budget is not None:
            try:
                self.budget.reserve(extra)
            except (TooLarge, Busy):  # no room now: one update, as a step request
                count, extra = 1, 0
        try:
            states: list[dict[str, Any]] = []
            for done in range(1, count + 1):
                self.step("batch", 1)
                last = done == count or self.stopped is not None or self.trainer.finished
                states.append(self.state(since, pictures, points and not states,
                                         metrics and last))
                since = len(self.curves.get("loss", []))
                if last:
                    break
            return states
        finally:
            if extra and self.budget is not None:
                self.budget.release(extra)

    def _answer_bytes(self, pictures: bool) -> int:
        """About what one state of play takes until it is sent: its weights and gradients as
        :mod:`.budget` counts an answer (base64 of float64 in the dict, the JSON text and its
        bytes: 8 copies of 8 bytes a parameter) and, for 2-D data, the neurons' pictures (base64
        of float32, three copies: 16 bytes a value)."""
        sizes = self.net.sizes
        answer = 8 * 8 * sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
        if pictures and self.raw.X.shape[1] == 2:
            drawn = 2 + sum(n for n in sizes[1:] if n <= HEATMAP_NEURONS)
            answer += 16 * GRID * GRID * drawn
        return answer

    def _footprint(self, sizes: list[int]) -> Footprint:
        """The session's footprint, refused with the batch size that fits when one step would
        cost more than :data:`~chainrule.playground.budget.MAX_STEP_BYTES`."""
        c, data = self.config, self.data
        n_train, n_held, n_points = len(data.X_train), data.n_held, len(self.raw.X)
        rows = self.batch_size or n_train
        couples = get_activation(c["activations"][-1]).couples_neurons
        footprint = estimate(sizes, c["optimizer"], rows, n_train, n_held, n_points,
                             c["epochs"], couples, c["normalization"], c["dropout"])
        if footprint.step_cost > MAX_STEP_BYTES:
            fits = largest_batch(sizes, c["optimizer"], n_train, n_held, n_points, c["epochs"],
                                 c["normalization"], c["dropout"])
            advice = (f"a batch size of at most {fits:,}, or smaller layers" if fits else
                      "smaller layers or fewer rows (even one row per batch is too much: the "
                      "metrics run on every row)")
            network = "-".join(map(str, sizes))
            raise ConfigError(
                f"batch_size: one step of the {network} network on batches of {rows:,} rows "
                f"needs about {size_text(footprint.step_cost)}; the playground allows "
                f"{size_text(MAX_STEP_BYTES)} per step: {advice}")
        return footprint

    def _import_weights(self, key: str) -> None:
        path, name = file_of(self.files, key, "model")
        model = read_model(path, name)
        if model.spec() | {"dtype": "float64"} != self.net.spec():
            raise ConfigError(f"{name}: its network {model.sizes} ({', '.join(model.activations)}"
                              f", {model.loss_name}) is not this configuration's {self.net.sizes}")
        self.net.flat_parameters()[...] = model.flat_parameters()
        self.net.set_running_statistics(model.running_statistics())

    def _new_trainer(self) -> Trainer:
        c = self.config
        return self.net.trainer(
            self.data.X_train, self.data.Y_train, epochs=c["epochs"],
            learning_rate=c["learning_rate"],
            optimizer=get_optimizer(c["optimizer"], **c["optimizer_settings"]),
            batch_size=self.batch_size,
            schedule=get_schedule(c["schedule"], **c["schedule_settings"]),
            l2=c["l2"], l1=c["l1"], clip_norm=c["clip_norm"], clip_value=c["clip_value"],
            progress=False, on_divergence="warn",
            callbacks=[] if self.rules is None else [self.rules])
