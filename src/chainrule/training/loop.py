"""The training loop: epochs of batches, each batch one step of gradient descent.

One epoch is one pass over the data. With ``batch_size=None`` (full batch, the tutorial's
gradient descent) an epoch is one update, so the tutorial's iterations are epochs; with
``batch_size=b`` it is ``ceil(n / b)`` updates on batches taken through an order of the samples
reshuffled each epoch from the network's seeded generator, and ``batch_size=1`` is stochastic
gradient descent::

    for each epoch:
        learning_rate = schedule(epoch); keep a copy of the weights; shuffle the samples
        for each batch:
            error = the batch's loss, and its gradient         (the gradient source)
            error += penalties; clip; stop if diverged; update  (Descent, the one step)
        record the epoch (loss, accuracy, validation, time); run the callbacks

:meth:`Trainer.run`, :meth:`Trainer.run_epoch` and :meth:`Trainer.step` are this loop, stopped
at the end, at an epoch's end or after one step.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any

import numpy as np

from .. import _signals
from .._signals import describe
from ..engine import Engine
from ..metrics import accuracy

__all__ = ["interrupt_guard", "train"]


def train(trainer: Any, steps: int = -1, until_epoch_end: bool = False) -> None:
    """Train until training is over, ``steps`` updates were made (``-1``: no limit) or, with
    ``until_epoch_end``, the epoch ends."""
    t = trainer
    t.begin()
    updates_before = t.history.updates - t.optimizer.steps  # a source may make many in a step
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            while t.stopped_reason is None and t.epoch < t.epochs:
                if t.batch == 0:
                    begin_epoch(t)
                while t.batch < t.n_batches and steps and t.stopped_reason is None:
                    if not take_step(t):
                        break
                    steps -= 1
                    if t.interrupted and t.batch < t.n_batches:
                        t.stop(f"interrupted ({describe(t._stop_signal)}) during an epoch: "
                               "kept the weights of the last update; the unfinished epoch "
                               "is not in the history")
                if t.batch < t.n_batches:  # stopped, or the steps asked for are done
                    break
                t.history.updates = updates_before + t.optimizer.steps
                end_epoch(t)
                if t.interrupted:
                    t.stop(f"interrupted ({describe(t._stop_signal)}): kept the weights of "
                           "the last update")
                if until_epoch_end or not steps:
                    break
    finally:
        t.history.updates = updates_before + t.optimizer.steps


def begin_epoch(t: Any) -> None:
    """The epoch's learning rate, a copy of the weights for divergence to go back to, a new
    order of the samples."""
    t.descent.learning_rate = t.schedule(t.learning_rate, t.epoch, t.epochs)
    t.divergence.snapshot(t.epoch)
    if t.order is not None:
        t.net.rng.shuffle(t.order)  # in place; checkpoints save it
    t._epoch_error = 0.0


def take_step(t: Any) -> bool:
    """One step on the next batch; ``False`` when its loss diverged (training then stops,
    with good weights back)."""
    batch = t.batch
    rows = None if t.order is None else t.order[t._starts[batch]:t._stops[batch]]
    meter = t._meter
    if meter is not None:
        meter.batch_start = t._starts[batch]
    error = t.source.step(batch, rows, None if meter is None else meter.observe, t.descent)
    t._last_error = error
    if t.descent.diverged(error):
        t.report_divergence(t.divergence.at_step(error, t.epoch, batch == 0,
                                                 t.descent.learning_rate))
        return False
    if t.divergence.first_loss is None and not (t.source.weighted
                                                and t.source.last_batch_weight == 0):
        # (a batch whose weights are all 0 has no loss to measure the others by)
        t.descent.loss_limit = t.divergence.set_first_loss(error)
    # the epoch's loss is the mean over its samples (weighted: by each batch's weight)
    t._epoch_error += error * (t.source.last_batch_weight if t.source.weighted
                               else t._rows[batch])
    t.batch = batch + 1
    return True


def end_epoch(t: Any) -> None:
    """The epoch's records, then the callbacks, which may stop training."""
    epoch, history = t.epoch, t.history
    logs = {"loss": t._epoch_error / (t.source.total_weight if t.source.weighted
                                      else t.n_samples),
            "learning_rate": t.descent.learning_rate}
    if t._meter is not None:
        value = t._meter.epoch_value(t.order)
        if value is not None:
            logs["accuracy"] = value
    if t.validation is not None:
        X_val, Y_val = t.validation
        logs["val_loss"], predicted = Engine.evaluate(t.net, X_val, Y_val, t.validation_weight)
        if t.classification:
            logs["val_accuracy"] = accuracy(t.net, predicted, Y_val)
    logs["time"] = time.perf_counter() - t._start_time
    history.record(**logs)
    t.schedule.observe(logs)  # plateau learns from it; the others ignore it
    if t.prediction_record is not None:
        history.predicted.append(t.prediction_record())
    t.epoch, t.batch = epoch + 1, 0
    if t._bar is not None:
        t._bar.update(1)
        t._bar.set_postfix({k: f"{history.last(k):.4g}" for k in ("loss", "val_loss")
                            if k in history}, refresh=False)
    for callback in t.callbacks:
        callback.on_epoch_end(t, epoch, logs)


@contextmanager
def interrupt_guard(trainer: Any):
    """Turn a stop request (Ctrl-C; under the command line SIGTERM and SIGHUP too) into a
    request to stop after the current step, so no update is left half done or lost."""
    def request_stop(signum: int) -> None:
        trainer._stop_signal = signum
        trainer.interrupted = True

    with _signals.listening(request_stop):
        yield
