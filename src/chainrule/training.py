"""The training loop: one loop for every way of training, and its step-by-step driver.

One epoch is one pass over the data. With ``batch_size=None`` (full batch, the tutorial's
gradient descent) an epoch is one update, so the tutorial's iterations are epochs; with
``batch_size=b`` it is ``ceil(n / b)`` updates on batches taken through an order of the samples
reshuffled each epoch from the network's seeded generator, and ``batch_size=1`` is stochastic
gradient descent.

A :class:`Trainer` holds the state of a run and drives it. Each step asks its *gradient source*
(:mod:`chainrule.sources`: the fast engine, the one-neuron kernel, or a Dask cluster) for the
batch's error and gradient, adds the L2 term, checks for divergence and applies the optimizer's
update; each epoch's end records the history and runs the callbacks and stopping rules. Those
rules exist once, here, whatever the source. ``fit`` is ``Trainer(...).run()``; a program that
wants to look at training as it goes calls :meth:`Trainer.step` or :meth:`Trainer.run_epoch`
instead (see ``docs/architecture.md``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _signals
from ._signals import describe
from ._validation import (
    flag,
    non_negative_float,
    one_of,
    optional,
    positive_float,
    positive_int,
)
from .arrays import ROWS_PER_SLICE
from .callbacks import Callback, EarlyStopping, TargetReached
from .engine import Engine
from .exceptions import DivergenceError, DivergenceWarning, warn_at_caller
from .fastpath import OneNeuronKernel
from .history import History
from .losses import DECISION_THRESHOLD, BinaryCrossEntropy, CategoricalCrossEntropy
from .optimizers import Optimizer, get_optimizer
from .schedules import Constant, Schedule, get_schedule
from .sources import GradientSource, LocalData

__all__ = ["OPTION_RULES", "Step", "Trainer", "accuracy", "add_l2", "check_options", "fit"]

#: Every option of training and the rule its value must meet. They are checked here, once, for
#: every way of training (``fit``, :func:`chainrule.distributed.fit`, the command line and the
#: scikit-learn estimators all pass them through).
OPTION_RULES: dict[str, Callable[[Any, str], Any]] = {
    "epochs": positive_int,
    "learning_rate": positive_float,
    "optimizer": lambda value, name: get_optimizer(value),
    "batch_size": optional(positive_int),
    "shuffle": flag,
    "schedule": lambda value, name: get_schedule(value),
    "l2": non_negative_float,
    "target_loss": optional(non_negative_float),
    "tolerance": optional(positive_float),
    "on_divergence": one_of("warn", "raise"),
    "divergence_factor": positive_float,
    "record_predictions": flag,
    "progress": optional(flag),
}
DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.01, "optimizer": "gd", "batch_size": None, "shuffle": True,
    "schedule": None, "l2": 0.0, "target_loss": None, "tolerance": None,
    "on_divergence": "warn", "divergence_factor": 1e8, "record_predictions": False,
    "progress": None,
}


def check_options(**options: Any) -> dict[str, Any]:
    """The options with their defaults filled in, each checked by its rule in
    :data:`OPTION_RULES` (a ``ValueError`` naming the option otherwise)."""
    unknown = sorted(set(options) - set(OPTION_RULES))
    if unknown:
        raise TypeError(f"unknown training option(s): {', '.join(unknown)}")
    if "epochs" not in options:
        raise TypeError("training needs epochs")
    values = {**DEFAULTS, **options}
    return {name: rule(values[name], name) for name, rule in OPTION_RULES.items()}


def fit(net: Engine, X: Any, Y: Any, *, epochs: int, callbacks: Iterable[Callback] = (),
        validation_data: tuple[Any, Any] | None = None,
        early_stopping: int | EarlyStopping | None = None, **options: Any) -> History:
    """Train ``net`` on ``(X, Y)`` by gradient descent and return the :class:`History`.

    Keywords (checked by :data:`OPTION_RULES`)
    ------------------------------------------
    epochs:
        The maximum number of passes over the data (with full batch: of updates).
    learning_rate:
        The step size, ``w = w - learning_rate * gradient`` for ``gd`` (default 0.01).
    optimizer:
        ``gd``, ``momentum``, ``nesterov``, ``rmsprop``, ``adagrad``, ``adam``, or an
        :class:`~chainrule.optimizers.Optimizer` carrying its own hyper-parameters.
    batch_size:
        ``None`` (full batch, rows in order), ``b`` (mini-batches of ``b`` rows, reshuffled
        every epoch when ``shuffle``) or ``1`` (stochastic).
    shuffle:
        Reshuffle the order of the samples every epoch (mini-batch only).
    schedule:
        ``constant``, ``step``, ``exponential``, ``inverse_time``, ``cosine`` or a
        :class:`~chainrule.schedules.Schedule`.
    l2:
        Weight decay: adds ``l2 / 2 * sum(weights^2)`` to the loss and ``l2 * weights`` to the
        weight gradients (biases are not penalised).
    validation_data:
        ``(X_val, Y_val)``, evaluated after every epoch (``val_loss``).
    callbacks:
        Objects with ``on_train_begin`` / ``on_epoch_end`` / ``on_train_end`` (see callbacks).
    progress:
        A tqdm progress bar; ``None`` shows it only when stderr is a terminal.
    target_loss, tolerance:
        The tutorial's stopping rule: stop once the loss is at most ``target_loss``, or once
        every prediction is within ``tolerance`` of its target.
    early_stopping:
        Patience in epochs (or an :class:`~chainrule.callbacks.EarlyStopping`): stop when
        ``val_loss`` stops improving and restore the best weights.
    on_divergence:
        ``"warn"`` (stop, warn, keep the last good weights) or ``"raise"`` (the same, then raise
        :class:`~chainrule.exceptions.DivergenceError`).
    divergence_factor:
        A loss above this many times the first epoch's loss counts as diverged, like NaN or inf.
    record_predictions:
        Keep the predictions on ``X`` after every epoch in ``history.predicted``.
    """
    return Trainer(net, X, Y, epochs=epochs, callbacks=callbacks,
                   validation_data=validation_data, early_stopping=early_stopping,
                   **options).run()


@dataclass
class Step:
    """What one update did. ``epoch`` and ``batch`` count from 0; ``loss`` is the batch's error
    before the update (L2 included). With ``watch=True`` (see :meth:`Trainer.step`) the rest is
    filled with copies: the batch's ``rows`` (sample indices), ``inputs`` and ``targets``; every
    layer's ``sops``, ``outputs``, ``deltas`` (``dError/dSop``) and ``output_grads``;
    ``weight_grads`` and ``bias_grads`` (the gradients the update used, L2 included); and
    ``update``, the change of every parameter (``weights_after - weights_before``, per layer,
    as ``(weight_update, bias_update)`` pairs)."""

    epoch: int
    batch: int
    loss: float
    learning_rate: float
    epoch_ended: bool
    rows: np.ndarray | None = None
    inputs: np.ndarray | None = None
    targets: np.ndarray | None = None
    sops: list[np.ndarray] | None = None
    outputs: list[np.ndarray] | None = None
    deltas: list[np.ndarray] | None = None
    output_grads: list[np.ndarray] | None = None
    weight_grads: list[np.ndarray] | None = None
    bias_grads: list[np.ndarray | None] | None = None
    update: list[tuple[np.ndarray, np.ndarray | None]] | None = None
    logs: dict[str, float] = field(default_factory=dict)


class _Accuracy:
    """Counts correct classifications from the batches' predictions, without per-step copies."""

    def __init__(self, net: Engine, Y: np.ndarray):
        self.categorical = isinstance(net.loss_function, CategoricalCrossEntropy)
        if self.categorical:
            self.labels = np.argmax(Y, axis=1)
            self.predicted_labels = np.empty(Y.shape[0], dtype=np.intp)
        self.correct = 0
        self.batch_start = 0  # the first row of the current batch, in the epoch's order

    def observe(self, predicted: np.ndarray, targets: np.ndarray, first_row: int) -> None:
        """``Engine.compute_gradients``'s hook: the predictions of (a slice of) the batch."""
        start = self.batch_start + first_row
        if self.categorical:
            np.argmax(predicted, axis=1, out=self.predicted_labels[start:start + len(predicted)])
        else:
            self.correct += int(np.count_nonzero(
                (predicted > DECISION_THRESHOLD) == (targets > DECISION_THRESHOLD)))

    def epoch_value(self, order: np.ndarray | None, n_values: int) -> float:
        if self.categorical:
            correct, n = 0, self.labels.size
            for start in range(0, n, ROWS_PER_SLICE):  # no temporary as long as the data
                stop = min(start + ROWS_PER_SLICE, n)
                labels = self.labels[start:stop] if order is None \
                    else self.labels.take(order[start:stop])
                correct += np.count_nonzero(self.predicted_labels[start:stop] == labels)
            return correct / n
        correct, self.correct = self.correct, 0
        return correct / n_values


def accuracy(net: Engine, predicted: np.ndarray, Y: np.ndarray) -> float:
    """Share of samples classified right (categorical) or of outputs on the right side of the
    decision threshold (0.5)."""
    if isinstance(net.loss_function, CategoricalCrossEntropy):
        return float(np.mean(np.argmax(predicted, axis=1) == np.argmax(Y, axis=1)))
    return float(np.mean((predicted > DECISION_THRESHOLD) == (Y > DECISION_THRESHOLD)))


def add_l2(net: Engine, l2: float, scratch: list[np.ndarray]) -> float:
    """Weight decay on the gradients just computed: add ``l2 * w`` to each weight gradient
    (biases are not penalised) and return the penalty ``l2 / 2 * sum(w^2)`` to add to the loss.
    ``scratch`` holds one buffer shaped like each weight."""
    xp, penalty = net.xp, 0.0
    for weight, grad, buffer in zip(net.weights, net.weight_grads, scratch):
        xp.multiply(weight, l2, out=buffer)
        xp.add(grad, buffer, out=grad)
        penalty += float(xp.vdot(weight, weight))
    return 0.5 * l2 * penalty


@contextmanager
def _interrupt_guard(trainer: Trainer):
    """Turn a stop request (Ctrl-C; under the command line SIGTERM and SIGHUP too) into a
    request to stop after the current step, so no update is left half done or lost."""
    def request_stop(signum: int) -> None:
        trainer._stop_signal = signum
        trainer.interrupted = True

    with _signals.listening(request_stop):
        yield


#: The settings a resumed run must share with the state it continues (``epochs`` may change).
RESUMABLE_AS_SAVED = ("learning_rate", "optimizer", "batch_size", "shuffle", "schedule", "l2",
                      "n_samples")


class Trainer:
    """The state of one training run, and the one loop that drives it.

    ``Trainer(net, X, Y, epochs=..., **options)`` trains on in-memory data (the options are
    :func:`fit`'s); ``Trainer(net, source=..., epochs=...)`` on any
    :class:`~chainrule.sources.GradientSource`. Then:

    * :meth:`run` trains to the end and returns the :class:`~chainrule.history.History`;
    * :meth:`step` makes one update and returns a :class:`Step` (with ``watch=True``, filled
      with every layer's values); :meth:`run_epoch` finishes the current epoch;
    * :meth:`state_dict` / :meth:`load_state_dict` save and restore everything needed to go on
      bit for bit (checkpoints write it to a file).
    """

    def __init__(self, net: Engine, X: Any = None, Y: Any = None, *,
                 source: GradientSource | None = None, callbacks: Iterable[Callback] = (),
                 validation_data: tuple[Any, Any] | None = None,
                 early_stopping: int | EarlyStopping | None = None, **options: Any) -> None:
        opts = check_options(**options)
        self.net = net
        self.engine_source = LocalData(net, X, Y) if source is None else source
        n_samples = self.engine_source.n_samples
        batch_size = opts["batch_size"]
        if batch_size is not None and batch_size > n_samples:
            raise ValueError(f"batch_size {batch_size} is larger than the data ({n_samples} "
                             "samples)")
        self.epochs, self.learning_rate = opts["epochs"], opts["learning_rate"]
        self.batch_size, self.shuffle = batch_size, opts["shuffle"]
        self.optimizer: Optimizer = opts["optimizer"]
        self.schedule: Schedule = opts["schedule"]
        self.l2 = opts["l2"]
        self.on_divergence, self.divergence_factor = (opts["on_divergence"],
                                                      opts["divergence_factor"])
        self.record_predictions, self.progress = opts["record_predictions"], opts["progress"]
        self.validation = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (X_val, Y_val)")
            self.validation = net.check_data(*validation_data, x_name="X_val", y_name="Y_val")
        self.callbacks: list[Callback] = list(callbacks)
        for callback in self.callbacks:
            if not all(callable(getattr(callback, hook, None)) for hook in
                       ("on_train_begin", "on_epoch_end", "on_train_end")):
                raise ValueError(f"callbacks must be Callback objects (on_train_begin, "
                                 f"on_epoch_end, on_train_end), got {callback!r}")
        if opts["target_loss"] is not None or opts["tolerance"] is not None:
            self.callbacks.append(TargetReached(loss=opts["target_loss"],
                                                tolerance=opts["tolerance"]))
        if early_stopping is not None:
            if not isinstance(early_stopping, EarlyStopping):
                early_stopping = EarlyStopping(patience=early_stopping)
            if early_stopping.monitor.startswith("val_") and self.validation is None:
                raise ValueError("early_stopping needs validation_data to monitor val_loss")
            self.callbacks.append(early_stopping)

        # The source the loop uses: for in-memory data, the one-neuron kernel where it
        # reproduces the engine exactly (the tutorial's network); else the engine, or the
        # source given.
        self.source = self.engine_source
        if source is None:
            self.source = OneNeuronKernel.replacing(self.engine_source, self) or self.source
        self.classification = isinstance(
            net.loss_function, (CategoricalCrossEntropy, BinaryCrossEntropy))
        self._accuracy = (_Accuracy(net, self.engine_source.Y)
                          if self.classification and self.source.fills_workspace else None)
        # One sample, one output: keep the prediction of every epoch (the tutorial's curve).
        self.track_prediction = (n_samples == 1 and net.n_outputs == 1
                                 and not self.record_predictions)

        # The rows of each step: the source's own plan (it batches the data itself), or
        # batches of batch_size rows through the sample order.
        plan = self.source.plan(batch_size)
        if plan is None:
            starts = list(range(0, n_samples, n_samples if batch_size is None else batch_size))
            self._rows = [stop - start for start, stop in zip(starts, [*starts[1:], n_samples])]
        else:
            starts = [0, *np.cumsum(plan[:-1]).tolist()]
            self._rows = plan  # the source may reorder it in place at each epoch's start
        self._starts = starts
        self._stops = [*starts[1:], n_samples]
        self.n_batches = len(starts)
        self.n_samples = n_samples
        self.optimizer.bind([net.flat_parameters()], [net.parameter_scratch()], xp=net.xp)
        self.history = History()
        self.history.params = {
            "epochs": self.epochs, "learning_rate": self.learning_rate,
            "optimizer": self.optimizer.name, "batch_size": batch_size, "shuffle": self.shuffle,
            "schedule": self.schedule.name, "l2": self.l2, "n_samples": n_samples,
            "gradient_source": self.source.name, "loss": net.loss_name,
        }
        #: Epochs completed; the batch the current epoch goes on with.
        self.epoch, self.batch = 0, 0
        #: The sample order, reshuffled in place each epoch (mini-batches with shuffle only).
        self.order: np.ndarray | None = (np.arange(n_samples) if batch_size is not None
                                         and self.shuffle and plan is None else None)
        self.first_loss: float | None = None
        self.interrupted = False
        self._stop_signal: int | None = None  # the signal that set ``interrupted``, if one
        self.stopped_reason: str | None = None
        self._loss_limit = sys.float_info.max  # set from the first loss
        self._diverged_message: str | None = None
        self._started = self._finished = False
        self._epoch_error = 0.0
        self._learning_rate = self.learning_rate
        self._bar = None
        self._start_time = 0.0
        # A large network's full-batch copies are taken every tenth epoch only: they would
        # cost a noticeable share of each step.
        self._snapshot_every = 10 if batch_size is None and net.n_parameters > 100_000 else 1
        self._scheduled = not isinstance(self.schedule, Constant)

    # ------------------------------------------------------------------ control
    def stop(self, reason: str) -> None:
        """Ask training to end after the current step (used by callbacks and Ctrl-C)."""
        if self.stopped_reason is None:
            self.stopped_reason = reason

    @property
    def finished(self) -> bool:
        """Whether training is over: every epoch done, or stopped."""
        return self.stopped_reason is not None or self.epoch >= self.epochs

    @property
    def X(self) -> np.ndarray:
        """The training inputs (in-memory sources)."""
        return self.engine_source.X

    @property
    def Y(self) -> np.ndarray:
        """The training targets (in-memory sources)."""
        return self.engine_source.Y

    # ------------------------------------------------------------------ the driver
    def run(self) -> History:
        """Train until the last epoch or a stopping rule; return the history."""
        with _interrupt_guard(self):
            self._loop(self.source)
        return self.finish()

    def run_epoch(self) -> dict[str, float]:
        """Run the rest of the current epoch (all of it, if none of it has run yet); return the
        epoch's record (``loss``, ``learning_rate``, ``time``, and what else is recorded)."""
        self._loop(self.source, epoch_end=True)
        return {k: v[-1] for k, v in self.history.history.items() if v}

    def step(self, watch: bool = False) -> Step | None:
        """Make one update (on the next batch) and return what it did; ``None`` once training
        is over. ``watch=True`` fills the :class:`Step` with copies of everything the step
        computed; without it the step costs what a step of :meth:`run` costs."""
        if self.finished:
            return None
        # A watched step runs on the engine, which keeps every layer's values (the one-neuron
        # kernel gives the same numbers, bit for bit, but keeps none).
        source = self.engine_source if watch else self.source
        epoch, batch = self.epoch, self.batch
        before = self.net.flat_parameters().copy() if watch else None
        epochs_before = self.history.epochs
        if source is not self.source:
            self.source.sync()
        self._loop(source, steps=1)
        if source is not self.source:
            # The loop's own source (the one-neuron kernel) takes the weights the engine just
            # made, so that its next sync (state_dict, finish) does not put back older ones.
            self.source.load()
        # The batch's rows: the order stays as the epoch shuffled it until the next one begins.
        index = None if self.order is None else self._batch_index(batch).copy()
        record = Step(epoch, batch, self._last_error, self._learning_rate,
                      self.history.epochs > epochs_before)
        if record.epoch_ended:
            record.logs = {k: v[-1] for k, v in self.history.history.items() if v}
        if watch:
            self._fill(record, source, batch, index, before)
        return record

    def finish(self) -> History:
        """End the run: say why it stopped, run the callbacks' ``on_train_end``, raise
        :class:`~chainrule.exceptions.DivergenceError` when asked to. Returns the history."""
        self._begin()
        self.source.sync()
        if self._finished:
            return self.history
        self._finished = True
        if self._bar is not None:
            self._bar.close()
        if not self.history.diverged:
            self._check_last_update()
        if self.stopped_reason is None:
            self.stopped_reason = f"reached the maximum number of epochs ({self.epochs})"
        self.history.stopped_reason = self.stopped_reason
        for callback in self.callbacks:
            callback.on_train_end(self)
        if self._diverged_message is not None and self.on_divergence == "raise":
            raise DivergenceError(self._diverged_message)
        return self.history

    # ------------------------------------------------------------------ the one loop
    def _begin(self) -> None:
        """Once per run, before its first step."""
        if self._started:
            return
        self._started = True
        # With nothing to report per epoch but the loss, an epoch's end is three appends.
        self._plain = not (self.callbacks or self.validation is not None
                           or self.record_predictions or self._accuracy is not None)
        self._plain_records = tuple(self.history.history[key]
                                    for key in ("loss", "learning_rate", "time"))
        self.source.start(self.batch_size, self.optimizer, self.l2)
        if self.source is not self.engine_source:
            self.engine_source.start(self.batch_size, self.optimizer, self.l2)
        self._start_time = time.perf_counter() - (self.history.last("time") or 0.0)
        self._bar = self._progress_bar()
        for callback in self.callbacks:
            callback.on_train_begin(self)

    def _loop(self, source: GradientSource, steps: int = -1, epoch_end: bool = False) -> None:
        """The training loop: epochs of steps, until training is over, ``steps`` updates were
        made (``-1``: no limit) or, with ``epoch_end``, the epoch ends. :meth:`run`,
        :meth:`run_epoch` and :meth:`step` are this loop.

        A step: the source's gradient of the batch, the L2 term, the divergence check, the
        optimizer's update. An epoch: the learning rate from the schedule, a copy of the weights
        to go back to on divergence, a new order of the samples, then its steps, then its
        records and callbacks. It is kept lean on purpose: for the tutorial's one-neuron network
        this Python is most of the cost of an iteration, so the position in the run lives in
        local variables, written back to the trainer before anyone else can look.
        """
        self._begin()
        source.load()
        self._last_source = source
        n_batches, epochs, starts, stops, rows = (self.n_batches, self.epochs, self._starts,
                                                  self._stops, self._rows)
        gradient, update, optimizer = source.gradient, source.update, self.optimizer
        meter, history, n_samples = self._accuracy, self.history, self.n_samples
        l2 = 0.0 if source.applies_l2 else self.l2
        observe = None if meter is None else meter.observe
        # The plain epoch's records, appended through bound methods: at the tutorial's size
        # every attribute lookup shows.
        append_loss, append_rate, append_time = (r.append for r in self._plain_records)
        append_prediction = history.predicted.append if self.track_prediction else None
        plain, bar, clock, start_time = self._plain, self._bar, time.perf_counter, \
            self._start_time
        schedule, scheduled, base_rate = self.schedule, self._scheduled, self.learning_rate
        # Copies of the weights at the start of epochs, which divergence goes back to (unless
        # the source remembers its last weights itself); see __init__ for when they are taken.
        snapshot = None if source.keeps_last_weights else source.snapshot
        every = self._snapshot_every
        order, shuffle = self.order, self.net.rng.shuffle
        epoch, batch, epoch_error, learning_rate = (self.epoch, self.batch, self._epoch_error,
                                                    self._learning_rate)
        limit, error = self._loss_limit, self._last_error
        # Updates are counted by the optimizer (a source may make many in one step).
        updates_before, steps_before = history.updates, optimizer.steps
        first = self.first_loss is None
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                while self.stopped_reason is None and epoch < epochs:
                    if batch == 0:  # the epoch begins
                        if scheduled:
                            learning_rate = schedule(base_rate, epoch, epochs)
                        if snapshot is not None and not epoch % every:
                            snapshot(epoch)
                        if order is not None:
                            shuffle(order)  # in place; checkpoints save it
                        source.learning_rate = learning_rate
                        epoch_error = 0.0
                    while batch < n_batches and steps:
                        if meter is not None:
                            meter.batch_start = starts[batch]
                        error = gradient(
                            batch, None if order is None else order[starts[batch]:stops[batch]],
                            observe)
                        if l2:
                            error += self._add_l2()
                        if not error <= limit:  # NaN, infinite or exploding
                            self.epoch = epoch
                            self._diverged(error, source, learning_rate, first_step=batch == 0)
                            break
                        if first:
                            limit, first = self._set_first_loss(error), False
                        update(optimizer, learning_rate)
                        epoch_error += error * rows[batch]
                        batch += 1
                        steps -= 1
                        if batch < n_batches and self.interrupted:
                            self.stop(f"interrupted ({describe(self._stop_signal)}) during "
                                      "an epoch: kept the weights of the last update; the "
                                      "unfinished epoch is not in the history")
                    if batch < n_batches:  # stopped, or the steps asked for are done
                        break
                    # The epoch ends: its records, then (when someone watches) the callbacks.
                    if plain:
                        append_loss(epoch_error / n_samples)
                        append_rate(learning_rate)
                        append_time(clock() - start_time)
                        if append_prediction is not None:
                            append_prediction(source.last_prediction())
                        if bar is not None:
                            bar.update(1)
                        epoch, batch = epoch + 1, 0
                    else:
                        history.updates = updates_before + optimizer.steps - steps_before
                        self._learning_rate = learning_rate
                        self._record_epoch(source, epoch, epoch_error / n_samples)
                        epoch, batch = self.epoch, self.batch
                    if self.interrupted:
                        self.stop(f"interrupted ({describe(self._stop_signal)}): kept the "
                                  "weights of the last update")
                    if epoch_end or not steps:
                        break
        finally:
            self.epoch, self.batch, self._epoch_error = epoch, batch, epoch_error
            self._learning_rate, self._last_error = learning_rate, error
            history.updates = updates_before + optimizer.steps - steps_before
            source.sync()

    def _record_epoch(self, source: GradientSource, epoch: int, epoch_loss: float) -> None:
        """The end of an epoch that someone watches: its records (validation, accuracy, ...),
        then the callbacks, which may stop training."""
        source.sync()
        self.epoch = epoch
        net, history = self.net, self.history
        logs = {"loss": epoch_loss, "learning_rate": self._learning_rate}
        if self._accuracy is not None:
            logs["accuracy"] = self._accuracy.epoch_value(self.order, self.Y.size)
        if self.validation is not None:
            X_val, Y_val = self.validation
            logs["val_loss"], predicted = Engine.evaluate(net, X_val, Y_val)
            if self.classification:
                logs["val_accuracy"] = accuracy(net, predicted, Y_val)
        logs["time"] = time.perf_counter() - self._start_time
        history.record(**logs)
        if self.record_predictions:
            history.predicted.append(source.predictions())
        elif self.track_prediction:
            history.predicted.append(source.last_prediction())
        self.epoch, self.batch = epoch + 1, 0
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix({k: f"{history.last(k):.4g}" for k in ("loss", "val_loss")
                                   if k in history}, refresh=False)
        for callback in self.callbacks:
            callback.on_epoch_end(self, epoch, logs)

    def _batch_index(self, batch: int) -> np.ndarray | None:
        order = self.order
        return None if order is None else order[self._starts[batch]:self._stops[batch]]

    _last_error = math.nan
    _last_source: GradientSource

    def _fill(self, record: Step, source: GradientSource, batch: int,
              index: np.ndarray | None, before: np.ndarray) -> None:
        """Copy what a watched step computed into its record."""
        net, workspace = self.net, self.net.last_workspace
        rows = (np.arange(self._starts[batch], self._stops[batch]) if index is None
                else index.copy())
        record.rows = rows
        record.inputs, record.targets = source.batch_data(batch, index)
        if source.fills_workspace and workspace is not None:
            record.sops = [a.copy() for a in workspace.sops]
            record.outputs = [a.copy() for a in workspace.outputs]
            record.deltas = [a.copy() for a in workspace.deltas]
            record.output_grads = [a.copy() for a in workspace.output_grads]
        record.weight_grads = [g.copy() for g in net.weight_grads]
        record.bias_grads = [None if g is None else g.copy() for g in net.bias_grads]
        change = net.flat_parameters() - before
        shaped, offset = [], 0
        for weight, bias in zip(net.weights, net.biases):
            weight_change = change[offset:offset + weight.size].reshape(weight.shape)
            offset += weight.size
            bias_change = None
            if bias is not None:
                bias_change = change[offset:offset + bias.size]
                offset += bias.size
            shaped.append((weight_change, bias_change))
        record.update = shaped

    # ------------------------------------------------------------------ the step's pieces
    def _progress_bar(self):
        show = self.progress
        if show is None:
            show = sys.stderr.isatty()
        if not show:
            return None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            warn_at_caller("progress bars need tqdm (pip install tqdm)", UserWarning)
            return None
        return tqdm(total=self.epochs, initial=self.epoch, unit="epoch", leave=True)

    def _set_first_loss(self, error: float) -> float:
        """Remember the first loss; return the limit above which a loss has diverged."""
        self.first_loss = max(error, np.finfo(np.float64).tiny)
        self._loss_limit = min(self.divergence_factor * self.first_loss, sys.float_info.max)
        return self._loss_limit

    def _add_l2(self) -> float:
        """Add ``l2 * w`` to each weight gradient; return the penalty ``l2 / 2 * sum(w^2)``."""
        if self._l2_scratch is None:
            self._l2_scratch = [self.net.xp.empty_like(w) for w in self.net.weights]
        return add_l2(self.net, self.l2, self._l2_scratch)

    _l2_scratch: list[np.ndarray] | None = None

    def _diverged(self, error: float, source: GradientSource, learning_rate: float,
                  first_step: bool) -> None:
        """A step's loss (before its update) diverged: restore good weights, stop, warn."""
        epoch = self.epoch
        # When this is the epoch's first step, the weights the epoch started from produced
        # the bad loss, so only a copy from an earlier epoch is good.
        restored = source.restore(epoch - 1 if first_step else epoch)
        kept = "the initial weights" if restored is None or restored < 0 \
            else f"the weights from the start of epoch {restored + 1}"
        kind = "became " + ("NaN" if math.isnan(error) else "infinite") \
            if not math.isfinite(error) else f"exploded to {error:.3g}"
        self._report_divergence(
            f"training diverged at epoch {epoch + 1}: the loss {kind} with "
            f"learning_rate={learning_rate:g}; stopped and kept {kept}. "
            "Try a smaller learning rate.")

    def _report_divergence(self, message: str) -> None:
        self._diverged_message = message
        self.stop(message)
        self.history.diverged = True
        if self.on_divergence == "warn":
            warn_at_caller(message, DivergenceWarning)

    def _check_last_update(self) -> None:
        """Divergence shows in the loss a step computes before its update, so the run's last
        update is checked here, on the weights it left, as a next step would check them:
        weights that are not finite, or a loss on the training data (L2 included) that is NaN,
        infinite or exploding (finite weights can still overflow a layer), go back to the copy
        taken at the start of that epoch."""
        if self.first_loss is None:  # no update was made
            return
        net, xp = self.net, self.net.xp
        flat = net.flat_parameters()
        loss: float | None = math.nan
        with np.errstate(all="ignore"):
            finite = math.isfinite(float(xp.add.reduce(flat))) or bool(xp.isfinite(flat).all())
            if finite:
                loss = self.source.loss()
                if loss is not None and self.l2:
                    loss += 0.5 * self.l2 * sum(float(xp.vdot(w, w)) for w in net.weights)
        if finite and (loss is None or loss <= self._loss_limit):
            return
        last = self.epoch - 1 if self.batch == 0 else self.epoch  # the last update's epoch
        restored = self.source.restore(last)
        kept = "the initial weights" if restored is None \
            else f"the weights from the start of epoch {restored + 1}"
        if not finite:
            what = "the weights became non-finite"
        elif math.isnan(loss):
            what = "the loss became NaN"
        else:
            what = "the loss became infinite" if math.isinf(loss) \
                else f"the loss exploded to {loss:.3g}"
        self.stopped_reason = None  # divergence is the reason, whatever else ended the run
        self._report_divergence(
            f"training diverged in its last update (epoch {last + 1}): {what} with "
            f"learning_rate={self._learning_rate:g}; stopped and kept {kept}. "
            "Try a smaller learning rate.")

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run bit for bit: the parameters, the optimizer's
        state, the generator's state, the sample order, the position in the run and the
        history so far. Arrays are copies; the rest is JSON-able."""
        self.source.sync()
        optimizer = self.optimizer
        return {
            "epoch": self.epoch,
            "batch": self.batch,
            "epoch_error": self._epoch_error,
            "first_loss": self.first_loss,
            "parameters": self.net.flat_parameters().copy(),
            "optimizer": {
                "name": optimizer.name,
                "hyperparameters": optimizer.hyperparameters(),
                "steps": optimizer.steps,
                "state": {name: [b.copy() for b in buffers]
                          for name, buffers in optimizer.state.items()},
            },
            "rng_state": self.net.rng.bit_generator.state,
            "order": None if self.order is None else self.order.copy(),
            "history": self.history.to_dict(),
            "data": self.engine_source.fingerprint(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s result; a ``ValueError`` says what does not fit
        this run (another network, optimizer or amount of data)."""
        optimizer = self.optimizer
        saved = state["optimizer"]
        if saved["name"] != optimizer.name or saved["hyperparameters"] != \
                optimizer.hyperparameters():
            raise ValueError(f"the state was made with optimizer {saved['name']!r} "
                             f"{saved['hyperparameters']}, not {optimizer!r}")
        # The same run, continued: only the number of epochs may change.
        before = state["history"].get("params", {})
        for key in RESUMABLE_AS_SAVED:
            if key in before and before[key] != self.history.params[key]:
                raise ValueError(f"the state was made with {key}={before[key]!r}, this run "
                                 f"asks for {self.history.params[key]!r}; resume with the same "
                                 "settings (only epochs may change)")
        data, here = state.get("data"), self.engine_source.fingerprint()
        if data is not None and here is not None and data != here:
            raise ValueError("the state was made on other training data (another file, "
                             "split or seed); resume on the same data")
        parameters = np.asarray(state["parameters"])
        if parameters.shape != self.net.flat_parameters().shape:
            raise ValueError(f"the state has {parameters.size} parameters, this network "
                             f"{self.net.n_parameters}")
        epoch, batch = state["epoch"], state.get("batch", 0)
        if not 0 <= batch < self.n_batches:
            raise ValueError(f"the state stands at batch {batch} of an epoch, which this run "
                             f"splits into {self.n_batches} batch(es)")
        records = state["history"].get("history", {})
        if any(len(records.get(key, ())) != epoch for key in ("loss", "learning_rate", "time")) \
                or any(len(values) > epoch for values in records.values()):
            raise ValueError(f"the state's history does not record the {epoch} epoch(s) it has "
                             f"done (loss, learning_rate and time, one value per epoch)")
        order = state.get("order")
        if (order is None) != (self.order is None):
            raise ValueError("the state's batching (shuffled mini-batches or not) is not this "
                             "run's")
        if order is not None:
            order = np.asarray(order)
            if order.shape != (self.n_samples,) or order.dtype.kind not in "iu" or \
                    not np.array_equal(np.sort(order), np.arange(self.n_samples)):
                raise ValueError(f"the state's sample order does not fit this data "
                                 f"({self.n_samples} samples)")
        for name, buffers in optimizer.state.items():
            arrays = saved["state"].get(name, [])
            if len(arrays) != len(buffers) or any(a.shape != b.shape
                                                 for a, b in zip(arrays, buffers)):
                raise ValueError(f"the state's optimizer {name} does not fit this network")
        self.net.flat_parameters()[...] = parameters
        for name, buffers in optimizer.state.items():
            for buffer, array in zip(buffers, saved["state"][name]):
                buffer[...] = array
        optimizer.steps = int(saved["steps"])
        if order is not None:
            self.order = order.astype(np.intp)
        self.net.rng.bit_generator.state = state["rng_state"]
        self.epoch, self.batch = int(epoch), int(batch)
        self._epoch_error = float(state.get("epoch_error", 0.0))
        # Mid-epoch, the loop goes on with the epoch's learning rate, which it takes from the
        # schedule only when an epoch begins.
        self._learning_rate = self.schedule(self.learning_rate, self.epoch, self.epochs) \
            if self._scheduled else self.learning_rate
        self.source.learning_rate = self.engine_source.learning_rate = self._learning_rate
        self.first_loss = state["first_loss"]
        if self.first_loss is not None:
            self._set_first_loss(self.first_loss)
        previous = History.from_dict(state["history"])
        previous.params = self.history.params
        self.history = previous
        if self._started:
            self._plain_records = tuple(previous.history[key]
                                        for key in ("loss", "learning_rate", "time"))
        self.source.forget_snapshots()
