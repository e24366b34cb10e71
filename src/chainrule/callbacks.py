"""Callbacks: code that runs around the training loop.

A callback implements any of three methods, each given the running
:class:`~chainrule.training.Trainer`
(which holds ``net``, ``history``, ``epoch`` and ``stop(reason)``)::

    on_train_begin(trainer)
    on_epoch_end(trainer, epoch, logs)    # logs: this epoch's values, e.g. logs["loss"]
    on_train_end(trainer)

Calling ``trainer.stop("why")`` from ``on_epoch_end`` ends training after that epoch. The
stopping rules of :func:`chainrule.training.fit` (early stopping, the target rule) are
callbacks of this kind, and so is :class:`chainrule.training.Checkpoint`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._validation import positive_int

__all__ = ["Callback", "EarlyStopping", "TargetReached"]


class Callback:
    """Base class with do-nothing hooks; override the ones you need."""

    def on_train_begin(self, trainer: Any) -> None:
        pass

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, float]) -> None:
        pass

    def on_train_end(self, trainer: Any) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights`` (the default) the network gets back the weights of the best
    epoch when training ends, whatever ended it.
    """

    def __init__(
        self,
        patience: int = 10,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        restore_best_weights: bool = True,
    ) -> None:
        self.patience = positive_int(patience, "patience")
        self.monitor = monitor
        self.min_delta = float(min_delta)
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, trainer):
        self.best = math.inf
        self.best_epoch = -1
        self.best_state = None
        self.wait = 0

    def keep_best(self, trainer, value: float, epoch: int) -> None:
        """``value`` at ``epoch`` is the best so far: remember it, and the weights (into the
        arrays of the last best, when there are some) when they are to be restored."""
        self.best, self.best_epoch = value, epoch
        if self.restore_best_weights:
            if self.best_state is None:
                self.best_state = trainer.net.get_state()
            else:  # the parameters, then batch normalisation's running statistics
                current = [*trainer.net.parameters(), *trainer.net.running_statistics()]
                for saved, value in zip(self.best_state, current, strict=True):
                    np.copyto(saved, value)

    def on_epoch_end(self, trainer, epoch, logs):
        if self.monitor not in logs:
            raise ValueError(
                f"early stopping monitors {self.monitor!r}, which training does not record "
                f"(recorded: {', '.join(logs)}); pass validation_data to monitor val_loss"
            )
        value = logs[self.monitor]
        if value < self.best - self.min_delta:
            self.wait = 0
            self.keep_best(trainer, value, epoch)
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop(
                    f"early stopping: {self.monitor} did not improve for {self.patience} epochs "
                    f"(best {self.best:.6g} at epoch {self.best_epoch + 1})"
                )

    def on_train_end(self, trainer):
        if self.restore_best_weights and self.best_state is not None:
            trainer.net.set_state(self.best_state)
            trainer.history.best_epoch = self.best_epoch


class TargetReached(Callback):
    """The tutorial's rule, and the playground's: stop once the network reaches a target.

    At the end of each epoch, on that epoch's records (``logs``), the first rule that holds
    stops training:

    * ``loss``: the epoch's training loss is at most ``loss`` (``logs["loss"] <= loss``);
    * ``accuracy``: the epoch's training accuracy is at least ``accuracy``
      (``logs["accuracy"] >= accuracy``; classification, where training records it);
    * ``tolerance``: every prediction on ``(X, Y)`` (the training data if not given) is within
      ``tolerance`` of its target, ``max |predicted - target| < tolerance``, on the weights as
      they are at the end of the epoch.

    :meth:`reached` is the rule alone (it says why, or ``None``); :meth:`on_epoch_end` stops
    the trainer with that reason. The epoch budget needs no callback: it is the trainer's own
    ``epochs``.
    """

    def __init__(
        self,
        loss: float | None = None,
        tolerance: float | None = None,
        X: np.ndarray | None = None,
        Y: np.ndarray | None = None,
        accuracy: float | None = None,
    ) -> None:
        if loss is None and tolerance is None and accuracy is None:
            raise ValueError("TargetReached needs a target loss, a target accuracy or a "
                             "tolerance")
        if accuracy is not None and not 0 <= accuracy <= 1:
            raise ValueError(f"TargetReached's accuracy is a share in [0, 1], got {accuracy!r}")
        self.loss, self.tolerance, self.X, self.Y = loss, tolerance, X, Y
        self.accuracy = accuracy

    def reached(self, trainer: Any, logs: dict[str, float]) -> str | None:
        """Why this epoch's records (``logs``) reach the target, or ``None`` if they do not."""
        if self.loss is not None and logs["loss"] <= self.loss:
            return f"target reached: loss {logs['loss']:.6g} <= {self.loss:g}"
        if self.accuracy is not None:
            if "accuracy" not in logs:
                raise ValueError(
                    f"a target accuracy needs the training accuracy, which this training does "
                    f"not record (recorded: {', '.join(logs)}); it is recorded for "
                    "classification losses")
            if logs["accuracy"] >= self.accuracy:
                return (f"target reached: accuracy {logs['accuracy']:.6g} >= "
                        f"{self.accuracy:g}")
        if self.tolerance is not None:
            if self.X is None:
                gap = trainer.source.largest_gap()
            else:
                gap = float(np.max(np.abs(trainer.net.predict(self.X) - self.Y)))
            if gap < self.tolerance:
                return (f"target reached: every prediction within {self.tolerance:g} of its "
                        f"target (largest gap {gap:.3g})")
        return None

    def on_epoch_end(self, trainer, epoch, logs):
        reason = self.reached(trainer, logs)
        if reason is not None:
            trainer.stop(reason)
