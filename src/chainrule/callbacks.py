"""Callbacks: code that runs around the training loop.

A callback implements any of three methods, each given the running
:class:`~chainrule.training.Trainer`
(which holds ``net``, ``history``, ``epoch`` and ``stop(reason)``)::

    on_train_begin(trainer)
    on_epoch_end(trainer, epoch, logs)    # logs: this epoch's values, e.g. logs["loss"]
    on_train_end(trainer)

Calling ``trainer.stop("why")`` from ``on_epoch_end`` ends training after that epoch. The
stopping rules of :func:`chainrule.training.fit` (early stopping, the target rule) are
callbacks of this kind, and so is :class:`chainrule.persistence.Checkpoint`.
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
            else:
                for saved, param in zip(self.best_state, trainer.net.parameters()):
                    np.copyto(saved, param)

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
    """The tutorial's rule: stop once the network reaches the desired output.

    Stops at the first epoch whose training loss is at most ``loss``, or, with ``tolerance``,
    at the first epoch after which every prediction on ``(X, Y)`` is within ``tolerance`` of its
    target (checked on the weights as they are at the end of the epoch).
    """

    def __init__(
        self,
        loss: float | None = None,
        tolerance: float | None = None,
        X: np.ndarray | None = None,
        Y: np.ndarray | None = None,
    ) -> None:
        if loss is None and tolerance is None:
            raise ValueError("TargetReached needs a target loss or a tolerance")
        self.loss, self.tolerance, self.X, self.Y = loss, tolerance, X, Y

    def on_epoch_end(self, trainer, epoch, logs):
        if self.loss is not None and logs["loss"] <= self.loss:
            trainer.stop(f"target reached: loss {logs['loss']:.6g} <= {self.loss:g}")
        elif self.tolerance is not None:
            if self.X is None:
                gap = trainer.source.largest_gap()
            else:
                gap = float(np.max(np.abs(trainer.net.predict(self.X) - self.Y)))
            if gap < self.tolerance:
                trainer.stop(
                    f"target reached: every prediction within {self.tolerance:g} of its target "
                    f"(largest gap {gap:.3g})"
                )
