"""A run as a timeline of updates: a part of :class:`~chainrule.playground.session.Session`.

``position`` counts the updates made. Stepping by a *sample* walks through the next batch one
row at a time (``sample`` = rows shown); the update is taken when the batch's last row has been
shown. A weight edit is an event of the timeline (at a position); making one in the past drops
the later steps.

**Bounded history.** Going back to any earlier position restores the nearest earlier snapshot of
the trainer's state and replays the steps from there; replay is bit for bit (the trainer's
``state_dict`` promises it, and the tests check it). Snapshots are taken every ``every`` updates;
when there are more than :data:`MAX_SNAPSHOTS` (or their bytes exceed :data:`SNAPSHOT_BYTES`),
every other one is dropped and ``every`` doubles. Snapshots hold no per-epoch records: those
live once in the session (at most ``epochs`` of them) and are cut to length on restore.

**Stop rules.** The page's target loss and target accuracy are the library's
:class:`~chainrule.callbacks.TargetReached`, run by the trainer at each epoch's end
(:class:`PausesPlay`). Where the library's rule stops training, the page's pauses play: the
session's ``stopped`` says why, and a step asked for goes on.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..callbacks import TargetReached
from ..network import Network
from .config import LIMITS
from .inputs import real, shown, whole

__all__ = ["MAX_SNAPSHOTS", "MAX_STEPS_PER_REQUEST", "SNAPSHOT_BYTES", "PausesPlay", "Timeline"]

MAX_SNAPSHOTS = 64
SNAPSHOT_BYTES = 32 * 2**20
#: Steps one request may take or replay (the page asks again for more).
MAX_STEPS_PER_REQUEST = 100_000


class PausesPlay(TargetReached):
    """:class:`~chainrule.callbacks.TargetReached`'s rules (its :meth:`reached`), kept as the
    reason play pauses (:attr:`reason`) instead of a stop of the trainer."""

    #: Why the last epoch's end reached a target, until the session takes it.
    reason: str | None = None

    def on_epoch_end(self, trainer, epoch, logs):
        reason = self.reached(trainer, logs)
        if reason is not None:
            self.reason = reason


class Timeline:
    """Steps, snapshots, replay and edits of a run (mixed into
    :class:`~chainrule.playground.session.Session`, which makes ``trainer`` with
    ``_new_trainer()`` and keeps ``net``, ``config``, ``curves`` and ``rules``)."""

    # ------------------------------------------------------------------ snapshots
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

    # ------------------------------------------------------------------ edits
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

    # ------------------------------------------------------------------ one update
    def _advance(self, watch: bool) -> bool:
        """One update from ``position``; False once training is over."""
        trainer = self.trainer
        if trainer.finished:
            return False
        before = self.net.flat_parameters().copy() if watch else None
        statistics = self.net.running_statistics() if watch else None  # (copies)
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
            self.last = {"before": before, "statistics": statistics, "record": record,
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
        """The curves of the epoch just ended (once: a replayed epoch was recorded the first
        time), and the stop rules' reason, if the epoch reached a target."""
        if self.rules is not None and self.rules.reason is not None:
            self.stopped, self.rules.reason = self.rules.reason, None
        history = self.trainer.history
        if len(self.curves.get("loss", [])) >= history.epochs:
            return
        for key, values in history.history.items():
            if key != "time":
                self.curves.setdefault(key, []).append(values[-1])
        test = self._test_metrics()
        for key in ("loss", "accuracy", "r2"):
            if key in test:
                self.curves.setdefault("test_" + key, []).append(test[key])

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
