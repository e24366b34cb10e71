"""The training loop: gradient descent over batches, with schedules, stopping rules and history.

One epoch is one pass over the data. With ``batch_size=None`` (full batch, the tutorial's
gradient descent) an epoch is one update, so the tutorial's iterations are epochs; with
``batch_size=b`` it is ``ceil(n / b)`` updates, and ``batch_size=1`` is stochastic gradient
descent. Batches are taken through an index order reshuffled in place each epoch from the
network's seeded generator; the data itself is never copied (each batch is gathered into a
buffer that is reused).
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterable
from contextlib import contextmanager
from typing import Any

import numpy as np

from . import fastpath
from ._validation import positive_float, positive_int
from .callbacks import Callback, Checkpoint, EarlyStopping, TargetReached
from .exceptions import DivergenceError, DivergenceWarning
from .history import History
from .losses import BinaryCrossEntropy, CategoricalCrossEntropy
from .network import Network
from .optimizers import Optimizer, get_optimizer
from .schedules import Constant, Schedule, get_schedule

__all__ = ["Trainer", "fit"]


def fit(
    net: Network,
    X: Any,
    Y: Any,
    *,
    epochs: int,
    learning_rate: float = 0.01,
    optimizer: str | Optimizer = "gd",
    batch_size: int | None = None,
    shuffle: bool = True,
    schedule: str | Schedule | None = None,
    l2: float = 0.0,
    validation_data: tuple[Any, Any] | None = None,
    callbacks: Iterable[Callback] = (),
    progress: bool | None = None,
    target_loss: float | None = None,
    tolerance: float | None = None,
    early_stopping: int | EarlyStopping | None = None,
    on_divergence: str = "warn",
    divergence_factor: float = 1e8,
    record_predictions: bool = False,
    checkpoint: str | None = None,
    checkpoint_every: int = 1,
    resume_from: str | None = None,
) -> History:
    """Train ``net`` on ``(X, Y)`` by gradient descent and return the :class:`History`.

    Parameters
    ----------
    epochs:
        The maximum number of passes over the data (with full batch: of updates).
    learning_rate:
        The step size, ``w = w - learning_rate * gradient`` for ``gd``.
    optimizer:
        ``gd``, ``momentum``, ``nesterov``, ``rmsprop``, ``adagrad``, ``adam``, or an
        :class:`~chainrule.optimizers.Optimizer` carrying its own hyper-parameters.
    batch_size:
        ``None`` (full batch), ``b`` (mini-batch) or ``1`` (stochastic).
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
    checkpoint, checkpoint_every:
        Write a resumable checkpoint to this path every ``checkpoint_every`` epochs.
    resume_from:
        A checkpoint to continue from: the weights, optimizer state, generator state and
        history are restored and training goes on up to ``epochs`` in all.
    """
    trainer = Trainer(
        net, X, Y, epochs=epochs, learning_rate=learning_rate, optimizer=optimizer,
        batch_size=batch_size, shuffle=shuffle, schedule=schedule, l2=l2,
        validation_data=validation_data, callbacks=callbacks, progress=progress,
        target_loss=target_loss, tolerance=tolerance, early_stopping=early_stopping,
        on_divergence=on_divergence, divergence_factor=divergence_factor,
        record_predictions=record_predictions, checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
    )
    if resume_from is not None:
        from .persistence import load_checkpoint

        load_checkpoint(trainer, resume_from)
    return trainer.run()


class _Snapshots:
    """Copies of the flat parameters taken at the start of epochs, to go back to on divergence.

    Two buffers alternate, so the copy from before the current epoch is always there. For a
    large network trained full batch (one update per epoch) a copy every epoch would cost a
    noticeable share of the step, so copies are then taken every ``every`` epochs.
    """

    def __init__(self, parameters: np.ndarray, every: int, skip_first: bool = False):
        self.parameters = parameters
        self.every = every
        self.buffers: list[np.ndarray | None] = [None, None]  # allocated on first use
        self.epochs: list[int | None] = [None, None]
        # A copy at the start of a single full-batch epoch is never needed: divergence can only
        # show at its one step, before any update, when the weights are still the initial ones.
        self.skip_first = skip_first

    def take(self, epoch: int) -> None:
        if self.skip_first:
            self.skip_first = False
            return
        if epoch % self.every and self.epochs[0] is not None:
            return
        older = 0 if self.epochs[0] is None or (
            self.epochs[1] is not None and self.epochs[0] < self.epochs[1]) else 1
        if self.buffers[older] is None:
            self.buffers[older] = np.empty_like(self.parameters)
        np.copyto(self.buffers[older], self.parameters)
        self.epochs[older] = epoch

    def restore(self, latest_good_epoch: int) -> int | None:
        """Put back the newest copy taken at or before ``latest_good_epoch``; return its epoch."""
        candidates = [(e, i) for i, e in enumerate(self.epochs)
                      if e is not None and e <= max(latest_good_epoch, 0)]
        if not candidates:
            return None
        epoch, index = max(candidates)
        np.copyto(self.parameters, self.buffers[index])
        return epoch


class _Accuracy:
    """Counts correct classifications from the batches' predictions, without per-step copies."""

    def __init__(self, net: Network, Y: np.ndarray):
        self.categorical = isinstance(net.loss_function, CategoricalCrossEntropy)
        if self.categorical:
            self.labels = np.argmax(Y, axis=1)
            self.predicted_labels = np.empty(Y.shape[0], dtype=np.intp)
        self.correct = 0

    batch_start = 0  # the first row of the current batch, in the epoch's order

    def observe(self, predicted: np.ndarray, targets: np.ndarray, first_row: int) -> None:
        """``Network.compute_gradients``'s hook: the predictions of (a slice of) the batch."""
        self.add_batch(predicted, targets, self.batch_start + first_row)

    def add_batch(self, predicted: np.ndarray, targets: np.ndarray, start: int) -> None:
        if self.categorical:
            stop = start + predicted.shape[0]
            np.argmax(predicted, axis=1, out=self.predicted_labels[start:stop])
        else:
            self.correct += int(np.count_nonzero((predicted > 0.5) == (targets > 0.5)))

    def epoch_value(self, order: np.ndarray | None, n_values: int) -> float:
        if self.categorical:
            correct, n = 0, self.labels.size
            for start in range(0, n, 8192):  # chunks: no temporary as long as the data
                stop = min(start + 8192, n)
                labels = self.labels[start:stop] if order is None \
                    else self.labels.take(order[start:stop])
                correct += np.count_nonzero(self.predicted_labels[start:stop] == labels)
            return correct / n
        correct, self.correct = self.correct, 0
        return correct / n_values


def accuracy(net: Network, predicted: np.ndarray, Y: np.ndarray) -> float:
    """Share of samples classified right (categorical) or of outputs on the right side of 0.5."""
    if isinstance(net.loss_function, CategoricalCrossEntropy):
        return float(np.mean(np.argmax(predicted, axis=1) == np.argmax(Y, axis=1)))
    return float(np.mean((predicted > 0.5) == (Y > 0.5)))


@contextmanager
def _interrupt_guard(trainer: Trainer):
    """Turn Ctrl-C into a request to stop after the current step, so no update is left half done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum, frame):
        trainer.interrupted = True

    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Trainer:
    """The state of one training run; :func:`fit` builds one and calls :meth:`run`."""

    def __init__(self, net: Network, X: Any, Y: Any, *, epochs: int, learning_rate: float,
                 optimizer: str | Optimizer, batch_size: int | None, shuffle: bool,
                 schedule: str | Schedule | None, l2: float,
                 validation_data: tuple[Any, Any] | None, callbacks: Iterable[Callback],
                 progress: bool | None, target_loss: float | None, tolerance: float | None,
                 early_stopping: int | EarlyStopping | None, on_divergence: str,
                 divergence_factor: float, record_predictions: bool, checkpoint: str | None,
                 checkpoint_every: int) -> None:
        self.net = net
        self.X, self.Y = net.check_data(X, Y)
        self.epochs = positive_int(epochs, "epochs")
        self.learning_rate = positive_float(learning_rate, "learning_rate")
        self.optimizer = get_optimizer(optimizer)
        n_samples = self.X.shape[0]
        if batch_size is not None:
            batch_size = positive_int(batch_size, "batch_size")
            if batch_size > n_samples:
                raise ValueError(
                    f"batch_size {batch_size} is larger than the data ({n_samples} samples)"
                )
        self.batch_size = batch_size
        self.full_batch = batch_size is None or batch_size == n_samples
        self.shuffle = bool(shuffle)
        self.schedule = get_schedule(schedule)
        self.l2 = positive_float(l2, "l2", allow_zero=True)
        self.validation = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (X_val, Y_val)")
            self.validation = net.check_data(*validation_data, x_name="X_val", y_name="Y_val")
        if on_divergence not in ("warn", "raise"):
            raise ValueError(f"on_divergence must be 'warn' or 'raise', got {on_divergence!r}")
        self.on_divergence = on_divergence
        self.divergence_factor = positive_float(divergence_factor, "divergence_factor")
        self.record_predictions = record_predictions
        # One sample, one output: keep the prediction of every epoch (the tutorial's curve).
        self.track_prediction = (self.X.shape[0] == 1 and net.n_outputs == 1
                                 and not record_predictions)
        self.progress = progress

        self.callbacks: list[Callback] = list(callbacks)
        if target_loss is not None or tolerance is not None:
            if target_loss is not None:
                positive_float(target_loss, "target_loss", allow_zero=True)
            if tolerance is not None:
                positive_float(tolerance, "tolerance")
            self.callbacks.append(TargetReached(loss=target_loss, tolerance=tolerance))
        if early_stopping is not None:
            if not isinstance(early_stopping, EarlyStopping):
                early_stopping = EarlyStopping(patience=early_stopping)
            if early_stopping.monitor.startswith("val_") and self.validation is None:
                raise ValueError("early_stopping needs validation_data to monitor val_loss")
            self.callbacks.append(early_stopping)
        if checkpoint is not None:
            self.callbacks.append(Checkpoint(checkpoint, positive_int(checkpoint_every,
                                                                      "checkpoint_every")))

        self.history = History()
        self.history.params = {
            "epochs": self.epochs, "learning_rate": self.learning_rate,
            "optimizer": self.optimizer.name, "batch_size": batch_size, "shuffle": self.shuffle,
            "schedule": self.schedule.name, "l2": self.l2, "n_samples": n_samples,
        }
        self.classification = isinstance(
            net.loss_function, (CategoricalCrossEntropy, BinaryCrossEntropy)
        )
        self.epoch = 0  # epochs completed
        self.order: np.ndarray | None = None  # the sample order, reshuffled each epoch
        self.first_loss: float | None = None
        self.interrupted = False
        self._stop_reason: str | None = None
        # The optimizer works on the flat buffers: one update covers every layer.
        self._params, self._grads = [net.flat_parameters()], [net.flat_gradients()]
        self.optimizer.bind(self._params, [net._flat_scratch])

    # ------------------------------------------------------------------ control
    def stop(self, reason: str) -> None:
        """Ask training to end after the current epoch (used by callbacks)."""
        if self._stop_reason is None:
            self._stop_reason = reason

    def _progress_bar(self):
        show = self.progress
        if show is None:
            show = sys.stderr.isatty()
        if not show:
            return None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            warnings.warn("progress bars need tqdm (pip install tqdm)", stacklevel=3)
            return None
        return tqdm(total=self.epochs, initial=self.epoch, unit="epoch", leave=True)

    # ------------------------------------------------------------------ the loop
    def run(self) -> History:
        net, history = self.net, self.history
        snapshots = _Snapshots(
            self._params[0], every=10 if self.full_batch and self._params[0].size > 100_000
            else 1, skip_first=self.full_batch and self.epochs - self.epoch == 1)
        accuracy_meter = _Accuracy(net, self.Y) if self.classification else None
        n_samples = self.X.shape[0]
        plan = self._batch_plan(n_samples)
        if not self.full_batch and self.shuffle and self.order is None:
            self.order = np.arange(n_samples)
        order = self.order if not self.full_batch and self.shuffle else None
        bar = self._progress_bar()
        start_time = time.perf_counter() - (history.last("time") or 0.0)
        # With nothing to report per epoch but the loss, the epoch's end is three appends.
        plain_epochs = not (self.callbacks or bar or self.validation is not None
                            or self.record_predictions or accuracy_meter)
        losses, rates, times = (history.history[k] for k in ("loss", "learning_rate", "time"))
        schedule, base_rate, epochs = self.schedule, self.learning_rate, self.epochs
        constant_rate = isinstance(schedule, Constant)
        clock = time.perf_counter
        for callback in self.callbacks:
            callback.on_train_begin(self)
        try:
            with _interrupt_guard(self), np.errstate(over="ignore", invalid="ignore"):
                if plain_epochs and fastpath.applies(self):
                    fastpath.run(self, start_time)
                elif plain_epochs and self.full_batch:
                    self._run_plain_full_batch(snapshots, start_time)
                while self.epoch < epochs and self._stop_reason is None:
                    epoch = self.epoch
                    snapshots.take(epoch)
                    lr = base_rate if constant_rate else schedule(base_rate, epoch, epochs)
                    epoch_loss = self._run_epoch(plan, order, lr, epoch, snapshots,
                                                 accuracy_meter)
                    if epoch_loss is None:
                        break
                    if plain_epochs:
                        if self.track_prediction:
                            self._track_prediction()
                        losses.append(epoch_loss)
                        rates.append(lr)
                        times.append(clock() - start_time)
                        history.epochs += 1
                        self.epoch = epoch + 1
                    else:
                        self._end_epoch(epoch, epoch_loss, lr, start_time, accuracy_meter,
                                        order, bar)
                    if self.interrupted:
                        self.stop("interrupted (Ctrl-C): kept the weights of the last update")
        finally:
            if bar is not None:
                bar.close()
        if self._stop_reason is None:
            self._stop_reason = f"reached the maximum number of epochs ({self.epochs})"
        history.stopped_reason = self._stop_reason
        for callback in self.callbacks:
            callback.on_train_end(self)
        if self._diverged_message is not None and self.on_divergence == "raise":
            raise DivergenceError(self._diverged_message)
        return history

    _diverged_message: str | None = None
    #: A step whose loss is not <= this has diverged (NaN and inf never are); set by the first.
    _loss_limit: float = sys.float_info.max

    def _batch_plan(self, n_samples: int) -> list[tuple]:
        """Per batch: ``(start, stop, inputs, targets)``. ``inputs`` and ``targets``
        are views of the data when the order is fixed, else buffers the batch is gathered into
        (reused every epoch)."""
        batch_size = n_samples if self.full_batch else self.batch_size
        plan = []
        buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for start in range(0, n_samples, batch_size):
            stop = min(start + batch_size, n_samples)
            size = stop - start
            if self.full_batch:
                inputs, targets = self.X, self.Y
            elif not self.shuffle:
                inputs, targets = self.X[start:stop], self.Y[start:stop]
            else:
                if size not in buffers:
                    buffers[size] = (
                        np.empty((size, self.X.shape[1]), dtype=self.X.dtype),
                        np.empty((size, self.Y.shape[1]), dtype=self.Y.dtype),
                    )
                inputs, targets = buffers[size]
            plan.append((start, stop, inputs, targets))
        return plan

    def _run_epoch(self, plan, order, lr, epoch, snapshots, accuracy_meter) -> float | None:
        """One pass over the data; the mean of the batches' losses, or None if training stops.

        Kept lean on purpose: this loop is the per-step overhead that benchmarks measure.
        """
        X, Y = self.X, self.Y
        if order is not None:
            self.net.rng.shuffle(order)  # in place; checkpoints save it, so resuming repeats it
        compute_gradients, update = self.net.compute_gradients, self.optimizer.step
        params, grads, l2 = self._params, self._grads, self.l2
        total = 0.0
        observe = None if accuracy_meter is None else accuracy_meter.observe
        for start, stop, inputs, targets in plan:
            if observe is not None:
                accuracy_meter.batch_start = start
            if order is not None:
                index = order[start:stop]
                # mode="clip" skips the bounds-checking copy that ``out`` costs otherwise; the
                # indices are a permutation of the rows, so clipping never changes one.
                X.take(index, axis=0, out=inputs, mode="clip")
                Y.take(index, axis=0, out=targets, mode="clip")
            error = compute_gradients(inputs, targets, observe)
            if l2:
                error += self._add_l2()
            if not error <= self._loss_limit:
                self._diverged(error, epoch, lr, snapshots, first_step=start == 0)
                return None
            if self.first_loss is None:
                self._set_first_loss(error)
            update(params, grads, lr)
            self.history.updates += 1
            total += error * (stop - start)
            if self.interrupted and stop < X.shape[0]:
                self.stop("interrupted (Ctrl-C) during an epoch: kept the weights of the last "
                          "update; the unfinished epoch is not in the history")
                return None
        return total / X.shape[0]

    def _run_plain_full_batch(self, snapshots: _Snapshots, start_time: float) -> None:
        """Every epoch of full-batch training when only the loss is recorded (the tutorial's
        loop): the steps of :meth:`_run_epoch` with the epoch's bookkeeping inlined, since for
        a tiny network the Python around the step costs as much as the step."""
        X, Y, history = self.X, self.Y, self.history
        compute_gradients, update = self.net.compute_gradients, self.optimizer.step
        track_prediction = self._track_prediction if self.track_prediction else None
        params, grads, take_snapshot = self._params, self._grads, snapshots.take
        losses, rates, times = (history.history[k] for k in ("loss", "learning_rate", "time"))
        schedule, base_rate, epochs = self.schedule, self.learning_rate, self.epochs
        constant_rate = isinstance(schedule, Constant)
        clock = time.perf_counter
        epoch = first_epoch = self.epoch
        lr = base_rate
        while epoch < epochs:
            take_snapshot(epoch)
            if not constant_rate:
                lr = schedule(base_rate, epoch, epochs)
            error = compute_gradients(X, Y)
            if self.l2:
                error += self._add_l2()
            if not error <= self._loss_limit:
                self._diverged(error, epoch, lr, snapshots, first_step=True)
                break
            if self.first_loss is None:
                self._set_first_loss(error)
            update(params, grads, lr)
            if track_prediction is not None:
                track_prediction()
            losses.append(error)
            rates.append(lr)
            times.append(clock() - start_time)
            epoch += 1
            if self.interrupted:
                self.stop("interrupted (Ctrl-C): kept the weights of the last update")
                break
        history.updates += epoch - first_epoch
        history.epochs += epoch - first_epoch
        self.epoch = epoch

    def _track_prediction(self) -> None:
        """Keep the last step's prediction (one sample, one output: still in its buffers)."""
        self.history.predicted.append(float(self.net._workspaces[1].layer_outputs[-1][0, 0]))

    def _set_first_loss(self, error: float) -> None:
        self.first_loss = max(error, np.finfo(np.float64).tiny)
        self._loss_limit = min(self.divergence_factor * self.first_loss, sys.float_info.max)

    def _add_l2(self) -> float:
        """Add ``l2 * w`` to each weight gradient; return the penalty ``l2 / 2 * sum(w^2)``."""
        if self._l2_scratch is None:
            self._l2_scratch = [np.empty_like(w) for w in self.net.weights]
        penalty = 0.0
        for weight, grad, buffer in zip(self.net.weights, self.net._weight_grads,
                                        self._l2_scratch):
            np.multiply(weight, self.l2, out=buffer)
            np.add(grad, buffer, out=grad)
            flat = weight.reshape(-1)
            penalty += float(np.dot(flat, flat))
        return 0.5 * self.l2 * penalty

    _l2_scratch: list[np.ndarray] | None = None

    def _diverged(self, error: float, epoch: int, lr: float, snapshots, first_step: bool) -> None:
        """The loss of a step (before its update) diverged: restore good weights and stop."""
        # When this is the epoch's first step, the weights the epoch started from produced
        # the bad loss, so only a snapshot from an earlier epoch is good.
        restored = snapshots.restore(epoch if not first_step else epoch - 1)
        self._report_divergence(error, epoch, lr, restored)

    def _report_divergence(self, error: float, epoch: int, lr: float,
                           restored: int | None) -> None:
        kept = "the initial weights" if restored is None or restored < 0 \
            else f"the weights from the start of epoch {restored + 1}"
        kind = "became " + ("NaN" if math.isnan(error) else "infinite") \
            if not math.isfinite(error) else f"exploded to {error:.3g}"
        message = (
            f"training diverged at epoch {epoch + 1}: the loss {kind} with "
            f"learning_rate={lr:g}; stopped and kept {kept}. Try a smaller learning rate."
        )
        self._diverged_message = message
        self.stop(message)
        self.history.diverged = True
        if self.on_divergence == "warn":
            warnings.warn(message, DivergenceWarning, stacklevel=6)

    def _end_epoch(self, epoch, epoch_loss, lr, start_time, accuracy_meter, order, bar) -> None:
        net, history = self.net, self.history
        logs = {"loss": epoch_loss, "learning_rate": lr}
        if accuracy_meter is not None:
            logs["accuracy"] = accuracy_meter.epoch_value(order, self.Y.size)
        if self.validation is not None:
            X_val, Y_val = self.validation
            logs["val_loss"], predicted = net.evaluate(X_val, Y_val)
            if self.classification:
                logs["val_accuracy"] = accuracy(net, predicted, Y_val)
        logs["time"] = time.perf_counter() - start_time
        history.record(**logs)
        self.epoch = epoch + 1
        if self.record_predictions:
            history.predicted.append(net.predict(self.X))
        elif self.track_prediction:
            self._track_prediction()
        if bar is not None:
            bar.update(1)
            shown = {k: f"{v:.4g}" for k, v in logs.items() if k in ("loss", "val_loss")}
            bar.set_postfix(shown, refresh=False)
        for callback in self.callbacks:
            callback.on_epoch_end(self, epoch, logs)

